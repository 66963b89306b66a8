"""Paper trading (btlstm.live): the live feed, fits off the bar loop, restarts, parity."""

import filecmp
import json
import logging
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd
import pytest
from live_helpers import HeldFitter  # tests/live_helpers.py (a worker imports it too)
from lookahead import rewrite_after  # tests/lookahead.py: the shared future rewrite

import btlstm  # noqa: F401
from btlstm.bt.analyzers import OrderLog
from btlstm.cli import main
from btlstm.data.cache import load_verified
from btlstm.errors import TrainingError
from btlstm.forecast.walkforward import MODEL_KIND, WalkForward
from btlstm.learners.ridge import RidgeLearner
from btlstm.live import (
    LiveLSTMPredictor,
    LiveSession,
    LiveStream,
    ProcessFitter,
    ReplayClock,
    ReplayFeed,
    run_paper,
)
from btlstm.pipeline import run_backtest
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

ROOT = Path(__file__).resolve().parents[1]
COLS = ["open", "high", "low", "close", "volume", "amount"]
RIDGE = dict(lookback=10, retrain_every=40, min_train=100, learner="ridge")


def _split(n=600, seed=1, at=300):
    f = synthetic_ohlcv(n=n, seed=seed, signal=0.3)
    return f.iloc[:at], f.iloc[at:]


# --------------------------------------------------------------------------- the feed
class _Probe(bt.Strategy):
    def __init__(self):
        self.status, self.bars = [], []

    def notify_data(self, data, status, *args, **kwargs):
        self.status.append((data._name, data._getstatusname(status)))

    def next(self):
        self.bars.append(tuple((d._name, d.datetime.date(0), d.close[0]) for d in self.datas))


def test_replay_feed_runs_the_live_path_delayed_then_live_and_panels_tick_together():
    hist, test = _split(n=80, at=0)
    other = test.assign(close=test["close"] * 2, high=test["high"] * 2, open=test["open"] * 2,
                        low=test["low"] * 2)  # fmt: skip
    clock = ReplayClock(bar_seconds=0.001, live_start=test.index[30])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(ReplayFeed(dataname=test, name="A", clock=clock, qcheck=0.01))
    cerebro.adddata(ReplayFeed(dataname=other, name="B", clock=clock, qcheck=0.01))
    cerebro.addstrategy(_Probe)
    strat = cerebro.run()[0]
    assert cerebro._dopreload is False and cerebro._dorunonce is False  # Backtrader's live path
    assert [s for n, s in strat.status if n == "A"] == ["DELAYED", "LIVE", "DISCONNECTED"]
    assert len(strat.bars) == len(test)  # every bar once, both feeds on the same date
    for (_, da, ca), (_, db, cb) in strat.bars:
        assert da == db and cb == pytest.approx(2 * ca)
    assert [d for (_, d, _), _ in strat.bars] == list(test.index.date)


def test_replay_feed_reads_a_csv_file(data_dir):
    from btlstm.live import replay_feed

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(replay_feed(data_dir / "backtrader_datas" / "2006-day-001.txt", name="X"))
    cerebro.addstrategy(_Probe)
    strat = cerebro.run()[0]
    assert len(strat.bars) == 255 and strat.bars[0][0][1].isoformat() == "2006-01-02"


def test_clock_publishes_on_its_schedule_and_load_is_none_until_then():
    t = [100.0]
    frame = synthetic_ohlcv(n=6, seed=2)  # Mon 2010-01-04 .. Mon 2010-01-11
    clock = ReplayClock(speed=86400.0, timer=lambda: t[0])  # a day per second
    feed = ReplayFeed(dataname=frame, name="X", clock=clock, qcheck=0.0)
    feed.setenvironment(bt.Cerebro())  # what cerebro.adddata does
    feed._start()
    assert feed.load() is True  # the first live bar is due at once
    assert feed.load() is None  # Tuesday: one second later
    t[0] += 1.0
    assert feed.load() is True
    t[0] += 2.0  # Wed, Thu
    assert feed.load() is True and feed.load() is True
    assert feed.load() is None  # Friday due at +4 s
    t[0] += 1.0
    assert feed.load() is True
    assert feed.load() is None  # the next Monday: 3 days after Friday
    t[0] += 2.9
    assert feed.load() is None
    clock.publish_now()  # the test hook
    assert feed.load() is True
    assert feed.load() is False  # over
    assert clock.published_at(feed.datetime[0]) == pytest.approx(106.9)  # when the hook ran
    with pytest.raises(ValueError, match="speed must be a number >= 0"):
        ReplayClock(speed=-1)


