"""HoldNDays on a deterministic 40-bar frame with hand-written predictions (no TF)."""

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from orderlog import add_order_log, orders

import btlstm  # noqa: F401  (compat patches first)
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.strategies.hold import HoldNDays

N = 40
CASH = 1_000_000.0


class PredData(bt.feeds.PandasData):
    """PandasData with a ``prediction`` line read from the ``prediction`` column."""

    lines = ("prediction",)
    params = (("prediction", "prediction"),)


def make_frame(pred, n=N):
    """Opens 100, 101, ... so a fill price names its bar; close = open + 0.5."""
    idx = pd.bdate_range("2020-01-01", periods=n, name="date")
    opens = 100.0 + np.arange(n)
    frame = pd.DataFrame(
        {
            "open": opens,
            "high": opens + 1.5,
            "low": opens - 1.0,
            "close": opens + 0.5,
            "volume": 1e6,
            "prediction": np.asarray(pred, dtype=float),
        },
        index=idx,
    )
    return frame


def preds(n=N, default=-1.0, **at):
    """A prediction column: ``default`` everywhere, ``at={'b10': 1.0}`` overrides bar 10."""
    p = np.full(n, default, dtype=float)
    for key, value in at.items():
        p[int(key[1:])] = value
    return p


class Placing(HoldNDays):
    """HoldNDays that notes every order it places: (bar, side, size asked for)."""

    def __init__(self):
        super().__init__()
        self.placed = []

    def next(self):
        before = self.order
        super().next()
        if self.order is not None and self.order is not before:
            side = "buy" if self.order.isbuy() else "sell"
            self.placed.append((len(self.data) - 1, side, abs(self.order.created.size)))


def run(frame, runonce=True, preload=True, commission=0.0, slippage=0.0, **params):
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=preload)
    cerebro.adddata(PredData(dataname=frame))
    setup_broker(cerebro, cash=CASH, commission=commission, slippage_perc=slippage)
    cerebro.addstrategy(Placing, **params)
    return add_order_log(cerebro).run()[0]


def fills(strat):
    """Executed orders as (created bar, fill bar, side, fill price)."""
    return [
        (r["created_bar"], r["bar"], r["side"], r["price"])
        for r in orders(strat)
        if r["status"] == "Completed"
    ]


def op(bar):
    return 100.0 + bar


def test_single_bullish_bar_buys_next_open_and_sells_after_hold_bars():
    frame = make_frame(preds(b10=1.0))
    strat = run(frame, hold=5)
    assert fills(strat) == [(10, 11, "buy", op(11)), (15, 16, "sell", op(16))]
    buy, sell = orders(strat)
    assert buy["date"] == frame.index[11].date() and buy["created_date"] == frame.index[10].date()
    assert buy["size"] == math.floor(0.95 * CASH / frame["close"].iloc[10])
    assert sell["size"] == buy["size"]
    assert buy["reason"] == "signal" and sell["reason"] == "clock"
    assert buy["value"] == pytest.approx(buy["size"] * op(11))
    assert strat.placed == [(10, "buy", buy["size"]), (15, "sell", buy["size"])]
    closed = strat.analyzers.trades.get_analysis()
    assert closed.total.closed == 1 and closed.len.total == 16 - 11  # bars held
    assert closed.pnl.gross.total == pytest.approx(buy["size"] * (op(16) - op(11)))


@pytest.mark.parametrize("hold", [1, 3, 7])
def test_hold_length_counts_bars_from_signal_bar(hold):
    strat = run(make_frame(preds(b10=1.0)), hold=hold)
    assert fills(strat) == [(10, 11, "buy", op(11)), (10 + hold, 11 + hold, "sell", op(11 + hold))]


def test_bullish_renewals_extend_the_clock():
    # bullish at 10, 13 and 15 (15 is the bar the first clock would exit): exit at 15+5
    strat = run(make_frame(preds(b10=1.0, b13=0.2, b15=0.1)), hold=5)
    assert fills(strat) == [(10, 11, "buy", op(11)), (20, 21, "sell", op(21))]


