"""Your own cerebro, right by default: the analyzers measure the test period, history= takes a
plain frame, and a misnamed prediction fails before any training.

One long synthetic feed (2005-2026) with a walk-forward predictor from 2016 on gives the
same Sharpe, Sharpe difference to buy-and-hold, IC, returns and drawdown as the same run
done with ``history=`` and a feed that starts at the test start; the window is in every
``get_analysis()`` and the long feed warns that 11 years were left out. The ridge learner
keeps it to seconds.
"""

from __future__ import annotations

import warnings

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm.bt.analyzers import (
    MeasuredWindowWarning,
    PredictionQuality,
    Significance,
    add_standard_analyzers,
)
from btlstm.bt.broker import setup_broker
from btlstm.bt.indicators import LSTMPredictor
from btlstm.data.validate import DataError
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.synthetic import synthetic_ohlcv

CASH = 1_000_000.0
TEST_START = "2016-01-01"
CFG = dict(learner="ridge", lookback=20, horizon=5, retrain_every=126, min_train=250,
           mode="walkforward", test_start=TEST_START)  # fmt: skip


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """What ``pd.read_csv`` gives for a Yahoo-style file: a Date column of strings,
    capitalised columns, no amount."""
    out = frame.drop(columns=["amount"], errors="ignore").reset_index()
    out.columns = [str(c).capitalize() for c in out.columns]
    out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    return out


@pytest.fixture(scope="module")
def market() -> pd.DataFrame:
    f = synthetic_ohlcv(n=5500, seed=3, start="2005-01-03", signal=0.3)
    return f.drop(columns=["amount"])  # the feed derives close x volume, as history= must


class LSTMHold(bt.Strategy):
    """The README's strategy: long on a bullish forecast, out ``hold`` bars after the last."""

    params = (("hold", 5), ("config", None), ("history", None))

    def __init__(self):
        self.prediction = LSTMPredictor(self.data, config=self.p.config, history=self.p.history)
        self.exit_bar = 0

    def next(self):
        if self.prediction[0] > 0:
            self.exit_bar = len(self) + self.p.hold
            if not self.position:
                self.order_target_percent(target=0.95)
        elif self.position and len(self) >= self.exit_bar:
            self.close()


