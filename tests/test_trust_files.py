"""Caches, model files and paper state are untrusted data (issue 28, items 3-7 and the keys).

Every file btlstm reads back from its own folders (the model cache, a paper run's
state folder) may have been changed by anyone who can write there. These tests
plant hostile files and check the outcome: refused with the named cause, or warned
about (naming the file) and retrained, with the predictions and trades of a clean run.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from btlstm import _files
from btlstm._files import load_verified, manifest_path, read_manifest, write_manifest
from btlstm.errors import ModelFileError, StateError
from btlstm.forecast.walkforward import MODEL_KIND, WalkForward, WalkForwardConfig
from btlstm.live.state import StateStore
from btlstm.synthetic import synthetic_ohlcv

ROOT = Path(__file__).resolve().parents[1]
RIDGE_CFG = dict(lookback=10, horizon=5, retrain_every=80, min_train=100, learner="ridge",
                 model={"alpha": 1.0}, seed=7)  # fmt: skip
TINY = dict(lstm_units=4, dense_units=(4,))


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=400, seed=3)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A btlstm home of this test alone (never the user's ~/.btlstm)."""
    h = tmp_path / "home"
    monkeypatch.setenv("BTLSTM_HOME", str(h))
    monkeypatch.setattr(_files, "_SECRETS", {})
    return h


def _ridge_cache(frame, cache):
    wf = WalkForward(RIDGE_CFG, cache_dir=cache)
    pred = wf.predict(frame)
    files = sorted(cache.glob("wf-*.npz"), key=lambda f: read_manifest(f)["fit"])
    assert len(files) == len(wf.fits) >= 2
    return pred, files


def _again(frame, cache, caplog):
    caplog.clear()
    wf = WalkForward(RIDGE_CFG, cache_dir=cache)
    with caplog.at_level(logging.WARNING, logger="btlstm"):
        pred = wf.predict(frame)
    return wf, pred


# ------------------------------------------------------------------ the secret
def test_the_secret_is_created_mode_0600_in_btlstm_home_and_a_shared_one_is_refused(home):
    assert not home.exists()
    sig = _files.sign("x")
    secret = home / "secret"
    assert secret.is_file() and (secret.stat().st_mode & 0o777) == 0o600
    assert len(secret.read_text().strip()) == 64 and _files.signature_ok(sig, "x")
    assert not _files.signature_ok(sig, "y") and not _files.signature_ok(None, "x")
    os.chmod(secret, 0o644)
    _files._SECRETS.clear()
    mode = r"secret .* is readable by others or not yours \(mode 644\)"
    with pytest.raises(StateError, match=mode):
        _files.sign("x")


def test_a_secret_that_is_a_link_is_refused(home, tmp_path):
    home.mkdir()
    (tmp_path / "elsewhere").write_text("a" * 64)
    os.symlink(tmp_path / "elsewhere", home / "secret")
    with pytest.raises(StateError, match=r"secret .* is a symbolic link"):
        _files.sign("x")


# ------------------------------------------------------------------ cache entries as files
def test_a_cache_entry_linked_to_dev_zero_is_refused_at_once_and_nothing_is_written(
    home, tmp_path, frame, caplog, monkeypatch
):
    cache = tmp_path / "cache"
    pred, files = _ridge_cache(frame, cache)
    files[0].unlink()
    os.symlink("/dev/zero", files[0])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    calls = []
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="btlstm"):
        ok = load_verified(files[0], MODEL_KIND, calls.append)
    assert time.monotonic() - t0 < 1.0  # refused from lstat/open, not after reading
    assert ok is False and calls == [] and list(scratch.iterdir()) == []
    assert f"untrusted cached model {files[0]} (is a symbolic link" in caplog.text
    # the walk-forward retrains that fit and replaces the link by a file of its own
    wf, again = _again(frame, cache, caplog)
    np.testing.assert_allclose(again, pred, atol=1e-12, equal_nan=True)
    assert [r.cached for r in wf.fits] == [False] + [True] * (len(files) - 1)
    assert not files[0].is_symlink() and files[0].stat().st_size < 10_000


