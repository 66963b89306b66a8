"""Registered feature functions and the built-in indicators (issue 30, item 2).

Each built-in indicator against Backtrader's own on CSI 300 (bar by bar where both
are finite, to 1e-9, with the count compared), or against its documented formula
computed independently where Backtrader has none; the look-ahead probe on every
built-in and on a deliberately leaky feature; the output checks; the warm-up in
the walk-forward schedule (batch and stream); names in settings, CLI and plugins;
the cache key of user code.
"""

import math
import textwrap

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from cli_errors import cli, one_error
from lookahead import rewrite_after

from btlstm.data import read_akshare_index
from btlstm.errors import DataError, SettingsError
from btlstm.forecast import featurelib
from btlstm.forecast.features import add_panel_features, feature_matrix
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.synthetic import synthetic_ohlcv

COLS = ["open", "high", "low", "close", "volume", "amount"]


@pytest.fixture(scope="module")
def csi300(data_dir):
    return read_akshare_index(data_dir / "cn_index_daily" / "eastmoney_akshare" / "000300.csv")


@pytest.fixture()
def user_features():
    """Registered features of a test, removed afterwards (the registry is global)."""
    before = set(featurelib._REGISTRY)
    yield
    for k in set(featurelib._REGISTRY) - before:
        del featurelib._REGISTRY[k]


# --------------------------------------------------------------------------- vs Backtrader
class _LogReturn(bt.Indicator):
    """log(close / previous close): the input of ``vol<N>``."""

    lines = ("lr",)

    def __init__(self):
        self.addminperiod(2)

    def next(self):
        self.lines.lr[0] = math.log(self.data.close[0] / self.data.close[-1])


def _backtrader_line(frame, make, line):
    """Run ``make(data)`` in a tiny cerebro (runonce) over a PandasData feed; its ``line``."""

    class Probe(bt.Strategy):
        def __init__(self):
            self.ind = make(self.data)

    cerebro = bt.Cerebro(stdstats=False)
    feed = bt.feeds.PandasData(dataname=frame[COLS[:5]], openinterest=None)
    cerebro.adddata(feed)
    cerebro.addstrategy(Probe)
    strat = cerebro.run(runonce=True)[0]
    return np.array(getattr(strat.ind.lines, line).array, dtype=np.float64)


# name -> (Backtrader indicator, its line, the first bar both have a value)
BACKTRADER = {
    "rsi14": (lambda d: bt.ind.RSI(d, period=14), "rsi", 14),
    "rsi5": (lambda d: bt.ind.RSI(d, period=5), "rsi", 5),
    "atr14": (lambda d: bt.ind.ATR(d, period=14), "atr", 14),
    "macd": (lambda d: bt.ind.MACDHisto(d), "macd", 25),
    "macd_signal": (lambda d: bt.ind.MACDHisto(d), "signal", 33),
    "macd_hist": (lambda d: bt.ind.MACDHisto(d), "histo", 33),
    "bbpctb20": (lambda d: bt.ind.BollingerBandsPct(d, period=20, devfactor=2.0), "pctb", 19),
    "vol20": (lambda d: bt.ind.StdDev(_LogReturn(d), period=20), "stddev", 20),
    "ret5": (lambda d: bt.ind.PctChange(d, period=5), "pctchange", 5),
    "ret20": (lambda d: bt.ind.PctChange(d, period=20), "pctchange", 20),
}


@pytest.mark.parametrize("name", list(BACKTRADER))
def test_builtin_matches_backtrader_on_csi300(csi300, name):
    make, line, first = BACKTRADER[name]
    theirs = _backtrader_line(csi300, make, line)
    ours = featurelib.compute_feature(name, csi300)
    n = len(csi300)
    assert len(theirs) == len(ours) == n == 4558
    # the same warm-up: NaN before `first`, a value on every bar from it
    assert np.isnan(ours[:first]).all() and np.isfinite(ours[first:]).all()
    assert np.isnan(theirs[:first]).all() and np.isfinite(theirs[first:]).all()
    both = np.isfinite(theirs) & np.isfinite(ours)
    assert int(both.sum()) == n - first
    np.testing.assert_allclose(ours[both], theirs[both], rtol=0, atol=1e-9)
    # through feature_matrix by name: the same column
    np.testing.assert_array_equal(feature_matrix(csi300, ("close", name))[:, 1], ours)


