"""Cross-sectional features, forward labels and relevance grades (btlstm.forecast.xsfeatures)."""

import numpy as np
import pandas as pd
import pytest
from lookahead import rewrite_after  # tests/lookahead.py: the shared future rewrite

from btlstm.forecast.xsfeatures import (
    cross_sectional_features,
    feature_names,
    forward_label,
    relevance_grades,
    wide,
)
from btlstm.synthetic import synthetic_panel


def _frame(close, amount=None, start="2020-01-01", **extra):
    close = np.asarray(close, dtype=float)
    idx = pd.bdate_range(start, periods=len(close))
    f = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "volume": 1000.0,
            "amount": np.arange(1, len(close) + 1, dtype=float) if amount is None else amount,
        },
        index=idx,
    )
    for k, v in extra.items():
        f[k] = v
    return f


def _hand_panel(n=80):
    rng = np.random.default_rng(7)
    closes = {s: 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n))) for s in "ABC"}
    return {s: _frame(c, amount=rng.uniform(1e6, 2e6, n)) for s, c in closes.items()}


def test_features_equal_hand_computed_values():
    panel = _hand_panel()
    X = cross_sectional_features(panel, horizons=(1, 5, 60))
    assert X.columns.tolist() == feature_names((1, 5, 60))
    assert X.index.names == ["date", "symbol"] and len(X) == 3 * 80
    day = panel["B"].index[65]
    c = panel["B"]["close"].to_numpy()
    a = panel["B"]["amount"].to_numpy()
    row = X.loc[(day, "B")]
    assert row["ret_1"] == pytest.approx(c[65] / c[64] - 1, rel=1e-12)
    assert row["ret_5"] == pytest.approx(c[65] / c[60] - 1, rel=1e-12)
    assert row["ret_60"] == pytest.approx(c[65] / c[5] - 1, rel=1e-12)
    r = c[46:66] / c[45:65] - 1
    assert row["vol_20"] == pytest.approx(np.std(r, ddof=1), rel=1e-10)
    assert row["amount_20"] == pytest.approx(a[46:66].mean(), rel=1e-12)
    assert row["ma20_gap"] == pytest.approx(c[65] / c[46:66].mean() - 1, rel=1e-12)
    assert row["ma60_gap"] == pytest.approx(c[65] / c[6:66].mean() - 1, rel=1e-12)
    # cross-sectional percentile ranks of that day
    r5 = {s: panel[s]["close"].iloc[65] / panel[s]["close"].iloc[60] - 1 for s in "ABC"}
    order = sorted(r5, key=r5.get)
    assert X.loc[(day, order[0]), "ret_5_rank"] == pytest.approx(1 / 3)
    assert X.loc[(day, order[2]), "ret_5_rank"] == pytest.approx(1.0)
    # incomplete windows are NaN, never shorter windows
    assert np.isnan(X.loc[(panel["B"].index[58], "B"), "ma60_gap"])
    assert np.isfinite(X.loc[(panel["B"].index[59], "B"), "ma60_gap"])
    assert np.isnan(X.loc[(panel["B"].index[0], "B"), "ret_1"])


def test_suspended_day_gives_nan_features_and_ranks_among_traded():
    panel = _hand_panel()
    status = np.ones(80)
    status[30] = 0
    panel["A"]["tradestatus"] = status
    panel["A"]["is_st"] = np.where(np.arange(80) >= 50, 1.0, 0.0)
    panel["A"]["turn"] = np.where(status == 0, np.nan, 0.5)
    X = cross_sectional_features(panel, horizons=(1, 5))
    assert {"is_st", "turn", "turn_20"} <= set(X.columns)
    d30 = panel["A"].index[30]
    assert X.loc[(d30, "A")].isna().all()
    # the other stocks keep their values and are ranked among the two that traded
    assert sorted(X.loc[(d30, ["B", "C"]), "ret_1_rank"].tolist()) == [0.5, 1.0]
    assert X.loc[(panel["A"].index[60], "A"), "is_st"] == 1.0
    assert X.loc[(panel["A"].index[40], "A"), "is_st"] == 0.0
    # suspension counts as zero turnover in the mean of later days
    assert X.loc[(panel["A"].index[40], "A"), "turn_20"] == pytest.approx(0.5 * 19 / 20)
    # B and C have no turn column: NaN there, not an error
    assert X.loc[(panel["B"].index[40], "B"), ["turn", "turn_20", "is_st"]].isna().all()


