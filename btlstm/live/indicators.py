"""Live versions of btlstm's predictors: the same lines, fits off the bar loop, versions stamped.

- :class:`LiveLSTMPredictor`: :class:`btlstm.bt.indicators.LSTMPredictor` with a
  second line ``model_version`` (the fit number of the model behind each
  bar's prediction; NaN where there is none);
- :class:`LivePredictionPool`: :class:`btlstm.bt.indicators.PredictionPool` whose
  bar-by-bar path runs one batched forward pass for all its feeds and logs
  the model version of every bar (:attr:`LivePredictionPool.versions`).

Both run a :class:`btlstm.live.engine.LiveStream` from a shared
:class:`~btlstm.live.engine.LiveSession` (the fitter and the fit policy). In a
backtest (preloaded, ``runonce``) they are the plain predictors.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from btlstm.bt.indicators import LSTMPredictor, PredictionPool, bar_dates
from btlstm.data.validate import CANONICAL_COLUMNS
from btlstm.live.engine import LiveSession

__all__ = ["LiveLSTMPredictor", "LivePredictionPool"]

_COLS = list(CANONICAL_COLUMNS)


def _with_history(history, frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[_COLS]
    if history is None or not len(history):
        return frame
    return pd.concat([history[_COLS], frame])


class LiveLSTMPredictor(LSTMPredictor):
    """:class:`~btlstm.bt.indicators.LSTMPredictor` for live feeds.

    The ``prediction`` line is the same forecast (the batched backtest's
    numbers on a replay with ``wait=True``); ``model_version`` names the fit
    (0, 1, ...) of the model that made it. Due fits run in the session's
    fitter, never inside ``next()``; see :mod:`btlstm.live.engine`.

    Formula:
      - prediction = model_k(zscore(window[t - lookback + 1 .. t])), k = model_version[t]
    """

    alias = ("LiveLSTMPred",)
    lines = ("model_version",)
    params = (("session", None),)  # the LiveSession (fitter, wait, expiry); None: inline, wait
    plotlines = dict(model_version=dict(_plotskip=True))

    def __init__(self):
        super().__init__()
        if self.p.session is None:
            self.p.session = LiveSession()

    def _make_stream(self):
        name = getattr(self.data, "_name", "") or "data"
        frames = None
        if callable(getattr(self.data, "replay_frame", None)):
            frames = {name: _with_history(self._history, self.data.replay_frame())}
        return self.p.session.stream(name, self.wf, [name], frames)

    def _update(self) -> float:
        value = super()._update()
        self.lines.model_version[0] = self._stream.version
        return value

    def once(self, start, end):
        super().once(start, end)  # a backtest: the version of each bar from the fit dates
        dates = bar_dates(self.data.datetime.array[:end], self._daily).values
        fits = np.array([np.datetime64(pd.Timestamp(f.date), "ns") for f in self.wf.fits])
        pred = np.asarray(self.lines.prediction.array[:end], dtype=float)
        k = np.searchsorted(fits, dates, side="right") - 1 if len(fits) else np.full(end, -1)
        version = np.where((k >= 0) & np.isfinite(pred), k, np.nan)
        out = self.lines.model_version.array
        for i in range(start, min(end, len(out))):
            out[i] = float(version[i])


class LivePredictionPool(PredictionPool):
    """:class:`~btlstm.bt.indicators.PredictionPool` for live feeds (one pooled model).

    Each bar runs one batched forward pass over every feed that has a bar,
    with one model for all of them; :attr:`versions` lists
    ``(date, model version, its fit date)`` per bar.

    Args:
        session: the :class:`~btlstm.live.engine.LiveSession`; None: inline, wait.
        name: the stream's name in the session (and the run's state).
        other args: as :class:`~btlstm.bt.indicators.PredictionPool`.
    """

    def __init__(
        self,
        config=None,
        model=None,
        history=None,
        cache_dir=None,
        progress=None,
        session=None,
        name: str = "pool",
    ):
        super().__init__(config, model=model, history=history, cache_dir=cache_dir,
                         progress=progress)  # fmt: skip
        self.session = session if session is not None else LiveSession()
        self.name = name
        self.versions: list = []

    def _make_stream(self):
        frames = None
        if all(callable(getattr(d, "replay_frame", None)) for d in self.feeds.values()):
            frames = {}
            for name, data in self.feeds.items():
                f = data.replay_frame()
                if "tradable" in f.columns:  # filler bars are not data (as in batch())
                    f = f.loc[f["tradable"].to_numpy(dtype=float) > 0]
                frames[name] = _with_history(self.history.get(name), f)
        return self.session.stream(self.name, self.wf, list(self.feeds), frames)

    def _advance(self, date) -> None:
        super()._advance(date)
        st = self._stream
        version = st.version if self._now else math.nan
        self.versions.append((date, version, st.version_date if self._now else None))

    @property
    def version(self) -> float:
        """The model version of the latest bar (NaN: none)."""
        return self.versions[-1][1] if self.versions else math.nan
