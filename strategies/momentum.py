"""Top-k rotation machinery and the trailing-momentum sector rotation baseline.

:class:`TopKRotation` ranks feeds by a score on a Backtrader timer and holds
the best ``topk`` in equal weight; :class:`MomentumRotation` scores each
sector by its trailing return. :class:`btlstm.strategies.rotation.SectorRotation`
is the same machinery with a pooled LSTM forecast as the score.
"""

from __future__ import annotations

import math

import backtrader as bt

import btlstm  # noqa: F401  (Backtrader patches for Python 3.10+)
from btlstm.bt.rebalance import Rebalancer, is_tradable

__all__ = ["TopKRotation", "MomentumRotation", "MOMENTUM", "REBALANCE"]

#: Momentum variants: name -> (lookback bars, skipped most recent bars).
MOMENTUM = {
    "3m": (63, 0),  # close[t] / close[t-63] - 1
    "12-1": (252, 21),  # close[t-21] / close[t-252] - 1 (the last month skipped)
}

#: Rebalance schedules: Backtrader timer arguments (first trading day of the month / week).
REBALANCE = {
    "monthly": dict(monthdays=[1], monthcarry=True),
    "weekly": dict(weekdays=[1], weekcarry=True),
}


class TopKRotation(bt.Strategy):
    """Hold the top-k feeds by a score, equal weight, rebalanced on a Backtrader timer.

    The machinery shared by :class:`MomentumRotation` and
    :class:`btlstm.strategies.rotation.SectorRotation`; a subclass defines
    :meth:`scores` (``{data: score}`` at the current bar; NaN: not eligible).

    Buy Logic:
      - a timer (``REBALANCE[rebalance]``: the first trading day of each month
        or week) marks the bar; :meth:`next` then ranks the tradable feeds by
        score at that bar's close and sends ``order_target_percent`` orders
        through :class:`btlstm.bt.rebalance.Rebalancer` (stale orders cancelled,
        sales first); they fill at the next open.
      - weight = ``percent / 100 / len(selected)`` for each of the ``topk`` best.

      - a buy the broker refuses at the open for lack of cash (``Margin``: the
        open gapped above the close it was sized on) is resubmitted at once
        with the same target weight, so it fills at the next open (up to
        ``retries`` times; see :class:`btlstm.bt.rebalance.Rebalancer`).

    Sell Logic:
      - every other feed gets weight 0 at the rebalance; with ``cash_filter``
        everything is sold when every score is negative.

    Attributes:
        decisions: one dict per rebalance (``date``, ``scores`` by name, ``held``
            names, best first).
        placed: ``(signal date, feed name, size)`` of every order sent.
    """

    params = (
        ("topk", 2),  # sectors held after each rebalance (>= 1)
        ("rebalance", "monthly"),  # 'monthly' (first bar of each month) or 'weekly'
        ("cash_filter", False),  # hold cash when every sector's score is negative
        ("percent", 99.0),  # share of the portfolio invested, in percent (0, 100]
        ("benchmark", "SPY"),  # feed never traded nor ranked (the benchmark); "" for none
        ("retries", 3),  # resubmit a buy refused for lack of cash at the open (Margin), n times
    )

    def __init__(self):
        p = self.p
        if isinstance(p.topk, bool) or not isinstance(p.topk, int) or p.topk < 1:
            raise ValueError(f"topk: expected an int >= 1, got {p.topk!r}")
        if p.rebalance not in REBALANCE:
            raise ValueError(f"rebalance: expected one of {sorted(REBALANCE)}, got {p.rebalance!r}")
        if not 0 < p.percent <= 100:
            raise ValueError(f"percent: must lie in (0, 100], got {p.percent!r}")
        self.sectors = [d for d in self.datas if d._name != p.benchmark]
        if not self.sectors:
            raise ValueError(
                f"no feed to rotate among: every feed is the benchmark {p.benchmark!r}"
            )
        self.rebalancer = Rebalancer(self, retries=p.retries)
        self.add_timer(when=bt.timer.SESSION_START, **REBALANCE[p.rebalance])
        self.due = False  # set by the timer, acted upon in next() (after the indicators)
        self.decisions = []  # one dict per rebalance: date, scores, held
        self.placed = []  # (signal date, sector, size) of every order sent

    # ------------------------------------------------------------------ hooks
    def scores(self) -> dict:  # pragma: no cover - subclasses define it
        raise NotImplementedError

    def notify_timer(self, timer, when, *args, **kwargs):
        self.due = True  # notify_timer runs before this bar's indicator values are in place

    def notify_order(self, order):
        self.rebalancer.notify_order(order)

    # ------------------------------------------------------------------ logic
    def select(self, scores: dict) -> list:
        """The sectors to hold: the ``topk`` finite scores of tradable sectors, best first
        (ties keep the feed order); none under the cash filter when all are negative."""
        ok = {d: s for d, s in scores.items() if s is not None and math.isfinite(s)}
        ok = {d: s for d, s in ok.items() if is_tradable(d)}
        if not ok:
            return []
        if self.p.cash_filter and all(s < 0 for s in ok.values()):
            return []
        order = sorted(ok, key=lambda d: -ok[d])  # sorted() is stable: ties keep feed order
        return order[: self.p.topk]

    def next(self):
        if not self.due:
            return
        self.due = False
        scores = self.scores()
        chosen = self.select(scores)
        weight = self.p.percent / 100.0 / len(chosen) if chosen else 0.0
        targets = {d: (weight if d in chosen else 0.0) for d in self.sectors}
        orders = self.rebalancer.rebalance(targets)
        date = self.datas[0].datetime.date(0)
        self.placed += [(date, o.data._name, o.created.size) for o in orders]
        self.decisions.append(
            {
                "date": date,
                "scores": {d._name: s for d, s in scores.items()},
                "held": [d._name for d in chosen],
            }
        )

    def live_state(self) -> dict:
        """The bookkeeping a paper run saves after each bar (``btlstm.live``): the
        sectors targeted at the last rebalance, a rebalance marked by the timer and
        not done yet, and the rebalance orders still pending."""
        pending = sorted(
            [o.data._name, o.created.size] for o in self.rebalancer.pending.values() if o.alive()
        )
        return {
            "rebalances": len(self.decisions),
            "held": self.decisions[-1]["held"] if self.decisions else [],
            "due": self.due,
            "pending": pending,
        }


