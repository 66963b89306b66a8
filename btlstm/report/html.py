"""One self-contained ``report.html``: inline CSS, PNGs as base64 data URIs.

:func:`render_html` takes plain data (a :class:`~btlstm.report.collect.RunData`
and the PNG bytes of :func:`btlstm.report.plots.render_plots`); the page has no
script and no external reference, so it can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping

from btlstm.report.schema import SUMMARY_KEYS
from btlstm.report.table import columns

__all__ = ["render_html"]

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td.k,th.k{text-align:left}
tr.first td{font-weight:bold}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em;text-align:center;
font-size:1.2em;letter-spacing:.05em}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em;margin:.4em 0}
.warnings{background:#fde8e8;border-left:4px solid #b00020;padding:.3em .8em;margin:.6em 0}
.small{font-size:.85em;color:#555}
.verdict{padding:.7em 1em;margin:.6em 0;font-size:1.05em;border-left:6px solid}
.verdict.no{background:#fff1e0;border-color:#d9822b}
.verdict.yes{background:#e6f4ea;border-color:#2e7d32}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
.scroll{max-height:28em;overflow-y:auto;display:inline-block}
"""

_PCT = {
    "total_return",
    "annual_return",
    "max_drawdown",
    "win_rate",
    "exposure",
    "avg_gross_exposure",
    "excess_return",
    "alpha",
    "tracking_error",
    "hit_rate",
    "long_hit_rate",
    "weight",
}
_MAX_ASSET_ROWS = 500  # per-asset rows in the page; all of them are in report.json


def _fmt_cell(key: str, value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if isinstance(value, int):
        return f"{value:d}"
    if key in _PCT:
        return f"{value * 100:.2f}%"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.2f}"


def _td(key: str, value) -> str:
    cls = " class='k'" if isinstance(value, str) else ""  # text left, numbers right
    return f"<td{cls}>{_fmt_cell(key, value)}</td>"


def _kv_table(d: Mapping) -> str:
    rows = "".join(
        f"<tr><td class='k'>{html.escape(str(k))}</td>{_td(k, v)}</tr>"
        for k, v in d.items()
        if not isinstance(v, (dict, list))
    )
    return f"<table>{rows}</table>"


def _grid(rows: list[Mapping], keys: list[str], label: str = "name", first: bool = False) -> str:
    """One row per dict: ``label`` first, then ``keys``."""
    head = f"<tr><th class='k'>{html.escape(label)}</th>" + "".join(
        f"<th>{html.escape(k)}</th>" for k in keys
    )
    body = []
    for i, row in enumerate(rows):
        cls = " class='first'" if first and i == 0 else ""
        cells = "".join(
            "<td>-</td>"
            if row.get("from_closes") and row.get(k) is None
            else f"<td>{_fmt_cell(k, row.get(k))}</td>"
            for k in keys
        )
        body.append(f"<tr{cls}><td class='k'>{html.escape(str(row.get(label)))}</td>{cells}</tr>")
    return f"<table>{head}</tr>{''.join(body)}</table>"


_COMPARISON_KEYS = [k for k in SUMMARY_KEYS if k != "name"]


def _comparison(report: Mapping) -> str:
    runs = columns(report)
    closes = [r["name"] for r in runs if r.get("from_closes")]
    shown = [{**r, "name": f"{r['name']} *"} if r.get("from_closes") else r for r in runs]
    text = _grid(shown, _COMPARISON_KEYS, first=True)
    if closes:
        text += (
            f"<p class='small'>* {html.escape(closes[0])}: measured on the feed's closes "
            "(no orders, no costs), not a backtest run.</p>"
        )
    return text


