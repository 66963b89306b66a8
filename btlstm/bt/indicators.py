"""Backtrader indicators over the walk-forward engine: a prediction line per feed.

- :class:`WalkForwardPredictor` (also :class:`LSTMPredictor`, the name users of
  the LSTM know): one model per feed, any learner walked forward on it (the
  article's LSTM index forecast by default);
- :class:`PooledPredictor` + :class:`PredictionPool`: one pooled model over
  several feeds, a ``prediction`` line on each;
- :class:`PrecomputedPrediction`, :class:`PrecomputedPool`: the same lines from
  predictions made beforehand (a seed ensemble), no model.

Both are thin ``bt.Indicator`` wrappers over the public API of
:mod:`btlstm.forecast.walkforward`; what a model may see is decided by
:mod:`btlstm.forecast.schedule` alone (``docs/schedule.md``).
"""

from __future__ import annotations

import array
import warnings

import backtrader as bt
import numpy as np
import pandas as pd

import btlstm  # noqa: F401  (compat shims, quiet TensorFlow)
from btlstm.data.validate import CANONICAL_COLUMNS, validate_frame
from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig

__all__ = [
    "WalkForwardPredictor",
    "LSTMPredictor",
    "PooledPredictor",
    "PredictionPool",
    "PrecomputedPrediction",
    "PrecomputedPool",
    "TooFewBarsWarning",
    "bar_dates",
    "feed_frame",
    "history_frame",
]


class TooFewBarsWarning(UserWarning):
    """A predictor's feed (with its ``history``) is too short for its schedule: its line
    stays NaN, or its model trains on fewer than ``min_train`` samples."""


_BT_EPOCH = 719163.0  # bt.date2num(datetime(1970, 1, 1))


def bar_dates(nums, daily: bool = True) -> pd.DatetimeIndex:
    """Backtrader date numbers -> tz-naive timestamps (normalised to the day for daily data)."""
    nums = np.asarray(nums, dtype=np.float64)
    us = np.round((nums - _BT_EPOCH) * 86_400_000_000.0).astype("int64")
    idx = pd.DatetimeIndex(us.astype("datetime64[us]"))
    return idx.normalize() if daily else idx


def _is_daily(data) -> bool:
    return data._timeframe >= bt.TimeFrame.Days


def _has_line(data, name: str) -> bool:
    return name in data.lines.getlinealiases()


def feed_frame(data, n: int | None = None) -> pd.DataFrame:
    """A preloaded Backtrader feed's first ``n`` bars as a canonical frame.

    ``amount`` is the feed's ``amount`` line where it has one, else close x
    volume. ``attrs["symbol"]`` is the feed's name.
    """
    n = len(data.close.array) if n is None else n

    def arr(line):
        return np.asarray(line.array[:n], dtype=np.float64)

    close, vol = arr(data.close), arr(data.volume)
    f = pd.DataFrame(
        {
            "open": arr(data.open),
            "high": arr(data.high),
            "low": arr(data.low),
            "close": close,
            "volume": vol,
            "amount": arr(data.amount) if _has_line(data, "amount") else close * vol,
        },
        index=bar_dates(data.datetime.array[:n], _is_daily(data)).rename("date"),
    )
    f.attrs["symbol"] = getattr(data, "_name", "") or "data"
    f.attrs["source"] = f"feed:{f.attrs['symbol']}"
    return f


_READ_HINT = (
    "history= takes any frame a feed takes: dates in the index or a Date column, "
    "open/high/low/close/volume found by name in any case (Open, Close, Adj Close, vol ...), "
    "amount = close x volume when it has none, as the feed does; rename or map other columns "
    "with btlstm.data.read_dataframe(frame, data_map={...}) and pass its result"
)