def test_bearish_while_holding_does_not_reset_clock():
    # seed: bearish and holding -> keep the position, exit at the ORIGINAL clock
    p = preds(default=0.0, b10=1.0, b11=-0.5, b12=-2.0, b14=-0.1, b15=-1.0, b16=-1.0)
    strat = run(make_frame(p), hold=5)
    assert fills(strat) == [(10, 11, "buy", op(11)), (15, 16, "sell", op(16))]


def test_bearish_while_flat_places_no_orders():
    strat = run(make_frame(preds(default=-0.3)), hold=5)
    assert orders(strat) == [] and strat.placed == []
    assert strat.broker.getvalue() == CASH


def test_nan_predictions_are_no_signal_and_clock_keeps_counting():
    p = np.full(N, np.nan)
    p[10] = 1.0  # the only signal; bars 11.. are NaN (model "not ready")
    p[25] = 0.5
    strat = run(make_frame(p), hold=5)
    assert fills(strat) == [
        (10, 11, "buy", op(11)),
        (15, 16, "sell", op(16)),
        (25, 26, "buy", op(26)),
        (30, 31, "sell", op(31)),
    ]
    strat = run(make_frame(np.full(N, np.nan)), hold=5)
    assert orders(strat) == [] and strat.placed == []


def test_threshold_is_strict_and_not_zero():
    # 0.3 < 0.5: no buy; 0.6 buys; exactly 0.5 is not bullish (no renewal)
    p = preds(default=0.0, b5=0.3, b10=0.6, b13=0.5)
    strat = run(make_frame(p), hold=5, threshold=0.5)
    assert fills(strat) == [(10, 11, "buy", op(11)), (15, 16, "sell", op(16))]
    # a negative threshold makes slightly negative predictions bullish
    p = preds(default=-1.0, b10=-0.05)
    strat = run(make_frame(p), hold=5, threshold=-0.1)
    assert fills(strat) == [(10, 11, "buy", op(11)), (15, 16, "sell", op(16))]


def test_reentry_after_exit_and_open_position_at_end():
    p = preds(b10=1.0, b16=1.0, b37=1.0)
    strat = run(make_frame(p), hold=5)
    assert fills(strat) == [
        (10, 11, "buy", op(11)),
        (15, 16, "sell", op(16)),
        (16, 17, "buy", op(17)),
        (21, 22, "sell", op(22)),
        (37, 38, "buy", op(38)),
    ]
    assert strat.position.size > 0  # clock (42) runs past the data


def test_costs_commission_and_slippage_are_charged():
    frame = make_frame(preds(b10=1.0))
    strat = run(frame, hold=5, commission=0.001, slippage=0.0002)
    buy, sell = [r for r in orders(strat) if r["status"] == "Completed"]
    assert buy["price"] == pytest.approx(op(11) * 1.0002)
    assert sell["price"] == pytest.approx(op(16) * 0.9998)
    assert buy["commission"] == pytest.approx(buy["size"] * buy["price"] * 0.001)
    assert sell["commission"] == pytest.approx(sell["size"] * sell["price"] * 0.001)
    gross = buy["size"] * (sell["price"] - buy["price"])
    final = strat.broker.getvalue()
    assert final == pytest.approx(CASH + gross - buy["commission"] - sell["commission"])
    assert strat.analyzers.trades.get_analysis().pnl.net.total == pytest.approx(
        gross - buy["commission"] - sell["commission"]
    )


def test_margin_rejection_is_logged_and_cleared():
    # percent=100 sizes on close[t]; open[t+1] = close[t] + 0.5 -> not enough cash
    p = preds(b10=1.0, b12=1.0)
    strat = run(make_frame(p), hold=5, percent=100)
    rows = [(r["created_bar"], r["bar"], r["side"], r["status"]) for r in orders(strat)]
    assert rows == [(10, 11, "buy", "Margin"), (12, 13, "buy", "Margin")]
    assert [r["size"] for r in orders(strat)] == [pytest.approx(math.nan, nan_ok=True)] * 2
    assert strat.order is None and strat.position.size == 0


