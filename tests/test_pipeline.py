"""The run pipeline: settings (TOML + flags), the strategy registry, validation before work."""

import json

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm import pipeline, registry
from btlstm.cli import build_parser, main, settings_from_args
from btlstm.registry import Baseline, register_strategy
from btlstm.settings import Settings, SettingsError
from btlstm.strategies.buyhold import BuyAndHold

TINY = ["--epochs", "1", "--lstm-units", "4", "--dense-units", "4", "--quiet"]
SYN = [
    "--data",
    "synthetic",
    "--synthetic",
    '{"n": 700, "start": "2010-01-04", "signal": 0.3}',
    "--train-start",
    "2010-01-01",
    "--train-end",
    "2011-12-31",
    "--test-start",
    "2012-01-01",
    "--test-end",
    "2099-12-31",
]
ROW_KEYS = {
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
}


def _parse(argv):
    return settings_from_args(build_parser().parse_args(argv))


# ----------------------------------------------------------------------------- settings
def test_settings_round_trip_and_layers():
    s = Settings.from_dict({"strategy": {"name": "hold", "hold": 3}, "model": {"lstm_units": 8}})
    # the strategy's registered defaults sit under the user's values
    assert s.model.mode == "static" and s.model.train_end == "2014-12-31"
    assert s.data.data == "csi300" and s.strategy.params == {"hold": 3}
    # learner keys live beside the walk-forward keys in [model], split by the dataclass fields
    assert s.model.model == {"lstm_units": 8}
    d = s.to_dict()
    assert d["model"]["lstm_units"] == 8 and d["model"]["dense_units"] == [32, 16]
    assert d["strategy"] == {"name": "hold", "hold": 3}
    assert d["costs"] == {
        "cash": 1_000_000.0,
        "commission": 0.0003,
        "slippage": 0.0002,
        "market": "index",
        "per_share": 0.005,
    }
    again = Settings.from_dict(d)
    assert again == s and again.to_dict() == d
    assert json.loads(json.dumps(d)) == d  # plain JSON


def test_min_train_has_one_default():
    from btlstm.forecast.walkforward import WalkForwardConfig

    assert Settings.from_dict({}).model.min_train == WalkForwardConfig().min_train


def test_walkforward_shortcut_and_preset():
    for argv in (["run", "hold", "--walkforward"], ["run", "hold", "--mode", "walkforward"]):
        m = _parse(argv).model
        assert (m.mode, m.train_start, m.train_end) == ("walkforward", "2005-01-01", None)
        assert (m.test_start, m.test_end, m.retrain_every) == ("2008-01-01", None, 21)
    m = _parse(["run", "hold", "--walkforward", "--test-start", "2010-01-01"]).model
    assert m.test_start == "2010-01-01"  # a typed flag wins over the preset


def test_toml_sections_flat_keys_and_flags(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        '[data]\ndata = "csi300"\n[model]\nlstm_units = 8\nkernel_regularizer = "l2(0.01)"\n'
        "recurrent_dropout = 0.1\nepochs = 3\n[strategy]\nhold = 3\n[costs]\ncommission = 0.001\n"
        "[output]\nplots = false\n"
    )
    s = _parse(["run", "hold", "--config", str(cfg), "--hold", "7", "--dense-units", "16,8"])
    assert s.strategy.params == {"hold": 7}  # the flag wins over the file
    assert s.model.model == {
        "lstm_units": 8,
        "kernel_regularizer": "l2(0.01)",
        "recurrent_dropout": 0.1,
        "dense_units": (16, 8),
    }
    assert s.model.epochs == 3 and s.costs.commission == 0.001 and s.output.plots is False
    flat = tmp_path / "flat.toml"
    flat.write_text('data = "sse"\nlookback = 20\nhold = 2\nout = "x"\n')
    s = Settings.from_toml(flat)
    assert (s.data.data, s.model.lookback, s.strategy.params, s.output.out) == (
        "sse",
        20,
        {"hold": 2},
        "x",
    )


