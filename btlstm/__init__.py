"""btlstm: walk-forward LSTM forecasting inside Backtrader.

Importing ``btlstm`` is cheap: TensorFlow is imported only where an LSTM is
built, trained or loaded (``btlstm.learners.models``, ``btlstm.learners.regularizers``, and the
LSTM learner when it fits or loads); the layers of the package and the test
that keeps them are in ``docs/README.md`` and ``tests/test_layers.py``.

The entry points are importable from here and loaded on first use (PEP 562
``__getattr__``; ``import btlstm`` itself loads neither the pipeline nor
Backtrader's strategies): ``btlstm.run_backtest``, ``btlstm.run_seeds``,
``btlstm.run_paper``, ``btlstm.Settings``, ``btlstm.load_report``,
``btlstm.register_feature``, ``btlstm.check_lookahead`` and ``btlstm.check_cerebro``
(docs/lookahead.md);
``btlstm.__version__`` is the package version (``btlstm --version``).
"""

import importlib

from btlstm import _compat  # noqa: F401  (patches Backtrader for Python 3.10+)

__version__ = "0.1.0"

#: name -> the module that defines it, imported on first access. Loaded with
#: importlib, not an ``import`` statement: the package root stands in the bottom
#: layer (tests/test_layers.py) and only forwards these names upwards on request.
_LAZY = {
    "run_backtest": "btlstm.pipeline",
    "run_seeds": "btlstm.pipeline",
    "RunResult": "btlstm.pipeline",
    "run_paper": "btlstm.live.runner",
    "Settings": "btlstm.settings",
    "SettingsError": "btlstm.errors",
    "DataError": "btlstm.errors",
    "load_report": "btlstm.report.files",
    "register_feature": "btlstm.forecast.featurelib",
    "check_lookahead": "btlstm.lookahead",
    "check_cerebro": "btlstm.lookahead",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'btlstm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
