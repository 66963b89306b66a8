"""Feeds over canonical frames: exact values, extra lines, panels, run modes."""

import itertools
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.feeds import (
    PandasFeed,
    TradableFiller,
    add_panel,
    align_frame,
    feed_class,
    make_feed,
)
from btlstm.data import DataError
from btlstm.strategies import BuyAndHold, EqualWeight
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel


class Recorder(bt.Strategy):
    """Records every feed's lines at each bar."""

    params = (("lines", ("close", "volume", "amount")),)

    def __init__(self):
        self.rows = {d._name: [] for d in self.datas}

    def next(self):
        for d in self.datas:
            row = [d.datetime.datetime(0)] + [getattr(d, n)[0] for n in self.p.lines]
            self.rows[d._name].append(tuple(row))


def _run(feeds, strategy=Recorder, runonce=True, preload=True, cash=1e6, **kw):
    cerebro = bt.Cerebro(runonce=runonce, preload=preload, stdstats=False)
    cerebro.broker.setcash(cash)
    for f in feeds:
        cerebro.adddata(f)
    cerebro.addstrategy(strategy, **kw)
    return cerebro, cerebro.run()[0]


def test_make_feed_reproduces_close_volume_amount_exactly():
    df = synthetic_ohlcv(n=120, seed=3)
    _, strat = _run([make_feed(df)])
    rows = strat.rows["SYNIDX"]
    assert len(rows) == len(df)
    got = pd.DataFrame(rows, columns=["date", "close", "volume", "amount"]).set_index("date")
    assert list(got.index) == list(df.index.to_pydatetime())
    for col in ("close", "volume", "amount"):
        np.testing.assert_array_equal(got[col].to_numpy(), df[col].to_numpy(), err_msg=col)


def test_make_feed_name_defaults_to_symbol_and_dates_slice():
    df = synthetic_ohlcv(n=100, seed=1, symbol="SYNABC")
    feed = make_feed(df, fromdate="2010-02-01", todate="2010-03-31")
    assert feed._name == "SYNABC"
    _, strat = _run([feed])
    dates = [r[0] for r in strat.rows["SYNABC"]]
    assert dates[0] == pd.Timestamp("2010-02-01").to_pydatetime()
    assert dates[-1] == pd.Timestamp("2010-03-31").to_pydatetime()
    assert len(dates) == len(df.loc["2010-02-01":"2010-03-31"])
    assert make_feed(df, name="X")._name == "X"


def test_prediction_extra_line():
    df = synthetic_ohlcv(n=60, seed=2)
    df["prediction"] = np.sin(np.arange(len(df)))
    _, strat = _run([make_feed(df, extra_lines=("prediction",))], lines=("prediction",))
    got = np.array([r[1] for r in strat.rows["SYNIDX"]])
    np.testing.assert_array_equal(got, df["prediction"].to_numpy())


def test_extra_line_without_column_is_an_error():
    df = synthetic_ohlcv(n=30, seed=2)
    with pytest.raises(DataError, match="prediction"):
        make_feed(df, extra_lines=("prediction",))


def test_feed_class_cached_and_validated():
    assert feed_class() is PandasFeed
    a = feed_class(("prediction", "tradable"))
    assert a is feed_class(["prediction", "tradable", "prediction"])
    assert issubclass(a, bt.feeds.PandasData)
    assert "prediction" in a.lines.getlinealiases()
    assert "amount" in a.lines.getlinealiases()
    with pytest.raises(ValueError, match="'bad name'"):
        feed_class(("bad name",))


def test_extra_line_autodetect_absent_column_gives_nan():
    df = synthetic_ohlcv(n=20, seed=2)
    Feed = feed_class(("prediction",))
    _, strat = _run([Feed(dataname=df, name="x")], lines=("prediction", "close"))
    assert all(math.isnan(r[1]) for r in strat.rows["x"])
    assert strat.rows["x"][-1][2] == df["close"].iloc[-1]


def test_pandasfeed_missing_amount_column_error_and_none_mapping():
    df = synthetic_ohlcv(n=20, seed=2).drop(columns="amount")
    with pytest.raises(DataError, match="amount"):
        _run([PandasFeed(dataname=df, name="x")])
    _, strat = _run([PandasFeed(dataname=df, name="x", amount=None)], lines=("amount", "close"))
    assert math.isnan(strat.rows["x"][0][1])
    assert strat.rows["x"][0][2] == df["close"].iloc[0]


