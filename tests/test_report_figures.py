"""The figures that decide, pinned: the tail figures against empyrical's formulas
worked by hand, the bootstrap interval against its seeded draws, the rule that
turns an interval into ``beats``, rolling beta and volatility window by window,
the longest (not the deepest) drawdown, which keys print as percent, round
trips against Backtrader's TradeAnalyzer, and a benchmark that starts later.

Every reference value here is computed in plain Python (sorted lists, loops),
not by the function under test.
"""

import math
import re

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm import metrics
from btlstm import significance as S
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.bt.feeds import make_feed
from btlstm.report import collect
from btlstm.report import page as pg
from btlstm.report import tearsheet as ts
from btlstm.report.formats import fmt_key, kind_of
from btlstm.report.html import _ROWS, comparison_runs, render_html
from btlstm.report.schema import RunData
from btlstm.strategies.hold import HoldNDays
from btlstm.synthetic import synthetic_ohlcv


def _returns(n=700, seed=3):
    rng = np.random.default_rng(seed)
    return rng.standard_t(4, n) * 0.01 + 0.0003  # fat tails, a small drift


def _percentile(sorted_values, q):
    """numpy's default (linear) percentile, by hand."""
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (pos - lo) * (sorted_values[hi] - sorted_values[lo])


# ---------------------------------------------------------------------------
# empyrical's definitions, by hand
# ---------------------------------------------------------------------------
def test_tail_figures_sortino_calmar_follow_empyricals_formulas_by_hand():
    r = list(_returns())
    start = 1_000_000.0
    values, v = [], start
    for x in r:
        v *= 1.0 + x
        values.append(v)
    curve = pd.Series(values, index=pd.bdate_range("2015-01-01", periods=len(r)))
    got = metrics.performance_stats(curve, start_value=start)
    n, srt = len(r), sorted(r)
    # VaR: the 5th percentile; CVaR: mean of the int((n - 1) * 0.05) + 1 worst
    var = _percentile(srt, 5)
    k = int((n - 1) * 0.05)
    cvar = sum(srt[: k + 1]) / (k + 1)
    tail = abs(_percentile(srt, 95)) / abs(_percentile(srt, 5))
    omega = sum(x for x in r if x > 0) / -sum(x for x in r if x < 0)
    mean = sum(r) / n
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n) * math.sqrt(252)
    sortino = mean * 252 / downside
    growth = 1.0
    peak, worst = 1.0, 0.0  # empyrical anchors the running peak at the start value
    for x in r:
        growth *= 1.0 + x
        peak = max(peak, growth)
        worst = min(worst, (growth - peak) / peak)
    cagr = growth ** (252 / n) - 1.0
    assert got["var_95"] == pytest.approx(var, rel=1e-12)
    assert got["cvar_95"] == pytest.approx(cvar, rel=1e-12)
    assert got["tail_ratio"] == pytest.approx(tail, rel=1e-12)
    assert got["omega"] == pytest.approx(omega, rel=1e-9)
    assert got["sortino"] == pytest.approx(sortino, rel=1e-9)
    assert got["calmar"] == pytest.approx(cagr / abs(worst), rel=1e-9)
    # k = 34 of 700: CVaR averages 35 returns, all at or below VaR
    assert k == 34 and got["cvar_95"] < got["var_95"] < 0


def test_tail_figures_at_their_boundaries():
    assert math.isnan(metrics.value_at_risk([])) and math.isnan(metrics.conditional_value_at_risk([]))
    assert metrics.conditional_value_at_risk([-0.05]) == -0.05  # one return: itself
    # no loss: Omega undefined, never infinite; one return: undefined (empyrical: < 2)
    assert math.isnan(metrics.omega_ratio([0.01, 0.02])) and math.isnan(metrics.omega_ratio([-0.01]))
    assert math.isnan(metrics.tail_ratio([0.0] * 10))  # a 5th percentile of 0
    # 20 returns: int(19 * 0.05) = 0, the worst alone
    r = np.linspace(-0.02, 0.017, 20)
    assert metrics.conditional_value_at_risk(r) == pytest.approx(-0.02)
    assert metrics.value_at_risk(r) == pytest.approx(-0.02 + 0.95 * 0.037 / 19)
    assert metrics.omega_ratio([0.03, -0.01, -0.02]) == pytest.approx(1.0)


