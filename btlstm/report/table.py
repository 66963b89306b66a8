"""The terminal table of a report: every run side by side, then prediction quality."""

from __future__ import annotations

from collections.abc import Mapping

from btlstm.significance import hit_rate_text

__all__ = ["format_table", "significance_lines"]


def _pct(x) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f}%"


def _pct0(x) -> str:
    return "n/a" if x is None else f"{x * 100:.2f}%"


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _i(x) -> str:
    return "n/a" if x is None else f"{int(x):d}"


_BANNER = "!!! SYNTHETIC DATA - NOT A REAL MARKET - RESULTS SAY NOTHING ABOUT REAL TRADING !!!"
_MAX_ASSETS = 8  # per-asset ICs listed in the table; the rest are in report.json


def columns(report: Mapping) -> list[dict]:
    """The runs shown side by side: the comparison rows, plus the benchmark
    measured on closes when no baseline run is the benchmark (``from_closes``).

    Reports without ``comparison`` (written before it existed) show the strategy
    and the benchmark.
    """
    s = report.get("strategy") or {}
    b = report.get("benchmark") or {}
    rows = [dict(r) for r in report.get("comparison") or []]
    if not rows:
        rows = [{**s, "name": s.get("name") or "strategy"}]
    if b and b.get("from_closes", True):
        rows.append({**b, "name": str(b.get("name") or "buy-and-hold"), "from_closes": True})
    # each run's standard figures (report["performance"], by run name), when the report has them
    perf = report.get("performance") or {}
    rows = [{**(perf.get(r["name"]) or {}), **r} for r in rows]
    # strategy-only facts on the first column
    rows[0] = {**rows[0], "win_rate": s.get("win_rate"), "final_value": s.get("final_value")}
    return rows


_ROWS = (
    ("total return", "total_return", _pct),
    ("annual return", "annual_return", _pct),
    ("Sharpe", "sharpe", lambda x: _f(x, 2)),
    ("volatility", "annual_volatility", _pct0),
    ("Sortino", "sortino", lambda x: _f(x, 2)),
    ("Calmar", "calmar", lambda x: _f(x, 2)),
    ("max drawdown", "max_drawdown", _pct0),
    ("worst month", "worst_month", _pct),
    ("turnover", "turnover", lambda x: _f(x, 2)),
    ("trades", "n_trades", _i),
    ("orders filled", "n_orders", _i),
    ("orders rejected", "n_rejected", _i),
    ("orders cancelled", "n_canceled", _i),
    ("exposure", "exposure", _pct0),
    ("win rate", "win_rate", _pct0),
    ("final value", "final_value", lambda x: _f(x, 2)),
)


def _cell(run: Mapping, key: str, fmt) -> str:
    if key not in run:
        return ""
    if run.get("from_closes") and run[key] is None:
        return "-"  # not a run: no trades, no exposure, no turnover
    return fmt(run[key])


_IC_KINDS = (("ic", "IC"), ("rank_ic", "rank IC"))


def _ic_summary(d: Mapping) -> str:
    """Mean, ICIR and t of a daily-IC summary (:func:`btlstm.metrics.ic_summary`)."""
    return f"mean {_f(d.get('mean'))}  ICIR {_f(d.get('icir'), 2)}  t {_f(d.get('t_stat'), 2)}"


def _p(x) -> str:
    if x is None:
        return "n/a"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def significance_lines(report: Mapping) -> list[str]:
    """The significance figures and the verdict, a few lines (empty without a section)."""
    sig = report.get("significance")
    if not isinstance(sig, Mapping):
        return []
    ic = sig.get("ic") or {}
    lag = f", HAC lag {ic.get('lag')}" if ic else ""
    lines = [f"significance (h={sig.get('horizon')}{lag}; docs/significance.md):"]
    parts = []
    for key, label in _IC_KINDS:
        d = sig.get(key)
        if isinstance(d, Mapping):
            cs = " daily across assets" if d.get("kind") == "cross_sectional" else ""
            parts.append(
                f"{label}{cs} {_f(d.get('value'))} (HAC t {_f(d.get('t_hac'), 2)}, "
                f"p {_p(d.get('p_hac'))}; naive t {_f(d.get('t_iid'), 2)})"
            )
    lines.append("  " + ("   ".join(parts) if parts else "no prediction scored"))
    hit = sig.get("hit_rate")
    if isinstance(hit, Mapping):
        lines.append("  " + hit_rate_text(hit))
    sh = sig.get("sharpe") or {}
    dsr = sig.get("dsr") or {}
    trl = sh.get("min_trl_years")
    lines.append(
        f"  Sharpe {_f(sh.get('value'), 2)} (se {_f(sh.get('se'), 2)})  PSR(0) "
        f"{_f(sh.get('psr'), 2)}  min track record {_f(trl, 1) + ' years' if trl else 'never'}  "
        f"deflated Sharpe {_f(dsr.get('value'), 2)} (N={dsr.get('n_trials')})"
    )
    for v in sig.get("vs") or []:
        lines.append(
            f"  vs {v.get('name')}{' (closes)' if v.get('from_closes') else ''}: Sharpe diff "
            f"{_f(v.get('sharpe_diff'), 2)} [95% CI {_f(v.get('ci_low'), 2)}, "
            f"{_f(v.get('ci_high'), 2)}]  excess {_pct(v.get('excess_return'))}/yr "
            f"[{_pct(v.get('excess_ci_low'))}, {_pct(v.get('excess_ci_high'))}]  "
            f"PSR {_f(v.get('psr'), 2)}"
        )
    lines.append(f"VERDICT: {sig.get('verdict')}")
    return lines


