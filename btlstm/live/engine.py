"""The live walk-forward engine: predict every bar, fit off the bar loop, swap at a bar boundary.

:class:`LiveStream` is :class:`btlstm.forecast.walkforward.Stream` for live feeds. It
runs the same schedule (the same fit bars, the same training windows, the
same seeds and model cache as the batched backtest), but a fit never runs
inside a bar:

- at a fit bar it packs the bars known so far into a
  :class:`~btlstm.live.fitter.FitJob` and hands it to a fitter (a worker
  process, Ray, or this process);
- it keeps predicting with the **active** model while the fit runs;
- when the fit is done, the new model is loaded from the model cache (checked
  against its sha256 manifest) and becomes active at the next **bar
  boundary**, before anything of that bar is predicted: all feeds of a bar
  always share one model;
- every bar's predictions carry the version (fit number ``k``) and the fit
  date of the model that made them;
- a model older than ``expiry`` bars (since its fit bar) predicts nothing: the
  bar gets NaN and a warning, never a stale forecast presented as fresh.

``wait=True`` is the deterministic mode: the bar waits for its due fit (in
whatever fitter), so a replay gives the backtest's predictions exactly. It is
for replays and parity checks; a real paper run uses ``wait=False``.

All feeds of a pooled model get one batched forward pass per bar. On a replay
the engine is told how many windows the batched backtest predicts with each
model (``hint``) and asks the learner for the same compiled function, so the
numbers match the backtest bit for bit (the hint is a count of bars, never a
price).

Example:
    >>> from btlstm.synthetic import synthetic_ohlcv
    >>> from btlstm.forecast.walkforward import WalkForward
    >>> import tempfile
    >>> frame = synthetic_ohlcv(n=200, seed=1)
    >>> wf = WalkForward(dict(lookback=10, retrain_every=50, min_train=60, learner="ridge"),
    ...                  cache_dir=tempfile.mkdtemp())
    >>> stream = LiveStream(wf, wait=True)
    >>> cols = ["open", "high", "low", "close", "volume", "amount"]
    >>> preds = [stream.update(d, *row) for d, row in zip(frame.index, frame[cols].to_numpy())]
    >>> [(v.k, v.fit_date, v.swap_date) for v in stream.versions]   # swapped at its fit bar
    [(0, '2010-04-15', '2010-04-15'), (1, '2010-06-24', '2010-06-24'), (2, '2010-09-02', '2010-09-02')]
    >>> stream.version, round(preds[-1], 3) == round(float(wf.predict(frame)[-1]), 3)
    (2, True)
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.data.cache import load_verified
from btlstm.errors import TrainingError
from btlstm.forecast.schedule import Schedule
from btlstm.forecast.walkforward import MODEL_KIND, Stream, WalkForward, load_stats, stats_path
from btlstm.live.fitter import FitDone, FitJob, Fitter, InlineFitter

__all__ = ["LiveStream", "LiveSession", "ModelVersion", "segment_windows", "MIN_BATCH"]

log = logging.getLogger("btlstm.live")

#: Rows of the smallest forward pass: a bar's windows are padded to at least this many
#: (a batch of one runs another kernel than a batch of many: padded, the numbers are the
#: batched backtest's to the bit; measured in tests/test_live.py)
MIN_BATCH = 8


@dataclass
class ModelVersion:
    """One model of a live run.

    Attributes:
        k: fit number (the version stamped on predictions).
        fit_date: the fit bar's date (the model saw bars up to it, labels known at it).
        submitted: date the fit was handed to the fitter (= ``fit_date``).
        swap_date: first bar it predicted (None: never active).
        lag_bars: bars between the fit bar and the swap (0: waited for).
        seconds: fit wall time in the fitter (training or loading from the cache).
        load_seconds: time to load it into the standby slot and compile its forward pass.
        cached: True when the fitter loaded it from the model cache (no training).
        path: the model file in the cache.
        fitter: where it ran (``inline``, ``process``, ``ray``, ``given``).
        error: the fitter's error, if it failed.
    """

    k: int
    fit_date: str
    submitted: str
    swap_date: str | None = None
    lag_bars: int | None = None
    seconds: float | None = None
    load_seconds: float | None = None
    cached: bool | None = None
    path: str | None = None
    fitter: str = ""
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Slot:
    """A learner holding one version's model (two slots: the active one and a standby)."""

    def __init__(self, learner):
        self.learner = learner
        self.norm = None  # its train_zscore statistics (normalize='train_zscore')
        self.k: int | None = None
        self.fit_bar: int | None = None


