"""btlstm.executor: the one module that runs work on local processes or Ray.

Results come back in order, a worker's exception comes back with its message and
its traceback, a worker runs under the thread limits (read back from the worker),
a dead worker is replaced, Ray's pool does the same as the local one (when Ray is
installed), and no other module starts processes or Ray tasks or spells the thread
limits (an AST check of every module of btlstm/ and strategies/).
"""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

import pytest

from btlstm import executor
from btlstm.errors import SettingsError
from btlstm.executor import THREAD_VARS, BrokenPool, LocalPool, thread_env, worker_traceback

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------- task functions
# (module level: a spawned worker imports this module to find them)
def _slow_first(i: int) -> tuple:
    """Item 0 finishes last: ordered results cannot come from finishing order."""
    if i == 0:
        time.sleep(0.5)
    return i, i * i, os.getpid()


def _fails(row: int):
    raise ValueError(f"bad value in row {row} (from the worker)")


def _environment(_=None) -> dict:
    names = THREAD_VARS + ("TF_NUM_INTEROP_THREADS", "BTLSTM_TEST_SETUP")
    return {
        "env": {k: os.environ.get(k) for k in names},
        "nice": os.nice(0) if hasattr(os, "nice") else None,
        "preloaded": "btlstm.synthetic" in sys.modules,
        "pid": os.getpid(),
    }


def _ray_cpus(_=None) -> float:
    import ray

    return ray.get_runtime_context().get_assigned_resources().get("CPU")


def _setup():
    os.environ["BTLSTM_TEST_SETUP"] = "ran"


def _die(_=None):
    os._exit(3)  # the worker process ends without a word (killed, out of memory)


def _tensorflow_threads(_=None) -> tuple:
    before = "tensorflow" in sys.modules
    executor.pin_tensorflow_threads()
    import tensorflow as tf

    return (before, tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())  # fmt: skip


