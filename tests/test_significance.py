"""btlstm.significance: references, calibration on synthetic data, reproducibility.

Numpy, pandas, statsmodels and arch only: no training, no Backtrader.
"""

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from btlstm import significance as S
from btlstm.metrics import cross_sectional_ic, forward_returns, hit_rate, return_moments
from btlstm.synthetic import synthetic_ohlcv, synthetic_panel

H = 5


def _latent_case(seed: int, signal: float, n: int = 1000):
    """The synthetic market's trend component as the prediction, the 5-bar forward return."""
    frame, latent = synthetic_ohlcv(n=n, seed=seed, signal=signal, return_latent=True)
    return np.asarray(latent), forward_returns(frame["close"].to_numpy(), H)


# ----------------------------------------------------------------------------- references
def test_deflated_sharpe_reproduces_the_spec_example():
    """SPEC section 6: 880 daily returns, annual Sharpe 1.0, 50 trials whose Sharpe ratios
    spread 0.5 (annualised): SR0 about 1.14 annualised, DSR about 0.40, PSR(0) about 0.97."""
    sharpe = {"per_period": 1.0 / math.sqrt(252), "skew": 0.0, "kurtosis": 0.0, "n": 880}
    a = 0.5 / math.sqrt(2.0)  # two trials [-a, a] have a sample variance of 0.5**2
    dsr = S.deflated_sharpe_ratio(sharpe, n_trials=50, trial_sharpes=[-a, a])
    assert dsr["variance_source"] == "trials" and dsr["n_trials"] == 50
    assert dsr["sr0"] == pytest.approx(1.14, abs=0.005)
    assert dsr["value"] == pytest.approx(0.40, abs=0.005)
    psr0 = S.probabilistic_sharpe_ratio(sharpe["per_period"], 0.0, 880)
    assert psr0 == pytest.approx(0.97, abs=0.005)
    # one trial: nothing was selected, the DSR is the PSR against 0
    assert S.deflated_sharpe_ratio(sharpe, 1)["value"] == pytest.approx(psr0, abs=1e-12)


def test_deflated_sharpe_reproduces_the_papers_example():
    """Bailey & Lopez de Prado (2014), the numerical example: annualised SR 2.5 over 1,250
    days (250 a year), skew -3, kurtosis 10 (excess kurtosis 7, as a section holds it),
    N = 100 trials with V[SR] = 0.5 annualised: SR0 = 0.1132 per day and DSR = 0.9004."""
    sharpe = {"per_period": 2.5 / math.sqrt(250), "skew": -3.0, "kurtosis": 7.0, "n": 1250}
    a = math.sqrt(0.5 / 2.0)
    assert S.expected_max_sharpe(100, 0.5 / 250) == pytest.approx(0.1132, abs=5e-5)
    dsr = S.deflated_sharpe_ratio(sharpe, 100, [-a, a], periods=250)
    assert dsr["value"] == pytest.approx(0.9004, abs=5e-4)


def test_sharpe_figures_match_the_published_formulas_by_hand():
    rng = np.random.default_rng(3)
    r = rng.standard_t(4, 700) * 0.01 + 0.0015  # fat tails
    r[::50] -= 0.03  # and negative skew
    s = S.sharpe_test(r)
    sr = r.mean() / r.std()
    g3 = float(np.mean((r - r.mean()) ** 3) / r.std() ** 3)
    g4 = float(np.mean((r - r.mean()) ** 4) / r.std() ** 4)  # NOT excess kurtosis
    assert g4 > 4 and g3 < 0
    v = 1 - g3 * sr + (g4 - 1) / 4 * sr**2
    assert s["value"] == pytest.approx(sr * math.sqrt(252), rel=1e-12)
    assert s["se"] == pytest.approx(math.sqrt(v / (len(r) - 1)) * math.sqrt(252), rel=1e-12)
    assert s["psr"] == pytest.approx(stats.norm.cdf(sr * math.sqrt(len(r) - 1) / math.sqrt(v)))
    trl = 1 + v * (stats.norm.ppf(0.95) / sr) ** 2
    assert s["min_trl_years"] == pytest.approx(trl / 252, rel=1e-12)
    # quantstats' mistake (excess kurtosis minus 3 again) would give a much narrower se
    wrong = 1 - g3 * sr + (g4 - 3 - 3 - 1) / 4 * sr**2
    assert s["se"] > math.sqrt(max(wrong, 0) / (len(r) - 1)) * math.sqrt(252)
    assert S.sharpe_test(-r)["min_trl_years"] is None  # never, for a losing strategy
    # the section holds the EXCESS kurtosis (the formulas use g4 = it + 3), the figure
    # the metrics table shows for the same series
    assert s["kurtosis"] == pytest.approx(g4 - 3.0, rel=1e-12)
    assert s["skew"] == pytest.approx(g3, rel=1e-12)
    assert s["kurtosis"] == pytest.approx(return_moments(r)["kurtosis"], rel=1e-12)
    assert s["skew"] == pytest.approx(return_moments(r)["skew"], rel=1e-12)


