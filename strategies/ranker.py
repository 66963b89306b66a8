"""RankerGated: buy the top-ranked stocks while a market gate is bullish
(``docs/strategies/ranker.md``).

The strategy reads lines, never models: a ``score`` line on every stock feed
(precomputed ranker scores, NaN where a stock may not be ranked) and a gate
line (the index ``LSTMPredictor`` on the feed named ``gate`` when the
pipeline runs it, or any line of that feed, e.g. a hand-written
``prediction`` column). ``gate=False`` is the "ranker alone" baseline in the
same run. It is testable with hand-written scores and gate and no TensorFlow.
"""

from __future__ import annotations

import math

import backtrader as bt
import pandas as pd

import btlstm  # noqa: F401  (Backtrader compatibility patches for Python 3.10+)
from btlstm.bt.ashare import round_lot
from btlstm.bt.signals import signal_of, signals_of
from btlstm.registry import Baseline, register_strategy
from btlstm.splits import ARTICLE_SPLIT
from btlstm.strategies.buyhold import BuyAndHold, EqualWeight

__all__ = ["RankerGated", "ARTICLE_CLAIM", "SP500_NOTE", "SURVIVORSHIP_NOTE"]

#: What the article reports for its backtest 2 (stated beside btlstm's numbers).
ARTICLE_CLAIM = (
    "The article's claim: the ranker alone made about +170% with a 55% drawdown over "
    "2015-2016 (about 3,000 A-shares), and the LSTM gate reduced the drawdown while "
    "keeping most of the return. btlstm's measured numbers are in the comparison rows."
)
#: The survivorship caveat of the csi300_members universe.
SURVIVORSHIP_NOTE = (
    "Survivorship bias: the universe is the CSI 300 member list of December 2019 applied "
    "to all history (stocks that left the index or were delisted before then are missing), "
    "which flatters every strategy that picks from it, equal weight included."
)

#: The survivorship caveat of the sp500_5yr universe.
SP500_NOTE = (
    "Survivorship bias: sp500_5yr holds the S&P 500 constituents of about February 2018 "
    "over 2013-2018 (no stock that left the index before then); prices are split- but not "
    "dividend-adjusted."
)


