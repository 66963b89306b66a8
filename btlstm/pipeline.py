"""One run pipeline for every registered strategy: settings -> report.

:func:`run_backtest` reads as its steps, each a small function of this module:

1. **validate** every setting and path (:meth:`btlstm.settings.Settings.validate`:
   types, the strategy name and params, dates parsed and ordered, the data
   source, the output and cache folders) before any data is read or any model
   trained, so a bad flag fails in a second, not after training;
2. **load** the data (:func:`~btlstm.data.loading.load_data`: :func:`btlstm.data.load` or
   :mod:`btlstm.synthetic`): one frame, or a panel for panel strategies; on the
   user's own file or DataFrame the dates not given come from it
   (:func:`data_dates`, docs/your-data.md); the plan's extra feeds (an index
   that carries a gate);
3. **check** it (:func:`check_data`): prices from the future, too few
   training samples, dates outside the data;
4. **split** at ``model.test_start``: the feeds cover the test period only and
   the predictor gets the bars before it as ``history`` to train on, so every
   analyzer measures the test period alone;
5. **score**: a plan's scorer (the ranker) adds a ``score`` line per stock;
6. **predict**: the plan's predictor (``btlstm.registry.PREDICTORS``) becomes
   strategy params (an indicator class built on the feed, or a pool);
7. **build** the cerebro with the one factory, :func:`btlstm.bt.cerebro.make_cerebro`
   (the broker of ``[costs] market``, lean feeds, the standard analyzers);
8. **run** it (:func:`btlstm.bt.cerebro.run`; a paper run through its live hooks);
9. **collect** plain data (:func:`btlstm.report.collect`) with provenance and costs;
10. **add files**: the scorer's, the strategy's own (``gate.csv``), forecasts;
11. **baselines**: each in its own cerebro from the same factory, over the same
    bars and costs (:func:`~btlstm.report.add_comparison`);
12. the run's **facts** (seconds, fits); 13. **write** the report
    (:func:`~btlstm.report.write_report`).

The CLI (``btlstm run <strategy>``, ``btlstm demo``) only builds settings and
calls it; a script can do the same in a few lines::

    from btlstm.pipeline import run_backtest
    from btlstm.settings import Settings

    result = run_backtest(Settings.from_dict({"strategy": {"name": "hold", "hold": 3}}))
    print(result.report["comparison"])
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

# data loading and its checks live in the data layer (btlstm.data.loading) and beside the
# schedule (btlstm.forecast.trainchecks); the names stay importable from here
from btlstm.data.loading import (
    DATE_SLACK_DAYS,
    FUTURE_GRACE_DAYS,
    _few,
    _short,
    load_data,
)
from btlstm.data.loading import load_extra as _load_extra
from btlstm.data.validate import require_history
from btlstm.forecast.trainchecks import (
    MIN_TRAIN_SAMPLES,
    WARN_TRAIN_SAMPLES,
    check_data,
    data_dates,
)
from btlstm.settings import WALKFORWARD_PRESET, Settings, SettingsError

__all__ = [
    "run_backtest",
    "run_hold",
    "load_data",
    "check_data",
    "data_dates",
    "RunResult",
    "run_seeds",
    "SeedsResult",
    "n_trials",
    "WALKFORWARD_PRESET",
    "MIN_TRAIN_SAMPLES",
    "WARN_TRAIN_SAMPLES",
    "FUTURE_GRACE_DAYS",
    "DATE_SLACK_DAYS",
]

log = logging.getLogger("btlstm.pipeline")

#: ``[data] data`` of a run given in-memory DataFrames (``run_backtest(data=...)``).
IN_MEMORY = "DataFrame"


@dataclass
class RunResult:
    """What :func:`run_backtest` returns: plain data and the files written.

    Attributes:
        run: :class:`btlstm.report.RunData` (``report`` dict + ``tables``).
        paths: ``{file name: Path}`` written to ``settings.output.out``.
        summary: one row per run (strategy, then baselines), the summary keys.
        verdict: the verdict string (None without a significance section).
        equity: portfolio values, a DatetimeIndex, one column per run.
        settings: the validated settings of the run.
        fits: one dict per model fit (:class:`btlstm.forecast.walkforward.FitRecord`).
        strategy: the finished strategy object (for scripts; not plain data).
    """

    run: object
    paths: dict
    settings: Settings
    fits: list = field(default_factory=list)
    strategy: object = None

    @property
    def report(self) -> dict:
        return self.run.report

    @property
    def summary(self) -> pd.DataFrame:
        """One row per run (the strategy first, then each baseline), indexed by its
        name, one column per summary key (:data:`btlstm.summary.SUMMARY_KEYS`)."""
        from btlstm.summary import SUMMARY_KEYS

        rows = list(self.report.get("comparison") or [])
        frame = pd.DataFrame(rows, columns=list(SUMMARY_KEYS))
        return frame.set_index("name")

    @property
    def verdict(self) -> str | None:
        """The run's verdict (``report["significance"]["verdict"]``, the ``VERDICT:``
        line of the table); None for a run without a significance section."""
        sig = self.report.get("significance")
        return sig.get("verdict") if isinstance(sig, dict) else None

    @property
    def equity(self) -> pd.DataFrame:
        """Portfolio value per date (a DatetimeIndex named ``date``), one column per run
        (the strategy, then the baselines)."""
        table = self.run.tables["equity"]
        frame = table.set_index(pd.DatetimeIndex(pd.to_datetime(table["date"]), name="date"))
        return frame.drop(columns="date")

    def _repr_html_(self) -> str:
        """A small HTML table of :attr:`summary` and the verdict (for notebooks); every
        value escaped."""
        import html

        cols = ("total_return", "annual_return", "sharpe", "max_drawdown", "n_trades")
        table = self.summary.reindex(columns=list(cols))

        def cell(v) -> str:
            if isinstance(v, float):
                return "" if v != v else f"{v:.4g}"
            return "" if v is None else str(v)

        head = "".join(f"<th>{html.escape(c)}</th>" for c in ("run", *cols))
        body = "".join(
            "<tr><td>" + html.escape(str(name)) + "</td>"
            + "".join(f"<td>{html.escape(cell(v))}</td>" for v in row) + "</tr>"
            for name, row in zip(table.index, table.itertuples(index=False))
        )  # fmt: skip
        title = html.escape(str(self.report.get("title") or "btlstm run"))
        verdict = html.escape(str(self.verdict or "no verdict (no significance section)"))
        where = self.paths.get("report.html")
        link = f"<p>report: {html.escape(str(where))}</p>" if where else ""
        return (f"<div><p><b>{title}</b></p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{body}</tbody></table><p>VERDICT: {verdict}</p>{link}</div>")  # fmt: skip


def _as_settings(settings, strategy: str | None = None) -> Settings:
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        d = {k: dict(v) if isinstance(v, dict) else v for k, v in settings.items()}
        if strategy is not None:
            d.setdefault("strategy", {}).setdefault("name", strategy)
        return Settings.from_dict(Settings.nest(d, strategy=strategy))
    raise TypeError(f"settings must be a Settings or a dict, got {type(settings).__name__}")


# --------------------------------------------------------------------------- run folder
@contextlib.contextmanager
def run_folder(settings: Settings, write: bool = True, kind: str | None = None):
    """Yield the settings with ``[output] out`` set: a new run folder
    ``btlstm-out/<strategy>-<data>-<time>/`` when none was given
    (:mod:`btlstm.report.runs`), else the settings as they are. When the block
    succeeds, ``btlstm-out/latest`` names the new folder; when it fails, the new
    folder is removed if it is still empty (btlstm made it)."""
    if settings.output.out is not None or not write:
        yield settings
        return
    from btlstm.report.runs import DEFAULT_ROOT, new_run_folder, set_latest

    name = settings.strategy.name + (f"-{kind}" if kind else "")
    folder = new_run_folder(DEFAULT_ROOT, name, settings.data.data)
    s = copy.copy(settings)  # the caller's settings stay as they were (a new folder a run)
    s.output = dataclasses.replace(settings.output, out=str(folder))
    try:
        yield s
    except BaseException:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty
        raise
    set_latest(DEFAULT_ROOT, folder)


# --------------------------------------------------------------------------- data
#: Strategy params that pick the best N of a panel: at or above the panel's size they
#: pick everything, and the forecasts choose nothing.
PICK_PARAMS = {
    "topk": "every rebalance holds every tradable symbol, so the rotation is an equal-weight "
    "portfolio and the forecasts choose nothing",
    "n_buy": "every bullish bar buys every stock, so the ranking chooses nothing",
}


def _universe_warnings(settings: Settings, plan, bars: _Bars) -> list:
    """A panel strategy's ``topk`` / ``n_buy`` at or above the number of symbols it can
    pick from (the panel less its benchmark feed): a warning naming the flag."""
    if plan.data != "panel":
        return []
    try:
        defaults = dict(plan.strategy.params._getitems())
    except AttributeError:
        return []
    params = {**defaults, **settings.strategy.params}
    bench = params.get("benchmark")
    names = [n for n in bars.frames if n != bench]
    out = []
    for key, what in PICK_PARAMS.items():
        k = params.get(key)
        if key in defaults and isinstance(k, int) and not isinstance(k, bool) and names:
            if k >= len(names):
                out.append(
                    f"{settings.where('strategy', key)} = {k} is at or above the {len(names)} "
                    f"symbols the strategy picks from ({_short(names)}): {what}."
                )
    return out


def _split(frame: pd.DataFrame, settings: Settings, src=None, check: bool = True):
    """``(history, test)``: the bars before ``model.test_start`` and from it on
    (``(None, frame)`` without a test start).

    ``check``: each part must be long enough to train on and to test, else a
    DataError naming ``src``; panel members a model does not train on are not
    checked (``check=False``)."""
    m = settings.model
    if m.test_start is None:
        return None, frame
    t0 = pd.Timestamp(m.test_start)
    history, test = frame.loc[frame.index < t0], frame.loc[frame.index >= t0]
    history.attrs, test.attrs = dict(frame.attrs), dict(frame.attrs)
    if check:
        w = settings.where
        require_history(
            history, m.lookback + m.horizon + 1, source=src,
            what=f"training before {w('model', 'test_start')} ({w('model', 'lookback')} = "
            f"{m.lookback} + {w('model', 'horizon')} = {m.horizon} + 1)",
        )  # fmt: skip
        require_history(
            test, m.horizon + 2, source=src,
            what=f"the test period ({w('model', 'horizon')} = {m.horizon} + 2): a shorter "
            f"{w('model', 'horizon')} or a later {w('model', 'test_end')}",
        )  # fmt: skip
    return history, test


# --------------------------------------------------------------------------- runs
class _Fits:
    """Progress callable for WalkForward: records every FitRecord, forwards it."""

    def __init__(self, forward=None):
        self.records: list = []
        self.forward = forward

    def __call__(self, rec) -> None:
        self.records.append(rec)
        log.debug("fit %s at %s (%s)", rec.k + 1, rec.date, "cache" if rec.cached else "trained")
        if callable(self.forward):
            self.forward(rec)


@dataclass
class _Bars:
    """A run's bars as loaded (:func:`_load`) and split at ``model.test_start``
    (:func:`_split_bars`), each ``{feed name: frame}``."""

    frames: dict  # the strategy's data: one frame, or the panel
    extra: dict  # the plan's extra_data (e.g. the gate index), one frame each
    history: dict = field(default_factory=dict)  # frames before test_start (None: no split)
    test: dict = field(default_factory=dict)  # frames from test_start: the feeds
    extra_history: dict = field(default_factory=dict)
    extra_test: dict = field(default_factory=dict)

    @property
    def first(self) -> pd.DataFrame:
        return next(iter(self.frames.values()))


def _in_memory(settings: Settings, data) -> Settings:
    """The settings of a run given in-memory data: the report names it ``DataFrame``."""
    if data is None:
        return settings
    return settings.replace(data=dataclasses.replace(settings.data, data=IN_MEMORY))


def _load(settings: Settings, plan, data) -> tuple[Settings, _Bars]:
    """The strategy's frame(s) (:func:`load_data`), the settings with the dates the
    data decides (:func:`data_dates`), and the plan's extra feeds."""
    panel = plan.data == "panel"
    loaded = load_data(settings, panel=panel, data=data)
    frames = loaded if panel else {loaded.attrs.get("symbol") or settings.data.data: loaded}
    settings = data_dates(settings, frames)
    return settings, _Bars(frames, _load_extra(settings, plan, frames if panel else None))


