"""Where the tasks of a sweep (or of ``--seeds``) run: this process, local processes or Ray.

An engine takes :class:`Task` objects and a module-level task
function (:func:`btlstm.sweep.task.run_task`, or the pipeline's seed run) and
yields ``(task, result)`` as each finishes. Worker processes are spawned
(never forked: TensorFlow may be loaded) and limited to their share of the
cores before TensorFlow starts, by :mod:`btlstm.executor` (the one module that
runs work elsewhere), so the same task gives the same result serially or on
any engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from btlstm.errors import SettingsError
from btlstm.executor import LocalPool, RayPool, thread_env  # thread_env: its old home was here

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


def _task_dict(t) -> dict:
    return {"config": t.config, "seed": t.seed, "settings": t.settings, "key": t.key}


def serial(tasks, task_fn, **_):
    """Run each task in this process, in order; yields ``(task, result)``."""
    for t in tasks:
        yield t, task_fn(_task_dict(t))


def local(tasks, task_fn, workers, threads, setup=None, **_):
    """Run the tasks in a pool of ``workers`` fresh (spawned) processes, each limited to
    ``threads`` threads and prepared by ``setup``; yields ``(task, result)`` as they finish."""
    with LocalPool(workers, threads, setup=setup) as pool:  # unfinished tasks cancelled on exit
        futures = {pool.submit(task_fn, _task_dict(t)): t for t in tasks}
        for fut in pool.as_completed(futures):
            yield futures[fut], fut.result()


def ray_engine(tasks, task_fn, workers, threads, setup=None, address=None, **_):
    """Run the tasks on a Ray cluster (``address``; None: the running Ray instance, else
    a local one with ``workers x threads`` CPUs), ``threads`` CPUs each; yields
    ``(task, result)`` as they finish. Unfinished tasks are cancelled on the way out."""
    pool = RayPool(workers, threads, address=address, setup=setup, what="--engine ray",
                   error=SettingsError)  # fmt: skip
    with pool:
        futures = {pool.submit(task_fn, _task_dict(t)): t for t in tasks}
        for fut in pool.as_completed(futures):
            yield futures[fut], fut.result()


#: ``--engine`` name -> engine: ``engine(tasks, task_fn, workers=, threads=, setup=,
#: address=)`` yields ``(task, result)`` for every task.
ENGINES = {"serial": serial, "local": local, "ray": ray_engine}
