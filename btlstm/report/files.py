"""A report's files: written as one unit, checked when read, rebuildable.

:func:`write_report` writes every file of a run into a temporary folder beside
``outdir`` (``.btlstm-tmp-*``), writes ``manifest.json`` (each file's sha256 and
size) last, and only then swaps the folder into place: on Linux one atomic
``renameat2(RENAME_EXCHANGE)``, elsewhere two renames (old folder away, new in)
and the old one deleted (:func:`btlstm._files.write_folder`, the one
implementation of crash-safe files). An interrupted write (an error, Ctrl-C, a kill) leaves
the previous complete folder untouched (at worst a ``.btlstm-tmp-*`` sibling to
delete). :func:`load_report` checks every file against the manifest and refuses
a folder with a missing or changed file; :func:`rebuild_report` redraws the
PNGs and ``report.html`` from ``report.json`` and the CSVs alone (also when
those derived files were deleted or changed: redrawing them is its job), and
still refuses a missing or changed data file.

Files:

- ``report.json``: ``run.report`` (NaN -> null, keys in report order, 2-space indent);
- ``predictions.csv``: date, symbol, prediction, realised_return, realised_target;
- ``trades.csv``: one row per finished order of every run (``strategy`` names it);
- ``equity.csv``: date and one portfolio-value column per run;
- ``weights.csv``: date, symbol, weight (the strategy; ``cash`` included);
- ``forecasts.csv``: date, sector, forecast (panel runs with a model, e.g. rotation);
- ``roundtrips.csv``: every run's round-trip trades matched FIFO from the filled
  orders of trades.csv (:func:`btlstm.report.tearsheet.roundtrips`; derived, so
  a rebuild writes it again);
- with ``plots``: ``equity.png``, ``drawdown.png``, ``excess.png``,
  ``yearly.png``, ``rolling.png``, ``returns.png``, ``predictions.png``,
  ``weights.png`` (those that apply);
- ``report.html`` (always; without images when ``plots`` is false);
- ``manifest.json``.

Floats in CSVs are written with the shortest exact representation, NaN as an
empty cell, dates as ISO strings.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from btlstm._files import check_writable_dir, csv_bytes, entry_problem, plain_frame, write_folder
from btlstm.convert import to_jsonable
from btlstm.errors import ReportError
from btlstm.report.collect import TABLE_COLUMNS, RunData
from btlstm.report.reading import (
    MAX_FILE_BYTES,
    MAX_JSON_BYTES,
    check_folder,
    check_report_json,
    parse_json,
    read_manifest,
    read_member,
)

__all__ = [
    "MANIFEST",
    "REPORT_FILES",
    "ReportError",
    "check_outdir",
    "check_writable_dir",
    "write_report",
    "load_report",
    "rebuild_report",
    "DERIVED_FILES",
]

logger = logging.getLogger("btlstm.report")

MANIFEST = "manifest.json"
_FORMAT = "btlstm-report"
_VERSION = 1
_TABLES = ("predictions", "trades", "equity", "weights")
_OPTIONAL_TABLES = ("forecasts",)  # written only when the run has rows for them
_DATA_FILES = ("report.json",) + tuple(f"{t}.csv" for t in _TABLES + _OPTIONAL_TABLES)
_PLOT_FILES = ("equity.png", "drawdown.png", "rolling.png", "returns.png", "predictions.png",
               "weights.png", "latency.png", "excess.png", "yearly.png")  # fmt: skip
_TABLE_FILES = ("roundtrips.csv",)  # derived from trades.csv and equity.csv
REPORT_FILES = _DATA_FILES + _PLOT_FILES + _TABLE_FILES + ("report.html", MANIFEST)
"""Every file name a report folder may hold (other entries are the user's own)."""

_TEXT_COLUMNS = {  # read as text (a symbol such as "000300" or "NA" stays as written)
    "predictions": ("symbol",),
    "trades": ("strategy", "symbol", "side", "status", "reason", "detail"),
    "weights": ("symbol",),
    "equity": (),
    "forecasts": ("sector",),
}
_DATE_COLUMNS = ("date", "created_date")


# ---------------------------------------------------------------------------
# output folder checks (check_writable_dir: btlstm._files, re-exported here)
# ---------------------------------------------------------------------------
def check_outdir(outdir, what: str = "output folder") -> Path:
    """Check that a report can be written to ``outdir``, before any work is done.

    Args:
        outdir: the output folder (str or Path); it need not exist.
        what: how the user named it in messages (default ``"output folder"``;
            the run pipeline passes ``"--out"`` or ``"[output] out"``).

    Returns:
        ``outdir`` as an absolute Path.

    Raises:
        ReportError: everything :func:`check_writable_dir` refuses, or a
            non-empty folder that is not a btlstm report (it would be
            replaced: choose a new or empty folder).
    """
    from btlstm.report.runs import PAPER_STATE

    path = check_writable_dir(outdir, what)
    if path.is_dir():  # a paper run's state folder is kept beside its report
        entries = sorted(p.name for p in path.iterdir() if p.name != PAPER_STATE)
        if entries and not ({MANIFEST, "report.json"} & set(entries)):
            shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
            raise ReportError(
                f"{what}: {os.fspath(outdir)!r} holds files that are not a btlstm report "
                f"({shown}); a report replaces its whole folder, so choose a new or empty folder"
            )
    return path


# ---------------------------------------------------------------------------
# bytes of each file
# ---------------------------------------------------------------------------
def _csv_bytes(frame: pd.DataFrame) -> bytes:
    """A table as CSV bytes, safe to open in a spreadsheet (:func:`btlstm._files.csv_bytes`:
    a cell such as ``=cmd|...`` is written ``'=cmd|...``)."""
    return csv_bytes(frame, lineterminator="\n", na_rep="")


def _json_bytes(report: Mapping) -> bytes:
    text = json.dumps(to_jsonable(report), indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")


def _data_files(run: RunData) -> dict[str, bytes]:
    files = {"report.json": _json_bytes(run.report)}
    for name in _TABLES:
        files[f"{name}.csv"] = _csv_bytes(run.tables[name])
    for name in _OPTIONAL_TABLES:
        if len(run.tables.get(name, ())):
            files[f"{name}.csv"] = _csv_bytes(run.tables[name])
    for name, frame in (getattr(run, "files", None) or {}).items():  # extra files of the run
        files[_extra_name(name)] = _extra_bytes(name, frame)
    return files


def _extra_name(name) -> str:
    name = str(name)
    ok = name.endswith((".csv", ".csv.gz")) and "/" not in name and "\\" not in name
    if not ok or name in REPORT_FILES or name.startswith("."):
        raise ValueError(f"RunData.files: {name!r} must be a new plain file name ending .csv[.gz]")
    return name


def _extra_bytes(name: str, frame) -> bytes:
    data = frame if isinstance(frame, bytes) else _csv_bytes(frame)
    if name.endswith(".gz"):
        import gzip

        return gzip.compress(data, mtime=0)  # same table, same bytes
    return data


def _rendered(run: RunData, plots: bool) -> dict[str, bytes]:
    from btlstm.report.html import render_html
    from btlstm.report.plots import render_plots
    from btlstm.report.tearsheet import roundtrips

    images = render_plots(run) if plots else {}
    trips = roundtrips(run.tables.get("trades"), run.tables["equity"]["date"])
    return {**images, "roundtrips.csv": _csv_bytes(trips), "report.html": render_html(run, images)}


# ---------------------------------------------------------------------------
# writing a folder as one unit (btlstm._files.write_folder)
# ---------------------------------------------------------------------------
def _write_folder(outdir, files: Mapping[str, bytes]) -> dict[str, Path]:
    target = check_outdir(outdir)
    header = {"format": _FORMAT, "version": _VERSION}
    return write_folder(target, files, header, MANIFEST, owned=REPORT_FILES)


def write_report(run: RunData, outdir, plots: bool = True) -> dict[str, Path]:
    """Write a run's report folder as one unit (see the module docstring).

    Args:
        run: a :class:`~btlstm.report.collect.RunData` (from ``collect`` /
            ``add_comparison`` or ``load_report``).
        outdir: the output folder (str or Path): created if needed; an existing
            report folder there is replaced as a whole (entries that are not
            report files are kept); a non-empty folder that is not a report is
            refused.
        plots: draw and embed the PNG plots (``report.html`` is written either way).

    Returns:
        ``{file name: Path}`` of every file in the new folder (``manifest.json`` included).

    Raises:
        ReportError: ``outdir`` cannot hold a report (see :func:`check_outdir`).
        TypeError: ``run`` is not a RunData.

    Example::

        paths = write_report(collect(strategy, meta), "runs/csi300")
    """
    if not isinstance(run, RunData):
        raise TypeError(
            f"`run` must be a RunData from btlstm.report.collect(), got {type(run).__name__}"
        )
    check_outdir(outdir)  # before drawing anything
    files = _data_files(run)
    files.update(_rendered(run, plots))
    return _write_folder(outdir, files)


# ---------------------------------------------------------------------------
# reading back
# ---------------------------------------------------------------------------
def _read_csv(table: str, data: bytes) -> pd.DataFrame:
    header = data.split(b"\n", 1)[0].decode("utf-8").split(",")
    frame = pd.read_csv(
        io.BytesIO(data),
        float_precision="round_trip",
        keep_default_na=False,
        na_values=[""],
        dtype={c: str for c in _TEXT_COLUMNS[table] if c in header},
    )
    frame = plain_frame(frame)  # the text as the run gave it (csv_bytes neutralised it)
    for col in _DATE_COLUMNS:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col])
    return frame


