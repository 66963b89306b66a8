# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.xswalkforward`` moved to :mod:`btlstm.forecast.xswalkforward` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.forecast.xswalkforward`` itself, the
same module object, so ``from btlstm.xswalkforward import X`` and monkeypatching ``btlstm.xswalkforward.X`` reach
the code that runs. Import ``btlstm.forecast.xswalkforward`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.xswalkforward is deprecated: it moved to btlstm.forecast.xswalkforward; import btlstm.forecast.xswalkforward (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.forecast.xswalkforward")
