# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.feeds`` moved to :mod:`btlstm.bt.feeds` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.feeds`` itself, the
same module object, so ``from btlstm.feeds import X`` and monkeypatching ``btlstm.feeds.X`` reach
the code that runs. Import ``btlstm.bt.feeds`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.feeds is deprecated: it moved to btlstm.bt.feeds; import btlstm.bt.feeds (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.feeds")
