"""Latency of paper trading: from a bar's publication to the strategy's orders.

For hold (CSI 300, 1 feed), the sector rotation (10 feeds, 9 on one pooled
LSTM: one forward pass per bar) and the ranker gate (300 A-shares + the
index, the gate LSTM on the index), each case:

1. runs ``btlstm run <strategy>`` (the backtest) with a model cache, which
   also fills the cache (not timed);
2. runs ``btlstm paper <strategy>`` over the same bars at full speed with
   ``fits = wait`` (each fit is then a load from the cache, in the bar) and
   reads its ``latency.csv``: per bar, the time from the feed's publication
   of the bar to the end of the strategy's ``next`` (the orders are out);
3. checks that predictions.csv and trades.csv equal the backtest's.

The table gives the median and the 99th percentile per bar over every bar and
over the bars that did not wait for a fit (a background run never waits:
there a new model costs one pointer swap), per feed, and the forward pass
alone. The case ``background`` is the rotation with its fits in a worker
process (the cache is warm: a fit is a load there) and a bar published every
20 ms. Budgets (p99 per bar, bars without a fit): hold 50 ms, rotation 50 ms,
ranker gate 250 ms.

    python scripts/bench_live_latency.py --data-dir ../shared/data [--cases hold,background]
"""

import argparse
import filecmp
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import btlstm  # noqa: F401
from btlstm.live import run_paper
from btlstm.pipeline import run_backtest

BUDGET_MS = {"hold": 50.0, "rotation": 50.0, "ranker": 250.0}

CASES = {
    # the seed's split: 565 bars, one static fit
    "hold": {"strategy": {"name": "hold"}, "data": {"data": "csi300"}},
    # 2015-2019: 1,258 bars, a fit every 126 bars (10 fits), the defaults otherwise
    "rotation": {
        "strategy": {"name": "rotation"},
        "model": {"test_start": "2015-01-01", "test_end": "2019-12-31"},
    },
    # the seed's split, 300 stocks + the index: the gate LSTM and precomputed ranker scores
    "ranker": {"strategy": {"name": "ranker"}},
    # the rotation case with fits in a worker process, a bar published every 20 ms
    "background": {
        "strategy": {"name": "rotation"},
        "model": {"test_start": "2015-01-01", "test_end": "2019-12-31"},
    },
}
LIVE = {"background": {"fits": "background", "bar_seconds": 0.02}}


def _q(x) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return (float(np.median(x)), float(np.percentile(x, 99))) if len(x) else (np.nan, np.nan)


def bench(name: str, base: dict, root: Path, data_dir, live: dict) -> dict:
    cache = root / "cache"
    s = json.loads(json.dumps(base))
    s.setdefault("data", {})["data_dir"] = data_dir
    s["output"] = {"plots": False, "quiet": True, "cache_dir": str(cache)}
    t0 = time.perf_counter()
    run_backtest({**s, "output": {**s["output"], "out": str(root / "run")}})
    t_run = time.perf_counter() - t0
    t0 = time.perf_counter()
    paper = run_paper({**s, "output": {**s["output"], "out": str(root / "paper")}}, live)
    t_paper = time.perf_counter() - t0
    lat = pd.read_csv(root / "paper" / "latency.csv")
    live_rows = lat[lat["status"] == "LIVE"]
    no_fit = live_rows[live_rows["fit_ms"].fillna(0) == 0]
    feeds = int(lat["feeds"].max())
    same = all(
        filecmp.cmp(root / "run" / f, root / "paper" / f, shallow=False)
        for f in ("predictions.csv", "trades.csv")
    )
    med, p99 = _q(live_rows["latency_ms"])
    med_nf, p99_nf = _q(no_fit["latency_ms"])
    fwd_med, fwd_p99 = _q(no_fit["predict_ms"])
    sec = paper.report["live"]
    return dict(
        case=name,
        feeds=feeds,
        bars=len(live_rows),
        fits=sec["fits_total"],
        fit_mode=sec["fits"],
        median=med,
        p99=p99,
        median_no_fit=med_nf,
        p99_no_fit=p99_nf,
        per_feed_median=med_nf / feeds,
        per_feed_p99=p99_nf / feeds,
        forward_median=fwd_med,
        forward_p99=fwd_p99,
        min_lag_bars=min((v["lag_bars"] or 0) for v in sec["model_versions"]),
        max_lag_bars=max((v["lag_bars"] or 0) for v in sec["model_versions"]),
        same_as_backtest=same,
        backtest_s=t_run,
        paper_s=t_paper,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
    ap.add_argument("--cases", default="hold,rotation,ranker,background")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="btlstm-bench-live-") as tmp:
        for name in args.cases.split(","):
            print(f"[bench] {name} ...", flush=True)
            live = LIVE.get(name, {"fits": "wait"})
            r = bench(name, CASES[name], Path(tmp) / name, args.data_dir, live)
            rows.append(r)
            print(f"[bench] {name}: {json.dumps(r, default=str)}", flush=True)
    print()
    print("| case | feeds | live bars | fits | median ms/bar | p99 ms/bar | p99 without fit "
          "bars | per feed (median / p99) | forward pass (median) | budget p99 | same orders "
          "as the backtest |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|:---:|")
    for r in rows:
        budget = BUDGET_MS.get(r["case"], BUDGET_MS["rotation"])
        met = "met" if r["p99_no_fit"] <= budget else "NOT met"
        same = "yes" if r["same_as_backtest"] else "NO"
        if r["fit_mode"] == "background":  # models arrive late: other predictions, by design
            same = f"no: each model {r['min_lag_bars']} to {r['max_lag_bars']} bars late"
        print(
            f"| {r['case']} ({r['fit_mode']}) | {r['feeds']} | {r['bars']} | {r['fits']} | "
            f"{r['median']:.2f} | {r['p99']:.1f} | {r['p99_no_fit']:.2f} | "
            f"{r['per_feed_median']:.3f} / {r['per_feed_p99']:.3f} | {r['forward_median']:.2f} | "
            f"{budget:.0f} ms: {met} | {same} |"
        )


if __name__ == "__main__":  # a fit worker imports this file: run only here
    main()
