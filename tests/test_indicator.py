"""LSTMPredictor inside Backtrader: every run mode gives the same line."""

import subprocess
import sys
import textwrap

import backtrader as bt
import numpy as np
import pytest

from btlstm.bt.feeds import make_feed
from btlstm.bt.indicators import LSTMPredictor
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.synthetic import synthetic_ohlcv

CFG = dict(
    lookback=10,
    retrain_every=80,
    min_train=100,
    epochs=2,
    batch_size=32,
    model=dict(lstm_units=8, dense_units=(8, 4)),
    seed=7,
)


class Record(bt.Strategy):
    params = (("pred_kwargs", None),)

    def __init__(self):
        self.pred = LSTMPredictor(self.data, **self.p.pred_kwargs)
        self.vals = []

    def prenext(self):
        self.vals.append(float(self.pred[0]))

    def next(self):
        self.vals.append(float(self.pred[0]))


def _run(frame, pred_kwargs, feed=None, **cerebro_kw):
    c = bt.Cerebro(stdstats=False, **cerebro_kw)
    c.adddata(feed if feed is not None else make_feed(frame))
    c.addstrategy(Record, pred_kwargs=pred_kwargs)
    return np.array(c.run()[0].vals)


@pytest.fixture(scope="module")
def frame():
    return synthetic_ohlcv(n=260, seed=11, signal=0.3)


@pytest.fixture(scope="module")
def reference(frame):
    return WalkForward(WalkForwardConfig(**CFG)).predict(frame)


MODES = [
    dict(runonce=True, preload=True),
    dict(runonce=False, preload=True),
    dict(runonce=True, preload=False),  # Backtrader falls back to next() without preload
    dict(runonce=False, preload=False),
    dict(exactbars=1),
]


@pytest.mark.parametrize("mode", MODES, ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()))
def test_walkforward_line_same_in_every_run_mode(frame, reference, mode):
    vals = _run(frame, dict(config=WalkForwardConfig(**CFG)), **mode)
    assert len(vals) == len(frame)
    assert np.isfinite(vals).sum() == np.isfinite(reference).sum() > 100
    np.testing.assert_allclose(vals, reference, atol=1e-6, equal_nan=True)


def test_ready_model_from_path_and_feed_without_amount(frame, tmp_path):
    import keras
    import pandas as pd

    from btlstm.learners.models import build_model, save_model

    keras.utils.set_random_seed(3)
    model = build_model(lookback=10, lstm_units=8, dense_units=(8, 4))
    path = save_model(model, tmp_path / "m.keras")
    cfg = WalkForwardConfig(lookback=10)
    a = _run(frame, dict(model=str(path), config=cfg))
    b = _run(frame, dict(model=str(path), config=cfg), runonce=False)
    np.testing.assert_allclose(a, b, atol=1e-6, equal_nan=True)
    assert np.isnan(a[:9]).all() and np.isfinite(a[9:]).all()
    # a plain Backtrader feed with no amount line: amount = close x volume
    plain = frame.drop(columns=["amount"])
    feed = bt.feeds.PandasData(dataname=plain, openinterest=None)
    derived = frame.copy()
    derived["amount"] = derived.close * derived.volume
    c = _run(frame, dict(model=model, config=cfg), feed=feed)
    expect = WalkForward(cfg, model=model).predict(derived)
    np.testing.assert_allclose(c, expect, atol=1e-6, equal_nan=True)
    assert isinstance(frame.index, pd.DatetimeIndex)


def test_needs_model_or_config(frame):
    with pytest.raises(ValueError, match="needs model= .* or config="):
        _run(frame, dict())


def test_plot_label_is_short(frame):
    c = bt.Cerebro(stdstats=False)
    c.adddata(make_feed(frame))
    c.addstrategy(Record, pred_kwargs=dict(config=WalkForwardConfig(**CFG)))
    s = c.run()[0]
    label = s.pred.plotlabel()
    assert "lookback=10" in label and "object at" not in label and len(label) < 80


def test_same_seed_same_predictions_in_a_new_process(frame, reference, tmp_path):
    """Reproducibility: a fresh interpreter with the same seed gives the same line."""
    out = tmp_path / "pred.npy"
    code = textwrap.dedent(f"""
        import numpy as np
        from btlstm.synthetic import synthetic_ohlcv
        from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
        frame = synthetic_ohlcv(n=260, seed=11, signal=0.3)
        np.save({str(out)!r}, WalkForward(WalkForwardConfig(**{CFG!r})).predict(frame))
    """)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    np.testing.assert_array_equal(np.load(out), reference)


