"""Scale of the gated ranker backtest, and the fastest correct way to run many feeds.

For 50 / 150 / 300 stocks of ``csi300_members`` over 2015-01-05 .. 2017-05-01
(or a synthetic panel with ``--synthetic``), with precomputed scores (random,
seeded) and a precomputed gate line (``btlstm run ranker`` computes both
before Backtrader starts, so this is the backtest's own cost). Every case runs
in its own process, so its peak memory is its own, and the cases are
interleaved over ``--rounds`` rounds (the fastest round counts): the machine's
noise hits every case alike.

Part 1, scale (every size):

- ``plain``: THE BASELINE: the stock feeds aligned on one calendar with the
  ``score``, ``is_st`` and ``tradable`` lines, plus the gate feed, read
  bar by bar (``PandasFeed(lean=False)``: Backtrader's own load path), and an
  empty strategy; ``bt.Cerebro(stdstats=False)``, ``runonce=True``;
- ``gated``: the same feeds and cerebro, :class:`btlstm.strategies.ranker.RankerGated`
  (10 buys a day, 20% of the portfolio a day, 50 positions at most) on the
  A-share broker (``setup_ashare_broker`` on :class:`btlstm.bt.broker.PanelBroker`).
  Target: at most 1.3x ``plain``;
- ``gated-gcfreeze``: ``gated`` with ``gc.freeze()`` before ``cerebro.run``,
  as ``btlstm run`` runs it (still the baseline's feeds);
- ``gated-lean-gcfreeze``: the whole set-up of ``btlstm run``: also the lean
  feeds (``PandasFeed(lean=True)``: bulk preload, no per-bar tick copies).

Part 2, run modes (``--modes-size`` stocks, 300 by default), every gated case
checked for orders identical to ``gated`` (same orders, sizes, prices, status):

- ``plain-PandasData``: the baseline with Backtrader's stock ``PandasData``;
- ``plain-lean``: the baseline with btlstm's lean feed (``PandasFeed(lean=True)``:
  bulk preload, no per-bar tick copies);
- ``gated-BackBroker``: ``gated`` on Backtrader's ``BackBroker``;
- ``gated-next``: ``gated`` with ``runonce=False``;
- ``gated-lean``: ``gated`` on the lean feed (what ``btlstm run`` uses);
- ``gated-lean-next`` / ``gated-lean-nopreload`` / ``gated-lean-stdstats`` /
  ``gated-lean-gcfreeze``: the lean case with ``runonce=False`` / with
  ``preload=False`` (then bar-by-bar) / with Cerebro's default observers
  (``stdstats=True``: one BuySell observer per feed) / with ``gc.freeze()``
  before ``cerebro.run``;
- ``gated-lean-gcfreeze-nocheck``: also ``broker.set_checksubmit(False)`` (no
  margin pre-check per order; NOT used by btlstm: a strategy that overspends
  would then not be refused);
- ``gated-unaligned``: the raw frames, not aligned (Backtrader synchronises
  feeds with different dates itself): expected to give DIFFERENT orders,
  because a panel strategy counts bars on a shared calendar.

It prints microseconds per feed-bar (``cerebro.run`` seconds / (feeds x
bars)), the ratio to ``plain``, the orders count, whether the orders equal
``gated``'s, and peak resident memory.

    python scripts/bench_ranker_scale.py                        # both parts
    python scripts/bench_ranker_scale.py --sizes 50 --rounds 1 --modes-size 0
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
SCALE_CASES = ("plain", "gated", "gated-gcfreeze", "gated-lean-gcfreeze")
MODE_CASES = (
    "plain",
    "plain-PandasData",
    "plain-lean",
    "gated",
    "gated-BackBroker",
    "gated-next",
    "gated-gcfreeze",
    "gated-lean",
    "gated-lean-next",
    "gated-lean-nopreload",
    "gated-lean-stdstats",
    "gated-lean-gcfreeze",
    "gated-lean-gcfreeze-nocheck",
    "gated-unaligned",
)


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


def _pandasdata_class(extra):
    """Backtrader's stock PandasData with the same lines (columns by name)."""
    import backtrader as bt

    names = ("amount",) + tuple(extra)
    return type(
        "StockPandasData",
        (bt.feeds.PandasData,),
        {"lines": names, "params": (("datetime", None), ("openinterest", None))
         + tuple((x, -1) for x in names)},
    )  # fmt: skip


