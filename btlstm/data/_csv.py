"""The bottom of the data layer: reading CSV text safely, parsing dates and numbers,
and finishing frames (date range, validation, repair). Private: the readers
(:mod:`btlstm.data.columnmap`, :mod:`btlstm.data.readers`) build on it.

Every problem becomes a :class:`~btlstm.data.validate.DataError` naming the
file, and where it can, the column and the row.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import logging
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm._files import file_kind, scan_binary
from btlstm.checks import LIMITS, close_names, size_text
from btlstm.convert import parse_date
from btlstm.data.validate import CANONICAL_COLUMNS, DataError, repair_frame, validate_frame

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


# --------------------------------------------------------------------------- helpers
def _as_path(path) -> Path:
    p = Path(os.fspath(path)).expanduser()
    kind = file_kind(p)
    if kind == "missing":
        raise DataError("file not found", str(p))
    if kind == "a folder":
        raise DataError("expected a CSV file, got a directory", str(p))
    if kind != "a regular file":  # a FIFO would block, a device never ends
        raise DataError(f"expected a CSV file, got {kind} (only regular files are read)", str(p))
    return p


def check_body(p: Path, encoding: str | None = None, fields: Fields | None = None,
               where=None) -> None:  # fmt: skip
    """Scan a data file's whole body (after gunzip) before pandas reads it: at most
    ``LIMITS["data_bytes"]`` bytes (2 GiB), and no NUL byte (binary content, which a
    text CSV never holds: a NUL run after a valid header would grow without bound
    in the parser). UTF-16/32 text holds NUL bytes by design and is only size-checked.

    With ``fields`` (:class:`Fields`) the same pass also counts the fields of every
    row (a row with more fields than the header is refused: pandas would drop the
    extra fields silently, reading ``5,818,000`` as 5) and checks the memory the
    rows will need, as the text streams in: a gzip bomb is refused after the part
    that already needs more memory than the process may use, before it is inflated.

    Raises:
        DataError: naming the file, the row (line) and the byte offset, or the limit.
    """
    limit = LIMITS["data_bytes"][0]
    wide = _wide(encoding)
    opener = gzip.open if _compression(p) == "gzip" else open
    counter = _FieldCounter(p, fields, encoding, where) if fields is not None else None
    try:
        with opener(p, "rb") as fh:
            if counter is not None:
                found = counter.scan(fh, limit)
            elif wide:
                found = ("size", None, limit) if len(fh.read(limit + 1)) > limit else None
            else:
                found = scan_binary(fh, limit)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot parse the CSV file ({type(e).__name__}: {e})", str(p)) from None
    if found is None:
        return
    kind, line, offset = found
    if kind == "size":
        raise DataError(
            f"the data are larger than {size_text(limit)} (the limit, "
            "btlstm.checks.LIMITS['data_bytes']): not a daily-bar CSV file btlstm reads",
            str(p),
        )
    raise _binary(p, line, offset)


@dataclass
class Fields:
    """What :func:`check_body` checks each row against.

    Attributes:
        separator: the field separator.
        width: the fields of the header (or of the first line of a file without one).
        header_line: the first line is a header.
        row_bytes: the memory one row needs once read (an estimate, bytes).
    """

    separator: str
    width: int
    header_line: bool = True
    row_bytes: float = 0.0


def more_fields(p, line: int, n: int, width: int, text: str, header_line=True, where=None):
    """The DataError of a row with more fields than the header: the file, the line,
    both counts, the row, and the likely causes (thousands separators, decimal commas)."""
    where = where or _default_where
    shown = text.strip()
    shown = repr(shown[:80] + "..." if len(shown) > 80 else shown)
    row = f"line {line} (data row {line - 1})" if header_line else f"line {line}"
    what = "the header's" if header_line else "the first line's"
    return DataError(
        f"rows have more fields than the header: {row} has {n} fields, more than {what} "
        f"{width}: {shown} (extra fields are never dropped silently). Thousands separators "
        f"(5,818,000)? quote such numbers and name the mark with {where('thousands')} ','; "
        f"decimal commas (3,25)? {where('decimal')} ',' with a ';' separator; an intraday "
        "file with a separate time field is not a daily-bar file",
        str(p),
    )


#: codecs whose bytes below 0x80 are ASCII: separators can be counted on the bytes.
_ASCII_SAFE = ("utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859", "cp125", "mac-roman")


def memory_room() -> int:
    """Bytes this process may still allocate: :func:`btlstm.checks.memory_budget`, less
    the address space already mapped when a ``ulimit -v`` limit is what binds."""
    from btlstm.checks import memory_budget

    room = memory_budget()
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY and room >= soft:
            with open("/proc/self/status", "rb") as fh:
                for line in fh.read(1 << 16).decode("ascii", "replace").splitlines():
                    if line.startswith("VmSize:"):
                        room = soft - int(line.split()[1]) * 1024
    except (ImportError, ValueError, OSError, IndexError):
        pass
    return max(int(room), 0)


class _FieldCounter:
    """The body scan of :func:`check_body` with ``fields``: NUL bytes, the size cap, the
    fields of every row and the memory the rows need, one pass over 1 MiB blocks.

    Unquoted blocks are counted on the bytes with numpy; once a quote character is
    seen the rest is read with :mod:`csv` (quoted fields may hold the separator).
    """

    def __init__(self, p: Path, fields: Fields, encoding, where):
        self.p, self.f, self.where = p, fields, where or _default_where
        name = codecs.lookup(encoding or "utf-8").name
        self.wide = _wide(name)
        self.transcode = self.wide or (
            fields.separator == "|" and not name.startswith(_ASCII_SAFE)
        )  # GBK, Big5, Shift-JIS trail bytes may be 0x7C
        self.decoder = codecs.getincrementaldecoder(encoding or "utf-8")("replace")
        self.sep = fields.separator.encode("ascii", "replace")[:1]
        self.room = memory_room()
        self.quoted = False

    def scan(self, fh, limit: int, chunk: int = 1 << 20):
        line, offset, carry, eol = 1, 0, b"", None
        while True:
            block = fh.read(chunk)
            if not self.wide:
                at = block.find(b"\x00")
                if at >= 0:
                    return ("nul", line + (carry + block[:at]).count(eol or b"\n"), offset + at)
            offset += len(block)
            if offset > limit:
                return ("size", None, limit)
            if self.transcode:
                block = self.decoder.decode(block, final=not block).encode("utf-8")
            if eol is None:
                eol = b"\n" if b"\n" in block or b"\r" not in block else b"\r"
            data = carry + block
            cut = data.rfind(eol) + 1 if block else len(data)
            lines, carry = data[:cut], data[cut:]
            if lines:
                self._rows(lines, line, eol)
                line += lines.count(eol) + (not block and not lines.endswith(eol))
                self._memory(line - 1 - self.f.header_line, offset)
            if not block:
                return None

    def _rows(self, lines: bytes, first: int, eol: bytes) -> None:
        """Check the complete ``lines`` (``first``: the file line of the first one)."""
        width = self.f.width
        if self.quoted or b'"' in lines:
            self.quoted = True
            text = lines.decode("latin-1").split(eol.decode())
            for k, row in enumerate(csv.reader(text, delimiter=self.f.separator)):
                closed = len(row) == width + 1 and row[-1] == ""  # ``a,b,c,``: nothing lost
                if len(row) > width and not closed and first + k > 1:
                    self._refuse(first + k, len(row), text[k])
            return
        b = np.frombuffer(lines, dtype=np.uint8)
        ends = np.flatnonzero(b == eol[0])
        starts = np.concatenate([[0], ends + 1])
        stops = np.concatenate([ends, [len(b)]])
        seps = np.flatnonzero(b == self.sep[0])
        n = np.searchsorted(seps, stops) - np.searchsorted(seps, starts) + 1
        # a separator closing the line (``a,b,c,``) adds one empty field: nothing is lost
        last = np.maximum(stops - 1, 0)
        last = np.where((b[last] == 13) & (stops - 1 > starts), np.maximum(stops - 2, 0), last)
        closed = (b[last] == self.sep[0]) & (stops > starts)
        bad = np.flatnonzero((n > width + 1) | ((n == width + 1) & ~closed))
        bad = bad[first + bad > 1]  # the header itself defines the width
        if len(bad):
            k = int(bad[0])
            self._refuse(first + k, int(n[k]), lines[starts[k] : stops[k]].decode("latin-1"))

    def _refuse(self, line: int, n: int, text: str) -> None:
        raise more_fields(self.p, line, n, self.f.width, text, self.f.header_line, self.where)

    def _memory(self, rows: int, size: int) -> None:
        need = rows * self.f.row_bytes
        if need > self.room:
            raise DataError(
                f"the file holds more than {rows:,} rows ({size_text(size)} of text read so "
                f"far{', inflated from gzip' if _compression(self.p) else ''}): reading them "
                f"needs about {size_text(need)} of memory (estimate), more than the "
                f"{size_text(self.room)} this process may use (available memory, ulimit -v)",
                str(self.p),
            )


_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")  # UTF-16/32 text: NUL bytes by design


def _wide(encoding) -> bool:
    return (encoding or "").lower().replace("_", "-").startswith(("utf-16", "utf-32"))


def _binary(p: Path, line: int, offset: int) -> DataError:
    """The DataError of a NUL byte at 1-based ``line``, byte ``offset`` of file ``p``."""
    where = f"data row {line - 1} (line {line}" if line > 1 else "the header (line 1"
    return DataError(
        f"binary content in {where}, byte {offset:,}: a NUL byte): not a text CSV file "
        "(a damaged or truncated copy? an export that was not saved as CSV?)",
        str(p),
    )


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


#: the encodings tried, in order, when a file does not name one ([data] encoding):
#: UTF-8 (a byte-order mark is read as ``utf-8-sig``), then the Chinese GBK and
#: its superset GB18030 (NetEase 163, many Windows exports).
DETECTED_ENCODINGS = ("utf-8", "gbk", "gb18030")
#: field separators recognised in a header line, most likely first.
SEPARATORS = (",", ";", "\t", "|")


@dataclass
class Head:
    """The first bytes of a (possibly gzipped) CSV file, decoded.

    Attributes:
        path: the file.
        compression: ``"gzip"`` or None.
        encoding: the encoding the text was decoded with (given or detected).
        detected: True when ``encoding`` was detected rather than given.
        separator: the field separator of the header line.
        lines: the complete lines of the head (the header first).
        complete: True when the head is the whole file.
    """

    path: Path
    compression: str | None
    encoding: str
    detected: bool
    separator: str
    lines: list
    complete: bool

    @property
    def header(self) -> list[str]:
        """The header fields, stripped of whitespace."""
        return [h.strip() for h in self.lines[0].split(self.separator)]

    def rows(self, n: int = 50) -> list[list[str]]:
        """The first ``n`` data lines of the head, split on the separator."""
        out = []
        for line in self.lines[1 : n + 1]:
            if line.strip():
                out.append([f.strip() for f in line.split(self.separator)])
        return out


def detect_encoding(data: bytes) -> str | None:
    """The encoding of ``data`` (a file's first bytes): ``utf-8-sig`` with a UTF-8
    byte-order mark, else the first of :data:`DETECTED_ENCODINGS` that decodes
    it, else None. A multi-byte character cut at the end is not an error."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for enc in DETECTED_ENCODINGS:
        try:
            codecs.getincrementaldecoder(enc)().decode(data, final=False)
        except UnicodeDecodeError:
            continue
        return enc
    return None


def detect_separator(line: str) -> str:
    """The separator of a header line: the one of :data:`SEPARATORS` that splits it
    into the most fields (``,`` when none does)."""
    counts = [(line.count(sep), -i, sep) for i, sep in enumerate(SEPARATORS)]
    best = max(counts)
    return best[2] if best[0] > 0 else ","


def read_head(path, encoding: str | None = None, separator: str | None = None, where=None) -> Head:
    """Read and decode the first :data:`MAX_HEADER_BYTES` bytes (64 KiB) of a CSV file.

    Only this bounded prefix is read, so an absurd file (one 50 MB line,
    100,000 columns) is refused in milliseconds instead of being parsed.

    Args:
        path: the file (gzip data is recognised from its magic bytes).
        encoding: a Python codec name; None detects it (:func:`detect_encoding`).
        separator: the field separator; None detects it (:func:`detect_separator`).
        where: ``where(key)`` names a setting in messages (default ``[data] key``).

    Returns:
        A :class:`Head`.

    Raises:
        DataError: naming the file when it is missing, empty, not text, a
            broken gzip, in an encoding that fails (naming the ``encoding``
            key and the encoding that works), or its header line is longer
            than :data:`MAX_HEADER_BYTES` or has more than
            :data:`MAX_HEADER_COLUMNS` columns (the message names the limit).
    """
    where = where or _default_where
    p = _as_path(path)
    compression = _compression(p)
    try:
        opener = gzip.open if compression == "gzip" else open
        with opener(p, "rb") as fh:
            prefix = fh.read(MAX_HEADER_BYTES + 1)
            complete = len(prefix) <= MAX_HEADER_BYTES
    except _READ_ERRORS as e:
        raise DataError(f"cannot read the file ({type(e).__name__}: {e})", str(p)) from e
    nul = prefix.find(b"\x00")
    if nul >= 0 and not _wide(encoding) and not prefix.startswith(_WIDE_BOMS):
        raise _binary(p, prefix.count(b"\n", 0, nul) + 1, nul)  # before any line is parsed
    ends = [i for i in (prefix.find(b"\n"), prefix.find(b"\r")) if i >= 0]
    end = min(ends) if ends else len(prefix)
    if end > MAX_HEADER_BYTES:
        raise DataError(
            f"the header line is longer than {MAX_HEADER_BYTES} bytes (the limit, "
            "btlstm.data.readers.MAX_HEADER_BYTES; no line end in the first "
            f"{MAX_HEADER_BYTES // 1024} KiB): not a daily-bar CSV file btlstm reads",
            str(p),
        )
    if b"\x00" in prefix[:end]:
        raise DataError("the file is not a text CSV file (binary data)", str(p))
    if not complete:  # keep whole lines only
        cut = max(prefix.rfind(b"\n"), prefix.rfind(b"\r"))
        prefix = prefix[: cut + 1]
    detected = encoding is None
    if detected:
        encoding = detect_encoding(prefix)
        if encoding is None:
            raise DataError(
                "cannot tell the text encoding (not UTF-8, GBK or GB18030); name it with "
                f"{where('encoding')} (e.g. 'latin-1', 'cp1252', 'big5', 'shift_jis')",
                str(p),
            )
    else:
        encoding = check_encoding(encoding, where)
        if encoding == "utf-8" and prefix.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"  # the mark is not part of the first column's name
    try:
        text = prefix.decode(encoding)
    except UnicodeDecodeError as e:
        raise encoding_error(p, encoding, e, prefix, where) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise DataError("the file is empty (no header line)", str(p))
    sep = detect_separator(lines[0]) if separator is None else separator
    n_columns = lines[0].count(sep) + 1
    if n_columns > MAX_HEADER_COLUMNS:
        raise DataError(
            f"the header has {n_columns} columns, more than {MAX_HEADER_COLUMNS} (the limit, "
            "btlstm.data.readers.MAX_HEADER_COLUMNS): not a daily-bar CSV file btlstm reads "
            f"(first columns: {_show_header(lines[0].split(sep, 8)[:8])})",
            str(p),
        )
    return Head(p, compression, encoding, detected, sep, lines, complete)


def read_header(path, separator: str = ",", encoding: str | None = None) -> list[str]:
    """Return the column names on the first line of a (possibly gzipped) CSV file.

    Reads the first 64 KiB only (:func:`read_head`): an absurd file is refused
    in milliseconds.

    Args:
        path: the file.
        separator: the field separator.
        encoding: the text encoding (default: detected; a UTF-8 byte-order mark is dropped).

    Returns:
        The header fields, stripped of whitespace.

    Raises:
        DataError: naming the file (see :func:`read_head`).

    Example:
        >>> read_header("backtrader_datas/orcl-1995-2014.txt")[:3]
        ['Date', 'Open', 'High']
    """
    return read_head(path, encoding=encoding, separator=separator).header


#: encodings named in messages (any codec Python knows is accepted).
COMMON_ENCODINGS = ("utf-8", "utf-8-sig", "gbk", "gb18030", "gb2312", "big5", "latin-1",
                    "cp1252", "shift_jis", "euc-kr", "utf-16")  # fmt: skip


def _default_where(key: str) -> str:
    return f"[data] {key}"


def check_encoding(name, where=None) -> str:
    """``name`` as a codec Python knows; a ValueError names the key and the closest names."""
    where = where or _default_where
    try:
        b"a".decode(str(name))  # rot13, base64, zlib: codecs, but not text encodings
    except UnicodeDecodeError:
        pass  # a text encoding (UTF-16 cannot decode one byte)
    except (LookupError, TypeError, ValueError):
        hint = close_names(str(name).lower(), COMMON_ENCODINGS, n=3, cutoff=0.5)
        did = f"; did you mean {hint}?" if hint else ""
        raise DataError(
            f"{where('encoding')} = {name!r} is not a text encoding{did} "
            f"(common: {', '.join(COMMON_ENCODINGS)})"
        ) from None
    return str(name)


def encoding_error(p, encoding: str, err: UnicodeDecodeError, data: bytes, where) -> DataError:
    """The DataError for a file that ``encoding`` cannot decode: the byte, the line,
    and the encoding that does decode it."""
    line = data[: err.start].count(b"\n") + 1
    works = detect_encoding(data)
    hint = f"; the file decodes as {works!r}" if works and works != encoding else ""
    at = f" at line {line}"
    bad = data[err.start : err.start + 1]
    return DataError(
        f"{where('encoding')} = {encoding!r} cannot decode the file (byte {bad!r}{at}){hint} "
        f"(common: {', '.join(COMMON_ENCODINGS)})",
        str(p),
    )


def _show_header(header: list[str], limit: int = 20) -> str:
    """A header for a message: at most ``limit`` names, then how many more."""
    shown = repr(list(header[:limit]))
    if len(header) > limit:
        shown = f"{shown[:-1]}, ... ({len(header)} columns)]"
    return shown


def _read_csv(
    p: Path, encoding: str = "utf-8-sig", where=None, fields=None, **kw
) -> pd.DataFrame:
    """pd.read_csv with errors turned into DataError naming the file (and for a
    decoding failure the ``encoding`` key, the line, and an encoding that works).
    ``fields`` (:class:`Fields`): every row's field count and the memory are checked
    first (:func:`check_body`)."""
    check_body(p, encoding, fields, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return pd.read_csv(p, compression=_compression(p), encoding=encoding, **kw)
    except pd.errors.ParserWarning as e:
        raise DataError(
            "rows have more fields than the header (an intraday file with a separate "
            f"time field? btlstm reads daily bars only): {e}",
            str(p),
        ) from None
    except DataError:
        raise
    except MemoryError:
        raise DataError(
            "out of memory while reading the file: it needs more memory than this process "
            "may use (available memory, ulimit -v); read fewer rows or columns",
            str(p),
        ) from None
    except UnicodeDecodeError as e:
        raise decode_failure(p, encoding, where or _default_where) from e
    except _READ_ERRORS as e:
        raise DataError(f"cannot parse the CSV file ({type(e).__name__}: {e})", str(p)) from e
    except ValueError as e:  # a non-numeric cell under a float dtype
        raise DataError(f"cannot parse the CSV file: {e}", str(p)) from e


def decode_failure(p: Path, encoding: str, where) -> DataError:
    """The DataError for a whole file that ``encoding`` cannot decode: scans it line
    by line for the first bad line and names an encoding that decodes the file."""
    opener = gzip.open if _compression(p) == "gzip" else open
    decoder = codecs.getincrementaldecoder(encoding)()
    line_no, bad, data = None, b"", b""
    with opener(p, "rb") as fh:
        for i, line in enumerate(fh, 1):
            try:
                decoder.decode(line)
            except UnicodeDecodeError as e:
                line_no, bad = i, line[e.start : e.start + 1]
                break
        fh.seek(0)
        data = fh.read()
    works = None
    for enc in DETECTED_ENCODINGS:
        if enc == encoding:
            continue
        try:
            data.decode(enc)
        except UnicodeDecodeError:
            continue
        works = enc
        break
    hint = f"; the file decodes as {works!r}" if works else ""
    at = f" at line {line_no}" if line_no else ""
    return DataError(
        f"{where('encoding')} = {encoding!r} cannot decode the file (byte {bad!r}{at}){hint} "
        f"(common: {', '.join(COMMON_ENCODINGS)})",
        str(p),
    )


_GROUPED = None  # a number with thousands separators, compiled on first use


def _numeric(df: pd.DataFrame, cols, src: str, dates=None, where=None) -> None:
    """Convert ``cols`` of ``df`` to float64 in place; a non-numeric cell raises
    DataError naming the column and the row (date, or file line), and for a number
    written with thousands separators (``5,818,000``) the ``thousands`` key."""
    global _GROUPED
    import re

    if _GROUPED is None:
        _GROUPED = re.compile(r"^[+-]?\d{1,3}([,.' ]\d{3})+([.,]\d+)?$")
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
            cell = str(s.iloc[pos]).strip()
            mark = _GROUPED.match(cell)
            hint = (
                f": thousands separators? name the mark with "
                f"{(where or _default_where)('thousands')} {mark.group(1)[0]!r}"
                if mark
                else ""
            )
            raise DataError(
                f"non-numeric value {s.iloc[pos]!r} ({int(bad.sum())} such row(s)){hint}",
                src,
                c,
                row,
            )
        df[c] = v.astype("float64")


#: formats tried on dates that are not ISO 8601 (``2015-01-05``, ``20150105``),
#: when no ``date_format`` is given: a format is used only when it alone reads
#: every sampled date, so ``01/02/2015`` is never silently read month-first.
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d", "%d.%m.%Y", "%d/%m/%Y",
                "%m/%d/%Y", "%d-%m-%Y", "%m-%d-%Y", "%d.%m.%y", "%d/%m/%y", "%m/%d/%y",
                "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S")  # fmt: skip


def date_formats(values, formats=DATE_FORMATS) -> list[str]:
    """The formats of ``formats`` that read every one of ``values`` (text or integers)."""
    import datetime as _dt

    vals = [str(v).strip() for v in values if not pd.isna(v) and str(v).strip()]
    if not vals:
        return []
    out = []
    for fmt in formats:
        try:
            for v in vals:
                _dt.datetime.strptime(v, fmt)
        except ValueError:
            continue
        out.append(fmt)
    return out


def _to_datetime(raw: pd.Series, fmt: str, src: str, column: str) -> pd.Series:
    """``pd.to_datetime(errors="coerce")`` whose own errors become one DataError naming the
    file and the column: dates with different UTC offsets (``+08:00`` beside ``+09:00``)."""
    try:
        return pd.to_datetime(raw, format=fmt, errors="coerce")
    except (ValueError, TypeError, OverflowError) as e:
        import re

        offsets = raw.dropna().astype(str).str.extract(r"((?:[+-]\d\d:?\d\d|Z))\s*$")[0]
        seen = list(dict.fromkeys(offsets.dropna()))[:3]
        if len(seen) > 1 or "timezone" in str(e).lower() or "offset" in str(e).lower():
            shown = f" ({', '.join(seen)})" if len(seen) > 1 else ""
            err = DataError(
                f"the dates carry different UTC offsets{shown}: a daily file needs dates in "
                "one time zone (write them without an offset, or all with the same one)",
                src,
                column,
            )
            err.content = True  # the file's content, not its layout: no preset reads it
            raise err from None
        first = re.split(r"[.;\n]", str(e).strip())[0]
        raise DataError(f"cannot read the dates ({first})", src, column) from None


def _dates(
    values,
    src: str,
    column: str = "date",
    fmt: str | None = None,
    where=None,
    first_line: int = 2,
    what: str = "line",
) -> pd.DatetimeIndex:
    """Parse a column of dates (text or integers such as ``20150105``).

    With ``fmt`` None: ISO 8601, else the one format of :data:`DATE_FORMATS`
    that reads a sample of the values (several: an error asking for
    ``date_format``). The first unparsable date raises DataError naming the
    column and the file line (``first_line`` is the line of the first value).
    """
    where = where or _default_where
    given = fmt is not None
    raw = pd.Series(values)
    if raw.dtype.kind in "iuf":  # integer dates like 20150105 (float: from a NaN cell)
        raw = raw.map(lambda v: v if pd.isna(v) else str(int(v)))
    if fmt is None:
        out = _to_datetime(raw, "ISO8601", src, column)
        if out.isna().any():
            sample = raw.dropna().iloc[:200]
            found = date_formats(sample)
            if len(found) > 1:
                raise DataError(
                    f"the dates (e.g. {sample.iloc[0]!r}) read in several formats {found}; "
                    f"name the one that is meant with {where('date_format')}",
                    src,
                    column,
                )
            if found:
                fmt = found[0]
                out = _to_datetime(raw, fmt, src, column)
    else:
        out = _to_datetime(raw, fmt, src, column)
    bad = out.isna().to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        value = raw.iloc[pos]
        if given:
            found = date_formats(raw.dropna().iloc[:200])
            looks = f"; the dates look like {found}" if found else ""
            problem = (
                f"{where('date_format')} = {fmt!r} does not read date {value!r} "
                f"({int(bad.sum())} such row(s)){looks}"
            )
        elif str(value).strip().isdigit() and 9 <= len(str(value).strip()) <= 13:
            problem = (
                f"cannot parse date {value!r} ({int(bad.sum())} such row(s)): it looks like "
                "a Unix timestamp (seconds or milliseconds since 1970); btlstm reads calendar "
                "dates such as 2015-01-05 or 20150105: convert the column first"
            )
        else:
            problem = (
                f"cannot parse date {value!r} ({int(bad.sum())} such row(s)); "
                "daily files need one date per row (intraday files with a separate time "
                f"field are not supported); name the format with {where('date_format')}"
            )
        raise DataError(problem, src, column, f"{what} {pos + first_line}")
    idx = pd.DatetimeIndex(out, name="date")
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx


def _check_repair(repair: str) -> None:
    if repair not in REPAIR_MODES:
        raise ValueError(f"repair must be one of {REPAIR_MODES}, got {repair!r}")


def _date_mask(dates, start, end) -> np.ndarray | None:
    """The inclusive ``[start, end]`` mask over ``dates`` (any order); None when
    neither end is given. The one date-range rule of the readers: a file's rows
    (:func:`btlstm.data.columnmap.build_frames`) and a frame's (:func:`_slice_dates`)."""
    start, end = parse_date(start, "start", none=True), parse_date(end, "end", none=True)
    if start is None and end is None:
        return None
    keep = np.ones(len(dates), dtype=bool)
    if start is not None:
        keep &= np.asarray(dates >= start)
    if end is not None:
        keep &= np.asarray(dates <= end)
    return keep


def _slice_dates(df: pd.DataFrame, start, end) -> pd.DataFrame:
    """Inclusive ``[start, end]`` selection by position (works on unsorted data)."""
    keep = _date_mask(df.index, start, end)
    if keep is None:
        return df
    out = df.loc[keep]
    out.attrs = dict(df.attrs)
    return out


def _setting(where, key: str, value: str) -> str:
    """A setting as the user would type it: ``--repair drop`` (a flag), ``[data] repair =
    'drop'`` (a TOML key), ``repair='drop'`` (Python: no ``where``)."""
    if where is None or where is _default_where:  # a Python call: no flag, no TOML key
        return f"{key}={value!r}"
    name = where(key)
    return f"{name} {value}" if name.startswith("--") else f"{name} = {value!r}"


def _finish(
    df: pd.DataFrame,
    validate: bool = True,
    repair: str = "raise",
    start=None,
    end=None,
    summary_level: int = logging.WARNING,
    where=None,
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
                f"; {_setting(where, 'repair', 'drop')} drops such rows (each one is logged)"
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


def _order(df: pd.DataFrame, extras=()) -> pd.DataFrame:
    cols = list(CANONICAL_COLUMNS)
    if "adj_close" in df.columns:
        cols.append("adj_close")
    cols += [c for c in extras if c in df.columns]
    return df[cols]


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
                m = close_names(w, known, n=3)
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


def _finish_panel(frames, src, validate, repair, where=None) -> dict[str, pd.DataFrame]:
    out = {}
    dropped = 0
    for key, f in frames.items():
        out[key] = _finish(f, validate, repair, summary_level=logging.INFO, where=where)
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
