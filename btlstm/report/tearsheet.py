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

import math
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
    "excess_curves",
    "roundtrips",
    "ROUNDTRIP_COLUMNS",
    "flatten",
    "record_lists",
    "clean_reprs",
]

ROLLING_WINDOWS = {"6 months": 126, "12 months": 252}
"""The rolling windows of the rolling Sharpe, beta and volatility, in bars."""


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
    """Rolling Sharpe, beta (against the main baseline) and annualised volatility
    (:func:`btlstm.metrics.rolling_volatility`) of the strategy's daily returns over
    :data:`ROLLING_WINDOWS`: ``{"sharpe 6 months": Series, ..., "volatility 12
    months": Series}``."""
    frame = curves(run)
    r = frame[strategy_name(run)].pct_change()
    base = main_baseline(run)
    out = {}
    for label, n in ROLLING_WINDOWS.items():
        out[f"sharpe {label}"] = metrics.rolling_sharpe(r, n)
        if base is not None:
            out[f"beta {label}"] = metrics.rolling_beta(r, frame[base].pct_change(), n)
    for label, n in ROLLING_WINDOWS.items():
        out[f"volatility {label}"] = metrics.rolling_volatility(r, n)
    return out


def excess_curves(run) -> dict[str, pd.Series]:
    """The strategy's cumulative excess return over each other run of the equity
    table (:func:`btlstm.metrics.excess_growth`: the growth of ``(1 + r_s) / (1 +
    r_b)`` minus 1, from the first date both have a value): ``{baseline: Series}``."""
    frame = curves(run)
    name = strategy_name(run)
    return {
        str(b): metrics.excess_growth(frame[name], frame[b])
        for b in frame.columns
        if b != name
    }


ROUNDTRIP_COLUMNS = ["strategy", "symbol", "direction", "entry_date", "entry_price",
                     "exit_date", "exit_price", "size", "pnl", "return_pct", "bars_held",
                     "commission"]  # fmt: skip
"""The columns of ``roundtrips.csv`` (:func:`roundtrips`)."""


def roundtrips(trades: pd.DataFrame, dates=None) -> pd.DataFrame:
    """Round-trip trades matched from the filled orders of the order log, FIFO.

    Each run's (``strategy``) Completed orders are replayed per symbol in their
    order: a fill that adds to the position (or opens it) is a lot; one that
    reduces it closes the oldest lots first. Every closing fill is one row
    (a partial exit: a row for the part it closed; a fill that flips the
    position closes it, and its rest opens a lot the other way); rows are in
    the order they closed (by exit date), run by run:

    - ``entry_date``: the first matched lot's fill date; ``entry_price``: the
      size-weighted price of the matched lots; ``exit_date``, ``exit_price``:
      the closing fill's;
    - ``size``: the size closed; ``direction``: ``long`` or ``short``;
    - ``pnl``: ``(exit - entry) x size`` (the reverse for a short) less the
      commission of both legs, each leg's pro rata to the size closed
      (``commission``);
    - ``return_pct``: ``pnl / (entry_price x size)`` (a fraction);
    - ``bars_held``: bars of ``dates`` (the equity table's) from the entry date
      to the exit date (calendar days when ``dates`` is None).

    Positions still open at the end are no round trip and are left out. The
    net pnl of all rows equals Backtrader's TradeAnalyzer ``pnl.net.total``
    when every position is closed (FIFO and average cost differ per trade, not
    in the sum).
    """
    cols = ROUNDTRIP_COLUMNS
    if trades is None or not len(trades):
        return pd.DataFrame(columns=cols)
    t = trades[trades["status"].astype(str) == "Completed"].reset_index(drop=True)
    when = pd.DatetimeIndex(pd.to_datetime(t["date"]))
    day = when.normalize()
    if dates is not None:  # bars of the run's calendar
        cal = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates))).normalize().unique().sort_values()
        bar = cal.searchsorted(day).tolist()
    else:  # calendar days
        bar = ((day - pd.Timestamp("1970-01-01")) // pd.Timedelta(days=1)).tolist()
    size_ = pd.to_numeric(t["size"], errors="coerce").to_numpy(float).tolist()
    price_ = pd.to_numeric(t["price"], errors="coerce").to_numpy(float).tolist()
    comm_ = (pd.to_numeric(t["commission"], errors="coerce").fillna(0.0).to_numpy(float).tolist()
             if "commission" in t.columns else [0.0] * len(t))  # fmt: skip
    buy_ = (t["side"].astype(str) == "buy").tolist()
    rows: list[tuple] = []
    for (strat, symbol), where in t.groupby(["strategy", "symbol"], sort=False).indices.items():
        lots: list[list] = []  # [order row, signed size left, commission per unit]
        for k in where.tolist():
            size = size_[k]
            if not size > 0 or not math.isfinite(size):
                continue
            left = size if buy_[k] else -size
            price, comm_unit = price_[k], comm_[k] / size
            closed = value = comm = 0.0
            first = None
            while lots and left != 0.0 and (lots[0][1] > 0) != (left > 0):
                lot = lots[0]
                take = min(abs(lot[1]), abs(left))
                closed += take
                value += price_[lot[0]] * take
                comm += lot[2] * take
                first = lot[0] if first is None else first
                sign = 1.0 if lot[1] > 0 else -1.0
                lot[1] -= sign * take
                left += sign * take
                if abs(lot[1]) <= 1e-12 * max(1.0, size):
                    lots.pop(0)
            if closed:
                entry = value / closed
                sign = -1.0 if buy_[k] else 1.0  # a buy closes a short
                comm += comm_unit * closed
                pnl = sign * (price - entry) * closed - comm
                rows.append((str(strat), str(symbol), "long" if sign > 0 else "short",
                             when[first], entry, when[k], price, closed, pnl,
                             pnl / (entry * closed) if entry else np.nan,
                             int(bar[k] - bar[first]), comm))  # fmt: skip
            if abs(left) > 1e-12 * max(1.0, size):
                lots.append([k, left, comm_unit])
    out = pd.DataFrame(rows, columns=cols)
    if len(out):  # each run's round trips in the order they closed
        order = {n: i for i, n in enumerate(dict.fromkeys(t["strategy"].astype(str)))}
        out = out.assign(_run=out["strategy"].map(order)).sort_values(
            ["_run", "exit_date", "entry_date"], kind="stable").drop(columns="_run")
    return out.reset_index(drop=True)


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