def test_tz_aware_frame_is_a_data_error():
    df = synthetic_ohlcv(n=30, seed=4)
    df.index = df.index.tz_localize("Asia/Shanghai")
    with pytest.raises(DataError, match="tz-aware"):
        make_feed(df)
    with pytest.raises(DataError, match="tz-aware"):
        add_panel(bt.Cerebro(), {"SYNA": df})


def test_empty_date_range_is_a_data_error():
    df = synthetic_ohlcv(n=30, seed=4)
    with pytest.raises(DataError, match="no rows"):
        make_feed(df, fromdate="2030-01-01")


def test_add_panel_late_starters_and_stoppers():
    panel = synthetic_panel(n_symbols=6, n=200, seed=5, late_starters=2, stoppers=2)
    # a hole (suspension with no rows) in a full-history symbol
    full = panel["SYN0002"]
    hole = full.index[50:55]
    panel["SYN0002"] = full.drop(hole)
    panel["SYN0002"].attrs = dict(full.attrs)
    cerebro = bt.Cerebro(stdstats=False)
    feeds = add_panel(cerebro, panel, progress=False)
    assert len(feeds) == 6 and not feeds.skipped
    assert len(feeds.calendar) == 200
    cerebro.addstrategy(
        Recorder, lines=("open", "high", "low", "close", "volume", "amount", "tradable")
    )
    strat = cerebro.run()[0]
    lengths = {name: len(rows) for name, rows in strat.rows.items()}
    assert set(lengths.values()) == {200}
    for sym, df in panel.items():
        rec = pd.DataFrame(
            strat.rows[sym],
            columns=["date", "open", "high", "low", "close", "volume", "amount", "tradable"],
        ).set_index("date")
        real = rec.index.isin(df.index)
        assert (rec["tradable"][real] == 1).all() and (rec["tradable"][~real] == 0).all()
        assert feeds.phantom[sym] == int((~real).sum())
        # real bars are the file's bars
        np.testing.assert_array_equal(rec["close"][real].to_numpy(), df["close"].to_numpy())
        ph = rec[~real]
        assert (ph["volume"] == 0).all() and (ph["amount"] == 0).all()
        for col in ("open", "high", "low"):
            np.testing.assert_array_equal(ph[col].to_numpy(), ph["close"].to_numpy())
        # phantom price: last known close, or the first open before listing
        before = ph.index < df.index[0]
        assert (ph["close"][before] == df["open"].iloc[0]).all()
        after = ph.index[~before]
        if len(after):
            last_close = df["close"].reindex(rec.index).ffill()
            np.testing.assert_array_equal(ph["close"][~before].to_numpy(), last_close[after])
    assert feeds.phantom["SYN0002"] == 5
    assert feeds.phantom["SYN0000"] > 0 and feeds.phantom["SYN0005"] > 0


def test_add_panel_tradestatus_and_min_history(caplog):
    panel = synthetic_panel(n_symbols=3, n=80, seed=6)
    a = panel["SYN0000"]
    a["tradestatus"] = 1.0
    a.iloc[10:13, a.columns.get_loc("tradestatus")] = 0.0
    short = panel["SYN0002"].iloc[-5:].copy()
    short.attrs = dict(panel["SYN0002"].attrs)
    panel["SYN0002"] = short
    cerebro = bt.Cerebro(stdstats=False)
    with caplog.at_level("WARNING", logger="btlstm.bt.feeds"):
        feeds = add_panel(cerebro, panel, min_history=10, progress=False)
    assert [f._name for f in feeds] == ["SYN0000", "SYN0001"]
    assert "SYN0002" in feeds.skipped and "min_history=10" in feeds.skipped["SYN0002"]
    assert "SYN0002" in caplog.text
    aligned = align_frame(a, feeds.calendar)
    np.testing.assert_array_equal(aligned["tradable"].to_numpy(), a["tradestatus"].to_numpy())
    assert aligned["tradable"].iloc[10:13].eq(0).all()


def test_add_panel_calendars_and_progress(capsys):
    panel = synthetic_panel(n_symbols=4, n=60, seed=7, late_starters=1, stoppers=1)
    inter = add_panel(bt.Cerebro(), panel, calendar="intersection", progress=False)
    assert all(len(f.p.dataname) == len(inter.calendar) for f in inter)
    assert sum(inter.phantom.values()) == 0
    own = add_panel(bt.Cerebro(), panel, calendar="SYN0003", progress=False)
    assert own.calendar.equals(panel["SYN0003"].index)
    add_panel(bt.Cerebro(), panel, progress=True, progress_every=2)
    err = capsys.readouterr().err
    assert "add_panel: 2/4" in err and "add_panel: 4/4" in err
    add_panel(bt.Cerebro(), panel, progress=False, progress_every=2)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="calendar"):
        add_panel(bt.Cerebro(), panel, calendar="NOPE")
    with pytest.raises(ValueError, match="min_history"):
        add_panel(bt.Cerebro(), panel, min_history=0)


