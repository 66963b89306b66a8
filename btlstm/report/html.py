"""One self-contained ``report.html``: a tearsheet that reads top to bottom.

:func:`render_html` takes plain data (a :class:`~btlstm.report.collect.RunData`
and the PNG bytes of :func:`btlstm.report.plots.render_plots`) and writes, in
order: title and period; the verdict, the warnings and the significance
figures; the comparison table (every run side by side, the standard figures);
equity and drawdown; monthly returns (strategy and main baseline); rolling
Sharpe and beta; the distribution of daily returns; prediction quality;
weights; the trade list; the worst drawdowns; then configuration, provenance,
costs, definitions and run facts as collapsible key-value tables. Every number
is written by :func:`btlstm.report.formats.fmt`; the building blocks (CSS,
tables, the sortable-table script) are :mod:`btlstm.report.page`'s. Nothing
is fetched: images are base64 data URIs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from btlstm.report import page as pg
from btlstm.report import tearsheet as ts
from btlstm.report.formats import fmt
from btlstm.report.page import esc
from btlstm.report.table import columns
from btlstm.significance import hit_rate_text

__all__ = ["render_html", "SECTIONS", "TRADE_ROWS"]

SECTIONS = (
    ("verdict", "Verdict"),
    ("comparison", "Strategy and baselines"),
    ("equity", "Equity and drawdown"),
    ("monthly", "Monthly returns"),
    ("rolling", "Rolling Sharpe, beta and volatility"),
    ("distribution", "Daily returns"),
    ("prediction", "Prediction quality"),
    ("weights", "Weights"),
    ("trades", "Trades"),
    ("drawdowns", "Worst drawdowns"),
    ("details", "Configuration and provenance"),
)
"""The page's sections: ``(id, heading)``, in order."""

TRADE_ROWS = 25
"""Orders shown at each end of the trade list (every one is in trades.csv)."""
_MAX_ASSET_ROWS = 500  # per-asset rows in the page; all of them are in report.json


def _h2(key: str, extra: str = "") -> str:
    return f"<h2 id='{key}'>{esc(dict(SECTIONS)[key])}{extra}</h2>"


# ---------------------------------------------------------------------------
# the verdict and the warnings
# ---------------------------------------------------------------------------
def _n(x, digits: int = 3) -> str:
    return fmt(x, "corr" if digits == 3 else "ratio")


def _pv(x) -> str:
    return "n/a" if x is None else ("<0.001" if x < 0.001 else fmt(x, "corr"))


def _significance(report: Mapping) -> list[str]:
    """The verdict box and the figures behind it."""
    sig = report.get("significance")
    if not isinstance(sig, Mapping):
        return []
    rows = []
    for key, label in (("ic", "IC"), ("rank_ic", "rank IC")):
        d = sig.get(key)
        if isinstance(d, Mapping):
            what = " (daily, across assets)" if d.get("kind") == "cross_sectional" else ""
            rows.append(
                (f"{label}{what}", _n(d.get("value")),
                 f"HAC t {_n(d.get('t_hac'), 2)} (lag {d.get('lag')}, n {fmt(d.get('n'), 'int')});"
                 f" naive t {_n(d.get('t_iid'), 2)}", _pv(d.get("p_hac")))
            )  # fmt: skip
    hit = sig.get("hit_rate")
    if isinstance(hit, Mapping):
        rows.append(
            ("hit rate", fmt(hit.get("value"), "pct"),
             hit_rate_text(hit, value=False),
             _pv(hit.get("p")))
        )  # fmt: skip
    sh = sig.get("sharpe") or {}
    trl = sh.get("min_trl_years")
    rows.append(
        ("Sharpe (annualised)", _n(sh.get("value"), 2),
         f"se {_n(sh.get('se'), 2)} (skew {_n(sh.get('skew'), 2)}, excess kurtosis "
         f"{_n(sh.get('kurtosis'), 2)}); min track record "
         f"{fmt(trl, 'ratio') + ' years' if trl is not None else 'never'}",
         f"PSR(0) {_n(sh.get('psr'), 2)}")
    )  # fmt: skip
    for v in sig.get("vs") or []:
        rows.append(
            (f"vs {v.get('name')}" + (" (closes)" if v.get("from_closes") else ""),
             fmt(v.get("sharpe_diff"), "ratio"),
             f"Sharpe difference, 95% CI {_n(v.get('ci_low'), 2)} .. "
             f"{_n(v.get('ci_high'), 2)}; annual excess return "
             f"{fmt(v.get('excess_return'), 'pct')} ({fmt(v.get('excess_ci_low'), 'pct')} .. "
             f"{fmt(v.get('excess_ci_high'), 'pct')})",
             f"PSR vs its Sharpe {_n(v.get('psr'), 2)}")
        )  # fmt: skip
    dsr = sig.get("dsr") or {}
    rows.append(
        ("deflated Sharpe ratio", _n(dsr.get("value"), 2),
         f"N = {dsr.get('n_trials')} trial(s); the best of N unskilled trials would reach "
         f"Sharpe {_n(dsr.get('sr0'), 2)}", "")
    )  # fmt: skip
    body = "".join(
        f"<tr><td class='k'>{esc(a)}</td><td>{esc(b)}</td><td class='k w'>{esc(c)}</td>"
        f"<td>{esc(d)}</td></tr>"
        for a, b, c, d in rows
    )
    return [
        pg.verdict_box(sig.get("verdict"), bool(sig.get("evidence"))),
        "<div class='tw'><table><tr><th class='k'>figure</th><th>value</th>"
        f"<th class='k'>test</th><th>p / PSR</th></tr>{body}</table></div>",
        f"<p class='small'>The rule: {esc(sig.get('rule'))} Every figure, its formula "
        "and when it misleads: docs/significance.md.</p>",
    ]


