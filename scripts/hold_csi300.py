"""Backtest 1 by hand: hold 5 days on CSI 300 on an LSTM signal, the Backtrader way.

The same run as `btlstm run hold --data csi300`, written as a plain cerebro
script with btlstm's cerebro factory (feed, broker, analyzers), indicator and
strategy.

    python scripts/hold_csi300.py --data-dir ../shared/data
"""

import argparse

import btlstm  # noqa: F401  (quiet TensorFlow, Backtrader shims)
from btlstm.bt.cerebro import make_cerebro
from btlstm.bt.indicators import LSTMPredictor
from btlstm.data import load
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.report import add_comparison, collect, format_table, write_report
from btlstm.strategies import BuyAndHold, HoldNDays

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="hold-csi300-out")
args = ap.parse_args()

# 1. Data: CSI 300 2005-01-01 .. 2017-05-01; the feed holds only the test period.
csi = load("csi300", data_dir=args.data_dir, start="2005-01-01", end="2017-05-01")
history, test = csi.loc[:"2014-12-31"], csi.loc["2015-01-01":]

# 2. The seed's model and split: train 2005-2014, predict 2015-01 .. 2017-05.
config = WalkForwardConfig(
    mode="static",
    train_start="2005-01-01",
    train_end="2014-12-31",
    epochs=args.epochs,
    seed=args.seed,
)

# The run's cerebro: a lean feed, the index costs of [costs] (market "index"), the analyzers.
COSTS = dict(market="index", cash=1_000_000, commission=0.0003, slippage=0.0002)
cerebro = make_cerebro({"CSI300": test}, COSTS, analyzers=dict(signal=True, horizon=5))
cerebro.addstrategy(
    HoldNDays,
    hold=5,
    threshold=0.0,
    predictor=LSTMPredictor,
    predictor_kwargs=dict(config=config, history=history, progress=True),
)
strategy = cerebro.run()[0]

# 3. The baseline: buy-and-hold over the same bars with the same costs.
baseline = make_cerebro({"CSI300": test}, COSTS, analyzers={})
baseline.addstrategy(BuyAndHold)

# 4. Report: plain data (collect) -> terminal table + report.json, CSVs, PNGs, report.html.
run = collect(strategy, dict(title="Hold 5 days on CSI 300 (script)", config=config.to_dict()))
add_comparison(run, baseline.run()[0], "buy-and-hold CSI300")
write_report(run, args.out)
print(format_table(run.report))
sharpe = strategy.analyzers.sharpe.get_analysis()  # the ratio and the window it measured
print("analyzers: sharperatio", round(sharpe["sharperatio"], 4), "window", sharpe.get("window"))
