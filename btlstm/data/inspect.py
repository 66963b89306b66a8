"""``btlstm data inspect FILE``: what a CSV file holds and the ``[data]`` block that reads it.

:func:`inspect_file` reads the head of any CSV or CSV.gz file, finds its
encoding, separator and decimal mark, the preset (or the generic map) and so
the column each canonical field comes from, then reads the whole file once,
without validation, to report the row order, the date range and obvious
defects (NaN, non-positive prices, high < low, duplicate dates, rows out of
order, volume 0, dates in the future). Its :attr:`Inspection.toml` is a
``[data]`` TOML block that states the whole map; ``btlstm run --config`` and
``btlstm data summary --config`` accept it, and it loads the same frames as
the preset.

Example:
    >>> ins = inspect_file("backtrader_datas/daily-KO.csv")
    >>> ins.layout, ins.columns["adj_close"], ins.first, ins.order
    ('yahoo', 'Adj Close', '1997-01-02', 'ascending')
    >>> [line for line in ins.toml.splitlines() if line.startswith(("encoding", "extras"))]
    ['encoding = "utf-8"', 'extras = {}']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btlstm.data._csv import _as_path, _dates, _default_where, _stem, date_formats
from btlstm.data.columnmap import (
    COLUMN_KEYS,
    FIELDS,
    MAP_KEYS,
    ColumnMap,
    Resolved,
    _clean_symbols,
    as_map,
    build_frames,
)
from btlstm.data.presets import PRESETS
from btlstm.data.readers import _read_table, open_mapped
from btlstm.data.validate import DataError, repair_frame

__all__ = ["Inspection", "inspect_file", "toml_block", "toml_string"]

_ORDER_WORDS = {
    "ascending": "oldest first",
    "descending": "newest first: the rows are reversed when read",
}


@dataclass
class Inspection:
    """What :func:`inspect_file` found.

    Attributes:
        path: the file.
        size: its size in bytes.
        encoding: the text encoding (``utf-8-sig`` = UTF-8 with a byte-order mark).
        encoding_detected: True when detected, False when the map named it.
        separator: the field separator; ``decimal``: the decimal mark.
        header: the header fields.
        layout: the preset (``generic``: columns found by name), or None.
        columns: ``{field: file column or None}``.
        resolved: the :class:`~btlstm.data.columnmap.Resolved` map.
        date_format: the format of the dates (given, or the one that fits).
        rows: data rows; ``symbols``: the symbols of a long file.
        order: ``ascending``, ``descending`` (newest first) or ``mixed``.
        order_note: the row order in words.
        first, last: the date range.
        defects: obvious defects in words (empty: none found).
        error: why the file cannot be read with this map (None: it can).
        toml: a ``[data]`` TOML block that reads the file.
    """

    path: str
    size: int
    encoding: str | None = None
    encoding_detected: bool = True
    separator: str = ","
    decimal: str = "."
    header: list = field(default_factory=list)
    layout: str | None = None
    columns: dict = field(default_factory=dict)
    resolved: Resolved | None = None
    date_format: str | None = None
    rows: int = 0
    symbols: list = field(default_factory=list)
    order: str | None = None
    order_note: str = ""
    first: str | None = None
    last: str | None = None
    defects: list = field(default_factory=list)
    error: str | None = None
    toml: str = ""

    def report(self) -> str:
        """The inspection in words, then the TOML block."""
        shown = self.path if self.path.isprintable() else toml_string(self.path)
        lines = [f"file        {shown} ({self.size:,} bytes)"]
        if self.encoding:
            how = "detected" if self.encoding_detected else "as given"
            bom = ", UTF-8 with a byte-order mark" if self.encoding == "utf-8-sig" else ""
            lines.append(f"encoding    {self.encoding} ({how}{bom})")
            sep = "'\\t' (tab)" if self.separator == "\t" else repr(self.separator)
            lines.append(
                f"separator   {sep}   decimal mark {self.decimal!r}   "
                f"header: {len(self.header)} columns"
            )
        if self.layout:
            lines.append(f"layout      {self.layout}: {PRESETS[self.layout].title}")
        if self.resolved is not None:
            r = self.resolved
            first = True
            for f in FIELDS:
                col = self.columns.get(f)
                head = "columns     " if first else " " * 12
                first = False
                if col is None:
                    what = {"amount": "none (amount = close x volume)",
                            "volume": "none (volume 0)", "symbol": "none (one symbol)"}.get(
                        f, "none")  # fmt: skip
                    lines.append(f"{head}{f:<10} -  {what}")
                    continue
                extra = ""
                if f == "date":
                    extra = f" ({self.date_format or 'ISO 8601'})"
                elif f == "volume" and r.volume_multiplier != 1:
                    extra = f" x {r.volume_multiplier:g}"
                elif f == "amount" and r.amount_multiplier != 1:
                    extra = f" x {r.amount_multiplier:g}"
                elif f == "symbol":
                    shown = ", ".join(self.symbols[:5]) + (" ..." if len(self.symbols) > 5 else "")
                    extra = f" ({len(self.symbols)} symbol(s): {shown})"
                lines.append(f"{head}{f:<10} <- {col!r}{extra}")
            if r.extras:
                kept = ", ".join(f"{c!r} -> {n}" for c, n in r.extras.items())
                lines.append(f"            extras     {kept}")
            if r.dropped:
                lines.append(f"            not read   {', '.join(repr(c) for c in r.dropped)}")
        if self.first:
            lines.append(f"row order   {self.order_note}")
            lines.append(f"dates       {self.first} .. {self.last}, {self.rows:,} rows")
        if self.first or self.defects:
            lines.append(f"defects     {self.defects[0] if self.defects else 'none found'}")
            lines += [f"            {d}" for d in self.defects[1:]]
        if self.error:
            lines.append(f"problem     {self.error}")
        return "\n".join(lines) + "\n\n" + self.toml


_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
          "\r": "\\r"}  # fmt: skip


def toml_string(text: str) -> str:
    r"""``text`` as a TOML basic string (``"..."``) that holds nothing but text.

    Quotes and backslashes are escaped, and so is every character that is not
    printable (control characters, DEL, line and paragraph separators, ...): the
    result is one line with no raw control character, so it is safe in a value
    *and* in a comment, and a TOML reader gives back exactly ``text``.

    Raises:
        ValueError: ``text`` holds a lone surrogate (a file name that is not valid
            UTF-8): TOML cannot write it.

    Example:
        >>> print(toml_string('a "b"\nmodule = 1 # ]'))
        "a \"b\"\nmodule = 1 # ]"
    """
    out = []
    for c in str(text):
        if c in _SHORT:
            out.append(_SHORT[c])
        elif 0xD800 <= ord(c) <= 0xDFFF:
            raise ValueError(f"{text!r} is not valid UTF-8 text (TOML cannot write it)")
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04X}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08X}")
    return '"' + "".join(out) + '"'


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        items = ", ".join(f"{_toml_value(str(k))} = {_toml_value(x)}" for k, x in v.items())
        return "{" + items + "}"
    raise TypeError(f"no TOML form for {v!r}")


def toml_block(cmap: ColumnMap, data: str, comments=()) -> str:
    """A ``[data]`` TOML block: ``data = ...`` then every key the map sets.

    Everything is escaped (:func:`toml_string`): a value from the file (its name,
    its column names) is one TOML string, and ``comments`` name the file only as a
    TOML string too, so no file name or header can add a line or a key.

    Example:
        >>> print(toml_block(ColumnMap(date_column="日期", volume_multiplier=100.0), "x.csv"))
        [data]
        data = "x.csv"
        date_column = "日期"
        volume_multiplier = 100.0
        <BLANKLINE>
    """
    lines = [f"# {c}" for c in comments]
    lines += ["[data]", f"data = {_toml_value(os.fspath(data))}"]
    for k in MAP_KEYS:
        v = getattr(cmap, k)
        if v is None or (k in ("missing", "flag_columns", "constant_columns") and not v):
            continue
        if k == "header" and v is True:
            continue
        lines.append(f"{k} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


def _order(idx: pd.DatetimeIndex, keys) -> tuple[str, str, int]:
    """(order key, words, rows out of order) over each symbol's rows in file order."""
    values = idx.to_numpy()
    if keys is None:
        k = np.zeros(len(values), dtype=np.int8)
    else:
        k = pd.factorize(keys)[0]
    pos = np.argsort(k, kind="stable")
    k, d = k[pos], values[pos]
    same = k[1:] == k[:-1]
    step = np.diff(d).astype("int64")
    up = same & (step < 0)  # breaks oldest-first
    down = same & (step > 0)  # breaks newest-first
    not_asc = set(k[1:][up])
    not_desc = set(k[1:][down])
    mixed = not_asc & not_desc
    if mixed:
        n = int(sum(min(up[k[1:] == s].sum(), down[k[1:] == s].sum()) for s in mixed))
        return "mixed", f"out of order: {n} row(s) break the file's order", n
    if not not_asc:
        return "ascending", _ORDER_WORDS["ascending"], 0
    if not not_desc:
        return "descending", _ORDER_WORDS["descending"], 0
    return "auto", "some symbols oldest first, others newest first (each is read oldest first)", 0


