"""The many-feeds fast path gives exactly what Backtrader's own path gives.

- :class:`btlstm.bt.feeds.PandasFeed` with ``lean=True`` (bulk preload, no tick
  copies) vs ``lean=False`` (Backtrader's bar-by-bar load): identical lines
  in every run mode, with dates sliced, with orders filling on them; the lean
  path switches itself off for filters (resample), an input timezone and
  ``exactbars``.
- :class:`btlstm.bt.broker.PanelBroker` vs Backtrader's ``BackBroker``:
  identical orders, fills and value at every bar on a real A-share panel under
  the A-share rules, and with a commission scheme that charges interest
  (then Backtrader's own interest pass runs).
"""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm.bt.analyzers import OrderLog
from btlstm.bt.ashare import setup_ashare_broker
from btlstm.bt.broker import PanelBroker, setup_broker
from btlstm.bt.feeds import PandasFeed, add_panel, make_feed
from btlstm.strategies.ranker import RankerGated
from btlstm.synthetic import synthetic_ohlcv

LINES = ("open", "high", "low", "close", "volume", "openinterest", "amount")


class Probe(bt.Strategy):
    """Records every line of every feed and an SMA at each bar; trades on a clock."""

    def __init__(self):
        self.sma = {d._name: bt.ind.SMA(d.close, period=3) for d in self.datas}
        self.rows = []
        self.values = []

    def next(self):
        for d in self.datas:
            self.rows.append(
                (d._name, d.datetime[0], len(d)) + tuple(getattr(d, n)[0] for n in LINES)
                + (self.sma[d._name][0],)
            )  # fmt: skip
        n = len(self)
        for k, d in enumerate(self.datas):
            if (n + k) % 7 == 0:
                self.buy(data=d, size=3)
            elif (n + k) % 11 == 0:
                self.close(data=d)
        self.values.append((self.broker.getvalue(), self.broker.getcash()))

    def notify_order(self, order):
        if not order.alive():
            ex = order.executed
            self.rows.append(("order", order.data._name, order.getstatusname(), ex.size, ex.price))


def _probe(feeds, **cerebro_kw):
    cerebro = bt.Cerebro(stdstats=False, **cerebro_kw)
    for f in feeds:
        cerebro.adddata(f)
    setup_broker(cerebro, cash=1e5, commission=0.001, slippage_perc=0.001)
    cerebro.addstrategy(Probe)
    s = cerebro.run()[0]
    return s.rows, s.values


class _EST(dt.tzinfo):
    def utcoffset(self, when):
        return dt.timedelta(hours=-5)

    def dst(self, when):
        return dt.timedelta(0)

    def tzname(self, when):
        return "EST"

    def localize(self, when):
        return when.replace(tzinfo=self)


def _nan_safe(rows):
    return [tuple("NaN" if isinstance(v, float) and v != v else v for v in r) for r in rows]


def _frames():
    a = synthetic_ohlcv(n=80, seed=1)
    b = synthetic_ohlcv(n=80, seed=2)
    return a, b


@pytest.mark.parametrize(
    "mode", [{}, {"runonce": False}, {"preload": False}], ids=["runonce", "next", "nopreload"]
)
def test_lean_feed_gives_the_same_lines_orders_and_value_in_every_run_mode(mode):
    a, b = _frames()
    lo, hi = a.index[5].to_pydatetime(), a.index[70].to_pydatetime()
    runs = {}
    for lean in (True, False):
        feeds = [
            PandasFeed(dataname=a, name="a", lean=lean, fromdate=lo, todate=hi),
            PandasFeed(dataname=b, name="b", lean=lean),
        ]
        runs[lean] = _probe(feeds, **mode)
        assert feeds[0]._lean is lean
    (rows_t, val_t), (rows_f, val_f) = runs[True], runs[False]
    assert len(rows_t) > 2 * 60 and any(r[0] == "order" for r in rows_t)
    assert _nan_safe(rows_t) == _nan_safe(rows_f)  # exact, NaN == NaN
    assert val_t == val_f
    # fromdate/todate honoured on the lean path: feed a starts at index 5, ends at 70
    first = next(r for r in rows_t if r[0] == "a")
    assert bt.num2date(first[1]) >= lo


