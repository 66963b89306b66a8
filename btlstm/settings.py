"""The settings of one backtest: nested dataclasses that match the TOML sections.

A run's settings have five sections, each a dataclass, and the TOML file and
the ``btlstm run <strategy>`` flags use the same names::

    [data]      DataSettings      where the prices come from
    [model]     WalkForwardConfig the walk-forward schedule and training, and
                                  side by side the learner's own settings
                                  (WalkForwardConfig.learner_settings; for the
                                  LSTM: btlstm.learners.lstm.LSTMSettings)
    [strategy]  StrategySettings  a registered strategy's name and its params
    [costs]     CostSettings      cash, commission, slippage, market, per_share
    [output]    OutputSettings    output folder, model cache, plots, quiet

Values are layered, later wins: the dataclass defaults, the strategy's own
defaults (its registration), the walk-forward preset when
``mode = "walkforward"`` (or the ``walkforward = true`` shortcut), the TOML
file, the command-line flags. On the user's own data (a file or a DataFrame,
not a catalogue dataset) the ``[model]`` dates not given come from the data
instead (:attr:`Settings.data_dates`, :func:`btlstm.forecast.trainchecks.data_dates`,
docs/your-data.md); ``test_end = "end"`` is the last bar. Every key is checked by name (unknown keys
suggest the closest name) and by type (``walkforward = "false"`` is an error,
not True); errors name the TOML key or the flag the user typed.

:meth:`Settings.validate` checks everything else that can be checked before
any work (dates, the strategy name and params, the data source, the output
and cache folders); :func:`btlstm.pipeline.run_backtest` calls it first.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from btlstm._settings import (
    check_known_keys,
    coerce,
    field_defaults,
    field_types,
)
from btlstm.bt.ashare import US_COSTS
from btlstm.bt.broker import INDEX_COSTS, MARKETS
from btlstm.checks import (
    LIFT,
    LIMITS,
    check_cap,
    check_memory,
    check_number,
    check_seed,
    closest,
)
from btlstm.convert import parse_date
from btlstm.data.columnmap import MAP_KEYS, ColumnMap
from btlstm.errors import SettingsError
from btlstm.forecast.features import MIN_LOOKBACK
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.learners import DEFAULT_LEARNER
from btlstm.learners.lstm import REGULARIZER_SLOTS
from btlstm.splits import DATE_KEYS, END, WALKFORWARD_PRESET

__all__ = [
    "Settings",
    "DataSettings",
    "StrategySettings",
    "CostSettings",
    "OutputSettings",
    "SettingsError",
    "SECTIONS",
    "WALKFORWARD_PRESET",
    "learner_settings_class",
    "toml_builders",
    "load_toml",
]


@dataclass
class DataSettings(ColumnMap):
    """Where the prices come from, and for a CSV file (or a DataFrame given to
    :func:`btlstm.pipeline.run_backtest`) how to read it: the declared column map
    (:class:`btlstm.data.columnmap.ColumnMap`: ``preset``, ``date_column``,
    ``date_format``, ..., ``volume_multiplier``, ``order``; docs/data.md)."""

    data: str = "csi300"  # catalogue name (csi300, sse, spy, ...), a CSV path, or "synthetic"
    symbol: str | None = None  # one symbol of a panel dataset (e.g. sector_etfs + XLK)
    symbols: tuple[str, ...] = ()  # symbols of a panel dataset for panel strategies (empty: all)
    data_dir: str | None = None  # data directory (default $BTLSTM_DATA or ~/.btlstm/data)
    repair: str = "raise"  # "raise" on rows with known defects, or "drop" them (reported)
    start: str | None = None  # first bar loaded (default: the model's train_start)
    end: str | None = None  # last bar loaded (default: the model's test_end)
    synthetic: dict = field(default_factory=dict)  # synthetic_ohlcv arguments (data="synthetic")
    adjust: str = "none"  # "none", or "total_return": OHLC scaled by adj_close/close (dividends)
    index: str | None = None  # the gate's index dataset (e.g. spy), or "equal_weight" of the panel

    def __post_init__(self):
        super().__post_init__()
        self.symbols = tuple(self.symbols)


@dataclass
class StrategySettings:
    """A registered strategy (``btlstm.registry``) and its params (the rest: its defaults)."""

    name: str = "hold"  # registered strategy name (btlstm run <name>)
    params: dict = field(default_factory=dict)  # params of its bt.Strategy
    module: str | None = None  # your own module (name or .py path) registering it (--plugin)


@dataclass
class CostSettings:
    """Broker costs (``btlstm.bt.broker.setup_broker``; defaults: ``INDEX_COSTS``)."""

    cash: float = INDEX_COSTS["cash"]  # starting cash
    commission: float = INDEX_COSTS["commission"]  # per fill, fraction of traded value
    slippage: float = INDEX_COSTS["slippage_perc"]  # fraction of price, capped at the bar's range
    market: str = "index"  # rules: "index" (ETF costs), "ashare" (btlstm.bt.ashare), "us" (per share)
    per_share: float = US_COSTS["per_share"]  # market "us": USD per share on stocks


@dataclass
class OutputSettings:
    """Where the report goes, and how many trials the run stands for (its verdict)."""

    out: str | None = None  # output folder (default: new btlstm-out/<strategy>-<data>-<time>/)
    force: bool = False  # replace the report of another run in the --out folder
    cache_dir: str | None = None  # cache fitted models here (re-runs skip training)
    plots: bool = True  # write the PNG plots
    quiet: bool = False  # no progress bar or log lines, only the table
    seeds: str = ""  # run several seeds, e.g. 0-4 or 0,2,5-7: a report each, mean +- sd, ensemble
    trials: int = 1  # configurations tried before keeping this one (1: none): deflates the Sharpe
    allow_large: bool = (
        False  # lift the caps on sizes and counts (docs/safety.md; memory still checked)
    )


SECTIONS = ("data", "model", "strategy", "costs", "output")
_CLASSES = {
    "data": DataSettings,
    "strategy": StrategySettings,
    "costs": CostSettings,
    "output": OutputSettings,
}
_SHORTCUTS = {"walkforward": bool}  # [model] walkforward = true: mode + the preset dates


def learner_settings_class(name: str = DEFAULT_LEARNER):
    """The settings dataclass of learner ``name`` (``btlstm.learners.settings_class``)."""
    from btlstm.learners import settings_class

    try:
        return settings_class(name)
    except (KeyError, ValueError) as e:
        raise SettingsError(str(e).strip("'\"")) from None


def _wf_fields() -> dict:
    """Walk-forward fields that are set directly ([model] keys), not the learner dict."""
    return {k: v for k, v in field_types(WalkForwardConfig).items() if k != "learner_settings"}


def load_toml(path) -> dict:
    """Read a TOML config file; errors name the file."""
    import tomllib

    from btlstm._files import read_bounded
    from btlstm.checks import LIMITS
    from btlstm.convert import MAX_NESTING, nesting_depth

    p = Path(path)
    # only a regular file, at most 1 MiB: a FIFO, /dev/zero or a folder is refused at once
    data = read_bounded(p, LIMITS["config_bytes"][0], "config file", SettingsError)
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except RecursionError:  # arrays or inline tables nested thousands deep
        raise SettingsError(
            f"config file {p} nests arrays or tables too deep to read (more than "
            f"{MAX_NESTING} levels are refused)"
        ) from None
    except UnicodeDecodeError as e:
        raise SettingsError(
            f"config file {p} is not valid TOML: not UTF-8 text (byte {e.start})"
        ) from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"config file {p} is not valid TOML: {e}") from None
    depth = nesting_depth(raw, MAX_NESTING)
    if depth > MAX_NESTING:  # e.g. a dotted key a.b.c... thousands of parts long
        raise SettingsError(
            f"config file {p} nests tables or arrays more than {MAX_NESTING} levels deep"
        )
    return raw


def toml_module(raw: dict, path) -> str | None:
    """``[strategy] module`` (or a flat ``module``) of a read TOML dict; a relative
    ``.py`` or folder path is made relative to the TOML file's folder."""
    sec = raw.get("strategy")
    module = sec.get("module") if isinstance(sec, dict) else raw.get("module")
    if not isinstance(module, str):
        return None
    from btlstm.registry import _is_path

    p = Path(module).expanduser()
    if _is_path(module) and not p.is_absolute():
        beside = Path(path).parent / p
        if beside.exists():
            return str(beside)
    return module


