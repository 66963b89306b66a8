"""btlstm: walk-forward LSTM forecasting inside Backtrader.

Importing ``btlstm`` is cheap: TensorFlow is imported only by the modules that
need it (``btlstm.models``, ``btlstm.walkforward``, ``btlstm.indicators``).
"""

from btlstm import _compat  # noqa: F401  (patches Backtrader for Python 3.10+)

__version__ = "0.1.0"
