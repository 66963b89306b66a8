"""The download cache's files: canonical frames written as Yahoo-layout CSVs with a manifest.

A folder of these files *is* a btlstm data directory (:func:`write_yahoo_csv`
writes what :func:`btlstm.data.readers.read_yahoo_csv` reads). Every write is
atomic and every file gets a sha256 sidecar manifest, through the one
implementation of crash-safe files, :mod:`btlstm._files` (re-exported here:
``atomic_write_bytes``, ``write_manifest``, ``verify_manifest``,
``load_verified``, ...), which the model caches and the report folders use too.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm._files import (
    MANIFEST_SUFFIX,
    atomic_write_bytes,
    atomic_write_text,
    load_verified,
    manifest_path,
    read_manifest,
    sha256_file,
    verify_manifest,
    write_manifest,
)
from btlstm.errors import DataError

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
