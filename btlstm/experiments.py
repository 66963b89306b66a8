"""Sweeps: a grid of model settings x seeds, run as independent tasks.

Does weight regularization make the LSTM's out-of-sample forecasts better, by
more than the spread between random seeds? A sweep answers it with
distributions (``docs/experiments.md``):

- a **configuration** is a dict of ``[model]`` overrides (the fields of
  :class:`~btlstm.walkforward.WalkForwardConfig` and of the learner's settings,
  e.g. :class:`~btlstm.learners.lstm.LSTMSettings`) on one base
  :class:`~btlstm.settings.Settings` (data, split, strategy, costs);
- a **task** is one (configuration, seed); every configuration runs the same
  seeds ``seed0 .. seed0 + repeats - 1``, so configurations can be compared
  seed by seed;
- each task trains through :class:`~btlstm.walkforward.WalkForward`, scores
  its out-of-sample predictions with :mod:`btlstm.metrics` and backtests
  them (the configured strategy on a precomputed ``prediction`` line, hold-5
  by default), with no retraining;
- tasks run in this process, in a local process pool or on a Ray cluster;
  each finished task is written atomically to ``runs/<config>__<seed>.json``,
  so an interrupted sweep resumes where it stopped.

Example:
    >>> sweep = make_sweep(
    ...     {"data": {"data": "synthetic", "synthetic": {"n": 300}},
    ...      "model": {"learner": "ridge", "train_start": "2008-01-01",
    ...                "train_end": "2008-09-30", "test_start": "2008-10-01"}},
    ...     {"none": {}, "strong": {"alpha": 100.0}}, repeats=2)
    >>> [(t.config, t.seed) for t in sweep.tasks()]
    [('none', 0), ('none', 1), ('strong', 0), ('strong', 1)]
    >>> regularizer_grid(slots=("kernel",), kinds=("l2",))
    {'none': {}, 'kernel_l2': {'kernel_regularizer': 'l2(0.01)'}}
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import hashlib
import html
import io
import json
import logging
import math
import multiprocessing
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from btlstm._settings import SettingsError, closest
from btlstm.errors import SweepError

__all__ = [
    "METRICS",
    "RUN_COLUMNS",
    "SLOTS",
    "KINDS",
    "SweepError",
    "Sweep",
    "Task",
    "SweepResult",
    "regularizer_spec",
    "regularizer_grid",
    "make_sweep",
    "load_sweep",
    "run_task",
    "run_sweep",
    "evaluate_predictions",
    "collect_runs",
    "summarize",
    "paired_tests",
    "config_returns",
    "sweep_significance",
    "SIGNIFICANCE_KEYS",
    "write_sweep_report",
]

log = logging.getLogger("btlstm.experiments")

#: metrics of one run, in the column order of ``runs.csv``
METRICS = (
    "rmse",
    "hit_rate",
    "ic",
    "rank_ic",
    "loss_gap",
    "epochs",
    "total_return",
    "sharpe",
    "max_drawdown",
)
#: columns of ``runs.csv``
RUN_COLUMNS = ("config", "seed") + METRICS
#: higher is better for these metrics (the others: lower is better)
HIGHER_IS_BETTER = ("hit_rate", "ic", "rank_ic", "total_return", "sharpe")

#: short slot name -> the LSTM setting it fills
SLOTS = {
    "bias": "bias_regularizer",
    "kernel": "kernel_regularizer",
    "recurrent": "recurrent_regularizer",
    "activity": "activity_regularizer",
}
#: regularizer kinds of :func:`regularizer_grid`
KINDS = ("l1", "l2", "l1l2")
#: the reference configuration's name
REFERENCE = "none"

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SWEEP_KEYS = ("repeats", "seed0", "reference", "grid")
_GRID_KEYS = ("slots", "kinds", "strength", "callables", "axes", "reference")
_FORMAT = "btlstm-sweep"


# --------------------------------------------------------------------------- grid
def regularizer_spec(kind: str, strength: float = 0.01) -> str:
    """The spec string of a regularizer kind at a strength.

    Args:
        kind: ``"l1"``, ``"l2"`` or ``"l1l2"`` (both penalties at ``strength``).
        strength: the penalty weight (>= 0).

    Returns:
        A spec string for :func:`btlstm.models.parse_regularizer`.

    Example:
        >>> regularizer_spec("l1l2", 0.001)
        'l1l2(l1=0.001,l2=0.001)'
    """
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or strength < 0:
        raise SweepError(f"strength must be a number >= 0, got {strength!r}")
    if kind == "l1l2":
        return f"l1l2(l1={strength!r},l2={strength!r})"
    if kind in ("l1", "l2"):
        return f"{kind}({strength!r})"
    raise SweepError(
        f"unknown regularizer kind {kind!r}{closest(str(kind), KINDS)} (kinds: {KINDS})"
    )


def regularizer_grid(
    slots=tuple(SLOTS),
    kinds=KINDS,
    strength: float = 0.01,
    callables=(),
    axes: dict | None = None,
    reference: bool = True,
) -> dict[str, dict]:
    """Configurations that regularize one slot at a time (plus further axes).

    Args:
        slots: short slot names: ``bias``, ``kernel`` (the input kernel),
            ``recurrent``, ``activity``.
        kinds: regularizer kinds per slot (``l1``, ``l2``, ``l1l2``).
        strength: penalty weight of every kind (default 0.01).
        callables: spec strings of registered regularizers (``"seed_l1(0.01)"``,
            or the name of a function registered with
            :func:`btlstm.models.register_regularizer_fn`), each put in every slot.
        axes: further one-at-a-time axes, e.g. ``{"dropout": [0.2],
            "lstm_units": [16, 64]}``: one configuration per value.
        reference: start with the unregularized ``"none"`` configuration.

    Returns:
        ``{name: {setting: value}}``, names like ``kernel_l2``, ``dropout_0.2``.

    Example:
        >>> list(regularizer_grid(slots=("kernel", "bias"), kinds=("l1",),
        ...                       axes={"dropout": [0.2]}))
        ['none', 'kernel_l1', 'bias_l1', 'dropout_0.2']
    """
    out: dict[str, dict] = {REFERENCE: {}} if reference else {}
    for slot in slots:
        if slot not in SLOTS:
            raise SweepError(
                f"unknown regularizer slot {slot!r}{closest(str(slot), SLOTS)} "
                f"(slots: {list(SLOTS)})"
            )
        for kind in kinds:
            out[f"{slot}_{kind}"] = {SLOTS[slot]: regularizer_spec(kind, strength)}
        for spec in callables:
            label = re.sub(r"[^A-Za-z0-9_.-]+", "", str(spec).split("(")[0].split(">")[-1])
            out[f"{slot}_{label}"] = {SLOTS[slot]: spec}
    for key, values in (axes or {}).items():
        if not isinstance(values, (list, tuple)):
            raise SweepError(f"axis {key!r}: expected a list of values, got {values!r}")
        for v in values:
            out[f"{key}_{v}"] = {key: v}
    return out


@dataclass(frozen=True)
class Task:
    """One run of a sweep: a configuration at one seed.

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


