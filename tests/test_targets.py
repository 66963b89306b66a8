"""Targets as a choice (issue 30 item 4): ``[model] target`` return | sign | vol_scaled | rank.

Each target's labels against a direct numpy computation; vol_scaled's volatility reads no
bar after t; sign trains a sigmoid head on binary cross-entropy (predictions in (0, 1)) and
finds a planted signal by the verdict's HAC IC test; the linear and lightgbm learners'
sign models; rank refused on one feed, naming the flag; hold with sign trades around 0.5
and its hit rate reads sign(prediction - 0.5); the default target's cache key is unchanged.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from btlstm.data.validate import DataError
from btlstm.forecast.features import (
    TARGET_CENTRES,
    TARGETS,
    VOL_BARS,
    build_dataset,
    make_labels,
    rank_labels,
    trailing_vol,
)
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.learners import make_learner
from btlstm.metrics import hit_rate
from btlstm.significance import ic_test
from btlstm.synthetic import synthetic_ohlcv

CLOSE = np.array([100.0, 102.0, 101.0, 101.0, 104.0, 99.0, 98.0, 103.0, 103.0, 107.0, 105.0,
                  100.0])  # fmt: skip


# ------------------------------------------------------------------ labels vs numpy
def test_return_and_sign_labels_match_numpy():
    h = 2
    r = np.full(len(CLOSE), np.nan)
    r[:-h] = CLOSE[h:] / CLOSE[:-h] - 1.0
    want = np.clip(r, -0.02, 0.02) * 10.0
    np.testing.assert_allclose(make_labels(CLOSE, h, 0.02, 10.0, "return"), want, equal_nan=True)
    np.testing.assert_array_equal(make_labels(CLOSE, h, target="return"),
                                  make_labels(CLOSE, h))  # the default is the article's
    sign = make_labels(CLOSE, h, target="sign")
    assert np.isnan(sign[-h:]).all() and len(sign) == 12
    np.testing.assert_array_equal(sign[:-h], (r[:-h] > 0).astype(float))
    # a flat forward return (101 -> 101 is h=1) is "not up": 0
    assert make_labels(CLOSE, 1, target="sign")[2] == 0.0
    assert sign.tolist()[:4] == [1.0, 0.0, 1.0, 0.0]  # 101/100, 101/102, 104/101, 99/101


def test_vol_scaled_labels_match_numpy():
    h, bars = 3, VOL_BARS
    close = synthetic_ohlcv(n=80, seed=2).close.to_numpy()
    one = np.r_[np.nan, close[1:] / close[:-1] - 1.0]
    vol = np.full(len(close), np.nan)
    for t in range(bars, len(close)):
        vol[t] = np.std(one[t - bars + 1 : t + 1])  # population std of the last 20 returns <= t
    np.testing.assert_allclose(trailing_vol(close), vol, rtol=1e-12, equal_nan=True)
    fwd = np.full(len(close), np.nan)
    fwd[:-h] = close[h:] / close[:-h] - 1.0
    want = np.clip(fwd, -0.2, 0.2) / (vol * np.sqrt(h))
    got = make_labels(close, h, 0.2, 10.0, "vol_scaled")
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    assert np.isnan(got[:bars]).all() and np.isnan(got[-h:]).all()
    assert np.isfinite(got[bars:-h]).all() and len(got) == 80
    # a constant stretch has no volatility to scale by: NaN, not inf
    assert np.isnan(trailing_vol(np.full(30, 5.0))).all()


def test_rank_labels_rank_each_date_across_the_panel():
    dates = pd.bdate_range("2020-01-01", periods=6)
    closes = {
        "a": [10.0, 11.0, 12.0, 11.0, 10.0, 10.0],
        "b": [20.0, 20.0, 20.0, 21.0, 23.0, 20.0],
        "c": [5.0, 5.5, 5.5, 5.0, 6.0, 6.0],
    }
    panel = {s: pd.DataFrame({"close": v}, index=dates) for s, v in closes.items()}
    got = rank_labels(panel, horizon=1)
    r = pd.DataFrame({s: np.r_[np.asarray(v)[1:] / np.asarray(v)[:-1] - 1.0, np.nan]
                      for s, v in closes.items()}, index=dates)  # fmt: skip
    for i in range(5):
        row = r.iloc[i].to_numpy()
        order = row.argsort().argsort()  # 0 worst .. 2 best (no ties on these dates but one)
        ranks = pd.Series(row).rank(method="average").to_numpy()
        want = (ranks - 1.0) / 2.0
        assert [got[s][i] for s in closes] == pytest.approx(want.tolist())
        if len(set(row)) == 3:
            assert [got[s][i] for s in closes] == pytest.approx((order / 2.0).tolist())
    assert all(np.isnan(got[s][5]) for s in closes)  # no forward return yet
    # day 0: a +10%, b 0%, c +10%: a tie at the top shares the average rank
    assert [got[s][0] for s in closes] == [0.75, 0.0, 0.75]
    # a date where only one symbol has a label gets no rank
    short = {**panel, "c": panel["c"].iloc[:3]}
    g2 = rank_labels({"a": panel["a"], "c": short["c"]}, horizon=1)
    assert np.isnan(g2["a"][3]) and len(g2["c"]) == 3


def test_rank_needs_a_panel_and_unknown_targets_are_refused():
    with pytest.raises(ValueError, match="rank_labels on a panel"):
        make_labels(CLOSE, 1, target="rank")
    with pytest.raises(ValueError, match="target must be one of return, sign, vol_scaled, rank"):
        make_labels(CLOSE, 1, target="up")
    with pytest.raises(ValueError, match=r"target.*got 'sgn'.*did you mean 'sign'"):
        WalkForwardConfig(target="sgn")
    assert TARGETS == ("return", "sign", "vol_scaled", "rank")
    assert TARGET_CENTRES == {"return": 0.0, "sign": 0.5, "vol_scaled": 0.0, "rank": 0.5}


# ------------------------------------------------------------------ no look-ahead
def _rewrite_after(frame: pd.DataFrame, t: int, seed: int = 5) -> pd.DataFrame:
    """Every price and volume after bar ``t`` rescaled by random factors (not shifted)."""
    g = frame.copy()
    k = np.random.default_rng(seed).uniform(0.5, 2.0, size=len(g) - t - 1)
    for col in ("open", "high", "low", "close", "amount", "volume"):
        g.iloc[t + 1 :, g.columns.get_loc(col)] = g[col].to_numpy()[t + 1 :] * k
    return g


@pytest.mark.parametrize("t", [VOL_BARS, 40, 79])
def test_vol_scaled_volatility_reads_no_bar_after_t(t):
    """The volatility is known at t; a label is forward by definition, so the labels
    whose forward bar s + h <= t are unchanged and those of later bars are not."""
    frame = synthetic_ohlcv(n=120, seed=9)
    other = _rewrite_after(frame, t)
    c0, c1 = frame.close.to_numpy(), other.close.to_numpy()
    np.testing.assert_array_equal(trailing_vol(c1)[: t + 1], trailing_vol(c0)[: t + 1])
    assert not np.allclose(trailing_vol(c1)[t + 1 :], trailing_vol(c0)[t + 1 :], equal_nan=True)
    h = 5
    y0, y1 = make_labels(c0, h, target="vol_scaled"), make_labels(c1, h, target="vol_scaled")
    np.testing.assert_array_equal(y1[: t + 1 - h], y0[: t + 1 - h])
    assert not np.allclose(y1[t + 1 - h : t + 1], y0[t + 1 - h : t + 1])


def test_vol_scaled_walk_forward_predictions_look_no_bar_ahead():
    frame = synthetic_ohlcv(n=420, seed=11, signal=0.3)
    cfg = WalkForwardConfig(lookback=10, retrain_every=60, min_train=150, learner="ridge",
                            target="vol_scaled")  # fmt: skip
    base = WalkForward(cfg).predict(frame)
    assert np.isfinite(base).sum() > 200
    for t in (250, 300):
        p = WalkForward(cfg).predict(_rewrite_after(frame, t))
        np.testing.assert_array_equal(p[: t + 1], base[: t + 1])
        assert not np.allclose(p[t + 1 :], base[t + 1 :], equal_nan=True)


# ------------------------------------------------------------------ learners and the sign target
def test_sign_gives_keras_learners_a_sigmoid_head_and_a_significant_ic():
    """A small GRU, 6 epochs, two fits on 800 bars of the planted signal: the network
    ends in a sigmoid, trains on binary cross-entropy, predicts in (0, 1), and the
    verdict's HAC test finds the signal in the IC against the realised forward RETURN."""
    frame = synthetic_ohlcv(n=800, seed=3, signal=0.5)
    cfg = WalkForwardConfig(lookback=10, retrain_every=250, min_train=300, epochs=6,
                            batch_size=32, learner="gru", seed=1, target="sign",
                            model=dict(gru_units=8, dense_units=(8,)))  # fmt: skip
    wf = WalkForward(cfg)
    pred = wf.predict(frame)
    model = wf.learner.model
    assert len(wf.fits) == 2 and wf.learner.target == "sign"
    assert model.layers[-1].name == "probability_up"
    assert model.layers[-1].activation.__name__ == "sigmoid"
    assert model.loss == "binary_crossentropy" and tuple(model.output_shape) == (None, 1)
    ok = np.isfinite(pred)
    assert ok.sum() > 450 and (pred[ok] > 0).all() and (pred[ok] < 1).all()
    assert 0.2 < np.median(pred[ok]) < 0.8
    real = frame.close.to_numpy()
    fwd = np.r_[real[5:] / real[:-5] - 1.0, np.full(5, np.nan)]
    r = ic_test(pred, fwd, horizon=5)
    assert r["n"] > 450 and r["value"] > 0.1 and r["p_hac"] < 0.05, r
    # the hit rate against the realised return's sign is read around the centre 0.5
    assert hit_rate(pred - 0.5, fwd) > 0.55