# --------------------------------------------------------------------------- dates
def _as_typed(settings: Settings, key: tuple) -> str:
    """``--test-end 2017-05-01``: a date setting as the user named it, and its value."""
    name = settings.where(*key)
    sep = " = " if name.startswith("[") else " "
    return f"{name}{sep}{getattr(getattr(settings, key[0]), key[1])}"


def _end(settings: Settings) -> str:
    """How to say ``test_end = "end"`` where the user gives settings."""
    name = settings.where("model", "test_end")
    if name.startswith("--"):
        return f"{name} end"
    return '[model] test_end = "end" (--test-end end)'


def _unused_warnings(settings: Settings, plan, frames: dict) -> list:
    """A warning when the run leaves more than :data:`~btlstm.splits.UNUSED_YEARS` of
    the data unused before its first bar or after its last, naming the years and
    the flag to change; not for a strategy's own dataset on its registered dates
    (the article's split of csi300)."""
    from btlstm.splits import UNUSED_YEARS

    own = (plan.defaults.get("data") or {}).get("data", "csi300") == settings.data.data
    documented = set(settings._auto_dates) if own and not settings.user_data else set()
    out = []
    for f in frames.values():
        if not len(f) or "span" not in f.attrs:
            continue
        lo, hi = (pd.Timestamp(x) for x in f.attrs["span"])
        src = f.attrs.get("source", settings.data.data)
        sides = []
        before = (f.index[0] - lo).days / 365.25
        if before > UNUSED_YEARS and "train_start" not in documented:
            key = ("data", "start") if settings.data.start else ("model", "train_start")
            sides.append(
                f"{before:.1f} years before its first bar {f.index[0].date()} "
                f"({_as_typed(settings, key)}; an earlier one trains on them)"
            )
        after = (hi - f.index[-1]).days / 365.25
        if after > UNUSED_YEARS and "test_end" not in documented:
            key = ("data", "end") if settings.data.end else ("model", "test_end")
            sides.append(
                f"{after:.1f} years after its last bar {f.index[-1].date()} "
                f"({_as_typed(settings, key)}; "
                + (f"{_end(settings)} tests to the last bar)" if key[0] == "model"
                   else "a later one tests on them)")  # fmt: skip
            )
        if sides:
            out.append(
                f"{src} runs {lo.date()}..{hi.date()}; this run leaves " + " and ".join(sides)
                + " unused."
            )
            break  # one warning: a panel's members share their dates
    return out


