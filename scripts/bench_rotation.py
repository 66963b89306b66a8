"""Benchmark: the full 2005-2025 walk-forward sector rotation, where the time goes.

The run is ``btlstm run rotation --data sector_etfs`` with its defaults (nine
sector ETFs + SPY on total-return prices, one pooled LSTM trained on
1999-2004 and refitted every 126 bars on a rolling 5-year window with warm
starts, top-2 monthly, four baselines, the report). Printed: seconds for the
data (load + total-return adjustment + checks), training (per fit: cold and
warm), prediction, the rotation backtest, the four baseline backtests and the
report files, the total wall time, and the peak resident memory.

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 \\
        python scripts/bench_rotation.py --data-dir ../shared/data
    python scripts/bench_rotation.py --test-start 2019-01-02 --test-end 2019-07-01  # one window
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

import btlstm  # noqa: F401  (quiet TensorFlow before Keras is imported)
import btlstm.bt.indicators as indicators
import btlstm.pipeline as pipeline
import btlstm.report as report
from btlstm.settings import Settings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
    ap.add_argument("--test-start", default=None, help="default: the rotation's 2005-01-01")
    ap.add_argument("--test-end", default=None, help="default: the rotation's 2025-09-30")
    ap.add_argument("--out", default=None, help="report folder (default: a temporary one)")
    args = ap.parse_args()

    out = args.out or tempfile.mkdtemp(prefix="bench-rotation-")
    model = {k: v for k, v in (("test_start", args.test_start), ("test_end", args.test_end)) if v}
    data = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = Settings.from_dict(
        {
            "strategy": {"name": "rotation"},
            "model": model,
            "data": data,
            "output": {"out": out, "plots": True, "quiet": True},
        }  # fmt: skip
    )

    marks: dict = {}
    clock = time.perf_counter

    def timed(owner, name, key):
        fn = getattr(owner, name)

        def wrapper(*a, **k):
            t0 = clock()
            marks.setdefault(key + "_start", t0)
            try:
                return fn(*a, **k)
            finally:
                marks[key] = marks.get(key, 0.0) + clock() - t0
                marks[key + "_end"] = clock()

        setattr(owner, name, wrapper)

    timed(pipeline, "load_data", "load")
    timed(pipeline, "check_data", "check")
    timed(indicators.PredictionPool, "batch", "batch")
    timed(report, "collect", "collect")
    timed(report, "write_report", "report")

    fits = []
    t0 = clock()
    result = pipeline.run_backtest(settings, progress=fits.append)
    total = clock() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    trained = [f for f in fits if not f.cached]
    cold = [f for f in trained if f.k == 0 or not settings.model.warm_start]
    warm = [f for f in trained if f not in cold]
    train = sum(f.seconds for f in trained)
    predict = marks["batch"] - train
    backtest = (
        marks["collect_start"]
        - marks["batch_end"]
        + (marks["batch_start"] - t0)
        - (marks["load"] + marks["check"])
    )
    baselines = marks["report_start"] - marks["collect_end"]
    data = marks["load"] + marks["check"]
    m = settings.model
    print(
        f"rotation {result.report['period']['start']}..{result.report['period']['end']} "
        f"({result.report['period']['bars']} bars, 9 sectors + SPY), lookback {m.lookback}, "
        f"horizon {m.horizon}, refit every {m.retrain_every} bars ({m.window}"
        f"{'' if m.train_window is None else f' {m.train_window}'}), epochs {m.epochs}"
        f"{f' / warm {m.warm_epochs}' if m.warm_start else ''}, batch {m.batch_size}, "
        f"learner {m.learner} {m.model}"
    )
    rows = [
        ("data: load, total return, checks", data),
        (f"training: {len(trained)} fits", train),
        (
            f"  cold fits ({len(cold)}), per fit",
            sum(f.seconds for f in cold) / max(1, len(cold)),
        ),
        (
            f"  warm fits ({len(warm)}), per fit",
            sum(f.seconds for f in warm) / max(1, len(warm)),
        ),
        ("prediction (all windows, all sectors)", predict),
        ("rotation backtest (cerebro, 10 feeds)", backtest),
        ("4 baseline backtests", baselines),
        ("report files", marks["report"]),
        ("total wall time", total),
    ]
    for name, sec in rows:
        print(f"  {name:<40} {sec:8.1f} s")
    samples = [f.n_samples for f in trained]
    epochs = [f.epochs for f in trained]
    if samples:
        print(
            f"  samples per fit {min(samples)}..{max(samples)}, epochs per fit "
            f"{min(epochs)}..{max(epochs)}"
        )
    print(f"  peak resident memory {peak_mb:,.0f} MB")
    print(f"  report: {out}")
    for row in result.report["comparison"]:
        print(
            f"  {row['name']:<24} total {row['total_return']:+8.2%}  annual "
            f"{row['annual_return']:+7.2%}  sharpe {row['sharpe']:.2f}  max DD "
            f"{row['max_drawdown']:.1%}"
        )


if __name__ == "__main__":
    main()