class Momentum(bt.Indicator):
    """Test predictor: one-bar close change minus ``offset``."""

    lines = ("prediction",)
    params = (("offset", 0.0),)

    def __init__(self):
        self.lines.prediction = self.data.close - self.data.close(-1) - self.p.offset


def test_predictor_class_matches_precomputed_column():
    rng = np.random.default_rng(3)
    frame = make_frame(np.zeros(N))
    frame["open"] = 100.0 + rng.normal(0, 1.0, N)  # no trend: the signal flips often
    frame["close"] = 100.0 + rng.normal(0, 1.0, N)
    frame["high"] = frame[["open", "close"]].max(axis=1) + 0.5
    frame["low"] = frame[["open", "close"]].min(axis=1) - 0.5
    column = (frame["close"].diff() - 0.3).to_numpy()
    frame["prediction"] = column
    via_line = run(frame, hold=2)
    via_predictor = run(frame, hold=2, predictor=Momentum, predictor_kwargs={"offset": 0.3})
    assert len(fills(via_line)) >= 4
    assert fills(via_predictor) == fills(via_line)


def test_bad_parameters_raise_clear_errors():
    frame = make_frame(preds(b10=1.0))
    with pytest.raises(ValueError, match="`hold` must be an integer >= 1.*0"):
        run(frame, hold=0)
    with pytest.raises(ValueError, match="`percent`.*150"):
        run(frame, percent=150)
    with pytest.raises(ValueError, match="'signal_x' is not a line"):
        run(frame, signal="signal_x")
    with pytest.raises(TypeError, match="`predictor` must be a backtrader Indicator class"):
        run(frame, predictor="LSTM")


def _garbage_after(frame, t, seed, pred=None):
    """Random prices after bar t; predictions random (``pred=None``) or constant."""
    rng = np.random.default_rng(seed)
    g = frame.copy()
    m = N - t - 1
    a = rng.uniform(1.0, 1000.0, m)
    b = rng.uniform(1.0, 1000.0, m)
    g.iloc[t + 1 :, g.columns.get_loc("open")] = a
    g.iloc[t + 1 :, g.columns.get_loc("close")] = b
    g.iloc[t + 1 :, g.columns.get_loc("high")] = np.maximum(a, b) * 1.1
    g.iloc[t + 1 :, g.columns.get_loc("low")] = np.minimum(a, b) * 0.9
    future = rng.normal(0.0, 1.0, m) if pred is None else np.full(m, pred)
    g.iloc[t + 1 :, g.columns.get_loc("prediction")] = future
    return g


def _decisions(strat, t):
    return [(bar, side, size) for bar, side, size in strat.placed if bar <= t]


def test_no_look_ahead_orders_up_to_t_ignore_the_future():
    """For every t: garbage prices and predictions after t leave every order
    decided at or before t (bar, side, size) and every fill up to t unchanged."""
    p = preds(default=-0.2, b10=1.0, b13=0.4, b21=0.3, b22=-1.0, b29=2.0)
    p[3:6] = np.nan
    frame = make_frame(p)
    base = run(frame, hold=5, commission=0.0003)
    assert len(_decisions(base, 39)) == 6  # buy 10, sell 18, buy 21, sell 26, buy 29, sell 34
    for t in range(8, N - 1):
        for seed, pred in ((t, None), (1, 5.0), (2, -5.0), (3, np.nan)):
            other = run(_garbage_after(frame, t, seed, pred), hold=5, commission=0.0003)
            assert _decisions(other, t) == _decisions(base, t), (t, pred)
            # fills that happened by bar t are identical to the last digit
            done = [r for r in orders(base) if r["bar"] <= t]
            assert [r for r in orders(other) if r["bar"] <= t] == done, (t, pred)