def _warnings(report: Mapping) -> str:
    """``report["warnings"]``: one list right under the verdict (empty: nothing)."""
    items = [w for w in report.get("warnings") or [] if str(w).strip()]
    if not items:
        return ""
    lis = "".join(f"<li>{esc(w)}</li>" for w in items)
    return f"<div class='warnings' id='warnings'><b>Warnings</b><ul>{lis}</ul></div>"


# ---------------------------------------------------------------------------
# the comparison table: every run side by side
# ---------------------------------------------------------------------------
_ROWS = (
    ("total return", "total_return", "pct"),
    ("annual return", "annual_return", "pct"),
    ("annual volatility", "annual_volatility", "pct"),
    ("Sharpe", "sharpe", "ratio"),
    ("Sortino", "sortino", "ratio"),
    ("Calmar", "calmar", "ratio"),
    ("max drawdown", "max_drawdown", "pct"),
    ("longest drawdown (bars)", "longest_drawdown_bars", "int"),
    ("longest drawdown", "longest_drawdown_dates", "text"),
    ("value at risk (95%, daily)", "var_95", "pct"),
    ("conditional VaR (95%, daily)", "cvar_95", "pct"),
    ("tail ratio", "tail_ratio", "ratio"),
    ("Omega (threshold 0)", "omega", "ratio"),
    ("skew (daily)", "skew", "ratio"),
    ("excess kurtosis (daily)", "kurtosis", "ratio"),
    ("best day", "best_day", "pct"),
    ("worst day", "worst_day", "pct"),
    ("best month", "best_month", "pct"),
    ("worst month", "worst_month", "pct"),
    ("time in market", "exposure", "pct"),
    ("turnover (x mean value)", "turnover", "ratio"),
    ("trades (round trips)", "n_trades", "int"),
    ("trade win rate", "win_rate", "pct"),
    ("payoff ratio (avg win / avg loss)", "payoff_ratio", "ratio"),
    ("average holding period (bars)", "avg_holding_bars", "ratio"),
    ("best trade", "best_trade", "money"),
    ("worst trade", "worst_trade", "money"),
    ("orders filled", "n_orders", "int"),
    ("orders rejected", "n_rejected", "int"),
    ("orders cancelled", "n_canceled", "int"),
    ("final value", "final_value", "money"),
)


def _dates_text(perf: Mapping) -> str | None:
    start = perf.get("longest_drawdown_start")
    if not start:
        return None
    end = perf.get("longest_drawdown_end")
    return f"{str(start)[:10]} .. {str(end)[:10] if end else 'not recovered'}"


def comparison_runs(run) -> list[dict]:
    """The runs of the comparison table: each comparison row with its standard
    figures (``report["performance"]``, computed here for an older report) and,
    for the strategy, its trade figures."""
    report = run.report
    perf = report.get("performance")
    older = bool(perf) and any("var_95" not in (p or {}) for p in perf.values())
    if (not perf or older) and len(run.tables["equity"]):  # an older report: its figures anew
        perf = ts.performance_section(run)
    perf = perf or {}
    s = report.get("strategy") or {}
    out = []
    for i, r in enumerate(columns(report)):
        p = perf.get(r["name"]) or {}
        row = {**r, **p, "longest_drawdown_dates": _dates_text(p)}
        if i == 0:
            row.update({k: s.get(k) for k in ("payoff_ratio", "avg_holding_bars", "best_trade",
                                              "worst_trade")})  # fmt: skip
        out.append(row)
    return out


