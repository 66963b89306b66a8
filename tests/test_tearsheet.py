"""The tearsheet (report.html) of a small synthetic run: its sections, its formats,
its weights, and its figures cross-checked against independent pandas computations.

No TensorFlow: HoldNDays trades a prediction column known at the bar's close
(the sign of the trailing 5-bar return), beside a buy-and-hold baseline run.
"""

import math
import re

import backtrader as bt
import numpy as np
import pandas as pd
import pytest

import btlstm  # noqa: F401  (compat patches first)
from btlstm import metrics
from btlstm.bt.analyzers import add_standard_analyzers
from btlstm.bt.broker import INDEX_COSTS, setup_broker
from btlstm.bt.feeds import make_feed
from btlstm.report import add_comparison, collect, load_report, write_report
from btlstm.report import tearsheet as ts
from btlstm.report.formats import fmt
from btlstm.report.html import SECTIONS, render_html
from btlstm.report.seeds import _html as seeds_html
from btlstm.report.seeds import seeds_overview
from btlstm.strategies.buyhold import BuyAndHold
from btlstm.strategies.hold import HoldNDays
from btlstm.synthetic import synthetic_ohlcv

N = 640  # > 2 years: rolling 12-month figures and several calendar years


def _frame(seed=2):
    frame = synthetic_ohlcv(n=N, seed=seed, signal=0.0).copy()
    frame.attrs = dict(frame.attrs)
    trailing = frame["close"] / frame["close"].shift(5) - 1.0
    frame["prediction"] = np.sign(trailing).fillna(0.0) * 0.5
    return frame


