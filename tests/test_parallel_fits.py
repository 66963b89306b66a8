"""Fast training and parallel fits: compiled training functions traced once per model,
the same numbers as Keras' ``fit`` (and in a new process), and walk-forward fits on
local processes or Ray equal to the serial run, bit for bit."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig, max_workers
from btlstm.synthetic import synthetic_ohlcv

TINY = dict(lstm_units=8, dense_units=(8, 4))
#: three cold-start fits of the tiny LSTM, one epoch each
SHORT = dict(lookback=10, retrain_every=120, min_train=150, epochs=1, batch_size=32, seed=3,
             model=TINY)  # fmt: skip


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 10, 6)).astype("float32"), rng.standard_normal(n).astype(
        "float32"
    )


# ------------------------------------------------------------------ compiled training
def _fit(model_fn, n, epochs=2, val=60):
    import keras

    X, y = _data(n + val)
    keras.utils.set_random_seed(1)
    model = model_fn()
    model.fit(X[:n], y[:n], validation_data=(X[n:], y[n:]), epochs=epochs, batch_size=32,
              verbose=0, shuffle=True)  # fmt: skip
    return model


def _counting_model():
    """The tiny model, seeded, and a dict counting how often its train and test steps
    are traced (Python runs the wrapped step only while TensorFlow traces)."""
    import keras

    from btlstm.learners.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(10, 6, lstm_units=8, dense_units=(8, 4))
    traces = {"train": 0, "test": 0}

    def counting(name, step):
        def wrapped(data):
            traces[name] += 1
            return step(data)

        return wrapped

    model.train_step = counting("train", model.train_step)
    model.test_step = counting("test", model.test_step)
    return model, traces


@pytest.mark.parametrize("xla", [False, True])
def test_training_functions_are_traced_once_across_fits_of_any_size(xla):
    from btlstm.learners.models import compile_training, training_compiled

    model, traces = _counting_model()
    compile_training(model, 32, xla=xla)
    assert training_compiled(model) == (32, xla)
    X, y = _data(400)
    seen = []
    for n, nv in ((200, 40), (233, 51), (257, 37)):  # other partial batches each time
        model.fit(X[:n], y[:n], validation_data=(X[n : n + nv], y[n : n + nv]), epochs=1,
                  batch_size=32, verbose=0)  # fmt: skip
        seen.append(dict(traces))
    assert seen[0]["train"] >= 1 and seen[0]["test"] >= 1
    assert seen[1] == seen[-1], seen  # after the first two shapes: nothing traced again
    assert training_compiled(model) == (32, xla)


def test_default_training_equals_a_plain_keras_fit_bit_for_bit():
    from btlstm.learners.models import build_model, compile_training

    X, _ = _data(100, seed=5)
    plain = _fit(lambda: build_model(10, 6, lstm_units=8, dense_units=(8, 4)), 250)
    ours = _fit(lambda: compile_training(build_model(10, 6, lstm_units=8, dense_units=(8, 4)),
                                         32), 250)  # fmt: skip
    a = plain.predict(X, verbose=0)
    b = ours.predict(X, verbose=0)
    assert np.array_equal(a, b)


def _early_stopping():
    import keras

    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                         restore_best_weights=True)  # fmt: skip


@pytest.mark.parametrize("xla", [False, True])
@pytest.mark.parametrize(
    "n, val, epochs",
    [(250, 60, 3), (64 * 33 + 5, 200, 6), (32 * 70, 37, 2), (20, 0, 2), (31, 5, 1)],
)  # one batch; partial batches; over 64 batches (two calls an epoch); no validation
@pytest.mark.parametrize("dropout", [0.0, 0.3])  # dropout draws from Keras' seed generators
def test_fit_compiled_equals_keras_fit_bit_for_bit(n, val, epochs, xla, dropout):
    """The learner's loop (no tf.data) against ``model.fit`` with the same functions:
    the same weights, history and stopping epoch, with early stopping."""
    import keras
    import tensorflow as tf

    from btlstm.learners.models import build_model, compile_training, fit_compiled, seed_keras

    X, y = _data(n + val, seed=n)
    out = {}
    for how in ("keras", "ours"):
        if how == "keras":
            keras.utils.set_random_seed(7)
        else:  # the learner's way: TensorFlow's global seed left alone (another one here)
            tf.random.set_seed(12345)
            seed_keras(7)
        kw = {"dropout": dropout} if dropout else None
        model = build_model(10, 6, lstm_units=8, dense_units=(8, 4), lstm_kwargs=kw)
        cb = [_early_stopping()] if val else []
        vd = (X[n:], y[n:]) if val else None
        if how == "keras":
            compile_training(model, 32, xla=xla)
            h = model.fit(X[:n], y[:n], validation_data=vd, epochs=epochs, batch_size=32,
                          verbose=0, shuffle=True, callbacks=cb)  # fmt: skip
        else:
            h = fit_compiled(model, X[:n], y[:n], *(vd or (None, None)), epochs=epochs,
                             batch_size=32, callbacks=cb, xla=xla, shuffle_seed=7)  # fmt: skip
        out[how] = ([w.copy() for w in model.get_weights()], h.history)
    (wk, hk), (wo, ho) = out["keras"], out["ours"]
    assert hk == ho
    assert len(wk) == len(wo) and all(np.array_equal(a, b) for a, b in zip(wk, wo))


def test_recurrent_dropout_fits_keep_keras_own_loop():
    """With recurrent dropout fit_compiled differs from Keras' fit by float rounding
    (1 ulp), so the learner trains those models with Keras' loop: its weights are
    those of set_random_seed + build_model + fit, bit for bit."""
    import keras

    from btlstm.learners.lstm import LSTMLearner, _recurrent_dropout
    from btlstm.learners.models import build_model, compile_training

    X, y = _data(64 * 35 + 3, seed=9)
    n = 64 * 32
    settings = dict(TINY, recurrent_dropout=0.3)
    learner = LSTMLearner(10, 6, settings)
    learner.fit(X[:n], y[:n], X[n:], y[n:], seed=11, epochs=3, batch_size=32, patience=2)
    assert _recurrent_dropout(learner.model)
    keras.utils.set_random_seed(11)
    model = build_model(10, 6, **learner.settings.build_kwargs())
    compile_training(model, 32)
    model.fit(X[:n], y[:n], validation_data=(X[n:], y[n:]), epochs=3, batch_size=32,
              shuffle=True, verbose=0, callbacks=[_early_stopping()])  # fmt: skip
    for a, b in zip(learner.model.get_weights(), model.get_weights(), strict=True):
        assert np.array_equal(a, b)
    assert not _recurrent_dropout(build_model(10, 6, lstm_kwargs={"dropout": 0.3}))


def test_fit_compiled_traces_once_and_keeps_keras_order():
    """Refits of other sizes trace nothing again; the epoch order is Keras' (the same
    permutation every epoch, drawn from the global seed)."""
    import keras

    from btlstm.learners.models import fit_compiled, keras_order

    model, traces = _counting_model()
    X, y = _data(400)
    seen = []
    for n, nv in ((200, 40), (233, 51), (257, 37)):
        fit_compiled(model, X[:n], y[:n], X[n : n + nv], y[n : n + nv], epochs=2, batch_size=32)
        seen.append(dict(traces))
    assert seen[0]["train"] >= 1 and seen[0]["test"] >= 1
    assert seen[0] == seen[-1], seen
    rng = np.random.default_rng(0)
    for seed in [0, 1, 2**31 - 2, 2**31 - 1, 2**31, 2**32 - 1, *rng.integers(0, 2**32, 8)]:
        n = int(rng.integers(1, 3000))
        keras.utils.set_random_seed(int(seed))  # Keras' way: the global seed decides
        assert np.array_equal(keras_order(n).numpy(), keras_order(n, int(seed)).numpy()), seed
    keras.utils.set_random_seed(3)
    a = keras_order(100).numpy()
    keras.utils.set_random_seed(3)
    assert np.array_equal(a, keras_order(100).numpy())
    assert sorted(a) == list(range(100)) and not np.array_equal(a, np.arange(100))
    keras.utils.set_random_seed(4)
    assert not np.array_equal(a, keras_order(100).numpy())


def test_xla_is_a_setting_that_changes_the_cache_key_only_when_on():
    from btlstm.learners.lstm import LSTMLearner
    from btlstm.settings import Settings

    off, on = LSTMLearner(10, 6), LSTMLearner(10, 6, {"xla": True})
    assert "xla" not in off.token()  # earlier cache keys stay valid
    assert on.token()["xla"] is True
    assert "xla" not in Settings.from_dict({}).to_dict()["model"]  # and sweep / paper keys
    s = Settings.from_dict({"model": {"xla": True}})
    assert s.to_dict()["model"]["xla"] is True and Settings.from_dict(s.to_dict()) == s


def test_a_new_process_gives_the_same_predictions_with_compiled_training(tmp_path, monkeypatch):
    import btlstm.learners.lstm as lstm

    monkeypatch.setattr(lstm, "XLA_MIN_STEPS", 1)  # these small fits run XLA-compiled too
    cfg = dict(SHORT, model=dict(TINY, xla=True), epochs=2, retrain_every=200)
    frame = synthetic_ohlcv(n=520, seed=2)
    here = WalkForward(cfg).predict(frame)
    code = textwrap.dedent(f"""
        import numpy as np
        import btlstm.learners.lstm as lstm
        lstm.XLA_MIN_STEPS = 1
        from btlstm.synthetic import synthetic_ohlcv
        from btlstm.forecast.walkforward import WalkForward
        np.save({str(tmp_path / "p.npy")!r},
                WalkForward({cfg!r}).predict(synthetic_ohlcv(n=520, seed=2)))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ))
    there = np.load(tmp_path / "p.npy")
    assert np.isfinite(here).sum() > 100
    assert np.array_equal(here, there, equal_nan=True)


