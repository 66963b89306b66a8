"""The house's one-way flow: no import circles, no import of a higher layer, TensorFlow only for an LSTM.

Every ``import`` of every module of ``btlstm/`` and ``strategies/`` (read with
``ast``, also the imports inside functions, which run later but still tie two
modules together) is an edge of a graph of modules. The tests fail on

- a cycle (a module that reaches itself through its imports);
- an edge to a module of a higher layer than the importer's (:data:`LAYERS`,
  the order DESIGN.md and docs/README.md write down);
- a module that belongs to no layer (a new module must be given one here);
- an import by the data layer of anything above it (the run's data loading and its
  checks live in ``btlstm.data.loading``, not in the pipeline);
- an import of a deprecated alias (the old path of a moved module,
  scripts/reorg_packages.py), which stands in the top layer;
- a module that imports TensorFlow / Keras when it is imported (only the
  Keras modules may: :data:`TENSORFLOW_AT_IMPORT`).

and, in a fresh process, loading a cached ridge model and a cached LightGBM
ranker must not import TensorFlow.
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def modules() -> dict[str, Path]:
    """``{module name: file}`` of every module of btlstm/ and strategies/."""
    out = {}
    for pkg in ("btlstm", "strategies"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = modules()

#: The first line of a deprecation alias left at a moved module's old path.
ALIAS_MARKER = "# btlstm: deprecated alias, written by scripts/reorg_packages.py"


def _is_alias(path: Path) -> bool:
    with path.open(encoding="utf-8") as f:
        return f.readline().rstrip("\n") == ALIAS_MARKER


#: The deprecation aliases (modules at the old paths of moved ones).
ALIASES = tuple(name for name, path in MODULES.items() if _is_alias(path))


#: The layers, lowest first. A module may import modules of its own layer or of a
#: lower one, never of a higher one. A name ending in "." is a package: every
#: module in it (present or future) belongs to that layer.
LAYERS = (
    # errors, checks, conversions, crash-safe files, named splits, settings helpers, where
    # work runs (worker processes, Ray)
    ("bottom", ("btlstm", "btlstm._compat", "btlstm.errors", "btlstm.checks",
                "btlstm.convert", "btlstm._files", "btlstm.splits", "btlstm._settings",
                "btlstm.progress", "btlstm.executor")),
    # every source -> one canonical frame, a run's data loaded and checked
    # (btlstm.data.loading); synthetic markets. Imports nothing above it.
    ("data", ("btlstm.data", "btlstm.data.", "btlstm.synthetic")),
    # plain arrays: the forecasting side's inputs (btlstm.forecast: windows and labels,
    # the no-look-ahead schedule, the data checked against it), metrics, statistics
    ("numbers", ("btlstm.forecast", "btlstm.forecast.features", "btlstm.forecast.featurelib",
                 "btlstm.forecast.xsfeatures",
                 "btlstm.forecast.schedule", "btlstm.forecast.trainchecks", "btlstm.metrics",
                 "btlstm.significance", "btlstm.summary")),
    # fit / predict / save / load (btlstm.learners; the Keras network, models, and its
    # penalties, regularizers, included)
    ("learners", ("btlstm.learners", "btlstm.learners.")),
    # the forecasting side's engines: schedule x learner -> predictions, for a feed and
    # for a panel's cross-section
    ("walk-forward", ("btlstm.forecast.walkforward", "btlstm.forecast.xswalkforward")),
    # the Backtrader side (btlstm.bt): feeds, brokers and market rules, rebalancing,
    # indicators, signals, analyzers, the cerebro factory
    ("backtrader", ("btlstm.bt", "btlstm.bt.", "btlstm.plotting")),
    # strategies and the registry that names them (they import each other's package)
    ("strategies", ("btlstm.registry", "strategies", "strategies.")),
    # plain data -> table, files, plots, html
    ("report", ("btlstm.report", "btlstm.report.")),
    # settings -> a run: the pipeline, sweeps, paper trading
    ("orchestration", ("btlstm.settings", "btlstm.pipeline", "btlstm.experiments",
                       "btlstm.sweep", "btlstm.sweep.", "btlstm.lookahead", "btlstm.live",
                       "btlstm.live.")),
    ("command line", ("btlstm.cli",)),
    # the old paths of moved modules (scripts/reorg_packages.py), deprecation aliases kept
    # for one release: on top, so no module of ours may import one
    ("deprecated aliases", ALIASES),
)  # fmt: skip

#: Import cycles allowed for now (a stale entry fails too, so the list only shrinks).
KNOWN_CYCLES: dict = {}

#: The only modules that import TensorFlow (Keras) when they are imported.
TENSORFLOW_AT_IMPORT = {"btlstm.learners.models", "btlstm.learners.regularizers"}


# --------------------------------------------------------------------------- the graph
@functools.cache
def _tree(name: str) -> ast.Module:
    return ast.parse(MODULES[name].read_text(encoding="utf-8"))


def _known(name: str) -> str | None:
    """The module an import of ``name`` runs: ``btlstm.strategies.x`` is the folder
    strategies/; a name inside a module (``btlstm.forecast.walkforward.WalkForward``) is that module."""
    if name == "btlstm.strategies" or name.startswith("btlstm.strategies."):
        name = "strategies" + name[len("btlstm.strategies") :]
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, tree: ast.AST, top_level_only: bool = False):
    """``(target, line)`` for every import in ``tree`` of module ``name``."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    nodes = ast.iter_child_nodes(tree) if top_level_only else ast.walk(tree)
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if top_level_only:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue  # runs when called, not when the module is imported
            stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield (sub if _known(sub) == sub else base), node.lineno