def one(path: str, kind: str) -> dict:
    """Run one case in this process; returns timing, orders and peak memory."""
    import gc

    import backtrader as bt

    import btlstm  # noqa: F401
    from btlstm.bt.analyzers import OrderLog
    from btlstm.bt.ashare import setup_ashare_broker
    from btlstm.bt.broker import PanelBroker
    from btlstm.bt.feeds import add_panel, align_frame, make_feed
    from btlstm.strategies.ranker import RankerGated

    with open(path, "rb") as fh:
        panel, gate = pickle.load(fh)

    lean = "lean" in kind
    kwargs = {"stdstats": "stdstats" in kind}
    if kind.endswith("-next"):
        kwargs["runonce"] = False
    if "nopreload" in kind:
        kwargs["preload"] = False
    cerebro = bt.Cerebro(**kwargs)
    if "BackBroker" not in kind:
        cerebro.broker = PanelBroker()
    extra = ("score", "is_st")
    if "unaligned" in kind:
        for sym, frame in panel.items():
            cerebro.adddata(make_feed(frame, name=sym, extra_lines=extra, lean=lean), name=sym)
        n_stocks, bars = len(panel), len(gate)
    elif "PandasData" in kind:
        cls = _pandasdata_class(extra + ("tradable",))
        cal = gate.index
        for sym, frame in panel.items():
            cerebro.adddata(cls(dataname=align_frame(frame, cal), name=sym), name=sym)
        n_stocks, bars = len(panel), len(cal)
    else:
        feeds = add_panel(cerebro, panel, extra_lines=extra, progress=False, lean=lean)
        n_stocks, bars = len(feeds), len(feeds.calendar)
    cerebro.adddata(
        make_feed(gate, name="gate", extra_lines=("prediction",), lean=lean), name="gate"
    )
    setup_ashare_broker(cerebro)
    if "nocheck" in kind:  # no margin pre-check of submitted orders (a safety check dropped)
        cerebro.broker.set_checksubmit(False)
    if kind.startswith("plain"):
        cerebro.addstrategy(bt.Strategy)
    else:
        cerebro.addstrategy(RankerGated, n_buy=10, daily_fraction=0.2, max_positions=50)
        cerebro.addanalyzer(OrderLog, _name="orders")  # the record of its orders
    gc.collect()
    if "gcfreeze" in kind:
        gc.freeze()
    t0 = time.perf_counter()
    strat = cerebro.run()[0]
    seconds = time.perf_counter() - t0
    orders = None
    if not kind.startswith("plain"):
        log = [(r["created_date"], r["date"], r["symbol"], r["side"], r["size"], r["price"],
                r["status"]) for r in strat.analyzers.orders.get_analysis()["orders"]]  # fmt: skip
        orders = {"n": len(log), "sha": hashlib.sha256(repr(log).encode()).hexdigest()[:16]}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
    return dict(kind=kind, seconds=seconds, feeds=n_stocks + 1, bars=bars,
                us_per_feed_bar=seconds / ((n_stocks + 1) * bars) * 1e6,
                orders=orders, peak_mib=peak)  # fmt: skip


def _measure(path: str, cases, rounds: int) -> dict:
    best: dict = {}
    for r in range(rounds):
        for kind in cases:
            out = subprocess.run(
                [sys.executable, __file__, "--one", path, kind],
                capture_output=True, text=True,
                env={**os.environ, "PYTHONPATH": os.getcwd()},
            )  # fmt: skip
            if out.returncode:
                sys.exit(f"case {kind} failed:\n{out.stderr[-3000:]}")
            res = json.loads(out.stdout.strip().splitlines()[-1])
            if kind not in best or res["seconds"] < best[kind]["seconds"]:
                best[kind] = res
            print(f"  round {r + 1}/{rounds} {kind}: {res['seconds']:.2f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    return best


def _table(n: int, res: dict) -> None:
    base = res["plain"]["us_per_feed_bar"]
    ref = res["gated"]["orders"]
    for kind, r in res.items():
        o = r["orders"]
        same = ("yes" if o == ref else "NO") if o else ""
        print(f"{n:>6} {kind:>21} {r['feeds']:>5} {r['bars']:>5} {r['seconds']:>7.2f} "
              f"{r['us_per_feed_bar']:>11.2f} {r['us_per_feed_bar'] / base:>7.2f} "
              f"{(o or {}).get('n', '-')!s:>6} {same:>5} {r['peak_mib']:>8.0f}")  # fmt: skip
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[50, 150, 300])
    ap.add_argument("--modes-size", type=int, default=300, help="stocks of part 2; 0: skip it")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; fastest counts")
    ap.add_argument("--synthetic", action="store_true", help="synthetic panel, no data files")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--one", nargs=2, metavar=("PICKLE", "KIND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(*args.one)))
        return

    header = (f"{'stocks':>6} {'case':>21} {'feeds':>5} {'bars':>5} {'s':>7} "
              f"{'us/feed-bar':>11} {'x plain':>7} {'orders':>6} {'same':>5} {'peak MiB':>8}")  # fmt: skip
    plan = [(n, SCALE_CASES) for n in args.sizes if n != args.modes_size]
    if args.modes_size:
        plan.append((args.modes_size, MODE_CASES))
    plan.sort()
    print(header)
    for n, cases in plan:
        panel, gate = _panel(n, args.synthetic, args.data_dir)
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as fh:
            pickle.dump((panel, gate), fh)
        try:
            res = _measure(fh.name, cases, args.rounds)
        finally:
            os.unlink(fh.name)
        _table(n, res)


if __name__ == "__main__":
    main()