def segment_windows(wf: WalkForward, frames: dict) -> dict[int, int]:
    """``{fit number: windows}`` the batched backtest predicts with each model.

    The same schedule as :meth:`WalkForward.predict` over the same frames (dates
    only: no price is read).
    """
    sched = wf.schedule
    syms = [sched.index(str(n), f.index) for n, f in frames.items() if len(f) >= wf.config.lookback]
    if not syms:
        return {}
    cal = Schedule.calendar(syms)
    if wf.pretrained:
        fits = sched.ready_start(cal)
    else:
        fits = sched.fit_bars(syms, cal)
    return {
        seg.k: int(sum(sched.predicts(s, seg).sum() for s in syms))
        for seg in sched.segments(fits, cal)
    }


class LiveStream(Stream):
    """Bar-by-bar walk-forward whose fits run off the bar loop (see the module docstring).

    Args:
        wf: the :class:`~btlstm.forecast.walkforward.WalkForward` (config, schedule,
            learner, model cache). A cache folder is required (models travel
            through it); None uses a temporary one.
        symbols: None for one symbol, a list of names for a pooled panel.
        fitter: a :class:`~btlstm.live.fitter.Fitter` (default: inline, this process).
        wait: block each bar on its due fit (deterministic replay) instead of
            predicting with the previous model until the new one is in.
        expiry: bars after a model's fit bar beyond which it predicts nothing
            (NaN + a warning); None: never.
        hint: ``{fit number: windows}`` of the batched backtest (:func:`segment_windows`),
            for bit-identical numbers on a replay; None: the per-bar function.
        recorded: ``{fit number: swap date}`` of a run being resumed: up to
            ``resume_date`` each version becomes active on the date it did
            before (a fit still running when the run stopped only after it).
        resume_date: the last bar of the run being resumed (None: a fresh run).
        name: the predictor's name (its jobs' owner in a fitter shared by several).
    """

    def __init__(
        self,
        wf: WalkForward,
        symbols=None,
        *,
        fitter: Fitter | None = None,
        wait: bool = True,
        expiry: int | None = None,
        hint: dict | None = None,
        recorded: dict | None = None,
        resume_date=None,
        name: str = "",
    ):
        super().__init__(wf, symbols)
        self.name = str(name)
        if wf.cache_dir is None:
            wf.cache_dir = Path(tempfile.mkdtemp(prefix="btlstm-live-models-"))
        self.fitter = fitter if fitter is not None else InlineFitter()
        if not self.fitter.background and not wait:
            raise ValueError(
                "an inline fitter blocks the bar loop: use wait=True, or a process or Ray fitter"
            )
        self.wait = bool(wait)
        if expiry is not None and (isinstance(expiry, bool) or int(expiry) < 1):
            raise ValueError(f"expiry must be a number of bars >= 1 or None, got {expiry!r}")
        self.expiry = None if expiry is None else int(expiry)
        self.hint = dict(hint or {})
        self.recorded = {int(k): pd.Timestamp(v) for k, v in (recorded or {}).items() if v}
        self.resume_date = None if resume_date is None else pd.Timestamp(resume_date)
        self.versions: list[ModelVersion] = []
        self._handles: dict[int, object] = {}  # fit number -> fitter handle
        self._ready: dict[int, FitDone] = {}  # finished fits not yet active
        self._new_learner = lambda: type(wf.learner)(
            wf.learner.lookback, wf.learner.n_features, wf.learner.settings
        )
        self._active: _Slot | None = None
        self._standby: _Slot | None = None
        self._loader = None  # the future of a model being loaded into the standby slot
        self._threads = None
        if wf.pretrained:  # a ready model: version 0, active from test_start on
            self._active = _Slot(wf.learner)
            self._active.k = 0
            self.versions.append(ModelVersion(0, "", "", fitter="given", cached=True))
        #: the version and fit date of the model behind the latest bar's predictions
        self.version: float = math.nan
        self.version_date: str | None = None
        #: bars refused because the active model was older than ``expiry``
        self.expired_bars = 0
        #: the latest bar had no model to predict with although one was due: a fit
        #: submitted and not active yet (it lagged the bars), or an expired model
        self.no_model = False
        self._warned: set = set()
        #: seconds spent in the latest bar (``timing_date``): predicting, fitting (submit
        #: or wait), swapping
        self.timing = {"predict": 0.0, "fit": 0.0, "swap": 0.0}
        self.timing_date = None

    # ------------------------------------------------------------------ bars
    def update_panel(self, date, bars: dict) -> dict:
        """Add one date's bars; swap in a finished model; submit a due fit; predict.

        Returns ``{symbol: prediction}`` for the symbols in ``bars``; the model
        behind them is :attr:`version` (NaN: none).
        """
        self.timing = {"predict": 0.0, "fit": 0.0, "swap": 0.0}
        date = pd.Timestamp(date)
        self.timing_date = date
        i, T = self._append(date, bars)
        self._boundary(i, date)
        if self.wf.pretrained:
            if not self._started:
                first = self.wf.schedule.first_allowed()
                self._started = first is None or T >= np.datetime64(first, "ns")
        elif self._due(i, T):
            self._maybe_fit(i, T, date)
        return self._predict_bars(i, date, list(bars))

    def _catching_up(self, date) -> bool:
        return self.resume_date is not None and date <= self.resume_date

    def _boundary(self, i: int, date) -> None:
        """The bar boundary: collect finished fits; make the newest allowed one active.

        In the background mode the new model is loaded into the standby slot by a
        helper thread while bars go on with the active one; the swap itself, at the
        first boundary after the load, only exchanges the two slots."""
        t0 = time.perf_counter()
        self._collect(self.fitter.poll(self.name))
        if self._catching_up(date):
            due = [k for k, d in self.recorded.items() if d == date]
            if due:
                k = max(due)
                if k not in self._ready and k in self._handles:
                    self._collect(self.fitter.wait(self._handles[k]))
                if k in self._ready:
                    self._activate(self._load(self._take(k), self._fit_bar(k)), i, date)
        elif self._loader is not None or self._ready:
            if self._loader is not None and self._loader.done():
                slot, self._loader = self._loader.result(), None  # a failed load raises here
                self._activate(slot, i, date)
            if self._loader is None and self._ready:
                if self._threads is None:
                    from concurrent.futures import ThreadPoolExecutor

                    self._threads = ThreadPoolExecutor(1, thread_name_prefix="btlstm-model-load")
                k = max(self._ready)
                self._loader = self._threads.submit(self._load, self._take(k), self._fit_bar(k))
        self.timing["swap"] += time.perf_counter() - t0

    def _maybe_fit(self, i: int, T, date) -> None:
        cfg, sched = self.wf.config, self.wf.schedule
        live = [s for s in self.symbols if len(self._dates[s]) >= cfg.lookback]
        if not live:
            return
        cal = np.asarray(self._cal, dtype="datetime64[ns]")
        first = self._last_fit is None and cfg.mode == "walkforward"
        # only the first walk-forward fit needs the windows' label dates (dates only)
        indices = [sched.index(s, self._dates[s]) for s in live] if first else []
        if not sched.is_fit_bar(i, cal, self._last_fit, indices):
            return
        t0 = time.perf_counter()
        k = self._k
        job = FitJob(
            k=k,
            bar=i,
            config=cfg,
            frames={s: self._frame(s) for s in live},
            calendar=cal,
            cache_dir=str(self.wf.cache_dir),
            learner=type(self.wf.learner),
            prev_bar=self._last_fit,
            owner=self.name,
        )
        self._handles[k] = self.fitter.submit(job)
        self.versions.append(
            ModelVersion(k, str(date.date()), str(date.date()), fitter=self.fitter.name)
        )
        self._last_fit = i
        self._k += 1
        recorded = self.recorded.get(k)
        if self.wait or (self._catching_up(date) and recorded is not None and recorded == date):
            self._collect(self.fitter.wait(self._handles[k]))
            if k in self._ready:
                self._activate(self._load(self._take(k), i), i, date)
        self.timing["fit"] += time.perf_counter() - t0

    def _collect(self, done: list) -> None:
        for d in done:
            self._handles.pop(d.k, None)
            v = self.versions[d.k] if 0 <= d.k < len(self.versions) else None
            if d.error is not None:
                which = f"model fit {d.k + 1} ({d.date})" if d.k >= 0 else "a model fit"
                msg = f"{which} failed in the {self.fitter.name} fitter"
                if v is not None:
                    v.error = d.error.strip().splitlines()[-1]
                if self.wait:  # one line: the worker's own last line (its exception)
                    raise TrainingError(f"{msg}: {d.error.strip().splitlines()[-1]}")
                log.warning("%s: %s; the active model stays", msg, d.error.strip().splitlines()[-1])
                continue
            if v is not None:
                v.seconds, v.cached, v.path = d.seconds, bool(d.record.cached), str(d.path)
            self.wf._record(d.record)  # wf.fits, the progress bar and the log
            self._ready[d.k] = d

    def _take(self, k: int) -> FitDone:
        """Version ``k``'s finished fit, dropping the older finished ones (superseded)."""
        done = self._ready.pop(k)
        for old in [j for j in self._ready if j < k]:
            del self._ready[old]
        return done

    def _fit_bar(self, k: int) -> int:
        """Calendar index of fit ``k``'s bar (read in the bar loop, not in a thread)."""
        day = np.datetime64(pd.Timestamp(self.versions[k].fit_date), "ns")
        return int(np.searchsorted(np.asarray(self._cal, dtype="datetime64[ns]"), day))

    def _load(self, done: FitDone, fit_bar: int) -> _Slot:
        """Load a fitted model from the cache (checked against its manifest) into the
        standby slot and trace its forward pass; the active slot is not touched."""
        t0 = time.perf_counter()
        k = done.k
        slot = self._standby or _Slot(self._new_learner())
        if not load_verified(done.path, MODEL_KIND, slot.learner.load, what="fitted model"):
            raise RuntimeError(f"model {done.path} of fit {k + 1} failed its checks after the fit")
        slot.k, slot.fit_bar = k, fit_bar
        if self.wf.config.normalize == "train_zscore":  # written beside the model by its fit
            slot.norm = load_stats(stats_path(done.path), len(self.wf.config.features))
        x = np.zeros((MIN_BATCH, self.wf.config.lookback, len(self.wf.config.features)), "float32")
        slot.learner.predictor(self.hint.get(k, 1))(x)  # compiled now, not on its first bar
        self.versions[k].load_seconds = time.perf_counter() - t0
        return slot

    def _activate(self, slot: _Slot, i: int, date) -> None:
        """Make ``slot`` the active model from this bar on (the bar boundary)."""
        self._standby, self._active = self._active, slot
        v = self.versions[slot.k]
        v.swap_date, v.lag_bars = str(date.date()), i - slot.fit_bar
        self._started = True
        log.info("model v%d (fit %s) active from %s, %d bar(s) after its fit", slot.k,
                 v.fit_date, v.swap_date, v.lag_bars)  # fmt: skip

    def close(self) -> None:
        """Stop the model-loading thread (the session closes the fitter)."""
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

    # ------------------------------------------------------------------ predicting
    def _predict_bars(self, i: int, date, syms: list) -> dict:
        t0 = time.perf_counter()
        out = {s: math.nan for s in syms}
        slot = self._active
        self.version, self.version_date = math.nan, None
        self.no_model = False
        if slot is None or not self._started or not self.wf.schedule.may_predict(date):
            # a fit is out but no model active yet: the backtest predicts here, this bar cannot
            due = bool(self.versions) and self.wf.schedule.may_predict(date)
            self.no_model = slot is None and due
            return out
        k = slot.k
        self.version = k
        self.version_date = self.versions[k].fit_date or None
        if self.expiry is not None and slot.fit_bar is not None and i - slot.fit_bar > self.expiry:
            self.expired_bars += 1
            self.no_model = True
            if k not in self._warned:
                self._warned.add(k)
                log.warning(
                    "model v%d (fit %s) is %d bars old, over the expiry of %d bars: no "
                    "predictions until a newer model is active",
                    k, self.version_date, i - slot.fit_bar, self.expiry,
                )  # fmt: skip
            return out
        ready = [s for s in syms if len(self._rows[s]["close"]) >= self.wf.config.lookback]
        if ready:
            X = np.concatenate([self.wf.inputs(self._raw_window(s), slot.norm) for s in ready])
            n = len(X)
            if n < MIN_BATCH:
                X = np.concatenate([X, np.zeros((MIN_BATCH - n,) + X.shape[1:], X.dtype)])
            fn = slot.learner.predictor(self.hint.get(k, 1))
            pred = np.asarray(fn(X), dtype=np.float64)[:n]
            pred = np.where(np.isfinite(X[:n]).all(axis=(1, 2)), pred, np.nan)  # warm-ups
            out.update({s: float(p) for s, p in zip(ready, pred, strict=True)})
        self.timing["predict"] += time.perf_counter() - t0
        return out

    # ------------------------------------------------------------------ state
    def recorded_swaps(self) -> dict:
        """``{fit number: swap date}`` of every version made active (for a resume)."""
        return {v.k: v.swap_date for v in self.versions if v.swap_date}

    def in_flight(self) -> list[int]:
        """Fit numbers submitted and not active yet."""
        return [v.k for v in self.versions if v.swap_date is None and v.error is None]