def test_one_kurtosis_everywhere_excess_population_by_hand():
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    # mean 0.006; deviations 4, -26, 24, -6, 4 (x 1e-3): m2 = 1320e-6 / 5, m4 = 790560e-12 / 5
    want = 158112 / 69696 - 3.0  # m4 / m2^2 - 3 = -0.7314...
    assert return_moments(r)["kurtosis"] == pytest.approx(want, rel=1e-12)
    assert S.sharpe_test(r)["kurtosis"] == pytest.approx(want, rel=1e-12)
    assert want == pytest.approx(stats.kurtosis(r), rel=1e-12)  # scipy's defaults: Fisher, biased
    # a normal sample reads about 0, not 3
    z = np.random.default_rng(0).standard_normal(200_000)
    assert abs(S.sharpe_test(z)["kurtosis"]) < 0.05 and abs(return_moments(z)["kurtosis"]) < 0.05


@pytest.mark.parametrize("kernel", ["uniform", "bartlett"])
def test_ic_hac_t_equals_statsmodels_ols_hac(kernel):
    pred, real = _latent_case(seed=5, signal=0.1, n=800)
    ok = np.isfinite(real)
    cov = {"maxlags": H - 1} if kernel == "bartlett" else {"maxlags": H - 1, "kernel": kernel}
    # the slope of realised on prediction, raw units: its HAC t is the IC's HAC t
    fit = sm.OLS(real[ok], sm.add_constant(pred[ok])).fit(cov_type="HAC", cov_kwds=cov)
    t = S.ic_test(pred, real, horizon=H, kernel=kernel)
    assert t["lag"] == H - 1 and t["n"] == ok.sum() and t["kernel"] == kernel
    assert t["t_hac"] == pytest.approx(fit.tvalues[1], rel=1e-9)
    assert t["p_hac"] == pytest.approx(fit.pvalues[1], rel=1e-9)
    assert t["value"] == pytest.approx(np.corrcoef(pred[ok], real[ok])[0, 1], rel=1e-12)
    rank = S.ic_test(pred, real, horizon=H, method="spearman", kernel=kernel)
    rp, rr = stats.rankdata(pred[ok]), stats.rankdata(real[ok])
    fit = sm.OLS(rr, sm.add_constant(rp)).fit(cov_type="HAC", cov_kwds=cov)
    assert rank["t_hac"] == pytest.approx(fit.tvalues[1], rel=1e-9)
    assert rank["value"] == pytest.approx(stats.spearmanr(pred[ok], real[ok])[0], rel=1e-12)
    # the naive t is scipy's Pearson test
    assert t["p_iid"] == pytest.approx(stats.pearsonr(pred[ok], real[ok])[1], rel=1e-9)


def test_panel_ic_test_is_hac_on_the_daily_cross_sectional_ic():
    panel = synthetic_panel(n_symbols=12, n=400, seed=2)
    close = pd.DataFrame({k: f["close"] for k, f in panel.items()})
    real = forward_returns(close, H)
    pred = close.pct_change(20)  # trailing momentum, known at t
    t = S.cross_sectional_ic_test(pred, real, horizon=H)
    daily = cross_sectional_ic(pred, real).dropna().to_numpy()
    fit = sm.OLS(daily, np.ones(len(daily))).fit(
        cov_type="HAC", cov_kwds={"maxlags": H - 1, "kernel": "uniform"}
    )
    assert t["kind"] == "cross_sectional" and t["n"] == len(daily)
    assert t["value"] == pytest.approx(daily.mean()) and t["t_hac"] == pytest.approx(fit.tvalues[0])
    assert t["t_iid"] == pytest.approx(daily.mean() / daily.std(ddof=1) * math.sqrt(len(daily)))


