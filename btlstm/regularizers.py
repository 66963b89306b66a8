# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.regularizers`` moved to :mod:`btlstm.learners.regularizers` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.learners.regularizers`` itself, the
same module object, so ``from btlstm.regularizers import X`` and monkeypatching ``btlstm.regularizers.X`` reach
the code that runs. Import ``btlstm.learners.regularizers`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.regularizers is deprecated: it moved to btlstm.learners.regularizers; import btlstm.learners.regularizers (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.learners.regularizers")
