# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.cerebro`` moved to :mod:`btlstm.bt.cerebro` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.cerebro`` itself, the
same module object, so ``from btlstm.cerebro import X`` and monkeypatching ``btlstm.cerebro.X`` reach
the code that runs. Import ``btlstm.bt.cerebro`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.cerebro is deprecated: it moved to btlstm.bt.cerebro; import btlstm.bt.cerebro (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.cerebro")