class BuyAtBar(bt.Strategy):
    """Buys ``size`` shares of the first feed at bar ``at`` (1-based), logs fills."""

    params = (("at", 10), ("size", 10))

    def __init__(self):
        self.fills = []
        self.partials = []

    def notify_order(self, order):
        if order.status in (order.Partial, order.Completed):
            bit = order.executed.exbits[-1]
            self.partials.append((len(self), bit.price, bit.size))
        if order.status == order.Completed:
            self.fills.append((len(self), order.executed.price))

    def next(self):
        if len(self) == self.p.at:
            self.buy(data=self.datas[0], size=self.p.size)


@pytest.mark.parametrize("guard", [True, False])
def test_tradable_filler_holds_orders_over_phantom_bars(guard):
    panel = synthetic_panel(n_symbols=2, n=40, seed=10)
    a = panel["SYN0000"]
    panel["SYN0000"] = a.drop(a.index[10:15])  # no rows on bars 11..15 (1-based)
    panel["SYN0000"].attrs = dict(a.attrs)
    cerebro = bt.Cerebro(stdstats=False)
    add_panel(cerebro, panel, progress=False, guard_fills=guard)
    assert isinstance(cerebro.broker.p.filler, TradableFiller) is guard
    cerebro.addstrategy(BuyAtBar, at=10)
    strat = cerebro.run()[0]
    assert len(strat.fills) == 1
    bar, price = strat.fills[0]
    if guard:  # waits for the first real bar after the hole, fills at its open
        assert (bar, price) == (16, a["open"].iloc[15])
    else:  # plain Backtrader fills at the phantom bar's flat price
        assert (bar, price) == (11, a["close"].iloc[9])


def test_add_panel_leaves_an_existing_filler_alone(caplog):
    panel = synthetic_panel(n_symbols=2, n=30, seed=11)
    cerebro = bt.Cerebro(stdstats=False)
    mine = bt.broker.fillers.FixedBarPerc(perc=50)
    cerebro.broker.set_filler(mine)
    with caplog.at_level("WARNING", logger="btlstm.bt.feeds"):
        add_panel(cerebro, panel, progress=False)
    assert cerebro.broker.p.filler is mine
    assert "untradable" in caplog.text


def test_tradable_filler_caps_volume_and_validates():
    with pytest.raises(ValueError, match="perc"):
        TradableFiller(perc=0)
    df = synthetic_ohlcv(n=20, seed=3, price0=10.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1e12)
    cerebro.broker.set_filler(TradableFiller(perc=10))
    cerebro.adddata(make_feed(df))
    size = int(df["volume"].iloc[3:6].sum() * 0.12)  # needs more than 10% of one bar
    cerebro.addstrategy(BuyAtBar, at=3, size=size)
    strat = cerebro.run()[0]
    # partial fills of 10% of each bar's volume from bar 4 on, until done
    first_bar, first_price, first_size = strat.partials[0]
    assert first_bar == 4 and first_size == df["volume"].iloc[3] * 10 // 100
    assert sum(p[2] for p in strat.partials) == size


@pytest.mark.parametrize("strategy", [EqualWeight, BuyAndHold])
def test_run_modes_identical(strategy):
    panel = synthetic_panel(n_symbols=5, n=160, seed=8, late_starters=1, stoppers=1)
    results = []
    for runonce, preload in itertools.product((True, False), (True, False)):
        cerebro = bt.Cerebro(runonce=runonce, preload=preload, stdstats=False)
        cerebro.broker.setcash(100_000.0)
        add_panel(cerebro, panel, progress=False)
        cerebro.addstrategy(strategy)
        cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="tr")
        strat = cerebro.run()[0]
        tr = strat.analyzers.tr.get_analysis()
        results.append((cerebro.broker.getvalue(), list(tr.items())))
    assert results[0][0] != 100_000.0  # it traded
    for other in results[1:]:
        assert other == results[0]


class LoggedEqualWeight(EqualWeight):
    """EqualWeight that logs (symbol, fill date, tradable at fill) for every fill."""

    def __init__(self):
        super().__init__()
        self.fills = []

    def notify_order(self, order):
        if order.status == order.Completed:
            d = order.data
            self.fills.append((d._name, d.datetime.datetime(0), d.tradable[0]))
        super().notify_order(order)


