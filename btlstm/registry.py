"""Strategies by name: what ``btlstm run <name>`` and ``[strategy] name`` know.

A strategy module registers its ``bt.Strategy`` with a small *plan*: which
data it takes, which predictor line the pipeline attaches, its params (read
from the class's own ``params`` tuple, never retyped), its default settings
and its baselines. The run pipeline, the TOML reader and the CLI read the
plan; a new strategy is one module (see ``docs/new-strategy.md``)::

    import backtrader as bt
    from btlstm.registry import Baseline, register_strategy
    from btlstm.strategies.buyhold import BuyAndHold

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

Where strategies come from (btlstm claims no top-level module name but its
own, so a user's ``strategies.py`` or ``strategies/`` never collides with it):

- btlstm's own, in :mod:`btlstm.strategies` (the repository folder
  ``strategies/``); every module of it is imported on first use of the registry;
- installed packages, through the entry-point group ``btlstm.strategies``
  (:data:`ENTRY_POINT_GROUP`; each entry point names a module to import);
- the user's own module, named by ``btlstm run --plugin MODULE`` or
  :func:`load_plugin` (it may register learners too, with
  :func:`btlstm.learners.register_learner`; docs/learners.md): a module name on the Python path or in the current
  folder (``mystrats``, ``strategies``), or a ``.py`` file or package folder
  path (``~/bt/strategies.py``). A config file may *name* one (``[strategy]
  module``), but a file is data: btlstm imports the module it names only when
  the command line names the same module (``--plugin``), else
  :func:`check_config_module` refuses the file (docs/trust.md).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from btlstm._settings import coerce, field_help
from btlstm.checks import closest
from btlstm.errors import SettingsError
from btlstm.forecast import featurelib

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
    "load_plugin",
    "check_config_module",
    "plugin_key",
    "ENTRY_POINT_GROUP",
    "RESERVED_PARAMS",
]

log = logging.getLogger("btlstm.registry")

#: How the pipeline attaches a predictor line: name -> function(settings, history, cache_dir,
#: progress) returning extra strategy params. Strategies never import Keras; this does, lazily.
PREDICTORS: dict = {}

#: The predictor keys the pipeline knows (a predictor is how a strategy gets its forecast
#: line, not a learner: any ``[model] learner`` trains behind either). ``"lstm"`` is the
#: single-feed walk-forward predictor's historical key (``predictor="lstm"``, LSTMPredictor).
FEED_PREDICTOR = "lstm"
#: the pooled predictor: one model over a panel of feeds, a line per feed
POOLED_PREDICTOR = "pooled"

#: How the pipeline computes per-stock score columns of a panel: name -> function(settings,
#: panel, cache_dir, progress) returning ``{"scores": DataFrame date x symbol, "report":
#: dict (a report section), "tables": {file name: DataFrame}}``. A plan's ``scores`` names one.
SCORERS: dict = {}

#: Entry-point group through which installed packages register strategy modules.
ENTRY_POINT_GROUP = "btlstm.strategies"

#: ``[strategy]`` keys that are settings, not params: a registered strategy may not use them.
RESERVED_PARAMS = ("name", "module")

_PLANS: dict = {}
_LOADED = False
#: user modules loaded by :func:`load_plugin`: spec as given -> module
_USER: dict = {}
#: :func:`plugin_key` of the modules the settings name as a Keras builder's
#: (``[model] builder``): a ``--plugin`` naming one may register nothing
_BUILDERS: set = set()


def note_builder(builder) -> None:
    """Record that the settings name ``builder`` (``"MODULE:FUNCTION"``): its module,
    named by ``--plugin`` too, is a builder's module, not a module that must register a
    strategy or learner."""
    if isinstance(builder, str) and ":" in builder:
        _BUILDERS.add(plugin_key(builder.rpartition(":")[0]))


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
    predictor: str | None = FEED_PREDICTOR
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
    predictor: str | None = FEED_PREDICTOR,
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
        taken = [k for k in RESERVED_PARAMS if k in params]
        if taken:
            raise ValueError(
                f"register_strategy({name!r}): params {taken} of {cls.__name__} clash with "
                f"the [strategy] settings {list(RESERVED_PARAMS)}; rename or hide them"
            )
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


def _registering(table: dict, name: str):
    """A decorator that files its function in ``table`` under ``name``."""

    def deco(fn):
        table[name] = fn
        return fn

    return deco


def register_predictor(name: str):
    """Decorator: register how the pipeline attaches predictor ``name`` (see :data:`PREDICTORS`)."""
    return _registering(PREDICTORS, name)


@register_predictor(FEED_PREDICTOR)
def _lstm(settings, history, cache_dir=None, progress=None) -> dict:
    """WalkForwardPredictor (LSTMPredictor) on the feed, trained on ``history`` (the bars
    before the feed) with the ``[model]`` learner."""
    from btlstm.bt.indicators import WalkForwardPredictor

    return dict(
        predictor=WalkForwardPredictor,
        predictor_kwargs=dict(
            config=settings.model,
            history=history,
            cache_dir=cache_dir,
            progress=progress,
            warn=False,  # the pipeline checks the training samples itself (check_data)
        ),
    )


@register_predictor(POOLED_PREDICTOR)
def _pooled(settings, history, cache_dir=None, progress=None) -> dict:
    """One pooled model over every feed of a panel (:class:`~btlstm.bt.indicators.PredictionPool`).

    The strategy gets param ``pool``; it builds
    ``PooledPredictor(data, pool=self.p.pool)`` on each feed it wants a line for.
    ``history`` is ``{symbol: frame}`` of the bars before the feeds start.
    """
    from btlstm.bt.indicators import PredictionPool

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
    return _registering(SCORERS, name)


@register_scorer("ranker")
def _ranker_scores(settings, panel, cache_dir=None, progress=None) -> dict:
    """Walk-forward LightGBM LambdaRank scores of every stock (``btlstm.forecast.xswalkforward``),
    on the ``[model]`` schedule, with the ranker's default settings; the report gets
    its quality on the test period (IC, rank IC, top-minus-bottom) and the importances."""
    import pandas as pd

    from btlstm.forecast.xswalkforward import RankerWalkForward, ranker_quality

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
        "model": "LightGBM lambdarank (btlstm.forecast.xswalkforward.RankerWalkForward)",
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
    """Import every module of :mod:`btlstm.strategies` and the entry points, once.

    A broken entry point of another package is logged and skipped: it must not
    stop btlstm's own strategies from running.
    """
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    import btlstm.strategies as own

    for m in pkgutil.iter_modules(own.__path__, own.__name__ + "."):
        importlib.import_module(m.name)
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except Exception as e:  # another package's bug
            log.warning(
                "entry point %r (group %s) failed to load: %s", ep.value, ENTRY_POINT_GROUP, e
            )


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec or spec.startswith("~")


def _module_name(path: Path) -> str:
    """The name a user file is imported under: its stem when that name is free (so
    the user's own ``import strategies`` gets the same module), else a private one."""
    import hashlib

    stem = path.stem if path.name != "__init__.py" else path.parent.name
    mod = sys.modules.get(stem)
    if stem.isidentifier() and (
        mod is None or Path(getattr(mod, "__file__", "") or "").resolve() == path.resolve()
    ):
        return stem
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"btlstm_plugin_{stem if stem.isidentifier() else 'file'}_{digest}"


def _failed(place: str, spec: str, e: BaseException):
    """A SettingsError for a user module whose import raised (``SystemExit`` and
    ``KeyboardInterrupt`` too: a plugin never ends btlstm silently): the error and where."""
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    at = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    why = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
    return SettingsError(f"{place}importing strategy module {spec!r} failed: {why}{at}")


def plugin_key(spec) -> tuple:
    """What a plugin spec names, comparable across spellings: ``("file", resolved
    path)`` for a ``.py`` file or package folder (``my_strategies.py``,
    ``./my_strategies.py`` and its absolute path are one file), and for a plain
    module name the file it would import from (found without running anything),
    else ``("module", name)``.
    """
    spec = str(spec).strip()
    if _is_path(spec):
        p = Path(spec).expanduser()
        if p.is_dir():
            p = p / "__init__.py"
        return ("file", str(p.resolve()))
    if spec.isidentifier():  # a top-level name: where it would come from, importing nothing
        try:
            found = importlib.util.find_spec(spec)
        except (ImportError, ValueError):
            found = None
        origin = getattr(found, "origin", None)
        if origin and origin not in ("built-in", "frozen") and Path(origin).is_file():
            return ("file", str(Path(origin).resolve()))
        here = Path.cwd()
        for p in (here / f"{spec}.py", here / spec / "__init__.py"):
            if p.is_file():
                return ("file", str(p.resolve()))
    return ("module", spec)


def check_config_module(module, source, allowed=(), how=None, typed=None) -> None:
    """Refuse a config file that names code the caller did not allow.

    A config file (TOML) is data: it may *name* a strategy module (``[strategy]
    module`` or a top-level ``module``), but btlstm imports it only when the
    caller names the same module too (the command line's ``--plugin``; in
    Python ``Settings.from_toml(path, plugins=[...])``).

    Args:
        module: the module the file names (a relative path already made relative
            to the file), or None (nothing to check).
        source: the config file, for the message.
        allowed: module specs the caller trusts (``--plugin`` values), or True
            (the caller trusts whatever the file names).
        how: how to allow it, for the message (default: the CLI's ``--plugin``).
        typed: the key and value as the file has them (``[strategy] module =
            "my_strategies.py"``), for the message.

    Raises:
        SettingsError: one line naming the file, the key's value, the file it
        would run, and how to allow it.
    """
    if module is None or allowed is True:
        return
    if not isinstance(module, str):
        raise SettingsError(f"[strategy] module in {source}: expected a module name or a .py "
                            f"file path, got {module!r} ({type(module).__name__})")  # fmt: skip
    key = plugin_key(module)
    if any(plugin_key(a) == key for a in (allowed or ()) if a):
        return
    shown = module
    if key[0] == "file":
        rel = os.path.relpath(key[1])
        shown = key[1] if rel.startswith("..") else rel
    typed = typed or f"module = {module!r}"
    how = how or f"add --plugin {shown}"
    raise SettingsError(
        f"config file {source} asks to run code: {typed} ({shown}); a config file is data, "
        f"btlstm imports a module only when the command line names it: read that file, "
        f"then {how}"
    )


def load_plugin(spec, where: str | None = None):
    """Import the user's own strategy module ``spec`` (its ``@register_strategy``
    classes then run by name), after btlstm's own strategies.

    Args:
        spec: a module name (``mystrats``, ``mypkg.strats``), found on the Python
            path or else in the current folder; or the path of a ``.py`` file or of
            a package folder (``strategies.py``, ``~/bt/strategies``).
        where: how the user named it (``--plugin``, ``[strategy] module in run.toml``),
            for error messages.

    Returns:
        The imported module (imported once per ``spec``).

    Raises:
        SettingsError: no such module or file, or its import raised (the message
        names ``where``, the error, and the file and line).

    Example::

        from btlstm.pipeline import run_backtest
        from btlstm.settings import Settings

        load_plugin("strategies.py")  # your own file: @register_strategy("mine", ...)
        run_backtest(Settings.from_dict({"strategy": {"name": "mine"}}))
        # the same: Settings.from_dict({"strategy": {"name": "mine", "module": "strategies.py"}})
    """
    spec = str(spec).strip()
    if spec in _USER:
        return _USER[spec]
    load_plugins()  # btlstm's own first: a user's strategy may replace one (with a warning)
    place = f"{where}: " if where else ""
    if not spec:
        raise SettingsError(f"{place}name a module or a .py file")
    from btlstm.learners import LEARNERS

    before = (dict(_PLANS), dict(PREDICTORS), dict(SCORERS), featurelib.registered(),
              dict(LEARNERS))  # fmt: skip
    if not _is_path(spec) and not all(part.isidentifier() for part in spec.split(".")):
        raise SettingsError(f"{place}{spec!r} is neither a module name nor a .py file path")
    if not _is_path(spec) and (Path.cwd() / spec).is_file():  # notes.txt: a file, not a module
        raise SettingsError(
            f"{place}{spec} is a file but not a .py file (give a .py file, a package folder "
            "or a module name)"
        )
    if _is_path(spec):
        path = Path(spec).expanduser()
        if path.is_dir():
            path = path / "__init__.py"
        if path.is_file() and path.suffix != ".py":
            raise SettingsError(
                f"{place}{spec} is not a .py file (give a .py file, a package folder or a "
                "module name)"
            )
        if not path.is_file():
            from btlstm._files import file_kind

            kind = file_kind(path)
            if path.name == "__init__.py" and Path(spec).expanduser().is_dir():
                what = "is a folder without __init__.py (not a package)"
            elif kind.startswith("missing"):
                what = "does not exist"
            else:  # a FIFO, a device, a link to one: named, never opened
                what = f"is {kind}, not a regular file"
            raise SettingsError(
                f"{place}{spec} {what} (give a .py file, a package folder or a module name)"
            )
        name = _module_name(path)
        module = sys.modules.get(name)
        if module is None:
            pkg = [str(path.parent)] if path.name == "__init__.py" else None
            ispec = importlib.util.spec_from_file_location(
                name, path, submodule_search_locations=pkg
            )
            module = importlib.util.module_from_spec(ispec)
            sys.modules[name] = module
            try:
                ispec.loader.exec_module(module)
            except BaseException as e:  # SystemExit, KeyboardInterrupt: reported, never silent
                del sys.modules[name]
                raise _failed(place, spec, e) from None
    else:
        top = spec.split(".")[0]
        here = Path.cwd()
        if importlib.util.find_spec(top) is None and (
            (here / f"{top}.py").is_file() or (here / top / "__init__.py").is_file()
        ):
            sys.path.append(str(here))  # appended: the current folder never shadows a library
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as e:
            if e.name is not None and spec.startswith(e.name):
                raise SettingsError(
                    f"{place}no module named {spec!r} on the Python path or in {here} "
                    "(give a module name or the path of a .py file)"
                ) from None
            raise _failed(place, spec, e) from None
        except BaseException as e:  # SystemExit, KeyboardInterrupt: reported, never silent
            raise _failed(place, spec, e) from None
    if not _registers(module, before) and plugin_key(spec) not in _BUILDERS:
        raise SettingsError(
            f"{place}module {spec!r} ({getattr(module, '__file__', None) or 'built in'}) "
            "registered no strategy or learner: a strategy module registers one with "
            "@register_strategy (docs/new-strategy.md), a learner module with "
            "@btlstm.learners.register_learner (docs/learners.md)"
        )
    if _is_path(spec) and module.__name__ == Path(spec).expanduser().stem and any(
        getattr(c, "__module__", "") == module.__name__ for c in LEARNERS.values()
    ):  # a learner of a .py file: spawned fit workers import its class by module name
        folder = str(Path(module.__file__).resolve().parent)
        if folder not in sys.path:
            sys.path.append(folder)
    _USER[spec] = module
    return module


def _registers(module, before) -> bool:
    """Whether ``module`` registered something: a strategy (or predictor, scorer,
    learner, or a feature with ``@register_feature``) was added or replaced while it
    was imported, or a registered strategy or learner is defined in it."""
    from btlstm.learners import LEARNERS

    name = module.__name__
    tables = (_PLANS, PREDICTORS, SCORERS, featurelib.registered(), LEARNERS)
    for table, old in zip(tables, before):
        if any(old.get(k) is not v for k, v in table.items()):
            return True
    defined = [p.strategy.__module__ for p in _PLANS.values()]
    defined += [getattr(c, "__module__", "") for c in LEARNERS.values()]
    return any(m == name or m.startswith(name + ".") for m in defined)


def plans() -> dict:
    """``{name: StrategyPlan}`` of every registered strategy."""
    load_plugins()
    return dict(_PLANS)


def names() -> list:
    return sorted(plans())


def get(name, where: str | None = None) -> StrategyPlan:
    """The plan of strategy ``name``; an unknown name raises, suggesting the closest."""
    known = plans()
    if name not in known:
        place = f"{where}: " if where else ""
        mods = f"; your modules loaded: {sorted(_USER)}" if _USER else ""
        raise SettingsError(
            f"{place}unknown strategy {name!r}{closest(str(name), known)} "
            f"(registered: {sorted(known)}{mods}; a strategy in a module of your own "
            "runs with --plugin MODULE or [strategy] module)"
        )
    return known[name]
