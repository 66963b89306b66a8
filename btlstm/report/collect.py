"""Collect a finished Backtrader run into plain data (:class:`RunData`): the assembly.

:func:`collect` puts a finished strategy's sections and tables together (each
read from its analyzers by :mod:`btlstm.report.sections`, the notes derived by
:mod:`btlstm.report.notes`, the schema in :mod:`btlstm.report.schema`) and
returns a :class:`RunData`: ``report``, one plain-JSON dict, and ``tables``,
four DataFrames (predictions, trades, equity, weights). :func:`add_comparison`
appends a baseline run (buy-and-hold, equal weight ...) to it. Everything after
this step (table, files, plots, HTML) works on a ``RunData`` alone, so a report
can be written from data returned by a worker process, or rebuilt from the
files of a finished run.

Where the numbers come from (also written into the report's ``definitions``):

- total return, of the strategy and of every comparison row: final / start
  value - 1 (:func:`btlstm.metrics.total_return`, through ``BenchmarkRelative``);
- annual return: Backtrader's ``Returns`` analyzer (``rnorm``);
- Sharpe: Backtrader's ``SharpeRatio`` analyzer (daily returns, annualised with
  sqrt(252), risk-free rate as configured in ``add_standard_analyzers``, 0 by default);
- max drawdown: Backtrader's ``DrawDown`` analyzer (``max.drawdown / 100``, length in bars);
- ``comparison``: :func:`btlstm.summary.summary_row` of every run (the strategy
  first, then each baseline), the same keys for all;
- benchmark: a baseline buy-and-hold run when one was added, else
  :class:`btlstm.bt.analyzers.BenchmarkRelative` (closes of the benchmark feed:
  no orders, no costs; labelled so);
- relative statistics: :class:`btlstm.bt.analyzers.BenchmarkRelative`.

The same run twice gives identical ``strategy``, ``benchmark``, ``relative``,
``comparison`` and ``prediction`` sections: wall-clock facts go to the separate
``run`` section only.
"""

from __future__ import annotations

import datetime as _dt
import platform
from collections.abc import Mapping

import numpy as np
import pandas as pd

from btlstm.convert import to_jsonable
from btlstm.report.notes import add_warning, honest_notes, no_fill_warning
from btlstm.report.schema import DEFINITIONS, SUMMARY_KEYS, TABLE_COLUMNS, RunData
from btlstm.report.sections import (
    baseline_returns,
    benchmark_section,
    closes_equity,
    describe,
    forecasts_table,
    is_synthetic,
    per_year_returns,
    prediction_section,
    run_returns,
    run_values,
    significance_section,
    strategy_section,
    trades_table,
    weights_table,
)
from btlstm.report.tearsheet import clean_reprs, drawdowns_section, performance_section
from btlstm.summary import require_analyzers, summary_row

