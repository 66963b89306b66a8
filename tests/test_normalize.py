"""``[model] normalize`` / ``--normalize``: window, last_close, train_zscore, none.

Each mode's numbers against a direct numpy computation, ``window`` identical to the
article's per-window z-score (and its cache key unchanged), ``train_zscore``'s
statistics from the fit's training rows only, batch == stream, no look-ahead, and
one clear error for a bad value.
"""

import json

import numpy as np
import pytest

from btlstm.forecast.features import (
    NORMALIZE_MODES,
    build_dataset,
    feature_matrix,
    fit_train_zscore,
    normalize_windows,
)
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig, load_stats, stats_path
from btlstm.synthetic import synthetic_ohlcv
from tests.cli_errors import cli, one_error

COLS = ["open", "high", "low", "close", "volume", "amount"]
FEATS = ("close", "open", "high", "low", "amount", "volume", "ret1")


def _cfg(mode, **kw):
    base = dict(lookback=10, horizon=5, retrain_every=80, min_train=100, learner="ridge",
                model={"alpha": 1.0}, seed=7, normalize=mode, features=FEATS)  # fmt: skip
    base.update(kw)
    return WalkForwardConfig(**base)


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=330, seed=11, signal=0.3)


def _garbage_after(frame, t, seed=99):
    """Same frame up to bar t; every later bar rescaled wildly (prices and volume)."""
    g = frame.copy()
    rng = np.random.default_rng(seed)
    n = len(g) - t - 1
    close = np.exp(rng.normal(8, 1.5, n))
    for c, m in (("close", 1.0), ("open", 0.97), ("high", 1.05), ("low", 0.9)):
        g.iloc[t + 1 :, g.columns.get_loc(c)] = close * m
    g.iloc[t + 1 :, g.columns.get_loc("volume")] = rng.uniform(1, 1e9, n)
    g.iloc[t + 1 :, g.columns.get_loc("amount")] = rng.uniform(1, 1e12, n)
    return g


# ---------------------------------------------------------------------- the numbers
def test_window_is_the_article_zscore_bit_for_bit(frame):
    f = frame.iloc[:40]
    default = build_dataset(f, lookback=10, features=FEATS)
    win = build_dataset(f, lookback=10, features=FEATS, normalize="window")
    assert default.X.shape == (31, 10, 7)
    np.testing.assert_array_equal(win.X, default.X)
    v = feature_matrix(f, FEATS)
    for s in (9, 20, 39):  # window ending at bar s is X[s - 9]
        w = v[s - 9 : s + 1]
        z = (w - w.mean(axis=0)) / w.std(axis=0)
        np.testing.assert_allclose(win.X[s - 9], z, rtol=1e-5, atol=1e-5)


def test_last_close_against_numpy(frame):
    f = frame.iloc[:40]
    ds = build_dataset(f, lookback=10, features=FEATS, normalize="last_close")
    assert ds.X.shape == (31, 10, 7) and ds.X.dtype == np.float32
    c = f["close"].to_numpy()
    for s in (9, 25, 39):
        x = ds.X[s - 9]
        sl = slice(s - 9, s + 1)
        for j, col in enumerate(("close", "open", "high", "low")):
            np.testing.assert_allclose(x[:, j], f[col].to_numpy()[sl] / c[s], rtol=1e-6)
        np.testing.assert_allclose(x[:, 4], f["amount"].to_numpy()[sl] / f["amount"].iloc[s],
                                   rtol=1e-6)  # fmt: skip
        np.testing.assert_allclose(x[:, 5], f["volume"].to_numpy()[sl] / f["volume"].iloc[s],
                                   rtol=1e-6)  # fmt: skip
        assert x[-1, [0, 4, 5]].tolist() == [1.0] * 3  # close, amount, volume: 1 at the end
        ret1 = c[sl] / c[s - 10 : s] - 1 if s >= 10 else np.r_[0.0, c[1:10] / c[:9] - 1]
        np.testing.assert_allclose(x[:, 6], ret1, rtol=1e-5, atol=1e-7)  # left as it is


def test_last_close_zero_last_volume_gives_zeros():
    w = np.array([[[10.0, 5.0], [20.0, 0.0]]])
    out = normalize_windows(w, "last_close", ("close", "volume"))
    assert out.tolist() == [[[0.5, 0.0], [1.0, 0.0]]]


def test_none_is_the_raw_values(frame):
    f = frame.iloc[:30]
    ds = build_dataset(f, lookback=10, features=FEATS, normalize="none")
    v = feature_matrix(f, FEATS)
    assert ds.X.shape == (21, 10, 7)
    np.testing.assert_array_equal(ds.X[0], v[0:10])
    np.testing.assert_array_equal(ds.X[-1], v[20:30])
    wf = WalkForward(_cfg("none"))
    assert wf.inputs(ds.X).dtype == np.float32


