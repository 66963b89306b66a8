"""Every module of btlstm/ and strategies/ starts with a docstring that states its one job."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    p.relative_to(ROOT).as_posix()
    for folder in ("btlstm", "strategies")
    for p in (ROOT / folder).rglob("*.py")
)


def job(path: Path) -> str | None:
    """The first paragraph of the module's docstring, or None when the module does
    not start with one (a comment, an import or code first)."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    if not body or not isinstance(body[0], ast.Expr):
        return None
    value = body[0].value
    if not isinstance(value, ast.Constant) or not isinstance(value.value, str):
        return None
    return " ".join(value.value.strip().split("\n\n")[0].split())


def test_the_modules_are_found():
    assert len(MODULES) > 60
    assert "btlstm/forecast/schedule.py" in MODULES and "strategies/ranker.py" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_each_module_starts_with_a_docstring_stating_its_job(module):
    text = job(ROOT / module)
    assert text is not None, f"{module} does not start with a docstring"
    # a sentence: several words, ending like one
    assert len(text.split()) >= 4, f"{module}: the docstring's first paragraph is {text!r}"
    assert text.endswith((".", ":", "?", ")")), f"{module}: {text!r} is not a sentence"


def test_the_check_sees_a_module_without_a_docstring(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("# a comment\nimport os\n", encoding="utf-8")
    assert job(p) is None
    p.write_text('x = 1\n"""not first"""\n', encoding="utf-8")
    assert job(p) is None
    p.write_text('"""Reads the files.\n\nMore."""\nimport os\n', encoding="utf-8")
    assert job(p) == "Reads the files."
