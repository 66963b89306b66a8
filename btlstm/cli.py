"""The ``btlstm`` command. Thin: it parses arguments and calls the library.

Commands:
  btlstm demo                 the whole journey on the embedded SYNTHETIC market (no data, no internet)
  btlstm run <strategy> [...] a registered strategy (``btlstm run hold``: Backtest 1) on real data
  btlstm paper <strategy> ... the same strategy and flags on a live replay feed (btlstm.live)
  btlstm report DIR           rebuild report.html from the files of a finished run
  btlstm data list            the datasets of the catalogue and whether they are present
  btlstm data summary NAME    rows, dates and symbols of a dataset (or a file, read with --config)
  btlstm data inspect FILE    encoding, columns, row order, defects; the [data] block that reads it
  btlstm fetch NAME|TICKER... download from Yahoo Finance into the data directory (needs internet)
  btlstm sweep --config FILE  a grid of model settings x seeds (btlstm.sweep), local or on Ray
  btlstm check lookahead <strategy> [...] rewrite the data after cut points; exit 1 when
                              anything at or before a cut changed (btlstm.lookahead)

``btlstm run <strategy>`` is generated: one subcommand per registered
strategy (:mod:`btlstm.registry`), one flag per settings field
(:mod:`btlstm.settings`: ``train_start`` -> ``--train-start``), typed from the
field's annotation or default, with the field's comment as help. A new
strategy gets its command, flags and TOML keys without parsing code here.
"""

from __future__ import annotations

import argparse
import errno
import json
import sys

from btlstm.data.validate import DataError

__all__ = ["main", "build_parser", "settings_from_args", "plain"]

_ALL_FLAGS: set = set()
#: flag -> the learners that have it (``btlstm run`` carries only the chosen learner's flags)
_LEARNER_FLAGS: dict = {}


class _Parser(argparse.ArgumentParser):
    """argparse with ``btlstm: error: ...`` messages (exit 2) that suggest the closest flag."""

    def error(self, message):
        import re

        from btlstm._settings import closest

        if message.startswith("unrecognized arguments:"):
            bad = [w for w in message.split(":", 1)[1].split() if w.startswith("--")]
            if bad:
                flag = bad[0].split("=")[0]
                words = (self.prog.split() + [None])[1:2] + self.command
                if flag in _LEARNER_FLAGS and {"run", "paper"} & set(words):
                    # a flag of another learner than the chosen one
                    names = _LEARNER_FLAGS[flag]
                    message += (
                        f" ({flag} is a flag of learner {' / '.join(names)}: "
                        f"give --learner {names[0]} as well)"
                    )
                elif flag in _ALL_FLAGS:  # a flag of another command
                    message += f" ({flag} is a flag of other btlstm commands, not of this one)"
                else:
                    message += closest(flag, sorted(_ALL_FLAGS))
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:  # btlstm run hodl -> did you mean 'hold'?
            choices = re.findall(r"'([^']*)'", m.group(2)) or m.group(2).split(", ")
            hint = closest(m.group(1), choices)
            if hint:
                message = message[: m.start(2) - len("(choose from ")].rstrip() + hint
                message += f" (choose from {m.group(2)})"
            if message.startswith("argument STRATEGY"):
                message += (
                    "; a strategy of your own module runs with --plugin MODULE "
                    "(or [strategy] module in --config)"
                )
        self.print_usage(sys.stderr)
        self.exit(2, f"btlstm: error: {message}\n")

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # --lstm-unit must not mean --lstm-units
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        _ALL_FLAGS.update(a for a in args if a.startswith("--"))
        return super().add_argument(*args, **kwargs)

    #: on the top parser: the learner whose flags ``run`` and ``paper`` carry
    for_learner = None
    #: the command word(s) last parsed (``["run"]``), for the hint on a learner's flag
    command: list = []

    def parse_known_args(self, args=None, namespace=None):
        """On the top parser: parse with the flags of the learner the arguments choose
        (:func:`_chosen_learner`; a parser for another learner is built for them)."""
        if self.for_learner is not None:
            args = sys.argv[1:] if args is None else list(args)
            _Parser.command = [str(a) for a in args[:1]]
            cls = _chosen_learner(args)
            if cls is not self.for_learner:
                return build_parser(learner=cls).parse_known_args(args, namespace)
        return super().parse_known_args(args, namespace)


_PLUGIN_HELP = (
    "your own module that registers strategies (@register_strategy): a module name on the "
    "Python path or in the current folder, or a .py file path. A config file's [strategy] "
    "module is imported only when --plugin names it too (docs/trust.md)"
)


