"""The ``keras`` learner: the user's builder function (``--builder mymodule:build``)
runs end to end from the CLI and from a plain cerebro script, its source is in the
cache key, a config file may not name it alone, and its model files are only arrays."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from btlstm import registry
from btlstm.cli import main
from btlstm.errors import ModelFileError
from btlstm.forecast.walkforward import WalkForward
from btlstm.learners import builder as builder_mod
from btlstm.learners.builder import KerasBuilderLearner
from btlstm.synthetic import synthetic_ohlcv

BUILDER = textwrap.dedent('''
    """My own network for btlstm: a GRU of settings.builder_args["units"] units."""
    import keras

    UNITS = 4


    def build(lookback, n_features, settings):
        units = settings.builder_args.get("units", UNITS)
        x = inp = keras.Input((lookback, n_features))
        x = keras.layers.GRU(units)(x)
        return keras.Model(inp, keras.layers.Dense(1)(x))
''')

HOLD = ["--data", "synthetic", "--synthetic", '{"n": 520, "start": "2010-01-04", "seed": 2}',
        "--mode", "walkforward", "--lookback", "10", "--retrain-every", "100",
        "--min-train", "150", "--train-start", "2010-01-01", "--train-end", "2010-12-31",
        "--test-start", "2011-01-03", "--test-end", "2011-06-30", "--epochs", "2",
        "--batch-size", "32", "--no-plots", "--quiet"]  # fmt: skip
CFG = dict(lookback=10, retrain_every=100, min_train=150, epochs=2, batch_size=32, seed=3,
           learner="keras", model={"builder": "tmpnets:build"})  # fmt: skip


@pytest.fixture
def nets(tmp_path, monkeypatch):
    """``tmpnets.py`` (the user's builder) in a fresh current folder."""
    path = tmp_path / "tmpnets.py"
    path.write_text(BUILDER)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield path
    sys.modules.pop("tmpnets", None)
    builder_mod._LOADED.pop(str(path.resolve()), None)


def test_builder_runs_from_the_cli(nets, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["run", "hold", "--learner", "keras", "--builder", "tmpnets:build",
               "--builder-args", '{"units": 3}', *HOLD, "--out", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    model = report["config"]["model"]
    assert model["learner"] == "keras" and model["builder"] == "tmpnets:build"
    assert model["builder_args"] == {"units": 3}
    pred = pd.read_csv(out / "predictions.csv")
    assert len(pred) == report["prediction"]["n_finite_predictions"] == 129  # 2011-01..06
    assert pred["prediction"].notna().all() and report["prediction"]["count"] == 124
    assert pred["prediction"].std() > 0
    eq = pd.read_csv(out / "equity.csv")
    assert eq["hold"].iloc[0] == 1_000_000 and (eq["hold"] > 0).all()


def test_builder_runs_from_a_plain_cerebro_script(nets):
    import backtrader as bt

    from btlstm.bt.feeds import make_feed
    from btlstm.bt.indicators import LSTMPredictor

    frame = synthetic_ohlcv(n=400, seed=4)
    got = {}

    class Probe(bt.Strategy):
        def __init__(self):
            self.pred = LSTMPredictor(self.data, config=dict(CFG, model={
                "builder": "tmpnets:build", "builder_args": {"units": 2}}))  # fmt: skip

        def stop(self):
            got["pred"] = np.array(self.pred.prediction.array)

    cerebro = bt.Cerebro()
    cerebro.adddata(make_feed(frame))
    cerebro.addstrategy(Probe)
    cerebro.run()
    p = got["pred"]
    ref = WalkForward(dict(CFG, model={"builder": "tmpnets:build",
                                       "builder_args": {"units": 2}})).predict(frame)  # fmt: skip
    assert len(p) == 400 and np.isfinite(p[-200:]).all()
    np.testing.assert_allclose(p[-200:], ref[-200:], rtol=0, atol=1e-6)  # seeded: the same fits


def test_changing_the_builders_source_invalidates_the_cache(nets, tmp_path):
    frame = synthetic_ohlcv(n=400, seed=5)
    cache = tmp_path / "cache"
    first = WalkForward(CFG, cache_dir=cache)
    p1 = first.predict(frame)
    sha1 = first.learner.token()["builder_sha256"]
    assert len(first.fits) >= 2 and not any(f.cached for f in first.fits)
    again = WalkForward(CFG, cache_dir=cache)
    np.testing.assert_array_equal(again.predict(frame), p1)
    assert all(f.cached for f in again.fits)  # a cache hit while the file is unchanged
    nets.write_text(BUILDER.replace("UNITS = 4", "UNITS = 5"))  # the user edits the builder
    edited = WalkForward(CFG, cache_dir=cache)
    p2 = edited.predict(frame)
    assert edited.learner.token()["builder_sha256"] != sha1
    assert not any(f.cached for f in edited.fits)  # stale: every fit trained again
    assert edited.learner.model.layers[1].units == 5  # with the edited code, not the old module
    assert not np.allclose(p1, p2, equal_nan=True)
    assert len(list(cache.glob("wf-*.weights.npz"))) == 2 * len(first.fits)


def test_a_config_file_may_not_name_a_builder_alone(nets, tmp_path, capsys):
    (tmp_path / "run.toml").write_text('[model]\nlearner = "keras"\nbuilder = "tmpnets:build"\n')
    sys.modules.pop("tmpnets", None)
    rc = main(["run", "hold", "--config", "run.toml", *HOLD, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("btlstm: error:")]
    assert rc == 2 and len(lines) == 1, err
    assert 'asks to run code: [model] builder = "tmpnets:build" (tmpnets.py)' in lines[0]
    assert lines[0].endswith("then add --plugin tmpnets.py")
    assert "tmpnets" not in sys.modules  # nothing of it ran
    from btlstm.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=r"\[model\] builder"):
        Settings.from_toml(tmp_path / "run.toml")
    # named on the command line too (--plugin): allowed, and it registers nothing
    s = Settings.from_toml(tmp_path / "run.toml", plugins=["tmpnets.py"])
    assert s.model.learner == "keras" and s.model.learner_settings["builder"] == "tmpnets:build"
    assert registry.plugin_key("tmpnets") in registry._BUILDERS


def test_builder_model_files_are_arrays_checked_against_the_network(nets, tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(80, 10, 6)).astype("float32"), rng.normal(size=80)
    m = KerasBuilderLearner(10, 6, {"builder": "tmpnets:build"})
    m.fit(X, y, seed=1, epochs=1, batch_size=16)
    path = m.save(tmp_path / "m.weights.npz")
    other = KerasBuilderLearner(10, 6, {"builder": "tmpnets:build"})
    other.load(path)
    np.testing.assert_array_equal(other.predict(X[:5]), m.predict(X[:5]))
    wider = KerasBuilderLearner(10, 6, {"builder": "tmpnets:build", "builder_args": {"units": 7}})
    with pytest.raises(ModelFileError, match=r"m\.weights\.npz.* weights of another network"):
        wider.load(path)
    evil = tmp_path / "evil.weights.npz"
    np.savez(evil, w0000=np.array([print], dtype=object))  # a pickled callable
    with pytest.raises(ModelFileError, match=r"evil\.weights\.npz.* not a weights file"):
        other.load(evil)
    monkeypatch.setattr(other, "model", None)
    big = tmp_path / "big.weights.npz"
    big.write_bytes(b"\0" * (8 * other._build().count_params() + (1 << 20) + 1))
    with pytest.raises(ModelFileError, match=r"big\.weights\.npz.* more than this network"):
        other.load(big)


def test_builder_settings_errors(tmp_path, capsys):
    rc = main(["run", "hold", "--learner", "keras", "--data", "synthetic", "--out",
               str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1].startswith(
        "btlstm: error: [model] builder: builder is required by the keras learner")
    assert "SYNTHETIC" not in err  # refused before the data were made
    with pytest.raises(ValueError, match="builder is required by the keras learner"):
        KerasBuilderLearner(10, 6)
    from btlstm.forecast.walkforward import WalkForwardConfig

    with pytest.raises(ValueError, match="builder is required"):  # with the config: no work
        WalkForwardConfig(learner="keras")
    with pytest.raises(ValueError, match="builder must be MODULE:FUNCTION"):
        KerasBuilderLearner(10, 6, {"builder": "tmpnets"})
    where = lambda k: f"--{k.replace('_', '-')}"  # noqa: E731
    with pytest.raises(ValueError, match="^--builder: the keras learner needs a builder"):
        KerasBuilderLearner.check_settings({}, lookback=10, n_features=6, where=where)
    with pytest.raises(ValueError, match="^--builder 'nosuch:build': no module 'nosuch'"):
        KerasBuilderLearner.check_settings({"builder": "nosuch:build"}, lookback=10,
                                           n_features=6, where=where)  # fmt: skip


def test_builder_fits_are_the_same_on_two_workers(nets):
    """Spawned workers import the builder by name (the current folder) and seed it alike."""
    frame = synthetic_ohlcv(n=400, seed=6)
    one = WalkForward(CFG).predict(frame)
    two = WalkForward(dict(CFG, workers=2)).predict(frame)
    assert np.isfinite(one[-200:]).all()
    np.testing.assert_array_equal(one, two)
