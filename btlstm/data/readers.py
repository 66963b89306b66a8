"""Readers: every supported file layout in, one canonical frame out.

Each reader returns canonical frames (see :mod:`btlstm.data.validate`): a
tz-naive ``DatetimeIndex`` named ``date`` and float columns
``open high low close volume amount`` (+ ``adj_close`` where the source has it,
+ source-specific extras). Provenance lives in ``frame.attrs``: ``source`` (the
file, or ``file[SYMBOL]`` for long files), ``symbol``, ``amount_derived``,
``synthetic`` and, after a repair, ``repair``.

Supported layouts:

========================  =====================================================
reader                    header
========================  =====================================================
:func:`read_yahoo_csv`    ``Date,Open,High,Low,Close,Adj Close,Volume`` (Adj Close
                          anywhere or absent) and Backtrader's generic
                          ``Date,Open,High,Low,Close,Volume,OpenInterest``
:func:`read_akshare_index`  ``日期,开盘,收盘,最高,最低,成交量,成交额,...``
                          (East Money / akshare; close comes BEFORE high)
:func:`read_baostock_long`  ``date,code,open,high,low,close,preclose,volume,
                          amount,adjustflag,turn,tradestatus,pctChg,isST``
:func:`read_kaggle_long`  ``date,open,high,low,close,volume,Name``
========================  =====================================================

:func:`read_csv_auto` picks the reader from the header.

Repair policy: by default a file that fails validation raises
:class:`~btlstm.data.validate.DataError` naming the file (and symbol), the
column and the date; the message suggests ``repair="drop"``. With
``repair="drop"`` the defective rows are dropped by
:func:`~btlstm.data.validate.repair_frame`, every drop is logged on the
``btlstm.data`` logger and summarised in ``frame.attrs["repair"]``. Values are
never changed. Some real defects cannot be detected by validation (for example
S&P 500 NWL 2017-09-14, a whole bad day (~31 amid ~43) that is still
OHLC-consistent); they are left in place.
"""

from __future__ import annotations

import gzip
import logging
import os
import warnings
import zlib
from difflib import get_close_matches
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.data.validate import CANONICAL_COLUMNS, DataError, repair_frame, validate_frame

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COLUMNS",
    "REPAIR_MODES",
    "read_yahoo_csv",
    "read_akshare_index",
    "read_baostock_long",
    "read_kaggle_long",
    "read_csv_auto",
    "sniff_layout",
]

logger = logging.getLogger("btlstm.data")

REPAIR_MODES = ("raise", "drop")

#: the longest header line read (bytes, after gunzip): the sniffer looks at
#: this bounded prefix only, so a 50 MB single-line file is refused at once.
MAX_HEADER_BYTES = 64 * 1024
#: the most header columns accepted (the widest supported layout has 14).
MAX_HEADER_COLUMNS = 1024

_READ_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    UnicodeDecodeError,
    pd.errors.ParserError,
    pd.errors.EmptyDataError,
)

_AKSHARE = {
    "日期": "date",
    "开盘": "open",
    "收盘": "close",
    "最高": "high",
    "最低": "low",
    "成交量": "volume",
    "成交额": "amount",
    "振幅": "amplitude",
    "涨跌幅": "pct_chg",
    "涨跌额": "change",
    "换手率": "turnover",
}

_BAOSTOCK_FLOATS = ("open", "high", "low", "close", "preclose", "volume", "amount", "turn")
_BAOSTOCK_FLAGS = ("adjustflag", "tradestatus", "pctChg", "isST")


# --------------------------------------------------------------------------- helpers
def _as_path(path) -> Path:
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise DataError("file not found", str(p))
    if p.is_dir():
        raise DataError("expected a CSV file, got a directory", str(p))
    return p