def _orders(trades) -> str:
    """Finished orders per run and status (the rows of trades.csv), and every order
    that did not fill, with why."""
    counts = trades.pivot_table(
        index="strategy", columns="status", values="side", aggfunc="size", sort=False
    ).fillna(0)
    order = [c for c in ("Completed", "Margin", "Rejected", "Canceled", "Expired") if c in counts]
    head = "<tr><th></th>" + "".join(f"<th>{html.escape(c)}</th>" for c in order) + "</tr>"
    body = "".join(
        f"<tr><td class='k'>{html.escape(str(name))}</td>"
        + "".join(f"<td>{int(row[c])}</td>" for c in order)
        + "</tr>"
        for name, row in counts.iterrows()
    )
    text = (
        "<h2>Orders</h2><p>Finished orders per run and status (every row of trades.csv; "
        "the table's <i>orders filled</i> are the Completed ones).</p>"
        f"<table>{head}{body}</table>"
    )
    bad = trades[trades["status"] != "Completed"]
    if len(bad):
        cols = [c for c in ("strategy", "created_date", "date", "symbol", "side", "status",
                            "detail") if c in bad]  # fmt: skip

        def cell(c, v):
            wrap = "" if c in ("strategy", "detail") else " style='white-space:nowrap'"
            return f"<td class='k'{wrap}>{html.escape(_text(v))}</td>"

        rows = "".join(
            "<tr>" + "".join(cell(c, r[c]) for c in cols) + "</tr>"
            for _, r in bad.head(_MAX_UNFILLED).iterrows()
        )
        more = len(bad) - min(len(bad), _MAX_UNFILLED)
        note = f"<p class='small'>... {more} more in trades.csv</p>" if more else ""
        text += (
            f"<h3>Orders that did not fill ({len(bad)})</h3><table><tr>"
            + "".join(f"<th class='k'>{c}</th>" for c in cols)
            + f"</tr>{rows}</table>{note}"
        )
    return text


_MAX_UNFILLED = 50  # unfilled orders listed on the page (all of them are in trades.csv)


def _text(v) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return ""
    if hasattr(v, "date") and callable(v.date):
        return str(v.date())
    return str(v)


def _img(images: Mapping[str, bytes], name: str, caption: str) -> str:
    if name not in images:
        return ""
    b64 = base64.b64encode(images[name]).decode("ascii")
    return f"<img alt='{html.escape(caption)}' src='data:image/png;base64,{b64}'>"


_QUALITY_KEYS = ["count", "hit_rate", "ic", "rank_ic", "mean_prediction", "mean_realised"]


def _prediction(report: Mapping, images: Mapping[str, bytes]) -> list[str]:
    p = report.get("prediction")
    if not p:
        return ["<p>Not scored (no PredictionQuality analyzer attached).</p>"]
    parts = [
        "<h3>Pooled over all bars and assets</h3>" + _kv_table(p),
        _img(images, "predictions.png", "Predictions vs realised"),
    ]
    per_date = p.get("per_date") or {}
    if per_date:
        rows = [{"measure": k, **v} for k, v in per_date.items() if isinstance(v, Mapping)]
        keys = ["mean", "std", "icir", "t_stat", "n"]
        parts.append(
            "<h3>Across assets, per date</h3>"
            "<p class='small'>Each date: the correlation of predictions and realised returns "
            "across the assets; then mean, std, ICIR = mean/std and t = ICIR &times; "
            "&radic;n over the dates.</p>" + _grid(rows, keys, label="measure")
        )
    per_asset = p.get("per_asset") or {}
    if per_asset:
        rows = [{"symbol": k, **v} for k, v in per_asset.items()][:_MAX_ASSET_ROWS]
        more = len(per_asset) - len(rows)
        parts.append(
            f"<h3>Per asset ({len(per_asset)})</h3><div class='scroll'>"
            + _grid(rows, _QUALITY_KEYS, label="symbol")
            + "</div>"
            + (f"<p class='small'>{more} more in report.json.</p>" if more else "")
        )
    return parts


def _weights(run, images: Mapping[str, bytes]) -> list[str]:
    w = run.tables.get("weights")
    if w is None or not len(w):
        return []
    last = w[w["date"] == w["date"].max()].sort_values("weight", ascending=False)
    rows = [{"symbol": s, "weight": float(x)} for s, x in zip(last["symbol"], last["weight"])]
    date = str(w["date"].max())[:10]
    return [
        "<h2>Weights over time</h2>",
        _img(images, "weights.png", "Weights over time"),
        f"<h3>Weights at the last close ({html.escape(date)})</h3><div class='scroll'>"
        + _grid(rows, ["weight"], label="symbol")
        + "</div><p class='small'>Every date is in weights.csv.</p>",
    ]


def _per_year(report: Mapping) -> list[str]:
    years = report.get("per_year") or {}
    if not years:
        return []
    names = list(dict.fromkeys(n for v in years.values() for n in v))
    rows = [{"year": y, **{n: v.get(n) for n in names}} for y, v in years.items()]
    head = "<tr><th class='k'>year</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        f"<tr><td class='k'>{html.escape(r['year'])}</td>"
        + "".join(f"<td>{_fmt_cell('total_return', r[n])}</td>" for n in names)
        + "</tr>"
        for r in rows
    )
    return [f"<h3>Returns per calendar year</h3><table>{head}</tr>{body}</table>"]


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
    parts = [f"<h2>Scores ({html.escape(str(sec.get('scorer')))}): quality on the test period</h2>"]
    parts.append(_grid(rows, keys) if rows else "<p>n/a</p>")
    imp = sec.get("importances") or {}
    if imp:
        top = [{"name": k, "importance": v} for k, v in list(imp.items())[:15]]
        parts.append("<h3>Feature importances (mean gain)</h3>" + _grid(top, ["importance"]))
    return parts


