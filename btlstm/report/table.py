"""The terminal table of a report: strategy vs benchmark, then prediction quality."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["format_table"]


# ---------------------------------------------------------------------------
# format_table
# ---------------------------------------------------------------------------
def _pct(x) -> str:
    return "n/a" if x is None else f"{x * 100:+.2f}%"


def _pct0(x) -> str:
    return "n/a" if x is None else f"{x * 100:.2f}%"


def _f(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _i(x) -> str:
    return "n/a" if x is None else f"{int(x):d}"


_BANNER = "!!! SYNTHETIC DATA - NOT A REAL MARKET - RESULTS SAY NOTHING ABOUT REAL TRADING !!!"


def format_table(report: Mapping) -> str:
    """A concise terminal table: strategy vs buy-and-hold, then prediction quality.

    Args:
        report: a dict from :func:`build_report` (or :func:`load_report`).

    Returns:
        Multi-line text. Starts (and ends) with a ``SYNTHETIC DATA`` banner line
        when ``report['synthetic']`` is true. Numbers are rounded here only.

    Example:
        >>> print(format_table(build_report(strat, meta)))
    """
    s = report.get("strategy") or {}
    b = report.get("benchmark") or {}
    r = report.get("relative") or {}
    p = report.get("prediction")
    period = report.get("period") or {}
    lines = []
    if report.get("synthetic"):
        lines += ["=" * len(_BANNER), _BANNER, "=" * len(_BANNER)]
    lines.append(str(report.get("title", "backtest")))
    lines.append(f"period {period.get('start')} .. {period.get('end')} ({period.get('bars')} bars)")
    bname = str(b.get("name") or "buy-and-hold")
    w = max(12, len(bname))
    rows = [
        ("total return", _pct(s.get("total_return")), _pct(b.get("total_return"))),
        ("annual return", _pct(s.get("annual_return")), _pct(b.get("annual_return"))),
        ("Sharpe", _f(s.get("sharpe"), 2), _f(b.get("sharpe"), 2)),
        ("max drawdown", _pct0(s.get("max_drawdown")), _pct0(b.get("max_drawdown"))),
        ("trades", _i(s.get("n_trades")), "1"),
        ("win rate", _pct0(s.get("win_rate")), ""),
        ("exposure", _pct0(s.get("exposure")), "100.00%"),
        ("final value", _f(s.get("final_value"), 2), ""),
    ]
    lines.append(f"{'':<16}{'strategy':>14}  {bname:>{w}}")
    lines += [f"{k:<16}{a:>14}  {c:>{w}}" for k, a, c in rows]
    lines.append(
        f"excess {_pct(r.get('excess_return'))}  beta {_f(r.get('beta'), 2)}  "
        f"alpha {_pct(r.get('alpha'))}/yr  IR {_f(r.get('information_ratio'), 2)}"
    )
    if p:
        lines.append(
            f"prediction (h={p.get('horizon')}): count {_i(p.get('count'))}  "
            f"hit rate {_pct0(p.get('hit_rate'))}  IC {_f(p.get('ic'))}  "
            f"rank IC {_f(p.get('rank_ic'))}  long hit {_pct0(p.get('long_hit_rate'))}"
        )
    else:
        lines.append("prediction: not scored (no PredictionQuality analyzer)")
    for note in report.get("notes") or []:
        if not note.startswith("SYNTHETIC"):
            lines.append(f"note: {note}")
    if report.get("synthetic"):
        lines.append(_BANNER)
    return "\n".join(lines)