def _check(settings: Settings, plan, bars: _Bars) -> tuple[list, dict]:
    """:func:`check_data` on the frames, and on the extra feed the predictor trains on."""
    trains = plan.predictor is not None
    warnings, dates_used = check_data(
        settings, bars.frames, trains=trains and not plan.predictor_data
    )
    if plan.predictor_data is not None:
        gate = {plan.predictor_data: bars.extra[plan.predictor_data]}
        more, used = check_data(settings, gate, trains=trains)
        warnings += [w for w in more if w not in warnings]
        dates_used.update({k: v for k, v in used.items() if k not in dates_used})
    warnings += _universe_warnings(settings, plan, bars)
    warnings[:0] = _unused_warnings(settings, plan, bars.frames)
    return warnings, dates_used


def _split_bars(settings: Settings, plan, bars: _Bars) -> None:
    """Every feed split at ``test_start`` (:func:`_split`). Panel members whose model
    trains elsewhere (a gate, a scorer) need no history of their own, and leave the
    run when they have no bar in the test period."""
    lenient = plan.data == "panel" and (plan.predictor_data is not None or plan.scores is not None)
    for name, frame in bars.frames.items():
        src = frame.attrs.get("source", settings.data.data)
        bars.history[name], bars.test[name] = _split(frame, settings, src, check=not lenient)
    empty = [k for k, v in bars.test.items() if lenient and not len(v)]
    for k in empty:
        del bars.test[k]
    if empty:
        log.info("%d symbol(s) have no bar in the test period: %s", len(empty), _few(empty))
    for name, frame in bars.extra.items():
        src = frame.attrs.get("source", name)
        bars.extra_history[name], bars.extra_test[name] = _split(frame, settings, src)