def _defects(frames: dict) -> list:
    """Obvious defects of unvalidated frames, one line each (counts and a first example)."""
    found: dict = {}

    def note(kind, n, example):
        if n:
            total, ex = found.get(kind, (0, example))
            found[kind] = (total + n, ex)

    today = pd.Timestamp.today().normalize() + pd.Timedelta(days=1)
    zero_all = []
    for sym, f in frames.items():
        tag = f" [{sym}]" if sym is not None and len(frames) > 1 else ""
        dup = f.index.duplicated()
        if dup.any():
            note("duplicate dates", int(dup.sum()), f"{f.index[dup][0].date()}{tag}")
        _, rep = repair_frame(f.loc[~dup] if dup.any() else f)
        for day, col, why in rep.dropped:
            note(f"{why} ({col})" if why == "NaN" else why, 1, f"{pd.Timestamp(day).date()}{tag}")
        vol = f["volume"].to_numpy()
        zeros = int((vol == 0).sum())
        if zeros and zeros == len(vol):
            zero_all.append(sym)
        else:
            note("volume 0", zeros, f"{f.index[vol == 0][0].date()}{tag}" if zeros else "")
        late = f.index > today
        note(
            "dates after today",
            int(late.sum()),
            f"{f.index[late][0].date()}{tag}" if late.any() else "",
        )
    out = [f"{n} row(s) with {kind}, first {ex}" for kind, (n, ex) in found.items()]
    if zero_all:
        who = "" if zero_all == [None] else f" ({len(zero_all)} symbol(s))"
        out.append(f"volume is 0 on every row{who}: volume and amount carry no information")
    return out