def _preload_plugins(argv) -> None:
    """Import the user's strategy modules named by ``--plugin`` before the parser is
    built (``btlstm run <name>`` commands come from the registry).

    A config file is data: the module its ``[strategy] module`` names is never
    imported here, and one the command line does not name too (``--plugin``) is
    refused first, with ``--help`` as well: nothing of it runs.
    """
    from btlstm import registry
    from btlstm.settings import SettingsError, load_toml, toml_builders, toml_modules

    argv = list(argv)
    if argv[:1] not in (["run"], ["paper"], ["sweep"]) and argv[:2] != ["check", "lookahead"]:
        return
    plugins, configs, builders = [], [], []
    for i, a in enumerate(argv):
        for flag, found in (("--plugin", plugins), ("--config", configs),
                            ("--builder", builders)):  # fmt: skip
            if a == flag and i + 1 < len(argv):
                found.append(argv[i + 1])
            elif a.startswith(flag + "="):
                found.append(a.split("=", 1)[1])
    # a Keras builder's module (--builder, trusted; or a config's [model] builder that
    # --plugin names) is imported by the keras learner when it builds
    builders = [b.rpartition(":")[0] for b in builders if ":" in b]
    named = list(builders)
    for path in configs:  # every config first: a refused one imports nothing at all
        try:
            raw = load_toml(path)
        except SettingsError:
            continue  # reported with the rest of the settings
        for module, typed in toml_modules(raw, path):
            registry.check_config_module(module, path, [*plugins, *builders], typed=typed)
        named += [module for module, _, _ in toml_builders(raw, path)]
    for module in named:  # a --plugin naming a builder's module may register nothing
        registry.note_builder(f"{module}:build")
    for spec in plugins:
        registry.load_plugin(spec, where="--plugin")


def _chosen_learner(argv) -> type:
    """The learner whose flags ``btlstm run`` / ``btlstm paper`` take: the last
    ``--learner NAME`` (or ``--learner=NAME``), else ``[model] learner`` of a ``--config``
    file, else :data:`btlstm.learners.DEFAULT_LEARNER`. A learner that is not one of
    windows (the ranker) gives the default learner's flags: the settings refuse it with
    the reason.

    Raises:
        ValueError: an unknown name, named as typed (``--learner: unknown learner
            'rige'; did you mean 'ridge'? ...``), before any other flag is read.
    """
    from btlstm import learners

    argv = [str(a) for a in argv]
    name = where = None
    if argv[:1] in (["run"], ["paper"]):
        configs = []
        for i, a in enumerate(argv):
            if a == "--learner" and i + 1 < len(argv):
                name, where = argv[i + 1], "--learner"
            elif a.startswith("--learner="):
                name, where = a.split("=", 1)[1], "--learner"
            elif a == "--config" and i + 1 < len(argv):
                configs.append(argv[i + 1])
            elif a.startswith("--config="):
                configs.append(a.split("=", 1)[1])
        if name is None and configs:
            name, where = _config_learner(configs[-1]), f"[model] learner in {configs[-1]}"
    try:
        cls = learners.get_learner(name or learners.DEFAULT_LEARNER)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
    if getattr(cls, "input", "windows") != "windows":
        cls = learners.get_learner(learners.DEFAULT_LEARNER)
    return cls


def _config_learner(path) -> str | None:
    """``[model] learner`` (or a top-level ``learner``) of a TOML file; None when the
    file is unreadable or names none (its errors are reported with the settings)."""
    from btlstm.settings import SettingsError, load_toml

    try:
        raw = load_toml(path)
    except (SettingsError, OSError, ValueError):
        return None
    model = raw.get("model")
    name = model.get("learner") if isinstance(model, dict) else None
    name = raw.get("learner") if name is None else name
    return name if isinstance(name, str) else None


def _window_learners() -> list:
    """The learners a run's ``[model] learner`` may name (learners of windows), by name."""
    from btlstm import learners

    return sorted(
        name for name, cls in learners.LEARNERS.items()
        if getattr(cls, "input", "windows") == "windows"
    )  # fmt: skip


_ROLE = None  # compiled on first use


def plain(text) -> str:
    """Help text without docstring markup: ``x`` -> x, :mod:`a.b` -> a.b, :class:`~a.B` -> B.

    Example:
        >>> plain('name of the learner (``"lstm"``; see :mod:`btlstm.learners`, :class:`~a.B`)')
        'name of the learner ("lstm"; see btlstm.learners, B)'
    """
    import re

    global _ROLE
    if _ROLE is None:
        _ROLE = re.compile(r":[a-z]+:`(~?)([^`]+)`")
    text = _ROLE.sub(lambda m: m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2), text)
    return str(text).replace("``", "")


def _escape(text) -> str:
    return plain(str(text)).replace("%", "%%")


def _typed(tp, default, flag: str):
    from btlstm._settings import coerce

    def convert(text: str):
        try:
            return coerce(text, tp, default, where=flag, text=True)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None

    convert.__name__ = getattr(tp, "__name__", "value")
    return convert


class _Switch(argparse.Action):
    """An on/off flag spelled every way: ``--header``, ``--no-header``, ``--header false``
    (true/false, yes/no, on/off, 1/0), the same in ``btlstm run`` and ``btlstm data``."""

    def __init__(self, option_strings, dest, default=None, help=None, **_):
        names = list(option_strings) + [f"--no-{o[2:]}" for o in option_strings if o[:2] == "--"]
        super().__init__(names, dest, nargs="?", default=default, help=help, metavar="true|false")

    def __call__(self, parser, namespace, values, option_string=None):
        if option_string.startswith("--no-"):
            if values is not None:
                raise argparse.ArgumentError(self, f"takes no value, got {values!r}")
            setattr(namespace, self.dest, False)
            return
        low = "true" if values is None else str(values).strip().lower()
        if low not in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            raise argparse.ArgumentError(
                self, f"expected true or false (or --no-{option_string[2:]}), got {values!r}"
            )
        setattr(namespace, self.dest, low in ("true", "yes", "on", "1"))