def test_equal_weight_never_trades_phantom_bars():
    panel = synthetic_panel(n_symbols=4, n=130, seed=9, late_starters=2)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    add_panel(cerebro, panel, progress=False)
    cerebro.addstrategy(LoggedEqualWeight, rebalance="monthly")
    strat = cerebro.run()[0]
    assert strat.rebalances >= 5
    assert {name for name, _, _ in strat.fills} == set(panel)
    for name, when, tradable in strat.fills:
        assert tradable == 1
        assert pd.Timestamp(when) in panel[name].index


# --------------------------------------------------------------------------- real data

REAL_START, REAL_END = "2017-01-01", "2018-12-31"


def _check_analyzers(strat, cash, final):
    a = strat.analyzers
    rtot = a.returns.get_analysis()["rtot"]
    assert rtot == pytest.approx(math.log(final / cash), abs=1e-9)
    dd = a.drawdown.get_analysis()
    assert 0.0 < dd.max.drawdown < 60.0
    sharpe = a.sharpe.get_analysis()["sharperatio"]
    assert sharpe is not None and math.isfinite(sharpe) and -3 < sharpe < 5
    daily = np.array(list(a.timereturn.get_analysis().values()))
    assert np.prod(1.0 + daily) == pytest.approx(final / cash, rel=1e-9)
    assert a.trades.get_analysis()["total"]["total"] >= 1


def test_real_sector_etfs_buy_and_hold_spy_matches_file(data_dir):
    from btlstm.data.catalog import load

    etfs = load("sector_etfs", data_dir=data_dir, start=REAL_START, end=REAL_END)
    assert len(etfs) == 10
    cash = 100_000.0
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    feeds = add_panel(cerebro, etfs, progress=False)
    assert len(feeds) == 10 and sum(feeds.phantom.values()) == 0  # one shared calendar
    cerebro.addstrategy(BuyAndHold, data_name="SPY", percent=99)
    add_standard_analyzers(cerebro)
    strat = cerebro.run()[0]
    final = cerebro.broker.getvalue()
    # the expected result straight from the CSV file, not through btlstm's reader
    raw = pd.read_csv(data_dir / "spdr_sector_etfs" / "SPY.csv", parse_dates=["Date"])
    raw = raw.set_index("Date").loc[REAL_START:REAL_END]
    size = strat.getposition(strat.getdatabyname("SPY")).size
    assert size == int(0.99 * cash / raw["Close"].iloc[0])  # sized at the first close
    bought_at = raw["Open"].iloc[1]  # filled at the next open, no commission
    assert final == pytest.approx(cash + size * (raw["Close"].iloc[-1] - bought_at), rel=1e-12)
    # and the return is ~99% of the file's close ratio (open vs close of day 1 aside)
    file_ret = raw["Close"].iloc[-1] / raw["Close"].iloc[0] - 1
    assert final / cash - 1 == pytest.approx(0.99 * file_ret, abs=0.01)
    _check_analyzers(strat, cash, final)


@pytest.fixture(scope="module")
def members_2015(data_dir):
    from btlstm.data.catalog import load

    # repair="drop": the file has 2 documented OHLC-inconsistent rows
    members = load(
        "csi300_members", data_dir=data_dir, start="2015-01-01", end="2016-12-31", repair="drop"
    )
    return {c: f for c, f in members.items() if f.index[0] <= pd.Timestamp("2015-01-10")}


@pytest.mark.parametrize("n_members", [20, 100])
def test_real_csi300_members_equal_weight(members_2015, n_members):
    panel = dict(list(members_2015.items())[:n_members])
    assert len(panel) == n_members
    cash = 1_000_000.0
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(cash)
    cerebro.broker.setcommission(commission=0.001)
    feeds = add_panel(cerebro, panel, progress=False)
    cerebro.addstrategy(LoggedEqualWeight, rebalance="monthly", percent=98)
    add_standard_analyzers(cerebro)
    strat = cerebro.run()[0]
    final = cerebro.broker.getvalue()
    assert {len(d) for d in strat.datas} == {len(feeds.calendar)}
    suspended = 0
    for f in feeds:
        df, aligned = panel[f._name], f.p.dataname
        real = aligned.index.isin(df.index)
        np.testing.assert_array_equal(
            aligned["tradable"].to_numpy()[real], df["tradestatus"].to_numpy()
        )
        suspended += int((aligned["tradable"] == 0).sum())
    assert suspended > 0  # 2015-2016 had many suspensions: the line is exercised
    for name, when, tradable in strat.fills:
        assert tradable == 1, (name, when)
        assert panel[name].loc[pd.Timestamp(when), "tradestatus"] == 1
    assert strat.rebalances == 24
    _check_analyzers(strat, cash, final)