def run(feed_frame, history=None, **analyzers):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=feed_frame), name="SYN")  # close x volume
    setup_broker(cerebro, cash=CASH, commission=0.0003, slippage_perc=0.0002)
    cerebro.addstrategy(LSTMHold, config=WalkForwardConfig(**CFG), history=history)
    add_standard_analyzers(cerebro, signal=True, **analyzers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        strat = cerebro.run()[0]
    window_warnings = [w for w in caught if issubclass(w.category, MeasuredWindowWarning)]
    return strat, window_warnings


@pytest.fixture(scope="module")
def long_run(market):
    return run(market)


@pytest.fixture(scope="module")
def history_run(market):
    history, test = market.loc[: "2015-12-31"], market.loc[TEST_START:]
    return run(test, history=plain(history))  # a plain frame: read like the feed


def figures(strat) -> dict:
    an = strat.analyzers
    sig = an.significance.get_analysis()
    vs = sig["vs"][0]
    return {
        "sig.sharpe": sig["sharpe"]["value"],
        "sig.sharpe_n": sig["sharpe"]["n"],
        "sig.sharpe_diff": vs["sharpe_diff"],
        "sig.excess_return": vs["excess_return"],
        "sig.ci_low": vs["ci_low"],
        "sig.ic": sig["ic"]["value"],
        "sig.ic_n": sig["ic"]["n"],
        "pq.ic": an.prediction.get_analysis()["ic"],
        "pq.count": an.prediction.get_analysis()["count"],
        "bt.sharpe": an.sharpe.get_analysis()["sharperatio"],
        "bt.rnorm": an.returns.get_analysis()["rnorm"],
        "bt.rtot": an.returns.get_analysis()["rtot"],
        "bt.maxdd": an.drawdown.get_analysis()["max"]["drawdown"],
        "bench.total_return": an.benchmark.get_analysis()["total_return"],
        "bench.benchmark_return": an.benchmark.get_analysis()["benchmark_return"],
        "bench.information_ratio": an.benchmark.get_analysis()["information_ratio"],
        "exposure": an.exposure.get_analysis()["exposure"],
        "n_timereturns": len(an.timereturn.get_analysis()),
    }


def test_one_long_feed_measures_what_history_plus_a_test_feed_measures(long_run, history_run):
    (long_strat, _), (hist_strat, _) = long_run, history_run
    a, b = figures(long_strat), figures(hist_strat)
    assert a.keys() == b.keys()
    for key in a:
        assert np.isfinite(a[key]), key
        assert a[key] == pytest.approx(b[key], rel=1e-9, abs=1e-12), key
    # the test period 2016-01-01 .. the end, not the 11 idle years before it
    n_test = len(pd.bdate_range(TEST_START, long_strat.data.datetime.date(0)))
    assert a["n_timereturns"] == a["sig.sharpe_n"] == n_test
    assert 0.0 < a["exposure"] < 1.0 and a["pq.count"] == n_test - 5  # no realised return: last 5


def test_the_window_is_in_get_analysis(long_run, market):
    strat, _ = long_run
    an = strat.analyzers
    first, last = pd.Timestamp("2016-01-01"), market.index[-1]
    n_test = len(market.loc[TEST_START:])
    n_before = len(market) - n_test
    for name in ("significance", "prediction", "benchmark", "exposure", "returns", "sharpe",
                 "drawdown"):  # fmt: skip
        w = getattr(an, name).get_analysis()["window"]
        assert pd.Timestamp(w["start"]).normalize() == first, name  # 2016-01-01 is a Friday
        assert pd.Timestamp(w["end"]).normalize() == last, name
        assert w["left_out"] == n_before, name
        assert w["from"] == "the predictor's test_start", name
    sig = an.significance.get_analysis()
    assert sig["window"]["bars"] == sig["window"]["returns"] == n_test
    assert len(sig["series"]["returns"]) == n_test
    assert an.timereturn.window["bars"] == n_test
    # PredictionQuality keeps every record (predictions.csv) but scores the window
    assert len(an.prediction.get_analysis()["records"]) == len(market)


def test_the_long_feed_warns_about_the_idle_years_and_the_test_feed_does_not(
    long_run, history_run
):
    (_, long_warned), (_, hist_warned) = long_run, history_run
    assert len(long_warned) == 1  # once per run, not once per analyzer
    text = str(long_warned[0].message)
    assert "2016-01-01" in text and "2005-01-03" in text and "11.0 years" in text
    assert "start='data'" in text
    assert hist_warned == []


def test_start_data_measures_every_bar_and_a_date_measures_from_it(market, long_run):
    strat, warned = run(market, start="data")
    assert warned == []  # asked for: nothing to warn about
    an = strat.analyzers
    sig = an.significance.get_analysis()
    assert sig["window"]["left_out"] == 0 and sig["window"]["bars"] == len(market)
    assert sig["sharpe"]["n"] == len(market) == len(an.timereturn.get_analysis())
    auto = figures(long_run[0])
    assert abs(figures(strat)["sig.sharpe"]) < abs(auto["sig.sharpe"])  # diluted by idle years
    assert figures(strat)["pq.ic"] == pytest.approx(auto["pq.ic"], rel=1e-12)  # NaN before
    dated, warned = run(market, start=TEST_START)
    assert warned == []
    assert figures(dated) == pytest.approx(auto, rel=1e-12)


def test_a_bad_start_is_refused_with_the_valid_values():
    with pytest.raises(ValueError, match=r"`start` must be 'auto'.*'data'.*got 'dta'.*'data'"):
        add_standard_analyzers(bt.Cerebro(), signal=True, start="dta")


# -- history= takes what the feed takes ----------------------------------------------------


def test_history_takes_a_plain_frame_and_errors_name_read_dataframe(market):
    from btlstm.bt.indicators import history_frame

    raw = plain(market.loc[:"2006-12-31"])
    got = history_frame(raw)
    want = market.loc[:"2006-12-31"]
    assert list(got.columns) == ["open", "high", "low", "close", "volume", "amount"]
    assert len(got) == len(want) == len(raw)
    np.testing.assert_array_equal(got["close"].to_numpy(), want["close"].to_numpy())
    np.testing.assert_allclose(got["amount"], want["close"] * want["volume"], rtol=1e-15)
    with pytest.raises(DataError, match="close.*btlstm.data.read_dataframe"):
        history_frame(raw.drop(columns=["Close"]))
    with pytest.raises(DataError, match="got list.*btlstm.data.read_dataframe"):
        history_frame([1, 2, 3])


# -- the prediction's name is checked before any training ----------------------------------


class Misnamed(bt.Strategy):
    def __init__(self):
        self.pred = LSTMPredictor(self.data, config=WalkForwardConfig(lookback=20))  # an LSTM

    def next(self):
        pass


def test_a_misnamed_prediction_fails_at_the_start_before_any_fit(market, monkeypatch):
    calls = []

    def counted(name):
        def fail(self, *a, **k):
            calls.append(name)
            raise AssertionError(f"WalkForward.{name} ran: the check came after training")

        return fail

    monkeypatch.setattr(WalkForward, "predict", counted("predict"))
    monkeypatch.setattr(WalkForward, "stream", counted("stream"))
    for runonce in (True, False):
        cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
        cerebro.adddata(bt.feeds.PandasData(dataname=market.iloc[:400]))
        cerebro.addstrategy(Misnamed)
        add_standard_analyzers(cerebro, signal=True)
        with pytest.raises(AttributeError) as err:
            cerebro.run()
        text = str(err.value)
        assert "Misnamed has no `prediction`" in text and "(it has self.pred)" in text
        assert "self.prediction = LSTMPredictor" in text and "signal='pred'" in text
    assert calls == []  # no walk-forward ran: no model was fitted


def test_signal_may_name_the_strategy_attribute(market):
    class Pred(bt.Strategy):
        def __init__(self):
            # min_train 100: the year of bars before the test start is enough to train
            cfg = WalkForwardConfig(**{**CFG, "min_train": 100})
            self.pred = LSTMPredictor(self.data, config=cfg)

    test = market.loc["2015-01-01":"2017-12-31"]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=test))
    setup_broker(cerebro, cash=CASH)
    cerebro.addstrategy(Pred)
    cerebro.addanalyzer(PredictionQuality, _name="pq", signal="pred")
    cerebro.addanalyzer(Significance, _name="sig", signal="pred", reps=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeasuredWindowWarning)  # 1 year before: no warning
        strat = cerebro.run()[0]
    pq = strat.analyzers.pq.get_analysis()
    pred = np.asarray(strat.pred.lines.prediction.array)
    n_pred = int(np.isfinite(pred).sum())
    assert n_pred == len(test.loc[TEST_START:])  # from the test start on
    assert pq["count"] == n_pred - 5
    assert pq["window"]["left_out"] == len(test.loc[:"2015-12-31"])
    assert strat.analyzers.sig.get_analysis()["ic"]["n"] == n_pred - 5


