"""The mutation harness (scripts/mutants.py) still applies to the code: every mutant's
original snippet is found exactly once, so the table cannot rot silently when the
code it mutates changes. Fast: it reads files, it runs no mutant."""

import importlib.util
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _harness():
    spec = importlib.util.spec_from_file_location("mutants", ROOT / "scripts" / "mutants.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutants", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


mutants = _harness()


def test_every_mutant_applies_exactly_once():
    assert mutants.problems() == []


def test_the_table_is_large_and_spread_over_the_modules_that_matter():
    table = mutants.MUTANTS
    assert len(table) >= 45
    files = {m.file for m in table}
    for need in ("btlstm/forecast/schedule.py", "btlstm/forecast/features.py", "btlstm/bt/ashare.py",
                 "btlstm/bt/broker.py", "btlstm/bt/rebalance.py", "strategies/hold.py",
                 "strategies/ranker.py", "strategies/momentum.py", "strategies/rotation.py",
                 "btlstm/metrics.py", "btlstm/bt/analyzers.py", "btlstm/forecast/walkforward.py",
                 "btlstm/forecast/xswalkforward.py", "btlstm/report/collect.py", "btlstm/summary.py",
                 "btlstm/data/_csv.py", "btlstm/data/readers.py"):  # fmt: skip
        assert need in files, need
    for key, args in mutants.TESTS.items():
        paths = [a for a in args if a.startswith("tests/")]
        assert paths, key
        assert all((ROOT / p).is_file() for p in paths), (key, shlex.join(args))


def test_problems_names_a_snippet_that_is_missing_or_repeated(tmp_path):
    (tmp_path / "m.py").write_text("a = 1\nb = 1\n", encoding="utf-8")
    make = mutants.Mutant
    table = [
        make("Z1", "m.py", "a = 1", "a = 2", "ok", "metrics"),
        make("Z2", "m.py", "c = 1", "c = 2", "missing", "metrics"),
        make("Z3", "m.py", " = 1", " = 2", "twice", "metrics"),
        make("Z1", "m.py", "b = 1", "b = 1", "same id, no change", "nope"),
    ]
    got = mutants.problems(table, root=tmp_path)
    assert got == [
        "Z2: the original snippet is found 0 times in m.py",
        "Z3: the original snippet is found 2 times in m.py",
        "Z1: the id is used twice",
        "Z1: unknown tests 'nope'",
        "Z1: the mutant equals the original",
    ]


def test_a_mutant_is_applied_to_the_copy_and_restored_byte_for_byte(tmp_path):
    m = mutants.MUTANTS[0]
    target = tmp_path / m.file
    target.parent.mkdir(parents=True)
    original = (ROOT / m.file).read_bytes()
    target.write_bytes(original)
    before = target.stat().st_mtime_ns
    saved = mutants.apply(m, tmp_path)
    text = target.read_text(encoding="utf-8")
    assert m.mutated in text and text.count(m.original) == (1 if m.original in m.mutated else 0)
    assert target.stat().st_mtime_ns != before  # no stale bytecode is reused
    mutants.restore(*saved)
    assert target.read_bytes() == original and target.stat().st_mtime_ns == before
    assert (ROOT / m.file).read_bytes() == original  # the project itself is never touched
