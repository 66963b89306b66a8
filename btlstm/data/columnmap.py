"""Declared column maps: which column of a file (or DataFrame) is which canonical field.

A :class:`ColumnMap` says, for one daily-bar CSV file or DataFrame, which column
holds the date (and its format), open, high, low, close, volume, amount,
adj_close and, for long files (one row per symbol and day), the symbol; plus
how the text is written (separator, decimal mark, encoding, header line), unit
multipliers (volume in lots of 100, amount in thousands), cell values that mean
"missing", the row order, and the extra columns to keep. Every key is a
``[data]`` TOML key and a ``btlstm run`` flag of the same name
(:class:`btlstm.settings.DataSettings` is a ColumnMap).

A map is *declared*: every key left at None comes from a :class:`Preset` (the
layouts users bring most, :mod:`btlstm.data.presets`), and a preset's own None
means "find it by name" (:data:`ALIASES`, any case). :func:`resolve` turns a
map into a :class:`Resolved` map for one header, checking every named column
exists before any row is read; :func:`build_frames` turns the parsed columns
into canonical frames, the same way for files and DataFrames (one way to read).

Example:
    >>> m = ColumnMap(date_column="trade_date", date_format="%Y%m%d", volume_column="vol",
    ...               volume_multiplier=100.0)
    >>> r = resolve(["ts_code", "trade_date", "open", "high", "low", "close", "vol"], m)
    >>> r.columns["date"], r.columns["volume"], r.columns["amount"]
    ('trade_date', 'vol', None)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btlstm.checks import close_names, closest, did_you_mean
from btlstm.data._csv import (
    _check_repair,
    _date_mask,
    _dates,
    _default_where,
    _finish,
    _finish_panel,
    _numeric,
    _show_header,
    _split_long,
    _wanted,
    check_encoding,
)
from btlstm.data.validate import CANONICAL_COLUMNS, DataError

__all__ = [
    "ALIASES",
    "FIELDS",
    "MAP_KEYS",
    "ORDERS",
    "ColumnMap",
    "Preset",
    "Resolved",
    "as_map",
    "build_frames",
    "check_values",
    "resolve",
]

logger = logging.getLogger("btlstm.data")

#: the canonical fields a map places (``symbol``: the symbol column of a long file).
FIELDS = ("date", "open", "high", "low", "close", "volume", "amount", "adj_close", "symbol")
#: fields every map must find.
REQUIRED_FIELDS = ("date", "open", "high", "low", "close")
#: fields a file may lack: ``""`` in the map says so (volume 0, amount = close x volume).
OPTIONAL_FIELDS = ("volume", "amount", "adj_close", "symbol")
#: ``order`` values: ``auto`` keeps ascending rows and reverses strictly newest-first
#: ones (noted), and refuses anything else; ``ascending`` / ``descending`` insist on
#: that order; ``sort`` sorts rows by date (noted).
ORDERS = ("auto", "ascending", "descending", "sort")
DECIMALS = (".", ",")
#: thousands separators accepted (``[data] thousands``): comma, point, apostrophe, space.
THOUSANDS = (",", ".", "'", " ")

#: names the generic map recognises, compared after lower-casing, trimming ``<>``
#: and turning spaces and dashes into ``_`` (so ``Adj Close`` is ``adj_close`` and
#: Stooq's ``<CLOSE>`` is ``close``). The first alias found wins.
ALIASES = {
    "date": ("date", "datetime", "timestamp", "trade_date", "trading_date", "day", "日期",
             "交易日期"),
    "open": ("open", "open_price", "开盘", "开盘价"),
    "high": ("high", "high_price", "最高", "最高价"),
    "low": ("low", "low_price", "最低", "最低价"),
    "close": ("close", "close_price", "收盘", "收盘价"),
    "volume": ("volume", "vol", "成交量"),
    "amount": ("amount", "turnover_value", "traded_value", "value", "成交额", "成交金额"),
    "adj_close": ("adj_close", "adjclose", "adjusted_close", "adj_price"),
    "symbol": ("symbol", "ticker", "code", "ts_code", "name", "股票代码", "代码"),
}  # fmt: skip


def _norm(name) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().strip("<>").strip().lower())


# --------------------------------------------------------------------------- the map
@dataclass
class ColumnMap:
    """How to read one daily-bar file or DataFrame; None = from the preset (or detected).

    Columns are named as in the header or given by 0-based position; ``""``
    says the file has no such column (volume, amount, adj_close, symbol only).

    Attributes:
        preset: layout preset (generic, yahoo, backtrader, akshare, akshare_stock,
            netease, tushare, baostock, kaggle, stooq); default: sniffed from the header
        date_column: the date column, by name or 0-based position
        date_format: strftime format of the dates, e.g. '%d.%m.%Y' or '%Y%m%d' (also
            integers like 20150105); default: ISO, or the one common format that fits
        open_column: the open column (name or 0-based position)
        high_column: the high column
        low_column: the low column
        close_column: the close column
        volume_column: the volume column; '' = the file has none (volume 0)
        amount_column: the traded value (money); '' = none (amount = close x volume)
        adj_close_column: the adjusted close; '' = none
        symbol_column: the symbol column of a long file (one row per symbol and day);
            '' = the file holds one symbol
        separator: field separator ',' ';' '|' or '\\t' (tab); default: detected
        decimal: decimal mark '.' or ','; default '.' (',' detected in ';'-separated files)
        thousands: thousands separator in numbers (',' '.' "'" or ' '), e.g. ',' for
            "5,818,000"; default none. In a ','-separated file only quoted numbers can
            carry ',' (an unquoted 5,818,000 is three fields: the row is refused)
        encoding: text encoding: utf-8, utf-8-sig (with BOM), gbk, gb18030, latin-1, ...;
            default: detected
        header: the first line names the columns (default true); false: columns by position
        volume_multiplier: volume x this, e.g. 100 for lots of 100 shares (default 1)
        amount_multiplier: amount x this, e.g. 1000 for thousands (default 1)
        missing: more cell values read as missing (besides '', NA, NaN, null, None, ...)
        order: row order: auto (newest-first files reversed), ascending, descending, sort
        extras: more columns to keep, {file column: new name} (numeric)
        flag_columns: extras stored as small integers (0/1 flags) when every row has one
        constant_columns: extras whose one value goes to frame.attrs, not a column

    Example:
        >>> ColumnMap(preset="tushare").given()
        {'preset': 'tushare'}
    """

    preset: str | None = None
    date_column: str | int | None = None
    date_format: str | None = None
    open_column: str | int | None = None
    high_column: str | int | None = None
    low_column: str | int | None = None
    close_column: str | int | None = None
    volume_column: str | int | None = None
    amount_column: str | int | None = None
    adj_close_column: str | int | None = None
    symbol_column: str | int | None = None
    separator: str | None = None
    decimal: str | None = None
    thousands: str | None = None
    encoding: str | None = None
    header: bool | None = None
    volume_multiplier: float | None = None
    amount_multiplier: float | None = None
    missing: tuple[str, ...] = ()
    order: str | None = None
    extras: dict | None = None
    flag_columns: tuple[str, ...] | None = None
    constant_columns: tuple[str, ...] | None = None

    def __post_init__(self):
        if isinstance(self.missing, str):
            self.missing = (self.missing,)
        self.missing = tuple(self.missing or ())
        for name in ("flag_columns", "constant_columns"):
            v = getattr(self, name)
            if isinstance(v, str):
                v = (v,)
            setattr(self, name, None if v is None else tuple(v))

    def given(self) -> dict:
        """``{key: value}`` of the keys set (not None; ``missing`` when not empty)."""
        out = {}
        for k in MAP_KEYS:
            v = getattr(self, k)
            if v is not None and not (k == "missing" and not v):
                out[k] = v
        return out

    def over(self, other: ColumnMap) -> ColumnMap:
        """This map with the keys ``other`` sets put over it."""
        return dataclasses.replace(self, **other.given())


#: the keys of a map (= ``[data]`` TOML keys and ``btlstm run`` flags).
MAP_KEYS = tuple(f.name for f in dataclasses.fields(ColumnMap))
COLUMN_KEYS = {f: f"{f}_column" for f in FIELDS}


def as_map(value=None, where=None) -> ColumnMap:
    """A :class:`ColumnMap` from None, a ColumnMap (or any object with its keys, e.g.
    :class:`~btlstm.settings.DataSettings`), a dict of map keys, or a preset name.

    Raises:
        DataError: an unknown key (naming the closest key).
    """
    where = where or _default_where
    if value is None:
        return ColumnMap()
    if type(value) is ColumnMap:
        return value
    if isinstance(value, str):
        return ColumnMap(preset=value)
    if isinstance(value, dict):
        for k in value:
            if k not in MAP_KEYS:
                did = closest(k, MAP_KEYS)
                raise DataError(f"unknown map key {where(k)}{did} (keys: {', '.join(MAP_KEYS)})")
        return ColumnMap(**value)
    if all(hasattr(value, k) for k in MAP_KEYS):
        return ColumnMap(**{k: getattr(value, k) for k in MAP_KEYS})
    raise TypeError(
        f"a column map must be a ColumnMap, a dict of map keys or a preset name, "
        f"got {type(value).__name__}"
    )


def _separator(value):
    if value is None:
        return None
    text = str(value)
    return "\t" if text in ("\\t", "tab", "TAB") else text


def check_values(m: ColumnMap, where=None) -> None:
    """Check the values of a map that need no file (types, ranges, names of
    encodings, orders, decimal marks, date formats). The preset name is checked by
    :func:`btlstm.data.presets.check_map`.

    Raises:
        DataError: one line naming the key (``where(key)``), the bad value and the
            valid ones.
    """
    where = where or _default_where
    for f in FIELDS:
        v = getattr(m, COLUMN_KEYS[f])
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise DataError(
                f"{where(COLUMN_KEYS[f])} = {v!r}: expected a column name or a 0-based position"
            )
        if isinstance(v, int) and v < 0:
            raise DataError(f"{where(COLUMN_KEYS[f])} = {v}: a position counts from 0")
        if v == "" and f in REQUIRED_FIELDS:
            raise DataError(
                f"{where(COLUMN_KEYS[f])} = '': every file needs a {f} column "
                f"(only {', '.join(COLUMN_KEYS[o] for o in OPTIONAL_FIELDS)} may be '')"
            )
    if m.date_format is not None:
        fmt = str(m.date_format)
        bad = "%" not in fmt
        if not bad:
            try:
                pd.to_datetime(pd.Series(["2000-01-01"]), format=fmt, errors="coerce")
            except ValueError:
                bad = True
        if bad:
            raise DataError(
                f"{where('date_format')} = {fmt!r} is not a strftime format: write one like "
                "'%Y-%m-%d', '%d.%m.%Y' or '%Y%m%d' (integer dates such as 20150105)"
            )
    sep = _separator(m.separator)
    if sep is not None and (len(sep) != 1 or sep in "\"'\r\n"):
        raise DataError(
            f"{where('separator')} = {m.separator!r}: expected one character such as "
            "',', ';', '|' or '\\t' (tab)"
        )
    if m.decimal is not None and m.decimal not in DECIMALS:
        raise DataError(f"{where('decimal')} = {m.decimal!r}: expected '.' or ','")
    if sep is not None and m.decimal is not None and sep == m.decimal:
        raise DataError(
            f"{where('separator')} and {where('decimal')} are both {sep!r}: a file with decimal "
            "commas separates its fields with ';' (or a tab)"
        )
    if m.thousands is not None:
        if m.thousands not in THOUSANDS:
            raise DataError(
                f"{where('thousands')} = {m.thousands!r}: expected one of "
                f"{', '.join(repr(t) for t in THOUSANDS)} (the mark between groups of three "
                "digits, ',' in 5,818,000)"
            )
        if m.thousands == (m.decimal or "."):
            raise DataError(
                f"{where('thousands')} and {where('decimal')} are both {m.thousands!r}: "
                "a number has one decimal mark and another thousands separator"
            )
    if m.encoding is not None:
        check_encoding(m.encoding, where)
    for key in ("volume_multiplier", "amount_multiplier"):
        v = getattr(m, key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise DataError(
                f"{where(key)} = {v!r}: expected a number > 0 (100 for lots of 100 shares, "
                "1000 for thousands)"
            )
    if m.order is not None and m.order not in ORDERS:
        did = closest(m.order, ORDERS)
        raise DataError(f"{where('order')} = {m.order!r}{did} (valid: {', '.join(ORDERS)})")
    for v in m.missing:
        if not isinstance(v, str):
            raise DataError(f"{where('missing')}: expected text values, got {v!r}")
    if m.extras is not None:
        if not isinstance(m.extras, dict):
            raise DataError(f"{where('extras')}: expected a table {{file column = new name}}")
        for col, name in m.extras.items():
            if not isinstance(name, str) or not name.strip():
                raise DataError(f"{where('extras')}[{col!r}] = {name!r}: expected a column name")
            if name in CANONICAL_COLUMNS or name in ("adj_close", "date"):
                raise DataError(
                    f"{where('extras')}[{col!r}] = {name!r} is a canonical column: map it with "
                    f"{where(COLUMN_KEYS.get(name, 'date_column'))} instead"
                )


# --------------------------------------------------------------------------- presets
@dataclass(frozen=True)
class Preset:
    """A named layout: a column map plus how to recognise the file.

    Attributes:
        name: the ``[data] preset`` value.
        title: one line for messages and ``btlstm data inspect``.
        columns: the preset's map (None: found by name, see :data:`ALIASES`).
        signature: header names that all appear in such a file (sniffing; for a
            named preset also the columns a file must have).
        positional: columns are given by position (the signature only sniffs).
        keep_other: keep every other column as an extra (lower-cased, spaces as ``_``).
        drop: columns (names or positions) never kept as extras.
        refuse: columns that mean an out-of-scope file (``Time``: intraday bars).
        label: the start of a missing-column message (the named readers' wording).
        family: the reader family :func:`btlstm.data.readers.sniff_layout` names.
        notes: units and quirks, for the docs and ``inspect``.
    """

    name: str
    title: str
    columns: ColumnMap
    signature: tuple = ()
    positional: bool = False
    keep_other: bool = False
    drop: tuple = ()
    refuse: tuple = ()
    label: str | None = None
    family: str | None = None
    notes: str = ""


GENERIC = Preset(
    "generic",
    "any daily OHLCV header (date,open,high,low,close[,volume][,amount][,adj close][,symbol]) "
    "in any case and order",
    ColumnMap(),
    refuse=("time",),
    notes="columns found by name (ALIASES); volume 0 and amount = close x volume when absent",
)


# --------------------------------------------------------------------------- resolution
@dataclass
class Resolved:
    """A map resolved against one header: the file column of every field.

    Attributes:
        preset: the preset's name (``"generic"`` when found by names).
        header: the header, duplicates renamed as pandas does (``x``, ``x.1``).
        columns: ``{field: file column or None}`` for every field of :data:`FIELDS`.
        extras: ``{file column: new name}`` kept as extra columns.
        flag_columns, constant_columns: see :class:`ColumnMap`.
        date_format: the given format, or None (ISO or the one format that fits).
        separator, decimal, thousands, encoding, header_line: how the text is written.
        volume_multiplier, amount_multiplier: unit conversions.
        missing: more cell values read as missing.
        order: one of :data:`ORDERS`.
    """

    preset: str
    header: list
    columns: dict
    extras: dict
    flag_columns: tuple
    constant_columns: tuple
    date_format: str | None
    separator: str = ","
    decimal: str = "."
    thousands: str | None = None
    encoding: str | None = None
    header_line: bool = True
    volume_multiplier: float = 1.0
    amount_multiplier: float = 1.0
    missing: tuple = ()
    order: str = "auto"
    dropped: list = field(default_factory=list)

    @property
    def long(self) -> bool:
        """A long file: one row per symbol and day."""
        return self.columns.get("symbol") is not None

    def used(self) -> list:
        """The file columns read, in header order."""
        cols = {c for c in self.columns.values() if c is not None}
        cols |= set(self.extras)
        return [h for h in self.header if h in cols]

    def conversions(self) -> list:
        """The unit conversions and derivations in words (provenance)."""
        out = []
        if self.columns["volume"] is None:
            out.append("volume: not in the file (0)")
        elif self.volume_multiplier != 1:
            out.append(f"volume x {self.volume_multiplier:g} ({self.columns['volume']!s})")
        if self.columns["amount"] is None:
            out.append("amount = close x volume (not in the file)")
        elif self.amount_multiplier != 1:
            out.append(f"amount x {self.amount_multiplier:g} ({self.columns['amount']!s})")
        return out

    def to_map(self) -> ColumnMap:
        """The explicit map that reads this file the same way (every key stated)."""

        def col(f):
            c = self.columns[f]
            if c is None:
                return ""
            return self.header.index(c) if not self.header_line else c

        return ColumnMap(
            **{COLUMN_KEYS[f]: col(f) for f in FIELDS},
            date_format=self.date_format,
            separator=self.separator,
            decimal=self.decimal,
            thousands=self.thousands,
            encoding=self.encoding,
            header=self.header_line,
            volume_multiplier=float(self.volume_multiplier),
            amount_multiplier=float(self.amount_multiplier),
            missing=tuple(self.missing),
            order=self.order,
            extras=dict(self.extras),
            flag_columns=tuple(self.flag_columns),
            constant_columns=tuple(self.constant_columns),
        )


def _mangle(header) -> list[str]:
    """Duplicate names renamed as pandas does (``x``, ``x.1``, ``x.2``)."""
    seen: dict = {}
    out = []
    for h in header:
        h = str(h)
        if h in seen:
            seen[h] += 1
            new = f"{h}.{seen[h]}"
            while new in seen:
                seen[h] += 1
                new = f"{h}.{seen[h]}"
            seen[new] = 0
            out.append(new)
        else:
            seen[h] = 0
            out.append(h)
    return out


def _refuse_twins(columns: dict, raw: list, names: list, src) -> None:
    """A column the map uses must have no twin: the same header name again (pandas
    reads it as ``Close.1``) or one that differs only in case, spaces or dashes. Which
    of the two holds the prices cannot be guessed, so the file is refused."""
    for f, col in columns.items():
        if col is None:
            continue
        pos = names.index(col)
        twins = [
            i for i, h in enumerate(raw)
            if i != pos and (h == raw[pos] or _norm(h) == _norm(raw[pos]))
        ]  # fmt: skip
        if twins:
            both = [f"{raw[pos]!r} (column {pos + 1})"] + [
                f"{raw[i]!r} (column {i + 1})" for i in twins
            ]
            raise DataError(
                f"the header has {len(both)} columns that map to {f}: {' and '.join(both)}; "
                "which one holds the data cannot be guessed: remove or rename the others",
                src,
                raw[pos],
            )


def _refuse_shared(columns: dict, m: ColumnMap, preset: Preset, user: set, where, src) -> None:
    """One file column read as two fields (``--close-column open``: open and close both
    from ``Open``) is refused unless every one of those fields names it (the user's
    keys, or all the preset's own map): a close-only file states ``open_column``,
    ``high_column`` and ``low_column`` too."""
    by_col: dict = {}
    for f in FIELDS:
        if f in ("date", "adj_close") or columns.get(f) is None:
            continue  # the date has its own check; adj_close may repeat close (no dividends)
        by_col.setdefault(columns[f], []).append(f)
    for col, fields in by_col.items():
        unstated = [f for f in fields if COLUMN_KEYS[f] not in user]
        if len(fields) < 2 or not unstated or len(unstated) == len(fields):
            continue  # one field, all stated by the user, or the preset's own map
        keys = " and ".join(where(COLUMN_KEYS[f]) for f in fields)
        raise DataError(
            f"column {col!r} is mapped to two fields ({' and '.join(fields)}): "
            f"{', '.join(unstated)} not named by you; name another column "
            f"with {where(COLUMN_KEYS[unstated[0]])}, or state {keys} = {col!r} "
            "if one column is meant for both",
            src,
            col,
        )


def _closest(value: str, names) -> str:
    names = [str(n) for n in names]
    same_case = [n for n in names if n.lower() == str(value).lower()]
    return did_you_mean(same_case or close_names(value, names, n=3, cutoff=0.5))


def _missing_columns(label: str, missing, header, src, column=None) -> DataError:
    return DataError(
        f"{label}: missing column(s) {list(missing)} (header {_show_header(header)})",
        src,
        column=column if column is not None else missing[0],
    )


def resolve(
    header,
    cmap: ColumnMap | None = None,
    preset: Preset | None = None,
    src=None,
    where=None,
    given=None,
    date_hint: str | None = None,
    label: str | None = None,
) -> Resolved:
    """Resolve ``preset`` with ``cmap`` over it against one ``header``.

    Every column the map names must be in the header (or, by position, within
    it), before any row is read. Columns the map leaves at None are found by
    name (:data:`ALIASES`); a preset's optional columns (amount, adj_close,
    extras) may be absent.

    Args:
        header: the file's column names (or a DataFrame's).
        cmap: the user's map (its keys win over the preset's).
        preset: the layout (default: :data:`GENERIC`).
        src: the file, for messages.
        where: ``where(key)`` names a key as the user wrote it (default ``[data] key``).
        given: the keys the user set (default: ``cmap.given()``); a named column
            that is missing is an error only for these and for the preset's signature.
        date_hint: a column to use as the date when no date column is found
            (a DataFrame's DatetimeIndex).
        label: start of the missing-column message (default names the preset).

    Returns:
        A :class:`Resolved` map.

    Raises:
        DataError: one line naming the file, the key, the value and the closest
            header names (and the header).
    """
    where = where or _default_where
    cmap = cmap or ColumnMap()
    preset = preset or GENERIC
    user = set(cmap.given() if given is None else given)
    m = preset.columns.over(cmap)
    header_line = True if m.header is None else bool(m.header)
    names = _mangle([str(h).strip() for h in header])
    if label is None:
        label = (
            f"{where('preset')} = {preset.name!r} does not fit"
            if "preset" in user
            else f"not a {preset.name} file ({preset.title})"
        )
    if preset.signature and not preset.positional and header_line:
        wanted = {getattr(m, COLUMN_KEYS[f]) for f in FIELDS}
        missing = [c for c in preset.signature if c not in names and c in wanted]
        if missing:
            raise _missing_columns(label, missing, names, src)
    for r in preset.refuse:
        hits = [h for h in names if _norm(h) == _norm(r)]
        used = {getattr(m, COLUMN_KEYS[f]) for f in FIELDS}
        hits = [h for h in hits if h not in used]
        if hits:
            raise DataError(
                f"intraday file (has a {hits[0]!r} column): btlstm reads daily bars only",
                src,
                hits[0],
            )
    norm: dict = {}
    for h in names:
        norm.setdefault(_norm(h), []).append(h)
    columns: dict = {}
    taken: set = set()
    for f in FIELDS:
        key = COLUMN_KEYS[f]
        v = getattr(m, key)
        if v == "":
            columns[f] = None
            continue
        if isinstance(v, int) and not isinstance(v, bool):
            if v >= len(names):
                raise DataError(
                    f"{where(key)} = {v}: the file has {len(names)} columns (positions 0.."
                    f"{len(names) - 1}; header {_show_header(names)})",
                    src,
                )
            columns[f] = names[v]
        elif isinstance(v, str):
            if v in names:
                columns[f] = v
            elif key in user or f in REQUIRED_FIELDS or (f == "volume" and preset.signature):
                if key in user:
                    raise DataError(
                        f"{where(key)} = {v!r} is not a column of the file{_closest(v, names)} "
                        f"(header {_show_header(names)})",
                        src,
                    )
                raise _missing_columns(label, [v], names, src)
            else:
                columns[f] = None  # an optional column of the preset, absent here
        else:  # None: find it by name
            found = None
            for alias in ALIASES[f]:
                hits = [h for h in norm.get(alias, []) if h not in taken]
                if len(hits) > 1:
                    raise DataError(
                        f"columns {hits} all look like {f}: name the one to use with {where(key)}",
                        src,
                    )
                if hits:
                    found = hits[0]
                    break
            if found is None and f == "date" and date_hint is not None and date_hint in names:
                found = date_hint
            if found is None and f in REQUIRED_FIELDS:
                looked = ", ".join(ALIASES[f][:6])
                raise DataError(
                    f"no {f} column found (looked for {looked}, in any case); name it with "
                    f"{where(key)} (header {_show_header(names)})",
                    src,
                )
            columns[f] = found
        if columns[f] is not None and f != "adj_close":
            taken.add(columns[f])
    if columns["date"] in {columns[f] for f in FIELDS if f != "date"}:
        raise DataError(
            f"{where('date_column')}: column {columns['date']!r} is mapped twice (as the date "
            "and as a price, volume or symbol)",
            src,
        )
    _refuse_shared(columns, m, preset, user, where, src)
    _refuse_twins(columns, [str(h).strip() for h in header], names, src)
    # extras
    dropped = set()
    for d in preset.drop:
        if isinstance(d, int) and d < len(names):
            dropped.add(names[d])
        elif d in names:
            dropped.add(d)
    used = {c for c in columns.values() if c is not None}
    extras: dict = {}
    if m.extras is not None:
        for col, new in m.extras.items():
            if col in names:
                extras[col] = new
            elif "extras" in user:
                raise DataError(
                    f"{where('extras')}: {col!r} is not a column of the file{_closest(col, names)} "
                    f"(header {_show_header(names)})",
                    src,
                )
    elif preset.keep_other:
        for h in names:
            if h not in used and h not in dropped:
                extras[h] = h.lower().replace(" ", "_")
    clash = [n for n in extras.values() if n in CANONICAL_COLUMNS or n in ("adj_close", "date")]
    if clash:
        raise DataError(
            f"{where('extras')}: extra column name(s) {clash} clash with canonical columns", src
        )
    kept = set(extras.values())
    special = {}
    for key in ("flag_columns", "constant_columns"):
        vals = tuple(getattr(m, key) or ())
        bad = [v for v in vals if v not in kept]
        if bad and key in user:
            raise DataError(
                f"{where(key)}: {bad} are not extra columns (extras kept: {sorted(kept)}); "
                f"name them in {where('extras')} first",
                src,
            )
        special[key] = tuple(v for v in vals if v in kept)
    skipped = [h for h in names if h not in used and h not in extras]
    return Resolved(
        preset=preset.name,
        header=names,
        columns=columns,
        extras=extras,
        flag_columns=special["flag_columns"],
        constant_columns=special["constant_columns"],
        date_format=m.date_format,
        separator=_separator(m.separator) or ",",
        decimal=m.decimal or ".",
        thousands=m.thousands,
        encoding=m.encoding,
        header_line=header_line,
        volume_multiplier=float(m.volume_multiplier or 1.0),
        amount_multiplier=float(m.amount_multiplier or 1.0),
        missing=tuple(m.missing),
        order=m.order or "auto",
        dropped=skipped,
    )


# --------------------------------------------------------------------------- frames
def _daily(idx: pd.DatetimeIndex, keys, src, column: str) -> tuple[pd.DatetimeIndex, bool]:
    """Daily bars stamped at a time of day (16:00) are moved to their day;
    several bars on one day (per symbol) are refused as intraday data."""
    if not len(idx):
        return idx, False
    day = idx.normalize()
    if (day == idx).all():
        return idx, False
    frame = pd.DataFrame({"k": keys if keys is not None else 0, "d": day})
    again = (
        frame.duplicated().to_numpy()
        & ~pd.DataFrame({"k": keys if keys is not None else 0, "t": idx}).duplicated().to_numpy()
    )
    if again.any():
        pos = int(np.flatnonzero(again)[0])
        raise DataError(
            f"several bars on one day ({idx[pos]} and an earlier one): intraday data; btlstm "
            "reads daily bars only",
            src,
            column,
            idx[pos],
        )
    return pd.DatetimeIndex(day, name="date"), True


def _order_rows(df: pd.DataFrame, order: str, src, where, check: bool) -> tuple[pd.DataFrame, str]:
    """Apply the ``order`` rule to one symbol's rows; returns the frame and a note."""
    idx = df.index
    if len(idx) < 2:
        return df, ""
    if order == "sort":
        if idx.is_monotonic_increasing:
            return df, ""
        pos = np.argsort(idx.to_numpy(), kind="stable")
        out = df.iloc[pos]
        out.attrs = dict(df.attrs)
        return out, "rows sorted by date"
    asc, desc = idx.is_monotonic_increasing, idx.is_monotonic_decreasing
    if order in ("auto", "ascending") and asc:
        return df, ""
    if order in ("auto", "descending") and desc and (order == "descending" or idx.is_unique):
        out = df.iloc[::-1]
        out.attrs = dict(df.attrs)
        return out, "rows reversed: the file lists the newest day first"
    if not check:
        return df, ""
    # name the first row that breaks the declared order (auto: the order the file mostly has)
    steps = np.diff(idx.to_numpy()).astype("int64")
    if order == "auto":
        newest_first = (steps < 0).sum() > (steps > 0).sum()
        way = "newest first" if newest_first else "oldest first"
        said = f"the file lists dates {way}, but"
    else:
        newest_first = order == "descending"
        said = f"{where('order')} = {order!r}, but"
    bad = steps > 0 if newest_first else steps < 0
    if not bad.any():  # equal neighbours: duplicates, validation names them
        return df, ""
    pos = int(np.flatnonzero(bad)[0]) + 1
    raise DataError(
        f"rows are out of order: {said} {idx[pos].date()} follows {idx[pos - 1].date()} "
        f"({int(bad.sum())} such row(s)); fix the file or set {where('order')} = 'sort' to "
        "sort the rows by date",
        src,
        "date",
        idx[pos],
    )


def _clean_symbols(values: pd.Series) -> np.ndarray:
    """Symbols as text, trimmed, without the leading ``'`` spreadsheets write
    (NetEase's ``'000300``); missing stays missing. Works on the distinct values."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    clean = np.array([str(u).strip().lstrip("'") for u in uniques] + [None], dtype=object)
    return clean[codes]  # code -1 (missing) takes the trailing None


def build_frames(
    raw: pd.DataFrame,
    r: Resolved,
    src: str,
    symbol=None,
    symbols=None,
    start=None,
    end=None,
    validate: bool = True,
    repair: str = "raise",
    where=None,
    first_line: int = 2,
    what: str = "line",
    extra_attrs: dict | None = None,
):
    """Canonical frame(s) from parsed columns (a file's or a DataFrame's).

    The one place where a map becomes data: dates parsed (``date_format``),
    daily-bar check, symbols cleaned (a leading ``'`` as in NetEase's ``'000300``
    is dropped), rows kept by symbol and date, numbers checked, units
    multiplied, amount derived where absent, extras renamed, the row order
    applied per symbol, provenance recorded, then validation (or repair).

    Args:
        raw: the columns ``r.used()`` (text or numbers).
        r: the resolved map.
        src: the file (or ``DataFrame``) for messages and ``attrs["source"]``.
        symbol: the symbol of a one-symbol file (``attrs["symbol"]``).
        symbols: symbols to keep from a long file (default: all).
        start: first date kept (inclusive).
        end: last date kept (inclusive).
        validate: validate the frames.
        repair: ``"raise"`` or ``"drop"`` (see :func:`btlstm.data.readers.read_yahoo_csv`).
        where: ``where(key)`` names a map key in messages.
        first_line: the file line of ``raw``'s first row (messages).
        what: how rows are named in messages (``"line"``; ``"position"`` for DataFrames).
        extra_attrs: more provenance for ``frame.attrs`` (``encoding``).

    Returns:
        A canonical frame, or ``{symbol: frame}`` for a long map.
    """

    where = where or _default_where
    _check_repair(repair)
    cols = r.columns
    n = len(raw)
    dcol = cols["date"]
    dvals = raw[dcol]
    if pd.api.types.is_datetime64_any_dtype(dvals.dtype):
        idx = pd.DatetimeIndex(dvals, name="date")
        if idx.tz is not None:
            idx = idx.tz_localize(None)
        if idx.hasnans:
            pos = int(np.flatnonzero(idx.isna())[0])
            raise DataError("missing date (NaT)", src, dcol, f"{what} {pos + first_line}")
    else:
        idx = _dates(dvals.to_numpy(), src, dcol, r.date_format, where, first_line, what)
    keys = all_keys = None
    if r.long:
        scol = cols["symbol"]
        keys = all_keys = _clean_symbols(raw[scol])
        blank = pd.isna(keys)
        if blank.any():
            pos = int(np.flatnonzero(blank)[0])
            raise DataError("missing symbol", src, scol, f"{what} {pos + first_line}")
    idx, stamped = _daily(idx, keys, src, dcol)
    wanted = _wanted(symbols, "symbols")
    if wanted is not None and not r.long:
        raise ValueError(f"symbols is only used with panel files, got {symbols!r}")
    keep = np.ones(n, dtype=bool)
    if wanted is not None:
        keep &= np.isin(keys, np.asarray(wanted, dtype=object))
    in_range = _date_mask(idx, start, end)
    if in_range is not None:
        keep &= in_range
    numeric = [c for f, c in cols.items() if c is not None and f not in ("date", "symbol")]
    numeric += [c for c in r.extras if c not in numeric]
    sub = raw[list(dict.fromkeys(numeric))]  # copy-on-write: raw is left as it is
    sub.index = idx
    if r.thousands:  # the text path (a cell the float parse refused): drop the marks first
        for c in sub.columns:
            if not pd.api.types.is_numeric_dtype(sub[c]):
                text = sub[c].astype(str).str.replace(r.thousands, "", regex=False)
                sub[c] = sub[c].astype(object).where(sub[c].isna(), text)
    if r.decimal == ",":
        for c in sub.columns:
            if not pd.api.types.is_numeric_dtype(sub[c]):
                sub[c] = (
                    sub[c]
                    .astype(object)
                    .where(sub[c].isna(), sub[c].astype(str).str.replace(",", ".", regex=False))
                )
    if r.missing:
        for c in sub.columns:
            if not pd.api.types.is_numeric_dtype(sub[c]):
                sub[c] = sub[c].where(~sub[c].isin(list(r.missing)))
    try:
        _numeric(sub, [c for c in sub.columns if sub[c].dtype != np.float64], src, idx, where)
    except DataError as e:  # name the canonical column, and the file's own name
        names = {c: f for f, c in cols.items() if c is not None}
        names.update(r.extras)
        canon = names.get(e.column, e.column)
        if canon == e.column:
            raise
        raise DataError(f"{e.problem} (file column {e.column!r})", src, canon, e.row) from None
    if not keep.all():
        sub = sub.loc[keep]
        idx = sub.index
        if keys is not None:
            keys = keys[keep]
    data = {}
    for f in ("open", "high", "low", "close"):
        data[f] = sub[cols[f]].to_numpy()
    if cols["volume"] is None:
        data["volume"] = np.zeros(len(sub))
    else:
        v = sub[cols["volume"]].to_numpy()
        data["volume"] = v * r.volume_multiplier if r.volume_multiplier != 1 else v
    if cols["amount"] is None:
        data["amount"] = data["close"] * data["volume"]
    else:
        a = sub[cols["amount"]].to_numpy()
        data["amount"] = a * r.amount_multiplier if r.amount_multiplier != 1 else a
    if cols["adj_close"] is not None:
        data["adj_close"] = sub[cols["adj_close"]].to_numpy()
    for c, new in r.extras.items():
        data[new] = sub[c].to_numpy()
    df = pd.DataFrame(data, index=pd.DatetimeIndex(idx, name="date"))
    for flag in r.flag_columns:
        if flag in df.columns and not df[flag].isna().any():
            df[flag] = df[flag].astype("int8")
    notes = r.conversions()
    if stamped:
        notes.append("dates stamped at a time of day: moved to their day")
    base = {"layout": r.preset, **(extra_attrs or {})}

    def finish_attrs(f, source, sym, note):
        consts = {}
        for c in r.constant_columns:
            if c in f.columns:
                vals = pd.unique(f[c].dropna())
                f = f.drop(columns=[c])
                if len(vals):
                    consts[c] = _plain(vals[0]) if len(vals) == 1 else [_plain(v) for v in vals]
        f.attrs = {
            "source": source,
            "symbol": sym,
            "amount_derived": cols["amount"] is None,
            "synthetic": False,
            **base,
            "conversions": tuple(notes + ([note] if note else [])),
            **consts,
        }
        return f

    if not r.long:
        df, note = _order_rows(df, r.order, src, where, validate)
        df = finish_attrs(df, src, symbol, note)
        return _finish(df, validate, repair, where=where)
    frames = _split_long(df, keys.astype(str), src, wanted, cols["symbol"], all_keys)
    for key, f in list(frames.items()):
        source = f"{src}[{key}]"
        f, note = _order_rows(f, r.order, source, where, validate)
        frames[key] = finish_attrs(f, source, key, note)
    return _finish_panel(frames, src, validate, repair, where)


def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)) and float(v).is_integer():
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v
