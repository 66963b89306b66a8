"""Crash-safe files for the download cache and the model cache.

Every file btlstm writes goes through :func:`atomic_write_bytes`: the data go
to a temporary file in the same folder, are flushed and fsync'ed, and the temp
file is moved over the target with ``os.replace`` (atomic on POSIX and
Windows). A crash leaves either the old file or the new one, never half of
one; the temp file is removed on error.

Cached Yahoo CSVs get a sidecar manifest ``<file>.manifest.json`` holding the
file's sha256, byte size and row count (and the request that produced it), so
a file that was truncated or edited, even one that still parses, is detected
by :func:`verify_manifest`. Cached walk-forward models
(:class:`btlstm.walkforward.WalkForward` with ``cache_dir``) get the same
manifest and are checked before they are loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.data.validate import DataError

__all__ = [
    "MANIFEST_SUFFIX",
    "atomic_write_bytes",
    "atomic_write_text",
    "manifest_path",
    "write_manifest",
    "read_manifest",
    "verify_manifest",
    "load_verified",
    "sha256_file",
    "yahoo_csv_text",
    "write_yahoo_csv",
]

logger = logging.getLogger("btlstm.data")

MANIFEST_SUFFIX = ".manifest.json"


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that the file is never half-written.

    Args:
        path: the final file; its folder is created if needed.
        data: the bytes to write.

    Returns:
        The final path.

    Raises:
        OSError: when writing fails; the previous file (if any) is untouched
            and no temporary file is left behind.

    Example:
        >>> import pathlib, tempfile
        >>> p = atomic_write_bytes(pathlib.Path(tempfile.mkdtemp()) / "demo.bin", b"abc")
        >>> p.read_bytes()
        b'abc'
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; data and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` atomically (see :func:`atomic_write_bytes`).

    Args:
        path: the final file.
        text: the text to write (newlines written as given).
        encoding: text encoding.

    Returns:
        The final path.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (best effort; not possible on Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256_file(path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_path(path) -> Path:
    """The sidecar manifest of a cached file: ``<file>.manifest.json``."""
    path = Path(path)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def write_manifest(path, rows: int, data: bytes | None = None, **extra) -> Path:
    """Write the manifest of ``path`` (sha256, bytes, rows, + ``extra`` fields).

    Args:
        path: the data file the manifest describes.
        rows: number of data rows in it.
        data: the file's bytes if already in memory (else the file is read).
        **extra: JSON-serialisable fields to record (e.g. the request).

    Returns:
        The manifest path.
    """
    path = Path(path)
    if data is None:
        digest, size = sha256_file(path), path.stat().st_size
    else:
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    doc = {
        "file": path.name,
        "sha256": digest,
        "bytes": size,
        "rows": int(rows),
        "written_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    doc.update(extra)
    return atomic_write_text(manifest_path(path), json.dumps(doc, indent=1) + "\n")


def read_manifest(path) -> dict | None:
    """The manifest of ``path`` as a dict, or None when there is none or it is unreadable."""
    mp = manifest_path(path)
    try:
        doc = json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def verify_manifest(
    path, required: bool = True, content=None, expect: dict | None = None
) -> str | None:
    """Check a cached file against its manifest.

    Args:
        path: the data file (its manifest is ``<file>.manifest.json`` beside it).
        required: when True a missing manifest is a problem; when False a file
            without manifest passes (files that were not written by btlstm).
        content: check the bytes of this file instead of ``path`` (a private
            copy of ``path`` that the caller then reads, so the bytes checked
            are the bytes used); the manifest is still the one of ``path``.
        expect: manifest fields that must have these values (e.g.
            ``{"file": path.name}``: a file and manifest copied in under
            another name are caught).

    Returns:
        None when the file matches, else a short reason (``"sha256 mismatch"``...).

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "SPY.csv"
        >>> _ = write_yahoo_csv(frame.iloc[:50], path, ticker="SPY")
        >>> verify_manifest(path) is None
        True
        >>> _ = path.write_text(path.read_text().replace("2010", "2011"))
        >>> verify_manifest(path)
        'sha256 mismatch with the manifest (file changed or corrupt)'
    """
    path = Path(path)
    data = Path(content) if content is not None else path
    if not path.is_file() or not data.is_file():
        return "file missing"
    doc = read_manifest(path)
    if doc is None:
        if manifest_path(path).exists():
            return f"manifest {manifest_path(path).name} is unreadable"
        return f"no manifest {manifest_path(path).name}" if required else None
    for key, want in (expect or {}).items():
        if doc.get(key) != want:
            return f"manifest field {key!r} is {doc.get(key)!r}, expected {want!r}"
    size = data.stat().st_size
    if "bytes" in doc and doc["bytes"] != size:
        return f"size {size} bytes, manifest says {doc['bytes']} (truncated or changed)"
    if doc.get("sha256") != sha256_file(data):
        return "sha256 mismatch with the manifest (file changed or corrupt)"
    return None


def load_verified(path, kind: str, load, what: str = "cached model") -> bool:
    """Load a cached file only if it is the file btlstm wrote: ``load(copy)``.

    The file is copied to a private folder, the copy's sha256 is checked
    against ``<file>.manifest.json`` (which must say ``file`` = its name and
    ``kind`` = ``kind``), and only the checked copy is given to ``load``. A
    file swapped in or edited since it was written, one without a manifest
    and one ``load`` rejects (it raises :class:`btlstm.models.ModelFileError`
    or ``ValueError``) are never used: a warning names the file and the
    caller refits (and rewrites the entry).

    Returns:
        True when ``load`` took the file.
    """
    import shutil

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="btlstm-model-") as tmp:
        copy = Path(tmp) / path.name
        try:
            shutil.copyfile(path, copy)
        except OSError as e:
            logger.warning("corrupt %s %s (unreadable: %s): retraining", what, path, e)
            return False
        reason = verify_manifest(
            path, required=True, content=copy, expect={"file": path.name, "kind": kind}
        )
        if reason is not None:
            logger.warning(
                "corrupt %s %s changed since it was written (%s): retraining", what, path, reason
            )
            return False
        try:
            load(copy)
        except ValueError as e:  # ModelFileError is one (not imported: no TensorFlow here)
            msg = str(e).replace(str(copy), str(path))
            logger.warning("corrupt %s %s (%s): retraining", what, path, msg)
            return False
    return True


def yahoo_csv_text(frame: pd.DataFrame) -> str:
    """Render a canonical frame as Yahoo-layout CSV text.

    Columns ``Date,Open,High,Low,Close,Adj Close,Volume`` (``Adj Close`` only
    when the frame has ``adj_close``); dates ``YYYY-MM-DD`` (with a time when
    the index has one); floats written with full precision so a round trip is
    exact; integral volumes written as integers.
    """
    cols = {"open": "Open", "high": "High", "low": "Low", "close": "Close"}
    if "adj_close" in frame.columns:
        cols["adj_close"] = "Adj Close"
    cols["volume"] = "Volume"
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataError(
            f"cannot write a Yahoo CSV: missing column(s) {missing}",
            frame.attrs.get("source"),
            column=missing[0],
        )
    out = frame[list(cols)].rename(columns=cols).copy()
    vol = out["Volume"].to_numpy(dtype=float)
    if np.isfinite(vol).all() and (vol == np.round(vol)).all():
        out["Volume"] = vol.astype(np.int64)
    idx = pd.DatetimeIndex(frame.index)
    daily = bool((idx == idx.normalize()).all())
    out.index = idx.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S")
    out.index.name = "Date"
    buf = io.StringIO()
    out.to_csv(buf, lineterminator="\n")
    return buf.getvalue()


def write_yahoo_csv(frame: pd.DataFrame, path, **manifest_fields) -> Path:
    """Write a canonical frame as a Yahoo-layout CSV, atomically, with its manifest.

    The file is what :func:`btlstm.data.readers.read_yahoo_csv` reads, so a
    folder of these files is a btlstm data directory.

    Args:
        frame: a canonical frame (``adj_close`` optional).
        path: the target ``.csv`` file.
        **manifest_fields: extra JSON fields for the manifest (e.g. ticker, request).

    Returns:
        The path written.

    Example:
        >>> import pathlib, tempfile
        >>> write_yahoo_csv(frame, pathlib.Path(tempfile.mkdtemp()) / "SPY.csv", ticker="SPY").name
        'SPY.csv'
    """
    data = yahoo_csv_text(frame).encode("utf-8")
    path = atomic_write_bytes(path, data)
    write_manifest(path, rows=len(frame), data=data, **manifest_fields)
    return path
