"""A finished strategy's orders as tests read them: btlstm's OrderLog rows with bar numbers.

Strategies keep no order log of their own; :class:`btlstm.bt.analyzers.OrderLog`
(``add_standard_analyzers`` names it ``orders``) is the one record. Tests that
count bars get each row's ``bar`` (where its final notification arrived, the
fill bar of a completed order) and ``created_bar`` (where it was placed): the
positions of ``date`` and ``created_date`` on a feed's calendar.
"""

import backtrader as bt

from btlstm.bt.analyzers import OrderLog


def add_order_log(cerebro: bt.Cerebro) -> bt.Cerebro:
    """Attach OrderLog as ``orders`` and Backtrader's TradeAnalyzer as ``trades``."""
    cerebro.addanalyzer(OrderLog, _name="orders")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    return cerebro


def orders(strat, data=None) -> list[dict]:
    """OrderLog's rows, each with ``bar`` and ``created_bar`` on ``data``'s calendar (data0)."""
    data = strat.datas[0] if data is None else data
    bars = {bt.num2date(x).date(): i for i, x in enumerate(data.datetime.array)}
    return [
        {**row, "bar": bars[row["date"]], "created_bar": bars[row["created_date"]]}
        for row in strat.analyzers.orders.get_analysis()["orders"]
    ]