# ------------------------------------------------------------------ settings
def test_workers_engine_address_are_checked_and_stay_out_of_cache_keys():
    top = max_workers()
    assert top == 4 * (os.cpu_count() or 1)
    for bad, msg in (
        (dict(workers=0), "workers must be an integer in [1, "),
        (dict(workers=top + 1), f"[1, {top}]"),
        (dict(engine="rey"), "did you mean 'ray'"),
        (dict(address="10.0.0.1:6379"), "needs engine='ray'"),
    ):
        with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("(", r"\(")):
            WalkForwardConfig(**bad)
    assert WalkForwardConfig(workers=1000, engine="ray", address="10.0.0.1:6379").workers == 1000
    frame = synthetic_ohlcv(n=300, seed=1)
    a, b = WalkForward(dict(SHORT)), WalkForward(dict(SHORT, workers=2, engine="ray"))
    pa, pb = a.prepare(frame), b.prepare(frame)
    assert a.cache_path(pa, 200, 0, root=".") == b.cache_path(pb, 200, 0, root=".")
    assert "workers" not in WalkForwardConfig().to_dict()  # earlier keys (sweeps) unchanged
    assert WalkForwardConfig(workers=2).to_dict()["workers"] == 2


def test_workers_flags_and_toml_keys(tmp_path):
    from btlstm.settings import Settings

    toml = tmp_path / "run.toml"
    toml.write_text("[model]\nworkers = 2\nengine = 'ray'\n")
    s = Settings.from_toml(toml)
    assert (s.model.workers, s.model.engine) == (2, "ray")
    with pytest.raises(ValueError, match=r"\[model\] workers in .*run.toml: workers must be"):
        toml.write_text("[model]\nworkers = 0\n")
        Settings.from_toml(toml)