def test_hit_rate_against_the_base_rate_and_against_one_half():
    real = np.array([1.0, 2, -1, 1, 1, -2, 3, -1, 0.0, 2])
    pred = np.array([1.0, 1, -1, 1, -1, 1, 1, -1, 5.0, np.nan])  # a 0 and a NaN pair drop out
    t = S.hit_rate_test(pred, real, horizon=1)
    assert t["n"] == 8 and t["value"] == hit_rate(pred, real) == 0.75
    assert t["base_rate"] == 5 / 8 and t["constant"] == "up"
    hit = np.array([1, 1, 1, 1, 0, 0, 1, 1.0])
    up = np.array([1, 1, 0, 1, 1, 0, 1, 0.0])
    fit = sm.OLS(hit - up, np.ones(8)).fit(cov_type="HAC", cov_kwds={"maxlags": 0})
    assert t["p"] == pytest.approx(fit.pvalues[0])
    fit = sm.OLS(hit - 0.5, np.ones(8)).fit(cov_type="HAC", cov_kwds={"maxlags": 0})
    assert t["p_50"] == pytest.approx(fit.pvalues[0])
    # always "up" in a rising market: a high hit rate that is exactly the base rate
    rng = np.random.default_rng(0)
    rising = rng.normal(0.3, 1.0, 500)
    t = S.hit_rate_test(np.ones(500), rising, horizon=1)
    assert t["value"] == t["base_rate"] > 0.58 and t["p_50"] < 0.001 and math.isnan(t["p"])
    # panels: pooled value, tests over dates
    p = pd.DataFrame(rng.standard_normal((60, 4)))
    r = pd.DataFrame(rng.standard_normal((60, 4)))
    t = S.hit_rate_test(p, r, horizon=3)
    assert t["value"] == pytest.approx(hit_rate(p.to_numpy().ravel(), r.to_numpy().ravel()))
    assert t["n"] == 240 and t["lag"] == 2


def test_hit_rate_words_say_the_side_and_the_constant_s_own_hit_rate():
    # a falling market (6 of 8 moves down): the constant tested is "always down", which
    # hits 75% (the share of down moves), not the 25% share of up moves
    real = np.array([-1.0, -2, -1, 1, -1, -2, 3, -1])
    pred = np.array([1.0, -1, -1, 1, 1, 1, 1, -1])  # 5 hits of 8
    t = S.hit_rate_test(pred, real, horizon=1)
    assert t["constant"] == "down" and t["base_rate"] == 2 / 8 and t["const_rate"] == 6 / 8
    assert t["value"] == 5 / 8 and t["t_hac"] < 0
    text = S.hit_rate_text(t)
    assert text.startswith("hit rate 62.50%: ")
    assert "always-down 75.00%" in text and "25.00%" not in text
    assert t["p"] >= 0.05 and "not significantly different from always-down" in text
    # significant on either side: the words follow the sign of hit - constant
    worse = {"value": 0.5806, "base_rate": 0.6196, "constant": "up", "p": 0.002,
             "t_hac": -3.1, "p_50": 0.0004, "t_50": 3.5}  # fmt: skip
    assert S.hit_rate_text(worse) == (
        "hit rate 58.06%: worse than always-up 61.96%, p 0.002; better than 50%, p <0.001"
    )
    better = {**worse, "value": 0.66, "t_hac": 2.5, "p": 0.03}
    assert "better than always-up 61.96%, p 0.03" in S.hit_rate_text(better)
    down = {"value": 0.45, "base_rate": 0.4279, "constant": "down", "p": 0.001, "t_hac": -4.0,
            "p_50": 0.02, "t_50": -2.3}  # fmt: skip  (no const_rate: an older report)
    assert S.hit_rate_text(down, value=False) == (
        "worse than always-down 57.21%, p 0.001; worse than 50%, p 0.02"
    )
    # a large sample of a rising market: "always up" itself is exactly the constant
    rng = np.random.default_rng(3)
    rising = rng.normal(0.3, 1.0, 2000)
    t = S.hit_rate_test(np.where(rng.random(2000) < 0.9, 1.0, -1.0), rising, horizon=1)
    assert t["constant"] == "up" and t["const_rate"] == t["base_rate"] > 0.6
    text = S.hit_rate_text(t)
    assert ("worse than always-up" in text) == (t["p"] < 0.05 and t["value"] < t["base_rate"])
    assert "better than 50%" in text and t["p_50"] < 0.001


