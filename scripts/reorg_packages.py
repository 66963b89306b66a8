"""Group the flat modules of btlstm/ into packages that show the flow (issue 29, item 4).

Re-runnable on any tree (a branch, or the tree after merging other branches):
every step checks what is already done and skips it, and the script prints what
it did. Run it from anywhere::

    python scripts/reorg_packages.py            # do it
    python scripts/reorg_packages.py --dry-run  # say what it would do
    python scripts/reorg_packages.py --readme   # also rewrite README.md

The steps:

1. the packages: ``btlstm/forecast/`` (the forecasting side: inputs, the
   no-look-ahead schedule, the walk-forward engines) and ``btlstm/bt/`` (the
   Backtrader side), each an ``__init__.py`` with a docstring (written when absent);
2. ``git mv`` of every module of :data:`MOVES` to its new path (skipped when the
   new file is there and the old one is gone or already an alias);
3. a deprecation alias at each old path (:func:`alias_source`): importing it warns
   (``DeprecationWarning`` naming the new path) and puts the new module itself in
   ``sys.modules``, so ``import btlstm.features``, ``from btlstm.features import X``
   and ``monkeypatch.setattr("btlstm.features.X", ...)`` reach the same module
   object as the new path; kept for one release;
4. the imports and names rewritten to the new paths in btlstm/, tests/, scripts/,
   strategies/, examples/, docs/, pyproject.toml, setup.py and conftest.py (regular expressions over every text file, so a
   file added by another branch is rewritten too): ``btlstm.features`` (imports,
   strings, monkeypatch targets, ``:mod:`` references, ``python -m``),
   ``from btlstm import features`` and ``btlstm/features.py``. A line that names
   both the old and the new path of one module (a table of the moves) is left as
   it is. The aliases and this script are not rewritten.

Afterwards no module of ours imports an old path: tests/test_layers.py puts the
aliases in the top layer, and tests/test_aliases.py checks each alias and greps
the tree for old paths.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: ``(old module, new module, alias)``: the moves, in order. ``alias=False``: a module
#: that is new in this release (nothing outside the repository imports its old path).
MOVES = (
    # the forecasting side: inputs, the no-look-ahead schedule, the walk-forward engines
    ("btlstm.features", "btlstm.forecast.features", True),
    ("btlstm.xsfeatures", "btlstm.forecast.xsfeatures", True),
    ("btlstm.featurelib", "btlstm.forecast.featurelib", False),
    ("btlstm.schedule", "btlstm.forecast.schedule", True),
    ("btlstm.trainchecks", "btlstm.forecast.trainchecks", False),
    ("btlstm.walkforward", "btlstm.forecast.walkforward", True),
    ("btlstm.xswalkforward", "btlstm.forecast.xswalkforward", True),
    # the learners' own modules: the Keras network and its penalties
    ("btlstm.models", "btlstm.learners.models", True),
    ("btlstm.regularizers", "btlstm.learners.regularizers", True),
    # the Backtrader side
    ("btlstm.feeds", "btlstm.bt.feeds", True),
    ("btlstm.broker", "btlstm.bt.broker", True),
    ("btlstm.ashare", "btlstm.bt.ashare", True),
    ("btlstm.rebalance", "btlstm.bt.rebalance", True),
    ("btlstm.indicators", "btlstm.bt.indicators", True),
    ("btlstm.signals", "btlstm.bt.signals", True),
    ("btlstm.analyzers", "btlstm.bt.analyzers", True),
    ("btlstm.cerebro", "btlstm.bt.cerebro", True),
)

#: The new packages and the docstrings of their ``__init__.py``.
PACKAGES = {
    "btlstm.forecast": '''"""The forecasting side: a market's bars -> predictions, with no look-ahead.

- inputs: :mod:`btlstm.forecast.features` (a feed's windows, per-window z-scores, THE
  label formula), :mod:`btlstm.forecast.featurelib` (the built-in indicators and
  ``@register_feature``) and :mod:`btlstm.forecast.xsfeatures` (a panel's
  cross-sectional features, forward labels, relevance grades);
- the no-look-ahead schedule: :mod:`btlstm.forecast.schedule` (fit bars, usable
  windows, panels on one calendar, cache keys) and
  :mod:`btlstm.forecast.trainchecks` (the loaded data checked against it before
  training);
