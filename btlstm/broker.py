# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.broker`` moved to :mod:`btlstm.bt.broker` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.broker`` itself, the
same module object, so ``from btlstm.broker import X`` and monkeypatching ``btlstm.broker.X`` reach
the code that runs. Import ``btlstm.bt.broker`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.broker is deprecated: it moved to btlstm.bt.broker; import btlstm.bt.broker (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.broker")
