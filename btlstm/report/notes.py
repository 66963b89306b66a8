"""The plain-language notes of a report, derived from its numbers alone (:func:`honest_notes`),
and the warning of a run that never filled an order (:func:`no_fill_warning`)."""

from __future__ import annotations

import math
from collections.abc import Mapping

__all__ = ["add_warning", "honest_notes", "no_fill_warning"]


def no_fill_warning(row: Mapping) -> str | None:
    """The warning for a comparison row (the strategy or a baseline) that filled no order.

    A run without a single fill ends where it began, so its "+0.00%" (and the
    Sharpe, drawdown and significance built on it) describes idle cash, not the
    strategy. Usual causes: cash too small to buy one share or lot at these
    prices, or a signal that never triggers.

    Args:
        row: a ``comparison`` row (``name``, ``n_orders`` = orders filled,
            ``n_rejected``, ``n_canceled``, ``total_return``).

    Returns:
        The text, or None when the row filled at least one order (or does not say).

    Example:
        >>> no_fill_warning({"name": "hold", "n_orders": 0, "n_rejected": 3, "n_canceled": 0,
        ...                  "total_return": 0.0})[:58]
        "'hold' filled no order in the whole run (3 refused by the "
    """
    if not isinstance(row, Mapping) or row.get("n_orders") != 0:
        return None
    tr = row.get("total_return")
    result = (
        f"its {tr:+.2%} " if isinstance(tr, (int, float)) and math.isfinite(tr) else "its result "
    )
    return (
        f"{row.get('name')!r} filled no order in the whole run ({row.get('n_rejected') or 0} "
        f"refused by the broker, {row.get('n_canceled') or 0} cancelled or expired): {result}"
        "is idle cash, not a result of the strategy. Check that the cash (--cash) buys at "
        "least one share or lot at these prices and that the signal ever triggers."
    )


def add_warning(report: dict, text: str | None) -> None:
    """Append ``text`` to ``report['warnings']`` (once; None is ignored)."""
    if text is None:
        return
    warnings = report.setdefault("warnings", [])
    if text not in warnings:
        warnings.append(text)


def _beaten(tr, other) -> bool:
    return tr is not None and other is not None and math.isfinite(tr) and math.isfinite(other)


def honest_notes(report: Mapping) -> list[str]:
    """The plain-language notes of a report, derived from its numbers alone.

    In order: the synthetic-data warning, the report's ``warnings``, one line for
    every run (comparison row, or the closes benchmark when no baseline run is
    the benchmark) that the strategy did not beat on total return, and a
    warning when there are fewer than 10 closed trades. A report with a
    ``significance`` verdict has no "did not beat" lines: the verdict, shown
    first by the table and the page, tests every comparison instead.

    Example:
        >>> honest_notes({"strategy": {"total_return": -0.2, "n_trades": 14},
        ...               "benchmark": {"name": "buy-and-hold CSI300", "from_closes": True,
        ...                             "total_return": -0.05}})
        ['The strategy did not beat buy-and-hold CSI300: total return -20.00% vs -5.00% (benchmark from closes: no orders, no costs).']
    """  # noqa: E501
    notes = []
    if report.get("synthetic"):
        notes.append("SYNTHETIC DATA: these numbers say nothing about any real market.")
    notes += [str(w) for w in report.get("warnings") or []]
    s = report.get("strategy") or {}
    rows = list(report.get("comparison") or [])
    me = rows[0] if rows else {"name": s.get("name", "strategy"), **s}
    who = "The strategy" if me.get("name") in (None, "strategy") else f"The strategy '{me['name']}'"
    tr = me.get("total_return")
    b = report.get("benchmark") or {}
    if (report.get("significance") or {}).get("verdict"):
        b, rows = {}, rows[:1]  # the verdict tests every comparison: it replaces these lines
    if b.get("from_closes", True) and b:
        btr = b.get("total_return")
        if _beaten(tr, btr) and tr <= btr:
            notes.append(
                f"{who} did not beat {b.get('name')}: total return {tr:.2%} vs {btr:.2%} "
                "(benchmark from closes: no orders, no costs)."
            )
    for row in rows[1:]:
        other = row.get("total_return")
        if _beaten(tr, other) and tr <= other:
            notes.append(f"{who} did not beat {row['name']}: total return {tr:.2%} vs {other:.2%}.")
    n = s.get("n_trades")
    if n is not None and n < 10:
        notes.append(
            f"Only {n} closed trades (round trips): per-trade statistics such as the win rate "
            "carry little evidence."
        )
    return notes
