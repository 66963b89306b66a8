"""The building blocks of every btlstm page: shell, tables, verdict box, images, details.

One run's ``report.html`` (:mod:`btlstm.report.html`), the overview of a
``--seeds`` run (:mod:`btlstm.report.seeds`) and a sweep's ``index.html``
(:mod:`btlstm.sweep.report`) are built from these, so they look and print
alike. A page is one self-contained file: inline CSS, images as base64 data
URIs, a few lines of inline script (sortable tables, open sections before
printing), nothing fetched. Numbers go through :func:`btlstm.report.formats.fmt`.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence

from btlstm.report.formats import fmt, fmt_key

__all__ = [
    "CSS",
    "SCRIPT",
    "esc",
    "page",
    "img",
    "table",
    "kv_table",
    "frame_table",
    "details",
    "verdict_box",
    "banner",
]

CSS = """
*{box-sizing:border-box}
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;
max-width:1180px;color:#222;padding:0 1em;line-height:1.4}
h1{font-size:1.55em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.8em;
border-bottom:2px solid #ddd;padding-bottom:.15em}h3{font-size:1em;margin:1em 0 .3em}
.tw{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4em 0;font-size:.9em;font-variant-numeric:tabular-nums}
td,th{border:1px solid #ddd;padding:.22em .55em;text-align:right;white-space:nowrap}
th{background:#f4f4f4}td.k,th.k{text-align:left}td.w{white-space:normal;min-width:16em}
table.wrap td.k:last-child{white-space:normal;min-width:16em;max-width:40em}
tr.first td{font-weight:bold}tr.bad td{background:#fde7e9}
th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#999;font-size:.8em}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em;text-align:center;
font-size:1.2em;letter-spacing:.05em}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em;margin:.4em 0}
.warnings{background:#fdecea;border-left:4px solid #c62828;padding:.4em .8em;margin:.4em 0}
.small{font-size:.85em;color:#555}
.verdict{padding:.7em 1em;margin:.6em 0;font-size:1.05em;border-left:6px solid}
.verdict.no{background:#fff1e0;border-color:#d9822b}
.verdict.yes{background:#e6f4ea;border-color:#2e7d32}
img{max-width:100%;height:auto;border:1px solid #eee;margin:.4em 0;display:block}
details{margin:.4em 0;border:1px solid #e4e4e4;padding:.3em .7em}
summary{cursor:pointer;font-weight:bold}
nav.toc{font-size:.88em;margin:.6em 0;line-height:1.8}nav.toc a{margin-right:.9em;
white-space:nowrap}
.heat td{min-width:3.6em}
@media (max-width:700px){body{margin:.5em auto;padding:0 .5em}table{font-size:.8em}
td,th{padding:.15em .3em}}
@media print{nav.toc{display:none}body{max-width:none}h2{break-after:avoid}
img,table{break-inside:avoid}.tw{overflow:visible}}
"""

SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(t){
 t.querySelectorAll('th').forEach(function(th,i){th.classList.add('sort');
  th.addEventListener('click',function(){var b=t.tBodies[0],asc=th.dataset.o!=='a';
   th.dataset.o=asc?'a':'d';var rows=Array.from(b.rows).filter(function(r){return !r.dataset.gap});
   rows.sort(function(x,y){var p=x.cells[i].dataset.v||x.cells[i].textContent,
    q=y.cells[i].dataset.v||y.cells[i].textContent,a=parseFloat(p),c=parseFloat(q);
    var r=(!isNaN(a)&&!isNaN(c))?a-c:p.localeCompare(q);return asc?r:-r;});
   Array.from(b.querySelectorAll('tr[data-gap]')).forEach(function(g){g.remove();});
   rows.forEach(function(r){b.appendChild(r);});});});});
window.addEventListener('beforeprint',function(){
 document.querySelectorAll('details').forEach(function(d){d.open=true;});});
"""


def esc(x) -> str:
    """HTML-escaped text of ``x``."""
    return html.escape(str(x))


def banner(text: str = "SYNTHETIC DATA &mdash; generated prices, not a real market; "
           "these results say nothing about real trading") -> str:  # fmt: skip
    """The red synthetic-data banner."""
    return f"<div class='banner'>{text}</div>"


def page(title: str, parts: Iterable[str]) -> bytes:
    """A whole page as UTF-8 bytes: ``title``, then ``parts`` (HTML strings; empty ones
    left out), with the CSS and the inline script."""
    head = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
    )
    body = "\n".join(p for p in parts if p)
    return (head + body + f"<script>{SCRIPT}</script></body></html>\n").encode("utf-8")


def img(png: bytes | None, alt: str) -> str:
    """A PNG as an inline ``<img>`` (empty without bytes)."""
    if not png:
        return ""
    b64 = base64.b64encode(png).decode("ascii")
    return f"<img alt='{esc(alt)}' src='data:image/png;base64,{b64}'>"


def _cell(key, value) -> str:
    if isinstance(value, str):
        return f"<td class='k{' w' if len(value) > 40 else ''}'>{esc(value)}</td>"
    text = fmt_key(key, value)
    sort = ""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and text != "n/a":
        sort = f" data-v='{float(value)!r}'"
    return f"<td{sort}>{esc(text)}</td>"


def table(
    rows: Sequence[Mapping],
    columns: Sequence[str],
    labels: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    sortable: bool = False,
    first: bool = False,
    row_class=None,
) -> str:
    """One row per dict, one column per key; numbers through :func:`fmt_key`
    (or the ``kinds`` given per column), text left-aligned; wrapped to scroll
    sideways on a narrow screen.

    Args:
        rows: the rows.
        columns: the keys shown, in order.
        labels: a header per key (default: the key).
        kinds: a format kind per key, overriding :data:`~btlstm.report.formats.KINDS`.
        sortable: click a header to sort (inline script).
        first: bold the first row.
        row_class: a function of the row giving a CSS class (``"bad"``: red) or "".
    """
    labels = labels or {}
    kinds = kinds or {}
    head = "".join(
        f"<th class='k'>{esc(labels.get(c, c))}</th>"
        if rows and isinstance(rows[0].get(c), str)
        else f"<th>{esc(labels.get(c, c))}</th>"
        for c in columns
    )
    body = []
    for i, row in enumerate(rows):
        cls = (row_class(row) if row_class else "") or ("first" if first and i == 0 else "")
        cells = []
        for c in columns:
            v = row.get(c)
            if c in kinds and not isinstance(v, str) and v is not None:
                sort = f" data-v='{float(v)!r}'" if isinstance(v, (int, float)) else ""
                cells.append(f"<td{sort}>{esc(fmt(v, kinds[c]))}</td>")
            else:
                cells.append(_cell(c, v))
        body.append(f"<tr{(' class=' + repr(cls)) if cls else ''}>{''.join(cells)}</tr>")
    sort = " class='sortable'" if sortable else ""
    return (
        f"<div class='tw'><table{sort}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def frame_table(frame, kinds: Mapping[str, str] | None = None, default: str = "corr",
                sortable: bool = False) -> str:  # fmt: skip
    """A DataFrame as a :func:`table`: each number column by ``kinds``, else the
    column name's kind (:data:`~btlstm.report.formats.KINDS`), else ``default``."""
    import pandas as pd

    from btlstm.report.formats import KINDS

    cols = [str(c) for c in frame.columns]
    kinds = dict(kinds or {})
    for c in cols:
        if c not in kinds and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c]):
            kinds[c] = KINDS.get(c, "int" if pd.api.types.is_integer_dtype(frame[c]) else default)
    rows = []
    for rec in frame.to_dict("records"):
        row = {}
        for c, v in zip(cols, rec.values(), strict=True):
            if v is None or (isinstance(v, float) and v != v):
                row[c] = None
            elif c in kinds and isinstance(v, (int, float)) and not isinstance(v, bool):
                row[c] = float(v)
            else:
                row[c] = fmt(v) if isinstance(v, bool) else str(v)
        rows.append(row)
    return table(rows, cols, kinds=kinds, sortable=sortable)


def kv_table(rows: Iterable[tuple[str, object]], kind: str | None = None) -> str:
    """A (key, value) table: text as is, numbers by the key's kind (or ``kind``)."""
    out = []
    for k, v in rows:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            text = fmt(v, kind) if kind else fmt_key(str(k).rsplit(".", 1)[-1], v)
            out.append(f"<tr><td class='k'>{esc(k)}</td><td>{esc(text)}</td></tr>")
        else:
            text = fmt(v) if isinstance(v, bool) else str(v)
            if v is None:
                text = "none" if kind == "plain" else "n/a"
            out.append(f"<tr><td class='k'>{esc(k)}</td><td class='k w'>{esc(text)}</td></tr>")
    return f"<div class='tw'><table>{''.join(out)}</table></div>"


def details(title: str, body: str, open_: bool = False) -> str:
    """A collapsible section (opened when printed)."""
    return f"<details{' open' if open_ else ''}><summary>{esc(title)}</summary>{body}</details>"


def verdict_box(verdict, evidence: bool, label: str = "Verdict") -> str:
    """The verdict sentence in a green (evidence) or orange (none) box."""
    cls = "verdict yes" if evidence else "verdict no"
    return f"<div class='{cls}'><b>{esc(label)}:</b> {esc(verdict)}</div>"