__all__ = [
    "DEFINITIONS",
    "SUMMARY_KEYS",
    "TABLE_COLUMNS",
    "RunData",
    "collect",
    "add_comparison",
    "honest_notes",
    "build_report",
    "to_jsonable",
    "forecasts_table",
    "per_year_returns",
]


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------
def collect(strategy, meta: Mapping | None = None, name: str = "strategy") -> RunData:
    """Collect a finished run's metrics, tables, config and provenance as plain data.

    Reads only the strategy's analyzers (plus its declared params and its feeds'
    ``synthetic`` flags), never attributes the strategy keeps for itself.

    Args:
        strategy: the finished strategy instance (``cerebro.run()[0]``) with
            :func:`btlstm.bt.analyzers.add_standard_analyzers` attached
            (``prediction``, ``orders`` and ``weights`` are read when present).
        meta: a dict with optional keys ``title`` (str), ``config`` (plain dict
            of data / model / walk-forward / cost settings; ``horizon``,
            ``clip``, ``scale`` are looked up in it, at any depth, for the
            realised target), ``provenance`` (dataset, sources, symbol, dates,
            rows, ``synthetic``, repair notes), ``costs``, ``synthetic`` (bool),
            ``warnings`` (list of str: shown as notes in the table, JSON and
            HTML), ``benchmark_name`` and ``run`` (extra facts for ``run``).
        name: this run's name in ``comparison`` and the equity table.

    Returns:
        :class:`RunData`. Every value of ``report`` is plain JSON (NaN is
        ``None``, floats are not rounded); ``report['comparison']`` holds one
        row, the strategy's.

    Raises:
        ValueError: a standard analyzer is missing.
        TypeError: ``meta`` is not a dict.

    Example::

        run = collect(cerebro.run()[0], {"title": "CSI 300 hold-5", "config": cfg})
        add_comparison(run, baseline_cerebro.run()[0], "buy-and-hold CSI300")
        write_report(run, "runs/csi300")
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"`meta` must be a dict, got {type(meta).__name__}: {meta!r}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")
    require_analyzers(strategy)
    config = dict(meta.get("config") or {})

    bench, relative = benchmark_section(strategy, meta.get("benchmark_name"))
    datas = list(getattr(strategy, "datas", []))
    default_symbol = str(getattr(datas[0], "_name", "") or "") if datas else ""
    prediction, predictions, warnings = prediction_section(
        strategy, config, default_symbol or bench["feed"]
    )
    values, closes = run_values(strategy)
    dates = [d.to_pydatetime() for d in values.index]
    period = {
        "start": dates[0] if dates else None,
        "end": dates[-1] if dates else None,
        "bars": len(dates),
    }
    equity = pd.DataFrame({"date": values.index, name: values.to_numpy()})
    if name != bench["name"]:
        equity[bench["name"]] = closes_equity(values, closes).to_numpy()

    import backtrader as bt

    run_facts = {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "backtrader": getattr(bt, "__version__", None),
        "numpy": np.__version__,
        **describe(strategy),
        "baselines": [],
        **dict(meta.get("run") or {}),
    }
    report = {
        "title": str(meta.get("title") or f"{type(strategy).__name__} backtest"),
        "synthetic": is_synthetic(strategy, meta),
        "strategy": strategy_section(strategy, name),
        "benchmark": bench,
        "relative": relative,
        "comparison": [summary_row(strategy, name)],
        "prediction": prediction,
        "significance": significance_section(strategy),
        "period": period,
        "config": config,
        "provenance": dict(meta.get("provenance") or {}),
        "costs": dict(meta.get("costs") or {}),
        "definitions": dict(DEFINITIONS),
        "warnings": warnings + [str(w) for w in meta.get("warnings") or []],
        "notes": [],
        "run": run_facts,
    }
    report["per_year"] = per_year_returns(equity)
    report = clean_reprs(to_jsonable(report))  # no "<... object at 0x...>" in report.json
    add_warning(report, no_fill_warning(report["comparison"][0]))  # a run that never traded
    report["notes"] = honest_notes(report)
    tables = {
        "predictions": predictions,
        "trades": trades_table(strategy, name),
        "equity": equity,
        "weights": weights_table(strategy),
    }
    run = RunData(report=report, tables=tables)
    _tearsheet_figures(run)
    return run


def _tearsheet_figures(run: RunData) -> None:
    """``performance`` (every run's standard figures) and ``drawdowns`` (the
    strategy's worst), from the equity table (:mod:`btlstm.report.tearsheet`)."""
    if not len(run.tables["equity"]):
        run.report["performance"], run.report["drawdowns"] = {}, []
        return
    run.report["performance"] = performance_section(run)
    run.report["drawdowns"] = drawdowns_section(run)


def add_comparison(run: RunData, strategy, name: str, benchmark: bool | None = None) -> None:
    """Append a baseline run (same feeds, broker and costs) to ``run``, in place.

    Adds its :func:`btlstm.bt.analyzers.summary_row` to ``report['comparison']``,
    its equity curve as column ``name`` of the equity table (aligned by date),
    its orders to the trades table (``strategy`` = ``name``) and its class and
    params to ``report['run']['baselines']``; then re-derives the notes.

    Args:
        run: the :class:`RunData` from :func:`collect`.
        strategy: the finished baseline strategy, with the standard analyzers.
        name: its display name, unique in the comparison (e.g.
            ``"buy-and-hold CSI300"``).
        benchmark: make this run the report's ``benchmark`` (replacing the
            one measured on closes). None: yes for a ``BuyAndHold`` strategy
            when no baseline run is the benchmark yet.

    Raises:
        ValueError: ``name`` is empty or already used, or analyzers are missing.
    """
    if not isinstance(run, RunData):
        raise TypeError(f"`run` must be a RunData from collect(), got {type(run).__name__}")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")
    report = run.report
    rows = report.setdefault("comparison", [])
    if any(r.get("name") == name for r in rows):
        raise ValueError(f"`name`: a comparison row named {name!r} exists already")
    require_analyzers(strategy, who=f"baseline {name!r}")
    row = to_jsonable(summary_row(strategy, name))
    rows.append(row)
    add_warning(report, no_fill_warning(row))  # a baseline that never traded

    values, _ = run_values(strategy)
    equity = run.tables["equity"]
    extra = pd.DataFrame({"date": values.index, name: values.to_numpy()})
    bench = report.get("benchmark") or {}
    if benchmark is None:
        benchmark = type(strategy).__name__ == "BuyAndHold" and bench.get("from_closes", True)
    replaces_closes = bool(benchmark) and bool(bench.get("from_closes", True))
    if benchmark:
        if bench.get("from_closes", True) and bench.get("name") in equity.columns:
            equity = equity.drop(columns=[bench["name"]])
        report["benchmark"] = {
            **row,
            "feed": bench.get("feed", ""),
            "source": f"baseline run {name!r} ({type(strategy).__name__}): real orders and costs",
            "from_closes": False,
        }
        if isinstance(report.get("relative"), dict):  # one name for one benchmark everywhere
            report["relative"]["benchmark"] = name
    equity = equity.merge(extra, on="date", how="outer").sort_values("date")
    closes = report["benchmark"]["name"] if report["benchmark"].get("from_closes", True) else None
    order = [c for c in equity.columns if c != closes] + ([closes] if closes in equity else [])
    run.tables["equity"] = equity[order].reset_index(drop=True)  # the closes benchmark last

    trades = trades_table(strategy, name)
    if len(trades):
        old = run.tables["trades"]
        run.tables["trades"] = pd.concat([old, trades], ignore_index=True) if len(old) else trades
    report.setdefault("run", {}).setdefault("baselines", []).append(
        to_jsonable({"name": name, **describe(strategy)})
    )
    _compare_significance(run, strategy, name, replaces_closes)
    report["per_year"] = to_jsonable(per_year_returns(run.tables["equity"]))
    _tearsheet_figures(run)
    report["notes"] = honest_notes(report)


def _compare_significance(run: RunData, strategy, name: str, replaces_closes: bool) -> None:
    """Add the ``vs`` entry of a baseline run to the report's significance section."""
    from btlstm import significance

    sig = run.report.get("significance")
    if not isinstance(sig, dict):
        return
    opts = sig.get("settings") or {}
    entry = significance.compare(
        run_returns(run),
        baseline_returns(strategy),
        name,
        periods=int(opts.get("periods") or significance.ANNUALIZATION),
        reps=int(opts.get("reps") or significance.BOOTSTRAP_REPS),
        seed=int(opts.get("seed") or 0),
        min_block=int(sig.get("horizon") or 1),
    )
    if replaces_closes:
        significance.drop_closes(sig)
    run.report["significance"] = to_jsonable(significance.add_vs(sig, entry))


def build_report(strategy, meta: Mapping | None = None, benchmark_name: str | None = None) -> dict:
    """``collect(strategy, meta).report``: the report dict alone (kept for old callers)."""
    meta = {} if meta is None else meta
    if benchmark_name is not None and isinstance(meta, Mapping):
        meta = {**meta, "benchmark_name": benchmark_name}
    return collect(strategy, meta).report
