"""No code named by a string or a file runs unless registered in this process.

A spec string (CLI flag, TOML value), a dict config or a ``.keras`` file may
name a regularizer function only through the allow-list that code fills
(:func:`btlstm.learners.models.register_regularizer_fn`, or ``CallableRegularizer(fn)``
built from a function object). Everything else is refused *before* it is
called: each case below replaces the named targets (``builtins.print``,
``sys.exit``, ``os.system``, the never-registered markers of
``safety_markers``) with recorders and asserts that none of them ran.
"""

import builtins
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import safety_markers as sm

from btlstm.cli import main
from btlstm.learners import regularizers
from btlstm.learners.models import (
    CallableRegularizer,
    ModelFileError,
    RegularizerNotAllowedError,
    build_model,
    load_model,
    parse_regularizer,
    register_regularizer_fn,
    registered_regularizer_fns,
    save_model,
)

SMALL = dict(lookback=5, n_features=2, lstm_units=2, dense_units=(2,))
SAFE_NAME = "btlstm_custom>safety_markers.safe_l1"


@pytest.fixture(autouse=True)
def allow_list():
    """Each test starts from the session's allow-list and leaves it as it found it."""
    saved = dict(regularizers._ALLOWED_FNS)
    yield
    regularizers._ALLOWED_FNS.clear()
    regularizers._ALLOWED_FNS.update(saved)


@pytest.fixture
def calls(monkeypatch):
    """Replace every function a hostile name points at with a recorder; yield the calls."""
    record: list[str] = []

    def recorder(name, result=None):
        def fn(*args, **kwargs):
            record.append(name)
            return result

        return fn

    real_print = builtins.print

    def fake_print(*args, **kwargs):
        record.append("builtins.print")
        return real_print(*args, **kwargs)

    monkeypatch.setattr(builtins, "print", fake_print)
    monkeypatch.setattr(sys, "exit", recorder("sys.exit"))
    monkeypatch.setattr(os, "system", recorder("os.system", 0))
    sm.CALLS.clear()
    yield record
    record.extend(sm.CALLS)
    sm.CALLS.clear()


def _no_calls(record):
    assert record == [] and sm.CALLS == [], f"a function named by text ran: {record + sm.CALLS}"


# (registered name, module, qualname) a file or a spec could name
HOSTILE = [
    ("btlstm_custom>builtins.print", "builtins", "print"),
    ("evil>y", "sys", "exit"),
    ("btlstm_custom>os.system", "os", "system"),
    ("btlstm_custom>sys.exit", None, None),
    ("btlstm_custom>safety_markers.marker_reg", "safety_markers", "marker_reg"),
    # a lookalike of the registered name (one letter more), module imported
    ("btlstm_custom>safety_markers.safe_l1x", "safety_markers", "safe_l1x"),
    # the registered name with different case / spaces
    ("BTLSTM_CUSTOM>safety_markers.safe_l1", "os", "system"),
    (" btlstm_custom>safety_markers.safe_l1", "builtins", "print"),
]


# ---------------------------------------------------------------------------
# spec strings and dicts (CLI flags, TOML values, lstm_kwargs)
# ---------------------------------------------------------------------------

SPECS = [
    "btlstm>CallableRegularizer('evil>y', module='sys', qualname='exit')",
    "btlstm>CallableRegularizer('x>print', module='builtins', qualname='print')",
    "btlstm>CallableRegularizer('x>system', module='os', qualname='system')",
    "btlstm>CallableRegularizer(fn='btlstm_custom>safety_markers.marker_reg', "
    "module='safety_markers', qualname='marker_reg')",
    "btlstm_custom>builtins.print",
    "btlstm_custom>sys.exit",
    "btlstm_custom>os.system",
    "btlstm_custom>safety_markers.marker_reg",
    "btlstm_custom>safety_markers.safe_l1x",
    "builtins>print",
    "os>system",
    "keras>Sequential",
    "btlstm>SeedL1.__init__",
    {
        "class_name": "btlstm>CallableRegularizer",
        "config": {"fn": "x>y", "module": "os", "qualname": "system"},
    },
    {
        "class_name": "CallableRegularizer",
        "registered_name": "btlstm>CallableRegularizer",
        "module": None,
        "config": {"fn": "btlstm_custom>builtins.print", "module": "builtins", "qualname": "print"},
    },
    {"class_name": "function", "module": "builtins", "config": "print", "registered_name": None},
    {"class_name": "function", "module": "os", "config": "system", "registered_name": "os>system"},
    {"class_name": "exit", "module": "sys", "config": {}, "registered_name": "sys>exit"},
]


def _named(spec) -> str:
    """The function name a hostile spec points at (what the error must mention)."""
    text = json.dumps(spec) if isinstance(spec, dict) else spec
    for word in ("marker_reg", "safe_l1x", "print", "exit", "system", "Sequential", "__init__"):
        if word in text:
            return word
    raise AssertionError(spec)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: str(s)[:60])
