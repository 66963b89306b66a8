"""Backtest 1 as a paper run: scripts/hold_csi300.py on a live replay feed.

Five lines differ from the backtest script (marked ``# live``): the cerebro
factory (``btlstm.bt.cerebro.make_cerebro``, the same broker and analyzers) builds
a ``ReplayFeed`` on a ``ReplayClock`` (Backtrader's live path: no preload, no
runonce, ``_load`` returns None until a bar is due), and the predictor is
``LiveLSTMPredictor`` with a ``LiveSession`` (fits run off the bar loop; each
prediction names its model version). docs/live.md walks through it, and on to
a broker's feed.

    python scripts/paper_hold_csi300.py --data-dir ../shared/data                  # waits for fits
    python scripts/paper_hold_csi300.py --fits background --speed 864000            # 10 days a second
"""

import argparse
import math

import btlstm  # noqa: F401  (quiet TensorFlow, Backtrader shims)
from btlstm.bt.cerebro import make_cerebro
from btlstm.data import load
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.live import LiveLSTMPredictor, LiveSession, ReplayClock, replay_feed
from btlstm.strategies import HoldNDays


class PaperHold(HoldNDays):
    """HoldNDays, printing the feed's status changes and each model change."""

    def notify_data(self, data, status, *a, **kw):
        print(f"{data._name}: {data._getstatusname(status)}")

    def next(self):
        super().next()
        v = self.predictor.model_version[0]
        if not math.isnan(v) and v != getattr(self, "_shown", None):
            self._shown = v
            print(f"{self.data.datetime.date(0)}: predictions from model v{int(v)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", help="data directory (default $BTLSTM_DATA)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", type=float, default=0.0, help="0: as fast as possible")
    ap.add_argument("--fits", choices=["wait", "background"], default="wait")
    ap.add_argument("--cache-dir", default="paper-hold-models", help="the model files")
    args = ap.parse_args()

    csi = load("csi300", data_dir=args.data_dir, start="2005-01-01", end="2017-05-01")
    history, test = csi.loc[:"2014-12-31"], csi.loc["2015-01-01":]
    config = WalkForwardConfig(
        mode="static",
        train_start="2005-01-01",
        train_end="2014-12-31",
        epochs=args.epochs,
        seed=args.seed,
    )
    session = LiveSession(wait=args.fits == "wait", cache_dir=args.cache_dir)  # live

    clock = ReplayClock(speed=args.speed)  # live
    costs = dict(market="index", cash=1_000_000, commission=0.0003, slippage=0.0002)
    cerebro = make_cerebro(
        {"CSI300": test},
        costs,
        feed=lambda frame, name, lines: replay_feed(frame, clock, name=name),  # live
        analyzers=dict(signal=True, horizon=5),
    )
    cerebro.addstrategy(
        PaperHold,
        hold=5,
        threshold=0.0,
        predictor=LiveLSTMPredictor,  # live
        predictor_kwargs=dict(config=config, history=history, session=session),  # live
    )
    try:
        strategy = cerebro.run()[0]
    finally:
        session.close()  # the fit worker, if any
    for v in session.streams["CSI300"].versions:
        print(v.to_dict())
    print("final value", round(strategy.broker.getvalue(), 2))


if __name__ == "__main__":  # a fit worker process imports this file: run only here
    main()