@dataclass
class Sweep:
    """A validated sweep: base settings, named configurations and seeds.

    Build it with :func:`make_sweep` or :func:`load_sweep` (they validate);
    :meth:`tasks` lists the runs.
    """

    base: dict
    configs: dict
    repeats: int = 10
    seed0: int = 0
    reference: str = REFERENCE
    source: str = ""
    settings: dict = field(default_factory=dict)  # config name -> validated Settings

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed0, self.seed0 + self.repeats))

    def tasks(self) -> list[Task]:
        """Every (configuration, seed) run, configuration by configuration."""
        out = []
        for name in self.configs:
            s = self.settings[name]
            for seed in self.seeds:
                d = s.to_dict()
                d["model"]["seed"] = seed
                d["output"] = {}
                out.append(Task(name, seed, d, _hash(d)))
        return out

    def to_dict(self) -> dict:
        return {
            "format": _FORMAT,
            "base": self.base,
            "configs": self.configs,
            "repeats": self.repeats,
            "seed0": self.seed0,
            "reference": self.reference,
        }


def _hash(d: dict) -> str:
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_sweep(
    base,
    configs: dict,
    repeats: int = 10,
    seed0: int = 0,
    reference: str | None = None,
    source: str = "",
) -> Sweep:
    """Validate a sweep before any work: every configuration's settings are built and checked.

    Args:
        base: the base settings, a sectioned dict (TOML layout: ``data``,
            ``model``, ``strategy``, ``costs``) or a :class:`~btlstm.settings.Settings`.
            Defaults are the ``hold`` strategy's: the seed's CSI 300 static split.
        configs: ``{name: {model key: value}}``; each dict overrides ``[model]``.
        repeats: seeds per configuration (R).
        seed0: the first seed.
        reference: the configuration the others are tested against (default
            ``"none"`` if present, else the first).
        source: where the sweep came from (a file), for messages.

    Returns:
        A :class:`Sweep`.

    Raises:
        SweepError: an unknown key or slot, a bad regularizer spec or value,
            naming the configuration and the key.
    """
    from btlstm.settings import Settings

    where_file = f" in {source}" if source else ""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise SweepError(f"[sweep] repeats{where_file}: expected an integer >= 1, got {repeats!r}")
    if isinstance(seed0, bool) or not isinstance(seed0, int) or seed0 < 0:
        raise SweepError(f"[sweep] seed0{where_file}: expected an integer >= 0, got {seed0!r}")
    if not isinstance(configs, dict) or not configs:
        raise SweepError(f"the sweep{where_file} has no configuration")
    if isinstance(base, Settings):
        base = base.to_dict()
        base.pop("output", None)
    base = {k: dict(v) if isinstance(v, dict) else v for k, v in (base or {}).items()}
    if "output" in base:
        raise SweepError(f"[output]{where_file}: a sweep writes to --out, not [output]")
    nested = Settings.nest(base, where=where_file) if base else {}
    data = nested.setdefault("data", {})
    if data.get("data") == "synthetic":  # the same prices for every seed
        syn = dict(data.get("synthetic") or {})
        syn.setdefault("seed", 0)
        data["synthetic"] = syn
    built: dict = {}
    for name, over in configs.items():
        label = f"configuration {name!r}{where_file}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise SweepError(
                f"{label}: a name is 1-64 letters, digits, '_', '.', '-' (it names files)"
            )
        if not isinstance(over, dict):
            raise SweepError(f"{label}: expected a table of [model] settings, got {over!r}")
        for k in over:
            if k in ("seed", "name"):
                raise SweepError(f"{label}: {k!r} is set by the sweep, not per configuration")
        model = {**nested.get("model", {}), **over}
        d = {**nested, "model": model}
        origins = {("model", k): f"{label}: {k}" for k in over}
        try:
            s = Settings.from_dict(d, origins=origins)
            s.validate(check_paths=False)
            if s.data.data != "synthetic":
                s._check_paths()  # the data source, not the (unused) output folder
        except SettingsError as e:
            raise SweepError(_label(str(e), label, over)) from None
        except ValueError as e:  # a learner refusing a value
            raise SweepError(f"{label}: {e}") from None
        plan = _plan(s)
        if plan.data != "frame" or "signal" not in plan.strategy.params._getkeys():
            raise SweepError(
                f"[strategy] name{where_file}: a sweep backtests a precomputed prediction line; "
                f"strategy {s.strategy.name!r} does not trade one feed on a 'signal' line"
            )
        built[name] = s
    if reference is None:
        reference = REFERENCE if REFERENCE in configs else next(iter(configs))
    if reference not in configs:
        raise SweepError(
            f"[sweep] reference{where_file}: {reference!r} is not a configuration"
            f"{closest(reference, configs)}"
        )
    return Sweep(base, dict(configs), repeats, seed0, reference, source, built)


