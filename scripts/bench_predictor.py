"""Benchmark: the LSTMPredictor indicator against a precomputed line, a naive loop, and training.

Three measurements on CSI 300 daily bars (default 2005-01-01 .. 2017-12-31,
about 3,000 bars), all in one process, after TensorFlow is imported and the
model is loaded (nothing below times an import or a model load):

  (a) ``HoldNDays`` + ``LSTMPredictor(model=<ready model>)`` with
      ``runonce=True`` (the batched ``once()`` path) against the same strategy
      reading a precomputed ``prediction`` line from the feed
      (``feed_class(("prediction",))``; the line is computed with
      ``WalkForward(cfg, model=model).predict(frame)`` outside the timed
      region). Target: at most 1.2x. Also ``runonce=False`` (the per-bar
      compiled path of LSTMPredictor). Each variant gets one untimed warm-up
      run, then ``--repeats`` timed runs; the median is reported. The batched
      run must give exactly the trades of the precomputed run, or the script
      exits with status 1.
  (b) a naive indicator that calls ``model.predict(window, verbose=0)`` in
      ``next()`` for every bar (z-scoring the window itself, same features).
      It is slow, so it runs on the first ``--naive-bars`` bars after the
      warm-up and its cost is reported per bar. Target: LSTMPredictor at least
      20x faster per bar.
  (c) walk-forward training over the whole period with a refit every
      ``--retrain-every`` bars (21: monthly), cold start (every refit from
      fresh weights, ``--epochs``) against warm start (every refit from the
      previous weights, ``epochs // 4``). Progress prints one line per fit.

The model of (a) and (b) is the default ``build_model()`` (lookback 30, 6
features), trained for ``--model-epochs`` epochs on the bars before 2010 (so its
forecasts change sign and the strategy trades), saved with ``save_model`` and
read back with ``load_model`` before any timing. Speed, not forecast quality, is
measured.

The final block is a markdown table for docs/performance.md.

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 \\
        python scripts/bench_predictor.py --data-dir ../shared/data
    python scripts/bench_predictor.py --data-dir ../shared/data --skip-walkforward
    python scripts/bench_predictor.py --data-dir ../shared/data --quick   # smoke run
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

import btlstm  # noqa: F401  (compat patches and quiet TensorFlow before anything else)
from btlstm.bt.analyzers import OrderLog
from btlstm.bt.broker import setup_broker
from btlstm.bt.feeds import feed_class, make_feed
from btlstm.bt.indicators import LSTMPredictor
from btlstm.data.catalog import load
from btlstm.data.validate import CANONICAL_COLUMNS
from btlstm.forecast.features import build_dataset, feature_matrix, zscore_windows
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.learners.models import build_model, load_model, save_model
from btlstm.strategies.hold import HoldNDays

TARGET_OVERHEAD = 1.2  # (a): LSTMPredictor run / precomputed-line run, at most
TARGET_SPEEDUP = 20.0  # (b): naive per-bar predict / LSTMPredictor, at least


class NaivePredictor(bt.Indicator):
    """The pattern btlstm replaces: ``model.predict`` on one window in every ``next()``.

    Formula:
      - prediction = model.predict(zscore(window[t - lookback + 1 .. t]))

    Same features and per-window z-score as ``LSTMPredictor`` (close, open,
    high, low, amount, volume by default), so the numbers agree with it; only
    the way the model is called differs (Keras ``predict`` per bar, ~40 ms).
    """

    alias = ("NaivePred",)
    lines = ("prediction",)
    params = (
        ("model", None),  # a ready keras.Model
        ("config", None),  # WalkForwardConfig: lookback and features
    )

    def __init__(self):
        if self.p.model is None:
            raise ValueError("NaivePredictor needs model= (a keras.Model), got None")
        self.cfg = self.p.config or WalkForwardConfig()
        self.addminperiod(self.cfg.lookback)

    def next(self):
        n = self.cfg.lookback
        d = self.data
        cols = {
            c: np.asarray(getattr(d, c).get(size=n), dtype=np.float64) for c in CANONICAL_COLUMNS
        }
        window = feature_matrix(cols, self.cfg.features)
        x = zscore_windows(window[None, :, :])
        self.lines.prediction[0] = float(self.p.model.predict(x, verbose=0)[0, 0])


# ---------------------------------------------------------------------- helpers
def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def _machine() -> str:
    import tensorflow as tf

    return (
        f"{os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
        f"Backtrader {bt.__version__}, {platform.system()}"
    )


def _ready_model(frame: pd.DataFrame, cfg: WalkForwardConfig, epochs: int, folder: Path):
    """Default build_model(), briefly trained on bars before 2010, saved and loaded back."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_model(lookback=cfg.lookback, n_features=len(cfg.features), seed=0)
    train = frame.loc[:"2009-12-31"]
    if epochs > 0 and len(train) > cfg.lookback + cfg.horizon + 10:
        ds = build_dataset(train, cfg.lookback, cfg.horizon, cfg.features, cfg.clip, cfg.scale)
        ok = ~np.isnan(ds.y)
        model.fit(ds.X[ok], ds.y[ok].astype(np.float32), epochs=epochs, batch_size=64, verbose=0)
    path = save_model(model, folder / "bench_model.keras")
    return load_model(path), path


