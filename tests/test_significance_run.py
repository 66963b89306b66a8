"""The Significance analyzer in a plain cerebro, in the run pipeline, and in its reports.

Synthetic markets and the ridge learner (numpy): no TensorFlow.
"""

import json
import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm.analyzers import Significance
from btlstm.broker import INDEX_COSTS, setup_broker
from btlstm.feeds import make_feed
from btlstm.indicators import LSTMPredictor
from btlstm.pipeline import run_backtest
from btlstm.report import format_table, load_report
from btlstm.settings import Settings
from btlstm.synthetic import synthetic_ohlcv
from strategies.buyhold import BuyAndHold
from strategies.hold import HoldNDays

SYN = {"n": 1400, "start": "2010-01-04", "signal": 0.3, "seed": 0}
MODEL = {
    "learner": "ridge",
    "train_start": "2010-01-01",
    "train_end": "2012-12-31",
    "test_start": "2013-01-01",
    "test_end": "2099-12-31",
}
FIGURES = ("ic", "rank_ic", "hit_rate", "sharpe", "dsr")


def _settings(tmp_path, signal=0.3, **output):
    return Settings.from_dict(
        {
            "data": {"data": "synthetic", "synthetic": {**SYN, "signal": signal}},
            "model": MODEL,
            "strategy": {"name": "hold"},
            "output": {"out": str(tmp_path / "out"), "plots": False, "quiet": True, **output},
        }
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return run_backtest(_settings(tmp_path_factory.mktemp("planted"), trials=3))


def test_plain_cerebro_analyzer_gives_the_pipelines_figures(planted):
    """The same run written by hand: btlstm's feed, indicator and strategy, Backtrader's
    default broker, the baseline's TimeReturn as the benchmark."""
    frame = synthetic_ohlcv(**SYN)
    history, test = frame.loc[:"2012-12-31"], frame.loc["2013-01-01":]
    costs = dict(INDEX_COSTS)

    baseline = bt.Cerebro(stdstats=False)
    baseline.adddata(make_feed(test, name="SYNIDX"))
    setup_broker(baseline, **costs)
    baseline.addstrategy(BuyAndHold)
    baseline.addanalyzer(bt.analyzers.TimeReturn, _name="tr", timeframe=bt.TimeFrame.Days)
    bench = pd.Series(baseline.run()[0].analyzers.tr.get_analysis(), name="buy-and-hold SYNIDX")

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(test, name="SYNIDX"))
    setup_broker(cerebro, **costs)
    config = planted.settings.model
    cerebro.addstrategy(HoldNDays, predictor=LSTMPredictor,
                        predictor_kwargs=dict(config=config, history=history))  # fmt: skip
    cerebro.addanalyzer(Significance, _name="sig", benchmark=bench, horizon=5, n_trials=3)
    mine = json.loads(json.dumps(cerebro.run()[0].analyzers.sig.get_analysis(), default=str))

    theirs = load_report(planted.settings.output.out).report["significance"]
    for key in FIGURES:
        assert mine[key] == theirs[key], key
    assert mine["vs"] == theirs["vs"] and len(mine["vs"]) == 1
    assert mine["verdict"] == theirs["verdict"] and mine["evidence"] == theirs["evidence"]
    assert len(mine["series"]["returns"]) == theirs["sharpe"]["n"]


def test_a_planted_signal_run_says_the_ic_is_significant(planted):
    sig = planted.report["significance"]
    assert sig["ic"]["p_hac"] < 0.001 and sig["ic"]["value"] > 0.2 and sig["ic"]["lag"] == 4
    assert sig["dsr"]["n_trials"] == 3 and sig["dsr"]["variance_source"] == "estimate"
    assert sig["verdict"].startswith("IC significant and ahead of every baseline, but not after 3")
    assert sig["rule"] and "deflated" in sig["rule"]
    # the vs figures come from the baseline RUN (real orders), which replaced the closes
    assert [(v["name"], v["from_closes"]) for v in sig["vs"]] == [("buy-and-hold SYNIDX", False)]
    assert f"VERDICT: {sig['verdict']}" in format_table(planted.report)


def test_a_pure_noise_run_says_no_evidence(tmp_path):
    report = run_backtest(_settings(tmp_path, signal=0.0)).report
    sig = report["significance"]
    assert sig["evidence"] is False and sig["verdict"].startswith("no evidence of skill")
    assert sig["ic"]["p_hac"] > 0.05
    assert sig["dsr"]["n_trials"] == 1 and sig["dsr"]["value"] == sig["sharpe"]["psr"]


def test_analyzer_params_are_checked_and_a_strategy_without_prediction_is_not_scored():
    frame = synthetic_ohlcv(n=120, seed=3)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame, name="X"))
    cerebro.addstrategy(BuyAndHold)
    cerebro.addanalyzer(Significance, _name="sig", benchmark=False)
    sig = cerebro.run()[0].analyzers.sig.get_analysis()
    assert sig["ic"] is None and sig["vs"] == [] and sig["evidence"] is False
    assert sig["verdict"].startswith("no evidence of skill (no prediction scored)")
    assert sig["sharpe"]["n"] == 120 and math.isfinite(sig["sharpe"]["value"])
    for bad, match in (({"n_trials": 0}, "n_trials"), ({"benchmark": 3.0}, "benchmark")):
        c = bt.Cerebro(stdstats=False)
        c.adddata(make_feed(frame, name="X"))
        c.addstrategy(BuyAndHold)
        c.addanalyzer(Significance, **bad)
        with pytest.raises(ValueError, match=match):
            c.run()


def test_panel_predictions_use_the_daily_cross_sectional_ic():
    """Several scored feeds (a strategy's ``signals``): the IC test runs across assets."""
    rng = np.random.default_rng(0)
    frames = {f"SYN{i}": synthetic_ohlcv(n=200, seed=i, symbol=f"SYN{i}") for i in range(4)}

    class Signals(bt.Strategy):
        def __init__(self):
            self.signals = {d._name: d.close - d.close(-5) for d in self.datas}

    cerebro = bt.Cerebro(stdstats=False)
    for name, f in frames.items():
        cerebro.adddata(make_feed(f, name=name))
    cerebro.addstrategy(Signals)
    cerebro.addanalyzer(Significance, _name="sig", horizon=3, seed=int(rng.integers(9)))
    sig = cerebro.run()[0].analyzers.sig.get_analysis()
    assert sig["ic"]["kind"] == "cross_sectional" and sig["ic"]["lag"] == 2
    assert 150 < sig["ic"]["n"] <= 200 and sig["hit_rate"]["n"] > 600
    assert sig["vs"][0]["name"] == "buy-and-hold SYN0" and sig["vs"][0]["from_closes"]
