"""Learners: fit / predict / save / load behind one small interface.

The walk-forward engine (:mod:`btlstm.walkforward`) runs any learner on the
no-look-ahead schedule of :mod:`btlstm.schedule`:

- ``"lstm"``: :class:`~btlstm.learners.lstm.LSTMLearner`, the seed's Keras LSTM;
- ``"ridge"``: :class:`~btlstm.learners.ridge.RidgeLearner`, ridge regression on
  the flattened window (numpy; the trivial second learner of the tests).

``WalkForwardConfig.learner`` names one; ``WalkForwardConfig.model`` holds the
fields of its ``Settings`` dataclass. Register another with
:func:`register_learner`.
"""

from __future__ import annotations

import difflib

from btlstm.learners.base import FitResult, Learner
from btlstm.learners.lstm import LSTMLearner, LSTMSettings
from btlstm.learners.ridge import RidgeLearner, RidgeSettings

__all__ = [
    "Learner",
    "FitResult",
    "LSTMLearner",
    "LSTMSettings",
    "RidgeLearner",
    "RidgeSettings",
    "LEARNERS",
    "register_learner",
    "get_learner",
    "settings_class",
    "make_learner",
]

#: name -> Learner subclass
LEARNERS: dict[str, type] = {"lstm": LSTMLearner, "ridge": RidgeLearner}


def register_learner(cls: type) -> type:
    """Register a :class:`Learner` subclass under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Learner)) or not cls.name:
        raise ValueError(f"register_learner needs a Learner subclass with a name, got {cls!r}")
    LEARNERS[cls.name] = cls
    return cls


def get_learner(name: str) -> type:
    """The Learner class registered as ``name``; unknown names suggest the closest."""
    try:
        return LEARNERS[name]
    except (KeyError, TypeError):
        close = difflib.get_close_matches(str(name), list(LEARNERS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown learner {name!r}{hint} (valid: {sorted(LEARNERS)})") from None


def settings_class(name: str) -> type:
    """The settings dataclass of learner ``name`` (the learner's ``[model]`` keys)."""
    return get_learner(name).Settings


def make_learner(name: str, lookback: int, n_features: int, settings=None) -> Learner:
    """A new learner ``name`` for windows ``(lookback, n_features)``."""
    return get_learner(name)(lookback, n_features, settings)


from btlstm.learners.ranker import RankerConfig, StockRanker  # noqa: E402,F401  (registers "ranker")
