"""Walk-forward engine: no look-ahead, embargo, learning, cache, stream == batch."""

import numpy as np
import pandas as pd
import pytest

from btlstm.data import DataError
from btlstm.forecast.features import make_targets
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.synthetic import synthetic_ohlcv

TINY = dict(lstm_units=8, dense_units=(8, 4))
#: every property below is checked for each learner, so the next learner inherits them
LEARNERS = {"lstm": TINY, "ridge": dict(alpha=1.0)}


def _cfg(learner="lstm", **kw):
    base = dict(
        lookback=10,
        horizon=5,
        retrain_every=80,
        min_train=100,
        epochs=2,
        batch_size=32,
        learner=learner,
        model=LEARNERS[learner],
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


def _probes(wf, frame):
    """Bars to rewrite the future after: every fit bar, the bar before and after, and others."""
    fits = [frame.index.get_loc(d) for d in wf.fit_dates(frame)]
    ts = set(fits) | {f + 1 for f in fits} | {f - 1 for f in fits} | {len(frame) // 2}
    return sorted(t for t in ts if 0 <= t < len(frame) - 1)


def _violations(make_wf, frame, ts):
    """The probes t at which a rewritten future changed a prediction at or before t."""
    base = make_wf().predict(frame)
    bad = []
    for t in ts:
        p = make_wf().predict(_garbage_after(frame, t))
        if not np.allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True):
            bad.append(t)
    return bad, base


@pytest.fixture(params=sorted(LEARNERS))
def learner(request):
    return request.param


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=330, seed=11, signal=0.3)


def test_walkforward_no_lookahead(frame, learner):
    cfg = _cfg(learner)
    ts = _probes(WalkForward(cfg), frame)
    assert len(ts) >= 8
    bad, base = _violations(lambda: WalkForward(cfg), frame, ts)
    assert bad == []
    assert np.isfinite(base).sum() > 150
    # and the future really changes the predictions after t (the test can fail)
    p = WalkForward(cfg).predict(_garbage_after(frame, 200))
    assert not np.allclose(p[201:], base[201:], equal_nan=True)


def test_lookahead_probe_catches_a_label_used_one_bar_early(frame, monkeypatch):
    """Break the schedule on purpose (labels usable one bar early): the probes at fit
    bars must see it. This proves the behavioural test above can fail."""
    import btlstm.forecast.schedule as schedule

    real = schedule.Schedule.index

    def early(self, name, dates, labelled=None):
        idx = real(self, name, dates, labelled)
        d = idx.dates
        li = idx.end + self.horizon + self.embargo - 1  # one bar too early
        idx.label_dates = np.where(li < len(d), d[np.minimum(li, len(d) - 1)], idx.label_dates)
        return idx

    cfg = _cfg("ridge", validation_fraction=0.0)
    monkeypatch.setattr(schedule.Schedule, "index", early)
    bad, _ = _violations(lambda: WalkForward(cfg), frame, _probes(WalkForward(cfg), frame))
    assert bad, "a label used one bar early went unnoticed"


def test_static_split_no_lookahead(frame, learner):
    cfg = _cfg(learner, mode="static", train_end=str(frame.index[150].date()))
    base = WalkForward(cfg).predict(frame)
    assert np.isnan(base[:151]).all(), "no prediction inside the training period"
    assert np.isfinite(base[151:]).all()
    for t in (151, 170, 300):
        p = WalkForward(cfg).predict(_garbage_after(frame, t))
        np.testing.assert_allclose(p[: t + 1], base[: t + 1], atol=1e-6, equal_nan=True)