def format_table(report: Mapping) -> str:
    """A concise terminal table: every run side by side, then prediction quality.

    Args:
        report: ``RunData.report`` (from :func:`btlstm.report.collect` or
            :func:`btlstm.report.load_report`).

    Returns:
        Multi-line text. The significance figures and the ``VERDICT:`` line
        come after the prediction quality, before the notes. Starts (and ends)
        with a ``SYNTHETIC DATA`` banner line
        when ``report['synthetic']`` is true. Numbers are rounded here only; a
        benchmark measured on closes (no orders, no costs) is marked ``*`` and
        shows ``-`` for what it does not have (trades, exposure, turnover).

    Example::

        print(format_table(collect(strategy, meta).report))
    """
    r = report.get("relative") or {}
    p = report.get("prediction")
    period = report.get("period") or {}
    lines = []
    if report.get("synthetic"):
        lines += ["=" * len(_BANNER), _BANNER, "=" * len(_BANNER)]
    lines.append(str(report.get("title", "backtest")))
    lines.append(f"period {period.get('start')} .. {period.get('end')} ({period.get('bars')} bars)")
    runs = columns(report)
    heads = [str(c["name"]) + ("*" if c.get("from_closes") else "") for c in runs]
    widths = [max(12, len(h)) for h in heads]
    lines.append(f"{'':<16}" + "".join(f"  {h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label, key, fmt in _ROWS:
        cells = [_cell(c, key, fmt) for c in runs]
        if not any(cells):
            continue
        lines.append(
            f"{label:<16}" + "".join(f"  {x:>{w}}" for x, w in zip(cells, widths, strict=True))
        )
    closes = [c for c in runs if c.get("from_closes")]
    if closes:
        lines.append(f"* {closes[0]['name']}: from the feed's closes, no orders, no costs")
    if "cumulative_return_difference" in r:  # excess_return: per year
        excess = f"excess {_pct(r.get('excess_return'))}/yr"
    else:  # a report written before: its excess_return is the cumulative difference
        excess = f"cumulative return difference {_pct(r.get('excess_return'))}"
    lines.append(
        f"vs {r.get('benchmark') or 'benchmark'} (closes): {excess}"
        f"  beta {_f(r.get('beta'), 2)}  alpha {_pct(r.get('alpha'))}/yr"
        f"  IR {_f(r.get('information_ratio'), 2)}"
    )
    if p:
        lines.append(
            f"prediction (h={p.get('horizon')}): count {_i(p.get('count'))}  "
            f"hit rate {_pct0(p.get('hit_rate'))}  IC {_f(p.get('ic'))}  "
            f"rank IC {_f(p.get('rank_ic'))}  long hit {_pct0(p.get('long_hit_rate'))}"
        )
        per_date = p.get("per_date") or {}
        for key, label in _IC_KINDS:
            d = per_date.get(key)
            if d:
                lines.append(
                    f"  daily {label} across assets: {_ic_summary(d)}  days {_i(d.get('n'))}"
                )
        per_asset = p.get("per_asset") or {}
        if len(per_asset) > 1:
            shown = list(per_asset.items())[:_MAX_ASSETS]
            text = "  ".join(f"{k} {_f(v.get('ic'))}" for k, v in shown)
            more = len(per_asset) - len(shown)
            lines.append(
                f"  IC per asset: {text}" + (f"  ... {more} more in report.json" if more else "")
            )
    else:
        lines.append("prediction: not scored (no PredictionQuality analyzer)")
    q = (report.get("scores") or {}).get("quality") or {}
    for key, label in _IC_KINDS:  # a scorer's (the ranker's)
        d = q.get(key)
        if isinstance(d, Mapping):
            lines.append(
                f"scores ({report['scores'].get('scorer')}, h={q.get('horizon')}) daily {label}: "
                f"{_ic_summary(d)}  HAC t {_f(d.get('t_hac'), 2)} "
                f"p {_p(d.get('p_hac'))}  days {_i(d.get('n'))}"
            )
    tmb = q.get("top_minus_bottom")
    if isinstance(tmb, Mapping):
        lines.append(
            f"scores top-minus-bottom {q.get('quantile')} quantile, mean {q.get('horizon')}-bar "
            f"return: {_pct(tmb.get('mean'))}  days {_i(tmb.get('n'))}"
        )
    lines += significance_lines(report)
    warned = set(report.get("warnings") or [])
    for note in report.get("notes") or []:
        if not note.startswith("SYNTHETIC"):
            lines.append(f"{'WARNING' if note in warned else 'note'}: {note}")
    if report.get("synthetic"):
        lines.append(_BANNER)
    return "\n".join(lines)