def _is_gzip(p: Path) -> bool:
    try:
        with open(p, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"
    except OSError as e:
        raise DataError(f"cannot open the file: {e}", str(p)) from e


def _compression(p: Path) -> str | None:
    gz = _is_gzip(p)
    if p.suffix == ".gz" and not gz:
        raise DataError("the file ends in .gz but is not gzip data", str(p))
    return "gzip" if gz else None


def read_header(path) -> list[str]:
    """Return the column names on the first line of a (possibly gzipped) CSV file.

    Only the first :data:`MAX_HEADER_BYTES` bytes (64 KiB) are read, so an
    absurd file (one 50 MB line, 100,000 columns) is refused in milliseconds
    instead of being parsed.

    Args:
        path: the file.

    Returns:
        The header fields, stripped of whitespace and a UTF-8 byte-order mark.

    Raises:
        DataError: naming the file when it is missing, empty, not text, a
            broken gzip, or its header line is longer than
            :data:`MAX_HEADER_BYTES` or has more than :data:`MAX_HEADER_COLUMNS`
            columns (the message names the limit).

    Example:
        >>> read_header("backtrader_datas/orcl-1995-2014.txt")[:3]
        ['Date', 'Open', 'High']
    """
    p = _as_path(path)
    try:
        opener = gzip.open if _compression(p) == "gzip" else open
        with opener(p, "rb") as fh:
            prefix = fh.read(MAX_HEADER_BYTES + 1)
    except _READ_ERRORS as e:
        raise DataError(f"cannot read the file ({type(e).__name__}: {e})", str(p)) from e
    ends = [i for i in (prefix.find(b"\n"), prefix.find(b"\r")) if i >= 0]
    end = min(ends) if ends else len(prefix)
    if end > MAX_HEADER_BYTES:
        raise DataError(
            f"the header line is longer than {MAX_HEADER_BYTES} bytes (the limit, "
            "btlstm.data.readers.MAX_HEADER_BYTES; no line end in the first "
            f"{MAX_HEADER_BYTES // 1024} KiB): not a daily-bar CSV file btlstm reads",
            str(p),
        )
    raw = prefix[:end]
    if b"\x00" in raw:
        raise DataError("the file is not a text CSV file (binary data)", str(p))
    try:
        line = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"cannot read the file ({type(e).__name__}: {e})", str(p)) from e
    if not line.strip():
        raise DataError("the file is empty (no header line)", str(p))
    n_columns = line.count(",") + 1
    if n_columns > MAX_HEADER_COLUMNS:
        raise DataError(
            f"the header has {n_columns} columns, more than {MAX_HEADER_COLUMNS} (the limit, "
            "btlstm.data.readers.MAX_HEADER_COLUMNS): not a daily-bar CSV file btlstm reads "
            f"(first columns: {_show_header(line.split(',', 8)[:8])})",
            str(p),
        )
    return [h.strip() for h in line.split(",")]


def _show_header(header: list[str], limit: int = 20) -> str:
    """A header for a message: at most ``limit`` names, then how many more."""
    shown = repr(list(header[:limit]))
    if len(header) > limit:
        shown = f"{shown[:-1]}, ... ({len(header)} columns)]"
    return shown


