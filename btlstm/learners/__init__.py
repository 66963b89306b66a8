"""Learners: fit / predict / save / load behind one small interface, and the registry of them by name.

A learner never decides which samples it may see: the walk-forward engines
(:mod:`btlstm.walkforward` for windows of a feed, :mod:`btlstm.xswalkforward`
for the cross-section of a panel) run it on the no-look-ahead schedule of
:mod:`btlstm.schedule`. The learners btlstm knows:

- ``"lstm"``: :class:`~btlstm.learners.lstm.LSTMLearner`, the article's Keras LSTM;
- ``"ridge"``: :class:`~btlstm.learners.ridge.RidgeLearner`, ridge regression on
  the flattened window (numpy; the trivial second learner of the tests);
- ``"ranker"``: :class:`~btlstm.learners.ranker.StockRanker`, LightGBM
  lambdarank on cross-sectional feature rows.

``WalkForwardConfig.learner`` names one; ``WalkForwardConfig.learner_settings``
holds the fields of its ``Settings`` dataclass (the ``[model]`` keys beside the
walk-forward ones). Register another with :func:`register_learner`.

Importing this package imports neither TensorFlow nor LightGBM: each learner
imports its library when it fits or loads a model.
"""

from __future__ import annotations

from btlstm.checks import closest
from btlstm.learners.base import FitRecord, FitResult, Learner, ModelFileError
from btlstm.learners.lstm import LSTMLearner, LSTMSettings
from btlstm.learners.ranker import RankerConfig, RankerSettings, StockRanker
from btlstm.learners.ridge import RidgeLearner, RidgeSettings

__all__ = [
    "Learner",
    "FitRecord",
    "FitResult",
    "ModelFileError",
    "LSTMLearner",
    "LSTMSettings",
    "RidgeLearner",
    "RidgeSettings",
    "StockRanker",
    "RankerSettings",
    "RankerConfig",
    "LEARNERS",
    "register_learner",
    "get_learner",
    "settings_class",
    "make_learner",
    "DEFAULT_LEARNER",
    "DEFAULT_SCORER",
    "learner_names",
]

#: the learner of a run that names none (``WalkForwardConfig.learner``, ``[model] learner``)
DEFAULT_LEARNER = "lstm"
#: the learner of a panel's cross-section (:class:`btlstm.xswalkforward.RankerWalkForward`)
#: when ``[model] learner`` names a learner of windows
DEFAULT_SCORER = "ranker"

#: name -> Learner subclass
LEARNERS: dict[str, type] = {
    LSTMLearner.name: LSTMLearner,
    RidgeLearner.name: RidgeLearner,
    StockRanker.name: StockRanker,
}


def register_learner(cls: type) -> type:
    """Register a :class:`Learner` subclass under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Learner)) or not cls.name:
        raise ValueError(f"register_learner needs a Learner subclass with a name, got {cls!r}")
    LEARNERS[cls.name] = cls
    return cls


def learner_names() -> dict[str, str]:
    """Every name the registry accepts, with the registered name it means:
    ``{name: name}`` of :data:`LEARNERS` and ``{alias: name}`` of each class's ``aliases``."""
    out = {}
    for name, cls in LEARNERS.items():
        for alias in getattr(cls, "aliases", ()) or ():
            out.setdefault(str(alias), name)
    out.update({name: name for name in LEARNERS})  # a registered name wins over an alias
    return out


def get_learner(name: str) -> type:
    """The Learner class registered as ``name`` (or one of its ``aliases``); unknown
    names suggest the closest."""
    try:
        return LEARNERS[name]
    except (KeyError, TypeError):
        pass
    try:
        return LEARNERS[learner_names()[name]]
    except (KeyError, TypeError):
        names = learner_names()
        raise ValueError(
            f"unknown learner {name!r}{closest(name, names)} (valid: {sorted(LEARNERS)})"
        ) from None


def settings_class(name: str) -> type:
    """The settings dataclass of learner ``name`` (the learner's ``[model]`` keys)."""
    return get_learner(name).Settings


def make_learner(name: str, lookback: int, n_features: int, settings=None) -> Learner:
    """A new learner ``name`` for windows ``(lookback, n_features)``."""
    return get_learner(name)(lookback, n_features, settings)
