"""Benchmark: walk-forward LSTM training cost per fit, wall time and memory.

The run is the one behind ``btlstm run hold --data csi300 --walkforward``:
CSI 300 daily bars from 2005-01-01, a refit every 21 bars from 2008-01-01 to
the end of the data (183 fits), cold starts (every refit from fresh weights,
at most 20 epochs, early stopping with patience 3), seed 0.

Two learners run it, each in its own fresh process so their memory is
measured apart:

  reuse  btlstm's LSTMLearner: ONE compiled model per run; each fit copies
         a freshly seeded model's initial weights into it and resets the
         optimizer, so nothing is traced again and memory stays flat.
  fresh  the old way, kept here as the baseline: a new compiled model per
         fit (a new Keras model, optimizer, traced train and predict
         functions each time).

Both give the same predictions (checked: the script exits 1 if they differ
by more than 1e-6). Printed per learner: wall time of the walk-forward,
seconds per fit, epochs per fit, the overhead per fit (the fit's time beyond
its epochs at their steady pace, i.e. fit time minus epochs x the median
epoch time after the first: building, copying weights, and the tracing a new
model pays in its first epoch), peak resident memory, and the resident-memory
slope per fit over the second half of the run. Ratios are reuse / fresh from this run.

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 \\
        python scripts/bench_walkforward.py --data-dir ../shared/data
    python scripts/bench_walkforward.py --data-dir ../shared/data --quick   # 2016.. (about 35 fits)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(args) -> None:
    """Run one learner and write its measurements as JSON."""
    import btlstm  # noqa: F401,I001  (quiet TensorFlow before Keras is imported)
    import keras
    from btlstm.data import load
    from btlstm.learners.lstm import LSTMLearner
    from btlstm.walkforward import WalkForward, WalkForwardConfig

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(time.perf_counter() - self._t)

    class FreshLSTM(LSTMLearner):
        """The baseline: a brand-new compiled model for every fit."""

        def fit(self, *a, **kw):
            self.model = None
            self._fns = {}
            return super().fit(*a, **kw)

    frame = load("csi300", data_dir=args.data_dir)
    cfg = WalkForwardConfig(
        mode="walkforward",
        train_start="2005-01-01",
        test_start=args.test_start,
        retrain_every=21,
        epochs=20,
        seed=0,
    )
    cls = LSTMLearner if args.child == "reuse" else FreshLSTM
    learner = cls(cfg.lookback, len(cfg.features), cfg.model)
    clock = EpochClock()
    learner.callbacks.append(clock)
    rss, overhead = [], []

    def progress(rec):
        # overhead = the fit's time beyond its epochs at their steady pace: model
        # building, weight copies, and the tracing a new model pays in its first epoch
        ep = clock.epochs
        steady = float(np.median(ep[1:])) if len(ep) > 1 else (ep[0] if ep else 0.0)
        overhead.append(rec.seconds - steady * len(ep))
        clock.epochs = []
        rss.append(_rss_mb())
        if rec.k % 20 == 0:
            print(
                f"  [{args.child}] fit {rec.k + 1}/{rec.total} {rec.date}: "
                f"{rec.epochs} epochs, {rec.seconds:.2f}s, rss {rss[-1]:.0f} MB",
                file=sys.stderr,
                flush=True,
            )

    wf = WalkForward(cfg, learner=learner, progress=progress)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    pred = wf.predict(frame)
    wall = time.perf_counter() - t0
    half = len(rss) // 2
    slope = float(np.polyfit(np.arange(len(rss) - half), rss[half:], 1)[0]) if len(rss) > 4 else 0.0
    np.save(args.out + ".npy", pred)
    out = dict(
        fits=len(wf.fits),
        wall=wall,
        per_fit=wall / max(1, len(wf.fits)),
        epochs=float(np.mean([f.epochs for f in wf.fits])),
        overhead=float(np.mean(overhead)),
        rss_start=rss0,
        peak=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        slope=slope,
    )
    with open(args.out, "w") as f:
        json.dump(out, f)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("BTLSTM_DATA"))
    p.add_argument("--quick", action="store_true", help="predict from 2016 (about 35 fits)")
    p.add_argument("--only", choices=["reuse", "fresh"], help="run one learner only")
    p.add_argument("--child", choices=["reuse", "fresh"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    p.add_argument("--test-start", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    test_start = "2016-01-01" if args.quick else "2008-01-01"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in [args.only] if args.only else ["reuse", "fresh"]:
            out = os.path.join(tmp, kind + ".json")
            cmd = [
                sys.executable,
                __file__,
                "--child",
                kind,
                "--out",
                out,
                "--test-start",
                test_start,
            ]
            if args.data_dir:
                cmd += ["--data-dir", args.data_dir]
            print(f"running {kind} (a fresh process) ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, env=env)
            with open(out) as f:
                res[kind] = json.load(f)
            res[kind]["pred"] = np.load(out + ".npy")
    if len(res) == 2:
        d = np.nanmax(np.abs(res["reuse"]["pred"] - res["fresh"]["pred"]))
        same_nan = bool((np.isnan(res["reuse"]["pred"]) == np.isnan(res["fresh"]["pred"])).all())
        print(f"\nsame predictions: max |reuse - fresh| = {d:.2e}, NaN pattern equal: {same_nan}")
        if not (d <= 1e-6 and same_nan):
            print("ERROR: the two learners disagree", file=sys.stderr)
            return 1
    print(f"\nCSI 300 walk-forward from {test_start}, refit every 21 bars, seed 0\n")
    print(
        "| learner | fits | wall s | s / fit | epochs / fit | overhead s / fit | peak RSS MB "
        "| RSS growth MB / fit |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind, r in res.items():
        print(
            f"| {kind} | {r['fits']} | {r['wall']:.1f} | {r['per_fit']:.2f} | {r['epochs']:.1f} "
            f"| {r['overhead']:.3f} | {r['peak']:.0f} | {r['slope']:.2f} |"
        )
    if len(res) == 2:
        a, b = res["reuse"], res["fresh"]
        print(
            f"\nreuse / fresh: wall {a['wall'] / b['wall']:.2f}x, overhead per fit "
            f"{a['overhead'] / b['overhead']:.2f}x, peak RSS {a['peak'] / b['peak']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
