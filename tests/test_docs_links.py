"""Every relative link of README.md and docs/ names a file of the repository, and its
#anchor a heading of that file (GitHub's heading ids)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^```.*?^```[ \t]*$", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")


def prose(text: str) -> str:
    """The page without its fenced blocks and code spans (links there are code)."""
    return CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's id of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|<[^>]+>", "", heading).strip().lower()
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).split("\n"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(page: Path) -> list[str]:
    return [
        t
        for t in LINK.findall(prose(page.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", t)  # http:, https:, mailto: ...
    ]


def test_slug_and_links_are_read_as_github_does(tmp_path):
    assert slug("Your own data: presets, the `[data]` column map, `btlstm data inspect`") == (
        "your-own-data-presets-the-data-column-map-btlstm-data-inspect"
    )
    assert slug("Paper trading latency (`bench_live_latency.py`)") == (
        "paper-trading-latency-bench_live_latencypy"
    )
    page = tmp_path / "p.md"
    page.write_text(
        "# A b\n## A b\n[x](other.md#a-b) ![img](f.png) [web](https://x.org)\n"
        "`[not](a-link.md)`\n```\n[code](not.md)\n```\n[a [nested] text](y.md \"title\")\n",
        encoding="utf-8",
    )
    assert links(page) == ["other.md#a-b", "f.png", "y.md"]
    assert anchors(page) == {"a-b", "a-b-1"}


def test_the_pages_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/README.md", "docs/safety.md", "docs/performance.md",
            "docs/results.md", "docs/cli.md", "docs/data.md"} <= names  # fmt: skip
    assert sum(len(links(p)) for p in PAGES) > 50


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or ROOT not in (dest, *dest.parents):
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert broken == [], f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


def test_the_readme_is_short_and_links_every_main_page():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.split("\n")) <= 300
    for page in ("cli", "results", "safety", "performance", "data", "README"):
        assert f"(docs/{page}.md)" in readme, page
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    listed = {t.partition("#")[0] for t in links(ROOT / "docs" / "README.md")}
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in PAGES if p.parent != ROOT}
    assert pages - {"README.md"} <= listed, sorted(pages - listed - {"README.md"})
    assert index.startswith("# btlstm documentation")