def _run(frame, strategy_kwargs, runonce: bool, feed=None):
    """One cerebro run of HoldNDays; returns (seconds, strategy)."""
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=True)
    cerebro.adddata(feed if feed is not None else make_feed(frame, name="csi300"))
    setup_broker(cerebro)
    cerebro.addstrategy(HoldNDays, hold=5, **strategy_kwargs)
    cerebro.addanalyzer(OrderLog, _name="orders")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    return time.perf_counter() - t0, strat


def _timed(label, make_run, repeats: int):
    """Untimed warm-up, then ``repeats`` timed runs; returns (median s, all s, last strategy)."""
    make_run()
    times, strat = [], None
    for _ in range(repeats):
        s, strat = make_run()
        times.append(s)
    med = statistics.median(times)
    shown = ", ".join(f"{t:.3f}" for t in times)
    print(f"  {label:44s} median {med:7.3f} s   (runs: {shown})", flush=True)
    return med, times, strat


def _orders(strat) -> list[dict]:
    return strat.analyzers.orders.get_analysis()["orders"]


def _trades(strat) -> list[str]:
    keys = ("created_date", "date", "side", "size", "price", "commission", "status")
    return [repr(tuple(row[k] for k in keys)) for row in _orders(strat)]


def _line(strat) -> np.ndarray:
    return np.asarray(strat.prediction.array, dtype=np.float64)


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    both = ~np.isnan(a) & ~np.isnan(b)
    if (np.isnan(a) != np.isnan(b)).any():
        return math.inf
    return float(np.max(np.abs(a[both] - b[both]))) if both.any() else 0.0