def history_frame(history, who: str = "history"):
    """A predictor's ``history=`` as a canonical frame (None stays None).

    Accepts what a feed accepts: a canonical frame, or a plain OHLCV frame
    (``pd.read_csv`` of a Yahoo-style file, columns in any case, dates in a
    column or the index), read with :func:`btlstm.data.read_dataframe` (which
    derives ``amount`` as close x volume, as :func:`feed_frame` does for a feed
    without an ``amount`` line).

    Raises:
        DataError: naming ``who`` and the column or row, and
            :func:`btlstm.data.read_dataframe`.
    """
    if history is None:
        return None
    from btlstm.data.readers import read_dataframe
    from btlstm.data.validate import DataError

    if not isinstance(history, pd.DataFrame):
        raise DataError(
            f"expected a pandas DataFrame of the bars before the feed, got "
            f"{type(history).__name__}; {_READ_HINT}",
            who,
        )
    try:
        frame = read_dataframe(history, source=who, validate=False)
        if isinstance(frame, dict):  # a long frame with a symbol column
            raise DataError(f"one symbol's bars expected, got {len(frame)} symbols "
                            f"({list(frame)[:5]}); pass one of them", who)  # fmt: skip
        return validate_frame(frame, source=who, check_ohlc=False)
    except DataError as e:
        if "read_dataframe" in e.problem:
            raise
        raise DataError(f"{e.problem}; {_READ_HINT}", e.source, e.column, e.row) from None


def _write(out, pred: np.ndarray, start: int, end: int) -> None:
    """Copy ``pred[start:end]`` into a line's ``array.array`` in one slice assignment."""
    stop = min(end, len(pred), len(out))
    if stop > start:
        out[start:stop] = array.array("d", np.asarray(pred[start:stop], dtype=np.float64))


def _bar_now(data) -> tuple:
    """The feed's current bar as ``(open, high, low, close, volume, amount)``."""
    vol = data.volume[0]
    amount = data.amount[0] if _has_line(data, "amount") else data.close[0] * vol
    return (data.open[0], data.high[0], data.low[0], data.close[0], vol, amount)


