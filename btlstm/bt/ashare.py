"""A-share (and plain US) trading rules as reusable Backtrader pieces.

Semantics: ``docs/strategies/ranker.md`` (section "A-share trading rules").
The defaults are stated once, in :data:`ASHARE_COSTS` (and :data:`US_COSTS`),
so reports can print what was assumed.

Pieces:

- :class:`AShareCommission` (``bt.CommInfoBase``): commission per side as a
  share of traded value with a minimum per order (``max(rate * value, 5)``),
  plus stamp tax by the fill's date from ONE table, :data:`STAMP_TAX`; its
  ``getsize`` rounds sizes down to lots of 100, so ``order_target_*`` and
  sizers buy whole lots.
- :func:`round_lot` and :class:`LotSizer`: buy sizes rounded down to lots of
  100; a sale may close an odd remainder.
- :class:`AShareFiller` (a :class:`btlstm.bt.feeds.TradableFiller`): the order
  checks at fill time. No fill on a suspended bar (``tradable`` 0), no buy at
  limit-up and no sale at limit-down against the previous close (10%; 5% for
  ST stocks by the ``is_st`` line; 20% for ChiNext ``300xxx`` from
  2020-08-24 and STAR ``688xxx``), T+1 (shares bought on a date are never
  sold on that date). A blocked order gets size 0 for that bar and stays
  pending (Backtrader retries it at the next bar's open); strategies that
  want day orders cancel it (:class:`btlstm.strategies.ranker.RankerGated` cancels
  unfilled buys after one bar and keeps retrying sales).
- :func:`setup_ashare_broker` wires all of it into a cerebro;
  :func:`setup_us_broker` sets a plain per-share commission (US stocks).

T+1 with daily bars: orders are decided at bar t's close and fill at bar
t+1's open, so a position bought at t+1's open can at the earliest be sold by
a decision at t+1's close, filling at t+2's open: the daily-bar timing
already obeys T+1. The filler still enforces it (a sale on the date of a buy
of the same stock is capped to the shares held before that date), so
cheat-on-close or intraday feeds cannot break it silently.

The limit test is approximate on forward-adjusted (qfq) prices: the ratio to
the previous close is off across ex-dividend days and limit prices are
rounded to the cent, so a fill price counts as *at the limit* when its move
is within :data:`ASHARE_COSTS` ``["limit_tolerance"]`` (0.2 percentage points)
of the limit: a buy opening at +9.8% or more on the main board is refused.
"""

from __future__ import annotations

import datetime as _dt
import re

import backtrader as bt

from btlstm import _compat  # noqa: F401  (Backtrader on Python 3.10+)
from btlstm.bt.feeds import TradableFiller
from btlstm.checks import check_int, check_number

__all__ = [
    "ASHARE_COSTS",
    "US_COSTS",
    "STAMP_TAX",
    "stamp_tax",
    "price_limit",
    "round_lot",
    "AShareCommission",
    "PerShareCommission",
    "LotSizer",
    "AShareFiller",
    "setup_ashare_broker",
    "setup_us_broker",
]

#: Stamp tax history (fraction of traded value) as ONE table: (from date, buy rate,
#: sell rate); each row holds until the next. 2005 onwards as in docs/strategies/ranker.md;
#: the two earlier rows (0.4% from 1998-06-12, 0.2% from 2001-11-16, both sides) are the
#: published rates before that.
STAMP_TAX = (
    (_dt.date(1998, 6, 12), 0.004, 0.004),
    (_dt.date(2001, 11, 16), 0.002, 0.002),
    (_dt.date(2005, 1, 24), 0.001, 0.001),
    (_dt.date(2007, 5, 30), 0.003, 0.003),
    (_dt.date(2008, 4, 24), 0.001, 0.001),
    (_dt.date(2008, 9, 19), 0.0, 0.001),
    (_dt.date(2023, 8, 28), 0.0, 0.0005),
)

