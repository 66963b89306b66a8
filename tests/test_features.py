"""Windows, per-sample z-scores and targets (numpy only, no TensorFlow)."""

import numpy as np
import pandas as pd
import pytest

from btlstm.forecast.features import (
    DEFAULT_FEATURES,
    build_dataset,
    feature_matrix,
    make_targets,
    make_windows,
    zscore_windows,
)


def _frame(n=50, seed=0):
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    f = pd.DataFrame(
        {
            "open": close * 1.001,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": rng.integers(1000, 2000, n).astype(float),
        },
        index=pd.bdate_range("2020-01-01", periods=n, name="date"),
    )
    f["amount"] = f.close * f.volume
    return f


def test_windows_are_trailing_and_exact():
    v = np.arange(20.0).reshape(10, 2)
    w = make_windows(v, 4)
    assert w.shape == (7, 4, 2)
    # window i covers bars i .. i+3 and nothing later
    for i in range(7):
        np.testing.assert_array_equal(w[i], v[i : i + 4])
    assert make_windows(v[:3], 4).shape == (0, 4, 2)


def test_zscore_per_window_per_column_and_constant_column_is_zero():
    w = np.array([[[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]]])
    z = zscore_windows(w)
    np.testing.assert_allclose(z[0, :, 0], [-1.224744871, 0.0, 1.224744871], atol=1e-6)
    np.testing.assert_array_equal(z[0, :, 1], [0.0, 0.0, 0.0])
    assert z.dtype == np.float32
    # every window column has mean 0 and std 1 (unless constant)
    rng = np.random.default_rng(1)
    z = zscore_windows(make_windows(rng.normal(size=(100, 3)) * 50 + 7, 30))
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-5)


def test_zscore_is_scale_free_within_a_window():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(5, 30, 6)) + 3
    np.testing.assert_allclose(zscore_windows(w), zscore_windows(w * 1000 + 5), atol=1e-5)


def test_targets_clip_scale_and_nan_tail():
    close = np.array([100.0, 110.0, 121.0, 50.0, 100.0, 100.0])
    y = make_targets(close, horizon=2, clip=0.2, scale=10)
    np.testing.assert_allclose(y[:4], [2.0, -2.0, 10 * (100 / 121 - 1), 2.0])
    assert np.isnan(y[4:]).all()
    y2 = make_targets(close, horizon=1, clip=None, scale=1)
    np.testing.assert_allclose(y2[0], 0.1)


def test_build_dataset_alignment():
    f = _frame(60)
    ds = build_dataset(f, lookback=30, horizon=5)
    assert ds.X.shape == (31, 30, 6)
    assert ds.end[0] == 29 and ds.end[-1] == 59
    # label of the window ending at s is the forward return from s
    s = 10
    expect = np.clip(f.close.iloc[ds.end[s] + 5] / f.close.iloc[ds.end[s]] - 1, -0.2, 0.2) * 10
    assert ds.y[s] == pytest.approx(expect)
    assert np.isnan(ds.y[-5:]).all() and not np.isnan(ds.y[-6])
    # the window ending at s is the z-score of exactly bars s-29..s
    raw = f[list(DEFAULT_FEATURES)].to_numpy()[ds.end[s] - 29 : ds.end[s] + 1]
    np.testing.assert_allclose(ds.X[s], zscore_windows(raw[None])[0], atol=1e-6)


def test_changing_the_future_does_not_change_windows():
    f = _frame(80)
    g = f.copy()
    g.iloc[50:] = g.iloc[50:] * 3.0
    a, b = build_dataset(f, 30, 5), build_dataset(g, 30, 5)
    # windows ending at or before bar 49 are identical
    k = int(np.searchsorted(a.end, 49, side="right"))
    np.testing.assert_array_equal(a.X[:k], b.X[:k])


def test_feature_errors_and_derived_features():
    f = _frame(40)
    with pytest.raises(ValueError, match="unknown feature 'closing'"):
        feature_matrix(f, ("closing",))
    m = feature_matrix(f, ("close", "ret1", "hl_range"))
    assert m.shape == (40, 3)
    assert m[0, 1] == 0.0
    assert m[5, 1] == pytest.approx(f.close.iloc[5] / f.close.iloc[4] - 1)
    with pytest.raises(ValueError, match="lookback"):
        make_windows(m, 0)


def test_zscore_is_bitwise_the_plain_formula():
    """The fast z-score gives exactly (w - mean) / std (np.mean, np.std ddof 0) cast to
    float32, with constant columns 0: the LSTM sees the same inputs as the formula."""
    from btlstm.forecast.features import zscore_windows

    rng = np.random.default_rng(0)
    w = rng.normal(size=(500, 30, 6)) * rng.lognormal(5, 3, size=(1, 1, 6))
    w[::7, :, 2] = 5.0  # constant columns
    w[::11, :, 3] = 1e9
    mean, std = w.mean(axis=1, keepdims=True), w.std(axis=1, keepdims=True)
    const = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    want = np.where(const, 0.0, (w - mean) / np.where(const, 1.0, std)).astype(np.float32)
    got = zscore_windows(w)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert (got[::7, :, 2] == 0).all()


def test_zscore_of_strided_windows_is_bitwise_the_plain_formula():
    """make_windows gives a strided view; zscore_windows copies it to contiguous memory
    first (3x faster) and must still give the plain formula on the view, to the bit."""
    from btlstm.forecast.features import zscore_windows

    rng = np.random.default_rng(1)
    values = rng.lognormal(3, 2, size=(800, 6)) * np.array([1, 1, 1, 1, 1e8, 1e6])
    values[100:140, 1] = 7.0  # a constant stretch
    w = make_windows(values, 30)
    assert not w.flags.c_contiguous
    mean, std = w.mean(axis=1, keepdims=True), w.std(axis=1, keepdims=True)
    const = std <= 1e-12 * np.maximum(1.0, np.abs(mean))
    want = np.where(const, 0.0, (w - mean) / np.where(const, 1.0, std)).astype(np.float32)
    assert np.array_equal(zscore_windows(w), want)


def test_every_derived_feature_is_its_stated_formula_on_past_bars_only():
    """Each DERIVED_FEATURES entry against its formula, bar by bar; and a change to the
    last bar changes no derived value before it (past bars only)."""
    from btlstm.forecast.features import DERIVED_FEATURES

    f = _frame(30, seed=3)
    c, o, h, lo = (f[k].to_numpy() for k in ("close", "open", "high", "low"))
    prev = np.concatenate([[c[0]], c[:-1]])
    want = {
        "ret1": c / prev - 1.0,
        "logret1": np.log(c / prev),
        "hl_range": (h - lo) / c,
        "log_volume": np.log1p(f["volume"].to_numpy()),
        "log_amount": np.log1p(f["amount"].to_numpy()),
    }
    assert set(want) == set(DERIVED_FEATURES)
    names = tuple(want)
    got = feature_matrix(f, names)
    for k, name in enumerate(names):
        np.testing.assert_allclose(got[:, k], want[name], rtol=1e-12, err_msg=name)
    g = f.copy()
    g.iloc[-1, [g.columns.get_loc(k) for k in ("open", "high", "low", "close")]] *= 1.5
    np.testing.assert_array_equal(feature_matrix(g, names)[:-1], got[:-1])
    assert not np.isclose(o[0], c[0])  # the frame tells open from close