def _comparison(run, images: Mapping[str, bytes] | None = None) -> list[str]:
    images = images or {}
    runs = comparison_runs(run)
    head = "<th class='k'></th>" + "".join(
        f"<th>{esc(r['name'])}{' *' if r.get('from_closes') else ''}</th>" for r in runs
    )
    body = []
    for label, key, kind in _ROWS:
        if not any(key in r and r.get(key) is not None for r in runs):
            continue
        cells = []
        for i, r in enumerate(runs):
            v = r.get(key)
            if v is None and (r.get("from_closes") or key not in r or i > 0):
                cells.append("<td>-</td>")
            else:
                cells.append(f"<td>{esc(fmt(v, kind))}</td>")
        body.append(f"<tr><td class='k'>{esc(label)}</td>{''.join(cells)}</tr>")
    parts = [
        _h2("comparison"),
        f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        "</tbody></table></div>",
    ]
    closes = [r["name"] for r in runs if r.get("from_closes")]
    if closes:
        parts.append(
            f"<p class='small'>* {esc(closes[0])}: measured on the feed's closes "
            "(no orders, no costs), not a backtest run.</p>"
        )
    parts.append(
        "<p class='small'>Daily figures from equity.csv (docs/metrics.md): volatility "
        "annualised with &radic;252 (sample std), Sortino and Calmar as empyrical, skew and "
        "excess kurtosis from population moments (as the verdict's Sharpe row); '-': not "
        "applicable to that run. Value at risk: the 5th "
        "percentile of the daily returns; conditional VaR: the mean of the worst "
        "int((n - 1) &times; 5%) + 1 of them; tail ratio: |95th percentile| / |5th "
        "percentile|; Omega: the sum of the gains over the sum of the losses (threshold 0); "
        "all historical and as empyrical defines them.</p>"
    )
    rel = run.report.get("relative") or {}
    if rel:
        keys = ("excess_return", "cumulative_return_difference", "beta", "alpha",
                "information_ratio", "tracking_error", "correlation")  # fmt: skip
        keys = tuple(k for k in keys if k in rel)
        labels = {k: k.replace("_", " ") for k in keys}
        if "cumulative_return_difference" in rel:  # else an older report: cumulative
            labels.update(excess_return="excess return (/yr)", alpha="alpha (/yr)")
        parts.append(
            f"<h3>Relative to {esc(rel.get('benchmark') or 'the benchmark')} (closes)</h3>"
            + pg.table([{k: rel.get(k) for k in keys}], list(keys), labels=labels)
        )
    parts += _per_year(run.report)
    if images.get("yearly.png"):
        parts.append(pg.img(images["yearly.png"], "Returns per calendar year"))
    return parts


def _per_year(report: Mapping) -> list[str]:
    years = report.get("per_year") or {}
    if not years:
        return []
    names = list(dict.fromkeys(n for v in years.values() for n in v))
    rows = [{"year": y, **{n: v.get(n) for n in names}} for y, v in years.items()]
    return [
        "<h3>Returns per calendar year</h3>"
        + pg.table(rows, ["year", *names], kinds=dict.fromkeys(names, "pct"))
    ]


# ---------------------------------------------------------------------------
# monthly returns as a heatmap table
# ---------------------------------------------------------------------------
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _heat(x, scale: float) -> str:
    if x is None or not np.isfinite(x):
        return "<td></td>"
    a = min(abs(x) / scale, 1.0) * 0.75 if scale > 0 else 0.0
    rgb = "46,125,50" if x >= 0 else "198,40,40"
    return f"<td style='background:rgba({rgb},{a:.2f})'>{esc(fmt(x, 'pct'))}</td>"


def heatmap_table(table: pd.DataFrame) -> str:
    """A year x month table of returns (:func:`btlstm.metrics.monthly_returns`),
    each cell shaded green (gain) or red (loss) by its size."""
    vals = table[list(range(1, 13))].to_numpy(dtype=float)
    finite = np.abs(vals[np.isfinite(vals)])
    scale = float(np.percentile(finite, 95)) if len(finite) else 0.0
    head = "<th class='k'>year</th>" + "".join(f"<th>{m}</th>" for m in _MONTHS) + "<th>year</th>"
    body = "".join(
        f"<tr><td class='k'>{int(y)}</td>"
        + "".join(_heat(row[m], scale) for m in range(1, 13))
        + f"<td><b>{esc(fmt(row['year'], 'pct'))}</b></td></tr>"
        for y, row in table.iterrows()
    )
    return f"<div class='tw'><table class='heat'><tr>{head}</tr>{body}</table></div>"


def _monthly(run) -> list[str]:
    if len(run.tables["equity"]) < 2:
        return []
    parts = [_h2("monthly")]
    for name, table in ts.monthly_tables(run).items():
        parts.append(f"<h3>{esc(name)}</h3>" + heatmap_table(table))
    parts.append(
        "<p class='small'>Each month: its last value over the previous month's last value "
        "- 1 (the first month: from the run's first value); year: the same over calendar "
        "years (btlstm.metrics.monthly_returns).</p>"
    )
    return parts


# ---------------------------------------------------------------------------
# prediction quality, scores, weights
# ---------------------------------------------------------------------------
_QUALITY_KEYS = ["count", "hit_rate", "ic", "rank_ic", "mean_prediction", "mean_realised"]

