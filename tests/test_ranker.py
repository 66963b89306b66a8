"""StockRanker (LightGBM lambdarank) and its walk-forward on the schedule."""

import dataclasses
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from lookahead import rewrite_after  # tests/lookahead.py: the shared future rewrite

from btlstm.forecast.schedule import Schedule
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.forecast.xsfeatures import forward_label
from btlstm.forecast.xswalkforward import RankerWalkForward, ranker_quality
from btlstm.learners import get_learner, settings_class
from btlstm.learners.models import ModelFileError
from btlstm.learners.ranker import RankerConfig, StockRanker
from btlstm.metrics import cross_sectional_ic, ic_summary, top_minus_bottom
from btlstm.significance import hac_mean_test
from btlstm.synthetic import synthetic_panel

SMALL = {"n_estimators": 10, "num_leaves": 7, "min_data_in_leaf": 5, "horizons": [1, 5, 20]}


def _toy(n_dates=30, n_stocks=15, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_dates * n_stocks, 3))
    y = np.zeros(len(X), dtype=int)
    for d in range(n_dates):  # grade = quintile of feature 1 within the date
        sl = slice(d * n_stocks, (d + 1) * n_stocks)
        y[sl] = np.argsort(np.argsort(X[sl, 1])) * 5 // n_stocks
    return X, y, [n_stocks] * n_dates


def test_registered_as_a_learner_with_its_settings():
    assert get_learner("ranker") is StockRanker
    assert settings_class("ranker") is RankerConfig
    cfg = WalkForwardConfig(learner="ranker", model={"n_estimators": 7, "horizons": [1, 5]})
    wf = RankerWalkForward(cfg)
    assert wf.settings.n_estimators == 7 and wf.settings.horizons == (1, 5)
    with pytest.raises(ValueError, match="n_estimator"):
        WalkForwardConfig(learner="ranker", model={"n_estimator": 7})
    assert RankerWalkForward({"min_train": 10}).config.min_train == 10
    with pytest.raises(ValueError, match="RankerWalkForward"):
        StockRanker(lookback=30, n_features=3)


