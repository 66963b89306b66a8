"""One task of a sweep: train one configuration at one seed, score and backtest it.

:func:`run_task` is what every engine runs (:mod:`btlstm.sweep.engines`): it
trains through :class:`~btlstm.forecast.walkforward.WalkForward`, scores the
out-of-sample predictions with :mod:`btlstm.metrics` and backtests them with
:func:`evaluate_predictions` (the configured strategy on a precomputed
``prediction`` line, hold-5 by default, in the cerebro of
:func:`btlstm.bt.cerebro.make_cerebro`), with no retraining. Its result is plain
JSON data: the metrics, the fits, the predictions and the daily returns.
"""

from __future__ import annotations

import json
import math
import os
import time

import numpy as np
import pandas as pd

from btlstm.sweep.engines import Task
from btlstm.sweep.spec import FORMAT, plain

__all__ = ["run_task", "evaluate_predictions", "test_bars", "full_line"]

_DATA: dict = {}


def test_bars(frame: pd.DataFrame, settings) -> np.ndarray:
    """The out-of-sample bars of ``frame``: True from ``model.test_start`` on (all
    bars without a test start), as the pipeline's test period."""
    test = np.ones(len(frame), bool)
    if settings.model.test_start is not None:
        test &= frame.index >= pd.Timestamp(settings.model.test_start)
    return test


def full_line(frame: pd.DataFrame, settings, test_values: np.ndarray) -> np.ndarray:
    """A prediction line over the whole frame from its values on the test bars."""
    full = np.full(len(frame), np.nan)
    full[test_bars(frame, settings)] = test_values
    return full


def frame_of(settings) -> pd.DataFrame:
    """The run's frame, loaded once per process."""
    from btlstm.data.loading import load_data

    key = json.dumps(settings.to_dict()["data"], sort_keys=True) + str(
        (settings.model.train_start, settings.model.test_end)
    )
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = load_data(settings)
    return _DATA[key]


def _tracked_walkforward():
    from btlstm.forecast.walkforward import WalkForward, _predict_batches

    class TrackedWalkForward(WalkForward):
        """WalkForward that also measures each fitted model's MSE on its own training windows."""

        train_mse: list

        def fit(self, prep, i, k, total=None):
            rec = super().fit(prep, i, k, total)
            X, y, _, _ = self.training_set(prep, i)
            if len(X):
                p = _predict_batches(self.learner.predictor(1), X, 512)
                self.train_mse.append(float(np.mean((p - y) ** 2)))
            return rec

    return TrackedWalkForward


