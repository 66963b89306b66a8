"""Class 4 of issue 18: every error names its cause.

The flag or TOML key (with its file and section) when a setting is the cause, the
epoch and the loss when a fit diverged, the real file type when a path is not a
regular file; never a neighbouring symptom ("give more history", "does not exist",
"no labelled training sample", a JSON encoder's complaint about nan).
"""

import math

import numpy as np
import pytest
from cli_errors import ROOT, cli, one_error

from btlstm.errors import TrainingError
from btlstm.learners.lstm import _check_finite_loss

SYN = ["run", "hold", "--data", "synthetic", "--quiet"]
# a short synthetic market: one year to train, one to test (2 s to refuse)
SHORT = SYN + ["--synthetic", '{"n": 500}', "--train-start", "2008-01-01", "--train-end",
               "2008-12-31", "--test-start", "2009-01-01", "--test-end", "2009-12-31"]  # fmt: skip

# (argv, what the one error line must say): refused before any data are read
VALIDATION = [
    (SYN + ["--seed", str(2**32)], "--seed must be an integer in [0, 4294967295]"),
    (SYN + ["--seed", "-1"], "--seed must be an integer in [0, 4294967295]"),
    (SYN + ["--synthetic", '{"seed": -1}'], "--synthetic['seed'] must be an integer in [0, 4294"),
    (SYN + ["--seeds", "4294967290-4294967299"], "--seeds: seed 4294967299 in"),
    (SYN + ["--clip", "nan"], "argument --clip: expected a finite number, got 'nan'"),
    (SYN + ["--scale", "nan"], "argument --scale: expected a finite number, got 'nan'"),
    (SYN + ["--scale", "inf"], "argument --scale: expected a finite number, got 'inf'"),
    (SYN + ["--learning-rate=-inf"], "argument --learning-rate: expected a finite number"),
    (SYN + ["--cash", "inf"], "argument --cash: expected a finite number, got 'inf'"),
    (SYN + ["--synthetic", '{"drift": NaN}'], "--synthetic['drift']: expected a finite number"),
    (SYN + ["--features", "close,adj_close"], "--features: unknown feature 'adj_close'"),
    (SYN + ["--learner", "ranker"], "--learner: 'ranker' scores a cross-section of stocks"),
]


