# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.schedule`` moved to :mod:`btlstm.forecast.schedule` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.forecast.schedule`` itself, the
same module object, so ``from btlstm.schedule import X`` and monkeypatching ``btlstm.schedule.X`` reach
the code that runs. Import ``btlstm.forecast.schedule`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.schedule is deprecated: it moved to btlstm.forecast.schedule; import btlstm.forecast.schedule (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.forecast.schedule")
