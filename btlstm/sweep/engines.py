"""Where the tasks of a sweep (or of ``--seeds``) run: this process, local processes or Ray.

An engine takes :class:`Task` objects and a module-level task
function (:func:`btlstm.sweep.task.run_task`, or the pipeline's seed run) and
yields ``(task, result)`` as each finishes. Worker processes are spawned
(never forked: TensorFlow may be loaded) and limited to their share of the
cores before TensorFlow starts (:func:`thread_env`), so the same task gives
the same result serially or on any engine.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
from dataclasses import dataclass
from typing import Callable

from btlstm.errors import SettingsError

__all__ = ["ENGINES", "Task", "serial", "local", "ray_engine", "thread_env"]


@dataclass(frozen=True)
class Task:
    """One run of a sweep (or of ``--seeds``): a configuration at one seed; what an
    engine hands its task function (as a dict).

    Attributes:
        config: the configuration's name.
        seed: the model seed.
        settings: the full settings of the run (:meth:`Settings.to_dict` layout).
        key: a hash of ``settings``: a finished run is reused only when it matches.
    """

    config: str
    seed: int
    settings: dict
    key: str

    @property
    def name(self) -> str:
        """File stem of the run: ``<config>__<seed>``."""
        return f"{self.config}__{self.seed}"


_THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def thread_env(threads: int) -> dict:
    """The environment that limits a worker process to ``threads`` threads (TensorFlow,
    OpenMP, MKL; one inter-op thread), set before TensorFlow is imported there."""
    env = {k: str(threads) for k in _THREAD_VARS}
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    return env


def _init_worker(threads: int, setup: Callable | None) -> None:
    """Process-pool initializer: thread limits before TensorFlow is imported (if it is at
    all), then ``setup``."""
    os.environ.update(thread_env(threads))
    _limit_tf_threads(threads)
    if setup is not None:
        setup()


def _limit_tf_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools where it is loaded already (a no-op once it has run
    an op). A process that imports it later reads the same limits from the variables of
    :func:`thread_env`, so a worker whose tasks train no LSTM never imports TensorFlow."""
    tf = sys.modules.get("tensorflow")
    if tf is None:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized in this process
        pass


def _ray_body(task_fn: Callable, task: dict, threads: int, setup: Callable | None) -> dict:
    """The Ray remote body: the same thread limits, ``setup`` and task as the local pool."""
    os.environ.update(thread_env(threads))
    _limit_tf_threads(threads)
    if setup is not None:
        setup()
    return task_fn(task)


def _task_dict(t) -> dict:
    return {"config": t.config, "seed": t.seed, "settings": t.settings, "key": t.key}


def serial(tasks, task_fn, **_):
    """Run each task in this process, in order; yields ``(task, result)``."""
    for t in tasks:
        yield t, task_fn(_task_dict(t))


def local(tasks, task_fn, workers, threads, setup=None, **_):
    """Run the tasks in a pool of ``workers`` fresh (spawned) processes, each limited to
    ``threads`` threads and prepared by ``setup``; yields ``(task, result)`` as they finish."""
    ctx = multiprocessing.get_context("spawn")  # TensorFlow may be loaded here: never fork
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, setup)
    ) as pool:
        futures = {pool.submit(task_fn, _task_dict(t)): t for t in tasks}
        try:
            for fut in cf.as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def ray_engine(tasks, task_fn, workers, threads, setup=None, address=None, **_):
    """Run the tasks on a Ray cluster (``address``; None: a local Ray instance with
    ``workers`` CPUs unless one runs already), ``threads`` CPUs each; yields
    ``(task, result)`` as they finish. Unfinished tasks are cancelled on the way out."""
    try:
        import ray
    except ImportError:
        raise SettingsError(
            "--engine ray needs Ray: pip install 'btlstm[ray]' (or pip install ray)"
        ) from None
    started = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kw)
        started = True
    remote = ray.remote(num_cpus=threads, max_retries=0)(_ray_body).options(
        runtime_env={"env_vars": thread_env(threads)}
    )
    try:
        pending = {remote.remote(task_fn, _task_dict(t), threads, setup): t for t in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        for ref in list(locals().get("pending", {})):
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


#: ``--engine`` name -> engine: ``engine(tasks, task_fn, workers=, threads=, setup=,
#: address=)`` yields ``(task, result)`` for every task.
ENGINES = {"serial": serial, "local": local, "ray": ray_engine}
