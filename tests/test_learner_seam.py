"""The learner seam: no module outside ``btlstm/learners/`` tests a learner's name.

Everything that is about a model (its bounds, memory estimate, TensorFlow needs,
cache key) is asked of the learner's class (:class:`btlstm.learners.base.Learner`);
a module elsewhere that compares with a learner's name (``learner == "lstm"``,
``name in ("lstm", "ridge")``), dispatches on it (``{"lstm": ...}``, ``case "lstm":``)
or defaults to it (``learner="lstm"``, ``.get("learner", "lstm")``,
``x or "lstm"``) leaks the seam: a new learner would silently miss that branch.

The names come from the registry (:data:`btlstm.learners.LEARNERS` and each
class's ``aliases``), so a learner added later is covered too. Docstrings, help
texts and messages that mention a name are fine: the modules are read with
``ast`` and only comparisons, dispatch tables, ``match`` cases and default values
count. The test checks itself: a tree with ``if learner == "lstm":`` (and the other
forms) planted in a temporary copy fails it.
"""

from __future__ import annotations

import ast
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from btlstm import learners
from btlstm.learners import LEARNERS, Learner, get_learner, learner_names, register_learner

ROOT = Path(__file__).resolve().parent.parent
#: the packages read: btlstm/ (less btlstm/learners/) and the strategies (btlstm.strategies)
PACKAGES = ("btlstm", "strategies")
EXEMPT = ("btlstm/learners/",)


