"""What a sweep runs: its configurations, seeds and tasks, validated before any work.

Does weight regularization make the LSTM's out-of-sample forecasts better, by
more than the spread between random seeds? A sweep answers it with
distributions (``docs/experiments.md``):

- a **configuration** is a dict of ``[model]`` overrides (the fields of
  :class:`~btlstm.forecast.walkforward.WalkForwardConfig` and of the learner's settings,
  e.g. :class:`~btlstm.learners.lstm.LSTMSettings`) on one base
  :class:`~btlstm.settings.Settings` (data, split, strategy, costs);
- a **task** is one (configuration, seed); every configuration runs the same
  seeds ``seed0 .. seed0 + repeats - 1``, so configurations can be compared
  seed by seed.

This module builds and checks them (:func:`make_sweep`, :func:`load_sweep`,
:func:`regularizer_grid`); :mod:`btlstm.sweep.task` runs one task,
:mod:`btlstm.sweep.engines` runs many, :mod:`btlstm.sweep.stats` and
:mod:`btlstm.sweep.report` read the finished runs back.

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

import hashlib
import json
import re
from dataclasses import dataclass, field

import numpy as np

from btlstm.checks import SEED_MAX, SWEEP_CONFIRM_RUNS, check_cap, closest
from btlstm.errors import SettingsError, SweepError
from btlstm.sweep.engines import Task

__all__ = [
    "METRICS",
    "RUN_COLUMNS",
    "HIGHER_IS_BETTER",
    "SLOTS",
    "KINDS",
    "REFERENCE",
    "FORMAT",
    "SweepError",
    "Sweep",
    "regularizer_spec",
    "regularizer_grid",
    "make_sweep",
    "load_sweep",
    "check_sweep_size",
    "json_bytes",
    "plain",
]

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
_SWEEP_KEYS = ("repeats", "seed0", "reference", "grid", "yes", "allow_large")
#: seconds one run of 20 epochs takes on one worker (docs/performance.md,
#: "Sweeps": 40 runs in 195 s with 2 workers on 2 cores); scaled by epochs
SECONDS_PER_RUN = 20.0
_GRID_KEYS = ("slots", "kinds", "strength", "callables", "axes", "reference")
#: the ``format`` of ``sweep.json`` and of every run file
FORMAT = "btlstm-sweep"


# --------------------------------------------------------------------------- grid
def regularizer_spec(kind: str, strength: float = 0.01) -> str:
    """The spec string of a regularizer kind at a strength.

    Args:
        kind: ``"l1"``, ``"l2"`` or ``"l1l2"`` (both penalties at ``strength``).
        strength: the penalty weight (>= 0).

    Returns:
        A spec string for :func:`btlstm.learners.models.parse_regularizer`.

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
            :func:`btlstm.learners.models.register_regularizer_fn`), each put in every slot.
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
    for key, value in (("slots", slots), ("kinds", kinds), ("callables", callables)):
        if not isinstance(value, (list, tuple)):
            raise SweepError(f"{key}: expected a list, got {value!r}")
    if axes is not None and not isinstance(axes, dict):
        raise SweepError(f"axes: expected a table of axis = [values], got {axes!r}")
    if not isinstance(reference, bool):
        raise SweepError(f"reference: expected true/false, got {reference!r}")
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
            "format": FORMAT,
            "base": self.base,
            "configs": self.configs,
            "repeats": self.repeats,
            "seed0": self.seed0,
            "reference": self.reference,
        }


def _hash(d: dict) -> str:
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def check_sweep_size(
    n_configs: int,
    repeats: int,
    *,
    source: str = "",
    allow_large: bool = False,
    yes: bool = True,
    workers: int | None = None,
    epochs: int = 20,
    repeats_where: str | None = None,
) -> int:
    """The number of runs (configurations x repeats), checked before any configuration is
    validated: each count against its cap (:data:`btlstm.checks.LIMITS`; ``allow_large``
    lifts them), and a sweep of more than :data:`btlstm.checks.SWEEP_CONFIRM_RUNS` runs
    only with ``yes`` (``--yes``, ``[sweep] yes = true``). The refusal states the run
    count and an estimate of the time (:data:`SECONDS_PER_RUN`).

    Raises:
        SweepError: naming the flag or ``[sweep]`` key, the count and the cap.
    """
    where_file = f" in {source}" if source else ""
    lift = "--allow-large (or [sweep] allow_large = true) lifts the cap"
    try:
        check_cap(repeats_where or f"[sweep] repeats{where_file}", repeats, "repeats",
                  allow_large, lift=lift)  # fmt: skip
        check_cap(f"the configurations{where_file}", n_configs, "configs", allow_large, lift=lift)
        runs = n_configs * repeats
        check_cap(f"the runs{where_file} (configurations x repeats)", runs, "runs",
                  allow_large, lift=lift)  # fmt: skip
    except ValueError as e:
        raise SweepError(str(e)) from None
    if runs > SWEEP_CONFIRM_RUNS and not yes:
        import os

        w = workers or os.cpu_count() or 1
        est = runs * SECONDS_PER_RUN * max(1, epochs) / 20 / w
        raise SweepError(
            f"the sweep{where_file} has {runs:,} runs ({n_configs} configurations x {repeats} "
            f"repeats), about {_duration(est)} with {w} worker(s) (estimate: "
            f"~{SECONDS_PER_RUN:.0f} s a run of 20 epochs per worker, here up to {epochs}); "
            f"more than {SWEEP_CONFIRM_RUNS} runs start only with --yes (or [sweep] yes = true)"
        )
    return runs