def test_rolling_volatility_and_beta_window_by_window():
    rng = np.random.default_rng(5)
    n = 400
    days = pd.bdate_range("2018-01-01", periods=n)
    b = rng.normal(0.0003, 0.01, n)
    s = 1.3 * b + rng.normal(0.0, 0.004, n)
    eq = pd.DataFrame({"date": days, "s": 1e6 * np.cumprod(1 + s), "b": 1e6 * np.cumprod(1 + b)})
    run = RunData(report={"comparison": [{"name": "s"}], "benchmark": {"name": "b"}},
                  tables={"equity": eq})  # fmt: skip
    figs = ts.rolling_figures(run)
    rs = [float("nan")] + [eq["s"][i] / eq["s"][i - 1] - 1 for i in range(1, n)]
    rb = [float("nan")] + [eq["b"][i] / eq["b"][i - 1] - 1 for i in range(1, n)]
    for label, w in ts.ROLLING_WINDOWS.items():
        beta, vol = figs[f"beta {label}"], figs[f"volatility {label}"]
        # the first full window ends on bar w (bar 0 has no return)
        assert beta.iloc[:w].isna().all() and np.isfinite(beta.iloc[w:]).all()
        assert int(np.isfinite(vol).sum()) == n - w
        for t in range(w, n):
            x, y = rs[t - w + 1 : t + 1], rb[t - w + 1 : t + 1]
            mx, my = sum(x) / w, sum(y) / w
            cov = sum((a - mx) * (c - my) for a, c in zip(x, y, strict=True)) / (w - 1)
            var_y = sum((c - my) ** 2 for c in y) / (w - 1)
            var_x = sum((a - mx) ** 2 for a in x) / (w - 1)
            assert beta.iloc[t] == pytest.approx(cov / var_y, rel=1e-9)
            assert vol.iloc[t] == pytest.approx(math.sqrt(var_x * 252), rel=1e-9)
    assert 1.1 < figs["beta 12 months"].iloc[-1] < 1.5  # the planted beta is 1.3


def test_the_longest_drawdown_is_not_the_deepest():
    # a deep, short fall (-30% over 2 bars) and a shallow, long one (-5% over 11 bars)
    v = [100.0, 70.0, 100.0, 101.0] + [96.0] * 10 + [101.5, 102.0]
    days = pd.bdate_range("2020-01-01", periods=len(v))
    curve = pd.Series(v, index=days)
    got = metrics.performance_stats(curve)
    assert got["longest_drawdown_bars"] == 11  # bar 3 (peak 101) to bar 14 (101.5)
    assert got["longest_drawdown_start"] == days[3] and got["longest_drawdown_end"] == days[14]
    assert got["longest_drawdown_days"] == (days[14] - days[3]).days
    deepest = metrics.drawdown_periods(curve, top=1)[0]
    assert deepest["depth"] == pytest.approx(0.3) and deepest["bars"] == 2
    assert deepest["start"] == days[0] and deepest["end"] == days[2]
    # the page's comparison row names the longest's dates, not the deepest's
    eq = pd.DataFrame({"date": days, "s": v})
    run = RunData(report={"comparison": [{"name": "s"}]}, tables={"equity": eq})
    row = comparison_runs(run)[0]
    assert row["longest_drawdown_dates"] == f"{days[3].date()} .. {days[14].date()}"


# ---------------------------------------------------------------------------
# which keys print as percent
# ---------------------------------------------------------------------------
PERCENT = {
    "total_return": True, "annual_return": True, "annual_volatility": True,
    "max_drawdown": True, "var_95": True, "cvar_95": True, "excess_return": True,
    "alpha": True, "tracking_error": True, "win_rate": True, "exposure": True,
    "hit_rate": True, "best_day": True, "worst_month": True, "return_pct": True,
    "excess_ci_low": True, "weight": True, "depth": True,
    "sharpe": False, "sortino": False, "calmar": False, "tail_ratio": False, "omega": False,
    "skew": False, "kurtosis": False, "beta": False, "information_ratio": False,
    "turnover": False, "payoff_ratio": False, "sharpe_diff": False, "ic": False,
    "n_trades": False, "final_value": False, "pnl": False, "psr": False, "bars_held": False,
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(PERCENT))
def test_which_keys_print_as_percent(key):
    text = fmt_key(key, 0.1234)
    assert text.endswith("%") is PERCENT[key], (key, text)
    if PERCENT[key]:
        assert text == "12.34%"
    cell = pg.kv_table([(f"strategy.{key}", 0.1234)])  # a details table: the last key part
    assert ("12.34%" in cell) is PERCENT[key]