def test_lean_feed_lines_equal_the_frame_exactly_without_tick_copies():
    a, _ = _frames()
    cerebro = bt.Cerebro(stdstats=False)
    feed = cerebro.adddata(make_feed(a, name="a"))
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()
    assert feed._lean
    got = np.frombuffer(feed.lines.close.array, dtype=float)
    np.testing.assert_array_equal(got, a["close"].to_numpy())
    dates = [bt.num2date(x) for x in feed.lines.datetime.array]
    assert dates == [t.to_pydatetime() for t in a.index]
    # no per-bar tick copies: the broker fills from the bar's own prices
    assert feed.tick_open is None and feed.tick_close is None and feed.tick_last is None


def test_lean_path_switches_off_for_filters_and_timezones_and_handles_exactbars():
    a, _ = _frames()
    # resampling adds a filter: Backtrader's own path, same weekly bars as lean=False
    got = {}
    for lean in (True, False):
        cerebro = bt.Cerebro(stdstats=False)
        feed = PandasFeed(dataname=a, name="a", lean=lean)
        cerebro.resampledata(feed, timeframe=bt.TimeFrame.Weeks)
        cerebro.addstrategy(Probe)
        s = cerebro.run()[0]
        assert feed._lean is False
        got[lean] = _nan_safe(s.rows)
    assert got[True] == got[False] and len(got[True]) > 5
    # an input timezone: the per-bar localisation must run
    cerebro = bt.Cerebro(stdstats=False)
    est = _EST()  # a pytz-like tzinfo (pytz is not a dependency)
    feed = cerebro.adddata(PandasFeed(dataname=a, name="a", tzinput=est))
    cerebro.addstrategy(bt.Strategy)
    cerebro.run()
    assert feed._lean is False
    # exactbars: ring buffers filled bar by bar (no bulk preload), same bars and fills
    got = {}
    for lean in (True, False):
        got[lean] = _nan_safe(_probe([PandasFeed(dataname=a, name="a", lean=lean)], exactbars=1)[0])
    assert got[True] == got[False] and len(got[True]) > 70


# -- PanelBroker vs BackBroker on a real A-share panel ---------------------------------


@pytest.fixture(scope="module")
def members(data_dir):
    from btlstm.data.catalog import load

    frames = load(
        "csi300_members", data_dir=data_dir, start="2015-01-01", end="2015-09-30", repair="drop"
    )
    panel = {}
    rng = np.random.default_rng(7)
    for sym, f in list(frames.items())[:40]:
        if len(f) < 20:
            continue
        f = f.copy()
        f["score"] = rng.normal(size=len(f))
        panel[sym] = f
    cal = None
    for f in panel.values():
        cal = f.index if cal is None else cal.union(f.index)
    gate = pd.DataFrame(
        {"open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0, "amount": 1.0,
         "prediction": np.sin(np.arange(len(cal)) / 6.0)},
        index=pd.DatetimeIndex(cal, name="date"),
    )  # fmt: skip
    return panel, gate


class ValueLog(bt.Analyzer):
    def start(self):
        self.rets["v"] = []

    def next(self):
        b = self.strategy.broker
        self.rets["v"].append((b.getvalue(), b.getcash()))


def _ranker(panel, gate, broker, lean=True, runonce=True):
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
    if broker is not None:
        cerebro.broker = broker
    add_panel(cerebro, panel, extra_lines=("score", "is_st"), progress=False, lean=lean)
    cerebro.adddata(make_feed(gate, name="gate", extra_lines=("prediction",), lean=lean))
    setup_ashare_broker(cerebro)
    cerebro.addstrategy(RankerGated, n_buy=5, daily_fraction=0.3, max_positions=15)
    cerebro.addanalyzer(ValueLog, _name="value")
    cerebro.addanalyzer(OrderLog, _name="orders")
    s = cerebro.run()[0]
    log = _nan_safe([tuple(r.values()) for r in s.analyzers.orders.get_analysis()["orders"]])
    return log, s.analyzers.value.get_analysis()["v"], dict(cerebro.broker.p.filler.blocked)


