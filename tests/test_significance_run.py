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
from btlstm.bt.analyzers import OrderLog, Significance
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.bt.feeds import make_feed
from btlstm.bt.indicators import LSTMPredictor
from btlstm.pipeline import run_backtest
from btlstm.report import format_table, load_report
from btlstm.settings import Settings
from btlstm.strategies.buyhold import BuyAndHold
from btlstm.strategies.hold import HoldNDays
from btlstm.synthetic import synthetic_ohlcv

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
    table = format_table(planted.report)
    assert f"VERDICT: {sig['verdict']}" in table
    # the hit-rate line says the side of each test and the constant's own hit rate
    hit = sig["hit_rate"]
    side = "up" if hit["base_rate"] >= 0.5 else "down"
    assert hit["constant"] == side
    assert hit["const_rate"] == pytest.approx(
        hit["base_rate"] if side == "up" else 1 - hit["base_rate"], abs=1e-12
    )
    line = [x for x in table.splitlines() if x.startswith("  hit rate ")]
    assert len(line) == 1 and f"always-{side} {hit['const_rate'] * 100:.2f}%, p" in line[0]
    assert "vs base rate" not in table
    words = "better than" if hit["t_hac"] > 0 else "worse than"
    if hit["p"] < 0.05:
        assert f"{words} always-{side}" in line[0]
    else:
        assert f"not significantly different from always-{side}" in line[0]
    assert hit["value"] > 0.5 and hit["p_50"] < 0.05 and "better than 50%" in line[0]


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


# ----------------------------------------------------------------------------- --seeds
SEEDS_ARGV = [
    "--data", "synthetic", "--synthetic", json.dumps({**SYN, "n": 700, "signal": 0.2}),
    "--epochs", "1", "--lstm-units", "4", "--dense-units", "4",  # a tiny LSTM: seeds matter
    "--train-start", "2010-01-01", "--train-end", "2011-12-31",
    "--test-start", "2012-01-01", "--test-end", "2099-12-31", "--quiet", "--no-plots",
]  # fmt: skip