def _read_csv(p: Path, **kw) -> pd.DataFrame:
    """pd.read_csv with errors turned into DataError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(p, compression=_compression(p), encoding="utf-8-sig", **kw)
    except pd.errors.ParserWarning as e:
        raise DataError(
            "rows have more fields than the header (an intraday file with a separate "
            f"time field? btlstm reads daily bars only): {e}",
            str(p),
        ) from None
    except DataError:
        raise
    except _READ_ERRORS as e:
        raise DataError(f"cannot parse the CSV file ({type(e).__name__}: {e})", str(p)) from e
    except ValueError as e:  # a non-numeric cell under a float dtype
        raise DataError(f"cannot parse the CSV file: {e}", str(p)) from e


def _numeric(df: pd.DataFrame, cols, src: str, dates=None) -> None:
    """Convert ``cols`` of ``df`` to float64 in place; a non-numeric cell raises
    DataError naming the column and the row (date, or file line)."""
    for c in cols:
        s = df[c]
        if pd.api.types.is_numeric_dtype(s):
            df[c] = s.astype("float64")
            continue
        v = pd.to_numeric(s, errors="coerce")
        bad = v.isna().to_numpy() & s.notna().to_numpy()
        if bad.any():
            pos = int(np.flatnonzero(bad)[0])
            row = dates[pos] if dates is not None and not pd.isna(dates[pos]) else f"line {pos + 2}"
            raise DataError(
                f"non-numeric value {s.iloc[pos]!r} ({int(bad.sum())} such row(s))", src, c, row
            )
        df[c] = v.astype("float64")


def _dates(values, src: str, column: str = "date") -> pd.DatetimeIndex:
    """Parse a column of dates; the first unparsable one raises DataError."""
    raw = pd.Series(values)
    try:
        out = pd.to_datetime(raw, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):
        out = pd.to_datetime(raw, errors="coerce", format="mixed")
    bad = out.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"cannot parse date {raw.iloc[pos]!r} ({int(bad.sum())} such row(s)); "
            "daily files need one YYYY-MM-DD date per row (intraday files with a "
            "separate time field are not supported)",
            src,
            column,
            f"line {pos + 2}",
        )
    idx = pd.DatetimeIndex(out, name="date")
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx


def _check_repair(repair: str) -> None:
    if repair not in REPAIR_MODES:
        raise ValueError(f"repair must be one of {REPAIR_MODES}, got {repair!r}")


def _bound(value, name: str):
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} must be a date like '2015-01-01', got {value!r}") from e


def _slice_dates(df: pd.DataFrame, start, end) -> pd.DataFrame:
    """Inclusive ``[start, end]`` selection by position (works on unsorted data)."""
    start, end = _bound(start, "start"), _bound(end, "end")
    if start is None and end is None:
        return df
    keep = np.ones(len(df), dtype=bool)
    if start is not None:
        keep &= np.asarray(df.index >= start)
    if end is not None:
        keep &= np.asarray(df.index <= end)
    out = df.loc[keep]
    out.attrs = dict(df.attrs)
    return out


def _finish(
    df: pd.DataFrame,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
    summary_level: int = logging.WARNING,
) -> pd.DataFrame:
    """Select dates, then validate (``repair="raise"``) or repair (``"drop"``)
    a frame whose attrs are set. With ``"drop"`` a frame that validates is
    returned as it is; otherwise :func:`repair_frame` drops the bad rows, the
    summary is logged at ``summary_level`` and each row at INFO, and
    ``attrs["repair"]`` / ``attrs["repair_dropped"]`` record them."""
    _check_repair(repair)
    df = _slice_dates(df, start, end)
    if not validate:
        return df
    try:
        return validate_frame(df)
    except DataError as e:
        if repair == "raise":
            hint = (
                "; pass repair='drop' to drop such rows (each one is logged)"
                if e.column not in (None, "date")
                else ""
            )
            raise DataError(e.problem + hint, e.source, e.column, e.row) from None
    src = df.attrs.get("source")
    fixed, report = repair_frame(df)
    fixed.attrs = dict(df.attrs)
    if len(report):
        logger.log(summary_level, "%s", report.summary())
        for day, col, why in report.dropped:
            logger.info("%s: dropped %s (%s: %s)", src, _day(day), col, why)
        prior = df.attrs.get("repair")
        fixed.attrs["repair"] = f"{prior}; {report.summary()}" if prior else report.summary()
    fixed.attrs["repair_dropped"] = list(df.attrs.get("repair_dropped", [])) + [
        (_day(d), c, w) for d, c, w in report.dropped
    ]
    return validate_frame(fixed)


def _stem(p: Path) -> str:
    name = p.name[:-3] if p.name.endswith(".gz") else p.name
    return Path(name).stem


def _day(ts) -> str:
    return ts.strftime("%Y-%m-%d") if isinstance(ts, pd.Timestamp) else str(ts)


def _attrs(df: pd.DataFrame, source: str, symbol, amount_derived: bool) -> pd.DataFrame:
    df.attrs = {
        "source": source,
        "symbol": symbol,
        "amount_derived": bool(amount_derived),
        "synthetic": False,
    }
    return df


def _order(df: pd.DataFrame, extras=()) -> pd.DataFrame:
    cols = list(CANONICAL_COLUMNS)
    if "adj_close" in df.columns:
        cols.append("adj_close")
    cols += [c for c in extras if c in df.columns]
    return df[cols]


# --------------------------------------------------------------------------- Yahoo
#: Yahoo Finance column -> canonical column (used by the reader and the downloader).
YAHOO_FIELDS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}


def read_yahoo_csv(
    path,
    symbol: str | None = None,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Read a Yahoo-layout (or Backtrader generic daily) CSV file.

    Accepts ``Date,Open,High,Low,Close,Adj Close,Volume`` with ``Adj Close`` in
    any position or absent (Backtrader's ``daily-KO.csv`` has it last), and
    Backtrader's generic ``Date,Open,High,Low,Close,Volume,OpenInterest``
    (OpenInterest is dropped; volume 0 is fine). ``amount`` is derived as
    close x volume (``attrs["amount_derived"] = True``). Extra columns (such
    as Backtrader's ``Optix_*``) are kept, lower-cased.

    Args:
        path: the CSV file (``.gz`` fine).
        symbol: symbol to record in ``attrs`` (default: the file stem).
        validate: validate the frame (see ``repair``).
        repair: ``"raise"`` (default) raises on a defect; ``"drop"`` drops the
            defective rows and reports them.
        start: first date to keep (inclusive), e.g. ``"2015-01-01"``.
        end: last date to keep (inclusive).

    Returns:
        A canonical frame with ``adj_close`` when the file has it.

    Raises:
        DataError: naming the file for a missing or unreadable file, an unknown
            header, an unparsable date or number, or a validation failure.

    Example:
        >>> df = read_yahoo_csv("spdr_sector_etfs/XLK.csv")
        >>> df.attrs["symbol"], list(df.columns)[:4]
        ('XLK', ['open', 'high', 'low', 'close'])
    """
    p = _as_path(path)
    src = str(p)
    need = ["Date", "Open", "High", "Low", "Close", "Volume"]
    header = _require_columns(p, need, "not a Yahoo/Backtrader daily CSV")
    if "Time" in header:
        raise DataError(
            "intraday file (has a 'Time' column): btlstm reads daily bars only", src, "Time"
        )
    raw = _read_csv(p, index_col=False, dtype={"Date": str})
    raw.columns = [str(c).strip() for c in raw.columns]
    idx = _dates(raw["Date"].to_numpy(), src, "Date")
    df = raw.drop(columns=["Date"] + [c for c in ("OpenInterest",) if c in raw.columns])
    df = df.rename(columns=YAHOO_FIELDS)
    df.columns = [c.lower().replace(" ", "_") for c in df.columns]
    df.index = idx
    _numeric(df, [c for c in df.columns], src, idx)
    df["amount"] = df["close"] * df["volume"]
    extras = [c for c in df.columns if c not in CANONICAL_COLUMNS and c != "adj_close"]
    df = _order(df, extras)
    _attrs(df, src, symbol or _stem(p), amount_derived=True)
    return _finish(df, validate, repair, start, end)