def _show(v) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(x) for x in v) or "none"
    if isinstance(v, dict):
        return json.dumps(v) if v else "{}"
    return str(v)


def _fields(plan, learner=None) -> list:
    """(section, key, annotation, default, help) of every flag of ``btlstm run <plan>``:
    the walk-forward keys and those of one learner (``learner``, a class; default
    :data:`btlstm.learners.DEFAULT_LEARNER`), whose settings' types coerce its flags."""
    import typing

    from btlstm import learners
    from btlstm._settings import field_defaults, field_help, field_types
    from btlstm.forecast.walkforward import WalkForwardConfig
    from btlstm.registry import param_type
    from btlstm.settings import _CLASSES, WALKFORWARD_PRESET

    out = []
    for sec in ("data",):
        c = _CLASSES[sec]
        helps, defaults = field_help(c), field_defaults(c)
        out += [(sec, k, tp, defaults[k], helps.get(k, "")) for k, tp in field_types(c).items()]
    helps, defaults = field_help(WalkForwardConfig), field_defaults(WalkForwardConfig)
    wf = [
        ("model", k, tp, defaults[k], helps.get(k, ""))
        for k, tp in field_types(WalkForwardConfig).items()
        if k != "model"
    ]
    dates = ", ".join(f"{k}={v}" for k, v in WALKFORWARD_PRESET.items() if k != "mode")
    wf.insert(0, ("model", "walkforward", bool, None, f"shortcut: mode=walkforward and {dates}"))
    out += wf
    seen = {k for _, k, *_ in out}
    c = (learner or learners.get_learner(learners.DEFAULT_LEARNER)).Settings
    helps, defaults = field_help(c), field_defaults(c)
    for k, tp in field_types(c).items():
        if k not in seen:
            seen.add(k)
            out.append(("model", k, tp, defaults[k], helps.get(k, "")))
    for k, default in plan.params.items():
        tp = param_type(default)
        out.append(("strategy", k, tp if tp is not type(None) else typing.Any, default,
                     plan.param_help.get(k, "")))  # fmt: skip
    for sec in ("costs", "output"):
        c = _CLASSES[sec]
        helps, defaults = field_help(c), field_defaults(c)
        out += [(sec, k, tp, defaults[k], helps.get(k, "")) for k, tp in field_types(c).items()]
    return out


def _live_fields() -> list:
    """(section, key, annotation, default, help) of the ``[live]`` flags of ``btlstm paper``."""
    from btlstm._settings import field_defaults, field_help, field_types
    from btlstm.live.runner import LiveSettings

    helps, defaults = field_help(LiveSettings), field_defaults(LiveSettings)
    return [
        ("live", k, tp, defaults[k], helps.get(k, ""))
        for k, tp in field_types(LiveSettings).items()
    ]


def _add_run_parser(sub, plan, live: bool = False, learner=None) -> None:
    from btlstm.settings import WALKFORWARD_PRESET, field_flag
    from btlstm.splits import DATE_KEYS, END

    what = "paper trading on a live replay feed: " if live else ""
    p = sub.add_parser(
        plan.name,
        help=_escape(plan.help),
        description=_escape(f"{what}{plan.help} (strategy {plan.strategy.__name__})"),
    )
    p.add_argument(
        "--config", metavar="TOML", help="TOML file with any of the settings below (flags win)"
    )
    p.add_argument("--plugin", metavar="MODULE", dest="strategy.module", default=None,
                   help=_PLUGIN_HELP)  # fmt: skip
    groups = {}
    flags: dict = {("strategy", "module"): "--plugin"}
    used: set = {"--config", "--help", "--plugin"}
    live_flags: dict = {}
    from btlstm import learners

    learner = learner or learners.get_learner(learners.DEFAULT_LEARNER)
    model_note = (
        f"walk-forward flags and those of learner {learner.name!r}; other learners have "
        f"their own flags: --learner NAME --help (learners: {', '.join(_window_learners())})"
    )
    for sec, key, tp, default, text in _fields(plan, learner) + (_live_fields() if live else []):
        g = groups.get(sec) or groups.setdefault(
            sec,
            p.add_argument_group(
                f"[{sec}]" + (f" {plan.name} params" if sec == "strategy" else ""),
                _escape(model_note) if sec == "model" else None,
            ),
        )
        flag = field_flag(key)
        if flag in used:
            flag = field_flag(f"{sec}_{key}")
        used.add(flag)
        effective = plan.defaults.get(sec, {}).get(key, default)
        if sec == "model" and key in WALKFORWARD_PRESET and key != "mode":
            text += f" (--walkforward: {WALKFORWARD_PRESET[key]})"
        shown = f" [{_show(effective)}]" if effective is not None and key != "walkforward" else ""
        kw = dict(dest=f"{sec}.{key}", default=None, help=_escape(f"{text}{shown}".strip()))
        if tp is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif sec == "model" and key in DATE_KEYS:  # as typed: "end", and "none" refused
            if key == "test_end":
                kw["help"] = kw["help"].replace("(None: to the end)", f"({END!r}: the last bar)")
            kw["help"] += " (a file or DataFrame of yours: from the data, docs/your-data.md)"
            g.add_argument(flag, type=str, metavar=key.upper(), **kw)
        elif tp == (bool | None):  # --header, --no-header, --header false (as btlstm data)
            g.add_argument(flag, action=_Switch, **kw)
        else:
            g.add_argument(flag, type=_typed(tp, default, flag), metavar=key.upper(), **kw)
        if sec == "live":
            live_flags[key] = flag
        else:
            flags[(sec, key)] = flag
    _ALL_FLAGS.update(flags.values())
    _ALL_FLAGS.update(live_flags.values())
    func = _cmd_paper if live else _cmd_run
    p.set_defaults(func=func, plan=plan.name, flags=flags, live_flags=live_flags)
    return p


