"""Run folders: a new folder per run under ``btlstm-out/``, the ``latest`` link, and the
checks that keep one run from overwriting another.

Without ``--out`` ([output] out), every run, paper run, ``--seeds`` run and sweep
writes a new folder ``btlstm-out/<strategy>-<data>-<YYYYmmdd-HHMMSS>/``
(:func:`new_run_folder`; ``-2``, ``-3`` ... are appended when two runs start in
the same second: the folder is reserved with ``mkdir``, which only one process
can win). When the run's files are complete, ``btlstm-out/latest`` is pointed at
it (:func:`set_latest`): a relative symbolic link replaced atomically (a new
link renamed over the old one), or a ``LATEST`` text file holding the folder's
name where links cannot be made.

The trust model (btlstm never deletes or writes files it did not write):

- ``latest`` is replaced only when it is btlstm's own: a link (or ``LATEST``
  file) holding one plain name, a run folder directly inside ``btlstm-out``
  (a link whose run was deleted since is still btlstm's)
  (:func:`latest_problem`); a regular file, a folder, or a link anywhere else
  (``../x``, an absolute path, a link to a link) is the user's, and the run is
  refused before any work with an error naming it;
- an explicit ``--out`` that is a symbolic link is refused (btlstm never
  writes through a link), and one that already holds the report of a
  different run (another strategy or other settings, read from its
  ``report.json``) is refused unless ``--force`` (:func:`check_other_run`);
  the same run written again into its own folder is fine.

``btlstm report`` with no folder, or with ``btlstm-out``, reads the folder
``latest`` names (:func:`resolve_report_dir`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import datetime
from pathlib import Path

from btlstm.errors import ReportError

__all__ = [
    "DEFAULT_ROOT",
    "LATEST",
    "LATEST_FILE",
    "PAPER_STATE",
    "check_latest",
    "check_other_run",
    "folder_name",
    "latest_problem",
    "new_run_folder",
    "read_latest",
    "resolve_report_dir",
    "same_run",
    "set_latest",
]

DEFAULT_ROOT = "btlstm-out"
"""The folder that holds the run folders of runs without ``--out``."""
LATEST = "latest"
LATEST_FILE = "LATEST"
PAPER_STATE = "paper-state"
"""A paper run's state folder inside its run folder (``btlstm paper``; kept when the
report is rewritten)."""
_MAX_PART = 60  # characters of the strategy and data parts of a folder name


def _part(text, fallback: str) -> str:
    """A piece of a folder name: letters, digits, ``.``, ``_`` and ``-``; a path's stem.

    Example:
        >>> _part("/home/me/My Prices.csv", "data"), _part("csi300", "data"), _part("", "data")
        ('My-Prices', 'csi300', 'data')
    """
    text = str(text or "")
    if "/" in text or "\\" in text or text.endswith((".csv", ".gz", ".parquet")):
        text = re.split(r"[/\\]", text.rstrip("/\\"))[-1]
        text = re.sub(r"(\.csv)?(\.gz)?$|\.parquet$", "", text)
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:_MAX_PART]
    return text or fallback


def folder_name(strategy, data, when: datetime | None = None) -> str:
    """``<strategy>-<data>-<YYYYmmdd-HHMMSS>`` (local time), the name of a new run folder.

    Example:
        >>> folder_name("hold", "csi300", datetime(2026, 1, 2, 3, 4, 5))
        'hold-csi300-20260102-030405'
    """
    when = when or datetime.now()
    return f"{_part(strategy, 'run')}-{_part(data, 'data')}-{when:%Y%m%d-%H%M%S}"


def new_run_folder(root, strategy, data, when: datetime | None = None) -> Path:
    """Create and return a new empty run folder ``root/<folder_name>`` (``-2``, ``-3``
    ... appended when the name is taken: two runs in the same second get two folders).

    Raises:
        ReportError: ``root`` is a symbolic link or not a folder, or cannot be written.
    """
    root = Path(root)
    if root.is_symlink():
        raise ReportError(
            f"output folder {str(root)!r} is a symbolic link: btlstm never writes through "
            "a link; give the folder it points to with --out"
        )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"output folder {str(root)!r}: {e.strerror or e}") from None
    base = folder_name(strategy, data, when)
    for k in range(1, 10_000):
        path = root / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir()  # only one process wins a name
            return path.absolute()
        except FileExistsError:
            continue
    raise ReportError(f"output folder {str(root)!r}: no free run folder name for {base!r}")


# --------------------------------------------------------------------------- latest
def _plain(name: str) -> bool:
    """``name`` is one plain entry name (no folder part, not ``.`` or ``..``)."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def _named_child(root: Path, name: str) -> Path | None:
    """``root/name`` when ``name`` is one plain name of a real folder in ``root``."""
    if not _plain(name):
        return None
    child = root / name
    if child.is_symlink() or not child.is_dir():
        return None
    return child


