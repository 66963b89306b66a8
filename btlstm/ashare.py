# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.ashare`` moved to :mod:`btlstm.bt.ashare` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.ashare`` itself, the
same module object, so ``from btlstm.ashare import X`` and monkeypatching ``btlstm.ashare.X`` reach
the code that runs. Import ``btlstm.bt.ashare`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.ashare is deprecated: it moved to btlstm.bt.ashare; import btlstm.bt.ashare (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.ashare")
