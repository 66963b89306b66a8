"""Run a sweep: every task not finished yet, on an engine, resumably; then its report.

:func:`run_sweep` writes ``sweep.json``, runs the missing tasks
(:mod:`btlstm.sweep.engines`), writes each finished one atomically to
``runs/<config>__<seed>.json`` (so an interrupted sweep resumes where it
stopped, and a changed configuration reruns only its own tasks) and then
the report (:func:`btlstm.sweep.report.write_sweep_report`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from btlstm._files import plain_frame
from btlstm.sweep.engines import ENGINES
from btlstm.sweep.report import write_sweep_report
from btlstm.sweep.spec import Sweep, SweepError, json_bytes
from btlstm.sweep.stats import finished_runs
from btlstm.sweep.task import run_task

__all__ = ["SweepResult", "run_sweep"]

log = logging.getLogger("btlstm.sweep")


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes:
        out: the sweep folder.
        runs: ``runs.csv`` as a DataFrame (one row per run).
        summary: per configuration and metric: n, mean, std, median, min, max, ensemble.
        tests: paired tests of each configuration against the reference.
        ran: runs executed by this call; ``reused``: finished runs found in ``out``.
        seconds: wall time of this call.
    """

    out: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    tests: pd.DataFrame
    ran: int
    reused: int
    seconds: float
    paths: dict = field(default_factory=dict)


def _check_out(out, sweep: Sweep) -> Path:
    from btlstm.report.files import ReportError, check_writable_dir

    try:
        path = check_writable_dir(out, "--out")
    except ReportError as e:
        raise SweepError(str(e)) from None
    if path.is_dir() and any(path.iterdir()) and not (path / "sweep.json").exists():
        raise SweepError(
            f"--out: {str(path)!r} is not empty and holds no sweep (no sweep.json); "
            "choose a new folder"
        )
    return path


def run_sweep(
    sweep: Sweep,
    out=None,
    engine: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    setup: Callable | None = None,
    task_fn: Callable | None = None,
    threads: int | None = None,
    plots: bool = True,
) -> SweepResult:
    """Run every task of a sweep not finished yet in ``out``, then write the report.

    Args:
        sweep: from :func:`make_sweep` / :func:`load_sweep` (already validated).
        out: the sweep folder (created; a folder with ``sweep.json`` resumes); None: a
            new run folder ``btlstm-out/sweep-<config>-<time>/``, then ``btlstm-out/latest``.
        engine: ``"local"`` (a process pool), ``"ray"`` (a Ray cluster) or
            ``"serial"`` (this process; for debugging and tests).
        workers: processes (local) or concurrent tasks (a Ray instance this
            call starts); default: the machine's cores.
        address: the Ray cluster address (``ray.init(address=...)``); None
            starts a local Ray instance (unless one is already running).
        progress: a tqdm bar with runs done / remaining and an ETA.
        setup: a module-level function run once in every worker before any
            task (e.g. to register custom regularizer functions there).
        task_fn: the task function (default :func:`btlstm.sweep.task.run_task`; tests
            count calls).
        threads: TensorFlow threads per task (default ``cores // workers``,
            at least 1), set before TensorFlow is imported in the worker.
        plots: write the box plots.

    Returns:
        A :class:`SweepResult`; the files are in ``out``.
    """
    t0 = time.perf_counter()
    if engine not in ENGINES:
        raise SweepError(f"--engine: expected one of {list(ENGINES)}, got {engine!r}")
    cores = os.cpu_count() or 1
    if workers is None:
        workers = cores
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"--workers: expected an integer >= 1, got {workers!r}")
    threads = threads or max(1, cores // workers)
    if out is None:  # a new run folder btlstm-out/sweep-<config>-<time>/ (btlstm.report.runs)
        from btlstm.report.files import ReportError, check_writable_dir
        from btlstm.report.runs import DEFAULT_ROOT, check_latest, new_run_folder, set_latest

        try:  # before any work: the folder can be written, its latest is btlstm's
            check_latest(check_writable_dir(DEFAULT_ROOT, "output folder (no --out)"))
            stem = Path(sweep.source).stem if sweep.source else "grid"
            folder = new_run_folder(DEFAULT_ROOT, "sweep", stem)
        except ReportError as e:
            raise SweepError(str(e)) from None
        try:
            result = run_sweep(sweep, folder, engine=engine, workers=workers, address=address,
                               progress=progress, setup=setup, task_fn=task_fn,
                               threads=threads, plots=plots)  # fmt: skip
        except BaseException:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when still empty
            raise
        set_latest(DEFAULT_ROOT, folder)
        return result
    out = _check_out(out, sweep)
    from btlstm.data.cache import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "sweep.json", json_bytes(sweep.to_dict()))
    tasks = sweep.tasks()
    done = finished_runs(out, tasks)
    todo = [t for t in tasks if t.name not in done]
    log.info(
        "sweep: %d configurations x %d seeds = %d runs; %d finished, %d to run (%s, %d workers)",
        len(sweep.configs), sweep.repeats, len(tasks), len(done), len(todo), engine, workers,
    )  # fmt: skip
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), initial=len(done), unit="run", desc="sweep", file=sys.stderr)
    ran = 0
    try:
        runner = ENGINES[engine]
        for task, result in runner(
            todo,
            task_fn or run_task,
            workers=workers,
            threads=threads,
            setup=setup,
            address=address,
        ):
            atomic_write_bytes(out / "runs" / f"{task.name}.json", json_bytes(result))
            ran += 1
            if bar is not None:
                bar.set_postfix_str(f"{task.name} {result.get('seconds', 0):.0f}s", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    paths = write_sweep_report(out, sweep, plots=plots)
    runs = plain_frame(pd.read_csv(paths["runs.csv"]))  # text as given (csv_bytes)
    summary = plain_frame(pd.read_csv(paths["summary.csv"]))
    tests = plain_frame(pd.read_csv(paths["tests.csv"]))
    return SweepResult(out, runs, summary, tests, ran, len(done), time.perf_counter() - t0, paths)
