"""Where work runs: worker processes on this machine or a Ray cluster, with their thread limits.

The one module that starts workers. Walk-forward fits
(:mod:`btlstm.forecast.walkforward`), the tasks of a sweep or of ``--seeds``
(:mod:`btlstm.sweep.engines`) and a live run's background fits
(:mod:`btlstm.live.fitter`) all run on a pool from here:

- :class:`LocalPool`: ``workers`` processes of this machine, spawned (never
  forked: TensorFlow may be loaded in the parent, and a forked TensorFlow
  hangs);
- :class:`RayPool`: tasks on a Ray cluster (``address``), or on a Ray instance
  started here with ``workers x threads`` CPUs and shut down on :meth:`close`.

Both have one interface: :meth:`~LocalPool.submit` returns a future
(``done()``, ``result()``, ``cancel()``), :meth:`~LocalPool.wait` blocks until
one of several futures is done, :meth:`~LocalPool.as_completed` yields them as
they finish, :meth:`~LocalPool.map` yields results in submit order, and
:meth:`~LocalPool.close` (or leaving the ``with`` block) cancels what has not
run. An exception raised in a worker comes back from ``result()`` as the same
exception (type and message) with the worker's traceback attached
(:func:`worker_traceback`).

Every worker starts the same way (:func:`start_worker`): the thread limits of
:func:`thread_env` in its environment before TensorFlow is imported there
(so a worker's share of the cores is what it uses, and a result does not
depend on how many workers share the machine), a lower priority if asked,
the modules to preload, then the caller's ``setup``. A worker that trains a
TensorFlow model calls :func:`pin_tensorflow_threads` before its first fit.

Example:
    >>> with LocalPool(workers=2, threads=1) as pool:
    ...     list(pool.map(abs, [-3, 2, -1]))
    [3, 2, 1]
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import sys
import traceback
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

__all__ = [
    "THREAD_VARS",
    "thread_env",
    "pin_tensorflow_threads",
    "limit_loaded_tensorflow",
    "start_worker",
    "worker_traceback",
    "LocalPool",
    "RayPool",
    "RayFuture",
    "BrokenPool",
    "make_pool",
    "POOLS",
]

#: the variables that limit a worker's threads (TensorFlow intra-op, OpenMP, MKL)
THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

#: raised by :meth:`LocalPool.submit` when a worker process died (killed, out of
#: memory); :meth:`LocalPool.restart` starts new ones
BrokenPool = BrokenProcessPool

_RAY_MISSING = "{what} needs Ray: pip install 'btlstm[ray]' (or pip install ray)"

#: this process as a worker: the priority it lowered itself by, TensorFlow pinned
_STATE: dict = {"nice": 0, "pinned": False}


def thread_env(threads: int) -> dict:
    """The environment that limits a worker to ``threads`` threads (TensorFlow, OpenMP,
    MKL; one inter-op thread), read when TensorFlow is imported in the worker.

    Example:
        >>> env = thread_env(2)
        >>> env["OMP_NUM_THREADS"], env["TF_NUM_INTRAOP_THREADS"], env["TF_NUM_INTEROP_THREADS"]
        ('2', '2', '1')
    """
    env = {k: str(int(threads)) for k in THREAD_VARS}
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def thread_limit() -> int | None:
    """The threads this process was limited to by :func:`thread_env` (a worker's share
    of the machine), or None outside a worker (no limit set).

    Example:
        >>> import os
        >>> os.environ.update(thread_env(3)); thread_limit()
        3
        >>> for k in THREAD_VARS: _ = os.environ.pop(k)
        >>> thread_limit() is None
        True
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def limit_loaded_tensorflow(threads: int) -> None:
    """Pin TensorFlow's thread pools where it is loaded already (a no-op once it has run
    an op). A process that imports it later reads the same limits from the variables of
    :func:`thread_env`, so a worker whose tasks train no TensorFlow model never imports it."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except (RuntimeError, AttributeError):  # already initialized here (or a partial import)
        pass


def pin_tensorflow_threads() -> None:
    """Pin TensorFlow's thread pools in this worker once, before its first op, to the
    limit :func:`start_worker` set (``TF_NUM_INTRAOP_THREADS``; one inter-op thread).

    Called before a fit by a learner that ``needs_tensorflow``; it imports
    TensorFlow. Outside a worker (the variable unset) it does nothing.
    """
    if _STATE["pinned"] or "TF_NUM_INTRAOP_THREADS" not in os.environ:
        return
    _STATE["pinned"] = True
    from btlstm._compat import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(
            int(os.environ["TF_NUM_INTRAOP_THREADS"])
        )
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already ran an op here: it read the variables
        pass


def start_worker(threads: int, preload: tuple = (), setup: Callable | None = None,
                 nice: int = 0) -> None:  # fmt: skip
    """Prepare this process to run tasks: the thread limits (before TensorFlow is
    imported), a priority lowered by ``nice`` (best effort, once however often it is
    called), the modules in ``preload`` imported, then ``setup()``.

    A :class:`LocalPool` runs it once in each process it starts; a
    :class:`RayPool` before each task (a Ray worker process may serve several pools).
    """
    os.environ.update(thread_env(threads))
    limit_loaded_tensorflow(threads)
    if nice > _STATE["nice"]:
        try:
            os.nice(nice - _STATE["nice"])
            _STATE["nice"] = nice
        except (AttributeError, OSError):
            pass
    for name in preload:
        importlib.import_module(name)
    if setup is not None:
        setup()


def worker_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as the worker saw it (a local worker's travels as the
    exception's cause; a Ray task's is in its message), else this process's."""
    cause = exc.__cause__
    if cause is not None and type(cause).__name__ == "_RemoteTraceback":
        return str(getattr(cause, "tb", cause))
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class _Pool:
    """What both pools share: waiting, ordered results, the context manager."""

    def submit(self, fn: Callable, *args):  # pragma: no cover - subclasses
        raise NotImplementedError

    def wait(self, futures: Iterable) -> list:  # pragma: no cover - subclasses
        """Block until at least one of ``futures`` is done; return the done ones."""
        raise NotImplementedError

    def as_completed(self, futures: Iterable) -> Iterator:
        """Yield each of ``futures`` as it finishes."""
        left = list(futures)
        while left:
            for fut in self.wait(left):
                left.remove(fut)
                yield fut

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        """``fn(item)`` for each item on the workers; results yielded in the items' order."""
        futures = [self.submit(fn, item) for item in items]
        try:
            for fut in futures:
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self, wait: bool = True) -> None:  # pragma: no cover - subclasses
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalPool(_Pool):
    """Tasks on ``workers`` spawned processes of this machine, each started by
    :func:`start_worker` (``threads`` threads, ``preload``, ``setup``, ``nice``).

    Args:
        workers: processes.
        threads: threads each may use (:func:`thread_env`).
        preload: modules each imports as it starts (e.g. TensorFlow's, so a
            first fit is not slowed by the import).
        setup: a module-level function each runs as it starts.
        nice: lower the workers' priority by this much (a live run's bar loop
            keeps the upper hand).
        start: start the workers now rather than at the first task.
    """

    def __init__(self, workers: int, threads: int, *, preload: tuple = (),
                 setup: Callable | None = None, nice: int = 0, start: bool = False):  # fmt: skip
        self.workers = int(workers)
        self._args = (int(threads), tuple(preload), setup, int(nice))
        self._start = start
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        pool = cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),  # never fork TensorFlow
            initializer=start_worker,
            initargs=self._args,
        )
        if self._start:
            pool.submit(os.getpid)  # the workers start now, not at the first task
        return pool

    def submit(self, fn: Callable, *args) -> cf.Future:
        """Run ``fn(*args)`` on a worker; a :class:`concurrent.futures.Future`. Raises
        :data:`BrokenPool` when a worker died."""
        return self._pool.submit(fn, *args)

    def restart(self) -> None:
        """Drop a broken pool (its pending tasks are lost) and start new workers."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new()

    def wait(self, futures: Iterable) -> list:
        done, _ = cf.wait(list(futures), return_when=cf.FIRST_COMPLETED)
        return list(done)

    def as_completed(self, futures: Iterable) -> Iterator:
        return cf.as_completed(list(futures))

    def close(self, wait: bool = True) -> None:
        """Cancel the tasks not started; ``wait``: until the running ones end."""
        self._pool.shutdown(wait=wait, cancel_futures=True)


class RayFuture:
    """A Ray task's result, with the interface of a :class:`concurrent.futures.Future`."""

    def __init__(self, pool: "RayPool", ref):
        self.pool = pool
        self.ref = ref

    def done(self) -> bool:
        ready, _ = self.pool.ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self):
        """The task's return value; a task's exception is raised here (Ray's error
        type is a subclass of the task's, its message carries the worker's traceback)."""
        try:
            return self.pool.ray.get(self.ref)
        finally:
            self.pool._pending.pop(id(self), None)

    def cancel(self) -> bool:
        if self.pool._pending.pop(id(self), None) is None:
            return False
        self.pool.ray.cancel(self.ref, force=True)
        return True