class WalkForwardPredictor(bt.Indicator):
    """Rolling walk-forward forecast of the forward ``horizon``-bar return by any learner.

    ``LSTMPredictor`` is the same class: the learner is the config's
    (``learner="lstm"``, the article's LSTM, by default; ``"ridge"`` or one you
    registered with :func:`btlstm.learners.register_learner`).

    The value at bar t is the model's forecast of
    ``clip(close[t+horizon]/close[t] - 1, +-clip) * scale`` made at t's close
    from the last ``lookback`` bars (per-window z-scored
    ``close, open, high, low, amount, volume`` by default). NaN while no model
    may be used yet. The model used at t was trained only on samples whose
    labels were known at t (see :mod:`btlstm.forecast.walkforward`).

    Formula:
      - prediction = model(zscore(window[t - lookback + 1 .. t]))

    Runs batched in ``once()`` (preloaded ``runonce`` runs: one pass over the
    whole feed, with a fit at each scheduled bar) and bar by bar in ``next()``
    (``runonce=False``, ``exactbars``, live feeds: a compiled forward pass per
    bar, retraining on the same schedule). Both paths call the same
    walk-forward code and give the same numbers.

    Reads the feed's ``amount`` line when it has one (``btlstm.bt.feeds.PandasFeed``),
    else uses close x volume.

    ``history`` lets the feed cover only the backtest period while the model
    trains on the years before it: the engine sees ``history`` followed by the
    feed's bars (history must end before the feed's first bar). It takes any
    frame a feed takes (:func:`history_frame`: a plain ``pd.read_csv`` of an
    OHLCV file, columns in any case, ``amount`` = close x volume when absent).
    One long feed with ``config.test_start`` gives the same numbers: btlstm's
    analyzers measure from the test start (``docs/backtrader.md``).

    The strategy attribute that holds it should be ``self.prediction`` (what
    btlstm's analyzers read with ``signal=None``); another name needs
    ``signal="<name>"`` on the analyzers, checked when the run starts.

    A feed too short for the schedule (with ``mode="walkforward"``, fewer
    labelled windows than ``min_train`` by its last bar) would leave the line
    all NaN: a :class:`TooFewBarsWarning` naming ``min_train`` and the bars
    available says so before any training (``once()`` and preloaded ``next()``
    runs; a live feed's length is not known in advance).
    """

    alias = ("WFPredictor", "LSTMPred")
    lines = ("prediction",)
    params = (
        ("model", None),  # a ready keras.Model or a path to a saved .keras model: no training
        ("config", None),  # WalkForwardConfig or dict: the features, schedule and training
        ("cache_dir", None),  # folder where fitted models are cached (None: no cache)
        ("progress", False),  # print one line per model fit to stderr
        ("history", None),  # OHLCV frame of bars BEFORE the feed's first bar (training history)
        ("warn", True),  # TooFewBarsWarning when the bars cannot feed the schedule (see above)
    )
    plotinfo = dict(subplot=True, plotname="prediction", plotyhlines=[0.0])
    plotlines = dict(prediction=dict(color="purple", _name="prediction"))

    def __init__(self):
        cfg = self.p.config
        if cfg is None:
            if self.p.model is None:
                raise ValueError(
                    f"{type(self).__name__} needs model= (a keras.Model or a .keras path) or config= "
                    "(a WalkForwardConfig or dict to train), got neither"
                )
            cfg = WalkForwardConfig()
        self.wf = WalkForward(
            cfg, model=self.p.model, cache_dir=self.p.cache_dir, progress=self.p.progress
        )
        self.config = self.wf.config
        self._history = history_frame(self.p.history, f"{type(self).__name__}(history=)")
        n_hist = 0 if self._history is None else len(self._history)
        self.addminperiod(max(1, self.config.lookback - n_hist))
        self._daily = _is_daily(self.data)
        self._stream = None
        self._batch = None
        self._checked = False

    def _check_length(self, feed_dates) -> None:
        """Warn once, before any training, when the schedule cannot work on these bars."""
        if self._checked or not self.p.warn:
            return
        self._checked = True
        h = self._history
        dates = pd.DatetimeIndex(feed_dates)
        if h is not None and len(h):
            dates = h.index.append(dates)
        problem = self.wf.fit_problem(dates)
        if problem is None:
            return
        name = getattr(self.data, "_name", "") or "data"
        n_hist = 0 if h is None else len(h)
        warnings.warn(
            f"{type(self).__name__} on feed {name!r} ({len(feed_dates)} bars + {n_hist} of history): "
            f"{problem}. Give more bars (history= with the bars before the feed) or a smaller "
            "min_train.",
            TooFewBarsWarning,
            stacklevel=2,
        )

    def _check_history(self, first_date):
        h = self._history
        if h is not None and len(h) and h.index[-1] >= first_date:
            raise ValueError(
                f"history must end before the feed's first bar {first_date.date()}, "
                f"but its last bar is {h.index[-1].date()}"
            )

    def _plotlabel(self):
        c = self.config
        kind = "model" if self.wf.pretrained else c.mode
        return [f"lookback={c.lookback}", f"h={c.horizon}", kind]

    # ----------------------------------------------------------- bar by bar
    def _update(self) -> float:
        d = self.data
        date = bar_dates([d.datetime[0]], self._daily)[0]
        if self._stream is None:
            if self.data.buflen() > len(self.data):  # preloaded: every date is known now
                self._check_length(bar_dates(self.data.datetime.array, self._daily))
            self._stream = self._make_stream()
            if self._history is not None:
                self._check_history(date)
                cols = list(CANONICAL_COLUMNS)
                for day, row in zip(self._history.index, self._history[cols].to_numpy()):
                    self._stream.update(day, *row)
        return self._stream.update(date, *_bar_now(d))

    def _make_stream(self):
        """The bar-by-bar engine (:mod:`btlstm.live` gives one whose fits run elsewhere)."""
        return self.wf.stream()

    def prenext(self):
        # the history must grow from the first bar even before minperiod
        self.lines.prediction[0] = self._update()

    def next(self):
        self.lines.prediction[0] = self._update()

    # ----------------------------------------------------------- batched
    def preonce(self, start, end):
        pass  # the line stays NaN before minperiod

    def oncestart(self, start, end):
        self.once(start, end)

    def once(self, start, end):
        if self._batch is None:
            frame = feed_frame(self.data)
            self._check_length(frame.index)
            h = self._history
            if h is not None and len(h):
                self._check_history(frame.index[0])
                full = pd.concat([h[list(CANONICAL_COLUMNS)], frame])
                full.attrs = dict(frame.attrs)
                self._batch = self.wf.predict(full)[len(h) :]
            else:
                self._batch = self.wf.predict(frame)
        _write(self.lines.prediction.array, self._batch, start, end)