@functools.cache
def graph() -> dict[str, dict[str, int]]:
    """``{module: {imported btlstm module: line}}`` over every import, also inside functions."""
    out: dict[str, dict[str, int]] = {}
    for name in MODULES:
        edges = out.setdefault(name, {})
        for target, line in _imports(name, _tree(name)):
            known = _known(target)
            if known is not None and known != name:
                edges.setdefault(known, line)
    return out


def cycles(g: dict[str, dict]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int | None:
    """The index in :data:`LAYERS` of ``module`` (None: in no layer)."""
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if module == n or (n.endswith(".") and module.startswith(n)):
                return i
    return None


def _path(g, a: str, b: str) -> list[str]:
    """One import path a -> ... -> b (breadth first), to show a cycle."""
    prev, todo = {a: None}, [a]
    while todo:
        x = todo.pop(0)
        for y in g[x]:
            if y not in prev:
                prev[y] = x
                todo.append(y)
    out, x = [], b
    while x is not None:
        out.append(x)
        x = prev.get(x)
    return out[::-1]


# --------------------------------------------------------------------------- tests
def test_the_graph_sees_every_kind_of_import(tmp_path):
    """The walker reads relative imports, imports inside functions, names imported from a
    module, submodules imported from a package and the btlstm.strategies alias."""
    g = graph()
    assert "btlstm.forecast.walkforward" in g["btlstm.bt.indicators"]  # top level, from-import of a name
    assert "btlstm.forecast.schedule" in g["btlstm.forecast.trainchecks"]  # inside a function
    assert "btlstm.registry" in g["btlstm.settings"]  # `from btlstm import registry`
    assert "strategies.buyhold" in g["strategies.hold"]  # btlstm.strategies.buyhold
    assert "btlstm.data.cache" in g["btlstm.data"]  # relative or absolute, in a package
    assert "btlstm.learners" not in g["btlstm.learners.base"]  # its package is no edge
    # a cycle through a function-level import is a cycle
    toy = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert cycles(toy) == [["a", "b", "c"]]
    assert _path(toy, "a", "c") == ["a", "b", "c"]


def test_no_import_cycles():
    g = graph()
    found = {frozenset(c): c for c in cycles(g)}
    unexpected = [c for key, c in found.items() if key not in KNOWN_CYCLES]
    shown = [" -> ".join(_path(g, c[0], c[1]) + _path(g, c[1], c[0])[1:]) for c in unexpected]
    assert not unexpected, "import cycles:\n" + "\n".join(shown)
    stale = [sorted(k) for k in KNOWN_CYCLES if k not in found]
    assert not stale, f"KNOWN_CYCLES lists cycles that are gone: {stale}; remove them"


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if layer_of(m) is None)
    assert not missing, f"modules in no layer of tests/test_layers.py LAYERS: {missing}"


def test_no_module_imports_a_higher_layer():
    bad = []
    for a, edges in graph().items():
        la = layer_of(a)
        for b, line in edges.items():
            lb = layer_of(b)
            if la is not None and lb is not None and lb > la:
                bad.append(
                    f"{MODULES[a].relative_to(ROOT)}:{line}: {a} ({LAYERS[la][0]}) imports "
                    f"{b} ({LAYERS[lb][0]})"
                )
    assert not bad, "imports up the layers:\n" + "\n".join(bad)


def _layer(name: str) -> int:
    return next(i for i, (layer, _) in enumerate(LAYERS) if layer == name)


def test_the_data_layer_imports_nothing_above_it():
    """The data layer (every source -> a canonical frame, a run's data loaded and checked,
    the synthetic markets) imports only itself and the bottom layer, also inside
    functions: no settings, no schedule, no pipeline. The pipeline's loading is its."""
    data = _layer("data")
    members = sorted(m for m in MODULES if layer_of(m) == data)
    assert {"btlstm.data", "btlstm.data.loading", "btlstm.data.readers", "btlstm.synthetic"} <= set(
        members
    )
    bad = [
        f"{MODULES[a].relative_to(ROOT)}:{line}: {a} imports {b} ({LAYERS[layer_of(b)][0]})"
        for a in members
        for b, line in graph()[a].items()
        if layer_of(b) is None or layer_of(b) > data
    ]
    assert not bad, "the data layer imports a higher layer:\n" + "\n".join(bad)
    from btlstm import pipeline
    from btlstm.data import loading

    assert pipeline.load_data is loading.load_data
    assert pipeline.check_data.__module__ == "btlstm.forecast.trainchecks"
    assert "def load_data" not in MODULES["btlstm.pipeline"].read_text(encoding="utf-8")