def _ray_body(args: tuple, fn: Callable, fn_args: tuple):
    """A Ray task: :func:`start_worker` with the pool's arguments, then ``fn(*fn_args)``."""
    start_worker(*args)
    return fn(*fn_args)


class RayPool(_Pool):
    """Tasks on a Ray cluster: ``address``, or with None the running Ray instance,
    else one started here with ``workers x threads`` CPUs (shut down by :meth:`close`).

    Each task asks Ray for ``threads`` CPUs (its share of the cluster's CPUs where
    there are fewer than ``workers x threads``, so no task waits for CPUs that do not
    exist) and runs
    after :func:`start_worker` with the same arguments as a :class:`LocalPool`'s.

    Args:
        workers, threads, preload, setup, nice: as :class:`LocalPool`.
        address: the Ray cluster's address (``ray.init(address=...)``).
        what: how the caller's user names this engine, for the error when Ray is
            not installed (``"--engine ray"``).
        error: the exception type of that error.
    """

    def __init__(self, workers: int, threads: int, *, address: str | None = None,
                 preload: tuple = (), setup: Callable | None = None, nice: int = 0,
                 what: str = "engine='ray'", error: type = ValueError):  # fmt: skip
        try:
            import ray
        except ImportError:
            raise error(_RAY_MISSING.format(what=what)) from None
        self.ray = ray
        self.workers = int(workers)
        threads = int(threads)
        self.started = not ray.is_initialized()
        if self.started:
            kw = {"address": address} if address else {"num_cpus": max(1, self.workers * threads)}
            ray.init(include_dashboard=False, log_to_driver=False, **kw)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        # fewer CPUs than workers x threads: ask for a share of what there is (a task
        # asking for more than the cluster has would never run); none yet (a cluster
        # that scales up on demand): ask for threads
        ask = max(1, min(threads, cpus // max(1, self.workers))) if cpus else threads
        self._args = (threads, tuple(preload), setup, int(nice))
        self._remote = ray.remote(num_cpus=ask, max_retries=0)(_ray_body).options(
            runtime_env={"env_vars": thread_env(threads)}
        )
        self._pending: dict = {}  # id(future) -> future: cancelled on close

    def submit(self, fn: Callable, *args) -> RayFuture:
        """Run ``fn(*args)`` as a Ray task; a :class:`RayFuture`."""
        fut = RayFuture(self, self._remote.remote(self._args, fn, args))
        self._pending[id(fut)] = fut
        return fut

    def wait(self, futures: Iterable) -> list:
        futures = list(futures)
        by_ref = {f.ref: f for f in futures}
        ready, _ = self.ray.wait(list(by_ref), num_returns=1)
        return [by_ref[r] for r in ready]

    def close(self, wait: bool = True) -> None:
        """Cancel every task whose result was not taken; shut down a Ray started here."""
        for fut in list(self._pending.values()):
            fut.cancel()
        self._pending.clear()
        if self.started:
            self.ray.shutdown()
            self.started = False


#: engine name -> pool (``[model] engine``, ``--engine``)
POOLS = {"local": LocalPool, "ray": RayPool}


def make_pool(engine: str, workers: int, threads: int, *, address: str | None = None,
              **kwargs) -> _Pool:  # fmt: skip
    """A :class:`LocalPool` (``"local"``) or a :class:`RayPool` (``"ray"``, at
    ``address``); ``kwargs``: the pools' other arguments."""
    if engine == "ray":
        return RayPool(workers, threads, address=address, **kwargs)
    if engine == "local":
        kwargs.pop("what", None)
        kwargs.pop("error", None)
        return LocalPool(workers, threads, **kwargs)
    raise ValueError(f"unknown engine {engine!r} (valid: {tuple(POOLS)})")