#: The name users of the LSTM know: the same class (the learner is the config's).
LSTMPredictor = WalkForwardPredictor


class PredictionPool:
    """One pooled walk-forward model shared by the :class:`PooledPredictor` of several feeds.

    The model trains on the windows of every registered feed (a panel on the
    union calendar, see ``docs/schedule.md``) and predicts each feed's own
    windows, with the same no-look-ahead rule as a single feed. Bars whose
    ``tradable`` line is 0 (the flat filler bars of
    :func:`btlstm.bt.feeds.add_panel`) are not data: they are left out of
    training and get NaN.

    Args:
        config: a :class:`~btlstm.forecast.walkforward.WalkForwardConfig` or dict.
        model: a ready ``keras.Model`` or ``.keras`` path instead of training.
        history: ``{feed name: canonical frame}`` of bars before each feed's
            first bar, to train on (the feeds can then cover the test period only).
        cache_dir: model cache folder; progress: as for :class:`WalkForward`.

    Example (in a strategy's ``__init__``)::

        pool = PredictionPool(dict(lookback=20, retrain_every=63))
        self.signals = {d._name: PooledPredictor(d, pool=pool).prediction for d in self.datas}
    """

    def __init__(self, config=None, model=None, history=None, cache_dir=None, progress=None):
        if config is None and model is None:
            raise ValueError("PredictionPool needs config= (to train) or model= (a ready model)")
        self.wf = WalkForward(config, model=model, cache_dir=cache_dir, progress=progress)
        self.history = {
            name: history_frame(h, f"PredictionPool(history={{{name!r}: ...}})")
            for name, h in dict(history or {}).items()
        }
        self.feeds: dict[str, object] = {}
        self._batch: dict[str, np.ndarray] | None = None
        self._stream = None
        self._last = None
        self._now: dict[str, float] = {}

    def register(self, data) -> str:
        """Add a feed (called by :class:`PooledPredictor`); returns its name."""
        if self._batch is not None or self._stream is not None:
            raise ValueError("PredictionPool: feeds must be registered before the run starts")
        name = getattr(data, "_name", "") or f"data{len(self.feeds)}"
        if name in self.feeds and self.feeds[name] is not data:
            raise ValueError(f"PredictionPool: two feeds are named {name!r}; name them apart")
        self.feeds[name] = data
        return name

    def subset(self, names) -> PredictionPool:
        """A new pool like this one (model, settings, cache) whose history is that of
        ``names`` only, for a strategy that forecasts some of the feeds this pool has
        history for (:func:`btlstm.bt.signals.signals_of`: a benchmark is not trained
        on). This pool is left as it is. Call it before any feed is registered."""
        import copy

        if self.feeds or self._batch is not None or self._stream is not None:
            raise ValueError("PredictionPool.subset: call it before any feed is registered")
        keep = set(names)
        new = copy.copy(self)
        new.history = {k: v for k, v in self.history.items() if k in keep}
        new.feeds, new._now = {}, {}
        return new

    def _check_history(self, name: str, first_date) -> pd.DataFrame | None:
        h = self.history.get(name)
        if h is not None and len(h) and h.index[-1] >= first_date:
            raise ValueError(
                f"history[{name!r}] must end before the feed's first bar {first_date.date()}, "
                f"but its last bar is {h.index[-1].date()}"
            )
        return h

    def _check_names(self) -> None:
        extra = sorted(set(self.history) - set(self.feeds))
        if extra:
            raise ValueError(
                f"PredictionPool: history for {extra} but no feed of that name "
                f"(feeds: {sorted(self.feeds)})"
            )

    # ------------------------------------------------------------ batched
    def batch(self) -> dict[str, np.ndarray]:
        """Predictions for every bar of every registered (preloaded) feed."""
        if self._batch is not None:
            return self._batch
        self._check_names()
        panel, rows = {}, {}
        for name, data in self.feeds.items():
            frame = feed_frame(data)
            keep = np.ones(len(frame), dtype=bool)
            if _has_line(data, "tradable"):
                tr = np.asarray(data.tradable.array[: len(frame)], dtype=np.float64)
                keep = tr > 0
            rows[name] = np.flatnonzero(keep)
            frame = frame.iloc[rows[name]]
            h = self._check_history(name, frame.index[0]) if len(frame) else None
            n_h = 0
            if h is not None and len(h):
                full = pd.concat([h[list(CANONICAL_COLUMNS)], frame])
                full.attrs = dict(frame.attrs)
                frame, n_h = full, len(h)
            panel[name] = (frame, n_h)
        pred = self.wf.predict({k: f for k, (f, _) in panel.items()})
        out = {}
        for name, data in self.feeds.items():
            line = np.full(len(data.close.array), np.nan)
            line[rows[name]] = pred[name][panel[name][1] :]
            out[name] = line
        self._batch = out
        return out

    # ------------------------------------------------------------ bar by bar
    def step(self, data) -> float:
        """The current bar's prediction for ``data`` (bar-by-bar runs)."""
        date = bar_dates([data.datetime[0]], _is_daily(data))[0]
        if self._last is None or date != self._last:
            self._advance(date)
        return self._now.get(getattr(data, "_name", ""), float("nan"))

    def _make_stream(self):
        """The bar-by-bar engine over every registered feed (see :class:`WalkForwardPredictor`)."""
        return self.wf.stream(list(self.feeds))

    def _advance(self, date) -> None:
        if self._stream is None:
            self._check_names()
            self._stream = self._make_stream()
            hist_dates = sorted(
                set().union(*[set(h.index) for h in self.history.values()] or [set()])
            )
            for name in self.history:
                self._check_history(name, date)
            cols = list(CANONICAL_COLUMNS)
            rows = {  # one numpy pass per frame, not a .loc per day and symbol
                n: dict(zip(h.index, map(tuple, h[cols].to_numpy())))
                for n, h in self.history.items()
            }
            for day in hist_dates:
                bars = {n: r[day] for n, r in rows.items() if day in r}
                self._stream.update_panel(day, bars)
        bars = {}
        for name, data in self.feeds.items():
            if len(data) == 0:
                continue
            if bar_dates([data.datetime[0]], _is_daily(data))[0] != date:
                continue  # no bar of this feed today
            if _has_line(data, "tradable") and not data.tradable[0] > 0:
                continue  # filler bar: not data
            bars[name] = _bar_now(data)
        self._now = self._stream.update_panel(date, bars) if bars else {}
        self._last = date


