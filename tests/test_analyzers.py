"""btlstm analyzers against independent numpy/scipy computations (no TF)."""

import math

import backtrader as bt
import numpy as np
import orderlog
import pandas as pd
import pytest
from scipy import stats

import btlstm  # noqa: F401  (compat patches first)
from btlstm import metrics
from btlstm.bt.analyzers import (
    STANDARD_NAMES,
    SUMMARY_KEYS,
    BenchmarkRelative,
    Exposure,
    OrderLog,
    PredictionQuality,
    Weights,
    add_standard_analyzers,
    summary_row,
)
from btlstm.bt.broker import setup_broker
from btlstm.bt.feeds import add_panel
from btlstm.bt.rebalance import Rebalancer
from btlstm.strategies.buyhold import EqualWeight
from btlstm.strategies.hold import HoldNDays
from btlstm.synthetic import synthetic_panel

CASH = 1_000_000.0


class PredData(bt.feeds.PandasData):
    lines = ("prediction",)
    params = (("prediction", "prediction"),)


def random_frame(n=120, seed=0, drift=0.0004, vol=0.012, pred_noise=1.0):
    """Random-walk OHLC; prediction = next-5-bar return + noise, with NaNs and zeros."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    opens = close * np.exp(rng.normal(0.0, 0.003, n))
    fwd = np.full(n, np.nan)
    fwd[:-5] = close[5:] / close[:-5] - 1.0
    pred = np.nan_to_num(fwd, nan=0.0) * 10 + rng.normal(0.0, 0.1 * pred_noise, n)
    pred[:7] = np.nan  # model not ready
    pred[[20, 25]] = 0.0  # exact zeros are excluded from the hit rate
    return pd.DataFrame(
        {
            "open": opens,
            "high": np.maximum(opens, close) * 1.004,
            "low": np.minimum(opens, close) * 0.996,
            "close": close,
            "volume": 1e6,
            "prediction": pred,
        },
        index=pd.bdate_range("2021-01-04", periods=n, name="date"),
    )


class Idle(bt.Strategy):
    """No trades; a slow SMA makes the first 10 bars warm-up (prenext) bars."""

    def __init__(self):
        self.sma = bt.indicators.SMA(self.data.close, period=10)


class FloatPrediction(bt.Strategy):
    """Exposes ``prediction`` as a plain float updated in ``next``/``prenext``."""

    def __init__(self):
        self.prediction = float("nan")

    def prenext(self):
        self.next()

    def next(self):
        self.prediction = float(self.data.prediction[0])


def _run(frame, strategy, analyzers, commission=0.0, slippage=0.0, coc=False, **kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=frame))
    setup_broker(cerebro, cash=CASH, commission=commission, slippage_perc=slippage, coc=coc)
    cerebro.addstrategy(strategy, **kw)
    for name, cls, params in analyzers:
        cerebro.addanalyzer(cls, _name=name, **params)
    return cerebro.run()[0]


# -- PredictionQuality ---------------------------------------------------------


def _by_hand(frame, h):
    pred = frame["prediction"].to_numpy()
    close = frame["close"].to_numpy()
    realised = np.full(len(close), np.nan)
    realised[:-h] = close[h:] / close[:-h] - 1.0
    ok = np.isfinite(pred) & np.isfinite(realised)
    p, r = pred[ok], realised[ok]
    nz = (p != 0) & (r != 0)
    return {
        "count": int(ok.sum()),
        "hit_rate": float(np.mean(np.sign(p[nz]) == np.sign(r[nz]))),
        "ic": float(np.corrcoef(p, r)[0, 1]),
        "rank_ic": float(stats.spearmanr(p, r).statistic),
        "mean_prediction": float(p.mean()),
        "mean_realised": float(r.mean()),
        "long_hit_rate": float(np.mean(r[p > 0] > 0)),
        "realised": realised,
    }


@pytest.mark.parametrize("h", [1, 5])
def test_prediction_quality_matches_numpy_and_scipy(h):
    frame = random_frame(seed=1)
    strat = _run(frame, Idle, [("pq", PredictionQuality, {"signal": "prediction", "horizon": h})])
    got = strat.analyzers.pq.get_analysis()
    want = _by_hand(frame, h)
    assert got["count"] == want["count"] == len(frame) - 7 - h
    for key in ("hit_rate", "ic", "rank_ic", "mean_prediction", "mean_realised", "long_hit_rate"):
        assert got[key] == pytest.approx(want[key], rel=1e-12, abs=1e-15), key
    assert 0.3 < got["ic"] < 1.0  # the planted signal is found
    recs = got["records"]
    assert len(recs) == len(frame)  # warm-up bars (SMA period 10) are recorded too
    assert [r["date"].date() for r in recs] == list(frame.index.date)
    np.testing.assert_array_equal([r["realised"] for r in recs], want["realised"])
    np.testing.assert_array_equal([r["prediction"] for r in recs], frame["prediction"].to_numpy())


def test_prediction_quality_ties_use_average_ranks():
    frame = random_frame(n=60, seed=2)
    frame["prediction"] = np.round(frame["prediction"], 1)  # many ties
    strat = _run(frame, Idle, [("pq", PredictionQuality, {"signal": "prediction"})])
    want = _by_hand(frame, 5)
    assert strat.analyzers.pq.get_analysis()["rank_ic"] == pytest.approx(want["rank_ic"], rel=1e-12)


def test_prediction_quality_reads_strategy_prediction_line_or_float():
    frame = random_frame(seed=3)
    cfg = [("pq", PredictionQuality, {"signal": None, "horizon": 5})]
    by_line = _run(frame, HoldNDays, cfg).analyzers.pq.get_analysis()
    by_float = _run(frame, FloatPrediction, cfg).analyzers.pq.get_analysis()
    want = _by_hand(frame, 5)
    for got in (by_line, by_float):
        assert got["count"] == want["count"]
        assert got["ic"] == pytest.approx(want["ic"], rel=1e-12)
        assert got["hit_rate"] == pytest.approx(want["hit_rate"], rel=1e-12)


def test_prediction_quality_errors_name_the_problem():
    frame = random_frame(n=30)
    with pytest.raises(ValueError, match="'pred' is not a line"):
        _run(frame, Idle, [("pq", PredictionQuality, {"signal": "pred"})])
    with pytest.raises(ValueError, match="`horizon`.*0"):
        _run(frame, Idle, [("pq", PredictionQuality, {"signal": "prediction", "horizon": 0})])
    with pytest.raises(AttributeError, match="has no `prediction`|has none"):
        _run(frame, Idle, [("pq", PredictionQuality, {"signal": None})])


# -- BenchmarkRelative -----------------------------------------------------------


class BuyAllAtFirstClose(bt.Strategy):
    """Buy-and-hold of data0 at bar 0's close (needs coc), fractional size."""

    params = (("fraction", 0.999999),)  # share of cash invested

    def __init__(self):
        self.values = []

    def next(self):
        if len(self) == 1:
            size = self.p.fraction * self.broker.getcash() / self.data.close[0]
            self.buy(size=size)
        self.values.append(self.broker.getvalue())


