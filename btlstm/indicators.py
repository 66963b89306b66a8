# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.indicators`` moved to :mod:`btlstm.bt.indicators` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.indicators`` itself, the
same module object, so ``from btlstm.indicators import X`` and monkeypatching ``btlstm.indicators.X`` reach
the code that runs. Import ``btlstm.bt.indicators`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.indicators is deprecated: it moved to btlstm.bt.indicators; import btlstm.bt.indicators (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.indicators")