def toml_builders(raw: dict, path) -> list:
    """The Keras builders a read TOML dict names (``[model] builder`` or a flat
    ``builder``, ``"MODULE:FUNCTION"``): ``(module, spec, place)`` triples, a relative
    ``.py`` path made relative to the file's folder (``spec`` the whole value so
    rewritten), ``place`` the dict that holds the key."""
    from btlstm.registry import _is_path

    out = []
    for place in (raw.get("model"), raw):
        if isinstance(place, dict) and isinstance(place.get("builder"), str):
            module, sep, func = place["builder"].rpartition(":")
            if not sep or not module:
                continue  # the learner's settings report the form
            p = Path(module).expanduser()
            if _is_path(module) and not p.is_absolute() and (Path(path).parent / p).exists():
                module = str(Path(path).parent / p)
            out.append((module, f"{module}:{func}", place))
    return out


def toml_modules(raw: dict, path) -> list:
    """Every module a read TOML dict names, ``[strategy] module`` and a top-level
    ``module`` (both, whichever wins later), and a Keras builder's module
    (``[model] builder``): ``(module, as typed)`` pairs, a relative path made
    relative to the file, "as typed" the key and value in the file."""
    out = []
    for module, _, place in toml_builders(raw, path):
        label = "[model] builder" if place is not raw else "builder"
        out.append((module, f"{label} = {json.dumps(place['builder'], ensure_ascii=False)}"))
    sec = raw.get("strategy")
    for label, place in [("[strategy] module", sec), ("module", raw)]:
        if isinstance(place, dict) and "module" in place:
            value = place["module"]
            one = toml_module({"module": value}, path)
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, str) else repr(value)
            typed = f"{label} = {shown}"
            out.append((one if one is not None else value, typed))
    return out


def _merge(base: dict, top: dict) -> dict:
    """Section-wise merge of two nested settings dicts (``top`` wins)."""
    out = {k: dict(v) for k, v in base.items()}
    for sec, values in top.items():
        out.setdefault(sec, {}).update(values)
    return out


