"""THE no-look-ahead rule: which bars are fit bars and which samples a fit may use.

This module knows dates and indices, never a model or a feature. The
walk-forward engine (:mod:`btlstm.forecast.walkforward`) asks it three questions and
does what it answers; every learner inherits the same rule. The semantics are
written out in ``docs/schedule.md``.

The rule: a window ending at bar s has the label ``close[s + horizon]`` (see
``docs/features-and-targets.md``). That label becomes usable at
``date[s + horizon + embargo]``. A model fitted at date T uses only windows
whose label is usable at T, and the prediction at bar t uses the model of the
latest fit bar <= t and the window ending at t. So nothing after t reaches
the prediction at t.

Schedules:

- ``mode="static"``: one fit, at the first bar on or after ``test_start``
  (default: the first bar after ``train_end``), on windows ending in
  ``[train_start, train_end]``.
- ``mode="walkforward"``: the first fit at the first bar (on or after
  ``test_start``) where at least ``min_train`` labelled windows are usable,
  then one every ``retrain_every`` bars, on all usable windows
  (``window="expanding"``) or those ending in the last ``train_window`` bars
  (``window="rolling"``).

Panels (several symbols, one pooled model) run on the union calendar of their
dates; a fit at date T uses every symbol's windows usable at T.

Example:
    >>> import numpy as np, pandas as pd
    >>> from btlstm.forecast.walkforward import WalkForwardConfig
    >>> sched = Schedule(WalkForwardConfig(lookback=3, horizon=2, embargo=1, min_train=4,
    ...                                    retrain_every=5))
    >>> dates = pd.bdate_range("2020-01-01", periods=12).values
    >>> sym = sched.index("A", dates)
    >>> [int(s) for s in sym.end[sched.known(sym, dates[9])]]   # s + 2 + 1 <= 9
    [2, 3, 4, 5, 6]
    >>> [int(i) for i in sched.fit_bars([sym], dates)]   # first bar with 4 usable windows
    [8]
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

__all__ = ["Schedule", "SymbolIndex", "Segment", "FAR_FUTURE"]

#: Stands for "never" (a label past the end of the data).
FAR_FUTURE = np.datetime64("2262-01-01", "ns")


def _ns(v) -> np.datetime64 | None:
    return None if v is None else np.datetime64(pd.Timestamp(v), "ns")


@dataclass
class SymbolIndex:
    """Dates of one symbol's windows, as the schedule sees them.

    Attributes:
        name: the symbol.
        dates: ``datetime64[ns]`` date of every bar.
        end: bar index of each window's last bar (window end s).
        end_dates: ``dates[end]``.
        label_dates: the date each window's label becomes usable,
            ``dates[s + horizon + embargo]``, or :data:`FAR_FUTURE`.
        labelled: False where the label is unknown in the data (NaN target).
    """

    name: str
    dates: np.ndarray
    end: np.ndarray
    end_dates: np.ndarray
    label_dates: np.ndarray
    labelled: np.ndarray

    def bars_up_to(self, T) -> int:
        """Number of this symbol's bars dated on or before ``T``."""
        return int(np.searchsorted(self.dates, T, side="right"))


@dataclass
class Segment:
    """One model's stretch: fit number ``k`` at calendar bar ``bar`` predicts the
    windows ending in ``[start, stop)`` (and not after ``test_end``)."""

    k: int
    bar: int
    start: np.datetime64
    stop: np.datetime64