# -- docs/backtrader.md runs as printed ----------------------------------------------------


def test_docs_backtrader_program_prints_what_the_page_shows(capsys, monkeypatch):
    import re
    import sys
    import types
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "backtrader.md").read_text()
    printed, program = re.findall(r"```(?:python)?\n(.*?)```", doc, flags=re.S)[:2]
    assert "backtest(bars)" in program and "Sharpe" in printed
    module = types.ModuleType("docs_backtrader")  # Backtrader looks a strategy's module up
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(program, "docs/backtrader.md", "exec"), module.__dict__)
    assert capsys.readouterr().out == printed


# -- Backtrader's analyzers over the window, by hand ---------------------------------------


class PredFeed(bt.feeds.PandasData):
    lines = ("prediction",)
    params = (("prediction", "prediction"),)


def _hold_run(frame, cerebro_kw=None, **analyzers):
    from btlstm.strategies.hold import HoldNDays

    class Recording(HoldNDays):
        def __init__(self):
            super().__init__()
            self.values = []

        def prenext(self):
            self.values.append(self.broker.getvalue())

        def next(self):
            super().next()
            self.values.append(self.broker.getvalue())

    cerebro = bt.Cerebro(stdstats=False, **(cerebro_kw or {}))
    cerebro.adddata(PredFeed(dataname=frame))
    setup_broker(cerebro, cash=CASH)
    cerebro.addstrategy(Recording, hold=3)
    add_standard_analyzers(cerebro, signal="prediction", **analyzers)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        strat = cerebro.run()[0]
    return strat, [w for w in caught if issubclass(w.category, MeasuredWindowWarning)]