#: Files drawn from the data files: rebuild_report redraws them when missing or changed.
DERIVED_FILES = _PLOT_FILES + _TABLE_FILES + ("report.html",)


def _load(path, rebuild: list | None = None) -> tuple[RunData, dict[str, bytes], Path]:
    """Read and check a report folder. With ``rebuild`` (a list), a derived file that is
    missing or changed is not an error: its name and state are appended to the list.

    The folder is data (:mod:`btlstm.report.reading`): only its own regular files are
    read (no link followed, no FIFO or device opened), each within a byte limit, and
    the manifest's and report.json's shapes and nesting are checked before use."""
    folder = Path(path)
    if folder.name in ("report.json", MANIFEST) and not folder.is_dir():
        folder = folder.parent
    where = f"report folder {str(folder)!r}"
    folder = check_folder(folder, where)
    manifest = read_manifest(folder, where, MANIFEST, (_FORMAT,), REPORT_FILES)
    raw: dict[str, bytes] = {}
    for name, info in manifest["files"].items():
        derived = rebuild is not None and name in DERIVED_FILES
        try:
            limit = MAX_JSON_BYTES if name.endswith(".json") else MAX_FILE_BYTES
            data = read_member(folder, name, where, limit, expect=info["bytes"])
        except FileNotFoundError:
            if derived:
                rebuild.append((name, "missing"))
                continue
            raise ReportError(
                f"{where}: {name} is missing (listed in {MANIFEST}); the folder is incomplete"
            ) from None
        except ReportError:
            if derived:  # a link, FIFO or device where a plot was: drawn again, never read
                rebuild.append((name, "unreadable (a link, a special file or too large)"))
                continue
            raise
        if entry_problem(info, data) is not None:
            if derived:
                rebuild.append((name, "changed"))
                continue
            raise ReportError(
                f"{where}: {name} does not match {MANIFEST} (sha256 differs): the file was "
                "changed or replaced after the report was written"
            )
        raw[name] = data
    if "report.json" not in raw:
        raise ReportError(f"{where}: {MANIFEST} lists no report.json")
    report = check_report_json(parse_json(raw["report.json"], f"{where}: report.json"), where)
    tables = {}
    for name in _TABLES + _OPTIONAL_TABLES:
        if f"{name}.csv" in raw:
            try:
                tables[name] = _read_csv(name, raw[f"{name}.csv"])
            except (ValueError, UnicodeDecodeError, TypeError, OverflowError) as e:
                text = " ".join(str(e).split())[:200]
                raise ReportError(f"{where}: {name}.csv cannot be read ({text})") from None
            missing = [c for c in TABLE_COLUMNS[name] if c not in tables[name].columns]
            if missing:
                raise ReportError(f"{where}: {name}.csv lacks the columns {missing}")
    return RunData(report=report, tables=tables), raw, folder