def test_pooled_no_lookahead(learner):
    a = synthetic_ohlcv(n=260, seed=1, symbol="SYNA", signal=0.3)
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB", start="2010-03-29", signal=0.3)
    c = synthetic_ohlcv(n=240, seed=3, symbol="SYNC", signal=0.3)
    panel = {"SYNA": a, "SYNB": b, "SYNC": c}
    cfg = _cfg(learner, retrain_every=60, min_train=200)
    base = WalkForward(cfg).predict(panel)
    assert set(base) == set(panel)
    fit_dates = WalkForward(cfg).fit_dates(panel)
    assert len(fit_dates) >= 2
    for t_date in (fit_dates[0], fit_dates[1], a.index[150], a.index[200]):
        moved = {}
        for k, f in panel.items():
            t = int(np.searchsorted(f.index, t_date, side="right")) - 1
            moved[k] = _garbage_after(f, t) if t < len(f) - 1 else f
        p = WalkForward(cfg).predict(moved)
        for k, f in panel.items():
            keep = f.index <= t_date
            np.testing.assert_allclose(p[k][keep], base[k][keep], atol=1e-6, equal_nan=True)


def test_embargo_counts_only_known_labels(frame, learner):
    """At a fit on bar i, exactly the windows s with s + horizon + embargo <= i are used."""
    for embargo in (0, 3):
        wf = WalkForward(_cfg(learner, embargo=embargo, validation_fraction=0.0))
        wf.predict(frame)
        idx = {str(d.date()): i for i, d in enumerate(frame.index)}
        for rec in wf.fits:
            i = idx[rec.date]
            expect = i - 5 - embargo - (10 - 1) + 1
            assert rec.n_samples == expect


def test_rolling_window_limits_samples(frame, learner):
    wf = WalkForward(_cfg(learner, window="rolling", train_window=120, validation_fraction=0.0))
    wf.predict(frame)
    assert len(wf.fits) >= 2
    assert all(r.n_samples <= 120 for r in wf.fits)
    assert wf.fits[-1].n_samples == 120 - 5


@pytest.mark.parametrize(
    "extra", [{}, {"embargo": 3}, {"window": "rolling", "train_window": 150, "embargo": 2}]
)
def test_stream_equals_batch(frame, learner, extra):
    cfg = _cfg(learner, **extra)
    batch = WalkForward(cfg).predict(frame)
    st = WalkForward(cfg).stream()
    live = np.array(
        [
            st.update(d, *frame.loc[d, ["open", "high", "low", "close", "volume", "amount"]])
            for d in frame.index
        ]
    )
    assert np.isfinite(batch).sum() > 150
    np.testing.assert_allclose(live, batch, atol=1e-6, equal_nan=True)


def test_pooled_stream_equals_batch(learner):
    a = synthetic_ohlcv(n=260, seed=1, symbol="SYNA", signal=0.3)
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB", start="2010-03-29", signal=0.3)
    panel = {"SYNA": a, "SYNB": b}
    cfg = _cfg(learner, retrain_every=60, min_train=150, embargo=1)
    batch = WalkForward(cfg).predict(panel)
    st = WalkForward(cfg).stream(list(panel))
    live = {k: [] for k in panel}
    cols = ["open", "high", "low", "close", "volume", "amount"]
    for d in a.index.union(b.index):
        bars = {k: tuple(f.loc[d, cols]) for k, f in panel.items() if d in f.index}
        for k, v in st.update_panel(d, bars).items():
            live[k].append(v)
    for k in panel:
        assert np.isfinite(batch[k]).sum() > 50
        np.testing.assert_allclose(np.array(live[k]), batch[k], atol=1e-6, equal_nan=True)


def test_ready_model_predicts_every_full_window(frame):
    import keras

    from btlstm.forecast.features import build_dataset
    from btlstm.learners.models import build_model

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


