"""Baselines: buy-and-hold one feed, and equal weight across all feeds.

Both honour a ``tradable`` line when the feed has one (as the feeds of
:func:`btlstm.bt.feeds.add_panel` do): they never place an order on a bar whose
``tradable[0]`` is 0 (a phantom or suspended bar); see
:func:`btlstm.bt.rebalance.is_tradable`.
"""

from __future__ import annotations

import backtrader as bt

from btlstm.bt.rebalance import Rebalancer, equal_weights, is_tradable

__all__ = ["BuyAndHold", "EqualWeight"]


class BuyAndHold(bt.Strategy):
    """Buy one feed on the first tradable bar and hold it to the end.

    Buy Logic:
      - on the first bar where the feed is tradable (and no order is pending):
        ``order_target_percent(target=percent / 100)``, a market order that
        fills at the next bar's open.
      - if that order is rejected (margin) or cancelled, try again next bar.

    Sell Logic:
      - never sells; the position is valued at the last close.

    The target is a share of the portfolio value at the signal bar's close;
    keep ``percent`` below 100 so an opening gap up does not make the order
    exceed the cash (Backtrader would reject it).
    """

    params = (
        ("percent", 99),  # share of the portfolio to invest, in percent (0, 100]
        ("data_name", None),  # name of the feed to hold (default: the first feed)
    )

    def __init__(self):
        if not 0 < self.p.percent <= 100:
            raise ValueError(f"percent: must lie in (0, 100], got {self.p.percent!r}")
        if self.p.data_name is None:
            self.target = self.datas[0]
        else:
            self.target = {d._name: d for d in self.datas}.get(self.p.data_name)
            if self.target is None:
                names = [d._name for d in self.datas]
                raise ValueError(f"data_name: no feed named {self.p.data_name!r} (feeds: {names})")
        self.order = None
        self.bought = False

    def notify_order(self, order):
        if order.status in (order.Submitted, order.Accepted):
            return
        if order.status == order.Completed:
            self.bought = True
        self.order = None

    def next(self):
        if self.bought or self.order is not None or not is_tradable(self.target):
            return
        self.order = self.order_target_percent(data=self.target, target=self.p.percent / 100.0)


class EqualWeight(bt.Strategy):
    """Hold every feed in equal weight, rebalanced monthly, weekly or never.

    Formula:
      - weight per feed = ``percent / 100 / n``, where ``n`` counts the feeds
        that are tradable now plus those held but untradable now (a suspended
        position cannot be traded; it keeps its value and its slot). Feeds
        named in ``exclude`` (e.g. a benchmark in the same run) are never held.

    Buy Logic:
      - on the first bar, and with ``rebalance='monthly'`` (``'weekly'``) on
        the first bar of every new month (ISO week) by the first feed's dates,
        every tradable feed gets
        ``order_target_percent(weight)``; orders that reduce a position are
        sent before those that increase one, so sales free cash first. Orders
        fill at the next bar's open.
      - ``rebalance='never'``: only the first bar; feeds that are not tradable
        then (late listings) are never bought.

    Sell Logic:
      - at a rebalance, overweight tradable feeds are cut back to the
        weight; feeds never become forced sales when they stop trading (their
        flat phantom bars keep the last close).

    The orders are sent by a :class:`btlstm.bt.rebalance.Rebalancer`: orders of
    the previous rebalance that are still pending at the next one (e.g. held
    back by :class:`btlstm.bt.feeds.TradableFiller` during a suspension) are
    cancelled before the new targets are set.
    """

    params = (
        ("rebalance", "monthly"),  # 'monthly', 'weekly' or 'never'
        ("percent", 99),  # total share of the portfolio invested, in percent (0, 100]
        ("exclude", ()),  # names of feeds never held (e.g. ("SPY",): the benchmark)
    )

    def __init__(self):
        names = [d._name for d in self.datas]
        unknown = [n for n in self.p.exclude if n not in names]
        if isinstance(self.p.exclude, str) or unknown:
            raise ValueError(
                f"exclude: expected a tuple of feed names (feeds: {names}), got {self.p.exclude!r}"
            )
        self.held = [d for d in self.datas if d._name not in self.p.exclude]
        if not self.held:
            raise ValueError(f"exclude: every feed is excluded ({self.p.exclude!r})")
        if self.p.rebalance not in ("monthly", "weekly", "never"):
            raise ValueError(
                f"rebalance: expected 'monthly', 'weekly' or 'never', got {self.p.rebalance!r}"
            )
        if not 0 < self.p.percent <= 100:
            raise ValueError(f"percent: must lie in (0, 100], got {self.p.percent!r}")
        self.rebalancer = Rebalancer(self)
        self.last_period = None  # the month (or ISO week) of the last bar seen
        self.rebalances = 0  # rebalances that had at least one tradable feed

    def notify_order(self, order):
        self.rebalancer.notify_order(order)

    def _due(self) -> bool:
        day = self.datas[0].datetime.date(0)
        period = day.isocalendar()[:2] if self.p.rebalance == "weekly" else day.replace(day=1)
        if self.last_period is None:
            self.last_period = period
            return True
        if period == self.last_period:
            return False
        self.last_period = period
        return self.p.rebalance != "never"

    def next(self):
        if not self._due():
            return
        targets = equal_weights(self, self.held, total=self.p.percent / 100.0)
        self.rebalancer.rebalance(targets)
        if any(is_tradable(d) for d in targets):
            self.rebalances += 1
