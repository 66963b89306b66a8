"""Sector rotation on pooled LSTM forecasts: hold the top-k sectors, rebalance on a timer.

The strategy of the article "Using LSTM to implement a sector rotation
trading strategy" (``docs/strategies/rotation.md``): one pooled walk-forward
model forecasts each sector's forward return over the rebalance horizon; on
the first bar of each month (or week) the strategy holds the ``topk``
sectors with the highest forecast in equal weight. The benchmark feed (SPY)
is in the same run for the report but is never traded nor forecast.
"""

from __future__ import annotations

import btlstm  # noqa: F401  (Backtrader patches for Python 3.10+)
from btlstm.bt.signals import signals_of
from btlstm.registry import Baseline, register_strategy
from btlstm.strategies.buyhold import BuyAndHold, EqualWeight
from btlstm.strategies.momentum import MomentumRotation, TopKRotation

__all__ = ["SectorRotation", "ROTATION_COSTS"]

#: ETF costs of the rotation run: 1 bp commission per fill and 1 bp slippage.
ROTATION_COSTS = {"commission": 0.0001, "slippage": 0.0001}

#: What the momentum baselines take over from the rotation as run: same schedule and k.
_SAME = ("topk", "rebalance", "cash_filter", "percent", "benchmark", "retries")


@register_strategy(
    "rotation",
    data="panel",
    predictor="pooled",
    hidden=("signal", "pool"),
    defaults={
        "data": {"data": "sector_etfs", "adjust": "total_return"},
        "model": {
            "mode": "walkforward",
            "train_start": "1999-01-01",
            "test_start": "2005-01-01",
            "test_end": "2025-09-30",
            "lookback": 30,
            "horizon": 21,
            "features": ("close", "ret1", "hl_range", "log_volume"),
            "retrain_every": 126,
            "window": "rolling",
            "train_window": 1260,
            "epochs": 6,
            "warm_start": True,
            "warm_epochs": 2,
            "batch_size": 256,
            "lstm_units": 16,
            "dense_units": (16,),
        },
        "costs": {**ROTATION_COSTS},
    },
    baselines=[
        Baseline("buy-and-hold SPY", BuyAndHold, {"data_name": "SPY"}),
        # the same rebalance calendar as the strategy (monthly or weekly)
        Baseline("equal-weight sectors", EqualWeight, {"exclude": ("SPY",)}, ("rebalance",)),
        Baseline("momentum 3m top-{params[topk]}", MomentumRotation, {"momentum": "3m"}, _SAME),
        Baseline("momentum 12-1 top-{params[topk]}", MomentumRotation, {"momentum": "12-1"}, _SAME),
    ],
    title="Sector rotation: top {params[topk]} of the sectors by pooled LSTM forecast, "
    "{params[rebalance]}, on {data}",
)
class SectorRotation(TopKRotation):
    """Hold the top-k sectors by pooled forecast, equal weight, rebalanced on a timer.

    Formula:
      - forecast of sector ``i`` at bar ``t``: the pooled model's forecast of
        ``clip(close[t+h]/close[t] - 1, +-clip) * scale`` (one model trained on
        every sector's windows, walk-forward, no look-ahead; ``h`` = the model's
        ``horizon``, 21 bars for a monthly rebalance)
      - selected = the ``topk`` tradable sectors with the highest finite forecast
      - weight = ``percent / 100 / len(selected)`` each, 0 for every other sector

    Buy Logic:
      - on the first bar of each month (``rebalance='monthly'``) or week
        (``'weekly'``), decided at that bar's close (a Backtrader timer marks
        the bar, :meth:`next` decides once the forecasts are in), orders fill
        at the next open; sales before buys, stale orders cancelled
        (:class:`btlstm.bt.rebalance.Rebalancer`).

    Sell Logic:
      - a sector that drops out of the top ``topk`` is sold at the next rebalance;
      - ``cash_filter``: when every forecast is negative, everything is sold (cash).

    The ``benchmark`` feed (SPY) is never traded and gets no forecast. Sectors
    without a forecast (NaN, e.g. before the first fit) are not eligible.
    Forecasts come from ``pool`` (the pipeline's pooled model) or, without it,
    from a line ``signal`` of each feed (hand-written, for tests).
    """

    params = (
        ("signal", "prediction"),  # line of each feed with a given forecast (when pool is None)
        ("pool", None),  # the PredictionPool of one pooled model (set by the pipeline)
    )

    def __init__(self):
        super().__init__()
        # one pooled forecast per sector (the benchmark is not trained on), or a line of
        # each feed; the shared pool is never edited (btlstm.bt.signals)
        self.signals = signals_of(
            self.sectors,
            line=self.p.signal,
            pool=self.p.pool,
            hint="; give pool= or feeds with that line (add_panel(extra_lines=...))",
        )

    def scores(self) -> dict:
        return {d: float(self.signals[d._name][0]) for d in self.sectors}
