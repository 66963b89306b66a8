"""A strategy of your own, run by name by btlstm (docs/new-strategy.md).

    btlstm run dip --plugin examples/my_strategies.py          # or the module name
    btlstm run dip --config examples/dip.toml --plugin examples/my_strategies.py
                                     # the config names it too; --plugin is what imports it

It buys after a bearish LSTM forecast (a contrarian reading of Backtest 1) and
holds for `hold` bars; the LSTM predictor and the buy-and-hold baseline come
from btlstm, the rules are yours.
"""

import math

import backtrader as bt

from btlstm.registry import Baseline, register_strategy
from btlstm.strategies.buyhold import BuyAndHold


@register_strategy(
    "dip",
    predictor="lstm",  # btlstm attaches LSTMPredictor through predictor / predictor_kwargs
    hidden=("predictor", "predictor_kwargs"),
    defaults={
        "data": {"data": "csi300"},
        "model": {"mode": "static", "train_end": "2014-12-31", "test_start": "2015-01-01"},
    },
    baselines=[Baseline("buy-and-hold {feed}", BuyAndHold)],
)
class BuyTheDip(bt.Strategy):
    """Buy after a bearish forecast; sell `hold` bars later."""

    params = (
        ("hold", 5),  # bars to hold each position (>= 1)
        ("below", -0.1),  # buy when the forecast is below this
        ("predictor", None),
        ("predictor_kwargs", None),
    )

    def __init__(self):
        self.prediction = self.p.predictor(self.data, **(self.p.predictor_kwargs or {}))
        self.exit_bar = None

    def next(self):
        p = float(self.prediction[0])
        if not self.position and not math.isnan(p) and p < self.p.below:
            self.order_target_percent(target=0.95)
            self.exit_bar = len(self) + self.p.hold
        elif self.position and len(self) >= self.exit_bar:
            self.close()
