"""RankerGated (strategies/ranker.py): the exact orders of the gate rule on a
hand-made panel with hand-written scores and gate (no models, no TensorFlow),
the A-share checks inside the strategy, look-ahead and run-mode invariance."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import orderlog
import pandas as pd
import pytest

from btlstm.bt.analyzers import OrderLog, add_standard_analyzers
from btlstm.bt.broker import setup_broker
from btlstm.bt.feeds import add_panel, make_feed
from btlstm.strategies.buyhold import EqualWeight
from btlstm.strategies.ranker import RankerGated

SYMS = ["sh.600000", "sh.600001", "sh.600002", "sh.600003"]
A, B, C, D = SYMS


def panel_frames(n=12, prices=None, scores=None, tradestatus=None, is_st=None, seed=None):
    """``{symbol: frame}`` with flat prices of 10 (or ``prices[sym]``) and a score column."""
    idx = pd.bdate_range("2015-01-05", periods=n, name="date")
    out = {}
    for k, sym in enumerate(SYMS):
        if prices is not None and sym in prices:
            close = np.asarray(prices[sym], dtype=float)
        else:
            close = np.full(n, 10.0)
        f = pd.DataFrame(
            {"open": close, "high": close, "low": close, "close": close,
             "volume": 1e6, "amount": 1e7},
            index=idx,
        )  # fmt: skip
        f["score"] = (scores or {}).get(sym, np.full(n, float(len(SYMS) - k)))
        f["tradestatus"] = (tradestatus or {}).get(sym, np.ones(n))
        f["is_st"] = (is_st or {}).get(sym, np.zeros(n))
        out[sym] = f
    return out


def gate_frame(values, n=None):
    n = len(values)
    idx = pd.bdate_range("2015-01-05", periods=n, name="date")
    f = pd.DataFrame(
        {"open": 3000.0, "high": 3000.0, "low": 3000.0, "close": 3000.0, "volume": 1e9,
         "amount": 1e11, "prediction": np.asarray(values, dtype=float)},
        index=idx,
    )  # fmt: skip
    return f


def run(panel, gate_df, market="plain", runonce=True, preload=True, analyzers=False, **params):
    cerebro = bt.Cerebro(stdstats=False, runonce=runonce, preload=preload)
    add_panel(cerebro, panel, extra_lines=("score", "is_st"), progress=False)
    if gate_df is not None:
        cerebro.adddata(make_feed(gate_df, name="gate", extra_lines=("prediction",)), name="gate")
    if market == "ashare":
        from btlstm.bt.ashare import setup_ashare_broker

        setup_ashare_broker(cerebro, slippage_perc=0.0)
    else:
        setup_broker(cerebro, commission=0.0, slippage_perc=0.0)
    cerebro.addstrategy(RankerGated, **params)
    if analyzers:
        add_standard_analyzers(cerebro, signal=True)
    else:
        cerebro.addanalyzer(OrderLog, _name="orders")
    return cerebro.run()[0]


def orders(strat, statuses=("Completed",)):
    """(created bar, fill bar, symbol, side, size) of the finished orders (OrderLog)."""
    return [
        (r["created_bar"], r["bar"], r["symbol"], r["side"], r["size"])
        for r in orderlog.orders(strat)
        if r["status"] in statuses
    ]


# gate: bullish at bars 0, 1 and 6 only
GATE = [1, 1, -1, -1, -1, -1, 1, -1, -1, -1, -1, -1]
# scores: A > B > C > D at every bar, except bar 6 where D > C > B > A
SCORES = {
    A: [4, 4, 4, 4, 4, 4, 1, 4, 4, 4, 4, 4],
    B: [3, 3, 3, 3, 3, 3, 2, 3, 3, 3, 3, 3],
    C: [2, 2, 2, 2, 2, 2, 3, 2, 2, 2, 2, 2],
    D: [1, 1, 1, 1, 1, 1, 4, 1, 1, 1, 1, 1],
}
PARAMS = dict(n_buy=2, daily_fraction=0.4, hold=3, max_positions=10, lot=100)


def test_gate_rule_exact_orders():
    strat = run(panel_frames(scores=SCORES), gate_frame(GATE), **PARAMS)
    # budget per buy: 0.4 * 1,000,000 / 2 = 200,000 CNY = 20,000 shares at 10
    n = 20000
    assert orders(strat) == [
        (0, 1, A, "buy", n),  # bar 0 bullish: the top two, A and B, fill at bar 1's open
        (0, 1, B, "buy", n),
        (1, 2, C, "buy", n),  # bar 1 bullish: A, B held, so the next two, C and D
        (1, 2, D, "buy", n),
        (3, 4, A, "sell", n),  # bearish from bar 2: no buys; A, B bought at 1, held 3 bars
        (3, 4, B, "sell", n),
        (4, 5, C, "sell", n),  # C, D bought at 2: sold at 5's open
        (4, 5, D, "sell", n),
        (6, 7, D, "buy", n),  # bar 6 bullish, the ranking reversed: D and C
        (6, 7, C, "buy", n),
        (9, 10, D, "sell", n),  # bought at 7, held 3 bars: sold at 10's open
        (9, 10, C, "sell", n),
    ]
    assert [b for _, _, b in strat.gate_log] == [g > 0 for g in GATE]
    files = strat.report_files()
    assert list(files["gate.csv"].columns) == ["date", "gate", "bullish"]
    assert len(files["gate.csv"]) == len(GATE)


def test_ranker_alone_is_the_same_class_with_the_gate_off():
    strat = run(panel_frames(scores=SCORES), gate_frame(GATE), gate=False, **PARAMS)
    n = 20000
    got = orders(strat)
    assert got[:8] == [
        (0, 1, A, "buy", n),
        (0, 1, B, "buy", n),
        (1, 2, C, "buy", n),
        (1, 2, D, "buy", n),
        # bar 2: every stock held, nothing to buy; bar 3: A, B sold (pending sales are
        # not candidates), C and D still held
        (3, 4, A, "sell", n),
        (3, 4, B, "sell", n),
        (4, 5, C, "sell", n),  # bar 4: C, D sold; A and B are flat again: bought
        (4, 5, D, "sell", n),
    ]
    assert got[8:10] == [(4, 5, A, "buy", n), (4, 5, B, "buy", n)]
    # no gate feed needed at all for the ranker alone
    alone = run(panel_frames(scores=SCORES), None, gate=False, **PARAMS)
    assert orders(alone) == got


def test_max_positions_nan_scores_suspension_and_st_are_skipped():
    n = 12
    scores = {A: [np.nan] * n}  # A: never scored
    ts = {B: [0] + [1] * (n - 1)}  # B: suspended at bar 0
    st = {C: [1] * n}  # C: ST
    strat = run(
        panel_frames(scores=scores, tradestatus=ts, is_st=st),
        gate_frame([1] + [-1] * (n - 1)),
        n_buy=4, daily_fraction=0.4, hold=3, max_positions=1,
    )  # fmt: skip
    # only D qualifies at bar 0; max_positions=1 allows one buy anyway
    assert [(o[0], o[2], o[3]) for o in orders(strat)] == [(0, D, "buy"), (3, D, "sell")]
    both = run(
        panel_frames(scores=scores, tradestatus=ts, is_st=st),
        gate_frame([1] + [-1] * (n - 1)),
        n_buy=4, daily_fraction=0.4, hold=3, max_positions=10, exclude_st=False,
    )  # fmt: skip
    assert sorted(o[2] for o in orders(both) if o[3] == "buy") == [C, D]


def test_a_buy_blocked_at_limit_up_is_cancelled_after_one_bar():
    n = 12
    prices = {A: [10, 10, 11] + [11] * (n - 3)}  # A opens +10% at bar 2
    strat = run(
        panel_frames(prices=prices, scores=SCORES),
        gate_frame([-1, 1] + [-1] * (n - 2)),
        market="ashare",
        analyzers=True,
        **PARAMS,
    )
    log = orderlog.orders(strat)
    got = [(r["created_bar"], r["bar"], r["symbol"], r["side"], r["status"], r["detail"])
           for r in log]  # fmt: skip
    # A: refused at 2's open (limit-up), cancelled at 2's close, notified at bar 3; trades.csv
    # says why (the orders analyzer's detail column)
    assert got[:2] == [
        (1, 2, B, "buy", "Completed", ""),
        (1, 3, A, "buy", "Canceled", "day order not filled by the next close (limit-up)"),
    ]
    assert all(r["symbol"] != A or r["side"] != "buy" or r["status"] != "Completed"
               for r in log)  # fmt: skip
    sizes = [r["size"] for r in log if r["status"] == "Completed"]
    assert all(s % 100 == 0 for s in sizes)


def test_a_sale_blocked_at_limit_down_waits_and_fills_later():
    n = 12
    prices = {A: [10, 10, 10, 10, 9, 8.1, 8.1, 8.1, 8.1, 8.1, 8.1, 8.1]}  # -10% at 4 and 5
    strat = run(
        panel_frames(prices=prices, scores=SCORES),
        gate_frame([1] + [-1] * (n - 1)),
        market="ashare",
        n_buy=1, daily_fraction=0.4, hold=3,
    )  # fmt: skip
    got = [(r["created_bar"], r["bar"], r["symbol"], r["side"], r["status"])
           for r in orderlog.orders(strat)]  # fmt: skip
    # bought at 1; the sale decided at 3 cannot fill at 4 or 5 (limit-down): fills at 6
    assert got == [(0, 1, A, "buy", "Completed"), (3, 6, A, "sell", "Completed")]


def test_no_look_ahead_orders_up_to_t_do_not_depend_on_later_prices_or_scores():
    n = 40
    rng = np.random.default_rng(0)
    prices = {s: 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) for s in SYMS}
    scores = {s: rng.normal(size=n) for s in SYMS}
    gate = rng.normal(size=n)
    base = run(panel_frames(n, prices, scores), gate_frame(gate), n_buy=2, hold=3)
    t = 25
    prices2 = {s: np.r_[p[: t + 1], p[t + 1 :] * rng.uniform(0.5, 1.5, n - t - 1)]
               for s, p in prices.items()}  # fmt: skip
    scores2 = {s: np.r_[v[: t + 1], rng.normal(size=n - t - 1)] for s, v in scores.items()}
    gate2 = np.r_[gate[: t + 1], rng.normal(size=n - t - 1)]
    other = run(panel_frames(n, prices2, scores2), gate_frame(gate2), n_buy=2, hold=3)

    def created_upto(strat):
        return [
            (r["created_bar"], r["symbol"], r["side"], r["created_date"])
            for r in orderlog.orders(strat)
            if r["created_bar"] <= t - 1
        ]

    assert created_upto(base) == created_upto(other)
    assert len(created_upto(base)) > 4
    assert base.gate_log[: t + 1] == other.gate_log[: t + 1]


@pytest.mark.parametrize("runonce, preload", [(True, True), (False, True), (False, False)])
def test_run_modes_give_identical_orders(runonce, preload):
    n = 40
    rng = np.random.default_rng(1)
    prices = {s: 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) for s in SYMS}
    scores = {s: rng.normal(size=n) for s in SYMS}
    gate = rng.normal(size=n)
    ref = run(panel_frames(n, prices, scores), gate_frame(gate), market="ashare", n_buy=2)
    got = run(panel_frames(n, prices, scores), gate_frame(gate), market="ashare", n_buy=2,
              runonce=runonce, preload=preload)  # fmt: skip
    assert orderlog.orders(got) == orderlog.orders(ref)
    assert len(orderlog.orders(ref)) > 4


def test_signals_and_standard_analyzers():
    strat = run(panel_frames(scores=SCORES), gate_frame(GATE), analyzers=True, **PARAMS)
    assert list(strat.signals) == ["gate"]
    alone = run(panel_frames(scores=SCORES), None, gate=False, analyzers=True, **PARAMS)
    assert sorted(alone.signals) == sorted(SYMS)


def test_bad_params_and_missing_lines_are_named():
    with pytest.raises(ValueError, match="n_buy"):
        run(panel_frames(), gate_frame(GATE), n_buy=0)
    with pytest.raises(ValueError, match="daily_fraction"):
        run(panel_frames(), gate_frame(GATE), daily_fraction=1.5)
    with pytest.raises(ValueError, match="gate_data"):
        run(panel_frames(), None)


def test_equal_weight_baseline_leaves_the_gate_feed_out():
    cerebro = bt.Cerebro(stdstats=False)
    add_panel(cerebro, panel_frames(), extra_lines=("score",), progress=False)
    cerebro.adddata(make_feed(gate_frame(GATE), name="gate", extra_lines=("prediction",)))
    setup_broker(cerebro, commission=0.0, slippage_perc=0.0)
    cerebro.addstrategy(EqualWeight, exclude=("gate",))
    strat = cerebro.run()[0]
    held = {d._name for d in strat.datas if strat.getposition(d).size}
    assert held == set(SYMS)


def test_registered_with_baselines_and_two_datasets():
    from btlstm.registry import get

    plan = get("ranker")
    assert plan.data == "panel" and plan.predictor == "lstm" and plan.predictor_data == "gate"
    assert plan.extra_data["gate"]["data"] == "csi300" and plan.scores == "ranker"
    names = [b.name for b in plan.baselines]
    assert names == ["ranker alone", "buy-and-hold index", "equal weight universe"]
    assert plan.baselines[0].strategy is None and plan.baselines[0].params == {"gate": False}
    assert {"n_buy", "daily_fraction", "max_positions", "hold", "threshold", "gate"} <= set(
        plan.params
    )
    assert plan.defaults["costs"]["market"] == "ashare"


# ---------------------------------------------------------------- through the pipeline
@pytest.fixture
def plumbing():
    """RankerGated registered like 'ranker' but on synthetic data: the gate is the
    'lstm' predictor with the ridge learner on an extra synthetic feed, the scores a
    trivial 20-bar momentum scorer (no TensorFlow, no LightGBM)."""
    from btlstm import registry
    from btlstm.registry import Baseline, register_scorer, register_strategy
    from btlstm.strategies.buyhold import BuyAndHold

    @register_scorer("test-momentum")
    def momentum(settings, panel, cache_dir=None, progress=None):
        wide = pd.DataFrame({k: f["close"] for k, f in panel.items()})
        return {
            "scores": wide.pct_change(20, fill_method=None),
            "report": {"quality": {"note": "momentum"}},
            "tables": {"extra.csv": pd.DataFrame({"a": [1]})},
        }

    class Plumbed(RankerGated):
        pass

    register_strategy(
        "ranker-plumbing",
        data="panel",
        predictor="lstm",
        predictor_data="gate",
        extra_data={"gate": {"data": "synthetic", "synthetic": {"n": 700, "start": "2010-01-04"}}},
        scores="test-momentum",
        extra_lines=("is_st",),
        hidden=("score", "gate_data", "gate_line", "predictor", "predictor_kwargs", "log"),
        defaults={"costs": {"market": "ashare"}},
        baselines=[
            Baseline("ranker alone", None, {"gate": False}),
            Baseline("buy-and-hold index", BuyAndHold, {"data_name": "gate"}),
            Baseline("equal weight universe", EqualWeight, {"exclude": ("gate",)}),
        ],
        notes=(("synthetic", "a note for synthetic runs"), ("csi300_members", "not shown")),
    )(Plumbed)
    yield registry.get("ranker-plumbing")
    registry._PLANS.pop("ranker-plumbing", None)
    registry.SCORERS.pop("test-momentum", None)


def test_pipeline_loads_two_datasets_scores_and_gate(plumbing, tmp_path):
    from btlstm import pipeline
    from btlstm.report import load_report
    from btlstm.settings import Settings

    s = Settings.from_dict(
        {
            "strategy": {"name": "ranker-plumbing", "n_buy": 2, "daily_fraction": 0.5},
            "data": {"data": "synthetic", "synthetic": {"n_symbols": 5, "n": 700,
                                                        "start": "2010-01-04"}},
            "model": {"learner": "ridge", "mode": "static", "train_start": "2010-01-01",
                      "train_end": "2011-06-30", "test_start": "2011-07-01", "test_end": None},
            "output": {"out": str(tmp_path / "r"), "plots": False, "quiet": True},
        }
    )  # fmt: skip
    result = pipeline.run_backtest(s)
    r = result.report
    names = [row["name"] for row in r["comparison"]]
    assert names == ["ranker-plumbing", "ranker alone", "buy-and-hold index",
                     "equal weight universe"]  # fmt: skip
    assert r["costs"]["market"] == "ashare" and r["costs"]["rules"]["min_commission"] == 5.0
    assert "a note for synthetic runs" in r["notes"] and "not shown" not in r["notes"]
    assert r["scores"]["scorer"] == "test-momentum"
    trades = result.run.tables["trades"]
    assert set(trades["strategy"]) == set(names)
    assert set(trades.loc[trades["strategy"] == "buy-and-hold index", "symbol"]) == {"gate"}
    ew = trades.loc[trades["strategy"] == "equal weight universe", "symbol"]
    assert "gate" not in set(ew) and len(set(ew)) == 5
    mine = trades[(trades["strategy"] == "ranker-plumbing") & (trades["status"] == "Completed")]
    buys = mine[mine["side"] == "buy"]
    assert len(buys) > 0 and (buys["size"] % 100 == 0).all()  # whole lots
    files = {p.name for p in (tmp_path / "r").iterdir()}
    assert {"gate.csv", "scores.csv.gz", "extra.csv", "trades.csv", "report.json"} <= files
    gate = pd.read_csv(tmp_path / "r" / "gate.csv")
    assert list(gate.columns) == ["date", "gate", "bullish"] and len(gate) == r["period"]["bars"]
    scores = pd.read_csv(tmp_path / "r" / "scores.csv.gz")
    assert list(scores.columns) == ["date", "symbol", "score"] and len(scores) > 0
    assert scores["date"].min() >= "2011-07-01"
    assert load_report(tmp_path / "r").report["scores"]["scorer"] == "test-momentum"
    assert r["prediction"]["count"] > 0  # the gate (ridge on the extra feed) is scored


def test_fewer_eligible_stocks_than_n_buy_keep_their_slice_sizes_and_cash():
    """Two stocks qualify for n_buy=4: each still gets daily_fraction / n_buy of the
    value (not a bigger slice), in whole lots, and the cash is what the fills cost."""
    n = 8
    ts = {C: [0] * n, D: [0] * n}  # C and D suspended throughout
    strat = run(
        panel_frames(n=n, tradestatus=ts),
        gate_frame([1] + [-1] * (n - 1)),
        n_buy=4, daily_fraction=0.4, hold=20, max_positions=10,
    )  # fmt: skip
    # 0.4 * 1,000,000 / 4 = 100,000 CNY = 10,000 shares at 10 each
    assert orders(strat) == [(0, 1, A, "buy", 10000), (0, 1, B, "buy", 10000)]
    assert strat.broker.getcash() == pytest.approx(1_000_000.0 - 2 * 100_000.0)
    assert strat.getposition(strat.stocks[0]).size == 10000


def test_buys_of_one_bar_share_the_cash_left_and_sales_fund_them():
    """daily_fraction=1 with n_buy=2 and no cash spare: the second buy of a bar gets
    what the first left (99% of the cash), and a bar's sales fund its buys."""
    n = 12
    gate = [1, -1, -1, 1] + [-1] * 8
    strat = run(
        panel_frames(n=n, scores=SCORES),
        gate_frame(gate),
        n_buy=2, daily_fraction=1.0, hold=3, max_positions=10,
    )  # fmt: skip
    got = orders(strat)
    # bar 0: 500,000 each (cash 990,000 after the 1% margin: A 50,000 shares, B 49,000)
    assert got[:2] == [(0, 1, A, "buy", 50000), (0, 1, B, "buy", 49000)]
    # bar 3: A and B sold at 3 (bought at 1, held 3 bars); their proceeds fund C and D
    assert got[2:4] == [(3, 4, A, "sell", 50000), (3, 4, B, "sell", 49000)]
    buys = [(o[2], o[4]) for o in got[4:6]]
    assert [s for s, _ in buys] == [C, D] and all(size >= 40000 for _, size in buys)


