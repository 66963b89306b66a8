# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.analyzers`` moved to :mod:`btlstm.bt.analyzers` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.analyzers`` itself, the
same module object, so ``from btlstm.analyzers import X`` and monkeypatching ``btlstm.analyzers.X`` reach
the code that runs. Import ``btlstm.bt.analyzers`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.analyzers is deprecated: it moved to btlstm.bt.analyzers; import btlstm.bt.analyzers (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.analyzers")