# ---------------------------------------------------------------------- (a) + (b)
def bench_indicator(frame, model, cfg, repeats: int, naive_bars: int) -> dict:
    n = len(frame)
    print(f"\n== (a) backtest: LSTMPredictor vs precomputed line ({n} bars)", flush=True)
    wf_times = []
    for _ in range(repeats + 1):  # outside the timed runs; the first call is a warm-up
        t0 = time.perf_counter()
        line = WalkForward(cfg, model=model).predict(frame)
        wf_times.append(time.perf_counter() - t0)
    wf_s = statistics.median(wf_times[1:])
    print(
        f"  WalkForward(model=...).predict(frame) alone: median {wf_s:.3f} s "
        "(the precomputed line; outside the timed backtests)"
    )
    with_pred = frame.copy()
    with_pred["prediction"] = line
    with_pred.attrs = dict(frame.attrs)
    Feed = feed_class(("prediction",))
    lstm_kw = dict(predictor=LSTMPredictor, predictor_kwargs=dict(model=model, config=cfg))

    pre_med, pre_all, s_pre = _timed(
        "precomputed line (feed_class, runonce=True)",
        lambda: _run(None, {}, True, feed=Feed(dataname=with_pred, name="csi300")),
        repeats,
    )
    once_med, once_all, s_once = _timed(
        "LSTMPredictor batched (runonce=True)", lambda: _run(frame, lstm_kw, True), repeats
    )
    next_med, next_all, s_next = _timed(
        "LSTMPredictor compiled per bar (runonce=False)",
        lambda: _run(frame, lstm_kw, False),
        repeats,
    )

    same = _trades(s_once) == _trades(s_pre)
    same_next = _trades(s_next) == _trades(s_pre)
    d_once = _max_diff(_line(s_once), _line(s_pre))
    d_next = _max_diff(_line(s_next), _line(s_pre))
    r_once, r_next = once_med / pre_med, next_med / pre_med
    ok_a = "PASS" if r_once <= TARGET_OVERHEAD else "FAIL"
    closed = s_pre.analyzers.trades.get_analysis().total.get("closed", 0)
    print(f"  orders: {len(_orders(s_pre))}; closed trades: {closed}")
    print(
        f"  trades batched == precomputed: {'IDENTICAL' if same else 'DIFFERENT'} "
        f"(max |prediction diff| {d_once:.3g})"
    )
    print(
        f"  trades per-bar == precomputed: {'IDENTICAL' if same_next else 'DIFFERENT'} "
        f"(max |prediction diff| {d_next:.3g})"
    )
    print(f"  ratio batched / precomputed  = {r_once:.2f}x  (target <= {TARGET_OVERHEAD}x: {ok_a})")
    print(f"  ratio per-bar / precomputed  = {r_next:.2f}x  (per-bar compiled path, no target)")
    print(
        f"  (precomputed run + WalkForward.predict) / precomputed run = "
        f"{(pre_med + wf_s) / pre_med:.2f}x: the batched overhead is the forward pass itself"
    )

    # ------------------------------------------------------------------ (b)
    m = min(naive_bars, n - cfg.lookback + 1)
    sub = frame.iloc[: cfg.lookback - 1 + m]
    print(
        f"\n== (b) naive model.predict per bar: timed on the first {m} bars after the "
        f"{cfg.lookback - 1}-bar warm-up ({sub.index[cfg.lookback - 1].date()} .. "
        f"{sub.index[-1].date()}), extrapolated per bar",
        flush=True,
    )
    naive_kw = dict(predictor=NaivePredictor, predictor_kwargs=dict(model=model, config=cfg))
    model.predict(np.zeros((1, cfg.lookback, len(cfg.features)), np.float32), verbose=0)  # warm
    naive_s, s_naive = _run(sub, naive_kw, True)
    naive_bar = naive_s / m
    d_naive = _max_diff(_line(s_naive), _line(s_pre)[: len(sub)])
    once_bar, next_bar, pre_bar = once_med / n, next_med / n, pre_med / n
    sp_once, sp_next = naive_bar / once_bar, naive_bar / next_bar
    ok_b = "PASS" if sp_once >= TARGET_SPEEDUP else "FAIL"
    ok_b2 = "PASS" if sp_next >= TARGET_SPEEDUP else "FAIL"
    print(f"  naive run: {naive_s:.2f} s for {m} bars (whole backtest, strategy included)")
    print(f"  naive vs LSTMPredictor max |prediction diff| {d_naive:.3g}")
    print("  backtest wall time per bar (ms):")
    print(f"    naive model.predict in next()    {_ms(naive_bar):>9s}  (extrapolated)")
    print(f"    LSTMPredictor batched            {_ms(once_bar):>9s}")
    print(f"    LSTMPredictor compiled per bar   {_ms(next_bar):>9s}")
    print(f"    precomputed line                 {_ms(pre_bar):>9s}")
    print(f"  speed-up naive / batched   = {sp_once:.1f}x  (target >= {TARGET_SPEEDUP:g}x: {ok_b})")
    print(
        f"  speed-up naive / per-bar   = {sp_next:.1f}x  (target >= {TARGET_SPEEDUP:g}x: {ok_b2})"
    )
    return dict(
        bars=n,
        pre=pre_med,
        wf=wf_s,
        once=once_med,
        nxt=next_med,
        r_once=r_once,
        r_next=r_next,
        same=same,
        same_next=same_next,
        d_once=d_once,
        d_next=d_next,
        naive_bars=m,
        naive_bar=naive_bar,
        once_bar=once_bar,
        next_bar=next_bar,
        pre_bar=pre_bar,
        sp_once=sp_once,
        sp_next=sp_next,
        d_naive=d_naive,
        orders=len(_orders(s_pre)),
    )


