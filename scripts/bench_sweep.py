"""Benchmark: sweep runs per hour on this machine, by engine.

The runs are those of the regularization sweep (docs/results.md): the seed's LSTM (32
units, Dense 32-16-1, at most 20 epochs with early stopping) on the seed's
CSI 300 static split, scored and backtested (hold 5). Each engine runs the
same ``--runs`` tasks (configuration ``none``, seeds 0 .. runs-1) into a
fresh folder, timed from the call to the last file written (worker start-up
and TensorFlow imports included):

  local-1  ``--engine local --workers 1`` (one process, TF threads = cores)
  local-2  ``--engine local --workers 2`` (two processes, TF threads = cores // 2)
  ray-2    ``--engine ray`` on a local Ray instance with 2 CPUs (started
           before the clock; ``ray.init`` time printed apart)

Printed: wall seconds, seconds per run, runs per hour, the ratio to local-1,
and whether every engine gave the same ``runs.csv`` metrics (exit 1 if not).

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 python scripts/bench_sweep.py --runs 4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from btlstm.sweep import METRICS, make_sweep, run_sweep  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=4, help="tasks per engine")
    ap.add_argument("--skip-ray", action="store_true")
    args = ap.parse_args(argv)
    base = {"data": {"data": "csi300"}, "strategy": {"name": "hold", "hold": 5}}
    sweep = make_sweep(base, {"none": {}}, repeats=args.runs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    rows, metrics = [], {}

    def timed(name, **kw):
        t0 = time.perf_counter()
        res = run_sweep(sweep, tmp / name, progress=False, plots=False, **kw)
        wall = time.perf_counter() - t0
        metrics[name] = res.runs.sort_values("seed")[list(METRICS)].to_numpy()
        rows.append((name, wall))
        print(f"{name:8s} {wall:7.1f} s  {wall / args.runs:6.1f} s/run  "
              f"{3600 * args.runs / wall:7.1f} runs/hour", flush=True)  # fmt: skip

    print(f"{os.cpu_count()} cores, {args.runs} runs per engine (seed-split LSTM)", flush=True)
    timed("local-1", engine="local", workers=1)
    timed("local-2", engine="local", workers=2)
    if not args.skip_ray:
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        print(f"(ray.init: {time.perf_counter() - t0:.1f} s, not counted)", flush=True)
        try:
            timed("ray-2", engine="ray", workers=2)
        finally:
            ray.shutdown()
    ref = rows[0][1]
    for name, wall in rows:
        print(f"{name:8s} speed vs local-1: {ref / wall:.2f}x")
    same = all(np.array_equal(metrics["local-1"], m, equal_nan=True) for m in metrics.values())
    print("identical runs.csv metrics across engines:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