def _benchmark_by_hand(values, closes, ann=252):
    v, c = np.asarray(values), np.asarray(closes)
    rp, rb = v[1:] / v[:-1] - 1, c[1:] / c[:-1] - 1
    beta = np.cov(rp, rb, ddof=0)[0, 1] / np.var(rb)
    act = rp - rb
    return {
        "total_return": v[-1] / CASH - 1,
        "benchmark_return": c[-1] / c[0] - 1,
        "beta": beta,
        "alpha": (rp.mean() - beta * rb.mean()) * ann,
        "tracking_error": act.std() * math.sqrt(ann),
        "information_ratio": act.mean() / act.std() * math.sqrt(ann),
        "correlation": np.corrcoef(rp, rb)[0, 1],
        "benchmark_max_drawdown": np.max(1 - c / np.maximum.accumulate(c)),
        "benchmark_sharpe": rb.mean() / rb.std() * math.sqrt(ann),
    }


@pytest.mark.parametrize("commission", [0.0, 0.0003])
def test_buy_and_hold_on_the_benchmark_has_beta_one_and_no_excess(commission):
    frame = random_frame(n=250, seed=4, vol=0.015)
    strat = _run(
        frame,
        BuyAllAtFirstClose,
        [("bench", BenchmarkRelative, {})],
        commission=commission,
        coc=True,
        fraction=0.999999 - commission,
    )
    got = strat.analyzers.bench.get_analysis()
    assert got["n_periods"] == len(frame) - 1
    # the commission is paid inside the first daily return: a 3 bps blip
    assert got["beta"] == pytest.approx(1.0, abs=1e-5 + 0.1 * commission)
    assert got["correlation"] == pytest.approx(1.0, abs=1e-6 + commission)
    assert got["tracking_error"] < 1e-5 + 2 * commission
    # the only gap to the benchmark is the commission paid once (and dust cash)
    assert got["excess_return"] == pytest.approx(
        -commission * (1 + got["benchmark_return"]), abs=1e-5
    )
    assert abs(got["alpha"]) < 1e-4 + 252 * commission / got["n_periods"]
    want = _benchmark_by_hand(strat.values, frame["close"])
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