# ---------------------------------------------------------------------- (c)
def bench_walkforward(frame, epochs: int, retrain_every: int) -> dict:
    print(
        f"\n== (c) walk-forward training: {frame.index[0].date()} .. {frame.index[-1].date()} "
        f"({len(frame)} bars), refit every {retrain_every} bars, epochs {epochs} cold / "
        f"{max(1, epochs // 4)} warm",
        flush=True,
    )
    out = {}
    for warm in (False, True):
        cfg = WalkForwardConfig(retrain_every=retrain_every, epochs=epochs, warm_start=warm)
        wf = WalkForward(cfg, progress=True)
        label = "warm" if warm else "cold"
        print(f"  -- {label} start", flush=True)
        t0 = time.perf_counter()
        pred = wf.predict(frame)
        total = time.perf_counter() - t0
        fits = len(wf.fits)
        fit_s = sum(r.seconds for r in wf.fits)
        ep = sum(r.epochs for r in wf.fits) / max(fits, 1)
        print(
            f"  {label}: {total:.1f} s total, {fits} fits, {fit_s / max(fits, 1):.2f} s per fit, "
            f"{ep:.1f} epochs per fit on average (early stopping), "
            f"{int(np.isfinite(pred).sum())} bars predicted, first fit {wf.fits[0].date}",
            flush=True,
        )
        out[label] = dict(total=total, fits=fits, per_fit=fit_s / max(fits, 1), epochs=ep)
    out["ratio"] = out["cold"]["total"] / out["warm"]["total"]
    out["period"] = f"{frame.index[0].date()} .. {frame.index[-1].date()} ({len(frame)} bars)"
    print(f"  cold / warm = {out['ratio']:.2f}x", flush=True)
    return out