def test_a_cache_entry_that_is_a_fifo_does_not_block(home, tmp_path, frame, caplog):
    cache = tmp_path / "cache"
    pred, files = _ridge_cache(frame, cache)
    files[1].unlink()
    os.mkfifo(files[1])
    result = {}
    t = threading.Thread(target=lambda: result.update(wf=_again(frame, cache, caplog)))
    t.start()
    t.join(60)  # a hang bound: the FIFO would block forever
    assert not t.is_alive()
    wf, again = result["wf"]
    want = f"untrusted cached model {files[1]} (is a FIFO (named pipe), not a regular file)"
    assert want in caplog.text
    assert sum(not r.cached for r in wf.fits) == 1
    np.testing.assert_allclose(again, pred, atol=1e-12, equal_nan=True)


def test_a_negated_ridge_with_a_recomputed_sha256_manifest_is_retrained(
    home, tmp_path, frame, caplog
):
    cache = tmp_path / "cache"
    pred, files = _ridge_cache(frame, cache)
    target = files[-1]
    with np.load(target) as z:
        coef, shape = z["coef"], z["shape"]
    buf = io.BytesIO()
    np.savez(buf, coef=-coef, shape=shape)
    target.write_bytes(buf.getvalue())
    doc = read_manifest(target)
    doc.update(_files.file_entry(buf.getvalue()))  # the forger recomputes sha256 and size
    manifest_path(target).write_text(json.dumps(doc))
    assert _files.verify_manifest(target) is None  # a checksum alone would pass it
    wf, again = _again(frame, cache, caplog)
    assert f"corrupt cached model {target} changed since it was written" in caplog.text
    assert "not signed with this user's secret" in caplog.text
    assert [r.cached for r in wf.fits] == [True] * (len(files) - 1) + [False]
    np.testing.assert_allclose(again, pred, atol=1e-12, equal_nan=True)  # not the negated model
    with np.load(target) as z:
        np.testing.assert_allclose(z["coef"], coef)  # the entry rewritten by the refit


def test_an_entry_signed_under_another_users_secret_is_retrained(
    tmp_path, frame, caplog, monkeypatch
):
    cache = tmp_path / "cache"
    monkeypatch.setattr(_files, "_SECRETS", {})
    monkeypatch.setenv("BTLSTM_HOME", str(tmp_path / "alice"))
    pred, files = _ridge_cache(frame, cache)
    monkeypatch.setenv("BTLSTM_HOME", str(tmp_path / "mallory"))
    wf, again = _again(frame, cache, caplog)
    assert not any(r.cached for r in wf.fits)
    assert caplog.text.count("not signed with this user's secret") == len(files)
    np.testing.assert_allclose(again, pred, atol=1e-12, equal_nan=True)
    wf, _ = _again(frame, cache, caplog)  # rewritten under mallory's secret: trusted again
    assert all(r.cached for r in wf.fits) and caplog.text == ""


def test_an_oversized_cache_entry_is_refused_from_its_size(home, tmp_path, monkeypatch, caplog):
    path = tmp_path / "wf-big.npz"
    path.write_bytes(b"\0" * 5000)
    write_manifest(path, rows=1, kind=MODEL_KIND)
    monkeypatch.setattr(_files, "MAX_MODEL_BYTES", 4096)
    with caplog.at_level(logging.WARNING, logger="btlstm"):
        assert load_verified(path, MODEL_KIND, lambda p: None) is False
    assert "holds 5,000 bytes, more than the 4,096 bytes such a file may have" in caplog.text


# ------------------------------------------------------------------ models checked against architecture
def _lstm_cfg(**kw):
    return WalkForwardConfig(lookback=8, horizon=5, retrain_every=150, min_train=100, epochs=1,
                             batch_size=32, learner="lstm", model=TINY, seed=3, **kw)  # fmt: skip


def _forged_keras(path, build):
    """Save ``build(keras)`` over ``path`` and sign it as btlstm would (the forger owns
    the secret here: what stands between the model and the run is the architecture check)."""
    import keras

    from btlstm.learners.models import save_model

    doc = read_manifest(path)
    save_model(build(keras), path)
    write_manifest(path, rows=doc["rows"], kind=MODEL_KIND, learner="lstm", fit=doc["fit"],
                   date=doc["date"])  # fmt: skip


