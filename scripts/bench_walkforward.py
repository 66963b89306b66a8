"""Benchmark: the CSI 300 walk-forward's training, in reference epochs, serial and on workers.

The run is the one behind ``btlstm run hold --data csi300 --walkforward``:
CSI 300 daily bars from 2005-01-01, a refit every 21 bars from 2008-01-01 to
the end of the data (183 fits), cold starts (every refit from fresh weights,
at most 20 epochs, early stopping with patience 3), seed 0.

Machines differ, so every time is also printed in *reference epochs*: the
walk-forward's wall time divided by the time of one epoch of a plain Keras
reference fit (the default model, LSTM 32 + Dense 32/16/1, on 2,500 random
windows of 30 x 6 at batch 64, Keras' default ``fit``), measured in the same
process just before and just after the walk-forward (8 epochs each, the
median of the last 7), the faster of the two (machines shared with other
jobs drift; the faster reference gives the larger, conservative ratio)
(``scripts/bench_fit.py`` prints it with the training variants).

Each variant runs in its own fresh process:

  serial     one process, ``workers = 1``
  workers N  ``workers = N`` local processes (``--engine ray`` for Ray), every
             fit a cold start on a worker, handed back through the model cache

``--both`` runs the four: default and ``--xla``, each serial and on workers.
With ``--xla`` both use ``[model] xla = true`` (XLA-compiled steps: faster,
other float rounding); without it, the default (Keras' own step: the same
numbers as a plain Keras ``fit``). ``--exact`` adds a serial run with the
default training to an ``--xla`` comparison, to print how far XLA moves the
predictions. Printed per variant: fits, wall time, the reference epoch, wall
time in reference epochs, epochs per fit, peak resident memory (this process
and its workers), and the largest prediction difference from the serial run
(the workers must give 0: the script exits 1 otherwise).

Usage::

    TF_CPP_MIN_LOG_LEVEL=3 TF_ENABLE_ONEDNN_OPTS=0 \\
        python scripts/bench_walkforward.py --data-dir ../shared/data --xla
    python scripts/bench_walkforward.py --data-dir ../shared/data --test-start 2020-01-01
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

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET_SERIAL = 600  # reference epochs, the serial 183-fit run (issue 21)
TARGET_WORKERS = 320  # with 2 workers


def _child(args) -> None:
    """Run one variant; write its measurements as JSON and its predictions as .npy."""
    import btlstm  # noqa: F401,I001  (quiet TensorFlow before Keras is imported)

    sys.path.insert(0, HERE)
    from bench_fit import reference_epoch

    from btlstm.data import load
    from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig

    before = reference_epoch(epochs=8)
    frame = load("csi300", data_dir=args.data_dir)
    cfg = WalkForwardConfig(
        mode="walkforward",
        train_start="2005-01-01",
        test_start=args.test_start,
        test_end=args.test_end,
        retrain_every=21,
        epochs=20,
        seed=0,
        workers=args.workers,
        engine=args.engine,
        model={"xla": True} if args.xla else {},
    )

    def progress(rec):
        if rec.k % 20 == 0:
            print(f"  [{args.child}] fit {rec.k + 1}/{rec.total} {rec.date}: {rec.epochs} epochs, "
                  f"{rec.seconds:.2f}s", file=sys.stderr, flush=True)  # fmt: skip

    wf = WalkForward(cfg, progress=progress)
    t0 = time.perf_counter()
    pred = wf.predict(frame)
    wall = time.perf_counter() - t0
    after = reference_epoch(epochs=8)
    ref = min(before, after)  # the quieter of the two: the conservative ratio
    np.save(args.out + ".npy", pred)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024  # fmt: skip
    out = dict(
        fits=len(wf.fits),
        wall=wall,
        ref=ref,
        ref_before=before,
        ref_after=after,
        ref_epochs=wall / ref,
        epochs=float(np.mean([f.epochs for f in wf.fits])),
        peak=peak,
    )
    with open(args.out, "w") as f:
        json.dump(out, f)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("BTLSTM_DATA"))
    p.add_argument("--test-start", default="2008-01-01", help="first predicted date [2008-01-01]")
    p.add_argument("--test-end", default=None, help="last predicted date [the end of the data]")
    p.add_argument("--quick", action="store_true", help="predict from 2016 (about 94 fits)")
    p.add_argument("--workers", type=int, default=2, help="workers of the parallel variant [2]")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--xla", action="store_true", help="[model] xla = true in every variant")
    p.add_argument("--exact", action="store_true", help="with --xla: add a serial run without it")
    p.add_argument("--both", action="store_true",
                   help="default training and --xla, serial and on workers (4 runs)")  # fmt: skip
    p.add_argument("--only", choices=["serial", "workers"], help="run one variant only")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        _child(args)
        return 0
    if args.quick:
        args.test_start = "2016-01-01"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    modes = [False, True] if args.both else [args.xla]
    variants = {}  # name -> (workers, xla, the serial variant it must equal or None)
    for xla in modes:
        tag = ", `--xla`" if xla else ""
        serial = f"serial{tag}"
        if args.only != "workers":
            variants[serial] = (1, xla, None)
        if args.only != "serial":
            variants[f"{args.workers} workers{tag}"] = (args.workers, xla, serial)
    if args.exact and args.xla and not args.both:
        variants["serial, xla off"] = (1, False, None)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (workers, xla, _) in variants.items():
            out = os.path.join(tmp, f"v{len(res)}.json")
            cmd = [sys.executable, __file__, "--child", name, "--out", out,
                   "--test-start", args.test_start, "--workers", str(workers),
                   "--engine", args.engine]  # fmt: skip
            cmd += ["--xla"] if xla else []
            cmd += ["--test-end", args.test_end] if args.test_end else []
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
            print(f"running {name} (a fresh process) ...", file=sys.stderr, flush=True)
            subprocess.run(cmd, check=True, env=env)
            with open(out) as f:
                res[name] = json.load(f)
            res[name]["pred"] = np.load(out + ".npy")

    def diff(a, b) -> float:
        if not (np.isnan(a) == np.isnan(b)).all():
            return float("inf")
        return float(np.nanmax(np.abs(a - b))) if np.isfinite(a).any() else 0.0

    ok = True
    first = next(iter(res.values()))
    for name, r in res.items():
        must = variants[name][2]
        r["diff"] = diff(r["pred"], res[must]["pred"] if must in res else first["pred"])
        if must in res and r["diff"] != 0.0:
            ok = False
    end = args.test_end or "the end"
    full = args.test_start == "2008-01-01" and args.test_end is None  # the 183 fits
    print(f"\nCSI 300 walk-forward {args.test_start}..{end}, refit every 21 bars, seed 0\n")
    print("| variant | fits | wall s | reference epoch ms (before / after) | wall / reference epoch "
          "| target | epochs / fit | peak RSS MB | max abs diff |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|")
    for name, r in res.items():
        workers, _, must = variants[name]
        limit = TARGET_SERIAL if workers == 1 else TARGET_WORKERS
        verdict = "met" if r["ref_epochs"] <= limit else "missed"
        verdict = f"<= {limit}: {verdict}" if full else "(full run only)"
        against = "vs its serial run" if must in res else f"vs {next(iter(res))}"
        print(f"| {name} | {r['fits']} | {r['wall']:.1f} | {r['ref'] * 1000:.0f} "
              f"({r['ref_before'] * 1000:.0f} / {r['ref_after'] * 1000:.0f}) "
              f"| {r['ref_epochs']:.0f} | {verdict} | {r['epochs']:.1f} "
              f"| {r['peak']:.0f} | {r['diff']:.1e} ({against}) |")  # fmt: skip
    print(
        "\n(targets of issue 21 for the full 183-fit run: serial <= "
        f"{TARGET_SERIAL}, {args.workers} workers <= {TARGET_WORKERS} reference epochs)"
    )
    if not ok:
        print("ERROR: the workers' predictions differ from the serial run's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