def test_model_cache_reuses_and_rebuilds_corrupt(frame, tmp_path, caplog, learner):
    cfg = _cfg(learner)
    suffix = ".keras" if learner == "lstm" else ".npz"
    a = WalkForward(cfg, cache_dir=tmp_path)
    pa = a.predict(frame)
    files = sorted(tmp_path.glob("*" + suffix))
    assert len(files) == len(a.fits) >= 2 and not any(r.cached for r in a.fits)
    b = WalkForward(cfg, cache_dir=tmp_path)
    np.testing.assert_allclose(b.predict(frame), pa, atol=1e-6, equal_nan=True)
    assert all(r.cached for r in b.fits)
    files[0].write_bytes(b"not a model file")
    c = WalkForward(cfg, cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="btlstm.forecast.walkforward"):
        np.testing.assert_allclose(c.predict(frame), pa, atol=1e-6, equal_nan=True)
    assert "corrupt cached model" in caplog.text
    assert sum(not r.cached for r in c.fits) == 1
    # another seed is another model: no cache hit
    d = WalkForward(_cfg(learner, seed=8), cache_dir=tmp_path)
    d.predict(frame)
    assert not any(r.cached for r in d.fits)


@pytest.mark.parametrize(
    "change",
    [
        {"model": {"alpha": 2.0}},
        {"epochs": 3},
        {"lookback": 12},
        {"features": ("close", "volume")},
        {"embargo": 1},
        {"horizon": 4},
        {"clip": 0.1},
        {"learner": "lstm", "model": TINY},
        {"close_only": True},
    ],
    ids=lambda c: ",".join(c),
)
def test_cache_key_covers_every_model_setting(frame, tmp_path, change):
    """Change one setting that changes the model: nothing may come from the cache."""
    changed = {"learner": "ridge", **change}
    data = frame
    if changed.pop("close_only", False):
        # the labels come from close: a close that changes while the features do not
        # (features without close) must still miss the cache
        changed["features"] = ("open", "volume")
        WalkForward(_cfg(**changed), cache_dir=tmp_path).predict(frame)
        data = frame.copy()
        data["close"] = data["close"] * 1.001
    else:
        WalkForward(_cfg("ridge"), cache_dir=tmp_path).predict(frame)
    wf = WalkForward(_cfg(**changed), cache_dir=tmp_path)
    wf.predict(data)
    assert wf.fits and not any(r.cached for r in wf.fits)
    # and the same settings again do hit the cache (the test can fail)
    again = WalkForward(_cfg(**changed), cache_dir=tmp_path)
    again.predict(data)
    assert all(r.cached for r in again.fits)


def test_config_and_data_errors(frame):
    with pytest.raises(ValueError, match="retrain_every"):
        WalkForwardConfig(retrain_every=0)
    with pytest.raises(ValueError, match="train_end is required"):
        WalkForwardConfig(mode="static")
    with pytest.raises(ValueError, match="did you mean 'lookback'"):
        WalkForwardConfig.from_dict({"lookbak": 3})
    with pytest.raises(ValueError, match="mode"):
        WalkForwardConfig(mode="sometimes")
    with pytest.raises(ValueError, match="did you mean 'ridge'"):
        WalkForwardConfig(learner="ridg")
    with pytest.raises(ValueError, match="did you mean 'lstm_units'"):
        WalkForwardConfig(model={"lstm_unit": 8})
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