class PooledPredictor(bt.Indicator):
    """A feed's ``prediction`` line from one pooled model over several feeds.

    Create one per feed with the same :class:`PredictionPool`; the pool
    trains one model on all their windows (walk-forward, no look-ahead) and
    each indicator shows its own feed's forecast of
    ``clip(close[t+horizon]/close[t] - 1, +-clip) * scale``.

    Formula:
      - prediction = pooled_model(zscore(window of this feed ending at t))

    Batched in ``once()``; bar by bar in ``next()``; both equal
    ``WalkForward.predict(panel)`` on the feeds' real (tradable) bars.
    """

    alias = ("PooledPred",)
    lines = ("prediction",)
    params = (("pool", None),)  # the shared PredictionPool
    plotinfo = dict(subplot=True, plotname="pooled prediction", plotyhlines=[0.0])

    def __init__(self):
        if not isinstance(self.p.pool, PredictionPool):
            raise ValueError(f"PooledPredictor needs pool= a PredictionPool, got {self.p.pool!r}")
        self.name = self.p.pool.register(self.data)
        self.addminperiod(1)

    def next(self):
        self.lines.prediction[0] = self.p.pool.step(self.data)

    def once(self, start, end):
        _write(self.lines.prediction.array, self.p.pool.batch()[self.name], start, end)