def test_spec_naming_unregistered_code_is_refused(spec, calls):
    register_regularizer_fn(sm.safe_l1)
    before = registered_regularizer_fns()
    with pytest.raises(ValueError) as err:
        parse_regularizer(spec, argument="--kernel-regularizer")
    msg = str(err.value)
    assert "--kernel-regularizer" in msg and _named(spec) in msg, msg
    with pytest.raises(ValueError):
        build_model(**SMALL, lstm_kwargs={"recurrent_regularizer": spec})
    _no_calls(calls)
    assert registered_regularizer_fns() == before  # text never adds to the allow-list


def test_spec_refusal_type_and_suggestion(calls):
    register_regularizer_fn(sm.safe_l1)
    with pytest.raises(RegularizerNotAllowedError) as err:
        parse_regularizer("btlstm_custom>safety_markers.safe_l1x", argument="kernel_regularizer")
    msg = str(err.value)
    assert "not registered" in msg and "register_regularizer_fn" in msg
    assert f"Did you mean {SAFE_NAME!r}" in msg
    with pytest.raises(RegularizerNotAllowedError, match="'evil>y'.*module='sys'.*'exit'"):
        parse_regularizer("btlstm>CallableRegularizer('evil>y', module='sys', qualname='exit')")
    _no_calls(calls)


def test_keras_registered_function_is_not_on_the_allow_list(calls):
    """A function only Keras knows (any imported library may register one) is refused."""
    with keras.saving.custom_object_scope({"lib>marker": sm.marker_reg}):
        assert keras.saving.get_registered_object("lib>marker") is sm.marker_reg
        with pytest.raises(RegularizerNotAllowedError, match="lib>marker"):
            parse_regularizer("lib>marker")
        with pytest.raises(RegularizerNotAllowedError, match="lib>marker"):
            parse_regularizer({"class_name": "function", "config": "lib>marker", "module": "x"})
    _no_calls(calls)


