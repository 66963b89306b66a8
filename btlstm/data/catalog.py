"""The dataset catalogue: short names for the files in a btlstm data directory.

A *data directory* holds the datasets in the folder layout of the shared
offline data (``cn_index_daily/...``, ``spdr_sector_etfs/...``, ...) plus a
``yahoo/`` folder of downloads. It is found by :func:`data_dir`: the
argument, else ``$BTLSTM_DATA``, else ``~/.btlstm/data``.

:func:`load` turns a name into canonical frames::

    csi = load("csi300", start="2005-01-01", end="2017-05-01")    # one frame
    etfs = load("sector_etfs")                                     # {ticker: frame}
    spy = load("yahoo:SPY")              # <data_dir>/yahoo/SPY.csv (fetch_yahoo)
    any_ = load("/path/to/file.csv")     # layout sniffed from the header

Known, documented defects that validation cannot see are declared on the
catalogue entry and dropped with a logged note and ``attrs["repair"]``
(SPY's partial last row 2025-09-26). Other defects make :func:`load` raise
unless ``repair="drop"`` (S&P 500 NaNs and 12 OHLC-inconsistent rows; 2
OHLC-inconsistent A-share rows). The bad S&P 500 day NWL 2017-09-14 (~31
amid ~43, OHLC-consistent) is NOT detectable by validation and is left in; LNT
2016-05-19 (close below the day's low) is one of the 12 dropped rows.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.checks import close_names
from btlstm.data.cache import verify_manifest
from btlstm.data.columnmap import as_map
from btlstm.data.readers import (
    _READERS,
    _as_path,
    _default_where,
    _finish,
    _wanted,
    read_header,
    read_mapped,
)
from btlstm.data.validate import DataError

__all__ = [
    "Dataset",
    "CATALOG",
    "SECTORS",
    "data_dir",
    "get_dataset",
    "list_datasets",
    "load",
    "describe",
    "yahoo_filename",
]

logger = logging.getLogger("btlstm.data")

SECTORS = ("XLB", "XLE", "XLF", "XLI", "XLK", "XLP", "XLU", "XLV", "XLY")
_ETF_EXTRA = ("XLC", "XLRE")

_HOW_TO_GET = (
    "get data with `btlstm fetch <name>` (Yahoo Finance, needs internet), point "
    "btlstm at an existing data folder with the BTLSTM_DATA environment variable or "
    "--data-dir, or run `btlstm demo` (synthetic data, nothing needed)"
)


@dataclass(frozen=True)
class Dataset:
    """One catalogue entry.

    Attributes:
        name: the short name given to :func:`load`.
        kind: ``"single"`` (one frame), ``"panel"`` ({symbol: frame}) or
            ``"table"`` (a plain DataFrame, e.g. a constituent list).
        path: file relative to the data directory; for per-ticker panels a
            pattern with ``{symbol}``.
        layout: reader key (``yahoo``, ``akshare``, ``baostock``, ``kaggle``,
            ``constituents``).
        description: one line for ``btlstm data list``.
        symbols: default symbols of a per-ticker panel.
        optional_symbols: more symbols available through ``symbols=``.
        yahoo: Yahoo tickers :func:`btlstm.data.yahoo.fetch_dataset` downloads.
        yahoo_folder: folder (under the data dir) the download is written to.
        known_defects: ``{symbol: ((date, reason), ...)}`` documented rows that
            validation cannot detect; such a row is dropped only when it is the
            LAST row of the file (they are partial last rows), with a log note.
    """

    name: str
    kind: str
    path: str
    layout: str
    description: str
    symbols: tuple = ()
    optional_symbols: tuple = ()
    yahoo: tuple = ()
    yahoo_folder: str = "yahoo"
    known_defects: dict = field(default_factory=dict)


_SPY_DEFECT = {
    "SPY": (
        (
            "2025-09-26",
            "partial last row: intraday snapshot (volume ~0.43x normal), see docs/data.md",
        ),
    )
}

_BT = "backtrader_datas/"
CATALOG: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "csi300",
            "single",
            "cn_index_daily/eastmoney_akshare/000300.csv",
            "akshare",
            "CSI 300 index daily 2005-2023, East Money/akshare (volume in shares, amount CNY)",
            yahoo=("000300.SS",),
        ),
        Dataset(
            "sse",
            "single",
            "cn_index_daily/eastmoney_akshare/000001.csv",
            "akshare",
            "SSE Composite index daily 1990-2023, East Money/akshare",
            yahoo=("000001.SS",),
        ),
        Dataset(
            "csi300_members",
            "panel",
            "cn_ashare_hs300_daily/hs300_members_2019-12_daily_qfq.csv.gz",
            "baostock",
            "300 CSI 300 member A-shares 2000-2020, baostock qfq, suspension/ST flags",
        ),
        Dataset(
            "csi300_constituents",
            "table",
            "cn_ashare_hs300_daily/hs300_constituents_2019-12-09.csv",
            "constituents",
            "CSI 300 constituent list as of 2019-12-09 (code, code_name)",
        ),
        Dataset(
            "sp500_5yr",
            "panel",
            "sp500_all_stocks_5yr/all_stocks_5yr.csv.gz",
            "kaggle",
            "505 S&P 500 stocks 2013-2018, Kaggle layout (known bad rows: use repair='drop')",
        ),
        Dataset(
            "sector_etfs",
            "panel",
            "spdr_sector_etfs/{symbol}.csv",
            "yahoo",
            "nine SPDR sector ETFs + SPY 1998-2025, Yahoo layout (XLC, XLRE via symbols=)",
            symbols=SECTORS + ("SPY",),
            optional_symbols=_ETF_EXTRA,
            yahoo=SECTORS + ("SPY",),
            yahoo_folder="spdr_sector_etfs",
            known_defects=_SPY_DEFECT,
        ),
        Dataset(
            "spy",
            "single",
            "spdr_sector_etfs/SPY.csv",
            "yahoo",
            "SPDR S&P 500 ETF 1993-2025, Yahoo layout (partial last row dropped)",
            symbols=("SPY",),
            yahoo=("SPY",),
            yahoo_folder="spdr_sector_etfs",
            known_defects=_SPY_DEFECT,
        ),
        Dataset(
            "bt_orcl",
            "single",
            _BT + "orcl-1995-2014.txt",
            "yahoo",
            "Backtrader sample: Oracle 1995-2014",
            symbols=("ORCL",),
        ),
        Dataset(
            "bt_yhoo",
            "single",
            _BT + "yhoo-1996-2015.txt",
            "yahoo",
            "Backtrader sample: Yahoo 1996-2015",
            symbols=("YHOO",),
        ),
        Dataset(
            "bt_nvda",
            "single",
            _BT + "nvda-1999-2014.txt",
            "yahoo",
            "Backtrader sample: NVIDIA 1999-2014",
            symbols=("NVDA",),
        ),
        Dataset(
            "bt_ko",
            "single",
            _BT + "daily-KO.csv",
            "yahoo",
            "Backtrader sample: Coca-Cola 1997-1998 (Adj Close last)",
            symbols=("KO",),
        ),
        Dataset(
            "bt_pep",
            "single",
            _BT + "daily-PEP.csv",
            "yahoo",
            "Backtrader sample: PepsiCo 1997-1998 (Adj Close last)",
            symbols=("PEP",),
        ),
        Dataset(
            "bt_2006",
            "single",
            _BT + "2006-day-001.txt",
            "yahoo",
            "Backtrader generic sample 2006-day-001 (index-like, volume 0)",
        ),
        Dataset(
            "bt_2005_2006",
            "single",
            _BT + "2005-2006-day-001.txt",
            "yahoo",
            "Backtrader generic sample 2005-2006-day-001 (index-like, volume 0)",
        ),
    )
}


# --------------------------------------------------------------------------- places
def data_dir(path=None, must_exist: bool = True) -> Path:
    """Find the data directory.

    Args:
        path: an explicit folder (wins).
        must_exist: raise when the folder does not exist.

    Returns:
        ``path``, else ``$BTLSTM_DATA``, else ``~/.btlstm/data``, as a Path.

    Raises:
        DataError: when the folder does not exist (and ``must_exist``), saying
            how to get data.

    Example:
        >>> data_dir().is_dir()  # $BTLSTM_DATA here
        True
    """
    if path is not None:
        d, why = Path(os.fspath(path)).expanduser(), "given"
    elif os.environ.get("BTLSTM_DATA"):
        d, why = Path(os.environ["BTLSTM_DATA"]).expanduser(), "from $BTLSTM_DATA"
    else:
        d, why = Path.home() / ".btlstm" / "data", "the default"
    if must_exist and not d.is_dir():
        raise DataError(f"data directory not found ({why}): {d}; {_HOW_TO_GET}", str(d))
    return d


_data_dir = data_dir  # so that functions with a ``data_dir`` argument can call it


def yahoo_filename(ticker: str) -> str:
    """File name of a ticker's Yahoo CSV: unusual characters become ``_``
    (``^GSPC`` -> ``_GSPC.csv``; ``000300.SS`` -> ``000300.SS.csv``)."""
    if not isinstance(ticker, str) or not ticker.strip():
        raise ValueError(f"ticker must be a non-empty string, got {ticker!r}")
    safe = "".join(ch if ch.isalnum() or ch in "._=-" else "_" for ch in ticker.strip())
    return safe + ".csv"


def get_dataset(name: str) -> Dataset:
    """The catalogue entry ``name``; unknown names raise DataError with suggestions."""
    if name in CATALOG:
        return CATALOG[name]
    close = close_names(str(name).lower(), CATALOG, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise DataError(
        f"unknown dataset {name!r}{hint} Known: {', '.join(CATALOG)}; a CSV path and "
        "'yahoo:TICKER' work too"
    )


def list_datasets(data_dir=None) -> list[dict]:
    """Describe every catalogue entry, for ``btlstm data list``.

    Args:
        data_dir: the data directory (default: :func:`data_dir`); a missing
            directory makes every entry ``present=False`` instead of raising.

    Returns:
        One dict per dataset: ``name``, ``kind`` (single/panel/table),
        ``path`` (absolute file or pattern), ``description``, ``present``
        (all its default files exist), ``yahoo`` (tickers fetchable, maybe empty).
    """
    root = _data_dir(data_dir, must_exist=False)
    out = []
    for d in CATALOG.values():
        files = _files(d, root, None)
        out.append(
            {
                "name": d.name,
                "kind": d.kind,
                "path": str(root / d.path),
                "description": d.description,
                "present": all(p.is_file() for p in files.values()),
                "yahoo": list(d.yahoo),
            }
        )
    return out


def _files(d: Dataset, root: Path, symbols) -> dict:
    if "{symbol}" in d.path:
        syms = symbols if symbols is not None else list(d.symbols)
        return {s: root / d.path.format(symbol=s) for s in syms}
    return {d.symbols[0] if d.symbols else None: root / d.path}


# --------------------------------------------------------------------------- load
def _is_path(name: str) -> bool:
    return (
        os.sep in name
        or "/" in name
        or name.lower().endswith((".csv", ".txt", ".gz"))
        or os.path.isfile(os.path.expanduser(name))  # (no OSError for an impossible name)
    )


def _missing_file(path: Path, d: Dataset | None, what: str) -> DataError:
    from btlstm._files import file_kind

    kind = file_kind(path)
    if kind != "missing":  # a link to /dev/zero, a FIFO, a folder: named, never "not found"
        return DataError(
            f"{what}: the catalogue file is {kind}, not a regular file (only regular files "
            "are read); replace it with the dataset's CSV file",
            str(path),
        )
    if d is not None and d.yahoo:
        how = f"run `btlstm fetch {d.name}` (Yahoo Finance, needs internet)"
    elif d is not None:
        how = "copy the dataset's folder into the data directory or set BTLSTM_DATA"
    else:
        how = f"fetch it with btlstm.data.fetch_yahoo({what!r}) (needs internet)"
    how += (
        "; or point --data-dir / BTLSTM_DATA at a data directory that has it"
        "; or run `btlstm demo` for the same journey on synthetic data (no download)"
    )
    return DataError(f"{what}: file not found; {how}", str(path))


def _check_cache(path: Path) -> None:
    """A btlstm-written file whose manifest no longer matches is never used."""
    reason = verify_manifest(path, required=False)
    if reason:
        raise DataError(
            f"cached file is corrupt ({reason}); fetch it again with refresh=True "
            "(`btlstm fetch ... --refresh`)",
            str(path),
        )


def _drop_known(frame: pd.DataFrame, d: Dataset, symbol) -> pd.DataFrame:
    rules = d.known_defects.get(symbol, ())
    if not rules or not len(frame):
        return frame
    last = frame.index[-1]
    notes = []
    for day, reason in rules:
        if last == pd.Timestamp(day):
            notes.append(f"{day} ({reason})")
    if not notes:
        return frame
    out = frame.iloc[:-1]
    out.attrs = dict(frame.attrs)
    msg = f"{frame.attrs.get('source')}: dropped 1 documented known-defect row: {notes[0]}"
    out.attrs["repair"] = msg
    out.attrs["repair_dropped"] = [(notes[0].split(" ")[0], "all", "documented known defect")]
    logger.info("%s", msg)
    return out


def _read_constituents(path: Path) -> pd.DataFrame:
    header = read_header(path)
    if not {"code", "code_name"} <= set(header):
        raise DataError(
            f"not a constituent list: need columns code, code_name (header {header})",
            str(path),
        )
    try:
        df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise DataError(f"cannot parse the CSV file: {e}", str(path)) from e
    if df["code"].isna().any() or df["code"].duplicated().any():
        bad = df.index[df["code"].isna() | df["code"].duplicated()][0]
        raise DataError("missing or duplicate code", str(path), "code", f"line {bad + 2}")
    out = df[["code", "code_name"]].reset_index(drop=True)
    out.attrs = {"source": str(path), "symbol": None, "synthetic": False}
    if "updateDate" in df.columns:
        out.attrs["as_of"] = str(df["updateDate"].iloc[0])
    return out


def load(
    name: str,
    data_dir=None,
    symbols=None,
    start=None,
    end=None,
    repair: str = "raise",
    validate: bool = True,
    data_map=None,
    where=None,
):
    """Load a dataset by catalogue name, ``yahoo:TICKER`` or file path.

    Args:
        name: a catalogue name (see :func:`list_datasets`), ``"yahoo:TICKER"``
            (reads ``<data_dir>/yahoo/TICKER.csv`` as written by
            :func:`btlstm.data.yahoo.fetch_yahoo`), or a path to a CSV file
            whose layout is sniffed from its header.
        data_dir: the data directory (default: :func:`data_dir`).
        symbols: for panels, the symbols to load (codes like ``"sh.600000"``,
            tickers like ``"AAPL"``; ``sector_etfs`` also offers XLC, XLRE).
        start: first date to keep, inclusive (``"2015-01-01"``).
        end: last date to keep, inclusive.
        repair: ``"raise"`` (default) fails on defective rows naming file,
            symbol, column and date; ``"drop"`` drops and reports them.
        validate: validate the frames (False skips validation AND repair).
        data_map: for a file path, a column map over the sniffed preset (a
            :class:`~btlstm.data.columnmap.ColumnMap`, a dict of ``[data]`` map
            keys, or a preset name; :func:`btlstm.data.readers.read_mapped`).
            Catalogue datasets have a known layout and take none.
        where: ``where(key)`` names a map key in messages as the user wrote it.

    Returns:
        A canonical frame (single datasets, ``yahoo:``, Yahoo/akshare files),
        ``{symbol: frame}`` (panels and long files), or for
        ``csi300_constituents`` a DataFrame with columns ``code, code_name``.

    Raises:
        DataError: unknown name (with the closest names), missing data
            directory or file (saying how to get it), or bad data.

    Example:
        >>> csi = load("csi300", end="2014-12-31")
        >>> str(csi.index[-1].date()), list(csi.columns)[:6]
        ('2014-12-31', ['open', 'high', 'low', 'close', 'volume', 'amount'])
        >>> sorted(load("sector_etfs", symbols=["XLK", "SPY"]))
        ['SPY', 'XLK']
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"name must be a dataset name or a path, got {type(name).__name__}")
    name_s = os.fspath(name)
    kw = {"repair": repair, "validate": validate, "start": start, "end": end}
    where = where or _default_where
    cmap = as_map(data_map, where)
    if name_s not in CATALOG and not name_s.lower().startswith("yahoo:") and _is_path(name_s):
        path = _as_path(name_s)
        _check_cache(path)
        return read_mapped(path, cmap, symbols=_wanted(symbols, "symbols"), where=where, **kw)
    if cmap.given():
        keys = ", ".join(where(k) for k in cmap.given())
        raise DataError(
            f"{keys}: a column map applies to a CSV file or a DataFrame; {name_s!r} is a "
            "catalogue dataset whose layout btlstm knows (give a file path instead)"
        )
    if name_s.lower().startswith("yahoo:"):
        ticker = name_s.split(":", 1)[1].strip()
        if symbols is not None:
            raise ValueError(f"symbols is not used with {name_s!r}, got {symbols!r}")
        path = _data_dir(data_dir) / "yahoo" / yahoo_filename(ticker)
        if not path.is_file():
            raise _missing_file(path, None, ticker)
        _check_cache(path)
        return _READERS["yahoo"](path, symbol=ticker, **kw)
    d = get_dataset(name_s)
    root = _data_dir(data_dir)
    if d.kind == "table":
        if symbols is not None or start is not None or end is not None:
            raise ValueError(f"{d.name} is a table: symbols/start/end are not used")
        path = root / d.path
        if not path.is_file():
            raise _missing_file(path, d, d.name)
        return _read_constituents(path)
    wanted = _wanted(symbols, "symbols")
    if d.kind == "single":
        if wanted is not None:
            raise ValueError(f"{d.name} is a single series: symbols is not used, got {symbols!r}")
        path = root / d.path
        if not path.is_file():
            raise _missing_file(path, d, d.name)
        _check_cache(path)
        sym = d.symbols[0] if d.symbols else None
        frame = _READERS[d.layout](path, symbol=sym, validate=False)
        frame = _drop_known(frame, d, sym)
        return _finish(frame, validate, repair, start, end)
    if d.layout in ("baostock", "kaggle"):
        path = root / d.path
        if not path.is_file():
            raise _missing_file(path, d, d.name)
        key = "codes" if d.layout == "baostock" else "names"
        return _READERS[d.layout](path, **{key: wanted}, **kw)
    # per-ticker panel (sector ETFs)
    allowed = list(d.symbols) + list(d.optional_symbols)
    if wanted is not None:
        bad = [s for s in wanted if s not in allowed]
        if bad:
            raise DataError(f"{d.name} has no symbol(s) {bad}; available: {allowed}")
    files = _files(d, root, wanted)
    out = {}
    for sym, path in files.items():
        if not path.is_file():
            raise _missing_file(path, d, f"{d.name} {sym}")
        _check_cache(path)
        frame = _READERS[d.layout](path, symbol=sym, validate=False)
        frame = _drop_known(frame, d, sym)
        out[sym] = _finish(frame, validate, repair, start, end)
    return out


