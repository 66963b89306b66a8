"""One run pipeline for every registered strategy: settings -> report.

:func:`run_backtest` does, in this order:

1. **validate** every setting and path (:meth:`btlstm.settings.Settings.validate`:
   types, the strategy name and params, dates parsed and ordered, the data
   source, the output and cache folders) before any data is read or any model
   trained, so a bad flag fails in a second, not after training;
2. **load** the data (:func:`btlstm.data.load` or :mod:`btlstm.synthetic`): one
   frame, or a panel for panel strategies;
3. **split** at ``model.test_start``: the feed covers the test period only and
   the predictor gets the bars before it as ``history`` to train on, so every
   analyzer measures the test period alone;
4. **run** the strategy in a cerebro with :func:`btlstm.broker.setup_broker` and
   :func:`btlstm.analyzers.add_standard_analyzers`, then each of its baselines
   in its own cerebro over the same bars and costs;
5. **report**: :func:`btlstm.report.collect` + :func:`~btlstm.report.add_comparison`,
   then :func:`~btlstm.report.write_report`.

The CLI (``btlstm run <strategy>``, ``btlstm demo``) only builds settings and
calls it; a script can do the same in a few lines::

    from btlstm.pipeline import run_backtest
    from btlstm.settings import Settings

    result = run_backtest(Settings.from_dict({"strategy": {"name": "hold", "hold": 3}}))
    print(result.report["comparison"])
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

from btlstm.data.columnmap import MAP_KEYS
from btlstm.data.validate import DataError, require_history
from btlstm.settings import WALKFORWARD_PRESET, Settings, SettingsError

__all__ = [
    "run_backtest",
    "run_hold",
    "load_data",
    "check_data",
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

# Thresholds of the checks on the data a run is given, in one place (README "Safety").
#: Fewer training samples (windows with a known label) at the first fit: an error
#: before training (a 60-row file would otherwise train on 7 samples, 1 for validation).
MIN_TRAIN_SAMPLES = 50
#: Fewer training samples at the first fit (about a year of daily bars): a warning
#: in the terminal, report.json and report.html.
WARN_TRAIN_SAMPLES = 250
#: Rows of real data dated more than this many days after today (the machine's
#: clock) that the run would use: an error (prices from the future cannot be real).
FUTURE_GRACE_DAYS = 1
#: A date setting (train_end, test_start, test_end, data end; train_start, data
#: start) more than this many days outside the bars loaded: a warning, and the
#: report records the dates actually used (``provenance.dates_used``).
DATE_SLACK_DAYS = 7
#: ``[data] data`` of a run given in-memory DataFrames (``run_backtest(data=...)``).
IN_MEMORY = "DataFrame"


@dataclass
class RunResult:
    """What :func:`run_backtest` returns: plain data and the files written.

    Attributes:
        run: :class:`btlstm.report.RunData` (``report`` dict + ``tables``).
        paths: ``{file name: Path}`` written to ``settings.output.out``.
        settings: the validated settings of the run.
        fits: one dict per model fit (:class:`btlstm.walkforward.FitRecord`).
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


def _as_settings(settings, strategy: str | None = None) -> Settings:
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        d = {k: dict(v) if isinstance(v, dict) else v for k, v in settings.items()}
        if strategy is not None:
            d.setdefault("strategy", {}).setdefault("name", strategy)
        return Settings.from_dict(Settings.nest(d, strategy=strategy))
    raise TypeError(f"settings must be a Settings or a dict, got {type(settings).__name__}")


# --------------------------------------------------------------------------- data
def _bounds(settings: Settings):
    m, d = settings.model, settings.data
    start = d.start or m.train_start
    end = d.end or m.test_end
    return (pd.Timestamp(start) if start else None, pd.Timestamp(end) if end else None)