def test_the_packages_show_the_flow():
    """The forecasting side, the learners' own modules and the Backtrader side are packages;
    each old path is an alias in the top layer, and no module imports one."""
    for pkg, mods in (
        ("btlstm.forecast", ("features", "featurelib", "xsfeatures", "schedule", "trainchecks",
                             "walkforward", "xswalkforward")),
        ("btlstm.learners", ("models", "regularizers")),
        ("btlstm.bt", ("feeds", "broker", "ashare", "rebalance", "indicators", "signals",
                       "analyzers", "cerebro")),
    ):  # fmt: skip
        for m in mods:
            assert f"{pkg}.{m}" in MODULES and not _is_alias(MODULES[f"{pkg}.{m}"]), m
    assert len(ALIASES) == 15, ALIASES
    assert all(layer_of(a) == len(LAYERS) - 1 for a in ALIASES)
    users = sorted(f"{a} imports {b}" for a, edges in graph().items() for b in edges if b in ALIASES)
    assert not users, users


def _imports_tensorflow_itself(name: str) -> bool:
    tree = _tree(name)
    if any(t.split(".")[0] in ("tensorflow", "keras") for t, _ in _imports(name, tree, True)):
        return True
    calls = (n for n in ast.iter_child_nodes(tree) if isinstance(n, ast.Expr))
    return any(  # btlstm._compat.import_tensorflow_quietly() at module level
        isinstance(c.value, ast.Call)
        and getattr(c.value.func, "id", None) == "import_tensorflow_quietly"
        for c in calls
    )


def test_tensorflow_is_imported_only_by_the_keras_modules():
    """Importing any other module (directly or through what it imports at its top
    level) leaves TensorFlow out: it loads where an LSTM is built, trained or loaded."""
    top = {}
    for name in MODULES:
        top[name] = {_known(t) for t, _ in _imports(name, _tree(name), True)} - {None, name}
    heavy = {m for m in MODULES if _imports_tensorflow_itself(m)}
    assert heavy <= TENSORFLOW_AT_IMPORT, heavy
    changed = True
    while changed:  # everything that imports a heavy module at its top level is heavy
        grown = {m for m, deps in top.items() if deps & heavy}
        changed = not grown <= heavy
        heavy |= grown
    assert heavy == TENSORFLOW_AT_IMPORT, sorted(heavy - TENSORFLOW_AT_IMPORT)


RIDGE = dict(lookback=10, retrain_every=50, min_train=60, learner="ridge")
RANKER = ({"min_train": 400, "retrain_every": 40}, {"n_estimators": 5, "min_data_in_leaf": 5})
FRAME, PANEL = dict(n=200, seed=1), dict(n_symbols=8, n=160, seed=3)

_NO_TF = textwrap.dedent(
    f"""
    import sys
    from btlstm.synthetic import synthetic_ohlcv, synthetic_panel
    from btlstm.forecast.walkforward import WalkForward
    from btlstm.forecast.xswalkforward import RankerWalkForward

    ridge = WalkForward({RIDGE!r}, cache_dir=sys.argv[1])
    ridge.predict(synthetic_ohlcv(**{FRAME!r}))
    ranker = RankerWalkForward(*{RANKER!r}, cache_dir=sys.argv[1])
    ranker.scores(synthetic_panel(**{PANEL!r}))
    fits = ridge.fits + ranker.fits
    heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
    print(len(fits), all(f.cached for f in fits), heavy)
    """
)


def test_cached_ridge_and_lightgbm_models_load_without_tensorflow(tmp_path):
    """A fresh process that loads cached ridge and LightGBM models never imports TensorFlow
    (the caches are written here first; the new process must load every fit from them)."""
    from btlstm.forecast.walkforward import WalkForward
    from btlstm.forecast.xswalkforward import RankerWalkForward
    from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

    cache = tmp_path / "cache"
    ridge = WalkForward(RIDGE, cache_dir=cache)
    ridge.predict(synthetic_ohlcv(**FRAME))
    ranker = RankerWalkForward(*RANKER, cache_dir=cache)
    ranker.scores(synthetic_panel(**PANEL))
    n = len(ridge.fits) + len(ranker.fits)
    assert len(ridge.fits) >= 2 and len(ranker.fits) >= 2
    assert not any(f.cached for f in ridge.fits + ranker.fits)
    done = subprocess.run(
        [sys.executable, "-c", _NO_TF, str(cache)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [str(n), "True", "[]"], done.stdout


if __name__ == "__main__":  # python tests/test_layers.py: print the layers and the graph
    for i, (layer, _) in enumerate(LAYERS):
        print(f"{i} {layer}: {', '.join(m for m in MODULES if layer_of(m) == i)}")
    sys.exit(pytest.main([__file__, "-q"]))
