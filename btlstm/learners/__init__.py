"""Learners: fit / predict / save / load behind one small interface, and the registry of them by name.

A learner never decides which samples it may see: the walk-forward engines
(:mod:`btlstm.walkforward` for windows of a feed, :mod:`btlstm.xswalkforward`
for the cross-section of a panel) run it on the no-look-ahead schedule of
:mod:`btlstm.schedule`. The learners btlstm knows:

- ``"lstm"``: :class:`~btlstm.learners.lstm.LSTMLearner`, the article's Keras LSTM;
- ``"ridge"``: :class:`~btlstm.learners.ridge.RidgeLearner`, ridge regression on
  the flattened window (numpy; the trivial second learner of the tests);
- ``"ranker"``: :class:`~btlstm.learners.ranker.StockRanker`, LightGBM
  lambdarank on cross-sectional feature rows;
- the Keras zoo, each a :class:`~btlstm.learners.kerasnet.KerasLearner` trained
  like the LSTM: ``"gru"``, ``"alstm"`` (LSTM with temporal attention),
  ``"tcn"`` (dilated causal convolutions), ``"transformer"`` (a small encoder)
  and ``"mlp"`` (the flattened window); docs/learners.md.

``WalkForwardConfig.learner`` names one; ``WalkForwardConfig.learner_settings``
holds the fields of its ``Settings`` dataclass (the ``[model]`` keys beside the
walk-forward ones). Register another with :func:`register_learner`.

Importing this package imports neither TensorFlow nor LightGBM: each learner
imports its library when it fits or loads a model.
"""

from __future__ import annotations

from btlstm.checks import closest
from btlstm.learners.base import FitRecord, FitResult, Learner, ModelFileError
from btlstm.learners.alstm import ALSTMLearner, ALSTMSettings
from btlstm.learners.gru import GRULearner, GRUSettings
from btlstm.learners.kerasnet import KerasLearner
from btlstm.learners.lstm import LSTMLearner, LSTMSettings
from btlstm.learners.mlp import MLPLearner, MLPSettings
from btlstm.learners.ranker import RankerConfig, RankerSettings, StockRanker
from btlstm.learners.ridge import RidgeLearner, RidgeSettings
from btlstm.learners.tcn import TCNLearner, TCNSettings
from btlstm.learners.transformer import TransformerLearner, TransformerSettings

__all__ = [
    "Learner",
    "FitRecord",
    "FitResult",
    "ModelFileError",
    "LSTMLearner",
    "LSTMSettings",
    "KerasLearner",
    "GRULearner",
    "GRUSettings",
    "ALSTMLearner",
    "ALSTMSettings",
    "TCNLearner",
    "TCNSettings",
    "TransformerLearner",
    "TransformerSettings",
    "MLPLearner",
    "MLPSettings",
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
]

#: name -> Learner subclass
LEARNERS: dict[str, type] = {
    LSTMLearner.name: LSTMLearner,
    RidgeLearner.name: RidgeLearner,
    StockRanker.name: StockRanker,
    # the Keras zoo (btlstm.learners.kerasnet.KerasLearner and one network each)
    GRULearner.name: GRULearner,
    ALSTMLearner.name: ALSTMLearner,
    TCNLearner.name: TCNLearner,
    TransformerLearner.name: TransformerLearner,
    MLPLearner.name: MLPLearner,
}


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
        raise ValueError(
            f"unknown learner {name!r}{closest(name, LEARNERS)} (valid: {sorted(LEARNERS)})"
        ) from None


def settings_class(name: str) -> type:
    """The settings dataclass of learner ``name`` (the learner's ``[model]`` keys)."""
    return get_learner(name).Settings


def make_learner(name: str, lookback: int, n_features: int, settings=None) -> Learner:
    """A new learner ``name`` for windows ``(lookback, n_features)``."""
    return get_learner(name)(lookback, n_features, settings)