# --------------------------------------------------------------------------- the engine
def _feed(stream, frames: dict, dates) -> list:
    out = []
    for day in dates:
        bars = {s: tuple(f.loc[day, COLS]) for s, f in frames.items() if day in f.index}
        pred = stream.update_panel(day, bars)
        out.append((day, stream.version, pred))
    return out


def test_live_stream_waiting_for_fits_gives_the_batched_numbers(tmp_path):
    panel = synthetic_panel(n_symbols=3, n=320, seed=4, late_starters=1)
    dates = sorted(set().union(*[set(f.index) for f in panel.values()]))
    cfg = dict(RIDGE, test_start=str(dates[150].date()))
    batch = WalkForward(cfg).predict(panel)
    wf = WalkForward(cfg, cache_dir=tmp_path)
    stream = LiveStream(wf, list(panel), wait=True)
    rows = _feed(stream, panel, dates)
    fit_dates = [f.date for f in wf.fits]
    assert [v.swap_date for v in stream.versions] == fit_dates  # active at its own fit bar
    for day, version, pred in rows:
        for s, p in pred.items():
            want = batch[s][panel[s].index.get_loc(day)]
            assert (np.isnan(p) and np.isnan(want)) or p == pytest.approx(want, abs=1e-12)
            if np.isfinite(p):  # every prediction names its model: the latest fit <= today
                assert version == sum(pd.Timestamp(d) <= day for d in fit_dates) - 1


def test_background_fits_swap_at_a_bar_boundary_and_every_bar_names_its_model(tmp_path):
    panel = synthetic_panel(n_symbols=3, n=320, seed=4, late_starters=1)
    dates = sorted(set().union(*[set(f.index) for f in panel.values()]))
    cfg = dict(RIDGE, test_start=str(dates[150].date()))
    fitter = HeldFitter()
    wf = WalkForward(cfg, cache_dir=tmp_path)
    stream = LiveStream(wf, list(panel), fitter=fitter, wait=False, expiry=None)
    rows, released = [], {}
    for j, day in enumerate(dates):
        for job in fitter.jobs:  # each fit takes 7 bars
            if job.k not in fitter.released and j - job.bar >= 7:
                fitter.release(job.k)
                released[job.k] = j
        rows.append(_feed(stream, panel, [day])[0])
        stream._loader is None or stream._loader.result()  # the load thread: finish it now
    versions = [v for _, v, _ in rows]
    swaps = {v.k: dates.index(pd.Timestamp(v.swap_date)) for v in stream.versions if v.swap_date}
    assert len(swaps) >= 3
    first = swaps[0]
    assert all(math.isnan(v) for v in versions[:first])  # no model yet: NaN, no version
    assert all(math.isnan(p) for _, _, pred in rows[:first] for p in pred.values())
    for k, j in swaps.items():
        assert j > released[k]  # after the release, at the next boundary or later
        assert versions[j] == k and (k == 0 or versions[j - 1] == k - 1)
        assert versions[j - 1] != k  # the whole bar before it used the previous model
    learners = {}
    for _, version, _ in rows[first:]:
        assert not math.isnan(version)  # every bar after the first swap names its model
        k = int(version)
        if k not in learners:
            learners[k] = RidgeLearner(10, 6)
            assert load_verified(stream.versions[k].path, MODEL_KIND, learners[k].load)
    # each prediction is its named model's forecast of that day's window
    check = WalkForward(cfg)
    for s in panel:
        f = panel[s]
        ds = check.prepare({s: f}).symbols[0]
        for day, version, pred in rows[first::17]:
            if s in pred and np.isfinite(pred[s]):
                x = ds.X[f.index.get_loc(day) - 9][None]
                assert pred[s] == pytest.approx(
                    float(learners[int(version)].predict(x)[0]), abs=1e-12
                )