def make_sweep(
    base,
    configs: dict,
    repeats: int = 10,
    seed0: int = 0,
    reference: str | None = None,
    source: str = "",
    allow_large: bool = False,
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
        allow_large: lift the caps on configurations, repeats and runs
            (:func:`check_sweep_size`).

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
    if seed0 + repeats - 1 > SEED_MAX:
        raise SweepError(
            f"[sweep] seed0{where_file}: the seeds {seed0}..{seed0 + repeats - 1} run past "
            f"{SEED_MAX} (the largest seed numpy, Keras and LightGBM accept)"
        )
    if not isinstance(configs, dict) or not configs:
        raise SweepError(f"the sweep{where_file} has no configuration")
    check_sweep_size(len(configs), repeats, source=source, allow_large=allow_large)
    if isinstance(base, Settings):
        auto = base._auto_dates  # dates not given: a user's file decides them (below)
        base = base.to_dict()
        base.pop("output", None)
        for key in auto:
            base["model"].pop(key, None)
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
        if s.data_dates:  # the user's file: the dates not given come from it (docs/your-data.md)
            from btlstm.data.loading import load_data
            from btlstm.forecast.trainchecks import data_dates

            s = data_dates(s, {s.data.data: load_data(s)})
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


def load_sweep(
    path,
    repeats: int | None = None,
    yes: bool | None = None,
    allow_large: bool | None = None,
    workers: int | None = None,
    plugins=(),
) -> Sweep:
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
        yes: start a sweep of more than :data:`btlstm.checks.SWEEP_CONFIRM_RUNS` runs
            (``--yes``; else ``[sweep] yes``).
        allow_large: lift the caps on counts (``--allow-large``; else ``[sweep] allow_large``).
        workers: the workers the sweep will run on (the time estimate).
        plugins: strategy modules the caller trusts (``--plugin``; True: whatever the
            file names). The file is data: a ``[strategy] module`` it names that
            ``plugins`` does not name too is refused before anything is imported
            (:func:`btlstm.registry.check_config_module`).

    The run count is checked (:func:`check_sweep_size`) before any configuration is.
    """
    from btlstm.registry import check_config_module
    from btlstm.settings import load_toml, toml_modules

    d = load_toml(path)
    where = f" in {path}"
    for module, typed in toml_modules(d, path):  # before anything is read or imported
        check_config_module(module, path, plugins, typed=typed)
    for place in (d.get("strategy"), d):  # a relative .py path is relative to the file
        if isinstance(place, dict) and isinstance(place.get("module"), str):
            place["module"] = toml_modules({"module": place["module"]}, path)[0][0]
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
    r_where = "--repeats" if repeats is not None else f"[sweep] repeats{where}"
    flags = {}
    for key, given in (("yes", yes), ("allow_large", allow_large)):
        value = given if given is not None else sweep.get(key, False)
        if not isinstance(value, bool):
            raise SweepError(f"[sweep] {key}{where}: expected true/false, got {value!r}")
        flags[key] = value
    if not configs:
        raise SweepError(f"the sweep{where} has no configuration")
    model = d.get("model") if isinstance(d.get("model"), dict) else d
    epochs = [model.get("epochs", 20)] + [c.get("epochs", 20) for c in configs.values()
                                          if isinstance(c, dict)]  # fmt: skip
    epochs = max((e for e in epochs if isinstance(e, int) and not isinstance(e, bool)), default=20)
    check_sweep_size(len(configs), r, source=str(path), allow_large=flags["allow_large"],
                     yes=flags["yes"], workers=workers, epochs=epochs,
                     repeats_where=r_where)  # fmt: skip
    return make_sweep(
        d,
        configs,
        repeats=r,
        seed0=sweep.get("seed0", 0),
        reference=sweep.get("reference"),
        source=str(path),
        allow_large=flags["allow_large"],
    )


def _jsonable(v):
    """What :mod:`json` cannot write itself: numpy numbers as numbers, the rest as text."""
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return str(v)


def plain(d):
    """``d`` with plain JSON types only (numpy numbers as numbers, the rest as text)."""
    return json.loads(json.dumps(d, default=_jsonable))


def json_bytes(d) -> bytes:
    """``d`` as indented JSON (NaN kept as ``NaN``): ``sweep.json`` and the run files."""
    return (json.dumps(d, indent=1, default=_jsonable, allow_nan=True) + "\n").encode()
