# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.features`` moved to :mod:`btlstm.forecast.features` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.forecast.features`` itself, the
same module object, so ``from btlstm.features import X`` and monkeypatching ``btlstm.features.X`` reach
the code that runs. Import ``btlstm.forecast.features`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.features is deprecated: it moved to btlstm.forecast.features; import btlstm.forecast.features (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.forecast.features")