def test_a_stale_model_predicts_nothing_and_warns(tmp_path, caplog):
    hist, test = _split(n=500, at=200)
    frame = pd.concat([hist, test])
    cfg = dict(RIDGE, test_start=str(test.index[0].date()))
    fitter = HeldFitter()
    stream = LiveStream(WalkForward(cfg, cache_dir=tmp_path), fitter=fitter, wait=False, expiry=50)
    preds = []
    with caplog.at_level(logging.WARNING, logger="btlstm.live"):
        for day in frame.index:
            if fitter.jobs and 0 not in fitter.released:
                fitter.release(0)  # only the first fit ever finishes
            preds.append((stream.update(day, *frame.loc[day, COLS]), stream.version))
            stream._loader is None or stream._loader.result()
    start = frame.index.get_loc(pd.Timestamp(stream.versions[0].fit_date))
    ok = [j for j, (p, v) in enumerate(preds) if np.isfinite(p)]
    assert ok[0] > start and ok[-1] <= start + 50  # v0 predicts for 50 bars after its fit
    assert all(np.isnan(p) for p, _ in preds[start + 51 :])
    assert stream.expired_bars == len(frame) - start - 51
    warned = [r for r in caplog.records if "over the expiry of 50 bars" in r.getMessage()]
    assert len(warned) == 1  # once per model, not once per bar


def test_a_failed_background_fit_keeps_the_model_a_waited_one_stops_the_run(tmp_path, caplog):
    hist, test = _split(n=400, at=200)
    frame = pd.concat([hist, test])
    cfg = dict(RIDGE, learner="slow_ridge", model={"release": str(tmp_path / "never"),
               "timeout": 0.0}, test_start=str(test.index[0].date()))  # fmt: skip
    fitter = HeldFitter()
    stream = LiveStream(WalkForward(cfg, cache_dir=tmp_path / "a"), fitter=fitter, wait=False)
    with caplog.at_level(logging.WARNING, logger="btlstm.live"):
        for day in frame.index:
            for job in fitter.jobs:
                fitter.release(job.k)
            stream.update(day, *frame.loc[day, COLS])
            stream._loader is None or stream._loader.result()
    assert stream.versions[0].swap_date and stream.versions[1].error  # fit 2 timed out
    assert stream.version == 0
    assert any("model fit 2" in r.getMessage() and "TimeoutError" in r.getMessage()
               for r in caplog.records)  # fmt: skip
    waited = LiveStream(WalkForward(cfg, cache_dir=tmp_path / "b"), wait=True)
    with pytest.raises(
        TrainingError, match="model fit 2 .* failed in the inline fitter: .*Timeout"
    ):
        for day in frame.index:
            waited.update(day, *frame.loc[day, COLS])


def test_a_resumed_background_stream_switches_models_on_the_same_bars(tmp_path):
    """Resume of a background run: the bars done are replayed with each model switched on
    the bar it was switched on before (a fit still running at the stop comes after)."""
    hist, test = _split(n=500, at=200)
    frame = pd.concat([hist, test])
    cfg = dict(RIDGE, test_start=str(test.index[0].date()))

    def run(stream, fitter, stop=None):
        out = []
        for j, day in enumerate(frame.index[:stop]):
            for job in fitter.jobs:  # fits take 3, 9, 3, 9 ... bars
                if job.k not in fitter.released and j - job.bar >= (3 if job.k % 2 else 9):
                    fitter.release(job.k)
            out.append((stream.update(day, *frame.loc[day, COLS]), stream.version))
            stream._loader is None or stream._loader.result()
        return out

    first = HeldFitter()
    live = LiveStream(WalkForward(cfg, cache_dir=tmp_path), fitter=first, wait=False)
    stop = 402  # fits at bars 200, 240, ... 400: the last one is still running
    before = run(live, first, stop)
    recorded, resume = live.recorded_swaps(), frame.index[stop - 1]
    assert len(recorded) >= 4 and live.in_flight()  # a fit is still running at the stop
    again = HeldFitter()
    again.release = lambda k: None  # the resumed run must not need the fitter to finish
    resumed = LiveStream(WalkForward(cfg, cache_dir=tmp_path), fitter=again, wait=False,
                         recorded=recorded, resume_date=resume)  # fmt: skip
    replay = run(resumed, again, stop)
    assert [v for _, v in replay] == [v for _, v in before]
    np.testing.assert_array_equal([p for p, _ in replay], [p for p, _ in before])
    assert all(v.cached for v in resumed.versions if v.swap_date)  # loaded, not trained