ASHARE_COSTS = {
    "cash": 1_000_000.0,  # starting cash, CNY
    "commission": 0.0003,  # per side, fraction of traded value
    "min_commission": 5.0,  # CNY per order (each fill), both sides
    "stamp_tax": "historical",  # STAMP_TAX by the fill's date (or a fixed rate on sales)
    "slippage_perc": 0.0002,  # fraction of price, capped at the bar's range
    "lot": 100,  # buys in multiples of 100 shares; a sale may close an odd remainder
    "limit": 0.10,  # price limit vs the previous close, main boards
    "limit_st": 0.05,  # ST stocks (is_st line = 1)
    "limit_growth": 0.20,  # ChiNext 300xxx from 2020-08-24, STAR 688xxx always
    "chinext_20_from": "2020-08-24",
    "limit_tolerance": 0.002,  # a move within 0.2 points of the limit counts as at the limit
    "t_plus_one": True,  # shares bought on a date are not sold on that date
}
"""Default A-share rules and costs of :func:`setup_ashare_broker` (reported with each run)."""

US_COSTS = {
    "cash": 1_000_000.0,  # starting cash, USD
    "per_share": 0.005,  # USD per share, both sides
    "min_per_order": 1.0,  # USD per order
    "slippage_perc": 0.0002,
}
"""Default US stock costs of :func:`setup_us_broker` (a plain per-share commission)."""

_CHINEXT_20 = _dt.date.fromisoformat(ASHARE_COSTS["chinext_20_from"])
_CODE = re.compile(r"(\d{6})")


def _as_date(when) -> _dt.date:
    if isinstance(when, _dt.datetime):
        return when.date()
    if isinstance(when, _dt.date):
        return when
    if hasattr(when, "date"):  # pandas Timestamp
        return when.date()
    return _dt.date.fromisoformat(str(when)[:10])


def stamp_tax(when, sell: bool) -> float:
    """Stamp tax rate (fraction of value) of a fill on date ``when``.

    Example:
        >>> stamp_tax("2008-09-18", sell=False), stamp_tax("2008-09-19", sell=False)
        (0.001, 0.0)
        >>> stamp_tax("2015-06-01", sell=True), stamp_tax("2023-08-28", sell=True)
        (0.001, 0.0005)
    """
    day = _as_date(when)
    rate = 0.0
    for start, buy, sale in STAMP_TAX:
        if day >= start:
            rate = sale if sell else buy
    return rate


def price_limit(symbol, when, is_st: bool = False, costs: dict | None = None) -> float:
    """Daily price limit (fraction of the previous close) of ``symbol`` on ``when``.

    5% for ST stocks, 20% for STAR (``688xxx``) and for ChiNext (``300xxx``,
    ``301xxx``) from 2020-08-24, else 10%. The code is the first 6 digits in
    ``symbol`` (``sz.300750``, ``300750.SZ``, ``300750``).

    Example:
        >>> price_limit("sh.600000", "2015-01-05"), price_limit("sh.600000", "2015-01-05", True)
        (0.1, 0.05)
        >>> price_limit("sz.300750", "2020-08-21"), price_limit("sz.300750", "2020-08-24")
        (0.1, 0.2)
    """
    c = ASHARE_COSTS if costs is None else {**ASHARE_COSTS, **costs}
    if is_st:
        return c["limit_st"]
    board = _board(symbol)
    if board == "star":
        return c["limit_growth"]
    if board == "chinext":
        start = _as_date(c["chinext_20_from"])
        return c["limit_growth"] if _as_date(when) >= start else c["limit"]
    return c["limit"]


def _board(symbol) -> str:
    """``"star"`` (688xxx), ``"chinext"`` (300xxx, 301xxx) or ``"main"``, by the code."""
    m = _CODE.search(str(symbol or ""))
    code = m.group(1) if m else ""
    if code.startswith("688"):
        return "star"
    if code.startswith(("300", "301")):
        return "chinext"
    return "main"


def round_lot(size, lot: int = ASHARE_COSTS["lot"]) -> int:
    """``size`` rounded toward zero to a multiple of ``lot`` (buys in whole lots).

    Example:
        >>> round_lot(1234), round_lot(99), round_lot(-250)
        (1200, 0, -200)
    """
    check_int("`lot`", lot, lo=1)
    n = int(abs(size)) // lot * lot
    return n if size >= 0 else -n


