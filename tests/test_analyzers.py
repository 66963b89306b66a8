"""btlstm analyzers against independent numpy/scipy computations (no TF)."""

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import btlstm  # noqa: F401  (compat patches first)
from btlstm.analyzers import (
    STANDARD_NAMES,
    BenchmarkRelative,
    Exposure,
    PredictionQuality,
    add_standard_analyzers,
)
from btlstm.broker import setup_broker
from strategies.hold import HoldNDays

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
    cerebro.addanalyzer(BenchmarkRelative, _name="bench", benchmark=bench_feed)
    strat = cerebro.run()[0]
    assert len([r for r in strat.trades_log if r["status"] == "Completed"]) >= 6
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
    add_standard_analyzers(cerebro, riskfree=riskfree, signal="prediction")
    strat = cerebro.run()[0]
    assert len(strat.trades_log) >= 6
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
    strat = _run(frame, RecordingHold, [("exp", Exposure, {})], commission=0.0003, hold=5)
    got = strat.analyzers.exp.get_analysis()
    assert got["exposure"] == 0.5
    assert got["n_bars"] == n and got["n_orders"] == 8 and got["n_trades"] == 4

    held = np.zeros(n)
    for k in range(4):
        buy = strat.trades_log[2 * k]
        assert buy["side"] == "buy" and buy["bar"] == 10 * k + 1
        held[10 * k + 1 : 10 * k + 6] = buy["size"]
    values = np.asarray(strat.values)
    gross = held * frame["close"].to_numpy() / values
    assert got["avg_gross_exposure"] == pytest.approx(gross.mean(), rel=1e-12)
    assert 0.45 < got["avg_gross_exposure"] < 0.5  # 95% invested half of the time
    traded = sum(r["size"] * r["price"] for r in strat.trades_log)
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
    for signal, names in ((None, STANDARD_NAMES[:-1]), (True, STANDARD_NAMES)):
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
