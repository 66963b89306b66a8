"""The ``linear`` learner (ridge renamed, ``ridge`` an alias) and the ``lightgbm``
regression learner: names, cache keys, planted signal, determinism, look-ahead,
save / load refusals, bounds and memory estimate."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from test_walkforward import _garbage_after, _probes, _violations

from btlstm import learners
from btlstm.errors import ModelFileError
from btlstm.forecast.features import make_targets
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.learners import ranker as ranker_mod
from btlstm.learners.gbm import LIGHTGBM_BOUNDS, LightGBMLearner
from btlstm.learners.linear import LinearLearner
from btlstm.significance import ic_test
from btlstm.synthetic import synthetic_ohlcv

SMALL = {"n_estimators": 60, "num_leaves": 7, "min_data_in_leaf": 10, "num_threads": 1}
CFG = dict(lookback=10, horizon=5, retrain_every=80, min_train=120, seed=7,
           validation_fraction=0.2, learner="lightgbm", model=SMALL)  # fmt: skip


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=600, seed=11, signal=0.3)


# ------------------------------------------------------------------------- linear
def test_ridge_is_an_alias_of_linear_with_the_cache_key_of_before(frame, tmp_path):
    assert learners.get_learner("ridge") is learners.get_learner("linear") is LinearLearner
    from btlstm.learners.ridge import RidgeLearner, RidgeSettings  # the old import path

    assert RidgeLearner is LinearLearner and RidgeSettings is LinearLearner.Settings
    base = dict(lookback=10, retrain_every=100, min_train=150)
    old = WalkForward(dict(base, learner="ridge"), cache_dir=tmp_path / "a")
    new = WalkForward(dict(base, learner="linear"), cache_dir=tmp_path / "b")
    # the key's fields are those of the ridge learner before the rename
    assert old.cache_settings()["learner"] == "ridge"
    assert old.cache_settings()["learner_token"] == {
        "learner": "ridge", "lookback": 10, "n_features": 6, "alpha": 1.0}  # fmt: skip
    assert new.cache_settings() == {**old.cache_settings(), }
    p_old, p_new = old.predict(frame), new.predict(frame)
    np.testing.assert_array_equal(p_old, p_new)
    a = sorted(f.name for f in (tmp_path / "a").glob("wf-*.npz"))
    b = sorted(f.name for f in (tmp_path / "b").glob("wf-*.npz"))
    assert a == b and len(a) == len(old.fits) >= 4  # the same files: one cache for both names


def test_a_subclass_of_linear_keeps_its_own_name_in_the_key():
    class Mine(LinearLearner):
        name = "mine_linear"

    assert Mine(4, 2).token()["learner"] == "mine_linear"
    assert LinearLearner(4, 2).token()["learner"] == "ridge"


# ------------------------------------------------------------------------- lightgbm
def test_lightgbm_finds_the_planted_signal_with_a_significant_hac_ic():
    frame = synthetic_ohlcv(n=1200, seed=5, signal=0.3)
    cfg = dict(CFG, retrain_every=150, min_train=300)
    wf = WalkForward(cfg)
    p = wf.predict(frame)
    real = make_targets(frame["close"], horizon=5, clip=10.0, scale=1.0)
    ok = np.isfinite(p) & np.isfinite(real)
    assert ok.sum() > 800
    res = ic_test(p[ok], real[ok], horizon=5)
    assert res["value"] > 0.1 and res["p_hac"] < 0.01, res
    assert len(wf.fits) >= 5 and all(0 < f.epochs <= 60 for f in wf.fits)


def test_lightgbm_is_deterministic_across_threads_processes_and_workers(frame, tmp_path):
    a = WalkForward(CFG).predict(frame)
    b = WalkForward(dict(CFG, model=dict(SMALL, num_threads=2))).predict(frame)
    np.testing.assert_array_equal(a, b)  # deterministic=True: any number of threads
    c = WalkForward(dict(CFG, workers=2)).predict(frame)
    np.testing.assert_array_equal(a, c)
    code = (
        "import numpy as np, sys\n"
        "from btlstm.synthetic import synthetic_ohlcv\n"
        "from btlstm.forecast.walkforward import WalkForward\n"
        f"p = WalkForward({CFG!r}).predict(synthetic_ohlcv(n=600, seed=11, signal=0.3))\n"
        "np.save(sys.argv[1], p)\n"
    )
    out = tmp_path / "p.npy"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=600)
    np.testing.assert_array_equal(np.load(out), a)  # a new process: the same bits
    # num_threads is not in the key; another seed is another model
    assert "num_threads" not in WalkForward(CFG).learner.token()
    d = WalkForward(dict(CFG, seed=8)).predict(frame)
    assert not np.allclose(a, d, equal_nan=True)


def test_lightgbm_early_stopping_on_the_validation_slice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5, 2))
    noise = rng.normal(size=600)  # nothing to learn: the validation loss stops improving
    m = LightGBMLearner(5, 2, dict(SMALL, n_estimators=300))
    rec = m.fit(X[:500], noise[:500], X[500:], noise[500:], seed=1, patience=5)
    assert rec.epochs < 300 and rec.val_loss is not None
    y = X[:, -1, 0] * 0.5 + 0.1 * noise  # a signal: more rounds are kept
    rec2 = m.fit(X[:500], y[:500], X[500:], y[500:], seed=1, patience=5)
    assert rec2.epochs > rec.epochs and rec2.val_loss < 0.1
    full = m.fit(X[:500], y[:500], seed=1, patience=5)  # no validation slice: every round
    assert full.epochs == 300 and full.val_loss is None


def test_lightgbm_no_lookahead(frame):
    cfg = WalkForwardConfig(**CFG)
    ts = _probes(WalkForward(cfg), frame)
    assert len(ts) >= 8
    bad, base = _violations(lambda: WalkForward(cfg), frame, ts)
    assert bad == [] and np.isfinite(base).sum() > 400
    p = WalkForward(cfg).predict(_garbage_after(frame, 300))
    assert not np.allclose(p[301:], base[301:], equal_nan=True)  # the probe can fail


def test_lightgbm_cache_hit_and_a_swapped_model_refit(frame, tmp_path):
    wf = WalkForward(CFG, cache_dir=tmp_path)
    p = wf.predict(frame)
    again = WalkForward(CFG, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.predict(frame), p)
    assert all(f.cached for f in again.fits) and len(again.fits) >= 5
    files = sorted(tmp_path.glob("wf-*.lgb.txt"))
    assert len(files) == len(wf.fits)
    files[0].write_bytes(files[1].read_bytes())  # swapped: the manifest's hash disagrees
    third = WalkForward(CFG, cache_dir=tmp_path)
    np.testing.assert_array_equal(third.predict(frame), p)
    assert [f.cached for f in third.fits].count(False) == 1


def test_lightgbm_save_load_and_its_refusals(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(300, 4, 3)), rng.normal(size=300)
    m = LightGBMLearner(4, 3, SMALL)
    m.fit(X, y, seed=2)
    path = m.save(tmp_path / "m.lgb.txt")
    other = LightGBMLearner(4, 3, SMALL)
    other.load(path)
    np.testing.assert_array_equal(other.predict(X[:20]), m.predict(X[:20]))
    with pytest.raises(ModelFileError, match=r"m\.lgb\.txt.* 12 features, this run needs 10"):
        LightGBMLearner(5, 2).load(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        other.load(tmp_path / "none.txt")
    forged = tmp_path / "forged.lgb.txt"
    forged.write_text("import os; os.system('echo hi')\n")
    with pytest.raises(ModelFileError, match=r"forged\.lgb\.txt.* not a LightGBM text model"):
        other.load(forged)
    bad = tmp_path / "bad.lgb.txt"
    bad.write_text("tree\nversion=v4\nnum_class=banana\n")
    with pytest.raises(ModelFileError, match=r"bad\.lgb\.txt.* (corrupt|not a LightGBM)"):
        other.load(bad)
    from btlstm.learners.ranker import StockRanker

    r = StockRanker(n_features=12)
    r.fit(X.reshape(300, -1), rng.integers(0, 4, 300), group=[30] * 10, seed=1)
    r.save(tmp_path / "rank.txt")  # a LambdaRank model of 12 features: not a regression
    with pytest.raises(ModelFileError, match="not a LightGBM regression model"):
        other.load(tmp_path / "rank.txt")

    monkeypatch.setattr(ranker_mod, "MAX_MODEL_BYTES", 100)  # read_booster, shared with the ranker
    with pytest.raises(ModelFileError, match="more than a model file may be"):
        other.load(path)


def test_lightgbm_bounds_and_memory_estimate():
    where = lambda k: f"--{k.replace('_', '-')}"  # noqa: E731
    check = LightGBMLearner.check_settings
    for key, (lo, hi) in LIGHTGBM_BOUNDS.items():
        check({key: lo}, lookback=10, n_features=6, where=where)
        check({key: hi}, lookback=10, n_features=6, where=where)
        flag = where(key)
        with pytest.raises(ValueError, match=rf"^{flag}: expected {lo} to {hi}"):
            check({key: hi * 2}, lookback=10, n_features=6, where=where)
    check({"num_leaves": 5000}, lookback=10, n_features=6, where=where, allow_large=True)
    with pytest.raises(ValueError, match="learning-rate: expected"):
        check({"learning_rate": 2.0}, lookback=10, n_features=6, where=where, allow_large=True)
    with pytest.raises(ValueError, match="num_leaves"):
        LightGBMLearner.make_settings({"num_leaves": 1})
    mem = LightGBMLearner.memory_bytes
    small = mem(None, lookback=10, n_features=6, batch_size=64)
    big = mem({"num_leaves": 255}, lookback=10, n_features=6, batch_size=64)
    assert 0 < small < big and big == 200 * 255 * 64 + 255 * 60 * 256 * 24
