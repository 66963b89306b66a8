"""btlstm.bt.rebalance on small synthetic panels (no TF): stale-order cancel,
sells before buys, untradable bars, held untradable positions."""

import math

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm.bt.feeds import TradableFiller, add_panel
from btlstm.bt.rebalance import Rebalancer, equal_weights, is_tradable
from btlstm.strategies import BuyAndHold, EqualWeight
from btlstm.synthetic import synthetic_ohlcv

CASH = 100_000.0


def two_symbols(n=30, hole=(), late=0):
    """Symbols A and B on one calendar; B has no bars at positions ``hole`` and
    starts ``late`` bars after A (add_panel turns both into tradable == 0 bars)."""
    a = synthetic_ohlcv(n=n, seed=1, symbol="SYNA", price0=50.0)
    b = synthetic_ohlcv(n=n, seed=2, symbol="SYNB", price0=20.0)
    drop = sorted(set(hole) | set(range(late)))
    b = b.drop(b.index[drop])
    return {"A": a, "B": b}  # feed names: the panel keys


class Scripted(bt.Strategy):
    """Calls ``Rebalancer.rebalance`` with ``plan[bar]`` ({symbol: weight}) on the given bars."""

    params = (("plan", None), ("filler_check", True), ("retries", 3))

    def __init__(self):
        self.rebalancer = Rebalancer(self, retries=self.p.retries)
        self.placed = {}  # bar -> [(symbol, side)]
        self.finished = []  # (bar, symbol, status, side, ref)
        self.pending_after = {}  # bar -> set of pending refs after rebalance

    def notify_order(self, order):
        self.rebalancer.notify_order(order)
        if not order.alive():
            side = "buy" if order.isbuy() else "sell"
            self.finished.append((len(self) - 1, order.data._name, order.getstatusname(), side))

    def next(self):
        bar = len(self) - 1
        plan = self.p.plan.get(bar)
        if plan is None:
            return
        targets = {self.getdatabyname(sym): w for sym, w in plan.items()}
        orders = self.rebalancer.rebalance(targets)
        self.placed[bar] = [(o.data._name, "buy" if o.isbuy() else "sell") for o in orders]
        self.pending_after[bar] = set(self.rebalancer.pending)


def run(panel, strategy=Scripted, filler=None, **kw):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    if filler is not None:
        cerebro.broker.set_filler(filler)
    feeds = add_panel(cerebro, panel, progress=False)
    cerebro.addstrategy(strategy, **kw)
    return cerebro.run()[0], feeds


# -- is_tradable ------------------------------------------------------------------


def test_is_tradable_reads_the_tradable_line_and_nan():
    class Probe(bt.Strategy):
        def __init__(self):
            self.seen = []

        def next(self):
            self.seen.append([is_tradable(d) for d in self.datas])

    class Feed(bt.feeds.PandasData):
        lines = ("tradable",)
        params = (("tradable", "tradable"),)

    idx = pd.bdate_range("2024-01-01", periods=4)
    frame = pd.DataFrame({"close": 1.0, "tradable": [1.0, 0.0, np.nan, 2.0]}, index=idx)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(Feed(dataname=frame))
    cerebro.adddata(bt.feeds.PandasData(dataname=frame[["close"]]))  # no tradable line
    cerebro.addstrategy(Probe)
    seen = cerebro.run()[0].seen
    assert seen == [[True, True], [False, True], [False, True], [True, True]]


# -- stale orders -------------------------------------------------------------------


