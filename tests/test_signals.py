"""btlstm.bt.signals: the one way a strategy gets its signal (a line, a predictor, a pool);
what every strategy and PredictionQuality use. Its errors name what was typed."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

from btlstm.bt.cerebro import make_cerebro
from btlstm.bt.indicators import PrecomputedPrediction, PredictionPool
from btlstm.bt.signals import line_of, signal_of, signals_of
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel


class Probe(bt.Strategy):
    """Resolves its signals with ``how`` in __init__ and records them every bar."""

    params = (("how", None),)

    def __init__(self):
        self.signals = self.p.how(self)
        self.seen = []

    def next(self):
        self.seen.append({k: float(v[0]) for k, v in self.signals.items()})


def _run(feeds, how, lines=("prediction",)):
    c = make_cerebro(feeds, panel=len(feeds) > 1, lines=lines)
    c.addstrategy(Probe, how=how)
    return c.run()[0]


def _frame(seed=0):
    f = synthetic_ohlcv(n=40, seed=seed)
    f["prediction"] = np.arange(len(f), dtype=float)
    return f


def test_a_line_and_a_predictor_give_the_same_values():
    f = _frame()
    values = f["prediction"].rename(None)
    by_line = _run({"A": f}, lambda s: {"A": signal_of(s.data)[0]})
    by_pred = _run({"A": f}, lambda s: {"A": signal_of(
        s.data, predictor=PrecomputedPrediction, predictor_kwargs={"values": values})[0]})  # fmt: skip
    assert by_line.seen == by_pred.seen and by_line.seen[-1]["A"] == len(f) - 1


def test_many_feeds_by_line_keep_the_feed_order():
    panel = {k: v.assign(prediction=float(i)) for i, (k, v) in
             enumerate(synthetic_panel(n_symbols=3, n=30, seed=1).items())}  # fmt: skip
    s = _run(panel, lambda s: signals_of(s.datas))
    assert list(s.seen[-1]) == list(panel) and list(s.seen[-1].values()) == [0.0, 1.0, 2.0]


def test_a_pool_with_more_history_than_feeds_is_not_edited():
    panel = synthetic_panel(n_symbols=3, n=60, seed=2)
    names = list(panel)
    cut = panel[names[0]].index[30]
    history = {k: v.loc[v.index < cut] for k, v in panel.items()}
    test = {k: v.loc[v.index >= cut] for k, v in panel.items()}
    pool = PredictionPool(config=dict(learner="ridge", lookback=5, horizon=2, min_train=10),
                          history=history)  # fmt: skip
    s = _run(test, lambda s: signals_of(s.datas[:2], pool=pool), lines=())
    assert list(s.seen[-1]) == names[:2]
    assert set(pool.history) == set(names) and not pool.feeds  # the given pool as it was


@pytest.mark.parametrize(
    "how,error,words",
    [
        (lambda s: line_of(s.data, "predicton"), ValueError,
         ["`signal` 'predicton'", "did you mean 'prediction'", "'A'"]),
        (lambda s: signal_of(s.data, predictor=np.mean), TypeError,
         ["`predictor` must be a backtrader Indicator class"]),
        (lambda s: signal_of(s.data, predictor_kwargs={"x": 1}), ValueError,
         ["`predictor_kwargs` given without `predictor`"]),
        (lambda s: signals_of(s.datas, line="gate", param="gate_line", hint="; add it"),
         ValueError, ["`gate_line` 'gate'", "['A']", "; add it"]),
        (lambda s: signals_of([s.data, s.data]), ValueError, ["a name of its own", "'A', 'A'"]),
        (lambda s: signals_of(s.datas, pool=PredictionPool(config={"learner": "ridge"}),
                              predictor=PrecomputedPrediction), ValueError, ["not both"]),
    ],
)  # fmt: skip
def test_bad_signals_are_named(how, error, words):
    with pytest.raises(error) as e:
        _run({"A": _frame()}, how)
    for w in words:
        assert w in str(e.value), (w, str(e.value))
