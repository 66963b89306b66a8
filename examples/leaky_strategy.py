"""A strategy that reads the future, on purpose: what ``btlstm check lookahead`` catches.

    btlstm check lookahead peek --plugin examples/leaky_strategy.py --learner ridge

It buys when TOMORROW's close is higher (``self.data.close[1]``: Backtrader's
preloaded lines let a strategy index ahead) and sells when it is lower. Its
backtest looks wonderful and is worthless; the check reports the first order at
or before a cut that changed when only later bars were rewritten
(docs/lookahead.md).
"""

import backtrader as bt

from btlstm.registry import register_strategy


@register_strategy(
    "peek",
    predictor=None,  # no model: the leak is in the rules
    signal=None,
    defaults={
        "data": {"data": "csi300"},
        "model": {"mode": "static", "train_end": "2014-12-31", "test_start": "2015-01-01",
                  "test_end": "2016-12-31"},
    },
)  # fmt: skip
class PeekNextClose(bt.Strategy):
    """Long when the next bar closes higher, flat otherwise (reads the future: a demo).

    Params:
      - ``size``: shares per buy.
    """

    params = (("size", 10),)

    def next(self):
        if len(self.data) >= self.data.buflen():  # the last bar has no tomorrow
            return
        up = self.data.close[1] > self.data.close[0]
        if up and not self.position:
            self.buy(size=self.p.size)
        elif not up and self.position:
            self.close()
