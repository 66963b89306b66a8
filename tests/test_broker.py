"""The index broker (btlstm.bt.broker): fills at the next open with the stated costs,
checked to the cent, and PanelBroker's books equal BackBroker's, shorts included."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btlstm.bt.broker import INDEX_COSTS, PanelBroker, setup_broker
from btlstm.bt.feeds import make_feed


def frame(n=8):
    idx = pd.bdate_range("2020-01-06", periods=n, name="date")
    opens = 100.0 + np.arange(n)  # 100, 101, ...
    closes = opens + 0.5
    return pd.DataFrame(
        {"open": opens, "high": closes + 1.0, "low": opens - 1.0, "close": closes,
         "volume": 1e6, "amount": 1e8},
        index=idx,
    )  # fmt: skip


class Script(bt.Strategy):
    """Orders of a script ``{bar: [(kind, size), ...]}``; records fills and cash."""

    params = (("script", None),)

    def __init__(self):
        self.fills = []  # (bar, side, size, price, commission)
        self.cash = []  # cash after each bar
        self.values = []  # portfolio value after each bar

    def notify_order(self, order):
        if order.status == order.Completed:
            ex = order.executed
            side = "buy" if order.isbuy() else "sell"
            self.fills.append((len(self) - 1, side, ex.size, ex.price, ex.comm))

    def next(self):
        for kind, size in (self.p.script or {}).get(len(self) - 1, []):
            getattr(self, kind)(size=size)
        self.cash.append(self.broker.getcash())
        self.values.append(self.broker.getvalue())


def run(script, broker=None, **costs):
    cerebro = bt.Cerebro(stdstats=False)
    if broker is not None:
        cerebro.broker = broker
    cerebro.adddata(make_feed(frame(), name="IDX"))
    setup_broker(cerebro, **costs)
    cerebro.addstrategy(Script, script=script)
    return cerebro.run()[0]


def test_an_order_at_a_close_fills_at_the_next_open_with_commission_and_slippage():
    strat = run({1: [("buy", 100)], 3: [("sell", 100)]})
    (b, s) = strat.fills
    # bar 2 opens at 102: +2 bps slippage; commission 3 bps of the traded value
    assert (b[0], b[1], b[2]) == (2, "buy", 100)
    assert b[3] == pytest.approx(102.0 * 1.0002)
    assert b[4] == pytest.approx(0.0003 * 100 * 102.0 * 1.0002)
    assert (s[0], s[1], s[2]) == (4, "sell", -100)
    assert s[3] == pytest.approx(104.0 * 0.9998)
    cash = INDEX_COSTS["cash"] - 100 * b[3] - b[4] + 100 * s[3] - s[4]
    assert strat.cash[-1] == pytest.approx(cash)
    assert strat.broker.getvalue() == pytest.approx(cash)


def test_cheat_on_close_only_when_asked():
    strat = run({1: [("buy", 100)]}, slippage_perc=0.0, commission=0.0, coc=True)
    # at bar 1's close (notified in the broker's next cycle)
    assert strat.fills == [(2, "buy", 100, 101.5, 0.0)]
    strat = run({1: [("buy", 100)]}, slippage_perc=0.0, commission=0.0)
    assert strat.fills == [(2, "buy", 100, 102.0, 0.0)]


@pytest.mark.parametrize("script", [
    {1: [("sell", 100)], 4: [("buy", 100)]},  # a short, then covered
    {1: [("buy", 300)], 2: [("sell", 500)], 5: [("buy", 200)]},  # long, short, flat
])  # fmt: skip
def test_panel_broker_books_equal_back_broker_with_short_positions(script):
    back = run(script)
    panel = run(script, broker=PanelBroker())
    assert panel.fills == back.fills
    assert panel.cash == pytest.approx(back.cash)
    assert panel.values == pytest.approx(back.values)  # the short's bars included
    assert min(back.values) < max(back.values)  # the short moved the value
    assert panel.broker.getvalue() == pytest.approx(back.broker.getvalue())
    assert panel.broker.getposition(panel.datas[0]).size == back.broker.getposition(
        back.datas[0]
    ).size
