# btlstm: deprecated alias, written by scripts/reorg_packages.py
"""Deprecated alias: ``btlstm.rebalance`` moved to :mod:`btlstm.bt.rebalance` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``btlstm.bt.rebalance`` itself, the
same module object, so ``from btlstm.rebalance import X`` and monkeypatching ``btlstm.rebalance.X`` reach
the code that runs. Import ``btlstm.bt.rebalance`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "btlstm.rebalance is deprecated: it moved to btlstm.bt.rebalance; import btlstm.bt.rebalance (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("btlstm.bt.rebalance")