def _announce(settings: Settings, bars: _Bars, warnings: list, dates_used: dict) -> bool:
    """Log the data, the split and the warnings; True when the prices are synthetic.
    The train dates are those the first fit uses (``provenance.dates_used``)."""
    synthetic = any(bool(f.attrs.get("synthetic")) for f in bars.frames.values())
    if synthetic:
        log.warning("SYNTHETIC DATA: generated prices, not a market")
    for text in warnings:
        log.warning("WARNING: %s", text)
    t_first = next(iter(bars.test.values()))
    train = dates_used.get("train_start"), dates_used.get("train_end")
    log.info(
        "data %s%s: %d feed(s), train %s, test %s..%s (%d bars)",
        settings.data.data,
        f"/{settings.data.symbol}" if settings.data.symbol else "",
        len(bars.frames),
        f"{train[0]}..{train[1]}" if all(train) else "none",
        t_first.index[0].date(),
        t_first.index[-1].date(),
        len(t_first),
    )
    return synthetic


def _score(settings: Settings, plan, bars: _Bars, fits: _Fits) -> tuple[dict | None, tuple]:
    """The scorer's per-stock scores as a ``score`` column of every test frame (a plan
    with ``scores``), and the lines the panel feeds expose: ``(scored, lines)``."""
    from btlstm.forecast.xswalkforward import with_scores

    scored, lines = None, ()
    if plan.scores is not None:
        from btlstm.registry import SCORERS

        if plan.scores not in SCORERS:
            raise SettingsError(
                f"strategy {plan.name!r} needs scorer {plan.scores!r}, "
                f"which is not registered (known: {sorted(SCORERS)})"
            )
        log.info("scoring %d symbols (%s) ...", len(bars.frames), plan.scores)
        # the scorer's fits show on the progress bar; they are listed in its own report
        # section (`scores.fits`), not among the predictor's `fits`
        scored = SCORERS[plan.scores](
            settings, bars.frames, settings.output.cache_dir, fits.forward
        )
        bars.test = with_scores(bars.test, scored["scores"])
        lines = ("score",)
    if plan.data == "panel":
        lines += tuple(
            x for x in plan.extra_lines if all(x in f.columns for f in bars.test.values())
        )
    return scored, lines


def target_centre(settings: Settings) -> float:
    """The neutral prediction of ``[model] target``: 0 (return, vol_scaled) or 0.5 (sign,
    rank): the strategies' default ``threshold`` and the hit rate's sign(prediction - centre)."""
    from btlstm.forecast.features import TARGET_CENTRES

    return float(TARGET_CENTRES.get(getattr(settings.model, "target", "return"), 0.0))


def _strategy_params(settings: Settings, plan, bars: _Bars, fits, predictions, live) -> dict:
    """The strategy's params: the user's, and the predictor's (its line trained on the
    bars before the test, or the given ``predictions``)."""
    params = dict(settings.strategy.params)
    if plan.predictor is None:
        return params
    centre = target_centre(settings)
    if centre and "threshold" in plan.params and "threshold" not in params:
        # a prediction of the sign (rank) target is a probability (a rank) around 0.5:
        # "bullish" is above that centre, not above 0 (docs/features.md "Targets")
        params["threshold"] = centre
        log.info("threshold %.1f: the centre of target %r (--threshold overrides it)",
                 centre, settings.model.target)  # fmt: skip
    from btlstm.registry import PREDICTORS

    predictors = PREDICTORS if live is None else live.predictors
    if plan.predictor not in predictors:
        raise SettingsError(
            f"strategy {plan.name!r} needs predictor {plan.predictor!r}, "
            f"which is not registered (known: {sorted(predictors)})"
        )
    if predictions is not None:
        params.update(_precomputed(plan, predictions))
        return params
    if plan.predictor_data is not None:
        hist = bars.extra_history[plan.predictor_data]
    else:
        hist = bars.history if plan.data == "panel" else next(iter(bars.history.values()))
    params.update(predictors[plan.predictor](settings, hist, settings.output.cache_dir, fits))
    return params


def _analyzers(settings: Settings, plan, bars: _Bars) -> dict:
    """The strategy run's analyzers (:func:`btlstm.bt.analyzers.add_standard_analyzers`): its
    signal scored at the model's horizon, measured against the predictor's feed (an
    index) or the feed a strategy param ``benchmark`` names (rotation: SPY), else data0;
    the deflated Sharpe ratio over :func:`n_trials`."""
    names = set(bars.test) | set(bars.extra_test)
    wanted = str({**plan.params, **settings.strategy.params}.get("benchmark"))
    bench = next((n for n in (plan.predictor_data, wanted) if n in names), None)
    out = dict(signal=plan.signal, horizon=settings.model.horizon, benchmark=bench,
               n_trials=n_trials(settings))  # fmt: skip
    if target_centre(settings):  # sign / rank: the hit rates read sign(prediction - 0.5)
        out["centre"] = target_centre(settings)
    return out


