"""One self-contained ``report.html``: inline CSS, PNGs as base64 data URIs."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td.k,th.k{text-align:left}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em;text-align:center;
font-size:1.2em;letter-spacing:.05em}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em;margin:.4em 0}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def _fmt_cell(key: str, value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if isinstance(value, int):
        return f"{value:d}"
    pct = {
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
    }
    if key in pct:
        return f"{value * 100:.2f}%"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.2f}"


def _kv_table(d: Mapping) -> str:
    rows = "".join(
        f"<tr><td class='k'>{html.escape(str(k))}</td><td>{_fmt_cell(k, v)}</td></tr>"
        for k, v in d.items()
        if not isinstance(v, (dict, list))
    )
    return f"<table>{rows}</table>"


def _side_by_side(report) -> str:
    s, b = report["strategy"], report["benchmark"]
    keys = ["total_return", "annual_return", "sharpe", "max_drawdown"]
    head = (
        f"<tr><th class='k'></th><th>strategy</th><th>{html.escape(str(b.get('name')))}</th></tr>"
    )
    rows = "".join(
        f"<tr><td class='k'>{k}</td><td>{_fmt_cell(k, s.get(k))}</td>"
        f"<td>{_fmt_cell(k, b.get(k))}</td></tr>"
        for k in keys
    )
    rows += (
        f"<tr><td class='k'>trades</td><td>{_fmt_cell('n', s.get('n_trades'))}</td><td>1</td></tr>"
        f"<tr><td class='k'>exposure</td><td>{_fmt_cell('exposure', s.get('exposure'))}</td>"
        "<td>100.00%</td></tr>"
    )
    return f"<table>{head}{rows}</table>"


def _html(report: Mapping, images: Mapping[str, bytes]) -> bytes:
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
    for note in report.get("notes") or []:
        parts.append(f"<div class='note'>{html.escape(note)}</div>")
    parts.append("<h2>Strategy vs benchmark</h2>" + _side_by_side(report))
    for name, caption in (
        ("equity.png", "Equity vs benchmark"),
        ("drawdown.png", "Drawdown"),
    ):
        if name in images:
            b64 = base64.b64encode(images[name]).decode("ascii")
            parts.append(f"<img alt='{caption}' src='data:image/png;base64,{b64}'>")
    parts.append("<h2>Strategy metrics</h2>" + _kv_table(report["strategy"]))
    parts.append("<h2>Benchmark</h2>" + _kv_table(report["benchmark"]))
    parts.append("<h2>Relative to benchmark</h2>" + _kv_table(report["relative"]))
    parts.append("<h2>Prediction quality</h2>")
    if report.get("prediction"):
        parts.append(_kv_table(report["prediction"]))
        if "predictions.png" in images:
            b64 = base64.b64encode(images["predictions.png"]).decode("ascii")
            parts.append(f"<img alt='Predictions vs realised' src='data:image/png;base64,{b64}'>")
    else:
        parts.append("<p>Not scored (no PredictionQuality analyzer attached).</p>")
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
    return "".join(parts).encode("utf-8")