def test_benchmark_relative_on_a_separate_benchmark_feed():
    traded = random_frame(n=150, seed=5)
    bench = random_frame(n=150, seed=6)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=traded), name="traded")
    bench_feed = PredData(dataname=bench)
    cerebro.adddata(bench_feed, name="bench")
    setup_broker(cerebro, cash=CASH, commission=0.0003, slippage_perc=0.0)

    class Record(HoldNDays):
        def __init__(self):
            super().__init__()
            self.values = []

        def next(self):
            super().next()
            self.values.append(self.broker.getvalue())

    cerebro.addstrategy(Record, hold=3)
    # start="data": every bar (the default starts at the first finite prediction, bar 7)
    cerebro.addanalyzer(BenchmarkRelative, _name="bench", benchmark=bench_feed, start="data")
    cerebro.addanalyzer(OrderLog, _name="orders")
    strat = cerebro.run()[0]
    assert len([r for r in orderlog.orders(strat) if r["status"] == "Completed"]) >= 6
    got = strat.analyzers.bench.get_analysis()
    want = _benchmark_by_hand(strat.values, bench["close"])
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert abs(got["beta"]) < 0.5  # independent random walks


# -- Backtrader's SharpeRatio / Returns / DrawDown cross-check -------------------


class RecordingHold(HoldNDays):
    def __init__(self):
        super().__init__()
        self.values = []

    def next(self):
        super().next()
        self.values.append(self.broker.getvalue())


@pytest.mark.parametrize("riskfree", [0.0, 0.03])
def test_backtrader_sharpe_returns_drawdown_match_daily_values(riskfree):
    frame = random_frame(n=200, seed=7, pred_noise=5.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=frame))
    setup_broker(cerebro, cash=CASH)  # default index costs
    cerebro.addstrategy(RecordingHold, hold=5)
    # start="data": every bar (tests/test_cerebro_window.py checks the default window)
    add_standard_analyzers(cerebro, riskfree=riskfree, signal="prediction", start="data")
    strat = cerebro.run()[0]
    assert len(orderlog.orders(strat)) >= 6
    an = strat.analyzers

    v = np.asarray([CASH] + strat.values)
    r = v[1:] / v[:-1] - 1.0  # one daily return per bar, the first from the starting cash
    timereturn = np.asarray(list(an.timereturn.get_analysis().values()))
    np.testing.assert_allclose(timereturn, r, rtol=0, atol=1e-15)

    rf_daily = (1.0 + riskfree) ** (1.0 / 252) - 1.0
    ex = r - rf_daily
    sharpe = ex.mean() / ex.std(ddof=0) * math.sqrt(252)
    assert an.sharpe.get_analysis()["sharperatio"] == pytest.approx(sharpe, rel=1e-9)

    rets = an.returns.get_analysis()
    rtot = math.log(v[-1] / v[0])
    assert rets["rtot"] == pytest.approx(rtot, rel=1e-12)
    assert rets["ravg"] == pytest.approx(rtot / len(r), rel=1e-12)
    assert rets["rnorm"] == pytest.approx(math.expm1(rtot / len(r) * 252), rel=1e-12)

    dd = np.max(1.0 - v / np.maximum.accumulate(v)) * 100.0
    assert an.drawdown.get_analysis()["max"]["drawdown"] == pytest.approx(dd, rel=1e-9)

    # btlstm.metrics computes the same figures from the same values
    assert metrics.sharpe_ratio(r, riskfree=riskfree) == pytest.approx(sharpe, rel=1e-12)
    assert metrics.max_drawdown(v) * 100.0 == pytest.approx(dd, rel=1e-12)
    total = metrics.total_return(v)
    assert metrics.annual_return(total, len(r)) == pytest.approx(rets["rnorm"], rel=1e-9)

    # our own analyzers agree with the same values
    bench = an.benchmark.get_analysis()
    assert bench["total_return"] == pytest.approx(v[-1] / CASH - 1.0, rel=1e-12)
    assert an.prediction.get_analysis()["count"] == _by_hand(frame, 5)["count"]