class LiveSession:
    """What the live predictors of one run share: the fitter, the fit policy, the resume plan.

    Args:
        fitter: a :class:`~btlstm.live.fitter.Fitter` or a name (``"inline"``,
            ``"process"``, ``"ray"``); None: inline when ``wait``, else process.
        wait: each bar waits for its due fit (deterministic replay).
        expiry: model expiry in bars (see :class:`LiveStream`); None: never.
        cache_dir: model cache for predictors built without one.
        threads: CPU threads of a worker's fits.
        address: Ray cluster address (fitter ``"ray"``).
        recorded: ``{stream name: {fit number: swap date}}`` of a run being resumed.
        resume_date: the last bar that run processed.
        preload: modules a worker process imports as it starts (``("btlstm.learners.models",)``
            for LSTM fits: TensorFlow is then loaded before the first fit is due).
    """

    def __init__(
        self,
        fitter=None,
        wait: bool = True,
        expiry: int | None = None,
        cache_dir=None,
        threads: int = 1,
        address: str | None = None,
        recorded: dict | None = None,
        resume_date=None,
        preload: tuple = (),
    ):
        from btlstm.live.fitter import make_fitter

        if fitter is None:
            fitter = "inline" if wait else "process"
        if isinstance(fitter, str):
            fitter = make_fitter(fitter, threads, address, preload)
        self.fitter = fitter
        self.wait = bool(wait)
        self.expiry = expiry
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.recorded = dict(recorded or {})
        self.resume_date = resume_date
        #: ``{name: LiveStream}`` of every predictor of the run
        self.streams: dict[str, LiveStream] = {}

    def stream(self, name: str, wf: WalkForward, symbols=None, frames: dict | None = None):
        """A :class:`LiveStream` for a predictor named ``name`` (its feed, or ``"pool"``).

        ``frames``: the whole replay (history + every bar) when it is known, for the
        bit-identical numbers of :func:`segment_windows`; None for a broker feed.
        """
        if wf.cache_dir is None and self.cache_dir is not None:
            wf.cache_dir = self.cache_dir
        hint = segment_windows(wf, frames) if frames else None
        st = LiveStream(
            wf,
            symbols,
            fitter=self.fitter,
            wait=self.wait,
            expiry=self.expiry,
            hint=hint,
            recorded=self.recorded.get(name),
            resume_date=self.resume_date,
            name=name,
        )
        self.streams[name] = st
        return st

    def close(self) -> None:
        """Shut the fitter down (a worker process, Ray) and the streams' loader threads."""
        for st in self.streams.values():
            st.close()
        self.fitter.close()