@pytest.mark.parametrize("argv,needle", VALIDATION, ids=[" ".join(c[0][5:]) for c in VALIDATION])
def test_setting_named_at_validation(argv, needle, tmp_path, capsys):
    rc, err = cli(argv + ["--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, needle)
    assert "RankerWalkForward" not in line and "no labelled training sample" not in line


@pytest.mark.parametrize(
    "text,needle",
    [
        ("[model]\nscale = nan\n", "[model] scale in {cfg}: expected a finite number, got nan"),
        ("[model]\nclip = inf\n", "[model] clip in {cfg}: expected a finite number, got inf"),
        ("[costs]\ncommission = -nan\n", "[costs] commission in {cfg}: expected a finite number"),
        ("[model]\nseed = 5000000000\n", "[model] seed in {cfg} must be an integer in [0, 4294"),
    ],
    ids=["scale", "clip", "commission", "seed"],
)
def test_toml_value_named_with_file_and_section(text, needle, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[data]\ndata = "synthetic"\n' + text)
    rc, err = cli(["run", "hold", "--config", cfg, "--out", tmp_path / "o"], capsys)
    one_error(rc, err, needle.format(cfg=cfg))


# (extra flags, the flags the error must name): the data are too short for the setting
TOO_LONG = [
    (["--lookback", "300"], "--lookback = 300 + [model] horizon = 5 + [model] embargo = 0 take"),
    (["--embargo", "250"], "[model] lookback = 30 + [model] horizon = 5 + --embargo = 250 take"),
    (["--horizon", "250"], "[model] lookback = 30 + --horizon = 250 + [model] embargo = 0 take"),
    (
        ["--horizon", "100", "--test-end", "2009-03-31"],
        "need at least 102 for the test period (--horizon = 100 + 2): a shorter --horizon",
    ),
]


@pytest.mark.parametrize("flags,needle", TOO_LONG, ids=["lookback", "embargo", "horizon", "test"])
def test_longer_than_the_data_names_the_flag(flags, needle, tmp_path, capsys):
    rc, err = cli(SHORT + flags + ["--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, needle)
    if "take" in needle:  # the flags first, then (only then) "give more history"
        assert line.index("shorten them") < line.index("give more history")


def test_feature_the_data_lacks_names_features(tmp_path, capsys):
    from btlstm.synthetic import synthetic_ohlcv

    p = tmp_path / "prices.csv"
    synthetic_ohlcv(n=600, seed=1).rename_axis("date").to_csv(p)  # no adj_close column
    rc, err = cli(["run", "hold", "--data", p, "--features", "close,adj_close", "--quiet",
                   "--train-start", "2010-01-01", "--train-end", "2011-06-30",
                   "--test-start", "2011-07-01", "--out", tmp_path / "o"], capsys)  # fmt: skip
    line = one_error(rc, err, "--features: this data has no 'adj_close' column")
    assert "features: features" not in line


@pytest.mark.parametrize(
    "flag,kind",
    [("--data", "is a character device"), ("--config", "is a character device")],
)
def test_device_is_not_reported_missing(flag, kind, tmp_path, capsys):
    rc, err = cli(["run", "hold", flag, "/dev/null", "--out", tmp_path / "o"], capsys)
    line = one_error(rc, err, kind, "not a regular file")
    assert "does not exist" not in line


def test_repeats_flag_blamed_not_the_file(tmp_path, capsys):
    cfg = ROOT / "examples" / "sweep_tiny.toml"
    rc, err = cli(["sweep", "--config", cfg, "--repeats", "0", "--out", tmp_path / "s"], capsys)
    line = one_error(rc, err, "--repeats must be an integer >= 1, got 0")
    assert "sweep_tiny.toml" not in line


def test_repeats_in_the_file_names_the_file(tmp_path, capsys):
    cfg = tmp_path / "sweep.toml"
    text = (ROOT / "examples" / "sweep_tiny.toml").read_text().replace("repeats = 2", "repeats = 0")
    cfg.write_text(text)
    rc, err = cli(["sweep", "--config", cfg, "--out", tmp_path / "s"], capsys)
    one_error(rc, err, f"[sweep] repeats in {cfg} must be an integer >= 1, got 0")


def test_sweep_seeds_past_the_range(tmp_path, capsys):
    cfg = tmp_path / "sweep.toml"
    text = (ROOT / "examples" / "sweep_tiny.toml").read_text()
    cfg.write_text(text.replace("repeats = 2", "repeats = 2\nseed0 = 4294967295"))
    rc, err = cli(["sweep", "--config", cfg, "--out", tmp_path / "s"], capsys)
    one_error(rc, err, "[sweep] seed0 in", "run past 4294967295")


# ------------------------------------------------------------------ a diverging fit
@pytest.mark.parametrize(
    "hist,needle",
    [
        ({"loss": [1.0, math.nan]}, "training diverged at epoch 2 (loss nan)"),
        ({"loss": [math.inf]}, "training diverged at epoch 1 (loss inf)"),
        ({"loss": [1.0, 0.5], "val_loss": [0.4, math.nan]}, "epoch 2 (val_loss nan)"),
    ],
)
def test_non_finite_loss_is_named(hist, needle):
    with pytest.raises(TrainingError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        _check_finite_loss(hist)
    _check_finite_loss({"loss": [1.0, 0.5], "val_loss": [0.3]})  # finite: no error


def test_diverging_fit_ends_in_training_diverged(tmp_path, capsys):
    """A learning rate of 1e30 on targets of 1e30: the first batch's loss is inf. The run
    stops there with the epoch and the loss, not at the JSON report ("Out of range float
    values are not JSON compliant: nan") and without Keras's own print."""
    rc, err = cli(SHORT + ["--learning-rate", "1e30", "--scale", "1e30", "--clip", "1e30",
                           "--epochs", "2", "--lstm-units", "2", "--dense-units", "2",
                           "--out", tmp_path / "o"], capsys)  # fmt: skip
    one_error(rc, err, "training diverged at epoch 1 (loss", "learning_rate")
    assert "JSON" not in err
    assert "Invalid loss" not in capsys.readouterr().out + err


def test_lstm_learner_stops_on_nan(tmp_path):
    from btlstm.learners.lstm import LSTMLearner

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5, 2)).astype("float32")
    y = np.full(64, np.inf, dtype="float32")
    learner = LSTMLearner(5, 2, {"lstm_units": 2, "dense_units": (2,)})
    with pytest.raises(TrainingError, match=r"training diverged at epoch 1 \(loss (nan|inf)\)"):
        learner.fit(X, y, epochs=5, batch_size=16)


def test_plugin_path_names_its_real_type(tmp_path, capsys):
    import os

    fifo = tmp_path / "mine.py"
    os.mkfifo(fifo)
    link = tmp_path / "zero.py"
    link.symlink_to("/dev/zero")
    for spec, needle in (
        (fifo, "is a FIFO (named pipe), not a regular file"),
        (link, "is a link to /dev/zero, a character device"),
        (tmp_path, "is a folder without __init__.py (not a package)"),
    ):
        rc, err = cli(["run", "hold", "--plugin", spec, "--out", tmp_path / "o"], capsys)
        line = one_error(rc, err, f"--plugin: {spec} {needle}")
        assert "does not exist" not in line
