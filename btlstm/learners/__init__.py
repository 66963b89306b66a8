"""Learners: fit / predict / save / load behind one small interface, and the registry of them by name.

A learner never decides which samples it may see: the walk-forward engines
(:mod:`btlstm.forecast.walkforward` for windows of a feed, :mod:`btlstm.forecast.xswalkforward`
for the cross-section of a panel) run it on the no-look-ahead schedule of
:mod:`btlstm.forecast.schedule`. The learners btlstm knows:

- ``"lstm"``: :class:`~btlstm.learners.lstm.LSTMLearner`, the article's Keras LSTM;
- ``"linear"`` (alias ``"ridge"``): :class:`~btlstm.learners.linear.LinearLearner`,
  ridge regression on the flattened window (numpy; the trivial second learner
  of the tests);
- ``"lightgbm"``: :class:`~btlstm.learners.gbm.LightGBMLearner`, LightGBM
  regression on the flattened window;
- ``"keras"``: :class:`~btlstm.learners.builder.KerasBuilderLearner`, your own
  Keras network from a builder function you name (``--builder mymodule:build``);
- ``"ranker"``: :class:`~btlstm.learners.ranker.StockRanker`, LightGBM
  lambdarank on cross-sectional feature rows;
- the Keras zoo, each a :class:`~btlstm.learners.kerasnet.KerasLearner` trained
  like the LSTM: ``"gru"``, ``"alstm"`` (LSTM with temporal attention),
  ``"tcn"`` (dilated causal convolutions), ``"transformer"`` (a small encoder)
  and ``"mlp"`` (the flattened window); docs/learners.md.

``WalkForwardConfig.learner`` names one; ``WalkForwardConfig.learner_settings``
holds the fields of its ``Settings`` dataclass (the ``[model]`` keys beside the
walk-forward ones). Register another with :func:`register_learner` (from a
``--plugin`` module of yours), or from an installed package through the
entry-point group ``btlstm.learners`` (:data:`ENTRY_POINT_GROUP`), loaded only
when a name is not registered yet (docs/learners.md).

Importing this package imports neither TensorFlow nor LightGBM: each learner
imports its library when it fits or loads a model.
"""

from __future__ import annotations

from btlstm.checks import closest
from btlstm.learners.alstm import ALSTMLearner, ALSTMSettings
from btlstm.learners.base import FitRecord, FitResult, Learner, ModelFileError
from btlstm.learners.builder import KerasBuilderLearner, KerasBuilderSettings
from btlstm.learners.gbm import LightGBMLearner, LightGBMSettings
from btlstm.learners.gru import GRULearner, GRUSettings
from btlstm.learners.kerasnet import KerasLearner
from btlstm.learners.linear import LinearLearner, LinearSettings
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
    "LinearLearner",
    "LinearSettings",
    "LightGBMLearner",
    "LightGBMSettings",
    "KerasBuilderLearner",
    "KerasBuilderSettings",
    "ENTRY_POINT_GROUP",
    "names_and_aliases",
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
#: the learner of a panel's cross-section (:class:`btlstm.forecast.xswalkforward.RankerWalkForward`)
#: when ``[model] learner`` names a learner of windows
DEFAULT_SCORER = "ranker"

#: name -> Learner subclass
LEARNERS: dict[str, type] = {
    LSTMLearner.name: LSTMLearner,
    LinearLearner.name: LinearLearner,
    LightGBMLearner.name: LightGBMLearner,
    KerasBuilderLearner.name: KerasBuilderLearner,
    StockRanker.name: StockRanker,
    # the Keras zoo (btlstm.learners.kerasnet.KerasLearner and one network each)
    GRULearner.name: GRULearner,
    ALSTMLearner.name: ALSTMLearner,
    TCNLearner.name: TCNLearner,
    TransformerLearner.name: TransformerLearner,
    MLPLearner.name: MLPLearner,
}

#: Entry-point group through which installed packages register learners: an entry
#: point's name is the learner's name, its value a ``Learner`` subclass
#: (``pkg.mod:MyLearner``) or a module that calls :func:`register_learner`.
ENTRY_POINT_GROUP = "btlstm.learners"


def register_learner(cls: type) -> type:
    """Register a :class:`Learner` subclass under ``cls.name`` (usable as a decorator);
    its ``aliases`` resolve to it too."""
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


def _alias(name) -> type | None:
    """The registered learner that has ``name`` among its ``aliases``, or None."""
    for cls in LEARNERS.values():
        if name in getattr(cls, "aliases", ()):
            return cls
    return None


def _entry_points() -> dict:
    """``{name: entry point}`` of group :data:`ENTRY_POINT_GROUP` (nothing imported)."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _from_entry_point(name) -> type | None:
    """Load the installed entry point named ``name`` (a Learner subclass, registered
    here, or a module that registers one) and return the learner, or None."""
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        obj = ep.load()
    except Exception as e:  # another package's bug: one clear error, never a traceback
        raise ValueError(
            f"learner {name!r}: entry point {ep.value!r} (group {ENTRY_POINT_GROUP}) failed "
            f"to load: {type(e).__name__}: {e}"
        ) from None
    if isinstance(obj, type) and issubclass(obj, Learner) and obj.name:
        register_learner(obj)
        if obj.name != name and name not in obj.aliases:
            LEARNERS[name] = obj
    cls = LEARNERS.get(name) or _alias(name)
    if cls is None:
        raise ValueError(
            f"learner {name!r}: entry point {ep.value!r} (group {ENTRY_POINT_GROUP}) is "
            f"neither a Learner subclass nor a module that registers {name!r}"
        )
    return cls


def names_and_aliases() -> list:
    """Every name :func:`get_learner` accepts without loading anything: the registered
    names, their aliases and the names of installed entry points."""
    out = set(LEARNERS)
    for cls in LEARNERS.values():
        out.update(getattr(cls, "aliases", ()))
    try:
        out.update(_entry_points())
    except Exception:  # a broken installed distribution's metadata: its names are not offered
        pass
    return sorted(out)


def get_learner(name: str) -> type:
    """The Learner class registered as ``name`` (or with ``name`` among its aliases,
    or installed under that name in the entry-point group ``btlstm.learners``, loaded
    now); unknown names suggest the closest."""
    try:
        return LEARNERS[name]
    except (KeyError, TypeError):
        pass
    if isinstance(name, str):
        cls = _alias(name) or _from_entry_point(name)
        if cls is not None:
            return cls
    valid = names_and_aliases()
    raise ValueError(
        f"unknown learner {name!r}{closest(str(name), valid)} (valid: {valid})"
    ) from None


def settings_class(name: str) -> type:
    """The settings dataclass of learner ``name`` (the learner's ``[model]`` keys)."""
    return get_learner(name).Settings


def make_learner(name: str, lookback: int, n_features: int, settings=None) -> Learner:
    """A new learner ``name`` for windows ``(lookback, n_features)``."""
    return get_learner(name)(lookback, n_features, settings)