def _make_cerebro(settings: Settings, plan, bars: _Bars, lines, live=None, analyzers=None):
    """:func:`btlstm.bt.cerebro.make_cerebro` over the test bars with ``[costs]``."""
    from btlstm.bt.cerebro import make_cerebro

    if analyzers is not None:  # the feeds start at model.test_start already (split above):
        # the strategy and its baselines measure every bar of them, one window for all
        analyzers = {"start": "data", **analyzers}
    return make_cerebro(
        bars.test,
        settings.costs,
        panel=plan.data == "panel",
        extra=bars.extra_test,
        lines=lines,
        feed=None if live is None else live.feed,
        analyzers=analyzers,
    )


def _run_strategy(settings: Settings, plan, cerebro, live, training: bool):
    """Run the strategy's cerebro (a paper run through its live hooks)."""
    from btlstm.bt.cerebro import run

    if live is not None:
        live.attach(cerebro)
    log.info(
        "running %s (%s%s) ...", plan.name, settings.model.mode, ", training" if training else ""
    )
    try:
        return run(cerebro) if live is None else live.run(cerebro, run)
    except ValueError as e:  # a learner setting refused while training: name what was typed
        if str(e).startswith(("lstm_kwargs", "dense_kwargs")):
            raise SettingsError(settings.learner_message(str(e))) from None
        if str(e).startswith("features: "):  # a feature this data has no column for
            msg = str(e)[len("features: ") :]
            raise SettingsError(f"{settings.where('model', 'features')}: {msg}") from None
        raise


def _collect(settings: Settings, plan, bars: _Bars, strat, notes: dict, title=None):
    """The strategy's report (:func:`btlstm.report.collect`) with its provenance and costs.

    ``notes``: ``warnings``, ``dates_used`` and ``synthetic`` of the run."""
    from btlstm.bt.cerebro import market_rules
    from btlstm.report import collect

    first = bars.first
    t_first = next(iter(bars.test.values()))
    h_first = next(iter(bars.history.values()))
    provenance = dict(
        dataset=settings.data.data,
        symbol=settings.data.symbol or first.attrs.get("symbol"),
        symbols=list(bars.frames) if plan.data == "panel" else None,
        source=str(first.attrs.get("source", settings.data.data)),
        synthetic=notes["synthetic"],
        amount_derived=bool(first.attrs.get("amount_derived", False)),
        layout=first.attrs.get("layout"),
        encoding=first.attrs.get("encoding"),
        conversions=list(first.attrs.get("conversions") or []),
        repair=first.attrs.get("repair"),
        adjusted=_adjusted(settings.data.adjust),
        first_date=str(first.index[0].date()),
        last_date=str(first.index[-1].date()),
        rows=len(first),
        train_rows=0 if h_first is None else len(h_first),
        test_rows=len(t_first),
        dates_used=dict(
            notes["dates_used"],
            test_start=str(t_first.index[0].date()),
            test_end=str(t_first.index[-1].date()),
        ),
        dates_from_data=[k for k in settings._auto_dates if settings.user_data],
    )
    c = settings.costs
    meta = dict(
        title=title or _title(plan, settings),
        config=settings.to_dict(),
        provenance=provenance,
        costs=dict(
            cash=c.cash,
            commission=c.commission,
            slippage_perc=c.slippage,
            market=c.market,
            rules=market_rules(c),
        ),  # fmt: skip
        synthetic=notes["synthetic"],
        warnings=notes["warnings"] + _plan_notes(plan, settings),
    )
    return collect(strat, meta, name=plan.name)


def _add_files(run, plan, bars: _Bars, strat, scored, live) -> None:
    """The report's extra sections and files: the scorer's (``scores.csv.gz`` ...), the
    strategy's own (``gate.csv``), a panel's forecasts, a paper run's live section."""
    if scored is not None:
        from btlstm.report import to_jsonable

        run.report["scores"] = to_jsonable({"scorer": plan.scores, **scored.get("report", {})})
        run.files.update(scored.get("tables") or {})
        run.files["scores.csv.gz"] = _long_scores(
            scored["scores"],
            min(f.index[0] for f in bars.test.values()),
            max(f.index[-1] for f in bars.test.values()),
        )
    if callable(getattr(strat, "report_files", None)):  # e.g. gate.csv
        run.files.update(strat.report_files())
    if plan.data == "panel" and plan.predictor is not None:  # forecasts.csv: date, sector, forecast
        from btlstm.report import forecasts_table

        run.tables["forecasts"] = forecasts_table(run.tables["predictions"])
    if live is not None:
        live.finish(run, strat)


def _run_baselines(run, settings: Settings, plan, bars: _Bars, lines) -> None:
    """Each baseline in its own cerebro: the same bars, the same costs, no predictor."""
    from btlstm.bt.cerebro import run as run_cerebro
    from btlstm.report import add_comparison

    feed = next(iter(bars.test))
    run_params = {**plan.params, **settings.strategy.params}
    for i, base in enumerate(plan.baselines, 1):
        base = _own_baseline(base, plan, settings)
        name = base.name.format(feed=feed, params=run_params)
        log.info("baseline %d/%d: %s", i, len(plan.baselines), name)
        cerebro = _make_cerebro(settings, plan, bars, lines, analyzers={})
        params = {**{k: run_params[k] for k in base.share if k in run_params}, **base.params}
        if "history" in base.strategy.params._getkeys() and params.get("history") is None:
            params["history"] = bars.history if plan.data == "panel" else bars.history[feed]
        cerebro.addstrategy(base.strategy, **params)
        add_comparison(run, run_cerebro(cerebro), name)


