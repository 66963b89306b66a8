"""The one cerebro factory (btlstm.bt.cerebro): every market's broker, the feeds, the
analyzers, its errors, and that nothing else in btlstm or the scripts builds a cerebro."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from btlstm.bt.ashare import AShareCommission, AShareFiller, PerShareCommission
from btlstm.bt.broker import PanelBroker
from btlstm.bt.cerebro import MARKETS, make_cerebro, market_rules
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

ROOT = Path(__file__).resolve().parent.parent


def _comm(cerebro, name=None):
    data = next(d for d in cerebro.datas if d._name == name) if name else cerebro.datas[0]
    return cerebro.broker.getcommissioninfo(data)


def test_each_market_sets_its_broker_and_extra_feeds_pay_the_plain_commission():
    panel = synthetic_panel(n_symbols=3, n=80, seed=1)
    index = synthetic_ohlcv(n=80, seed=2, start=next(iter(panel.values())).index[0])
    costs = dict(cash=50_000.0, commission=0.0005, slippage=0.001, per_share=0.01)
    for market in MARKETS:
        c = make_cerebro(panel, {**costs, "market": market}, panel=True, extra={"IDX": index})
        assert isinstance(c.broker, PanelBroker) and c.broker.getcash() == 50_000.0
        assert [d._name for d in c.datas] == [*panel, "IDX"]
        assert c.broker.p.slip_perc == 0.001 and c.broker.p.slip_open
        stock, idx = _comm(c), _comm(c, "IDX")
        if market == "ashare":
            assert isinstance(stock, AShareCommission) and stock.p.min_commission == 5.0
            assert isinstance(c.broker.p.filler, AShareFiller)
        elif market == "us":
            assert isinstance(stock, PerShareCommission) and stock.p.per_share == 0.01
        if market == "index":  # one per-value commission for every feed
            assert idx is stock and stock.p.commission == 0.0005
        else:  # the index trades as a fund: 5 bps of value, no minimum, no stamp tax
            assert type(idx).__name__ == "CommInfoBase" and idx.p.commission == 0.0005
            assert idx.getcommission(10, 100.0) == pytest.approx(0.5)
    assert market_rules({"market": "index"}) == {}
    rules = market_rules({"market": "ashare", "cash": 9.0})
    assert rules["min_commission"] == 5.0 and rules["cash"] == 9.0
    assert market_rules({"market": "us", "commission": 0.001})["index_commission"] == 0.001


def test_lines_analyzers_and_benchmark_by_name():
    frame = synthetic_ohlcv(n=60, seed=0)
    frame["prediction"] = np.linspace(-1, 1, len(frame))
    c = make_cerebro({"A": frame}, None, lines=("prediction",),
                     analyzers=dict(signal="prediction", horizon=3))  # fmt: skip
    assert "prediction" in c.datas[0].getlinealiases()
    added = {a[2].get("_name"): a[2] for a in c.analyzers}
    assert {"returns", "sharpe", "orders", "prediction", "significance"} <= set(added)
    assert added["prediction"]["horizon"] == 3 and added["prediction"]["signal"] == "prediction"
    assert c.broker.getcash() == 1_000_000.0  # the index defaults (INDEX_COSTS)
    panel = synthetic_panel(n_symbols=2, n=40, seed=3)
    c = make_cerebro(panel, panel=True, analyzers=dict(benchmark=list(panel)[1]))
    bench = next(a for a in c.analyzers if a[2].get("_name") == "benchmark")
    assert bench[2]["benchmark"] is c.datas[1]


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(costs={"comission": 0.1}), ["comission", "did you mean 'commission'"]),
        (dict(costs={"market": "ashares"}), ["market", "'ashares'", "did you mean 'ashare'"]),
        (dict(costs={"cash": -1.0}), ["cash", "-1.0"]),
        (dict(analyzers=dict(benchmark="SPYY")), ["benchmark 'SPYY'", "did you mean 'SPY'"]),
    ],
)
def test_bad_costs_and_benchmark_are_named(kwargs, words):
    frame = synthetic_ohlcv(n=30, seed=0)
    with pytest.raises(ValueError) as e:
        make_cerebro({"SPY": frame}, **kwargs)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_nothing_else_builds_a_cerebro():
    """btlstm, its strategies and the example scripts build every cerebro (broker,
    market, feeds) with make_cerebro. The benchmarks are exempt: they time set-ups
    against each other (run modes, BackBroker vs PanelBroker, lean feeds or not)."""
    makers = {"Cerebro", "PanelBroker", "setup_broker", "setup_ashare_broker",
              "setup_us_broker"}  # fmt: skip
    files = [*(ROOT / "btlstm").rglob("*.py"), *(ROOT / "strategies").glob("*.py"),
             *(ROOT / "scripts").glob("*.py")]  # fmt: skip
    files = [f for f in files if not f.name.startswith("bench_") and f.name != "cerebro.py"]
    found = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
                if name in makers:
                    found.append(f"{f.relative_to(ROOT)}:{node.lineno} {name}")
    assert len(files) > 60 and not found, found