def _bullish(keras):
    inp = keras.Input((8, 6))
    out = keras.layers.Dense(1, bias_initializer=keras.initializers.Constant(5.0))(
        keras.layers.Flatten()(inp)
    )
    return keras.Model(inp, out)


def _three_outputs(keras):
    from btlstm.learners.models import build_model

    m = build_model(lookback=8, n_features=6, lstm_units=4, dense_units=(4,))
    return keras.Model(m.inputs, keras.layers.Dense(3)(m.layers[-2].output))


@pytest.mark.parametrize("build,cause", [(_bullish, "layers"), (_three_outputs, "output shape")],
                         ids=["flatten-dense", "three-outputs"])  # fmt: skip
def test_a_signed_model_of_another_architecture_is_retrained_with_a_warning(
    home, tmp_path, frame, caplog, build, cause
):
    cache = tmp_path / "cache"
    a = WalkForward(_lstm_cfg(), cache_dir=cache)
    pa = a.predict(frame)
    files = sorted(cache.glob("wf-*.keras"), key=lambda f: read_manifest(f)["fit"])
    assert len(files) == len(a.fits) >= 1
    _forged_keras(files[0], build)
    b = WalkForward(_lstm_cfg(), cache_dir=cache)
    with caplog.at_level(logging.WARNING, logger="btlstm"):
        pb = b.predict(frame)
    want = f"corrupt cached model {files[0]} (model file '{files[0]}' is not this run's network"
    assert f"{want} ({cause}" in caplog.text
    assert not b.fits[0].cached
    np.testing.assert_allclose(pb, pa, atol=1e-5, equal_nan=True)  # retrained, same seed


def test_lstm_load_refuses_another_architecture_even_with_a_model_in_place(home, tmp_path):
    import keras

    from btlstm.learners.lstm import LSTMLearner
    from btlstm.learners.models import save_model

    learner = LSTMLearner(8, 6, TINY)
    x = np.random.default_rng(0).normal(size=(40, 8, 6)).astype("float32")
    learner.fit(x, x[:, -1, 0], seed=1, epochs=1, batch_size=8, patience=1)
    before = learner.predict(x[:3])
    path = save_model(_bullish(keras), tmp_path / "other.keras")
    with pytest.raises(ModelFileError, match=r"other.keras' is not this run's network \(layers"):
        learner.load(path)
    np.testing.assert_array_equal(learner.predict(x[:3]), before)  # its model untouched


def _keras_zip(path, weights: bytes | None = None, h5=None):
    """A ``.keras``-shaped zip: a tiny config and metadata plus a weights member."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("metadata.json", "{}")
        if h5 is not None:
            zf.write(h5, "model.weights.h5")
        else:
            with zf.open("model.weights.h5", "w", force_zip64=True) as fh:
                for _ in range(len(weights) // (1 << 20) or 1):
                    fh.write(weights[: 1 << 20])
    return path


def test_a_keras_whose_weights_member_declares_too_many_bytes_is_refused_before_loading(tmp_path):
    from btlstm.learners.lstm import LSTMLearner

    path = _keras_zip(tmp_path / "bomb.keras", weights=b"\0" * (64 << 20))
    assert path.stat().st_size < 1 << 20  # 64 MiB of zeros, small on disk
    learner = LSTMLearner(8, 6, TINY)
    n = learner.n_weights()
    assert n == 4 * (4 * (6 + 4) + 4) + (4 * 4 + 4) + (4 + 1)  # the LSTM, Dense(4), Dense(1)
    with pytest.raises(ModelFileError, match=(
        rf"model.weights.h5 declares 67,108,864 bytes, more than the {16 * n + (1 << 20):,}"
    )):  # fmt: skip
        learner.load(path)


BOMB = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
from btlstm.errors import ModelFileError
from btlstm.learners.lstm import LSTMLearner
try:
    LSTMLearner(8, 6, {"lstm_units": 4, "dense_units": [4]}).load(sys.argv[1])
except ModelFileError as e:
    print("refused:", e)
print("tensorflow imported:", "tensorflow" in sys.modules)
"""