#: The pooled prediction figures on the page: ``(key, label, kind)``; ``mean_prediction``
#: is shown as a return (target units / the config's scale) beside ``mean_realised``, and
#: in target units below (the RMSE's units).
QUALITY_ROWS = (
    ("count", "bars scored (finite prediction and realised return)", "int"),
    ("hit_rate", "hit rate (same sign)", "pct"),
    ("ic", "IC (Pearson)", "corr"),
    ("rank_ic", "rank IC (Spearman)", "corr"),
    ("long_hit_rate", "long hit rate (realised > 0 where the prediction is above the threshold)",
     "pct"),
    ("mean_prediction_return", "mean prediction, as a return (target / scale)", "pct"),
    ("mean_realised", "mean realised return", "pct"),
    ("mean_prediction", "mean prediction (target units: return x scale)", "corr"),
    ("rmse_target", "RMSE (target units)", "corr"),
    ("mae_target", "MAE (target units)", "corr"),
    ("n_bars", "bars", "int"),
    ("n_finite_predictions", "finite predictions", "int"),
    ("n_assets", "assets", "int"),
    ("horizon", "horizon (bars)", "int"),
    ("clip", "target clip (return)", "plain"),
    ("scale", "target scale", "plain"),
)  # fmt: skip


_QUALITY_LABELS = {"count": "bars scored", "hit_rate": "hit rate", "ic": "IC",
                   "rank_ic": "rank IC", "mean_prediction": "mean prediction (as a return)",
                   "mean_realised": "mean realised return"}  # fmt: skip
_CAL_LABELS = {"bin": "decile", "n": "bars", "mean_prediction": "mean prediction (as a return)",
               "mean_realised": "mean realised return", "hit_rate": "hit rate"}  # fmt: skip


def as_return(prediction, scale):
    """A prediction in target units (``clip(return) * scale``) as a return: ``/ scale``
    (None when either is missing or the scale is 0)."""
    try:
        x, k = float(prediction), float(scale)
    except (TypeError, ValueError):
        return None
    return x / k if k and np.isfinite(x) and np.isfinite(k) else None


def _quality_table(p: Mapping) -> str:
    """The pooled figures, labelled with their units (:data:`QUALITY_ROWS`)."""
    p = {**p, "mean_prediction_return": as_return(p.get("mean_prediction"), p.get("scale"))}
    shown = {k for k, _, _ in QUALITY_ROWS}
    rows = [(label, fmt(p.get(k), kind)) for k, label, kind in QUALITY_ROWS if k in p]
    rows += [(k, fmt(v)) for k, v in p.items()  # any other scalar, as it is named
             if k not in shown and not isinstance(v, (dict, list))]  # fmt: skip
    body = "".join(f"<tr><td class='k'>{esc(a)}</td><td>{esc(b)}</td></tr>" for a, b in rows)
    return f"<div class='tw'><table>{body}</table></div>"


def _prediction(run, images: Mapping[str, bytes]) -> list[str]:
    report = run.report
    p = report.get("prediction")
    parts = [_h2("prediction")]
    if not p:
        return parts + ["<p>Not scored (no PredictionQuality analyzer attached).</p>"]
    parts += [
        "<h3>Pooled over all bars and assets</h3>" + _quality_table(p),
        pg.img(images.get("predictions.png"), "IC over time and calibration by decile"),
    ]
    pred = run.tables["predictions"]
    if len(pred):
        from btlstm import metrics

        cal = metrics.calibration(pred["prediction"].to_numpy(float),
                                  pred["realised_return"].to_numpy(float))  # fmt: skip
        if len(cal):
            rows = cal.to_dict("records")
            for r in rows:  # in the realised return's units
                r["mean_prediction"] = as_return(r["mean_prediction"], p.get("scale"))
            parts.append(
                "<h3>Calibration by prediction decile</h3>"
                + pg.table(rows, list(cal.columns), labels=_CAL_LABELS,
                           kinds={"bin": "int", "mean_prediction": "pct"})  # fmt: skip
            )
    per_date = p.get("per_date") or {}
    if per_date:
        rows = [{"measure": k, **v} for k, v in per_date.items() if isinstance(v, Mapping)]
        parts.append(
            "<h3>Across assets, per date</h3>"
            "<p class='small'>Each date: the correlation of predictions and realised returns "
            "across the assets; then mean, std, ICIR = mean/std and t = ICIR &times; "
            "&radic;n over the dates.</p>"
            + pg.table(rows, ["measure", "mean", "std", "icir", "t_stat", "n"])
        )
    per_asset = p.get("per_asset") or {}
    if per_asset:
        rows = [{"symbol": k, **v} for k, v in per_asset.items()][:_MAX_ASSET_ROWS]
        more = len(per_asset) - len(rows)
        parts.append(
            f"<details><summary>Per asset ({len(per_asset)})</summary>"
            + pg.table([{**r, "mean_prediction": as_return(r.get("mean_prediction"),
                                                            p.get("scale"))} for r in rows],
                       ["symbol", *_QUALITY_KEYS], labels=_QUALITY_LABELS, sortable=True,
                       kinds={"mean_prediction": "pct"})  # fmt: skip
            + (f"<p class='small'>{more} more in report.json.</p>" if more else "")
            + "</details>"
        )
    return parts + _scores(report)