# -- Exposure ------------------------------------------------------------------


def test_exposure_on_a_known_schedule_is_exactly_half():
    n = 40
    frame = random_frame(n=n, seed=8)
    pred = np.full(n, -1.0)
    pred[[0, 10, 20, 30]] = 1.0  # hold=5: in the market at the closes of 1-5, 11-15, 21-25, 31-35
    frame["prediction"] = pred
    strat = _run(
        frame,
        RecordingHold,
        [("exp", Exposure, {}), ("orders", OrderLog, {})],
        commission=0.0003,
        hold=5,
    )
    got = strat.analyzers.exp.get_analysis()
    log = orderlog.orders(strat)
    assert got["exposure"] == 0.5
    assert got["n_bars"] == n and got["n_orders"] == 8 and got["n_trades"] == 4

    held = np.zeros(n)
    for k in range(4):
        buy = log[2 * k]
        assert buy["side"] == "buy" and buy["bar"] == 10 * k + 1
        held[10 * k + 1 : 10 * k + 6] = buy["size"]
    values = np.asarray(strat.values)
    gross = held * frame["close"].to_numpy() / values
    assert got["avg_gross_exposure"] == pytest.approx(gross.mean(), rel=1e-12)
    assert 0.45 < got["avg_gross_exposure"] < 0.5  # 95% invested half of the time
    traded = sum(r["size"] * r["price"] for r in log)
    assert got["traded_value"] == pytest.approx(traded, rel=1e-12)
    assert got["turnover"] == pytest.approx(traded / values.mean(), rel=1e-12)
    assert got["turnover_annualized"] == pytest.approx(got["turnover"] * 252 / n, rel=1e-12)


def test_exposure_flat_strategy_is_zero():
    strat = _run(random_frame(n=30), Idle, [("exp", Exposure, {})])
    got = strat.analyzers.exp.get_analysis()
    assert (got["exposure"], got["avg_gross_exposure"], got["turnover"]) == (0.0, 0.0, 0.0)
    assert (got["n_orders"], got["n_trades"]) == (0, 0)


# -- add_standard_analyzers -----------------------------------------------------


def test_add_standard_analyzers_names_and_settings():
    frame = random_frame(n=40)
    for signal, names in ((None, STANDARD_NAMES[:-2]), (True, STANDARD_NAMES)):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(PredData(dataname=frame))
        cerebro.addstrategy(HoldNDays)
        add_standard_analyzers(cerebro, riskfree=0.01, signal=signal, horizon=3)
        strat = cerebro.run()[0]
        assert tuple(strat.analyzers.getnames()) == names
        sharpe = strat.analyzers.sharpe
        assert sharpe.p.timeframe == bt.TimeFrame.Days and sharpe.p.riskfreerate == 0.01
        assert sharpe.p.factor == 252 and sharpe.p.annualize is True
        if signal:
            assert strat.analyzers.prediction.p.horizon == 3
    with pytest.raises(ValueError, match="`signal`.*3.5"):
        add_standard_analyzers(bt.Cerebro(), signal=3.5)


def test_benchmark_starting_later_is_compared_from_its_first_close():
    traded = random_frame(n=80, seed=9)
    bench = random_frame(n=80, seed=10).iloc[10:]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=traded))
    bench_feed = PredData(dataname=bench)
    cerebro.adddata(bench_feed)
    setup_broker(cerebro, cash=CASH, commission=0.0)
    cerebro.addstrategy(Idle)
    cerebro.addanalyzer(BenchmarkRelative, _name="bench", benchmark=bench_feed)
    got = cerebro.run()[0].analyzers.bench.get_analysis()
    assert got["n_periods"] == len(bench) - 1
    c = bench["close"].to_numpy()
    assert got["benchmark_return"] == pytest.approx(c[-1] / c[0] - 1.0, rel=1e-12)
    assert got["benchmark_max_drawdown"] == pytest.approx(
        np.max(1 - c / np.maximum.accumulate(c)), rel=1e-12
    )
    assert got["total_return"] == 0.0 and got["excess_return"] == -got["benchmark_return"]


class EarlyBuyer(bt.Strategy):
    """Buys data0 on its first bar (filled at the second bar's open), then holds; it acts
    in ``prenext`` too, before the benchmark feed has started."""

    def prenext(self):
        self.next()

    def next(self):
        if len(self) == 1:
            self.order_target_percent(data=self.datas[0], target=0.9)