def test_an_h5_declaring_3_gib_of_zeros_is_refused_under_a_3_gib_address_space(tmp_path):
    import h5py

    h5 = tmp_path / "w.h5"
    with h5py.File(h5, "w") as f:  # declared, never written: the file stays small
        f.create_dataset("layers/dense/vars/0", shape=(3 << 28,), dtype="float32",
                         chunks=(1 << 20,), compression="gzip", fillvalue=0.0)  # fmt: skip
    assert h5.stat().st_size < 1 << 20
    path = _keras_zip(tmp_path / "bomb.keras", h5=h5)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", BOMB, str(path)], capture_output=True, text=True,
                       timeout=120, env=env)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "model.weights.h5 declares datasets of 3,221,225,472 bytes" in p.stdout
    assert "refused before loading" in p.stdout
    assert "tensorflow imported: False" in p.stdout  # refused before Keras reads anything


# ------------------------------------------------------------------ the paper state folder
def _store(tmp_path, fp="run-a", bars=3):
    store = StateStore(tmp_path / "st", fp, {"strategy": "hold"})
    assert store.open() is None
    for i in range(bars):
        store.append({"bar": i, "date": f"2020-01-0{i + 2}"})
    store.save({"format": 1, "bars_done": bars, "last_date": f"2020-01-0{bars + 1}",
                "finished": False, "streams": {}, "snapshot": {"broker": {"cash": 1.0}},
                "sessions": []})  # fmt: skip
    return store


def _resign(store: StateStore, doc: dict) -> None:
    """``doc`` written as state.json with a valid signature (a state btlstm could write)."""
    doc = {k: v for k, v in doc.items() if k != "hmac"}
    doc["hmac"] = store._signature(doc)
    (store.folder / "state.json").write_text(json.dumps(doc))


def test_a_state_round_trips_and_every_edit_is_refused(home, tmp_path):
    store = _store(tmp_path)
    state = StateStore(store.folder, "run-a").open()
    assert state["bars_done"] == 3 and state["snapshot"] == {"broker": {"cash": 1.0}}
    path = store.folder / "state.json"
    doc = json.loads(path.read_text())
    doc["snapshot"]["broker"]["cash"] = 1e9
    path.write_text(json.dumps(doc))
    unsigned = r"state.json is not signed with this user's secret for this run"
    with pytest.raises(StateError, match=unsigned):
        StateStore(store.folder, "run-a").open()
    # a state signed for another run (copied in from another folder) is refused too
    doc["snapshot"]["broker"]["cash"] = 1.0
    _resign(StateStore(store.folder, "run-b"), doc)
    with pytest.raises(StateError, match="not signed"):
        StateStore(store.folder, "run-a").open()


@pytest.mark.parametrize("bars,why", [
    (-5, "field 'bars_done' is -5, expected >= 1"),
    (0, "field 'bars_done' is 0, expected >= 1"),
    (True, "field 'bars_done' is True, expected an integer >= 1"),
    ("3", "field 'bars_done' is '3', expected an integer >= 1"),
    (10**12, "journal.jsonl holds 3 complete lines, state.json says 1000000000000 bars"),
])  # fmt: skip
def test_bars_done_out_of_range_is_refused_even_when_signed(home, tmp_path, bars, why):
    store = _store(tmp_path)
    doc = json.loads((store.folder / "state.json").read_text())
    _resign(store, {**doc, "bars_done": bars})
    with pytest.raises(StateError) as e:
        StateStore(store.folder, "run-a").open()
    msg = str(e.value)
    assert why in msg and "state folder" in msg and msg.endswith("start over with --fresh")
    assert "\n" not in msg
    assert len((store.folder / "journal.jsonl").read_text().splitlines()) == 3  # nothing duplicated


def test_bars_done_past_the_data_is_refused(home, tmp_path):
    store = _store(tmp_path)
    state = StateStore(store.folder, "run-a").open()
    past = r"says bars_done = 3, but the data has 2 bars \(expected 1..2\)"
    with pytest.raises(StateError, match=past):
        store.check_bars(state, 2)
    store.check_bars(state, 3)  # the boundary: every bar done