def test_bootstrap_interval_brackets_the_point_and_depends_on_the_seed():
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2015-01-01", periods=600)
    base = pd.Series(rng.normal(0.0003, 0.012, 600), index=days)
    strat = 0.6 * base + pd.Series(rng.normal(0.0002, 0.006, 600), index=days)
    c = S.compare(strat, base, "base", seed=1, min_block=5)
    assert c["ci_low"] < c["sharpe_diff"] < c["ci_high"]
    assert c["excess_ci_low"] < c["excess_return"] < c["excess_ci_high"]
    assert c["block"] >= 5 and c["reps"] == 1000 and c["n"] == 600
    assert c["sharpe_diff"] == pytest.approx(
        strat.mean() / strat.std(ddof=0) * math.sqrt(252)
        - base.mean() / base.std(ddof=0) * math.sqrt(252)
    )
    assert c["excess_return"] == pytest.approx((strat - base).mean() * 252)
    assert c == S.compare(strat, base, "base", seed=1, min_block=5)
    assert c["ci_low"] != S.compare(strat, base, "base", seed=2, min_block=5)["ci_low"]
    # Series are aligned on their dates (a shorter baseline, shuffled)
    short = base.iloc[100:].sample(frac=1.0, random_state=0)
    assert S.compare(strat, short, "b", seed=1)["n"] == 500
    with pytest.raises(ValueError, match="differ in length"):
        S.compare(strat.to_numpy(), base.to_numpy()[:-1], "b")


_CHILD = """
import json, numpy as np, pandas as pd
from btlstm.significance import compare
rng = np.random.default_rng(11)
a, b = rng.normal(0.0005, 0.01, 400), rng.normal(0.0002, 0.01, 400)
print(json.dumps(compare(a, b, "b", seed=4)))
"""


def test_bootstrap_interval_is_identical_for_the_same_seed_in_a_new_process():
    rng = np.random.default_rng(11)
    a, b = rng.normal(0.0005, 0.01, 400), rng.normal(0.0002, 0.01, 400)
    here = S.compare(a, b, "b", seed=4)
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True)
    there = json.loads(out.stdout)
    for key in ("ci_low", "ci_high", "excess_ci_low", "excess_ci_high", "block"):
        assert there[key] == here[key]  # bit for bit


# ----------------------------------------------------------------------------- calibration
def test_ic_test_is_calibrated_on_pure_noise_and_finds_a_planted_signal(capsys):
    """300 pure-noise synthetic markets (the trend component is generated but does not
    drive the returns) and 200 with it planted; the prediction is the trend component,
    persistent like an LSTM's output, scored on overlapping 5-bar returns."""
    hac, naive = [], []
    for seed in range(300):
        t = S.ic_test(*_latent_case(seed, signal=0.0), horizon=H)
        hac.append(t["p_hac"] < 0.05)
        naive.append(t["p_iid"] < 0.05)
    found = []
    for seed in range(1000, 1200):
        t = S.ic_test(*_latent_case(seed, signal=0.3), horizon=H)
        found.append(t["p_hac"] < 0.05 and t["value"] > 0)
    rate, naive_rate, power = np.mean(hac), np.mean(naive), np.mean(found)
    with capsys.disabled():
        print(
            f"\n  IC test at 5% on 300 noise series: HAC {rate:.1%}, naive i.i.d. {naive_rate:.1%};"
            f" planted signal (200 series): HAC {power:.1%}"
        )
    assert rate <= 0.08
    assert naive_rate >= 0.25 and naive_rate >= 4 * rate  # the naive test is badly off
    assert power >= 0.90


# ----------------------------------------------------------------------------- verdict
def _vs(name, low, high, diff=None):
    diff = (low + high) / 2 if diff is None else diff
    return {"name": name, "sharpe_diff": diff, "ci_low": low, "ci_high": high, "beats": low > 0}


