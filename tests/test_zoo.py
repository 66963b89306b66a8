"""The Keras zoo (gru, alstm, tcn, transformer, mlp): each learns a planted signal to a
significant IC, gives bit-identical predictions for a seed in a new process and on 2
workers, hits the model cache and refuses a swapped model file, looks no bar ahead,
and refuses out-of-range settings naming the key."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from btlstm import _files
from btlstm._files import read_manifest, write_manifest
from btlstm.forecast.features import make_targets
from btlstm.forecast.walkforward import MODEL_KIND, WalkForward, WalkForwardConfig
from btlstm.learners import LEARNERS, KerasLearner, get_learner
from btlstm.significance import ic_test
from btlstm.synthetic import synthetic_ohlcv

ZOO = ("gru", "alstm", "tcn", "transformer", "mlp")
#: small networks for the tests that fit many times (the signal test uses the defaults)
TINY = {
    "gru": dict(gru_units=8, dense_units=(8,)),
    "alstm": dict(lstm_units=8, attention_units=4),
    "tcn": dict(filters=8, dilations=(1, 2, 4)),
    "transformer": dict(d_model=8, heads=2, encoder_layers=1, ff_units=16),
    "mlp": dict(dense_units=(16,)),
}
#: every fit cold, one epoch: three fits on 520 bars
SHORT = dict(lookback=10, retrain_every=120, min_train=150, epochs=1, batch_size=32, seed=3)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A btlstm home of this test alone (its own manifest secret)."""
    h = tmp_path / "home"
    monkeypatch.setenv("BTLSTM_HOME", str(h))
    monkeypatch.setattr(_files, "_SECRETS", {})
    return h


def test_the_zoo_is_registered_as_keras_learners():
    for name in ZOO:
        cls = get_learner(name)
        assert issubclass(cls, KerasLearner) and cls.name == name
        assert cls.needs_tensorflow and cls.preload == ("btlstm.learners.models",)
        assert cls.suffix == ".keras"
    assert issubclass(LEARNERS["lstm"], KerasLearner)


# ------------------------------------------------------------------ (a) planted signal
@pytest.mark.parametrize("name", ZOO)
def test_learns_the_planted_signal_to_a_significant_ic(name):
    """Default network, 6 epochs, two fits on 800 bars: the HAC test of the verdict
    (``ic_test``, horizon 5: the labels overlap by 4 bars) finds the signal."""
    frame = synthetic_ohlcv(n=800, seed=3, signal=0.5)
    cfg = WalkForwardConfig(lookback=10, retrain_every=250, min_train=300, epochs=6,
                            batch_size=32, learner=name, seed=1)  # fmt: skip
    wf = WalkForward(cfg)
    pred = wf.predict(frame)
    assert len(wf.fits) == 2
    first = frame.index.get_loc(wf.fit_dates(frame)[0])
    assert 300 < first < 340 and np.isfinite(pred).sum() == 800 - first  # from the first fit on
    r = ic_test(pred, make_targets(frame.close.to_numpy(), 5, 0.2, 10), horizon=5)
    assert r["n"] > 450 and r["lag"] == 4
    assert r["value"] > 0.1 and r["p_hac"] < 0.05, r


