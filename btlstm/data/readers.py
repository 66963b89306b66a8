"""Readers: any daily-bar file or DataFrame in, one canonical frame out.

Each reader returns canonical frames (see :mod:`btlstm.data.validate`): a
tz-naive ``DatetimeIndex`` named ``date`` and float columns
``open high low close volume amount`` (+ ``adj_close`` where the source has it,
+ source-specific extras). Provenance lives in ``frame.attrs``: ``source`` (the
file, or ``file[SYMBOL]`` for long files), ``symbol``, ``amount_derived``,
``synthetic``, ``layout`` (the preset, or ``generic``), ``encoding``,
``conversions`` (units multiplied, amount derived, rows reversed) and, after a
repair, ``repair``.

There is one way to read a CSV file: :func:`read_mapped` with a declared
column map (:class:`~btlstm.data.columnmap.ColumnMap`: a preset and/or
``[data]`` keys). The named readers are presets of it:

========================  =====================================================
reader                    preset and header
========================  =====================================================
:func:`read_yahoo_csv`    ``yahoo``: ``Date,Open,High,Low,Close,Adj Close,Volume``
                          (Adj Close anywhere or absent) and Backtrader's generic
                          ``Date,Open,High,Low,Close,Volume,OpenInterest``
:func:`read_akshare_index`  ``akshare``: ``日期,开盘,收盘,最高,最低,成交量,成交额,...``
                          (East Money / akshare; close comes BEFORE high)
:func:`read_baostock_long`  ``baostock``: ``date,code,open,high,low,close,preclose,
                          volume,amount,adjustflag,turn,tradestatus,pctChg,isST``
:func:`read_kaggle_long`  ``kaggle``: ``date,open,high,low,close,volume,Name``
========================  =====================================================

:func:`read_csv_auto` sniffs the preset from the header
(:mod:`btlstm.data.presets`: also NetEase 163, tushare, akshare stock
histories, Stooq and any generic OHLCV header); :func:`read_dataframe` reads
in-memory DataFrames (one symbol, a long frame, a dict of frames) with the same
maps.

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

import csv
import re
from pathlib import Path

import pandas as pd

from btlstm.data._csv import (  # noqa: F401  (names other modules and tests import from here)
    MAX_HEADER_BYTES,
    MAX_HEADER_COLUMNS,
    REPAIR_MODES,
    Fields,
    _as_path,
    _dates,
    _default_where,
    _finish,
    _read_csv,
    _show_header,
    _slice_dates,
    _stem,
    _wanted,
    more_fields,
    read_head,
    read_header,
)
from btlstm.data.columnmap import ColumnMap, Resolved, _separator, as_map, build_frames
from btlstm.data.presets import PRESETS, check_map, choose
from btlstm.data.validate import CANONICAL_COLUMNS, DataError

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COLUMNS",
    "REPAIR_MODES",
    "read_mapped",
    "read_dataframe",
    "read_yahoo_csv",
    "read_akshare_index",
    "read_baostock_long",
    "read_kaggle_long",
    "read_csv_auto",
    "sniff_layout",
]

#: Yahoo Finance column -> canonical column (used by the downloader).
YAHOO_FIELDS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}

_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")


# --------------------------------------------------------------------------- files
def _split(line: str, sep: str) -> list[str]:
    return next(csv.reader([line], delimiter=sep), [])


def _decimal(head, sep: str) -> str:
    """``,`` when a non-comma-separated file writes numbers like ``3,25``."""
    if sep == ",":
        return "."
    comma = point = 0
    for line in head.lines[1:50]:
        for cell in _split(line, sep):
            cell = cell.strip()
            comma += bool(_DECIMAL_COMMA.match(cell))
            point += bool(_DECIMAL_POINT.match(cell))
    return "," if comma > point else "."


def open_mapped(path, data_map=None, where=None, label=None):
    """Read a file's head and resolve its column map, before any row is read.

    Args:
        path: the CSV file (``.gz`` fine).
        data_map: a :class:`~btlstm.data.columnmap.ColumnMap`, a dict of map keys,
            a preset name, or None (sniffed).
        where: ``where(key)`` names a map key as the user wrote it (default ``[data] key``).
        label: start of a missing-column message (the named readers' wording).

    Returns:
        ``(head, resolved)``: the :class:`~btlstm.data._csv.Head` and the
        :class:`~btlstm.data.columnmap.Resolved` map (encoding, separator and
        decimal mark filled in).

    Raises:
        DataError: one line naming the file, the key and the closest valid names.
    """
    where = where or _default_where
    cmap = as_map(data_map, where)
    check_map(cmap, where)
    p = _as_path(path)
    head = read_head(p, cmap.encoding, _separator(cmap.separator), where)
    header_line = cmap.header is not False
    fields = _split(head.lines[0], head.separator)
    header = [h.strip() for h in fields] if header_line else [str(i) for i in range(len(fields))]
    rows = [[c.strip() for c in _split(line, head.separator)] for line in head.lines[1:51]]
    rows = [r for r in rows if any(r)]
    if not header_line:
        rows = [[c.strip() for c in fields]] + rows
    r = choose(header, cmap, str(p), where, rows=rows, label=label)
    width = len(header)
    for k, text in enumerate(head.lines[1:51], 2):
        cells = _split(text, head.separator)
        n = len(cells)
        if n > width and not (n == width + 1 and not cells[-1].strip()):  # ``a,b,c,``: kept
            raise more_fields(p, k, n, width, text, header_line, where)
    r.encoding = head.encoding
    r.separator = head.separator
    r.decimal = cmap.decimal or _decimal(head, head.separator)
    i = r.header.index(r.columns["date"])  # the dates of the head parse (date_format)
    sample = [row[i] for row in rows if len(row) > i and row[i]]
    _dates(sample, str(p), r.columns["date"], r.date_format, where, first_line=1 + header_line)
    return head, r


def _read_table(p: Path, head, r: Resolved, where) -> pd.DataFrame:
    """The columns ``r.used()`` of the whole file: dates and symbols as text, the
    rest float64 (a non-numeric cell: read as text, so the builder names its row)."""
    text = {c for c in (r.columns["date"], r.columns["symbol"]) if c is not None}
    use = r.used()
    kw = dict(
        sep=r.separator,
        decimal=r.decimal,
        header=None,
        skiprows=1 if r.header_line else 0,
        names=r.header,
        usecols=use,
        index_col=False,
        skipinitialspace=True,
        na_values=list(r.missing) or None,
        keep_default_na=True,
        engine="c",
    )
    if r.thousands:
        kw["thousands"] = r.thousands
    dtypes = {c: (str if c in text else "float64") for c in use}
    fields = Fields(r.separator, len(r.header), r.header_line, row_bytes(len(use), len(text)))
    try:
        return _read_csv(p, encoding=head.encoding, where=where, fields=fields, dtype=dtypes, **kw)
    except DataError as e:
        if "decode" in e.problem or "more fields" in e.problem or "memory" in e.problem:
            raise
        return _read_csv(p, encoding=head.encoding, where=where, dtype=str, **kw)


def row_bytes(columns: int, text: int) -> float:
    """The memory one row of ``columns`` read columns (``text`` of them dates or symbols)
    needs through reading and building the frame: float64 cells about four times over
    (parse, frame, slices, validation), a text cell as a Python string twice."""
    return 4 * 8.0 * (columns - text) + 2 * 80.0 * text


def _read(path, data_map=None, symbol=None, symbols=None, start=None, end=None,
          validate=True, repair="raise", where=None, label=None):  # fmt: skip
    p = _as_path(path)
    head, r = open_mapped(p, data_map, where, label)
    raw = _read_table(p, head, r, where or _default_where)
    if raw.empty:
        raise DataError("the file is empty (a header, no rows)", str(p))
    return build_frames(
        raw,
        r,
        str(p),
        symbol=None if r.long else (symbol or _stem(p)),
        symbols=symbols,
        start=start,
        end=end,
        validate=validate,
        repair=repair,
        where=where,
        first_line=2 if r.header_line else 1,
        extra_attrs={"encoding": head.encoding},
    )


def read_mapped(
    path,
    data_map=None,
    symbol: str | None = None,
    symbols=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
    where=None,
):
    """Read any daily-bar CSV file with a declared column map.

    The map (a preset and/or keys over it) is resolved against the header
    before any row is read: every named column must exist, else a one-line
    error names the file, the key and the closest header names.

    Args:
        path: the CSV file (``.gz`` fine).
        data_map: a :class:`~btlstm.data.columnmap.ColumnMap`, a dict of map
            keys (the ``[data]`` keys: ``date_column``, ``date_format``,
            ``encoding``, ``volume_multiplier``, ...), a preset name, or None:
            the preset is sniffed from the header (:func:`btlstm.data.presets.sniff`).
        symbol: the symbol of a one-symbol file (default: the file stem).
        symbols: the symbols to keep from a long file (default: all).
        start: first date to keep (inclusive).
        end: last date to keep (inclusive).
        validate: validate the frames (see ``repair``).
        repair: ``"raise"`` (default) or ``"drop"`` defective rows (each logged).
        where: ``where(key)`` names a map key as the user wrote it (a flag, a TOML key).

    Returns:
        A canonical frame, or ``{symbol: frame}`` when the map has a symbol column.

    Raises:
        DataError: naming the file (and key, column, row) on any problem.

    Example:
        >>> df = read_mapped("backtrader_datas/2006-day-001.txt", {"date_format": "%Y-%m-%d"})
        >>> df.attrs["layout"], len(df)
        ('backtrader', 255)
    """
    return _read(path, data_map, symbol, symbols, start, end, validate, repair, where)


def _preset_reader(name: str, path, **kw):
    preset = PRESETS[name]
    return _read(path, ColumnMap(preset=name), label=preset.label, **kw)


def read_yahoo_csv(
    path,
    symbol: str | None = None,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Read a Yahoo-layout (or Backtrader generic daily) CSV file: the ``yahoo`` preset.

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
    return _preset_reader(
        "yahoo", path, symbol=symbol, validate=validate, repair=repair, start=start, end=end
    )


def read_akshare_index(
    path,
    symbol: str | None = None,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Read an East Money / akshare index file with Chinese headers: the ``akshare`` preset.

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
    return _preset_reader(
        "akshare", path, symbol=symbol, validate=validate, repair=repair, start=start, end=end
    )


def read_baostock_long(
    path,
    codes=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
) -> dict[str, pd.DataFrame]:
    """Read a baostock long-layout file (gzip fine) into one frame per code: the ``baostock`` preset.

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
    return _preset_reader(
        "baostock", path, symbols=codes, validate=validate, repair=repair, start=start, end=end
    )


def read_kaggle_long(
    path,
    names=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
) -> dict[str, pd.DataFrame]:
    """Read the Kaggle S&P 500 long layout ``date,open,high,low,close,volume,Name``: the ``kaggle`` preset.

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
    return _preset_reader(
        "kaggle", path, symbols=names, validate=validate, repair=repair, start=start, end=end
    )


# --------------------------------------------------------------------------- sniffer
def sniff_layout(path) -> str:
    """Name the layout of a CSV file from its header.

    Returns:
        The reader family for the named readers' layouts (``"yahoo"`` also for
        Backtrader's generic files, ``"akshare"``, ``"baostock"``, ``"kaggle"``),
        else the preset's name (``"netease"``, ``"tushare"``, ``"generic"``, ...).

    Raises:
        DataError: naming the file and its header when no preset fits, with the
            presets that nearly fit and why.
    """
    p = _as_path(path)
    head, r = open_mapped(p)
    preset = PRESETS[r.preset]
    return preset.family or preset.name


def read_csv_auto(path, data_map=None, **kw):
    """Read any CSV file, the preset sniffed from its header (or the map given).

    Args:
        path: the file (``.gz`` fine).
        data_map: a column map over the sniffed preset (see :func:`read_mapped`).
        **kw: ``symbol``, ``symbols`` (or the named readers' ``codes`` / ``names``),
            ``start``, ``end``, ``validate``, ``repair``, ``where``.

    Returns:
        A canonical frame, or ``{symbol: frame}`` (long layouts).

    Raises:
        DataError: naming the file when it is missing, unreadable, or its
            header matches no known layout.

    Example:
        >>> read_csv_auto("backtrader_datas/orcl-1995-2014.txt").attrs["symbol"]
        'orcl-1995-2014'
    """
    for alias in ("codes", "names"):
        if alias in kw:
            value = kw.pop(alias)
            if kw.get("symbols") is None:
                kw["symbols"] = value
    return read_mapped(path, data_map, **kw)


# --------------------------------------------------------------------------- DataFrames
def _is_canonical(df: pd.DataFrame) -> bool:
    return isinstance(df.index, pd.DatetimeIndex) and all(
        c in df.columns for c in CANONICAL_COLUMNS
    )


def read_dataframe(
    obj,
    data_map=None,
    symbol: str | None = None,
    symbols=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
    where=None,
    source: str = "DataFrame",
):
    """Canonical frame(s) from in-memory pandas data, with the same maps as files.

    Accepts one symbol's DataFrame (dates in a column or the index), a long
    DataFrame (a symbol column: one row per symbol and day), a dict of
    DataFrames ``{symbol: frame}``, or a yfinance download with two-level
    columns (``(Price, Ticker)``). A frame that is already canonical (a
    DatetimeIndex and the canonical columns) is taken as it is when no map is
    given. Columns are found by name (``Open``, ``close``, ``Adj Close``, ``vol``
    ...) or named by the map; the preset is sniffed from the column names
    (a tushare frame's ``vol`` in lots and ``amount`` in thousands are converted).

    Args:
        obj: the data.
        data_map: a column map (see :func:`read_mapped`); ``encoding``,
            ``separator``, ``decimal`` and ``header`` do not apply.
        symbol: the symbol of a one-symbol frame (default: its ``attrs["symbol"]``).
        symbols: symbols to keep from a panel (default: all).
        start: first date to keep (inclusive).
        end: last date to keep (inclusive).
        validate: validate the frames.
        repair: ``"raise"`` or ``"drop"``.
        where: ``where(key)`` names a map key as the user wrote it.
        source: the name in messages and ``attrs["source"]``.

    Returns:
        A canonical frame, or ``{symbol: frame}`` for a long frame or a dict.

    Raises:
        DataError: naming the source, the key and the closest column names.

    Example:
        >>> raw = pd.DataFrame({"Date": ["2020-01-03", "2020-01-02"], "Open": [2.0, 1.0],
        ...                     "High": [2.5, 1.5], "Low": [1.5, 0.5], "Close": [2.2, 1.2],
        ...                     "Volume": [10, 20]})
        >>> f = read_dataframe(raw)
        >>> list(f.index.strftime("%m-%d")), f["amount"].tolist(), f.attrs["layout"]
        (['01-02', '01-03'], [24.0, 22.0], 'yahoo')
    """
    kw = dict(start=start, end=end, validate=validate, repair=repair, where=where)
    if isinstance(obj, dict):
        wanted = _wanted(symbols, "symbols")
        keys = [k for k in obj if wanted is None or str(k) in wanted]
        absent = [w for w in (wanted or []) if w not in map(str, obj)]
        if absent:
            raise DataError(
                f"symbol(s) {absent} not in the data (symbols: {list(obj)[:20]})", source
            )
        out = {}
        for k in keys:
            f = read_dataframe(obj[k], data_map, symbol=str(k), source=f"{source}[{k}]", **kw)
            if isinstance(f, dict):
                raise DataError(
                    f"{source}[{k}] holds several symbols {sorted(f)[:8]}: a dict needs one "
                    "symbol per frame",
                    source,
                )
            out[str(k)] = f
        return out
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(
            f"data must be a pandas DataFrame or a dict of them, got {type(obj).__name__}"
        )
    cols = obj.columns
    if isinstance(cols, pd.MultiIndex):
        if cols.nlevels != 2:
            raise DataError(f"columns with {cols.nlevels} levels: expected (price, ticker)", source)
        lv0 = {str(c).lower() for c in cols.get_level_values(0)}
        level = 1 if "close" in lv0 else 0  # the ticker level
        tickers = list(dict.fromkeys(cols.get_level_values(level)))
        split = {str(t): obj.xs(t, axis=1, level=level) for t in tickers}
        return read_dataframe(split, data_map, symbols=symbols, source=source, **kw)
    cmap = as_map(data_map, where)
    check_map(cmap, where)
    if not cmap.given() and _is_canonical(obj):
        out = obj.copy()
        out.attrs = {"source": source, "symbol": symbol, "amount_derived": False,
                     "synthetic": False, "layout": "canonical", **obj.attrs}  # fmt: skip
        if symbols is not None:
            raise ValueError(f"symbols is only used with panel data, got {symbols!r}")
        return _finish(out, validate, repair, start, end)
    raw = obj
    hint = None
    if not isinstance(raw.index, pd.RangeIndex):  # dates may be the index: a column like any
        hint = str(raw.index.name if raw.index.name is not None else "index")
        if hint not in map(str, raw.columns) and raw.index.nlevels == 1:
            raw = raw.reset_index(names=[hint])
    raw = raw.copy()
    raw.columns = [str(c).strip() for c in raw.columns]
    r = choose(list(raw.columns), cmap, source, where, date_hint=hint)
    return build_frames(
        raw[r.used()],
        r,
        source,
        symbol=None if r.long else (symbol or obj.attrs.get("symbol")),
        symbols=symbols,
        first_line=0,
        what="position",
        **kw,
    )


_READERS = {
    "yahoo": read_yahoo_csv,
    "akshare": read_akshare_index,
    "baostock": read_baostock_long,
    "kaggle": read_kaggle_long,
}