@dataclass
class Settings:
    """All settings of one backtest, one attribute per TOML section.

    Example:
        >>> s = Settings.from_dict({"strategy": {"name": "hold", "hold": 3}})
        >>> s.strategy.params["hold"], s.model.mode, s.model.train_end
        (3, 'static', '2014-12-31')
        >>> Settings.from_dict(s.to_dict()) == s
        True
    """

    data: DataSettings = field(default_factory=DataSettings)
    model: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    strategy: StrategySettings = field(default_factory=StrategySettings)
    costs: CostSettings = field(default_factory=CostSettings)
    output: OutputSettings = field(default_factory=OutputSettings)

    def __post_init__(self):
        # where each value came from: (section, key) -> "--flag" or "[section] key in file"
        self._origin: dict = {}
        # the [model] dates the user did not give (the strategy's or the preset's stand in);
        # on a file or DataFrame of the user's the data decides them (data_dates)
        self._auto_dates: tuple = ()
        self._dates_resolved: bool = False

    def __eq__(self, other):
        return isinstance(other, Settings) and self.to_dict() == other.to_dict()

    # ----------------------------------------------------------------- naming
    def where(self, section: str, key: str) -> str:
        """How the user named a setting: the flag or TOML key they typed."""
        return self._origin.get((section, key)) or f"[{section}] {key}"

    @property
    def learner(self) -> str:
        return getattr(self.model, "learner", DEFAULT_LEARNER)

    @property
    def user_data(self) -> bool:
        """The data are the user's own: a file, ``yahoo:`` ticker or DataFrame, not a
        catalogue dataset (csi300, sector_etfs, ...) nor ``synthetic``."""
        from btlstm.data import catalog

        return self.data.data != "synthetic" and self.data.data not in catalog.CATALOG

    @property
    def data_dates(self) -> tuple:
        """The ``[model]`` dates the data decides (docs/your-data.md): those the user
        did not give, on the user's own data, until the pipeline has set them."""
        if self._dates_resolved or not self.user_data:
            return ()
        return tuple(self._auto_dates)

    def replace(self, **sections) -> "Settings":
        """A copy with whole sections replaced (``data=...``, ``model=...``) that keeps
        how each value was named and which dates were given."""
        new = dataclasses.replace(self, **sections)
        new._origin = self._origin
        new._auto_dates, new._dates_resolved = self._auto_dates, self._dates_resolved
        return new

    # ----------------------------------------------------------------- build
    @classmethod
    def from_toml(cls, path, overrides: dict | None = None, origins: dict | None = None, skip=(),
                  plugins=(), data_only: bool = False):  # fmt: skip
        """Read a TOML file (sections as above; flat keys are routed to their section
        by name), apply ``overrides`` (nested, e.g. CLI flags; they win) and build.

        ``origins`` maps ``(section, key)`` of the overrides to what the user typed
        (a flag); keys from the file are named ``[section] key in <path>``. ``skip``
        names tables another reader takes (``btlstm paper``'s ``[live]``).

        The file is data: a strategy module it names (``[strategy] module``) is
        imported only if the caller names the same module, in ``plugins`` (the
        command line's ``--plugin``; ``True`` trusts whatever the file names) or
        as ``overrides["strategy"]["module"]``; else :class:`SettingsError` before
        anything is imported (:func:`btlstm.registry.check_config_module`).
        ``data_only``: read only the ``[data]`` settings of the file (``btlstm
        data``), the rest (strategy, module, model, ...) is not read.
        """
        from btlstm import registry
        from btlstm.registry import check_config_module

        overrides = overrides or {}
        found: dict = {}
        name = (overrides.get("strategy") or {}).get("name")
        raw = {k: v for k, v in load_toml(path).items() if k not in skip}
        if data_only:
            keys = set(field_defaults(DataSettings))
            raw = {k: v for k, v in raw.items() if k in keys}  # [data], or its flat keys
        given = (overrides.get("strategy") or {}).get("module")
        allowed = plugins if plugins is True else [*(plugins or ()), *([given] if given else [])]
        builder = (overrides.get("model") or {}).get("builder")
        if allowed is not True and isinstance(builder, str) and ":" in builder:
            allowed.append(builder.rpartition(":")[0])  # the command line's --builder
        for module, typed in toml_modules(raw, path):
            check_config_module(module, path, allowed, typed=typed)
        for _, spec, place in toml_builders(raw, path):  # a relative path: beside the file
            place["builder"] = spec
            registry.note_builder(spec)
        module = toml_module(raw, path)
        if module is not None:  # a relative .py path in the file is relative to the file
            if isinstance(raw.get("strategy"), dict):
                raw["strategy"]["module"] = module
            else:
                raw["module"] = module
        nested = cls.nest(raw, where=f" in {path}", origins=found, strategy=name)
        in_file = (nested.get("strategy") or {}).get("name")
        if name is not None and in_file is not None and in_file != name:
            raise SettingsError(
                f"{found[('strategy', 'name')]} names strategy {in_file!r}, but "
                f"{(origins or {}).get(('strategy', 'name'), 'the command')} runs {name!r}"
            )
        found.update(origins or {})
        return cls.from_dict(_merge(nested, overrides), origins=found)

    @classmethod
    def nest(cls, d: dict, where: str = "", origins: dict | None = None, strategy=None) -> dict:
        """The sectioned dict of a TOML dict whose keys may also be flat (each flat
        key goes to the one section that has it). Records in ``origins`` how each
        key was written (``"[model] lookback" + where``)."""
        from btlstm import registry

        sec_d = {k: v for k, v in d.items() if k in SECTIONS and isinstance(v, dict)}
        strategy = strategy or (sec_d.get("strategy") or {}).get("name") or d.get("strategy")
        module = (sec_d.get("strategy") or {}).get("module", d.get("module"))
        if isinstance(module, str):  # the user's strategy module names its params
            registry.note_builder((sec_d.get("model") or {}).get("builder", d.get("builder")))
            label = "[strategy] module" if "module" in (sec_d.get("strategy") or {}) else "module"
            registry.load_plugin(module, where=label + where)
        learner = (sec_d.get("model") or {}).get("learner") or d.get("learner") or DEFAULT_LEARNER
        owners: dict = {}
        for sec, c in _CLASSES.items():
            if sec != "strategy":
                owners.update({k: sec for k in field_defaults(c) if k not in owners})
        for k in list(_wf_fields()) + list(_SHORTCUTS):
            owners.setdefault(k, "model")
        owners.setdefault("module", "strategy")
        try:
            for k in field_defaults(learner_settings_class(str(learner))):
                owners.setdefault(k, "model")
        except SettingsError:
            pass  # reported with the key's name when the settings are built
        try:
            for k in registry.get(str(strategy or "hold")).params:
                owners.setdefault(k, "strategy")
        except SettingsError:
            pass
        out: dict = {s: {} for s in SECTIONS}

        def put(sec, key, value, label):
            out[sec][key] = value
            if origins is not None:
                origins[(sec, key)] = label + where

        for k, v in d.items():
            if k in sec_d:
                for kk, vv in v.items():
                    put(k, kk, vv, f"[{k}] {kk}")
            elif k == "strategy" and isinstance(v, str):
                put("strategy", "name", v, "strategy")
            elif k in SECTIONS and k not in owners:  # (data = "sse" is the flat [data] data)
                raise SettingsError(
                    f"{k!r}{where} must be a section: a [{k}] table of settings, "
                    f"got {v!r} ({type(v).__name__})"
                )
            elif k in owners:
                put(owners[k], k, v, k)
            else:
                names = list(SECTIONS) + list(owners)
                raise SettingsError(
                    f"unknown key {k!r}{where}{closest(k, names)} (sections: {list(SECTIONS)})"
                )
        return {s: v for s, v in out.items() if v}

    @classmethod
    def from_dict(cls, d: dict, origins: dict | None = None) -> "Settings":
        """Build from a sectioned dict (TOML layout; Python values).

        Layers under ``d``: the dataclass defaults, the strategy's registered
        defaults and, in walk-forward mode, :data:`WALKFORWARD_PRESET`. Unknown
        keys raise with the closest name; values are type-checked.
        """
        from btlstm import registry

        origins = dict(origins or {})

        def where(sec, key):
            return origins.get((sec, key)) or f"[{sec}] {key}"

        d = dict(d or {})
        for sec in d:
            if sec not in SECTIONS:
                raise SettingsError(
                    f"unknown section [{sec}]{closest(sec, SECTIONS)} (sections: {list(SECTIONS)})"
                )
            if not isinstance(d[sec], dict):
                raise SettingsError(
                    f"[{sec}] must be a table of settings, got {d[sec]!r} ({type(d[sec]).__name__})"
                )
        user = {s: dict(d.get(s) or {}) for s in SECTIONS}

        # the user's strategy module, then the strategy name: its registration supplies defaults
        module = coerce(user["strategy"].pop("module", None), str | None,
                        where=where("strategy", "module"))  # fmt: skip
        if module is not None:
            registry.note_builder(user["model"].get("builder"))  # --plugin of a builder's module
            registry.load_plugin(module, where=where("strategy", "module"))
        name = user["strategy"].pop("name", "hold")
        name = coerce(name, str, where=where("strategy", "name"))
        plan = registry.get(name, where=where("strategy", "name"))

        model = user["model"]
        for table in ("learner_settings", "model"):  # [model.learner_settings] (old: [model.model])
            if isinstance(model.get(table), dict):
                for k, v in model.pop(table).items():
                    model.setdefault(k, v)
                    origins.setdefault(("model", k), where("model", f"{table}.{k}"))
        if "walkforward" in model:
            wf = coerce(model.pop("walkforward"), bool, where=where("model", "walkforward"))
            if wf:
                model.setdefault("mode", "walkforward")
                origins.setdefault(("model", "mode"), where("model", "walkforward"))
            elif model.get("mode") is None:
                model["mode"] = "static"
        _end_keyword(model, where)
        layers = _merge({}, plan.defaults)
        mode = model.get("mode", layers.get("model", {}).get("mode", "walkforward"))
        if mode == "walkforward":
            if layers.get("model", {}).get("mode") == "walkforward":
                # a walk-forward strategy's own dates win over the preset's
                layers = _merge({"model": WALKFORWARD_PRESET}, layers)
            else:
                layers = _merge(layers, {"model": WALKFORWARD_PRESET})
        merged = _merge(layers, user)
        # a strategy's learner defaults (e.g. lstm_units) do not apply to another learner
        own = set(plan.defaults.get("model", {})) - set(user["model"])
        try:
            lname = str(merged.get("model", {}).get("learner", DEFAULT_LEARNER))
            known = set(field_defaults(learner_settings_class(lname))) | set(_wf_fields())
        except SettingsError:
            known = None  # reported with the key's name below
        for k in own - (known if known is not None else own):
            merged["model"].pop(k, None)

        s = cls()
        s._origin = origins
        for sec, c in _CLASSES.items():
            if sec == "strategy":
                continue
            values = merged.get(sec, {})
            check_known_keys(c, values, "key", where=lambda k, s=sec: where(s, k))
            setattr(s, sec, _build(c, values, sec, where))
        s.strategy = StrategySettings(
            name=name, params=plan.check_params(merged["strategy"], where), module=module
        )
        s.model = _build_model(merged.get("model", {}), where)
        s._auto_dates = tuple(k for k in DATE_KEYS if k not in model)
        return s

    # ----------------------------------------------------------------- export
    def to_dict(self) -> dict:
        """Plain JSON types, in the TOML layout ([model] holds the learner's keys too;
        [data] the column-map keys that are set)."""
        model = self.model.to_dict()
        learner = model.pop("learner_settings", {}) or {}
        try:
            lcls = learner_settings_class(self.learner)
            full = field_defaults(lcls)
        except SettingsError:
            lcls, full = None, {}
        full.update(learner)
        for k, v in getattr(lcls, "QUIET_DEFAULTS", {}).items():  # newer keys, at their
            if full.get(k) == v:  # defaults, stay out: earlier runs' keys stay as they were
                full.pop(k)
        model.update(full)
        data = dataclasses.asdict(self.data)
        for k in MAP_KEYS:  # the column map: only the keys set (a run's key stays as it was)
            if data[k] is None or (k == "missing" and not data[k]):
                del data[k]
        out = {
            "data": data,
            "model": model,
            "strategy": {
                "name": self.strategy.name,
                **({"module": self.strategy.module} if self.strategy.module else {}),
                **self.strategy.params,
            },
            "costs": dataclasses.asdict(self.costs),
            "output": dataclasses.asdict(self.output),
        }
        return json.loads(json.dumps(out, default=_plain))

    # ----------------------------------------------------------------- checks
    def validate(self, check_paths: bool = True, in_memory: bool = False):
        """Check every setting and path before any work; return the strategy's plan.

        Types of every field, the strategy name and params, repair mode, that
        dates parse and are ordered, the data source (a known dataset or an
        existing file, whose header the column map must fit), and that the
        output and cache folders can be written. ``in_memory``: the data are
        DataFrames given to the run, ``[data] data`` names no source.
        Raises :class:`SettingsError` (or, for a file the map does not fit,
        ``DataError``) naming the flag or TOML key.
        """
        from btlstm import registry

        if self.strategy.module is not None:
            registry.load_plugin(self.strategy.module, where=self.where("strategy", "module"))
        plan = registry.get(self.strategy.name, where=self.where("strategy", "name"))
        for sec, c in _CLASSES.items():
            if sec == "strategy":
                continue
            obj = getattr(self, sec)
            defaults = field_defaults(c)
            for k, tp in field_types(c).items():
                coerce(getattr(obj, k), tp, defaults[k], where=self.where(sec, k))
        plan.check_params(self.strategy.params, self.where)
        if self.costs.market not in MARKETS:
            raise SettingsError(
                f"{self.where('costs', 'market')}: expected one of {list(MARKETS)}, "
                f"got {self.costs.market!r}{closest(str(self.costs.market), MARKETS)}"
            )
        for key in ("cash", "commission", "slippage", "per_share"):  # before any training
            try:
                check_number(key, getattr(self.costs, key), lo=0)
            except ValueError as e:
                raise SettingsError(f"{self.where('costs', key)}: {e}") from None
        if self.data.repair not in ("raise", "drop"):
            raise SettingsError(
                f"{self.where('data', 'repair')}: expected 'raise' or 'drop', "
                f"got {self.data.repair!r}"
            )
        from btlstm.data.adjust import ADJUSTMENTS

        if self.data.adjust not in ADJUSTMENTS:
            raise SettingsError(
                f"{self.where('data', 'adjust')}: expected one of {sorted(ADJUSTMENTS)}, "
                f"got {self.data.adjust!r}"
            )
        if self.data.index is not None and not plan.extra_data:
            raise SettingsError(
                f"{self.where('data', 'index')}: strategy {plan.name!r} has no index feed "
                "(only strategies with a gate or benchmark index take one, e.g. ranker)"
            )
        if self.data.symbol and self.data.symbols:
            raise SettingsError(
                f"{self.where('data', 'symbol')} and {self.where('data', 'symbols')} "
                "are exclusive: give one symbol or a list"
            )
        if plan.data == "frame" and self.data.symbols:
            raise SettingsError(
                f"{self.where('data', 'symbols')}: strategy {plan.name!r} trades one feed; "
                f"use {self.where('data', 'symbol')}"
            )
        self._check_bounds(plan)  # before anything is allocated, built or read
        self._check_trials()
        self._check_dates()
        self._check_features(plan)
        self._check_data_map(in_memory)
        if self.data.data == "synthetic" and not in_memory:
            self._check_synthetic(panel=plan.data == "panel")
        if check_paths:
            self._check_paths(in_memory)
        self._check_window_learner()
        self._check_engine()
        self._check_learner()
        return plan

    def data_map(self) -> ColumnMap:
        """The ``[data]`` column map (:class:`btlstm.data.columnmap.ColumnMap`)."""
        return ColumnMap(**{k: getattr(self.data, k) for k in MAP_KEYS})

    def data_where(self, key: str) -> str:
        """How the user named a ``[data]`` key (for the data layer's messages). On the
        command line (``btlstm run``, ``btlstm data``) a key the user did not set is named
        by its flag, so a hint reads ``--repair drop`` or ``--thousands ,``."""
        name = self.where("data", key)
        if name == f"[data] {key}" and (key == "repair" or key in MAP_KEYS):
            said = (self._origin.get(("strategy", "name")), self._origin.get(("data", "data")))
            if any(str(v).startswith("btlstm ") for v in said if v):
                return field_flag(key)  # a command line: the hint is a flag to type
        return name

    def _check_data_map(self, in_memory: bool) -> None:
        """The column map's values (no file read), and that it has a file to read."""
        from btlstm.data import catalog
        from btlstm.data.presets import check_map
        from btlstm.data.validate import DataError

        cmap = self.data_map()
        try:
            check_map(cmap, self.data_where)
        except DataError as e:
            raise SettingsError(str(e)) from None
        given = cmap.given()
        d = self.data.data
        if in_memory or not given or (d not in catalog.CATALOG and catalog._is_path(d)):
            return
        what = (
            "synthetic data"
            if d == "synthetic"
            else "a catalogue dataset whose layout btlstm knows"
        )
        raise SettingsError(
            f"{', '.join(self.data_where(k) for k in given)}: a column map reads a CSV file or a "
            f"DataFrame; {self.where('data', 'data')} = {d!r} is {what}"
        )

    def _check_bounds(self, plan) -> None:
        """Every size, count and length setting against its cap (:data:`btlstm.checks.LIMITS`;
        ``[output] allow_large`` lifts the caps), every seed against the generators' range,
        and the memory estimates of the network and of synthetic data against what this
        process may use: all before anything is allocated, built or read."""
        allow = bool(self.output.allow_large)

        def cap(sec, key, value, limit=None, lo=1):
            if value is None:
                return
            try:
                check_cap(self.where(sec, key), value, limit or key, allow, lo=lo)
            except ValueError as e:
                raise SettingsError(str(e)) from None

        m = self.model
        lb = m.lookback
        if isinstance(lb, int) and not isinstance(lb, bool) and lb < MIN_LOOKBACK:
            raise SettingsError(
                f"{self.where('model', 'lookback')} must be an integer in [{MIN_LOOKBACK}, "
                f"{LIMITS['lookback'][0]}], got {lb}: each input window is z-scored over its own "
                "bars, and a window of one bar is all zeros (the model would see nothing)"
            )
        cap("model", "lookback", lb, lo=MIN_LOOKBACK)
        for key in ("horizon", "retrain_every", "min_train", "epochs", "batch_size"):
            cap("model", key, getattr(m, key))
        cap("model", "embargo", m.embargo, lo=0)
        cap("model", "patience", m.patience, lo=0)
        cap("model", "train_window", m.train_window)
        cap("model", "warm_epochs", m.warm_epochs)
        if isinstance(self.output.trials, int) and self.output.trials >= 1:  # < 1: _check_trials
            cap("output", "trials", self.output.trials)
        try:
            check_seed(self.where("model", "seed"), m.seed)
        except ValueError as e:
            raise SettingsError(str(e)) from None
        try:  # the learner's own sizes (layers, units, ...), each named as the user typed it
            self.learner_class().check_settings(
                m.learner_settings or {}, lookback=lb, n_features=len(m.features),
                where=lambda key: self.where("model", key), allow_large=allow,
            )  # fmt: skip
        except (ValueError, TypeError) as e:
            raise SettingsError(str(e)) from None
        for key in ("topk", "n_buy", "max_positions"):  # positions of the panel strategies
            value = self.strategy.params.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                cap("strategy", key, value, "topk")
        if self.data.data == "synthetic":
            self._check_synthetic_size(plan, allow)
        self._check_network_memory()

    def _check_synthetic_size(self, plan, allow: bool) -> None:
        """``[data] synthetic``: n, n_symbols and their product capped, the seed in range."""
        syn = self.data.synthetic or {}
        where = self.where("data", "synthetic")
        panel = plan.data == "panel"
        n = syn.get("n", 1500 if panel else 2500)
        k = syn.get("n_symbols", 20) if panel else 1
        for key, value, limit in (("n", n, "synthetic_n"), ("n_symbols", k, "synthetic_n_symbols")):
            if isinstance(value, int) and not isinstance(value, bool):
                try:
                    check_cap(f"{where}[{key!r}]", value, limit, allow)
                except ValueError as e:
                    raise SettingsError(str(e)) from None
        if "seed" in syn:
            try:
                check_seed(f"{where}['seed']", syn["seed"])
            except ValueError as e:
                raise SettingsError(str(e)) from None
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (n, k)):
            if n * k > LIMITS["synthetic_cells"][0] and not allow:
                raise SettingsError(
                    f"{where}: n x n_symbols must be at most {LIMITS['synthetic_cells'][0]:,}, "
                    f"got {n} x {k} = {n * k:,} (the cap on "
                    f"{LIMITS['synthetic_cells'][1]}; {LIFT})"
                )
            lookback, nf = self.model.lookback, max(1, len(self.model.features))
            # the LSTM's windows cover every symbol, one feed (a gate index trains the
            # predictor: plan.predictor_data), or none (no predictor)
            k_windows = 0 if plan.predictor is None else 1 if plan.predictor_data else k
            # prices and features (float64), then the z-scored windows (28 bytes a value
            # at their peak: the float64 copy, its deviations, their squares, float32);
            # a cross-sectional scorer's features and model data about 1,000 bytes a cell
            # (measured: 2.87 GB peak for the ranker on 3,000 stocks x 1,000 bars)
            need = n * k * 8 * 16 + n * k_windows * lookback * nf * 28
            need += n * k * 1000 if plan.scores else 0
            try:
                check_memory(f"{where} with {self.where('model', 'lookback')} {lookback}", need)
            except ValueError as e:
                raise SettingsError(str(e)) from None

    def learner_class(self) -> type:
        """The class of ``[model] learner`` (:func:`btlstm.learners.get_learner`)."""
        from btlstm.learners import get_learner

        try:
            return get_learner(self.learner)
        except ValueError as e:
            raise SettingsError(f"{self.where('model', 'learner')}: {e}") from None

    def _check_network_memory(self) -> None:
        """The learner's memory estimate of one fit (``Learner.memory_bytes``: for the
        LSTM its weights, gradients and Adam moments and one batch's activations), from
        the settings alone, against the memory left."""
        cls, m = self.learner_class(), self.model
        given = m.learner_settings or {}
        try:
            settings = cls.make_settings(dict(given))
        except (TypeError, ValueError):
            return  # the settings themselves are refused (with the key's name) elsewhere
        n_features = max(1, len(m.features))
        need = cls.memory_bytes(settings, lookback=m.lookback, n_features=n_features,
                                batch_size=m.batch_size)  # fmt: skip
        if not need:
            return
        where = lambda key: self.where("model", key)  # noqa: E731
        if hasattr(cls, "memory_what"):
            what = cls.memory_what(settings, given, n_features=n_features, where=where)
        else:
            names = ", ".join(where(k) for k in given) or where("learner")
            what = f"the {cls.name} model ({names})"
        try:
            check_memory(what, need)
        except ValueError as e:
            raise SettingsError(str(e)) from None

    def _check_trials(self) -> None:
        """``[output] trials`` >= 1; ``[output] seeds`` a list of seeds, not beside ``seed``."""
        from btlstm._settings import parse_seeds

        if self.output.trials < 1:
            raise SettingsError(
                f"{self.where('output', 'trials')}: expected an integer >= 1 (the configurations "
                f"tried, this one included), got {self.output.trials!r}"
            )
        seeds = self.output.seeds
        if ("output", "seeds") in self._origin and isinstance(seeds, str) and not seeds.strip():
            raise SettingsError(
                f"{self.where('output', 'seeds')}: empty; give a list of seeds such as '0-4' "
                f"or '0,2,5-7' (one seed is {self.where('model', 'seed')})"
            )
        if parse_seeds(seeds, self.where("output", "seeds")):
            if ("model", "seed") in self._origin:
                raise SettingsError(
                    f"{self.where('model', 'seed')} and {self.where('output', 'seeds')} are "
                    "exclusive: give one seed or a list"
                )

    def _check_engine(self) -> None:
        """``[model] engine = "ray"``: only where fits run in parallel (walk-forward
        mode), and only with Ray installed, both said before any data is read."""
        m = self.model
        if getattr(m, "engine", "local") != "ray":
            return
        flag = self.where("model", "engine")
        if m.mode == "static":
            raise SettingsError(
                f"{flag} ray runs walk-forward fits in parallel, but "
                f"{self.where('model', 'mode')} is static (one fit): leave {flag} out, "
                "or run walk-forward (--walkforward)"
            )
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            raise SettingsError(
                f"{flag} ray needs Ray, which is not installed: pip install 'btlstm[ray]' "
                "(or pip install ray), or leave it out (local processes)"
            )

    def _check_window_learner(self) -> None:
        """``[model] learner`` learns from windows (lstm, ridge); the ranker scores a
        cross-section of stocks inside its own strategy (``btlstm run ranker``)."""
        from btlstm import learners

        if getattr(learners.get_learner(self.learner), "input", "windows") != "windows":
            window = sorted(
                n for n in learners.LEARNERS
                if getattr(learners.get_learner(n), "input", "windows") == "windows"
            )  # fmt: skip
            raise SettingsError(
                f"{self.where('model', 'learner')}: {self.learner!r} scores a cross-section "
                f"of stocks, one feature row per stock and day, and runs inside its own "
                f"strategy (btlstm run ranker); a [model] learner learns from windows: "
                f"one of {window}"
            )

    def _check_learner(self) -> None:
        """Build the learner's model once (``Learner.validate``: for the LSTM no data,
        no training, ~0.1 s after importing Keras) when learner settings are given, so a
        bad ``lstm_kwargs`` entry or activation fails now and names the flag or TOML
        key, not the internal ``lstm_kwargs[...]`` that :func:`btlstm.learners.models.build_model`
        sees. (Regularizer specs and the loss are checked with the bounds:
        ``Learner.check_settings``.)"""
        m = self.model
        given = m.learner_settings
        if not given:
            return
        cls = self.learner_class()
        try:
            cls.validate(cls.make_settings(dict(given)), lookback=m.lookback,
                         n_features=len(m.features))  # fmt: skip
        except (ValueError, TypeError) as e:
            raise SettingsError(self.learner_message(str(e))) from None

    def _check_features(self, plan=None) -> None:
        from btlstm.forecast.features import CANONICAL_COLUMNS, DERIVED_FEATURES

        valid = sorted({*CANONICAL_COLUMNS, "adj_close", *DERIVED_FEATURES})
        if self.data.data == "synthetic" and plan is not None and plan.data != "panel":
            valid.remove("adj_close")  # the one-index generator has no adj_close column
        if not self.model.features:
            raise SettingsError(f"{self.where('model', 'features')}: name at least one feature")
        from btlstm.forecast import featurelib

        for f in self.model.features:
            if f not in valid and not featurelib.is_feature(f):
                raise SettingsError(
                    f"{self.where('model', 'features')}: {featurelib.unknown_message(f, valid)}"
                )
            try:
                featurelib.check_name(f)  # rsi1: a period out of range
            except SettingsError as e:
                raise SettingsError(f"{self.where('model', 'features')}: {e}") from None
        xs = featurelib.xs_features(self.model.features)
        if xs and plan is not None and plan.data != "panel":
            raise SettingsError(
                f"{self.where('model', 'features')}: {xs[0]!r} ranks a feature across the "
                f"symbols of a panel; strategy {plan.name!r} trades one feed (use the inner "
                "feature itself)"
            )

    def _check_synthetic(self, panel: bool) -> None:
        """``data = "synthetic"``: the generator's argument names and types."""
        import inspect

        from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

        fn = synthetic_panel if panel else synthetic_ohlcv
        params = {
            k: p.default
            for k, p in inspect.signature(fn).parameters.items()
            if k != "return_latent"
        }
        where = self.where("data", "synthetic")
        for k, v in self.data.synthetic.items():
            if k not in params:
                raise SettingsError(
                    f"{where}: unknown key {k!r}{closest(k, params)} (keys of "
                    f"{fn.__name__}: {list(params)})"
                )
            default = params[k]
            tp = str if k == "start" else type(default)
            value = coerce(v, tp, default, where=f"{where}[{k!r}]")
            if k == "start":
                self._date("data", "synthetic", value)
            elif k in ("n", "n_symbols") and value < 1:
                raise SettingsError(f"{where}[{k!r}]: expected an integer >= 1, got {v!r}")

    def learner_message(self, msg: str) -> str:
        """A learner error (``lstm_kwargs['dropout'] must be ...``, ``loss='x' is not ...``)
        rewritten to name what the user typed (``--dropout``, ``[model] loss``)."""
        import re

        given = self.model.learner_settings
        m = re.match(r"(lstm_kwargs|dense_kwargs)\[(['\"])(\w+)\2\]", msg)
        if m:
            box, key = m.group(1), m.group(3)
            if box == "lstm_kwargs" and key in given and key not in given.get(box, {}):
                return f"{self.where('model', key)}{msg[m.end() :]}"
            return f"{self.where('model', box)}[{key!r}]{msg[m.end() :]}"
        m = re.match(r"(\w+)", msg)
        word = m.group(1) if m else ""
        if word == "lstm_kwargs" and "lstm_kwargs" not in given:
            keys = [k for k in (*REGULARIZER_SLOTS, "dropout", "recurrent_dropout") if k in given]
            named = ", ".join(self.where("model", k) for k in keys) or "[model]"
            return f"{named}: {msg.split(': ', 1)[-1]}"
        if word in given or word in field_defaults(learner_settings_class(self.learner)):
            return f"{self.where('model', word)}: {msg}"
        return f"[model] ({self.learner} learner): {msg}"

    def _date(self, sec: str, key: str, value):
        try:
            return parse_date(value, self.where(sec, key), none=True)
        except ValueError as e:
            raise SettingsError(str(e)) from None

    def _check_dates(self) -> None:
        m = self.model
        order = [
            ("data", "start", self.data.start),
            ("model", "train_start", m.train_start),
            ("model", "train_end", m.train_end),
            ("model", "test_start", m.test_start),
            ("model", "test_end", m.test_end),
            ("data", "end", self.data.end),
        ]
        seen = []
        auto = self.data_dates  # stand-ins the data replaces: not the user's to order
        for sec, key, value in order:
            ts = None if key in auto and sec == "model" else self._date(sec, key, value)
            if ts is None:
                continue
            for psec, pkey, pts in seen:
                strict = pkey == "train_end" and key == "test_start"
                if ts < pts or (strict and ts == pts):
                    raise SettingsError(
                        f"{self.where(sec, key)} = {ts.date()} is before "
                        f"{self.where(psec, pkey)} = {pts.date()}; dates must be ordered "
                        "start <= train_start <= train_end < test_start <= test_end <= end"
                    )
            seen.append((sec, key, ts))

    def _check_out(self) -> None:
        """The output folder: a new run folder under btlstm-out (its ``latest`` must be
        btlstm's), or an explicit folder that holds no other run's report
        (:mod:`btlstm.report.runs`)."""
        from btlstm.report.files import check_outdir, check_writable_dir
        from btlstm.report.runs import DEFAULT_ROOT, check_latest, check_other_run

        if self.output.out is None:
            root = check_writable_dir(DEFAULT_ROOT, "output folder (no --out)")
            if root.is_symlink():
                from btlstm.report.files import ReportError

                raise ReportError(
                    f"output folder {DEFAULT_ROOT!r} is a symbolic link: btlstm never writes "
                    "through a link; give a folder with --out"
                )
            check_latest(root, f"output folder {DEFAULT_ROOT!r}")
            return
        where = self.where("output", "out")
        check_outdir(self.output.out, where)  # first: a path that cannot be a folder
        check_other_run(self.output.out, self.to_dict(), self.output.force, where)

    def _check_paths(self, in_memory: bool = False) -> None:
        from btlstm._files import folders_overlap
        from btlstm.report.files import ReportError, check_writable_dir

        out, cache = self.output.out, self.output.cache_dir
        # the report would replace the cache (without --out a run writes a new folder of
        # its own under btlstm-out/, which holds no cache)
        if out is not None and cache and folders_overlap(out, cache):
            raise SettingsError(
                f"{self.where('output', 'out')} {out!r} and {self.where('output', 'cache_dir')} "
                f"{cache!r} overlap: a report replaces its whole folder, so the cache must live "
                "apart from it (choose two separate folders)"
            )
        try:  # the one writable-folder check (btlstm.report.files)
            self._check_out()
            if self.output.cache_dir:
                check_writable_dir(self.output.cache_dir, self.where("output", "cache_dir"))
        except ReportError as e:
            raise SettingsError(str(e)) from None
        d = self.data
        if d.data_dir is not None:
            from btlstm._files import file_kind

            p = Path(d.data_dir).expanduser()
            kind = file_kind(p)
            if kind != "a folder" and not kind.endswith(", a folder"):  # a link to one is fine
                what = "does not exist" if kind == "missing" else f"is {kind}, not a folder"
                raise SettingsError(f"{self.where('data', 'data_dir')}: {str(p)[:80]} {what}")
        if d.data == "synthetic" or in_memory:
            return
        from btlstm.data import catalog

        if d.data not in catalog.CATALOG and catalog._is_path(d.data):
            from btlstm._files import regular_file

            # only a regular file (or a link to one): a FIFO, a device or a folder is named
            p = regular_file(Path(d.data).expanduser(), self.where("data", "data"), SettingsError)
            from btlstm.data.readers import open_mapped

            open_mapped(p, self.data_map(), self.data_where)  # the map fits the header
            return
        from btlstm._files import file_kind, regular_file

        if d.data not in catalog.CATALOG and (  # ./name without a slash, an impossible name
            os.path.lexists(d.data) or file_kind(d.data).startswith("not ")
        ):
            regular_file(d.data, self.where("data", "data"), SettingsError)
        try:
            catalog.get_dataset(d.data)
        except (KeyError, ValueError) as e:
            raise SettingsError(f"{self.where('data', 'data')}: {str(e).strip(chr(34))}") from None