def test_live_predictor_in_a_backtest_and_with_a_ready_model(tmp_path):
    from btlstm.bt.feeds import make_feed
    from btlstm.bt.indicators import LSTMPredictor
    from btlstm.learners.models import build_model

    hist, test = _split(n=500, at=200)
    cfg = dict(RIDGE, test_start=str(test.index[0].date()))

    def lines(feed, predictor, **kw):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(feed)
        from btlstm.strategies.hold import HoldNDays

        cerebro.addstrategy(HoldNDays, predictor=predictor, predictor_kwargs=kw)
        s = cerebro.run()[0]
        return np.array(s.prediction.array), np.array(s.predictor.lines[1].array if len(
            s.predictor.lines.getlinealiases()) > 1 else [])  # fmt: skip

    want, _ = lines(make_feed(test, name="X"), LSTMPredictor, config=cfg, history=hist)
    got, version = lines(make_feed(test, name="X"), LiveLSTMPredictor, config=cfg, history=hist)
    np.testing.assert_array_equal(got, want)  # preloaded: the batched path, versions filled in
    assert np.isnan(version[np.isnan(got)]).all() and not np.isnan(version[~np.isnan(got)]).any()
    assert sorted(set(version[~np.isnan(version)])) == list(range(int(np.nanmax(version)) + 1))
    model = build_model(lookback=10, n_features=6, lstm_units=4, dense_units=(4,), seed=1)
    ready = dict(model=model, config=dict(lookback=10, test_start=cfg["test_start"]), history=hist)
    want, _ = lines(make_feed(test, name="X"), LSTMPredictor, **ready)
    got, version = lines(ReplayFeed(dataname=test, name="X"), LiveLSTMPredictor,
                         session=LiveSession(cache_dir=tmp_path), **ready)  # fmt: skip
    np.testing.assert_array_equal(got, want)  # a ready model: version 0 on every bar
    assert set(version[~np.isnan(got)]) == {0.0}


def test_one_fitter_serves_two_predictors(tmp_path):
    hist, test = _split(n=420, at=200)
    frame = pd.concat([hist, test])
    other = synthetic_ohlcv(n=420, seed=9, signal=0.3)
    fitter = HeldFitter()
    cfgs = [dict(RIDGE, test_start=str(test.index[0].date())),
            dict(RIDGE, retrain_every=30, test_start=str(test.index[0].date()))]  # fmt: skip
    streams = [LiveStream(WalkForward(c, cache_dir=tmp_path), fitter=fitter, wait=False,
                          name=n) for c, n in zip(cfgs, ("a", "b"))]  # fmt: skip
    for day in frame.index:
        for job in fitter.jobs:
            fitter.release(job.k)  # each fit is done one bar later (both predictors)
        for st, f in zip(streams, (frame, other)):
            st.update(day, *f.loc[day, COLS])
            st._loader is None or st._loader.result()
    a, b = (st.versions for st in streams)
    assert len(a) == 6 and len(b) == 8  # every 40 and every 30 bars from bar 200
    assert all(v.swap_date for v in a[:-1]) and all(v.swap_date for v in b[:-1])
    assert {Path(v.path).name for v in a if v.path}.isdisjoint({Path(v.path).name for v in b
                                                                 if v.path})  # fmt: skip


# --------------------------------------------------------------------------- a real worker
class _Releaser(bt.Strategy):
    """Records every bar; lets the worker's next fit finish once five bars have gone by
    with it in flight (a stalled bar loop would never let it finish)."""

    params = (("release", None), ("predictor_kwargs", None))

    def __init__(self):
        self.pred = LiveLSTMPredictor(self.data, **self.p.predictor_kwargs)
        self.rows = []
        self.in_flight_bars = 0

    def next(self):
        st = self.pred._stream
        if len(self) == 5 and 0 in st._handles:  # once: the worker process has started
            t0 = time.monotonic()  # (so the test does not depend on how fast it starts)
            while not st._handles[0].done() and time.monotonic() - t0 < 120:
                time.sleep(0.01)
        flight = st.in_flight()
        self.rows.append((self.data.datetime.date(0), self.pred.prediction[0],
                          self.pred.model_version[0], tuple(flight)))  # fmt: skip
        if st.version == 0 and any(k > 0 for k in flight):
            self.in_flight_bars += 1
            if self.in_flight_bars == 5:
                Path(self.p.release).touch()


