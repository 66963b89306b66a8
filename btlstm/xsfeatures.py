# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.xsfeatures`` moved to :mod:`btlstm.forecast.xsfeatures` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.forecast.xsfeatures`` itself, the
same module object, so ``from btlstm.xsfeatures import X`` and monkeypatching ``btlstm.xsfeatures.X`` reach
the code that runs. Import ``btlstm.forecast.xsfeatures`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.xsfeatures is deprecated: it moved to btlstm.forecast.xsfeatures; import btlstm.forecast.xsfeatures (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.forecast.xsfeatures")
