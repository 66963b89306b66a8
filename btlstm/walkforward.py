# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.walkforward`` moved to :mod:`btlstm.forecast.walkforward` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.forecast.walkforward`` itself, the
same module object, so ``from btlstm.walkforward import X`` and monkeypatching ``btlstm.walkforward.X`` reach
the code that runs. Import ``btlstm.forecast.walkforward`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.walkforward is deprecated: it moved to btlstm.forecast.walkforward; import btlstm.forecast.walkforward (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.forecast.walkforward")
