"""Small compatibility shims applied once, on ``import btlstm``.

- Backtrader 1.9.78 still calls ``collections.Iterable`` (removed in Python
  3.10) from ``LineIterator.bindlines``; alias it to ``collections.abc``.
- TensorFlow is noisy on import unless both ``TF_CPP_MIN_LOG_LEVEL=3`` and
  ``TF_ENABLE_ONEDNN_OPTS=0`` are set; set them unless the user already has,
  and quiet TensorFlow's Python logger (retracing warnings on every refit).
"""

import collections
import collections.abc
import logging
import os

for _name in ("Iterable", "Mapping", "MutableMapping", "Sequence", "Callable"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# Each walk-forward refit compiles a fresh forward pass; TensorFlow's Python
# logger would warn about "retracing" every time. Quiet it unless the user set a level.
_tf_log = logging.getLogger("tensorflow")
if _tf_log.level == logging.NOTSET:
    _tf_log.setLevel(logging.ERROR)