def _clip(frame: pd.DataFrame, start, end) -> pd.DataFrame:
    keep = pd.Series(True, index=frame.index)
    if start is not None:
        keep &= frame.index >= start
    if end is not None:
        keep &= frame.index <= end
    out = frame.loc[keep.to_numpy()]
    out.attrs = dict(frame.attrs)
    return out


def load_data(settings: Settings, panel: bool = False, data=None):
    """The frame (or ``{symbol: frame}`` with ``panel``) the settings describe,
    clipped to ``[data.start or model.train_start, data.end or model.test_end]``.

    ``data``: in-memory pandas data instead of ``[data] data`` (a DataFrame, a long
    DataFrame, a dict of DataFrames; read with the ``[data]`` column map by
    :func:`btlstm.data.readers.read_dataframe`). A file path in ``[data] data`` is
    read with the same map (:func:`btlstm.data.readers.read_mapped`)."""
    d = settings.data
    symbols = list(d.symbols) or ([d.symbol] if d.symbol else None)
    if data is not None:
        from btlstm.data.readers import read_dataframe

        obj = read_dataframe(data, settings.data_map(), repair=d.repair, where=settings.data_where)
        if isinstance(obj, dict) and symbols:
            absent = [x for x in symbols if x not in obj]
            if absent:
                key = "symbol" if d.symbol else "symbols"
                raise DataError(
                    f"{settings.where('data', key)}: {absent} not in the data given "
                    f"(symbols: {sorted(obj)[:20]})"
                )
            obj = {k: obj[k] for k in symbols}
    elif d.data == "synthetic":
        from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

        try:
            if panel:
                obj = synthetic_panel(**{"seed": settings.model.seed, **d.synthetic})
            else:
                kw = dict(n=2000, seed=settings.model.seed, start="2008-01-02", signal=0.3)
                obj = synthetic_ohlcv(**{**kw, **d.synthetic})
        except (TypeError, ValueError, OverflowError) as e:
            raise SettingsError(
                f"{settings.where('data', 'synthetic')}: cannot generate data from "
                f"{d.synthetic!r} ({e})"
            ) from None
    else:
        from btlstm.data import load

        obj = load(d.data, data_dir=d.data_dir, symbols=symbols, repair=d.repair,
                   data_map=settings.data_map(), where=settings.data_where)  # fmt: skip
    if d.adjust != "none":  # e.g. total-return prices (btlstm.data.adjust)
        from btlstm.data.adjust import adjust

        if isinstance(obj, dict):
            obj = {k: adjust(v, d.adjust) for k, v in obj.items()}
        else:
            obj = adjust(obj, d.adjust)
    start, end = _bounds(settings)
    if panel:
        if not isinstance(obj, dict):
            name = obj.attrs.get("symbol") or d.data
            obj = {name: obj}
        return {k: _clip(v, start, end) for k, v in obj.items()}
    if isinstance(obj, dict):
        if d.symbol is None and len(obj) == 1:  # a long file of one symbol (NetEase, tushare)
            obj = next(iter(obj.values()))
            return _clip(obj, start, end)
        if d.symbol is None:
            raise DataError(
                f"dataset {d.data!r} holds several symbols {sorted(obj)[:12]}...; "
                f"choose one with {settings.where('data', 'symbol')}"
            )
        obj = obj[d.symbol]
    return _clip(obj, start, end)