def test_a_journal_edited_short_or_long_is_checked(home, tmp_path):
    store = _store(tmp_path)
    jpath = store.folder / "journal.jsonl"
    lines = jpath.read_text().splitlines(keepends=True)
    jpath.write_text("".join(lines) + '{"bar": 3')  # a kill mid-line: dropped on resume
    assert StateStore(store.folder, "run-a").open()["bars_done"] == 3
    assert jpath.read_text() == "".join(lines)
    jpath.write_text("".join(lines).replace('"bar": 1', '"bar": 7'))
    with pytest.raises(StateError, match="journal.jsonl is not the journal state.json signed"):
        StateStore(store.folder, "run-a").open()
    jpath.write_text("".join(lines[:2]))
    with pytest.raises(StateError, match="journal.jsonl holds 2 complete lines, state.json says 3"):
        StateStore(store.folder, "run-a").open()


@pytest.mark.parametrize("name", ["state.json", "journal.jsonl", "btlstm-state.json"])
@pytest.mark.parametrize("kind", ["dev-zero", "fifo"])
def test_state_files_that_are_links_or_fifos_are_refused_at_once(home, tmp_path, name, kind):
    store = _store(tmp_path)
    target = store.folder / name
    target.unlink()
    if kind == "dev-zero":
        os.symlink("/dev/zero", target)
        what = "a symbolic link"
    else:
        os.mkfifo(target)
        what = "a FIFO (named pipe)"
    result = {}

    def go():
        try:
            StateStore(store.folder, "run-a").open()
        except StateError as e:
            result["error"] = str(e)

    t = threading.Thread(target=go)
    t.start()
    t.join(30)  # a hang bound: a FIFO would block, /dev/zero would never end
    assert not t.is_alive()
    assert f"{name} is {what}, not the regular file btlstm wrote" in result["error"]


def test_a_state_nested_200000_deep_is_one_error_not_recursion(home, tmp_path):
    store = _store(tmp_path)
    (store.folder / "state.json").write_text("[" * 200_000 + "]" * 200_000)
    deep = r"state.json is unreadable \(state.json nests 200000 levels deep, more than the 64"
    with pytest.raises(StateError, match=deep):
        StateStore(store.folder, "run-a").open()


def test_fresh_with_models_linked_elsewhere_deletes_nothing_outside(home, tmp_path):
    store = _store(tmp_path)
    models = store.folder / "models"
    models.mkdir()
    (models / "wf-mine.npz").write_bytes(b"x")
    outside = tmp_path / "precious"
    outside.mkdir()
    for name in ("wf-keep.npz", "wf-keep.npz.manifest.json", "notes.txt"):
        (outside / name).write_text("keep")
    shutil.rmtree(models)
    os.symlink(outside, models)
    with pytest.raises(StateError, match=r"models is a symbolic link, not the folder btlstm wrote"):
        StateStore(store.folder, "run-a").open(fresh=True)
    store.clear()  # even called directly: the link is not followed
    assert sorted(p.name for p in outside.iterdir()) == [
        "notes.txt", "wf-keep.npz", "wf-keep.npz.manifest.json"]  # fmt: skip
    assert all((outside / n).read_text() == "keep" for n in os.listdir(outside))
    assert models.is_symlink() and not (store.folder / "state.json").exists()


def test_clear_deletes_only_btlstms_regular_files(home, tmp_path):
    store = _store(tmp_path)
    models = store.folder / "models"
    models.mkdir()
    (models / "wf-a.npz").write_bytes(b"x")
    (models / "wf-a.npz.manifest.json").write_text("{}")
    (models / "user.txt").write_text("mine")
    os.symlink(tmp_path / "nowhere", models / "wf-link.npz")
    store.clear()
    assert sorted(p.name for p in models.iterdir()) == ["user.txt", "wf-link.npz"]
    assert sorted(p.name for p in store.folder.iterdir()) == ["models"]


