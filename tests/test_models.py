"""Tests for btlstm.learners.models: builder, regularizer specs, save / load, compiled predict."""

import inspect
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from btlstm.learners import models
from btlstm.learners.models import (
    CallableRegularizer,
    ModelFileError,
    SeedL1,
    build_model,
    describe_model,
    load_model,
    make_predict_fn,
    parse_regularizer,
    regularizer_spec,
    save_model,
)

# conftest.py sets TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS before Keras is imported.
LOOKBACK, N_FEATURES = 10, 6
SMALL = dict(lookback=LOOKBACK, n_features=N_FEATURES, lstm_units=4, dense_units=(4,))


def l1_reg(weight_matrix):
    """The seed article's custom regularizer, written as it is there (Keras 3 ops)."""
    return 0.01 * keras.ops.sum(keras.ops.abs(weight_matrix))


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, LOOKBACK, N_FEATURES)).astype("float32")
    y = (0.5 * x[:, -1, :1] - 0.2 * x[:, 0, 1:2]).astype("float32")
    return x, y


def _pred(model, x):
    """Inference-mode forward pass (same numbers as ``predict``, no tracing cost)."""
    return keras.ops.convert_to_numpy(model(x, training=False))


def _penalty(model, x):
    model(x, training=False)  # refresh activity-regularizer losses
    return float(sum(keras.ops.convert_to_numpy(v) for v in model.losses))


def _slot_specs(model):
    out = {}
    for layer in model.layers:
        for slot in models.REGULARIZER_SLOTS:
            reg = getattr(layer, slot, None)
            if reg is not None:
                out[(layer.name, slot)] = regularizer_spec(reg)
    return out


# ---------------------------------------------------------------------------
# save / load round trip for every regularizer kind on every slot
# ---------------------------------------------------------------------------

