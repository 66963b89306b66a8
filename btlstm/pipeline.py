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

from btlstm.data.validate import DataError, require_history
from btlstm.settings import WALKFORWARD_PRESET, Settings, SettingsError

__all__ = ["run_backtest", "run_hold", "load_data", "RunResult", "WALKFORWARD_PRESET"]

log = logging.getLogger("btlstm.pipeline")


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


def load_data(settings: Settings, panel: bool = False):
    """The frame (or ``{symbol: frame}`` with ``panel``) the settings describe,
    clipped to ``[data.start or model.train_start, data.end or model.test_end]``."""
    d = settings.data
    if d.data == "synthetic":
        from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

        if panel:
            obj = synthetic_panel(**{"seed": settings.model.seed, **d.synthetic})
        else:
            kw = dict(n=2000, seed=settings.model.seed, start="2008-01-02", signal=0.3)
            obj = synthetic_ohlcv(**{**kw, **d.synthetic})
    else:
        from btlstm.data import load

        symbols = list(d.symbols) or ([d.symbol] if d.symbol else None)
        obj = load(d.data, data_dir=d.data_dir, symbols=symbols, repair=d.repair)
    start, end = _bounds(settings)
    if panel:
        if not isinstance(obj, dict):
            name = obj.attrs.get("symbol") or d.data
            obj = {name: obj}
        return {k: _clip(v, start, end) for k, v in obj.items()}
    if isinstance(obj, dict):
        if d.symbol is None:
            raise DataError(
                f"dataset {d.data!r} holds several symbols {sorted(obj)[:12]}...; "
                f"choose one with {settings.where('data', 'symbol')}"
            )
        obj = obj[d.symbol]
    return _clip(obj, start, end)


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


def _cerebro(settings: Settings, feeds: dict, panel: bool):
    import backtrader as bt

    from btlstm.broker import setup_broker
    from btlstm.feeds import add_panel, make_feed

    cerebro = bt.Cerebro(stdstats=False)
    if panel:
        add_panel(cerebro, feeds, progress=False)
    else:
        ((name, frame),) = feeds.items()
        cerebro.adddata(make_feed(frame, name=name))
    c = settings.costs
    setup_broker(cerebro, cash=c.cash, commission=c.commission, slippage_perc=c.slippage)
    return cerebro


def run_backtest(settings, progress=None, title: str | None = None) -> RunResult:
    """Run a registered strategy and its baselines end to end and write the report.

    Args:
        settings: :class:`~btlstm.settings.Settings` (or a dict in the TOML layout).
        progress: a callable receiving each :class:`~btlstm.walkforward.FitRecord`
            (e.g. :class:`btlstm.progress.FitProgress`), or None.
        title: report title (default from the strategy and the settings).

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
    plan = settings.validate()  # 1. everything that can be checked, before any work
    t0 = time.perf_counter()
    panel = plan.data == "panel"

    # 2. data, 3. split
    loaded = load_data(settings, panel=panel)
    frames = loaded if panel else {loaded.attrs.get("symbol") or settings.data.data: loaded}
    history, test = {}, {}
    for name, frame in frames.items():
        src = frame.attrs.get("source", settings.data.data)
        history[name], test[name] = _split(frame, settings, src)
    first = next(iter(frames.values()))
    synthetic = any(bool(f.attrs.get("synthetic")) for f in frames.values())
    if synthetic:
        log.warning("SYNTHETIC DATA: generated prices, not a market")
    t_first = next(iter(test.values()))
    h_first = next(iter(history.values()))
    log.info(
        "data %s%s: %d feed(s), train %s, test %s..%s (%d bars)",
        settings.data.data,
        f"/{settings.data.symbol}" if settings.data.symbol else "",
        len(frames),
        "none" if h_first is None else f"{h_first.index[0].date()}..{h_first.index[-1].date()}",
        t_first.index[0].date(),
        t_first.index[-1].date(),
        len(t_first),
    )

    # 4. the strategy
    fits = _Fits(progress)
    params = dict(settings.strategy.params)
    if plan.predictor is not None:
        if plan.predictor not in PREDICTORS:
            raise SettingsError(
                f"strategy {plan.name!r} needs predictor {plan.predictor!r}, "
                f"which is not registered (known: {sorted(PREDICTORS)})"
            )
        hist = history if panel else history[next(iter(history))]
        params.update(PREDICTORS[plan.predictor](settings, hist, settings.output.cache_dir, fits))
    cerebro = _cerebro(settings, test, panel)
    cerebro.addstrategy(plan.strategy, **params)
    add_standard_analyzers(
        cerebro, riskfree=0.0, signal=plan.signal, horizon=settings.model.horizon
    )
    log.info(
        "running %s (%s%s) ...",
        plan.name,
        settings.model.mode,
        ", training" if plan.predictor else "",
    )
    strat = cerebro.run()[0]

    feed = next(iter(test))
    provenance = dict(
        dataset=settings.data.data,
        symbol=settings.data.symbol or first.attrs.get("symbol"),
        symbols=list(frames) if panel else None,
        source=str(first.attrs.get("source", settings.data.data)),
        synthetic=synthetic,
        amount_derived=bool(first.attrs.get("amount_derived", False)),
        repair=first.attrs.get("repair"),
        first_date=str(first.index[0].date()),
        last_date=str(first.index[-1].date()),
        rows=len(first),
        train_rows=0 if h_first is None else len(h_first),
        test_rows=len(t_first),
    )
    c = settings.costs
    meta = dict(
        title=title or _title(plan, settings),
        config=settings.to_dict(),
        provenance=provenance,
        costs=dict(cash=c.cash, commission=c.commission, slippage_perc=c.slippage),
        synthetic=synthetic,
    )
    run = collect(strat, meta, name=plan.name)

    # the baselines: same bars, same costs, separate cerebro runs
    for i, base in enumerate(plan.baselines, 1):
        name = base.name.format(feed=feed)
        log.info("baseline %d/%d: %s", i, len(plan.baselines), name)
        bc = _cerebro(settings, test, panel)
        bc.addstrategy(base.strategy, **base.params)
        add_standard_analyzers(bc, riskfree=0.0)
        add_comparison(run, bc.run()[0], name)

    elapsed = time.perf_counter() - t0
    records = [dataclasses.asdict(r) for r in fits.records]
    facts = run.report.setdefault("run", {})
    facts["seconds"] = round(elapsed, 1)
    facts["fits"] = [{k: v for k, v in r.items() if k != "seconds"} for r in records]

    # 5. files
    paths = write_report(run, settings.output.out, plots=settings.output.plots)
    log.info("report: %s  (%.0fs)", paths.get("report.html", settings.output.out), elapsed)
    return RunResult(run=run, paths=paths, settings=settings, fits=records, strategy=strat)


def _title(plan, settings: Settings) -> str:
    mode = "walk-forward" if settings.model.mode == "walkforward" else "static split"
    params = {**plan.params, **settings.strategy.params}
    text = plan.title or "{name} on {data}"
    head = text.format(name=plan.name, data=settings.data.data, params=params, settings=settings)
    return f"{head} ({mode})"


def run_hold(settings, progress=None, title: str | None = None, table: bool = True) -> RunResult:
    """Backtest 1 (hold N days on an LSTM signal): :func:`run_backtest` with strategy
    ``hold``; ``table`` prints the terminal table to stdout."""
    result = run_backtest(_as_settings(settings, strategy="hold"), progress=progress, title=title)
    if table:
        from btlstm.report import format_table

        print(format_table(result.report))
    return result