def _first_fit(wf, frame):
    prep = wf.prepare(frame)
    return prep, wf.fit_bars(prep)[0]


def test_train_zscore_stats_against_numpy(frame):
    wf = WalkForward(_cfg("train_zscore", validation_fraction=0.2))
    prep, i = _first_fit(wf, frame)
    X, y, Xv, yv, stats = wf._training(prep, i)
    # fit at bar i: windows ending at s with s + 5 <= i, the latest 20% held out
    ends = np.arange(9, i - 5 + 1)
    n_val = int(round(len(ends) * 0.2))
    train_ends = ends[: len(ends) - n_val]
    assert (len(X), len(Xv)) == (len(train_ends), n_val) and len(X) >= 80
    rows = feature_matrix(frame, FEATS)[train_ends]
    med = np.median(rows, axis=0)
    mad = 1.4826 * np.median(np.abs(rows - med), axis=0)
    np.testing.assert_array_equal(stats[0], med)
    np.testing.assert_allclose(stats[1], mad, rtol=1e-12)
    raw = feature_matrix(frame, FEATS)
    want = (raw[train_ends[-1] - 9 : train_ends[-1] + 1] - med) / mad
    np.testing.assert_allclose(X[-1], want, rtol=1e-5, atol=1e-5)
    # the validation windows are scaled with the training rows' statistics, unchanged
    wv = (raw[ends[-1] - 9 : ends[-1] + 1] - med) / mad
    np.testing.assert_allclose(Xv[-1], wv, rtol=1e-5, atol=1e-5)


def test_train_zscore_constant_feature_becomes_zero():
    X = np.zeros((5, 3, 2))
    X[:, :, 0] = np.arange(15).reshape(5, 3)
    X[:, :, 1] = 4.0
    c, s = fit_train_zscore(X)
    assert c.tolist() == [8.0, 4.0] and s[1] == np.inf
    assert s[0] == pytest.approx(1.4826 * 3.0)


def test_train_zscore_uses_no_row_after_the_training_end(frame):
    cfg = _cfg("train_zscore", validation_fraction=0.2)
    wf = WalkForward(cfg)
    prep, i = _first_fit(wf, frame)
    base = wf._training(prep, i)[4]
    n_val = len(wf._training(prep, i)[2])
    last_train = i - 5 - n_val  # the last training window's end bar
    # rewrite the validation slice and everything after: the statistics stay
    moved = WalkForward(cfg)
    p2 = moved.prepare(_garbage_after(frame, last_train))
    st = moved._training(p2, i)[4]
    np.testing.assert_array_equal(st[0], base[0])
    np.testing.assert_array_equal(st[1], base[1])
    assert not np.array_equal(moved._training(p2, i)[2], wf._training(prep, i)[2])  # Xv moved
    # rewrite one training row: they change (the test can fail)
    g = frame.copy()
    for c in ("open", "high", "low", "close"):
        g.iloc[last_train, g.columns.get_loc(c)] *= 3.0
    p3 = moved.prepare(g)
    assert not np.array_equal(moved._training(p3, i)[4][0], base[0])


def test_train_zscore_stats_travel_with_the_cache_entry(frame, tmp_path):
    cfg = _cfg("train_zscore")
    wf = WalkForward(cfg, cache_dir=tmp_path)
    first = wf.predict(frame)
    files = sorted(tmp_path.glob("*.norm.json"))
    assert len(files) == len(wf.fits) >= 3
    prep = wf.prepare(frame)
    bars = wf.fit_bars(prep)
    last = stats_path(wf.cache_path(prep, bars[-1], len(bars) - 1))
    c, s = load_stats(last)
    np.testing.assert_array_equal(c, wf.norm_stats[0])
    np.testing.assert_array_equal(s, wf.norm_stats[1])
    assert len(json.loads(last.read_text())["center"]) == len(FEATS)
    again = WalkForward(cfg, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.predict(frame), first)
    assert all(r.cached for r in again.fits)


# ---------------------------------------------------------------------- default unchanged
def test_window_default_keeps_keys_and_predictions(frame):
    plain = WalkForwardConfig(lookback=10, min_train=100, learner="ridge")
    named = WalkForwardConfig(lookback=10, min_train=100, learner="ridge", normalize="window")
    assert "normalize" not in plain.to_dict()
    assert plain.to_dict() == named.to_dict()
    assert WalkForward(plain).cache_settings() == WalkForward(named).cache_settings()
    other = WalkForwardConfig(lookback=10, min_train=100, learner="ridge", normalize="none")
    assert WalkForward(other).cache_settings()["normalize"] == "none"
    np.testing.assert_array_equal(WalkForward(plain).predict(frame), WalkForward(named).predict(frame))


