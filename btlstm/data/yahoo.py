"""Yahoo Finance downloads into a btlstm data directory (cached, crash-safe).

:func:`fetch_yahoo` downloads daily bars with ``yfinance.download`` and writes
each ticker as a Yahoo-layout CSV ``<data_dir>/<folder>/<TICKER>.csv`` -- the
very layout :func:`btlstm.data.readers.read_yahoo_csv` reads, so a folder of
downloads IS a data directory: ``fetch_dataset("sector_etfs")`` writes into
``spdr_sector_etfs/`` and ``load("sector_etfs")`` then works on it.

Cache rules:

- btlstm replaces only its own files: those with a ``<file>.manifest.json``
  beside them (written by a previous fetch). A file without one (the
  reference data, a file you copied in) is never downloaded over nor called
  corrupt: the fetch is refused before any download, naming the files, and
  they load as they are;
- one of btlstm's own files is used (no download) unless ``refresh=True`` or
  the request (start/end) differs from the one recorded in its manifest;
- one of btlstm's own files that fails its manifest check (sha256/size),
  cannot be parsed or fails validation is logged and downloaded again -- never
  used; if that download fails, the old file stays untouched and the error says so;
- files are written atomically (:mod:`btlstm.data.cache`).

yfinance returns an EMPTY frame, without raising, when it cannot reach Yahoo,
and prints a few lines per ticker and pandas warnings while doing so. That
output is captured (``verbose=False``) and summarised in the one-line
:class:`~btlstm.data.validate.DataError` naming the tickers and the cause.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections import Counter
from pathlib import Path

import pandas as pd

from btlstm.data.cache import read_manifest, verify_manifest, write_yahoo_csv
from btlstm.data.catalog import CATALOG, get_dataset, yahoo_filename
from btlstm.data.catalog import data_dir as _data_dir
from btlstm.data.readers import YAHOO_FIELDS as _FIELDS
from btlstm.data.readers import read_yahoo_csv
from btlstm.data.validate import CANONICAL_COLUMNS, DataError, validate_frame

__all__ = ["fetch_yahoo", "fetch_dataset", "frames_from_download", "quiet", "Chatter"]

logger = logging.getLogger("btlstm.data")


def _tickers(tickers) -> list[str]:
    if isinstance(tickers, str):
        tickers = tickers.replace(",", " ").split()
    try:
        out = [str(t).strip() for t in tickers]
    except TypeError:
        raise TypeError(f"tickers must be a string or a list of strings, got {tickers!r}") from None
    out = list(dict.fromkeys(t for t in out if t))
    if not out:
        raise ValueError(f"tickers must name at least one ticker, got {tickers!r}")
    return out


_DOWNLOAD_KW = {"auto_adjust": False, "progress": False, "actions": False, "group_by": "column"}


def _yf_download(tickers, start=None, end=None, **kw):
    """``yfinance.download`` (imported lazily) with MultiIndex columns always."""
    import yfinance as yf

    return yf.download(tickers, start=start, end=end, multi_level_index=True, **kw)


def _why_empty(tickers, start, end) -> str:
    rng = f" {start or '(first)'} .. {end or '(latest)'}" if (start or end) else ""
    return (
        f"Yahoo returned no data for {', '.join(tickers)}{rng}. Likely causes: no internet "
        "connection (yfinance returns an empty frame offline instead of raising), a "
        "ticker Yahoo does not know, or an empty date range. Without internet use "
        "BTLSTM_DATA/--data-dir with existing files, or `btlstm demo`."
    )


#: Loggers of the download stack whose records are captured with its prints.
_CHATTY = ("yfinance", "curl_cffi", "urllib3", "peewee")
_NETWORK = re.compile(
    r"Could not resolve host:?\s*([\w.-]+)|(DNSError|ConnectionError|ConnectTimeout|"
    r"timed out|Failed to establish a new connection|SSLError)",
    re.IGNORECASE,
)


class Chatter:
    """What the download stack printed, logged and warned while it ran (see :func:`quiet`).

    Attributes:
        lines: non-empty output lines (prints and log records).
        warnings: the ``warnings.WarningMessage`` records.
    """

    def __init__(self):
        self.lines: list[str] = []
        self.warnings: list = []

    def cause(self) -> str | None:
        """A network failure named in the output (``"could not resolve host X"``), or None."""
        found = [m for m in map(_NETWORK.search, self.lines) if m]
        for m in found:  # the most telling first: the host that could not be resolved
            if m.group(1):
                return f"could not resolve host {m.group(1)}"
        return found[0].group(2) if found else None

    def summary(self) -> str:
        """One sentence: how much was said, the network cause if any; "" when silent."""
        if not self.lines and not self.warnings:
            return ""
        said = []
        if self.lines:
            said.append(f"{len(self.lines)} line(s) of output")
        if self.warnings:
            kinds = Counter(w.category.__name__ for w in self.warnings)
            said.append(", ".join(f"{n} {k}" for k, n in kinds.items()))
        cause = self.cause()
        why = f"; network: {cause} (no internet connection?)" if cause else ""
        return f"yfinance: {' and '.join(said)} hidden{why}; --verbose shows them"


@contextlib.contextmanager
def quiet(enabled: bool = True):
    """Capture third-party output (prints, the download stack's log records, warnings)
    into a :class:`Chatter` instead of the terminal.

    Example:
        >>> with quiet() as chatter:
        ...     print("Failed to get ticker 'XLK' reason: curl: (6) Could not resolve host: q.example")
        >>> chatter.summary()
        'yfinance: 1 line(s) of output hidden; network: could not resolve host q.example \
(no internet connection?); --verbose shows them'
    """
    chatter = Chatter()
    if not enabled:
        yield chatter
        return
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = []
    for name in _CHATTY:
        lg = logging.getLogger(name)
        saved.append((lg, lg.handlers[:], lg.propagate))
        lg.handlers, lg.propagate = [handler], False
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(buf),
            contextlib.redirect_stderr(buf),
        ):
            warnings.simplefilter("always")
            try:
                yield chatter
            finally:
                chatter.warnings = list(caught)
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers, lg.propagate = handlers, propagate
        chatter.lines = [x.strip() for x in buf.getvalue().splitlines() if x.strip()]
        for line in chatter.lines:
            logger.debug("yfinance: %s", line)


def _foreign(target: Path, names) -> list[Path]:
    """The requested files that exist without a btlstm manifest: not btlstm's to replace."""
    out = []
    for t in names:
        path = target / yahoo_filename(t)
        if path.exists() and read_manifest(path) is None:
            out.append(path)
    return out


def _refuse_foreign(target: Path, foreign: list[Path], dataset: str | None) -> DataError:
    shown = ", ".join(p.name for p in foreign[:4]) + (", ..." if len(foreign) > 4 else "")
    look = f"`btlstm data summary {dataset}`" if dataset else "`btlstm.data.load`"
    return DataError(
        f"{target} holds {len(foreign)} file(s) that btlstm fetch did not write ({shown}: "
        f"no .manifest.json beside them). fetch never replaces them; they load as they are "
        f"({look}). To download fresh copies, fetch into another folder: --data-dir DIR"
    )


def frames_from_download(raw, tickers, start=None, end=None) -> dict[str, pd.DataFrame]:
    """Split what ``yfinance.download`` returned into one canonical frame per ticker.

    Handles MultiIndex columns ``(Price, Ticker)`` (yfinance's default, even for
    one ticker) or ``(Ticker, Price)`` (``group_by="ticker"``), and flat
    columns for a single ticker. A tz-aware index is made tz-naive keeping the
    exchange's local dates. Rows where every price is NaN (calendar filler for
    a ticker that did not trade that day) are dropped.

    Args:
        raw: the download result.
        tickers: the tickers asked for.
        start: requested start (only for messages).
        end: requested end (only for messages).

    Returns:
        ``{ticker: canonical frame}`` for the tickers present (validated,
        ``attrs["source"] = "yahoo:TICKER"``). Tickers absent from ``raw`` are
        left out; the caller decides.

    Raises:
        DataError: for an empty result (naming the tickers and likely causes),
            columns it cannot interpret, or a ticker whose data fail validation.
    """
    tickers = _tickers(tickers)
    if raw is None or not isinstance(raw, pd.DataFrame) or raw.empty:
        raise DataError(_why_empty(tickers, start, end), f"yahoo:{','.join(tickers)}")
    per: dict[str, pd.DataFrame] = {}
    cols = raw.columns
    if isinstance(cols, pd.MultiIndex):
        if cols.nlevels != 2:
            raise DataError(f"unexpected download columns with {cols.nlevels} levels")
        lv0 = set(map(str, cols.get_level_values(0)))
        price_level = 0 if "Close" in lv0 else 1
        tick_level = 1 - price_level
        present = set(map(str, cols.get_level_values(tick_level)))
        for t in tickers:
            if t in present:
                per[t] = raw.xs(t, axis=1, level=tick_level)
    else:
        if len(tickers) != 1:
            raise DataError(
                f"download has flat columns {list(cols)} but {len(tickers)} tickers were "
                f"asked for ({tickers}); cannot tell them apart",
                "yahoo:" + ",".join(tickers),
            )
        per[tickers[0]] = raw
    out = {}
    for t, sub in per.items():
        src = f"yahoo:{t}"
        sub = sub.copy()
        sub.columns = [str(c) for c in sub.columns]
        need = ["Open", "High", "Low", "Close", "Volume"]
        missing = [c for c in need if c not in sub.columns]
        if missing:
            raise DataError(
                f"download lacks field(s) {missing} (got {list(sub.columns)})", src, missing[0]
            )
        sub = sub[[c for c in _FIELDS if c in sub.columns]].rename(columns=_FIELDS)
        sub = sub.apply(pd.to_numeric, errors="coerce").astype("float64")
        empty = sub[["open", "high", "low", "close"]].isna().all(axis=1).to_numpy()
        if empty.any():
            sub = sub.loc[~empty]
        if sub.empty:
            continue
        idx = pd.DatetimeIndex(sub.index)
        if idx.tz is not None:
            idx = idx.tz_localize(None)
        idx.name = "date"
        sub.index = idx
        sub["amount"] = sub["close"] * sub["volume"]
        cols_ = list(CANONICAL_COLUMNS)
        if "adj_close" in sub.columns:
            cols_.append("adj_close")
        sub = sub[cols_]
        sub.attrs = {"source": src, "symbol": t, "amount_derived": True, "synthetic": False}
        out[t] = validate_frame(sub)
    return out


def _cache_problem(path: Path, request: dict) -> str | None:
    """None when ``path`` is a usable cached file for ``request``, else why not."""
    reason = verify_manifest(path, required=True)
    if reason:
        return reason
    doc = read_manifest(path) or {}
    if doc.get("request", request) != request:
        return f"cached for request {doc.get('request')}, now asked for {request}"
    return None


def _read_cached(path: Path, ticker: str) -> pd.DataFrame:
    frame = read_yahoo_csv(path, symbol=ticker)
    rows = (read_manifest(path) or {}).get("rows")
    if rows is not None and rows != len(frame):
        raise DataError(f"{len(frame)} rows but the manifest says {rows}", str(path))
    return frame


def fetch_yahoo(
    tickers,
    start=None,
    end=None,
    data_dir=None,
    folder: str = "yahoo",
    refresh: bool = False,
    download=None,
    verbose: bool = False,
    dataset: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Download daily bars from Yahoo Finance into the data directory (cached).

    Args:
        tickers: a ticker or a list (``"SPY"``, ``["XLK", "XLF"]``, ``"000300.SS"``).
        start: first date (``"2010-01-01"``); default: all history.
        end: end date as yfinance reads it (exclusive); default: today.
        data_dir: the data directory (default: :func:`btlstm.data.catalog.data_dir`,
            created if missing).
        folder: sub-folder to write ``<TICKER>.csv`` into.
        refresh: download even when a valid cached file (of btlstm's own) exists.
        download: a function with ``yfinance.download``'s signature (tests pass
            a fake); default ``yfinance.download`` with ``auto_adjust=False``,
            ``progress=False``.
        verbose: let the download stack print its own messages and warnings
            (default: captured, summarised in an error message, logged at DEBUG).
        dataset: the catalogue name being fetched (for messages).

    Returns:
        ``{ticker: canonical frame}`` read back from the written (or cached)
        files, with ``adj_close``.

    Raises:
        DataError: a requested file exists that btlstm did not write (before any
            download; nothing is changed), empty download (naming the tickers and
            the cause), a ticker missing from the result (the others are still
            saved), bad downloaded data, or a failed write; a previously cached
            file is then left untouched and the message says so.

    Example (needs internet, so not run as a doctest)::

        frames = fetch_yahoo(["XLK", "SPY"], start="2015-01-01")
        load("yahoo:XLK")
    """
    names = _tickers(tickers)
    root = _data_dir(data_dir, must_exist=False)
    target = root / folder
    request = {
        "start": None if start is None else str(start),
        "end": None if end is None else str(end),
    }
    foreign = _foreign(target, names)
    if foreign:
        raise _refuse_foreign(target, foreign, dataset)
    out: dict[str, pd.DataFrame] = {}
    todo: list[str] = []
    corrupt: dict[str, str] = {}
    for t in names:
        path = target / yahoo_filename(t)
        if refresh or not path.exists():
            todo.append(t)
            continue
        problem = _cache_problem(path, request)
        if problem is None:
            try:
                out[t] = _read_cached(path, t)
                logger.debug("%s: using cached %s", t, path)
                continue
            except DataError as e:
                problem = str(e)
        if "request" in problem:
            logger.info("%s: %s; downloading again", path, problem)
        else:
            logger.warning("%s: cached file not usable (%s); downloading again", path, problem)
            corrupt[t] = problem
        todo.append(t)
    if not todo:
        return {t: out[t] for t in names}

    def kept(ts) -> str:
        """Say which existing files the failure left as they were."""
        notes = []
        for t in ts:
            p = target / yahoo_filename(t)
            if t in corrupt:
                notes.append(f"{p} (changed since btlstm wrote it: {corrupt[t]}; not used)")
            elif p.exists():
                notes.append(str(p))
        return f" Existing file(s) left untouched: {'; '.join(notes)}." if notes else ""

    fn = download if download is not None else _yf_download
    kw = dict(_DOWNLOAD_KW)
    if start is None and end is None:
        kw["period"] = "max"
    try:
        with quiet(enabled=not verbose) as chatter:
            raw = fn(list(todo), start=start, end=end, **kw)
    except DataError:
        raise
    except Exception as e:  # network stacks raise many types; keep the cause
        said = chatter.summary()
        raise DataError(
            f"download of {', '.join(todo)} failed ({type(e).__name__}: {e}).{kept(todo)}"
            + (f" ({said})" if said else ""),
            f"yahoo:{','.join(todo)}",
        ) from e
    try:
        got = frames_from_download(raw, todo, start, end)
    except DataError as e:
        said = chatter.summary()
        raise DataError(
            e.problem + kept(todo) + (f" ({said})" if said else ""), e.source, e.column, e.row
        ) from e
    written = []
    for t in todo:
        if t not in got:
            continue
        path = target / yahoo_filename(t)
        try:
            write_yahoo_csv(got[t], path, ticker=t, request=request)
        except Exception as e:
            raise DataError(
                f"writing {t} failed ({type(e).__name__}: {e}).{kept([t])}", str(path)
            ) from e
        written.append(t)
        if t in corrupt:
            logger.warning("%s: changed cached file replaced by a fresh download", path)
        out[t] = read_yahoo_csv(path, symbol=t)
    missing = [t for t in todo if t not in got]
    if missing:
        saved = f" Saved: {', '.join(written)}." if written else ""
        raise DataError(
            f"ticker(s) {missing} missing from the Yahoo result (unknown ticker, or no "
            f"data in the date range).{saved}{kept(missing)}",
            f"yahoo:{','.join(missing)}",
        )
    return {t: out[t] for t in names}


def fetch_dataset(
    name: str,
    data_dir=None,
    refresh: bool = False,
    download=None,
    start=None,
    end=None,
    verbose: bool = False,
) -> dict[str, pd.DataFrame]:
    """Fetch a catalogue dataset that has Yahoo tickers into its own folder.

    ``sector_etfs`` (nine sectors + SPY) and ``spy`` go to ``spdr_sector_etfs/``
    so that :func:`btlstm.data.catalog.load` reads them as usual; ``csi300`` and
    ``sse`` are offered as Yahoo-layout alternatives (``000300.SS``,
    ``000001.SS``) in ``yahoo/`` -- load them with ``load("yahoo:000300.SS")``.

    Args:
        name: a catalogue name with Yahoo tickers.
        data_dir: the data directory.
        refresh: download even when valid cached files exist.
        download: injected download function (see :func:`fetch_yahoo`).
        start: first date (default: all history).
        end: end date (exclusive, as yfinance).
        verbose: show the download stack's own output (see :func:`fetch_yahoo`).

    Returns:
        ``{ticker: canonical frame}``.

    Raises:
        DataError: unknown name, a dataset without Yahoo tickers, or a failed fetch.
    """
    d = get_dataset(name)
    if not d.yahoo:
        fetchable = [n for n, e in CATALOG.items() if e.yahoo]
        raise DataError(
            f"dataset {name!r} has no Yahoo tickers and cannot be fetched; fetchable: "
            f"{fetchable}. Copy its folder into the data directory or set BTLSTM_DATA."
        )
    return fetch_yahoo(
        list(d.yahoo),
        start=start,
        end=end,
        data_dir=data_dir,
        folder=d.yahoo_folder,
        refresh=refresh,
        download=download,
        verbose=verbose,
        dataset=name,
    )