def evaluate_predictions(frame: pd.DataFrame, settings, pred: np.ndarray) -> dict:
    """Score and backtest one prediction line (one value per bar of ``frame``).

    Out-of-sample bars are those from ``model.test_start`` on (the pipeline's
    test period). Returns ``rmse`` (against the clipped, scaled target),
    ``hit_rate``, ``ic``, ``rank_ic`` (against the realised forward return,
    :mod:`btlstm.metrics`), ``test_mse`` and, from a backtest of the
    configured strategy on the precomputed ``prediction`` line,
    ``total_return``, ``sharpe`` and ``max_drawdown``
    (:func:`btlstm.bt.analyzers.summary_row`) and ``returns``, its daily returns
    on the test bars (from the starting cash; None for NaN). The backtest's
    cerebro is the runs' own (:func:`btlstm.bt.cerebro.make_cerebro`): the broker
    of ``[costs] market`` (an ``"ashare"`` sweep pays the 5 CNY minimum
    commission and the stamp tax), a lean feed.
    """
    from btlstm import registry
    from btlstm.bt.analyzers import summary_row
    from btlstm.bt.cerebro import make_cerebro
    from btlstm.forecast.features import target_from_return
    from btlstm.metrics import forward_returns, prediction_quality
    from btlstm.significance import daily_returns

    m = settings.model
    pred = np.asarray(pred, dtype=float)
    test = test_bars(frame, settings)
    close = frame["close"].to_numpy(dtype=float)
    real = forward_returns(close, m.horizon)
    target = target_from_return(real, m.clip, m.scale)
    p, t = pred[test], target[test]
    ok = np.isfinite(p) & np.isfinite(t)
    mse = float(np.mean((p[ok] - t[ok]) ** 2)) if ok.any() else math.nan
    q = prediction_quality(p, real[test])
    out = {
        "rmse": math.sqrt(mse),
        "test_mse": mse,
        "hit_rate": q["hit_rate"],
        "ic": q["ic"],
        "rank_ic": q["rank_ic"],
        "n_test": int(ok.sum()),
    }
    feed_frame = frame.loc[test].copy()
    feed_frame["prediction"] = pred[test]
    feed_frame.attrs = dict(frame.attrs)
    name = frame.attrs.get("symbol") or settings.data.data
    # the run's own cerebro set-up: the broker of [costs] market, a lean feed
    # (the feed is the test period: every bar measured, as before the analyzers' window)
    cerebro = make_cerebro(
        {name: feed_frame}, settings.costs, lines=("prediction",), analyzers={"start": "data"}
    )
    params = dict(settings.strategy.params)
    params["signal"] = "prediction"
    cerebro.addstrategy(registry.get(settings.strategy.name).strategy, **params)
    strat = cerebro.run()[0]  # one feed: no gc freeze needed (btlstm.bt.cerebro.run)
    row = summary_row(strat, "strategy")
    out.update({k: row[k] for k in ("total_return", "sharpe", "max_drawdown")})
    bench = strat.analyzers.benchmark.get_analysis()
    returns = daily_returns(bench["series"]["values"], bench["start_value"])
    out["returns"] = [float(v) if math.isfinite(v) else None for v in returns]
    return out


def run_task(task: Task | dict) -> dict:
    """Train, predict, score and backtest one run; returns plain data (JSON types).

    The function every engine runs (in this process, a worker process or a
    Ray worker). Its result holds the metrics of :data:`METRICS`, the fits
    and the out-of-sample predictions (for the seed ensemble).
    """
    from btlstm.settings import Settings

    t0 = time.perf_counter()
    if isinstance(task, dict):
        task = Task(**task)
    settings = Settings.from_dict(task.settings)
    frame = frame_of(settings)
    wf = _tracked_walkforward()(settings.model)
    wf.train_mse = []
    pred = wf.predict(frame)
    scores = evaluate_predictions(frame, settings, pred)
    train_mse = float(np.mean(wf.train_mse)) if wf.train_mse else math.nan
    fits = [f for f in wf.fits if not f.cached]
    epochs = float(np.mean([f.epochs for f in fits])) if fits else math.nan
    test = test_bars(frame, settings)
    result = {
        "format": FORMAT,
        "config": task.config,
        "seed": task.seed,
        "key": task.key,
        "rmse": scores["rmse"],
        "hit_rate": scores["hit_rate"],
        "ic": scores["ic"],
        "rank_ic": scores["rank_ic"],
        "loss_gap": scores["test_mse"] - train_mse,
        "epochs": epochs,
        "total_return": scores["total_return"],
        "sharpe": scores["sharpe"],
        "max_drawdown": scores["max_drawdown"],
        "train_mse": train_mse,
        "test_mse": scores["test_mse"],
        "n_test": scores["n_test"],
        "fits": [
            {
                "date": f.date,
                "n_samples": f.n_samples,
                "epochs": f.epochs,
                "loss": f.loss,
                "val_loss": f.val_loss,
            }
            for f in wf.fits
        ],  # fmt: skip
        "dates": [str(d.date()) for d in frame.index[test]],
        "returns": scores["returns"],  # the backtest's daily returns on those dates
        "predictions": [None if not math.isfinite(v) else float(v) for v in pred[test]],
        "seconds": round(time.perf_counter() - t0, 2),
        "pid": os.getpid(),
    }
    return plain(result)