KINDS = {
    "l1": "l1(0.01)",
    "l2": "l2(l2=0.02)",
    "l1l2": "l1l2(l1=0.01,l2=0.02)",
    "orthogonal": "orthogonal(factor=0.05,mode='rows')",
    "seed_callable": l1_reg,
    "seed_l1": "seed_l1(0.01)",
    "group_l21": "group_l21(0.01)",
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_round_trip_every_slot(kind, tmp_path):
    spec = KINDS[kind]
    slots = list(models.REGULARIZER_SLOTS)
    if kind == "orthogonal":  # needs a 2-D weight; a bias is 1-D (refused, see below)
        slots.remove("bias_regularizer")
    lstm_kwargs = {slot: spec for slot in slots}
    dense_kwargs = {"kernel_regularizer": spec, "bias_regularizer": "l2(0.01)"}
    model = build_model(**SMALL, seed=3, lstm_kwargs=lstm_kwargs, dense_kwargs=dense_kwargs)
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    before_pred = _pred(model, x)
    before_pen = _penalty(model, x)
    before_specs = _slot_specs(model)
    assert before_pen > 0
    assert len(before_specs) == len(slots) + 2 * 2  # LSTM slots + (kernel, bias) x 2 Dense

    path = save_model(model, tmp_path / "m.keras")
    assert path == tmp_path / "m.keras" and path.is_file()
    loaded = load_model(path)
    np.testing.assert_allclose(_pred(loaded, x), before_pred, atol=1e-6)
    assert _penalty(loaded, x) == pytest.approx(before_pen, rel=1e-6)
    assert _slot_specs(loaded) == before_specs
    if kind == "seed_callable":  # the reloaded model keeps training (optimizer restored)
        loaded.fit(x, y, epochs=1, batch_size=16, verbose=0)
        assert not np.allclose(_pred(loaded, x), before_pred)


def test_seed_callable_penalty_matches_builtin_l1():
    w = keras.ops.convert_to_tensor(np.arange(-3, 3, dtype="float32").reshape(2, 3))
    expected = 0.01 * 9.0
    assert float(CallableRegularizer(l1_reg)(w)) == pytest.approx(expected)
    assert float(SeedL1(0.01)(w)) == pytest.approx(expected)
    assert float(keras.regularizers.L1(0.01)(w)) == pytest.approx(expected)
    reg = parse_regularizer(l1_reg, "kernel_regularizer")
    assert regularizer_spec(reg) == f"btlstm_custom>{__name__}.l1_reg"
    # the registered name is itself a valid spec
    again = parse_regularizer(regularizer_spec(reg))
    assert isinstance(again, CallableRegularizer) and again.fn is l1_reg


def test_reload_in_new_process(tmp_path):
    model = build_model(
        **SMALL,
        seed=5,
        lstm_kwargs={"kernel_regularizer": l1_reg, "recurrent_regularizer": "seed_l1(0.02)"},
        dense_kwargs={"kernel_regularizer": l1_reg},
    )
    x, y = _data()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    path = save_model(model, tmp_path / "m.keras")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "pred.npy", model.predict(x, verbose=0))
    np.save(tmp_path / "pen.npy", np.array(_penalty(model, x)))

    root = Path(__file__).resolve().parents[1]
    here = Path(__file__).resolve().parent
    code = f"""
import sys
sys.path[:0] = [{str(here)!r}, {str(root)!r}]
import importlib
import numpy as np
from btlstm.learners.models import ModelFileError, load_model
path = {str(path)!r}
try:
    load_model(path)
except ModelFileError as exc:
    assert {l1_reg.__module__!r} in str(exc) and path in str(exc), str(exc)
    print("UNLOADABLE-BEFORE-IMPORT")
mod = importlib.import_module({l1_reg.__module__!r})
try:  # importing the module is not enough: nothing named by a file runs unless registered
    load_model(path)
except ModelFileError as exc:
    assert "not registered" in str(exc) and "l1_reg" in str(exc), str(exc)
    print("UNLOADABLE-AFTER-IMPORT")
from btlstm.learners.models import register_regularizer_fn
register_regularizer_fn(mod.l1_reg)
model = load_model(path)
x = np.load({str(tmp_path / "x.npy")!r})
np.testing.assert_allclose(model.predict(x, verbose=0), np.load({str(tmp_path / "pred.npy")!r}), atol=1e-6)
model(x)
pen = float(sum(float(v) for v in model.losses))
assert abs(pen - float(np.load({str(tmp_path / "pen.npy")!r}))) < 1e-5, pen
print("RELOADED-OK")
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "UNLOADABLE-BEFORE-IMPORT" in proc.stdout
    assert "UNLOADABLE-AFTER-IMPORT" in proc.stdout
    assert "RELOADED-OK" in proc.stdout


# ---------------------------------------------------------------------------
# builder: defaults, every LSTM argument reachable, validation
# ---------------------------------------------------------------------------


def test_default_architecture_is_the_seeds():
    model = build_model()
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["InputLayer", "LSTM", "Dense", "Dense", "Dense"]
    assert model.input_shape == (None, 30, 6)
    assert model.output_shape == (None, 1)
    out = model.get_layer("output").get_config()
    assert out["units"] == 1 and out["activation"] == "linear"
    assert model.get_layer("lstm").get_config()["units"] == 32
    assert model.optimizer is not None and model.loss == "mse"


def test_lstm_arguments_land_on_the_layer():
    lkw = {
        "activation": "relu",
        "recurrent_activation": "hard_sigmoid",
        "use_bias": True,
        "kernel_initializer": "he_normal",
        "recurrent_initializer": "glorot_uniform",
        "bias_initializer": "ones",
        "unit_forget_bias": False,
        "kernel_constraint": keras.constraints.MaxNorm(2.0),
        "recurrent_constraint": "non_neg",
        "bias_constraint": "unit_norm",
        "dropout": 0.2,
        "recurrent_dropout": 0.1,
        "go_backwards": True,
        "kernel_regularizer": "l2(0.01)",
    }
    model = build_model(
        **{**SMALL, "dense_units": (3,)},
        stacked_lstm_units=(5,),
        lstm_kwargs=lkw,
        dense_kwargs={"kernel_regularizer": "l1(0.001)", "kernel_initializer": "zeros"},
    )
    lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
    assert [layer.name for layer in lstms] == ["lstm_stack_0", "lstm"]
    assert [layer.get_config()["return_sequences"] for layer in lstms] == [True, False]
    assert [layer.get_config()["units"] for layer in lstms] == [5, 4]
    for layer in lstms:
        cfg = layer.get_config()
        assert cfg["activation"] == "relu"
        assert cfg["recurrent_activation"] == "hard_sigmoid"
        assert cfg["kernel_initializer"]["class_name"] == "HeNormal"
        assert cfg["bias_initializer"]["class_name"] == "Ones"
        assert cfg["unit_forget_bias"] is False
        assert cfg["kernel_constraint"]["class_name"] == "MaxNorm"
        assert cfg["kernel_constraint"]["config"]["max_value"] == 2.0
        assert cfg["recurrent_constraint"]["class_name"] == "NonNeg"
        assert cfg["bias_constraint"]["class_name"] == "UnitNorm"
        assert cfg["dropout"] == pytest.approx(0.2)
        assert cfg["recurrent_dropout"] == pytest.approx(0.1)
        assert cfg["go_backwards"] is True
        assert cfg["kernel_regularizer"]["config"]["l2"] == pytest.approx(0.01)
    # unit_forget_bias=False with bias_initializer="ones": every bias entry is 1
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(lstms[1].cell.bias), 1.0)
    for name in ("dense_0", "output"):
        cfg = model.get_layer(name).get_config()
        assert cfg["kernel_regularizer"]["config"]["l1"] == pytest.approx(0.001)
        assert cfg["kernel_initializer"]["class_name"] == "Zeros"


def test_every_lstm_signature_argument_is_accepted():
    params = inspect.signature(keras.layers.LSTM).parameters.values()
    reserved = set(models._LSTM_RESERVED)
    defaults = {
        p.name: p.default
        for p in params
        if p.default is not inspect.Parameter.empty and p.name not in reserved
    }
    assert {"kernel_regularizer", "recurrent_dropout", "unit_forget_bias", "seed"} <= set(defaults)
    defaults.pop("stateful")  # needs a fixed batch size, tested below
    model = build_model(**SMALL, lstm_kwargs=defaults)
    assert model.get_layer("lstm").get_config()["recurrent_dropout"] == 0.0
    stateful = build_model(**SMALL, batch_size=2, lstm_kwargs={"stateful": True})
    assert stateful.get_layer("lstm").get_config()["stateful"] is True
    assert stateful.input_shape == (2, LOOKBACK, N_FEATURES)


BAD_SPECS = [
    "l3(0.1)",
    "l2(abc)",
    "l2(0.1",
    "l2(-0.1)",
    "l1l2(l1=0.01,l3=2)",
    "orthogonal(mode='x')",
]


@pytest.mark.parametrize("spec", BAD_SPECS)
def test_bad_regularizer_spec(spec):
    with pytest.raises(ValueError) as err:
        parse_regularizer(spec, argument="recurrent_regularizer")
    msg = str(err.value)
    assert "recurrent_regularizer" in msg and spec in msg
    assert "l1l2(l1=0.01,l2=0.01)" in msg  # lists the valid forms


def test_bad_spec_suggests_name_and_reaches_build_model():
    with pytest.raises(ValueError, match="did you mean [^?]*'l2'"):
        parse_regularizer("l3(0.1)")
    with pytest.raises(ValueError) as err:
        build_model(**SMALL, lstm_kwargs={"bias_regularizer": "l2(abc)"})
    assert "bias_regularizer" in str(err.value) and "l2(abc)" in str(err.value)
    for bad in ({"l3": 0.1}, 0.01, [0.1], {"l2": -1}):
        with pytest.raises(ValueError, match="kernel_regularizer"):
            parse_regularizer(bad)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"lstm_kwargs": {"dropuot": 0.1}}, ["lstm_kwargs", "dropuot", "did you mean 'dropout'"]),
        ({"lstm_units": -3}, ["lstm_units", "-3"]),
        ({"lookback": 0}, ["lookback", "0"]),
        ({"dense_units": (4, 0)}, ["dense_units[1]", "0"]),
        ({"stacked_lstm_units": ("8",)}, ["stacked_lstm_units[0]", "'8'"]),
        ({"lstm_kwargs": {"dropout": 1.5}}, ["dropout", "1.5"]),
        ({"lstm_kwargs": {"recurrent_dropout": -0.1}}, ["recurrent_dropout", "-0.1"]),
        ({"lstm_kwargs": {"units": 8}}, ["units", "lstm_units"]),
        ({"dense_kwargs": {"activation": "tanh"}}, ["dense_kwargs", "dense_activation"]),
        (
            {"dense_kwargs": {"kernel_regulariser": "l2"}},
            ["kernel_regulariser", "kernel_regularizer"],
        ),
        ({"learning_rate": 0}, ["learning_rate", "0"]),
        ({"optimizer": "adamm"}, ["optimizer", "adamm"]),
        ({"lstm_kwargs": {"activation": "nope"}}, ["lstm_kwargs", "nope"]),
        (
            {"lstm_kwargs": {"bias_regularizer": "orthogonal(0.01)"}},
            ["bias_regularizer", "orthogonal"],
        ),
        ({"lstm_kwargs": {"stateful": True}}, ["stateful", "batch_size"]),
        (  # the 1-unit output kernel has one column: Keras would give a NaN penalty
            {"dense_kwargs": {"kernel_regularizer": "orthogonal(0.01, mode='columns')"}},
            ["kernel_regularizer", "orthogonal", "'output'", "(4, 1)"],
        ),
        ({"lstm_kwargs": {"kernel_regularizer": "group_l21(0.01, axis=2)"}}, ["axis", "2"]),
    ],
)
def test_bad_build_arguments(kwargs, words):
    with pytest.raises(ValueError) as err:
        build_model(**{**SMALL, **kwargs})
    for word in words:
        assert word in str(err.value)


def _closure_reg(scale):
    def reg(w):
        return scale * keras.ops.sum(keras.ops.square(w))

    return reg


def test_lambda_and_closure_refused_at_build():
    for fn, word in ((lambda w: keras.ops.sum(w), "lambda"), (_closure_reg(0.1), "closure")):
        with pytest.raises(ValueError) as err:
            build_model(**SMALL, lstm_kwargs={"kernel_regularizer": fn})
        assert "kernel_regularizer" in str(err.value) and word in str(err.value)


# ---------------------------------------------------------------------------
# specs, seeds, compiled predict, description
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("l1(0.01)", "l1(0.01)"),
        ("L2(0.01)", "l2(0.01)"),
        ("l2(l2=0.01)", "l2(0.01)"),
        ("l1l2(l1=0.01,l2=0.02)", "l1l2(l1=0.01,l2=0.02)"),
        ("l1_l2(l1=0.01, l2=0.02)", "l1l2(l1=0.01,l2=0.02)"),
        ("orthogonal(factor=0.01,mode='rows')", "orthogonal(factor=0.01,mode='rows')"),
        ("seed_l1(0.01)", "seed_l1(0.01)"),
        ("group_l21(0.5, axis=0)", "group_l21(factor=0.5,axis=0)"),
        ({"l2": 0.01}, "l2(0.01)"),
        ({"l1": 0.01, "l2": 0.02}, "l1l2(l1=0.01,l2=0.02)"),
        ({"class_name": "L2", "config": {"l2": 0.03}}, "l2(0.03)"),
        (keras.regularizers.L1(0.5), "l1(0.5)"),
    ],
)
def test_spec_round_trip(spec, expected):
    reg = parse_regularizer(spec)
    assert isinstance(reg, keras.regularizers.Regularizer)
    assert regularizer_spec(reg) == expected
    again = parse_regularizer(regularizer_spec(reg))
    assert type(again) is type(reg) and again.get_config() == reg.get_config()


def test_none_specs():
    for spec in (None, "none", "None", " "):
        assert parse_regularizer(spec) is None
    assert regularizer_spec(None) is None


def test_same_seed_same_weights_and_training():
    x, y = _data()
    a = build_model(**SMALL, seed=11, lstm_kwargs={"dropout": 0.2})
    b = build_model(**SMALL, seed=11, lstm_kwargs={"dropout": 0.2})
    c = build_model(**SMALL, seed=12, lstm_kwargs={"dropout": 0.2})
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))
    preds = []
    for model in (a, b):
        keras.utils.set_random_seed(99)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0)
        preds.append(model.predict(x, verbose=0))
    np.testing.assert_array_equal(preds[0], preds[1])
    assert not np.array_equal(preds[0], c.predict(x, verbose=0))


def test_make_predict_fn_matches_predict():
    x, _ = _data(n=20)
    model = build_model(**SMALL, seed=1, lstm_kwargs={"dropout": 0.3, "recurrent_dropout": 0.2})
    predict = make_predict_fn(model)
    batch = predict(x)
    assert batch.shape == (20,) and batch.dtype == np.float64
    np.testing.assert_allclose(batch, model.predict(x, verbose=0)[:, 0], atol=1e-6)
    single = predict(x[3])
    assert single.shape == (1,)
    np.testing.assert_allclose(single, model.predict(x[3:4], verbose=0)[:, 0], atol=1e-6)
    np.testing.assert_allclose(predict(x[:7].astype("float64")), batch[:7], atol=1e-6)
    with pytest.raises(ValueError, match=r"\(n, 10, 6\)"):
        predict(np.zeros((2, 9, 6)))
    # batch sizes 20, 1 and 7 and float64 input share one trace
    assert predict.forward.experimental_get_tracing_count() == 1


def test_describe_model_is_plain_json():
    model = build_model(
        **SMALL,
        lstm_kwargs={"kernel_regularizer": l1_reg, "bias_regularizer": "l2(0.01)", "dropout": 0.1},
        dense_kwargs={"kernel_regularizer": "seed_l1(0.02)"},
    )
    info = describe_model(model)
    assert json.loads(json.dumps(info)) == info
    assert info["params"] == model.count_params() == info["trainable_params"]
    assert sum(layer["params"] for layer in info["layers"]) == info["params"]
    assert info["input_shape"] == [LOOKBACK, N_FEATURES]
    lstm = next(layer for layer in info["layers"] if layer["class"] == "LSTM")
    assert lstm["units"] == 4 and lstm["dropout"] == pytest.approx(0.1)
    assert lstm["regularizers"] == {
        "kernel_regularizer": f"btlstm_custom>{__name__}.l1_reg",
        "bias_regularizer": "l2(0.01)",
    }
    assert info["layers"][-1]["regularizers"] == {"kernel_regularizer": "seed_l1(0.02)"}
    assert info["optimizer"] == "Adam" and info["learning_rate"] == pytest.approx(1e-3)


# ---------------------------------------------------------------------------
# damaged files and atomic save
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    model = build_model(**SMALL, seed=2, lstm_kwargs={"kernel_regularizer": "seed_l1(0.01)"})
    path = save_model(model, folder / "good.keras")
    return model, path


def test_damaged_model_files(saved, tmp_path):
    _, good = saved
    data = good.read_bytes()
    cases = {
        "missing.keras": None,
        "empty.keras": b"",
        "truncated.keras": data[: len(data) // 2],
        "garbage.keras": np.random.default_rng(0).bytes(4096),
        "short_tail.keras": data[:-10],
    }
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(ModelFileError) as err:
            load_model(path)
        assert str(path) in str(err.value), name
        assert isinstance(err.value, ValueError)
    with zipfile.ZipFile(tmp_path / "notmodel.keras", "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ModelFileError, match="not a Keras model"):
        load_model(tmp_path / "notmodel.keras")
    with pytest.raises(ModelFileError, match="not a file"):
        load_model(tmp_path)
    with pytest.raises(ModelFileError, match="empty"):
        load_model(tmp_path / "empty.keras")


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_atomic_save_keeps_previous_file(saved, tmp_path, monkeypatch):
    model, _ = saved
    x, _ = _data(n=4)
    target = tmp_path / "m.keras"
    save_model(model, target)
    before = target.read_bytes()

    def broken_save(self, filepath, *args, **kwargs):
        Path(filepath).write_bytes(b"PK\x03\x04partial")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_model(model, target)
    monkeypatch.undo()
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras"]  # no temp left behind
    np.testing.assert_allclose(
        load_model(target).predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6
    )
    with pytest.raises(ValueError, match="'.keras'"):
        save_model(model, tmp_path / "m.h5")


class _UnregisteredL2(keras.regularizers.Regularizer):
    def __call__(self, x):
        return 0.01 * keras.ops.sum(keras.ops.square(x))

    def get_config(self):
        return {}


def test_unloadable_regularizer_refused_at_save(tmp_path):
    model = build_model(**SMALL, lstm_kwargs={"kernel_regularizer": _UnregisteredL2()})
    with pytest.raises(ValueError, match="_UnregisteredL2.*not registered"):
        save_model(model, tmp_path / "m.keras")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("module", [models, models.parse_regularizer.__module__])
def test_docstring_examples(module):
    import doctest
    import importlib

    mod = importlib.import_module(module) if isinstance(module, str) else module
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