def test_benchmark_starting_later_total_return_runs_from_the_start_value():
    # the strategy trades (and moves its value) before the benchmark's first bar: the
    # total return must still be final / start value - 1, not from the value on the
    # benchmark's first bar (a bug the Idle test above cannot see: its value never moves)
    traded = random_frame(n=80, seed=11, drift=0.004)
    bench = random_frame(n=80, seed=12).iloc[20:]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=traded))
    bench_feed = PredData(dataname=bench)
    cerebro.adddata(bench_feed)
    setup_broker(cerebro, cash=CASH, commission=0.0)
    cerebro.addstrategy(EarlyBuyer)
    cerebro.addanalyzer(BenchmarkRelative, _name="bench", benchmark=bench_feed)
    strat = cerebro.run()[0]
    got = strat.analyzers.bench.get_analysis()
    final = strat.broker.getvalue()
    values = np.asarray(got["series"]["values"])
    assert abs(values[20] / CASH - 1.0) > 0.01  # the value moved before the benchmark began
    assert got["start_value"] == CASH and got["final_value"] == final
    assert got["total_return"] == pytest.approx(final / CASH - 1.0, rel=1e-12)
    assert got["excess_return"] == pytest.approx(
        got["total_return"] - got["benchmark_return"], rel=1e-12
    )
    assert got["n_periods"] == len(bench) - 1


# -- PredictionQuality over many feeds ------------------------------------------


def _panel_with_predictions(seed=3, h=5):
    panel = synthetic_panel(n_symbols=4, n=80, seed=seed, late_starters=1, stoppers=1)
    rng = np.random.default_rng(seed)
    out = {}
    for k, (sym, df) in enumerate(panel.items()):
        df = df.copy()
        fwd = (df["close"].shift(-h) / df["close"] - 1.0).fillna(0.0).to_numpy()
        pred = fwd * 5 + rng.normal(0.0, 0.02, len(df))
        pred[: 3 + k] = np.nan  # not ready yet
        df["prediction"] = pred
        out[sym] = df
    # SYN0002 is suspended on real bars 30..34 (real prediction, but untradable)
    ts = np.ones(len(out["SYN0002"]))
    ts[30:35] = 0.0
    out["SYN0002"]["tradestatus"] = ts
    return out


class Signals(bt.Strategy):
    """A multi-feed strategy that exposes its signals as ``{feed name: line}``."""

    def __init__(self):
        self.signals = {d._name: d.prediction for d in self.datas}