def _scores(report: Mapping) -> list[str]:
    """The scorer's section (e.g. the ranker): quality on the test period, importances."""
    sec = report.get("scores") or {}
    if not sec:
        return []
    q = sec.get("quality") or {}
    rows = [
        {"name": k, **(q.get(k) or {})} for k in ("ic", "rank_ic", "top_minus_bottom") if k in q
    ]
    keys = list(dict.fromkeys(k for r in rows for k in r if k != "name"))
    parts = [f"<h3>Scores ({esc(sec.get('scorer'))}): quality on the test period</h3>"]
    parts.append(pg.table(rows, ["name", *keys]) if rows else "<p>n/a</p>")
    imp = sec.get("importances") or {}
    if imp:
        top = [{"feature": k, "importance": v} for k, v in list(imp.items())[:15]]
        parts.append("<h3>Feature importances (mean gain)</h3>"
                     + pg.table(top, ["feature", "importance"]))  # fmt: skip
    return parts


def _weights(run, images: Mapping[str, bytes]) -> list[str]:
    w = run.tables.get("weights")
    eq = run.tables["equity"]
    if w is None or not len(w) or not len(eq):
        return []
    wide = ts.daily_weights(w, eq["date"], top=10)
    last = wide.iloc[-1]
    full = w[pd.to_datetime(w["date"]) == wide.index[-1]]
    rows = [{"symbol": str(s), "weight": float(x)}
            for s, x in zip(full["symbol"], full["weight"], strict=True)
            if str(s) != "cash" and float(x) != 0.0]  # fmt: skip
    rows.sort(key=lambda r: -abs(r["weight"]))
    if len(rows) > 12:
        rest = rows[10:]
        rows = rows[:10] + [{"symbol": f"other ({len(rest)} symbols)",
                             "weight": sum(r["weight"] for r in rest)}]  # fmt: skip
    rows.append({"symbol": "cash", "weight": float(last["cash"])})
    flat = float((wide.drop(columns="cash").abs().sum(axis=1) == 0).mean())
    return [
        _h2("weights"),
        pg.img(images.get("weights.png"), "Weights over time"),
        f"<p class='small'>Every bar is shown (flat bars are all cash: {fmt(flat, 'pct')} of "
        "the bars); each bar's weights and cash sum to 100%. Every date and symbol is in "
        "weights.csv.</p>",
        f"<h3>Weights at the last close ({esc(str(wide.index[-1])[:10])})</h3>"
        + pg.table(rows, ["symbol", "weight"]),
    ]


# ---------------------------------------------------------------------------
# trades and drawdowns
# ---------------------------------------------------------------------------
_TRADE_COLS = ("strategy", "created_date", "date", "symbol", "side", "size", "price", "value",
               "commission", "status", "reason", "detail")  # fmt: skip
_TRADE_KINDS = {"size": "ratio", "price": "money", "value": "money", "commission": "money"}


def _trade_row(r: Mapping) -> dict:
    out = {}
    for c in _TRADE_COLS:
        v = r.get(c)
        if c in ("created_date", "date"):
            out[c] = "" if v is None or pd.isna(v) else str(v)[:10]
        elif c in _TRADE_KINDS:
            out[c] = "" if v is None or pd.isna(v) else float(v)  # blank: an order that did not fill
        else:
            out[c] = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    return out