def latest_problem(root) -> str | None:
    """Why ``root/latest`` (or ``root/LATEST``) is not btlstm's to replace; None when
    it is absent or btlstm's own (see the module docstring)."""
    root = Path(root)
    for name in (LATEST, LATEST_FILE):
        path = root / name
        if path.is_symlink():
            target = os.readlink(path)
            if name == LATEST and _plain(target):  # btlstm's form (its run may be deleted)
                continue
            return (
                f"{str(path)!r} is a link to {target!r} that btlstm did not make (its links "
                "name a run folder inside the same folder)"
            )
        if not path.exists():
            continue
        if name == LATEST_FILE and path.is_file() and path.stat().st_size <= 4096:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if _plain(text) and "\n" not in text:
                continue
        what = "a folder" if path.is_dir() else "a file"
        return f"{str(path)!r} is {what} that btlstm did not write"
    return None


def check_latest(root, what: str = "output folder") -> None:
    """Refuse, before any work, a ``latest`` in ``root`` that btlstm did not make."""
    problem = latest_problem(root)
    if problem:
        raise ReportError(
            f"{what}: {problem}; btlstm never replaces files it did not write: move it "
            "away, or give the run its own folder with --out"
        )


def set_latest(root, folder) -> Path:
    """Point ``root/latest`` at run folder ``folder`` (a child of ``root``), atomically:
    a new relative link renamed over the old one; a ``LATEST`` text file where links
    cannot be made. Returns the path written.

    Raises:
        ReportError: the ``latest`` there is not btlstm's (:func:`check_latest`).
    """
    root, folder = Path(root), Path(folder)
    check_latest(root)
    name = folder.name
    link = root / LATEST
    tmp = root / f".{LATEST}-{secrets.token_hex(6)}"
    try:
        os.symlink(name, tmp, target_is_directory=True)
    except (OSError, NotImplementedError):
        from btlstm._files import atomic_write_text

        if link.is_symlink():  # a link of btlstm's that no longer points right
            os.unlink(link)
        return atomic_write_text(root / LATEST_FILE, name + "\n")
    try:
        os.replace(tmp, link)  # atomic: a reader sees the old link or the new one
    except OSError:
        os.unlink(tmp)
        raise
    return link


def read_latest(root) -> Path | None:
    """The run folder ``root/latest`` (or ``LATEST``) names, when it is btlstm's; else None."""
    root = Path(root)
    link = root / LATEST
    if link.is_symlink():
        return _named_child(root, os.readlink(link))
    path = root / LATEST_FILE
    if path.is_file() and not path.is_symlink() and path.stat().st_size <= 4096:
        return _named_child(root, path.read_text(encoding="utf-8", errors="replace").strip())
    return None


def resolve_report_dir(path=None) -> Path:
    """The report folder ``btlstm report`` reads: ``path`` itself when it holds a report,
    else the run folder its ``latest`` names (``path`` defaults to ``btlstm-out``).

    Raises:
        ReportError: no folder given and no ``btlstm-out/latest``.
    """
    root = Path(path if path is not None else DEFAULT_ROOT)
    if (root / "manifest.json").exists() or root.name in ("report.json", "manifest.json"):
        return root
    latest = read_latest(root) if root.is_dir() else None
    if latest is not None:
        return latest
    if path is None:
        raise ReportError(
            f"btlstm report: no folder given and no {DEFAULT_ROOT}/{LATEST} here (no run "
            "without --out has finished in this folder); give the run's folder: btlstm report DIR"
        )
    return root


# --------------------------------------------------------------------------- another run
def same_run(config_a: dict, config_b: dict) -> bool:
    """Whether two runs' ``report.json`` ``config`` sections are the same run: equal
    apart from ``[output]`` (folder, plots, quiet ...)."""

    def key(c):
        c = dict(c or {})
        c.pop("output", None)
        return json.dumps(c, sort_keys=True, default=str)

    return key(config_a) == key(config_b)


def _config_of(folder: Path) -> dict | None:
    from btlstm.report.reading import MAX_JSON_BYTES

    path = folder / "report.json"
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_JSON_BYTES:
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("config") if isinstance(doc, dict) else None


def check_other_run(out, config: dict, force: bool = False, what: str = "--out") -> None:
    """Refuse, before any work, an explicit output folder that is a symbolic link, or
    that holds the report of a different run (unless ``force``).

    Args:
        out: the folder the user named.
        config: this run's ``config`` as its report.json will hold it.
        force: write over another run's report all the same (``--force``).
        what: how the user named the folder.
    """
    folder = Path(out).expanduser()
    if folder.is_symlink():
        raise ReportError(
            f"{what}: {str(out)!r} is a symbolic link: btlstm never writes through a link; "
            f"give the folder it points to ({os.path.realpath(folder)!r})"
        )
    if force or not folder.is_dir():
        return
    theirs = _config_of(folder)
    if theirs is None or same_run(theirs, config):
        return
    diff = [k for k in sorted(set(theirs) | set(config)) if k != "output"
            and json.dumps(theirs.get(k), sort_keys=True, default=str)
            != json.dumps(config.get(k), sort_keys=True, default=str)]  # fmt: skip
    strat = (theirs.get("strategy") or {}).get("name")
    raise ReportError(
        f"{what}: {str(out)!r} holds the report of another run (strategy {strat!r}; "
        f"different [{'], ['.join(diff)}] settings): it would be replaced; leave out --out "
        "for a new run folder, give a new folder, or add --force to replace it"
    )