def _add_facts(run, fits: _Fits, elapsed: float) -> list:
    """The report's ``run`` facts: seconds and the predictor's fits; returns the fits."""
    records = [dataclasses.asdict(r) for r in fits.records]
    facts = run.report.setdefault("run", {})
    facts["seconds"] = round(elapsed, 1)
    facts["fits"] = [{k: v for k, v in r.items() if k != "seconds"} for r in records]
    return records


def _long_scores(scores: pd.DataFrame, start=None, end=None) -> pd.DataFrame:
    """``date, symbol, score`` rows of the finite scores in ``[start, end]``."""
    import numpy as np

    s = scores
    if start is not None:
        s = s.loc[s.index >= pd.Timestamp(start)]
    if end is not None:
        s = s.loc[s.index <= pd.Timestamp(end)]
    values = s.to_numpy(dtype=float)
    rows, cols = np.nonzero(np.isfinite(values))  # row-major: by date, then panel order
    return pd.DataFrame(
        {
            "date": pd.DatetimeIndex(s.index)[rows],
            "symbol": np.asarray(s.columns, dtype=object)[cols],
            "score": values[rows, cols],
        }
    )


def run_backtest(
    settings,
    progress=None,
    title: str | None = None,
    data=None,
    write: bool = True,
    predictions: pd.DataFrame | None = None,
    live=None,
) -> RunResult:
    """Run a registered strategy and its baselines end to end and write the report.

    Args:
        settings: :class:`~btlstm.settings.Settings` (or a dict in the TOML layout).
        progress: a callable receiving each :class:`~btlstm.forecast.walkforward.FitRecord`
            (e.g. :class:`btlstm.progress.FitProgress`), or None.
        title: report title (default from the strategy and the settings).
        data: in-memory prices instead of ``[data] data``: a DataFrame (one symbol,
            for strategies that trade one feed), a long DataFrame (a symbol column)
            or a dict ``{symbol: DataFrame}`` (panel strategies), read with the
            ``[data]`` column map (columns found by name, or ``close_column`` ...;
            :func:`btlstm.data.readers.read_dataframe`). The report names the data
            ``DataFrame``; ``[data] symbol`` names one frame's feed and the title.
            The dates not given come from the data, as for a file of the user's
            (:func:`data_dates`, docs/your-data.md).
        write: write the report folder (False: return the plain data only).
        predictions: predictions made beforehand, dates x feed names (e.g. a
            seed ensemble's mean): they replace the plan's predictor (its
            ``lstm`` or ``pooled`` line) and nothing is trained.
        live: None for a backtest; paper trading (:func:`btlstm.live.run_paper`) passes
            the hooks that make the same run live: ``predictors`` (replaces
            :data:`~btlstm.registry.PREDICTORS`), ``feed`` (the feed factory of
            :func:`btlstm.bt.cerebro.make_cerebro`), ``attach(cerebro)``,
            ``run(cerebro, run)`` and ``finish(run, strategy)`` (the report's live
            section). The baselines stay backtests.

    Returns:
        :class:`RunResult`; the files are in ``settings.output.out`` (without it: a new
        run folder ``btlstm-out/<strategy>-<data>-<time>/``, then ``btlstm-out/latest``).

    Raises:
        SettingsError: a bad setting or path, before any data is read.
        DataError: bad or missing data, before any training.
    """
    import backtrader as bt  # noqa: F401  (btlstm's compat patches are applied on import)

    settings = _in_memory(_as_settings(settings), data)
    plan = settings.validate(in_memory=data is not None)  # 1. every check, before any work
    with run_folder(settings, write) as settings:  # a new run folder without --out
        return _run_backtest(settings, plan, progress, title, data, write, predictions, live)


def _run_backtest(settings, plan, progress, title, data, write, predictions, live) -> RunResult:
    t0 = time.perf_counter()
    settings, bars = _load(settings, plan, data)  # 2. the data (its dates) and extra feeds
    warnings, dates_used = _check(settings, plan, bars)  # 3. what would make results wrong
    _split_bars(settings, plan, bars)  # 4. history | test at test_start
    synthetic = _announce(settings, bars, warnings, dates_used)
    fits = _Fits(progress)
    scored, lines = _score(settings, plan, bars, fits)  # 5. per-stock score lines
    params = _strategy_params(settings, plan, bars, fits, predictions, live)  # 6. the predictor
    analyzers = _analyzers(settings, plan, bars)
    cerebro = _make_cerebro(settings, plan, bars, lines, live, analyzers)  # 7. one factory
    cerebro.addstrategy(plan.strategy, **params)
    training = plan.predictor is not None and predictions is None
    strat = _run_strategy(settings, plan, cerebro, live, training)  # 8. the backtest
    notes = dict(warnings=warnings, dates_used=dates_used, synthetic=synthetic)
    run = _collect(settings, plan, bars, strat, notes, title)  # 9. plain data
    _add_files(run, plan, bars, strat, scored, live)  # 10. scores, gate, forecasts, live
    _run_baselines(run, settings, plan, bars, lines)  # 11. same bars, same costs

    elapsed = time.perf_counter() - t0
    records = _add_facts(run, fits, elapsed)  # 12. seconds, fits
    paths = {}
    if write:  # 13. the files
        from btlstm.report import write_report

        paths = write_report(run, settings.output.out, plots=settings.output.plots)
        log.info("report: %s  (%.0fs)", paths.get("report.html", settings.output.out), elapsed)
    return RunResult(run=run, paths=paths, settings=settings, fits=records, strategy=strat)