def _trades(run) -> list[str]:
    trades = run.tables.get("trades")
    if trades is None or not len(trades):
        return [_h2("trades"), "<p>No orders.</p>"]
    counts = trades.pivot_table(
        index="strategy", columns="status", values="side", aggfunc="size", sort=False
    ).fillna(0)
    order = [c for c in ("Completed", "Margin", "Rejected", "Canceled", "Expired") if c in counts]
    crow = [{"run": str(n), **{c: int(row[c]) for c in order}} for n, row in counts.iterrows()]
    name = ts.strategy_name(run)
    own = trades[trades["strategy"].astype(str) == name]
    n = len(own)
    cut = n > 2 * TRADE_ROWS + 10  # a gap of a few rows is not worth hiding
    shown = own if not cut else pd.concat([own.head(TRADE_ROWS), own.tail(TRADE_ROWS)])
    cols = [c for c in _TRADE_COLS if c in trades.columns and c != "strategy"]
    sizes = pd.to_numeric(trades["size"], errors="coerce").dropna()
    kinds = {**_TRADE_KINDS, "size": "int" if (sizes == sizes.round()).all() else "ratio"}

    def red(r):
        return "bad" if r.get("status") not in ("Completed", "") else ""

    rows = [_trade_row(r) for r in shown.to_dict("records")]
    text = pg.table(rows, cols, kinds=kinds, sortable=True, row_class=red)
    if cut:
        gap = (f"<tr data-gap='1'><td class='k' colspan='{len(cols)}'>... {n - 2 * TRADE_ROWS:,d} "
               "more orders in trades.csv ...</td></tr>")  # fmt: skip
        head, body = text.split("<tbody>", 1)
        pieces = body.split("<tr")  # pieces[0] is "" before the first row
        body = "<tr".join(pieces[: 1 + TRADE_ROWS]) + gap + "<tr" + "<tr".join(pieces[1 + TRADE_ROWS :])
        text = head + "<tbody>" + body
    bad = trades[trades["status"] != "Completed"]
    parts = [
        _h2("trades"),
        "<p>Finished orders per run and status (the comparison's <i>orders filled</i> are the "
        "Completed ones):</p>",
        pg.table(crow, ["run", *order]),
        *_roundtrips(run),
        f"<h3>Orders of {esc(name)} ({n:,d}{'; the first and last ' + str(TRADE_ROWS) if cut else ''})</h3>"  # noqa: E501
        "<p class='small'>Every order of every run is in <a href='trades.csv'>trades.csv</a>. "
        "Rows in red did not fill (rejected, margin, cancelled or expired; why in "
        "<i>detail</i>). Click a header to sort.</p>",
        text,
    ]
    if len(bad):
        table = _unfilled(bad, kinds)
        parts.append(pg.details(f"Orders that did not fill, every run ({len(bad):,d})", table,
                                open_=len(bad) <= 10))  # fmt: skip
    return parts


_MAX_UNFILLED = 50  # unfilled orders listed on the page (all of them are in trades.csv)
_UNFILLED_COLS = ("strategy", "created_date", "date", "symbol", "side", "size", "price", "value",
                  "status", "detail")  # fmt: skip


_MARGIN_TEXT = re.compile(r"not enough cash at the fill: ([0-9.]+) x open [0-9.,e+-]+ = ([0-9.,]+) ")


def _unfilled(bad: pd.DataFrame, kinds: Mapping[str, str]) -> str:
    """The orders that did not fill, the detail column wrapping: size, price and
    value where the order log knows them (a partial fill's; else ``order_size`` and
    ``order_price`` when a log has them; else, for a Margin order, the size and
    open its ``detail`` names)."""
    rows = []
    for r in bad.head(_MAX_UNFILLED).to_dict("records"):
        row = _trade_row(r)
        size, price = r.get("order_size"), r.get("order_price")
        known = _MARGIN_TEXT.search(str(r.get("detail") or ""))
        if known and (size is None or pd.isna(size)):  # the order log's Margin detail says
            # size x open = value (the open printed to 4 digits; the value exact to the cent)
            size = float(known[1])
            price = float(known[2].replace(",", "")) / size if size else None
        if row["size"] == "" and size is not None and not pd.isna(size):
            row["size"] = float(size)
        if row["price"] == "" and price is not None and not pd.isna(price):
            row["price"] = float(price)
        if row["value"] == "" and isinstance(row["size"], float) and isinstance(row["price"], float):
            row["value"] = row["size"] * row["price"]
        rows.append(row)
    cols = [c for c in _UNFILLED_COLS if c in bad.columns]
    labels = {"created_date": "placed", "date": "finished"}
    text = pg.table(rows, cols, labels=labels, kinds=kinds, sortable=True,
                    row_class=lambda r: "bad")  # fmt: skip
    text = text.replace("<table class='sortable'>", "<table class='sortable wrap'>", 1)
    more = len(bad) - len(rows)
    return (
        text
        + "<p class='small'>Size and price as ordered where the order log says: a Margin "
        "order's size and the open it would have filled at (named in its detail); an order "
        "cancelled after partial fills, the part filled; value = size &times; price; blank "
        "where the order log does not say.</p>"
        + (f"<p class='small'>... {more:,d} more in trades.csv.</p>" if more else "")
    )


ROUNDTRIP_ROWS = 25
"""Round trips shown at each end of the list (every one is in roundtrips.csv)."""


