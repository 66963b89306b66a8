"""The equal-weight index of a panel (btlstm/data/index.py) and ``[data] index``:
exact values on a hand-made panel, no look-ahead, and the run's gate choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lookahead import rewrite_after  # tests/lookahead.py: the shared future rewrite

from btlstm import registry
from btlstm.data import DataError
from btlstm.data.index import equal_weight_index
from btlstm.data.validate import validate_frame
from btlstm.settings import Settings, SettingsError
from btlstm.synthetic import synthetic_panel


def _frame(dates, close, open_=None, volume=100.0):
    close = np.asarray(close, float)
    open_ = close if open_ is None else np.asarray(open_, float)
    hi, lo = np.maximum(open_, close), np.minimum(open_, close)
    return pd.DataFrame(
        {"open": open_, "high": hi, "low": lo, "close": close, "volume": volume,
         "amount": close * volume},
        index=pd.DatetimeIndex(pd.to_datetime(dates), name="date"),
    )  # fmt: skip


def test_hand_made_panel_exact_values():
    d = ["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"]
    panel = {
        "A": _frame(d, [10, 11, 11, 12.1], open_=[10, 10.5, 11, 11]),
        # B: no bar on 01-03 (suspended): its 01-06 return is vs its 01-02 close
        "B": _frame([d[0], d[2], d[3]], [20, 18, 18]),
        # C: lists on 01-06: no return that day
        "C": _frame(d[2:], [5, 5.5]),
    }
    ix = equal_weight_index(panel, base=100.0)
    validate_frame(ix, source="equal_weight_index")
    r = [0.0, 0.10, (0.0 + -0.10) / 2, (0.10 + 0.0 + 0.10) / 3]
    np.testing.assert_allclose(ix["close"].to_numpy(), 100 * np.cumprod(1 + np.array(r)))
    # open: previous index close x (1 + mean overnight gap of the stocks with a bar)
    gap_03 = 10.5 / 10 - 1  # A only
    assert ix["open"].iloc[1] == pytest.approx(100 * (1 + gap_03))
    assert list(ix["volume"]) == [200.0, 100.0, 300.0, 300.0]
    assert ix.attrs["members"] == 3


def test_no_look_ahead_values_up_to_t_do_not_change():
    panel = synthetic_panel(n_symbols=6, n=120, seed=3, late_starters=2, stoppers=1)
    before = equal_weight_index(panel)
    for t in (before.index[0], before.index[40], before.index[99]):
        after = equal_weight_index(rewrite_after(panel, t))
        pd.testing.assert_frame_equal(before.loc[:t], after.loc[:t])
        assert not before.loc[t:].iloc[1:].equals(after.loc[t:].iloc[1:])


def test_empty_panel_is_an_error():
    with pytest.raises(DataError, match="empty"):
        equal_weight_index({})


def test_index_setting_is_checked_before_any_work():
    s = Settings.from_dict({"strategy": {"name": "hold"}, "data": {"index": "spy"}})
    with pytest.raises(SettingsError, match=r"index.*'hold' has no index feed"):
        s.validate(check_paths=False)


def test_the_gate_dataset_follows_the_index_setting(data_dir):
    from btlstm.pipeline import _load_extra

    plan = registry.get("ranker")
    base = {"strategy": {"name": "ranker"}, "data": {"data_dir": str(data_dir)}}
    spy = Settings.from_dict({**base, "data": {**base["data"], "index": "spy"}})
    gate = _load_extra(spy, plan)["gate"]
    assert gate.attrs["symbol"] == "SPY" and gate.attrs["feed"] == "gate"
    panel = synthetic_panel(n_symbols=4, n=50, seed=1)
    ew = Settings.from_dict({**base, "data": {**base["data"], "index": "equal_weight"}})
    gate = _load_extra(ew, plan, panel)["gate"]
    pd.testing.assert_frame_equal(gate, equal_weight_index(panel), check_like=True)
    with pytest.raises(SettingsError, match="needs the panel"):
        _load_extra(ew, plan)
