"""Benchmark: cross-sectional features and the walk-forward StockRanker on CSI 300 members.

Steps, each timed in this one run (wall seconds, peak resident memory so far):

  load       ``load("csi300_members", repair="drop")``: 300 A-shares, every
             bar of the file (defective rows dropped, each one logged)
  features   ``cross_sectional_features`` over the whole panel (float32)
  slice      the article's run: bars from ``--train-start`` minus a 90-day
             warm-up to ``--test-end``, features again on that slice
  ranker     ``RankerWalkForward.scores``: walk-forward, expanding window, a
             refit every ``--retrain-every`` bars from ``--test-start`` on
  quality    ``ranker_quality``: daily IC / rank IC and the decile spread

Then one line per fit statistic (seconds per fit: mean, median, max; samples
in the last fit) and the ranker's out-of-sample quality. The defaults are the
seed article's second backtest: training from 2010, test 2015-01-05 ..
2017-05-31, LightGBM with ``--n-estimators`` rounds on ``--threads`` threads.

Usage::

    python scripts/bench_ranker.py --data-dir ../shared/data
    python scripts/bench_ranker.py --data-dir ../shared/data --threads 2 --retrain-every 63
    # monthly refits over 2008-2020, as `btlstm run ranker --walkforward --retrain-every 21`:
    python scripts/bench_ranker.py --train-start 2005-01-01 --test-start 2008-01-01 \
        --test-end 2020-12-31 --retrain-every 21 --verbose
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

import numpy as np
import pandas as pd


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="shared data folder (default: BTLSTM_DATA)")
    ap.add_argument("--train-start", default="2010-01-01")
    ap.add_argument("--test-start", default="2015-01-05")
    ap.add_argument("--test-end", default="2017-05-31")
    ap.add_argument("--retrain-every", type=int, default=21)
    ap.add_argument("--n-estimators", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0, help="LightGBM threads (0: every core)")
    ap.add_argument("--min-train", type=int, default=1000)
    ap.add_argument("--verbose", action="store_true", help="one line per fit as it ends")
    ap.add_argument(
        "--project-every",
        type=int,
        default=None,
        metavar="N",
        help="also project the CPU time of a run with a refit every N bars "
        "(per-fit CPU seconds ~ a + b * samples, fitted on this run's fits)",
    )
    ap.add_argument("--symbols", type=int, default=None, help="first N symbols only")
    a = ap.parse_args(argv)

    from btlstm.data import load
    from btlstm.forecast.walkforward import WalkForwardConfig
    from btlstm.forecast.xsfeatures import cross_sectional_features
    from btlstm.forecast.xswalkforward import RankerWalkForward, ranker_quality

    rows = []
    t_start = time.perf_counter()

    cpu_fits = []  # CPU seconds (user + sys) of this process per fit

    def _cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    cpu_mark = [0.0]

    def _fit_line(rec):
        now = _cpu()
        cpu_fits.append(now - cpu_mark[0])
        cpu_mark[0] = now
        if not a.verbose:
            return
        print(f"fit {rec.k + 1}/{rec.total} {rec.date}: {rec.seconds:.1f} s "
              f"({cpu_fits[-1]:.1f} CPU s, load {os.getloadavg()[0]:.1f}), "
              f"{rec.n_samples:,} samples, {time.perf_counter() - t_start:.0f} s so far, "
              f"peak {_peak_mb():.0f} MB", flush=True)  # fmt: skip

    def step(name, fn, note=lambda r: ""):
        t0 = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t0, _peak_mb(), note(out)))
        return out

    panel = step(
        "load",
        lambda: load("csi300_members", data_dir=a.data_dir, repair="drop"),
        lambda p: f"{len(p)} stocks, {sum(len(f) for f in p.values()):,} bars",
    )
    if a.symbols:
        panel = {k: panel[k] for k in list(panel)[: a.symbols]}
    feats = step(
        "features (all bars)",
        lambda: cross_sectional_features(panel, dtype="float32"),
        lambda X: f"{len(X):,} rows x {X.shape[1]} cols, {X.memory_usage().sum() / 2**20:.0f} MB",
    )
    del feats
    lo = pd.Timestamp(a.train_start) - pd.Timedelta(days=90)
    sub = {k: f.loc[lo : a.test_end] for k, f in panel.items()}
    sub = {k: f for k, f in sub.items() if len(f)}
    panel = None  # free the full panel before training
    feats = step(
        "features (run slice)",
        lambda: cross_sectional_features(sub, dtype="float32"),
        lambda X: f"{len(X):,} rows, {len(sub)} stocks, {lo.date()}..{a.test_end}",
    )
    cfg = WalkForwardConfig(
        horizon=5,
        train_start=a.train_start,
        test_start=a.test_start,
        test_end=a.test_end,
        retrain_every=a.retrain_every,
        min_train=a.min_train,
        seed=0,
    )
    wf = RankerWalkForward(cfg, {"n_estimators": a.n_estimators, "num_threads": a.threads})
    scores = step(
        "ranker train+score",
        lambda: (
            cpu_mark.__setitem__(0, _cpu()),
            wf.scores(sub, features=feats, progress=_fit_line),
        )[1],
        lambda s: f"{len(wf.fits)} fits, {int(np.isfinite(s.to_numpy()).sum()):,} scores",
    )
    q = step("ranker quality", lambda: ranker_quality(scores, sub, horizon=5))

    print(f"{'step':<22}{'seconds':>10}{'peak RSS MB':>14}  notes")
    for name, secs, mb, note in rows:
        print(f"{name:<22}{secs:>10.2f}{mb:>14.0f}  {note}")
    secs = np.array([f.seconds for f in wf.fits])
    if len(secs):
        print(
            f"\nper fit (s): mean {secs.mean():.2f}  median {np.median(secs):.2f}  "
            f"max {secs.max():.2f}  total {secs.sum():.1f}  "
            f"({a.n_estimators} rounds, {wf.settings.threads()} thread(s); last fit "
            f"{wf.fits[-1].n_samples:,} samples over {wf.fits[-1].n_dates} dates)"
        )
        cpu = np.array(cpu_fits)
        print(
            f"CPU s per fit: mean {cpu.mean():.2f}, total {cpu.sum():.1f} "
            f"(wall / CPU {secs.sum() / cpu.sum():.2f}; load average now {os.getloadavg()[0]:.1f})"
        )
    if a.project_every and len(wf.fits) >= 2:
        _project(a, cfg, sub, feats, wf, np.array(cpu_fits))
    ic, ric, tmb = q["ic"], q["rank_ic"], q["top_minus_bottom"]
    print(
        f"quality {a.test_start}..{a.test_end} (5-day forward return): "
        f"IC {ic['mean']:.4f} (ICIR {ic['icir']:.3f}, t {ic['t_stat']:.2f}), "
        f"rank IC {ric['mean']:.4f} (ICIR {ric['icir']:.3f}, t {ric['t_stat']:.2f}, n {ric['n']}), "
        f"top-bottom decile {tmb['mean']:.4%} per 5 days"
    )
    top = wf.importances.mean().sort_values(ascending=False).head(5)
    print("top features by mean gain: " + ", ".join(f"{k} {v:.0f}" for k, v in top.items()))
    return 0


def _project(a, cfg, sub, feats, wf, cpu) -> None:
    """CPU seconds of the same walk-forward with a refit every ``a.project_every`` bars:
    its fit dates from the schedule (no training), each fit's samples interpolated
    over the dates of this run's fits, each fit's CPU from a line fitted to this run."""
    import dataclasses

    from btlstm.forecast.xswalkforward import RankerWalkForward

    other = RankerWalkForward(dataclasses.replace(cfg, retrain_every=a.project_every), wf.settings)
    dates = pd.DatetimeIndex(other.fit_dates(sub, features=feats))
    have = pd.DatetimeIndex([f.date for f in wf.fits])
    n = np.array([f.n_samples for f in wf.fits], dtype=float)
    samples = np.interp(dates.asi8, have.asi8, n)
    b, c = np.polyfit(n, cpu, 1)
    total = float(np.sum(c + b * samples))
    threads = wf.settings.threads()
    print(
        f"projected, refit every {a.project_every} bars: {len(dates)} fits, "
        f"{samples.mean():,.0f} samples per fit on average, CPU s per fit = "
        f"{c:.2f} + {b * 1e6:.2f} per million samples -> {total:,.0f} CPU s, "
        f"{total / threads / 60:.1f} min of wall on {threads} free core(s) at full use "
        f"(one core: {total / 60:.1f} min)"
    )


if __name__ == "__main__":
    sys.exit(main())