def test_cli_flag_naming_sys_exit_is_refused(tmp_path, capsys, calls):
    spec = "btlstm>CallableRegularizer('evil>y', module='sys', qualname='exit')"
    code = main(
        ["run", "hold", "--data", "synthetic", "--out", str(tmp_path / "o"), "--quiet"]
        + ["--learner", "lstm", "--kernel-regularizer", spec]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--kernel-regularizer" in err and "evil>y" in err and "not registered" in err
    assert "Traceback" not in err
    calls[:] = [c for c in calls if c != "builtins.print"]  # the CLI prints its own messages
    _no_calls(calls)


def test_spec_cannot_exit_a_child_process(tmp_path):
    """Without any patching: the real sys.exit / os.system named by a spec never run."""
    marker = tmp_path / "ran"
    code = f"""
from btlstm.learners.models import parse_regularizer
for spec in ("btlstm>CallableRegularizer('evil>y', module='sys', qualname='exit')",
             "btlstm>CallableRegularizer('x>s', module='os', qualname='system')",
             "btlstm_custom>os.system"):
    try:
        parse_regularizer(spec)
    except ValueError as exc:
        assert "not registered" in str(exc), exc
    else:
        raise SystemExit("ACCEPTED " + spec)
import os
assert not os.path.exists({str(marker)!r})
print("ALIVE")
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180
    )
    assert proc.returncode == 0 and "ALIVE" in proc.stdout, proc.stdout + proc.stderr[-2000:]


# ---------------------------------------------------------------------------
# .keras files
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def safe_model_file(tmp_path_factory):
    """A model saved with the registered ``safe_l1`` on two slots."""
    saved = dict(regularizers._ALLOWED_FNS)
    register_regularizer_fn(sm.safe_l1)
    model = build_model(
        **SMALL,
        seed=1,
        lstm_kwargs={"kernel_regularizer": sm.safe_l1},
        dense_kwargs={"kernel_regularizer": SAFE_NAME},
    )
    path = save_model(model, tmp_path_factory.mktemp("safe") / "safe.keras")
    regularizers._ALLOWED_FNS.clear()
    regularizers._ALLOWED_FNS.update(saved)
    return path


def _rewrite(src: Path, dst: Path, edit) -> Path:
    """Copy a .keras archive with its config.json passed through ``edit(dict) -> dict``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(item, data)
    return dst


def _replace_regularizers(config, make):
    """Replace every CallableRegularizer config (dict with 'fn') by ``make(old)``."""
    if isinstance(config, dict):
        if config.get("registered_name") == "btlstm>CallableRegularizer":
            return make(config)
        return {k: _replace_regularizers(v, make) for k, v in config.items()}
    if isinstance(config, list):
        return [_replace_regularizers(v, make) for v in config]
    return config


@pytest.mark.parametrize("name, module, qualname", HOSTILE, ids=lambda s: str(s)[:40])
def test_model_file_naming_unregistered_function_is_refused(
    name, module, qualname, safe_model_file, tmp_path, calls
):
    register_regularizer_fn(sm.safe_l1)  # the real one is registered; the file names another

    def make(old):
        return {**old, "config": {"fn": name, "module": module, "qualname": qualname}}

    bad = _rewrite(
        safe_model_file, tmp_path / "bad.keras", lambda c: _replace_regularizers(c, make)
    )
    before = registered_regularizer_fns()
    with pytest.raises(ModelFileError) as err:
        load_model(bad)
    msg = str(err.value)
    assert str(bad) in msg and repr(name) in msg and "not registered" in msg, msg
    _no_calls(calls)
    assert registered_regularizer_fns() == before


GADGETS = {
    "function builtins.print": {
        "module": "builtins",
        "class_name": "function",
        "config": "print",
        "registered_name": "function",
    },
    "function os.system": {
        "module": "os",
        "class_name": "function",
        "config": "system",
        "registered_name": "os.system",
    },
    "class sys.exit": {
        "module": "sys",
        "class_name": "exit",
        "config": {},
        "registered_name": None,
    },
    "marker via module": {
        "module": "safety_markers",
        "class_name": "function",
        "config": "marker_reg",
        "registered_name": "safety_markers.marker_reg",
    },
    "CallableRegularizer with extra keys": {
        "module": "btlstm.learners.regularizers",
        "class_name": "CallableRegularizer",
        "registered_name": "btlstm>CallableRegularizer",
        "config": {"fn": SAFE_NAME, "module": "os", "qualname": "system", "call": "os.system"},
    },
}


@pytest.mark.parametrize("gadget", list(GADGETS))
def test_model_file_gadgets_are_refused(gadget, safe_model_file, tmp_path, calls):
    """Other ways a config can name code: Keras' safe mode and our from_config refuse them."""
    register_regularizer_fn(sm.safe_l1)
    bad = _rewrite(
        safe_model_file,
        tmp_path / "gadget.keras",
        lambda c: _replace_regularizers(c, lambda old: GADGETS[gadget]),
    )
    with pytest.raises(ModelFileError) as err:
        load_model(bad)
    assert str(bad) in str(err.value)
    _no_calls(calls)


def test_model_file_without_registration_in_a_fresh_allow_list(safe_model_file, calls):
    """Even the file's own (genuine) function is refused until code registers it."""
    regularizers._ALLOWED_FNS.clear()
    with pytest.raises(ModelFileError, match="safe_l1.*not registered"):
        load_model(safe_model_file)
    register_regularizer_fn(sm.safe_l1)
    model = load_model(safe_model_file)
    assert model.get_layer("lstm").cell.kernel_regularizer.fn is sm.safe_l1
    _no_calls(calls)


def test_stored_module_and_qualname_are_never_followed(safe_model_file, tmp_path, calls):
    """A registered name next to module='os', qualname='system' loads the registered function."""
    register_regularizer_fn(sm.safe_l1)

    def make(old):
        return {**old, "config": {"fn": SAFE_NAME, "module": "os", "qualname": "system"}}

    edited = _rewrite(
        safe_model_file, tmp_path / "e.keras", lambda c: _replace_regularizers(c, make)
    )
    model = load_model(edited)
    reg = model.get_layer("lstm").cell.kernel_regularizer
    assert reg.fn is sm.safe_l1 and reg.get_config()["module"] == "safety_markers"
    x = np.zeros((2, 5, 2), "float32")
    model(x)
    _no_calls(calls)


def test_legacy_formats_are_refused(tmp_path):
    h5 = tmp_path / "m.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(ModelFileError, match=r"m\.h5.*only \.keras"):
        load_model(h5)


# ---------------------------------------------------------------------------
# what registration allows
# ---------------------------------------------------------------------------


def test_registered_function_saves_and_reloads(tmp_path):
    @register_regularizer_fn(name="mine>half_l2")
    def half_l2(w):  # a closure: fine with an explicit name
        return 0.5 * keras.ops.sum(keras.ops.square(w))

    model = build_model(**SMALL, seed=2, lstm_kwargs={"kernel_regularizer": "mine>half_l2"})
    path = save_model(model, tmp_path / "m.keras")
    loaded = load_model(path)
    reg = loaded.get_layer("lstm").cell.kernel_regularizer
    assert isinstance(reg, CallableRegularizer) and reg.fn is half_l2
    assert reg.registered_name == "mine>half_l2"
    assert registered_regularizer_fns()["mine>half_l2"] is half_l2


def test_register_regularizer_fn_arguments():
    assert register_regularizer_fn(sm.safe_l1) is sm.safe_l1
    assert registered_regularizer_fns()[SAFE_NAME] is sm.safe_l1
    with pytest.raises(ValueError, match="lambda"):
        register_regularizer_fn(lambda w: w)
    with pytest.raises(ValueError, match="package>name.*'no_package'"):
        register_regularizer_fn(sm.safe_l1, name="no_package")
    with pytest.raises(ValueError, match="class"):
        register_regularizer_fn(keras.regularizers.L2)
    with pytest.raises(ValueError, match="function"):
        register_regularizer_fn("btlstm_custom>os.system")
    # a function object passed in code is registered (the build path)
    CallableRegularizer(sm.marker_reg)
    assert "btlstm_custom>safety_markers.marker_reg" in registered_regularizer_fns()