def _run(frame, strategy, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(make_feed(frame, extra_lines=("prediction",)))
    setup_broker(cerebro, **dict(INDEX_COSTS))
    add_standard_analyzers(cerebro, signal=True if strategy is HoldNDays else None, horizon=5)
    cerebro.addstrategy(strategy, **params)
    return cerebro.run()[0]


def _collect(seed=2):
    frame = _frame(seed)
    meta = {
        "title": "tearsheet test",
        # what a real run's params hold: an object and a frame (their reprs must not show)
        "config": {"model": {"horizon": 5, "learning_rate": 1e-5, "progress": object(),
                             "history": frame.head(3)}},  # fmt: skip
        "provenance": {"dataset": "synthetic", "rows": len(frame)},
        "costs": dict(INDEX_COSTS),
    }
    data = collect(_run(frame, HoldNDays, hold=5), meta, name="hold")
    add_comparison(data, _run(frame, BuyAndHold), "buy-and-hold")
    return data


@pytest.fixture(scope="module")
def run():
    return _collect()


@pytest.fixture(scope="module")
def written(run, tmp_path_factory):
    out = tmp_path_factory.mktemp("tearsheet") / "r"
    paths = write_report(run, out)
    return out, paths, paths["report.html"].read_text(encoding="utf-8")


def _cells(page: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", page)]


def _equity(run, name):
    eq = run.tables["equity"]
    return pd.Series(eq[name].to_numpy(float), index=pd.DatetimeIndex(eq["date"])).dropna()


# ---------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------
def test_page_has_every_section_in_order(written):
    _, paths, page = written
    where = [page.find(f"<h2 id='{key}'>") for key, _ in SECTIONS if key != "verdict"]
    assert all(i > 0 for i in where) and where == sorted(where)
    assert page.index("<b>Verdict:</b>") < where[0]
    for text in ("Monthly returns", "Rolling Sharpe, beta and volatility",
                 "Calibration by prediction decile", "trades.csv", "roundtrips.csv",
                 "value at risk (95%, daily)", "conditional VaR (95%, daily)", "tail ratio",
                 "Omega (threshold 0)", "Round trips of", "Worst drawdowns", "<details>", "Configuration", "Definitions",
                 "Data provenance", "Sortino", "Calmar", "annual volatility", "payoff ratio",
                 "average holding period", "longest drawdown", "worst month"):  # fmt: skip
        assert text in page, text
    for name in ("equity.png", "drawdown.png", "excess.png", "yearly.png", "rolling.png",
                 "returns.png", "predictions.png", "weights.png", "roundtrips.csv"):  # fmt: skip
        assert name in paths
    assert page.count("data:image/png;base64,") == 8
    assert "src='http" not in page and 'src="http' not in page and "<link" not in page


def test_no_object_reprs_and_no_raw_json(written):
    out, _, page = written
    text = (out / "report.json").read_text(encoding="utf-8")
    assert "object at 0x" not in text and "<DataFrame" not in text
    assert '"progress": "a object object"' in text  # named by its type, no address
    assert "object at 0x" not in page and "<DataFrame" not in page and "&lt;DataFrame" not in page
    assert "<pre>" not in page  # every block is a table
    assert "model.learning_rate" in page and ">0.00001<" in page  # a setting as typed


def test_no_scientific_notation_in_any_table_cell(written):
    _, _, page = written
    cells = _cells(page)
    assert len(cells) > 200
    sci = re.compile(r"\d(\.\d+)?[eE][-+]?\d")
    bad = [c for c in cells if sci.search(c) and not c.startswith(("l1", "l2"))]
    assert not bad, bad[:5]
    assert not re.search(r"<td[^>]*>[^<]*\bnan\b", page)


def test_fmt_never_scientific():
    for x in (2.475e-05, 1e-12, -3e-9, 123456789.123, 1e15, 0.07534, -0.315):
        for kind in ("pct", "ratio", "corr", "int", "money", "plain"):
            assert "e" not in fmt(x, kind).lower(), (x, kind)
    assert fmt(-0.0000001, "pct") == "0.00%" and fmt(1234567.891, "money") == "1,234,567.89"


def test_daily_weights_cover_every_bar_and_sum_to_one(run):
    eq = run.tables["equity"]
    wide = ts.daily_weights(run.tables["weights"], eq["date"])
    assert len(wide) == len(eq) and "cash" in wide.columns
    assert np.allclose(wide.sum(axis=1), 1.0, atol=1e-12)
    invested = wide.drop(columns="cash").abs().sum(axis=1) > 0
    flat = ~invested
    assert flat.any() and invested.any()  # the hold strategy is flat on some days
    assert (wide.loc[flat, "cash"] == 1.0).all()
    # the share of bars holding a position is the report's exposure (time in market)
    assert invested.mean() == pytest.approx(run.report["strategy"]["exposure"], abs=1e-12)


def test_prediction_quality_is_labelled_with_units(run, written):
    _, _, page = written
    p = run.report["prediction"]
    assert p["scale"] == 10.0 and p["mean_prediction_return"] == p["mean_prediction"] / 10.0
    section = page[page.index("<h2 id='prediction'>") : page.index("<h2 id='weights'>")]
    cells = _cells(section)
    for raw in ("n_finite_predictions", "rmse_target", "mae_target", "n_bars", "mean_realised"):
        assert raw not in cells  # no raw key as a label
    row = dict(zip(cells[0::2], cells[1::2], strict=False))
    assert row["RMSE (target units)"] == f"{p['rmse_target']:.3f}"
    assert row["finite predictions"] == f"{p['n_finite_predictions']:,d}"
    # mean prediction and mean realised return in the same unit (percent of a return)
    assert row["mean prediction, as a return (target / scale)"] == (
        f"{p['mean_prediction'] / 10.0 * 100:.2f}%"
    )
    assert row["mean realised return"] == f"{p['mean_realised'] * 100:.2f}%"
    assert row["mean prediction (target units: return x scale)"] == f"{p['mean_prediction']:.3f}"
    assert "mean prediction (as a return)" in section and "decile" in section


def test_weights_top_symbols_plus_other():
    dates = pd.bdate_range("2020-01-01", periods=4)
    rows = [{"date": d, "symbol": f"S{i}", "weight": 0.05} for d in dates[:3] for i in range(15)]
    wide = ts.daily_weights(pd.DataFrame(rows), dates, top=10)
    assert list(wide.columns)[-2:] == ["other", "cash"] and wide.shape[1] == 12
    assert wide["other"].iloc[0] == pytest.approx(0.25) and wide["cash"].iloc[0] == pytest.approx(0.25)
    assert wide.iloc[3].tolist() == [0.0] * 11 + [1.0]  # the flat last day


# ---------------------------------------------------------------------------
# the figures, against independent pandas computations
# ---------------------------------------------------------------------------
def test_volatility_sortino_calmar_against_pandas(run):
    start = run.report["strategy"]["start_value"]
    perf = run.report["performance"]
    for name in ("hold", "buy-and-hold"):
        eq = _equity(run, name)
        full = pd.concat([pd.Series([start]), pd.Series(eq.to_numpy())], ignore_index=True)
        r = full.pct_change().dropna()
        vol = r.std() * math.sqrt(252)
        sortino = r.mean() / math.sqrt((r.clip(upper=0.0) ** 2).mean()) * math.sqrt(252)
        cagr = (full.iloc[-1] / start) ** (252 / len(r)) - 1
        mdd = (1 - full / full.cummax()).max()
        p = perf[name]
        assert p["annual_volatility"] == pytest.approx(vol, rel=1e-9)
        assert p["sortino"] == pytest.approx(sortino, rel=1e-9)
        assert p["calmar"] == pytest.approx(cagr / mdd, rel=1e-9)
        d = r - r.mean()  # population moments; excess kurtosis
        assert p["skew"] == pytest.approx((d**3).mean() / (d**2).mean() ** 1.5, rel=1e-9)
        assert p["kurtosis"] == pytest.approx((d**4).mean() / (d**2).mean() ** 2 - 3, rel=1e-9)
        if name == "hold":  # the verdict table's Sharpe row: the same figure
            sh = run.report["significance"]["sharpe"]
            assert sh["kurtosis"] == pytest.approx(p["kurtosis"], rel=1e-9)
            assert sh["skew"] == pytest.approx(p["skew"], rel=1e-9)
        assert p["worst_day"] == pytest.approx(r.min(), rel=1e-12)
    s = run.report["strategy"]
    assert s["max_drawdown"] == pytest.approx(
        (1 - _equity(run, "hold") / _equity(run, "hold").cummax()).max(), rel=1e-6
    )


def test_monthly_table_against_pandas(run):
    for name, table in ts.monthly_tables(run).items():
        eq = _equity(run, name)
        ends = eq.resample("ME").last().dropna()
        prev = ends.shift(1)
        prev.iloc[0] = eq.iloc[0]
        expected = ends / prev - 1
        got = {(y, m): table.loc[y, m] for y in table.index for m in range(1, 13)
               if np.isfinite(table.loc[y, m])}  # fmt: skip
        assert len(got) == len(expected)
        for when, value in expected.items():
            assert got[(when.year, when.month)] == pytest.approx(value, rel=1e-12)
        years = eq.resample("YE").last()
        prev_y = years.shift(1)
        prev_y.iloc[0] = eq.iloc[0]
        for when, value in (years / prev_y - 1).items():
            assert table.loc[when.year, "year"] == pytest.approx(value, rel=1e-12)
        worst = run.report["performance"][name]["worst_month"]
        assert worst == pytest.approx(expected.min(), rel=1e-12)


def _brute_force_periods(values: np.ndarray):
    """Every under-water stretch by a plain loop: (start, trough, end or None, depth)."""
    out, peak_i, i, n = [], 0, 1, len(values)
    while i < n:
        if values[i] >= values[peak_i]:
            peak_i = i
            i += 1
            continue
        start = peak_i
        j = i
        while j < n and values[j] < values[start]:
            j += 1
        depth, trough = 0.0, start
        for k in range(start, j):  # the deepest fall inside: every pair m <= k
            for m in range(start, k + 1):
                d = 1 - values[k] / values[m]
                if d > depth:
                    depth, trough = d, k
        out.append((start, trough, j if j < n else None, depth))
        peak_i = j if j < n else peak_i
        i = j + 1 if j < n else n
    return sorted(out, key=lambda p: -p[3])


def test_worst_drawdowns_against_brute_force(run):
    eq = _equity(run, "hold")
    got = run.report["drawdowns"]
    want = _brute_force_periods(eq.to_numpy())[: len(got)]
    assert len(got) == min(5, len(_brute_force_periods(eq.to_numpy()))) and got
    dates = [str(d.date()) for d in eq.index]
    for g, (start, trough, end, depth) in zip(got, want, strict=True):
        assert g["depth"] == pytest.approx(depth, rel=1e-12)
        assert g["start"] == dates[start] and g["trough"] == dates[trough]
        assert g["end"] == (dates[end] if end is not None else None)
        last = end if end is not None else len(eq) - 1
        assert g["bars"] == last - start
    assert got[0]["depth"] == pytest.approx(metrics.max_drawdown(eq.to_numpy()), rel=1e-12)


def test_trade_figures_in_report_and_table(run, written):
    s = run.report["strategy"]
    for key in ("payoff_ratio", "best_trade", "worst_trade", "avg_holding_bars", "win_rate"):
        assert s[key] is not None, key
    assert s["payoff_ratio"] == pytest.approx(s["avg_win"] / abs(s["avg_loss"]))
    assert s["best_trade"] >= s["avg_win"] > 0 > s["avg_loss"] >= s["worst_trade"]
    _, _, page = written
    assert fmt(s["best_trade"], "money") in page and fmt(s["payoff_ratio"], "ratio") in page


def test_trade_list_first_and_last_rows_and_rejected_marked(run):
    data = _collect()
    trades = data.tables["trades"]
    extra = trades.iloc[[0]].assign(status="Margin", detail="not enough cash")
    data.tables["trades"] = pd.concat([trades, extra], ignore_index=True)
    page = render_html(data, {}).decode("utf-8")
    assert "class='sortable'" in page and "<a href='trades.csv'>" in page
    # red in the strategy's order list and in the table of unfilled orders
    assert page.count("<tr class='bad'>") == 2 and "not enough cash" in page
    assert "Orders that did not fill, every run (1)" in page
    n = int((data.tables["trades"]["strategy"] == "hold").sum())
    assert n > 60  # the list shows the first and last 25 orders
    assert f"... {n - 50:,d} more orders in trades.csv ..." in page
    body = page.split("<h3>Orders of hold")[1].split("</table>")[0]
    assert body.count("<tr") == 1 + 50 + 1  # header, 50 orders, the gap


def test_an_older_report_without_the_new_sections_still_renders(written):
    out, _, page = written
    loaded = load_report(out)
    for key in ("performance", "drawdowns"):
        loaded.report.pop(key)
    again = render_html(loaded, {}).decode("utf-8")
    perf = written[1]  # the paths; the figures come back computed from equity.csv
    assert perf
    sortino = fmt(load_report(out).report["performance"]["hold"]["sortino"], "ratio")
    row = re.search(r"<td class='k'>Sortino</td>(.*?)</tr>", again)
    assert row and f"<td>{sortino}</td>" in row.group(1)
    assert again.count("<h2 id='drawdowns'>") == 1 and "start (peak)" in again


def test_seeds_overview_page_has_box_plots_and_verdict_table(run):
    other = _collect(seed=3)
    overview = seeds_overview({0: run, 1: other}, None, n_trials=2, title="two seeds")
    page = seeds_html(overview, None, ["seed_0", "seed_1"]).decode("utf-8")
    assert page.count("data:image/png;base64,") == 1  # the box plots
    assert "seed_1/report.html" in page and "verdict" in page
    sci = re.compile(r"\d(\.\d+)?[eE][-+]?\d")
    assert not [c for c in _cells(page) if sci.search(c)]
