"""Benchmark: the ranker walk-forward's peak memory against its number of fits.

One synthetic panel (``--stocks`` x ``--bars``), the cross-sectional features
built once, then :class:`btlstm.forecast.xswalkforward.RankerWalkForward` with a refit
every 252, 63 and 21 bars (each in its own process, so each peak is its own).
The fits of one run differ only in their date; memory that stays flat as the
fits multiply shows that nothing accumulates per fit (each fit's rows, labels
and LightGBM dataset are freed before the next). Few boosting rounds
(``--rounds``): memory, not speed, is measured.

    python scripts/bench_ranker_memory.py
    python scripts/bench_ranker_memory.py --stocks 1000 --bars 1500
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(stocks: int, bars: int, every: int, rounds: int) -> dict:
    from btlstm.forecast.xsfeatures import cross_sectional_features
    from btlstm.forecast.xswalkforward import RankerWalkForward
    from btlstm.synthetic import synthetic_panel

    panel = synthetic_panel(n_symbols=stocks, n=bars, seed=0)
    feats = cross_sectional_features(panel, dtype="float32")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cfg = {"horizon": 5, "min_train": 20 * stocks, "retrain_every": every}
    wf = RankerWalkForward(cfg, {"n_estimators": rounds})
    t0 = time.perf_counter()
    wf.scores(panel, features=feats)
    return {
        "every": every,
        "fits": len(wf.fits),
        "seconds": time.perf_counter() - t0,
        "rows": len(feats),
        "peak_before_mb": before,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "last_fit_samples": wf.fits[-1].n_samples if wf.fits else 0,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--stocks", type=int, default=500)
    ap.add_argument("--bars", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5, help="boosting rounds per fit")
    ap.add_argument("--every", default="252,63,21", help="refit intervals, comma-separated")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.stocks, a.bars, int(a.child), a.rounds)))
        return 0
    print(f"{a.stocks} stocks x {a.bars} bars, {a.rounds} rounds per fit")
    print(f"{'refit every':>12}{'fits':>6}{'seconds':>9}{'peak before MB':>16}{'peak MB':>9}")
    for every in (int(x) for x in a.every.split(",")):
        cmd = [sys.executable, __file__, "--child", str(every), "--stocks", str(a.stocks),
               "--bars", str(a.bars), "--rounds", str(a.rounds)]  # fmt: skip
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        print(
            f"{r['every']:>12}{r['fits']:>6}{r['seconds']:>9.1f}"
            f"{r['peak_before_mb']:>16.0f}{r['peak_mb']:>9.0f}"
        )
    print("(peak before: after the panel and its features, before the walk-forward)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