def _run_panel(panel, strategy=Signals, h=5, signal=True, **kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    feeds = add_panel(cerebro, panel, extra_lines=("prediction",), progress=False)
    cerebro.addstrategy(strategy, **kw)
    add_standard_analyzers(cerebro, signal=signal, horizon=h)
    return cerebro.run()[0], feeds


def _long_by_hand(feeds, h):
    """date x symbol frames of prediction and realised return, independently of btlstm."""
    preds, reals = {}, {}
    for f in feeds:
        a = f.p.dataname
        close = a["close"].to_numpy()
        real = np.full(len(a), np.nan)
        real[:-h] = close[h:] / close[:-h] - 1.0
        real[a["tradable"].to_numpy() == 0] = np.nan
        preds[f._name] = pd.Series(a["prediction"].to_numpy(), index=a.index)
        reals[f._name] = pd.Series(real, index=a.index)
    return pd.DataFrame(preds), pd.DataFrame(reals)


def test_prediction_quality_scores_every_feed_of_the_signals_dict():
    h = 5
    panel = _panel_with_predictions(h=h)
    strat, feeds = _run_panel(panel, h=h)
    got = strat.analyzers.prediction.get_analysis()
    pred, real = _long_by_hand(feeds, h)
    assert pred["SYN0002"].iloc[30:35].notna().all()  # suspended bars do have predictions

    # records: every bar of every feed, by date then feed order, realised NaN when untradable
    recs = got["records"]
    n_bars = len(feeds.calendar)
    assert len(recs) == 4 * n_bars
    syms = [f._name for f in feeds]
    assert [r["symbol"] for r in recs[:4]] == syms
    assert [pd.Timestamp(r["date"]) for r in recs[::4]] == list(feeds.calendar)
    got_real = pd.DataFrame(recs).pivot(index="date", columns="symbol", values="realised")
    got_pred = pd.DataFrame(recs).pivot(index="date", columns="symbol", values="prediction")
    np.testing.assert_array_equal(got_real[syms].to_numpy(), real[syms].to_numpy())
    np.testing.assert_array_equal(got_pred[syms].to_numpy(), pred[syms].to_numpy())

    # pooled statistics over every (date, symbol) pair, against scipy
    p, r = pred.to_numpy().ravel(), real.to_numpy().ravel()
    ok = np.isfinite(p) & np.isfinite(r)
    assert got["count"] == int(ok.sum())
    assert got["ic"] == pytest.approx(stats.pearsonr(p[ok], r[ok])[0], rel=1e-9)
    assert got["rank_ic"] == pytest.approx(stats.spearmanr(p[ok], r[ok])[0], rel=1e-9)
    assert got["long_hit_rate"] == pytest.approx(np.mean(r[ok][p[ok] > 0] > 0), rel=1e-12)
    assert got["ic"] > 0.3  # the planted signal is found

    # per asset
    assert list(got["per_asset"]) == syms
    for sym in syms:
        a, b = pred[sym].to_numpy(), real[sym].to_numpy()
        okk = np.isfinite(a) & np.isfinite(b)
        q = got["per_asset"][sym]
        assert q["count"] == int(okk.sum())
        assert q["ic"] == pytest.approx(stats.pearsonr(a[okk], b[okk])[0], rel=1e-9)
        assert q["rank_ic"] == pytest.approx(stats.spearmanr(a[okk], b[okk])[0], rel=1e-9)

    # per date: summaries of the daily cross-sectional IC
    daily = []
    for date in pred.index:
        a, b = pred.loc[date].to_numpy(), real.loc[date].to_numpy()
        okk = np.isfinite(a) & np.isfinite(b)
        if okk.sum() >= 2 and np.ptp(a[okk]) > 0 and np.ptp(b[okk]) > 0:
            daily.append(stats.spearmanr(a[okk], b[okk])[0])
    daily = np.asarray(daily)
    rank = got["per_date"]["rank_ic"]
    assert rank["n"] == len(daily) > 40
    assert rank["mean"] == pytest.approx(daily.mean(), rel=1e-9)
    assert rank["t_stat"] == pytest.approx(stats.ttest_1samp(daily, 0.0).statistic, rel=1e-9)
    assert set(got["per_date"]["ic"]) == {"mean", "std", "icir", "t_stat", "n"}


def test_prediction_quality_single_feed_keys_and_symbol():
    frame = random_frame(seed=1)
    strat = _run(frame, Idle, [("pq", PredictionQuality, {"signal": "prediction"})])
    got = strat.analyzers.pq.get_analysis()
    assert {r["symbol"] for r in got["records"]} == {"data0"}  # an unnamed feed
    assert list(got["per_asset"]) == ["data0"]
    one = got["per_asset"]["data0"]
    for key in ("count", "hit_rate", "ic", "rank_ic", "mean_prediction", "mean_realised"):
        assert one[key] == got[key], key
    assert got["per_date"] == {}
    want = metrics.prediction_quality(
        frame["prediction"], metrics.forward_returns(frame["close"], 5)
    )
    assert {k: got[k] for k in want} == want


def test_prediction_quality_signals_errors_name_the_key():
    panel = _panel_with_predictions()

    class Wrong(bt.Strategy):
        def __init__(self):
            self.signals = {"NOPE": self.datas[0].prediction}

    with pytest.raises(ValueError, match=r"signals has key 'NOPE', which names no feed"):
        _run_panel(panel, strategy=Wrong)

    class Empty(bt.Strategy):
        def __init__(self):
            self.signals = {}

    with pytest.raises(ValueError, match=r"Empty.signals must be a non-empty dict"):
        _run_panel(panel, strategy=Empty)


def test_prediction_quality_feeds_on_other_calendars_are_not_recorded_twice():
    a = random_frame(n=40, seed=13)
    b = random_frame(n=40, seed=14).iloc[::2]  # every other day

    class Two(bt.Strategy):
        def __init__(self):
            self.signals = {"a": self.datas[0].prediction, "b": self.datas[1].prediction}

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=a), name="a")
    cerebro.adddata(PredData(dataname=b), name="b")
    cerebro.addstrategy(Two)
    cerebro.addanalyzer(PredictionQuality, _name="pq", horizon=2)
    got = cerebro.run()[0].analyzers.pq.get_analysis()
    recs = pd.DataFrame(got["records"])
    assert (recs["symbol"] == "b").sum() == len(b)
    rb = recs[recs["symbol"] == "b"]["realised"].to_numpy()
    c = b["close"].to_numpy()
    np.testing.assert_allclose(rb[:-2], c[2:] / c[:-2] - 1.0, rtol=1e-15)  # h bars of b's own


