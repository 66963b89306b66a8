"""Sector rotation on pooled LSTM forecasts, the Backtrader way.

The same run as ``btlstm run rotation`` (the registered defaults: nine SPDR
sector ETFs on total-return prices, one pooled walk-forward LSTM forecasting
each sector's 21-bar forward return, top 2 rebalanced monthly, 1 bp
commission + 1 bp slippage) written as a plain cerebro script, with its
baselines: SPY buy-and-hold, equal-weight sectors, 3-month and 12-1 momentum.

    python scripts/rotation_sectors.py --data-dir ../shared/data          # 2005-01 .. 2025-09
    python scripts/rotation_sectors.py --start 2019-01-02 --end 2019-07-01 --cash 100000
"""

import argparse

import btlstm  # noqa: F401  (quiet TensorFlow, Backtrader shims)
from btlstm.bt.cerebro import make_cerebro
from btlstm.bt.indicators import PredictionPool
from btlstm.data import load
from btlstm.data.adjust import total_return
from btlstm.report import add_comparison, collect, forecasts_table, format_table, write_report
from btlstm.settings import Settings
from btlstm.strategies.buyhold import BuyAndHold, EqualWeight
from btlstm.strategies.momentum import MomentumRotation
from btlstm.strategies.rotation import ROTATION_COSTS, SectorRotation

#: The article's published final values, Jan-Jun 2019 from $100,000.
ARTICLE_2019 = {"LSTM top-2": 133_111, "SPY": 117_349, "rules-based rotation": 133_234}

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
ap.add_argument("--start", default="2005-01-01", help="first bar of the backtest")
ap.add_argument("--end", default="2025-09-30", help="last bar of the backtest")
ap.add_argument("--cash", type=float, default=1_000_000.0)
ap.add_argument("--topk", type=int, default=2)
ap.add_argument("--rebalance", default="monthly", choices=["monthly", "weekly"])
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="rotation-out")
args = ap.parse_args()

# 1. Data: nine sectors + SPY on total-return prices (dividends reinvested); the
#    feeds hold the backtest period, the model trains on the bars before it.
settings = Settings.from_dict(
    {"strategy": {"name": "rotation"}, "model": {"test_start": args.start, "seed": args.seed}}
)
config = settings.model  # the registered defaults: horizon 21, retrain every 126 bars, ...
etfs = {k: total_return(v) for k, v in load("sector_etfs", data_dir=args.data_dir).items()}
etfs = {k: v.loc[config.train_start : args.end] for k, v in etfs.items()}
history = {k: v.loc[v.index < args.start] for k, v in etfs.items()}
test = {k: v.loc[v.index >= args.start] for k, v in etfs.items()}
costs = dict(market="index", cash=args.cash, **ROTATION_COSTS)  # [costs]: 1 bp + 1 bp


def cerebro_for(strategy, analyzers=None, **params):
    """The ten ETFs as an aligned panel, the ETF costs, btlstm's analyzers, the strategy."""
    cerebro = make_cerebro(test, costs, panel=True, analyzers=analyzers or {})
    cerebro.addstrategy(strategy, **params)
    return cerebro


# 2. The rotation: one PredictionPool (one model for the nine sectors) shared by a
#    PooledPredictor per sector inside the strategy.
pool = PredictionPool(config=config, history=history, progress=True)
measured = dict(signal=True, horizon=config.horizon, benchmark="SPY")  # relative to SPY
rotation = cerebro_for(SectorRotation, measured, pool=pool, topk=args.topk,
                       rebalance=args.rebalance)  # fmt: skip
strategy = rotation.run()[0]
run = collect(
    strategy,
    dict(
        title="Sector rotation (script)",
        config=config.to_dict(),
        costs=costs,
        provenance={"adjusted": "total_return", "dataset": "sector_etfs"},
    ),  # fmt: skip
    name="rotation",
)
run.tables["forecasts"] = forecasts_table(run.tables["predictions"])

# 3. Baselines: same bars, same costs, same rebalance schedule.
baselines = [
    ("buy-and-hold SPY", BuyAndHold, dict(data_name="SPY")),
    ("equal-weight sectors", EqualWeight, dict(exclude=("SPY",))),
    ("momentum 3m top-2", MomentumRotation, dict(momentum="3m", history=history)),
    ("momentum 12-1 top-2", MomentumRotation, dict(momentum="12-1", history=history)),
]
for name, cls, params in baselines:
    if cls is MomentumRotation:
        params.update(topk=args.topk, rebalance=args.rebalance)
    c = cerebro_for(cls, **params)
    add_comparison(run, c.run()[0], name)

# 4. Report: table, per-year returns, files.
write_report(run, args.out)
print(format_table(run.report))
print("\nfinal values:")
for row in run.report["comparison"]:
    print(f"  {row['name']:<24} {args.cash * (1 + row['total_return']):>14,.0f}")
if args.start.startswith("2019-01") and args.end.startswith("2019-07"):
    print("  the article (Jan-Jun 2019, $100,000):", ARTICLE_2019)
print("\nper year:")
for year, rows in run.report["per_year"].items():
    print(" ", year, "  ".join(f"{k} {v:+.1%}" for k, v in rows.items()))