def test_volume_zscore_is_its_formula(csi300):
    ours = featurelib.compute_feature("volz20", csi300)
    v = csi300["volume"].to_numpy(dtype=float)
    want = np.full(len(v), np.nan)
    for t in range(19, len(v)):  # (v - mean) / population sd of the 20 bars ending at t
        w = v[t - 19 : t + 1].tolist()
        m = math.fsum(w) / 20
        sd = math.sqrt(math.fsum((x - m) ** 2 for x in w) / 20)
        want[t] = (v[t] - m) / sd
    assert np.isnan(ours[:19]).all()
    both = np.isfinite(ours) & np.isfinite(want)
    assert int(both.sum()) == len(v) - 19 == 4539
    np.testing.assert_allclose(ours[both], want[both], rtol=0, atol=1e-9)
    assert np.nanmax(np.abs(ours)) < math.sqrt(19) + 1e-9  # the bound of a z-score in 20 values


def test_volume_zscore_flat_volume_is_zero():
    f = synthetic_ohlcv(n=60, seed=3)
    f["volume"] = 5.0
    f.iloc[-1, f.columns.get_loc("volume")] = 9.0  # only the last window moves
    z = featurelib.volume_zscore(f, 20)
    assert np.all(z[19:-1] == 0.0)
    assert z[-1] == pytest.approx((9 - 5.2) / math.sqrt((19 * 0.2**2 + 3.8**2) / 20))


def test_xsrank_is_its_formula():
    panel = {s: synthetic_ohlcv(n=120, seed=i, symbol=s) for i, s in enumerate(["SYNA", "SYNB", "SYNC", "SYND"])}
    panel["SYND"] = panel["SYND"].iloc[30:]  # a late listing: ranked among the others after it
    out = add_panel_features(panel, ("close", "xsrank(ret5)"))
    assert "xsrank(ret5)" not in panel["SYNA"].columns  # the caller's frames untouched
    dates = panel["SYNA"].index
    ret = {s: pd.Series(featurelib.returns(f, 5), index=f.index) for s, f in panel.items()}
    checked = 0
    for d in dates:
        vals = {s: r.get(d, np.nan) for s, r in ret.items()}
        vals = {s: v for s, v in vals.items() if np.isfinite(v)}
        for s, v in vals.items():  # rank / n, ties at their average rank
            less = sum(w < v for w in vals.values())
            same = sum(w == v for w in vals.values())
            want = (less + (same + 1) / 2) / len(vals)
            got = out[s].loc[d, "xsrank(ret5)"]
            assert got == pytest.approx(want, abs=1e-12)
            checked += 1
    assert checked == 3 * 115 + (90 - 5)  # A, B, C from bar 5; D from its own bar 5
    # a panel feature in feature_matrix: the column added here
    m = feature_matrix(out["SYNB"], ("close", "xsrank(ret5)"))
    np.testing.assert_array_equal(m[:, 1], out["SYNB"]["xsrank(ret5)"].to_numpy())


def test_xsrank_needs_a_panel(csi300):
    with pytest.raises(SettingsError, match=r"'xsrank\(rsi14\)' ranks a feature across"):
        add_panel_features({"csi300": csi300}, ("xsrank(rsi14)",))
    with pytest.raises(ValueError, match=r"ranks a feature across the symbols of a panel"):
        feature_matrix(csi300, ("xsrank(rsi14)",))