def test_modes_give_different_predictions(frame):
    preds = {m: WalkForward(_cfg(m)).predict(frame) for m in NORMALIZE_MODES}
    for m, p in preds.items():
        assert np.isfinite(p).sum() == len(frame) - 113, m  # first fit: bar 9 + 5 + 100 - 1
    for a in NORMALIZE_MODES:
        for b in NORMALIZE_MODES:
            if a < b:
                assert not np.allclose(preds[a], preds[b], equal_nan=True), (a, b)


# ---------------------------------------------------------------------- batch == stream
@pytest.mark.parametrize("mode", NORMALIZE_MODES)
def test_stream_equals_batch(frame, mode):
    cfg = _cfg(mode, embargo=2)
    batch = WalkForward(cfg).predict(frame)
    st = WalkForward(cfg).stream()
    live = np.array([st.update(d, *frame.loc[d, COLS]) for d in frame.index])
    assert np.isfinite(batch).sum() > 150
    np.testing.assert_allclose(live, batch, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("mode", ["last_close", "train_zscore"])
def test_pooled_stream_equals_batch(mode):
    a = synthetic_ohlcv(n=260, seed=1, symbol="SYNA", signal=0.3)
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB", start="2010-03-29", signal=0.3)
    panel = {"SYNA": a, "SYNB": b}
    cfg = _cfg(mode, retrain_every=60, min_train=150, embargo=1)
    batch = WalkForward(cfg).predict(panel)
    st = WalkForward(cfg).stream(list(panel))
    live = {k: [] for k in panel}
    for d in a.index.union(b.index):
        bars = {k: tuple(f.loc[d, COLS]) for k, f in panel.items() if d in f.index}
        for k, v in st.update_panel(d, bars).items():
            live[k].append(v)
    for k in panel:
        assert np.isfinite(batch[k]).sum() > 50
        np.testing.assert_allclose(np.array(live[k]), batch[k], atol=1e-6, equal_nan=True)


# ---------------------------------------------------------------------- no look-ahead
@pytest.mark.parametrize("mode", NORMALIZE_MODES)
def test_no_lookahead(frame, mode):
    cfg = _cfg(mode, validation_fraction=0.1)
    base = WalkForward(cfg).predict(frame)
    fits = [frame.index.get_loc(d) for d in WalkForward(cfg).fit_dates(frame)]
    probes = sorted({t for f in fits for t in (f - 1, f, f + 1)} | {200})
    assert len(probes) >= 9
    for t in probes:
        p = WalkForward(cfg).predict(_garbage_after(frame, t))
        np.testing.assert_allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True)
    p = WalkForward(cfg).predict(_garbage_after(frame, 200))  # the future does matter after t
    assert not np.allclose(p[201:], base[201:], equal_nan=True)


# ---------------------------------------------------------------------- bad values
def test_bad_value_one_error_with_the_closest_name():
    with pytest.raises(ValueError, match=r"normalize must be one of \('window', 'last_close', "
                       r"'train_zscore', 'none'\), got 'last_clse'; did you mean 'last_close'"):
        WalkForwardConfig(normalize="last_clse")


def test_bad_flag_on_the_cli(capsys):
    rc, err = cli(["run", "hold", "--normalize", "train-zscore"], capsys)
    one_error(rc, err, "--normalize", "'window', 'last_close', 'train_zscore', 'none'",
              "did you mean 'train_zscore'")  # fmt: skip


def test_bad_toml_key_value(tmp_path, capsys):
    cfg = tmp_path / "n.toml"
    cfg.write_text('[model]\nnormalize = "lastclose"\n')
    rc, err = cli(["run", "hold", "--config", str(cfg)], capsys)
    one_error(rc, err, "normalize", "did you mean 'last_close'")


def test_last_close_needs_close_among_price_features():
    with pytest.raises(ValueError, match=r"prices \(open, high\).*add 'close' to features"):
        WalkForwardConfig(normalize="last_close", features=("open", "high", "volume"))
    WalkForwardConfig(normalize="last_close", features=("volume", "ret1"))  # no price: fine


def test_train_zscore_refuses_a_ready_model(tmp_path):
    from btlstm.learners.models import build_model

    m = build_model(10, 6, lstm_units=4, dense_units=(4,))
    with pytest.raises(ValueError, match="train_zscore.*ready model"):
        WalkForward(WalkForwardConfig(lookback=10, normalize="train_zscore"), model=m)