def test_model_cache_detects_a_swapped_in_model(frame, tmp_path, caplog):
    """A valid model copied over a cache entry (or edited, or without manifest) is never loaded."""
    import shutil

    from btlstm.data.cache import manifest_path, read_manifest

    cfg = _cfg("ridge")
    a = WalkForward(cfg, cache_dir=tmp_path)
    pa = a.predict(frame)
    # in fit order, by the fit number each manifest records (file names are hashes)
    files = sorted(tmp_path.glob("wf-*.npz"), key=lambda f: read_manifest(f)["fit"])
    assert len(files) == len(a.fits) >= 2
    assert [read_manifest(f)["date"] for f in files] == [r.date for r in a.fits]
    assert all(read_manifest(f)["file"] == f.name for f in files)
    # a model of other settings: a valid file of the same shape, other coefficients
    other = tmp_path / "other"
    WalkForward(_cfg("ridge", model={"alpha": 50.0}), cache_dir=other).predict(frame)
    donor = max(other.glob("wf-*.npz"), key=lambda f: read_manifest(f)["fit"])
    shutil.copyfile(donor, files[-1])  # the swap: a valid model under this key
    b = WalkForward(cfg, cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="btlstm.forecast.walkforward"):
        pb = b.predict(frame)
    assert f"cached model {files[-1]} changed since it was written" in caplog.text
    assert "retraining" in caplog.text
    assert [r.cached for r in b.fits] == [True] * (len(files) - 1) + [False]
    np.testing.assert_allclose(pb, pa, atol=1e-9, equal_nan=True)  # the swap left no trace
    # the retrained entry is trusted again
    c = WalkForward(cfg, cache_dir=tmp_path)
    c.predict(frame)
    assert all(r.cached for r in c.fits)
    # model and manifest both copied in under another key: the manifest names another file
    shutil.copyfile(files[0], files[1])
    shutil.copyfile(manifest_path(files[0]), manifest_path(files[1]))
    # a missing manifest (an older cache, or a file dropped in) is not trusted either
    manifest_path(files[-1]).unlink()
    caplog.clear()
    d = WalkForward(cfg, cache_dir=tmp_path)
    with caplog.at_level("WARNING", logger="btlstm.forecast.walkforward"):
        np.testing.assert_allclose(d.predict(frame), pa, atol=1e-9, equal_nan=True)
    assert "manifest field 'file'" in caplog.text and "no manifest" in caplog.text
    assert sum(not r.cached for r in d.fits) == 2


def test_cache_keys_do_not_depend_on_the_datetime_resolution(frame, tmp_path):
    """pandas 3 builds datetime64[us] indexes where pandas 2 built [ns]: the same bars at
    either resolution give the same cache keys, so a cache survives a pandas upgrade."""
    from btlstm.forecast.schedule import Schedule

    cfg = _cfg("ridge")
    ns, us = frame.copy(), frame.copy()
    ns.index, us.index = frame.index.as_unit("ns"), frame.index.as_unit("us")
    assert ns.index.dtype != us.index.dtype and ns.index.equals(us.index)
    a = WalkForward(cfg, cache_dir=tmp_path)
    a.predict(ns)
    assert not any(r.cached for r in a.fits)
    b = WalkForward(cfg, cache_dir=tmp_path)
    b.predict(us)
    assert len(b.fits) == len(a.fits) >= 2 and all(r.cached for r in b.fits)
    # the key function itself, handed the same dates at both resolutions
    sched = Schedule(cfg)
    values = [np.arange(len(frame), dtype=float)]
    T = frame.index[200]
    keys = set()
    for unit in ("ns", "us", "s"):
        sym = sched.index("X", frame.index.as_unit(unit))
        sym.dates = frame.index.as_unit(unit).values  # as a caller might build it
        keys.add(Schedule.cache_key({"a": 1}, [sym], values, T.as_unit(unit), 0))
    assert len(keys) == 1
    # and the key still changes with the dates
    later = sched.index("X", frame.index + pd.Timedelta(days=1))
    assert Schedule.cache_key({"a": 1}, [later], values, T, 0) not in keys


#: The WalkForwardConfig fields a model does not depend on, so the model cache key
#: leaves them out: ``test_end`` only moves where predictions stop (a longer backtest
#: reuses the models of a shorter one); ``workers``, ``engine`` and ``address`` only say
#: where the fits run (the same models on any of them: tests/test_parallel_fits.py).
#: Every other field must reach the key.
CACHE_EXEMPT = {"test_end", "workers", "engine", "address"}
#: fields the key stores under another name (older cache entries stay valid)
CACHE_RENAMED = {"learner_settings": "model"}
#: fields added later, left out of the key while at their default (the keys of older
#: cache entries stay valid); any other value reaches the key (``target``:
#: tests/test_targets.py)
CACHE_AT_DEFAULT = {"normalize": "window", "target": "return"}


