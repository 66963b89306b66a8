"""End-to-end runs behind the CLI: data -> LSTMPredictor -> strategy -> broker -> report.

The CLI (``btlstm run hold``, ``btlstm demo``) only parses arguments and calls
:func:`run_hold`; a script can do the same in a few lines.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from btlstm._settings import check_known_keys
from btlstm.data.validate import DataError, require_history

__all__ = [
    "HoldRun",
    "run_hold",
    "load_toml",
    "RunResult",
    "flatten_settings",
    "SEED_DEFAULTS",
    "WALKFORWARD_DEFAULTS",
]

#: The seed article's split (SPEC section 1).
SEED_DEFAULTS = dict(
    train_start="2005-01-01", train_end="2014-12-31", test_start="2015-01-01", test_end="2017-05-01"
)
#: The walk-forward variant (``--walkforward``): retrain monthly over 2008..end of data.
WALKFORWARD_DEFAULTS = dict(train_start="2005-01-01", test_start="2008-01-01", test_end=None)

_REGS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer", "activity_regularizer")


@dataclass
class HoldRun:
    """Settings of one hold-N-days backtest (CLI flags and TOML keys have these names).

    Dates left as None take the seed's split (or the walk-forward defaults with
    ``walkforward=True``). Regularizers are short specs such as ``"l2(0.01)"``.
    """

    # data
    data: str = "csi300"  # catalogue name, CSV path, or "synthetic" (demo)
    symbol: str | None = None  # for panel datasets (e.g. data="sector_etfs", symbol="SPY")
    data_dir: str | None = None
    repair: str = "raise"  # "raise" or "drop" (drop rows with known defects, reported)
    # split / schedule
    train_start: str | None = None
    train_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    walkforward: bool = False
    retrain_every: int = 21
    window: str = "expanding"
    train_window: int | None = None
    min_train: int = 500
    warm_start: bool = False
    # features / target
    lookback: int = 30
    horizon: int = 5
    # model / training
    lstm_units: int = 32
    dense_units: tuple = (32, 16)
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    kernel_regularizer: str | None = None
    recurrent_regularizer: str | None = None
    bias_regularizer: str | None = None
    activity_regularizer: str | None = None
    epochs: int = 20
    batch_size: int = 64
    patience: int = 3
    learning_rate: float = 1e-3
    seed: int = 0
    # strategy
    hold: int = 5
    threshold: float = 0.0
    percent: float = 95.0
    # costs
    cash: float = 1_000_000.0
    commission: float = 0.0003
    slippage: float = 0.0002
    # output
    out: str = "btlstm-out"
    cache_dir: str | None = None
    plots: bool = True
    synthetic: dict = field(default_factory=dict)  # synthetic_ohlcv arguments (data="synthetic")

    def __post_init__(self):
        self.dense_units = tuple(self.dense_units)
        if self.repair not in ("raise", "drop"):
            raise ValueError(f"repair must be 'raise' or 'drop', got {self.repair!r}")
        defaults = WALKFORWARD_DEFAULTS if self.walkforward else SEED_DEFAULTS
        for k, v in defaults.items():
            if getattr(self, k) is None:
                setattr(self, k, v)

    @classmethod
    def from_dict(cls, d: dict) -> "HoldRun":
        """Build from a (possibly sectioned) TOML dict; unknown keys raise with a suggestion."""
        flat = flatten_settings(d)
        check_known_keys(cls, flat, "setting")
        return cls(**flat)

    def walkforward_config(self):
        """The :class:`~btlstm.walkforward.WalkForwardConfig` these settings describe."""
        from btlstm.walkforward import WalkForwardConfig

        lstm_kwargs = {k: getattr(self, k) for k in _REGS if getattr(self, k)}
        if self.dropout:
            lstm_kwargs["dropout"] = self.dropout
        if self.recurrent_dropout:
            lstm_kwargs["recurrent_dropout"] = self.recurrent_dropout
        model = dict(
            lstm_units=self.lstm_units,
            dense_units=list(self.dense_units),
            learning_rate=self.learning_rate,
        )
        if lstm_kwargs:
            model["lstm_kwargs"] = lstm_kwargs
        return WalkForwardConfig(
            lookback=self.lookback,
            horizon=self.horizon,
            mode="walkforward" if self.walkforward else "static",
            train_start=self.train_start,
            train_end=None if self.walkforward else self.train_end,
            test_start=self.test_start,
            test_end=self.test_end,
            retrain_every=self.retrain_every,
            window=self.window,
            train_window=self.train_window,
            min_train=self.min_train,
            warm_start=self.warm_start,
            epochs=self.epochs,
            batch_size=self.batch_size,
            patience=self.patience,
            model=model,
            seed=self.seed,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dense_units"] = list(self.dense_units)
        return d


def flatten_settings(d: dict) -> dict:
    """Merge TOML sections (``[data]``, ``[model]``, ``[strategy]`` ...) into one flat dict."""
    flat: dict = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "synthetic":
            flat.update(v)
        else:
            flat[k] = v
    return flat


def load_toml(path) -> dict:
    """Read a TOML config file; errors name the file."""
    import tomllib

    p = Path(path)
    try:
        with open(p, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ValueError(f"config file {p} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {p} is not valid TOML: {e}") from None


@dataclass
class RunResult:
    """What :func:`run_hold` returns: the report dict, the files written, the strategy."""

    report: dict
    paths: dict
    strategy: object
    predictions: pd.Series


def _load_frame(run: HoldRun) -> pd.DataFrame:
    if run.data == "synthetic":
        from btlstm.synthetic import synthetic_ohlcv

        kw = dict(n=2000, seed=run.seed, start="2008-01-02", signal=0.3)
        kw.update(run.synthetic)
        return synthetic_ohlcv(**kw)
    from btlstm.data import load

    symbols = [run.symbol] if run.symbol else None
    obj = load(run.data, data_dir=run.data_dir, symbols=symbols, repair=run.repair)
    if isinstance(obj, dict):
        if run.symbol is None:
            raise DataError(
                f"dataset {run.data!r} holds several symbols {sorted(obj)[:12]}...; "
                "choose one with --symbol"
            )
        obj = obj[run.symbol]
    return obj


def _say(msg: str, progress: bool) -> None:
    if progress:
        print(f"[btlstm] {msg}", file=sys.stderr, flush=True)


def run_hold(
    run: HoldRun | dict, progress: bool = True, title: str | None = None, table: bool = True
) -> RunResult:
    """Backtest 1 (SPEC section 2) end to end and write the report.

    The feed covers the test period only; :class:`~btlstm.indicators.LSTMPredictor`
    gets the bars before it as ``history`` to train on, so every analyzer
    measures the test period alone. Costs go through Backtrader's broker.

    Args:
        run: the settings (:class:`HoldRun` or a dict of its fields).
        progress: print progress lines (data, fits, report path) to stderr.
        title: report title (default from the settings).
        table: print the terminal table to stdout.

    Returns:
        :class:`RunResult`; the files are in ``run.out``.
    """
    import backtrader as bt

    from btlstm.analyzers import add_standard_analyzers
    from btlstm.broker import setup_broker
    from btlstm.feeds import make_feed
    from btlstm.indicators import LSTMPredictor
    from btlstm.report import build_report, format_table, write_report
    from strategies.hold import HoldNDays

    if isinstance(run, dict):
        run = HoldRun.from_dict(run)
    t0 = time.perf_counter()
    frame = _load_frame(run)
    synthetic = bool(frame.attrs.get("synthetic"))
    if synthetic:
        _say("SYNTHETIC DATA: generated prices, not a market", progress)
    start = pd.Timestamp(run.train_start) if run.train_start else frame.index[0]
    end = pd.Timestamp(run.test_end) if run.test_end else frame.index[-1]
    frame = frame.loc[(frame.index >= start) & (frame.index <= end)]
    test_start = pd.Timestamp(run.test_start)
    history = frame.loc[frame.index < test_start]
    test = frame.loc[frame.index >= test_start]
    src = frame.attrs.get("source", run.data)
    require_history(
        history, run.lookback + run.horizon + 1, source=src, what="training before test_start"
    )
    require_history(test, run.horizon + 2, source=src, what="the test period")
    _say(
        f"data {run.data}{'/' + run.symbol if run.symbol else ''}: train {history.index[0].date()}"
        f"..{history.index[-1].date()} ({len(history)} bars), test {test.index[0].date()}"
        f"..{test.index[-1].date()} ({len(test)} bars)",
        progress,
    )
    wf_cfg = run.walkforward_config()

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(test, name=frame.attrs.get("symbol") or run.data))
    setup_broker(cerebro, cash=run.cash, commission=run.commission, slippage_perc=run.slippage)
    cerebro.addstrategy(
        HoldNDays,
        hold=run.hold,
        threshold=run.threshold,
        percent=run.percent,
        predictor=LSTMPredictor,
        predictor_kwargs=dict(
            config=wf_cfg, history=history, cache_dir=run.cache_dir, progress=progress
        ),
    )
    add_standard_analyzers(cerebro, riskfree=0.0, signal=True, horizon=run.horizon)
    _say(f"training ({wf_cfg.mode}) and backtesting ...", progress)
    strat = cerebro.run()[0]
    elapsed = time.perf_counter() - t0

    pred = strat.predictor
    pred_series = pd.Series(
        [pred.lines.prediction.array[i] for i in range(len(test))],
        index=test.index,
        name="prediction",
    )
    provenance = dict(
        dataset=run.data,
        symbol=run.symbol or frame.attrs.get("symbol"),
        source=str(src),
        synthetic=synthetic,
        amount_derived=bool(frame.attrs.get("amount_derived", False)),
        repair=frame.attrs.get("repair"),
        first_date=str(frame.index[0].date()),
        last_date=str(frame.index[-1].date()),
        rows=len(frame),
        train_rows=len(history),
        test_rows=len(test),
    )
    config = dict(run=run.to_dict(), walkforward=wf_cfg.to_dict())
    fits = [dataclasses.asdict(f) for f in pred.wf.fits]
    meta = dict(
        title=title
        or f"Hold {run.hold} days on {run.data} ({'walk-forward' if run.walkforward else 'static split'})",
        config=config,
        provenance=provenance,
        costs=dict(commission=run.commission, slippage_perc=run.slippage, cash=run.cash),
        synthetic=synthetic,
    )
    report = build_report(strat, meta)
    report.setdefault("run", {})["seconds"] = round(elapsed, 1)
    report["run"]["fits"] = [{k: v for k, v in f.items() if k != "seconds"} for f in fits]
    paths = write_report(report, strat, run.out, plots=run.plots)
    if table:
        print(format_table(report))
    _say(f"report: {paths.get('report.html', run.out)}  ({elapsed:.0f}s)", progress)
    return RunResult(report=report, paths=paths, strategy=strat, predictions=pred_series)