def settings_from_args(args, skip=()):
    """The :class:`~btlstm.settings.Settings` of a parsed ``btlstm run <strategy>``:
    the strategy's defaults, then ``--config``, then the flags typed (``skip``: TOML
    tables read elsewhere, e.g. ``[live]``)."""
    from btlstm.settings import Settings

    nested: dict = {"strategy": {"name": args.plan}}
    origins: dict = {("strategy", "name"): f"btlstm run {args.plan}"}
    if getattr(args, "run_plugin", None) and getattr(args, "strategy.module", None) is None:
        setattr(args, "strategy.module", args.run_plugin)  # btlstm run --plugin M <strategy>
    for (sec, key), flag in args.flags.items():
        value = getattr(args, f"{sec}.{key}", None)
        if value is not None:
            nested.setdefault(sec, {})[key] = value
            origins[(sec, key)] = flag
    if args.config:
        return Settings.from_toml(args.config, overrides=nested, origins=origins, skip=skip)
    return Settings.from_dict(nested, origins=origins)


def _cmd_paper(args) -> int:
    from btlstm.live.runner import run_paper
    from btlstm.progress import FitProgress, setup_logging
    from btlstm.report import format_table
    from btlstm.settings import load_toml

    settings = settings_from_args(args, skip=("live",))
    live, origins = {}, {}
    if args.config:
        table = load_toml(args.config).get("live") or {}
        if not isinstance(table, dict):
            raise ValueError(f"'live' in {args.config} must be a [live] table, got {table!r}")
        live.update(table)
        origins.update({k: f"[live] {k} in {args.config}" for k in table})
    for key, flag in args.live_flags.items():
        value = getattr(args, f"live.{key}")
        if value is not None:
            live[key], origins[key] = value, flag
    quiet = settings.output.quiet
    with setup_logging(quiet=quiet), FitProgress(disable=quiet) as bar:
        result = run_paper(settings, live, progress=bar,
                           where=lambda k: origins.get(k) or f"[live] {k}")  # fmt: skip
    print(format_table(result.report))
    print(_live_line(result.report["live"]))
    return 0


def _live_line(sec: dict) -> str:
    lat = sec.get("latency") or {}
    text = (
        f"paper: {sec['bars']} bars ({sec['live_bars']} live, {sec['backfill_bars']} backfill), "
        f"fits {sec['fits']} ({sec['fitter']}): {sec['fits_trained']} trained, "
        f"{sec['fits_from_cache']} from the cache"
    )
    if lat.get("bars"):
        text += (
            f"; latency per bar median {lat['median_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms "
            f"({lat['feeds']} feeds)"
        )
    nm = sec.get("no_model") or {}
    if nm.get("bars"):  # the WARNING line above says why and what to do
        text += f"; {nm['bars']} bar(s) with no active model"
    return text + f"; state: {sec['state_dir']}"


def _run(settings, title=None) -> int:
    from btlstm.pipeline import run_backtest
    from btlstm.progress import FitProgress, setup_logging
    from btlstm.report import format_table

    quiet = settings.output.quiet
    if settings.output.seeds:  # --seeds 0-4: every seed, the ensemble, one overview
        from btlstm.pipeline import run_seeds
        from btlstm.report.seeds import format_seeds_table

        with setup_logging(quiet=quiet):
            seeds = run_seeds(settings, progress=not quiet)
        print(format_seeds_table(seeds.overview))
        if seeds.paths.get("index.html"):
            print(f"report: {seeds.paths['index.html']}")
        return 0
    with setup_logging(quiet=quiet), FitProgress(disable=quiet) as bar:
        result = run_backtest(settings, progress=bar, title=title)
    print(format_table(result.report))
    if result.paths.get("report.html"):
        print(f"report: {result.paths['report.html']}")
    return 0


def _cmd_run(args) -> int:
    return _run(settings_from_args(args))


def _cmd_check(args) -> int:
    from btlstm.lookahead import check_lookahead
    from btlstm.progress import setup_logging

    settings = settings_from_args(args)
    with setup_logging(quiet=settings.output.quiet):
        result = check_lookahead(settings, cuts=args.cuts, after=args.after,
                                 seed=args.perturb_seed,
                                 where={"cuts": "--cuts", "after": "--after"})  # fmt: skip
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
    else:
        print(result.table())
    return result.exit_code


def _cmd_check_cerebro(args) -> int:
    from btlstm.data import load
    from btlstm.errors import SettingsError
    from btlstm.lookahead import check_cerebro, load_script

    module = load_script(args.script)
    build = getattr(module, args.function, None)
    if not callable(build):
        raise SettingsError(
            f"{args.script} has no function {args.function!r}: define "
            f"{args.function}(data) returning a ready bt.Cerebro (or name yours with --function)"
        )
    data = load(args.data, data_dir=args.data_dir, start=args.start, end=args.end)
    result = check_cerebro(build, data, cuts=args.cuts,
                           after=20 if args.after is None else args.after,
                           seed=args.perturb_seed, start=args.cuts_from,
                           where={"cuts": "--cuts", "after": "--after"})  # fmt: skip
    print(json.dumps(result.to_dict(), indent=1) if args.json else result.table())
    return result.exit_code