def test_a_slow_fit_in_a_worker_process_does_not_stall_the_bar_loop(tmp_path):
    hist, test = _split(n=800, at=260)
    release = tmp_path / "release"
    cfg = dict(RIDGE, retrain_every=150, learner="slow_ridge", model={"release": str(release)},
               test_start=str(test.index[0].date()))  # fmt: skip
    session = LiveSession(fitter=ProcessFitter(), wait=False, cache_dir=tmp_path / "models")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(ReplayFeed(dataname=test, name="X", clock=ReplayClock(bar_seconds=0.005)))
    cerebro.addstrategy(_Releaser, release=str(release),
                        predictor_kwargs=dict(config=cfg, history=hist, session=session))  # fmt: skip
    try:
        strat = cerebro.run()[0]
    finally:
        session.close()
    rows, versions = strat.rows, strat.pred._stream.versions
    assert strat.in_flight_bars >= 5  # bars went on with model 0 while the next fit ran
    with_v0 = [r for r in rows if r[2] == 0 and any(k > 0 for k in r[3])]
    assert len(with_v0) >= 5 and all(np.isfinite(r[1]) for r in with_v0)
    nxt = [v for v in versions if v.k > 0 and v.swap_date is not None]
    assert nxt, [v.to_dict() for v in versions]
    k = nxt[0].k
    swap = [i for i, r in enumerate(rows) if r[2] == k][0]
    assert str(rows[swap][0]) == nxt[0].swap_date and rows[swap - 1][2] == 0  # at a boundary
    assert nxt[0].lag_bars >= 5 and all(v.error is None for v in versions)
    for _, p, version, _ in rows:  # every prediction names its model
        assert np.isnan(p) or not np.isnan(version)
    named = [r[2] for r in rows if not np.isnan(r[2])]
    assert named == sorted(named)  # versions only move forward


# --------------------------------------------------------------------------- paper runs
def _same_files(a: Path, b: Path, names=("predictions.csv", "trades.csv", "equity.csv")):
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), name


def test_paper_hold_on_a_csi300_replay_matches_the_backtest(tmp_path, data_dir):
    s = {"data": {"data": "csi300", "data_dir": str(data_dir)},
         "model": {"epochs": 2, "train_start": "2011-01-01", "test_end": "2015-04-30"},
         "strategy": {"name": "hold"}, "output": {"plots": False}}  # fmt: skip
    run_backtest({**s, "output": {"plots": False, "out": str(tmp_path / "run")}})
    paper = run_paper({**s, "output": {"plots": False, "out": str(tmp_path / "paper")}},
                      {"fits": "wait"})  # fmt: skip
    _same_files(tmp_path / "run", tmp_path / "paper")
    live = paper.report["live"]
    assert live["fits"] == "wait" and live["fits_trained"] == 1 and live["bars"] == 78
    assert live["versions_used"] == {"000300": {"0": 78}}
    lat = pd.read_csv(tmp_path / "paper" / "latency.csv")
    assert len(lat) == 78 and lat["latency_ms"].notna().all() and (lat["status"] == "LIVE").all()
    from btlstm.report import rebuild_report

    page = rebuild_report(tmp_path / "paper", plots=True).read_text()  # from its files alone
    assert "Live run (paper trading)" in page and "fits = wait" in page
    assert (tmp_path / "paper" / "latency.png").stat().st_size > 1000


def test_paper_rotation_on_an_etf_replay_matches_the_backtest(tmp_path, data_dir):
    s = {"data": {"data": "sector_etfs", "data_dir": str(data_dir)},
         "model": {"epochs": 1, "warm_epochs": 1, "train_start": "2013-01-01",
                   "test_start": "2016-01-01", "test_end": "2016-08-31", "train_window": 504,
                   "retrain_every": 63},
         "strategy": {"name": "rotation"}, "output": {"plots": False}}  # fmt: skip
    run_backtest({**s, "output": {"plots": False, "out": str(tmp_path / "run")}})
    paper = run_paper({**s, "output": {"plots": False, "out": str(tmp_path / "paper")}})
    _same_files(tmp_path / "run", tmp_path / "paper")
    live = paper.report["live"]
    assert live["fits"] == "wait" and live["fits_total"] == 3  # warm starts, in order
    assert live["versions_used"]["pool"] == {"0": 63, "1": 63, "2": 42}
    assert live["latency"]["feeds"] == 10