# -- OrderLog and Weights ---------------------------------------------------------


class Noting(HoldNDays):
    """HoldNDays that notes every finished order itself: an independent check on OrderLog."""

    def __init__(self):
        super().__init__()
        self.noted = []

    def notify_order(self, order):
        if not order.alive():
            ex = order.executed
            size, price = (abs(ex.size), ex.price) if ex.size else (math.nan, math.nan)
            self.noted.append(
                {
                    "created_date": bt.num2date(order.created.dt).date(),
                    "date": self.data.datetime.date(0),
                    "side": "buy" if order.isbuy() else "sell",
                    "size": size,
                    "price": price,
                    "value": size * price,
                    "commission": ex.comm,
                    "status": order.getstatusname(),
                    "reason": order.info.get("reason"),
                }
            )
        super().notify_order(order)


def test_order_log_matches_the_orders_a_strategy_sees():
    frame = random_frame(n=120, seed=15, pred_noise=3.0)
    strat = _run(frame, Noting, [("orders", OrderLog, {})], commission=0.0003, hold=3)
    rows = strat.analyzers.orders.get_analysis()["orders"]
    assert len(rows) == len(strat.noted) >= 6
    keys = ("created_date", "date", "side", "size", "price", "value", "commission", "status")
    for got, want in zip(rows, strat.noted, strict=True):
        assert got["symbol"] == "data0"
        for key in keys + ("reason",):
            assert got[key] == want[key], key
    assert set(rows[0]) == {"symbol", "reason", "detail", *keys}


def test_order_log_records_cancelled_orders_and_reasons():
    panel = _panel_with_predictions()
    # SYN0002 suspended on its real bars 30..34: an order placed on bar 29 waits, then is
    # cancelled by the next rebalance on bar 32
    cal = pd.DatetimeIndex(sorted(set().union(*(df.index for df in panel.values()))))
    bar29 = cal.get_loc(panel["SYN0002"].index[29])

    class Rebal(bt.Strategy):
        def __init__(self):
            self.rebalancer = Rebalancer(self, reason="test")

        def notify_order(self, order):
            self.rebalancer.notify_order(order)

        def next(self):
            bar = len(self) - 1
            if bar in (bar29, bar29 + 3):
                self.rebalancer.rebalance({self.getdatabyname("SYN0002"): 0.5})

    strat, _ = _run_panel(panel, strategy=Rebal, signal=None)
    rows = strat.analyzers.orders.get_analysis()["orders"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["symbol"], row["side"], row["status"], row["reason"]) == (
        "SYN0002",
        "buy",
        "Canceled",
        "test",
    )
    assert math.isnan(row["size"]) and math.isnan(row["price"]) and math.isnan(row["value"])
    assert row["commission"] == 0.0
    assert row["created_date"] == cal[bar29].date()
    assert row["date"] == cal[bar29 + 4].date()  # cancelled on bar29 + 3, notified next bar
    assert row["detail"] == f"stale: replaced by the rebalance of {cal[bar29 + 3].date()}"
    expo = strat.analyzers.exposure.get_analysis()
    assert (expo["n_orders"], expo["n_canceled"], expo["n_rejected"]) == (0, 1, 0)


def test_weights_are_position_values_over_portfolio_value():
    panel = synthetic_panel(n_symbols=4, n=90, seed=5, late_starters=1, stoppers=1)

    class Recording(EqualWeight):
        def __init__(self):
            super().__init__()
            self.snap = []

        def next(self):
            super().next()
            value = self.broker.getvalue()
            held = {
                d._name: self.getposition(d).size * d.close[0] / value
                for d in self.datas
                if self.getposition(d).size
            }
            self.snap.append((self.datetime.datetime(0), held, self.broker.getcash() / value))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    add_panel(cerebro, panel, progress=False)
    cerebro.addstrategy(Recording)
    add_standard_analyzers(cerebro)
    strat = cerebro.run()[0]
    assert isinstance(strat.analyzers.weights, Weights)
    rows = pd.DataFrame(strat.analyzers.weights.get_analysis()["weights"])
    assert list(rows.columns) == ["date", "symbol", "weight"]
    assert rows["date"].nunique() == len(strat.snap)
    for (when, held, cash), (date, day) in zip(
        strat.snap, rows.groupby("date", sort=False), strict=True
    ):
        assert date == when
        got = dict(zip(day["symbol"], day["weight"], strict=True))
        assert got.pop("cash") == pytest.approx(cash, rel=1e-12)
        assert got.keys() == held.keys()
        for sym, w in held.items():
            assert got[sym] == pytest.approx(w, rel=1e-12)
        assert day["weight"].sum() == pytest.approx(1.0, rel=1e-12)
    assert rows["symbol"].nunique() == 5  # four feeds and cash


