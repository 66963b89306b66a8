"""Scale of the gated ranker backtest: microseconds per feed-bar against plain Backtrader.

For 50 / 150 / 300 stocks of ``csi300_members`` over 2015-01-05 .. 2017-05-01
(or a synthetic panel with ``--synthetic``), each case runs in its own
process (so peak memory is that case's):

- ``plain``: the same feeds (aligned panel with ``score``, ``is_st``,
  ``tradable`` lines, plus the gate feed) and an empty strategy;
- ``gated``: :class:`strategies.ranker.RankerGated` with precomputed scores
  (random, seeded) and a precomputed gate line, the A-share broker
  (``setup_ashare_broker``); no analyzers in either;
- ``gated-next``: the same with ``runonce=False`` (bar-by-bar mode): its
  orders must be identical to ``gated``'s.

It prints microseconds per feed-bar (``cerebro.run`` seconds / (feeds x bars)),
the ratio gated / plain (target <= 1.3), the orders count, whether the run
modes gave identical orders, and the peak resident memory of each process.

    python scripts/bench_ranker_scale.py                 # 50 150 300
    python scripts/bench_ranker_scale.py --sizes 50 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time

START, END = "2015-01-05", "2017-05-01"


def _panel(n: int, synthetic: bool, data_dir=None):
    import numpy as np
    import pandas as pd

    if synthetic:
        from btlstm.synthetic import synthetic_panel

        panel = synthetic_panel(n_symbols=n, n=570, seed=0, start=START)
        for f in panel.values():
            f["is_st"] = 0.0
    else:
        from btlstm.data import load

        allm = load("csi300_members", data_dir=data_dir, start=START, end=END)
        panel = {k: v for k, v in list(allm.items()) if len(v)}
        panel = dict(list(panel.items())[:n])
    rng = np.random.default_rng(0)
    cal = None
    for f in panel.values():
        cal = f.index if cal is None else cal.union(f.index)
    for f in panel.values():
        f["score"] = rng.normal(size=len(f))
    gate = pd.DataFrame(
        {"open": 3000.0, "high": 3000.0, "low": 3000.0, "close": 3000.0, "volume": 1e9,
         "amount": 1e11, "prediction": rng.normal(size=len(cal))},
        index=pd.DatetimeIndex(cal, name="date"),
    )  # fmt: skip
    return panel, gate


def one(path: str, kind: str, repeat: int) -> dict:
    """Run one case in this process; returns timing, orders and peak memory."""
    import backtrader as bt

    import btlstm  # noqa: F401
    from btlstm.ashare import setup_ashare_broker
    from btlstm.feeds import add_panel, make_feed
    from strategies.ranker import RankerGated

    with open(path, "rb") as fh:
        panel, gate = pickle.load(fh)

    class Empty(bt.Strategy):
        pass

    best, orders, n_feeds, bars = float("inf"), None, 0, 0
    for _ in range(repeat):
        cerebro = bt.Cerebro(stdstats=False, runonce=kind != "gated-next")
        feeds = add_panel(cerebro, panel, extra_lines=("score", "is_st"), progress=False)
        cerebro.adddata(make_feed(gate, name="gate", extra_lines=("prediction",)), name="gate")
        setup_ashare_broker(cerebro)
        if kind == "plain":
            cerebro.addstrategy(Empty)
        else:
            cerebro.addstrategy(RankerGated, n_buy=10, daily_fraction=0.2, max_positions=50)
        t0 = time.perf_counter()
        strat = cerebro.run()[0]
        best = min(best, time.perf_counter() - t0)
        n_feeds, bars = len(feeds) + 1, len(feeds.calendar)
        if kind != "plain":
            log = [(r["created_date"], r["date"], r["symbol"], r["side"], r["size"], r["status"])
                   for r in strat.trades_log]  # fmt: skip
            orders = {"n": len(log), "sha": hashlib.sha256(repr(log).encode()).hexdigest()[:16]}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return dict(kind=kind, seconds=best, feeds=n_feeds, bars=bars,
                us_per_feed_bar=best / (n_feeds * bars) * 1e6, orders=orders, peak_mib=peak)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 150, 300])
    ap.add_argument("--repeat", type=int, default=2, help="runs per case; the fastest counts")
    ap.add_argument("--synthetic", action="store_true", help="synthetic panel, no data files")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--one", nargs=3, metavar=("PICKLE", "KIND", "REPEAT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], int(args.one[2]))))
        return

    print(f"{'stocks':>6} {'case':>10} {'feeds':>5} {'bars':>5} {'s':>7} {'us/feed-bar':>11} "
          f"{'x plain':>7} {'orders':>6} {'same':>5} {'peak MiB':>8}")  # fmt: skip
    for n in args.sizes:
        panel, gate = _panel(n, args.synthetic, args.data_dir)
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
            pickle.dump((panel, gate), fh)
        try:
            res = {}
            for kind in ("plain", "gated", "gated-next"):
                out = subprocess.run(
                    [sys.executable, __file__, "--one", fh.name, kind, str(args.repeat)],
                    capture_output=True, text=True, check=True,
                    env={**os.environ, "PYTHONPATH": os.getcwd()},
                )  # fmt: skip
                res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            os.unlink(fh.name)
        base = res["plain"]["us_per_feed_bar"]
        same = res["gated"]["orders"] == res["gated-next"]["orders"]
        for kind, r in res.items():
            o = r["orders"]
            print(f"{n:>6} {kind:>10} {r['feeds']:>5} {r['bars']:>5} {r['seconds']:>7.2f} "
                  f"{r['us_per_feed_bar']:>11.2f} {r['us_per_feed_bar'] / base:>7.2f} "
                  f"{(o or {}).get('n', '-')!s:>6} {('yes' if same else 'NO') if o else '':>5} "
                  f"{r['peak_mib']:>8.0f}")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    main()
