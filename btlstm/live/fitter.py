"""Model fits off the bar loop: a fit job, and where it runs (this process, a process, Ray).

A live run must never train inside a bar: a fit takes seconds, a bar a
millisecond. The live engine (:mod:`btlstm.live.engine`) packs everything a
fit needs into a :class:`FitJob` (the bars known at the fit date, the
walk-forward config, the learner, the model cache folder) and hands it to a
fitter:

- :class:`InlineFitter`: runs the job at once, in the bar loop (the backtest's
  behaviour; only with ``wait=True``, the deterministic replay);
- :class:`ProcessFitter`: one long-lived worker process (``spawn``), jobs in
  order; the bar loop keeps running while it trains;
- :class:`RayFitter`: the same job as a Ray task (a local or remote cluster).

Every fitter runs the same function, :func:`run_fit_job`, which calls
:meth:`btlstm.forecast.walkforward.WalkForward.fit`: the same schedule, the same
training windows, the same seed and the same model cache as the batched
backtest, so a model fitted in a worker is the model the backtest fits (and a
model already in the cache is loaded, never refitted). The fitted model goes
to the cache folder with its sha256 manifest; the engine loads it from there
into a standby slot and swaps it in at a bar boundary.

Example:
    >>> from btlstm.synthetic import synthetic_ohlcv
    >>> from btlstm.forecast.walkforward import WalkForwardConfig
    >>> import tempfile, numpy as np
    >>> frame = synthetic_ohlcv(n=200, seed=1)
    >>> cfg = WalkForwardConfig(lookback=10, min_train=60, learner="ridge")
    >>> job = FitJob(k=0, bar=120, config=cfg, frames={"data": frame.iloc[:121]},
    ...              calendar=frame.index[:121].values, cache_dir=tempfile.mkdtemp())
    >>> with InlineFitter() as fitter:
    ...     (done,) = fitter.wait(fitter.submit(job))
    >>> done.record.date, done.path.suffix, done.error
    ('2010-06-21', '.npz', None)
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.executor import BrokenPool, LocalPool, RayPool

__all__ = [
    "FitJob",
    "FitDone",
    "Fitter",
    "InlineFitter",
    "ProcessFitter",
    "RayFitter",
    "FITTERS",
    "make_fitter",
    "run_fit_job",
]

log = logging.getLogger("btlstm.live")

#: fitter names (``[live] fitter``)
FITTERS = ("inline", "process", "ray")


@dataclass
class FitJob:
    """Everything one walk-forward fit needs, as plain picklable data.

    Attributes:
        k: the fit number (model version) in the run.
        bar: the fit bar's index in ``calendar``.
        config: the :class:`~btlstm.forecast.walkforward.WalkForwardConfig`.
        frames: ``{symbol: canonical frame}`` of the bars known at the fit bar
            (nothing after it).
        calendar: ``datetime64[ns]`` dates of every bar seen, up to the fit bar.
        cache_dir: the model cache folder (the fitted model is written there).
        learner: the learner class (None: ``config.learner`` from the registry);
            a class travels by reference, so a worker imports its module (and
            any ``register_learner`` in it) first.
        prev_bar: the calendar index of fit ``k - 1`` (None for the first fit): a
            worker that does not hold that model in memory loads it from the
            cache for a warm start (its cache key needs only the bars up to it).
        owner: the predictor the job belongs to (one fitter may serve several).
    """

    k: int
    bar: int
    config: object
    frames: dict
    calendar: np.ndarray
    cache_dir: str
    learner: type | None = None
    prev_bar: int | None = None
    owner: str = ""

    @property
    def date(self) -> str:
        return str(pd.Timestamp(self.calendar[self.bar]).date())


@dataclass
class FitDone:
    """A finished fit: the model file of version ``k``, or the error that stopped it.

    Attributes:
        k: the fit number; ``date``: the fit date; ``path``: the model file in the
        cache folder (None on error); ``record``: the
        :class:`~btlstm.forecast.walkforward.FitRecord` (``cached`` True when the model
        came from the cache); ``error``: the worker's traceback, or None;
        ``pid``: the process that ran it; ``seconds``: wall time in the worker.
    """

    k: int
    date: str
    path: Path | None
    record: object = None
    error: str | None = None
    pid: int = 0
    seconds: float = 0.0


#: one long-lived WalkForward per (config, learner) in each process: its learner keeps
#: the traced train/predict functions between fits, as in a backtest
_ENGINES: dict = {}
_MAX_ENGINES = 4


def _engine(job: FitJob):
    import json

    from btlstm.forecast.walkforward import WalkForward
    from btlstm.learners import get_learner

    cfg = job.config
    cls = job.learner or get_learner(cfg.learner)
    key = json.dumps(
        [cfg.to_dict(), f"{cls.__module__}.{cls.__qualname__}", job.cache_dir, job.owner]
    )
    entry = _ENGINES.pop(key, None)
    if entry is None:
        while len(_ENGINES) >= _MAX_ENGINES:  # the oldest goes (a long test session)
            del _ENGINES[next(iter(_ENGINES))]
        learner = cls(cfg.lookback, len(cfg.features), cfg.learner_settings)
        entry = {
            "wf": WalkForward(cfg, cache_dir=job.cache_dir, learner=learner),
            "last": None,
        }
    _ENGINES[key] = entry  # most recently used last
    return entry


def run_fit_job(job: FitJob) -> FitDone:
    """Run one fit (any process): load it from the cache or train it, then save it there.

    The same :meth:`WalkForward.fit` as the batched backtest: the windows the
    schedule allows at the fit bar, the seed of fit ``k``, warm starts from
    version ``k - 1`` (loaded when this process does not
    hold it, from the cache). Never raises: an error comes back in
    :attr:`FitDone.error`.
    """
    from btlstm.data.cache import load_verified
    from btlstm.forecast.walkforward import MODEL_KIND

    t0 = time.perf_counter()
    try:
        entry = _engine(job)
        wf = entry["wf"]
        prep = wf.prepare(job.frames)
        prep.calendar = np.asarray(job.calendar, dtype="datetime64[ns]")
        path = wf.cache_path(prep, job.bar, job.k)
        if job.k == 0:  # a run's first fit is cold, whatever this process fitted before
            wf.learner.fitted = False
            entry["last"] = None
        warm = job.config.warm_start and job.k > 0 and job.prev_bar is not None
        if warm and entry["last"] != job.k - 1 and not path.exists():
            prev = wf.cache_path(prep, job.prev_bar, job.k - 1)
            if not load_verified(prev, MODEL_KIND, wf.learner.load):
                raise ValueError(f"warm start: the model of fit {job.k} ({prev}) is not usable")
        rec = wf.fit(prep, job.bar, job.k)
        entry["last"] = job.k
        return FitDone(job.k, rec.date, path, rec, None, os.getpid(), time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - reported to the bar loop, which decides
        return FitDone(
            job.k,
            job.date,
            None,
            None,
            traceback.format_exc(),
            os.getpid(),
            time.perf_counter() - t0,
        )


class Fitter:
    """Where fit jobs run. ``submit`` returns a handle at once; ``poll`` returns the
    jobs finished since the last call, oldest first; ``wait`` blocks on one.

    One fitter may serve several predictors: ``poll`` and ``wait`` take the
    ``owner`` of the jobs wanted (:attr:`FitJob.owner`) and leave the others'.
    Use as a context manager (or call :meth:`close`) so a worker is shut down.
    """

    name = ""
    #: True when ``submit`` returns before the fit is done (the bar loop goes on)
    background = True

    def __init__(self):
        self._pending: list = []  # (handle, job) in submit order

    def submit(self, job: FitJob):
        handle = self._start(job)
        self._pending.append((handle, job))
        return handle

    def in_flight(self, owner: str = "") -> list[int]:
        """Fit numbers of ``owner`` submitted and not yet collected."""
        return [job.k for _, job in self._pending if job.owner == owner]

    def _collect(self, entry) -> FitDone:
        self._pending.remove(entry)
        handle, job = entry
        done = self._result(handle)
        if done.k < 0:  # the worker died: say which fit
            done.k, done.date = job.k, job.date
        return done

    def poll(self, owner: str = "") -> list[FitDone]:
        """``owner``'s fits finished since the last call, in submit order (a finished
        fit behind an unfinished one waits for it: versions are installed in order)."""
        out = []
        for entry in [e for e in self._pending if e[1].owner == owner]:
            if not self._done(entry[0]):
                break
            out.append(self._collect(entry))
        return out

    def wait(self, handle) -> list[FitDone]:
        """Block until the job of ``handle`` is done; return it and every job of the
        same owner submitted before it, in submit order."""
        owner = next((job.owner for h, job in self._pending if h is handle), None)
        if owner is None:
            raise ValueError("wait: unknown fit handle")
        out = []
        for entry in [e for e in self._pending if e[1].owner == owner]:
            out.append(self._collect(entry))
            if entry[0] is handle:
                break
        return out

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # the backend
    def _start(self, job):  # pragma: no cover - subclasses
        raise NotImplementedError

    def _done(self, handle) -> bool:  # pragma: no cover
        raise NotImplementedError

    def _result(self, handle) -> FitDone:  # pragma: no cover
        raise NotImplementedError


class InlineFitter(Fitter):
    """Runs each fit at once, in this process and thread (the bar waits for it)."""

    name = "inline"
    background = False

    def _start(self, job):
        return run_fit_job(job)

    def _done(self, handle) -> bool:
        return True

    def _result(self, handle) -> FitDone:
        return handle


class ProcessFitter(Fitter):
    """One worker process (``spawn``: TensorFlow is never forked) runs the fits in order.

    The worker starts at once (not at the first fit), so it is ready when the
    first fit is due.

    Args:
        threads: CPU threads the worker's TensorFlow may use (default 1, so the
            bar loop keeps a core on a small machine).
        preload: modules the worker imports as it starts (e.g. ``("btlstm.learners.models",)``:
            TensorFlow, about 4 s, before the first LSTM fit rather than in it).
    """

    name = "process"

    def __init__(self, threads: int = 1, preload: tuple = ()):
        super().__init__()
        # the bar loop keeps the upper hand: the worker runs at a lower priority (nice 5)
        self._pool = LocalPool(1, int(threads), preload=tuple(preload), nice=5, start=True)

    def _start(self, job):
        try:
            return self._pool.submit(run_fit_job, job)
        except BrokenPool:  # the worker died (killed, out of memory)
            log.warning("the fit worker process died; starting a new one")
            self._pool.restart()
            return self._pool.submit(run_fit_job, job)

    def _done(self, handle) -> bool:
        return handle.done()

    def _result(self, handle) -> FitDone:
        try:
            return handle.result()
        except Exception as e:  # noqa: BLE001 - the worker died (killed, out of memory)
            return FitDone(-1, "", None, None, f"fit worker failed: {e!r}")

    def close(self) -> None:
        self._pool.close(wait=False)


@dataclass
class _RayHandle:
    job: FitJob
    ref: object = None
    done: bool = field(default=False)


class RayFitter(Fitter):
    """Fits as Ray tasks (``ray.init(address=...)``; None starts a local Ray).

    Each job runs :func:`run_fit_job` in a Ray worker, one job at a time (a
    warm start needs the previous fit's model); a worker that does not hold
    that model loads it from the model cache, which must then be a folder
    every Ray node can read. Install Ray with ``pip install 'btlstm[ray]'``.
    """

    name = "ray"

    def __init__(self, address: str | None = None, threads: int = 1):
        super().__init__()
        self._pool = RayPool(1, max(1, int(threads)), address=address,
                             what="[live] fitter = 'ray'", error=ValueError)  # fmt: skip

    def _kick(self) -> None:
        """Mark finished jobs done; start the oldest waiting job when none runs."""
        for handle, _ in self._pending:
            if handle.ref is None:
                handle.ref = self._pool.submit(run_fit_job, handle.job)
                return
            if not handle.done:
                handle.done = handle.ref.done()
                if not handle.done:
                    return

    def submit(self, job: FitJob):
        handle = super().submit(job)
        self._kick()
        return handle

    def _start(self, job):
        return _RayHandle(job)

    def _done(self, handle) -> bool:
        self._kick()
        return handle.done

    def _result(self, handle) -> FitDone:
        if handle.ref is None:  # the oldest job: nothing else runs
            handle.ref = self._pool.submit(run_fit_job, handle.job)
        try:
            return handle.ref.result()
        except Exception as e:  # noqa: BLE001
            return FitDone(-1, "", None, None, f"Ray fit task failed: {e!r}")

    def close(self) -> None:
        self._pool.close()


def make_fitter(
    name: str, threads: int = 1, address: str | None = None, preload: tuple = ()
) -> Fitter:
    """A fitter by name (``"inline"``, ``"process"``, ``"ray"``)."""
    if name == "inline":
        return InlineFitter()
    if name == "process":
        return ProcessFitter(threads=threads, preload=preload)
    if name == "ray":
        return RayFitter(address=address, threads=threads)
    from btlstm._settings import closest

    raise ValueError(f"unknown fitter {name!r}{closest(str(name), FITTERS)} (valid: {FITTERS})")
