"""Synthetic data: deterministic, canonical, labelled, and the planted signal is real."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from btlstm.data import validate_frame
from btlstm.synthetic import (
    SECTOR_TICKERS,
    synthetic_market,
    synthetic_ohlcv,
    synthetic_panel,
    synthetic_sectors,
)


def _labelled(df):
    assert df.attrs["synthetic"] is True
    assert df.attrs["source"].startswith("synthetic:")
    assert df.attrs["symbol"].startswith("SYN")
    assert df.attrs["amount_derived"] is False


def test_same_seed_same_frame_different_seed_different():
    a = synthetic_ohlcv(n=300, seed=11, signal=0.3)
    b = synthetic_ohlcv(n=300, seed=11, signal=0.3)
    c = synthetic_ohlcv(n=300, seed=12, signal=0.3)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())


def test_same_numbers_in_a_new_process():
    code = (
        "from btlstm.synthetic import synthetic_ohlcv;"
        "df = synthetic_ohlcv(n=50, seed=5, signal=0.4);"
        "print(repr(float(df['close'].iloc[-1])), repr(float(df['volume'].sum())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    df = synthetic_ohlcv(n=50, seed=5, signal=0.4)
    assert float(out[0]) == float(df["close"].iloc[-1])
    assert float(out[1]) == float(df["volume"].sum())


def test_valid_canonical_and_labelled():
    df, m = synthetic_ohlcv(n=400, seed=1, signal=0.5, return_latent=True)
    validate_frame(df)
    _labelled(df)
    assert len(m) == len(df) == 400
    assert df.index.name == "date" and df.index.tz is None
    assert (df.index.dayofweek < 5).all()
    assert all(df[c].dtype == np.float64 for c in df.columns)
    typical = (df["high"] + df["low"] + df["close"]) / 3
    np.testing.assert_allclose(df["amount"], df["volume"] * typical)
    # volume rises with the size of the move
    absret = np.log(df["close"]).diff().abs()
    assert df["volume"].corr(absret) > 0.3


def test_latent_has_unit_variance_and_persistence():
    _, m = synthetic_ohlcv(n=5000, seed=2, persistence=0.9, return_latent=True)
    assert abs(np.var(m) - 1.0) < 0.15
    assert abs(np.corrcoef(m[:-1], m[1:])[0, 1] - 0.9) < 0.03


def _trend_corr(df):
    c = df["close"]
    past = np.log(c / c.shift(20))
    future = np.log(c.shift(-5) / c)
    return past.corr(future)


def test_planted_signal_is_there_and_absent_without_it():
    with_signal = [_trend_corr(synthetic_ohlcv(n=2500, seed=s, signal=0.5)) for s in range(3)]
    noise = [_trend_corr(synthetic_ohlcv(n=2500, seed=s, signal=0.0)) for s in range(3)]
    assert min(with_signal) > 0.3, with_signal
    assert max(abs(x) for x in noise) < 0.1, noise


def test_panel_late_starters_stoppers():
    panel = synthetic_panel(n_symbols=8, n=200, seed=3, late_starters=2, stoppers=3)
    assert list(panel) == [f"SYN{i:04d}" for i in range(8)]
    full = pd.bdate_range("2012-01-02", periods=200)
    for i, (sym, df) in enumerate(panel.items()):
        validate_frame(df)
        _labelled(df)
        assert df.attrs["symbol"] == sym
        if i < 2:
            assert df.index[0] > full[0] and df.index[-1] == full[-1]
        elif i >= 5:
            assert df.index[0] == full[0] and df.index[-1] < full[-1]
        else:
            assert df.index.equals(full)
    # common market factor: returns are positively correlated across symbols
    rets = pd.DataFrame({s: np.log(f["close"]).diff() for s, f in panel.items()})
    corr = rets.corr().to_numpy()
    assert np.mean(corr[np.triu_indices(8, 1)]) > 0.2
    with pytest.raises(ValueError, match="late_starters"):
        synthetic_panel(n_symbols=3, late_starters=2, stoppers=2)


def test_sectors_and_spy():
    sectors = synthetic_sectors(n=500, seed=4)
    assert list(sectors) == [f"SYN_{t}" for t in SECTOR_TICKERS] + ["SYN_SPY"]
    for df in sectors.values():
        validate_frame(df)
        _labelled(df)
        assert "adj_close" in df.columns
        assert df["adj_close"].iloc[-1] == df["close"].iloc[-1]
        assert (df["adj_close"] <= df["close"]).all()
    sect = pd.DataFrame({s: np.log(df["close"]).diff() for s, df in sectors.items()})
    spy = sect.pop("SYN_SPY")
    np.testing.assert_allclose(spy.iloc[1:], sect.mean(axis=1).iloc[1:], atol=1e-12)


def test_market_index_consistent_with_members():
    index, members = synthetic_market(n_members=10, n=120, seed=5, late_starters=2)
    validate_frame(index)
    _labelled(index)
    closes = pd.DataFrame({s: f["close"] for s, f in members.items()}).reindex(index.index)
    expected = (closes / closes.shift(1) - 1).mean(axis=1).iloc[1:]
    got = index["close"].pct_change().iloc[1:]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"signal": 1.0}, "signal"),
        ({"persistence": -0.1}, "persistence"),
        ({"symbol": "IDX"}, "SYN"),
        ({"n": 0}, "n:"),
        ({"start": "not a date"}, "start"),
    ],
)
def test_bad_arguments_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthetic_ohlcv(**kwargs)