def test_the_default_target_keeps_the_linear_head_and_the_settings_loss():
    learner = make_learner("gru", 10, 6, dict(gru_units=4, dense_units=()))
    net = learner._build()
    assert learner.target == "return" and net.layers[-1].name == "output"
    assert net.loss == "mse"


def test_lightgbm_sign_is_a_binary_model_and_linear_a_linear_probability_model(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 5, 3)).astype("float32")
    y = (X[:, -1, 0] + 0.5 * rng.standard_normal(400) > 0).astype("float32")
    gbm = make_learner("lightgbm", 5, 3, dict(n_estimators=50))
    gbm.set_target("sign")
    gbm.fit(X[:300], y[:300], X[300:], y[300:], seed=1, patience=5)
    p = gbm.predict(X)
    assert p.shape == (400,) and (p > 0).all() and (p < 1).all()
    assert np.mean((p > 0.5) == (y > 0.5)) > 0.7
    path = gbm.save(tmp_path / "m.txt")
    assert "objective=binary" in path.read_text()
    other = make_learner("lightgbm", 5, 3, dict(n_estimators=50))
    with pytest.raises(ValueError, match="not a LightGBM regression model"):
        other.load(path)  # a return-target learner refuses a sign model
    other.set_target("sign")
    other.load(path)
    np.testing.assert_array_equal(other.predict(X), p)
    lin = make_learner("linear", 5, 3, dict(alpha=1.0))
    lin.set_target("sign")
    lin.fit(X, y)
    q = lin.predict(X)  # regresses the 0/1 labels: centred near their mean, not bounded
    assert abs(q.mean() - y.mean()) < 1e-3 and np.mean((q > 0.5) == (y > 0.5)) > 0.7
    assert lin.token()["target"] == "sign" and "target" not in make_learner("linear", 5, 3).token()
    with pytest.raises(ValueError, match="target must be one of"):
        lin.set_target("probability")


