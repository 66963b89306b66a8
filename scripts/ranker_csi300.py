"""Backtest 2 by hand: the stock ranker on CSI 300 members, gated by the index LSTM.

The same run as `btlstm run ranker`, written as a plain cerebro script with
btlstm's pieces: walk-forward LambdaRank scores as a `score` line on each
stock feed, the index LSTMPredictor on a `gate` feed, the A-share broker
(lots, minimum commission, stamp tax, price limits, suspensions, T+1), and
the ranker alone / index / equal weight in the same report.

    python scripts/ranker_csi300.py --data-dir ../shared/data            # article period
    python scripts/ranker_csi300.py --symbols 50 --epochs 5 --out /tmp/r  # a quick look
"""

import argparse

import btlstm  # noqa: F401  (quiet TensorFlow, Backtrader shims)
from btlstm.bt.cerebro import make_cerebro
from btlstm.bt.indicators import LSTMPredictor
from btlstm.data import load
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.forecast.xswalkforward import RankerWalkForward, ranker_quality
from btlstm.report import add_comparison, collect, format_table, write_report
from btlstm.strategies.buyhold import BuyAndHold, EqualWeight
from btlstm.strategies.ranker import ARTICLE_CLAIM, SURVIVORSHIP_NOTE, RankerGated

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
ap.add_argument("--symbols", type=int, default=0, help="first N members only (0: all 300)")
ap.add_argument("--test-start", default="2015-01-01")
ap.add_argument("--test-end", default="2017-05-01")
ap.add_argument("--epochs", type=int, default=20)
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--out", default="ranker-csi300-out")
args = ap.parse_args()

# 1. Data: the members (Dec 2019 list: survivorship bias) and the CSI 300 index.
members = load("csi300_members", data_dir=args.data_dir, start="2005-01-01", end=args.test_end)
if args.symbols:
    members = dict(list(members.items())[: args.symbols])
index = load("csi300", data_dir=args.data_dir, start="2005-01-01", end=args.test_end)

# 2. One schedule for both models: train up to 2014, predict the test period.
config = WalkForwardConfig(
    mode="static",
    train_start="2005-01-01",
    train_end="2014-12-31",
    test_start=args.test_start,
    test_end=args.test_end,
    epochs=args.epochs,
    seed=args.seed,
)
ranker = RankerWalkForward(config)
scores = ranker.scores(members)  # date x symbol, NaN where no score is allowed
test = {}
for sym, f in members.items():
    f = f.loc[args.test_start :].copy()
    if len(f):
        f["score"] = scores[sym].reindex(f.index)
        test[sym] = f
history = index.loc[: args.test_start].iloc[:-1]
gate_test = index.loc[args.test_start :]


def cerebro_with_feeds(**analyzers):
    """The stocks as an aligned panel with `score` and `is_st` lines, the index as the
    `gate` feed, the A-share broker ([costs] market = "ashare": 0.03% with a 5 CNY
    minimum, stamp tax by date, lots, limits, suspensions, T+1; the index trades as an
    ETF at 0.03%) and btlstm's analyzers."""
    return make_cerebro(test, {"market": "ashare"}, panel=True, extra={"gate": gate_test},
                        lines=("score", "is_st"), analyzers=analyzers)  # fmt: skip


gated = cerebro_with_feeds(signal=True, horizon=5, benchmark="gate")
gated.addstrategy(
    RankerGated,
    predictor=LSTMPredictor,
    predictor_kwargs=dict(config=config, history=history, progress=True),
)
strategy = gated.run()[0]

# 3. Report: gated first, then the ranker alone, the index and the equal-weight universe.
quality = ranker_quality(scores.loc[args.test_start :], members, horizon=5)
quality.pop("daily")
meta = dict(
    title="Ranker gated by the CSI 300 LSTM (script)",
    config=config.to_dict(),
    warnings=[SURVIVORSHIP_NOTE, ARTICLE_CLAIM],
)
run = collect(strategy, meta, name="ranker gated")
run.report["scores"] = {"scorer": "ranker", "quality": quality}
run.files.update(strategy.report_files())
for name, cls, params in (
    ("ranker alone", RankerGated, dict(gate=False)),
    ("buy-and-hold index", BuyAndHold, dict(data_name="gate")),
    ("equal weight universe", EqualWeight, dict(exclude=("gate",))),
):
    c = cerebro_with_feeds()
    c.addstrategy(cls, **params)
    add_comparison(run, c.run()[0], name)
write_report(run, args.out)
print(format_table(run.report))
print("ranker rank IC:", {k: round(v, 4) for k, v in quality["rank_ic"].items()})
