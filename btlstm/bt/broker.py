"""Broker set-up with explicit, documented trading costs.

btlstm trades an index (CSI 300, S&P sectors) *as if* through an index ETF or
an index future's cash equivalent: the index level is the price, there is no
stamp duty, and costs are those of a liquid ETF for an institutional account.

Defaults (also in :data:`INDEX_COSTS`, so reports can print what was assumed):

- ``cash = 1,000,000``: starting cash in the index currency.
- ``commission = 0.0003``: 3 basis points of traded value, charged on every
  fill, buy and sell alike (Backtrader percentage commission, stock-like).
- ``slippage_perc = 0.0002``: 2 basis points; buys fill 0.02% above and sells
  0.02% below the price they would otherwise get, capped at the bar's
  high/low (Backtrader ``slip_match=True``).
- ``slip_open = True``: slippage also applies to market orders filled at the
  next bar's open (Backtrader's default fill for orders placed at a close).
- ``coc = False``: no cheat-on-close; an order placed at bar t's close fills
  at bar t+1's open. Turn it on only to reproduce close-to-close research.

A round trip therefore costs about 2 x (3 + 2) = 10 bps.
"""

from __future__ import annotations

import backtrader as bt

from btlstm.checks import check_number

__all__ = ["INDEX_COSTS", "MARKETS", "PanelBroker", "check_number", "setup_broker"]

INDEX_COSTS = {
    "cash": 1_000_000.0,
    "commission": 0.0003,
    "slippage_perc": 0.0002,
    "coc": False,
    "slip_open": True,
}
"""Default costs of :func:`setup_broker` (index traded through an index ETF)."""

#: ``[costs] market`` values, the broker set-up of a run (:func:`btlstm.bt.cerebro.make_cerebro`):
#: ``"index"`` (:func:`setup_broker`), ``"ashare"`` and ``"us"`` (:mod:`btlstm.bt.ashare`).
MARKETS = ("index", "ashare", "us")


class PanelBroker(bt.brokers.BackBroker):
    """Backtrader's ``BackBroker`` with per-bar bookkeeping that scales with open positions.

    ``BackBroker`` walks every position it has ever seen at every bar, twice
    with a date conversion for interest, and values each of them, closed
    ones included. With hundreds of feeds (a stock panel) that is most of
    the strategy's cost. This broker gives the same cash, value, fills and
    notifications (tested against ``BackBroker`` on the ranker and hold
    strategies) and differs only in where it spends time:

      - the portfolio value sums the open positions only (closed ones are 0);
      - when no commission scheme charges interest (``interest == 0``, the
        default), the per-bar credit-interest pass is skipped; with interest
        it runs ``BackBroker.next`` unchanged;

    One visible difference: ``position.datetime`` is the time of the last
    fill, not of the last interest pass (nothing in Backtrader reads it
    without interest).

    Use it like ``BackBroker``: ``cerebro.broker = PanelBroker()``; then the
    ``setup_*_broker`` functions configure it. ``btlstm run`` uses it.
    """

    def _get_value(self, datas=None, lever=False):
        if datas is not None:
            return super()._get_value(datas, lever)
        every = self.positions
        self.positions = {d: p for d, p in every.items() if p.size}
        try:
            return super()._get_value(None, lever)
        finally:
            self.positions = every

    def next(self):
        if any(ci.p.interest for ci in self.comminfo.values()):
            return super().next()  # credit interest: Backtrader's own pass
        while self._toactivate:
            self._toactivate.popleft().activate()
        if self.p.checksubmit:
            self.check_submitted()
        self._process_order_history()
        self.pending.append(None)  # one pass over the pending queue, as BackBroker
        while True:
            order = self.pending.popleft()
            if order is None:
                break
            if order.expire():
                self.notify(order)
                self._ococheck(order)
                self._bracketize(order, cancel=True)
            elif not order.active():
                self.pending.append(order)
            else:
                self._try_exec(order)
                if order.alive():
                    self.pending.append(order)
                elif order.status == order.Completed:
                    self._bracketize(order)
        for data, pos in self.positions.items():
            if pos:
                comminfo = self.getcommissioninfo(data)
                self.cash += comminfo.cashadjust(pos.size, pos.adjbase, data.close[0])
                pos.adjbase = data.close[0]
        self._get_value()


def setup_broker(
    cerebro: bt.Cerebro,
    cash: float = INDEX_COSTS["cash"],
    commission: float = INDEX_COSTS["commission"],
    slippage_perc: float = INDEX_COSTS["slippage_perc"],
    coc: bool = INDEX_COSTS["coc"],
    slip_open: bool = INDEX_COSTS["slip_open"],
) -> bt.Cerebro:
    """Configure ``cerebro.broker`` with cash, commission and slippage.

    Args:
        cerebro: the ``bt.Cerebro`` whose (default ``BackBroker``) broker is set up.
        cash: starting cash, > 0. Default 1,000,000.
        commission: commission as a fraction of traded value per fill (both
            sides), >= 0. Default 0.0003 = 3 bps, an index ETF's cost.
        slippage_perc: slippage as a fraction of price (0.0002 = 2 bps), >= 0
            and < 1. Buys pay more, sells get less, capped at the bar's range.
        coc: cheat-on-close: fill market orders at the close of the bar that
            created them instead of the next bar's open. Default False.
        slip_open: apply slippage to fills at the open (the default fill of a
            market order). Default True.

    Returns:
        The same ``cerebro``, for chaining.

    Example:
        >>> import backtrader as bt
        >>> cerebro = setup_broker(bt.Cerebro(), cash=100_000.0)
        >>> cerebro.broker.getcash()
        100000.0
    """
    if not isinstance(cerebro, bt.Cerebro):
        raise TypeError(f"`cerebro` must be a backtrader.Cerebro, got {cerebro!r}")
    cash = check_number("`cash`", cash, lo=0, lo_open=True)
    commission = check_number(
        "`commission` (a fraction of traded value)", commission, 0, 1, hi_open=True
    )
    slippage_perc = check_number(
        "`slippage_perc` (a fraction of price)", slippage_perc, 0, 1, hi_open=True
    )

    broker = cerebro.broker
    broker.setcash(cash)
    broker.setcommission(commission=commission, stocklike=True)
    if slippage_perc > 0.0:
        broker.set_slippage_perc(
            slippage_perc, slip_open=bool(slip_open), slip_limit=True, slip_match=True
        )
    else:
        broker.set_slippage_perc(0.0, slip_open=bool(slip_open))
    broker.set_coc(bool(coc))
    return cerebro