# ------------------------------------------------------------------ parallel fits
def test_local_workers_give_the_serial_predictions_bit_for_bit(tmp_path):
    frame = synthetic_ohlcv(n=520, seed=4)
    serial = WalkForward(dict(SHORT))
    want = serial.predict(frame)
    par = WalkForward(dict(SHORT, workers=2), cache_dir=tmp_path)
    got = par.predict(frame)
    assert len(serial.fits) == len(par.fits) >= 3
    assert np.array_equal(want, got, equal_nan=True)
    assert [f.k for f in par.fits] == list(range(len(par.fits)))  # recorded in fit order
    assert not any(f.cached for f in par.fits)
    assert [f.epochs for f in par.fits] == [f.epochs for f in serial.fits]
    models = sorted(tmp_path.glob("wf-*.keras"))
    assert len(models) == len(par.fits)  # handed back through the model cache
    again = WalkForward(dict(SHORT, workers=2), cache_dir=tmp_path)  # all cached: no worker
    assert np.array_equal(again.predict(frame), want, equal_nan=True)
    assert all(f.cached for f in again.fits)


def test_warm_start_runs_as_one_chain_here():
    wf = WalkForward(dict(SHORT, workers=2, warm_start=True))
    assert not wf.parallel()
    assert not WalkForward(dict(SHORT, learner="ridge", model={}, workers=1)).parallel()


def _cli_run(out, *extra):
    from btlstm.cli import main

    args = ["run", "hold", "--data", "csi300", "--walkforward", "--test-start", "2016-01-01",
            "--test-end", "2016-04-29", "--epochs", "1", "--lstm-units", "8", "--quiet",
            "--no-plots", "--out", str(out), *extra]  # fmt: skip
    assert main(args) == 0
    return {f: pd.read_csv(out / f) for f in ("predictions.csv", "trades.csv")}


@pytest.mark.slow
def test_cli_workers_2_gives_the_serial_files(tmp_path):
    want = _cli_run(tmp_path / "serial")
    got = _cli_run(tmp_path / "w2", "--workers", "2")
    for f in want:
        pd.testing.assert_frame_equal(want[f], got[f], check_exact=True)
    assert want["predictions.csv"].iloc[:, 1:].notna().any().any()


@pytest.mark.slow
def test_cli_ray_workers_2_gives_the_serial_files(tmp_path):
    ray = pytest.importorskip("ray")
    want = _cli_run(tmp_path / "serial")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        got = _cli_run(tmp_path / "ray", "--engine", "ray", "--workers", "2")
    finally:
        ray.shutdown()
    for f in want:
        pd.testing.assert_frame_equal(want[f], got[f], check_exact=True)
