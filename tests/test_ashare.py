"""A-share rules (btlstm.bt.ashare): each rule blocks exactly the order it should.

Small hand-made panels, scripted orders, no models. Orders placed at bar t's
close fill at bar t+1's open unless a rule refuses the fill.
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

from btlstm.bt.ashare import (
    ASHARE_COSTS,
    STAMP_TAX,
    AShareCommission,
    AShareFiller,
    LotSizer,
    PerShareCommission,
    price_limit,
    round_lot,
    setup_ashare_broker,
    setup_us_broker,
    stamp_tax,
)
from btlstm.bt.feeds import add_panel


def frame(opens, closes=None, start="2015-01-05", tradestatus=None, is_st=None):
    """A canonical frame with the given opens (closes default: the opens)."""
    opens = np.asarray(opens, dtype=float)
    closes = opens.copy() if closes is None else np.asarray(closes, dtype=float)
    idx = pd.bdate_range(start, periods=len(opens), name="date")
    f = pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, closes),
            "low": np.minimum(opens, closes),
            "close": closes,
            "volume": 1e6,
            "amount": 1e7,
        },
        index=idx,
    )
    f["tradestatus"] = 1.0 if tradestatus is None else np.asarray(tradestatus, dtype=float)
    f["is_st"] = 0.0 if is_st is None else np.asarray(is_st, dtype=float)
    return f


class Script(bt.Strategy):
    """Places scripted orders: ``orders = {bar: [(symbol, side, size), ...]}``."""

    params = (("orders", None), ("target", None))

    def __init__(self):
        self.by_name = {d._name: d for d in self.datas}
        self.fills = []  # (symbol, side, bar, size, price, commission)
        self.partial = []  # (symbol, side, bar, size executed so far)
        self.ended = []  # (symbol, side, bar, status)

    def notify_order(self, order):
        bar = len(self.datas[0]) - 1
        name = order.data._name
        side = "buy" if order.isbuy() else "sell"
        if order.status == order.Partial:
            self.partial.append((name, side, bar, abs(order.executed.size)))
        if order.alive():
            return
        if order.status == order.Completed:
            ex = order.executed
            self.fills.append((name, side, bar, abs(ex.size), ex.price, ex.comm))
        self.ended.append((name, side, bar, order.getstatusname()))

    def next(self):
        t = len(self.datas[0]) - 1
        for name, side, size in (self.p.orders or {}).get(t, []):
            d = self.by_name[name]
            if side == "buy":
                self.buy(data=d, size=size)
            elif side == "target":
                self.order_target_percent(data=d, target=size)
            else:
                self.sell(data=d, size=size)


def run(panel, orders, slippage=0.0, coc=False, **kw):
    cerebro = bt.Cerebro(stdstats=False)
    add_panel(cerebro, panel, extra_lines=("is_st",), progress=False)
    rules = setup_ashare_broker(cerebro, slippage_perc=slippage, **kw)
    if coc:
        cerebro.broker.set_coc(True)
    cerebro.addstrategy(Script, orders=orders)
    strat = cerebro.run()[0]
    return strat, cerebro.broker.p.filler, rules


# ---------------------------------------------------------------- pure functions
def test_round_lot_and_lot_sizer_math():
    assert round_lot(1234) == 1200 and round_lot(100) == 100 and round_lot(99.9) == 0
    assert round_lot(-250) == -200 and round_lot(7, lot=1) == 7
    with pytest.raises(ValueError, match="lot"):
        round_lot(10, lot=0)


def test_stamp_tax_schedule_is_one_table():
    assert [row[0].isoformat() for row in STAMP_TAX][-5:] == [
        "2005-01-24", "2007-05-30", "2008-04-24", "2008-09-19", "2023-08-28",
    ]  # fmt: skip
    assert stamp_tax("2005-01-24", sell=False) == 0.001
    assert stamp_tax("2007-05-30", sell=True) == 0.003
    assert stamp_tax("2008-04-24", sell=True) == 0.001
    assert stamp_tax("2008-09-18", sell=False) == 0.001
    assert stamp_tax("2008-09-19", sell=False) == 0.0
    assert stamp_tax("2008-09-19", sell=True) == 0.001
    assert stamp_tax("2023-08-25", sell=True) == 0.001
    assert stamp_tax("2023-08-28", sell=True) == 0.0005


def test_price_limits():
    assert price_limit("sh.600000", "2015-01-05") == 0.10
    assert price_limit("sh.600000", "2015-01-05", is_st=True) == 0.05
    assert price_limit("sz.300750", "2020-08-21") == 0.10
    assert price_limit("sz.300750", "2020-08-24") == 0.20
    assert price_limit("300750.SZ", "2020-08-24") == 0.20
    assert price_limit("sh.688001", "2019-08-01") == 0.20
    assert price_limit("sz.300750", "2020-08-24", is_st=True) == 0.05


# ---------------------------------------------------------------- fills
def test_limit_up_blocks_the_buy_only():
    # bar 2 opens 10% above bar 1's close: the buy placed at bar 1 cannot fill
    # at bar 2 and stays pending; it fills at bar 3's open (+0%). B is untouched.
    a = frame([10, 10, 11, 11, 11])
    b = frame([10, 10, 10, 10, 10])
    strat, filler, _ = run(
        {"sh.600000": a, "sh.600001": b},
        {1: [("sh.600000", "buy", 100), ("sh.600001", "buy", 100)]},
    )
    assert sorted((f[0], f[1], f[2]) for f in strat.fills) == [
        ("sh.600000", "buy", 3),
        ("sh.600001", "buy", 2),
    ]
    assert filler.log == [(a.index[2].date(), "sh.600000", "buy", "limit-up")]
    assert filler.blocked == {"limit-up": 1}


def test_a_sale_at_limit_up_and_a_buy_just_below_the_tolerance_fill():
    # +9.7% is below 10% - 0.2 points: a buy fills; a sale at limit-up fills too
    a = frame([10, 10, 10.97, 11, 11])
    b = frame([10, 10, 11, 11, 11])
    strat, filler, _ = run(
        {"sh.600000": a, "sh.600001": b},
        {
            0: [("sh.600001", "buy", 100)],
            1: [("sh.600000", "buy", 100), ("sh.600001", "sell", 100)],
        },
    )
    assert sorted((f[0], f[1], f[2]) for f in strat.fills) == [
        ("sh.600000", "buy", 2),
        ("sh.600001", "buy", 1),
        ("sh.600001", "sell", 2),
    ]
    assert filler.log == []


def test_limit_down_blocks_the_sale():
    a = frame([10, 10, 10, 9, 9, 9])
    strat, filler, _ = run({"sh.600000": a}, {0: [("sh.600000", "buy", 200)],
                                              2: [("sh.600000", "sell", 200)]})  # fmt: skip
    assert [(f[1], f[2]) for f in strat.fills] == [("buy", 1), ("sell", 4)]
    assert filler.log == [(a.index[3].date(), "sh.600000", "sell", "limit-down")]


def test_suspended_bar_holds_the_order():
    a = frame([10, 10, 10, 10, 10], tradestatus=[1, 1, 0, 1, 1])
    strat, filler, _ = run({"sh.600000": a}, {1: [("sh.600000", "buy", 100)]})
    assert [(f[1], f[2]) for f in strat.fills] == [("buy", 3)]
    assert filler.log == [(a.index[2].date(), "sh.600000", "buy", "suspended")]


def test_st_limit_is_five_percent():
    # +6% at bar 2: refused for the ST stock (5%), filled for the other (10%)
    st = frame([10, 10, 10.6, 10.6], is_st=[1, 1, 1, 1])
    ok = frame([10, 10, 10.6, 10.6])
    strat, filler, _ = run(
        {"sh.600000": st, "sh.600001": ok},
        {1: [("sh.600000", "buy", 100), ("sh.600001", "buy", 100)]},
    )
    assert sorted((f[0], f[2]) for f in strat.fills) == [("sh.600000", 3), ("sh.600001", 2)]
    assert [r[1:] for r in filler.log] == [("sh.600000", "buy", "limit-up")]


@pytest.mark.parametrize(
    "start, blocked", [("2020-08-18", True), ("2020-08-20", False)]
)  # bar 2 is 2020-08-20 (a Thursday: 10%) or 2020-08-24 (20%)
def test_chinext_twenty_percent_from_2020_08_24(start, blocked):
    a = frame([10, 10, 11.2, 11.2, 11.2], start=start)
    strat, filler, _ = run({"sz.300750": a}, {1: [("sz.300750", "buy", 100)]})
    day = a.index[2].date()
    assert day.isoformat() == ("2020-08-20" if blocked else "2020-08-24")
    assert [f[2] for f in strat.fills] == ([3] if blocked else [2])
    assert filler.log == ([(day, "sz.300750", "buy", "limit-up")] if blocked else [])


def test_t_plus_one_never_sells_shares_bought_the_same_day():
    # With cheat-on-close a buy and a sale placed at bar 1 are both executed in the
    # broker's next cycle (notified at bar 2) at bar 1's close, on one date: the sale
    # of that day's shares is refused (t+1) and fills a cycle later (notified at 3).
    # With the default next-open fills this never arises: a sale is decided at the
    # earliest at the close of the buy's fill bar and fills at the next open.
    a = frame([10, 10, 10, 10, 10])
    strat, filler, _ = run(
        {"sh.600000": a},
        {1: [("sh.600000", "buy", 300), ("sh.600000", "sell", 300)]},
        coc=True,
    )
    assert [(f[1], f[2]) for f in strat.fills] == [("buy", 2), ("sell", 3)]
    assert [r[1:] for r in filler.log] == [("sh.600000", "sell", "t+1")]


def test_t_plus_one_sells_only_the_shares_held_before_today():
    a = frame([10, 10, 10, 10, 10])
    strat, filler, _ = run(
        {"sh.600000": a},
        {
            0: [("sh.600000", "buy", 200)],
            2: [("sh.600000", "buy", 100), ("sh.600000", "sell", 300)],
        },
        coc=True,
    )
    # executed in bar 3's cycle: 100 bought that day, so only the 200 held before are
    # sold then (a partial fill); the last 100 are sold the next day
    fills = [(f[1], f[2], f[3]) for f in strat.fills]
    assert fills == [("buy", 1, 200), ("buy", 3, 100), ("sell", 4, 300)]
    assert strat.partial == [("sh.600000", "sell", 3, 200)]
    assert filler.log == []  # a cap, not a refusal


# ---------------------------------------------------------------- costs and lots
def test_minimum_commission_and_rate():
    a = frame([10] * 6, start="2015-01-05")
    strat, _, _ = run(
        {"sh.600000": a}, {0: [("sh.600000", "buy", 100)], 1: [("sh.600000", "buy", 50000)]}
    )
    comm = [f[5] for f in strat.fills]
    assert comm[0] == pytest.approx(5.0)  # 0.03% of 1,000 CNY is 0.30: the minimum applies
    assert comm[1] == pytest.approx(0.0003 * 500_000)  # 150 CNY, above the minimum


@pytest.mark.parametrize(
    "start, buy_tax, sell_tax",
    [
        ("2008-09-15", 0.001, 0.001),  # fills on 2008-09-16 / 2008-09-18: 0.1% both sides
        ("2008-09-16", 0.001, 0.001),  # buy 09-17 (both sides), sell 09-19 (sells only)
        ("2008-09-18", 0.0, 0.001),  # buy 09-19, sell 09-23: sells only
    ],
)
def test_stamp_tax_by_the_fill_date(start, buy_tax, sell_tax):
    a = frame([10] * 6, start=start)
    strat, _, _ = run({"sh.600000": a}, {0: [("sh.600000", "buy", 50000)],
                                          2: [("sh.600000", "sell", 50000)]})  # fmt: skip
    (b, s) = strat.fills
    value = 500_000.0
    assert b[5] == pytest.approx(0.0003 * value + stamp_tax(a.index[1], sell=False) * value)
    assert s[5] == pytest.approx(0.0003 * value + stamp_tax(a.index[3], sell=True) * value)
    if start == "2008-09-15":
        assert b[5] == pytest.approx(0.0003 * value + buy_tax * value)
        assert s[5] == pytest.approx(0.0003 * value + sell_tax * value)
    if start == "2008-09-18":
        assert b[5] == pytest.approx(0.0003 * value)  # no tax on buys from 2008-09-19
        assert s[5] == pytest.approx(0.0013 * value)


def test_order_target_percent_buys_whole_lots_and_a_sale_may_close_an_odd_lot():
    a = frame([13.7] * 6)
    strat, _, _ = run(
        {"sh.600000": a},
        {0: [("sh.600000", "target", 0.1)], 2: [("sh.600000", "sell", 50)]},
    )
    sizes = [(f[1], f[3]) for f in strat.fills]
    assert sizes[0][0] == "buy" and sizes[0][1] % 100 == 0 and sizes[0][1] > 0
    assert sizes[1] == ("sell", 50)  # an odd sale fills


def test_lot_sizer_and_commission_getsize():
    ci = AShareCommission(stamp_tax=0.001)
    assert ci.getsize(13.7, 100_000) == 7200
    assert ci.getcommission(100, 10.0) == pytest.approx(5.0)  # a buy: minimum, no tax
    assert ci.getcommission(-100000, 10.0) == pytest.approx(300 + 1000)  # a sale: + tax
    assert ci.getcommission(0, 10.0) == 0.0
    a = frame([13.7] * 4)
    cerebro = bt.Cerebro(stdstats=False)
    add_panel(cerebro, {"sh.600000": a}, progress=False)
    setup_ashare_broker(cerebro, slippage_perc=0.0)
    cerebro.addsizer(LotSizer, percent=10)

    class BuyOnce(bt.Strategy):
        def __init__(self):
            self.sizes = []

        def notify_order(self, order):
            if order.status == order.Completed:
                self.sizes.append(order.executed.size)

        def next(self):
            if len(self) == 1:
                self.buy()

    cerebro.addstrategy(BuyOnce)
    s = cerebro.run()[0]
    assert s.sizes == [round_lot(100_000 / 13.7)]


def test_setup_reports_its_rules_and_needs_feeds():
    with pytest.raises(ValueError, match="add the feeds first"):
        setup_ashare_broker(bt.Cerebro())
    cerebro = bt.Cerebro()
    add_panel(cerebro, {"sh.600000": frame([10] * 3)}, progress=False)
    rules = setup_ashare_broker(cerebro, min_commission=1.0)
    assert rules["min_commission"] == 1.0 and rules["stamp_tax"] == "historical"
    assert {k: v for k, v in rules.items() if k != "min_commission"} == {
        k: v for k, v in ASHARE_COSTS.items() if k != "min_commission"
    }
    assert isinstance(cerebro.broker.p.filler, AShareFiller)


def test_historical_tax_needs_a_clock():
    with pytest.raises(RuntimeError, match="clock"):
        AShareCommission().getcommission(-100, 10.0)


def test_us_per_share_commission():
    ci = PerShareCommission()
    assert ci.getcommission(100, 50.0) == pytest.approx(1.0)  # minimum
    assert ci.getcommission(-1000, 50.0) == pytest.approx(5.0)
    cerebro = bt.Cerebro()
    out = setup_us_broker(cerebro, cash=10_000.0)
    assert out["per_share"] == 0.005 and cerebro.broker.getcash() == 10_000.0
    assert math.isclose(out["min_per_order"], 1.0)


# ---------------------------------------------------------------- boards x ST x dates
BOARDS = {"main": "sh.600000", "star": "sh.688001", "chinext": "sz.300750",
          "chinext 301": "sz.301001", "suffix": "300750.SZ"}  # fmt: skip
LIMIT_DAYS = ("2019-08-01", "2020-08-21", "2020-08-24", "2020-08-25")


@pytest.mark.parametrize("st", [False, True])
def test_st_is_five_percent_on_every_board_and_the_filler_agrees_with_price_limit(st):
    """ST stocks trade within 5% on every board; the filler's own copy of the limit
    (:meth:`AShareFiller._limit`, dated by Backtrader's float date) gives
    :func:`price_limit` on every board, ST flag and date around ChiNext's switch."""
    import datetime as dt

    from btlstm.bt.ashare import _board

    filler = AShareFiller()
    growth = {"star", "chinext", "chinext 301", "suffix"}
    for name, sym in BOARDS.items():
        for day in LIMIT_DAYS:
            want = price_limit(sym, day, is_st=st)
            if st:
                assert want == 0.05, (sym, day)
            elif name == "star" or (name in growth and day >= "2020-08-24"):
                assert want == 0.20, (sym, day)
            else:
                assert want == 0.10, (sym, day)
            # Backtrader dates a daily bar at the end of its session
            when = dt.datetime.fromisoformat(day) + dt.timedelta(hours=23, minutes=59)
            assert filler._limit(_board(sym), st, bt.date2num(when)) == want, (sym, day)


@pytest.mark.parametrize("board", ["sh.688001", "sz.300750"])
def test_st_limit_blocks_a_six_percent_open_on_the_growth_boards(board):
    # +6% at bar 2 (2021: 20% boards): refused for the ST stock, filled for the other
    st = frame([10, 10, 10.6, 10.6], start="2021-03-01", is_st=[1, 1, 1, 1])
    ok = frame([10, 10, 10.6, 10.6], start="2021-03-01")
    other = board[:3] + str(int(board[3:]) + 1)
    strat, filler, _ = run({board: st, other: ok},
                           {1: [(board, "buy", 100), (other, "buy", 100)]})  # fmt: skip
    assert sorted((f[0], f[2]) for f in strat.fills) == [(board, 3), (other, 2)]
    assert [r[1:] for r in filler.log] == [(board, "buy", "limit-up")]


def test_a_tax_rate_change_inside_one_run_charges_each_fill_its_own_day():
    """One run across 2023-08-28 (sales: 0.1% -> 0.05%): the sale before the change and
    the sale after it pay different stamp tax; the cash is checked to the cent."""
    a = frame([10] * 8, start="2023-08-22")  # bars: 22 23 24 25 28 29 30 31
    strat, _, _ = run({"sh.600000": a}, {0: [("sh.600000", "buy", 20000)],
                                          2: [("sh.600000", "sell", 10000)],
                                          4: [("sh.600000", "sell", 10000)]})  # fmt: skip
    (b, s1, s2) = strat.fills
    assert [f[2] for f in strat.fills] == [1, 3, 5]  # 08-23, 08-25, 08-29
    assert b[5] == pytest.approx(0.0003 * 200_000)  # no tax on buys
    assert s1[5] == pytest.approx(0.0003 * 100_000 + 0.001 * 100_000)  # before 08-28
    assert s2[5] == pytest.approx(0.0003 * 100_000 + 0.0005 * 100_000)  # from 08-28
    assert strat.broker.getcash() == pytest.approx(1_000_000.0 - 60.0 - 130.0 - 80.0)