def _cmd_demo(args) -> int:
    from btlstm.settings import Settings

    d = dict(
        data=dict(
            data="synthetic",
            synthetic=dict(n=2000, start="2008-01-02", signal=args.signal, seed=args.seed),
        ),
        model=dict(
            train_start="2008-01-01",
            train_end="2013-12-31",
            test_start="2014-01-01",
            test_end=None,  # to the end of the synthetic data (not the hold strategy's 2017)
            seed=args.seed,
            epochs=args.epochs,
        ),
        strategy=dict(name="hold"),
        output=dict(out=args.out, quiet=args.quiet, force=args.force),
    )
    print(
        "btlstm demo: SYNTHETIC DATA. A generated index with a planted, partly predictable\n"
        f"trend component (signal={args.signal}); nothing here is a market result. For real data\n"
        f"next: {next_step()}\n",
        file=sys.stderr,
    )
    return _run(Settings.from_dict(d), title="btlstm demo: hold 5 days on a SYNTHETIC index")


#: Where a checkout's data folder may stand, relative to the current folder.
_DATA_CANDIDATES = ("../shared/data", "shared/data")


def next_step(dataset: str = "csi300") -> str:
    """The command that runs ``btlstm run hold`` on real data from here, as it must be
    typed: plain when the data folder ($BTLSTM_DATA, else ~/.btlstm/data) holds the
    dataset; with ``--data-dir`` when a checkout's data folder is found beside the
    current folder; else the download (``btlstm fetch``) or ``BTLSTM_DATA`` first."""
    from pathlib import Path

    from btlstm.data import catalog

    rel = catalog.CATALOG[dataset].path
    run = f"btlstm run hold --data {dataset}"
    home = catalog.data_dir(must_exist=False)
    if (home / rel).is_file():
        return f"`{run}` (data folder {home})"
    for cand in _DATA_CANDIDATES:
        if (Path(cand) / rel).is_file():
            return f"`{run} --data-dir {cand}` (or export BTLSTM_DATA={Path(cand).resolve()})"
    return (
        f"`btlstm fetch {dataset}` (Yahoo Finance, needs internet), then `{run}`; or, with a "
        f"data folder holding {rel}, `export BTLSTM_DATA=/path/to/data` first (no data folder "
        f"found: $BTLSTM_DATA, ~/.btlstm/data, {', '.join(_DATA_CANDIDATES)})"
    )


def _cmd_report(args) -> int:
    from btlstm.progress import setup_logging
    from btlstm.report import rebuild_report
    from btlstm.report.runs import resolve_report_dir

    with setup_logging():
        print(rebuild_report(resolve_report_dir(args.dir)))
    return 0


def _add_map_flags(parser) -> None:
    """The ``[data]`` column-map flags (the keys of btlstm.data.columnmap.ColumnMap),
    typed and documented as in ``btlstm run``."""
    from btlstm._settings import field_defaults, field_help, field_types
    from btlstm.data.columnmap import MAP_KEYS
    from btlstm.settings import DataSettings, field_flag

    g = parser.add_argument_group("[data] column map (as in btlstm run; docs/data.md)")
    helps, defaults, types_ = (
        field_help(DataSettings),
        field_defaults(DataSettings),
        field_types(DataSettings),
    )
    for key in MAP_KEYS:
        kw = dict(dest=f"data.{key}", default=None, help=_escape(helps.get(key, "")))
        if types_[key] is bool:
            g.add_argument(field_flag(key), action=argparse.BooleanOptionalAction, **kw)
        elif types_[key] == (bool | None):  # --header, --no-header, --header false (as run)
            g.add_argument(field_flag(key), action=_Switch, **kw)
        else:
            conv = _typed(types_[key], defaults[key], field_flag(key))
            g.add_argument(field_flag(key), type=conv, metavar=key.upper(), **kw)


def _data_settings(args):
    """The [data] settings of ``btlstm data``: ``--config`` then the map flags."""
    from btlstm.data.columnmap import MAP_KEYS
    from btlstm.settings import Settings, field_flag

    flags = {k: getattr(args, f"data.{k}") for k in MAP_KEYS}
    flags = {k: v for k, v in flags.items() if v is not None}
    if args.dataset:
        flags["data"] = args.dataset
    origins = {("data", k): field_flag(k) for k in flags if k != "data"}
    origins[("data", "data")] = f"btlstm data {args.what}"
    if args.config:
        s = Settings.from_toml(args.config, overrides={"data": flags}, origins=origins,
                               data_only=True)  # its [data] only: nothing of it runs
    else:
        s = Settings.from_dict({"data": flags}, origins=origins)
    if args.data_dir:
        s.data.data_dir = args.data_dir
    return s