class AShareCommission(bt.CommInfoBase):
    """A-share costs: commission with a minimum per order, plus stamp tax by date.

    Formula (per fill of ``size`` shares at ``price``, value = ``|size| * price``):
      - commission = ``max(commission * value, min_commission)`` (both sides);
      - stamp tax = ``rate(date, side) * value`` (:data:`STAMP_TAX` when
        ``stamp_tax`` is None, else ``stamp_tax`` on sales only);
      - total = commission + stamp tax; 0 for a size of 0.

    Sizes: :meth:`getsize` (used by ``order_target_*`` and sizers) rounds
    down to ``lot`` shares.

    Params:
      - ``commission`` (0.0003): fraction of traded value per side.
      - ``min_commission`` (5.0): minimum commission per fill.
      - ``stamp_tax`` (None): None = historical table; a float = that rate on sales.
      - ``lot`` (100): buy lot.
      - ``clock`` (None): a data feed whose current date dates the fills
        (any feed of an aligned panel); needed for the historical table.
    """

    params = (
        ("commission", ASHARE_COSTS["commission"]),
        ("min_commission", ASHARE_COSTS["min_commission"]),
        ("stamp_tax", None),
        ("lot", ASHARE_COSTS["lot"]),
        ("clock", None),
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_PERC),
        ("percabs", True),
    )

    def _today(self):
        """The clock's current date (an ordinal float keyed cache: num2date is slow)."""
        if self.p.clock is None:
            raise RuntimeError(
                "AShareCommission: the historical stamp tax needs `clock` (a data feed); "
                "use setup_ashare_broker after adding the feeds, or give stamp_tax=<rate>"
            )
        return self.p.clock.datetime.date(0)

    def tax_rate(self, sell: bool) -> float:
        """The stamp tax rate of a fill now."""
        if self.p.stamp_tax is not None:
            return float(self.p.stamp_tax) if sell else 0.0
        if self.p.clock is None:
            self._today()  # raises, naming the fix
        key = (self.p.clock.datetime[0], sell)
        cache = self.__dict__.setdefault("_rates", {})
        rate = cache.get(key)
        if rate is None:
            rate = cache[key] = stamp_tax(self._today(), sell)
        return rate

    def _getcommission(self, size, price, pseudoexec):
        if not size:
            return 0.0
        value = abs(size) * price
        comm = max(self.p.commission * value, self.p.min_commission)
        return comm + self.tax_rate(sell=size < 0) * value

    def getsize(self, price, cash):
        return round_lot(super().getsize(price, cash), self.p.lot)


class PerShareCommission(bt.CommInfoBase):
    """US stocks: a plain per-share commission with a minimum per order.

    Formula: ``max(per_share * |size|, min_per_order)``; 0 for a size of 0.
    """

    params = (
        ("per_share", US_COSTS["per_share"]),
        ("min_per_order", US_COSTS["min_per_order"]),
        ("stocklike", True),
        ("commtype", bt.CommInfoBase.COMM_FIXED),
    )

    def _getcommission(self, size, price, pseudoexec):
        if not size:
            return 0.0
        return max(self.p.per_share * abs(size), self.p.min_per_order)


class LotSizer(bt.Sizer):
    """Buy ``percent`` of the portfolio value in whole lots; sell the whole position.

    Params:
      - ``percent`` (10): share of the portfolio value per buy, in percent.
      - ``lot`` (100): lot size.
    """

    params = (("percent", 10.0), ("lot", ASHARE_COSTS["lot"]))

    def _getsizing(self, comminfo, cash, data, isbuy):
        if not isbuy:
            return abs(self.broker.getposition(data).size)  # may close an odd remainder
        price = data.close[0]
        if not price > 0:
            return 0
        value = min(cash, self.broker.getvalue() * self.p.percent / 100.0)
        return round_lot(value / price, self.p.lot)