def _by_date(values, what: str) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise ValueError(f"{what} needs values= a pd.Series of predictions indexed by date")
    out = values.astype(float).copy()
    out.index = pd.DatetimeIndex(pd.to_datetime(out.index)).normalize()
    if out.index.has_duplicates:
        raise ValueError(f"{what}: values has duplicate dates")
    return out


class PrecomputedPrediction(bt.Indicator):
    """A ``prediction`` line read by date from given values (e.g. a seed ensemble's mean).

    No model: the values were made beforehand, each from data up to its own
    date (the caller's promise; btlstm's ensembles average predictions that
    were). A strategy reads it like a :class:`WalkForwardPredictor` line.

    Formula:
      - prediction[t] = values[date of bar t]; NaN for a date not in ``values``
    """

    alias = ("FixedPred",)
    lines = ("prediction",)
    params = (("values", None),)  # a pd.Series of predictions indexed by date
    plotinfo = dict(subplot=True, plotname="prediction (precomputed)", plotyhlines=[0.0])

    def __init__(self):
        self._values = _by_date(self.p.values, "PrecomputedPrediction")
        self.addminperiod(1)

    def next(self):
        date = bar_dates([self.data.datetime[0]], _is_daily(self.data))[0]
        self.lines.prediction[0] = float(self._values.get(date, np.nan))

    def once(self, start, end):
        dates = bar_dates(self.data.datetime.array[:end], _is_daily(self.data))
        _write(self.lines.prediction.array, self._values.reindex(dates).to_numpy(), start, end)


class PrecomputedPool(PredictionPool):
    """A :class:`PredictionPool` that trains nothing: each feed's line is read by date
    from a dates x feed-names frame of given predictions (e.g. a seed ensemble's mean).

    Args:
        values: a DataFrame indexed by date, one column per feed name.
    """

    def __init__(self, values: pd.DataFrame):
        if not isinstance(values, pd.DataFrame):
            raise ValueError("PrecomputedPool needs a DataFrame of predictions (dates x feeds)")
        self.values = {str(c): _by_date(values[c], f"PrecomputedPool[{c!r}]") for c in values}
        self.history: dict = {}
        self.feeds: dict[str, object] = {}
        self._batch = None
        self._stream = None
        self._last = None
        self._now: dict[str, float] = {}

    def batch(self) -> dict[str, np.ndarray]:
        """Every registered feed's values on its bars (NaN where none is given)."""
        if self._batch is None:
            empty = pd.Series(dtype=float)
            self._batch = {
                name: self.values.get(name, empty)
                .reindex(bar_dates(data.datetime.array, _is_daily(data)))
                .to_numpy()
                for name, data in self.feeds.items()
            }
        return self._batch

    def step(self, data) -> float:
        date = bar_dates([data.datetime[0]], _is_daily(data))[0]
        values = self.values.get(getattr(data, "_name", ""))
        return float(values.get(date, np.nan)) if values is not None else float("nan")
