"""Paper trading: the strategy you backtest, on a live feed, retrained off the bar loop.

- :mod:`btlstm.live.feed`: :class:`ReplayFeed` + :class:`ReplayClock`, a live
  Backtrader feed over recorded bars (``islive()``, ``None`` while no bar is
  due, DELAYED backfill then LIVE, a speed factor, a publish-now hook);
- :mod:`btlstm.live.fitter`: where due fits run (:class:`InlineFitter`,
  :class:`ProcessFitter`, :class:`RayFitter`), all through
  :func:`run_fit_job` (the backtest's own fit and model cache);
- :mod:`btlstm.live.engine`: :class:`LiveStream` (swap at a bar boundary,
  versions, expiry) and the :class:`LiveSession` its predictors share;
- :mod:`btlstm.live.indicators`: :class:`LiveLSTMPredictor` (``prediction`` +
  ``model_version`` lines) and :class:`LivePredictionPool`;
- :mod:`btlstm.live.state`: the :class:`StateStore` written after every bar;
- :mod:`btlstm.live.runner`: :func:`run_paper`, ``btlstm paper <strategy>``.

The walk-through from a backtest script to paper trading to a broker store is
``docs/live.md``.
"""

from btlstm.live.engine import LiveSession, LiveStream, ModelVersion, segment_windows
from btlstm.live.feed import ReplayClock, ReplayFeed, replay_feed
from btlstm.live.fitter import (
    FitDone,
    FitJob,
    Fitter,
    InlineFitter,
    ProcessFitter,
    RayFitter,
    make_fitter,
    run_fit_job,
)
from btlstm.live.indicators import LiveLSTMPredictor, LivePredictionPool
from btlstm.live.runner import LiveRecorder, LiveSettings, run_paper
from btlstm.live.state import StateError, StateStore

__all__ = [
    "ReplayClock",
    "ReplayFeed",
    "replay_feed",
    "FitJob",
    "FitDone",
    "Fitter",
    "InlineFitter",
    "ProcessFitter",
    "RayFitter",
    "make_fitter",
    "run_fit_job",
    "LiveStream",
    "LiveSession",
    "ModelVersion",
    "segment_windows",
    "LiveLSTMPredictor",
    "LivePredictionPool",
    "LiveSettings",
    "LiveRecorder",
    "run_paper",
    "StateStore",
    "StateError",
]