def test_stale_order_is_cancelled_at_the_next_rebalance():
    # B is suspended on bars 3..7: an order placed at bar 2 cannot fill (TradableFiller holds it)
    panel = two_symbols(hole=range(3, 8))
    plan = {2: {"A": 0.4, "B": 0.4}, 5: {"A": 0.3, "B": 0.3}}
    strat, feeds = run(panel, plan=plan)
    assert isinstance(strat.broker.p.filler, TradableFiller)  # add_panel installed it
    assert sorted(strat.placed[2]) == [("A", "buy"), ("B", "buy")]
    assert len(strat.pending_after[2]) == 2
    # bar 3: A fills; B's order waits over the suspension
    assert (3, "A", "Completed", "buy") in strat.finished
    # bar 5: the new rebalance cancels B's stale buy (notified on the next bar) and places
    # nothing for B (untradable)
    assert (6, "B", "Canceled", "buy") in strat.finished
    assert [s for s, _ in strat.placed[5]] == ["A"]
    assert not any(sym == "B" and status == "Completed" for _, sym, status, _ in strat.finished)
    assert strat.getposition(strat.getdatabyname("B")).size == 0
    assert strat.rebalancer.pending == {}  # everything finished was forgotten


def test_finished_orders_are_not_cancelled_again():
    panel = two_symbols()
    plan = {1: {"A": 0.5}, 4: {"A": 0.5, "B": 0.2}}
    strat, _ = run(panel, plan=plan)
    statuses = [status for _, _, status, _ in strat.finished]
    assert "Canceled" not in statuses  # A's first order had filled: nothing stale
    assert statuses.count("Completed") == 1 + len(strat.placed[4])
    assert ("B", "buy") in strat.placed[4]


def test_partially_filled_order_stays_pending_and_is_cancelled():
    # a tiny volume cap (~200 of ~1,800 shares a bar): the buy fills in pieces, still alive
    panel = two_symbols(n=20)
    plan = {1: {"A": 0.9}, 6: {"A": 0.9}}
    strat, _ = run(panel, filler=TradableFiller(perc=0.0002), plan=plan)
    statuses = [(bar, status) for bar, sym, status, _ in strat.finished if sym == "A"]
    assert (7, "Canceled") in statuses  # cancelled at bar 6, notified at bar 7
    assert strat.placed[6] == [("A", "buy")]  # still under target: a new buy


# -- order of orders ------------------------------------------------------------


def test_sells_are_submitted_before_buys_and_free_the_cash():
    panel = two_symbols()
    # all in A, then swap almost everything into B: the buy needs the sale's cash
    plan = {1: {"A": 0.95, "B": 0.0}, 5: {"B": 0.9, "A": 0.05}}
    strat, _ = run(panel, plan=plan)
    assert strat.placed[5] == [("A", "sell"), ("B", "buy")]  # targets listed B first
    swap = [(sym, status, side) for bar, sym, status, side in strat.finished if bar == 6]
    assert swap == [("A", "Completed", "sell"), ("B", "Completed", "buy")]
    value = strat.broker.getvalue()
    b = strat.getdatabyname("B")
    assert strat.broker.getvalue(datas=[b]) / value == pytest.approx(0.9, abs=0.02)


def test_ties_keep_the_order_of_targets():
    panel = two_symbols()
    strat, _ = run(panel, plan={1: {"B": 0.3, "A": 0.3}})
    assert strat.placed[1] == [("B", "buy"), ("A", "buy")]


# -- untradable bars ------------------------------------------------------------


def test_no_order_on_an_untradable_bar():
    panel = two_symbols(late=5)  # B's first real bar is bar 5
    plan = {2: {"A": 0.4, "B": 0.4}, 5: {"A": 0.4, "B": 0.4}}
    strat, feeds = run(panel, plan=plan)
    b = strat.getdatabyname("B")
    assert [s for s, _ in strat.placed[2]] == ["A"]
    assert ("B", "buy") in strat.placed[5]  # (and A's drift is trimmed)
    fills = [bar for bar, sym, status, _ in strat.finished if sym == "B" and status == "Completed"]
    assert fills == [6]
    assert feeds.phantom["B"] == 5 and b.tradable.array[6] == 1