def _label(msg: str, label: str, over: dict) -> str:
    """A settings error that names the configuration (it names the key already)."""
    if label in msg:
        return msg
    return f"{label}: {msg}"


def _plan(settings):
    from btlstm import registry

    return registry.get(settings.strategy.name)


def load_sweep(path, repeats: int | None = None) -> Sweep:
    """Read a sweep TOML file and validate it (:func:`make_sweep`).

    The file holds the base settings (``[data]``, ``[model]``, ``[strategy]``,
    ``[costs]``), a ``[sweep]`` table (``repeats``, ``seed0``, ``reference``
    and an optional ``[sweep.grid]`` for :func:`regularizer_grid`) and any
    number of named configurations::

        [[config]]
        name = "kernel_l2"
        kernel_regularizer = "l2(0.01)"

    Args:
        path: the TOML file.
        repeats: overrides ``[sweep] repeats`` (``--repeats``).
    """
    from btlstm.settings import load_toml

    d = load_toml(path)
    where = f" in {path}"
    sweep = d.pop("sweep", {}) or {}
    entries = d.pop("config", []) or []
    if not isinstance(sweep, dict):
        raise SweepError(f"'sweep'{where} must be a [sweep] table, got {sweep!r}")
    for k in sweep:
        if k not in _SWEEP_KEYS:
            raise SweepError(f"unknown key [sweep] {k!r}{where}{closest(k, _SWEEP_KEYS)}")
    configs: dict = {}
    grid = sweep.get("grid")
    if grid is not None:
        if not isinstance(grid, dict):
            raise SweepError(f"[sweep] grid{where} must be a table, got {grid!r}")
        for k in grid:
            if k not in _GRID_KEYS:
                raise SweepError(f"unknown key [sweep.grid] {k!r}{where}{closest(k, _GRID_KEYS)}")
        try:
            configs.update(regularizer_grid(**grid))
        except SweepError as e:
            raise SweepError(f"[sweep.grid]{where}: {e}") from None
    if not isinstance(entries, list):
        raise SweepError(f"'config'{where} must be a list of [[config]] tables, got {entries!r}")
    for i, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or "name" not in entry:
            raise SweepError(f'[[config]] number {i}{where}: needs a name = "..."')
        entry = dict(entry)
        name = entry.pop("name")
        if name in configs:
            raise SweepError(f"[[config]] {name!r}{where}: the name is used twice")
        configs[name] = entry
    r = repeats if repeats is not None else sweep.get("repeats", 10)
    return make_sweep(
        d,
        configs,
        repeats=r,
        seed0=sweep.get("seed0", 0),
        reference=sweep.get("reference"),
        source=str(path),
    )


# --------------------------------------------------------------------------- one task
_DATA: dict = {}


def _frame(settings) -> pd.DataFrame:
    """The run's frame, loaded once per process."""
    from btlstm.pipeline import load_data

    key = json.dumps(settings.to_dict()["data"], sort_keys=True) + str(
        (settings.model.train_start, settings.model.test_end)
    )
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_data(settings)
    return _DATA[key]


def _tracked_walkforward():
    from btlstm.walkforward import WalkForward, _predict_batches

    class TrackedWalkForward(WalkForward):
        """WalkForward that also measures each fitted model's MSE on its own training windows."""

        train_mse: list

        def fit(self, prep, i, k, total=None):
            rec = super().fit(prep, i, k, total)
            X, y, _, _ = self.training_set(prep, i)
            if len(X):
                p = _predict_batches(self.learner.predictor(1), X, 512)
                self.train_mse.append(float(np.mean((p - y) ** 2)))
            return rec

    return TrackedWalkForward


