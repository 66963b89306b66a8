"""Benchmark: real data through the catalogue -> add_panel -> cerebro with analyzers.

Two runs, each an equal-weight monthly-rebalanced portfolio with Backtrader's
standard analyzers (Returns, DrawDown, SharpeRatio on daily returns with a 0
risk-free rate, annualised; TradeAnalyzer; TimeReturn):

  1. ``sector_etfs``: the nine SPDR sectors + SPY (10 feeds);
  2. ``csi300_members``: the first ``--members`` codes (default 100) that have
     bars from the start to the end of the period (default 2010..2019).

For each run it prints the load time, the cerebro run time, bars x feeds,
microseconds per feed-bar (wall and CPU: on a shared machine
CPU time is the fairer number), peak memory and the headline analyzer values. With
``--compare-loader`` it also times feeding the sector panel through
Backtrader's own ``PandasData`` (cell-by-cell ``iloc``) against btlstm's
``PandasFeed`` (preconverted arrays) and prints the ratio.

Usage::

    python scripts/bench_data.py --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import backtrader as bt
import pandas as pd

import btlstm  # noqa: F401  (compat patches before Backtrader runs)
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.broker import PanelBroker
from btlstm.bt.feeds import add_panel
from btlstm.data.catalog import load
from btlstm.strategies.buyhold import EqualWeight


def _maxrss_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)


def run_panel(label, panel, load_s, cash, commission, start, end, broker="panel"):
    """Add ``panel`` with add_panel, run EqualWeight + analyzers, print the numbers."""
    cerebro = bt.Cerebro(stdstats=False)
    if broker == "panel":  # btlstm's set-up (btlstm run): per-bar work over open positions
        cerebro.broker = PanelBroker()
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=commission)
    t0 = time.perf_counter()
    feeds = add_panel(cerebro, panel, fromdate=start, todate=end, progress=True)
    add_s = time.perf_counter() - t0
    cerebro.addstrategy(EqualWeight, rebalance="monthly", percent=98)
    add_standard_analyzers(cerebro)
    t0, c0 = time.perf_counter(), time.process_time()
    strat = cerebro.run()[0]
    run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    bars, nfeeds = len(feeds.calendar), len(feeds)
    a = strat.analyzers
    ret = a.returns.get_analysis()
    dd = a.drawdown.get_analysis()
    sharpe = a.sharpe.get_analysis().get("sharperatio")
    tr = a.trades.get_analysis()
    daily = pd.Series(a.timereturn.get_analysis())
    total = tr.get("total", {})
    print(f"== {label}")
    print(f"  period              {feeds.calendar[0].date()} .. {feeds.calendar[-1].date()}")
    print(f"  load (catalogue)    {load_s:8.2f} s")
    print(f"  add_panel           {add_s:8.2f} s  (phantom bars: {sum(feeds.phantom.values())})")
    print(f"  cerebro.run         {run_s:8.2f} s wall, {cpu_s:.2f} s CPU")
    print(f"  bars x feeds        {bars} x {nfeeds} = {bars * nfeeds}")
    per = 1e6 / (bars * nfeeds)
    print(f"  us per feed-bar     {per * run_s:8.1f} wall, {per * cpu_s:.1f} CPU")
    print(f"  peak RSS so far     {_maxrss_mb():8.0f} MB")
    print(f"  final value         {cerebro.broker.getvalue():,.2f} (start {cash:,.0f})")
    print(f"  total return        {100 * (cerebro.broker.getvalue() / cash - 1):8.2f} %")
    print(f"  annual return       {ret.get('rnorm100', float('nan')):8.2f} % (Returns.rnorm100)")
    print(f"  max drawdown        {dd.max.drawdown:8.2f} %  ({dd.max.len} bars)")
    print(f"  Sharpe (daily, rf=0, annualised) {sharpe if sharpe is None else f'{sharpe:.3f}'}")
    print(f"  trades              {total.get('total', 0)} opened, {total.get('closed', 0)} closed")
    print(f"  TimeReturn days     {len(daily)}; best {daily.max():+.4f}, worst {daily.min():+.4f}")
    print(f"  rebalances          {strat.rebalances}")
    return feeds


def compare_loader(feeds):
    """Time a do-nothing run over the same aligned frames: PandasData vs PandasFeed."""
    frames = [(f._name, f.p.dataname) for f in feeds]
    times = {}
    for label, cls in (
        ("bt.feeds.PandasData", bt.feeds.PandasData),
        ("PandasFeed", type(feeds[0])),
    ):
        cerebro = bt.Cerebro(stdstats=False)
        for name, df in frames:
            cerebro.adddata(cls(dataname=df, name=name))
        cerebro.addstrategy(bt.Strategy)
        t0 = time.perf_counter()
        cerebro.run()
        times[label] = time.perf_counter() - t0
    print("== loader comparison (same frames, empty strategy)")
    for label, s in times.items():
        print(f"  {label:20s} {s:6.2f} s")
    print(
        f"  ratio PandasData / PandasFeed = {times['bt.feeds.PandasData'] / times['PandasFeed']:.2f}"
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="data directory (default: $BTLSTM_DATA)")
    ap.add_argument("--start", default="2010-01-01", help="first date (default 2010-01-01)")
    ap.add_argument("--end", default="2019-12-31", help="last date (default 2019-12-31)")
    ap.add_argument("--members", type=int, default=100, help="CSI 300 members to use (100)")
    ap.add_argument("--tracemalloc", action="store_true", help="also trace Python allocations")
    ap.add_argument("--compare-loader", action="store_true", help="time PandasData vs PandasFeed")
    args = ap.parse_args(argv)
    if args.members < 1:
        ap.error(f"--members: expected >= 1, got {args.members}")
    if args.tracemalloc:
        tracemalloc.start()
    start, end = pd.Timestamp(args.start), pd.Timestamp(args.end)

    t0 = time.perf_counter()
    etfs = load("sector_etfs", data_dir=args.data_dir, start=start, end=end)
    load_s = time.perf_counter() - t0
    feeds = run_panel("sector_etfs (9 sectors + SPY)", etfs, load_s, 100_000.0, 0.0005, start, end)
    if args.compare_loader:
        compare_loader(feeds)

    t0 = time.perf_counter()
    # 2 OHLC-inconsistent rows in the file: drop them (each is logged)
    members = load("csi300_members", data_dir=args.data_dir, start=start, end=end, repair="drop")
    slack = pd.Timedelta(days=10)  # New Year holidays: first/last bars fall near the bounds
    span = [
        code
        for code, f in members.items()
        if f.index[0] <= start + slack and f.index[-1] >= end - slack
    ]
    chosen = {code: members[code] for code in span[: args.members]}
    load_s = time.perf_counter() - t0
    print(
        f"\n(csi300_members: {len(span)} of {len(members)} codes span the period; using {len(chosen)})"
    )
    for broker in ("back", "panel"):  # Backtrader's BackBroker, then btlstm's
        run_panel(
            f"csi300_members ({len(chosen)} stocks, {broker} broker)", chosen, load_s,
            1_000_000.0, 0.001, start, end, broker=broker,
        )  # fmt: skip

    if args.tracemalloc:
        _, peak = tracemalloc.get_traced_memory()
        print(f"\ntracemalloc peak      {peak / 2**20:8.0f} MB")
    print(f"peak RSS (process)    {_maxrss_mb():8.0f} MB")


if __name__ == "__main__":
    main()