def _roundtrips(run) -> list[str]:
    """The strategy's round-trip trades (:func:`btlstm.report.tearsheet.roundtrips`)."""
    trips = ts.roundtrips(run.tables.get("trades"), run.tables["equity"]["date"])
    name = ts.strategy_name(run)
    own = trips[trips["strategy"] == name]
    head = f"<h3>Round trips of {esc(name)} ({len(own):,d})</h3>"
    if not len(own):
        return [head + "<p>No closed round trip.</p>"]
    wins = own["pnl"] > 0
    summary = (
        f"<p class='small'>{int(wins.sum()):,d} won, {int((~wins).sum()):,d} lost; net P&amp;L "
        f"{esc(fmt(float(own['pnl'].sum()), 'money'))}; mean return "
        f"{esc(fmt(float(own['return_pct'].mean()), 'pct'))}, median bars held "
        f"{esc(fmt(float(own['bars_held'].median()), 'ratio'))}. Matched first in, first out "
        "from the filled orders; a partial exit is a row of its own; P&amp;L net of the "
        "commission of both legs; return = P&amp;L / (entry price &times; size). Every run's "
        "round trips: <a href='roundtrips.csv'>roundtrips.csv</a>.</p>"
    )
    cut = len(own) > 2 * ROUNDTRIP_ROWS + 10
    shown = own if not cut else pd.concat([own.head(ROUNDTRIP_ROWS), own.tail(ROUNDTRIP_ROWS)])
    cols = ["symbol", "direction", "entry_date", "entry_price", "exit_date", "exit_price",
            "size", "pnl", "return_pct", "bars_held"]  # fmt: skip
    rows = [{**r, "entry_date": str(r["entry_date"])[:10], "exit_date": str(r["exit_date"])[:10]}
            for r in shown[cols].to_dict("records")]  # fmt: skip
    sizes = own["size"]
    kinds = {"entry_price": "money", "exit_price": "money", "pnl": "money", "return_pct": "pct",
             "bars_held": "int", "size": "int" if (sizes == sizes.round()).all() else "ratio"}
    labels = {"entry_date": "entry", "entry_price": "entry price", "exit_date": "exit",
              "exit_price": "exit price", "pnl": "P&L (net)", "return_pct": "return",
              "bars_held": "bars held"}  # fmt: skip
    text = pg.table(rows, cols, labels=labels, kinds=kinds, sortable=True,
                    row_class=lambda r: "")  # fmt: skip
    if cut:
        text += (f"<p class='small'>The first and last {ROUNDTRIP_ROWS}; "
                 f"{len(own) - 2 * ROUNDTRIP_ROWS:,d} more in roundtrips.csv.</p>")  # fmt: skip
    return [head + summary + text]


def _drawdowns(run) -> list[str]:
    dds = run.report.get("drawdowns")
    if dds is None and len(run.tables["equity"]):
        dds = ts.drawdowns_section(run)
    if not dds:
        return [_h2("drawdowns"), "<p>No drawdown.</p>"]
    rows = [
        {"rank": i + 1, "start (peak)": str(d["start"])[:10], "trough": str(d["trough"])[:10],
         "end (recovered)": str(d["end"])[:10] if d.get("end") else "not recovered",
         "depth": d["depth"], "bars": d["bars"], "days": d["days"]}
        for i, d in enumerate(dds)
    ]  # fmt: skip
    return [
        _h2("drawdowns", f" ({esc(ts.strategy_name(run))})"),
        pg.table(rows, list(rows[0]), kinds={"rank": "int"}),
        "<p class='small'>Each period runs from the last bar at a running peak to the first "
        "bar back at it; bars and calendar days cover that span (to the last bar when not "
        "recovered). Numbered by rank in the strip under the drawdown plot.</p>",
    ]


# ---------------------------------------------------------------------------
# the paper run's section
# ---------------------------------------------------------------------------
_LATENCY_ROWS = (
    ("latency", "latency per bar: publication to orders (live bars)"),
    ("latency_without_fit_bars", "the same, bars without a fit in the loop"),
    ("predict_ms", "forward pass, all feeds of the bar"),
    ("persist_ms", "state write after the bar (not in the latency)"),
)
_VERSION_KEYS = ["k", "fit_date", "swap_date", "lag_bars", "seconds", "load_seconds", "cached",
                 "fitter", "error"]  # fmt: skip


