"""The tearsheet's derived data: figures and tables computed from a RunData's tables.

Everything here reads a :class:`~btlstm.report.schema.RunData` (its equity,
weights, predictions tables and report) and returns plain data; the maths is
:mod:`btlstm.metrics`. :mod:`btlstm.report.collect` stores the JSON parts in
``report.json`` (``performance``, ``drawdowns``); the page
(:mod:`btlstm.report.html`) and the plots (:mod:`btlstm.report.plots`) draw
from the same functions, so a report written before these figures existed
still gets them when rebuilt.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from btlstm import metrics
from btlstm.convert import to_jsonable

__all__ = [
    "ROLLING_WINDOWS",
    "curves",
    "strategy_name",
    "main_baseline",
    "performance_section",
    "drawdowns_section",
    "monthly_tables",
    "daily_weights",
    "rolling_figures",
    "flatten",
    "record_lists",
    "clean_reprs",
]

ROLLING_WINDOWS = {"6 months": 126, "12 months": 252}
"""The rolling windows of the rolling Sharpe and beta, in bars."""


def curves(run) -> pd.DataFrame:
    """The equity table as values indexed by date, one column per run."""
    eq = run.tables["equity"]
    frame = eq.drop(columns=["date"]).apply(pd.to_numeric, errors="coerce").astype(float)
    frame.index = pd.DatetimeIndex(pd.to_datetime(eq["date"]), name="date")
    return frame


def strategy_name(run) -> str:
    """The strategy's column of the equity table (the first comparison row)."""
    rows = run.report.get("comparison") or []
    name = rows[0].get("name") if rows else None
    eq = run.tables["equity"]
    if name in eq.columns:
        return str(name)
    return str([c for c in eq.columns if c != "date"][0])


def main_baseline(run) -> str | None:
    """The benchmark's column of the equity table (else the first other column)."""
    eq = run.tables["equity"]
    cols = [c for c in eq.columns if c not in ("date", strategy_name(run))]
    bench = (run.report.get("benchmark") or {}).get("name")
    if bench in cols:
        return str(bench)
    return str(cols[0]) if cols else None


def _start_value(run, name: str) -> float | None:
    """The cash before the first bar of a backtest run; None for the closes benchmark."""
    b = run.report.get("benchmark") or {}
    if b.get("from_closes", True) and name == b.get("name"):
        return None
    start = (run.report.get("strategy") or {}).get("start_value")
    return float(start) if start is not None else None


def performance_section(run) -> dict:
    """``{run name: metrics.performance_stats(...)}`` for every column of the equity table."""
    frame = curves(run)
    return to_jsonable(
        {
            name: metrics.performance_stats(frame[name].dropna(), _start_value(run, name))
            for name in frame.columns
        }
    )


def drawdowns_section(run, top: int = 5) -> list[dict]:
    """The strategy's ``top`` worst drawdown periods (:func:`btlstm.metrics.drawdown_periods`)."""
    values = curves(run)[strategy_name(run)].dropna()
    return to_jsonable(metrics.drawdown_periods(values, top=top))


def monthly_tables(run) -> dict[str, pd.DataFrame]:
    """Year x month returns (:func:`btlstm.metrics.monthly_returns`) of the strategy
    and of its main baseline."""
    frame = curves(run)
    names = [strategy_name(run), main_baseline(run)]
    return {n: metrics.monthly_returns(frame[n].dropna()) for n in names if n is not None}


def daily_weights(weights: pd.DataFrame, dates, top: int = 10) -> pd.DataFrame:
    """Weights as dates x columns on *every* bar: the ``top`` symbols by mean
    weight, ``other`` (the rest, summed) and ``cash``.

    A bar without a row (a flat day) has every symbol at 0; ``cash`` is
    ``1 - sum(positions)``, so each row sums to 1 (a leveraged or short book
    shows a negative cash weight).

    Args:
        weights: the weights table (``date, symbol, weight``; ``cash`` rows ignored).
        dates: every bar's date (the equity table's).
        top: symbols shown by name.
    """
    index = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates)), name="date").unique().sort_values()
    w = weights[weights["symbol"].astype(str) != "cash"]
    if len(w):
        wide = w.pivot_table(index="date", columns="symbol", values="weight", aggfunc="sum")
        wide.index = pd.DatetimeIndex(pd.to_datetime(wide.index))
        wide = wide.reindex(index.union(wide.index)).fillna(0.0).loc[index]
    else:
        wide = pd.DataFrame(index=index)
    order = list(wide.abs().mean().sort_values(ascending=False, kind="stable").index)
    out = wide[order[:top]].copy()
    if len(order) > top:
        out["other"] = wide[order[top:]].sum(axis=1)
    out["cash"] = 1.0 - wide.sum(axis=1) if wide.shape[1] else 1.0
    out.columns = [str(c) for c in out.columns]
    return out


def rolling_figures(run) -> dict[str, pd.Series]:
    """Rolling Sharpe and beta (against the main baseline) of the strategy's daily
    returns over :data:`ROLLING_WINDOWS`: ``{"sharpe 6 months": Series, ...}``."""
    frame = curves(run)
    r = frame[strategy_name(run)].pct_change()
    base = main_baseline(run)
    out = {}
    for label, n in ROLLING_WINDOWS.items():
        out[f"sharpe {label}"] = metrics.rolling_sharpe(r, n)
        if base is not None:
            out[f"beta {label}"] = metrics.rolling_beta(r, frame[base].pct_change(), n)
    return out


def flatten(value, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dicts and lists as ``(dotted key, scalar)`` rows for a key-value table.

    A list of scalars is one row (joined with ``, ``); a list of dicts gives
    ``key[i].sub`` rows; text that is an object's repr (``<... object at 0x...>``,
    ``<DataFrame ...>``) is shown as what it names.
    """
    rows: list[tuple[str, object]] = []
    if isinstance(value, Mapping):
        if not value and prefix:
            rows.append((prefix, "(empty)"))
        for k, v in value.items():
            rows += flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, (list, tuple)):
        if all(not isinstance(x, (Mapping, list, tuple)) for x in value):
            rows.append((prefix, ", ".join(_scalar_text(x) for x in value) or "(empty)"))
        else:
            for i, v in enumerate(value):
                rows += flatten(v, f"{prefix}[{i}]")
    else:
        rows.append((prefix, _clean(value)))
    return rows


def record_lists(value: Mapping) -> tuple[dict, dict[str, list[dict]]]:
    """Split a section into what reads as key-value rows and its lists of records
    (e.g. ``run.fits``: one dict per fit), each shown as a table of its own."""
    rest, lists = {}, {}
    for k, v in value.items():
        flat = isinstance(v, list) and len(v) > 1 and all(isinstance(x, Mapping) for x in v)
        if flat and all(not isinstance(y, (Mapping, list)) for x in v for y in x.values()):
            lists[str(k)] = [dict(x) for x in v]
        else:
            rest[k] = v
    return rest, lists


def _scalar_text(x) -> str:
    from btlstm.report.formats import fmt

    if isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool):
        return fmt(x, "plain")
    return str(_clean(x))


def clean_reprs(value):
    """``value`` (plain JSON) with every object repr (``<... object at 0x...>``,
    ``<DataFrame ...>``) replaced by what it names."""
    if isinstance(value, Mapping):
        return {k: clean_reprs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_reprs(v) for v in value]
    return _clean(value)


def _clean(value):
    if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
        inner = value[1:-1]
        if " object at 0x" in inner:
            return f"a {inner.split(' object at 0x')[0]} object"
        if inner.startswith("DataFrame "):
            return "a DataFrame of " + inner[len("DataFrame "):]
    return value