# ------------------------------------------------------------------ paper runs (CLI and pipeline)
PAPER = {"data": {"data": "synthetic", "synthetic": {"n": 700}},
         "model": dict(lookback=10, retrain_every=40, min_train=100, learner="ridge",
                       mode="walkforward", train_start="2008-01-01", test_start="2009-06-01",
                       test_end="2009-09-30"),
         "strategy": {"name": "hold"}, "output": {"plots": False}}  # fmt: skip


def _paper(out, state, **live):
    from btlstm.live import run_paper

    s = {**PAPER, "output": {"plots": False, "out": str(out)}}
    return run_paper(s, {"state_dir": str(state), **live})


def test_a_signed_state_saying_more_bars_than_the_data_has_is_refused_by_the_run(home, tmp_path):
    from btlstm.errors import SettingsError

    _paper(tmp_path / "p", tmp_path / "st")
    fp = json.loads((tmp_path / "st" / "btlstm-state.json").read_text())["fingerprint"]
    store = StateStore(tmp_path / "st", fp)
    doc = json.loads((tmp_path / "st" / "state.json").read_text())
    n = doc["bars_done"]
    jpath = tmp_path / "st" / "journal.jsonl"
    # a forger with the secret who also pads the journal: the data still bounds bars_done
    line = jpath.read_text().splitlines(keepends=True)[-1]
    jpath.write_text(jpath.read_text() + line * 5)
    import hashlib

    doc["journal_sha256"] = hashlib.sha256(jpath.read_bytes()).hexdigest()
    _resign(store, {**doc, "bars_done": n + 5})
    past = rf"says bars_done = {n + 5}, but the data has {n} bars"
    with pytest.raises(SettingsError, match=past):
        _paper(tmp_path / "p", tmp_path / "st")