def test_sign_stream_equals_batch_and_the_model_cache_keys_the_target(tmp_path):
    frame = synthetic_ohlcv(n=300, seed=4, signal=0.3)
    cfg = dict(lookback=10, retrain_every=60, min_train=120, learner="lightgbm",
               model=dict(n_estimators=20), target="sign")  # fmt: skip
    wf = WalkForward(cfg, cache_dir=tmp_path)
    batch = wf.predict(frame)
    s = WalkForward(cfg, cache_dir=tmp_path).stream()
    live = np.array([s.update(d, *frame.loc[d, ["open", "high", "low", "close", "volume",
                                                "amount"]]) for d in frame.index])  # fmt: skip
    np.testing.assert_allclose(live, batch, rtol=1e-12, equal_nan=True)
    ok = np.isfinite(batch)
    assert ok.sum() > 150 and ((batch[ok] > 0) & (batch[ok] < 1)).all()
    default = WalkForward(dict(cfg, target="return"))
    assert "target" not in default.config.to_dict()
    assert "target" not in default.cache_settings()  # the article's key: as before
    assert WalkForward(cfg).cache_settings()["target"] == "sign"
    assert WalkForward(dict(cfg, target="vol_scaled")).cache_settings()["target"] == "vol_scaled"
    prep = default.prepare(frame)
    paths = {t: WalkForward(dict(cfg, target=t), cache_dir=tmp_path).cache_path(prep, 200, 1)
             for t in ("return", "sign", "vol_scaled")}  # fmt: skip
    assert len(set(paths.values())) == 3


