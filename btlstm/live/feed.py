"""A live Backtrader feed over recorded bars: a replay on a clock, for tests and paper trading.

:class:`ReplayFeed` publishes the bars of a canonical frame (or a CSV that
:func:`btlstm.data.load` reads) the way a broker's live feed does, so any
strategy runs through Backtrader's live path with no broker connection:

- ``islive()`` is True, so Cerebro turns ``preload`` and ``runonce`` off and
  every indicator and strategy runs bar by bar (``next``);
- ``_load()`` returns ``None`` while no new bar is due (Cerebro keeps looping,
  for notifications and timers) and ``False`` once the replay is over;
- the first bars (``backfill``: history before ``live_start``, or the bars a
  resumed run had already processed) are published at once with the status
  ``DELAYED``, the next ones with ``LIVE``; the end is ``DISCONNECTED``
  (``notify_data`` sees each change once, as with Backtrader's IB feed);
- a :class:`ReplayClock`, shared by every feed of a run, decides when a bar
  is due: at maximum speed (``speed=0``: as soon as the loop asks), on the
  bars' own spacing divided by ``speed`` (``speed=86400``: a daily bar per
  second), every ``bar_seconds``, or only when a test calls
  :meth:`ReplayClock.publish_now`.

The clock releases bars by date, for all feeds at once, so the feeds of a
panel tick together as in a backtest, and it remembers when each bar was
published: the latency of a bar is measured from there to the strategy's
orders (:mod:`btlstm.live.runner`).

A real broker feed (Backtrader's ``IBData``, ``OandaData``, a CCXT store's
feed) takes this feed's place unchanged: see ``docs/live.md``.

Example:
    >>> clock = ReplayClock(manual=True)
    >>> feed = ReplayFeed(dataname=frame.iloc[:3], name="X", clock=clock)
    >>> feed.setenvironment(cerebro); feed._start()   # what cerebro.adddata + run do
    >>> feed.islive(), feed.load()           # nothing published yet: no bar, not over
    (True, None)
    >>> clock.publish_now(); feed.load(), feed.load()
    (True, None)
    >>> clock.publish_now(2); feed.load(), feed.load(), feed.load()
    (True, True, False)
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pandas as pd

from btlstm.bt.feeds import PandasFeed
from btlstm.data.validate import validate_frame

__all__ = ["ReplayClock", "ReplayFeed", "replay_feed"]


class ReplayClock:
    """When the bars of a replay are published. One clock serves every feed of a run.

    Args:
        speed: 0 (default) publishes each bar as soon as the bar loop asks for it
            (maximum speed); ``s > 0`` publishes a bar ``(its date - the first
            live bar's date) / s`` seconds after the first live bar (real time
            is ``s = 1``; ``s = 86400`` plays a trading day per second, weekends
            included).
        bar_seconds: publish one live bar every this many seconds instead
            (overrides ``speed``).
        manual: publish live bars only when :meth:`publish_now` is called (tests).
        live_start: bars dated before it are the backfill: published at once,
            status DELAYED (None: no backfill).
        backfill_through: bars dated on or before it are backfill too (a resumed
            run replays the bars it had processed this way).
        timer: the clock's time source (seconds; default ``time.monotonic``).
    """

    def __init__(
        self,
        speed: float = 0.0,
        bar_seconds: float | None = None,
        manual: bool = False,
        live_start=None,
        backfill_through=None,
        timer=time.monotonic,
    ):
        if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not speed >= 0:
            raise ValueError(f"speed must be a number >= 0 (0: as fast as possible), got {speed!r}")
        if bar_seconds is not None and not (
            isinstance(bar_seconds, (int, float)) and math.isfinite(bar_seconds) and bar_seconds > 0
        ):
            raise ValueError(f"bar_seconds must be a number > 0 or None, got {bar_seconds!r}")
        self.speed = float(speed)
        self.bar_seconds = None if bar_seconds is None else float(bar_seconds)
        self.manual = bool(manual)
        self._cut = _num(live_start, -math.inf)
        self.timer = timer
        self._feeds: list = []
        self._timeline: np.ndarray | None = None  # every feed's dates, sorted, unique
        self._released = -1  # index into the timeline: published through here
        self._t0: float | None = None  # wall time of the first live bar
        self._live0 = 0  # timeline index of the first live bar
        self.published: dict[float, float] = {}  # date number -> wall time published
        self._lock = threading.Lock()
        if backfill_through is not None:
            self.backfill_through(backfill_through)

    def backfill_through(self, date) -> None:
        """Make every bar dated on or before ``date`` backfill (a resumed run), before
        the first bar is published."""
        if self._timeline is not None:
            raise ValueError("ReplayClock: the backfill is set before the first bar")
        self._cut = max(self._cut, np.nextafter(_num(date, -math.inf), math.inf))

    # ------------------------------------------------------------------ feeds
    def register(self, feed) -> None:
        """Called by each :class:`ReplayFeed` when it starts."""
        if self._timeline is not None:
            raise ValueError("ReplayClock: every feed must start before the first bar is published")
        self._feeds.append(feed)

    def _ensure(self) -> np.ndarray:
        if self._timeline is None:
            dates = [f._dtnums for f in self._feeds] or [np.empty(0)]
            self._timeline = np.unique(np.concatenate(dates))
            self._live0 = int(np.searchsorted(self._timeline, self._cut))
            now = self.timer()
            for j in range(self._live0):  # the backfill is published at once
                self.published[float(self._timeline[j])] = now
            self._released = self._live0 - 1
        return self._timeline

    # ------------------------------------------------------------------ queries
    def is_backfill(self, dtnum: float) -> bool:
        """True for a bar of the backfill (published with status DELAYED)."""
        return dtnum < self._cut

    def released(self, dtnum: float) -> bool:
        """Is the bar dated ``dtnum`` published? (At maximum speed asking publishes it.)"""
        tl = self._ensure()
        with self._lock:
            if self._released >= 0 and dtnum <= tl[self._released]:
                return True
            if self.manual:
                return False
            j = int(np.searchsorted(tl, dtnum))
            now = self.timer()
            if self.speed == 0 and self.bar_seconds is None:  # maximum speed
                self._release_through(j, now)
                return True
            if self._t0 is None:
                self._t0 = now
            due = self._due(j)
            if due > now:
                return False
            self._release_through(j, None)
            return True

    def _due(self, j: int) -> float:
        """Wall time live bar ``j`` (timeline index) is due."""
        tl = self._timeline
        if self.bar_seconds is not None:
            return self._t0 + (j - self._live0) * self.bar_seconds
        days = float(tl[j] - tl[self._live0])  # date numbers count days
        return self._t0 + days * 86400.0 / self.speed

    def _release_through(self, j: int, when: float | None) -> None:
        for m in range(self._released + 1, j + 1):
            self.published[float(self._timeline[m])] = self._due(m) if when is None else when
        self._released = max(self._released, j)

    def started(self, dtnum: float) -> None:
        """The bar dated ``dtnum`` is done: if it is the first live bar, the live bars'
        schedule starts now (so the one-off warm-up of the first bar, such as the
        indicators reading their history, does not put every later bar behind)."""
        if self._t0 is None or self._timeline is None or self.manual:
            return
        j = int(np.searchsorted(self._timeline, dtnum))
        if j == self._live0 and not getattr(self, "_restarted", False):
            self._restarted = True
            self._t0 = self.timer()

    def next_due(self) -> float | None:
        """Wall time the next unpublished bar is due (None: manual, over, or at once)."""
        tl = self._ensure()
        nxt = self._released + 1
        if self.manual or nxt >= len(tl) or self._t0 is None:
            return None
        if self.speed == 0 and self.bar_seconds is None:
            return None
        return self._due(nxt)

    def wait(self, timeout: float) -> None:
        """Sleep until the next bar is due, at most ``timeout`` seconds."""
        if timeout <= 0:
            return
        due = self.next_due()
        delay = timeout if due is None else min(timeout, max(0.0, due - self.timer()))
        if delay > 0:
            time.sleep(delay)

    def publish_now(self, n: int = 1) -> None:
        """Publish the next ``n`` bars at once (the test hook; works in every mode)."""
        tl = self._ensure()
        with self._lock:
            self._release_through(min(len(tl) - 1, self._released + int(n)), self.timer())

    def published_at(self, dtnum: float) -> float | None:
        """Wall time (``timer``) the bar dated ``dtnum`` was published."""
        return self.published.get(float(dtnum))


def _num(value, default: float) -> float:
    """A date as Backtrader's date number (days since year 1)."""
    import backtrader as bt

    if value is None:
        return default
    return float(bt.date2num(pd.Timestamp(value).to_pydatetime()))


