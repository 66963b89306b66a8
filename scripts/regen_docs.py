"""Regenerate the terminal blocks quoted in README.md and docs/ by running their commands.

A quoted terminal block is a ```text fenced block with a marker line right above it:

    <!-- regen: btlstm run hold --data csi300 -->
    ```text
    ...what the command prints...
    ```

The marker's command runs through ``bash`` (``set -o pipefail``) in a fresh temporary
folder, which is also its working folder, so a run's default ``btlstm-out/`` lands there.
It may name ``{tmp}`` (that folder), ``{repo}`` (the repository root) and ``{python}``
(this interpreter), and pipe the output through a selector:

- ``| lines 3-20`` keeps lines 3 to 20 (1-based, inclusive; ``| lines 5-`` from line 5 on);
- ``| grep VERDICT`` (any shell filter: ``grep -E``, ``sed -n '/^a/,/^b/p'``, ...);
- ``show CMD ...`` prints ``$ CMD ...`` and then what CMD prints on stdout and stderr,
  whatever its exit code (for quoting an error message).

``<!-- regen slow: ... -->`` marks a command that takes minutes (a walk-forward, the
rotation, the ranker, a sweep): the fast tests skip it, ``-m slow`` checks it.

The environment: ``BTLSTM_DATA`` as set, else ``../shared/data`` beside the repository;
TensorFlow quiet (``TF_CPP_MIN_LOG_LEVEL=3``, ``TF_ENABLE_ONEDNN_OPTS=0``),
``MPLBACKEND=Agg``, unbuffered Python (stdout and stderr keep their order), and this
interpreter's ``bin/`` first on ``PATH`` (its ``btlstm``). A command is given stdout
only; write ``2>&1`` in the marker for stderr too. The output is normalised so that a
block does not change from run to run: a path inside the temporary folder reads
relative to it (``btlstm-out/report.html``), the folder itself ``<tmp>``, progress
bars are dropped, durations such as ``13.6s``, ``11 s``, ``850 ms`` or ``2 min`` read
``<t>s``/``<t> ms``/..., trailing spaces and blank lines go.

Usage::

    python scripts/regen_docs.py               # rewrite every marked block
    python scripts/regen_docs.py --fast        # only the fast ones (--slow: only the slow)
    python scripts/regen_docs.py --check       # exit 1 and list (with a diff) stale blocks
    python scripts/regen_docs.py --list        # the marked blocks, and unmarked terminal blocks
    python scripts/regen_docs.py --match rotation README.md   # blocks whose command has it
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MARKER = re.compile(r"^<!-- regen(?P<slow> slow)?: (?P<command>.+?) -->\s*$")
FENCE = re.compile(r"^(?P<fence>```+)(?P<lang>[\w+-]*)\s*$")
#: lines that only terminal output starts with: a prompt, btlstm's own lines, a verdict
OUTPUT_LINE = re.compile(
    r"^(\$ |btlstm: error:|\[btlstm\]|VERDICT:|significance \(h=|WARNING:|Traceback)"
)
PROGRESS = re.compile(r"\d+%\||^model fits: \d+/")  # a tqdm bar, btlstm's fit bar
RUN_TIME = re.compile(r"(?<=-)\d{8}-\d{6}(?:-\d+)?(?=[/\s]|$)")  # a run folder's time
DURATION = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?P<unit>\s?(?:ms|us|s|min))(?![\w])")
#: shell helpers every command can use
HELPERS = r"""
set -o pipefail
lines() { local a="${1%-*}" b="${1#*-}"; sed -n "${a:-1},${b:-\$}p"; }
show() { printf '$ %s\n' "$*"; "$@" 2>&1; return 0; }
"""


@dataclass
class Block:
    """One fenced block of a Markdown file: where it is, its marker, its text."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    body: list[str]  # the lines between the fences
    command: str | None  # the marker's command, None when unmarked
    slow: bool
    start: int  # 0-based index of the first body line
    end: int  # 0-based index of the closing fence

    @property
    def where(self) -> str:
        try:
            name = self.path.relative_to(ROOT).as_posix()
        except ValueError:  # a file outside the repository
            name = str(self.path)
        return f"{name}:{self.line}"

    @property
    def looks_like_output(self) -> bool:
        """Terminal output: a ```text block, or an untagged one with a prompt, a btlstm
        line or a verdict in it (a block that quotes a run and has no marker)."""
        if self.lang in ("text", "console"):
            return True
        if self.lang:
            return False
        return any(OUTPUT_LINE.match(line.strip()) for line in self.body) or any(
            "VERDICT:" in line for line in self.body
        )