@pytest.mark.parametrize(
    "toml, named",
    [
        ("[model]\nlstm_unit = 8\n", ["[model] lstm_unit", "'lstm_units'"]),
        ("[strategy]\nhodl = 8\n", ["[strategy] hodl", "'hold'"]),
        ("[output]\nouts = 'x'\n", ["[output] outs", "'out'"]),
        ("[modle]\nlookback = 8\n", ["'modle'", "'model'"]),
        ("lstm_unit = 8\n", ["'lstm_unit'", "'lstm_units'"]),
        ("[strategy]\nname = 'hodl'\n", ["[strategy] name", "'hodl'", "btlstm run hold"]),
    ],
)
def test_unknown_key_suggests_and_names_the_section(tmp_path, capsys, toml, named):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    assert main(["run", "hold", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error:") and "Traceback" not in err
    for text in named + [str(cfg)]:
        assert text in err, (text, err)


@pytest.mark.parametrize(
    "toml, key",
    [
        ('[model]\nwalkforward = "false"\n', "[model] walkforward"),
        ('[model]\nepochs = "5"\n', "[model] epochs"),
        ("[model]\nepochs = 2.5\n", "[model] epochs"),
        ('[model]\ndense_units = "32,16"\n', "[model] dense_units"),
        ("[model]\ndense_units = [32, true]\n", "[model] dense_units"),
        ("[model]\nlstm_units = true\n", "[model] lstm_units"),
        ('[strategy]\nhold = "5"\n', "[strategy] hold"),
        ('[output]\nplots = "no"\n', "[output] plots"),
        ('[costs]\ncash = "1e6"\n', "[costs] cash"),
        ("[data]\nsymbols = 'XLK'\n", "[data] symbols"),
        ("[model]\nlookback = 0\n", "[model] lookback"),
    ],
)
def test_toml_values_are_type_checked(tmp_path, toml, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    with pytest.raises(SettingsError) as e:
        Settings.from_toml(cfg)
    assert key in str(e.value) and str(cfg) in str(e.value)


def test_bad_flag_values_name_the_flag(capsys):
    for argv, flag in (
        (["--lstm-units", "x"], "--lstm-units"),
        (["--hold", "2.5"], "--hold"),
        (["--dense-units", "32,a"], "--dense-units"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["run", "hold", *argv])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert "btlstm: error:" in err and flag in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["run", "hold", "--lstm-unit", "8"])  # no prefix matching
    assert "--lstm-units" in capsys.readouterr().err  # closest flag suggested


# ----------------------------------------------------------------------------- fail fast
@pytest.fixture
def no_work(monkeypatch):
    """Record any attempt to read data or train."""
    calls = []

    def load_data(*a, **k):
        calls.append("load_data")
        raise AssertionError("data read before validation")

    monkeypatch.setattr(pipeline, "load_data", load_data)
    from btlstm.learners import LSTMLearner

    monkeypatch.setattr(LSTMLearner, "fit", lambda *a, **k: calls.append("fit"))
    return calls


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--out", "{file}/sub"], "--out"),
        (["--out", "{file}"], "--out"),
        (["--cache-dir", "{file}"], "--cache-dir"),
        (["--out", "{tmp}/" + "x" * 300], "--out"),
        (["--data-dir", "{tmp}/missing"], "--data-dir"),
        (["--data", "{tmp}/missing.csv"], "--data"),
        (["--data", "csi301"], "did you mean csi300"),
        (["--train-end", "2016-01-01"], "--train-end"),
        (["--test-end", "2014-01-01"], "--test-end"),
        (["--test-start", "2015-13-45"], "--test-start"),
        (["--repair", "fix"], "--repair"),
        (["--config", "{tmp}/missing.toml"], "missing.toml"),
    ],
)
def test_bad_settings_fail_fast_before_any_work(tmp_path, capsys, no_work, argv, named):
    f = tmp_path / "a_file"
    f.write_text("x")
    argv = [a.format(file=f, tmp=tmp_path) for a in argv]
    assert main(["run", "hold", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error:") and "Traceback" not in err
    assert named in err, err
    assert no_work == []  # no data read, no model trained


# ----------------------------------------------------------------------------- registry
class TinyLong(bt.Strategy):
    """Long while the prediction is positive (a test strategy)."""

    params = (
        ("size_pct", 50.0),  # percent of the portfolio when long
        ("min_gap", 1),  # bars between orders
        ("predictor", None),
        ("predictor_kwargs", None),
    )

    def __init__(self):
        self.predictor = self.p.predictor(self.data, **self.p.predictor_kwargs)
        self.prediction = self.predictor.lines[0]
        self.last = -(10**9)

    def next(self):
        if len(self) - self.last < self.p.min_gap:
            return
        p = self.prediction[0]
        if p > 0 and not self.position:
            self.order_target_percent(target=self.p.size_pct / 100)
            self.last = len(self)
        elif p < 0 and self.position:
            self.close()
            self.last = len(self)


@pytest.fixture
def tiny_registered():
    register_strategy(
        "tinylong",
        hidden=("predictor", "predictor_kwargs"),
        defaults={"model": {"mode": "static", "train_end": "2011-12-31"}},
        baselines=[Baseline("buy-and-hold {feed}", BuyAndHold), Baseline("cash", _Cash)],
    )(TinyLong)
    yield registry.get("tinylong")
    registry._PLANS.pop("tinylong", None)


class _Cash(bt.Strategy):
    """Never trades."""


def test_registry_derives_params_and_help(tiny_registered):
    plan = tiny_registered
    assert plan.params == {"size_pct": 50.0, "min_gap": 1}
    assert plan.param_help["size_pct"] == "percent of the portfolio when long"
    hold = registry.get("hold")
    from btlstm.strategies.hold import HoldNDays

    assert hold.strategy is HoldNDays and hold.params == {
        "hold": 5,
        "threshold": 0.0,
        "percent": 95.0,
    }
    with pytest.raises(SettingsError, match="did you mean 'hold'"):
        registry.get("hodl")


def test_registered_strategy_gets_cli_toml_and_comparison(tiny_registered, tmp_path, capsys):
    p = build_parser()
    sub = p._subparsers._group_actions[0].choices["run"]
    help_text = sub._subparsers._group_actions[0].choices["tinylong"].format_help()
    assert "--size-pct" in help_text and "percent of the portfolio when long" in help_text
    out = tmp_path / "tiny"
    argv = ["run", "tinylong", *SYN, *TINY, "--size-pct", "30", "--out", str(out)]
    s = _parse(argv)
    assert s.strategy.params == {"size_pct": 30.0} and s.model.train_end == "2011-12-31"
    assert main(argv) == 0
    r = json.loads((out / "report.json").read_text())
    rows = r["comparison"]
    assert [row["name"] for row in rows] == ["tinylong", "buy-and-hold SYNIDX", "cash"]
    assert all(set(row) == ROW_KEYS for row in rows)
    assert rows[2]["n_trades"] == 0 and rows[2]["total_return"] == 0
    assert r["config"]["strategy"] == {"name": "tinylong", "size_pct": 30.0}
    assert r["synthetic"] is True and len(r["run"]["fits"]) == 1
    captured = capsys.readouterr()
    assert "model fits" not in captured.err  # --quiet: no bar
    assert "tinylong" in captured.out  # the table

    cfg = tmp_path / "tiny.toml"
    cfg.write_text("[strategy]\nname = 'tinylong'\nsize_pct = 20\nmin_gap = 'x'\n")
    with pytest.raises(SettingsError, match=r"\[strategy\] min_gap"):
        Settings.from_toml(cfg)


def test_progress_bar_and_log_lines(tmp_path, capsys):
    out = tmp_path / "p"
    argv = ["run", "hold", *SYN, *TINY[:-1], "--no-plots", "--out", str(out)]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "model fits" in err and "[btlstm] report:" in err
    r = json.loads((out / "report.json").read_text())
    assert [row["name"] for row in r["comparison"]] == ["hold", "buy-and-hold SYNIDX"]
    assert not (out / "equity.png").exists()


def test_run_backtest_returns_plain_data(tmp_path):
    s = _parse(["run", "hold", *SYN, *TINY, "--out", str(tmp_path / "r"), "--no-plots"])
    result = pipeline.run_backtest(s)
    assert result.report["comparison"][0]["name"] == "hold"
    assert {"predictions", "trades", "equity"} <= set(result.run.tables)
    assert result.paths["report.json"].exists() and len(result.fits) == 1
    json.dumps(result.report)  # plain JSON
    assert main(["report", str(tmp_path / "r")]) == 0  # btlstm report DIR rebuilds the page
    assert (tmp_path / "r" / "report.html").stat().st_size > 0


def test_report_command_rebuilds_and_names_a_missing_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error:") and "missing" in err and "Traceback" not in err


class TopOne(bt.Strategy):
    """Hold the one feed with the highest pooled forecast (a test panel strategy)."""

    params = (
        ("pool", None),  # the PredictionPool the pipeline attaches
        ("percent", 90.0),  # percent of the portfolio invested
    )

    def __init__(self):
        from btlstm.bt.indicators import PooledPredictor
        from btlstm.bt.rebalance import Rebalancer

        self.signals = {
            d._name: PooledPredictor(d, pool=self.p.pool).prediction for d in self.datas
        }
        self.rebalancer = Rebalancer(self)

    def notify_order(self, order):
        self.rebalancer.notify_order(order)

    def next(self):
        preds = {d: float(self.signals[d._name][0]) for d in self.datas}
        preds = {d: p for d, p in preds.items() if p == p}
        if not preds or len(self) % 5:
            return
        best = max(preds, key=preds.get)
        self.rebalancer.rebalance(
            {d: (self.p.percent / 100 if d is best else 0.0) for d in self.datas}
        )


@pytest.fixture
def panel_registered():
    register_strategy(
        "topone",
        data="panel",
        predictor="pooled",
        hidden=("pool",),
        defaults={"model": {"mode": "walkforward", "retrain_every": 120, "min_train": 300}},
    )(TopOne)
    yield registry.get("topone")
    registry._PLANS.pop("topone", None)


def test_panel_strategy_with_pooled_predictor_runs_end_to_end(panel_registered, tmp_path):
    """A panel strategy on one pooled model: the pipeline trains ONE model for all feeds
    and the report scores every feed; the lines equal WalkForward.predict(panel)."""
    out = tmp_path / "panel"
    syn = '{"n_symbols": 4, "n": 600, "start": "2010-01-04", "signal": 0.4}'
    argv = [
        "run",
        "topone",
        "--data",
        "synthetic",
        "--synthetic",
        syn,
        "--train-start",
        "2010-01-01",
        "--test-start",
        "2011-01-03",
        "--learner",
        "ridge",
        "--quiet",
        "--no-plots",
        "--out",
        str(out),
    ]
    s = _parse(argv)
    result = pipeline.run_backtest(s)
    r = result.report
    assert r["comparison"][0]["name"] == "topone" and r["comparison"][0]["n_trades"] > 0
    assert len(r["prediction"]["per_asset"]) == 4
    fit_dates = [f["date"] if isinstance(f, dict) else f.date for f in result.fits]
    assert len(fit_dates) >= 2  # one pooled schedule, not one per feed
    from btlstm.forecast.walkforward import WalkForward
    from btlstm.synthetic import synthetic_panel

    panel = synthetic_panel(n_symbols=4, n=600, start="2010-01-04", signal=0.4, seed=0)
    ref = WalkForward(s.model).predict(panel)
    preds = result.run.tables["predictions"]
    for sym, f in panel.items():
        got = preds[preds["symbol"] == sym].set_index("date")["prediction"]
        want = pd.Series(ref[sym], index=f.index).loc[pd.to_datetime(got.index)]
        np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(), atol=1e-6, equal_nan=True)