def _few(items, n: int = 10) -> str:
    """The first ``n`` items, and how many more there are.

    Example:
        >>> _few([f"s{i}" for i in range(18)], 3)
        's0, s1, s2, ... (15 more)'
    """
    items = [str(x) for x in items]
    more = f", ... ({len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def check_data(settings: Settings, frames: dict, trains: bool = True) -> tuple[list, dict]:
    """Checks of the loaded data that catch silently wrong results, before training.

    Args:
        settings: the validated settings.
        frames: ``{name: frame}`` as loaded and clipped (:func:`load_data`).
        trains: the strategy trains a model (its plan has a predictor).

    Returns:
        ``(warnings, dates_used)``: plain-language warnings for the terminal and
        the report, and the dates the run actually uses (first and last bar,
        the windows of the first fit, the test period).

    Raises:
        DataError: real data dated more than :data:`FUTURE_GRACE_DAYS` after today;
            no fit at all, or fewer than :data:`MIN_TRAIN_SAMPLES` training
            samples at the first fit. The message names the file and the setting to change.
    """
    from btlstm.schedule import Schedule

    m = settings.model
    warnings: list = []
    today = pd.Timestamp.today().normalize()
    limit = today + pd.Timedelta(days=FUTURE_GRACE_DAYS)
    for f in frames.values():
        if f.attrs.get("synthetic") or not len(f):
            continue
        late = f.index[f.index > limit]
        if len(late):
            src = f.attrs.get("source", settings.data.data)
            raise DataError(
                f"{src}: {len(late)} row(s) dated after today ({today.date()}), the first "
                f"{late[0].date()}: prices from the future cannot be real. Fix the file, or end "
                f"the run before them with {settings.where('model', 'test_end')}"
            )
    if not any(len(f) for f in frames.values()):
        return warnings, {}  # _split names the empty period
    first = min(f.index[0] for f in frames.values() if len(f))
    last = max(f.index[-1] for f in frames.values() if len(f))
    slack = pd.Timedelta(days=DATE_SLACK_DAYS)
    for sec, key in (("model", "train_end"), ("model", "test_start"), ("model", "test_end"),
                     ("data", "end")):  # fmt: skip
        value = getattr(getattr(settings, sec), key)
        if value is not None and pd.Timestamp(value) > last + slack:
            warnings.append(
                f"{settings.where(sec, key)} = {pd.Timestamp(value).date()} is after the last "
                f"bar of the data ({last.date()}): the run used data up to {last.date()} only "
                "(provenance.dates_used)."
            )
    for sec, key in (("data", "start"), ("model", "train_start")):
        value = getattr(getattr(settings, sec), key)
        if value is not None and pd.Timestamp(value) < first - slack:
            warnings.append(
                f"{settings.where(sec, key)} = {pd.Timestamp(value).date()} is before the first "
                f"bar of the data ({first.date()}): the run used data from {first.date()} only "
                "(provenance.dates_used)."
            )
    used = {"data_start": str(first.date()), "data_end": str(last.date())}
    if not trains:
        return warnings, used
    sched = Schedule(m)
    syms = [sched.index(name, f.index) for name, f in frames.items() if len(f)]
    cal = Schedule.calendar(syms)
    fits = sched.fit_bars(syms, cal)
    src = next(iter(frames.values())).attrs.get("source", settings.data.data)
    if not fits:
        raise DataError(
            f"{src}: the model is never fitted: {m.mode} mode needs "
            + (
                f"{settings.where('model', 'min_train')} = {m.min_train} labelled samples, "
                f"and the data ({first.date()}..{last.date()}) has {sched.n_known(syms, cal[-1])}"
                if m.mode == "walkforward"
                else f"a bar on or after {settings.where('model', 'test_start')}"
            )
        )
    masks = sched.training_masks(syms, cal, fits[0])
    n = sum(int(k.sum()) for k in masks)
    n_val = int(round(n * m.validation_fraction))
    ends = [s.end_dates[k] for s, k in zip(syms, masks, strict=True) if k.any()]
    used.update(
        first_fit=str(pd.Timestamp(cal[fits[0]]).date()),
        train_start=str(pd.Timestamp(min(e.min() for e in ends)).date()) if ends else None,
        train_end=str(pd.Timestamp(max(e.max() for e in ends)).date()) if ends else None,
        train_samples=n,
        validation_samples=n_val,
    )
    what = (
        f"{n} training samples at the first fit ({used['first_fit']}; {n_val} of them for "
        "validation)"
    )
    how = (
        f"give more history: an earlier {settings.where('model', 'train_start')}, a later "
        f"{settings.where('model', 'train_end' if m.mode == 'static' else 'test_start')}, "
        "or a longer file"
    )
    if n < MIN_TRAIN_SAMPLES:
        raise DataError(
            f"{src}: only {what}, fewer than {MIN_TRAIN_SAMPLES}: too few to train a model; {how}"
        )
    if n < WARN_TRAIN_SAMPLES:
        warnings.append(
            f"Only {what}, fewer than {WARN_TRAIN_SAMPLES} (about a year of daily bars): the "
            f"model has little to learn from; {how}."
        )
    return warnings, used


