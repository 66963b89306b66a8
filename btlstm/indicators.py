"""Backtrader indicators over the walk-forward engine.

``LSTMPredictor`` is a thin ``bt.Indicator`` wrapper: all decisions about what
a model may see live in :mod:`btlstm.walkforward`.
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd

import btlstm  # noqa: F401  (compat shims, quiet TensorFlow)
from btlstm.walkforward import WalkForward, WalkForwardConfig

__all__ = ["LSTMPredictor", "bar_dates"]

_BT_EPOCH = 719163.0  # bt.date2num(datetime(1970, 1, 1))


def bar_dates(nums, daily: bool = True) -> pd.DatetimeIndex:
    """Backtrader date numbers -> tz-naive timestamps (normalised to the day for daily data)."""
    nums = np.asarray(nums, dtype=np.float64)
    us = np.round((nums - _BT_EPOCH) * 86_400_000_000.0).astype("int64")
    idx = pd.DatetimeIndex(us.astype("datetime64[us]"))
    return idx.normalize() if daily else idx


class LSTMPredictor(bt.Indicator):
    """Rolling walk-forward LSTM forecast of the forward ``horizon``-bar return.

    The value at bar t is the model's forecast of
    ``clip(close[t+horizon]/close[t] - 1, +-clip) * scale`` made at t's close
    from the last ``lookback`` bars (per-window z-scored
    ``close, open, high, low, amount, volume`` by default). NaN while no model
    may be used yet. The model used at t was trained only on samples whose
    labels were known at t (see :mod:`btlstm.walkforward`).

    Formula:
      - prediction = model(zscore(window[t - lookback + 1 .. t]))

    Runs batched in ``once()`` (preloaded ``runonce`` runs: one pass over the
    whole feed, with a fit at each scheduled bar) and bar by bar in ``next()``
    (``runonce=False``, ``exactbars``, live feeds: a compiled forward pass per
    bar, retraining on the same schedule). Both paths call the same
    walk-forward code and give the same numbers.

    Reads the feed's ``amount`` line when it has one (``btlstm.feeds.PandasFeed``),
    else uses close x volume.

    ``history`` lets the feed cover only the backtest period while the model
    trains on the years before it: the engine sees ``history`` followed by the
    feed's bars (history must end before the feed's first bar), so analyzers
    measure the test period alone.
    """

    alias = ("LSTMPred",)
    lines = ("prediction",)
    params = (
        ("model", None),  # a ready keras.Model or a path to a saved .keras model: no training
        ("config", None),  # WalkForwardConfig or dict: the features, schedule and training
        ("cache_dir", None),  # folder where fitted models are cached (None: no cache)
        ("progress", False),  # print one line per model fit to stderr
        ("history", None),  # canonical frame of bars BEFORE the feed's first bar (training history)
    )
    plotinfo = dict(subplot=True, plotname="LSTM prediction", plotyhlines=[0.0])
    plotlines = dict(prediction=dict(color="purple", _name="prediction"))

    def __init__(self):
        cfg = self.p.config
        if cfg is None:
            if self.p.model is None:
                raise ValueError(
                    "LSTMPredictor needs model= (a keras.Model or a .keras path) or config= "
                    "(a WalkForwardConfig or dict to train), got neither"
                )
            cfg = WalkForwardConfig()
        self.wf = WalkForward(
            cfg, model=self.p.model, cache_dir=self.p.cache_dir, progress=self.p.progress
        )
        self.config = self.wf.config
        n_hist = 0 if self.p.history is None else len(self.p.history)
        self.addminperiod(max(1, self.config.lookback - n_hist))
        self._amount = "amount" in self.data.lines.getlinealiases()
        self._daily = self.data._timeframe >= bt.TimeFrame.Days
        self._stream = None
        self._history = self.p.history
        if self._history is not None:
            from btlstm.data.validate import validate_frame

            validate_frame(self._history, check_ohlc=False)

    def _check_history(self, first_date):
        h = self._history
        if h is not None and len(h) and h.index[-1] >= first_date:
            raise ValueError(
                f"history must end before the feed's first bar {first_date.date()}, "
                f"but its last bar is {h.index[-1].date()}"
            )

    def _plotlabel(self):
        c = self.config
        kind = "model" if self.wf._ready is not None else c.mode
        return [f"lookback={c.lookback}", f"h={c.horizon}", kind]

    # ----------------------------------------------------------- bar by bar
    def _update(self) -> float:
        d = self.data
        date = bar_dates([d.datetime[0]], self._daily)[0]
        if self._stream is None:
            self._stream = self.wf.stream()
            if self._history is not None:
                self._check_history(date)
                cols = ["open", "high", "low", "close", "volume", "amount"]
                for day, row in zip(self._history.index, self._history[cols].to_numpy()):
                    self._stream.update(day, *row)
        vol = d.volume[0]
        amount = d.amount[0] if self._amount else d.close[0] * vol
        return self._stream.update(date, d.open[0], d.high[0], d.low[0], d.close[0], vol, amount)

    def prenext(self):
        # the history must grow from the first bar even before minperiod
        self.lines.prediction[0] = self._update()

    def next(self):
        self.lines.prediction[0] = self._update()

    # ----------------------------------------------------------- batched
    def _frame(self, n: int) -> pd.DataFrame:
        d = self.data

        def arr(line):
            return np.asarray(line.array[:n], dtype=np.float64)

        close, vol = arr(d.close), arr(d.volume)
        f = pd.DataFrame(
            {
                "open": arr(d.open),
                "high": arr(d.high),
                "low": arr(d.low),
                "close": close,
                "volume": vol,
                "amount": arr(d.amount) if self._amount else close * vol,
            },
            index=bar_dates(d.datetime.array[:n], self._daily).rename("date"),
        )
        f.attrs["symbol"] = getattr(d, "_name", "") or "data"
        f.attrs["source"] = f"feed:{f.attrs['symbol']}"
        return f

    def preonce(self, start, end):
        pass  # the line stays NaN before minperiod

    def oncestart(self, start, end):
        self.once(start, end)

    def once(self, start, end):
        if getattr(self, "_batch", None) is None:
            frame = self._frame(len(self.data.close.array))
            h = self._history
            if h is not None and len(h):
                self._check_history(frame.index[0])
                cols = ["open", "high", "low", "close", "volume", "amount"]
                full = pd.concat([h[cols], frame])
                full.attrs = dict(frame.attrs)
                self._batch = self.wf.predict(full)[len(h) :]
            else:
                self._batch = self.wf.predict(frame)
        out = self.lines.prediction.array
        pred = self._batch
        for i in range(start, min(end, len(pred))):
            v = pred[i]
            out[i] = v if not math.isnan(v) else float("nan")