@pytest.mark.parametrize("mode", ["last_close", "train_zscore", "none"])
def test_live_stream_gives_the_batched_numbers(tmp_path, mode):
    """The live engine fits off the bar loop and loads each model (and, for
    train_zscore, its statistics) from the cache entry: the batched numbers."""
    from btlstm.live import LiveStream
    from btlstm.synthetic import synthetic_panel

    panel = synthetic_panel(n_symbols=3, n=320, seed=4, late_starters=1)
    dates = sorted(set().union(*[set(f.index) for f in panel.values()]))
    cfg = dict(lookback=10, retrain_every=40, min_train=100, learner="ridge", normalize=mode,
               test_start=str(dates[150].date()))  # fmt: skip
    batch = WalkForward(cfg).predict(panel)
    stream = LiveStream(WalkForward(cfg, cache_dir=tmp_path), list(panel), wait=True)
    n = 0
    for day in dates:
        bars = {s: tuple(f.loc[day, COLS]) for s, f in panel.items() if day in f.index}
        for s, p in stream.update_panel(day, bars).items():
            want = batch[s][panel[s].index.get_loc(day)]
            assert (np.isnan(p) and np.isnan(want)) or p == pytest.approx(want, abs=1e-9)
            n += bool(np.isfinite(p))
    assert n > 300
    if mode == "train_zscore":
        assert len(list(tmp_path.glob("*.norm.json"))) == len(stream.versions) >= 3


def test_the_ranker_says_it_does_not_use_normalize(caplog):
    import logging

    from btlstm.forecast.xswalkforward import RankerWalkForward

    with caplog.at_level(logging.WARNING, logger="btlstm.forecast.xswalkforward"):
        RankerWalkForward(dict(normalize="window"))
        assert caplog.records == []
        RankerWalkForward(dict(normalize="last_close"))
    assert len(caplog.records) == 1
    assert "normalize='last_close' is not used by the ranker" in caplog.records[0].getMessage()


@pytest.mark.parametrize("mode", ["last_close", "train_zscore"])
def test_lstm_predictor_in_cerebro_runonce_and_next_give_the_batched_numbers(frame, mode):
    """``LSTMPredictor(config=...normalize=...)`` in a cerebro: batched in ``once()``,
    bar by bar in ``next()``, both the engine's numbers."""
    import backtrader as bt

    import btlstm  # noqa: F401  (compat patches first)
    from btlstm.bt.feeds import PandasFeed
    from btlstm.bt.indicators import LSTMPredictor

    cfg = _cfg(mode)
    want = WalkForward(cfg).predict(frame)

    class S(bt.Strategy):
        def __init__(self):
            self.prediction = LSTMPredictor(self.data, config=cfg)

    lines = {}
    for runonce in (True, False):
        cerebro = bt.Cerebro(stdstats=False, runonce=runonce)
        cerebro.adddata(PandasFeed(dataname=frame))  # with its amount line
        cerebro.addstrategy(S)
        strat = cerebro.run()[0]
        lines[runonce] = np.asarray(strat.prediction.lines.prediction.array)[: len(frame)]
    assert np.isfinite(want).sum() == len(frame) - 113
    np.testing.assert_allclose(lines[True], want, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(lines[False], want, atol=1e-6, equal_nan=True)


def test_train_zscore_statistics_files_are_data_checked_before_use(tmp_path):
    """The statistics beside a cached model are read like the model: a file edited, one
    linked elsewhere, one without its signed manifest or of another width is refused."""
    import json
    import os

    from btlstm.errors import ModelFileError
    from btlstm.forecast.walkforward import save_stats

    path = tmp_path / "wf-key.keras.norm.json"
    center, scale = np.array([1.5, -2.0, 0.0]), np.array([0.5, 2.0, np.inf])
    save_stats(path, (center, scale))
    c, s = load_stats(path, 3)
    np.testing.assert_array_equal(c, center) and np.testing.assert_array_equal(s, scale)
    with pytest.raises(ModelFileError, match="failed their checks"):
        load_stats(path, 4)  # another model's width
    forged = json.dumps({"center": [0.0, 0.0, 0.0], "scale": [1e-9, 1e-9, 1e-9]})
    path.write_text(forged)  # edited after it was written: the sha256 and HMAC disagree
    with pytest.raises(ModelFileError, match="failed their checks"):
        load_stats(path, 3)
    other = tmp_path / "other.json"
    save_stats(other, (center, scale))
    path.unlink()
    os.symlink(other, path)  # a link is never followed
    with pytest.raises(ModelFileError, match="failed their checks"):
        load_stats(path, 3)
    bare = tmp_path / "bare.norm.json"
    bare.write_text(json.dumps({"center": [0.0], "scale": [1.0]}))  # no manifest
    with pytest.raises(ModelFileError, match="failed their checks"):
        load_stats(bare, 1)
