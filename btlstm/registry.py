"""Strategies by name: what ``btlstm run <name>`` and ``[strategy] name`` know.

A strategy module registers its ``bt.Strategy`` with a small *plan*: which
data it takes, which predictor line the pipeline attaches, its params (read
from the class's own ``params`` tuple, never retyped), its default settings
and its baselines. The run pipeline, the TOML reader and the CLI read the
plan; a new strategy is one file in ``strategies/`` (see ``docs/``)::

    import backtrader as bt
    from btlstm.registry import Baseline, register_strategy
    from strategies.buyhold import BuyAndHold

    @register_strategy(
        "hold",
        predictor="lstm",                 # LSTMPredictor on the feed -> params predictor/_kwargs
        hidden=("signal", "predictor", "predictor_kwargs", "log"),
        defaults={"data": {"data": "csi300"}, "model": {"mode": "static", ...}},
        baselines=[Baseline("buy-and-hold {feed}", BuyAndHold)],
    )
    class HoldNDays(bt.Strategy):
        params = (("hold", 5),  # bars to stay long after the last bullish signal
                  ...)

Strategy modules are found in the ``strategies`` package (every module is
imported on first use of the registry) and in the entry-point group
``btlstm.strategies`` of installed packages.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass, field

from btlstm._settings import closest, coerce, field_help

__all__ = [
    "Baseline",
    "StrategyPlan",
    "register_strategy",
    "register_predictor",
    "get",
    "names",
    "plans",
    "PREDICTORS",
    "SCORERS",
    "register_scorer",
]

log = logging.getLogger("btlstm.registry")

#: How the pipeline attaches a predictor line: name -> function(settings, history, cache_dir,
#: progress) returning extra strategy params. Strategies never import Keras; this does, lazily.
PREDICTORS: dict = {}

#: How the pipeline computes per-stock score columns of a panel: name -> function(settings,
#: panel, cache_dir, progress) returning ``{"scores": DataFrame date x symbol, "report":
#: dict (a report section), "tables": {file name: DataFrame}}``. A plan's ``scores`` names one.
SCORERS: dict = {}

_PLANS: dict = {}
_LOADED = False


@dataclass(frozen=True)
class Baseline:
    """A comparison run over the same feeds and costs (e.g. buy-and-hold).

    ``name`` may contain ``{feed}`` (the first feed's name) and ``{params[...]}``
    (the strategy's params as run). ``strategy=None`` is
    the registered strategy itself, run with the user's params updated by ``params``
    and no predictor (e.g. ``Baseline("ranker alone", None, {"gate": False})``).
    ``share`` names strategy params the baseline takes over from the run (e.g.
    ``("topk", "rebalance")``: the same schedule as the strategy), under ``params``.
    """

    name: str
    strategy: type | None
    params: dict = field(default_factory=dict)
    share: tuple = ()


@dataclass
class StrategyPlan:
    """What the pipeline needs to run a registered strategy.

    Attributes:
        name: the registered name (``btlstm run <name>``, ``[strategy] name``).
        strategy: the ``bt.Strategy`` class.
        data: ``"frame"`` (one feed) or ``"panel"`` (one feed per symbol).
        predictor: a key of :data:`PREDICTORS` (``"lstm"``), or None (no model).
        params: ``{name: default}`` of the strategy params users may set (the
            class's ``params`` minus ``hidden``).
        help: one-line description (the class docstring's first line).
        param_help: ``{name: help}`` from the comments of the ``params`` tuple.
        defaults: settings this strategy starts from, by section (under the
            user's TOML and flags).
        baselines: comparison runs (:class:`Baseline`).
        signal: what ``add_standard_analyzers(signal=...)`` scores (True: the
            strategy's ``prediction``/``signals`` attributes; None: nothing).
        title: report title template; ``{name}``, ``{data}``, ``{params[...]}`` and
            ``{settings}`` are filled in (default ``"{name} on {data}"``).
        extra_data: more datasets the run loads besides ``[data]``, as feeds named
            by the keys: ``{feed name: [data] settings overrides}``, e.g.
            ``{"gate": {"data": "csi300"}}`` (split at ``test_start`` like the
            main data, aligned to its calendar, added after its feeds).
        predictor_data: the ``extra_data`` feed whose history trains the
            predictor (None: the main data).
        scores: a key of :data:`SCORERS`: a ``score`` column per panel symbol,
            exposed as a ``score`` line.
        extra_lines: panel columns exposed as lines when every symbol has them
            (e.g. ``("is_st",)``).
        notes: sentences every report of this strategy states (caveats of its data,
            claims to compare with): a text, or ``(dataset, text)`` for runs on that
            ``[data] data`` only.
    """

    name: str
    strategy: type
    data: str = "frame"
    predictor: str | None = "lstm"
    params: dict = field(default_factory=dict)
    help: str = ""
    param_help: dict = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)
    baselines: tuple = ()
    signal: object = True
    title: str | None = None
    extra_data: dict = field(default_factory=dict)
    predictor_data: str | None = None
    scores: str | None = None
    extra_lines: tuple = ()
    notes: tuple = ()

    def check_params(self, values: dict, where=None) -> dict:
        """Type-check strategy params against their defaults; unknown names raise."""
        from btlstm.settings import SettingsError

        where = where or (lambda s, k: f"[{s}] {k}")
        out = {}
        for k, v in (values or {}).items():
            if k not in self.params:
                raise SettingsError(
                    f"unknown param {where('strategy', k)} of strategy {self.name!r}"
                    f"{closest(k, self.params)} (params: {sorted(self.params)})"
                )
            out[k] = coerce(v, param_type(self.params[k]), self.params[k], where("strategy", k))
        return out


def param_type(default):
    """The annotation a strategy param's default implies (ints accept only ints)."""
    import typing

    if default is None:
        return typing.Any
    if isinstance(default, tuple):
        return tuple
    if isinstance(default, list):
        return list
    return type(default)


def register_strategy(
    name: str,
    *,
    data: str = "frame",
    predictor: str | None = "lstm",
    hidden=(),
    defaults: dict | None = None,
    baselines=(),
    signal=True,
    help: str | None = None,
    title: str | None = None,
    extra_data: dict | None = None,
    predictor_data: str | None = None,
    scores: str | None = None,
    extra_lines=(),
    notes=(),
):
    """Class decorator: register a ``bt.Strategy`` under ``name`` (see the module docstring).

    Args:
        name: the command and TOML name (``btlstm run <name>``).
        data: ``"frame"`` or ``"panel"``.
        predictor: key of :data:`PREDICTORS` whose line the pipeline attaches
            (passed as strategy params), or None.
        hidden: params the user does not set (internal wiring such as ``predictor``).
        defaults: nested settings overrides, e.g. ``{"model": {"mode": "static"}}``.
        baselines: :class:`Baseline` runs over the same feeds and costs.
        signal: ``add_standard_analyzers(signal=...)`` for the strategy run.
        help: one-line description (default: the docstring's first line).
        title: report title template (see :class:`StrategyPlan`).
        extra_data, predictor_data, scores, extra_lines, notes: see :class:`StrategyPlan`.
    """
    import backtrader as bt

    if data not in ("frame", "panel"):
        raise ValueError(f"data must be 'frame' or 'panel', got {data!r}")
    extra_data = {str(k): dict(v) for k, v in (extra_data or {}).items()}
    if predictor_data is not None and predictor_data not in extra_data:
        raise ValueError(f"predictor_data {predictor_data!r} is not a key of extra_data")

    def deco(cls):
        if not (isinstance(cls, type) and issubclass(cls, bt.Strategy)):
            raise TypeError(f"register_strategy({name!r}) needs a bt.Strategy class, got {cls!r}")
        pairs = dict(cls.params._getitems())
        unknown = [h for h in hidden if h not in pairs]
        if unknown:
            raise ValueError(f"hidden params {unknown} are not params of {cls.__name__}")
        params = {k: v for k, v in pairs.items() if k not in hidden}
        doc = (cls.__doc__ or "").strip().splitlines()
        plan = StrategyPlan(
            name=name,
            strategy=cls,
            data=data,
            predictor=predictor,
            params=params,
            help=help or (doc[0] if doc else cls.__name__),
            param_help={k: v for k, v in field_help(cls).items() if k in params},
            defaults={k: dict(v) for k, v in (defaults or {}).items()},
            baselines=tuple(baselines),
            signal=signal,
            title=title,
            extra_data=extra_data,
            predictor_data=predictor_data,
            scores=scores,
            extra_lines=tuple(extra_lines),
            notes=tuple(n if isinstance(n, str) else (str(n[0]), str(n[1])) for n in notes),
        )
        old = _PLANS.get(name)
        if old is not None and old.strategy.__qualname__ != cls.__qualname__:
            log.warning("strategy %r re-registered: %s replaces %s", name, cls, old.strategy)
        _PLANS[name] = plan
        return cls

    return deco


def register_predictor(name: str):
    """Decorator: register how the pipeline attaches predictor ``name`` (see :data:`PREDICTORS`)."""

    def deco(fn):
        PREDICTORS[name] = fn
        return fn

    return deco


@register_predictor("lstm")
def _lstm(settings, history, cache_dir=None, progress=None) -> dict:
    """LSTMPredictor on the feed, trained on ``history`` (the bars before the feed)."""
    from btlstm.indicators import LSTMPredictor

    return dict(
        predictor=LSTMPredictor,
        predictor_kwargs=dict(
            config=settings.model, history=history, cache_dir=cache_dir, progress=progress
        ),
    )


@register_predictor("pooled")
def _pooled(settings, history, cache_dir=None, progress=None) -> dict:
    """One pooled model over every feed of a panel (:class:`~btlstm.indicators.PredictionPool`).

    The strategy gets param ``pool``; it builds
    ``PooledPredictor(data, pool=self.p.pool)`` on each feed it wants a line for.
    ``history`` is ``{symbol: frame}`` of the bars before the feeds start.
    """
    from btlstm.indicators import PredictionPool

    if not isinstance(history, dict):
        history = {getattr(history, "attrs", {}).get("symbol") or "data": history}
    return dict(
        pool=PredictionPool(
            config=settings.model, history=history, cache_dir=cache_dir, progress=progress
        )
    )


def register_scorer(name: str):
    """Decorator: register how the pipeline computes score columns ``name`` (see
    :data:`SCORERS`)."""

    def deco(fn):
        SCORERS[name] = fn
        return fn

    return deco


@register_scorer("ranker")
def _ranker_scores(settings, panel, cache_dir=None, progress=None) -> dict:
    """Walk-forward LightGBM LambdaRank scores of every stock (``btlstm.learners.ranker``),
    on the ``[model]`` schedule, with the ranker's default settings; the report gets
    its quality on the test period (IC, rank IC, top-minus-bottom) and the importances."""
    import pandas as pd

    from btlstm.learners.ranker import RankerWalkForward, ranker_quality

    wf = RankerWalkForward(settings.model, cache_dir=cache_dir)
    scores = wf.scores(panel, progress=progress)
    m = settings.model
    test = scores
    if m.test_start is not None:
        test = test.loc[test.index >= pd.Timestamp(m.test_start)]
    if m.test_end is not None:
        test = test.loc[test.index <= pd.Timestamp(m.test_end)]
    quality = ranker_quality(test, panel, horizon=m.horizon)
    daily = quality.pop("daily")
    imp = wf.importances
    mean_imp = imp.mean().sort_values(ascending=False) if len(imp) else pd.Series(dtype=float)
    section = {
        "model": "LightGBM lambdarank (btlstm.learners.ranker.RankerWalkForward)",
        "fits": [
            dict(k=f.k, date=f.date, n_samples=f.n_samples, n_dates=f.n_dates, cached=f.cached)
            for f in wf.fits
        ],  # fmt: skip
        "quality": quality,
        "importances": {str(k): float(v) for k, v in mean_imp.items()},
    }
    tables = {"ranker_quality.csv": daily.rename_axis("date").reset_index()}
    if len(imp):
        tables["importances.csv"] = imp.rename_axis("date").reset_index()
    return {"scores": scores, "report": section, "tables": tables}


def load_plugins() -> None:
    """Import every module of the ``strategies`` package and the entry points once."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    try:
        import strategies
    except ImportError:  # pragma: no cover - package not installed
        strategies = None
    if strategies is not None:
        for m in pkgutil.iter_modules(strategies.__path__, "strategies."):
            importlib.import_module(m.name)
    from importlib.metadata import entry_points

    for ep in entry_points(group="btlstm.strategies"):
        ep.load()


def plans() -> dict:
    """``{name: StrategyPlan}`` of every registered strategy."""
    load_plugins()
    return dict(_PLANS)


def names() -> list:
    return sorted(plans())


def get(name, where: str | None = None) -> StrategyPlan:
    """The plan of strategy ``name``; an unknown name raises, suggesting the closest."""
    from btlstm.settings import SettingsError

    known = plans()
    if name not in known:
        place = f"{where}: " if where else ""
        raise SettingsError(
            f"{place}unknown strategy {name!r}{closest(str(name), known)} "
            f"(registered: {sorted(known)})"
        )
    return known[name]