def _precomputed(plan, predictions: pd.DataFrame) -> dict:
    """Strategy params that put given predictions where the plan's predictor line goes."""
    from btlstm.bt.indicators import PrecomputedPool, PrecomputedPrediction
    from btlstm.registry import FEED_PREDICTOR, POOLED_PREDICTOR

    if plan.predictor == POOLED_PREDICTOR:
        return dict(pool=PrecomputedPool(predictions))
    if plan.predictor == FEED_PREDICTOR and predictions.shape[1] == 1:
        return dict(predictor=PrecomputedPrediction,
                    predictor_kwargs=dict(values=predictions.iloc[:, 0]))  # fmt: skip
    raise SettingsError(
        f"strategy {plan.name!r}: predictions made beforehand replace an 'lstm' line (one "
        f"feed) or a 'pooled' pool, not predictor {plan.predictor!r} with "
        f"{predictions.shape[1]} column(s)"
    )


def n_trials(settings: Settings) -> int:
    """N of the deflated Sharpe ratio: ``[output] trials`` x the seeds of ``[output] seeds``."""
    from btlstm._settings import parse_seeds

    return settings.output.trials * max(1, len(parse_seeds(settings.output.seeds)))


# --------------------------------------------------------------------------- seeds
@dataclass
class SeedsResult:
    """What :func:`run_seeds` returns: plain data and the files written.

    Attributes:
        runs: ``{seed: RunData}`` of every seed's run (in the order of the seeds).
        ensemble: the seed ensemble's :class:`btlstm.report.RunData`, or None.
        overview: :func:`btlstm.report.seeds.seeds_overview` (``seeds.json``).
        paths: ``{name: Path}`` of the overview files and the report folders.
        settings: the validated settings.
    """

    runs: dict
    ensemble: object
    overview: dict
    paths: dict
    settings: Settings


def _seed_task(task: dict) -> dict:
    """One seed of :func:`run_seeds` (in this process or a worker): train, backtest,
    collect; no files."""
    import multiprocessing

    if multiprocessing.parent_process() is not None:  # a worker: the parent logs progress
        logging.getLogger("btlstm").setLevel(logging.ERROR)
    result = run_backtest(Settings.from_dict(task["settings"]), write=False)
    return {"seed": task["seed"], "run": result.run}


def _given(settings: Settings) -> dict:
    """``settings.to_dict()`` less the ``[model]`` dates the user did not give: built
    again, a file of the user's decides them again (docs/your-data.md)."""
    d = settings.to_dict()
    for key in settings._auto_dates:
        d["model"].pop(key, None)
    return d


def _with(settings: Settings, seed: int, out) -> Settings:
    """The settings of one seed's run. Synthetic prices stay those of the base seed: the
    seeds vary the model, not the market."""
    d = _given(settings)
    if d["data"].get("data") == "synthetic":
        d["data"]["synthetic"] = {"seed": settings.model.seed, **(d["data"]["synthetic"] or {})}
    d["model"]["seed"] = seed
    d["output"].update(seeds="", out=str(out))
    return Settings.from_dict(d)


def _ensemble_predictions(runs: dict) -> pd.DataFrame:
    """The seeds' mean prediction, dates x feed names (NaN where every seed has NaN)."""
    tables = [r.tables["predictions"][["date", "symbol", "prediction"]] for r in runs.values()]
    long = pd.concat(tables, ignore_index=True)
    long["date"] = pd.to_datetime(long["date"])
    mean = long.groupby(["date", "symbol"], sort=True)["prediction"].mean()
    return mean.unstack("symbol")


def run_seeds(settings, workers: int | None = None, progress: bool = True) -> SeedsResult:
    """Train and backtest one strategy with several seeds, then their ensemble; one report.

    The seeds are ``[output] seeds`` (``--seeds 0-4``). Each seed's run is
    :func:`run_backtest` with that seed, in parallel local processes where
    there is more than one core (``workers``; TensorFlow threads split
    between them); the same seed gives the same run serially or in a worker.
    Then:

    - every seed's deflated Sharpe ratio counts N = ``[output] trials`` x the
      number of seeds, with the variance of the seeds' Sharpe ratios;
    - the seed ensemble: the mean of the seeds' predictions, backtested like
      a seed (its own report, DSR with the same N); only the predictor's line
      is averaged: a scorer's own seeded model (the ranker's LightGBM scores)
      is the first seed's in the ensemble run;
    - synthetic data keeps the prices of the settings' own seed (the seeds
      vary the model, not the market);
    - ``--out`` gets one report folder per seed (``seed_<k>``), ``ensemble``,
      and the overview (``seeds.csv``, ``seeds.json``, ``seeds.png``,
      ``index.html``): :func:`btlstm.report.seeds.write_seeds_report`.

    Args:
        settings: :class:`~btlstm.settings.Settings` (or a TOML-layout dict)
            with ``[output] seeds``.
        workers: parallel processes (default: the seeds or the cores, whichever
            is fewer; 1 runs them in this process).
        progress: a bar of the seeds done.

    Returns:
        :class:`SeedsResult`.

    Raises:
        SettingsError: bad settings (before any work), no seeds, or a strategy
            that trains no model.
    """
    from btlstm._settings import parse_seeds

    settings = _as_settings(settings)
    plan = settings.validate()
    where = settings.where("output", "seeds")
    seeds = parse_seeds(settings.output.seeds, where)
    if not seeds:
        raise SettingsError(f"{where}: name the seeds to run, e.g. 0-4")
    if plan.predictor is None:
        raise SettingsError(
            f"{where}: strategy {plan.name!r} trains no model, so its runs do not depend on a seed"
        )
    with run_folder(settings, kind="seeds") as settings:  # a new run folder without --out
        return _run_seeds(settings, plan, seeds, workers, progress)