# ---------------------------------------------------------------------- summary
def summary(args, frame, a: dict | None, c: dict | None) -> None:
    print("\n== summary (markdown, for docs/performance.md)\n")
    print(
        f"Measured with `scripts/bench_predictor.py` on CSI 300 daily bars "
        f"{frame.index[0].date()} .. {frame.index[-1].date()} ({len(frame)} bars); "
        f"{_machine()}; median of {args.repeats} runs after a warm-up.\n"
    )
    if a is not None:
        print("| backtest (HoldNDays, one feed) | total s | ms / bar | vs precomputed | target |")
        print("|---|---:|---:|---:|---|")
        print(f"| precomputed `prediction` line | {a['pre']:.3f} | {_ms(a['pre_bar'])} | 1.00x | |")
        print(
            f"| `WalkForward(model=...).predict` alone (no backtest) | {a['wf']:.3f} "
            f"| {_ms(a['wf'] / a['bars'])} | | |"
        )
        print(
            f"| LSTMPredictor batched (`runonce=True`) | {a['once']:.3f} | {_ms(a['once_bar'])} "
            f"| {a['r_once']:.2f}x | <= {TARGET_OVERHEAD}x |"
        )
        print(
            f"| LSTMPredictor compiled per bar (`runonce=False`) | {a['nxt']:.3f} "
            f"| {_ms(a['next_bar'])} | {a['r_next']:.2f}x | |"
        )
        print(
            f"| naive `model.predict` in `next()` ({a['naive_bars']} bars, extrapolated) "
            f"| {a['naive_bar'] * a['bars']:.1f} | {_ms(a['naive_bar'])} "
            f"| {a['naive_bar'] / a['pre_bar']:.1f}x | |"
        )
        print()
        print(
            f"Speed-up over the naive loop: {a['sp_once']:.0f}x batched, {a['sp_next']:.0f}x "
            f"compiled per bar (target >= {TARGET_SPEEDUP:g}x). Trades of the batched run and "
            f"of the precomputed line: {'identical' if a['same'] else 'DIFFERENT'} "
            f"({a['orders']} orders); per-bar run: "
            f"{'identical' if a['same_next'] else 'different'} "
            f"(max prediction difference {a['d_next']:.2g}).\n"
        )
    if c is not None:
        print("| walk-forward training | total s | fits | s / fit | epochs / fit |")
        print("|---|---:|---:|---:|---:|")
        for label in ("cold", "warm"):
            r = c[label]
            print(
                f"| {label} start | {r['total']:.1f} | {r['fits']} | {r['per_fit']:.2f} "
                f"| {r['epochs']:.1f} |"
            )
        print(
            f"\nWalk-forward on {c['period']}; refit every {args.retrain_every} bars, "
            f"epochs {args.epochs} cold / {max(1, args.epochs // 4)} warm (early stopping, patience 3); "
            f"cold / warm = {c['ratio']:.2f}x."
        )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="data directory (default: $BTLSTM_DATA)")
    ap.add_argument("--start", default="2005-01-01", help="first date (default 2005-01-01)")
    ap.add_argument("--end", default="2017-12-31", help="last date (default 2017-12-31)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per variant (median)")
    ap.add_argument("--naive-bars", type=int, default=300, help="bars timed for the naive loop")
    ap.add_argument("--model-epochs", type=int, default=2, help="epochs to train the ready model")
    ap.add_argument("--epochs", type=int, default=20, help="walk-forward epochs per cold fit")
    ap.add_argument("--retrain-every", type=int, default=21, help="bars between refits (21)")
    ap.add_argument("--skip-walkforward", action="store_true", help="skip (c)")
    ap.add_argument("--skip-indicator", action="store_true", help="skip (a) and (b)")
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: (c) on 2005-2008 with 4 epochs"
    )
    args = ap.parse_args(argv)
    for name in ("repeats", "naive_bars", "epochs", "retrain_every"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: expected >= 1, got {getattr(args, name)}")
    if args.model_epochs < 0:
        ap.error(f"--model-epochs: expected >= 0, got {args.model_epochs}")
    if args.quick:
        args.epochs = min(args.epochs, 4)

    frame = load("csi300", data_dir=args.data_dir, start=args.start, end=args.end)
    print(f"csi300: {frame.index[0].date()} .. {frame.index[-1].date()}, {len(frame)} bars")
    print(f"machine: {_machine()}", flush=True)
    cfg = WalkForwardConfig()
    a = c = None
    if not args.skip_indicator:
        with tempfile.TemporaryDirectory(prefix="btlstm-bench-") as tmp:
            model, path = _ready_model(frame, cfg, args.model_epochs, Path(tmp))
            print(f"model: build_model() {model.count_params()} weights, loaded from {path.name}")
            a = bench_indicator(frame, model, cfg, args.repeats, args.naive_bars)
    if not args.skip_walkforward:
        wf_frame = frame.loc[:"2008-12-31"] if args.quick else frame
        c = bench_walkforward(wf_frame, args.epochs, args.retrain_every)
    summary(args, frame, a, c)
    if a is not None and not a["same"]:
        print(
            "\nERROR: the batched LSTMPredictor run and the precomputed-line run made "
            "different trades",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