def _cmd_data(args) -> int:
    from btlstm.data import catalog
    from btlstm.data.presets import check_map

    if args.what == "list":
        rows = catalog.list_datasets(args.data_dir)
        for r in rows:
            mark = "ok " if r.get("present") else "-- "
            print(f"{mark}{r['name']:<22} {r.get('kind', ''):<6} {r.get('description', '')}")
        return 0
    if not args.dataset and not args.config:
        print(
            f"btlstm: error: btlstm data {args.what} needs a "
            + ("dataset name or a file" if args.what == "summary" else "file")
            + " (or --config with a [data] data = ... entry)",
            file=sys.stderr,
        )
        return 2
    s = _data_settings(args)
    check_map(s.data_map(), s.data_where)
    if args.what == "inspect":
        from btlstm.data.inspect import inspect_file

        target = s.data.data
        if target in catalog.CATALOG and "{" not in catalog.CATALOG[target].path:
            target = catalog.data_dir(s.data.data_dir) / catalog.CATALOG[target].path
        ins = inspect_file(target, s.data_map(), where=s.data_where)
        print(ins.toml if args.toml else ins.report(), end="")
        if ins.error:
            print(f"btlstm: error: {ins.error}", file=sys.stderr)
            return 2
        return 0
    repair = args.repair or s.data.repair
    obj = catalog.load(s.data.data, data_dir=s.data.data_dir, repair=repair,
                       data_map=s.data_map(), where=s.data_where)  # fmt: skip
    print(json.dumps(catalog.describe(obj), indent=2, default=str))
    return 0


def _cmd_fetch(args) -> int:
    from btlstm.data import catalog
    from btlstm.data.yahoo import fetch_dataset, fetch_yahoo

    names = set(catalog.CATALOG) if hasattr(catalog, "CATALOG") else set()
    kw = dict(data_dir=args.data_dir, refresh=args.refresh, start=args.start, end=args.end,
              verbose=args.verbose)  # fmt: skip
    for item in args.names:
        if item in names:
            out = fetch_dataset(item, **kw)
        else:
            out = fetch_yahoo([item], **kw)
        for sym, f in out.items():
            print(f"{sym}: {len(f)} rows {f.index[0].date()}..{f.index[-1].date()}")
    return 0


def _cmd_sweep(args) -> int:
    from btlstm.checks import check_cap
    from btlstm.progress import setup_logging
    from btlstm.sweep import load_sweep, run_sweep

    if args.workers is not None:
        check_cap("--workers", args.workers, "workers", args.allow_large,
                  lift="--allow-large lifts the cap")  # fmt: skip
    # the run count first (--yes past SWEEP_CONFIRM_RUNS), then every entry, before any run
    sweep = load_sweep(args.config, repeats=args.repeats, yes=args.yes or None,
                       allow_large=args.allow_large or None, workers=args.workers,
                       plugins=[args.plugin] if args.plugin else ())  # fmt: skip
    with setup_logging(quiet=args.quiet):
        result = run_sweep(
            sweep,
            args.out,
            engine=args.engine,
            workers=args.workers,
            address=args.address,
            progress=not args.quiet,
        )
    means = result.summary.pivot_table(index="config", columns="metric", values="mean", sort=False)
    cols = ["rmse", "hit_rate", "ic", "rank_ic", "loss_gap", "total_return", "sharpe"]
    print(means.reindex(columns=cols).to_string(float_format=lambda v: f"{v:.4f}"))
    verdict = json.loads(result.paths["significance.json"].read_text()).get("verdict")
    if verdict:
        print(f"VERDICT: {verdict}")
    print(
        f"{result.ran} runs done, {result.reused} reused, {result.seconds:.0f}s: "
        f"{result.paths['index.html']}"
    )
    return 0