class AShareFiller(TradableFiller):
    """Broker filler with the A-share order checks (see the module docstring).

    A fill is refused (size 0 for the bar; the order stays pending) when:
      - ``suspended``: the bar's ``tradable`` line is 0 or NaN;
      - ``limit-up``: a buy whose fill price is at or above the previous
        close x (1 + limit - tolerance);
      - ``limit-down``: a sale at or below previous close x (1 - limit + tolerance);
      - ``t+1``: a sale of shares bought on the same date (capped to the
        shares held before that date; refused when none).

    The limit is :func:`price_limit` of the feed's name on the bar's date and
    its ``is_st`` line (when the feed has one). The previous close is the
    previous bar's close (on an aligned panel: the last real close). Every
    refusal is counted in ``blocked`` (reason -> count) and listed in
    ``log`` as ``(date, symbol, side, reason)``; ``order.info['blocked']``
    holds the last one.

    Args:
        costs: overrides of :data:`ASHARE_COSTS` (limits, tolerance, t_plus_one).
        broker: the broker (for positions; T+1). :func:`setup_ashare_broker` sets it.
        perc: cap each fill at this percentage of the bar's volume (as TradableFiller).
    """

    def __init__(self, costs: dict | None = None, broker=None, perc=None):
        super().__init__(perc=perc)
        self.costs = {**ASHARE_COSTS, **(costs or {})}
        self.broker = broker
        self.blocked: dict = {}
        self.log: list = []
        self._bought: dict = {}  # data -> (date, shares bought on that date)
        self._has: dict = {}  # data -> (has a tradable line, has an is_st line, board)
        start = _dt.datetime.combine(_as_date(self.costs["chinext_20_from"]), _dt.time())
        self._chinext = bt.date2num(start)  # first day of ChiNext's 20% limit

    def _refuse(self, order, day, reason):
        self.blocked[reason] = self.blocked.get(reason, 0) + 1
        self.log.append((day, order.data._name, "buy" if order.isbuy() else "sell", reason))
        order.addinfo(blocked=reason)
        return 0

    def _lines(self, data):
        got = self._has.get(data)
        if got is None:
            aliases = data.getlinealiases()
            got = self._has[data] = ("tradable" in aliases, "is_st" in aliases, _board(data._name))
        return got

    def _limit(self, board: str, st: bool, dt: float) -> float:
        """:func:`price_limit` from the cached board and Backtrader's float date ``dt``."""
        c = self.costs
        if st:
            return c["limit_st"]
        if board == "star":
            return c["limit_growth"]
        if board == "chinext":
            return c["limit_growth"] if dt >= self._chinext else c["limit"]
        return c["limit"]

    def __call__(self, order, price, ago):
        data = order.data
        dt = data.datetime[ago]
        has_tradable, has_st, board = self._lines(data)
        if has_tradable:
            flag = data.tradable[ago]
            if not flag == flag or flag <= 0:
                return self._refuse(order, data.datetime.date(ago), "suspended")
        size = abs(order.executed.remsize)
        if self.perc is not None:
            size = min(size, (data.volume[ago] * self.perc) // 100)
        if not size:
            return 0
        if len(data) > 1 - ago:  # a previous bar exists
            prev = data.close[ago - 1]
            if prev > 0 and price == price:
                limit = self._limit(board, has_st and data.is_st[ago] > 0, dt)
                move = price / prev - 1.0
                tol = self.costs["limit_tolerance"]
                if order.isbuy() and move >= limit - tol:
                    return self._refuse(order, data.datetime.date(ago), "limit-up")
                if not order.isbuy() and move <= -(limit - tol):
                    return self._refuse(order, data.datetime.date(ago), "limit-down")
        day = int(dt)  # the bar's date as Backtrader's day number
        if order.isbuy():
            when, qty = self._bought.get(data, (None, 0))
            self._bought[data] = (day, (qty if when == day else 0) + size)
        elif self.costs["t_plus_one"] and self.broker is not None:
            when, qty = self._bought.get(data, (None, 0))
            if when == day and qty:
                free = max(0, self.broker.getposition(data).size - qty)
                if free <= 0:
                    return self._refuse(order, data.datetime.date(ago), "t+1")
                size = min(size, free)
        return size

    def __repr__(self):
        return f"AShareFiller(perc={self.perc!r})"


def setup_ashare_broker(
    cerebro: bt.Cerebro,
    cash: float = ASHARE_COSTS["cash"],
    commission: float = ASHARE_COSTS["commission"],
    min_commission: float = ASHARE_COSTS["min_commission"],
    stamp_tax_rate: float | None = None,
    slippage_perc: float = ASHARE_COSTS["slippage_perc"],
    lot: int = ASHARE_COSTS["lot"],
    costs: dict | None = None,
) -> dict:
    """Configure ``cerebro.broker`` for A-shares; call it after adding the feeds.

    Sets cash, :class:`AShareCommission` (dated by the first feed), slippage
    (as :func:`btlstm.bt.broker.setup_broker`: capped at the bar's range, also at
    the open) and :class:`AShareFiller` (replacing add_panel's
    ``TradableFiller``). No cheat-on-close: orders fill at the next open.

    Args:
        cerebro: a ``bt.Cerebro`` with its feeds added.
        cash, commission, min_commission, slippage_perc, lot: see :data:`ASHARE_COSTS`.
        stamp_tax_rate: None for the historical :data:`STAMP_TAX`, or a fixed rate on sales.
        costs: other overrides of :data:`ASHARE_COSTS` (limits, tolerance, t_plus_one).

    Returns:
        The rules in effect (``ASHARE_COSTS`` with the overrides), for the report.

    Example:
        >>> import backtrader as bt
        >>> from btlstm.bt.feeds import make_feed
        >>> from btlstm.synthetic import synthetic_ohlcv
        >>> cerebro = bt.Cerebro()
        >>> _ = cerebro.adddata(make_feed(synthetic_ohlcv(n=30, seed=0), name="sh.600000"))
        >>> setup_ashare_broker(cerebro)["min_commission"]
        5.0
    """
    if not isinstance(cerebro, bt.Cerebro):
        raise TypeError(f"`cerebro` must be a backtrader.Cerebro, got {cerebro!r}")
    if not cerebro.datas:
        raise ValueError("setup_ashare_broker: add the feeds first (the stamp tax needs a clock)")
    cash = check_number("cash", cash, lo=0)
    commission = check_number("commission", commission, lo=0)
    min_commission = check_number("min_commission", min_commission, lo=0)
    slippage_perc = check_number("slippage_perc", slippage_perc, lo=0)
    if stamp_tax_rate is not None:
        stamp_tax_rate = check_number("stamp_tax_rate", stamp_tax_rate, lo=0)
    rules = {
        **ASHARE_COSTS,
        **(costs or {}),
        "cash": cash,
        "commission": commission,
        "min_commission": min_commission,
        "stamp_tax": "historical" if stamp_tax_rate is None else stamp_tax_rate,
        "slippage_perc": slippage_perc,
        "lot": lot,
    }
    broker = cerebro.broker
    broker.setcash(cash)
    broker.addcommissioninfo(
        AShareCommission(
            commission=commission,
            min_commission=min_commission,
            stamp_tax=stamp_tax_rate,
            lot=lot,
            clock=cerebro.datas[0],
        )
    )
    broker.set_slippage_perc(slippage_perc, slip_open=True, slip_limit=True, slip_match=True)
    broker.set_coc(False)
    broker.set_filler(AShareFiller(costs=rules, broker=broker))
    return rules


def setup_us_broker(
    cerebro: bt.Cerebro,
    cash: float = US_COSTS["cash"],
    per_share: float = US_COSTS["per_share"],
    min_per_order: float = US_COSTS["min_per_order"],
    slippage_perc: float = US_COSTS["slippage_perc"],
) -> dict:
    """Configure ``cerebro.broker`` for US stocks: a plain per-share commission.

    (A per-value commission is :func:`btlstm.bt.broker.setup_broker`.) Returns the
    costs in effect.
    """
    broker = cerebro.broker
    broker.setcash(check_number("cash", cash, lo=0))
    broker.addcommissioninfo(
        PerShareCommission(
            per_share=check_number("per_share", per_share, lo=0),
            min_per_order=check_number("min_per_order", min_per_order, lo=0),
        )
    )
    broker.set_slippage_perc(
        check_number("slippage_perc", slippage_perc, lo=0),
        slip_open=True,
        slip_limit=True,
        slip_match=True,
    )
    return dict(
        US_COSTS, cash=cash, per_share=per_share, min_per_order=min_per_order,
        slippage_perc=slippage_perc,
    )  # fmt: skip