class MomentumRotation(TopKRotation):
    """Hold the top-k sectors by trailing momentum, equal weight, rebalanced on a timer.

    Formula:
      - ``momentum='3m'``: ``close[t] / close[t-63] - 1``
      - ``momentum='12-1'``: ``close[t-21] / close[t-252] - 1`` (12 months,
        the most recent month skipped)
      - bars are the sector's own real (tradable) bars; ``history`` (the bars
        before the feeds, given by the pipeline) lets the first rebalance of
        the test period rank on a full lookback

    Buy Logic / Sell Logic: as :class:`btlstm.strategies.rotation.SectorRotation`
    with momentum in place of the forecast (a sector without ``lookback``
    bars yet has no score and is not eligible).
    """

    params = (
        ("momentum", "3m"),  # '3m' (63 bars) or '12-1' (252 bars, last 21 skipped)
        ("history", None),  # {feed name: frame} of bars before the feeds (pipeline)
    )

    def __init__(self):
        super().__init__()
        if self.p.momentum not in MOMENTUM:
            raise ValueError(
                f"momentum: expected one of {sorted(MOMENTUM)}, got {self.p.momentum!r}"
            )
        self.lookback, self.skip = MOMENTUM[self.p.momentum]
        hist = self.p.history or {}
        self.closes = {}
        for d in self.sectors:
            h = hist.get(d._name)
            self.closes[d._name] = [] if h is None else [float(x) for x in h["close"]]

    def _record(self):
        for d in self.sectors:
            if is_tradable(d):
                self.closes[d._name].append(float(d.close[0]))

    def prenext(self):
        self._record()

    def next(self):
        self._record()
        super().next()

    def scores(self) -> dict:
        out = {}
        for d in self.sectors:
            c = self.closes[d._name]
            if len(c) <= self.lookback or not is_tradable(d):
                out[d] = math.nan
                continue
            out[d] = c[-1 - self.skip] / c[-1 - self.lookback] - 1.0
        return out