def test_rank_trains_on_a_panel_and_is_refused_on_one_feed():
    panel = {s: synthetic_ohlcv(n=300, seed=i, symbol="SYN" + s) for i, s in enumerate("abc")}
    wf = WalkForward(dict(lookback=10, retrain_every=60, min_train=150, learner="ridge",
                          target="rank"))  # fmt: skip
    prep = wf.prepare(panel)
    ys = np.vstack([s.y for s in prep.symbols])
    assert ys.shape == (3, 291) and np.nanmin(ys) == 0.0 and np.nanmax(ys) == 1.0
    np.testing.assert_allclose(np.nansum(ys, axis=0)[:-5], 1.5)  # 0 + 0.5 + 1 each date
    pred = wf.predict(panel)
    assert set(pred) == set("abc") and np.isfinite(pred["a"]).sum() > 100
    with pytest.raises(DataError, match="target='rank' ranks each date's forward returns.*one "
                                        r"feed \(SYNa\)"):  # fmt: skip
        wf.prepare(panel["a"])


# ------------------------------------------------------------------ the CLI and hold
def test_rank_on_hold_is_refused_naming_the_flag_before_any_work(data_dir, tmp_path, capsys):
    from btlstm.cli import main

    out = tmp_path / "o"
    code = main(["run", "hold", "--data", "csi300", "--data-dir", str(data_dir), "--learner",
                 "ridge", "--target", "rank", "--quiet", "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert err.startswith("btlstm: error: --target = 'rank' ranks each date's forward returns")
    assert "this run has 1 feed (000300)" in err and "'sign' or 'vol_scaled'" in err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def sign_run(tmp_path_factory):
    from btlstm.cli import main
    from tests.conftest import _shared_data

    out = tmp_path_factory.mktemp("sign") / "out"
    argv = ["run", "hold", "--data", "csi300", "--data-dir", str(_shared_data()), "--learner",
            "ridge", "--target", "sign", "--quiet", "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    return out


def test_hold_with_sign_trades_around_half(sign_run):
    report = json.loads((sign_run / "report.json").read_text())
    assert report["run"]["strategy_params"]["threshold"] == 0.5
    assert report["config"]["model"]["target"] == "sign"
    preds = pd.read_csv(sign_run / "predictions.csv", parse_dates=["date"]).set_index("date")
    trades = pd.read_csv(sign_run / "trades.csv", parse_dates=["created_date"])
    p = preds["prediction"]
    assert len(p) == 565 and 0.2 < (p > 0.5).mean() < 0.8  # around 0.5, both sides
    buys = trades[(trades.side == "buy") & (trades.reason == "signal")]
    assert len(buys) >= 5
    assert (p.reindex(buys.created_date).to_numpy() > 0.5).all()  # bought on p > 0.5 only
    # flat and p <= 0.5: no buy placed that bar (a threshold of 0 would buy every bar)
    assert (p <= 0.5).sum() > 100
    # the realised target follows the target: the sign of the realised return
    real = preds["realised_return"].to_numpy()
    ok = np.isfinite(real)
    np.testing.assert_array_equal(preds["realised_target"].to_numpy()[ok],
                                  (real[ok] > 0).astype(float))  # fmt: skip


def test_sign_hit_rates_read_the_prediction_around_the_centre(sign_run):
    report = json.loads((sign_run / "report.json").read_text())
    preds = pd.read_csv(sign_run / "predictions.csv")
    p, r = preds["prediction"].to_numpy(), preds["realised_return"].to_numpy()
    ok = np.isfinite(p) & np.isfinite(r)
    want = hit_rate(p[ok] - 0.5, r[ok])
    assert report["prediction"]["hit_rate"] == pytest.approx(want, abs=1e-12)
    assert report["significance"]["hit_rate"]["value"] == pytest.approx(want, abs=1e-12)
    assert report["significance"]["hit_rate"]["n"] == int(ok.sum()) == 560
    assert want != pytest.approx(hit_rate(p[ok], r[ok]))  # the centre matters here
    longs = p[ok] > 0.5
    assert report["prediction"]["long_hit_rate"] == pytest.approx(np.mean(r[ok][longs] > 0))
    # the ICs are the raw predictions' against the realised forward return
    assert report["prediction"]["ic"] == pytest.approx(np.corrcoef(p[ok], r[ok])[0, 1], abs=1e-9)


def test_build_dataset_takes_the_target_and_ready_labels():
    frame = synthetic_ohlcv(n=60, seed=1)
    ds = build_dataset(frame, lookback=10, horizon=5, target="sign")
    assert ds.X.shape == (51, 10, 6) and set(np.unique(ds.y[~np.isnan(ds.y)])) <= {0.0, 1.0}
    ready = np.arange(60, dtype=float)
    np.testing.assert_array_equal(build_dataset(frame, 10, 5, labels=ready).y, ready[9:])


def test_parallel_workers_fit_the_sign_model_the_serial_run_fits(tmp_path):
    """The target travels with each worker's task: 2 workers give the serial predictions."""
    frame = synthetic_ohlcv(n=300, seed=6, signal=0.3)
    cfg = dict(lookback=10, retrain_every=60, min_train=120, learner="lightgbm",
               model=dict(n_estimators=20, num_threads=1), target="sign")  # fmt: skip
    serial = WalkForward(cfg).predict(frame)
    two = WalkForward(dict(cfg, workers=2), cache_dir=tmp_path).predict(frame)
    np.testing.assert_array_equal(two, serial)
    ok = np.isfinite(serial)
    assert ok.sum() > 150 and ((serial[ok] > 0) & (serial[ok] < 1)).all()


def test_a_bad_target_is_one_clear_error_naming_the_flag_and_the_toml_key(tmp_path, capsys):
    from btlstm.cli import main

    assert main(["run", "hold", "--target", "sgn", "--quiet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("btlstm: error: --target: target must be one of ('return', 'sign', "
                          "'vol_scaled', 'rank'), got 'sgn'; did you mean 'sign'?")  # fmt: skip
    toml = tmp_path / "bad.toml"
    toml.write_text('[model]\ntarget = "vol"\nlearner = "ridge"\n')
    assert main(["run", "hold", "--config", str(toml), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"[model] target in {toml}: target must be one of" in err and "got 'vol'" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


def test_the_ranker_refuses_a_target_it_does_not_use():
    from btlstm.forecast.xswalkforward import RankerWalkForward

    with pytest.raises(ValueError, match="target='sign' is not used by the ranker"):
        RankerWalkForward(dict(target="sign"))
    assert RankerWalkForward(dict(target="return")).config.target == "return"