# ------------------------------------------------------------------ (b) same seed, same numbers
_FIT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from btlstm.learners import make_learner

    TINY, folder, mode = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((160, 10, 6)).astype("float32")
    y = rng.standard_normal(160).astype("float32")
    out = {}
    for name, st in TINY.items():
        learner = make_learner(name, 10, 6, st)
        learner.fit(X[:120], y[:120], X[120:], y[120:], seed=11, epochs=2, batch_size=32)
        out[name] = learner.predict(X[:20]).astype("float64").tobytes().hex()
        if mode == "save":
            learner.save(f"{folder}/{name}.keras")
        else:  # a fresh learner loads the file the other process saved
            other = make_learner(name, 10, 6, st)
            other.load(f"{folder}/{name}.keras")
            out[name + ":file"] = other.predict(X[:20]).astype("float64").tobytes().hex()
    print("RESULT " + json.dumps(out))
    """
)


def test_the_same_seed_gives_bit_identical_predictions_in_a_new_process(tmp_path, monkeypatch):
    """Here: fit each network (seed 11) and save it; a new process fits the same and
    loads the saved files (the transformer's PositionEmbedding reloads there with no
    custom objects): the same 20 predictions, bit for bit."""
    ns: dict = {}
    monkeypatch.setattr(sys, "argv", ["fit", json.dumps(TINY), str(tmp_path), "save"])
    exec(compile(_FIT, "fit", "exec"), ns)
    child = subprocess.run(
        [sys.executable, "-c", _FIT, json.dumps(TINY), str(tmp_path), "load"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr[-3000:]
    line = next(s for s in child.stdout.splitlines() if s.startswith("RESULT "))
    got = json.loads(line[len("RESULT "):])
    assert set(got) == set(TINY) | {f"{n}:file" for n in TINY}
    for name in TINY:
        mine = np.frombuffer(bytes.fromhex(ns["out"][name]), dtype="float64")
        theirs = np.frombuffer(bytes.fromhex(got[name]), dtype="float64")
        assert mine.shape == (20,) and np.isfinite(mine).all()
        assert np.array_equal(mine, theirs), name  # bit for bit
        assert got[name + ":file"] == got[name], name  # the saved file predicts the same
        assert np.ptp(mine) > 0, name  # a real model, not a constant


# ------------------------------------------------------------------ (b, c) workers and the cache
@pytest.mark.parametrize("name", ZOO)
def test_workers_cache_hit_and_swapped_model_file(name, home, tmp_path, caplog):
    frame = synthetic_ohlcv(n=520, seed=4)
    cfg = dict(SHORT, learner=name, model=TINY[name])
    serial = WalkForward(dict(cfg), cache_dir=tmp_path / "a")
    want = serial.predict(frame)
    assert len(serial.fits) == 3 and not any(f.cached for f in serial.fits)
    first = frame.index.get_loc(serial.fit_dates(frame)[0])
    assert 150 < first < 190 and np.isfinite(want).sum() == 520 - first
    # 2 workers: the serial numbers, bit for bit
    par = WalkForward(dict(cfg, workers=2), cache_dir=tmp_path / "b")
    assert par.parallel()
    assert np.array_equal(par.predict(frame), want, equal_nan=True)
    assert [f.epochs for f in par.fits] == [f.epochs for f in serial.fits]
    # the cache: every fit a hit, the same predictions
    again = WalkForward(dict(cfg), cache_dir=tmp_path / "a")
    assert np.array_equal(again.predict(frame), want, equal_nan=True)
    assert [f.cached for f in again.fits] == [True, True, True]
    files = sorted((tmp_path / "a").glob("wf-*.keras"), key=lambda f: read_manifest(f)["fit"])
    assert len(files) == 3
    # another architecture saved in fit 0's place and signed: refused, retrained
    other = ZOO[(ZOO.index(name) + 1) % len(ZOO)]
    from btlstm.learners import make_learner

    x = np.random.default_rng(1).standard_normal((64, 10, 6)).astype("float32")
    forged = make_learner(other, 10, 6, TINY[other])
    forged.fit(x, x[:, -1, 0], seed=1, epochs=1, batch_size=32)
    doc = read_manifest(files[0])
    forged.save(files[0])
    write_manifest(files[0], rows=doc["rows"], kind=MODEL_KIND, learner=name, fit=doc["fit"],
                   date=doc["date"])  # fmt: skip
    # other weights of the same network in fit 1's place, not signed: refused, retrained
    swapped = make_learner(name, 10, 6, TINY[name])
    swapped.fit(x, x[:, -1, 0], seed=2, epochs=1, batch_size=32)
    swapped.save(files[1])
    b = WalkForward(dict(cfg), cache_dir=tmp_path / "a")
    with caplog.at_level(logging.WARNING, logger="btlstm"):
        got = b.predict(frame)
    assert f"corrupt cached model {files[0]} (model file '{files[0]}' is not this run's network" in caplog.text
    assert f"corrupt cached model {files[1]}" in caplog.text
    assert [f.cached for f in b.fits] == [False, False, True]
    np.testing.assert_allclose(got, want, atol=1e-6, equal_nan=True)  # retrained, same seed


# ------------------------------------------------------------------ (d) no look-ahead
def _garbage_after(frame, t, seed=99):
    """Same frame up to bar t; every later bar replaced by wild (but valid) prices."""
    g = frame.copy()
    rng = np.random.default_rng(seed)
    n = len(g) - t - 1
    close = np.exp(rng.normal(8, 1.5, n))
    for col, k in (("close", 1.0), ("open", 0.97), ("high", 1.05), ("low", 0.9)):
        g.iloc[t + 1 :, g.columns.get_loc(col)] = close * k
    g.iloc[t + 1 :, g.columns.get_loc("volume")] = rng.uniform(1, 1e9, n)
    g.iloc[t + 1 :, g.columns.get_loc("amount")] = rng.uniform(1, 1e12, n)
    return g


@pytest.mark.parametrize("name", ZOO)
def test_rewriting_the_future_changes_no_prediction_at_or_before_t(name):
    frame = synthetic_ohlcv(n=330, seed=11, signal=0.3)
    cfg = WalkForwardConfig(lookback=10, horizon=5, retrain_every=100, min_train=100,
                            epochs=1, batch_size=32, learner=name, model=TINY[name],
                            seed=7)  # fmt: skip
    wf = WalkForward(cfg)
    base = wf.predict(frame)
    fits = [frame.index.get_loc(d) for d in wf.fit_dates(frame)]
    assert len(fits) >= 2
    probes = sorted({fits[0], fits[0] + 1, fits[1], fits[1] - 1, 250})
    for t in probes:
        p = WalkForward(cfg).predict(_garbage_after(frame, t))
        np.testing.assert_allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True,
                                   err_msg=f"{name}: the future after bar {t} moved a prediction")  # fmt: skip
        if t == 250:  # and the future does move the predictions after t (the probe can fail)
            assert not np.allclose(p[t + 1 :], base[t + 1 :], equal_nan=True)
    assert np.isfinite(base).sum() > 150


# ------------------------------------------------------------------ (e) settings and sizes
def _flag(key):
    return "--" + key.replace("_", "-")


BAD = [
    ("gru", "gru_units", 5000, "--gru-units must be an integer in [1, 4096], got 5000"),
    ("gru", "dense_units", (8, 0), "--dense-units must be an integer >= 1, got 0"),
    ("alstm", "lstm_units", 4097, "--lstm-units must be an integer in [1, 4096], got 4097"),
    ("alstm", "attention_units", 10**6, "--attention-units must be an integer in [1, 4096]"),
    ("tcn", "filters", 4097, "--filters must be an integer in [1, 4096], got 4097"),
    ("tcn", "kernel_size", 65, "--kernel-size must be an integer in [1, 64], got 65"),
    ("tcn", "dilations", (1, 2, 3000), "--dilations must be an integer in [1, 2520], got 3000"),
    ("tcn", "dilations", tuple([1] * 17), "the number of layers of --dilations must be"),
    ("transformer", "d_model", 8192, "--d-model must be an integer in [1, 4096], got 8192"),
    ("transformer", "heads", 65, "--heads must be an integer in [1, 64], got 65"),
    ("transformer", "encoder_layers", 17, "--encoder-layers must be an integer in [1, 16]"),
    ("transformer", "ff_units", 0, "--ff-units must be an integer >= 1, got 0"),
    ("mlp", "dense_units", (64, 5000), "--dense-units must be an integer in [1, 4096], got 5000"),
    ("lstm", "lstm_units", 5000, "--lstm-units must be an integer in [1, 4096], got 5000"),
]


@pytest.mark.parametrize("name,key,value,message", BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_check_settings_refuses_out_of_range_naming_the_key(name, key, value, message):
    cls = get_learner(name)
    kw = dict(lookback=30, n_features=6, where=_flag)
    with pytest.raises(ValueError) as e:
        cls.check_settings({key: value}, **kw)
    assert str(e.value).startswith(message), str(e.value)
    if isinstance(value, int) and value > 0 or isinstance(value, tuple) and min(value) > 0:
        cls.check_settings({key: value}, allow_large=True, **kw)  # --allow-large lifts it
    cls.check_settings({}, **kw)  # the defaults pass
    cls.check_settings(TINY.get(name, {}), **kw)


@pytest.mark.parametrize(
    "name,settings,message",
    [
        ("gru", {"dropout": 1.0}, r"dropout must be a finite number in \[0, 1\), got 1.0"),
        ("transformer", {"d_model": 30, "heads": 4}, r"d_model \(30\) must be a multiple of heads \(4\)"),
        ("tcn", {"dilations": ()}, "dilations must name at least one dilation"),
        ("mlp", {"dense_units": "64"}, "dense_units must be a list of integers >= 1, got '64'"),
        ("alstm", {"learning_rate": 0}, r"learning_rate must be a finite number > 0, got 0"),
        ("gru", {"units": 8}, "unknown gru model setting 'units'"),
    ],
)
def test_settings_refuse_bad_values_naming_the_field(name, settings, message):
    with pytest.raises(ValueError, match=message):
        get_learner(name)(10, 6, settings)


@pytest.mark.parametrize("name", ZOO)
def test_weight_count_and_memory_estimate_match_the_built_network(name):
    """``count_weights`` (no TensorFlow: the archive bound and the memory estimate)
    equals Keras' own count, at the defaults, at the tiny sizes and at other ones."""
    cls = get_learner(name)
    other = {"gru": dict(gru_units=5, dense_units=(3, 2)), "alstm": dict(lstm_units=6,
             attention_units=3, dense_units=(4,)), "tcn": dict(filters=5, kernel_size=2,
             dilations=(1, 3), dense_units=(4,)), "transformer": dict(d_model=12, heads=3,
             encoder_layers=3, ff_units=7, dense_units=(5,)), "mlp": dict(dense_units=(7, 5, 3))}  # fmt: skip
    for st, lookback, nf in (({}, 30, 6), (TINY[name], 10, 6), (other[name], 17, 4)):
        learner = cls(lookback, nf, st)
        net = learner._build()
        assert net.input_shape == (None, lookback, nf) and net.output_shape == (None, 1)
        w = cls.count_weights(learner.settings, lookback=lookback, n_features=nf)
        assert w == net.count_params() == learner.n_weights() > 0, (st, w, net.count_params())
        mem = cls.memory_bytes(st, lookback=lookback, n_features=nf, batch_size=64)
        acts = cls.activation_floats(learner.settings, lookback=lookback, n_features=nf)
        assert acts > 0 and mem == 16 * w + 64 * acts * 8
    doc = sys.modules[cls.__module__].__doc__
    w = cls(30, 6).n_weights()
    assert f"{w:,} weights at the defaults" in doc  # the docstring's count is the count


