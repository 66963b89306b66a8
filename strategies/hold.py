"""HoldNDays: buy on a bullish prediction and hold for N bars (``docs/strategies/hold.md``).

The strategy reads a *signal line*, never a model: either a line of the data
feed (e.g. a precomputed ``prediction`` column fed through a PandasData
subclass) or the line 0 of an indicator class it instantiates on the data
(e.g. btlstm's ``LSTMPredictor``). It is testable with a hand-written
prediction column and no TensorFlow.
"""

from __future__ import annotations

import math

import backtrader as bt

import btlstm  # noqa: F401  (Backtrader compatibility patches for Python 3.10+)
from btlstm.bt.signals import signal_of
from btlstm.registry import Baseline, register_strategy
from btlstm.splits import ARTICLE_SPLIT
from btlstm.strategies.buyhold import BuyAndHold

__all__ = ["HoldNDays"]


@register_strategy(
    "hold",
    predictor="lstm",  # the pipeline attaches LSTMPredictor through `predictor`/`predictor_kwargs`
    hidden=("signal", "predictor", "predictor_kwargs", "log"),
    defaults={
        "data": {"data": "csi300"},
        "model": dict(ARTICLE_SPLIT),  # train 2005-2014, test 2015-01 .. 2017-05
    },
    baselines=[Baseline("buy-and-hold {feed}", BuyAndHold)],
    title="Hold {params[hold]} days on {data}",
)
class HoldNDays(bt.Strategy):
    """Go long on a bullish prediction; exit ``hold`` bars after the last one.

    Timing (Backtrader's default broker, no cheat-on-close): decisions are
    taken at bar t's close and placed as market orders that fill at bar t+1's
    open. Bars are counted on the data feed, 0-based, from the signal bar.

    Buy Logic:
      - at bar t, prediction ``p[t] > threshold`` and flat (no position, no
        pending order): buy with ``order_target_percent(percent / 100)``;
        the order fills at bar t+1's open;
      - in any case a bullish bar (re)sets the exit bar to ``t + hold``; while
        holding this renews (extends) the holding clock.

    Sell Logic:
      - at bar t, ``p[t] <= threshold`` (bearish) or NaN: nothing is bought and
        the clock is NOT reset; it keeps counting down;
      - at the first bar t with ``t >= exit bar`` that is not itself bullish,
        while holding: ``close()``, which fills at bar t+1's open.

      So a single bullish bar at t buys at t+1's open and sells at
      t+hold+1's open: exactly ``hold`` bars in the market. A bullish bar at
      s (t < s <= t+hold) moves the exit to s+hold.

    NaN predictions (model not ready yet) are no signal: no buy, clock counts.

    Orders: one pending order at a time (no double orders). Margin / rejected /
    cancelled orders clear the pending flag, so the next bullish bar can try
    again. Each order carries ``reason`` ``"signal"`` (a buy) or ``"clock"``
    (an exit) in ``order.info``; the record of every finished order is
    :class:`btlstm.bt.analyzers.OrderLog`'s (``add_standard_analyzers`` adds it
    as ``orders``), and closed trades are Backtrader's ``TradeAnalyzer``'s.

    The prediction line is exposed as ``self.prediction`` (so analyzers such
    as ``btlstm.bt.analyzers.PredictionQuality`` can read it).
    """

    params = (
        ("hold", 5),  # bars to stay long after the last bullish signal (>= 1)
        ("threshold", 0.0),  # bullish when prediction > threshold
        ("percent", 95.0),  # target percent of portfolio value when long (0, 100]
        ("signal", "prediction"),  # name of the prediction line on the data feed
        ("predictor", None),  # or: indicator CLASS built on the data; its line 0 is used
        ("predictor_kwargs", None),  # dict of keyword arguments for `predictor`
        ("log", False),  # print orders, trades and rejections
    )

    def __init__(self):
        hold = self.p.hold
        if isinstance(hold, bool) or not isinstance(hold, int) or hold < 1:
            raise ValueError(f"`hold` must be an integer >= 1 (bars), got {hold!r}")
        try:
            percent = float(self.p.percent)
        except (TypeError, ValueError):
            raise ValueError(
                f"`percent` must be a number in (0, 100], got {self.p.percent!r}"
            ) from None
        if not (0.0 < percent <= 100.0):
            raise ValueError(f"`percent` must be in (0, 100], got {self.p.percent!r}")
        self._target = percent / 100.0
        threshold = float(self.p.threshold)
        if math.isnan(threshold):
            raise ValueError(f"`threshold` must be a number, got {self.p.threshold!r}")
        self._threshold = threshold

        # the signal: a line of the feed, or line 0 of `predictor` built on it (btlstm.bt.signals)
        self.prediction, self.predictor = signal_of(
            self.data,
            line=self.p.signal,
            predictor=self.p.predictor,
            predictor_kwargs=self.p.predictor_kwargs,
            hint=". Feed the prediction through a PandasData subclass with that line, "
            "or pass `predictor`.",
        )

        self.order = None  # the pending order, if any
        self._exit_bar = None  # bar index at/after which the position is closed

    # -- helpers -------------------------------------------------------------
    def _bar(self) -> int:
        return len(self.data) - 1

    def _say(self, text: str) -> None:
        if self.p.log:
            print(f"{self.data.datetime.date(0).isoformat()} {text}")

    # -- notifications -------------------------------------------------------
    def notify_order(self, order):
        if order.alive():
            return  # not finished yet
        side = "BUY" if order.isbuy() else "SELL"
        if order.status == order.Completed:
            ex = order.executed
            self._say(f"{side} {abs(ex.size):g} @ {ex.price:.4f} comm {ex.comm:.2f}")
        else:
            self._say(f"{side} order {order.getstatusname()} (size {order.created.size:g})")
        if self.order is not None and order.ref == self.order.ref:
            self.order = None

    def notify_trade(self, trade):
        if trade.isclosed:
            self._say(f"TRADE closed pnl {trade.pnl:.2f} net {trade.pnlcomm:.2f}")

    def live_state(self) -> dict:
        """The bookkeeping a paper run saves after each bar (``btlstm.live``): the
        holding clock (exit bar) and the pending order."""
        o = self.order
        pending = None if o is None else ["buy" if o.isbuy() else "sell", o.created.size]
        return {"bar": self._bar(), "exit_bar": self._exit_bar, "pending": pending}

    # -- logic ---------------------------------------------------------------
    def next(self):
        t = self._bar()
        p = float(self.prediction[0])
        bullish = not math.isnan(p) and p > self._threshold
        if bullish:
            self._exit_bar = t + self.p.hold  # set or renew the holding clock

        if self.order is not None:  # one order at a time
            return

        holding = self.position.size != 0
        if bullish and not holding:
            self.order = self.order_target_percent(target=self._target)
            if self.order is not None:
                self.order.addinfo(reason="signal")
        elif holding and not bullish and self._exit_bar is not None and t >= self._exit_bar:
            self.order = self.close()
            if self.order is not None:
                self.order.addinfo(reason="clock")
