"""The README's runs give the pinned numbers and files (tests/pins.json, written by
``python tests/pins.py``): a refactor that moves code must not change a result.

The hold run and the tiny sweep (about 10 s each) are in the default suite; the ranker
and the rotation (a minute or more each) are ``slow``: run them with ``-m slow`` before
and after moving code."""

import json

import pins  # tests/pins.py: the runs and how they are compared
import pytest


@pytest.mark.parametrize(
    "name",
    [
        "hold",
        pytest.param("ranker", marks=pytest.mark.slow),
        pytest.param("rotation", marks=pytest.mark.slow),
        "sweep_tiny",
    ],
)
def test_run_gives_the_pinned_results(name, tmp_path, monkeypatch):
    monkeypatch.chdir(pins.HERE.parent)  # examples/ paths are relative to the repository
    want = json.loads(pins.PINS.read_text())[name]
    got = pins.run(name, tmp_path / "out")
    assert pins.close(got.get("comparison"), want.get("comparison")), (
        got.get("comparison"),
        want.get("comparison"),
    )
    assert got.get("verdict") == want.get("verdict")
    for f, facts in want["files"].items():
        g = got["files"][f]
        assert (g["rows"], g["columns"]) == (facts["rows"], facts["columns"]), f
        assert pins.close(g["digest"], facts["digest"]), (f, g["digest"], facts["digest"])
