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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with the C++ start-up chatter hidden.

    The full ``tensorflow`` wheel prints "Could not find cuda drivers ..." from
    C++ before its log level applies. When ``TF_CPP_MIN_LOG_LEVEL`` is 3 (our
    default) we point file descriptor 2 at /dev/null for the import only;
    Python exceptions still propagate and print normally afterwards.
    """
    import sys

    if "tensorflow" in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "3":
        import tensorflow  # noqa: F401

        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (some embedded consoles)
        import tensorflow  # noqa: F401

        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