def _paper_cmd(out: Path, *extra) -> list:
    return [sys.executable, "-m", "btlstm.cli", "paper", "hold", "--data", "synthetic",
            "--learner", "ridge", "--mode", "walkforward", "--retrain-every", "25",
            "--min-train", "150", "--lookback", "10", "--train-start", "2008-01-01",
            "--test-start", "2011-06-01", "--test-end", "2012-06-30", "--no-plots", "--quiet",
            "--fits", "wait", "--out", str(out), *extra]  # fmt: skip


def test_a_killed_paper_run_resumes_with_the_same_trades_and_no_refit(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ref = subprocess.run(_paper_cmd(tmp_path / "ref"), env=env, capture_output=True, text=True)
    assert ref.returncode == 0, ref.stderr
    out, state = tmp_path / "run", tmp_path / "run" / "paper-state"
    proc = subprocess.Popen(_paper_cmd(out, "--bar-seconds", "0.02"), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 60
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads((state / "state.json").read_text())["bars_done"]
        except (OSError, ValueError):
            done = 0
        if done >= 120:
            break
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)  # mid-run: between two bars or inside one
    proc.wait()
    saved = json.loads((state / "state.json").read_text())
    assert 120 <= saved["bars_done"] < 270
    models = {p: p.stat().st_mtime_ns for p in (state / "models").glob("wf-*.npz")}
    assert len(models) >= 4
    again = subprocess.run(_paper_cmd(out), env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    _same_files(tmp_path / "ref", out)
    report = json.loads((out / "report.json").read_text())
    live = report["live"]
    assert live["resumed"] and live["sessions"][1]["resumed_after_bar"] == saved["bars_done"]
    assert {p: p.stat().st_mtime_ns for p in models} == models  # saved models not rewritten
    saved_fits = {v["k"] for v in saved["streams"]["SYNIDX"]["versions"] if v.get("path")}
    fits = {v["k"]: v for v in live["model_versions"]}
    assert all(fits[k]["cached"] for k in saved_fits)  # loaded from the store, not trained
    assert live["fits_trained"] == len(fits) - len(saved_fits) > 0
    lat = pd.read_csv(out / "latency.csv")
    assert list(lat["bar"]) == list(range(len(lat))) and set(lat["session"]) == {0, 1}


def test_paper_refuses_a_foreign_or_other_state_folder_before_any_work(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    args = ["paper", "hold", "--data", "synthetic", "--learner", "ridge", "--no-plots",
            "--out", str(tmp_path / "o"), "--state-dir", str(foreign)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--state-dir" in err and "folder of other files" in err
    assert (foreign / "notes.txt").read_text() == "keep me" and len(list(foreign.iterdir())) == 1
    from btlstm.cli import build_parser

    text = build_parser().parse_args(["paper", "rotation", "--out", "x"])
    assert text.func.__name__ == "_cmd_paper" and "speed" in text.live_flags
    assert {k for _, k in text.flags} >= {"retrain_every", "topk", "cash", "cache_dir"}
    assert main(["paper", "hold", "--fits", "bogus", "--out", str(tmp_path / "o")]) == 2
    assert "--fits: expected one of ['auto', 'wait', 'background']" in capsys.readouterr().err
    s = {"data": {"data": "synthetic", "synthetic": {"n": 700}},
         "model": dict(RIDGE, mode="walkforward", train_start="2008-01-01",
                       test_start="2009-06-01", test_end="2009-09-30"),
         "strategy": {"name": "hold"}, "output": {"plots": False, "out": str(tmp_path / "p")}}  # fmt: skip
    first = run_paper(s, {"state_dir": str(tmp_path / "st")})
    # a finished run replays from its state; a state that the replay does not reproduce
    # (here: its cash edited) is refused
    again = run_paper(s, {"state_dir": str(tmp_path / "st")})
    assert again.report["live"]["resumed"] and again.report["live"]["fits_trained"] == 0
    assert again.report["comparison"][0] == first.report["comparison"][0]
    doc = json.loads((tmp_path / "st" / "state.json").read_text())
    doc["snapshot"]["broker"]["cash"] += 1.0
    (tmp_path / "st" / "state.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"state.json is not signed with this user's secret"):
        run_paper(s, {"state_dir": str(tmp_path / "st")})  # edited: not the file btlstm wrote
    # signed again with the user's own secret (what a code change would give): the replay
    # then finds the difference
    from btlstm.live.state import StateStore

    fp = json.loads((tmp_path / "st" / "btlstm-state.json").read_text())["fingerprint"]
    doc["hmac"] = StateStore(tmp_path / "st", fp)._signature(doc)
    (tmp_path / "st" / "state.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"differs from the saved state \(broker.cash"):
        run_paper(s, {"state_dir": str(tmp_path / "st")})
    other = {**s, "strategy": {"name": "hold", "hold": 3}}
    with pytest.raises(ValueError, match="holds the report of another run.*--force"):
        run_paper(other, {"state_dir": str(tmp_path / "st")})  # its --out: another run's
    other["output"] = {"plots": False, "out": str(tmp_path / "p2")}
    with pytest.raises(ValueError, match="holds another paper run.*--fresh"):
        run_paper(other, {"state_dir": str(tmp_path / "st")})
    fresh = run_paper(other, {"state_dir": str(tmp_path / "st"), "fresh": True})
    assert not fresh.report["live"]["resumed"]


def test_a_paper_run_whose_fits_lag_counts_and_warns_the_bars_with_no_model(tmp_path):
    """Background fits on a fast replay: the bars before a model is active trade on
    nothing. They are counted (total, longest stretch) and warned about in report.json,
    the terminal table and the page; a run that waits for its fits has no such bars."""
    from btlstm.report import format_table

    s = {"data": {"data": "synthetic"}, "strategy": {"name": "hold"},
         "model": {"learner": "ridge", "mode": "walkforward", "retrain_every": 25,
                   "min_train": 150, "lookback": 10, "train_start": "2008-01-01",
                   "test_start": "2011-06-01", "test_end": "2011-12-31"}}  # fmt: skip
    out = tmp_path / "fast"
    fast = run_paper({**s, "output": {"plots": False, "out": str(out)}},
                     {"fits": "background", "fitter": "process", "bar_seconds": 0.005})  # fmt: skip
    nm = fast.report["live"]["no_model"]
    pred = pd.read_csv(out / "predictions.csv", parse_dates=["date"])
    pred = pred[pred["date"] >= pd.Timestamp("2011-06-01")]
    nan = pred["prediction"].isna().to_numpy()
    assert nm["of"] == len(pred) == 153 and nm["bars"] == int(nan.sum()) > 0
    assert nm["share"] == pytest.approx(nm["bars"] / 153)
    lat = pd.read_csv(out / "latency.csv")
    assert lat["no_model"].to_numpy().tolist() == nan.tolist()  # bar by bar, not just the sum
    runs = np.diff(np.concatenate([[0], nan.astype(int), [0]]))
    starts, ends = np.flatnonzero(runs == 1), np.flatnonzero(runs == -1)
    j = int(np.argmax(ends - starts))
    dates = pred["date"].dt.date.astype(str).to_numpy()
    assert nm["longest"] == {"bars": int(ends[j] - starts[j]), "start": dates[starts[j]],
                             "end": dates[ends[j] - 1]}  # fmt: skip
    assert nan[0]  # the first fit is handed to the worker on the first bar: nothing yet
    text = (f"{nm['bars']} of 153 bars ({nm['bars'] / 153:.0%}) traded with no active model "
            "(fits lagged the replay")  # fmt: skip
    saved = json.loads((out / "report.json").read_text())
    warning = [w for w in saved["warnings"] if w.startswith(text)]
    assert len(warning) == 1 and "the result differs from the backtest" in warning[0]
    assert f"{nm['longest']['start']} .. {nm['longest']['end']}" in warning[0]
    assert f"WARNING: {warning[0]}" in format_table(fast.report)
    from btlstm.cli import _live_line  # the paper command's last line

    assert f"; {nm['bars']} bar(s) with no active model;" in _live_line(fast.report["live"])
    from btlstm.report import rebuild_report

    page = rebuild_report(out, plots=False).read_text()
    assert "traded with no active model" in page
    waited = run_paper({**s, "output": {"plots": False, "out": str(tmp_path / "wait")}},
                       {"fits": "wait"})  # fmt: skip
    assert waited.report["live"]["fitter"] == "inline"
    assert waited.report["live"]["no_model"] == {"bars": 0, "of": 153, "share": 0.0,
                                                 "longest": None}  # fmt: skip
    assert not any("no active model" in w for w in waited.report["warnings"])
    assert "no active model" not in _live_line(waited.report["live"])
    assert "no active model" not in format_table(waited.report)
    assert pd.read_csv(tmp_path / "wait" / "predictions.csv")["prediction"].notna().all()


def test_paper_predictions_do_not_see_the_future(tmp_path):
    frame = synthetic_ohlcv(n=700, seed=3, signal=0.3)
    t = frame.index[560]
    changed = rewrite_after({"X": frame}, t)["X"]
    preds = []
    for k, f in enumerate((frame, changed)):
        f = f.copy()
        f.attrs = dict(frame.attrs)
        session = LiveSession(wait=True, cache_dir=tmp_path / f"m{k}")
        hist, test = f.iloc[:300], f.iloc[300:]
        cfg = dict(RIDGE, test_start=str(test.index[0].date()))
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(ReplayFeed(dataname=test, name="X"))
        from btlstm.strategies.hold import HoldNDays

        cerebro.addstrategy(HoldNDays, predictor=LiveLSTMPredictor,
                            predictor_kwargs=dict(config=cfg, history=hist, session=session))  # fmt: skip
        cerebro.addanalyzer(OrderLog, _name="orders")
        s = cerebro.run()[0]
        preds.append((np.array(s.prediction.array), s.analyzers.orders.get_analysis()["orders"]))
    upto = 560 - 300 + 1
    np.testing.assert_array_equal(preds[0][0][:upto], preds[1][0][:upto])
    assert not np.array_equal(preds[0][0][upto:], preds[1][0][upto:])
    before = [r for r in preds[0][1] if r["created_date"] <= t.date()]
    assert before == [r for r in preds[1][1] if r["created_date"] <= t.date()]


# --------------------------------------------------------------------------- long runs
@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["hold", "rotation"])
def test_paper_matches_the_full_default_backtest(tmp_path, data_dir, strategy):
    """The README's runs: hold on the seed's split (565 bars), the rotation over
    2005-2025 (5,216 bars, 42 fits on XLA-sized segments)."""
    s = {"data": {"data_dir": str(data_dir)}, "strategy": {"name": strategy},
         "output": {"plots": False}}  # fmt: skip
    run_backtest({**s, "output": {"plots": False, "out": str(tmp_path / "run")}})
    paper = run_paper({**s, "output": {"plots": False, "out": str(tmp_path / "paper")}})
    _same_files(tmp_path / "run", tmp_path / "paper")
    assert paper.report["live"]["fits_trained"] == len(paper.fits)


@pytest.mark.slow
def test_background_fits_on_ray(tmp_path):
    pytest.importorskip("ray")
    hist, test = _split(n=800, at=260)
    cfg = dict(RIDGE, retrain_every=60, test_start=str(test.index[0].date()))
    session = LiveSession(fitter="ray", wait=False, cache_dir=tmp_path / "models")
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(ReplayFeed(dataname=test, name="X", clock=ReplayClock(bar_seconds=0.02)))
    from btlstm.strategies.hold import HoldNDays

    cerebro.addstrategy(HoldNDays, predictor=LiveLSTMPredictor,
                        predictor_kwargs=dict(config=cfg, history=hist, session=session))  # fmt: skip
    try:
        strat = cerebro.run()[0]
    finally:
        session.close()
    versions = strat.predictor._stream.versions
    active = [v for v in versions if v.swap_date]
    assert len(active) >= 3 and all(v.fitter == "ray" and v.error is None for v in versions)
    assert all(v.lag_bars >= 1 for v in active)  # the bar loop never waited
    version = np.array(strat.predictor.model_version.array)
    pred = np.array(strat.prediction.array)
    assert np.all(np.isnan(pred) | ~np.isnan(version))