def test_untradable_held_position_keeps_its_slot():
    # hold A and B, then B is suspended on bars 8..14 while equal weights are recomputed
    panel = two_symbols(n=30, hole=range(8, 15))

    class Equal(Scripted):
        def next(self):
            bar = len(self) - 1
            if bar in (1, 10):
                targets = equal_weights(self, total=0.9)
                self.targets_seen = getattr(self, "targets_seen", {})
                self.targets_seen[bar] = {d._name: w for d, w in targets.items()}
                self.size_b = getattr(self, "size_b", {})
                self.size_b[bar] = self.getposition(self.datas[1]).size
                orders = self.rebalancer.rebalance(targets)
                self.placed[bar] = [o.data._name for o in orders]

    strat, _ = run(panel, strategy=Equal, plan={})
    assert strat.targets_seen[1] == {"A": 0.45, "B": 0.45}
    assert strat.targets_seen[10] == {"A": 0.45, "B": 0.45}  # B keeps its slot
    assert "B" not in strat.placed[10]  # but gets no order
    held = strat.size_b[10]
    assert held > 0
    assert strat.getposition(strat.datas[1]).size == held  # untouched through the suspension


def test_equal_weights_leaves_out_untradable_feeds_not_held():
    panel = two_symbols(late=5)

    class Probe(bt.Strategy):
        def __init__(self):
            self.seen = []

        def next(self):
            self.seen.append({d._name: w for d, w in equal_weights(self, total=0.5).items()})

    strat, _ = run(panel, strategy=Probe)
    assert strat.seen[0] == {"A": 0.5}
    assert strat.seen[5] == {"A": 0.25, "B": 0.25}


# -- argument checks ------------------------------------------------------------


def test_arguments_are_checked():
    with pytest.raises(TypeError, match="`strategy` must be a backtrader.Strategy, got 3"):
        Rebalancer(3)

    class Bad(bt.Strategy):
        params = (("targets", None),)

        def next(self):
            Rebalancer(self).rebalance(self.p.targets(self))

    panel = two_symbols(n=5)
    with pytest.raises(ValueError, match=r"weight of 'A' must be a finite number, got nan"):
        run(panel, strategy=Bad, targets=lambda s: {s.datas[0]: math.nan})
    with pytest.raises(TypeError, match=r"`targets` must be a dict"):
        run(panel, strategy=Bad, targets=lambda s: [s.datas[0]])
    with pytest.raises(ValueError, match=r"`total` must be a finite number, got 'x'"):
        run(panel, strategy=Bad, targets=lambda s: equal_weights(s, total="x"))


def test_orders_carry_the_reason():
    panel = two_symbols(n=6)

    class Tagged(bt.Strategy):
        def __init__(self):
            self.rebalancer = Rebalancer(self, reason="monthly")
            self.reasons = []

        def notify_order(self, order):
            self.rebalancer.notify_order(order)
            if order.status == order.Completed:
                self.reasons.append(order.info.get("reason"))

        def next(self):
            if len(self) == 1:
                self.rebalancer.rebalance({self.datas[0]: 0.5})

    strat, _ = run(panel, strategy=Tagged)
    assert strat.reasons == ["monthly"]


# -- the baselines use it ---------------------------------------------------------


def test_equal_weight_uses_the_rebalancer_and_cancels_stale_orders():
    panel = two_symbols(n=60, hole=range(19, 30))  # B suspended across a month end

    class Logged(EqualWeight):
        def __init__(self):
            super().__init__()
            self.log = []

        def notify_order(self, order):
            super().notify_order(order)
            if not order.alive():
                self.log.append((order.data._name, order.getstatusname()))

    strat, _ = run(panel, strategy=Logged, rebalance="monthly")
    assert isinstance(strat.rebalancer, Rebalancer)
    assert strat.rebalances == strat.rebalancer.count == 3
    assert all(status in ("Completed", "Canceled") for _, status in strat.log)