def test_cache_key_covers_every_config_field_but_the_stated_exempt_ones():
    """The list of settings a cache key covers is derived from the config's fields:
    a field added to WalkForwardConfig reaches the key unless it is declared exempt."""
    import dataclasses

    from btlstm.forecast.schedule import Schedule

    names = {f.name for f in dataclasses.fields(WalkForwardConfig)}
    assert CACHE_EXEMPT <= names
    cfg = _cfg("ridge", validation_fraction=0.2, embargo=1, test_end="2012-01-02")
    settings = WalkForward(cfg).cache_settings()
    covered = {CACHE_RENAMED.get(n, n) for n in names - CACHE_EXEMPT - set(CACHE_AT_DEFAULT)}
    assert set(settings) == covered | {"learner_token"}
    plain = cfg.to_dict()
    for n in names - CACHE_EXEMPT - set(CACHE_AT_DEFAULT):
        assert settings[CACHE_RENAMED.get(n, n)] == plain[n], n
    assert all(getattr(cfg, n) == v for n, v in CACHE_AT_DEFAULT.items())
    # the exempt field changes nothing in the key; each covered one changes it
    sym = Schedule(cfg).index("A", pd.bdate_range("2010-01-01", periods=40))
    values = [np.arange(40.0)]

    def key(c):
        return Schedule.cache_key(WalkForward(c).cache_settings(), [sym], values, sym.dates[30], 0)

    base = key(cfg)
    assert key(_cfg("ridge", validation_fraction=0.2, embargo=1, test_end="2013-06-28")) == base
    where = {"workers": 2, "engine": "ray", "address": "127.0.0.1:6379"}
    assert (
        key(_cfg("ridge", validation_fraction=0.2, embargo=1, test_end="2012-01-02", **where))
        == base
    )
    for change in ({"validation_fraction": 0.1}, {"embargo": 2}, {"patience": 5},
                   {"seed": 8}, {"min_train": 101}, {"scale": 5.0},
                   {"normalize": "last_close"}, {"target": "sign"},
                   {"target": "vol_scaled"}):  # fmt: skip
        changed = {"validation_fraction": 0.2, "embargo": 1, "test_end": "2012-01-02", **change}
        assert key(_cfg("ridge", **changed)) != base, change


@pytest.mark.parametrize("validation_fraction", [0.1, 0.0])
def test_ridge_no_lookahead_with_and_without_a_validation_slice(frame, validation_fraction):
    """Ridge ignores validation data: with a validation slice the latest windows of a fit
    never reach the model, so a label used too early could hide there. The probes run
    without the slice too."""
    cfg = _cfg("ridge", validation_fraction=validation_fraction)
    bad, base = _violations(lambda: WalkForward(cfg), frame, _probes(WalkForward(cfg), frame))
    assert bad == []
    assert np.isfinite(base).sum() > 150


def test_training_set_orders_a_panel_by_date_and_validates_on_the_latest_windows():
    """The validation slice of a pooled fit is the latest windows by date over every
    symbol (not the last symbol's), and no validation window is trained on."""
    a = synthetic_ohlcv(n=200, seed=1, symbol="SYNA")
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB")
    wf = WalkForward(_cfg("ridge", min_train=100, validation_fraction=0.2))
    prep = wf.prepare({"SYNA": a, "SYNB": b})
    i = wf.fit_bars(prep)[0]
    X, y, Xv, yv = wf.training_set(prep, i)
    masks = wf.schedule.training_masks(prep.indices, prep.calendar, i)
    ends = np.sort(np.concatenate([s.index.end_dates[m] for s, m in zip(prep.symbols, masks)]))
    n = len(ends)
    assert len(X) + len(Xv) == n and len(Xv) == round(n * 0.2)
    # the windows of both symbols in the validation slice, none of them in training
    rows = {x.tobytes() for x in X}
    assert not any(v.tobytes() in rows for v in Xv)
    per_symbol = [
        sum(v.tobytes() in {w.tobytes() for w in s.X[m]} for v in Xv)
        for s, m in zip(prep.symbols, masks)
    ]
    assert per_symbol[0] > 0 and per_symbol[1] > 0