def _run_seeds(settings, plan, seeds, workers, progress) -> SeedsResult:
    import os

    from btlstm import significance
    from btlstm.report import to_jsonable
    from btlstm.report.seeds import seeds_overview, write_seeds_report
    from btlstm.sweep.engines import Task, local, serial

    out = settings.output.out
    tasks = [
        Task("seed", seed, _given(_with(settings, seed, os.path.join(out, f"seed_{seed}"))), "")
        for seed in seeds
    ]
    cores = os.cpu_count() or 1
    workers = min(len(seeds), cores) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"workers: expected an integer >= 1, got {workers!r}")
    engine = serial if workers == 1 else local
    log.info("%d seeds (%s), %d worker(s)", len(seeds), settings.output.seeds, workers)
    from btlstm.progress import steps

    done = {}
    bar = steps(
        engine(tasks, _seed_task, workers=workers, threads=max(1, cores // workers), setup=None),
        desc="seeds",
        total=len(tasks),
        disable=not progress,
    )
    for task, result in bar:
        done[task.seed] = result["run"]
    runs = {seed: done[seed] for seed in seeds}

    n = n_trials(settings)
    sharpes = [
        (r.report.get("significance") or {}).get("sharpe", {}).get("value") for r in runs.values()
    ]
    sharpes = [x for x in sharpes if x is not None]

    def deflate(run, label: str) -> None:
        run.report["title"] = f"{run.report.get('title')} ({label})"
        run.report.setdefault("run", {})["seeds"] = {"seeds": seeds, "n_trials": n}
        sig = run.report.get("significance")
        if isinstance(sig, dict):
            run.report["significance"] = to_jsonable(significance.update_dsr(sig, n, sharpes))

    for seed, run in runs.items():
        deflate(run, f"seed {seed}")
    ensemble = None
    from btlstm.registry import FEED_PREDICTOR, POOLED_PREDICTOR

    if plan.predictor in (FEED_PREDICTOR, POOLED_PREDICTOR):
        log.info("seed ensemble: the mean prediction of %d seeds", len(seeds))
        es = _with(settings, seeds[0], os.path.join(out, "ensemble"))
        ensemble = run_backtest(es, write=False, predictions=_ensemble_predictions(runs)).run
        deflate(ensemble, f"seed ensemble of {len(seeds)}")
    else:
        log.warning("no seed ensemble: predictor %r has no precomputed form", plan.predictor)
    overview = seeds_overview(runs, ensemble, n, title=_title(plan, settings))
    paths = write_seeds_report(runs, ensemble, overview, out, plots=settings.output.plots)
    log.info("report: %s", paths.get("index.html"))
    return SeedsResult(runs, ensemble, overview, paths, settings)


def _adjusted(how: str) -> str:
    """The price adjustment of a run in words (report provenance)."""
    from btlstm.data.adjust import ADJUSTMENTS

    return f"{how}: {ADJUSTMENTS[how]}"


def _own_baseline(base, plan, settings: Settings):
    """A baseline with ``strategy=None`` is the plan's strategy itself, with the user's
    params updated by the baseline's (and no predictor)."""
    if base.strategy is not None:
        return base
    params = {**settings.strategy.params, **base.params}
    return dataclasses.replace(base, strategy=plan.strategy, params=params)


def _plan_notes(plan, settings: Settings) -> list:
    """The plan's notes that apply to this run: a text always, a ``(dataset, text)``
    pair when ``[data] data`` is that dataset."""
    out = []
    for note in plan.notes:
        if isinstance(note, str):
            out.append(note)
        elif note[0] == settings.data.data:
            out.append(str(note[1]))
    return out


def _title(plan, settings: Settings) -> str:
    mode = "walk-forward" if settings.model.mode == "walkforward" else "static split"
    params = {**plan.params, **settings.strategy.params}
    text = plan.title or "{name} on {data}"
    data = settings.data.data
    if data == IN_MEMORY and settings.data.symbol:  # a DataFrame named by [data] symbol
        data = settings.data.symbol
    head = text.format(name=plan.name, data=data, params=params, settings=settings)
    return f"{head} ({mode})"


def run_hold(
    settings, progress=None, title: str | None = None, table: bool = True, data=None
) -> RunResult:
    """Backtest 1 (hold N days on an LSTM signal): :func:`run_backtest` with strategy
    ``hold`` (``data``: an in-memory DataFrame); ``table`` prints the terminal table."""
    result = run_backtest(
        _as_settings(settings, strategy="hold"), progress=progress, title=title, data=data
    )
    if table:
        from btlstm.report import format_table

        print(format_table(result.report))
    return result
