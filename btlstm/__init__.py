"""btlstm: walk-forward LSTM forecasting inside Backtrader.

Importing ``btlstm`` is cheap: TensorFlow is imported only where an LSTM is
built, trained or loaded (``btlstm.models``, ``btlstm.regularizers``, and the
LSTM learner when it fits or loads); the layers of the package and the test
that keeps them are in ``docs/README.md`` and ``tests/test_layers.py``.
"""

from btlstm import _compat  # noqa: F401  (patches Backtrader for Python 3.10+)

__version__ = "0.1.0"