@pytest.mark.parametrize("runonce", [True, False])
def test_history_trains_before_the_feed_starts(frame, reference, runonce):
    """The feed covers only the test period; the model still sees the years before it."""
    split = 150
    hist, test = frame.iloc[:split], frame.iloc[split:]
    vals = _run(
        test,
        dict(config=WalkForwardConfig(**CFG), history=hist),
        feed=make_feed(test),
        runonce=runonce,
    )
    assert len(vals) == len(test)
    np.testing.assert_allclose(vals, reference[split:], atol=1e-6, equal_nan=True)


def test_history_must_end_before_the_feed(frame):
    with pytest.raises(ValueError, match="history must end before"):
        _run(
            frame.iloc[100:],
            dict(config=WalkForwardConfig(**CFG), history=frame.iloc[:120]),
            feed=make_feed(frame.iloc[100:]),
        )


def test_ready_model_long_feed_block_path_matches_per_bar():
    """>= 1024 windows take the XLA block path in once(); next() stays within 1e-6 of it."""
    import keras

    from btlstm.learners.models import build_model

    long = synthetic_ohlcv(n=1200, seed=5)
    keras.utils.set_random_seed(4)
    model = build_model(lookback=10, lstm_units=8, dense_units=(8, 4))
    kw = dict(model=model, config=WalkForwardConfig(lookback=10))
    a = _run(long, kw)
    b = _run(long, kw, runonce=False)
    assert np.isfinite(a[9:]).all()
    np.testing.assert_allclose(a, b, atol=1e-6, equal_nan=True)


# ---------------------------------------------------------------- pooled predictions
from btlstm.bt.feeds import add_panel  # noqa: E402
from btlstm.bt.indicators import PooledPredictor, PredictionPool  # noqa: E402

POOL_CFG = dict(CFG, retrain_every=60, min_train=150, embargo=1)


class RecordPool(bt.Strategy):
    params = (("pool_kwargs", None),)

    def __init__(self):
        pool = PredictionPool(**self.p.pool_kwargs)
        self.signals = {d._name: PooledPredictor(d, pool=pool).prediction for d in self.datas}
        self.rows = []

    def prenext(self):
        self.next()

    def next(self):
        day = self.datas[0].datetime.date(0)
        for name, line in self.signals.items():
            self.rows.append((name, day, float(line[0])))


def _pool_panel():
    a = synthetic_ohlcv(n=260, seed=1, symbol="SYNA", signal=0.3)
    b = synthetic_ohlcv(n=200, seed=2, symbol="SYNB", start="2010-03-29", signal=0.3)
    c = synthetic_ohlcv(n=230, seed=3, symbol="SYNC", signal=0.3)  # stops trading early
    return {"SYNA": a, "SYNB": b, "SYNC": c}


def _run_pool(panel, pool_kwargs, **mode):
    c = bt.Cerebro(stdstats=False, **mode)
    add_panel(c, panel, progress=False)
    c.addstrategy(RecordPool, pool_kwargs=pool_kwargs)
    rows = c.run()[0].rows
    out = {}
    for name, frame in panel.items():
        got = {d: v for n, d, v in rows if n == name}
        out[name] = np.array([got[d.date()] for d in frame.index])
    return out


# ridge in every run mode; the LSTM on both paths (batched once(), bar-by-bar next())
POOL_CASES = [("ridge", m) for m in MODES] + [("lstm", MODES[0]), ("lstm", MODES[3])]


@pytest.mark.parametrize(
    "learner,mode",
    POOL_CASES,
    ids=[f"{k}-" + ",".join(f"{a}={b}" for a, b in m.items()) for k, m in POOL_CASES],
)
def test_pooled_lines_equal_predict_panel_in_every_run_mode(learner, mode):
    """One pooled model over three feeds (one lists late, one stops early): each feed's
    line equals WalkForward.predict(panel) on its real bars; filler bars are not data."""
    panel = _pool_panel()
    model = dict(lstm_units=8, dense_units=(8, 4)) if learner == "lstm" else dict(alpha=1.0)
    cfg = WalkForwardConfig(**dict(POOL_CFG, learner=learner, model=model))
    ref = WalkForward(cfg).predict(panel)
    got = _run_pool(panel, dict(config=cfg), **mode)
    for name in panel:
        assert np.isfinite(ref[name]).sum() > 50
        np.testing.assert_allclose(got[name], ref[name], atol=1e-6, equal_nan=True)