def test_validate_builds_once_and_names_what_keras_refused():
    get_learner("gru").validate({"gru_units": 4}, lookback=10, n_features=6)
    with pytest.raises(ValueError, match="not a Keras loss"):
        get_learner("mlp").validate({"loss": "no_such_loss"}, lookback=10, n_features=6)
    with pytest.raises(ValueError, match="relu2"):
        get_learner("gru").validate({"dense_activation": "relu2"}, lookback=10, n_features=6)


def test_tcn_is_causal_inside_the_window():
    """The TCN's output at bar t reads no later bar: changing bars after t in the
    window leaves the network's sequence output up to t unchanged."""
    import keras

    learner = get_learner("tcn")(12, 3, TINY["tcn"])
    from btlstm.learners.models import seed_keras

    seed_keras(0)
    net = learner._build()
    seq = keras.Model(net.input, net.get_layer("block2_out").output)
    x = np.random.default_rng(0).standard_normal((2, 12, 3)).astype("float32")
    y = x.copy()
    y[:, 7:, :] += 5.0
    a, b = np.asarray(seq(x)), np.asarray(seq(y))
    assert a.shape == (2, 12, 8)
    np.testing.assert_array_equal(a[:, :7], b[:, :7])
    assert not np.allclose(a[:, 7:], b[:, 7:])


def test_lstm_on_the_base_keeps_its_weight_count_and_memory_estimate():
    """The LSTM's count and estimate are the ones settings.py used before the base:
    4 (u (in + u) + u) a layer, 16 bytes a weight, 5 floats a unit a bar of a batch."""
    cls = get_learner("lstm")
    for st in ({}, dict(lstm_units=8, dense_units=(8, 4), stacked_lstm_units=(5,))):
        learner = cls(30, 6, st)
        net = learner._build()
        w = learner.n_weights()
        assert w == net.count_params() == cls.count_weights(learner.settings, lookback=30,
                                                            n_features=6)  # fmt: skip
        units = sum((*learner.settings.stacked_lstm_units, learner.settings.lstm_units))
        assert cls.memory_bytes(st, lookback=30, n_features=6, batch_size=64) == (
            w * 16 + 64 * 30 * units * 5 * 4 * 2
        )
    assert cls(30, 6).n_weights() == 6593  # docs/learners.md