def test_buy_and_hold_waits_for_a_tradable_bar_and_names_a_bad_feed():
    panel = two_symbols(late=4)
    strat, _ = run(panel, strategy=BuyAndHold, data_name="B")
    b = strat.getdatabyname("B")
    assert strat.getposition(b).size > 0
    assert strat.bought
    with pytest.raises(ValueError, match=r"data_name: no feed named 'C' \(feeds: \['A', 'B'\]\)"):
        run(panel, strategy=BuyAndHold, data_name="C")


# -- close-to-open sizing: a buy refused for cash (Margin) is resubmitted -----------------


def _gap_frame(gaps: dict, n: int = 14) -> pd.DataFrame:
    """Closes of 100 every bar; the open of bar i is 100 * (1 + gaps[i])."""
    idx = pd.bdate_range("2024-01-01", periods=n)
    opens = np.array([100.0 * (1.0 + gaps.get(i, 0.0)) for i in range(n)])
    close = np.full(n, 100.0)
    return pd.DataFrame(
        {"open": opens, "high": np.maximum(opens, close), "low": np.minimum(opens, close),
         "close": close, "volume": 1e6, "amount": 1e8},
        index=idx,
    )  # fmt: skip


@pytest.mark.parametrize("retries", [3, 0])
def test_margin_refused_buy_is_filled_at_the_next_open(retries):
    """Sized at bar 5's close (99% of 100,000 at 100 = 990 shares), the buy meets a 5%
    gap at bar 6's open (990 x 105 > cash): Backtrader refuses it (Margin). The
    rebalancer resubmits it at bar 6's close, capped at 98% of the cash (980 shares),
    and it fills at bar 7's open. Without resubmission (retries=0) the target stays
    unfilled: all cash until the next rebalance."""
    panel = {"A": _gap_frame({6: 0.05})}
    strat, _ = run(panel, plan={5: {"A": 0.99}}, retries=retries)
    broker = strat.broker
    pos = broker.getposition(strat.getdatabyname("A"))
    assert (6, "A", "Margin", "buy") in strat.finished
    if retries:
        assert (7, "A", "Completed", "buy") in strat.finished
        assert pos.size == 980 and pos.price == 100.0  # 0.98 * 100,000 / close 100, filled at 100
        assert broker.getcash() == pytest.approx(CASH - 980 * 100.0)
        assert [a for _, _, a in strat.rebalancer.retried] == [1]
    else:
        assert pos.size == 0 and broker.getcash() == CASH
        assert strat.rebalancer.retried == []


def test_resubmission_stops_after_retries_and_at_the_next_rebalance():
    """Gaps on bars 6, 7, 8 refuse the first buy and two resubmissions; the third
    (retries=3) fills at bar 9. A new rebalance resets the count and replaces the target."""
    panel = {"A": _gap_frame({6: 0.05, 7: 0.05, 8: 0.05}), "B": _gap_frame({})}
    strat, _ = run(panel, plan={5: {"A": 0.99}, 11: {"A": 0.0, "B": 0.99}}, retries=3)
    fin = [(bar, sym, status) for bar, sym, status, _ in strat.finished]
    assert fin[:4] == [(6, "A", "Margin"), (7, "A", "Margin"), (8, "A", "Margin"),
                       (9, "A", "Completed")]  # fmt: skip
    assert [a for _, _, a in strat.rebalancer.retried] == [1, 2, 3]
    assert fin[4:] == [(12, "A", "Completed"), (12, "B", "Completed")]  # sell first, then buy
    assert strat.broker.getposition(strat.getdatabyname("A")).size == 0
    assert strat.broker.getposition(strat.getdatabyname("B")).size == 990
    # one more gap than retries: the target is left unfilled, and reported as Margin
    panel = {"A": _gap_frame({6: 0.05, 7: 0.05, 8: 0.05})}
    strat, _ = run(panel, plan={5: {"A": 0.99}}, retries=2)
    assert [s for _, _, s, _ in strat.finished] == ["Margin"] * 3
    assert strat.broker.getposition(strat.getdatabyname("A")).size == 0