def test_the_comparison_rows_agree_with_the_key_kinds():
    for label, key, kind in _ROWS:
        if kind in ("pct", "ratio"):
            assert (kind == "pct") is (kind_of(key) == "pct"), (label, key, kind)


# ---------------------------------------------------------------------------
# the bootstrap interval and the rule that reads it
# ---------------------------------------------------------------------------
def test_the_95_interval_is_the_2_5_and_97_5_percentiles_of_the_seeded_draws():
    from arch.bootstrap import StationaryBootstrap

    rng = np.random.default_rng(21)
    a, b = rng.normal(0.0006, 0.011, 500), rng.normal(0.0002, 0.01, 500)
    got = S.bootstrap_compare(a, b, reps=400, seed=9, block=7)
    sharpe, excess = [], []
    for pos, _ in StationaryBootstrap(7, a, b, seed=9).bootstrap(400):
        x, y = pos
        sx = x.mean() / x.std() * math.sqrt(252)
        sy = y.mean() / y.std() * math.sqrt(252)
        sharpe.append(sx - sy)
        excess.append((x - y).mean() * 252)
    sharpe, excess = sorted(sharpe), sorted(excess)
    assert got["ci_low"] == pytest.approx(_percentile(sharpe, 2.5), rel=1e-12)
    assert got["ci_high"] == pytest.approx(_percentile(sharpe, 97.5), rel=1e-12)
    assert got["excess_ci_low"] == pytest.approx(_percentile(excess, 2.5), rel=1e-12)
    assert got["excess_ci_high"] == pytest.approx(_percentile(excess, 97.5), rel=1e-12)
    # not the 90% interval, not another seed's
    assert got["ci_low"] != pytest.approx(_percentile(sharpe, 5.0), rel=1e-6)
    other = S.bootstrap_compare(a, b, reps=400, seed=10, block=7)
    assert other["ci_low"] != pytest.approx(got["ci_low"], rel=1e-9)


@pytest.mark.parametrize(
    ("low", "high", "beats"),
    [(0.01, 0.5, True), (1e-12, 0.5, True), (0.0, 0.5, False), (-0.01, 0.5, False),
     (-0.5, -0.01, False), (float("nan"), float("nan"), False)],
)  # fmt: skip
def test_beats_needs_the_whole_interval_above_zero(monkeypatch, low, high, beats):
    def fake(*args, **kwargs):
        return {"sharpe_diff": 0.2, "ci_low": low, "ci_high": high, "excess_return": 0.01,
                "excess_ci_low": -0.01, "excess_ci_high": 0.03, "n": 300, "block": 5,
                "reps": 1000, "seed": 0}  # fmt: skip

    monkeypatch.setattr(S, "bootstrap_compare", fake)
    rng = np.random.default_rng(1)
    entry = S.compare(rng.normal(0, 0.01, 300), rng.normal(0, 0.01, 300), "b")
    assert entry["beats"] is beats
    assert entry["ci_low"] == low or (math.isnan(low) and math.isnan(entry["ci_low"]))


# ---------------------------------------------------------------------------
# round trips and a benchmark that starts later
# ---------------------------------------------------------------------------
def _frame(n, seed):
    frame = synthetic_ohlcv(n=n, seed=seed, signal=0.0).copy()
    frame.attrs = dict(frame.attrs)
    trailing = frame["close"] / frame["close"].shift(5) - 1.0
    frame["prediction"] = np.sign(trailing).fillna(0.0) * 0.5
    return frame


def test_round_trips_from_the_order_log_with_partial_exits():
    days = pd.bdate_range("2021-01-04", periods=8)
    trades = pd.DataFrame(
        {
            "strategy": "s", "symbol": "A",
            "date": days[[0, 1, 3, 4, 6, 7]],
            "side": ["buy", "buy", "sell", "sell", "sell", "buy"],
            "size": [100.0, 50.0, 120.0, 60.0, 40.0, 10.0],
            "price": [10.0, 12.0, 11.0, 13.0, 9.0, 8.0],
            "commission": [1.0, 0.5, 1.2, 0.6, 0.4, 0.1],
            "status": "Completed",
        }
    )  # fmt: skip
    rt = ts.roundtrips(trades, days)
    assert list(rt.columns) == ts.ROUNDTRIP_COLUMNS and len(rt) == 3
    # sell 120: the 100 of day 0 and 20 of day 1 (FIFO), one row
    r0 = rt.iloc[0]
    assert (r0["direction"], r0["size"], r0["entry_date"], r0["bars_held"]) == ("long", 120.0, days[0], 3)
    assert r0["entry_price"] == pytest.approx((100 * 10 + 20 * 12) / 120)
    assert r0["pnl"] == pytest.approx(100 * 1 + 20 * -1 - (1.0 + 20 * 0.01 + 1.2))
    # sell 60: the 30 left of day 1 close the long, 30 open a short (entry 13)
    r1 = rt.iloc[1]
    assert (r1["size"], r1["entry_price"], r1["exit_price"]) == (30.0, 12.0, 13.0)
    assert r1["pnl"] == pytest.approx(30 * 1 - (30 * 0.01 + 30 * 0.01))
    # the short of 30 + 40 more: a buy of 10 closes 10 of the oldest short lot (day 4 at 13)
    r2 = rt.iloc[2]
    assert (r2["direction"], r2["size"], r2["entry_price"], r2["exit_price"]) == ("short", 10.0, 13.0, 8.0)
    assert r2["pnl"] == pytest.approx(10 * 5 - (10 * 0.01 + 10 * 0.01))
    assert r2["return_pct"] == pytest.approx(r2["pnl"] / 130.0) and r2["bars_held"] == 3
    assert rt["exit_date"].is_monotonic_increasing


