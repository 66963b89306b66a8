"""Rebalancing helpers for Backtrader strategies: a tradable check, equal
target weights and a :class:`Rebalancer` that moves a portfolio to target
weights (stale-order cancel, sells before buys, untradable bars skipped).

A strategy decides *what* to hold (a dict ``{data: weight}``); these helpers
decide *how* to send the orders, the same way for every strategy::

    class TopK(bt.Strategy):
        def __init__(self):
            self.rebalancer = Rebalancer(self)

        def notify_order(self, order):
            self.rebalancer.notify_order(order)

        def next(self):
            if self.due():
                self.rebalancer.rebalance({d: 0.33 for d in self.pick(3)})

Orders are market orders placed with ``order_target_percent`` at the signal
bar's close; they fill at the next bar's open (or at the next tradable bar's
open under :class:`btlstm.bt.feeds.TradableFiller`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import backtrader as bt

from btlstm.checks import check_int, check_number

__all__ = ["is_tradable", "equal_weights", "Rebalancer", "RETRY_CASH_SHARE"]

#: A resubmitted buy spends at most this share of the cash there is (the rest absorbs
#: the next open's gap), so it fills at the next open instead of being refused again.
RETRY_CASH_SHARE = 0.98


def is_tradable(data) -> bool:
    """Whether ``data`` may be traded on its current bar.

    True unless the feed has a ``tradable`` line (as the feeds of
    :func:`btlstm.bt.feeds.add_panel` do) whose value now is 0 or NaN: a phantom
    bar before a listing or after a delisting, or a suspension.

    Args:
        data: a Backtrader data feed.

    Returns:
        ``True`` or ``False``.

    Example:
        >>> import backtrader as bt
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"close": [1.0, 1.0], "tradable": [1.0, 0.0]},
        ...                      index=pd.bdate_range("2024-01-01", periods=2))
        >>> class Feed(bt.feeds.PandasData):
        ...     lines = ("tradable",)
        ...     params = (("tradable", "tradable"),)
        >>> class Probe(bt.Strategy):
        ...     def __init__(self):
        ...         self.seen = []
        ...     def next(self):
        ...         self.seen.append(is_tradable(self.data))
        >>> cerebro = bt.Cerebro(stdstats=False)
        >>> _ = cerebro.adddata(Feed(dataname=frame))
        >>> _ = cerebro.addstrategy(Probe)
        >>> cerebro.run()[0].seen
        [True, False]
    """
    if "tradable" not in data.getlinealiases():
        return True
    value = data.tradable[0]
    return value == value and value > 0


def equal_weights(strategy, datas: Iterable | None = None, total: float = 1.0) -> dict:
    """Equal target weights over the feeds that are tradable now, where a held
    position that cannot be traded now keeps its slot.

    Formula:
        ``weight = total / n``, ``n`` = feeds tradable now + feeds held but
        untradable now (a suspended position cannot be sold; it keeps its
        value and its share). Feeds neither tradable nor held get no entry.

    Args:
        strategy: the running ``bt.Strategy`` (for positions).
        datas: the candidate feeds; None is every feed of the strategy.
        total: the share of the portfolio to spread, e.g. 0.99.

    Returns:
        ``{data: weight}`` in the order of ``datas``; empty when nothing is
        tradable or held. The untradable held feeds are in it too:
        :meth:`Rebalancer.rebalance` leaves them alone.
    """
    check_number("`total`", total)
    feeds = list(strategy.datas if datas is None else datas)
    keep = [d for d in feeds if is_tradable(d) or strategy.getposition(d).size]
    if not keep:
        return {}
    weight = float(total) / len(keep)
    return {d: weight for d in keep}


def _label(data) -> str:
    return str(getattr(data, "_name", "") or data)


class Rebalancer:
    """Moves a strategy's portfolio to target weights, one rebalance at a time.

    Each :meth:`rebalance`:

      1. cancels the orders of this rebalancer that are still pending (e.g.
         held back by :class:`btlstm.bt.feeds.TradableFiller` over a suspension),
         so a stale target never fills after a new one was set;
      2. skips every feed that is not tradable now (:func:`is_tradable`): no
         order is placed for it, and a held position stays as it is;
      3. sends ``order_target_percent(data, weight)`` for the other feeds,
         those that reduce a position (target below the current weight)
         first, so sales free cash before the buys need it; ties keep the
         order of ``targets``.

    Orders are sized at the signal bar's close and fill at the next open. When
    the open gaps up (or the sales fetch less than their close), a buy can cost
    more than the cash there is, and Backtrader refuses it (status ``Margin``).
    The rebalancer then resubmits the target at once, sized on the refusal
    bar's close and capped at :data:`RETRY_CASH_SHARE` of the cash there is, so
    it fills at the following open (up to ``retries`` times per feed and
    rebalance): a target is a bar late, and at most 2% of the cash short of its
    weight, instead of missing for a whole rebalance period
    (``docs/strategies/rotation.md`` compares this with a larger cash margin).

    Feeds absent from ``targets`` are not touched: give a weight of 0.0 to
    close a position.

    Args:
        strategy: the ``bt.Strategy`` that owns the orders.
        reason: stored in each order's ``info["reason"]`` (shown by the
            ``orders`` analyzer); None stores nothing.
        retries: resubmissions of a ``Margin``-refused order per feed and
            rebalance (0: none); each resubmitted order carries
            ``info["retry"]`` = 1, 2, ...

    Attributes:
        retried: ``(date, feed name, attempt)`` of every resubmission.

    The strategy must forward its order notifications::

        def notify_order(self, order):
            self.rebalancer.notify_order(order)
    """

    def __init__(self, strategy, reason: str | None = "rebalance", retries: int = 3):
        if not isinstance(strategy, bt.Strategy):
            raise TypeError(f"`strategy` must be a backtrader.Strategy, got {strategy!r}")
        if reason is not None and not isinstance(reason, str):
            raise ValueError(f"`reason` must be a string or None, got {reason!r}")
        check_int("`retries`", retries, lo=0)
        self.strategy = strategy
        self.reason = reason
        self.retries = retries
        self.pending: dict[int, bt.Order] = {}  # ref -> order still alive
        self.count = 0  # calls of rebalance()
        self.targets: dict = {}  # data -> weight of the latest rebalance
        self._tries: dict = {}  # data -> resubmissions for the latest rebalance
        self.retried: list = []  # (date, feed name, attempt) of every resubmission

    def notify_order(self, order) -> None:
        """Forget an order of this rebalancer once it is finished (filled,
        cancelled, rejected, margin, expired); resubmit a ``Margin``-refused one."""
        if order.ref in self.pending and not order.alive():
            del self.pending[order.ref]
            if order.status == order.Margin:
                self._resubmit(order.data)

    def _resubmit(self, data) -> None:
        """The same target weight again, sized on this bar's close (fills at the next open)."""
        n = self._tries.get(data, 0)
        if data not in self.targets or n >= self.retries:
            return
        self._tries[data] = n + 1
        broker = self.strategy.broker
        value = broker.getvalue()
        if not value > 0:
            return
        reach = (broker.getvalue(datas=[data]) + RETRY_CASH_SHARE * broker.getcash()) / value
        target = min(float(self.targets[data]), reach)
        order = self.strategy.order_target_percent(data=data, target=target)
        if order is None:
            return
        order.addinfo(retry=n + 1)
        if self.reason is not None:
            order.addinfo(reason=self.reason)
        self.pending[order.ref] = order
        self.retried.append((data.datetime.date(0), _label(data), n + 1))

    def cancel_pending(self, detail: str = "cancelled by the strategy") -> list:
        """Cancel this rebalancer's orders that are still alive (``info["detail"]``
        says why); returns them."""
        stale = [o for o in self.pending.values() if o.alive()]
        for order in stale:
            order.addinfo(detail=detail)
            self.strategy.cancel(order)
        self.pending.clear()
        return stale

    def rebalance(self, targets: Mapping) -> list:
        """Cancel stale orders, then order every tradable feed to its target weight.

        Args:
            targets: ``{data: weight}``, weights as fractions of the portfolio
                value (0.25 = 25%; 0.0 closes the position).

        Returns:
            The orders placed (``order_target_percent`` places none for a
            feed already at its target).
        """
        if not isinstance(targets, Mapping):
            raise TypeError(f"`targets` must be a dict {{data: weight}}, got {targets!r}")
        for data, weight in targets.items():
            check_number(f"`targets`: the weight of {_label(data)!r}", weight)
        self.count += 1
        when = self.strategy.datetime.date(0) if len(self.strategy) else None
        self.cancel_pending(detail=f"stale: replaced by the rebalance of {when}")
        self.targets = dict(targets)
        self._tries = {}
        strategy = self.strategy
        tradable = [d for d in targets if is_tradable(d)]
        if not tradable:
            return []
        broker = strategy.broker
        value = broker.getvalue()
        current = {d: broker.getvalue(datas=[d]) / value if value else 0.0 for d in tradable}
        placed = []
        for data in sorted(tradable, key=lambda d: targets[d] - current[d]):
            order = strategy.order_target_percent(data=data, target=float(targets[data]))
            if order is None:
                continue
            if self.reason is not None:
                order.addinfo(reason=self.reason)
            self.pending[order.ref] = order
            placed.append(order)
        return placed