def build_parser(learner=None) -> argparse.ArgumentParser:
    """The ``btlstm`` parser; ``run`` and ``paper`` carry the flags of ``learner`` (a
    registered name or class; default :data:`btlstm.learners.DEFAULT_LEARNER`). Parsing
    arguments that choose another learner (``--learner NAME``, ``[model] learner`` of
    ``--config``) parses them with that learner's flags."""
    from btlstm import learners, registry

    if learner is None or isinstance(learner, str):
        learner = learners.get_learner(learner or learners.DEFAULT_LEARNER)
    _note_learner_flags()

    p = _Parser(
        prog="btlstm",
        description="Walk-forward LSTM forecasting inside Backtrader",
        allow_abbrev=False,
    )
    from btlstm import __version__

    p.add_argument("--version", action="version", version=f"btlstm {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    d = sub.add_parser("demo", help="the full journey on a SYNTHETIC market (no data, no internet)")
    d.add_argument("--out", default=None, help="output folder (default: a new run folder "
                   "btlstm-out/hold-synthetic-<time>/, then btlstm-out/latest)")  # fmt: skip
    d.add_argument("--force", action="store_true",
                   help="replace another run's report in the --out folder")  # fmt: skip
    d.add_argument("--seed", type=int, default=0, help="seed of the market and the model [0]")
    d.add_argument("--epochs", type=int, default=20, help="maximum training epochs [20]")
    d.add_argument(
        "--signal", type=float, default=0.3, help="planted predictable share [0.3]; 0 = noise"
    )
    d.add_argument("--quiet", action="store_true", help="no progress bar, only the table")
    d.set_defaults(func=_cmd_demo)

    r = sub.add_parser("run", help="run a registered strategy: " + ", ".join(registry.names()))
    r.add_argument("--plugin", metavar="MODULE", dest="run_plugin", help=_PLUGIN_HELP)
    rs = r.add_subparsers(dest="what", required=True, metavar="STRATEGY", parser_class=_Parser)
    for _, plan in sorted(registry.plans().items()):  # by name, whatever the import order
        _add_run_parser(rs, plan, learner=learner)

    pp = sub.add_parser(
        "paper",
        help="paper trading: a registered strategy on a live replay feed (same flags as run)",
    )
    ps = pp.add_subparsers(dest="what", required=True, metavar="STRATEGY", parser_class=_Parser)
    for plan in registry.plans().values():
        _add_run_parser(ps, plan, live=True, learner=learner)

    ck = sub.add_parser(
        "check",
        help="checks of a run: lookahead (rewrite the future, show nothing before it changed)",
    )
    cks = ck.add_subparsers(dest="check", required=True, metavar="CHECK", parser_class=_Parser)
    la = cks.add_parser(
        "lookahead",
        help="perturb the data after cut points; exit 1 when a feature, prediction or order "
        "at or before a cut changed (docs/lookahead.md)",
    )
    las = la.add_subparsers(dest="what", required=True, metavar="STRATEGY", parser_class=_Parser)
    for _, plan in sorted(registry.plans().items()):
        cp = _add_run_parser(las, plan)
        g = cp.add_argument_group("look-ahead check")
        g.add_argument("--cuts", type=int, default=5, metavar="N",
                       help="cut points spread over the test period (1 to 50) [5]")  # fmt: skip
        g.add_argument("--after", type=int, default=None, metavar="BARS",
                       help="perturbed bars kept after each cut [2 x horizon, at least 10]")
        g.add_argument("--perturb-seed", type=int, default=0, metavar="SEED",
                       help="seed of the random rewrite of the future [0]")  # fmt: skip
        g.add_argument("--json", action="store_true", help="print the result as JSON")
        cp.set_defaults(func=_cmd_check)
    cc = cks.add_parser(
        "cerebro",
        help="the same check on your own cerebro script: FILE defines build(data) -> "
        "bt.Cerebro; its indicator lines and orders are compared (docs/lookahead.md)",
    )
    cc.add_argument("script", metavar="FILE", help="your .py file (imported, as --plugin)")
    cc.add_argument("--function", default="build",
                    help="the function of FILE that builds the cerebro from data [build]")
    cc.add_argument("--data", required=True, metavar="NAME|FILE",
                    help="a catalogue dataset, yahoo:TICKER or a CSV file")  # fmt: skip
    cc.add_argument("--data-dir", help="data directory (default: $BTLSTM_DATA)")
    cc.add_argument("--start", metavar="YYYY-MM-DD", help="first bar loaded")
    cc.add_argument("--end", metavar="YYYY-MM-DD", help="last bar loaded")
    cc.add_argument("--cuts-from", metavar="YYYY-MM-DD",
                    help="the cuts spread from this date on [the data's 20%% point]")
    cc.add_argument("--cuts", type=int, default=5, metavar="N", help="cut points (1 to 50) [5]")
    cc.add_argument("--after", type=int, default=None, metavar="BARS",
                    help="perturbed bars kept after each cut [20]")
    cc.add_argument("--perturb-seed", type=int, default=0, metavar="SEED",
                    help="seed of the random rewrite [0]")
    cc.add_argument("--json", action="store_true", help="print the result as JSON")
    cc.set_defaults(func=_cmd_check_cerebro)

    rp = sub.add_parser(
        "report",
        help="rebuild report.html and the plots from the files of a finished run",
        description="Redraw report.html and the PNG plots of a finished run from its "
        "report.json and CSVs (also when they were deleted or changed), and update "
        "manifest.json. A data file that is missing or changed since the run is refused.",
    )
    rp.add_argument("dir", metavar="DIR", nargs="?", default=None,
                    help="the run's output folder (default: btlstm-out/latest, the last run "
                    "without --out; btlstm-out reads its latest too)")  # fmt: skip
    rp.set_defaults(func=_cmd_report)

    da = sub.add_parser(
        "data",
        help="the dataset catalogue; inspect any CSV file",
        description="list: the catalogue; summary NAME|FILE: rows, dates, symbols; "
        "inspect FILE: encoding, separator, columns, row order, dates, defects and the [data] "
        "TOML block that reads the file. --config reads only the file's [data] settings "
        "(a strategy module it names is never imported)",
    )
    da.add_argument(
        "what",
        choices=["list", "summary", "inspect"],
        help="list: every dataset and whether it is present; summary: one dataset or file; "
        "inspect: how a CSV file is read, as a [data] TOML block",
    )
    da.add_argument(
        "dataset", nargs="?", metavar="NAME|FILE", help="a catalogue name or a CSV file path"
    )
    da.add_argument(
        "--data-dir", help="data directory (default: $BTLSTM_DATA, else ~/.btlstm/data)"
    )
    da.add_argument("--repair", nargs="?", const="drop", choices=["raise", "drop"],
                    help="drop: drop rows with known defects (each logged); --repair alone "
                    "is --repair drop, as in btlstm run")  # fmt: skip
    da.add_argument(
        "--config", metavar="TOML", help="a TOML file whose [data] section reads the file"
    )
    da.add_argument("--toml", action="store_true", help="inspect: print only the [data] block")
    _add_map_flags(da)
    da.set_defaults(func=_cmd_data)

    f = sub.add_parser(
        "fetch",
        help="download Yahoo Finance data into the data directory (needs internet)",
        description="Download daily bars from Yahoo Finance into the data directory, in the "
        "layout the readers read, each file with a sha256 manifest. Only btlstm's own files "
        "(with a manifest) are ever replaced; a folder holding files btlstm did not write "
        "is refused before any download.",
    )
    f.add_argument("names", nargs="+", help="catalogue names (sector_etfs, spy) or Yahoo tickers")
    f.add_argument("--data-dir", help="data directory to write into (default: $BTLSTM_DATA, "
                   "else ~/.btlstm/data; created if missing)")  # fmt: skip
    f.add_argument("--start", metavar="YYYY-MM-DD", help="first date (default: all history)")
    f.add_argument("--end", metavar="YYYY-MM-DD",
                   help="end date, exclusive as in yfinance (default: today)")  # fmt: skip
    f.add_argument("--refresh", action="store_true", help="download again even when btlstm's "
                   "own cached files are valid (files btlstm did not write are never replaced)")  # fmt: skip
    f.add_argument("--verbose", action="store_true", help="show yfinance's own messages and "
                   "warnings instead of a one-line summary")  # fmt: skip
    f.set_defaults(func=_cmd_fetch)

    sw = sub.add_parser(
        "sweep", help="a grid of model settings x seeds (regularization experiments)"
    )
    sw.add_argument("--config", required=True, metavar="TOML", help="the sweep file (examples/)")
    sw.add_argument("--engine", choices=["local", "ray", "serial"], default="local",
                    help="local: worker processes on this machine; ray: a Ray cluster; "
                    "serial: one run after another in this process [local]")  # fmt: skip
    sw.add_argument("--address", help="Ray cluster address (--engine ray; default: start one)")
    sw.add_argument("--workers", type=int, help="parallel runs (default: the machine's cores)")
    sw.add_argument("--repeats", type=int, help="seeds per configuration ([sweep] repeats)")
    sw.add_argument("--out", default=None, help="sweep folder (resumes if it holds this "
                    "sweep; default: a new folder btlstm-out/sweep-<config>-<time>/)")
    sw.add_argument("--yes", action="store_true", help="start a sweep of more than 100 runs "
                    "(the run count and a time estimate are shown first) ([sweep] yes)")  # fmt: skip
    sw.add_argument("--allow-large", action="store_true", help="lift the caps on "
                    "configurations, repeats, runs and workers (docs/safety.md) "
                    "([sweep] allow_large)")  # fmt: skip
    sw.add_argument("--plugin", metavar="MODULE", help=_PLUGIN_HELP)
    sw.add_argument("--quiet", action="store_true", help="no progress, only the summary table")
    sw.set_defaults(func=_cmd_sweep)
    p.for_learner = learner
    return p


def _note_learner_flags() -> None:
    """:data:`_LEARNER_FLAGS` of every learner of windows (for the hint on a flag of a
    learner other than the chosen one)."""
    from btlstm import learners
    from btlstm._settings import field_types
    from btlstm.forecast.walkforward import WalkForwardConfig
    from btlstm.settings import field_flag

    common = {field_flag(k) for k in field_types(WalkForwardConfig)}
    _LEARNER_FLAGS.clear()
    for name in _window_learners():
        for k in field_types(learners.get_learner(name).Settings):
            if field_flag(k) not in common:
                _LEARNER_FLAGS.setdefault(field_flag(k), []).append(name)


def _error(message) -> None:
    """Print ``btlstm: error: <message>`` as one line (a message of several lines is joined)."""
    text = " | ".join(line.strip() for line in str(message).splitlines() if line.strip())
    print(f"btlstm: error: {text}", file=sys.stderr)


#: OSError numbers that mean "the path you gave" (exit 2), not "the machine" (exit 1)
_USER_ERRNOS = {"ENOENT", "ENOTDIR", "EISDIR", "EACCES", "EPERM", "ENAMETOOLONG", "ELOOP",
                "EROFS", "EEXIST", "ENXIO"}  # fmt: skip


def _os_message(e: OSError) -> str:
    """An OSError in words, naming the path (a long one shortened), without ``[Errno N]``."""
    name = e.filename if e.filename is not None else ""
    name = str(name)
    shown = f"{name[:60]!r}..." if len(name) > 60 else repr(name)
    why = e.strerror or str(e)
    if e.errno == errno.ENAMETOOLONG:
        why = "the name is too long for the file system (at most 255 bytes a part)"
    return f"{shown}: {why}" if name else why


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    return _guarded(_main, argv)


def _main(argv) -> int:
    _preload_plugins(argv)
    args = build_parser().parse_args(argv)
    return args.func(args)


def _guarded(fn, *args) -> int:
    """Run ``fn``; every error the user can cause becomes one ``btlstm: error:`` line."""
    try:
        return fn(*args)
    except (DataError, ValueError) as e:
        _error(e)
        return 2
    except OSError as e:  # a path the user gave: 2; the machine (disk full ...): 1
        _error(_os_message(e))
        user = (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
        code = errno.errorcode.get(e.errno or 0, "")
        return 2 if isinstance(e, user) or code in _USER_ERRNOS else 1
    except MemoryError:
        _error(
            "out of memory: the run needs more memory than this machine has; make the "
            "sizes smaller (docs/safety.md, Bounds)"
        )
        return 2
    except KeyboardInterrupt:
        print("btlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