def _str(node) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _named(node, names) -> list[str]:
    """The learner names among ``node`` (a string) or its items (a tuple, list or set)."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [n for e in node.elts for n in _named(e, names)]
    s = _str(node)
    return [s] if s in names else []


def offences(tree: ast.AST, names) -> list[tuple[int, str]]:
    """``(line, what)`` for every test of, dispatch on or default to a learner name."""
    out = []

    def hit(node, found, how):
        out.extend((node.lineno, f"{how} {name!r}") for name in found)

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                hit(node, _named(side, names), "compares with")
        elif isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    hit(key, _named(key, names), "dispatches on")
        elif isinstance(node, ast.match_case):
            for sub in ast.walk(node.pattern):
                if isinstance(sub, ast.MatchValue):
                    hit(sub, _named(sub.value, names), "matches")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for d in (*node.args.defaults, *node.args.kw_defaults):
                if d is not None:
                    hit(d, _named(d, names), "defaults to")
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            hit(node, _named(node.value, names), "defaults to")  # a dataclass field
        elif isinstance(node, ast.BoolOp):
            for v in node.values:
                hit(v, _named(v, names), "falls back to")
        elif isinstance(node, ast.Call):
            fn = node.func
            attr = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if attr in ("get", "getattr", "setdefault", "pop") and len(node.args) >= 2:
                hit(node, _named(node.args[-1], names), "defaults to")
            for kw in node.keywords:
                if kw.arg and "learner" in kw.arg:
                    hit(kw.value, _named(kw.value, names), "passes")
    return out


def scan(root: Path, names) -> list[str]:
    """Every offence in the modules under ``root`` (a repository), as ``path:line: what``."""
    found = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(EXEMPT):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
            found += [f"{rel}:{line}: {what}" for line, what in offences(tree, names)]
    return found


def test_the_names_come_from_the_registry_with_aliases():
    names = learner_names()
    assert set(LEARNERS) <= set(names)
    assert names[learners.DEFAULT_LEARNER] == learners.DEFAULT_LEARNER
    assert learners.DEFAULT_LEARNER in LEARNERS and learners.DEFAULT_SCORER in LEARNERS
    for cls in LEARNERS.values():
        for alias in cls.aliases:
            assert get_learner(alias) is cls, alias


def test_no_module_outside_learners_tests_a_learner_name():
    found = scan(ROOT, set(learner_names()))
    assert found == [], "a learner name is tested outside btlstm/learners/:\n" + "\n".join(found)


#: planted line(s) -> (what the scan says, the offending line's offset in them)
PLANTED = {
    'if learner == "lstm":\n    pass\n': ("compares with 'lstm'", 0),
    'ok = cfg.learner != "ridge"\n': ("compares with 'ridge'", 0),
    'ok = name in ("lstm", "other")\n': ("compares with 'lstm'", 0),
    'fn = {"lstm": 1, "x": 2}[name]\n': ("dispatches on 'lstm'", 0),
    'ok = getattr(cls, "name", "") == "lstm"\n': ("compares with 'lstm'", 0),
    'def f(learner="lstm"):\n    pass\n': ("defaults to 'lstm'", 0),
    'name = d.get("learner", "ridge")\n': ("defaults to 'ridge'", 0),
    'name = given or "lstm"\n': ("falls back to 'lstm'", 0),
    'match name:\n    case "ridge":\n        pass\n': ("matches 'ridge'", 1),
    'ok = cfg.learner == "zz-seam-alias"\n': ("compares with 'zz-seam-alias'", 0),
}


@pytest.fixture
def seam_learner():
    """A learner registered by the test (with an alias): the names follow the registry."""

    class _Seam(Learner):
        name = "zz-seam"
        aliases = ("zz-seam-alias",)

        def fit(self, *a, **k):  # pragma: no cover - never trained here
            raise NotImplementedError

        predictor = save = load = fit

    before = dict(LEARNERS)
    register_learner(_Seam)
    try:
        yield _Seam
    finally:
        LEARNERS.clear()
        LEARNERS.update(before)


@pytest.mark.parametrize("line", list(PLANTED))
def test_a_planted_name_test_fails_the_scan(line, tmp_path, seam_learner):
    """The scan is not blind: each form planted in a copy of btlstm/ is found, named by
    file and line, and a docstring or message that mentions a name is not."""
    names = set(learner_names())
    assert {"zz-seam", "zz-seam-alias"} <= names and get_learner("zz-seam-alias") is seam_learner
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "btlstm" / "forecast" / "walkforward.py"
    before = target.read_text(encoding="utf-8")
    n = before.count("\n")
    mention = 'def g():\n    """Run with learner == "lstm" or "ridge"."""\n    return f"learner {\'lstm\'!r}"\n'
    target.write_text(before + "\n" + mention + line, encoding="utf-8")
    found = scan(tmp_path, names)
    what, offset = PLANTED[line]
    assert found == [f"btlstm/forecast/walkforward.py:{n + 5 + offset}: {what}"], found
    # and the same line in a learner's own module is that learner's business
    target.write_text(before, encoding="utf-8")
    (tmp_path / "btlstm" / "learners" / "lstm.py").write_text(line, encoding="utf-8")
    assert scan(tmp_path, names) == []


# ---------------------------------------------------------------- the command line
@dataclass
class _TypedSettings:
    """Settings of a learner registered by the tests.

    Args:
        alpha: an integer here (the ridge learner's ``alpha`` is a float).
        width: units of its only layer.
    """

    alpha: int = 3
    width: int = 8


@pytest.fixture
def typed_learner():
    """A learner of windows registered by the test, whose ``alpha`` is an int."""

    class _Typed(Learner):
        name = "zz-typed"
        Settings = _TypedSettings

        def fit(self, *a, **k):  # pragma: no cover - only parsed here
            raise NotImplementedError

        predictor = save = load = fit

    before = dict(LEARNERS)
    register_learner(_Typed)
    try:
        yield _Typed
    finally:
        LEARNERS.clear()
        LEARNERS.update(before)


def _help(capsys, argv) -> str:
    from btlstm.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("command", ["run", "paper"])
def test_learner_help_shows_that_learners_flags_only(command, capsys, typed_learner, tmp_path):
    """``btlstm run hold --learner NAME --help`` shows NAME's flags and no other
    learner's; ``--learner=NAME`` and ``[model] learner`` of ``--config`` choose too."""
    from btlstm.cli import _window_learners

    linear = get_learner("ridge").name  # the ridge learner (an alias once it is renamed)
    default = _help(capsys, [command, "hold", "--help"])
    assert "--lstm-units" in default and "--alpha" not in default and "--width" not in default
    assert "learner 'lstm'; other learners have their own flags: --learner NAME --help" in default
    assert f"(learners: {', '.join(_window_learners())})" in default
    assert {"lstm", linear, "zz-typed"} <= set(_window_learners())
    ridge = _help(capsys, [command, "hold", "--learner", "ridge", "--help"])
    assert "--alpha ALPHA L2 penalty on the coefficients" in ridge and "[1.0]" in ridge
    assert "--lstm-units" not in ridge and "--width" not in ridge and f"learner {linear!r}" in ridge
    typed = _help(capsys, [command, "hold", "--learner=zz-typed", "--help"])
    assert "--alpha ALPHA an integer here" in typed and "[3]" in typed and "--width" in typed
    assert "--lstm-units" not in typed
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nlearner = "ridge"\n', encoding="utf-8")
    assert "--alpha ALPHA L2 penalty" in _help(capsys, [command, "hold", "--config", str(cfg),
                                                       "--help"])  # fmt: skip
    # a flag beats the file; the ranker (a scorer) shows the default learner's flags
    flagged = _help(capsys, [command, "hold", "--config", str(cfg), "--learner", "zz-typed",
                             "--help"])  # fmt: skip
    assert "--width" in flagged
    text = _help(capsys, [command, "hold", "--learner", "ranker", "--help"])
    assert "--lstm-units" in text and "--n-estimators" not in text


@pytest.mark.parametrize("how", ["flag", "config"])
def test_an_unknown_learner_is_one_error_naming_where_it_was_typed(how, capsys, tmp_path):
    from btlstm.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nlearner = "rige"\n', encoding="utf-8")
    argv = ["--learner", "rige"] if how == "flag" else ["--config", str(cfg)]
    assert main(["run", "hold", *argv, "--alpha", "3", "--help"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    where = "--learner" if how == "flag" else f"[model] learner in {cfg}"
    assert len(err) == 1 and err[0].startswith(
        f"btlstm: error: {where}: unknown learner 'rige'; did you mean 'ridge'?"), err


def test_each_learner_coerces_its_flags_by_its_own_types(typed_learner):
    """Two learners with a key of the same name: each flag is read as its learner's type."""
    from btlstm.cli import build_parser, settings_from_args

    def model(*argv):
        args = build_parser().parse_args(["run", "hold", *argv])
        return settings_from_args(args).model

    ridge = model("--learner", "ridge", "--alpha", "5")
    assert get_learner(ridge.learner) is get_learner("ridge")
    assert ridge.learner_settings == {"alpha": 5.0}
    assert type(ridge.learner_settings["alpha"]) is float
    typed = model("--learner", "zz-typed", "--alpha", "5", "--width", "2")
    assert typed.learner == "zz-typed" and typed.learner_settings == {"alpha": 5, "width": 2}
    assert type(typed.learner_settings["alpha"]) is int
    with pytest.raises(SystemExit) as info:
        model("--learner", "zz-typed", "--alpha", "2.5")
    assert info.value.code == 2


def test_a_flag_of_another_learner_says_which_learner_has_it(capsys, monkeypatch):
    from btlstm.cli import main

    # btlstm's own learners only (another test may have registered a subclass of linear)
    own = {k: v for k, v in LEARNERS.items() if v.__module__.startswith("btlstm.")}
    monkeypatch.setattr(learners, "LEARNERS", own)
    linear = get_learner("ridge").name
    with pytest.raises(SystemExit) as info:
        main(["run", "hold", "--alpha", "3"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("btlstm: error: unrecognized arguments: --alpha 3 (--alpha is a flag of "
                   f"learner {linear}: give --learner {linear} as well)")  # fmt: skip


# ---------------------------------------------------------------- the one fit path
class TFRidge(learners.RidgeLearner):
    """A ridge learner that says it needs TensorFlow (module level: a worker imports it)."""

    name = "zz-tf-ridge"
    needs_tensorflow = True


def _samples(n=40, lookback=4, nf=2, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, lookback, nf)).astype("float32")
    return X, X[:, -1, 0] * 0.5 + rng.normal(scale=0.1, size=n).astype("float32")


def test_fit_or_load_seeds_caches_and_refuses_a_changed_file(tmp_path, caplog):
    """Fit k of a run seeded s trains with fit_seed(s, k); the model and its signed
    manifest are written; the next call loads it (no training); a changed file is
    refused with a warning naming it, and the fit is trained and written again."""
    import json

    import numpy as np

    from btlstm.learners.base import fit_seed
    from btlstm.learners.fitting import fit_or_load

    X, y = _samples()
    seeds = []

    def train_with(learner):
        def train(seed):
            seeds.append(seed)
            return learner.fit(X, y, seed=seed)
        return train

    path = tmp_path / "wf-key.npz"
    a = learners.RidgeLearner(4, 2)
    rec = fit_or_load(a, train_with(a), k=3, seed=7, date="2020-01-02", rows=len(X), path=path,
                      kind="test model", total=9)  # fmt: skip
    assert seeds == [fit_seed(7, 3)] == [700024]
    assert (rec.k, rec.date, rec.n_samples, rec.cached, rec.total) == (3, "2020-01-02", 40, False, 9)
    manifest = json.loads(path.with_name(path.name + ".manifest.json").read_text())
    assert (manifest["kind"], manifest["learner"], manifest["fit"], manifest["rows"]) == (
        "test model", a.name, 3, 40)
    b = learners.RidgeLearner(4, 2)
    again = fit_or_load(b, train_with(b), k=3, seed=7, date="2020-01-02", rows=len(X), path=path,
                        kind="test model", epochs=5)  # fmt: skip
    assert len(seeds) == 1 and again.cached and again.epochs == 5 and again.n_samples == 40
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    other = learners.RidgeLearner(4, 2)
    other.fit(X * 2.0, y, seed=1)
    other.save(path)  # another model under this key: the manifest's sha256 no longer holds
    c = learners.RidgeLearner(4, 2)
    with caplog.at_level("WARNING"):
        redo = fit_or_load(c, train_with(c), k=3, seed=7, date="2020-01-02", rows=len(X),
                           path=path, kind="test model")  # fmt: skip
    assert not redo.cached and seeds == [700024, 700024]
    assert str(path) in caplog.text or path.name in caplog.text
    np.testing.assert_array_equal(c.predict(X), a.predict(X))
    # no cache folder: trained every time, with the same seed rule
    d = learners.RidgeLearner(4, 2)
    assert not fit_or_load(d, train_with(d), k=0, seed=2, date="x", rows=40).cached
    assert seeds[-1] == 200006


def test_a_worker_pins_tensorflow_threads_only_for_a_learner_that_needs_it(monkeypatch):
    from btlstm.forecast import walkforward

    pinned = []
    monkeypatch.setattr(walkforward, "_pin_tf_threads", lambda: pinned.append(True))
    monkeypatch.setattr(walkforward, "_WORKER", {})
    X, y = _samples()
    task = dict(data=(X, y, X[:0], y[:0]), fit=dict(seed=5, epochs=1, batch_size=8,
                                                     patience=0, warm=False))  # fmt: skip
    out = walkforward.fit_task({**task, "learner": (learners.RidgeLearner, 4, 2, None)})
    assert pinned == [] and out["record"].n_samples == 40 and len(out["model"]) > 0
    out = walkforward.fit_task({**task, "learner": (TFRidge, 4, 2, None)})
    assert pinned == [True] and out["record"].n_samples == 40
    assert learners.LSTMLearner.needs_tensorflow and learners.LSTMLearner.preload == ("btlstm.learners.models",)
    assert not learners.RidgeLearner.needs_tensorflow and learners.RidgeLearner.preload == ()


def test_a_subclass_does_not_inherit_its_parents_aliases():
    """``ridge`` names the linear learner only: a registered subclass of it (as
    tests/live_helpers.py's SlowRidge) gets no alias unless it declares its own."""

    class Sub(learners.LinearLearner):
        name = "zz-sub"

    class Own(learners.LinearLearner):
        name = "zz-own"
        aliases = ("zz-own-alias",)

    before = dict(LEARNERS)
    try:
        register_learner(Sub)
        register_learner(Own)
        assert Sub.aliases == () and learners.LinearLearner.aliases == ("ridge",)
        assert get_learner("ridge") is learners.LinearLearner
        assert get_learner("zz-own-alias") is Own
        assert learner_names()["ridge"] == "linear"
    finally:
        LEARNERS.clear()
        LEARNERS.update(before)