@pytest.mark.parametrize(
    "bad",
    [
        {"n_estimators": 0},
        {"learning_rate": 0},
        {"n_grades": 40},
        {"horizons": "5"},
        {"feature_columns": []},
        {"num_threads": -1},
    ],
)
def test_settings_validated(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        RankerConfig(**bad)


def test_fit_predict_save_load(tmp_path):
    X, y, group = _toy()
    r = StockRanker(n_features=3, settings=SMALL, feature_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="group"):
        r.fit(X, y)
    r.fit(X, y, group=group, seed=3)
    s = r.predict(X)
    assert np.corrcoef(s, X[:, 1])[0, 1] > 0.8
    assert r.importances().idxmax() == "b"
    path = r.save(tmp_path / "m" / "ranker.txt")
    assert [p.name for p in path.parent.iterdir()] == ["ranker.txt"]  # no temp file left
    r2 = StockRanker(n_features=3)
    r2.load(path)
    assert np.array_equal(r2.predict(X), s) and r2.feature_names == ["a", "b", "c"]
    with pytest.raises(ModelFileError, match="3 features"):
        StockRanker(n_features=4).load(path)
    (tmp_path / "bad.txt").write_text("not a model")
    with pytest.raises(ModelFileError, match=r"bad\.txt' is not a LightGBM text model"):
        r2.load(tmp_path / "bad.txt")
    (tmp_path / "cut.txt").write_text(path.read_text()[:200])  # LightGBM's header, cut short
    with pytest.raises(ModelFileError, match=r"cut\.txt' is corrupt"):
        r2.load(tmp_path / "cut.txt")
    with pytest.raises(ModelFileError, match="does not exist"):
        r2.load(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="disagree"):
        r.fit(X, y, group=[10])


@pytest.mark.parametrize(
    "embargo, window, expect",
    [
        (0, "expanding", lambda i: 4 * (i - 5)),
        (2, "expanding", lambda i: 4 * (i - 7)),
        (2, "rolling", lambda i: 4 * min(i - 7, 20 - 7)),
    ],
)
def test_exact_sample_counts_and_fit_dates(embargo, window, expect):
    # full calendars: bar 0 has no finite feature, so the sample of bar s >= 1 is
    # known at fit bar i when s + horizon + embargo <= i
    panel = synthetic_panel(n_symbols=4, n=130, seed=1)
    cal = panel["SYN0000"].index
    cfg = WalkForwardConfig(
        horizon=5,
        embargo=embargo,
        min_train=40,
        retrain_every=30,
        window=window,
        train_window=20 if window == "rolling" else None,
    )
    wf = RankerWalkForward(cfg, SMALL)
    seen = []
    scores = wf.scores(panel, progress=seen.append)
    first = 5 + embargo + 10  # 4 * (i - 5 - embargo) >= 40
    bars = list(range(first, 130, 30))
    assert [f.date for f in wf.fits] == [str(cal[i].date()) for i in bars]
    assert wf.fit_dates(panel) == [f.date for f in wf.fits]
    assert [f.n_samples for f in wf.fits] == [expect(i) for i in bars]
    assert all(f.n_dates * 4 == f.n_samples for f in wf.fits)
    # progress: one FitRecord per fit, with the planned total (the run's progress bar)
    assert [(r.k, r.date, r.n_samples, r.total) for r in seen] == [
        (f.k, f.date, f.n_samples, len(bars)) for f in wf.fits
    ]
    assert scores.iloc[:first].isna().all().all() and scores.iloc[first:].notna().all().all()
    assert list(wf.importances.columns) == wf.feature_names and len(wf.importances) == len(bars)


@pytest.fixture(scope="module")
def holey():
    """Late starters, stoppers, and a 2-bar hole in one stock just before the fit at bar 150
    (so at that fit some labels of date 145 are known and one is not)."""
    panel = synthetic_panel(n_symbols=12, n=260, seed=11, signal=0.3, late_starters=2, stoppers=2)
    cal = panel["SYN0005"].index
    panel["SYN0005"] = panel["SYN0005"].drop(cal[[148, 149]])
    cfg = WalkForwardConfig(horizon=5, min_train=200, retrain_every=25, test_start=cal[100])
    return panel, cal, cfg


@pytest.mark.parametrize("probe", [150, 162])  # a fit bar, and between fits
def test_scores_do_not_look_ahead(holey, probe):
    panel, cal, cfg = holey
    t = cal[probe]
    wf = RankerWalkForward(cfg, SMALL)
    before = wf.scores(panel)
    assert str(cal[150].date()) in [f.date for f in wf.fits]
    after = RankerWalkForward(cfg, SMALL).scores(rewrite_after(panel, t))
    pd.testing.assert_frame_equal(before.loc[:t], after.loc[:t])
    late = before.loc[t:].iloc[1:]
    changed = ~np.isclose(late.to_numpy(), after.loc[late.index].to_numpy(), equal_nan=True)
    assert changed.any(axis=1).mean() > 0.9


def test_the_fit_date_probe_catches_labels_used_one_bar_early(holey, monkeypatch):
    panel, cal, cfg = holey
    t = cal[150]

    def early(self):  # the schedule believes labels resolve one bar sooner than they do
        return Schedule(dataclasses.replace(self.config, lookback=1, horizon=4))

    monkeypatch.setattr(RankerWalkForward, "_schedule", early)
    before = RankerWalkForward(cfg, SMALL).scores(panel)
    after = RankerWalkForward(cfg, SMALL).scores(rewrite_after(panel, t))
    assert not np.allclose(
        before.loc[t].to_numpy(), after.loc[t].to_numpy(), equal_nan=True, rtol=0, atol=0
    )


def test_static_split_and_a_ready_model(tmp_path):
    panel = synthetic_panel(n_symbols=10, n=200, seed=2, signal=0.3)
    cal = panel["SYN0000"].index
    cfg = WalkForwardConfig(mode="static", horizon=5, train_end=cal[120], test_start=cal[130])
    wf = RankerWalkForward(cfg, SMALL)
    s = wf.scores(panel)
    assert [f.date for f in wf.fits] == [str(cal[130].date())]
    # windows ending in [start, 120] whose labels are known at 130: s = 1..120
    assert wf.fits[0].n_samples == 10 * 120
    assert s.loc[: cal[129]].isna().all().all() and s.loc[cal[130] :].notna().all().all()
    path = wf.ranker.save(tmp_path / "ranker.txt")
    ready = RankerWalkForward(dataclasses.replace(cfg, test_start=cal[140]), SMALL, model=path)
    s2 = ready.scores(panel)
    assert ready.fits == [] and s2.loc[: cal[139]].isna().all().all()
    pd.testing.assert_frame_equal(s2.loc[cal[140] :], s.loc[cal[140] :])
    other = RankerWalkForward(cfg, {**SMALL, "feature_columns": ["ret_1", "ret_5"]}, model=path)
    with pytest.raises(ValueError, match="features"):
        other.scores(panel)


def _quality(signal, seed):
    panel = synthetic_panel(n_symbols=40, n=700, seed=seed, signal=signal)
    cfg = WalkForwardConfig(horizon=5, min_train=4000, retrain_every=60, seed=seed)
    scores = RankerWalkForward(cfg, {"n_estimators": 50, "min_data_in_leaf": 50}).scores(panel)
    return ranker_quality(scores, panel, horizon=5)


def test_learns_a_planted_signal_and_not_noise():
    q = _quality(signal=0.5, seed=0)
    assert q["rank_ic"]["mean"] > 0.2 and q["rank_ic"]["t_stat"] > 10  # measured: 0.55, 121
    assert 0 < q["rank_ic"]["t_hac"] < q["rank_ic"]["t_stat"] and q["rank_ic"]["lag"] == 4
    assert q["top_minus_bottom"]["mean"] > 0
    noise = _quality(signal=0.0, seed=0)
    assert (
        abs(noise["rank_ic"]["mean"]) < 0.03 and abs(noise["ic"]["mean"]) < 0.03
    )  # -0.007, -0.013


def test_ranker_quality_is_btlstm_metrics():
    panel = synthetic_panel(n_symbols=8, n=80, seed=3)
    rng = np.random.default_rng(0)
    real = forward_label(panel, 5).unstack("symbol")[list(panel)]
    scores = real + rng.normal(0, 0.02, real.shape)
    scores.iloc[:10] = np.nan
    q = ranker_quality(scores, panel, horizon=5, quantile=0.25)
    for key, method in (("ic", "pearson"), ("rank_ic", "spearman")):
        daily = cross_sectional_ic(scores, real, method)
        hac = hac_mean_test(daily.to_numpy(), lag=4)  # overlapping 5-bar labels
        assert q[key] == {**ic_summary(daily), "t_hac": hac["t_hac"], "p_hac": hac["p_hac"],
                          "lag": 4}  # fmt: skip
        assert abs(q[key]["t_hac"]) < abs(q[key]["t_stat"])
    tmb = top_minus_bottom(scores, real, 0.25)
    assert q["top_minus_bottom"]["mean"] == pytest.approx(tmb.mean())
    assert q["top_minus_bottom"]["n"] == 80 - 10 - 5
    assert list(q["daily"].columns) == ["ic", "rank_ic", "top_minus_bottom"]


_SUB = textwrap.dedent(
    """
    import sys
    import numpy as np
    from btlstm.forecast.xswalkforward import RankerWalkForward
    from btlstm.synthetic import synthetic_panel
    from btlstm.forecast.walkforward import WalkForwardConfig
    panel = synthetic_panel(n_symbols=10, n=160, seed=4, signal=0.3)
    cfg = WalkForwardConfig(horizon=5, min_train=300, retrain_every=30, seed=7)
    s = RankerWalkForward(cfg, {"n_estimators": 10, "min_data_in_leaf": 5,
                                "feature_fraction": 0.5, "horizons": [1, 5, 20]}).scores(panel)
    np.save(sys.argv[1], s.to_numpy())
    """
)


def test_same_seed_same_scores_in_a_new_process(tmp_path):
    panel = synthetic_panel(n_symbols=10, n=160, seed=4, signal=0.3)
    cfg = WalkForwardConfig(horizon=5, min_train=300, retrain_every=30, seed=7)
    st = {
        "n_estimators": 10,
        "min_data_in_leaf": 5,
        "feature_fraction": 0.5,
        "horizons": [1, 5, 20],
    }
    here = RankerWalkForward(cfg, st).scores(panel).to_numpy()
    out = tmp_path / "s.npy"
    subprocess.run([sys.executable, "-c", _SUB, str(out)], check=True, capture_output=True)
    assert np.array_equal(np.load(out), here, equal_nan=True)
    other = RankerWalkForward(dataclasses.replace(cfg, seed=8), st).scores(panel).to_numpy()
    assert not np.array_equal(other, here, equal_nan=True)


def test_real_csi300_slice(data_dir):
    from btlstm.data import load

    full = load("csi300_members", data_dir=data_dir, start="2014-01-01", end="2016-12-31")
    panel = {k: full[k] for k in list(full)[:30]}  # 30 stocks (in code order) with bars then
    cfg = WalkForwardConfig(horizon=5, min_train=2000, retrain_every=63, test_start="2015-01-05")
    wf = RankerWalkForward(cfg, {"n_estimators": 20})
    s = wf.scores(panel)
    n_test = int((s.index >= "2015-01-05").sum())
    assert wf.fits[0].date == "2015-01-05" and len(wf.fits) == -(-n_test // 63)
    assert s.loc[:"2014-12-31"].isna().all().all()
    status = pd.concat({k: f["tradestatus"] for k, f in panel.items()}, axis=1)
    status = status.reindex(index=s.index, columns=s.columns)
    test = s.loc["2015-01-05":]
    assert test[status.loc[test.index] == 0].isna().all().all()
    traded = (status.loc[test.index] == 1).to_numpy()
    assert np.isfinite(test.to_numpy()[traded]).mean() > 0.99
    assert set(wf.importances.columns) >= {"ret_5", "turn", "is_st"}
    q = ranker_quality(s, panel)
    assert q["rank_ic"]["n"] > 400 and np.isfinite(q["rank_ic"]["mean"])


def test_scores_reach_backtrader_as_a_line():
    import backtrader as bt

    from btlstm.bt.feeds import add_panel
    from btlstm.forecast.xswalkforward import with_scores

    panel = synthetic_panel(n_symbols=4, n=120, seed=6, late_starters=1)
    cfg = WalkForwardConfig(horizon=5, min_train=100, retrain_every=30)
    scores = RankerWalkForward(cfg, SMALL).scores(panel)
    seen = {s: {} for s in panel}

    class Record(bt.Strategy):
        def next(self):
            for d in self.datas:
                if d.tradable[0]:
                    seen[d._name][bt.num2date(d.datetime[0]).date()] = d.score[0]

    cerebro = bt.Cerebro(stdstats=False)
    add_panel(cerebro, with_scores(panel, scores), extra_lines=("score",), progress=False)
    cerebro.addstrategy(Record)
    cerebro.run()
    for s, f in panel.items():
        got = np.array([seen[s][d.date()] for d in f.index])
        assert np.array_equal(got, scores[s].reindex(f.index).to_numpy(), equal_nan=True)


def test_model_cache_reloads_checked_models_and_misses_on_what_changes_a_fit(tmp_path, caplog):
    panel = synthetic_panel(n_symbols=5, n=160, seed=4)
    cfg = WalkForwardConfig(horizon=5, min_train=60, retrain_every=40)
    cache = tmp_path / "cache"
    first = RankerWalkForward(cfg, SMALL, cache_dir=cache)
    s1 = first.scores(panel)
    assert len(first.fits) >= 3 and not any(f.cached for f in first.fits)
    files = sorted(cache.glob("rk-*.txt"))
    assert len(files) == len(first.fits) and all(
        (f.parent / (f.name + ".manifest.json")).exists() for f in files
    )
    # the same run: every fit loaded from the cache, identical scores
    again = RankerWalkForward(cfg, SMALL, cache_dir=cache)
    seen = []
    pd.testing.assert_frame_equal(again.scores(panel, progress=seen.append), s1)
    assert all(f.cached for f in again.fits) and all(r.cached for r in seen)
    # data after the last-but-one fit changed: earlier fits hit, the later ones retrain
    t = pd.Timestamp(first.fits[-2].date)
    moved = RankerWalkForward(cfg, SMALL, cache_dir=cache)
    moved.scores(rewrite_after(panel, t))
    assert [f.cached for f in moved.fits] == [True] * (len(first.fits) - 1) + [False]
    # a setting that changes the model: every fit retrains
    other = RankerWalkForward(cfg, {**SMALL, "n_estimators": 11}, cache_dir=cache)
    other.scores(panel)
    assert not any(f.cached for f in other.fits)
    # a corrupt entry is never loaded: a warning names it, the fit retrains, same scores
    files[0].write_text("tree\nnot a model\n")
    caplog.set_level("WARNING")
    fixed = RankerWalkForward(cfg, SMALL, cache_dir=cache)
    pd.testing.assert_frame_equal(fixed.scores(panel), s1)
    assert sum(not f.cached for f in fixed.fits) == 1  # the corrupt one, retrained
    assert files[0].name in caplog.text and "retraining" in caplog.text


def test_scores_do_not_depend_on_the_thread_count():
    """num_threads=0 (every core) is safe as the default: deterministic LightGBM
    gives the same scores on 1 and 2 threads, bit for bit."""
    panel = synthetic_panel(n_symbols=12, n=200, seed=5, signal=0.3)
    cfg = WalkForwardConfig(horizon=5, min_train=300, retrain_every=50)
    one = RankerWalkForward(cfg, {**SMALL, "num_threads": 1}).scores(panel)
    two = RankerWalkForward(cfg, {**SMALL, "num_threads": 2}).scores(panel)
    assert np.isfinite(one.to_numpy()).sum() > 500
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert RankerConfig().num_threads == 0 and RankerConfig().threads() >= 1


def test_a_cached_ranker_is_not_refitted(tmp_path, monkeypatch):
    """The second run of the same walk-forward loads every model: StockRanker.fit
    is not called once, on any thread count (the threads are not in the key)."""
    calls = []
    fit = StockRanker.fit

    def counting(self, *a, **k):
        calls.append(1)
        return fit(self, *a, **k)

    monkeypatch.setattr(StockRanker, "fit", counting)
    panel = synthetic_panel(n_symbols=6, n=160, seed=6)
    cfg = WalkForwardConfig(horizon=5, min_train=60, retrain_every=40)
    first = RankerWalkForward(cfg, {**SMALL, "num_threads": 1}, cache_dir=tmp_path)
    s1 = first.scores(panel)
    n_fits = len(first.fits)
    assert n_fits >= 3 and len(calls) == n_fits
    again = RankerWalkForward(cfg, {**SMALL, "num_threads": 2}, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again.scores(panel), s1, check_exact=True)
    assert len(calls) == n_fits and len(again.fits) == n_fits


def test_a_row_without_a_finite_feature_gets_no_score():
    """A stock whose features are all NaN on a day (no history for them, a gap) gets
    no score that day, while the others do: the ranker never scores a blank row."""
    from btlstm.forecast.xsfeatures import cross_sectional_features

    panel = synthetic_panel(n_symbols=10, n=200, seed=2, signal=0.3)
    cal = panel["SYN0000"].index
    cfg = WalkForwardConfig(mode="static", horizon=5, train_end=cal[120], test_start=cal[130])
    feats = cross_sectional_features(panel, horizons=SMALL["horizons"], dtype="float32")
    blank = [(cal[150], "SYN0003"), (cal[151], "SYN0003"), (cal[170], "SYN0007")]
    for key in blank:
        feats.loc[key] = np.nan
    s = RankerWalkForward(cfg, SMALL).scores(panel, features=feats)
    for day, sym in blank:
        assert np.isnan(s.loc[day, sym]), (day, sym)
        assert s.loc[day].drop(sym).notna().all()
    assert s.loc[cal[130] :].notna().sum().sum() == 10 * (len(cal) - 130) - len(blank)