def _template(header, comments) -> str:
    lines = [f"# {c}" for c in comments] + ["# [data]"]
    names = "[" + ", ".join(toml_string(h) for h in header[:12]) + "]"
    for f in FIELDS:
        lines.append(f'# {COLUMN_KEYS[f]} = "?"   # one of {names}')
    return "\n".join(lines) + "\n"


def inspect_file(path, data_map=None, where=None) -> Inspection:
    """Inspect a CSV file (``.gz`` fine) and state the ``[data]`` map that reads it.

    Args:
        path: the file.
        data_map: a column map to try (a :class:`~btlstm.data.columnmap.ColumnMap`,
            a dict of ``[data]`` keys, a preset name) over the sniffed preset.
        where: ``where(key)`` names a map key in messages.

    Returns:
        An :class:`Inspection`; when the map does not fit, ``error`` says why and
        ``toml`` is a commented template to fill in.

    Raises:
        DataError: the file is missing or not a text CSV file.
    """
    where = where or _default_where
    p = _as_path(path)
    src = str(p)
    ins = Inspection(path=src, size=p.stat().st_size)
    try:  # the name as a TOML string: it goes into comments and values, never raw
        name = toml_string(p.name)
        toml_string(os.path.abspath(src))
    except ValueError:
        raise DataError(
            "the file name is not valid UTF-8, so no TOML file can name it: rename the file",
            os.fsencode(src).decode("utf-8", "backslashreplace"),  # printable, as bytes
        ) from None
    cmap = as_map(data_map, where)
    try:
        head, r = open_mapped(p, cmap, where)
    except DataError as e:
        from btlstm.data._csv import read_head

        head = read_head(p)  # encoding and separator, at least
        ins.encoding, ins.separator, ins.header = head.encoding, head.separator, head.header
        ins.error = e.problem
        ins.toml = _template(ins.header, [f"no map reads {name} yet: name its columns"])
        return ins
    ins.encoding, ins.encoding_detected = head.encoding, cmap.encoding is None
    ins.separator, ins.decimal, ins.header = r.separator, r.decimal, list(r.header)
    ins.layout, ins.resolved, ins.columns = r.preset, r, dict(r.columns)
    try:
        raw = _read_table(p, head, r, where)
        dcol = r.columns["date"]
        idx = _dates(raw[dcol].to_numpy(), src, dcol, r.date_format, where)
        keys = _clean_symbols(raw[r.columns["symbol"]]) if r.long else None
        order, words, _ = _order(idx, keys)
        frames = build_frames(raw, r, src, symbol=None if r.long else _stem(p),
                              validate=False, where=where,
                              extra_attrs={"encoding": head.encoding})  # fmt: skip
    except DataError as e:
        ins.error = str(e)
        if "more fields than the header" in e.problem:  # a defect of the rows, not the map
            ins.defects = [e.problem.split(" (extra fields", 1)[0]]
        ins.toml = toml_block(r.to_map(), src, [f"{name}: reading failed; see the problem"])
        return ins
    frames = frames if isinstance(frames, dict) else {None: frames}
    found = date_formats(raw[dcol].dropna().iloc[:200])
    ins.date_format = r.date_format or (found[0] if len(found) == 1 else None)
    ins.rows = len(raw)
    ins.symbols = [s for s in frames if s is not None]
    ins.order, ins.order_note = order, words
    if len(idx):
        ins.first, ins.last = str(idx.min().date()), str(idx.max().date())
    ins.defects = _defects(frames)
    if order == "mixed":
        ins.defects.insert(0, f"rows {words}: order = 'sort' sorts them by date (check the file)")
    m = r.to_map()
    m.date_format = ins.date_format
    m.order = {"mixed": "sort"}.get(order, order)
    preset = PRESETS[r.preset]
    ins.toml = toml_block(
        m,
        os.path.abspath(src),
        [
            f"{name}: {preset.name} layout ({preset.title})",
            "btlstm run hold --config THIS_FILE, btlstm data summary --config THIS_FILE",
        ],
    )
    return ins
