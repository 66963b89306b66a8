"""The modules that moved into packages (scripts/reorg_packages.py) keep their old import
paths for one release, and no module of ours uses an old path.

Each old path imports with a DeprecationWarning naming its new path, and is the new
module itself (the same object: a name imported from it or monkeypatched through it is
the new module's). The moves are read from the script (its ``MOVES``), so this file
names no old path itself.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location(
        "reorg_packages", ROOT / "scripts" / "reorg_packages.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REORG = _script()
ALIASED = [(old, new) for old, new, alias in REORG.MOVES if alias]


def test_every_move_is_done():
    """Each new module is a file; each old path is an alias (or gone: a module new in
    this release has none); the new packages have a docstring."""
    assert len(REORG.MOVES) == 17 and len(ALIASED) == 15
    for old, new, alias in REORG.MOVES:
        assert REORG.path_of(new).is_file(), new
        assert not REORG.is_alias(REORG.path_of(new)), new
        if alias:
            assert REORG.is_alias(REORG.path_of(old)), old
        else:
            assert not REORG.path_of(old).exists(), old
    for pkg in REORG.PACKAGES:
        init = importlib.import_module(pkg)
        assert init.__doc__ and len(init.__doc__) > 200, pkg


@pytest.mark.parametrize("old, new", ALIASED, ids=[o for o, _ in ALIASED])
def test_an_old_path_warns_and_is_the_new_module(old, new, monkeypatch):
    module = importlib.import_module(new)
    monkeypatch.delitem(sys.modules, old, raising=False)  # import it afresh
    with pytest.warns(DeprecationWarning, match=re.escape(new)) as caught:
        alias = importlib.import_module(old)
    assert alias is module
    assert sys.modules[old] is module
    texts = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert any(old in t and new in t for t in texts), texts
    parent, _, leaf = old.rpartition(".")
    assert getattr(sys.modules[parent], leaf) is module  # `import a.b` then `a.b.X`
    # a name imported from the old path, or monkeypatched through it, is the new module's
    name = next(
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == new
    )  # fmt: skip
    assert getattr(alias, name) is getattr(module, name)
    marker = object()
    monkeypatch.setattr(f"{old}.{name}", marker)
    assert getattr(module, name) is marker


def test_a_users_script_sees_the_warning(tmp_path):
    """Python's default warning filters show the DeprecationWarning of an old path imported
    by a script (it is attributed to the script's import line, not to importlib)."""
    old, new = ALIASED[0]
    script = tmp_path / "mine.py"
    script.write_text(f"import {old}\nprint({old}.__name__)\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == new
    assert f"mine.py:1: DeprecationWarning: {old} is deprecated: it moved to {new}" in done.stderr


def test_a_second_import_of_an_old_path_is_the_same_module():
    old, new = ALIASED[0]
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning):
        first = importlib.import_module(old)
    second = importlib.import_module(old)
    assert first is second is sys.modules[new]


def test_the_rewrite_rules():
    """The script's own examples (its docstrings) pass."""
    failed, attempted = doctest.testmod(REORG, verbose=False)
    assert attempted >= 5 and failed == 0


def test_no_file_of_ours_names_an_old_path():
    """Outside the aliases (and the script that lists the moves), no line of btlstm/,
    tests/, scripts/, strategies/, examples/, docs/ or the top files (pyproject.toml,
    setup.py, conftest.py) names an old path: the script would rewrite nothing."""
    old, new = ALIASED[0]
    assert REORG.rewrite_text(f"from {old} import X") == f"from {new} import X"  # it can see one
    bad = []
    n = 0
    for path in REORG.files(readme=False):
        if REORG.is_alias(path):
            continue
        n += 1
        text = path.read_text(encoding="utf-8", errors="replace")
        if text == REORG.rewrite_text(text):
            continue
        for i, line in enumerate(text.split("\n"), 1):
            if REORG.rewrite_text(line) != line:
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert n > 150, n
    assert not bad, "old module paths (run python scripts/reorg_packages.py):\n" + "\n".join(
        bad[:40]
    )


def test_the_script_finds_nothing_left_to_do(capsys):
    """Re-running the script (dry) on this tree changes nothing: it is idempotent."""
    assert REORG.main(["--dry-run"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["reorg: 0 change(s) (dry run): the tree is reorganized already"], out