@pytest.fixture(scope="module")
def late():
    """A hold run whose benchmark feed starts 80 bars after the traded asset."""
    n, lag = 500, 80
    asset, bench = _frame(n, 2), _frame(n, 7).iloc[lag:]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(asset, extra_lines=("prediction",)), name="A")
    bench_feed = make_feed(bench)
    cerebro.adddata(bench_feed, name="BENCH")
    setup_broker(cerebro, **dict(INDEX_COSTS))
    add_standard_analyzers(cerebro, signal=True, horizon=5, benchmark=bench_feed)
    cerebro.addstrategy(HoldNDays, hold=5)
    strat = cerebro.run()[0]
    return collect(strat, {"title": "late benchmark"}, name="hold"), asset, bench


def test_round_trips_sum_to_the_trade_analyzers_pnl(late):
    """HoldNDays goes all in and all out: one round trip per closed Backtrader trade."""
    run = late[0]
    rt = ts.roundtrips(run.tables["trades"], run.tables["equity"]["date"])
    s = run.report["strategy"]
    assert len(rt) == s["n_trades"] > 5
    assert rt["pnl"].sum() == pytest.approx(s["pnl_net"], rel=1e-9)
    assert rt["pnl"].max() == pytest.approx(s["best_trade"], rel=1e-9)
    assert (rt["pnl"] > 0).sum() == s["n_won"]
    assert rt["bars_held"].mean() == pytest.approx(s["avg_holding_bars"], abs=1.0)


def test_a_benchmark_that_starts_later_is_aligned_and_leaks_no_nan(late):
    run, asset, bench = late
    eq = run.tables["equity"]
    name = run.report["benchmark"]["name"]
    col = eq[name]
    first = pd.Timestamp(bench.index[0])
    # NaN exactly before the benchmark's first bar, scaled to the portfolio there
    assert col[pd.to_datetime(eq["date"]) < first].isna().all()
    assert col[pd.to_datetime(eq["date"]) >= first].notna().all()
    at = int(np.flatnonzero(pd.to_datetime(eq["date"]) == first)[0])
    assert at > 0 and col.iloc[at] == pytest.approx(eq["hold"].iloc[at])
    assert col.iloc[-1] / col.iloc[at] == pytest.approx(bench["close"].iloc[-1] / bench["close"].iloc[0])
    perf = ts.performance_section(run)[name]
    for key in ("annual_volatility", "sortino", "var_95", "cvar_95", "tail_ratio", "omega", "skew"):
        assert perf[key] is not None and math.isfinite(perf[key]), key
    years = run.report["per_year"]
    first_year = str(first.year)
    assert years[first_year][name] == pytest.approx(
        bench["close"][bench.index.year == first.year].iloc[-1] / bench["close"].iloc[0] - 1
    )
    excess = ts.excess_curves(run)[name]
    assert excess.index[0] == first and excess.iloc[0] == 0.0 and excess.notna().all()
    h = pd.Series(eq["hold"].to_numpy(), index=pd.to_datetime(eq["date"]))
    b = pd.Series(col.to_numpy(), index=pd.to_datetime(eq["date"]))
    want = (h.iloc[-1] / h[first]) / (b.iloc[-1] / b[first]) - 1
    assert excess.iloc[-1] == pytest.approx(want, rel=1e-9)
    rel = run.report["relative"]
    assert all(math.isfinite(rel[k]) for k in ("beta", "correlation", "tracking_error"))
    page = render_html(run, {}).decode("utf-8")
    assert not re.search(r">\s*nan\s*<", page, flags=re.IGNORECASE)  # no NaN printed