def evaluate_predictions(frame: pd.DataFrame, settings, pred: np.ndarray) -> dict:
    """Score and backtest one prediction line (one value per bar of ``frame``).

    Out-of-sample bars are those from ``model.test_start`` on (the pipeline's
    test period). Returns ``rmse`` (against the clipped, scaled target),
    ``hit_rate``, ``ic``, ``rank_ic`` (against the realised forward return,
    :mod:`btlstm.metrics`), ``test_mse`` and, from a backtest of the
    configured strategy on the precomputed ``prediction`` line,
    ``total_return``, ``sharpe`` and ``max_drawdown``
    (:func:`btlstm.analyzers.summary_row`) and ``returns``, its daily returns
    on the test bars (from the starting cash; None for NaN).
    """
    import backtrader as bt

    from btlstm.analyzers import add_standard_analyzers, summary_row
    from btlstm.broker import setup_broker
    from btlstm.features import target_from_return
    from btlstm.feeds import make_feed
    from btlstm.metrics import forward_returns, prediction_quality
    from btlstm.significance import daily_returns

    m = settings.model
    pred = np.asarray(pred, dtype=float)
    test = np.ones(len(frame), bool)
    if m.test_start is not None:
        test &= frame.index >= pd.Timestamp(m.test_start)
    close = frame["close"].to_numpy(dtype=float)
    real = forward_returns(close, m.horizon)
    target = target_from_return(real, m.clip, m.scale)
    p, t = pred[test], target[test]
    ok = np.isfinite(p) & np.isfinite(t)
    mse = float(np.mean((p[ok] - t[ok]) ** 2)) if ok.any() else math.nan
    q = prediction_quality(p, real[test])
    out = {
        "rmse": math.sqrt(mse),
        "test_mse": mse,
        "hit_rate": q["hit_rate"],
        "ic": q["ic"],
        "rank_ic": q["rank_ic"],
        "n_test": int(ok.sum()),
    }
    feed_frame = frame.loc[test].copy()
    feed_frame["prediction"] = pred[test]
    feed_frame.attrs = dict(frame.attrs)
    c = settings.costs
    cerebro = bt.Cerebro(stdstats=False)
    name = frame.attrs.get("symbol") or settings.data.data
    cerebro.adddata(make_feed(feed_frame, name=name, extra_lines=("prediction",)))
    setup_broker(cerebro, cash=c.cash, commission=c.commission, slippage_perc=c.slippage)
    params = dict(settings.strategy.params)
    params["signal"] = "prediction"
    cerebro.addstrategy(_plan(settings).strategy, **params)
    add_standard_analyzers(cerebro, riskfree=0.0)
    strat = cerebro.run()[0]
    row = summary_row(strat, "strategy")
    out.update({k: row[k] for k in ("total_return", "sharpe", "max_drawdown")})
    bench = strat.analyzers.benchmark.get_analysis()
    returns = daily_returns(bench["series"]["values"], bench["start_value"])
    out["returns"] = [float(v) if math.isfinite(v) else None for v in returns]
    return out


def run_task(task: Task | dict) -> dict:
    """Train, predict, score and backtest one run; returns plain data (JSON types).

    The function every engine runs (in this process, a worker process or a
    Ray worker). Its result holds the metrics of :data:`METRICS`, the fits
    and the out-of-sample predictions (for the seed ensemble).
    """
    from btlstm.settings import Settings

    t0 = time.perf_counter()
    if isinstance(task, dict):
        task = Task(**task)
    settings = Settings.from_dict(task.settings)
    frame = _frame(settings)
    wf = _tracked_walkforward()(settings.model)
    wf.train_mse = []
    pred = wf.predict(frame)
    scores = evaluate_predictions(frame, settings, pred)
    train_mse = float(np.mean(wf.train_mse)) if wf.train_mse else math.nan
    fits = [f for f in wf.fits if not f.cached]
    epochs = float(np.mean([f.epochs for f in fits])) if fits else math.nan
    test = np.ones(len(frame), bool)
    if settings.model.test_start is not None:
        test &= frame.index >= pd.Timestamp(settings.model.test_start)
    result = {
        "format": _FORMAT,
        "config": task.config,
        "seed": task.seed,
        "key": task.key,
        "rmse": scores["rmse"],
        "hit_rate": scores["hit_rate"],
        "ic": scores["ic"],
        "rank_ic": scores["rank_ic"],
        "loss_gap": scores["test_mse"] - train_mse,
        "epochs": epochs,
        "total_return": scores["total_return"],
        "sharpe": scores["sharpe"],
        "max_drawdown": scores["max_drawdown"],
        "train_mse": train_mse,
        "test_mse": scores["test_mse"],
        "n_test": scores["n_test"],
        "fits": [
            {
                "date": f.date,
                "n_samples": f.n_samples,
                "epochs": f.epochs,
                "loss": f.loss,
                "val_loss": f.val_loss,
            }
            for f in wf.fits
        ],  # fmt: skip
        "dates": [str(d.date()) for d in frame.index[test]],
        "returns": scores["returns"],  # the backtest's daily returns on those dates
        "predictions": [None if not math.isfinite(v) else float(v) for v in pred[test]],
        "seconds": round(time.perf_counter() - t0, 2),
        "pid": os.getpid(),
    }
    return json.loads(json.dumps(result, default=_jsonable))


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return str(v)