# --------------------------------------------------------------------------- look-ahead
BUILTINS = sorted(set(BACKTRADER) | {"volz20", "atr5", "bbpctb10", "vol5", "ret2", "ret60"})


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_reads_no_future(csi300, name):
    """Rewrite every bar after t (prices rescaled, volume and amount scaled at random):
    nothing at or before t changes, and the feature does change after t."""
    base = feature_matrix(csi300, (name,))[:, 0]
    n = len(csi300)
    for j, pos in enumerate((60, n // 3, n // 2, n - 40)):
        t = csi300.index[pos]
        alt_frame = rewrite_after({"x": csi300}, t, seed=j)["x"]
        assert not np.allclose(alt_frame["close"].to_numpy()[pos + 1 :],
                               csi300["close"].to_numpy()[pos + 1 :])  # fmt: skip
        alt = feature_matrix(alt_frame, (name,))[:, 0]
        np.testing.assert_array_equal(alt[: pos + 1], base[: pos + 1])
        assert not np.array_equal(alt[pos + 1 :], base[pos + 1 :])
    assert featurelib.lookahead_leak(name, csi300) is None


def test_xsrank_reads_no_future():
    panel = {s: synthetic_ohlcv(n=200, seed=i, symbol=s) for i, s in enumerate(["SYNA", "SYNB", "SYNC"])}
    feats = ("xsrank(rsi14)",)
    base = add_panel_features(panel, feats)
    t = panel["SYNA"].index[120]
    alt = add_panel_features(rewrite_after(panel, t), feats)
    for s in panel:
        a, b = base[s].loc[:t, feats[0]], alt[s].loc[:t, feats[0]]
        assert len(a) == 121 and a.notna().sum() == 121 - 14
        pd.testing.assert_series_equal(a, b)
        assert not base[s].loc[t:, feats[0]].iloc[1:].equals(alt[s].loc[t:, feats[0]].iloc[1:])


def test_leaky_feature_is_caught(csi300, user_features):
    """``close.shift(-1)``: the same probe names the cut and the first bar it changed;
    its NaN at the end is refused before any window is built."""

    @featurelib.register_feature("tomorrow")
    def tomorrow(frame):
        return frame["close"].shift(-1)

    leak = featurelib.lookahead_leak(tomorrow, csi300)
    assert leak is not None
    cut, changed = leak
    assert cut == changed == csi300.index[int(0.1 * len(csi300))]
    last = csi300.index[-1].date()
    with pytest.raises(DataError, match=rf"feature 'tomorrow' is NaN at {last} after its warm-up"):
        feature_matrix(csi300, ("close", "tomorrow"))

    # filled at the end, it passes the output checks: the probe still catches it
    @featurelib.register_feature("tomorrow_filled")
    def tomorrow_filled(frame):
        return frame["close"].shift(-1).fillna(frame["close"])

    assert feature_matrix(csi300, ("tomorrow_filled",)).shape == (len(csi300), 1)
    assert featurelib.lookahead_leak("tomorrow_filled", csi300) is not None
    # and a causal user feature passes
    featurelib.register_feature("yesterday")(lambda f: f["close"].shift(1))
    assert featurelib.lookahead_leak("yesterday", csi300) is None


# --------------------------------------------------------------------------- registering
def test_user_feature_by_name_and_per_symbol(user_features):
    @featurelib.register_feature("range_pct")
    def range_pct(frame):
        return (frame["high"] - frame["low"]) / frame["close"]

    f = synthetic_ohlcv(n=50, seed=1)
    m = feature_matrix(f, ("close", "range_pct", "hl_range"))
    assert m.shape == (50, 3)
    np.testing.assert_allclose(m[:, 1], m[:, 2], rtol=1e-15)  # the same formula as hl_range
    assert featurelib.is_feature("range_pct") and featurelib.is_feature("xsrank(range_pct)")
    assert "range_pct" in featurelib.feature_names()


@pytest.mark.parametrize(
    "out,needle",
    [
        (lambda f: f["close"].to_numpy()[:-1], r"returned shape \(59,\); a feature returns one column of the frame's 60 bars"),
        (lambda f: np.column_stack([f["close"], f["open"]]), r"returned shape \(60, 2\)"),
        (lambda f: f[["close", "open"]], "returned 2 columns"),
        (lambda f: f["close"].reset_index(drop=True), "returned a Series whose index is not the frame's"),
        (lambda f: f["close"].where(f.index != f.index[30], np.inf), "is inf at {d30}"),
        (lambda f: f["close"].where(f.index != f.index[30]), "is NaN at {d30} after its warm-up"),
        (lambda f: pd.Series(3.0, index=f.index), r"is constant \(3.0\) over its 60 finite bars"),
        (lambda f: f["close"] * np.nan, "has no finite value in the 60 bars"),
        (lambda f: ["x"] * len(f), "returned list, not numbers"),
    ],
    ids=["short", "2-d", "frame", "index", "inf", "nan-gap", "constant", "all-nan", "text"],
)
def test_output_is_checked_and_named(user_features, out, needle):
    featurelib.register_feature("mine")(out)
    f = synthetic_ohlcv(n=60, seed=1)
    needle = needle.replace("{d30}", str(f.index[30].date()))
    with pytest.raises(DataError, match=r"feature 'mine' " + needle):
        feature_matrix(f, ("close", "mine"))


def test_warmup_is_allowed(user_features):
    featurelib.register_feature("late")(lambda f: f["close"].rolling(10).mean())
    m = feature_matrix(synthetic_ohlcv(n=30, seed=1), ("late",))
    assert np.isnan(m[:9, 0]).all() and np.isfinite(m[9:, 0]).all()


@pytest.mark.parametrize(
    "name,needle",
    [
        ("close", "is a built-in column or derived feature"),
        ("ret1", "is a built-in column or derived feature"),
        ("rsi14", "is a built-in indicator name"),
        ("macd", "is a built-in indicator name"),
        ("vol7", "is a built-in indicator name"),
        ("my feature", "letters, digits and '_'"),
        ("xsrank(x)", "letters, digits and '_'"),
    ],
)
def test_register_refuses_taken_or_bad_names(name, needle):
    with pytest.raises(SettingsError, match=re_escape(needle)):
        featurelib.register_feature(name)


def re_escape(s):
    import re

    return re.escape(s)


@pytest.mark.parametrize(
    "name,needle",
    [
        ("rsi1", "the period of rsi<N> must be an integer in [2, 10000]"),
        ("ret0", "the period of ret<N> must be an integer in [1, 10000]"),
        ("vol020", "written without leading zeros, got '020'"),
        ("atr99999", "the period of atr<N> must be an integer in [2, 10000]"),
        ("xsrank(rsi1)", "the period of rsi<N>"),
    ],
)
def test_period_out_of_range(name, needle):
    with pytest.raises(SettingsError, match=re_escape(needle)):
        featurelib.check_name(name)


def test_unknown_name_suggests_the_closest():
    msg = featurelib.unknown_message("rsi_14", ["close", "open"])
    assert msg.startswith("unknown feature 'rsi_14'; did you mean 'rsi14'? (valid: ['close', 'open', ")
    assert "'rsi<N>'" in msg and "'xsrank(<feature>)'" in msg and "'macd_signal'" in msg
    assert msg.endswith("a feature of your own: @register_feature in a module named by --plugin, docs/features.md)")
    assert not featurelib.is_feature("xsrank(xsrank(close))")  # one rank, not a rank of ranks
    assert featurelib.is_feature("xsrank(close)") and not featurelib.is_feature("xsrank(nope)")
    msg = featurelib.unknown_message("xsrank(mcd)", ["close"])
    assert "did you mean 'xsrank(macd)'?" in msg


# --------------------------------------------------------------------------- the schedule
def _ridge(**kw):
    base = dict(lookback=10, horizon=5, retrain_every=60, min_train=100, learner="ridge",
                model={"alpha": 1.0}, seed=7, validation_fraction=0.0)  # fmt: skip
    base.update(kw)
    return WalkForwardConfig(**base)


def test_window_usable_only_once_every_feature_is_finite():
    f = synthetic_ohlcv(n=300, seed=5, signal=0.3)
    wf = WalkForward(_ridge(features=("close", "rsi14", "macd_signal")))
    prep = wf.prepare(f)
    s = prep.symbols[0]
    # macd_signal is first finite at bar 33: a 10-bar window is complete at bar 42
    assert s.index.end[0] == 9
    usable = s.index.labelled
    assert not usable[: 42 - 9].any()
    assert usable[42 - 9 : -5].all() and not usable[-5:].any()  # the last 5: no label yet
    assert np.isfinite(s.X[42 - 9 :]).all() and not np.isfinite(s.X[: 42 - 9]).all(axis=(1, 2)).any()
    # the first fit comes 100 usable windows (+ horizon) after bar 42, not after bar 9
    assert wf.fit_bars(prep)[0] == 42 + 100 + 5 - 1
    pred = wf.predict(f)
    assert np.isnan(pred[: 42 + 100 + 4]).all() and np.isfinite(pred[42 + 100 + 4 :]).all()


def test_walk_forward_with_indicators_reads_no_future():
    """The predictions of a walk-forward on indicators: nothing at or before t moves
    when every bar after t is rewritten (fits before t come from the same bars)."""
    f = synthetic_ohlcv(n=400, seed=5, signal=0.3)
    cfg = _ridge(features=("close", "rsi14", "macd_hist", "bbpctb20", "vol20", "volz20", "ret20"))
    base = WalkForward(cfg).predict(f)
    assert int(np.isfinite(base).sum()) == 400 - (33 + 9 + 99 + 5)  # macd_hist: bar 33
    for pos in (200, 290, 333):
        t = f.index[pos]
        alt = WalkForward(cfg).predict(rewrite_after({"x": f}, t, seed=pos)["x"])
        np.testing.assert_array_equal(alt[: pos + 1], base[: pos + 1])
        assert not np.allclose(alt[pos + 1 :], base[pos + 1 :])


def test_stream_equals_batch_with_indicators():
    f = synthetic_ohlcv(n=260, seed=5, signal=0.3)
    cfg = _ridge(features=("close", "rsi14", "atr14", "volz20"))
    batch = WalkForward(cfg).predict(f)
    st = WalkForward(cfg).stream()
    live = np.array([st.update(d, *f.loc[d, COLS]) for d in f.index])
    # volz20 has the longest warm-up (19 bars): windows from bar 28, 100 of them labelled
    # (5 bars later) at bar 28 + 99 + 5, the first fit and prediction
    assert int(np.isfinite(batch).sum()) == 260 - (19 + 9 + 99 + 5)
    np.testing.assert_allclose(live, batch, atol=1e-9, equal_nan=True)


def test_pooled_stream_equals_batch_with_xsrank():
    syms = ["SYNA", "SYNB", "SYNC"]
    panel = {s: synthetic_ohlcv(n=220, seed=i, symbol=s, signal=0.3) for i, s in enumerate(syms)}
    cfg = _ridge(features=("close", "xsrank(ret5)", "ret5"), min_train=200)
    batch = WalkForward(cfg).predict(panel)
    st = WalkForward(cfg).stream(list(panel))
    live = {k: [] for k in panel}
    for d in panel["SYNA"].index:
        for k, v in st.update_panel(d, {k: tuple(f.loc[d, COLS]) for k, f in panel.items()}).items():
            live[k].append(v)
    for k in panel:
        assert np.isfinite(batch[k]).sum() > 100
        np.testing.assert_allclose(np.array(live[k]), batch[k], atol=1e-9, equal_nan=True)


def test_user_feature_code_enters_the_cache_key(user_features, tmp_path):
    f = synthetic_ohlcv(n=200, seed=5)

    def key(cfg):
        wf = WalkForward(cfg, cache_dir=tmp_path)
        return wf.cache_path(wf.prepare(f), 150, 0).name

    builtin = _ridge(features=("close", "rsi14"))
    assert "feature_code" not in WalkForward(builtin).cache_settings()  # old keys stay
    featurelib.register_feature("mine")(lambda fr: fr["close"] * 2.0)
    first = key(_ridge(features=("close", "mine")))
    tok = WalkForward(_ridge(features=("close", "xsrank(mine)"))).cache_settings()["feature_code"]
    assert set(tok) == {"mine"}
    featurelib.register_feature("mine")(lambda fr: fr["close"] * 2.0 + 0.0)  # same values
    assert key(_ridge(features=("close", "mine"))) != first
    assert key(builtin) != first


# --------------------------------------------------------------------------- names everywhere
SYN = ["run", "hold", "--data", "synthetic", "--quiet"]


@pytest.mark.parametrize(
    "features,needle",
    [
        ("close,rsi_14", "--features: unknown feature 'rsi_14'; did you mean 'rsi14'? (valid: ["),
        ("close,rsi1", "--features: feature 'rsi1': the period of rsi<N> must be an integer in [2, 10000]"),
        ("close,xsrank(rsi14)", "--features: 'xsrank(rsi14)' ranks a feature across the symbols of a panel; strategy 'hold' trades one feed"),
    ],
)  # fmt: skip
def test_cli_feature_names_refused(capsys, features, needle):
    rc, err = cli(SYN + ["--features", features], capsys)
    one_error(rc, err, needle)


def test_toml_feature_names_refused():
    with pytest.raises(SettingsError, match=r"\[model\] features: unknown feature 'macd_sig'; did you mean 'macd_signal'"):
        from btlstm.settings import Settings

        Settings.from_dict({"model": {"features": ["close", "macd_sig"]}}).validate()


def test_plugin_registers_a_feature_used_by_name(tmp_path, monkeypatch, capsys, user_features):
    """A module that only registers a feature is a plugin; the CLI runs it by name."""
    (tmp_path / "myfeat.py").write_text(textwrap.dedent('''
        """My feature."""
        from btlstm import register_feature

        @register_feature("gap_z")
        def gap_z(frame):
            gap = frame["open"] / frame["close"].shift(1) - 1
            return (gap - gap.rolling(20).mean()) / gap.rolling(20).std()
    '''))
    monkeypatch.chdir(tmp_path)
    argv = ["run", "hold", "--data", "synthetic", "--synthetic", '{"n": 500}',
            "--plugin", "myfeat.py", "--features", "close,gap_z,rsi14", "--learner", "ridge",
            "--train-start", "2008-01-01", "--train-end", "2008-12-31", "--test-start",
            "2009-01-01", "--test-end", "2009-12-31", "--out", "out", "--quiet", "--no-plots"]  # fmt: skip
    rc, err = cli(argv, capsys)
    assert rc == 0, err
    import json

    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["config"]["model"]["features"] == ["close", "gap_z", "rsi14"]
    assert rep["prediction"]["n_bars"] == rep["prediction"]["n_finite_predictions"] == 239


# --------------------------------------------------------------------------- in a cerebro
MODES = [
    dict(runonce=True, preload=True),
    dict(runonce=False, preload=True),
    dict(runonce=False, preload=False),
]


@pytest.mark.parametrize("mode", MODES, ids=["once", "next", "next-no-preload"])
def test_predictor_line_with_indicators_in_every_run_mode(mode):
    """LSTMPredictor on indicator names (ridge): the same line in once() and next() as
    WalkForward.predict, NaN through the warm-up."""
    from test_indicator import _run

    f = synthetic_ohlcv(n=260, seed=11, signal=0.3)
    cfg = _ridge(features=("close", "rsi14", "macd_hist", "volz20"))
    ref = WalkForward(cfg).predict(f)
    vals = _run(f, dict(config=cfg), **mode)
    assert len(vals) == 260
    assert int(np.isfinite(vals).sum()) == int(np.isfinite(ref).sum()) == 260 - (33 + 9 + 99 + 5)
    np.testing.assert_allclose(vals, ref, atol=1e-9, equal_nan=True)


@pytest.mark.parametrize("mode", MODES[:2], ids=["once", "next"])
def test_pooled_lines_with_xsrank_in_once_and_next(mode):
    """A pooled predictor over three feeds (one listing late, one stopping early) on
    ``xsrank(rsi14)``: each feed's line equals WalkForward.predict(panel)."""
    from test_indicator import _pool_panel, _run_pool

    panel = _pool_panel()
    cfg = _ridge(features=("close", "xsrank(rsi14)", "rsi14"), min_train=150)
    ref = WalkForward(cfg).predict(panel)
    got = _run_pool(panel, dict(config=cfg), **mode)
    for name in panel:
        assert np.isfinite(ref[name]).sum() > 50
        np.testing.assert_allclose(got[name], ref[name], atol=1e-9, equal_nan=True)