def test_unfilled_orders_show_size_price_value_and_wrap_the_detail(late):
    run = late[0]
    data = RunData(report=run.report, tables={k: v.copy() for k, v in run.tables.items()})
    trades = data.tables["trades"]
    detail = ("not enough cash at the fill: 26599 x open 20.51 = 545,554.49 before costs, "
              "cash 543,857.95 after the bar's fills")  # fmt: skip
    extra = trades.iloc[[0]].assign(status="Margin", detail=detail, size=np.nan, price=np.nan,
                                    value=np.nan, commission=0.0)  # fmt: skip
    cancelled = trades.iloc[[1]].assign(status="Canceled", detail="cancelled by the strategy",
                                        size=np.nan, price=np.nan, value=np.nan)  # fmt: skip
    data.tables["trades"] = pd.concat([trades, extra, cancelled], ignore_index=True)
    page = render_html(data, {}).decode("utf-8")
    body = page.split("Orders that did not fill, every run (2)")[1].split("</table>")[0]
    assert "<table class='sortable wrap'>" in body
    rows = body.split("<tr")[2:]  # after the header
    assert len(rows) == 2
    # size and value as the detail says (the value exact; the price = value / size)
    assert "26,599" in rows[0] and ">545,554.49<" in rows[0] and ">20.51<" in rows[0]
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[1])
    assert cells[5:8] == ["", "", ""]  # a cancelled order's size is unknown: blank, not 0
    assert ">placed<" in body and ">finished<" in body
    assert "table.wrap td.k:last-child{white-space:normal" in page


# ---------------------------------------------------------------------------
# one log-axis rule for every equity chart
# ---------------------------------------------------------------------------
def test_the_log_axis_rule_at_its_boundaries():
    from btlstm.report.plots import LOG_SPAN, LOG_YEARS, log_scale

    assert (LOG_YEARS, LOG_SPAN) == (8.0, 3.0)
    start = pd.Timestamp("2010-01-01")
    eight = [start, start + pd.Timedelta(days=8 * 365.25)]
    assert not log_scale([100.0, 200.0], eight)  # exactly 8 years, a factor 2: linear
    assert log_scale([100.0, 200.0], [start, eight[1] + pd.Timedelta(days=1)])
    short = [start, start + pd.Timedelta(days=30)]
    assert not log_scale([100.0, 300.0], short)  # exactly a factor 3: linear
    assert log_scale([100.0, 300.01], short)
    assert not log_scale([0.0, 1000.0], eight + [start])  # a value <= 0 cannot go on a log axis
    assert log_scale([np.nan, 100.0, 400.0], short + [start])  # NaN (a late baseline) ignored


def test_every_equity_chart_sets_its_axis_with_the_one_rule(monkeypatch, late):
    from btlstm.report import plots
    from btlstm.report.seeds import _plot

    calls = []
    real = plots.equity_axis

    def spy(ax, values, dates, label="portfolio value"):
        calls.append(real(ax, values, dates, label))
        return calls[-1]

    monkeypatch.setattr(plots, "equity_axis", spy)
    run = late[0]
    plots.plot_equity(run)
    _plot({0: run, 1: run}, None)
    assert calls == [False, False]  # two years, a factor under 3: both linear
    eq = run.tables["equity"].copy()
    eq["date"] = pd.bdate_range("2000-01-03", periods=len(eq), freq="5B")  # ~10 years
    long = RunData(report=run.report, tables={**run.tables, "equity": eq})
    plots.plot_equity(long)
    _plot({0: long}, None)
    assert calls[2:] == [True, True]


def test_roundtrips_csv_is_written_and_redrawn_on_rebuild(late, tmp_path):
    from btlstm.report import load_report, rebuild_report, write_report

    run = late[0]
    out = tmp_path / "r"
    paths = write_report(run, out, plots=False)
    data = paths["roundtrips.csv"].read_bytes()
    frame = pd.read_csv(paths["roundtrips.csv"])
    assert list(frame.columns) == ts.ROUNDTRIP_COLUMNS
    assert len(frame) == run.report["strategy"]["n_trades"]
    paths["roundtrips.csv"].write_bytes(b"strategy\nforged\n")  # a derived file: redrawn
    rebuild_report(out)
    assert (out / "roundtrips.csv").read_bytes() == data
    assert load_report(out).report["title"] == "late benchmark"