class Schedule:
    """Fit dates and usable samples for a :class:`~btlstm.forecast.walkforward.WalkForwardConfig`.

    Args:
        config: any object with the walk-forward fields (``lookback``,
            ``horizon``, ``embargo``, ``mode``, ``train_start``, ``train_end``,
            ``test_start``, ``test_end``, ``retrain_every``, ``window``,
            ``train_window``, ``min_train``).
    """

    def __init__(self, config):
        self.config = config
        c = config
        self.lookback, self.horizon, self.embargo = c.lookback, c.horizon, c.embargo
        self.train_start, self.train_end = _ns(c.train_start), _ns(c.train_end)
        self.test_end = _ns(c.test_end)

    # ---------------------------------------------------------------- samples
    def index(self, name: str, dates, labelled: np.ndarray | None = None) -> SymbolIndex:
        """The :class:`SymbolIndex` of a symbol with bar ``dates``.

        Args:
            name: symbol name.
            dates: ascending bar dates.
            labelled: per window (window ends ``lookback-1 .. n-1``), whether
                its label exists in the data; default: all but the last ``horizon``.
        """
        dates = np.asarray(pd.DatetimeIndex(dates).values, dtype="datetime64[ns]")
        n = len(dates)
        end = np.arange(self.lookback - 1, n)
        li = end + self.horizon + self.embargo
        ok = li < n
        label_dates = np.where(ok, dates[np.minimum(li, max(n - 1, 0))], FAR_FUTURE)
        if labelled is None:
            labelled = end + self.horizon < n
        labelled = np.asarray(labelled, dtype=bool)
        if labelled.shape != end.shape:
            raise ValueError(
                f"labelled must have {len(end)} entries (one per window), got {labelled.shape}"
            )
        return SymbolIndex(str(name), dates, end, dates[end], label_dates, labelled)

    def known(self, sym: SymbolIndex, T, since=None) -> np.ndarray:
        """Mask of ``sym``'s windows a fit at date ``T`` may use.

        A window is usable when its label is usable at ``T``
        (``label_date <= T``), its label exists, and it ends inside
        ``[train_start, train_end]``; ``since`` further limits it to windows
        ending on or after that date (the rolling window).
        """
        m = (sym.label_dates <= T) & sym.labelled
        if self.train_start is not None:
            m &= sym.end_dates >= self.train_start
        if self.train_end is not None:
            m &= sym.end_dates <= self.train_end
        if since is not None:
            m &= sym.end_dates >= since
        return m

    def training_masks(self, syms: list[SymbolIndex], cal: np.ndarray, i: int) -> list[np.ndarray]:
        """Per symbol, the windows the fit at calendar bar ``i`` trains on
        (:meth:`known` at ``cal[i]``, limited to the last ``train_window``
        calendar bars with ``window="rolling"``)."""
        since = None
        if self.config.window == "rolling":
            since = cal[max(0, i - self.config.train_window + 1)]
        return [self.known(s, cal[i], since) for s in syms]

    # ---------------------------------------------------------------- fit bars
    def first_allowed(self) -> pd.Timestamp | None:
        """The first date a fit (and so a prediction) may happen, or None."""
        c = self.config
        if c.test_start is not None:
            return pd.Timestamp(c.test_start)
        if c.mode == "static":
            return pd.Timestamp(c.train_end) + pd.Timedelta(days=1)
        return None

    def is_fit_bar(
        self, i: int, cal: np.ndarray, last_fit: int | None, syms: Iterable[SymbolIndex]
    ) -> bool:
        """Is calendar bar ``i`` a fit bar? Uses dates up to ``cal[i]`` only (causal)."""
        c = self.config
        first = self.first_allowed()
        if first is not None and cal[i] < np.datetime64(first, "ns"):
            return False
        if self.test_end is not None and cal[i] > self.test_end:
            return False  # after test_end: its model would predict nothing
        if c.mode == "static":
            return last_fit is None
        if last_fit is not None:
            return i - last_fit >= c.retrain_every
        return self.n_known(syms, cal[i]) >= c.min_train

    def n_known(self, syms: Iterable[SymbolIndex], T) -> int:
        """Usable labelled windows over all symbols at date ``T``."""
        return sum(int(self.known(s, T).sum()) for s in syms)

    def fit_bars(self, syms: list[SymbolIndex], cal: np.ndarray) -> list[int]:
        """Calendar indices of every fit bar over ``cal``."""
        fits: list[int] = []
        last = None
        for i in range(len(cal)):
            if self.test_end is not None and cal[i] > self.test_end:
                break  # no later bar is a fit bar
            if self.is_fit_bar(i, cal, last, syms):
                fits.append(i)
                last = i
                if self.config.mode == "static":
                    break
        return fits

    def ready_start(self, cal: np.ndarray) -> list[int]:
        """For a ready (pretrained) model: the one 'fit' bar where predictions start."""
        first = self.first_allowed()
        start = 0 if first is None else int(np.searchsorted(cal, np.datetime64(first, "ns")))
        return [start] if start < len(cal) else []

    def segments(self, fits: list[int], cal: np.ndarray) -> list[Segment]:
        """The stretch of windows each fitted model predicts."""
        out = []
        for k, i in enumerate(fits):
            stop = cal[fits[k + 1]] if k + 1 < len(fits) else FAR_FUTURE
            out.append(Segment(k, i, cal[i], stop))
        return out

    def predicts(self, sym: SymbolIndex, seg: Segment) -> np.ndarray:
        """Mask of ``sym``'s windows predicted by the model of ``seg``."""
        m = (sym.end_dates >= seg.start) & (sym.end_dates < seg.stop)
        if self.test_end is not None:
            m &= sym.end_dates <= self.test_end
        return m

    def may_predict(self, T) -> bool:
        """False for dates after ``test_end``."""
        return self.test_end is None or np.datetime64(pd.Timestamp(T), "ns") <= self.test_end

    @staticmethod
    def calendar(syms: Iterable[SymbolIndex]) -> np.ndarray:
        """The union calendar of the symbols' dates (sorted, unique)."""
        return np.unique(np.concatenate([s.dates for s in syms]))

    # ---------------------------------------------------------------- cache
    @staticmethod
    def cache_key(
        settings: dict, syms: list[SymbolIndex], values: list[np.ndarray], T, k: int
    ) -> str:
        """Key of the model fitted at date ``T`` (fit number ``k``).

        Covers ``settings`` (every setting that changes a model: the
        walk-forward config without ``test_end``, and the learner's token), each
        symbol's name, its dates up to ``T`` and its raw feature values up to
        ``T``. Data after ``T`` does not enter, so a longer backtest reuses
        the models of a shorter one. Dates enter as int64 nanoseconds whatever
        resolution pandas gave them (``datetime64[us]`` under pandas 3, ``[ns]``
        before), so a cache survives a pandas upgrade.
        """
        h = hashlib.sha256()
        h.update(json.dumps(settings, sort_keys=True, default=str).encode())
        T = np.datetime64(pd.Timestamp(T), "ns")
        h.update(f"|k={k}|T={T}".encode())
        for s, v in zip(syms, values, strict=True):
            n = s.bars_up_to(T)
            h.update(s.name.encode())
            h.update(np.asarray(s.dates[:n], dtype="datetime64[ns]").astype("<i8").tobytes())
            h.update(np.ascontiguousarray(v[:n]).tobytes())
        return h.hexdigest()[:24]
