# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.signals`` moved to :mod:`btlstm.bt.signals` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.signals`` itself, the
same module object, so ``from btlstm.signals import X`` and monkeypatching ``btlstm.signals.X`` reach
the code that runs. Import ``btlstm.bt.signals`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.signals is deprecated: it moved to btlstm.bt.signals; import btlstm.bt.signals (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.signals")