class ReplayFeed(PandasFeed):
    """A live feed over a canonical frame, published on a :class:`ReplayClock`.

    The lines are those of :class:`btlstm.bt.feeds.PandasFeed` (OHLCV + ``amount``
    and any extra lines of :func:`btlstm.bt.feeds.feed_class`); a bar holds exactly
    the frame's row. See the module docstring for the live behaviour.

    Params: ``clock`` (the shared :class:`ReplayClock`; default: a new
    maximum-speed one), ``qcheck`` (seconds the bar loop may sleep waiting for
    the next bar, as Backtrader's live feeds), ``lean`` (always False: a live
    feed fills bar by bar).
    """

    params = (
        ("clock", None),  # the ReplayClock shared by every feed of the run
        ("qcheck", 0.5),  # seconds to wait for a due bar before returning None
        ("lean", False),  # live feeds are never preloaded
    )

    def islive(self):
        return True

    def start(self):
        super().start()
        if self.p.clock is None:
            self.p.clock = ReplayClock()
        self.p.clock.register(self)
        self._lean = False

    def _start_finish(self):
        super()._start_finish()
        self._lean = False

    def haslivedata(self):
        i = self._idx + 1
        return i < self._nrows and self.p.clock.released(self._dtnums[i])

    def _load(self):
        i = self._idx + 1
        if i >= self._nrows:
            self.put_notification(self.DISCONNECTED)
            return False
        when = self._dtnums[i]
        clock = self.p.clock
        if not clock.released(when):
            clock.wait(self._qcheck)
            if not clock.released(when):
                return None
        self.put_notification(self.DELAYED if clock.is_backfill(when) else self.LIVE)
        return super()._load()

    def replay_frame(self) -> pd.DataFrame:
        """The whole recorded frame (a replay knows its bars; a broker feed does not)."""
        return self.p.dataname


def replay_feed(frame, clock: ReplayClock | None = None, name=None, **kwargs):
    """A :class:`ReplayFeed` over a canonical frame, or a CSV file / dataset name that
    :func:`btlstm.data.load` reads, validated first (``kwargs``: feed params).

    Example::

        clock = ReplayClock(speed=86400, live_start="2017-01-03")
        cerebro.adddata(replay_feed("csi300", clock, name="CSI300"))
        cerebro.adddata(replay_feed("my_bars.csv", clock))   # any layout load() reads
    """
    if not isinstance(frame, pd.DataFrame):
        from btlstm.data import load

        frame = load(str(frame))
    validate_frame(frame)
    return ReplayFeed(dataname=frame, name=name or frame.attrs.get("symbol"), clock=clock, **kwargs)