def test_backtrader_analyzers_measure_from_the_first_prediction_by_hand():
    import math

    frame = synthetic_ohlcv(n=300, seed=1).drop(columns=["amount"])
    k = 100  # the first 100 bars have no prediction
    frame["prediction"] = np.r_[np.full(k, np.nan), np.sin(np.arange(len(frame) - k) / 5.0)]
    strat, warned = _hold_run(frame)
    assert warned == []  # 100 bars < a year
    an = strat.analyzers
    v = np.asarray(strat.values)
    assert len(v) == len(frame) and np.all(v[:k] == CASH)  # idle before the first prediction
    w = v[k - 1 :]  # the value before the window's first bar, then the window
    r = w[1:] / w[:-1] - 1.0
    assert len(r) == len(frame) - k
    np.testing.assert_allclose(list(an.timereturn.get_analysis().values()), r, atol=1e-15)
    sharpe = r.mean() / r.std(ddof=0) * math.sqrt(252)
    assert an.sharpe.get_analysis()["sharperatio"] == pytest.approx(sharpe, rel=1e-9)
    rets = an.returns.get_analysis()
    assert rets["rtot"] == pytest.approx(math.log(w[-1] / w[0]), rel=1e-12)
    assert rets["ravg"] == pytest.approx(rets["rtot"] / len(r), rel=1e-12)
    dd = np.max(1.0 - w[1:] / np.maximum.accumulate(w[1:])) * 100.0
    assert dd > 1.0 and an.drawdown.get_analysis()["max"]["drawdown"] == pytest.approx(dd, rel=1e-9)
    assert an.benchmark.get_analysis()["total_return"] == pytest.approx(w[-1] / CASH - 1, rel=1e-12)
    assert an.exposure.get_analysis()["n_bars"] == len(frame) - k
    for name in ("returns", "sharpe", "drawdown", "benchmark", "exposure", "significance"):
        window = getattr(an, name).get_analysis()["window"]
        assert window["left_out"] == k and window["from"] == "the first prediction", name
        assert pd.Timestamp(window["start"]) == frame.index[k], name

    late, warned = _hold_run(frame, start="2030-01-01")  # after the last bar: NaN, said
    assert len(warned) == 1 and "after the last bar" in str(warned[0].message)
    assert math.isnan(late.analyzers.returns.get_analysis()["rnorm"])
    assert late.analyzers.significance.get_analysis()["window"]["bars"] == 0


@pytest.mark.parametrize("mode", [{"runonce": False}, {"exactbars": 1}])
def test_bar_by_bar_runs_find_the_same_window_or_say_they_cannot(mode):
    frame = synthetic_ohlcv(n=300, seed=1).drop(columns=["amount"])
    frame["prediction"] = np.r_[np.full(100, np.nan), np.sin(np.arange(200) / 5.0)]
    want, _ = _hold_run(frame)
    got, warned = _hold_run(frame, cerebro_kw=mode)
    window = got.analyzers.significance.get_analysis()["window"]
    if "exactbars" in mode:  # the line keeps no history: from the first bar, and it says so
        assert window["left_out"] == 0 and len(warned) == 1
        text = str(warned[0].message)
        assert "exactbars" in text and "start='YYYY-MM-DD'" in text
    else:
        assert window == want.analyzers.significance.get_analysis()["window"] and warned == []
        assert got.analyzers.sharpe.get_analysis()["sharperatio"] == pytest.approx(
            want.analyzers.sharpe.get_analysis()["sharperatio"], rel=1e-12
        )
