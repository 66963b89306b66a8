"""A report folder read as data, never as paths: only its own regular files, bounded, shapes checked.

``btlstm report DIR``, :func:`btlstm.report.load_report` and the seeds folder's
rebuild read a folder that anyone may have made or changed. Every read goes
through this module:

- :func:`read_member`: one file *inside* the folder, opened with
  ``O_NOFOLLOW | O_NONBLOCK``: a symbolic link (to a file outside, to
  ``/dev/zero``, anywhere) is refused, and so is anything that is not a
  regular file (a FIFO, a device, a socket, a folder); at most
  :data:`MAX_FILE_BYTES` (:data:`MAX_JSON_BYTES` for JSON) are read, and no
  more than the manifest says the file holds (plus one byte, to see that it
  grew).
- :func:`read_manifest`: ``manifest.json`` of a report (format
  ``btlstm-report``) or seeds folder (``btlstm-seeds``): a JSON object whose
  ``files`` maps the names of files btlstm writes there (:func:`allowed_name`) to
  ``{"sha256": 64 hex digits, "bytes": int}`` entries (sub-folders of a
  seeds folder: ``{"report": true}``).
- :func:`check_report_json`: ``report.json``'s top-level keys and the types
  the table, plots and page read (a section that should be an object is one,
  a number is a number ...).

JSON is parsed by :func:`btlstm.convert.load_json`: nesting deeper than
:data:`btlstm.convert.MAX_NESTING` is refused before parsing. Every problem is
one :class:`~btlstm.errors.ReportError` naming the folder, the file and the
field.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from btlstm._files import UnsafeFile, mode_kind, read_nofollow
from btlstm.convert import load_json
from btlstm.errors import ReportError
from btlstm.summary import SUMMARY_KEYS

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_JSON_BYTES",
    "allowed_name",
    "check_folder",
    "check_report_json",
    "read_manifest",
    "read_member",
]

MAX_FILE_BYTES = 1 << 30
"""The most bytes read from one file of a report folder (1 GiB)."""

MAX_JSON_BYTES = 64 << 20
"""The most bytes read from a JSON file of a report folder (``report.json``,
``manifest.json``, ``seeds.json``: 64 MiB; btlstm writes well under 1 MiB)."""

_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,200}")
_EXTRA = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,200}\.(csv|csv\.gz)")
_SHA = re.compile(r"[0-9a-f]{64}")


def allowed_name(name, known=()) -> bool:
    """True for a name a report folder may list: one of ``known`` (the files btlstm
    writes there), or a plain file name (no path, not hidden) ending in ``.csv`` or
    ``.csv.gz`` (a run's extra tables, e.g. ``gate.csv``, ``scores.csv.gz``).

    Example:
        >>> allowed_name("report.json", {"report.json"}), allowed_name("gate.csv")
        (True, True)
        >>> allowed_name("../x.csv"), allowed_name(".bashrc"), allowed_name("notes.txt")
        (False, False, False)
    """
    if not isinstance(name, str):
        return False
    return name in known or _EXTRA.fullmatch(name) is not None


def check_folder(path, where: str) -> Path:
    """``path`` as a folder that is itself no symbolic link; a ReportError naming ``where``."""
    folder = Path(path)
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"report: no such folder {str(folder)!r}") from None
    except OSError as e:
        if e.errno == errno.ENAMETOOLONG:  # the folder's name would fill the terminal
            raise ReportError(
                f"report folder {str(folder)[:60]!r}...: the name is too long for the file "
                "system (at most 255 bytes a part)"
            ) from None
        raise ReportError(f"{where}: cannot be read ({e.strerror})") from None
    if stat.S_ISLNK(mode):
        raise ReportError(
            f"{where} is a symbolic link; give the folder itself ({str(folder.resolve())!r})"
        )
    if not stat.S_ISDIR(mode):
        raise ReportError(f"{where} is {mode_kind(mode)}, not a folder")
    return folder


def read_member(folder, name: str, where: str, limit: int = MAX_FILE_BYTES, expect=None) -> bytes:
    """The bytes of regular file ``name`` inside ``folder``, read without following links.

    Args:
        folder: the report folder.
        name: a plain file name (no ``/``).
        where: how messages name the folder (``"report folder 'runs/x'"``).
        limit: the most bytes to read.
        expect: the size the manifest gives (an int): no more than that plus one
            byte is read (the caller compares the size and the sha256).

    Raises:
        FileNotFoundError: no such file (the caller says what that means).
        ReportError: a symbolic link, a FIFO, a device or another non-regular
            file; a file larger than ``limit``; a file that cannot be read.
    """
    path = os.path.join(os.fspath(folder), name)
    try:
        return read_nofollow(path, limit, expect)
    except FileNotFoundError:
        raise
    except UnsafeFile as e:
        if e.cause == "link":
            raise ReportError(
                f"{where}: {name} is a symbolic link; a report folder holds only its own "
                "regular files (links are never followed)"
            ) from None
        if e.cause == "type":
            raise ReportError(
                f"{where}: {name} is {e.detail}; a report folder holds only regular files"
            ) from None
        if e.cause == "size" and e.detail is not None:
            raise ReportError(
                f"{where}: {name} holds {e.detail} bytes, more than the {limit} a report "
                "file may have"
            ) from None
        if e.cause == "size":
            raise ReportError(
                f"{where}: {name} holds more than the {limit} bytes a report file may have"
            ) from None
        raise ReportError(f"{where}: {name} cannot be read ({e.detail})") from None


def read_json_member(folder, name: str, where: str, expect=None):
    """``name`` read by :func:`read_member` (at most :data:`MAX_JSON_BYTES`) and parsed
    by :func:`btlstm.convert.load_json` (nesting checked first)."""
    data = read_member(folder, name, where, MAX_JSON_BYTES, expect)
    return parse_json(data, f"{where}: {name}")


def parse_json(data: bytes, what: str):
    """JSON bytes of a report folder, parsed; a ReportError naming ``what``."""
    try:
        return load_json(data, what)
    except ValueError as e:
        raise ReportError(str(e)) from None


def read_manifest(folder, where: str, manifest: str, formats, known=()) -> dict:
    """The folder's manifest, its shape checked (see the module docstring).

    Args:
        folder: the folder.
        where: how messages name it.
        manifest: the manifest's file name (``manifest.json``).
        formats: the ``format`` values accepted (``("btlstm-report",)``).
        known: the file names btlstm writes in such a folder (:func:`allowed_name`).

    Returns:
        The manifest dict; ``files`` is a dict of checked entries.

    Raises:
        ReportError: no manifest, not JSON, nested too deep, not an object, an
            unknown format, ``files`` not an object, a bad name or entry (named).
    """
    try:
        doc = read_json_member(folder, manifest, where)
    except FileNotFoundError:
        raise ReportError(
            f"{where}: no {manifest}, so the folder is incomplete (its write was interrupted) "
            "or not a btlstm report"
        ) from None
    if not isinstance(doc, dict):
        raise ReportError(
            f"{where}: {manifest} must be a JSON object, got {type(doc).__name__}; "
            "the folder is not a btlstm report"
        )
    if doc.get("format") not in formats:
        raise ReportError(
            f"{where}: {manifest} 'format' is {doc.get('format')!r}, expected "
            f"{' or '.join(repr(f) for f in formats)}: the folder is not a btlstm report"
        )
    version = doc.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version != 1:
        raise ReportError(f"{where}: {manifest} 'version' must be 1, got {version!r}")
    files = doc.get("files")
    if not isinstance(files, dict):
        raise ReportError(
            f"{where}: {manifest} 'files' must be an object of file entries, "
            f"got {type(files).__name__}"
        )
    for name, entry in files.items():
        field = f"{where}: {manifest} 'files'"
        if not isinstance(entry, dict):
            raise ReportError(
                f"{field} entry {name!r} must be an object, got {type(entry).__name__}"
            )
        if entry.get("report") is True and doc.get("format") == "btlstm-seeds":
            if not _PLAIN.fullmatch(name):
                raise ReportError(f"{field} lists an invalid folder name {name!r}")
            continue
        if name == manifest or not allowed_name(name, known):
            raise ReportError(
                f"{field} lists {name!r:.80}, which is not a file btlstm writes in a report "
                "folder (one of its own names, or a plain name ending .csv or .csv.gz)"
            )
        digest, size = entry.get("sha256"), entry.get("bytes")
        if not isinstance(digest, str) or not _SHA.fullmatch(digest):
            raise ReportError(
                f"{field} entry {name!r} 'sha256' must be 64 hex digits, got {digest!r:.80}"
            )
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_FILE_BYTES:
            raise ReportError(
                f"{field} entry {name!r} 'bytes' must be an integer in [0, {MAX_FILE_BYTES}], "
                f"got {size!r:.80}"
            )
    return doc


# --------------------------------------------------------------------------- report.json
_SECTIONS = {  # top-level key: the type it must have when present (None always allowed)
    "title": str,
    "synthetic": bool,
    "strategy": dict,
    "benchmark": dict,
    "relative": dict,
    "comparison": list,
    "prediction": dict,
    "significance": dict,
    "period": dict,
    "config": dict,
    "provenance": dict,
    "costs": dict,
    "definitions": dict,
    "warnings": list,
    "notes": list,
    "run": dict,
    "per_year": dict,
    "scores": dict,
    "live": dict,
}
_REQUIRED = ("strategy",)
#: numbers of a comparison row: the summary row's figures (btlstm.summary) and the values
_NUMBER_KEYS = (*(k for k in SUMMARY_KEYS if k != "name"), "start_value", "final_value")
_TYPE_NAMES = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}


def _is_number(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def check_report_json(report, where: str) -> dict:
    """Check the shape of a parsed ``report.json``; return it.

    Checked: an object with a ``strategy`` object; each known section of the
    type btlstm writes (:data:`_SECTIONS`); ``warnings`` and ``notes`` lists of
    strings; ``comparison`` a list of objects with a string ``name``; the
    numbers of ``strategy``, ``benchmark`` and every comparison row numbers
    (or null); ``per_year`` an object of objects of numbers; ``period``'s
    ``bars`` an integer.

    Raises:
        ReportError: names the folder, ``report.json`` and the field.
    """
    what = f"{where}: report.json"
    if not isinstance(report, dict):
        raise ReportError(f"{what} must be a JSON object, got {type(report).__name__}")
    for key in _REQUIRED:
        if key not in report:
            raise ReportError(f"{what} has no {key!r}: not a btlstm report")
    for key, kind in _SECTIONS.items():
        value = report.get(key)
        if value is not None and not isinstance(value, kind):
            raise ReportError(
                f"{what} {key!r} must be {_TYPE_NAMES[kind]}, got {type(value).__name__}"
            )
    for key in ("warnings", "notes"):
        for i, text in enumerate(report.get(key) or []):
            if not isinstance(text, str):
                raise ReportError(f"{what} {key}[{i}] must be a string, got {type(text).__name__}")
    rows = report.get("comparison") or []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ReportError(f"{what} comparison[{i}] must be an object, got {type(row).__name__}")
        if not isinstance(row.get("name"), str):
            raise ReportError(
                f"{what} comparison[{i}] 'name' must be a string, got {row.get('name')!r:.80}"
            )
    sections = [("strategy", report["strategy"])]
    if report.get("benchmark") is not None:
        sections.append(("benchmark", report["benchmark"]))
    sections += [(f"comparison[{i}]", row) for i, row in enumerate(rows)]
    for label, sec in sections:
        for key in _NUMBER_KEYS:
            if key in sec and not _is_number(sec[key]):
                raise ReportError(
                    f"{what} {label} {key!r} must be a number or null, got {sec[key]!r:.80}"
                )
        for key in ("name", "feed", "source"):
            if key in sec and sec[key] is not None and not isinstance(sec[key], str):
                raise ReportError(f"{what} {label} {key!r} must be a string, got {sec[key]!r:.80}")
    for year, values in (report.get("per_year") or {}).items():
        if not isinstance(values, dict) or not all(_is_number(v) for v in values.values()):
            raise ReportError(
                f"{what} per_year[{year!r}] must be an object of numbers, got {values!r:.80}"
            )
    bars = (report.get("period") or {}).get("bars")
    if bars is not None and (isinstance(bars, bool) or not isinstance(bars, int)):
        raise ReportError(f"{what} period 'bars' must be an integer, got {bars!r:.80}")
    return report
