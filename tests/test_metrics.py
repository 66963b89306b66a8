"""btlstm.metrics against scipy.stats and hand-computed small cases (no Backtrader, no TF)."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from btlstm import metrics
from btlstm.metrics import (
    cross_sectional_ic,
    forward_returns,
    hit_rate,
    ic,
    ic_summary,
    prediction_quality,
    rank_ic,
    top_minus_bottom,
)

NAN = float("nan")


def noisy(n=200, seed=0, nan_every=17):
    rng = np.random.default_rng(seed)
    real = rng.normal(0.0, 0.02, n)
    pred = 0.5 * real + rng.normal(0.0, 0.02, n)
    pred[::nan_every] = np.nan
    real[5::nan_every] = np.nan
    return pred, real


# --- hit rate ---------------------------------------------------------------------------------


def test_hit_rate_hand_computed():
    # pairs: (+,+) hit, (-,+) miss, (+,+) hit, (0,+) skipped, (NaN) dropped, (-,-) hit, (+,0) skipped
    pred = [0.1, -0.2, 0.3, 0.0, NAN, -0.1, 0.2]
    real = [0.05, 0.01, 0.2, 0.1, 0.3, -0.4, 0.0]
    assert hit_rate(pred, real) == pytest.approx(3 / 4)


def test_hit_rate_nothing_left_is_nan():
    assert math.isnan(hit_rate([0.0, NAN], [0.1, 0.2]))
    assert math.isnan(hit_rate([], []))


# --- IC and rank IC against scipy ---------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ic_and_rank_ic_match_scipy_after_dropping_nan_pairs(seed):
    pred, real = noisy(seed=seed)
    ok = np.isfinite(pred) & np.isfinite(real)
    assert ok.sum() < len(pred)  # the NaNs are really there
    assert ic(pred, real) == pytest.approx(stats.pearsonr(pred[ok], real[ok])[0], abs=1e-12)
    assert rank_ic(pred, real) == pytest.approx(stats.spearmanr(pred[ok], real[ok])[0], abs=1e-12)


def test_rank_ic_ties_use_average_ranks_like_scipy():
    pred = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 5.0])
    real = np.array([0.2, 0.1, 0.1, 0.4, 0.3, 0.3, 0.9])
    assert rank_ic(pred, real) == pytest.approx(stats.spearmanr(pred, real)[0], abs=1e-12)


def test_ic_hand_computed():
    # x deviations (-1, 0, 1), y deviations (-2, 1, 1): dot 3, norms sqrt(2) * sqrt(6)
    assert ic([1.0, 2.0, 3.0], [1.0, 4.0, 4.0]) == pytest.approx(3 / math.sqrt(12))
    assert ic([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_rank_ic_is_invariant_to_monotone_transforms():
    pred, real = noisy(seed=3, nan_every=1000)
    assert rank_ic(np.exp(pred * 50), real) == pytest.approx(rank_ic(pred, real), abs=1e-12)


@pytest.mark.parametrize("func", [ic, rank_ic])
def test_constant_or_too_short_input_is_nan(func):
    assert math.isnan(func([1.0, 1.0, 1.0], [0.1, 0.2, 0.3]))
    assert math.isnan(func([0.1, 0.2, 0.3], [2.0, 2.0, 2.0]))
    # constants whose float mean is inexact (x - mean leaves 1e-17 residues)
    assert math.isnan(func([0.1] * 7, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0]))
    assert math.isnan(func([1.0, 2.0, 3.0], [0.1] * 3))
    assert math.isnan(func([0.1], [0.2]))
    assert math.isnan(func([], []))
    assert math.isnan(func([0.1, NAN, 0.3], [NAN, 0.2, 0.5]))  # one pair left


def test_infinite_values_are_dropped_like_nan():
    assert ic([1.0, 2.0, np.inf, 3.0], [1.0, 4.0, 9.0, 4.0]) == pytest.approx(3 / math.sqrt(12))


def test_inputs_can_be_lists_arrays_or_aligned_series():
    pred, real = noisy(seed=4)
    idx = pd.date_range("2020-01-01", periods=len(pred))
    expected = ic(pred, real)
    assert ic(list(pred), list(real)) == expected
    assert ic(pd.Series(pred, index=idx), pd.Series(real, index=idx)) == expected


def test_misaligned_series_are_refused():
    a = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    b = pd.Series([1.0, 2.0, 3.0], index=[1, 2, 3])
    with pytest.raises(ValueError, match="align"):
        ic(a, b)


def test_length_mismatch_and_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"same length, got 3 and 2"):
        ic([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"`pred` must be one-dimensional"):
        rank_ic(np.zeros((2, 2)), np.zeros(4))
    with pytest.raises(TypeError, match=r"`real` must be an array of numbers"):
        hit_rate([1.0], ["x"])


# --- prediction_quality -----------------------------------------------------------------------


def test_prediction_quality_matches_the_single_functions():
    pred, real = noisy(seed=5)
    q = prediction_quality(pred, real)
    ok = np.isfinite(pred) & np.isfinite(real)
    assert set(q) == {"count", "hit_rate", "ic", "rank_ic", "mean_prediction", "mean_realised"}
    assert q["count"] == int(ok.sum())
    assert q["hit_rate"] == hit_rate(pred, real)
    assert q["ic"] == ic(pred, real)
    assert q["rank_ic"] == rank_ic(pred, real)
    assert q["mean_prediction"] == pytest.approx(pred[ok].mean())
    assert q["mean_realised"] == pytest.approx(real[ok].mean())


def test_prediction_quality_empty():
    q = prediction_quality([NAN], [0.1])
    assert q["count"] == 0
    assert all(math.isnan(q[k]) for k in q if k != "count")


# --- cross-sectional IC -----------------------------------------------------------------------


def panel(n_dates=30, n_assets=6, seed=0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=n_dates)
    cols = [f"S{i}" for i in range(n_assets)]
    real = pd.DataFrame(rng.normal(0, 0.02, (n_dates, n_assets)), index=dates, columns=cols)
    pred = real * 0.5 + rng.normal(0, 0.02, (n_dates, n_assets))
    return pred, real


@pytest.mark.parametrize("method,ref", [("pearson", stats.pearsonr), ("spearman", stats.spearmanr)])
def test_cross_sectional_ic_per_date_matches_scipy(method, ref):
    pred, real = panel()
    pred.iloc[3, [0, 2]] = np.nan  # date 3: 4 assets left
    real.iloc[4, 1] = np.nan  # date 4: 5 assets left
    pred.iloc[5, 1:] = np.nan  # date 5: 1 asset left -> NaN
    pred.iloc[6, :] = 0.01  # date 6: constant cross-section -> NaN
    out = cross_sectional_ic(pred, real, method=method)
    assert isinstance(out, pd.Series)
    assert out.name == ("ic" if method == "pearson" else "rank_ic")
    assert out.index.equals(pred.index)
    for i, date in enumerate(pred.index):
        p, r = pred.loc[date].to_numpy(), real.loc[date].to_numpy()
        ok = np.isfinite(p) & np.isfinite(r)
        if i in (5, 6):
            assert math.isnan(out[date])
        else:
            assert out[date] == pytest.approx(ref(p[ok], r[ok])[0], abs=1e-12), date


def test_cross_sectional_ic_hand_computed_and_min_assets():
    dates = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    pred = pd.DataFrame(
        {"A": [1.0, 3.0, 1.0], "B": [2.0, 2.0, NAN], "C": [3.0, 1.0, 2.0]}, index=dates
    )
    real = pd.DataFrame(
        {"A": [0.01, 0.02, 0.05], "B": [0.02, 0.03, 0.01], "C": [0.03, 0.01, 0.04]}, index=dates
    )
    out = cross_sectional_ic(pred, real, method="spearman")
    # day 1 perfectly ordered; day 2 ranks (3,2,1) vs (2,3,1) -> 0.5; day 3 two assets, reversed
    assert out.tolist() == pytest.approx([1.0, 0.5, -1.0])
    strict = cross_sectional_ic(pred, real, method="spearman", min_assets=3)
    assert strict.iloc[:2].tolist() == pytest.approx([1.0, 0.5])
    assert math.isnan(strict.iloc[2])


def test_cross_sectional_ic_aligns_frames_on_index_and_columns():
    pred, real = panel(n_dates=10, n_assets=4, seed=1)
    shuffled = real[["S3", "S1", "S0", "S2"]].iloc[::-1]
    out = cross_sectional_ic(pred, shuffled)
    assert out.to_numpy() == pytest.approx(cross_sectional_ic(pred, real).to_numpy())
    extra = real.copy()
    extra["S9"] = 0.5  # a symbol with no prediction is ignored
    assert cross_sectional_ic(pred, extra).to_numpy() == pytest.approx(
        cross_sectional_ic(pred, real).to_numpy()
    )


def test_cross_sectional_ic_argument_errors():
    pred, real = panel(n_dates=3, n_assets=3)
    with pytest.raises(
        ValueError, match=r"`method` must be 'pearson' or 'spearman', got 'kendall'"
    ):
        cross_sectional_ic(pred, real, method="kendall")
    with pytest.raises(ValueError, match=r"`min_assets` must be an integer >= 2, got 1"):
        cross_sectional_ic(pred, real, min_assets=1)
    with pytest.raises(TypeError, match=r"`pred` must be a DataFrame"):
        cross_sectional_ic(pred["S0"], real)


# --- ic_summary -------------------------------------------------------------------------------


def test_ic_summary_t_stat_and_icir():
    x = np.array([0.05, -0.01, 0.03, 0.02, NAN, 0.04])
    s = ic_summary(x)
    clean = x[np.isfinite(x)]
    assert s["n"] == 5
    assert s["mean"] == pytest.approx(clean.mean())
    assert s["std"] == pytest.approx(clean.std(ddof=1))
    assert s["icir"] == pytest.approx(clean.mean() / clean.std(ddof=1))
    # the t statistic of a one-sample t-test of mean 0
    assert s["t_stat"] == pytest.approx(stats.ttest_1samp(clean, 0.0).statistic)


def test_ic_summary_degenerate():
    one = ic_summary([0.1])
    assert one["n"] == 1 and one["mean"] == 0.1
    assert math.isnan(one["std"]) and math.isnan(one["icir"]) and math.isnan(one["t_stat"])
    none = ic_summary(pd.Series([NAN, NAN]))
    assert none["n"] == 0 and math.isnan(none["mean"])
    flat = ic_summary([0.1, 0.1, 0.1])
    assert flat["std"] == 0.0 and math.isnan(flat["icir"]) and math.isnan(flat["t_stat"])


# --- top_minus_bottom -------------------------------------------------------------------------


def test_top_minus_bottom_hand_computed():
    dates = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"])
    cols = list("ABCDEFGHIJ")
    pred = pd.DataFrame([np.arange(10.0), np.arange(10.0)[::-1], np.arange(10.0)], dates, cols)
    real = pd.DataFrame([np.arange(10.0) / 100] * 3, dates, cols)
    pred.iloc[2, 1:] = np.nan  # one asset left -> NaN
    out = top_minus_bottom(pred, real, quantile=0.2)  # k = 2 of 10
    assert out.name == "top_minus_bottom"
    # day 1: top (J, I) mean 0.085, bottom (A, B) mean 0.005; day 2 reversed
    assert out.iloc[0] == pytest.approx(0.08)
    assert out.iloc[1] == pytest.approx(-0.08)
    assert math.isnan(out.iloc[2])


def test_top_minus_bottom_small_cross_sections_use_at_least_one_asset():
    pred = pd.DataFrame({"A": [1.0, 1.0], "B": [2.0, 3.0], "C": [3.0, NAN]})
    real = pd.DataFrame({"A": [-0.02, 0.01], "B": [0.0, 0.04], "C": [0.05, 0.2]})
    out = top_minus_bottom(pred, real, quantile=0.1)  # k = max(1, floor(0.3)) = 1
    assert out.tolist() == pytest.approx([0.07, 0.03])


def test_top_minus_bottom_quantile_is_checked():
    pred, real = panel(n_dates=2, n_assets=4)
    for bad in (0, 0.6, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="`quantile` must be a number in"):
            top_minus_bottom(pred, real, quantile=bad)


# --- forward_returns --------------------------------------------------------------------------


def test_forward_returns_array_series_frame():
    close = np.array([100.0, 110.0, 99.0, 120.0, 90.0])
    out = forward_returns(close, 2)
    assert out[:3] == pytest.approx([99 / 100 - 1, 120 / 110 - 1, 90 / 99 - 1])
    assert np.isnan(out[3:]).all()
    idx = pd.bdate_range("2024-01-01", periods=5)
    s = forward_returns(pd.Series(close, index=idx, name="close"), 2)
    assert isinstance(s, pd.Series) and s.index.equals(idx) and s.name == "close"
    np.testing.assert_array_equal(s.to_numpy(), out)
    frame = pd.DataFrame({"A": close, "B": close * 2}, index=idx)
    f = forward_returns(frame, 2)
    assert list(f.columns) == ["A", "B"]
    np.testing.assert_allclose(f["B"].to_numpy(), out, equal_nan=True)
    np.testing.assert_allclose(forward_returns(frame.to_numpy(), 2)[:, 0], out, equal_nan=True)


def test_forward_returns_short_input_and_bad_horizon():
    assert np.isnan(forward_returns([1.0, 2.0], 2)).all()
    for bad in (0, -1, 1.5, True, "5"):
        with pytest.raises(ValueError, match=r"`horizon` must be an integer >= 1"):
            forward_returns([1.0, 2.0, 3.0], bad)


def test_all_public_names_exported():
    assert set(metrics.__all__) == {
        "hit_rate",
        "ic",
        "rank_ic",
        "prediction_quality",
        "cross_sectional_ic",
        "ic_summary",
        "top_minus_bottom",
        "forward_returns",
        "daily_returns",
        "total_return",
        "annual_return",
        "sharpe_ratio",
        "sortino_ratio",
        "drawdown",
        "max_drawdown",
        "beta",
        "relative_performance",
        "period_returns",
        "annual_volatility",
        "calmar_ratio",
        "return_moments",
        "drawdown_periods",
        "monthly_returns",
        "rolling_sharpe",
        "rolling_beta",
        "payoff_ratio",
        "calibration",
        "performance_stats",
        "value_at_risk",
        "conditional_value_at_risk",
        "tail_ratio",
        "omega_ratio",
        "rolling_volatility",
        "excess_growth",
    }


# --- portfolio performance ------------------------------------------------------------------


def equity(n=300, seed=0, drift=0.0004, vol=0.012):
    """A random-walk equity curve (dates x value) with a few NaN bars."""
    rng = np.random.default_rng(seed)
    v = 1e6 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    return pd.Series(v, index=pd.bdate_range("2019-11-01", periods=n), name="run")


def test_total_and_annual_return_hand_computed_and_edges():
    assert metrics.total_return([100.0, 80.0, 125.0]) == 0.25
    assert metrics.total_return([80.0, 125.0], start_value=100.0) == 0.25
    assert math.isnan(metrics.total_return([], 100.0))
    assert math.isnan(metrics.total_return([0.0, 5.0]))  # nothing to grow from
    assert math.isnan(metrics.total_return([5.0], start_value=float("nan")))
    # 44% over two years of 252 bars is 20% a year; a total loss has no annual rate
    assert metrics.annual_return(0.44, 504) == pytest.approx(0.2, rel=1e-12)
    assert metrics.annual_return(0.1, 6, periods=12) == pytest.approx(1.1**2 - 1, rel=1e-12)
    assert math.isnan(metrics.annual_return(-1.0, 10)) and math.isnan(metrics.annual_return(0.1, 0))
    assert math.isnan(metrics.annual_return(NAN, 10))


@pytest.mark.parametrize("ddof", [0, 1])
def test_sharpe_ratio_against_pandas(ddof):
    r = metrics.daily_returns(equity(seed=1)).to_numpy().copy()
    r[[5, 50]] = np.nan  # dropped
    s = pd.Series(r).dropna()
    want = s.mean() / s.std(ddof=ddof) * math.sqrt(252)
    assert metrics.sharpe_ratio(r, ddof=ddof) == pytest.approx(want, rel=1e-12)
    # an annual risk-free rate is converted to a per-period one, as Backtrader does
    rf = 1.03 ** (1 / 12) - 1
    want = (s - rf).mean() / (s - rf).std(ddof=ddof) * math.sqrt(12)
    got = metrics.sharpe_ratio(r, periods=12, riskfree=0.03, ddof=ddof)
    assert got == pytest.approx(want, rel=1e-12)


def test_sharpe_and_sortino_degenerate_inputs_are_nan():
    for f in (metrics.sharpe_ratio, metrics.sortino_ratio):
        assert math.isnan(f([]))
        assert math.isnan(f([NAN, NAN]))
        assert math.isnan(f([0.01, 0.01, 0.01]))  # no spread / no downside
    assert math.isnan(metrics.sharpe_ratio([0.01], ddof=1))
    assert metrics.sortino_ratio([0.01, -0.01], periods=1) == 0.0


def test_sortino_ratio_against_an_independent_computation():
    r = pd.Series(metrics.daily_returns(equity(seed=2)).to_numpy())
    target = 0.0002
    excess = r - target
    downside = np.sqrt((excess.where(excess < 0, 0.0) ** 2).sum() / len(excess))
    want = excess.mean() / downside * np.sqrt(252)
    assert metrics.sortino_ratio(r, target=target) == pytest.approx(want, rel=1e-12)
    # only the shortfalls count: raising the winners raises the ratio, the downside stays
    up = r.where(r < target, r * 2)
    assert metrics.sortino_ratio(up, target=target) > metrics.sortino_ratio(r, target=target)
    # the downside deviation averages over every return, not only the losing ones
    assert metrics.sortino_ratio([0.03, -0.01, -0.01, 0.01], periods=1) == pytest.approx(
        0.005 / math.sqrt(0.0002 / 4)
    )


def test_drawdown_and_max_drawdown_against_brute_force():
    v = equity(n=120, seed=3, drift=0.0, vol=0.03).to_numpy()
    worst = max(1.0 - v[j] / v[i] for i in range(len(v)) for j in range(i, len(v)))
    assert metrics.max_drawdown(v) == pytest.approx(worst, rel=1e-12)
    dd = metrics.drawdown(v)
    for t in (0, 17, 60, 119):
        assert dd[t] == pytest.approx(1.0 - v[t] / v[: t + 1].max(), abs=1e-15)
    # a NaN bar (not started, or ended) stays NaN and keeps the peak
    got = metrics.drawdown([NAN, 100.0, 150.0, NAN, 120.0])
    np.testing.assert_array_equal(np.isnan(got), [True, False, False, True, False])
    assert got[4] == pytest.approx(0.2)
    assert math.isnan(metrics.max_drawdown([NAN])) and math.isnan(metrics.max_drawdown([]))
    assert metrics.max_drawdown([1.0, 2.0, 3.0]) == 0.0


def test_relative_performance_against_ols_and_scipy():
    rng = np.random.default_rng(4)
    rb = rng.normal(0.0003, 0.01, 400)
    rp = 0.0001 + 1.3 * rb + rng.normal(0.0, 0.004, 400)
    rp[7] = np.nan  # the pair is dropped on both sides
    ok = np.isfinite(rp)
    slope, intercept = np.polyfit(rb[ok], rp[ok], 1)  # OLS: the CAPM line
    active = pd.Series(rp[ok] - rb[ok])
    got = metrics.relative_performance(rp, rb, periods=252)
    assert got["n"] == 399
    assert got["beta"] == pytest.approx(slope, rel=1e-9)
    assert got["alpha"] == pytest.approx(intercept * 252, rel=1e-9)
    assert got["correlation"] == pytest.approx(stats.pearsonr(rp[ok], rb[ok])[0], rel=1e-12)
    assert got["tracking_error"] == pytest.approx(active.std(ddof=0) * math.sqrt(252), rel=1e-12)
    want_ir = active.mean() / active.std(ddof=0) * math.sqrt(252)
    assert got["information_ratio"] == pytest.approx(want_ir, rel=1e-12)
    sample = metrics.relative_performance(rp, rb, ddof=1)
    assert sample["beta"] == pytest.approx(slope, rel=1e-9)  # the ratio does not depend on ddof
    assert sample["tracking_error"] == pytest.approx(active.std(ddof=1) * math.sqrt(252))
    assert metrics.beta(rp, rb) == got["beta"]
    flat = metrics.relative_performance([0.01, 0.02], [0.0, 0.0])
    assert math.isnan(flat["beta"]) and math.isnan(flat["alpha"]) and flat["n"] == 2
    assert all(math.isnan(v) for k, v in metrics.relative_performance([], []).items() if k != "n")


def test_period_returns_against_pandas_resample():
    v = equity(n=600, seed=5)
    v.iloc[[3, 250]] = np.nan  # skipped
    for freq, rule in (("year", "YE"), ("month", "ME")):
        got = metrics.period_returns(v, freq)
        ends = v.dropna().resample(rule).last().dropna()
        prev = ends.shift(1)
        prev.iloc[0] = v.dropna().iloc[0]
        want = ends / prev - 1.0
        assert got.to_numpy() == pytest.approx(want.to_numpy(), rel=1e-12)
        assert [str(p) for p in got.index] == [
            d.strftime("%Y" if freq == "year" else "%Y-%m") for d in want.index
        ]
    # compounding the periods gives the total return from the first value
    years = metrics.period_returns(v)
    assert np.prod(1 + years.to_numpy()) - 1 == pytest.approx(metrics.total_return(v.dropna()))
    assert len(metrics.period_returns(v.iloc[:0])) == 0


def test_portfolio_metric_arguments_are_checked():
    with pytest.raises(ValueError, match=r"`periods` must be a number > 0.*0"):
        metrics.sharpe_ratio([0.1, 0.2], periods=0)
    with pytest.raises(ValueError, match=r"`ddof` must be 0 .* or 1 .*, got 2"):
        metrics.relative_performance([0.1, 0.2], [0.1, 0.3], ddof=2)
    with pytest.raises(ValueError, match=r"`freq` must be 'year' or 'month', got 'week'"):
        metrics.period_returns(equity(n=10), "week")
    with pytest.raises(TypeError, match="`values` must be a pd.Series indexed by date"):
        metrics.period_returns([1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        metrics.beta([0.1, 0.2], [0.1])