@pytest.mark.parametrize("end_on", ["trading day", "holiday"])
def test_test_end_on_a_trading_day_is_predicted_and_on_a_holiday_the_day_before(frame, end_on):
    """Range ends: test_end is inclusive; one that falls on a weekend stops the
    predictions at the Friday before. test_start likewise starts them."""
    i = 250
    day = frame.index[i]
    assert day.weekday() < 4  # a Monday .. Thursday: the next calendar day is a trading day
    if end_on == "trading day":
        end, last = str(day.date()), i
    else:
        friday = frame.index[frame.index.weekday == 4][-5]
        end, last = str((friday + pd.Timedelta(days=1)).date()), frame.index.get_loc(friday)
    start_i = 200
    cfg = _cfg("ridge", test_start=str(frame.index[start_i].date()), test_end=end)
    p = WalkForward(cfg).predict(frame)
    ok = np.flatnonzero(np.isfinite(p))
    assert ok[0] == start_i and ok[-1] == last
    assert np.isfinite(p[start_i : last + 1]).all()


@pytest.mark.parametrize("short", [0, 1])
def test_fit_problem_flags_a_first_fit_one_sample_short_of_min_train(short):
    """Static split ending at bar b (lookback 10, horizon 5): the fit at bar b + 1 knows
    the windows ending at 9 .. b - 4, b - 12 of them. min_train = that many is fine;
    one more is a problem, named with the count."""
    dates = pd.bdate_range("2010-01-04", periods=300)
    b = 150
    known = b - 12
    cfg = _cfg("ridge", mode="static", train_end=str(dates[b].date()), min_train=known + short)
    problem = WalkForward(cfg).fit_problem(dates)
    if short:
        assert problem is not None and f"has only {known} labelled samples" in problem
    else:
        assert problem is None


@pytest.mark.parametrize("learner", list(LEARNERS))
def test_no_fit_after_test_end_and_the_same_predictions(learner):
    """A model fitted after ``test_end`` would predict nothing: the run fits none
    (batched and bar by bar), and its predictions up to ``test_end`` are those of
    the run without ``test_end``."""
    frame = synthetic_ohlcv(n=520, seed=4)
    end = frame.index[300]
    full, cut = WalkForward(_cfg(learner)), WalkForward(_cfg(learner, test_end=str(end.date())))
    a, b = full.predict(frame), cut.predict(frame)
    assert len(full.fits) == 6 and len(cut.fits) == 3, (len(full.fits), len(cut.fits))
    assert all(pd.Timestamp(f.date) <= end for f in cut.fits)
    upto = frame.index <= end
    assert np.isfinite(b[upto]).sum() > 100 and np.isnan(b[~upto]).all()
    assert np.array_equal(a[upto], b[upto], equal_nan=True)
    stream = WalkForward(_cfg(learner, test_end=str(end.date()))).stream()
    line = [stream.update(d, *row) for d, row in zip(frame.index, frame[list(
        ("open", "high", "low", "close", "volume", "amount"))].to_numpy())]  # fmt: skip
    assert len(stream.wf.fits) == 3
    assert np.allclose(np.asarray(line)[upto], b[upto], atol=1e-6, equal_nan=True)


def test_large_seed_trains():
    """Fit seeds are ``seed * 100,003 + k``: from seed 42,950 on they pass 2^32 - 1, which
    ``np.random.seed`` (inside ``keras.utils.set_random_seed``) refuses. Any seed the
    settings accept, up to 2^32 - 1, trains and repeats."""
    frame = synthetic_ohlcv(n=300, seed=1)
    a = WalkForward(_cfg(seed=2**32 - 1, retrain_every=200)).predict(frame)
    b = WalkForward(_cfg(seed=2**32 - 1, retrain_every=200)).predict(frame)
    assert np.isfinite(a).sum() > 100 and np.array_equal(a, b, equal_nan=True)
