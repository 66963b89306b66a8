# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.models`` moved to :mod:`btlstm.learners.models` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.learners.models`` itself, the
same module object, so ``from btlstm.models import X`` and monkeypatching ``btlstm.models.X`` reach
the code that runs. Import ``btlstm.learners.models`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.models is deprecated: it moved to btlstm.learners.models; import btlstm.learners.models (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.learners.models")