# -- summary_row ------------------------------------------------------------------


def test_summary_row_keys_and_values():
    frame = random_frame(n=200, seed=7, pred_noise=5.0)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(PredData(dataname=frame))
    setup_broker(cerebro, cash=CASH)
    cerebro.addstrategy(RecordingHold, hold=5)
    add_standard_analyzers(cerebro, signal=True)
    strat = cerebro.run()[0]
    row = summary_row(strat, "strategy")
    assert (
        tuple(row)
        == SUMMARY_KEYS
        == (
            "name",
            "total_return",
            "annual_return",
            "sharpe",
            "max_drawdown",
            "turnover",
            "n_trades",
            "exposure",
            "n_orders",
            "n_rejected",
            "n_canceled",
        )
    )
    v = np.asarray([CASH] + strat.values)
    an = strat.analyzers
    assert row["name"] == "strategy"
    assert row["total_return"] == pytest.approx(v[-1] / CASH - 1.0, rel=1e-12)
    assert row["annual_return"] == an.returns.get_analysis()["rnorm"]
    assert row["sharpe"] == an.sharpe.get_analysis()["sharperatio"]
    assert row["max_drawdown"] == pytest.approx(np.max(1.0 - v / np.maximum.accumulate(v)))
    assert row["turnover"] == an.exposure.get_analysis()["turnover"] > 0
    sells = [r for r in an.orders.get_analysis()["orders"] if r["side"] == "sell"]
    closed = sum(r["status"] == "Completed" for r in sells)  # each filled sale closes a trade
    assert row["n_trades"] == closed >= 3 and isinstance(row["n_trades"], int)
    assert row["exposure"] == an.exposure.get_analysis()["exposure"]
    assert (row["n_orders"], row["n_rejected"], row["n_canceled"]) == (
        an.exposure.get_analysis()["n_orders"], 0, 0)  # fmt: skip
    assert row["n_orders"] == 2 * closed + (strat.position.size != 0)


def test_summary_row_errors():
    strat = _run(random_frame(n=30), Idle, [("exp", Exposure, {})])
    with pytest.raises(ValueError, match=r"lacks \['returns', 'drawdown', 'sharpe', 'trades'"):
        summary_row(strat, "idle")
    with pytest.raises(ValueError, match=r"`name` must be a non-empty string, got ''"):
        summary_row(strat, "")


class Scripted(bt.Strategy):
    """Market orders of a script ``{bar: (method, size)}`` on data0; records the value."""

    params = (("script", None),)

    def __init__(self):
        self.values = []

    def next(self):
        step = (self.p.script or {}).get(len(self) - 1)
        if step:
            getattr(self, step[0])(size=step[1])
        self.values.append(self.broker.getvalue())


def test_exposure_counts_a_margin_refusal_as_rejected_and_a_short_as_invested():
    """A buy the cash cannot pay is refused (Margin): counted in n_rejected and n_margin,
    not in n_orders; a short position is in the market (exposure, gross exposure)."""
    n = 30
    frame = random_frame(n=n, seed=4)
    script = {1: ("buy", 10**9), 3: ("sell", 100), 7: ("buy", 100)}  # refused; short 4..7
    strat = _run(frame, Scripted, [("exp", Exposure, {}), ("orders", OrderLog, {})],
                 script=script)  # fmt: skip
    got = strat.analyzers.exp.get_analysis()
    assert (got["n_orders"], got["n_rejected"], got["n_margin"], got["n_canceled"]) == (2, 1, 1, 0)
    statuses = [r["status"] for r in strat.analyzers.orders.get_analysis()["orders"]]
    assert statuses == ["Margin", "Completed", "Completed"]
    # short from bar 4's open to bar 8's open: in the market at the closes of bars 4..7
    assert got["exposure"] == pytest.approx(4 / n)
    close = frame["close"].to_numpy()
    gross = [100 * close[b] / strat.values[b] for b in range(4, 8)]
    assert got["avg_gross_exposure"] == pytest.approx(sum(gross) / n, rel=1e-9)