@pytest.mark.parametrize(
    "ic, vs, dsr, evidence, head",
    [
        ((0.2, 4.0, 0.0001), [_vs("bh", 0.1, 0.9)], (1, 0.99), True, "evidence of skill:"),
        ((0.2, 4.0, 0.0001), [_vs("bh", -0.1, 0.9)], (1, 0.9), False, "IC significant, but"),
        ((0.128, 1.31, 0.19), [_vs("bh", 0.1, 0.9)], (1, 0.99), False, "no evidence of skill:"),
        ((-0.2, -4.0, 0.0001), [_vs("bh", 0.1, 0.9)], (1, 0.9), False, "no evidence of skill (the"),
        (
            (0.2, 4.0, 0.0001),
            [_vs("a", 0.1, 0.9)],
            (5, 0.80),
            False,
            "IC significant and ahead of every baseline, but not after 5 trials",
        ),
        ((0.2, 4.0, 0.0001), [_vs("a", 0.1, 0.9)], (5, 0.97), True, "evidence of skill:"),
        ((0.2, 4.0, 0.0001), [], (1, 0.99), False, "IC significant, but no baseline"),
        (None, [_vs("bh", 0.1, 0.9)], (1, 0.99), False, "no evidence of skill (no prediction"),
        # 104 daily forecasts of 21-day returns are about 5 independent ones: not testable
        (
            (0.19, 3.4, 0.001, 104),
            [_vs("a", 0.1, 0.9)],
            (1, 0.99),
            False,
            "no evidence of skill (too few",
        ),
        ((0.19, 3.4, 0.001, 630), [_vs("a", 0.1, 0.9)], (1, 0.99), True, "evidence of skill:"),
    ],
)
def test_the_verdict_rule(ic, vs, dsr, evidence, head):
    sec = {
        "ic": None if ic is None else dict(zip(("value", "t_hac", "p_hac", "n"), ic)),
        "vs": vs,
        "dsr": {"n_trials": dsr[0], "value": dsr[1]},
        "horizon": 21,
    }
    got, sentence = S.verdict(sec)
    assert got is evidence and sentence.startswith(head)
    for v in vs:
        assert f"vs {v['name']} " in sentence
    if dsr[0] > 1:
        assert f"over {dsr[0]} trials" in sentence


def test_evaluate_writes_the_contract_keys_and_the_rule():
    pred, real = _latent_case(seed=1, signal=0.3, n=700)
    days = pd.bdate_range("2012-01-02", periods=700)
    ret = pd.Series(np.sign(pred) * np.r_[np.diff(np.log(np.arange(1, 701) + 100.0)), 0], days)
    sig = S.evaluate(ret, pred, real, {"flat": pd.Series(0.0, days)}, horizon=H, n_trials=3)
    for key in ("ic", "rank_ic"):
        assert {"value", "t_hac", "p_hac", "lag", "n"} <= set(sig[key])
    assert {"value", "base_rate", "p"} <= set(sig["hit_rate"])
    assert {"value", "se", "psr"} <= set(sig["sharpe"])
    assert {"name", "sharpe_diff", "ci_low", "ci_high", "excess_return", "excess_ci_low",
            "excess_ci_high", "psr"} <= set(sig["vs"][0])  # fmt: skip
    assert sig["dsr"]["n_trials"] == 3 and sig["dsr"]["variance_source"] == "estimate"
    assert isinstance(sig["evidence"], bool) and sig["verdict"] and sig["rule"] == S.RULE
    assert sig["ic"]["lag"] == H - 1 and sig["ic"]["p_hac"] < 1e-6
    json.dumps(sig)


# ----------------------------------------------------------------------------- many tests
def test_adjusted_pvalues_are_statsmodels_multipletests():
    p = np.array([0.001, 0.02, 0.04, 0.3, np.nan, 0.012])
    ok = np.isfinite(p)
    for method in ("holm", "fdr_bh"):
        got = S.adjust_pvalues(p, method)
        assert np.isnan(got[4])
        assert np.allclose(got[ok], multipletests(p[ok], method=method)[1])
    with pytest.raises(ValueError, match="holm"):
        S.adjust_pvalues(p, "bonferonni")


def test_spa_and_stepm_find_the_one_model_that_beats_the_reference():
    rng = np.random.default_rng(4)
    n = 800
    ref = rng.normal(0.0, 0.01, n)
    models = pd.DataFrame({f"m{i}": ref + rng.normal(0.0, 0.004, n) for i in range(4)})
    noise = S.spa_test(ref, models, seed=1)
    assert noise["p"] > 0.1 and S.stepm_test(ref, models, seed=1) == []
    models["good"] = ref + 0.0015 + rng.normal(0.0, 0.004, n)
    assert S.spa_test(ref, models, seed=1)["p"] < 0.01
    assert S.stepm_test(ref, models, seed=1) == ["good"]
    assert S.spa_test(ref, models, seed=1) == S.spa_test(ref, models, seed=1)
    # a model identical to the reference cannot beat it (and must not divide by zero)
    same = pd.DataFrame({"same": ref})
    assert S.spa_test(ref, same)["p"] == 1.0 and S.stepm_test(ref, same) == []
    assert S.spa_test(ref, models.assign(same=ref), seed=1)["models"] == [*models.columns]
