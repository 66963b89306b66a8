"""The user journeys: `btlstm demo`, `btlstm run hold` on real CSI 300, the script, errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from btlstm.cli import build_parser, main, settings_from_args

ROOT = Path(__file__).resolve().parents[1]
FILES = (
    "report.json",
    "report.html",
    "predictions.csv",
    "trades.csv",
    "equity.png",
    "drawdown.png",
    "predictions.png",
)


def _metrics(out):
    r = json.loads((Path(out) / "report.json").read_text())
    return {k: r[k] for k in ("strategy", "benchmark", "relative", "prediction")}


def test_demo_is_labelled_synthetic(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--quiet"]) == 0
    for f in FILES:
        assert (out / f).stat().st_size > 0, f
    r = json.loads((out / "report.json").read_text())
    assert r["synthetic"] is True and r["provenance"]["synthetic"] is True
    assert r["warnings"] == []  # the demo does not warn about its own defaults
    assert "SYNTHETIC" in (out / "report.html").read_text()
    captured = capsys.readouterr()
    assert "SYNTHETIC" in captured.out and "SYNTHETIC" in captured.err


def test_run_hold_csi300_defaults_twice_identical(data_dir, tmp_path):
    """The seed's split on real CSI 300: all files, real provenance, same seed = same metrics,
    and the same report metrics as before the run pipeline (issue 7)."""
    a, b = tmp_path / "a", tmp_path / "b"
    args = ["run", "hold", "--data", "csi300", "--data-dir", str(data_dir), "--quiet"]
    assert main(args + ["--out", str(a)]) == 0
    assert main(args + ["--out", str(b)]) == 0
    for f in FILES:
        assert (a / f).stat().st_size > 0, f
    r = json.loads((a / "report.json").read_text())
    assert r["synthetic"] is False
    assert r["period"]["start"].startswith("2015-01-05")
    assert r["provenance"]["source"].endswith("000300.csv")
    assert r["config"]["model"]["train_end"] == "2014-12-31"
    assert r["config"]["model"]["mode"] == "static"
    assert r["prediction"]["count"] > 500
    assert _metrics(a) == _metrics(b)
    assert "SYNTHETIC" not in (a / "report.html").read_text()
    s = r["strategy"]
    assert round(s["total_return"], 4) == -0.2172
    assert round(s["sharpe"], 2) == -0.32
    assert round(s["max_drawdown"], 4) == 0.4447
    assert s["n_trades"] == 14
    assert round(r["prediction"]["ic"], 3) == 0.044
    names = [row["name"] for row in r["comparison"]]
    assert names == ["hold", "buy-and-hold 000300"]
    assert r["comparison"][0]["total_return"] == s["total_return"]


def test_toml_config_and_flags(tmp_path, data_dir):
    cfg = tmp_path / "hold.toml"
    cfg.write_text(
        '[data]\ndata = "csi300"\n[model]\nlstm_units = 8\nkernel_regularizer = "l2(0.01)"\n'
        "[strategy]\nhold = 3\n"
    )
    args = build_parser().parse_args(["run", "hold", "--config", str(cfg), "--hold", "7"])
    s = settings_from_args(args)
    assert s.model.model["lstm_units"] == 8 and s.strategy.params["hold"] == 7  # flag wins
    wf = s.model
    assert wf.model["kernel_regularizer"] == "l2(0.01)"
    assert (wf.train_end, wf.test_start, wf.mode) == ("2014-12-31", "2015-01-01", "static")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nlstm_unit = 8\n")
    assert main(["run", "hold", "--config", str(bad)]) == 2


def test_walkforward_flag_defaults():
    wf = settings_from_args(build_parser().parse_args(["run", "hold", "--walkforward"])).model
    assert wf.mode == "walkforward" and wf.test_start == "2008-01-01" and wf.test_end is None
    assert wf.retrain_every == 21 and wf.train_end is None


def test_missing_dataset_says_how_to_get_it(tmp_path, capsys):
    empty = tmp_path / "nodata"
    empty.mkdir()
    code = main(["run", "hold", "--data", "csi300", "--data-dir", str(empty), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "csi300" in err and "btlstm fetch" in err and "demo" in err


def test_console_script_and_user_script(data_dir, tmp_path):
    env = dict(os.environ, BTLSTM_DATA=str(data_dir))
    out = subprocess.run(["btlstm", "--help"], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "demo" in out.stdout
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "hold_csi300.py"),
            "--epochs",
            "2",
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "buy-and-hold CSI300" in res.stdout
    assert (tmp_path / "s" / "report.html").exists()


@pytest.mark.slow
def test_walkforward_variant_runs(data_dir, tmp_path):
    """`--walkforward` over 2008..2023 (monthly refits, warm start to keep it short)."""
    out = tmp_path / "wf"
    args = [
        "run",
        "hold",
        "--data",
        "csi300",
        "--data-dir",
        str(data_dir),
        "--walkforward",
        "--warm-start",
        "--retrain-every",
        "63",
        "--epochs",
        "5",
        "--quiet",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["period"]["start"].startswith("2008-01-02")
    assert len(r["run"]["fits"]) > 40


# -- help and messages ----------------------------------------------------------------


def _parsers(parser, path=("btlstm",)):
    """Every (command path, parser) of the CLI."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, path + (name,))


def test_every_flag_of_every_command_has_help_without_markup():
    import argparse
    import re

    markup = re.compile(r"``|:(mod|class|func|meth|data|attr):`")
    seen = 0
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            where = f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}"
            assert action.help and action.help.strip(), f"{where}: no help"
            assert not markup.search(action.help), f"{where}: markup in {action.help!r}"
            seen += 1
        assert not markup.search(parser.description or ""), path
    assert seen > 150


def test_run_help_lists_only_the_learners_a_run_can_use(capsys):
    with pytest.raises(SystemExit):
        main(["run", "hold", "--help"])
    text = capsys.readouterr().out
    assert "--lstm-units" in text and "--alpha" in text  # the LSTM and the linear learner
    assert "(lightgbm learner)" in text  # LightGBM regression on windows: a run's learner
    for flag in ("--n-grades", "--feature-columns", "(ranker learner)"):  # the ranker's: not
        assert flag not in text, flag


def test_misspelt_strategy_suggests_the_closest(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "hodl"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "btlstm: error: argument STRATEGY: invalid choice: 'hodl'; did you mean 'hold'? "
        "(choose from 'hold', 'ranker', 'rotation'); a strategy of your own module runs "
        "with --plugin MODULE (or [strategy] module in --config)"
    )