def load_report(path) -> RunData:
    """Read a report folder written by :func:`write_report`, checking every file.

    Args:
        path: the folder (or its ``report.json`` / ``manifest.json``).

    Returns:
        :class:`~btlstm.report.collect.RunData`: ``report`` from report.json
        (NaN read back as ``None``), ``tables`` from the CSVs (dates parsed,
        symbols kept as text, floats exact).

    Raises:
        FileNotFoundError: no such folder.
        ReportError: no manifest (an interrupted or foreign folder), a file
            missing or changed since it was written, invalid JSON, not a report;
            a listed file that is a symbolic link, a FIFO, a device or larger
            than its limit; a manifest or report.json of the wrong shape or
            nested too deep (:mod:`btlstm.report.reading`).

    Example::

        load_report("runs/csi300").report["strategy"]["sharpe"]
    """
    return _load(path)[0]


def rebuild_report(outdir, plots: bool | None = None) -> Path:
    """Redraw the PNGs and ``report.html`` of a report folder from its JSON and CSVs.

    The data files (``report.json``, the CSVs) are checked like :func:`load_report`
    and kept byte for byte: a missing or changed one is refused. The derived files
    (:data:`DERIVED_FILES`) are drawn again whether they are there, deleted or
    changed (each deleted or changed one is logged on ``btlstm.report``), and the
    folder is rewritten as one unit with a new ``manifest.json``. (The folder
    of a ``--seeds`` run: :func:`btlstm.report.rebuild_report`.)

    Args:
        outdir: a report folder.
        plots: draw the PNGs; None: as the folder's manifest had them.

    Returns:
        The path of the new ``report.html``.

    Raises:
        ReportError: no manifest, or a data file missing or changed.
    """
    redo: list = []
    run, raw, folder = _load(outdir, rebuild=redo)
    for name, state in redo:
        logger.warning(
            "%s: %s was %s; drawn again from report.json and the CSVs", folder, name, state
        )
    if plots is None:
        listed = read_manifest(folder, f"report folder {str(folder)!r}", MANIFEST, (_FORMAT,),
                               REPORT_FILES)["files"]  # fmt: skip
        plots = any(name.endswith(".png") for name in listed)
    files = {name: raw[name] for name in _DATA_FILES if name in raw}
    files.update(
        {n: b for n, b in raw.items()
         if n.endswith((".csv", ".csv.gz")) and n not in files and n not in DERIVED_FILES}
    )  # fmt: skip
    try:
        files.update(_rendered(run, plots))
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        if isinstance(e, ReportError):
            raise
        text = " ".join(str(e).split())[:200]
        raise ReportError(
            f"report folder {str(folder)!r}: report.json or a CSV holds a value of a shape "
            f"btlstm does not write, so the page cannot be drawn ({type(e).__name__}: {text})"
        ) from None
    return _write_folder(folder, files)["report.html"]