# --------------------------------------------------------------------------- engines
_THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _thread_env(threads: int) -> dict:
    env = {k: str(threads) for k in _THREAD_VARS}
    env["TF_NUM_INTEROP_THREADS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    return env


def _init_worker(threads: int, setup: Callable | None) -> None:
    """Process-pool initializer: thread limits BEFORE TensorFlow is imported, then ``setup``."""
    os.environ.update(_thread_env(threads))
    _limit_tf_threads(threads)
    if setup is not None:
        setup()


def _limit_tf_threads(threads: int) -> None:
    """Pin TensorFlow's thread pools (a no-op once TensorFlow has run an op)."""
    from btlstm._compat import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialized in this process
        pass


def _ray_task(task: dict, threads: int, setup: Callable | None) -> dict:
    """The Ray remote body: same thread limits and task as the local pool."""
    os.environ.update(_thread_env(threads))
    _limit_tf_threads(threads)
    if setup is not None:
        setup()
    return run_task(task)


def _task_dict(t: Task) -> dict:
    return {"config": t.config, "seed": t.seed, "settings": t.settings, "key": t.key}


def _serial(tasks, task_fn, **_):
    for t in tasks:
        yield t, task_fn(_task_dict(t))


def _local(tasks, task_fn, workers, threads, setup, **_):
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


def _ray(tasks, task_fn, workers, threads, setup, address=None, **_):
    try:
        import ray
    except ImportError:
        raise SweepError(
            "--engine ray needs Ray: pip install 'btlstm[ray]' (or pip install ray)"
        ) from None
    started = False
    if not ray.is_initialized():
        kw = {"address": address} if address else {"num_cpus": workers}
        ray.init(include_dashboard=False, log_to_driver=False, **kw)
        started = True
    body = _ray_task if task_fn is run_task else _wrap_ray(task_fn)
    remote = ray.remote(num_cpus=threads, max_retries=0)(body).options(
        runtime_env={"env_vars": _thread_env(threads)}
    )
    try:
        pending = {remote.remote(_task_dict(t), threads, setup): t for t in tasks}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                yield pending.pop(ref), ray.get(ref)
    finally:
        for ref in list(locals().get("pending", {})):
            ray.cancel(ref, force=True)
        if started:
            ray.shutdown()


def _wrap_ray(task_fn):
    def body(task, threads, setup):
        os.environ.update(_thread_env(threads))
        if setup is not None:
            setup()
        return task_fn(task)

    return body


_ENGINES = {"serial": _serial, "local": _local, "ray": _ray}


# --------------------------------------------------------------------------- the sweep
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


def _done(out: Path, tasks: list[Task]) -> dict[str, dict]:
    """Finished runs in ``out/runs`` whose settings match the task (by key)."""
    found = {}
    for t in tasks:
        p = out / "runs" / f"{t.name}.json"
        if not p.exists():
            continue
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            log.warning("unreadable run file %s: running it again", p)
            continue
        if d.get("key") == t.key and d.get("format") == _FORMAT:
            found[t.name] = d
        else:
            log.info("run %s was made with other settings: running it again", t.name)
    return found


def run_sweep(
    sweep: Sweep,
    out,
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
        out: the sweep folder (created; a folder with ``sweep.json`` resumes).
        engine: ``"local"`` (a process pool), ``"ray"`` (a Ray cluster) or
            ``"serial"`` (this process; for debugging and tests).
        workers: processes (local) or concurrent tasks (a Ray instance this
            call starts); default: the machine's cores.
        address: the Ray cluster address (``ray.init(address=...)``); None
            starts a local Ray instance (unless one is already running).
        progress: a tqdm bar with runs done / remaining and an ETA.
        setup: a module-level function run once in every worker before any
            task (e.g. to register custom regularizer functions there).
        task_fn: the task function (default :func:`run_task`; tests count calls).
        threads: TensorFlow threads per task (default ``cores // workers``,
            at least 1), set before TensorFlow is imported in the worker.
        plots: write the box plots.

    Returns:
        A :class:`SweepResult`; the files are in ``out``.
    """
    t0 = time.perf_counter()
    if engine not in _ENGINES:
        raise SweepError(f"--engine: expected one of {list(_ENGINES)}, got {engine!r}")
    cores = os.cpu_count() or 1
    if workers is None:
        workers = cores
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"--workers: expected an integer >= 1, got {workers!r}")
    threads = threads or max(1, cores // workers)
    out = _check_out(out, sweep)
    from btlstm.data.cache import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "sweep.json", _json_bytes(sweep.to_dict()))
    tasks = sweep.tasks()
    done = _done(out, tasks)
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
        runner = _ENGINES[engine]
        for task, result in runner(
            todo,
            task_fn or run_task,
            workers=workers,
            threads=threads,
            setup=setup,
            address=address,
        ):
            atomic_write_bytes(out / "runs" / f"{task.name}.json", _json_bytes(result))
            ran += 1
            if bar is not None:
                bar.set_postfix_str(f"{task.name} {result.get('seconds', 0):.0f}s", refresh=False)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    paths = write_sweep_report(out, sweep, plots=plots)
    runs = pd.read_csv(paths["runs.csv"])
    summary = pd.read_csv(paths["summary.csv"])
    tests = pd.read_csv(paths["tests.csv"])
    return SweepResult(out, runs, summary, tests, ran, len(done), time.perf_counter() - t0, paths)


def _json_bytes(d) -> bytes:
    return (json.dumps(d, indent=1, default=_jsonable, allow_nan=True) + "\n").encode()


# --------------------------------------------------------------------------- results
def collect_runs(out, sweep: Sweep | None = None) -> tuple[pd.DataFrame, dict]:
    """``runs.csv`` rows and the run dicts from ``out/runs`` (only this sweep's, when given)."""
    out = Path(out)
    if sweep is not None:
        tasks = sweep.tasks()
        found = _done(out, tasks)
        order = [t.name for t in tasks if t.name in found]
        runs = {n: found[n] for n in order}
    else:
        runs = {}
        for p in sorted((out / "runs").glob("*.json")):
            runs[p.stem] = json.loads(p.read_text())
    rows = [{k: r.get(k, math.nan) for k in RUN_COLUMNS} for r in runs.values()]
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for k in METRICS:
        frame[k] = pd.to_numeric(frame[k], errors="coerce").astype(float)
    return frame, runs


def _full_line(frame: pd.DataFrame, settings, test_values: np.ndarray) -> np.ndarray:
    """A prediction line over the whole frame from its values on the test bars."""
    full = np.full(len(frame), np.nan)
    test = np.ones(len(frame), bool)
    if settings.model.test_start is not None:
        test &= frame.index >= pd.Timestamp(settings.model.test_start)
    full[test] = test_values
    return full


def _ensemble(sweep: Sweep, runs: dict) -> pd.DataFrame:
    """One row per configuration: the metrics of the mean prediction of its seeds."""
    rows = []
    for name in sweep.configs:
        mine = [r for r in runs.values() if r["config"] == name]
        if not mine:
            continue
        settings = sweep.settings[name]
        frame = _frame(settings)
        preds = np.array([[np.nan if v is None else v for v in r["predictions"]] for r in mine])
        mean = np.nanmean(preds, axis=0) if preds.size else preds
        s = evaluate_predictions(frame, settings, _full_line(frame, settings, mean))
        row = {"config": name, "seed": "ensemble", "n_seeds": len(mine)}
        row.update({k: s.get(k, math.nan) for k in METRICS})
        row["loss_gap"] = math.nan
        row["epochs"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["config", "seed", "n_seeds", *METRICS])


def summarize(runs: pd.DataFrame, ensemble: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per configuration and metric: n, mean, std, median, min, max (and the ensemble's value).

    Example:
        >>> runs = pd.DataFrame({"config": ["a", "a", "b"], "seed": [0, 1, 0],
        ...                      **{m: [1.0, 3.0, 2.0] for m in METRICS}})
        >>> summarize(runs).query("metric == 'rmse'")[["config", "n", "mean", "max"]]
          config  n  mean  max
        0      a  2   2.0  3.0
        9      b  1   2.0  2.0
    """
    rows = []
    order = list(dict.fromkeys(runs["config"]))
    ens = {}
    if ensemble is not None and len(ensemble):
        ens = ensemble.set_index("config")
    for name in order:
        g = runs[runs["config"] == name]
        for m in METRICS:
            v = g[m].astype(float).dropna()
            rows.append(
                {
                    "config": name,
                    "metric": m,
                    "n": len(v),
                    "mean": v.mean() if len(v) else math.nan,
                    "std": v.std(ddof=1) if len(v) > 1 else math.nan,
                    "median": v.median() if len(v) else math.nan,
                    "min": v.min() if len(v) else math.nan,
                    "max": v.max() if len(v) else math.nan,
                    "ensemble": float(ens.loc[name, m])
                    if name in getattr(ens, "index", ())
                    else math.nan,
                }
            )
    return pd.DataFrame(rows)


def paired_tests(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Each configuration against ``reference`` on the same seeds, metric by metric.

    Columns: ``config``, ``metric``, ``n`` (paired seeds), ``mean_diff``
    (configuration minus reference), ``better`` (seeds where the
    configuration is better), ``wilcoxon_p`` (two-sided Wilcoxon signed-rank;
    NaN when every difference is 0 or fewer than 2 pairs) and ``ttest_p``
    (two-sided paired t-test). With 5 seeds the smallest possible Wilcoxon
    p-value is 0.0625: read ``better`` and the box plots too. ``p_holm`` and
    ``p_bh`` are ``ttest_p`` adjusted for testing every configuration
    against the reference on the same metric (Holm: family-wise error;
    Benjamini-Hochberg: false discovery rate; ``statsmodels`` ``multipletests``).
    """
    from scipy import stats

    from btlstm.significance import adjust_pvalues

    rows = []
    if reference not in set(runs["config"]):
        return pd.DataFrame(columns=_TEST_COLUMNS)
    ref = runs[runs["config"] == reference].set_index("seed")
    for name in dict.fromkeys(runs["config"]):
        if name == reference:
            continue
        g = runs[runs["config"] == name].set_index("seed")
        seeds = [s for s in g.index if s in ref.index]
        for m in METRICS:
            a = g.loc[seeds, m].astype(float).to_numpy()
            b = ref.loc[seeds, m].astype(float).to_numpy()
            ok = np.isfinite(a) & np.isfinite(b)
            d = a[ok] - b[ok]
            sign = 1 if m in HIGHER_IS_BETTER else -1
            wp = tp = math.nan
            if len(d) >= 2 and np.any(d != 0):
                try:
                    wp = float(stats.wilcoxon(a[ok], b[ok]).pvalue)
                except ValueError:
                    pass
                if np.std(d) > 0:
                    tp = float(stats.ttest_rel(a[ok], b[ok]).pvalue)
            rows.append(
                {
                    "config": name,
                    "metric": m,
                    "n": int(len(d)),
                    "mean_diff": float(d.mean()) if len(d) else math.nan,
                    "better": int(np.sum(sign * d > 0)),
                    "wilcoxon_p": wp,
                    "ttest_p": tp,
                }
            )
    out = pd.DataFrame(rows, columns=_TEST_COLUMNS)
    for idx in out.groupby("metric", sort=False).groups.values():
        p = out.loc[idx, "ttest_p"].to_numpy(dtype=float)
        out.loc[idx, "p_holm"] = adjust_pvalues(p, "holm")
        out.loc[idx, "p_bh"] = adjust_pvalues(p, "fdr_bh")
    return out


_TEST_COLUMNS = [
    "config",
    "metric",
    "n",
    "mean_diff",
    "better",
    "wilcoxon_p",
    "ttest_p",
    "p_holm",
    "p_bh",
]


def _run_returns(sweep: Sweep, run: dict) -> pd.Series:
    """A run's daily backtest returns by date; a run file written before they were kept
    is backtested again from its stored predictions (the same numbers)."""
    values = run.get("returns")
    if values is None:
        settings = sweep.settings[run["config"]]
        frame = _frame(settings)
        pred = np.array([np.nan if v is None else v for v in run["predictions"]], dtype=float)
        values = evaluate_predictions(frame, settings, _full_line(frame, settings, pred))["returns"]
    return pd.Series(
        np.array([np.nan if v is None else v for v in values], dtype=float),
        index=pd.to_datetime(run["dates"]),
    )


def config_returns(sweep: Sweep, runs: dict) -> pd.DataFrame:
    """Each configuration's daily returns: the mean over its seeds of their backtests'
    daily returns (an equal-weight portfolio of the seeds), dates x configurations."""
    cols = {}
    for name in sweep.configs:
        mine = [_run_returns(sweep, r) for r in runs.values() if r["config"] == name]
        if mine:
            cols[name] = pd.concat(mine, axis=1).mean(axis=1)
    return pd.DataFrame(cols)


SIGNIFICANCE_KEYS = ("reference", "spa_p", "stepm", "dsr_best", "verdict")
"""Keys of ``significance.json`` a reader can count on (see :func:`sweep_significance`)."""


def sweep_significance(sweep: Sweep, runs: pd.DataFrame, by_name: dict) -> dict:
    """Is any configuration better than the reference, given how many were tried?

    Each configuration's daily returns are the mean over its seeds
    (:func:`config_returns`), on the dates every configuration has.

    - ``spa_p``: Hansen's SPA p-value (consistent) for "no configuration's
      expected daily return exceeds the reference's"
      (:func:`btlstm.significance.spa_test`, seeded);
    - ``stepm``: the configurations Romano-Wolf's StepM finds better than the
      reference at 5%, family-wise (:func:`btlstm.significance.stepm_test`);
    - ``dsr_best``: the configuration with the highest mean Sharpe ratio over
      its seeds, and the deflated Sharpe ratio of its seed-average returns with
      N = the runs (configurations x seeds) and the variance of all their
      Sharpe ratios: ``{config, value, n_trials, sharpe, sr0}``;
    - ``verdict``: the above in one sentence; ``evidence``: StepM found a
      configuration and the best one's DSR is at least 0.95.

    Returns:
        A plain-JSON dict (``significance.json``).
    """
    from btlstm import significance as sig

    ref = sweep.reference
    rets = config_returns(sweep, by_name).dropna()
    others = [c for c in rets.columns if c != ref]
    out = {
        "reference": ref,
        "n_configs": int(runs["config"].nunique()),
        "n_runs": len(runs),
        "n_days": len(rets),
        "returns": "each configuration's daily backtest returns, averaged over its seeds",
        "spa_p": None,
        "spa": None,
        "stepm": [],
        "dsr_best": None,
    }
    if ref in rets and others and len(rets) > 10:
        spa = sig.spa_test(rets[ref], rets[others], seed=sig.BOOTSTRAP_SEED)
        out.update(spa_p=spa["p"], spa=spa, stepm=sig.stepm_test(rets[ref], rets[others]))
    means = runs.groupby("config", sort=False)["sharpe"].mean().dropna()
    if len(means) and means.idxmax() in rets:
        best = str(means.idxmax())
        sharpe = sig.sharpe_test(rets[best])
        dsr = sig.deflated_sharpe_ratio(sharpe, max(1, len(runs)), runs["sharpe"].dropna())
        out["dsr_best"] = {
            "config": best,
            "value": dsr["value"],
            "n_trials": dsr["n_trials"],
            "sharpe": sharpe["value"],
            "mean_seed_sharpe": float(means[best]),
            "sr0": dsr["sr0"],
        }
    best = out["dsr_best"] or {}
    ok_dsr = (best.get("value") or 0.0) >= sig.DSR_MIN
    out["evidence"] = bool(out["stepm"]) and ok_dsr
    p = out["spa_p"]
    parts = [
        f"SPA p {p:.3f} for 'no configuration beats {ref}'" if p is not None else "no SPA test",
        "StepM: " + (", ".join(out["stepm"]) or "none") + f" better than {ref} at 5%",
    ]
    if best:
        parts.append(
            f"best {best['config']} (mean Sharpe {best['mean_seed_sharpe']:.2f}): deflated Sharpe "
            f"ratio {best['value']:.2f} over {best['n_trials']} trials"
        )
    head = (
        f"evidence that {', '.join(out['stepm'])} beat{'s' if len(out['stepm']) == 1 else ''} {ref}"
        if out["evidence"]
        else f"no evidence that any configuration beats {ref}"
    )
    out["verdict"] = head + ": " + "; ".join(parts)
    return json.loads(json.dumps(out, default=_jsonable))


def _boxplots(runs: pd.DataFrame, ensemble: pd.DataFrame, reference: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    order = list(dict.fromkeys(runs["config"]))
    if reference in order:
        order.remove(reference)
        order.insert(0, reference)
    ncol = 3
    nrow = math.ceil(len(METRICS) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 0.4 * len(order) * nrow + 2.5 * nrow))
    ens = ensemble.set_index("config") if len(ensemble) else None
    for ax, m in zip(np.ravel(axes), METRICS):
        data = [runs.loc[runs["config"] == c, m].dropna().to_numpy() for c in order]
        ax.boxplot(data, vert=False, showmeans=True)
        ax.set_yticks(range(1, len(order) + 1), order, fontsize=8)
        ax.invert_yaxis()
        if ens is not None and m not in ("loss_gap", "epochs"):
            xs = [ens.loc[c, m] if c in ens.index else np.nan for c in order]
            ax.plot(xs, range(1, len(order) + 1), "x", color="tab:red", label="seed ensemble")
        ax.set_title(m + (" (higher is better)" if m in HIGHER_IS_BETTER else ""), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in np.ravel(axes)[len(METRICS) :]:
        ax.axis("off")
    handles, labels = np.ravel(axes)[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _verdict_html(verdict: dict) -> list:
    if not verdict:
        return []
    esc = html.escape
    cls = "yes" if verdict.get("evidence") else "no"
    best = verdict.get("dsr_best") or {}
    spa = verdict.get("spa_p")
    rows = [
        ("reference", esc(str(verdict.get("reference")))),
        ("Hansen's SPA p-value (no configuration beats the reference)",
         "n/a" if spa is None else f"{spa:.3f}"),
        ("StepM: configurations better than the reference (5%, family-wise)",
         esc(", ".join(verdict.get("stepm") or []) or "none")),
        ("best configuration (mean Sharpe over its seeds)",
         esc(f"{best.get('config')} ({best.get('mean_seed_sharpe', float('nan')):.2f})")
         if best else "n/a"),
        ("its deflated Sharpe ratio",
         f"{best.get('value', float('nan')):.3f} over N = {best.get('n_trials')} trials "
         f"(SR0 {best.get('sr0', float('nan')):.2f})" if best else "n/a"),
    ]  # fmt: skip
    body = "".join(f"<tr><td style='text-align:left'>{a}</td><td>{b}</td></tr>" for a, b in rows)
    return [
        f"<div class='v {cls}'><b>Verdict:</b> {esc(str(verdict.get('verdict')))}</div>",
        f"<table>{body}</table>",
        "<p>Each configuration's daily returns are the mean over its seeds. The paired tests "
        "below adjust their t-test p-values for testing every configuration: p_holm "
        "(family-wise), p_bh (false discovery rate). See docs/significance.md.</p>",
    ]


def _html(
    sweep: Sweep, runs, summary, tests, ensemble, png: bytes | None, verdict: dict | None = None
) -> str:
    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)

    wide = summary.pivot_table(index="config", columns="metric", values="mean", sort=False)
    wide = wide.reindex(columns=list(METRICS)).reset_index()
    img = ""
    if png:
        img = f'<img alt="box plots" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
    s = sweep.settings[sweep.reference]
    head = html.escape(
        f"{len(sweep.configs)} configurations x {sweep.repeats} seeds "
        f"({sweep.seeds[0]}..{sweep.seeds[-1]}) on {s.data.data}, {s.model.mode} "
        f"train {s.model.train_start}..{s.model.train_end}, test {s.model.test_start}.."
        f"{s.model.test_end}; strategy {s.strategy.name} {s.strategy.params}"
    )
    cfgs = pd.DataFrame(
        [{"config": k, "overrides": json.dumps(v)} for k, v in sweep.configs.items()]
    )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:1400px}"
        "table{border-collapse:collapse;font-size:13px;margin-bottom:1.5em}"
        "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "img{max-width:100%}.v{padding:.7em 1em;border-left:6px solid;margin:1em 0}"
        ".v.no{background:#fff1e0;border-color:#d9822b}"
        ".v.yes{background:#e6f4ea;border-color:#2e7d32}"
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>btlstm sweep</title>",
        f"<style>{style}</style></head><body>",
        "<h1>btlstm sweep</h1>",
        f"<p>{head}</p>",
        *_verdict_html(verdict or {}),
        "<h2>Configurations</h2>",
        table(cfgs),
        "<h2>Mean per configuration</h2>",
        table(wide),
        "<h2>Seed ensemble (mean prediction of the seeds)</h2>",
        table(ensemble),
        "<h2>Box plots</h2>",
        img,
        f"<h2>Paired tests against {html.escape(sweep.reference)!s} (same seeds)</h2>",
        "<p>mean_diff: configuration minus reference; better: seeds on which the "
        "configuration did better; two-sided Wilcoxon signed-rank and paired t p-values; "
        "p_holm, p_bh: the t-test p-values adjusted for the configurations tested on the same "
        "metric (Holm, Benjamini-Hochberg).</p>",
        table(tests),
        "<h2>Summary</h2>",
        table(summary),
        "<h2>Runs</h2>",
        table(runs),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_sweep_report(out, sweep: Sweep, plots: bool = True) -> dict[str, Path]:
    """Write runs.csv, ensemble.csv, summary.csv, tests.csv, significance.json,
    boxplots.png and index.html.

    Everything is rebuilt from ``out/runs/*.json`` (atomic writes), so a
    report can be rewritten at any time, also while runs are missing.
    """
    from btlstm.data.cache import atomic_write_bytes

    out = Path(out)
    runs, by_name = collect_runs(out, sweep)
    ensemble = _ensemble(sweep, by_name) if len(runs) else pd.DataFrame(columns=RUN_COLUMNS)
    summary = summarize(runs, ensemble)
    tests = paired_tests(runs, sweep.reference)
    verdict = sweep_significance(sweep, runs, by_name) if len(runs) else {}
    files = {
        "runs.csv": runs.to_csv(index=False, float_format="%.17g").encode(),
        "ensemble.csv": ensemble.to_csv(index=False, float_format="%.17g").encode(),
        "summary.csv": summary.to_csv(index=False, float_format="%.17g").encode(),
        "tests.csv": tests.to_csv(index=False, float_format="%.17g").encode(),
        "significance.json": (json.dumps(verdict, indent=1) + "\n").encode(),
    }
    png = _boxplots(runs, ensemble, sweep.reference) if plots and len(runs) else None
    if png is not None:
        files["boxplots.png"] = png
    files["index.html"] = _html(sweep, runs, summary, tests, ensemble, png, verdict).encode()
    return {name: atomic_write_bytes(out / name, data) for name, data in files.items()}