def _n(x, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _pv(x) -> str:
    return "n/a" if x is None else ("&lt;0.001" if x < 0.001 else f"{x:.3f}")


# --------------------------------------------------------------------------- warnings
def warnings_block(report: Mapping) -> str:
    """The run's ``warnings`` (data, settings, a run that never filled an order ...) as one
    separate block at the top of the page; empty when there are none."""
    items = [str(w) for w in report.get("warnings") or []]
    if not items:
        return ""
    lis = "".join(f"<li>{html.escape(w)}</li>" for w in items)
    return f"<div class='warnings' id='warnings'><h2>Warnings</h2><ul>{lis}</ul></div>"


def _significance(report: Mapping) -> list[str]:
    """The verdict box and the figures behind it (top of the page)."""
    sig = report.get("significance")
    if not isinstance(sig, Mapping):
        return []
    esc = html.escape
    cls = "verdict yes" if sig.get("evidence") else "verdict no"
    rows = []
    for key, label in (("ic", "IC"), ("rank_ic", "rank IC")):
        d = sig.get(key)
        if isinstance(d, Mapping):
            what = " (daily, across assets)" if d.get("kind") == "cross_sectional" else ""
            rows.append(
                (f"{label}{what}", _n(d.get("value")),
                 f"HAC t {_n(d.get('t_hac'), '.2f')} (lag {d.get('lag')}, n {d.get('n')}); "
                 f"naive t {_n(d.get('t_iid'), '.2f')}", _pv(d.get("p_hac")))
            )  # fmt: skip
    hit = sig.get("hit_rate")
    if isinstance(hit, Mapping):
        rows.append(
            ("hit rate", _fmt_cell("hit_rate", hit.get("value")),
             f"vs base rate of up moves {_fmt_cell('hit_rate', hit.get('base_rate'))} "
             f"(always {hit.get('constant')}); vs 50%: p {_pv(hit.get('p_50'))}",
             _pv(hit.get("p")))
        )  # fmt: skip
    sh = sig.get("sharpe") or {}
    trl = sh.get("min_trl_years")
    rows.append(
        ("Sharpe (annualised)", _n(sh.get("value"), ".2f"),
         f"se {_n(sh.get('se'), '.2f')} (skew {_n(sh.get('skew'), '.2f')}, kurtosis "
         f"{_n(sh.get('kurtosis'), '.1f')}); min track record "
         f"{_n(trl, '.1f') + ' years' if trl is not None else 'never'}",
         f"PSR(0) {_n(sh.get('psr'), '.2f')}")
    )  # fmt: skip
    for v in sig.get("vs") or []:
        rows.append(
            (f"vs {v.get('name')}" + (" (closes)" if v.get("from_closes") else ""),
             _n(v.get("sharpe_diff"), "+.2f"),
             f"Sharpe difference, 95% CI {_n(v.get('ci_low'), '.2f')} .. "
             f"{_n(v.get('ci_high'), '.2f')}; annual excess return "
             f"{_fmt_cell('excess_return', v.get('excess_return'))} "
             f"({_fmt_cell('excess_return', v.get('excess_ci_low'))} .. "
             f"{_fmt_cell('excess_return', v.get('excess_ci_high'))})",
             f"PSR vs its Sharpe {_n(v.get('psr'), '.2f')}")
        )  # fmt: skip
    dsr = sig.get("dsr") or {}
    rows.append(
        ("deflated Sharpe ratio", _n(dsr.get("value"), ".2f"),
         f"N = {dsr.get('n_trials')} trial(s); the best of N unskilled trials would reach "
         f"Sharpe {_n(dsr.get('sr0'), '.2f')}", "")
    )  # fmt: skip
    body = "".join(
        f"<tr><td class='k'>{esc(a)}</td><td>{b}</td><td class='k'>{c}</td><td>{d}</td></tr>"
        for a, b, c, d in rows
    )
    return [
        f"<div class='{cls}'><b>Verdict:</b> {esc(str(sig.get('verdict')))}</div>",
        "<table><tr><th class='k'>figure</th><th>value</th><th class='k'>test</th>"
        f"<th>p / PSR</th></tr>{body}</table>",
        f"<p class='small'>The rule: {esc(str(sig.get('rule')))} Every figure, its formula "
        "and when it misleads: docs/significance.md.</p>",
    ]


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
    facts = {k: v for k, v in sec.items() if k not in ("model_versions", "series", "sessions")}
    parts = ["<h2>Live run (paper trading)</h2>"]
    parts += [f"<div class='note'>{html.escape(str(n))}</div>" for n in sec.get("notes") or []]
    parts.append(_kv_table(facts))
    rows = [{"measure": label, **(sec.get(key) or {})} for key, label in _LATENCY_ROWS]
    keys = ["bars", "median_ms", "p99_ms", "max_ms", "median_ms_per_feed", "p99_ms_per_feed"]
    parts.append("<h3>Per bar (ms)</h3>" + _grid(rows, keys, label="measure"))
    parts.append(_img(images, "latency.png", "Latency per bar"))
    versions = sec.get("model_versions") or []
    if versions:
        parts.append(
            "<h3>Model versions</h3><p class='small'>A fit is handed to the fitter on its fit "
            "date; the model predicts from the bar it became active (swap date) on, "
            "<i>lag</i> bars later (0: the bar waited for it). Every prediction names its "
            "version in latency.csv.</p><div class='scroll'>"
            + _grid(versions, _VERSION_KEYS, label="predictor")
            + "</div>"
        )
    used = sec.get("versions_used") or {}
    if used:
        rows = [{"predictor": n, **{f"v{k}": c for k, c in v.items()}} for n, v in used.items()]
        keys = list(dict.fromkeys(k for r in rows for k in r if k != "predictor"))
        parts.append("<h3>Bars predicted by each model version</h3>"
                     + _grid(rows, keys, label="predictor"))  # fmt: skip
    sessions = sec.get("sessions") or []
    if len(sessions) > 1:
        text = "; ".join(f"{s.get('started_utc')}: from bar {s.get('resumed_after_bar')}"
                         for s in sessions)  # fmt: skip
        parts.append(f"<p>Resumed after a stop: {html.escape(text)}.</p>")
    return parts


def render_html(run, images: Mapping[str, bytes]) -> bytes:
    """The whole page as UTF-8 bytes.

    Args:
        run: a :class:`~btlstm.report.collect.RunData`.
        images: ``{file name: PNG bytes}``; missing plots are left out.
    """
    report = run.report
    title = html.escape(str(report.get("title")))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
    ]
    banner = (
        "<div class='banner'>SYNTHETIC DATA &mdash; generated prices, not a real market; "
        "these results say nothing about real trading</div>"
    )
    if report.get("synthetic"):
        parts.append(banner)
    period = report.get("period") or {}
    parts.append(f"<h1>{title}</h1>")
    parts.append(
        f"<p>Period {html.escape(str(period.get('start')))} .. "
        f"{html.escape(str(period.get('end')))} ({period.get('bars')} bars).</p>"
    )
    parts.append(warnings_block(report))
    parts += _significance(report)
    warned = {str(w) for w in report.get("warnings") or []}
    for note in report.get("notes") or []:
        if note not in warned:  # shown in the warnings block
            parts.append(f"<div class='note'>{html.escape(note)}</div>")
    parts.append("<h2>Strategy and baselines</h2>" + _comparison(report))
    parts += _per_year(report)
    parts.append(_img(images, "equity.png", "Equity"))
    parts.append(_img(images, "drawdown.png", "Drawdown"))
    parts.append("<h2>Strategy metrics</h2>" + _kv_table(report.get("strategy") or {}))
    parts.append("<h2>Benchmark</h2>" + _kv_table(report.get("benchmark") or {}))
    parts.append("<h2>Relative to the benchmark's closes</h2>" + _kv_table(report["relative"]))
    parts.append("<h2>Prediction quality</h2>")
    parts += _prediction(report, images)
    parts += _scores(report)
    parts += _weights(run, images)
    trades = run.tables.get("trades")
    if trades is not None and len(trades):
        parts.append(_orders(trades))
    parts += _live(report, images)
    for key, label in (
        ("config", "Configuration"),
        ("provenance", "Data provenance"),
        ("costs", "Costs"),
        ("definitions", "Definitions"),
        ("run", "Run"),
    ):
        text = json.dumps(report.get(key), indent=2, sort_keys=True, allow_nan=False)
        parts.append(f"<h2>{label}</h2><pre>{html.escape(text)}</pre>")
    if report.get("synthetic"):
        parts.append(banner)
    parts.append("</body></html>\n")
    return "".join(p for p in parts if p).encode("utf-8")