- the walk-forward engines: :mod:`btlstm.forecast.walkforward` (one feed or a pooled
  panel) and :mod:`btlstm.forecast.xswalkforward` (a panel's cross-section).

The models they fit are the learners (:mod:`btlstm.learners`); the Backtrader side
that trades on the predictions is :mod:`btlstm.bt`. Importing this package imports
none of its modules.
"""
''',
    "btlstm.bt": '''"""The Backtrader side: feeds, brokers and market rules, rebalancing, indicators,
signals, analyzers, and the one cerebro factory.

- :mod:`btlstm.bt.feeds`: lean pandas feeds, a panel on one calendar;
- :mod:`btlstm.bt.broker`: costs set-up, the panel broker;
  :mod:`btlstm.bt.ashare`: the A-share (and US) market rules;
- :mod:`btlstm.bt.rebalance`: target weights, sells before buys, tradable checks;
- :mod:`btlstm.bt.indicators`: the walk-forward predictors as indicators and pools;
- :mod:`btlstm.bt.signals`: THE way a strategy gets its signal;
- :mod:`btlstm.bt.analyzers`: analyzers that record a run and measure it;
- :mod:`btlstm.bt.cerebro`: THE cerebro factory every run, baseline, sweep and
  paper run uses.

They stand on the forecasting side (:mod:`btlstm.forecast`). Importing this package
imports none of its modules.
"""
''',
}

#: The folders whose text files are rewritten, and the files at the top (README.md only
#: with ``--readme``: another change may own it).
FOLDERS = ("btlstm", "tests", "scripts", "strategies", "examples", "docs")
TOP_FILES = ("pyproject.toml", "setup.py", "conftest.py")
TEXT = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".rst", ".yml", ".yaml", ".json"}
#: The first line of every alias module (how the script and conftest.py know one).
MARKER = "# btlstm: deprecated alias, written by scripts/reorg_packages.py"


def path_of(module: str) -> Path:
    return ROOT / (module.replace(".", "/") + ".py")


def alias_source(old: str, new: str) -> str:
    """The module left at the old path: a DeprecationWarning, then the new module itself."""
    return f'''{MARKER}
"""Deprecated alias: ``{old}`` moved to :mod:`{new}` (kept for one release).

Importing it warns (``DeprecationWarning``) and hands back ``{new}`` itself, the
same module object, so ``from {old} import X`` and monkeypatching ``{old}.X`` reach
the code that runs. Import ``{new}`` instead.
"""

import importlib
import sys
import warnings

# stacklevel 2: the line that imports the old path (warnings skips importlib's frames),
# so Python's default filters show it in a user's script
warnings.warn(
    "{old} is deprecated: it moved to {new}; import {new} (the old path goes in the "
    "next release)",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = importlib.import_module("{new}")
'''


def is_alias(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == MARKER
    except (FileNotFoundError, UnicodeDecodeError):
        return False


class Run:
    """What the script does, printed as it goes; nothing changes with ``dry``."""

    def __init__(self, dry: bool):
        self.dry = dry
        self.done: list[str] = []

    def say(self, what: str) -> None:
        self.done.append(what)
        print(("would " if self.dry else "") + what)

    def write(self, path: Path, text: str, what: str) -> None:
        if path.exists() and path.read_text(encoding="utf-8") == text:
            return
        self.say(f"{what}: {path.relative_to(ROOT)}")
        if not self.dry:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    def git(self, *args: str) -> None:
        self.say("git " + " ".join(args))
        if not self.dry:
            subprocess.run(["git", *args], cwd=ROOT, check=True)


# --------------------------------------------------------------------------- moves
def make_packages(run: Run) -> None:
    for pkg, doc in PACKAGES.items():
        init = ROOT / pkg.replace(".", "/") / "__init__.py"
        if not init.exists():
            run.write(init, doc, "write the package")
            run.git("add", str(init.relative_to(ROOT)))


def move(run: Run) -> None:
    for old, new, _alias in MOVES:
        src, dst = path_of(old), path_of(new)
        if dst.exists():
            if src.exists() and not is_alias(src):
                sys.exit(
                    f"reorg: both {src.relative_to(ROOT)} and {dst.relative_to(ROOT)} exist "
                    f"and the old one is no alias: merge them by hand, then re-run"
                )
            continue  # moved already
        if not src.exists():
            print(f"skip {old}: neither {src.relative_to(ROOT)} nor {dst.relative_to(ROOT)}")
            continue
        run.git("mv", str(src.relative_to(ROOT)), str(dst.relative_to(ROOT)))


def write_aliases(run: Run) -> None:
    for old, new, alias in MOVES:
        if alias and (path_of(new).exists() or run.dry):
            run.write(path_of(old), alias_source(old, new), "write the alias")


# --------------------------------------------------------------------------- rewrites
def _dotted(old: str) -> re.Pattern:
    return re.compile(r"(?<![\w.])" + re.escape(old) + r"(?![\w])")


def _slashed(old: str) -> re.Pattern:
    return re.compile(r"(?<![\w/.])" + re.escape(old.replace(".", "/")) + r"\.py(?![\w])")


FROM_BTLSTM = re.compile(r"^(?P<indent>[ \t]*)from btlstm import (?P<names>[\w ,]+?)(?P<tail>[ \t]*(#.*)?)$")


def _split_from(line: str, moved: dict) -> str:
    """``from btlstm import a, features``: the moved names from their new packages."""
    m = FROM_BTLSTM.match(line)
    if not m:
        return line
    names = [n.strip() for n in m["names"].split(",") if n.strip()]
    keep, new = [], {}
    for n in names:
        base = n.split(" as ")[0].strip()
        target = moved.get(f"btlstm.{base}")
        if target:
            new.setdefault(target.rpartition(".")[0], []).append(n)
        else:
            keep.append(n)
    if not new:
        return line
    ind = m["indent"]
    out = [f"{ind}from btlstm import {', '.join(keep)}{m['tail']}"] if keep else []
    out += [f"{ind}from {pkg} import {', '.join(ns)}" for pkg, ns in sorted(new.items())]
    return "\n".join(out)


def rewrite_text(text: str, moves=MOVES) -> str:
    """``text`` with every old path of ``moves`` written as its new one (see the module
    docstring). A line that names both paths of one module is kept.

    Example:
        >>> rewrite_text("from btlstm.walkforward import WalkForward")
        'from btlstm.forecast.walkforward import WalkForward'
        >>> rewrite_text("from btlstm import analyzers, metrics")
        'from btlstm import metrics\\nfrom btlstm.bt import analyzers'
        >>> rewrite_text('monkeypatch.setattr("btlstm.models.build_model", f)')
        'monkeypatch.setattr("btlstm.learners.models.build_model", f)'
        >>> rewrite_text("see btlstm/feeds.py and :mod:`btlstm.bt.feeds`; btlstm.featuresx")
        'see btlstm/bt/feeds.py and :mod:`btlstm.bt.feeds`; btlstm.featuresx'
        >>> rewrite_text("| `btlstm.features` | `btlstm.forecast.features` |")
        '| `btlstm.features` | `btlstm.forecast.features` |'
    """
    moved = {old: new for old, new, _ in moves}
    pats = [(_dotted(o), _slashed(o), o, n) for o, n, _ in moves]
    out = []
    for line in text.split("\n"):
        if "btlstm" not in line:
            out.append(line)
            continue
        line = _split_from(line, moved)
        for dotted, slashed, _old, new in pats:
            slash_new = new.replace(".", "/") + ".py"
            if (dotted.search(line) and new in line) or (slashed.search(line) and slash_new in line):
                continue  # a line about the move itself
            line = dotted.sub(new, line)
            line = slashed.sub(slash_new, line)
        out.append(line)
    return "\n".join(out)


def files(readme: bool):
    me = Path(__file__).resolve()
    for folder in FOLDERS:
        base = ROOT / folder
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            if p.suffix not in TEXT or not p.is_file() or p.resolve() == me:
                continue
            if any(part in ("__pycache__", ".git", "node_modules") for part in p.parts):
                continue
            yield p
    for name in TOP_FILES + (("README.md",) if readme else ()):
        if (ROOT / name).is_file():
            yield ROOT / name


def rewrite(run: Run, readme: bool) -> None:
    for p in files(readme):
        if is_alias(p):
            continue
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        new = rewrite_text(text)
        if new != text:
            run.write(p, new, "rewrite the old paths")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="say what would change")
    ap.add_argument("--readme", action="store_true", help="also rewrite README.md")
    args = ap.parse_args(argv)
    run = Run(args.dry_run)
    make_packages(run)
    move(run)
    write_aliases(run)
    rewrite(run, args.readme)
    print(f"reorg: {len(run.done)} change(s)" + (" (dry run)" if run.dry else "")
          + ("" if run.done else ": the tree is reorganized already"))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
