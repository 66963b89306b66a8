"""Walk-forward engine: no look-ahead, embargo, learning, cache, stream == batch."""

import numpy as np
import pandas as pd
import pytest

from btlstm.data import DataError
from btlstm.features import make_targets
from btlstm.synthetic import synthetic_ohlcv
from btlstm.walkforward import WalkForward, WalkForwardConfig

TINY = dict(lstm_units=8, dense_units=(8, 4))


def _cfg(**kw):
    base = dict(
        lookback=10,
        horizon=5,
        retrain_every=80,
        min_train=100,
        epochs=2,
        batch_size=32,
        model=TINY,
        seed=7,
    )
    base.update(kw)
    return WalkForwardConfig(**base)


def _garbage_after(frame, t, seed=99):
    """Same frame up to bar t; every later bar replaced by wild (but valid) prices."""
    g = frame.copy()
    rng = np.random.default_rng(seed)
    n = len(g) - t - 1
    close = np.exp(rng.normal(8, 1.5, n))
    g.iloc[t + 1 :, g.columns.get_loc("close")] = close
    g.iloc[t + 1 :, g.columns.get_loc("open")] = close * 0.97
    g.iloc[t + 1 :, g.columns.get_loc("high")] = close * 1.05
    g.iloc[t + 1 :, g.columns.get_loc("low")] = close * 0.9
    g.iloc[t + 1 :, g.columns.get_loc("volume")] = rng.uniform(1, 1e9, n)
    g.iloc[t + 1 :, g.columns.get_loc("amount")] = rng.uniform(1, 1e12, n)
    return g


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=330, seed=11, signal=0.3)


def test_walkforward_no_lookahead(frame):
    cfg = _cfg()
    base = WalkForward(cfg).predict(frame)
    assert np.isfinite(base).sum() > 150
    for t in (140, 200, 261):
        p = WalkForward(cfg).predict(_garbage_after(frame, t))
        np.testing.assert_allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True)
        # and the future really changed something (the test can fail)
        assert not np.allclose(p[t + 1 :], base[t + 1 :], equal_nan=True)


def test_static_split_no_lookahead(frame):
    cfg = _cfg(mode="static", train_end=str(frame.index[150].date()))
    base = WalkForward(cfg).predict(frame)
    assert np.isnan(base[:151]).all(), "no prediction inside the training period"
    assert np.isfinite(base[151:]).all()
    for t in (151, 170, 300):
        p = WalkForward(cfg).predict(_garbage_after(frame, t))
        np.testing.assert_allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True)


def test_pooled_no_lookahead():
    a = synthetic_ohlcv(n=260, seed=1, symbol="SYNA", signal=0.3)
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB", start="2010-03-29", signal=0.3)
    c = synthetic_ohlcv(n=240, seed=3, symbol="SYNC", signal=0.3)
    panel = {"SYNA": a, "SYNB": b, "SYNC": c}
    cfg = _cfg(retrain_every=60, min_train=200)
    base = WalkForward(cfg).predict(panel)
    assert set(base) == set(panel)
    for t_date in (a.index[150], a.index[200]):
        moved = {}
        for k, f in panel.items():
            t = int(np.searchsorted(f.index, t_date, side="right")) - 1
            moved[k] = _garbage_after(f, t) if t < len(f) - 1 else f
        p = WalkForward(cfg).predict(moved)
        for k, f in panel.items():
            keep = f.index <= t_date
            np.testing.assert_allclose(p[k][keep], base[k][keep], atol=1e-6, equal_nan=True)


def test_embargo_counts_only_known_labels(frame):
    """At a fit on bar i, exactly the windows s with s + horizon + embargo <= i are used."""
    for embargo in (0, 3):
        wf = WalkForward(_cfg(embargo=embargo, validation_fraction=0.0))
        wf.predict(frame)
        idx = {str(d.date()): i for i, d in enumerate(frame.index)}
        for rec in wf.fits:
            i = idx[rec.date]
            expect = i - 5 - embargo - (10 - 1) + 1
            assert rec.n_samples == expect


def test_rolling_window_limits_samples(frame):
    wf = WalkForward(_cfg(window="rolling", train_window=120, validation_fraction=0.0))
    wf.predict(frame)
    assert len(wf.fits) >= 2
    assert all(r.n_samples <= 120 for r in wf.fits)
    assert wf.fits[-1].n_samples == 120 - 5


def test_stream_equals_batch(frame):
    cfg = _cfg()
    batch = WalkForward(cfg).predict(frame)
    st = WalkForward(cfg).stream()
    live = np.array(
        [
            st.update(d, *frame.loc[d, ["open", "high", "low", "close", "volume", "amount"]])
            for d in frame.index
        ]
    )
    np.testing.assert_allclose(live, batch, atol=1e-6, equal_nan=True)