def test_rows_follow_each_symbols_own_bars():
    panel = synthetic_panel(n_symbols=5, n=200, seed=4, late_starters=1, stoppers=1)
    X = cross_sectional_features(panel, horizons=(1, 5))
    assert len(X) == sum(len(f) for f in panel.values())
    dates = X.index.get_level_values("date")
    assert dates.is_monotonic_increasing
    late = X.xs("SYN0000", level="symbol")
    assert late.index.equals(panel["SYN0000"].index)
    y = forward_label(panel, horizon=5)
    assert y.index.equals(X.index)


def test_forward_label_counts_own_bars_across_a_hole():
    a = _frame([10.0, 11.0, 12.0, 13.0, 14.0, 15.0])
    b = a.drop(a.index[2])  # B has no bar on day 2
    y = forward_label({"A": a, "B": b}, horizon=2)
    ya = y.xs("A", level="symbol").to_numpy()
    assert np.allclose(ya, [0.2, 2 / 11, 2 / 12, 2 / 13, np.nan, np.nan], equal_nan=True)
    # B's bar 1 (day 1) -> its own bar 3 (day 4): 14 / 11 - 1
    yb = y.xs("B", level="symbol").to_numpy()
    assert np.allclose(yb, [13 / 10 - 1, 14 / 11 - 1, 15 / 13 - 1, np.nan, np.nan], equal_nan=True)
    # features count union-calendar bars: B's 1-bar return after the hole is NaN
    X = cross_sectional_features({"A": a, "B": b}, horizons=(1,))
    assert np.isnan(X.loc[(a.index[3], "B"), "ret_1"])


def test_relevance_grades_per_date():
    idx = pd.MultiIndex.from_product(
        [pd.to_datetime(["2020-01-02", "2020-01-03"]), list("ABCDEFGHIJ")]
    )
    y = pd.Series(np.r_[np.arange(10.0), np.arange(10.0)[::-1]], index=idx)
    y.iloc[19] = np.nan
    g = relevance_grades(y, n_grades=5)
    assert g.iloc[:10].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # second date: 9 finite labels 9..1, grades floor((r - 1) * 5 / 9)
    assert g.iloc[10:19].tolist() == [4, 3, 3, 2, 2, 1, 1, 0, 0]
    assert np.isnan(g.iloc[19])
    ties = relevance_grades(pd.Series([1.0, 1.0, 1.0, 2.0], index=idx[:4]), n_grades=2)
    assert ties.tolist() == [0, 0, 0, 1]
    for bad in (1, 32, 2.5, True):
        with pytest.raises(ValueError, match="n_grades"):
            relevance_grades(y, n_grades=bad)


def test_bad_arguments_name_the_problem():
    panel = _hand_panel(30)
    with pytest.raises(ValueError, match="horizons"):
        cross_sectional_features(panel, horizons=(0, 5))
    with pytest.raises(ValueError, match="amount"):
        cross_sectional_features({"A": panel["A"].drop(columns="amount")})
    with pytest.raises(ValueError, match="non-empty"):
        cross_sectional_features({})
    assert wide(panel, "close").shape == (30, 3)


@pytest.mark.parametrize("probe", [70, 150])
def test_features_do_not_look_ahead(probe):
    panel = synthetic_panel(n_symbols=6, n=240, seed=5, late_starters=1, stoppers=1)
    t = panel["SYN0003"].index[probe]
    before = cross_sectional_features(panel)
    after = cross_sectional_features(rewrite_after(panel, t))
    d = before.index.get_level_values("date")
    past, future = before[d <= t], after[d <= t]
    pd.testing.assert_frame_equal(past, future)
    changed = ~np.isclose(before[d > t].to_numpy(), after[d > t].to_numpy(), equal_nan=True)
    assert changed.any(axis=1).mean() > 0.9


@pytest.fixture(scope="module")
def csi30(data_dir):
    from btlstm.data import load

    full = load("csi300_members", data_dir=data_dir, start="2014-01-01", end="2016-12-31")
    panel = {k: full[k] for k in list(full)[:30]}  # 30 stocks (in code order) with bars then
    return panel


def test_real_csi300_slice(csi30):
    X = cross_sectional_features(csi30)
    assert {"turn", "turn_20", "is_st"} <= set(X.columns)
    assert len(X) == sum(len(f) for f in csi30.values())
    status = pd.concat({s: f["tradestatus"] for s, f in csi30.items()}, names=["symbol", "date"])
    status = status.swaplevel().reindex(X.index)
    assert (status == 0).sum() > 0  # the slice has suspensions (2015)
    assert X[status == 0].isna().all().all()
    traded = X[status == 1]
    assert traded["ret_1"].notna().mean() > 0.99
    ranks = traded["ret_20_rank"].dropna()
    assert ranks.between(0, 1, inclusive="right").all()