def test_a_gate_that_is_nan_during_its_warm_up_buys_nothing():
    """The gate model has no prediction for its first bars (NaN): bearish, no buy."""
    n = 12
    gate = [np.nan, np.nan, np.nan, 1] + [-1] * 8
    strat = run(panel_frames(n=n, scores=SCORES), gate_frame(gate), **PARAMS)
    assert orders(strat)[:2] == [(3, 4, A, "buy", 20000), (3, 4, B, "buy", 20000)]
    assert [b for _, _, b in strat.gate_log] == [False] * 3 + [True] + [False] * 8
    assert all(g != g for _, g, _ in strat.gate_log[:3])


def test_positions_being_sold_free_their_slots_for_the_same_bars_buys():
    """max_positions=2: at the bar A and B are sold, C and D may be bought."""
    n = 12
    strat = run(
        panel_frames(n=n, scores=SCORES),
        gate_frame([1] * n),
        n_buy=2, daily_fraction=0.4, hold=2, max_positions=2,
    )  # fmt: skip
    got = orders(strat)
    assert got[:2] == [(0, 1, A, "buy", 20000), (0, 1, B, "buy", 20000)]
    # bar 2: A and B held 2 bars: sold; C and D take the freed slots at once
    assert got[2:6] == [(2, 3, A, "sell", 20000), (2, 3, B, "sell", 20000),
                        (2, 3, C, "buy", 20000), (2, 3, D, "buy", 20000)]  # fmt: skip