def _live(report: Mapping, images: Mapping[str, bytes]) -> list[str]:
    """A paper run's section (``btlstm.live``): the feed and fit policy, latency, models."""
    sec = report.get("live") or {}
    if not sec:
        return []
    facts = [(k, v) for k, v in sec.items() if k not in ("model_versions", "series", "sessions")
             and not isinstance(v, (dict, list))]  # fmt: skip
    parts = ["<h2 id='live'>Live run (paper trading)</h2>"]
    parts += [f"<div class='note'>{esc(n)}</div>" for n in sec.get("notes") or []]
    parts.append(pg.kv_table(facts))
    rows = [{"measure": label, **(sec.get(key) or {})} for key, label in _LATENCY_ROWS]
    keys = ["bars", "median_ms", "p99_ms", "max_ms", "median_ms_per_feed", "p99_ms_per_feed"]
    parts.append("<h3>Per bar (ms)</h3>" + pg.table(rows, ["measure", *keys]))
    parts.append(pg.img(images.get("latency.png"), "Latency per bar"))
    versions = sec.get("model_versions") or []
    if versions:
        rows = [{k: (str(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()}
                for r in versions]  # fmt: skip
        parts.append(
            "<h3>Model versions</h3><p class='small'>A fit is handed to the fitter on its fit "
            "date; the model predicts from the bar it became active (swap date) on, "
            "<i>lag</i> bars later (0: the bar waited for it). Every prediction names its "
            "version in latency.csv.</p>"
            + pg.table(rows, ["predictor", *[k for k in _VERSION_KEYS if any(k in r for r in rows)]])
        )
    used = sec.get("versions_used") or {}
    if used:
        rows = [{"predictor": n, **{f"v{k}": c for k, c in v.items()}} for n, v in used.items()]
        keys = list(dict.fromkeys(k for r in rows for k in r if k != "predictor"))
        parts.append("<h3>Bars predicted by each model version</h3>"
                     + pg.table(rows, ["predictor", *keys]))  # fmt: skip
    sessions = sec.get("sessions") or []
    if len(sessions) > 1:
        text = "; ".join(f"{s.get('started_utc')}: from bar {s.get('resumed_after_bar')}"
                         for s in sessions)  # fmt: skip
        parts.append(f"<p>Resumed after a stop: {esc(text)}.</p>")
    return parts


# ---------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------
_DETAILS = (
    ("strategy", "Strategy: every figure"),
    ("benchmark", "Benchmark"),
    ("config", "Configuration"),
    ("provenance", "Data provenance"),
    ("costs", "Costs"),
    ("definitions", "Definitions"),
    ("run", "Run"),
)


def _details(report: Mapping) -> list[str]:
    parts = [_h2("details")]
    for key, label in _DETAILS:
        value = report.get(key)
        if value in (None, {}, []):
            continue
        lists = {}
        if isinstance(value, Mapping):
            value, lists = ts.record_lists(value)
        rows = ts.flatten(value)
        extra = "".join(
            f"<h3>{esc(name)} ({len(recs):,d})</h3>"
            + pg.table(recs, list(dict.fromkeys(c for r in recs for c in r)), sortable=True)
            for name, recs in lists.items()
        )
        if key == "definitions":
            body = "".join(f"<tr><td class='k'>{esc(k)}</td><td class='k w'>{esc(v)}</td></tr>"
                           for k, v in rows)  # fmt: skip
            parts.append(pg.details(label, f"<div class='tw'><table>{body}</table></div>"))
        elif key in ("strategy", "benchmark"):
            parts.append(pg.details(label, pg.kv_table(rows) + extra))
        else:
            parts.append(pg.details(label, pg.kv_table(rows, kind="plain") + extra))
    return parts


def _period(report: Mapping) -> str:
    period = report.get("period") or {}
    start, end = period.get("start"), period.get("end")
    years = ""
    try:
        span = (pd.Timestamp(end) - pd.Timestamp(start)).days / 365.25
        years = f", {span:.1f} years"
    except (TypeError, ValueError):
        pass
    return (f"<p>Period {esc(str(start)[:10])} .. {esc(str(end)[:10])} "
            f"({fmt(period.get('bars'), 'int')} bars{years}).</p>")  # fmt: skip


def render_html(run, images: Mapping[str, bytes]) -> bytes:
    """The whole page as UTF-8 bytes.

    Args:
        run: a :class:`~btlstm.report.collect.RunData`.
        images: ``{file name: PNG bytes}``; missing plots are left out.
    """
    report = run.report
    title = str(report.get("title"))
    synthetic = bool(report.get("synthetic"))
    toc = "<nav class='toc'>" + " ".join(
        f"<a href='#{k}'>{esc(label)}</a>" for k, label in SECTIONS
    ) + "</nav>"
    parts = [pg.banner() if synthetic else "", f"<h1>{esc(title)}</h1>", _period(report), toc]
    parts.append("<div id='verdict'></div>")
    parts += _significance(report)
    parts.append(_warnings(report))
    warned = {str(w) for w in report.get("warnings") or []}  # shown in the warnings block
    parts += [f"<div class='note'>{esc(n)}</div>" for n in report.get("notes") or []
              if str(n) not in warned]  # fmt: skip
    parts += _comparison(run, images)
    parts += [
        _h2("equity"),
        pg.img(images.get("equity.png"), "Equity"),
        pg.img(images.get("drawdown.png"), "Drawdown"),
        pg.img(images.get("excess.png"), "Cumulative excess return over each baseline"),
        "<p class='small'>Cumulative excess return over a baseline: the growth of "
        "(1 + r<sub>s</sub>) / (1 + r<sub>b</sub>) - 1 over the daily returns of the strategy "
        "(s) and the baseline (b), from the first date both have a value (equal to the "
        "strategy's growth over the baseline's, minus 1).</p>"
        if images.get("excess.png") else "",
    ]
    parts += _monthly(run)
    if images.get("rolling.png"):
        parts += [_h2("rolling"), pg.img(images.get("rolling.png"),
                                         "Rolling Sharpe, beta and volatility")]  # fmt: skip
    if images.get("returns.png"):
        parts += [_h2("distribution"), pg.img(images.get("returns.png"), "Daily returns")]
    parts += _prediction(run, images)
    parts += _weights(run, images)
    parts += _trades(run)
    parts += _drawdowns(run)
    parts += _live(report, images)
    parts += _details(report)
    if synthetic:
        parts.append(pg.banner())
    return pg.page(title, parts)
