"""Backtrader data feeds over canonical frames.

A canonical frame (see :mod:`btlstm.data.validate`) becomes a Backtrader feed
with the usual ``open high low close volume`` lines plus an ``amount`` line
(traded value). Extra columns (a precomputed ``prediction``, ``tradable``,
``tradestatus`` ...) can ride along as more lines via :func:`feed_class`.

:func:`add_panel` adds many symbols to one cerebro on a shared calendar, so all
feeds tick together, with flat ``tradable == 0`` bars where a symbol has no
real data (before listing, after delisting, suspensions, holes).

Cost (``scripts/bench_ranker_scale.py``, 283 feeds x 565 bars, empty
strategy): Backtrader's stock ``PandasData`` about 100 microseconds per feed
per bar in ``cerebro.run``, :class:`PandasFeed` read bar by bar
(``lean=False``) about 38, and the lean :class:`PandasFeed` (the default:
whole arrays preloaded at once, no per-bar tick copies) about 11. So 300 feeds
x 2,500 bars is about 8 s of CPU before any strategy work. What else matters
with many feeds (observers, run modes, the broker): ``docs/many-feeds.md``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping

import backtrader as bt
import numpy as np
import pandas as pd

from btlstm import _compat  # noqa: F401  (Backtrader on Python 3.10+)
from btlstm.convert import parse_date
from btlstm.data.validate import DataError, validate_frame

__all__ = [
    "PandasFeed",
    "PanelFeeds",
    "TradableFiller",
    "align_frame",
    "feed_class",
    "make_feed",
    "add_panel",
]

log = logging.getLogger(__name__)


class PandasFeed(bt.feeds.PandasData):
    """Feed over a canonical frame: OHLCV lines plus ``amount`` (traded value).

    Columns are mapped by name (case-insensitive, as ``PandasData`` does); the
    datetime comes from the index, which must be tz-naive (use
    :func:`make_feed` to validate the frame first). ``openinterest`` is off.

    Mapping semantics follow ``PandasData`` for every line param:

      - a string: that column (an error at ``start`` if it is missing)
      - ``-1``: autodetect a column with the line's name; absent -> line stays NaN
      - ``None``: no column; the line stays NaN
      - an int ``>= 0``: that column position

    Lines:
      - ``open``, ``high``, ``low``, ``close``, ``volume``
      - ``amount``: traded value (``close x volume`` where the source had none;
        see ``frame.attrs['amount_derived']``)

    Lean path (param ``lean``, default True): when the feed has no filters
    (no resampling, replay or user filter) and no ``tzinput``, :meth:`preload`
    writes each line's whole array at once instead of one :meth:`_load` per
    bar (with unbounded buffers, i.e. without ``exactbars``), and the per-bar ``tick_*``
    copies (used by replay and live feeds) are skipped: the broker then fills
    from the bar's own ``open/high/low/close``, as it does for plain bars. The
    lines and fills are identical either way (tests); a 300-feed panel runs
    about 3x faster (``scripts/bench_ranker_scale.py``). ``lean=False`` is
    Backtrader's bar-by-bar path.

    Example::

        cerebro.adddata(PandasFeed(dataname=frame, name="CSI300"))
    """

    lines = ("amount",)

    params = (
        ("datetime", None),  # the index holds the dates
        ("open", "open"),  # column of the open price
        ("high", "high"),  # column of the high price
        ("low", "low"),  # column of the low price
        ("close", "close"),  # column of the close price
        ("volume", "volume"),  # column of the volume
        ("openinterest", None),  # no open interest in canonical frames
        ("amount", "amount"),  # column of the traded value
        ("lean", True),  # bulk preload + no per-bar tick copies when nothing needs them
    )

    def start(self):
        try:
            super().start()
        except ValueError as e:
            missing = [
                (line, col)
                for line, col in self._colmapping.items()
                if isinstance(col, str) and col.lower() not in self._lower_columns()
            ]
            if missing:
                line, col = missing[0]
                raise DataError(
                    f"{type(self).__name__} line {line!r} is mapped to column {col!r}, "
                    f"which the frame lacks (columns: {list(self.p.dataname.columns)}); "
                    f"pass {line}=None to leave the line empty",
                    self.p.dataname.attrs.get("source"),
                    column=col,
                ) from e
            raise
        df = self.p.dataname
        # Preconvert: one numpy array per mapped line, and the datetime numbers.
        self._arrays = []
        for line_name, colindex in self._colmapping.items():
            if line_name == "datetime" or colindex is None:
                continue
            values = df.iloc[:, colindex].to_numpy(dtype=float, na_value=np.nan)
            self._arrays.append((getattr(self.lines, line_name), values))
        if self._colmapping.get("datetime") is None:
            stamps = df.index
        else:
            stamps = pd.DatetimeIndex(df.iloc[:, self._colmapping["datetime"]])
        self._dtnums = _date_numbers(pd.DatetimeIndex(stamps))
        self._nrows = len(df)
        self._lean = False  # decided in _start_finish, once filters and timezones are known

    def _start_finish(self):
        super()._start_finish()
        # The lean path is exact only for plain bars: no filters (resample, replay,
        # user filters) and no input timezone (exactbars: see preload).
        self._lean = bool(
            self.p.lean and not self._filters and not self._ffilters and self._tzinput is None
        )
        if self._lean:
            for alias in self.getlinealiases():  # the broker then reads the bar itself
                if alias != "datetime":
                    setattr(self, "tick_" + alias, None)
            self.tick_last = None

    def preload(self):
        """Load every bar at once (lean path) or one bar at a time (Backtrader's way).

        The lean path writes each line's whole array in one step; the lines
        hold exactly what :meth:`_load` would have put there bar by bar
        (``fromdate``/``todate`` applied), tested in ``tests/test_feeds.py``.
        """
        if not (self._lean and all(line.mode == line.UnBounded for line in self.lines)):
            return super().preload()  # (ring buffers of exactbars fill bar by bar)
        keep = (self._dtnums >= self.fromdate) & (self._dtnums <= self.todate)
        columns = {id(line): values[keep] for line, values in self._arrays}
        columns[id(self.lines.datetime)] = self._dtnums[keep]
        blank = np.full(int(keep.sum()), np.nan)
        for line in self.lines:
            line.array.frombytes(np.asarray(columns.get(id(line), blank), dtype="<f8").tobytes())
        self._idx = self._nrows - 1  # _load has nothing left to give
        self.home()

    def _tick_nullify(self):
        # Per-bar tick copies serve replay/resampling and live feeds; a lean
        # feed leaves tick_* at None and the broker reads the bar's own prices.
        if not self._lean:
            super()._tick_nullify()

    def _tick_fill(self, force=False):
        if not self._lean:
            super()._tick_fill(force)

    def _lower_columns(self):
        return [str(c).lower() for c in self.p.dataname.columns]

    def _load(self):
        self._idx += 1
        i = self._idx
        if i >= self._nrows:
            return False
        for line, values in self._arrays:
            line[0] = values[i]
        self.lines.datetime[0] = self._dtnums[i]
        return True


_FEED_CLASSES: dict[tuple[str, ...], type] = {(): PandasFeed}

_ORDINAL_1970 = 719163.0  # datetime.date(1970, 1, 1).toordinal()


def _date_numbers(stamps: pd.DatetimeIndex) -> np.ndarray:
    """Backtrader's ``date2num`` of each (tz-naive) stamp, vectorised for dates.

    Midnight stamps (daily bars) are whole ordinals, computed in numpy exactly;
    stamps with a time of day go through ``bt.date2num`` one by one, so the
    floats are Backtrader's own.
    """
    days = stamps.values.astype("datetime64[D]")
    if (stamps.values == days).all():
        return days.astype(np.int64).astype(float) + _ORDINAL_1970
    return np.array([bt.date2num(t.to_pydatetime()) for t in stamps], dtype=float)


def feed_class(extra_lines: Iterable[str] = (), base: type | None = None) -> type:
    """A :class:`PandasFeed` subclass with more lines, one per extra column.

    Each extra line is autodetected by name (param default ``-1``): a column of
    that name fills it; without one the line stays NaN. Classes are cached, so
    the same ``extra_lines`` always gives the same class.

    Args:
        extra_lines: names of the extra lines, e.g. ``("prediction",)``,
            ``("tradable",)``, ``("tradestatus",)``. Order is kept, duplicates
            and names PandasFeed already has are dropped.
        base: the class to extend (a :class:`PandasFeed` subclass such as
            :class:`btlstm.live.ReplayFeed`); None is :class:`PandasFeed`.

    Returns:
        A ``bt.feeds.PandasData`` subclass.

    Example:

    >>> Feed = feed_class(("prediction",))
    >>> data = Feed(dataname=frame_with_prediction_column)
    >>> "prediction" in data.lines.getlinealiases()  # in a strategy: self.data.prediction[0]
    True
    """
    if isinstance(extra_lines, str):
        extra_lines = (extra_lines,)
    base = PandasFeed if base is None else base
    if not (isinstance(base, type) and issubclass(base, PandasFeed)):
        raise ValueError(f"base must be a PandasFeed subclass, got {base!r}")
    known = set(base.lines.getlinealiases()) | {"datetime", "openinterest"}
    names: list[str] = []
    for name in extra_lines:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(
                f"extra_lines: each line name must be a Python identifier not starting "
                f"with '_', got {name!r}"
            )
        if name not in known and name not in names:
            names.append(name)
    key = tuple(names)
    if not key:
        return base
    cls = _FEED_CLASSES.get(key if base is PandasFeed else (base, *key))
    if cls is None:
        cls = type(
            base.__name__ + "_" + "_".join(key),
            (base,),
            {
                "lines": key,
                "params": tuple((n, -1) for n in key),
                "__doc__": f"PandasFeed with extra lines {key} (autodetected by column name).",
                "__module__": base.__module__,
            },
        )
        _FEED_CLASSES[key if base is PandasFeed else (base, *key)] = cls
    return cls


def _slice(frame: pd.DataFrame, fromdate, todate) -> pd.DataFrame:
    if fromdate is None and todate is None:
        return frame
    out = frame.loc[fromdate:todate]
    out.attrs = dict(frame.attrs)
    return out


def make_feed(
    frame: pd.DataFrame,
    name: str | None = None,
    fromdate=None,
    todate=None,
    extra_lines: Iterable[str] = (),
    validate: bool = True,
    lean: bool = True,
):
    """Wrap a canonical frame in a :class:`PandasFeed` (validated first).

    Args:
        frame: a canonical frame (tz-naive ``DatetimeIndex``, float
            ``open high low close volume amount``).
        name: the feed's name in cerebro (default ``frame.attrs['symbol']``).
        fromdate: first date to feed (inclusive), anything ``pd.Timestamp`` takes.
        todate: last date to feed (inclusive).
        extra_lines: extra columns to expose as lines (see :func:`feed_class`).
            Each must be a column of ``frame``.
        validate: run :func:`btlstm.data.validate_frame` on the frame first.
        lean: the feed's ``lean`` param (bulk preload, no per-bar tick copies;
            same bars, about 3x faster to run over many feeds).

    Returns:
        A feed ready for ``cerebro.adddata``.

    Raises:
        DataError: the frame is not canonical (tz-aware index, NaN, missing
            column ...), an extra line has no column, or nothing is left in
            ``[fromdate, todate]``.

    Example:

    >>> data = cerebro.adddata(make_feed(frame, fromdate="2015-01-01"))
    >>> data._name
    'SYNIDX'
    """
    if validate:
        validate_frame(frame)
    elif not isinstance(frame, pd.DataFrame):
        raise DataError(f"frame: expected a pandas DataFrame, got {type(frame).__name__}")
    src = frame.attrs.get("source")
    extra = tuple([extra_lines] if isinstance(extra_lines, str) else extra_lines)
    for col in extra:
        if col not in frame.columns:
            raise DataError(
                f"extra line {col!r} has no column in the frame (columns: {list(frame.columns)})",
                src,
                column=col,
            )
    fromdate = parse_date(fromdate, "fromdate", none=True, naive=True)
    todate = parse_date(todate, "todate", none=True, naive=True)
    sliced = _slice(frame, fromdate, todate)
    if len(sliced) == 0:
        raise DataError(
            f"no rows between fromdate={fromdate} and todate={todate} "
            f"(the frame covers {frame.index[0]} .. {frame.index[-1]})",
            src,
        )
    if name is None:
        name = frame.attrs.get("symbol")
    cls = feed_class(extra)
    return cls(dataname=sliced, name=name, lean=lean)


class TradableFiller:
    """Broker filler: no fill on a bar whose ``tradable`` line is 0.

    A market order placed at bar t fills at bar t+1's open; if bar t+1 is a
    phantom or suspended bar (``tradable == 0``) this filler returns size 0,
    so the order stays pending and fills at the next tradable bar's open
    (or is cancelled by the strategy). Feeds without a ``tradable`` line are
    filled in full, as with no filler.

    Params:

      - ``perc`` (default: ``None``): if given, also cap each fill at this
        percentage of the bar's volume (like ``bt.broker.fillers.FixedBarPerc``).

    Example::

        cerebro.broker.set_filler(TradableFiller())
    """

    def __init__(self, perc=None):
        if perc is not None and not 0 < perc <= 100:
            raise ValueError(f"perc: must lie in (0, 100] or be None, got {perc!r}")
        self.perc = perc

    def __call__(self, order, price, ago):
        data = order.data
        remaining = abs(order.executed.remsize)
        if "tradable" in data.getlinealiases():
            flag = data.tradable[ago]
            if not flag == flag or flag <= 0:  # 0 or NaN
                return 0
        if self.perc is not None:
            return min(remaining, (data.volume[ago] * self.perc) // 100)
        return remaining

    def __repr__(self):
        return f"TradableFiller(perc={self.perc!r})"


class PanelFeeds(list):
    """The feeds :func:`add_panel` added, in order, plus what it did.

    Attributes:
        calendar: the master ``DatetimeIndex`` every feed runs on.
        skipped: ``{symbol: reason}`` for symbols left out.
        phantom: ``{symbol: number of filled (tradable == 0) bars}``.
    """

    def __init__(self, feeds=(), calendar=None, skipped=None, phantom=None):
        super().__init__(feeds)
        self.calendar = calendar
        self.skipped = dict(skipped or {})
        self.phantom = dict(phantom or {})


def _master_calendar(frames: Mapping[str, pd.DataFrame], calendar, fromdate, todate):
    if isinstance(calendar, pd.DatetimeIndex):
        cal = calendar
    elif calendar == "union":
        cal = None
        for df in frames.values():
            cal = df.index if cal is None else cal.union(df.index)
    elif calendar == "intersection":
        cal = None
        for df in frames.values():
            cal = df.index if cal is None else cal.intersection(df.index)
    elif isinstance(calendar, str) and calendar in frames:
        cal = frames[calendar].index
    else:
        raise ValueError(
            f"calendar: expected 'union', 'intersection', a DatetimeIndex or one of the "
            f"panel's symbols, got {calendar!r}"
        )
    cal = pd.DatetimeIndex(cal).sort_values().unique()
    if fromdate is not None:
        cal = cal[cal >= fromdate]
    if todate is not None:
        cal = cal[cal <= todate]
    cal.name = "date"
    return cal


def align_frame(frame: pd.DataFrame, calendar: pd.DatetimeIndex) -> pd.DataFrame:
    """Reindex a canonical frame to ``calendar`` with flat, untradable filler bars.

    Real bars (dates of ``frame`` in ``calendar``) are kept as they are and get
    ``tradable = 1`` (or ``tradestatus`` where the frame has that column).
    Every other calendar date gets a flat bar ``open = high = low = close`` at
    the last known close (before the first real bar: the first real open),
    ``volume = amount = 0`` and ``tradable = 0``; ``adj_close`` is carried the
    same way, other extra columns are NaN there (``tradestatus`` is 0).

    Args:
        frame: a canonical frame with at least one date in ``calendar``.
        calendar: the master calendar (tz-naive, ascending).

    Returns:
        A frame indexed by ``calendar`` with an extra ``tradable`` column.
    """
    real = calendar.isin(frame.index)
    out = frame.reindex(calendar)
    out.attrs = dict(frame.attrs)
    close = out["close"].ffill()
    first = frame.loc[frame.index.isin(calendar)].iloc[0]
    fill_price = close.fillna(first["open"]).to_numpy(dtype=float)
    phantom = ~real
    for col in ("open", "high", "low", "close"):
        v = out[col].to_numpy(dtype=float, copy=True)
        v[phantom] = fill_price[phantom]
        out[col] = v
    for col in ("volume", "amount"):
        v = out[col].to_numpy(dtype=float, copy=True)
        v[phantom] = 0.0
        out[col] = v
    if "adj_close" in out.columns:
        ratio = first["adj_close"] / first["close"]
        adj = out["adj_close"].ffill().to_numpy(dtype=float, copy=True)
        head = np.isnan(adj)
        adj[head] = first["open"] * ratio
        out["adj_close"] = adj
    if "tradestatus" in out.columns:
        ts = out["tradestatus"].to_numpy(dtype=float, copy=True)
        ts[phantom] = 0.0
        ts = np.nan_to_num(ts, nan=0.0)
        out["tradestatus"] = ts
        tradable = np.where(real, ts, 0.0)
    else:
        tradable = real.astype(float)
    out["tradable"] = tradable
    return out


def add_panel(
    cerebro,
    panel: Mapping[str, pd.DataFrame],
    fromdate=None,
    todate=None,
    calendar="union",
    min_history: int = 1,
    extra_lines: Iterable[str] = (),
    progress: bool = True,
    progress_every: int = 50,
    guard_fills: bool = True,
    lean: bool = True,
    factory=None,
) -> PanelFeeds:
    """Add many symbols to ``cerebro`` on one shared calendar.

    Every symbol is reindexed to the master calendar so all feeds have the
    same length and tick together. Where a symbol has no real bar (before its
    first bar, after its last, or in a hole) it gets a FLAT bar at the last
    known close (before the first bar: at the first real open) with
    ``volume = amount = 0`` and line ``tradable = 0``. Real bars have
    ``tradable = 1``, or the frame's ``tradestatus`` when it has one (A-share
    suspensions). Strategies test ``data.tradable[0]`` before ordering, and
    with ``guard_fills`` (default) the broker gets a :class:`TradableFiller`,
    so an order placed on a tradable bar does not fill on the next bar if that
    one is untradable: it waits for the next tradable bar. Phantom prices are
    never traded.

    Cost: about 11 us per feed per bar in ``cerebro.run`` with lean feeds (38
    with ``lean=False``); 100 feeds x 2,500 bars is ~3 s.

    Args:
        cerebro: a ``bt.Cerebro``.
        panel: ``{symbol: canonical frame}``; insertion order is kept.
        fromdate: first calendar date (inclusive).
        todate: last calendar date (inclusive).
        calendar: ``'union'`` (every date any symbol traded), ``'intersection'``
            (dates all symbols traded; real bars off it are dropped), a symbol of
            the panel (that symbol's dates, e.g. the index), or a ``DatetimeIndex``.
        min_history: symbols with fewer real bars than this in the range are
            skipped (logged and listed in ``.skipped``).
        extra_lines: extra columns to expose as lines (``tradable`` is always one).
        progress: print a line to stderr every ``progress_every`` symbols when
            the panel has more than ``progress_every`` symbols.
        progress_every: see ``progress``.
        guard_fills: install ``TradableFiller()`` on ``cerebro.broker`` unless
            the broker already has a filler (then it is left alone, with a
            warning). Set a new broker before calling add_panel, not after.
        lean: each feed's ``lean`` param (see :class:`PandasFeed`).
        factory: ``factory(aligned_frame, name, extra_lines)`` builds each feed
            instead of a lean :class:`PandasFeed` (e.g. a live
            :class:`btlstm.live.ReplayFeed`).

    Returns:
        :class:`PanelFeeds`: the feeds added (a list), with ``.calendar``,
        ``.skipped`` and ``.phantom``.

    Raises:
        DataError: a frame is not canonical (names the symbol's source), or no
            symbol is left.
        ValueError: bad ``calendar`` or ``min_history``.

    Example:

    >>> from btlstm.data import load
    >>> feeds = add_panel(cerebro, load("sector_etfs"), fromdate="2015-01-01", progress=False)
    >>> feeds.skipped
    {}
    """
    if not isinstance(panel, Mapping) or not panel:
        raise ValueError(f"panel: expected a non-empty dict of frames, got {type(panel).__name__}")
    if not isinstance(min_history, int) or min_history < 1:
        raise ValueError(f"min_history: expected an int >= 1, got {min_history!r}")
    if progress_every < 1:
        raise ValueError(f"progress_every: expected an int >= 1, got {progress_every!r}")
    fromdate = parse_date(fromdate, "fromdate", none=True, naive=True)
    todate = parse_date(todate, "todate", none=True, naive=True)
    for sym, df in panel.items():
        validate_frame(df, source=df.attrs.get("source") or f"panel[{sym!r}]")
    cal = _master_calendar(panel, calendar, fromdate, todate)
    if len(cal) == 0:
        raise DataError(
            f"the {calendar!r} calendar is empty between fromdate={fromdate} and todate={todate}"
        )
    extra = tuple([extra_lines] if isinstance(extra_lines, str) else extra_lines)
    extra = tuple(x for x in extra if x != "tradable") + ("tradable",)
    cls = feed_class(extra)
    feeds = PanelFeeds(calendar=cal)
    n = len(panel)
    show = progress and n > progress_every
    for k, (sym, df) in enumerate(panel.items(), 1):
        in_range = int(df.index.isin(cal).sum())
        if in_range < min_history:
            why = f"{in_range} real bar(s) on the calendar, need min_history={min_history}"
            feeds.skipped[sym] = why
            log.info("add_panel: skipping %s: %s", sym, why)
        else:
            for col in extra:
                if col != "tradable" and col not in df.columns:
                    raise DataError(
                        f"extra line {col!r} has no column in symbol {sym!r}'s frame",
                        df.attrs.get("source"),
                        column=col,
                    )
            aligned = align_frame(df, cal)
            feeds.phantom[sym] = len(cal) - in_range
            if factory is None:
                feed = cls(dataname=aligned, name=sym, lean=lean)
            else:
                feed = factory(aligned, sym, extra)
            cerebro.adddata(feed, name=sym)
            feeds.append(feed)
        if show and (k % progress_every == 0 or k == n):
            print(f"add_panel: {k}/{n} symbols ({len(feeds)} added)", file=sys.stderr, flush=True)
    if guard_fills:
        current = cerebro.broker.p.filler
        if current is None:
            cerebro.broker.set_filler(TradableFiller())
        elif not isinstance(current, TradableFiller):
            log.warning(
                "add_panel: the broker already has filler %r; orders may fill on "
                "untradable (phantom/suspended) bars",
                current,
            )
    if feeds.skipped:
        log.warning(
            "add_panel: skipped %d of %d symbols (min_history=%d): %s",
            len(feeds.skipped),
            n,
            min_history,
            ", ".join(list(feeds.skipped)[:10]) + (" ..." if len(feeds.skipped) > 10 else ""),
        )
    if not feeds:
        raise DataError(
            f"add_panel: every symbol was skipped (min_history={min_history}, "
            f"calendar {cal[0].date()} .. {cal[-1].date()})"
        )
    return feeds