def test_pooled_lines_no_lookahead():
    """Rewrite every feed's future after a fit date: no pooled value at or before it moves."""
    from test_walkforward import _garbage_after

    panel = _pool_panel()
    cfg = WalkForwardConfig(**dict(POOL_CFG, learner="ridge", model=dict(alpha=1.0)))
    base = _run_pool(panel, dict(config=cfg))
    fits = WalkForward(cfg).fit_dates(panel)
    for t_date in (fits[0], fits[1], panel["SYNA"].index[200]):
        moved = {}
        for k, f in panel.items():
            t = int(np.searchsorted(f.index, t_date, side="right")) - 1
            moved[k] = _garbage_after(f, t) if 0 <= t < len(f) - 1 else f
        got = _run_pool(moved, dict(config=cfg))
        for k, f in panel.items():
            keep = f.index <= t_date
            np.testing.assert_allclose(got[k][keep], base[k][keep], atol=1e-6, equal_nan=True)
        assert any(
            not np.allclose(got[k][f.index > t_date], base[k][f.index > t_date], equal_nan=True)
            for k, f in panel.items()
        )


def test_pool_history_and_errors():
    panel = _pool_panel()
    cfg = WalkForwardConfig(**dict(POOL_CFG, learner="ridge", model=dict(alpha=1.0)))
    split = panel["SYNA"].index[120]
    hist = {k: f.loc[f.index < split] for k, f in panel.items()}
    test = {k: f.loc[f.index >= split] for k, f in panel.items()}
    ref = WalkForward(cfg).predict(panel)
    for mode in (MODES[0], MODES[3]):
        got = _run_pool(test, dict(config=cfg, history=hist), **mode)
        for k, f in test.items():
            np.testing.assert_allclose(got[k], ref[k][-len(f) :], atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError, match="no feed of that name"):
        _run_pool(test, dict(config=cfg, history={"NOPE": hist["SYNA"]}))
    with pytest.raises(ValueError, match="needs config"):
        PredictionPool()


@pytest.mark.parametrize("runonce", [True, False], ids=["once", "next"])
def test_too_short_feed_warns_naming_min_train(data_dir, runonce):
    """The issue's case: Backtrader's own 2006-day-001.txt (255 bars), walk-forward with
    the default min_train=250: no model can ever be fitted. The indicator says so, naming
    min_train and the bars, before any training, in both run modes."""
    from btlstm.bt.indicators import TooFewBarsWarning

    feed = bt.feeds.BacktraderCSVData(dataname=str(data_dir / "backtrader_datas/2006-day-001.txt"))
    config = WalkForwardConfig(mode="walkforward", retrain_every=21)  # as the issue ran it
    with pytest.warns(TooFewBarsWarning) as caught:
        vals = _run(None, dict(config=config), feed=feed, runonce=runonce)
    mine = [w for w in caught if issubclass(w.category, TooFewBarsWarning)]
    assert len(mine) == 1
    msg = str(mine[0].message)
    assert "min_train=250" in msg and "255 bars" in msg and "at most 221" in msg, msg
    assert len(vals) == 255 and np.isnan(vals).all()  # what the warning announces


@pytest.mark.parametrize("runonce", [True, False], ids=["once", "next"])
def test_long_enough_feed_does_not_warn(runonce):
    import warnings

    from btlstm.bt.indicators import TooFewBarsWarning

    frame = synthetic_ohlcv(n=200, seed=3)
    config = dict(lookback=10, min_train=100, retrain_every=50, learner="ridge")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TooFewBarsWarning)
        vals = _run(frame, dict(config=config), runonce=runonce)
    assert np.isfinite(vals).sum() > 50
    # one bar of min_train more than the data allows: warned
    config["min_train"] = 200 - 10 + 1 - 5 + 1
    with pytest.warns(TooFewBarsWarning, match="min_train=187"):
        vals = _run(frame, dict(config=config), runonce=runonce)
    assert np.isnan(vals).all()
    # the pipeline checks the samples itself, with the names the user typed: warn=False
    with warnings.catch_warnings():
        warnings.simplefilter("error", TooFewBarsWarning)
        _run(frame, dict(config=config, warn=False), runonce=runonce)