def doc_files(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown file under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path``, with the regen marker right above it, if any."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and lines[j].rstrip() != m["fence"]:
            j += 1
        if j == len(lines):
            raise SystemExit(f"{path}:{i + 1}: a fenced block that is never closed")
        marker = MARKER.match(lines[i - 1]) if i else None
        found.append(
            Block(
                path=path,
                line=i + 1,
                lang=m["lang"],
                body=lines[i + 1 : j],
                command=marker["command"] if marker else None,
                slow=bool(marker and marker["slow"]),
                start=i + 1,
                end=j,
            )
        )
        i = j + 1
    # a marker that does not stand right above a fenced block is a mistake
    for k, line in enumerate(lines):
        if MARKER.match(line) and not (k + 1 < len(lines) and FENCE.match(lines[k + 1])):
            raise SystemExit(f"{path}:{k + 1}: a regen marker not right above a ``` block")
    return found


def marked(files: list[Path] | None = None) -> list[Block]:
    return [b for p in files or doc_files() for b in blocks(p) if b.command]


def unmarked(files: list[Path] | None = None) -> list[Block]:
    """Blocks that look like terminal output and have no marker (a test lists them)."""
    found = [b for p in files or doc_files() for b in blocks(p)]
    return [b for b in found if not b.command and b.looks_like_output]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    # absolute: the commands run in a temp folder (CI sets BTLSTM_DATA=../shared/data)
    data = os.path.abspath(env.get("BTLSTM_DATA") or str(ROOT.parent / "shared" / "data"))
    env.update(
        BTLSTM_DATA=data,
        TF_CPP_MIN_LOG_LEVEL="3",
        TF_ENABLE_ONEDNN_OPTS="0",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
        PYTHONHASHSEED="0",
        COLUMNS="120",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
    )
    return env


def normalise(text: str, tmp: str, data: str | None = None) -> list[str]:
    """The output as it is quoted: no temp paths, no progress bars, no timings; the data
    folder (``data``) shown as ``$BTLSTM_DATA``, wherever the machine keeps it."""
    out, bar = [], False
    datas = sorted({data, os.path.realpath(data)}, key=len, reverse=True) if data else []
    for line in text.replace("\r\n", "\n").split("\n"):
        if "\r" in line:  # a line redrawn in place: what is left on the screen
            drawn = [part for part in line.split("\r") if part.strip()]
            if not drawn:
                continue
            line = drawn[-1]
        if PROGRESS.search(line) or (bar and not line.strip()):
            bar = True  # a progress bar, and the blank line it may leave
            continue
        bar = False
        for path in sorted({tmp, os.path.realpath(tmp)}, key=len, reverse=True):
            line = line.replace(path + os.sep, "").replace(path, "<tmp>")
        for path in datas:
            line = line.replace(path, "$BTLSTM_DATA")
        line = DURATION.sub(lambda m: f"<t>{m['unit']}", line)
        line = RUN_TIME.sub("<time>", line)
        out.append(line.rstrip())
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def run(command: str, timeout: float | None = None) -> list[str]:
    """Run one marker's command in a fresh folder; its normalised output lines."""
    shown = command
    with tempfile.TemporaryDirectory(prefix="btlstm-regen-") as tmp:
        for name, value in (("{tmp}", tmp), ("{repo}", str(ROOT)), ("{python}", sys.executable)):
            command = command.replace(name, value)
        script = HELPERS + command
        proc = subprocess.run(
            ["bash", "-c", script],
            cwd=tmp,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )  # bytes: text mode would turn a progress bar's \r into new lines
        stdout = proc.stdout.decode("utf-8", errors="replace")
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", errors="replace")
            tail = f"{stderr[-3000:]}{stdout[-2000:]}"
            raise RuntimeError(f"`{shown}` exited {proc.returncode}:\n{tail}")
        lines = normalise(stdout, tmp, environment()["BTLSTM_DATA"])
    if not lines:
        raise RuntimeError(f"`{shown}` printed nothing")
    return lines


def stale(block: Block, timeout: float | None = None) -> list[str]:
    """The diff between the block and what its command prints now ([] when current)."""
    fresh = run(block.command, timeout)
    if fresh == block.body:
        return []
    return list(
        difflib.unified_diff(block.body, fresh, f"{block.where} (quoted)", "now", lineterm="")
    )


def rewrite(block: Block, fresh: list[str]) -> bool:
    """Put ``fresh`` into the block's place in its file; True when it changed."""
    lines = block.path.read_text(encoding="utf-8").split("\n")
    # the file may have changed above this block (an earlier block of the same file)
    for b in blocks(block.path):
        if b.command == block.command and b.body == block.body:
            if b.body == fresh:
                return False
            lines[b.start : b.end] = fresh
            block.path.write_text("\n".join(lines), encoding="utf-8")
            return True
    raise RuntimeError(f"{block.where}: the block moved while it was regenerated")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "files", nargs="*", type=Path, help="Markdown files (default: README.md, docs/)"
    )
    ap.add_argument("--check", action="store_true", help="exit 1 listing stale blocks")
    ap.add_argument("--list", action="store_true", help="list the blocks, run nothing")
    speed = ap.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true", help="only blocks not marked slow")
    speed.add_argument("--slow", action="store_true", help="only blocks marked slow")
    ap.add_argument("--match", default="", help="only blocks whose command contains this")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per command")
    args = ap.parse_args(argv)
    files = [p.resolve() for p in args.files] or doc_files()
    chosen = [
        b
        for b in marked(files)
        if args.match in b.command and not (args.fast and b.slow) and not (args.slow and not b.slow)
    ]
    if args.list:
        for b in marked(files):
            print(f"{b.where}  {'slow' if b.slow else 'fast'}  {b.command}")
        for b in unmarked(files):
            print(f"{b.where}  UNMARKED terminal block: {(b.body or [''])[0][:70]}")
        return 0
    bad, failed = [], []
    for b in chosen:
        print(f"{b.where}: {b.command}", file=sys.stderr, flush=True)
        try:
            if args.check:
                diff = stale(b, args.timeout)
                if diff:
                    bad.append(b)
                    print("\n".join(diff), file=sys.stderr)
            elif rewrite(b, run(b.command, args.timeout)):
                print("  rewritten", file=sys.stderr)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            failed.append(b)
            print(f"  FAILED: {exc}", file=sys.stderr)
    for b in bad:
        print(f"stale: {b.where}  {b.command}")
    for b in failed:
        print(f"failed: {b.where}  {b.command}")
    return 1 if bad or failed else 0


if __name__ == "__main__":
    sys.exit(main())