def test_panel_broker_and_lean_feeds_trade_exactly_like_backtrader(members):
    panel, gate = members
    ref = _ranker(panel, gate, None, lean=False)  # Backtrader: BackBroker, bar-by-bar feeds
    assert len(ref[0]) > 200 and sum(ref[2].values()) > 0  # trades, and A-share refusals
    for broker, lean, runonce in [
        (PanelBroker(), False, True),
        (PanelBroker(), True, True),
        (PanelBroker(), True, False),
        (None, True, True),
    ]:
        got = _ranker(panel, gate, broker, lean=lean, runonce=runonce)
        assert got[0] == ref[0]  # every order: dates, symbol, side, size, price, commission
        assert got[1] == ref[1]  # value and cash at every bar, exactly
        assert got[2] == ref[2]


class Shorter(bt.Strategy):
    def next(self):
        if len(self) == 3:
            self.sell(size=10)
        if len(self) == 40:
            self.close()


@pytest.mark.parametrize("interest", [0.0, 0.2])
def test_panel_broker_with_interest_runs_backtraders_own_pass(interest):
    a, _ = _frames()
    out = {}
    for name, broker in (("back", bt.brokers.BackBroker()), ("panel", PanelBroker())):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker = broker
        cerebro.adddata(make_feed(a, name="a"))
        cerebro.broker.setcommission(commission=0.001, interest=interest)
        cerebro.addstrategy(Shorter)
        cerebro.addanalyzer(ValueLog, _name="value")
        out[name] = cerebro.run()[0].analyzers.value.get_analysis()["v"]
    assert out["back"] == out["panel"]
    if interest:  # the interest was charged (cash falls while short, price aside)
        base = bt.Cerebro(stdstats=False)
        base.adddata(make_feed(a, name="a"))
        base.broker.setcommission(commission=0.001)
        base.addstrategy(Shorter)
        base.addanalyzer(ValueLog, _name="value")
        plain = base.run()[0].analyzers.value.get_analysis()["v"]
        assert out["panel"][-1][1] < plain[-1][1]


def test_btlstm_run_uses_the_panel_broker_and_lean_feeds():
    from btlstm.bt.cerebro import make_cerebro
    from btlstm.settings import Settings

    a, b = _frames()
    settings = Settings()
    cerebro = make_cerebro({"a": a, "b": b}, settings.costs, panel=True)
    assert isinstance(cerebro.broker, PanelBroker)
    assert all(d.p.lean for d in cerebro.datas)


def test_market_us_charges_per_share_on_stocks_and_commission_on_the_index():
    from btlstm.bt.ashare import PerShareCommission
    from btlstm.bt.cerebro import make_cerebro, market_rules
    from btlstm.settings import Settings

    a, b = _frames()
    settings = Settings.from_dict({"costs": {"market": "us", "per_share": 0.01,
                                             "commission": 0.002}})  # fmt: skip
    cerebro = make_cerebro({"a": a}, settings.costs, panel=True, extra={"idx": b})
    stock = cerebro.broker.getcommissioninfo(cerebro.datas[0])
    index = cerebro.broker.getcommissioninfo(cerebro.datas[1])
    assert isinstance(stock, PerShareCommission) and stock.p.per_share == 0.01
    assert index.p.commission == 0.002 and not isinstance(index, PerShareCommission)
    rules = market_rules(settings.costs)
    assert rules["per_share"] == 0.01 and rules["index_commission"] == 0.002


def test_a_synthetic_run_gets_a_synthetic_gate_on_the_panel_dates():
    from btlstm import registry
    from btlstm.pipeline import _load_extra, load_data
    from btlstm.settings import Settings

    settings = Settings.from_dict(
        {"strategy": {"name": "ranker"},
         "data": {"data": "synthetic", "synthetic": {"n_symbols": 5}}}
    )  # fmt: skip
    plan = registry.get("ranker")
    assert plan.extra_data["gate"]["data"] == "csi300"  # the real run's gate
    panel = load_data(settings, panel=True)
    gate = _load_extra(settings, plan)["gate"]
    assert gate.attrs.get("synthetic") and gate.attrs["feed"] == "gate"
    first = next(iter(panel.values()))
    assert gate.index.equals(first.index)  # same dates as the generated stocks
    assert not any(gate["close"].equals(f["close"]) for f in panel.values())