# --------------------------------------------------------------------------- describe
def _span(frame: pd.DataFrame):
    if not len(frame) or not isinstance(frame.index, pd.DatetimeIndex):
        return None, None
    return frame.index[0].strftime("%Y-%m-%d"), frame.index[-1].strftime("%Y-%m-%d")


def describe(obj) -> dict:
    """Summarise what :func:`load` returned, for ``btlstm data summary``.

    Args:
        obj: a canonical frame, a ``{symbol: frame}`` panel, or a table.

    Returns:
        For a frame: ``kind="single"``, ``symbol``, ``source``, ``rows``,
        ``first``, ``last``, ``columns``, ``amount_derived``, ``repair``, and
        where known ``layout`` (the preset), ``encoding``, ``conversions``.
        For a panel: ``kind="panel"``, ``symbols`` (count), ``symbol_list``,
        ``rows`` (total), ``first``/``last`` (over all symbols),
        ``min_rows``/``max_rows`` (per symbol), ``repaired`` (symbols with
        dropped rows), ``layout``/``encoding``/``conversions`` of the first
        symbol. For a table: ``kind="table"``, ``rows``, ``columns``.

    Example:
        >>> describe(load("csi300"))["rows"]
        4558
    """
    if isinstance(obj, dict):
        if not obj:
            return {"kind": "panel", "symbols": 0, "symbol_list": [], "rows": 0}
        spans = [_span(f) for f in obj.values()]
        firsts = [s[0] for s in spans if s[0]]
        lasts = [s[1] for s in spans if s[1]]
        sizes = np.array([len(f) for f in obj.values()])
        return {
            "kind": "panel",
            "symbols": len(obj),
            "symbol_list": list(obj),
            "rows": int(sizes.sum()),
            "first": min(firsts) if firsts else None,
            "last": max(lasts) if lasts else None,
            "min_rows": int(sizes.min()),
            "max_rows": int(sizes.max()),
            "repaired": [k for k, f in obj.items() if f.attrs.get("repair_dropped")],
            **_provenance(next(iter(obj.values()))),
        }
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"describe() needs a DataFrame or a dict of them, got {type(obj).__name__}")
    if not isinstance(obj.index, pd.DatetimeIndex):
        return {"kind": "table", "rows": len(obj), "columns": list(obj.columns)}
    first, last = _span(obj)
    return {
        "kind": "single",
        "symbol": obj.attrs.get("symbol"),
        "source": obj.attrs.get("source"),
        "rows": len(obj),
        "first": first,
        "last": last,
        "columns": list(obj.columns),
        "amount_derived": obj.attrs.get("amount_derived"),
        "repair": obj.attrs.get("repair"),
        **_provenance(obj),
    }


def _provenance(frame: pd.DataFrame) -> dict:
    """How a frame was read: ``layout`` (preset), ``encoding``, ``conversions``."""
    return {k: frame.attrs[k] for k in ("layout", "encoding", "conversions") if k in frame.attrs}