# --------------------------------------------------------------------------- akshare
def _require_columns(p: Path, need: list[str], layout: str) -> list[str]:
    """The file's header; DataError naming the file and the first missing column."""
    header = read_header(p)
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(
            f"{layout}: missing column(s) {missing} (header {_show_header(header)})",
            str(p),
            column=missing[0],
        )
    return header


def read_akshare_index(
    path,
    symbol: str | None = None,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Read an East Money / akshare index file with Chinese headers.

    Layout ``日期,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率`` =
    date, open, CLOSE, HIGH, low, volume, amount, amplitude %, pct change %,
    change, turnover %. Mind the order: close comes before high; columns are
    mapped by name, never by position.

    Units: 成交量 is in lots of 100 shares and is multiplied by 100 (volume in
    shares); 成交额 is the traded value in CNY and becomes ``amount`` as it is
    (``attrs["amount_derived"] = False``). The other columns are kept as
    extras ``amplitude``, ``pct_chg``, ``change``, ``turnover`` (percent
    units as in the file, except ``change`` in index points); they are not
    validated.

    Args:
        path: the CSV file.
        symbol: symbol for ``attrs`` (default: file stem, e.g. ``"000300"``).
        validate: validate the frame.
        repair: ``"raise"`` or ``"drop"`` (see :func:`read_yahoo_csv`).
        start: first date to keep (inclusive).
        end: last date to keep (inclusive).

    Returns:
        A canonical frame.

    Raises:
        DataError: naming the file for a missing/unreadable file, a wrong
            header, bad values or a validation failure.

    Example:
        >>> csi = read_akshare_index("cn_index_daily/eastmoney_akshare/000300.csv")
        >>> float(csi["close"].iloc[0])
        982.79
    """
    p = _as_path(path)
    src = str(p)
    need = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额"]
    _require_columns(p, need, "not an akshare/East Money index file")
    raw = _read_csv(p, index_col=False, dtype={"日期": str})
    raw.columns = [str(c).strip() for c in raw.columns]
    idx = _dates(raw["日期"].to_numpy(), src, "日期")
    df = raw.drop(columns=["日期"]).rename(columns=_AKSHARE)
    df.index = idx
    _numeric(df, list(df.columns), src, idx)
    df["volume"] = df["volume"] * 100.0
    extras = [v for k, v in _AKSHARE.items() if v in df.columns and v not in CANONICAL_COLUMNS]
    extras = [e for e in extras if e != "date"]
    df = _order(df, extras)
    _attrs(df, src, symbol or _stem(p), amount_derived=False)
    return _finish(df, validate, repair, start, end)


# --------------------------------------------------------------------------- long files
def _split_long(
    df: pd.DataFrame,
    keys: np.ndarray,
    src: str,
    wanted,
    what: str,
    universe=None,
) -> dict[str, pd.DataFrame]:
    """Split a long frame (already filtered) into one frame per key, in key order,
    keeping each key's rows in file order. One stable sort, then slices."""
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    df = df.iloc[order]
    if len(keys):
        cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        starts = np.concatenate([[0], cuts])
        stops = np.concatenate([cuts, [len(keys)]])
    else:
        starts = stops = np.array([], dtype=int)
    out = {}
    for a, b in zip(starts, stops, strict=True):
        out[str(keys[a])] = df.iloc[a:b]
    if wanted is not None:
        absent = [w for w in wanted if w not in out]
        if absent:
            known = [str(k) for k in pd.unique(universe)] if universe is not None else list(out)
            hints = []
            for w in absent[:5]:
                m = get_close_matches(str(w), known, n=3)
                if m:
                    hints.append(f"{w!r}: did you mean {m}?")
            raise DataError(
                f"{what}(s) {absent} not in the file (or no rows in the date range)"
                + (" " + " ".join(hints) if hints else ""),
                src,
                column=what,
            )
    return out


def _wanted(values, name: str):
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = list(dict.fromkeys(str(v) for v in values))
    if not values:
        raise ValueError(f"{name} must name at least one symbol, got an empty list")
    return values


def _finish_panel(frames, src, validate, repair) -> dict[str, pd.DataFrame]:
    out = {}
    dropped = 0
    for key, f in frames.items():
        out[key] = _finish(f, validate, repair, summary_level=logging.INFO)
        dropped += len(out[key].attrs.get("repair_dropped") or [])
    if validate and repair == "drop" and dropped:
        bad = [k for k, f in out.items() if f.attrs.get("repair_dropped")]
        logger.warning(
            "%s: repair='drop' dropped %d row(s) in %d symbol(s): %s",
            src,
            dropped,
            len(bad),
            ", ".join(bad),
        )
    return out


def read_baostock_long(
    path,
    codes=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
) -> dict[str, pd.DataFrame]:
    """Read a baostock long-layout file (gzip fine) into one frame per code.

    Layout ``date,code,open,high,low,close,preclose,volume,amount,adjustflag,
    turn,tradestatus,pctChg,isST`` (``query_history_k_data_plus``). Volume is
    in shares, amount in CNY (not derived). Extras kept as columns:
    ``preclose``, ``turn`` (turnover %, NaN on suspended days), ``tradestatus``
    (1 traded, 0 suspended: suspended days stay in as flat rows with volume
    0), ``pct_chg`` and ``is_st`` (1 = ST). ``adjustflag`` is recorded in
    ``attrs["adjustflag"]`` (2 = qfq, forward-adjusted) rather than as a column.

    Fast path: explicit dtypes, one parse, codes and dates filtered as arrays,
    one stable sort by code, then the frame is cut by positions (no per-row
    Python). The 135 MB CSI 300 member file loads in a few seconds.

    Args:
        path: the CSV (``.csv.gz`` fine).
        codes: codes to keep, e.g. ``["sh.600000"]`` (default: all).
        start: first date to keep (inclusive).
        end: last date to keep (inclusive).
        validate: validate each frame; the error names ``file[code]``.
        repair: ``"raise"`` or ``"drop"`` (applied per code, each drop logged).

    Returns:
        ``{code: canonical frame}`` in code order; each frame's ``attrs["source"]``
        is ``"<file>[<code>]"`` and ``attrs["symbol"]`` the code.

    Raises:
        DataError: naming the file (and code, column, date) on any problem,
            including requested codes that are absent.

    Example:
        >>> panel = read_baostock_long(
        ...     "cn_ashare_hs300_daily/hs300_members_2019-12_daily_qfq.csv.gz", codes=["sh.600000"])
        >>> sorted(panel), sorted(panel["sh.600000"]["tradestatus"].unique().tolist())
        (['sh.600000'], [0, 1])
    """
    p = _as_path(path)
    src = str(p)
    need = ["date", "code", "open", "high", "low", "close", "volume", "amount"]
    header = _require_columns(p, need, "not a baostock long file")
    use = [c for c in header if c in set(need) | set(_BAOSTOCK_FLOATS) | set(_BAOSTOCK_FLAGS)]
    dtypes = {c: "float64" for c in use if c not in ("date", "code")}
    dtypes.update({"date": str, "code": str})
    try:
        raw = _read_csv(p, usecols=use, dtype=dtypes)
    except DataError:  # a non-numeric cell: re-read as text to find it
        raw = _read_csv(p, usecols=use, dtype=str)
        _numeric(raw, [c for c in use if c not in ("date", "code")], src)
        raise
    wanted = _wanted(codes, "codes")
    keep = np.ones(len(raw), dtype=bool)
    code_arr = all_codes = raw["code"].to_numpy(dtype=object)
    if wanted is not None:
        keep &= np.isin(code_arr, np.asarray(wanted, dtype=object))
    idx = _dates(raw["date"].to_numpy(), src)
    s, e = _bound(start, "start"), _bound(end, "end")
    if s is not None:
        keep &= np.asarray(idx >= s)
    if e is not None:
        keep &= np.asarray(idx <= e)
    df = raw.drop(columns=["date", "code"]).rename(columns={"pctChg": "pct_chg", "isST": "is_st"})
    df.index = idx
    if not keep.all():
        df = df.loc[keep]
        code_arr = code_arr[keep]
    for flag in ("tradestatus", "is_st"):
        if flag in df.columns and not df[flag].isna().any():
            df[flag] = df[flag].astype("int8")
    extras = ("preclose", "turn", "tradestatus", "pct_chg", "is_st", "adjustflag")
    df = _order(df, extras)
    frames = _split_long(df, code_arr.astype(str), src, wanted, "code", all_codes)
    for code, f in list(frames.items()):
        if "adjustflag" in f.columns:
            vals = pd.unique(f["adjustflag"].dropna())
            f = f.drop(columns=["adjustflag"])
            frames[code] = f
        else:
            vals = []
        _attrs(f, f"{src}[{code}]", code, amount_derived=False)
        if len(vals):
            f.attrs["adjustflag"] = int(vals[0]) if len(vals) == 1 else [int(v) for v in vals]
    return _finish_panel(frames, src, validate, repair)


def read_kaggle_long(
    path,
    names=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
) -> dict[str, pd.DataFrame]:
    """Read the Kaggle S&P 500 long layout ``date,open,high,low,close,volume,Name``.

    Prices are split- but not dividend-adjusted; ``amount`` is derived as close
    x volume. The real ``all_stocks_5yr.csv.gz`` has NaN prices and 12
    OHLC-inconsistent rows, so the default ``repair="raise"`` fails on it,
    naming the first bad ``file[NAME]``, column and date; use
    ``repair="drop"``. Of the two known bad days (``docs/data.md``), LNT 2016-05-19
    (close 17.87 below that day's low 35.085) is caught and dropped; NWL
    2017-09-14 (~31 amid ~43, OHLC-consistent) is NOT detectable and stays in.

    Args:
        path: the CSV (``.csv.gz`` fine).
        names: tickers to keep (default: all 505).
        start: first date to keep (inclusive).
        end: last date to keep (inclusive).
        validate: validate each frame.
        repair: ``"raise"`` or ``"drop"``.

    Returns:
        ``{Name: canonical frame}`` in name order.

    Raises:
        DataError: naming the file (and ticker, column, date) on any problem.

    Example:
        >>> sp = read_kaggle_long("sp500_all_stocks_5yr/all_stocks_5yr.csv.gz", names=["AAPL"])
        >>> len(sp["AAPL"]), str(sp["AAPL"].index[0].date())
        (1259, '2013-02-08')
    """
    p = _as_path(path)
    src = str(p)
    need = ["date", "open", "high", "low", "close", "volume", "Name"]
    _require_columns(p, need, "not a Kaggle S&P 500 long file")
    dtypes = {c: "float64" for c in ("open", "high", "low", "close", "volume")}
    dtypes.update({"date": str, "Name": str})
    try:
        raw = _read_csv(p, usecols=need, dtype=dtypes)
    except DataError:
        raw = _read_csv(p, usecols=need, dtype=str)
        _numeric(raw, ["open", "high", "low", "close", "volume"], src)
        raise
    wanted = _wanted(names, "names")
    names_arr = all_names = raw["Name"].to_numpy(dtype=object)
    if pd.isna(names_arr).any():
        pos = int(np.flatnonzero(pd.isna(names_arr))[0])
        raise DataError("missing ticker name", src, "Name", f"line {pos + 2}")
    keep = np.ones(len(raw), dtype=bool)
    if wanted is not None:
        keep &= np.isin(names_arr, np.asarray(wanted, dtype=object))
    idx = _dates(raw["date"].to_numpy(), src)
    s, e = _bound(start, "start"), _bound(end, "end")
    if s is not None:
        keep &= np.asarray(idx >= s)
    if e is not None:
        keep &= np.asarray(idx <= e)
    df = raw.drop(columns=["date", "Name"])
    df.index = idx
    df["amount"] = df["close"] * df["volume"]
    if not keep.all():
        df = df.loc[keep]
        names_arr = names_arr[keep]
    df = _order(df)
    frames = _split_long(df, names_arr.astype(str), src, wanted, "Name", all_names)
    for name, f in frames.items():
        _attrs(f, f"{src}[{name}]", name, amount_derived=True)
    return _finish_panel(frames, src, validate, repair)


# --------------------------------------------------------------------------- sniffer
def sniff_layout(path) -> str:
    """Name the layout of a CSV file from its header.

    Returns:
        One of ``"yahoo"``, ``"akshare"``, ``"baostock"``, ``"kaggle"``.

    Raises:
        DataError: naming the file and its header when the layout is unknown.
    """
    header = read_header(path)
    h = set(header)
    if {"日期", "开盘", "收盘", "最高", "最低"} <= h:
        return "akshare"
    if {"date", "code", "open", "close"} <= h:
        return "baostock"
    if {"date", "open", "high", "low", "close", "Name"} <= h:
        return "kaggle"
    if {"Date", "Open", "High", "Low", "Close", "Volume"} <= h:
        return "yahoo"
    raise DataError(
        f"unknown CSV layout (header {_show_header(header)}); btlstm reads Yahoo/Backtrader daily "
        "(Date,Open,High,Low,Close[,Adj Close],Volume[,OpenInterest]), akshare "
        "(日期,开盘,收盘,最高,最低,成交量,成交额,...), baostock long (date,code,open,...) "
        "and Kaggle long (date,open,high,low,close,volume,Name)",
        str(Path(os.fspath(path)).expanduser()),
    )


_READERS = {
    "yahoo": read_yahoo_csv,
    "akshare": read_akshare_index,
    "baostock": read_baostock_long,
    "kaggle": read_kaggle_long,
}


def read_csv_auto(path, **kw):
    """Read any supported CSV file, choosing the reader from its header.

    Args:
        path: the file (``.gz`` fine).
        **kw: passed to the chosen reader (``symbol``, ``codes``/``names``,
            ``start``, ``end``, ``validate``, ``repair``).

    Returns:
        A canonical frame (Yahoo, akshare) or ``{symbol: frame}`` (long layouts).

    Raises:
        DataError: naming the file when it is missing, unreadable, or its
            header matches no known layout.

    Example:
        >>> read_csv_auto("backtrader_datas/orcl-1995-2014.txt").attrs["symbol"]
        'orcl-1995-2014'
    """
    layout = sniff_layout(path)
    reader = _READERS[layout]
    try:
        return reader(path, **kw)
    except TypeError as e:
        raise TypeError(f"{reader.__name__} ({layout} layout of {path}): {e}") from e