def test_ready_model_predicts_every_full_window(frame):
    import keras

    from btlstm.features import build_dataset
    from btlstm.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model(lookback=10, **TINY)
    p = WalkForward(WalkForwardConfig(lookback=10), model=model).predict(frame)
    ds = build_dataset(frame, lookback=10)
    assert np.isnan(p[:9]).all()
    np.testing.assert_allclose(p[9:], model.predict(ds.X, verbose=0)[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="input shape"):
        WalkForward(WalkForwardConfig(lookback=30), model=model)


def _scores(frame, pred):
    y = make_targets(frame.close.to_numpy(), 5, 0.2, 10)
    m = np.isfinite(pred) & np.isfinite(y)
    hit = float(np.mean(np.sign(pred[m]) == np.sign(y[m])))
    return m.sum(), hit, float(np.corrcoef(pred[m], y[m])[0, 1])


def test_learns_planted_signal_but_not_noise():
    cfg = WalkForwardConfig(
        lookback=20,
        retrain_every=250,
        min_train=400,
        epochs=8,
        model=dict(lstm_units=16, dense_units=(16, 8)),
        seed=1,
    )
    n, hit, ic = _scores(
        *(lambda f: (f, WalkForward(cfg).predict(f)))(synthetic_ohlcv(n=1000, seed=3, signal=0.5))
    )
    assert n > 500
    assert hit > 0.6 and ic > 0.3, (hit, ic)
    n, hit, ic = _scores(
        *(lambda f: (f, WalkForward(cfg).predict(f)))(synthetic_ohlcv(n=1000, seed=3, signal=0.0))
    )
    assert 0.42 < hit < 0.58 and abs(ic) < 0.15, (hit, ic)


def test_model_cache_reuses_and_rebuilds_corrupt(frame, tmp_path, caplog):
    cfg = _cfg()
    a = WalkForward(cfg, cache_dir=tmp_path)
    pa = a.predict(frame)
    files = sorted(tmp_path.glob("*.keras"))
    assert len(files) == len(a.fits) >= 2 and not any(r.cached for r in a.fits)
    b = WalkForward(cfg, cache_dir=tmp_path)
    np.testing.assert_allclose(b.predict(frame), pa, atol=1e-6, equal_nan=True)
    assert all(r.cached for r in b.fits)
    files[0].write_bytes(b"not a keras file")
    c = WalkForward(cfg, cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="btlstm.walkforward"):
        np.testing.assert_allclose(c.predict(frame), pa, atol=1e-6, equal_nan=True)
    assert "corrupt cached model" in caplog.text
    assert sum(not r.cached for r in c.fits) == 1
    # another seed is another model: no cache hit
    d = WalkForward(_cfg(seed=8), cache_dir=tmp_path)
    d.predict(frame)
    assert not any(r.cached for r in d.fits)


def test_config_and_data_errors(frame):
    with pytest.raises(ValueError, match="retrain_every"):
        WalkForwardConfig(retrain_every=0)
    with pytest.raises(ValueError, match="train_end is required"):
        WalkForwardConfig(mode="static")
    with pytest.raises(ValueError, match="did you mean 'lookback'"):
        WalkForwardConfig.from_dict({"lookbak": 3})
    with pytest.raises(ValueError, match="mode"):
        WalkForwardConfig(mode="sometimes")
    with pytest.raises(DataError, match="too little history"):
        WalkForward(_cfg(lookback=30)).predict(frame.iloc[:20])
    bad = frame.copy()
    bad.iloc[40, bad.columns.get_loc("close")] = np.nan
    with pytest.raises(DataError, match="close.*2010"):
        WalkForward(_cfg()).predict(bad)
    tz = frame.tz_localize("UTC")
    with pytest.raises(DataError, match="tz-aware"):
        WalkForward(_cfg()).predict(tz)
    # static split whose training period holds no labelled sample
    cfg = _cfg(mode="static", train_end=str(frame.index[12].date()))
    with pytest.raises(DataError, match="no labelled training sample"):
        WalkForward(cfg).predict(frame)


def test_schedule_is_monthly_like(frame):
    wf = WalkForward(_cfg(retrain_every=21, min_train=100))
    dates = wf.fit_dates(frame)
    assert len(dates) >= 8
    gaps = np.diff([frame.index.get_loc(d) for d in dates])
    assert (gaps == 21).all()
    assert isinstance(dates[0], pd.Timestamp)