def _end_keyword(model: dict, where) -> None:
    """``test_end = "end"`` (``--test-end end``): the last bar of the data (None), in place.
    A date key given as ``"none"`` or ``""`` is refused, naming ``end`` or the default,
    so that no typed value silently keeps a default date (docs/your-data.md)."""
    for key in DATE_KEYS:
        value = model.get(key)
        if not isinstance(value, str):
            continue
        word = value.strip().lower()
        if key == "test_end" and word == END:
            model[key] = None
        elif word in ("", "none", "null", END):
            how = (
                f"to test to the last bar of the data give {END!r} "
                f"(--test-end {END}, [model] test_end = \"{END}\")"
                if key == "test_end"
                else f"{END!r} is a value of test_end only; leave {key} out for its default "
                "(on a file or DataFrame of yours: from the data, docs/your-data.md)"
            )
            raise SettingsError(
                f"{where('model', key)}: expected a date YYYY-MM-DD, got {value!r}; {how}"
            )


def _plain(v):
    if isinstance(v, (set, frozenset)):
        return sorted(v)
    return str(v)


def _build(c, values: dict, sec: str, where):
    types_, defaults = field_types(c), field_defaults(c)
    kw = {k: coerce(v, types_[k], defaults[k], where=where(sec, k)) for k, v in values.items()}
    try:
        return c(**kw)
    except (TypeError, ValueError) as e:
        raise SettingsError(f"[{sec}]: {e}") from None