@register_strategy(
    "ranker",
    data="panel",
    predictor="lstm",  # the index LSTM on the `gate` feed (predictor_data below)
    predictor_data="gate",
    extra_data={"gate": {"data": "csi300", "symbol": None, "symbols": ()}},
    scores="ranker",  # the pipeline adds a `score` line per stock (walk-forward LambdaRank)
    extra_lines=("is_st",),
    hidden=("score", "gate_data", "gate_line", "predictor", "predictor_kwargs", "log"),
    defaults={
        # repair="drop": the member file has a few known bad rows (e.g. sh.600048 on
        # 2019-03-27, close outside [low, high]); each dropped row is logged and reported
        "data": {"data": "csi300_members", "repair": "drop"},
        "costs": {"market": "ashare"},
        "model": dict(ARTICLE_SPLIT),  # train 2005-2014, test 2015-01 .. 2017-05
    },
    baselines=[
        Baseline("ranker alone", None, {"gate": False}),  # None: the strategy itself
        Baseline("buy-and-hold index", BuyAndHold, {"data_name": "gate"}),
        Baseline("equal weight universe", EqualWeight, {"exclude": ("gate",)}),
    ],
    notes=(("csi300_members", SURVIVORSHIP_NOTE), ("sp500_5yr", SP500_NOTE), ARTICLE_CLAIM),
    title="Ranker top {params[n_buy]}/day, hold {params[hold]}, gated by the index LSTM, on {data}",
)
class RankerGated(bt.Strategy):
    """Buy the top-ranked tradable stocks while the gate is bullish; hold each ``hold`` bars.

    Timing (Backtrader's default broker, no cheat-on-close): decisions at bar
    t's close, market orders filling at bar t+1's open. Bars are counted on
    the feeds (an aligned panel: all feeds tick together), 0-based.

    Gate: ``g[t] > threshold`` is bullish; NaN is bearish. ``gate=False``
    makes every bar bullish (the "ranker alone" baseline).

    Buy Logic:
      - at bar t, gate bullish: candidates are the stock feeds that are
        tradable at t (``tradable`` line, :func:`btlstm.bt.rebalance.is_tradable`),
        have a finite score, are not held and have no pending order, and
        (``exclude_st``) are not ST (``is_st`` line 1);
      - they are ranked by score, highest first (ties: feed order), and the
        first ``min(n_buy, max_positions - held - pending buys)`` are bought;
      - each gets ``daily_fraction / n_buy`` of the portfolio value at t's
        close, at most the cash left (cash + proceeds of today's sales, less
        pending buys, less 1% for gaps and costs), in whole lots of ``lot``
        shares at t's close price (:func:`btlstm.bt.ashare.round_lot`); a size
        of 0 is skipped;
      - a buy that did not fill at t+1's open (limit-up, suspension, margin)
        is cancelled at t+1's close: buys are day orders.

    Sell Logic:
      - every position is sold (``close()``) at the first bar t with
        ``t >= f + hold - 1``, where f is the bar its buy filled at, whatever
        the gate says: exactly ``hold`` bars in the market (fill at f's open,
        sale at f + hold's open);
      - gate bearish: no new buys, so the book empties as positions age out;
      - a sale that cannot fill (limit-down, suspension, T+1 under the
        A-share broker) stays pending and fills at the first bar it can.

    Every bar appends ``(date, gate value, bullish)`` to ``self.gate_log``
    (``gate.csv`` in the report); every finished order is in
    :class:`btlstm.bt.analyzers.OrderLog` (``orders``). ``self.signals`` is
    ``{gate feed: gate line}`` when gated (the report scores the gate), else
    ``{stock: score line}``.
    """

    params = (
        ("gate", True),  # use the gate; False = the ranker alone (every bar bullish)
        ("n_buy", 10),  # most stocks bought per bullish bar (top of the ranking)
        ("daily_fraction", 0.2),  # share of the portfolio value bought per bullish bar, (0, 1]
        ("max_positions", 50),  # most positions held (pending buys included)
        ("hold", 5),  # bars each position is held, from its own buy fill (>= 1)
        ("threshold", 0.0),  # gate bullish when gate value > threshold
        ("exclude_st", True),  # never buy a stock whose is_st line is 1
        ("lot", 100),  # buy sizes rounded down to lots of this many shares (1: none)
        ("score", "score"),  # name of the score line on each stock feed
        ("gate_data", "gate"),  # name of the feed that carries the gate
        ("gate_line", "prediction"),  # line of the gate feed read as the gate (no predictor)
        ("predictor", None),  # or: indicator CLASS built on the gate feed; its line 0 is the gate
        ("predictor_kwargs", None),  # dict of keyword arguments for `predictor`
        ("log", False),  # print orders
    )

    def __init__(self):
        p = self.p
        for name in ("n_buy", "max_positions", "hold", "lot"):
            v = getattr(p, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"`{name}` must be an integer >= 1, got {v!r}")
        frac = float(p.daily_fraction)
        if not (0.0 < frac <= 1.0):
            raise ValueError(f"`daily_fraction` must be in (0, 1], got {p.daily_fraction!r}")
        self._frac = frac
        self._threshold = float(p.threshold)
        if math.isnan(self._threshold):
            raise ValueError(f"`threshold` must be a number, got {p.threshold!r}")

        by_name = {d._name: d for d in self.datas}
        self.gate_feed = by_name.get(p.gate_data)
        self.stocks = [d for d in self.datas if d is not self.gate_feed]
        if not self.stocks:
            raise ValueError("RankerGated needs at least one stock feed besides the gate feed")
        add = "; add the scores as a column and expose it (add_panel(..., extra_lines=('score',)))"
        score = signals_of(self.stocks, line=p.score, param="score", hint=add)
        self.scores = list(score.values())
        self.st = [d.is_st if "is_st" in d.lines.getlinealiases() else None for d in self.stocks]

        self.gate_value = None
        if p.gate:
            if self.gate_feed is None:
                raise ValueError(
                    f"`gate_data`: no feed named {p.gate_data!r} (feeds: {list(by_name)[:8]}); "
                    "add the gate feed or run with gate=False (the ranker alone)"
                )
            # the gate: a line of the gate feed, or line 0 of `predictor` built on it
            self.gate_value, predictor = signal_of(
                self.gate_feed,
                line=p.gate_line,
                predictor=p.predictor,
                predictor_kwargs=p.predictor_kwargs,
                param="gate_line",
                hint="; or pass `predictor`",
            )
            if predictor is not None:
                self.predictor = predictor
            self.signals = {self.gate_feed._name: self.gate_value}
        else:
            self.signals = score

        self.index = {id(d): i for i, d in enumerate(self.stocks)}
        trad = [d.tradable if "tradable" in d.lines.getlinealiases() else None for d in self.stocks]
        self._rows = list(zip(self.scores, trad, self.st, strict=True))
        self.fill_bar = {}  # stock index -> bar its current position was bought at
        self.pending = {}  # stock index -> live order
        self.gate_log = []  # (date, gate value, bullish)

    # -- notifications ---------------------------------------------------------
    def _bar(self) -> int:
        return len(self.stocks[0]) - 1

    def notify_order(self, order):
        if order.alive():
            return
        i = self.index.get(id(order.data))
        if i is None:
            return
        mine = self.pending.get(i)
        if mine is not None and mine.ref == order.ref:  # notifications carry clones
            del self.pending[i]
        done = order.status == order.Completed
        if done and order.isbuy():
            self.fill_bar[i] = self._bar()
        if done and not order.isbuy() and self.getposition(order.data).size == 0:
            self.fill_bar.pop(i, None)
        if self.p.log:
            size = abs(order.executed.size) if order.executed.size else float("nan")
            side = "buy" if order.isbuy() else "sell"
            date = self.stocks[0].datetime.date(0)
            print(f"{date} {side} {order.data._name} {size} {order.getstatusname()}")

    # -- logic -------------------------------------------------------------------
    def _gate(self):
        if not self.p.gate:
            return float("nan"), True
        g = float(self.gate_value[0])
        return g, (g == g and g > self._threshold)

    def next(self):
        t = self._bar()
        g, bullish = self._gate()
        self.gate_log.append((self.stocks[0].datetime.date(0), g, bullish))

        # day orders: a buy still alive one bar after it was placed is cancelled
        for i, order in list(self.pending.items()):
            if order.isbuy() and order.info.get("bar", t) < t:
                why = order.info.get("blocked")  # the A-share filler's refusal, if any
                order.addinfo(detail=f"day order not filled by the next close ({why or 'no fill'})")
                self.cancel(order)
                del self.pending[i]  # free the slot now; the notification comes next bar

        # sales: every position once held `hold` bars, by its own buy bar
        proceeds = 0.0
        for i, f in list(self.fill_bar.items()):
            d = self.stocks[i]
            pos = self.getposition(d).size
            if pos > 0 and i not in self.pending and t >= f + self.p.hold - 1:
                order = self.close(data=d)
                if order is not None:
                    order.addinfo(bar=t, reason="hold")
                    self.pending[i] = order
                    proceeds += pos * d.close[0]
        if not bullish:
            return

        # buys: the top-ranked tradable stocks not held (fill_bar holds the positions)
        pending = self.pending
        selling = sum(1 for i in self.fill_bar if i in pending and pending[i].issell())
        n_pending_buys = sum(1 for o in pending.values() if o.isbuy())
        n = min(
            self.p.n_buy, self.p.max_positions - (len(self.fill_bar) - selling) - n_pending_buys
        )
        if n <= 0:
            return
        cand = []
        held = self.fill_bar
        exclude_st = self.p.exclude_st
        # lines read as array[idx] (what line[0] does, without the call): hot loop
        for i, (sc, tr, st) in enumerate(self._rows):
            s = sc.array[sc.idx]
            if s != s or i in pending or i in held:
                continue
            if tr is not None:
                v = tr.array[tr.idx]
                if not v > 0:  # 0 or NaN: suspended or not listed
                    continue
            if exclude_st and st is not None and st.array[st.idx] > 0:
                continue
            cand.append((-s, i))
        if not cand:
            return
        cand.sort()
        broker = self.broker
        reserved = sum(o.created.size * o.created.price for o in self.pending.values() if o.isbuy())
        cash = (broker.getcash() + proceeds - reserved) * 0.99
        budget = self._frac * broker.getvalue() / self.p.n_buy
        for _, i in cand[:n]:
            d = self.stocks[i]
            price = d.close[0]
            spend = min(budget, cash)
            if not price > 0 or spend <= 0:
                break
            size = round_lot(spend / price, self.p.lot)
            if size <= 0:
                continue
            order = self.buy(data=d, size=size)
            if order is None:
                continue
            order.addinfo(bar=t, reason="rank")
            self.pending[i] = order
            cash -= size * price

    def live_state(self) -> dict:
        """The bookkeeping a paper run saves after each bar (``btlstm.live``): each
        position's buy bar (its exit clock) and the pending orders (exits included)."""
        name = [d._name for d in self.stocks]
        return {
            "bar": self._bar(),
            "fill_bar": {name[i]: b for i, b in sorted(self.fill_bar.items())},
            "pending": {
                name[i]: ["buy" if o.isbuy() else "sell", o.created.size]
                for i, o in sorted(self.pending.items())
            },
        }

    # -- report ------------------------------------------------------------------
    def report_files(self) -> dict:
        """Extra report files: ``gate.csv`` (date, gate, bullish)."""
        gate = pd.DataFrame(self.gate_log, columns=["date", "gate", "bullish"])
        gate["date"] = pd.to_datetime(gate["date"])
        return {"gate.csv": gate}
