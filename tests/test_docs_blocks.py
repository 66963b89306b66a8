"""The terminal blocks quoted in README.md and docs/ are what their commands print today.

Each quoted block has a ``<!-- regen: COMMAND -->`` marker (scripts/regen_docs.py); the
fast ones are run and compared here, the slow ones (the rotation, the ranker, a sweep,
walk-forwards: minutes each) under ``-m slow``. A block that looks like terminal output
and has no marker fails the test, so none is forgotten. ``python scripts/regen_docs.py``
rewrites stale blocks.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("regen_docs", ROOT / "scripts" / "regen_docs.py")
regen = importlib.util.module_from_spec(_spec)
sys.modules["regen_docs"] = regen  # dataclasses look their module up by name
_spec.loader.exec_module(regen)

BLOCKS = regen.marked()
HANG = 900  # seconds: a generous bound on one command, not a timing


def test_the_marked_blocks_are_found():
    """The README's real run and the docs' quoted verdicts are marked, fast and slow."""
    where = {b.path.relative_to(ROOT).as_posix() for b in BLOCKS}
    assert {"README.md", "docs/results.md", "docs/data.md"} <= where
    readme = [b for b in BLOCKS if b.path.name == "README.md"]
    assert len(readme) == 1 and readme[0].command.startswith("btlstm run hold --data csi300")
    assert not readme[0].slow and any("VERDICT:" in line for line in readme[0].body)
    slow = {b.command.split("|")[0].strip() for b in BLOCKS if b.slow}
    assert "btlstm run rotation --data sector_etfs" in slow and "btlstm run ranker" in slow
    assert all(b.lang == "text" and b.body for b in BLOCKS)


def test_every_terminal_block_is_marked():
    missing = [f"{b.where}: {(b.body or [''])[0][:80]}" for b in regen.unmarked()]
    assert missing == [], "terminal blocks without a <!-- regen: ... --> marker:\n" + "\n".join(
        missing
    )


def test_unmarked_detection(tmp_path):
    """What counts as terminal output: a ```text block, or an untagged block with a
    prompt, a btlstm line or a verdict; a bash, python or formula block does not."""
    page = tmp_path / "page.md"
    page.write_text(
        "```text\nanything\n```\n\n```\n$ btlstm data list\nname ...\n```\n\n"
        "```\nx = 1   # VERDICT: quoted in a comment\n```\n\n```bash\nbtlstm demo\n```\n\n"
        "```\nz[j] = (x[j] - mean) / std\n```\n\n"
        "<!-- regen: echo hi -->\n```text\nhi\n```\n",
        encoding="utf-8",
    )
    blocks = regen.blocks(page)
    assert [b.line for b in regen.unmarked([page])] == [1, 5, 10]
    marked = [(b.command, b.slow, b.body) for b in blocks if b.command]
    assert marked == [("echo hi", False, ["hi"])]
    assert len(blocks) == 6


def test_normalise_makes_a_block_deterministic():
    tmp = "/tmp/btlstm-regen-abc"
    text = (
        "[btlstm] running ...\n\rfits:   0%|  | 0/1\rfits: 100%|##| 1/1 [00:01, 2.1fit/s]\n"
        f"[btlstm] report: {tmp}/btlstm-out/report.html  (13.6s)\n"
        f"cwd {tmp}\nfit 850 ms, sweep 2 min 11 s, 565 bars, h=5  \n\n"
    )
    assert regen.normalise(text, tmp) == [
        "[btlstm] running ...",
        "[btlstm] report: btlstm-out/report.html  (<t>s)",
        "cwd <tmp>",
        "fit <t> ms, sweep <t> min <t> s, 565 bars, h=5",
    ]


def test_check_finds_a_stale_block_and_rewrite_fixes_it(tmp_path):
    """--check exits 1 naming the stale block; a rewrite puts the output in its place,
    the selector applied, and leaves the rest of the file as it was."""
    page = tmp_path / "page.md"
    page.write_text(
        "intro\n\n<!-- regen: printf 'a\\nb\\nc\\nVERDICT: x\\n' | lines 2-3 -->\n"
        "```text\nold\n```\n\n"
        "<!-- regen: printf 'one\\nVERDICT: two\\n' | grep VERDICT -->\n"
        "```text\nVERDICT: two\n```\n"
        "outro\n",
        encoding="utf-8",
    )
    assert regen.main(["--check", str(page)]) == 1
    assert "old" in page.read_text(encoding="utf-8")  # --check writes nothing
    assert regen.main([str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "```text\nb\nc\n```" in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert text.count("```text\nVERDICT: two\n```") == 1
    assert regen.main(["--check", str(page)]) == 0


def test_a_failing_command_is_reported_not_quoted(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- regen: echo partial; exit 3 -->\n```text\nkept\n```\n", encoding="utf-8")
    assert regen.main([str(page)]) == 1
    assert "kept" in page.read_text(encoding="utf-8")
    # show quotes a command's error and its prompt whatever its exit code
    shown = regen.run("show sh -c 'echo boom >&2; exit 2'")
    assert shown == ["$ sh -c echo boom >&2; exit 2", "boom"]


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b, id=f"{b.where}", marks=[pytest.mark.slow] if b.slow else [])
        for b in BLOCKS
    ],
)
def test_quoted_block_is_current(block):
    if not (os.environ.get("BTLSTM_DATA") or (ROOT.parent / "shared" / "data").is_dir()):
        pytest.skip("no data folder: set BTLSTM_DATA")
    diff = regen.stale(block, timeout=HANG)
    assert diff == [], (
        f"{block.where} is stale; run `python scripts/regen_docs.py --match "
        f"'{block.command[:40]}'`:\n" + "\n".join(diff)
    )
