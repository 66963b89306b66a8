"""Benchmark: the article's universe size, the gated ranker end to end on a synthetic panel.

``btlstm.pipeline.run_backtest`` of the ``ranker`` strategy (walk-forward
LightGBM ranker on every stock, walk-forward index LSTM gate, the gated
strategy and its three baselines, the report) on
``synthetic_panel(n_symbols=--stocks, n=--bars)`` (3,000 stocks x 2,520
business days = 10 years by default) and its synthetic gate index. Nothing is
cached (no ``--cache-dir``): every model is trained in this run.

It prints, all measured in this one process:

- wall seconds of each step of the run (data, ranker scores, the LSTM gate,
  the gated backtest, the baselines, the report files) and in total;
- peak resident memory (``ru_maxrss``) after each step;
- per backtest (each ``cerebro.run``): feeds, bars, seconds and microseconds
  per feed-bar (``cerebro.run`` seconds / (feeds x bars)): the number
  ``docs/many-feeds.md`` compares with the lean path.

Usage::

    python scripts/bench_universe.py                         # 3,000 stocks x 2,520 bars
    python scripts/bench_universe.py --stocks 300 --bars 1000 # a quick look
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stocks", type=int, default=3000)
    ap.add_argument("--bars", type=int, default=2520, help="business days (2,520: 10 years)")
    ap.add_argument("--start", default="2010-01-04")
    ap.add_argument("--test-start", default="2012-01-02", help="first traded day (2 years warm-up)")
    ap.add_argument(
        "--retrain-every", type=int, default=252, help="bars between refits (both models)"
    )
    ap.add_argument("--signal", type=float, default=0.1)
    ap.add_argument(
        "--cash",
        type=float,
        default=1e9,
        help="starting cash [1e9 CNY]: enough for a 100-share lot of nearly every stock in "
        "the equal-weight baseline (1e6 over 3,000 stocks is 333 CNY a stock: it bought 16)",
    )
    ap.add_argument("--out", default=None, help="report folder (default: a temporary one)")
    a = ap.parse_args(argv)

    import btlstm.bt.cerebro as bc
    import btlstm.pipeline as pl
    import btlstm.report as rep

    steps: list[tuple[str, float, float, float]] = []
    backtests: list[tuple[str, int, int, float]] = []
    t_start = time.perf_counter()

    def timed(module, name, label):
        fn = getattr(module, name)

        def wrapper(*args, **kw):
            t0 = time.perf_counter()
            c0 = _cpu_s()
            try:
                return fn(*args, **kw)
            finally:
                steps.append((label, time.perf_counter() - t0, _peak_mb(), _cpu_s() - c0))
                print(
                    f"  {label}: {steps[-1][1]:.1f} s ({steps[-1][3]:.1f} CPU s), "
                    f"peak {steps[-1][2]:.0f} MB",
                    flush=True,
                )

        setattr(module, name, wrapper)

    run_cerebro = bc.run

    def counted_run(cerebro):
        t0, c0 = time.perf_counter(), _cpu_s()
        strat = run_cerebro(cerebro)
        secs, cpu = time.perf_counter() - t0, _cpu_s() - c0
        n_bars = len(cerebro.datas[0])  # the panel's aligned calendar: every feed as long
        backtests.append((type(strat).__name__, len(cerebro.datas), n_bars, secs, cpu))
        return strat

    bc.run = counted_run
    timed(pl, "_load", "data (synthetic panel + gate index)")
    timed(pl, "_score", "ranker walk-forward scores")
    timed(pl, "_strategy_params", "index LSTM gate (set-up)")
    timed(pl, "_run_strategy", "gated backtest (+ LSTM gate fits)")
    timed(pl, "_run_baselines", "three baselines")
    timed(rep, "write_report", "report files")

    out = a.out or tempfile.mkdtemp(prefix="btlstm-universe-")
    settings = {
        "strategy": {"name": "ranker"},
        "data": {
            "data": "synthetic",
            "synthetic": {"n_symbols": a.stocks, "n": a.bars, "start": a.start, "signal": a.signal},
        },
        "model": {
            "mode": "walkforward",
            "train_start": a.start,
            "train_end": None,
            "test_start": a.test_start,
            "test_end": None,
            "retrain_every": a.retrain_every,
        },
        "costs": {"cash": a.cash},
        # 3,000 stocks is over the default cap on a synthetic panel (2,000): lifted here
        "output": {"out": out, "plots": True, "allow_large": True},
    }
    logging.basicConfig(level=logging.WARNING)
    print(f"{a.stocks:,} stocks x {a.bars:,} bars, refits every {a.retrain_every} bars -> {out}")
    res = pl.run_backtest(settings)
    total = time.perf_counter() - t_start

    print(f"\n{'step':<40}{'seconds':>10}{'CPU s':>10}{'peak RSS MB':>14}")
    for label, secs, mb, cpu in steps:
        print(f"{label:<40}{secs:>10.1f}{cpu:>10.1f}{mb:>14.0f}")
    print(
        f"{'total (run_backtest + report)':<40}{total:>10.1f}{_cpu_s():>10.1f}{_peak_mb():>14.0f}"
    )
    print(
        f"\n{'backtest':<22}{'feeds':>7}{'bars':>7}{'seconds':>10}{'us/feed-bar':>13}"
        f"{'CPU s':>8}{'CPU us/feed-bar':>17}"
    )
    for name, feeds, n_bars, secs, cpu in backtests:
        fbars = feeds * n_bars
        print(
            f"{name:<22}{feeds:>7}{n_bars:>7}{secs:>10.1f}{secs / fbars * 1e6:>13.1f}"
            f"{cpu:>8.1f}{cpu / fbars * 1e6:>17.1f}"
        )
    print("(the first RankerGated run also trains the index LSTM gate inside cerebro.run)")
    fb = sum(f * b for _, f, b, _, _ in backtests)
    bt_secs = sum(s for *_, s, _ in backtests)
    ranker = res.run.report.get("scores", {}) if hasattr(res.run, "report") else {}
    print(
        f"\nall backtests: {bt_secs:.1f} s over {fb:,} feed-bars = "
        f"{bt_secs / fb * 1e6:.1f} us per feed-bar; ranker fits: {len(ranker.get('fits', []))}; "
        f"LSTM fits: {len(res.fits)}"
    )
    cpu = _cpu_s()
    print(
        f"wall {total / 60:.1f} min, CPU {cpu / 60:.1f} min (user + sys, all threads; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores), "
        f"peak RSS {_peak_mb() / 1024:.2f} GB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