# ----------------------------------------------------------------- thread limits
def test_thread_env_limits_every_library_to_the_share_and_one_inter_op_thread(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    env = thread_env(3)
    assert THREAD_VARS == ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    assert env == {"TF_NUM_INTRAOP_THREADS": "3", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3",
                   "TF_NUM_INTEROP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}  # fmt: skip
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")  # the user's log level travels
    assert thread_env(1)["TF_CPP_MIN_LOG_LEVEL"] == "1"


def test_pinning_outside_a_worker_does_nothing(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setitem(executor._STATE, "pinned", False)
    executor.pin_tensorflow_threads()
    assert executor._STATE["pinned"] is False


# ----------------------------------------------------------------- the local pool
def test_local_pool_gives_results_in_order_from_other_processes():
    with LocalPool(workers=2, threads=1) as pool:
        got = list(pool.map(_slow_first, range(5)))
        assert [(i, sq) for i, sq, _ in got] == [(0, 0), (1, 1), (2, 4), (3, 9), (4, 16)]
        assert os.getpid() not in {pid for *_, pid in got}
        futures = {pool.submit(_slow_first, i): i for i in range(4)}
        finished = [futures[f] for f in pool.as_completed(futures)]
        assert sorted(finished) == [0, 1, 2, 3]
        (first,) = pool.wait([f for f, i in futures.items() if i == 2])
        assert first.result()[:2] == (2, 4)


def test_an_exception_in_a_worker_comes_back_with_its_message_and_traceback():
    with LocalPool(workers=1, threads=1) as pool:
        fut = pool.submit(_fails, 7)
        with pytest.raises(ValueError, match=r"^bad value in row 7 \(from the worker\)$") as e:
            fut.result()
        tb = worker_traceback(e.value)
        assert "_fails" in tb and "bad value in row 7" in tb and 'raise ValueError' in tb
        assert pool.submit(abs, -2).result() == 2  # the worker lives on


def test_a_worker_runs_under_the_thread_limits_preload_setup_and_priority():
    here = os.nice(0)
    with LocalPool(workers=1, threads=3, preload=("btlstm.synthetic",), setup=_setup,
                   nice=2) as pool:  # fmt: skip
        got = pool.submit(_environment).result()
    assert got["env"] == {"TF_NUM_INTRAOP_THREADS": "3", "OMP_NUM_THREADS": "3",
                          "MKL_NUM_THREADS": "3", "TF_NUM_INTEROP_THREADS": "1",
                          "BTLSTM_TEST_SETUP": "ran"}  # fmt: skip
    assert got["preloaded"] is True and got["pid"] != os.getpid()
    assert got["nice"] == min(19, here + 2)
    assert "BTLSTM_TEST_SETUP" not in os.environ  # nothing leaks into this process


def test_a_dead_worker_breaks_the_pool_and_restart_replaces_it():
    with LocalPool(workers=1, threads=1, start=True) as pool:
        before = pool.submit(os.getpid).result()
        with pytest.raises(BrokenPool):
            pool.submit(_die).result()
        with pytest.raises(BrokenPool):
            pool.submit(os.getpid)
        pool.restart()
        after = pool.submit(os.getpid).result()
        assert after not in (before, os.getpid())


def test_a_worker_pins_tensorflow_to_its_share():
    with LocalPool(workers=1, threads=2) as pool:
        before, intra, inter = pool.submit(_tensorflow_threads).result()
    assert (before, intra, inter) == (False, 2, 1)  # a fresh worker: TensorFlow not loaded


def test_make_pool_names_the_engines():
    with executor.make_pool("local", 1, 1, what="x", error=SettingsError) as pool:
        assert isinstance(pool, LocalPool) and pool.workers == 1
    with pytest.raises(ValueError, match=r"unknown engine 'rey' \(valid: \('local', 'ray'\)\)"):
        executor.make_pool("rey", 1, 1)


# ----------------------------------------------------------------- Ray
def test_without_ray_each_user_gets_its_own_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    from btlstm.forecast.walkforward import WalkForward
    from btlstm.live.fitter import make_fitter
    from btlstm.sweep.engines import ray_engine
    from btlstm.synthetic import synthetic_ohlcv

    tail = r" needs Ray: pip install 'btlstm\[ray\]' \(or pip install ray\)$"
    with pytest.raises(SettingsError, match=r"^--engine ray" + tail):
        next(ray_engine([], abs, workers=1, threads=1))
    with pytest.raises(ValueError, match=r"^\[live\] fitter = 'ray'" + tail):
        make_fitter("ray")
    wf = WalkForward(dict(lookback=10, retrain_every=50, min_train=60, learner="ridge",
                          workers=2, engine="ray"))  # fmt: skip
    with pytest.raises(ValueError, match=r"^engine='ray'" + tail):
        wf.predict(synthetic_ohlcv(n=200, seed=1))


@pytest.fixture
def ray():
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()
    # a Ray worker cannot import tests/: this module's task functions travel by value
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ray
    finally:
        ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        ray.shutdown()


def test_ray_pool_starts_its_own_instance_and_shuts_it_down(ray):
    pool = executor.RayPool(workers=1, threads=2)
    assert pool.started and ray.cluster_resources()["CPU"] == 2  # workers x threads
    with pool:
        got = pool.submit(_environment).result()
        assert pool.submit(_ray_cpus).result() == 2  # each task: its threads
    assert got["env"]["OMP_NUM_THREADS"] == "2" and got["env"]["TF_NUM_INTEROP_THREADS"] == "1"
    assert not ray.is_initialized()


def test_ray_pool_has_the_local_pools_interface(ray):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    # 8 threads each on a 2-CPU instance: each task asks for the CPUs there are (1),
    # not for 8 that do not exist (a task Ray could never place)
    with executor.RayPool(workers=2, threads=8, setup=_setup) as pool:
        assert not pool.started
        got = list(pool.map(_slow_first, range(4)))
        assert [(i, sq) for i, sq, _ in got] == [(0, 0), (1, 1), (2, 4), (3, 9)]
        futures = {pool.submit(_slow_first, i): i for i in range(3)}
        assert sorted(futures[f] for f in pool.as_completed(futures)) == [0, 1, 2]
        assert pool.submit(_ray_cpus).result() == 1  # 2 CPUs / 2 workers
        env = pool.submit(_environment).result()
        assert env["env"]["OMP_NUM_THREADS"] == "8" and env["env"]["BTLSTM_TEST_SETUP"] == "ran"
        fut = pool.submit(_fails, 4)
        with pytest.raises(ValueError, match=r"bad value in row 4 \(from the worker\)") as e:
            fut.result()
        assert "_fails" in worker_traceback(e.value)
    assert ray.is_initialized()  # the test's instance stays up: the test shuts it down


# ----------------------------------------------------------------- one module
_MARKS = {
    "ProcessPoolExecutor": "a process pool",
    "get_context": "a multiprocessing context",
    "ray.remote": "a Ray task",
    "ray.init": "a Ray instance",
    "os.nice": "a worker's priority",
}
_NAMES = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _execution(source: str) -> list[str]:
    """What in ``source`` starts workers or spells their thread limits."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            for mark, what in _MARKS.items():
                if name == mark or name.endswith("." + mark):
                    found.append(f"line {node.lineno}: {what} ({name})")
        elif isinstance(node, ast.Constant) and node.value in _NAMES:
            found.append(f"line {node.lineno}: the thread variable {node.value}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "thread_env" in node.name:
            found.append(f"line {node.lineno}: a thread-env helper ({node.name})")
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name) and t.id.endswith("THREAD_VARS"):
                    found.append(f"line {node.lineno}: {t.id}")
    return found


def test_the_check_sees_each_way_of_starting_work():
    src = (
        "import concurrent.futures as cf, multiprocessing, os, ray\n"
        "cf.ProcessPoolExecutor(2)\nmultiprocessing.get_context('spawn')\n"
        "ray.init(num_cpus=2)\nray.remote(num_cpus=1)(abs)\nos.nice(5)\n"
        "_THREAD_VARS = ('OMP_NUM_THREADS',)\n"
        "def _thread_env(n):\n    return {}\n"
        '"""docstrings may say ray.init(address=...) and OMP_NUM_THREADS"""\n'
    )
    assert len(_execution(src)) == 8, _execution(src)


def test_only_the_executor_starts_workers_or_spells_thread_limits():
    offenders = {}
    mine = 0
    for pkg in ("btlstm", "strategies"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            found = _execution(path.read_text(encoding="utf-8"))
            if path == ROOT / "btlstm" / "executor.py":
                mine = len(found)
            elif found:
                offenders[str(path.relative_to(ROOT))] = found
    assert offenders == {}, f"only btlstm/executor.py runs work elsewhere: {offenders}"
    assert mine >= 6  # the check reads the executor itself (it is not skipped by mistake)