def _split(frame: pd.DataFrame, settings: Settings, src):
    m = settings.model
    if m.test_start is None:
        return None, frame
    t0 = pd.Timestamp(m.test_start)
    history = frame.loc[frame.index < t0]
    test = frame.loc[frame.index >= t0]
    history.attrs, test.attrs = dict(frame.attrs), dict(frame.attrs)
    require_history(
        history, m.lookback + m.horizon + 1, source=src, what="training before test_start"
    )
    require_history(test, m.horizon + 2, source=src, what="the test period")
    return history, test


# --------------------------------------------------------------------------- runs
def _run(cerebro):
    """``cerebro.run()[0]`` with the objects that exist before it (feeds, frames,
    models) frozen out of the cyclic garbage collector, which otherwise re-walks
    them at every collection the orders trigger (measured: 13-20% off a 300-stock
    gated backtest on lean feeds, ``scripts/bench_ranker_scale.py``). Same result."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        return cerebro.run()[0]
    finally:
        gc.unfreeze()


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


def _cerebro(settings: Settings, feeds: dict, panel: bool, extra=None, lines=(), feed=None):
    """A cerebro with the feeds (a panel: aligned, with ``lines`` as extra lines), the
    plan's extra feeds (aligned to the same calendar, after them) and the broker of
    ``[costs] market``. Extra feeds (an index) trade at the plain per-value commission
    (``[costs] commission``) whatever the market; stocks of market "us" pay ``per_share``.
    ``feed(frame, name, extra_lines)`` builds each feed instead of a lean preloaded one
    (paper trading: a live :class:`btlstm.live.ReplayFeed`)."""
    import backtrader as bt

    from btlstm.broker import PanelBroker, setup_broker
    from btlstm.feeds import add_panel, align_frame, make_feed

    # The fast correct set-up measured by scripts/bench_ranker_scale.py: no default
    # observers (one BuySell per feed), lean feeds, a broker whose per-bar work
    # scales with open positions; runonce (the default) and preload kept.
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = PanelBroker()

    def make(frame, name, lines):
        return (
            make_feed(frame, name=name, extra_lines=lines)
            if feed is None
            else feed(frame, name, lines)
        )

    if panel:
        cal = add_panel(cerebro, feeds, progress=False, extra_lines=lines, factory=feed).calendar
    else:
        ((name, frame),) = feeds.items()
        cerebro.adddata(make(frame, name, ()))
        cal = frame.index
    for name, frame in (extra or {}).items():
        aligned = align_frame(frame, cal)
        cerebro.adddata(make(aligned, name, ("tradable",)), name=name)
    c = settings.costs
    if c.market == "ashare":
        from btlstm.ashare import setup_ashare_broker

        setup_ashare_broker(cerebro, cash=c.cash, commission=c.commission, slippage_perc=c.slippage)
    elif c.market == "us":
        from btlstm.ashare import setup_us_broker

        setup_us_broker(cerebro, cash=c.cash, per_share=c.per_share, slippage_perc=c.slippage)
    else:
        setup_broker(cerebro, cash=c.cash, commission=c.commission, slippage_perc=c.slippage)
    if c.market != "index":
        for name in extra or {}:
            plain = bt.CommInfoBase(commission=c.commission, stocklike=True, percabs=True,
                                    commtype=bt.CommInfoBase.COMM_PERC)  # fmt: skip
            cerebro.broker.addcommissioninfo(plain, name=name)
    return cerebro


def _market_rules(settings: Settings) -> dict:
    """The trading rules of ``[costs] market`` in effect (for the report's ``costs``)."""
    c = settings.costs
    if c.market == "ashare":
        from btlstm.ashare import ASHARE_COSTS

        return {**ASHARE_COSTS, "cash": c.cash, "commission": c.commission,
                "slippage_perc": c.slippage}  # fmt: skip
    if c.market == "us":
        from btlstm.ashare import US_COSTS

        return {**US_COSTS, "cash": c.cash, "per_share": c.per_share,
                "slippage_perc": c.slippage, "index_commission": c.commission}  # fmt: skip
    return {}


def _load_extra(settings: Settings, plan, frames: dict | None = None) -> dict:
    """``{feed name: frame}`` of the plan's ``extra_data`` (each a one-symbol dataset).

    ``[data] index`` replaces their dataset (e.g. ``spy`` for a US universe);
    ``"equal_weight"`` builds the index from the run's panel ``frames``
    (:func:`btlstm.data.index.equal_weight_index`). A synthetic run's extra
    feeds are synthetic."""
    from btlstm.data.index import EQUAL_WEIGHT, equal_weight_index

    out = {}
    for k, (name, over) in enumerate(plan.extra_data.items()):
        if settings.data.data == "synthetic":
            over = _synthetic_extra(settings, name, k)
        elif settings.data.index == EQUAL_WEIGHT:
            if not frames:
                raise SettingsError(
                    f"{settings.where('data', 'index')} = {EQUAL_WEIGHT!r} needs the panel's stocks"
                )
            frame = equal_weight_index(frames, name=f"{settings.data.data}:{EQUAL_WEIGHT}")
            frame.attrs["feed"] = name
            out[name] = frame
            continue
        elif settings.data.index:
            over = {**over, "data": settings.data.index}
        unmapped = {key: None for key in MAP_KEYS if key != "missing"}  # not the run's map
        d = dataclasses.replace(settings.data, **{**unmapped, "missing": (), **over})
        sub = dataclasses.replace(settings, data=d)
        sub._origin = settings._origin
        frame = load_data(sub, panel=False)
        frame.attrs = {**frame.attrs, "feed": name}
        out[name] = frame
    return out


def _synthetic_extra(settings: Settings, name: str, k: int) -> dict:
    """A synthetic run's extra feed (e.g. the gate index) is synthetic too: one
    series on the panel's dates (its ``n`` and ``start``), its own seed, named
    after the feed; never a real file beside generated stocks."""
    import inspect

    from btlstm.synthetic import synthetic_panel

    panel_defaults = {
        key: p.default for key, p in inspect.signature(synthetic_panel).parameters.items()
    }
    syn = settings.data.synthetic
    gen = {key: syn.get(key, panel_defaults[key]) for key in ("n", "start")}
    gen.update(seed=settings.model.seed + 1 + k, symbol=f"SYN{name.upper()}")
    return {"data": "synthetic", "symbol": None, "symbols": (), "synthetic": gen}


def _split_lenient(frame: pd.DataFrame, settings: Settings):
    """:func:`_split` without the length checks (panel members a model does not train on)."""
    if settings.model.test_start is None:
        return None, frame
    t0 = pd.Timestamp(settings.model.test_start)
    history, test = frame.loc[frame.index < t0], frame.loc[frame.index >= t0]
    history.attrs, test.attrs = dict(frame.attrs), dict(frame.attrs)
    return history, test


def _with_scores(test: dict, scores: pd.DataFrame) -> dict:
    """Each test frame with a ``score`` column (NaN where the scorer gave none)."""
    out = {}
    for name, frame in test.items():
        f = frame.copy()
        f["score"] = (
            scores[name].reindex(f.index).to_numpy(float) if name in scores else float("nan")
        )
        f.attrs = dict(frame.attrs)
        out[name] = f
    return out


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
        progress: a callable receiving each :class:`~btlstm.walkforward.FitRecord`
            (e.g. :class:`btlstm.progress.FitProgress`), or None.
        title: report title (default from the strategy and the settings).
        data: in-memory prices instead of ``[data] data``: a DataFrame (one symbol,
            for strategies that trade one feed), a long DataFrame (a symbol column)
            or a dict ``{symbol: DataFrame}`` (panel strategies), read with the
            ``[data]`` column map (columns found by name, or ``close_column`` ...;
            :func:`btlstm.data.readers.read_dataframe`). The report names the data
            ``DataFrame``.
        write: write the report folder (False: return the plain data only).
        predictions: predictions made beforehand, dates x feed names (e.g. a
            seed ensemble's mean): they replace the plan's predictor (its
            ``lstm`` or ``pooled`` line) and nothing is trained.
        live: None for a backtest; paper trading (:func:`btlstm.live.run_paper`) passes
            the hooks that make the same run live: ``predictors`` (replaces
            :data:`~btlstm.registry.PREDICTORS`), ``feed`` (the feed factory of
            :func:`_cerebro`), ``attach(cerebro)``, ``run(cerebro, run)`` and
            ``finish(run, strategy)`` (the report's live section). The baselines stay
            backtests.

    Returns:
        :class:`RunResult`; the files are in ``settings.output.out``.

    Raises:
        SettingsError: a bad setting or path, before any data is read.
        DataError: bad or missing data, before any training.
    """
    import backtrader as bt  # noqa: F401  (btlstm's compat patches are applied on import)

    from btlstm.analyzers import add_standard_analyzers
    from btlstm.registry import PREDICTORS
    from btlstm.report import add_comparison, collect, write_report

    settings = _as_settings(settings)
    if data is not None:  # the report names the in-memory data
        origin = settings._origin
        settings = dataclasses.replace(
            settings, data=dataclasses.replace(settings.data, data=IN_MEMORY)
        )
        settings._origin = origin
    plan = settings.validate(in_memory=data is not None)  # 1. all checks, before any work
    t0 = time.perf_counter()
    panel = plan.data == "panel"

    # 2. data, 3. split
    loaded = load_data(settings, panel=panel, data=data)
    frames = loaded if panel else {loaded.attrs.get("symbol") or settings.data.data: loaded}
    extra = _load_extra(settings, plan, frames if panel else None)  # e.g. a gate index
    trains = plan.predictor is not None
    warnings, dates_used = check_data(settings, frames, trains=trains and not plan.predictor_data)
    if plan.predictor_data is not None:
        gate = {plan.predictor_data: extra[plan.predictor_data]}
        more, used = check_data(settings, gate, trains=trains)
        warnings += [w for w in more if w not in warnings]
        dates_used.update({k: v for k, v in used.items() if k not in dates_used})
    history, test = {}, {}
    lenient = panel and (plan.predictor_data is not None or plan.scores is not None)
    for name, frame in frames.items():
        src = frame.attrs.get("source", settings.data.data)
        if lenient:  # members need no history of their own: the model trains elsewhere
            history[name], test[name] = _split_lenient(frame, settings)
        else:
            history[name], test[name] = _split(frame, settings, src)
    if lenient:
        empty = [k for k, v in test.items() if not len(v)]
        for k in empty:
            del test[k]
        if empty:
            log.info("%d symbol(s) have no bar in the test period: %s", len(empty), _few(empty))
    extra_history, extra_test = {}, {}
    for name, frame in extra.items():
        src = frame.attrs.get("source", name)
        extra_history[name], extra_test[name] = _split(frame, settings, src)
    first = next(iter(frames.values()))
    synthetic = any(bool(f.attrs.get("synthetic")) for f in frames.values())
    if synthetic:
        log.warning("SYNTHETIC DATA: generated prices, not a market")
    for text in warnings:
        log.warning("WARNING: %s", text)
    t_first = next(iter(test.values()))
    h_first = next(iter(history.values()))
    log.info(
        "data %s%s: %d feed(s), train %s, test %s..%s (%d bars)",
        settings.data.data,
        f"/{settings.data.symbol}" if settings.data.symbol else "",
        len(frames),
        "none"
        if h_first is None or not len(h_first)
        else f"{h_first.index[0].date()}..{h_first.index[-1].date()}",
        t_first.index[0].date(),
        t_first.index[-1].date(),
        len(t_first),
    )

    # 4. the strategy
    fits = _Fits(progress)
    params = dict(settings.strategy.params)
    scored = None
    lines = ()
    if plan.scores is not None:  # precomputed per-stock scores become a `score` line
        from btlstm.registry import SCORERS

        if plan.scores not in SCORERS:
            raise SettingsError(
                f"strategy {plan.name!r} needs scorer {plan.scores!r}, "
                f"which is not registered (known: {sorted(SCORERS)})"
            )
        log.info("scoring %d symbols (%s) ...", len(frames), plan.scores)
        # the scorer's fits show on the progress bar; they are listed in its own report
        # section (`scores.fits`), not among the predictor's `fits`
        scored = SCORERS[plan.scores](settings, frames, settings.output.cache_dir, fits.forward)
        test = _with_scores(test, scored["scores"])
        lines = ("score",)
    if panel:
        lines += tuple(x for x in plan.extra_lines if all(x in f.columns for f in test.values()))
    if plan.predictor is not None:
        predictors = PREDICTORS if live is None else live.predictors
        if plan.predictor not in predictors:
            raise SettingsError(
                f"strategy {plan.name!r} needs predictor {plan.predictor!r}, "
                f"which is not registered (known: {sorted(predictors)})"
            )
        hist = history if panel else history[next(iter(history))]
        if plan.predictor_data is not None:
            hist = extra_history[plan.predictor_data]
        if predictions is not None:
            params.update(_precomputed(plan, predictions))
        else:
            hook = predictors[plan.predictor]
            params.update(hook(settings, hist, settings.output.cache_dir, fits))
    feed_factory = None if live is None else live.feed
    cerebro = _cerebro(settings, test, panel, extra_test, lines, feed=feed_factory)
    cerebro.addstrategy(plan.strategy, **params)
    by_name = {d._name: d for d in cerebro.datas}
    bench = by_name.get(plan.predictor_data)  # the predictor's feed (an index), or data0
    if bench is None:  # or the feed a strategy param 'benchmark' names (rotation: SPY)
        bench = by_name.get(str({**plan.params, **settings.strategy.params}.get("benchmark")))
    add_standard_analyzers(
        cerebro,
        riskfree=0.0,
        signal=plan.signal,
        horizon=settings.model.horizon,
        benchmark=bench,
        n_trials=n_trials(settings),
    )
    if live is not None:
        live.attach(cerebro)
    log.info(
        "running %s (%s%s) ...",
        plan.name,
        settings.model.mode,
        ", training" if plan.predictor and predictions is None else "",
    )
    try:
        strat = _run(cerebro) if live is None else live.run(cerebro, _run)
    except ValueError as e:  # a learner setting refused while training: name what was typed
        if str(e).startswith(("lstm_kwargs", "dense_kwargs")):
            raise SettingsError(settings.learner_message(str(e))) from None
        raise

    feed = next(iter(test))
    provenance = dict(
        dataset=settings.data.data,
        symbol=settings.data.symbol or first.attrs.get("symbol"),
        symbols=list(frames) if panel else None,
        source=str(first.attrs.get("source", settings.data.data)),
        synthetic=synthetic,
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
            dates_used,
            test_start=str(t_first.index[0].date()),
            test_end=str(t_first.index[-1].date()),
        ),
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
            rules=_market_rules(settings),
        ),  # fmt: skip
        synthetic=synthetic,
        warnings=warnings + _plan_notes(plan, settings),
    )
    run = collect(strat, meta, name=plan.name)
    if scored is not None:  # the scorer's report section and files, scores.csv.gz
        from btlstm.report import to_jsonable

        run.report["scores"] = to_jsonable({"scorer": plan.scores, **scored.get("report", {})})
        run.files.update(scored.get("tables") or {})
        run.files["scores.csv.gz"] = _long_scores(
            scored["scores"],
            min(f.index[0] for f in test.values()),
            max(f.index[-1] for f in test.values()),
        )
    if callable(getattr(strat, "report_files", None)):  # e.g. gate.csv
        run.files.update(strat.report_files())
    if panel and plan.predictor is not None:  # forecasts.csv: date, sector, forecast
        from btlstm.report import forecasts_table

        run.tables["forecasts"] = forecasts_table(run.tables["predictions"])
    if live is not None:  # the live-run section and its files
        live.finish(run, strat)

    # the baselines: same bars, same costs, separate cerebro runs
    for i, base in enumerate(plan.baselines, 1):
        base = _own_baseline(base, plan, settings)
        run_params = {**plan.params, **settings.strategy.params}
        name = base.name.format(feed=feed, params=run_params)
        log.info("baseline %d/%d: %s", i, len(plan.baselines), name)
        bc = _cerebro(settings, test, panel, extra_test, lines)
        bparams = {**{k: run_params[k] for k in base.share if k in run_params}, **base.params}
        if "history" in base.strategy.params._getkeys() and bparams.get("history") is None:
            bparams["history"] = history if panel else history[feed]  # bars before the test
        bc.addstrategy(base.strategy, **bparams)
        add_standard_analyzers(bc, riskfree=0.0)
        add_comparison(run, _run(bc), name)

    elapsed = time.perf_counter() - t0
    records = [dataclasses.asdict(r) for r in fits.records]
    facts = run.report.setdefault("run", {})
    facts["seconds"] = round(elapsed, 1)
    facts["fits"] = [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    # 5. files
    paths = {}
    if write:
        paths = write_report(run, settings.output.out, plots=settings.output.plots)
        log.info("report: %s  (%.0fs)", paths.get("report.html", settings.output.out), elapsed)
    return RunResult(run=run, paths=paths, settings=settings, fits=records, strategy=strat)


def _precomputed(plan, predictions: pd.DataFrame) -> dict:
    """Strategy params that put given predictions where the plan's predictor line goes."""
    from btlstm.indicators import PrecomputedPool, PrecomputedPrediction

    if plan.predictor == "pooled":
        return dict(pool=PrecomputedPool(predictions))
    if plan.predictor == "lstm" and predictions.shape[1] == 1:
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


def _with(settings: Settings, seed: int, out) -> Settings:
    """The settings of one seed's run. Synthetic prices stay those of the base seed: the
    seeds vary the model, not the market."""
    d = settings.to_dict()
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
    import os

    from btlstm import significance
    from btlstm._settings import parse_seeds
    from btlstm.experiments import Task, _local, _serial
    from btlstm.report import to_jsonable
    from btlstm.report.seeds import seeds_overview, write_seeds_report

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
    out = settings.output.out
    tasks = [
        Task("seed", seed, _with(settings, seed, os.path.join(out, f"seed_{seed}")).to_dict(), "")
        for seed in seeds
    ]
    cores = os.cpu_count() or 1
    workers = min(len(seeds), cores) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"workers: expected an integer >= 1, got {workers!r}")
    engine = _serial if workers == 1 else _local
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
    if plan.predictor in ("lstm", "pooled"):
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
    head = text.format(name=plan.name, data=settings.data.data, params=params, settings=settings)
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