def test_parse_seeds_lists_and_ranges():
    from btlstm._settings import parse_seeds

    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds(" 0, 2,5-7") == [0, 2, 5, 6, 7]
    assert parse_seeds("") == []
    for bad, match in (
        ("4-2", "runs backwards; write 2-4"),
        ("0,x", "'x' in '0,x' is not a seed"),
        ("1,1-3", "seed 1 is named twice"),
        ("3", "one seed is --seed"),
        ("-1", "is not a seed"),
        ("0-5000", "more than 1000 seeds"),
    ):
        with pytest.raises(ValueError, match=match):
            parse_seeds(bad)


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--seeds", "3-1"], "--seeds: the range '3-1' runs backwards"),
        (["--seeds", "0-2", "--seed", "4"], "--seed and --seeds are exclusive"),
        (["--trials", "0"], "--trials: expected an integer >= 1"),
    ],
)
def test_bad_seeds_and_trials_fail_before_any_work(tmp_path, capsys, extra, named):
    from btlstm.cli import main

    assert main(["run", "hold", *SEEDS_ARGV, "--out", str(tmp_path / "o"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error: ") and named in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    from btlstm.cli import main

    out = tmp_path_factory.mktemp("seeds") / "out"
    argv = ["run", "hold", *SEEDS_ARGV, "--out", str(out), "--seeds", "0,5", "--trials", "3"]
    assert main(argv) == 0
    return out


def test_seeds_run_writes_a_report_per_seed_the_ensemble_and_an_overview(seeds_run, capsys):
    from btlstm.report import rebuild_report
    from btlstm.significance import deflated_sharpe_ratio

    out = seeds_run
    assert {p.name for p in out.iterdir()} == {
        "seed_0", "seed_5", "ensemble", "seeds.csv", "seeds.json", "index.html",
        "manifest.json",
    }  # fmt: skip
    overview = json.loads((out / "seeds.json").read_text())
    reports = {s: load_report(out / f"seed_{s}").report for s in (0, 5)}
    sharpes = [reports[s]["significance"]["sharpe"]["value"] for s in (0, 5)]
    assert overview["seeds"] == [0, 5] and overview["n_trials"] == 6  # 3 trials x 2 seeds
    assert overview["trial_sharpes"] == sharpes and len(set(sharpes)) == 2
    for s, r in reports.items():
        assert r["title"].endswith(f"(seed {s})") and r["config"]["model"]["seed"] == s
        dsr = r["significance"]["dsr"]
        assert dsr["n_trials"] == 6 and dsr["variance_source"] == "trials"
        assert dsr == deflated_sharpe_ratio(r["significance"]["sharpe"], 6, sharpes)
        assert "over 6 trials" in r["significance"]["verdict"]
    rows = pd.read_csv(out / "seeds.csv")
    assert list(rows["run"]) == ["seed 0", "seed 5", "mean", "sd", "ensemble"]
    totals = [reports[s]["strategy"]["total_return"] for s in (0, 5)]
    assert rows["total_return"].iloc[2] == pytest.approx(np.mean(totals))
    assert rows["total_return"].iloc[3] == pytest.approx(np.std(totals, ddof=1))
    # the ensemble trades the seeds' mean prediction
    ens = load_report(out / "ensemble")
    preds = [load_report(out / f"seed_{s}").tables["predictions"]["prediction"] for s in (0, 5)]
    mean = pd.concat(preds, axis=1).mean(axis=1)
    assert np.allclose(ens.tables["predictions"]["prediction"], mean, equal_nan=True)
    assert ens.report["significance"]["dsr"]["n_trials"] == 6
    assert overview["verdict"] == ens.report["significance"]["verdict"]
    # btlstm report DIR rebuilds every report in it and the overview page
    page = (out / "index.html").read_text()
    assert "seed_5/report.html" in page and "Verdict (seed ensemble)" in page
    assert rebuild_report(out) == out / "index.html"
    assert (out / "index.html").read_text() == page
    assert load_report(out / "seed_5").report == reports[5]


def test_a_seed_of_a_seeds_run_is_the_single_run_with_that_seed(seeds_run, tmp_path):
    """The seeds ran in worker processes; the same seed in this process gives the same run."""
    from btlstm.cli import main

    assert main(["run", "hold", *SEEDS_ARGV, "--out", str(tmp_path / "one"), "--seed", "5"]) == 0
    one = load_report(tmp_path / "one").report
    five = load_report(seeds_run / "seed_5").report
    for key in ("comparison", "prediction"):
        assert one[key] == five[key]
    keep = ("ic", "rank_ic", "hit_rate", "sharpe", "vs")
    assert {k: one["significance"][k] for k in keep} == {k: five["significance"][k] for k in keep}
    assert (
        one["significance"]["dsr"]["n_trials"] == 1 and five["significance"]["dsr"]["n_trials"] == 6
    )


# ----------------------------------------------------------------------------- ensembles
@pytest.mark.parametrize("runonce", [True, False])
def test_precomputed_lines_trade_like_the_same_values_as_feed_columns(runonce):
    """A seed ensemble's mean prediction enters where the predictor's line goes: the
    pooled rotation (PrecomputedPool) and a one-feed strategy (PrecomputedPrediction)
    decide exactly as with the same values as a feed column, batched or bar by bar."""
    from btlstm.bt.feeds import add_panel
    from btlstm.bt.indicators import PrecomputedPool, PrecomputedPrediction
    from btlstm.strategies.rotation import SectorRotation
    from btlstm.synthetic import synthetic_sectors

    panel = {k[4:]: f for k, f in synthetic_sectors(n=160, seed=1, start="2015-01-02").items()}
    rng = np.random.default_rng(0)
    preds = pd.DataFrame(
        {k: rng.standard_normal(160) for k in panel if k != "SPY"}, index=panel["XLB"].index
    )
    preds.iloc[:7] = np.nan  # not ready yet

    def rotation(with_column: bool):
        cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
        setup_broker(cerebro, cash=100_000.0, commission=0.0001, slippage_perc=0.0001)
        frames = {}
        for k, f in panel.items():
            f = f.copy()
            if with_column:
                f["prediction"] = preds[k] if k in preds else np.nan
            frames[k] = f
        add_panel(cerebro, frames, extra_lines=("prediction",) if with_column else (),
                  progress=False)  # fmt: skip
        params = {} if with_column else {"pool": PrecomputedPool(preds)}
        cerebro.addstrategy(SectorRotation, **params)
        return cerebro.run()[0]

    a, b = rotation(True), rotation(False)
    assert repr(a.decisions) == repr(b.decisions) and len(a.decisions) >= 6  # NaN scores too
    assert a.broker.getvalue() == b.broker.getvalue()

    frame = synthetic_ohlcv(n=150, seed=2)
    line = pd.Series(np.sin(np.arange(150) / 7.0), index=frame.index)

    def hold(with_column: bool):
        cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
        f = frame.assign(prediction=line) if with_column else frame
        cerebro.adddata(make_feed(f, name="X", extra_lines=("prediction",) if with_column else ()))
        setup_broker(cerebro, **dict(INDEX_COSTS))
        kw = {} if with_column else {"predictor": PrecomputedPrediction,
                                     "predictor_kwargs": {"values": line}}  # fmt: skip
        cerebro.addstrategy(HoldNDays, **kw)
        cerebro.addanalyzer(OrderLog, _name="orders")
        return cerebro.run()[0].analyzers.orders.get_analysis()["orders"]

    a, b = hold(True), hold(False)
    assert repr(a) == repr(b) and len(a) >= 6


def test_seeds_vary_the_model_not_a_synthetic_market():
    from btlstm.pipeline import _with

    s = Settings.from_dict({"data": {"data": "synthetic", "synthetic": {"n": 500}},
                            "model": {"seed": 7}, "output": {"seeds": "1-2"}})  # fmt: skip
    one, two = _with(s, 1, "a"), _with(s, 2, "b")
    assert (one.model.seed, two.model.seed) == (1, 2)
    assert one.data.synthetic == two.data.synthetic == {"seed": 7, "n": 500}
    assert one.output.seeds == "" and one.output.out == "a"