def test_cli_paper_refuses_a_linked_models_folder_before_any_work(home, tmp_path, capsys):
    from btlstm.cli import main

    _paper(tmp_path / "p", tmp_path / "st")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "wf-keep.npz").write_text("keep")
    shutil.rmtree(tmp_path / "st" / "models")
    os.symlink(outside, tmp_path / "st" / "models")
    args = ["paper", "hold", "--data", "synthetic", "--learner", "ridge", "--no-plots", "--fresh",
            "--out", str(tmp_path / "p2"), "--state-dir", str(tmp_path / "st")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("btlstm: error: ")
    assert "models is a symbolic link" in err[0]
    assert [p.name for p in outside.iterdir()] == ["wf-keep.npz"]
    assert (outside / "wf-keep.npz").read_text() == "keep" and not (tmp_path / "p2").exists()


class Killed(BaseException):
    """What a kill right after a bar's state was saved leaves: nothing more runs."""


def test_the_state_of_bar_k_holds_its_orders_and_a_kill_after_it_resumes_the_same(
    home, tmp_path, monkeypatch
):
    import filecmp

    from btlstm.live.runner import PaperRun

    ref = _paper(tmp_path / "ref", tmp_path / "ref.state")
    saved = {}
    original = PaperRun.on_bar

    def on_bar(self, strategy):
        original(self, strategy)
        state = getattr(self, "_last_state", None)
        if state and state["snapshot"]["broker"]["orders"] and "k" not in saved:
            saved.update(k=state["bars_done"] - 1, orders=state["snapshot"]["broker"]["orders"])
            raise Killed  # killed after bar k's state was written

    monkeypatch.setattr(PaperRun, "on_bar", on_bar)
    with pytest.raises(Killed):
        _paper(tmp_path / "run", tmp_path / "st")
    monkeypatch.setattr(PaperRun, "on_bar", original)
    doc = json.loads((tmp_path / "st" / "state.json").read_text())
    assert doc["bars_done"] == saved["k"] + 1 and doc["finished"] is False
    assert doc["snapshot"]["broker"]["orders"] == saved["orders"]
    assert saved["orders"][0][1] == "buy" and saved["orders"][0][2] > 0  # hold's entry order
    lines = (tmp_path / "st" / "journal.jsonl").read_text().splitlines()
    assert len(lines) == saved["k"] + 1 and json.loads(lines[-1])["bar"] == saved["k"]
    run = _paper(tmp_path / "run", tmp_path / "st")
    assert run.report["live"]["resumed"]
    for name in ("predictions.csv", "trades.csv", "equity.csv"):
        assert filecmp.cmp(tmp_path / "ref" / name, tmp_path / "run" / name, shallow=False), name
    assert run.report["comparison"][0] == ref.report["comparison"][0]


# ------------------------------------------------------------------ cache keys
def test_the_cache_key_changes_with_the_fit_bars_own_values_and_not_with_later_ones(
    tmp_path, frame
):
    wf = WalkForward(RIDGE_CFG, cache_dir=tmp_path)
    prep = wf.prepare(frame)
    bars = wf.fit_bars(prep)
    i = bars[1]
    key = wf.cache_path(prep, i, 1).name
    for col in ("close", "open", "high", "low", "volume"):
        changed = frame.copy()
        changed.iloc[i, changed.columns.get_loc(col)] *= 1.01  # the fit bar itself
        p2 = wf.prepare(changed)
        assert wf.cache_path(p2, i, 1).name != key, col
        later = frame.copy()
        later.iloc[i + 1, later.columns.get_loc(col)] *= 1.01  # the bar after: not known at the fit
        assert wf.cache_path(wf.prepare(later), i, 1).name == key, col


CLI_PAPER = ["paper", "hold", "--data", "synthetic", "--learner", "ridge", "--mode", "walkforward",
             "--retrain-every", "40", "--min-train", "100", "--lookback", "10",
             "--train-start", "2008-01-01", "--test-start", "2009-06-01", "--test-end",
             "2009-09-30", "--no-plots", "--quiet", "--fits", "wait"]  # fmt: skip


@pytest.mark.parametrize("tamper,why", [
    ("dev-zero", "state.json is a symbolic link, not the regular file btlstm wrote"),
    ("minus-5", "state.json field 'bars_done' is -5, expected >= 1"),
    ("cash", "state.json is not signed with this user's secret for this run"),
    ("nested", "state.json nests 200000 levels deep"),
])  # fmt: skip
def test_cli_paper_refuses_a_tampered_state_in_one_line(home, tmp_path, capsys, tamper, why):
    from btlstm.cli import main

    args = [*CLI_PAPER, "--out", str(tmp_path / "p"), "--state-dir", str(tmp_path / "st")]
    assert main(args) == 0
    capsys.readouterr()
    path = tmp_path / "st" / "state.json"
    doc = json.loads(path.read_text())
    fp = json.loads((tmp_path / "st" / "btlstm-state.json").read_text())["fingerprint"]
    if tamper == "dev-zero":
        path.unlink()
        os.symlink("/dev/zero", path)
    elif tamper == "minus-5":
        _resign(StateStore(tmp_path / "st", fp), {**doc, "bars_done": -5})
    elif tamper == "cash":
        doc["snapshot"]["broker"]["cash"] *= 2
        path.write_text(json.dumps(doc))
    else:
        path.write_text("[" * 200_000 + "]" * 200_000)
    journal = (tmp_path / "st" / "journal.jsonl").read_text()
    assert main(args) == 2
    text = capsys.readouterr().err
    err = [line for line in text.splitlines() if line.startswith("btlstm: error: ")]
    assert len(err) == 1 and why in err[0] and "Traceback" not in text, text
    assert "--fresh" in err[0] or "remove it" in err[0]
    assert (tmp_path / "st" / "journal.jsonl").read_text() == journal  # nothing appended
    assert not list((tmp_path / "st").glob(".state.json.*"))  # nothing half-written


def test_a_last_date_that_is_no_date_or_outside_the_data_is_refused(home, tmp_path):
    import pandas as pd

    store = _store(tmp_path)
    state = StateStore(store.folder, "run-a").open()
    span = (pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-31"))
    store.check_bars(state, 20, span)  # 2020-01-04 is inside
    with pytest.raises(StateError, match=r"'last_date' is 2030-01-04, outside the data \(2020-01-02..2020-01-31\)"):
        store.check_bars({**state, "last_date": "2030-01-04"}, 20, span)
    with pytest.raises(StateError, match=r"field 'last_date' is 'soon', not a date"):
        store.check_bars({**state, "last_date": "soon"}, 20, span)