def _build_model(values: dict, where) -> WalkForwardConfig:
    """WalkForwardConfig from the flat [model] keys: walk-forward fields by name,
    the learner's fields (learner_settings_class) into ``model``."""
    wf_types, wf_defaults = _wf_fields(), field_defaults(WalkForwardConfig)
    learner = coerce(values.get("learner", DEFAULT_LEARNER), str, where=where("model", "learner"))
    lcls = learner_settings_class(learner)
    l_types, l_defaults = field_types(lcls), field_defaults(lcls)
    wf, lk = {}, {}
    for k, v in values.items():
        if k in wf_types:
            wf[k] = coerce(v, wf_types[k], wf_defaults[k], where=where("model", k))
        elif k in l_types:
            lk[k] = coerce(v, l_types[k], l_defaults[k], where=where("model", k))
        else:
            names = list(wf_types) + list(l_types) + list(_SHORTCUTS)
            raise SettingsError(
                f"unknown key {where('model', k)}{closest(k, names)} "
                f"(walk-forward keys: {list(wf_types)}; {learner} keys: {list(l_types)})"
            )
    try:
        full = lcls(**lk)
    except (TypeError, ValueError) as e:
        raise SettingsError(_name_key(str(e), "model", where)) from None
    # only what differs from the learner's defaults: the learner fills in the rest
    wf["learner_settings"] = {
        k: getattr(full, k) for k in l_types if getattr(full, k) != l_defaults[k] or k in lk
    }
    if "learner" not in wf_types:  # walk-forward config without a learner field (older core)
        wf.pop("learner", None)
    try:
        return WalkForwardConfig(**wf)
    except (TypeError, ValueError) as e:
        raise SettingsError(_name_key(str(e), "model", where)) from None


def _name_key(msg: str, sec: str, where) -> str:
    """Prefix a dataclass's own message ("lookback must be ...") with the key the user typed."""
    first = msg.strip("`'\" ").split(" ", 1)[0].strip("`'\":,")
    if first.isidentifier():
        return f"{where(sec, first)}: {msg}"
    return f"[{sec}]: {msg}"


def field_flag(name: str) -> str:
    """The CLI flag of a settings field (``train_start`` -> ``--train-start``)."""
    return "--" + name.replace("_", "-")