def test_run_modes_give_identical_orders():
    p = preds(default=-0.2, b10=1.0, b13=0.4, b21=0.3, b29=2.0)
    p[3:6] = np.nan
    frame = make_frame(p)
    logs = []
    for runonce in (True, False):
        for preload in (True, False):
            strat = run(frame, runonce=runonce, preload=preload, commission=0.0003, slippage=2e-4)
            logs.append((strat.placed, orders(strat)))
    assert len(logs[0][0]) == len(logs[0][1]) == 6
    for log in logs[1:]:
        assert log == logs[0]


def test_index_costs_defaults_are_used_by_setup_broker():
    cerebro = setup_broker(bt.Cerebro())
    broker = cerebro.broker
    assert broker.getcash() == INDEX_COSTS["cash"]
    assert broker.comminfo[None].p.commission == INDEX_COSTS["commission"]
    assert broker.p.slip_perc == INDEX_COSTS["slippage_perc"]
    assert broker.p.coc is INDEX_COSTS["coc"] and broker.p.slip_open is INDEX_COSTS["slip_open"]
    with pytest.raises(ValueError, match="`commission`.*-0.1"):
        setup_broker(bt.Cerebro(), commission=-0.1)
    with pytest.raises(ValueError, match="`cash`.*0"):
        setup_broker(bt.Cerebro(), cash=0)


def _reference_orders(pred, hold, threshold=0.0):
    """The seed's rule as a plain loop: (decision bar, side) for every order."""
    holding, exit_bar, out = False, None, []
    for t, p in enumerate(pred):
        bullish = bool(np.isfinite(p) and p > threshold)
        if bullish:
            exit_bar = t + hold
        if bullish and not holding:
            out.append((t, "buy"))
            holding = True
        elif holding and not bullish and t >= exit_bar:
            out.append((t, "sell"))
            holding = False
    return out


def test_csi300_momentum_signal_matches_reference_rule_with_index_costs(data_dir):
    raw = pd.read_csv(data_dir / "cn_index_daily" / "eastmoney_akshare" / "000300.csv")
    frame = pd.DataFrame(
        {
            "open": raw["开盘"].to_numpy(float),
            "high": raw["最高"].to_numpy(float),
            "low": raw["最低"].to_numpy(float),
            "close": raw["收盘"].to_numpy(float),
            "volume": raw["成交量"].to_numpy(float),
        },
        index=pd.DatetimeIndex(pd.to_datetime(raw["日期"]), name="date"),
    ).loc["2015-01-01":"2017-05-01"]
    # a causal hand-made signal: trailing 5-bar return minus 0.5%
    frame["prediction"] = frame["close"].pct_change(5) - 0.005
    n = len(frame)
    assert 560 < n < 590

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=frame))
    setup_broker(cerebro)  # INDEX_COSTS: 3 bps commission, 2 bps slippage
    cerebro.addstrategy(HoldNDays, hold=5)
    strat = add_order_log(cerebro).run()[0]

    log = orders(strat)
    assert all(r["status"] == "Completed" for r in log)
    want = [o for o in _reference_orders(frame["prediction"].to_numpy(), 5) if o[0] < n - 1]
    assert [(r["created_bar"], r["side"]) for r in log] == want
    assert len(want) > 40
    opens, highs, lows = (frame[c].to_numpy() for c in ("open", "high", "low"))
    slip = INDEX_COSTS["slippage_perc"]
    for r in log:
        b = r["bar"]
        assert b == r["created_bar"] + 1
        expected = (
            min(opens[b] * (1 + slip), highs[b])
            if r["side"] == "buy"
            else max(opens[b] * (1 - slip), lows[b])
        )
        assert r["price"] == pytest.approx(expected, rel=1e-12)
        assert r["commission"] == pytest.approx(r["value"] * INDEX_COSTS["commission"], rel=1e-12)
