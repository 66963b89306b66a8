"""Collect a finished Backtrader run into plain data (:class:`RunData`).

:func:`collect` reads a finished strategy's analyzers (the standard names of
:func:`btlstm.analyzers.add_standard_analyzers`) and nothing else of the
strategy's own state, and returns a :class:`RunData`: ``report``, one plain-JSON
dict, and ``tables``, four DataFrames (predictions, trades, equity, weights).
:func:`add_comparison` appends a baseline run (buy-and-hold, equal weight ...)
to it. Everything after this step (table, files, plots, HTML) works on a
``RunData`` alone, so a report can be written from data returned by a worker
process, or rebuilt from the files of a finished run.

Where the numbers come from (also written into the report's ``definitions``):

- strategy total / annual return: Backtrader's ``Returns`` analyzer
  (``exp(rtot) - 1`` and ``rnorm``);
- Sharpe: Backtrader's ``SharpeRatio`` analyzer (daily returns, annualised with
  sqrt(252), risk-free rate as configured in ``add_standard_analyzers``, 0 by default);
- max drawdown: Backtrader's ``DrawDown`` analyzer (``max.drawdown / 100``, length in bars);
- ``comparison``: :func:`btlstm.analyzers.summary_row` of every run (the strategy
  first, then each baseline), the same keys for all;
- benchmark: a baseline buy-and-hold run when one was added, else
  :class:`btlstm.analyzers.BenchmarkRelative` (closes of the benchmark feed:
  no orders, no costs; labelled so);
- relative statistics: :class:`btlstm.analyzers.BenchmarkRelative`.

The same run twice gives identical ``strategy``, ``benchmark``, ``relative``,
``comparison`` and ``prediction`` sections: wall-clock facts go to the separate
``run`` section only.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btlstm.analyzers import SUMMARY_KEYS as _SUMMARY_KEYS
from btlstm.convert import to_jsonable

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

_NAN = float("nan")

#: The keys of every row of ``report['comparison']`` (defined with ``btlstm.analyzers.summary_row``).
SUMMARY_KEYS = _SUMMARY_KEYS

TABLE_COLUMNS = {
    "predictions": ["date", "symbol", "prediction", "realised_return", "realised_target"],
    "trades": [
        "strategy",
        "created_date",
        "date",
        "symbol",
        "side",
        "size",
        "price",
        "value",
        "commission",
        "status",
        "reason",
        "detail",
    ],
    "equity": ["date"],  # + one column per comparison row (+ the closes benchmark)
    "weights": ["date", "symbol", "weight"],
    "forecasts": ["date", "sector", "forecast"],  # panel runs with a model (forecasts.csv)
}
"""Leading columns of each table of :class:`RunData` (and of its CSV file)."""

DEFINITIONS = {
    "total_return": "final portfolio value / starting value - 1; strategy: exp(rtot) - 1 "
    "from Backtrader's Returns analyzer; comparison rows: final / start value - 1; "
    "benchmark from closes: last close / first close - 1",
    "annual_return": "strategy and comparison rows: Backtrader Returns 'rnorm' = exp(mean "
    "daily log return x 252) - 1; benchmark from closes: (1 + total_return) ** "
    "(252 / daily returns) - 1",
    "sharpe": "daily returns, annualised with sqrt(252); strategy: Backtrader SharpeRatio "
    "(risk-free rate = costs/config 'riskfree', 0 unless configured); benchmark from "
    "closes: BenchmarkRelative, risk-free 0, population std",
    "max_drawdown": "largest peak-to-trough fall as a positive fraction (0.25 = -25%); "
    "strategy: Backtrader DrawDown analyzer max.drawdown / 100 (portfolio value); "
    "benchmark from closes: on its closes",
    "max_drawdown_len": "bars of the longest drawdown (Backtrader DrawDown max.len)",
    "exposure": "share of bars closing with an open position (btlstm Exposure)",
    "turnover": "total traded value (both sides) / mean portfolio value over the run",
    "n_trades": "closed trades (Backtrader TradeAnalyzer total.closed)",
    "n_orders": "orders filled (status Completed; btlstm Exposure)",
    "n_rejected": "orders the broker refused: Margin (not enough cash at the fill, e.g. a buy "
    "sized at the close when the next open gaps up) or Rejected; each is a row of trades.csv "
    "with its status and, in 'detail', why (btlstm Exposure; n_margin: the Margin part)",
    "n_canceled": "orders cancelled (e.g. a stale rebalance order replaced by the next "
    "rebalance) or expired; rows of trades.csv with why in 'detail' (n_expired: the Expired part)",
    "win_rate": "closed trades with net pnl > 0 / closed trades (Backtrader TradeAnalyzer)",
    "comparison": "one row per run (the strategy first, then each baseline) with the same "
    "keys, from btlstm.analyzers.summary_row; every run uses the same feeds, broker and costs",
    "relative": "BenchmarkRelative on daily returns against the closes of the benchmark feed: "
    "beta = cov/var, alpha annualised (CAPM, rf 0), tracking error and information ratio "
    "annualised with 252",
    "prediction": "PredictionQuality: prediction at bar t vs realised forward return "
    "close[t+h]/close[t]-1 (h = horizon), pooled over every scored feed; hit_rate = sign "
    "agreement, ic = Pearson, rank_ic = Spearman; rmse/mae against realised_target = "
    "clip(return, +-clip) * scale",
    "per_asset": "prediction quality of each feed on its own bars (btlstm.metrics."
    "prediction_quality)",
    "per_date": "IC and rank IC across the feeds on each date, summarised over dates: mean, "
    "std, icir = mean / std, t_stat = mean / std * sqrt(n) (btlstm.metrics.ic_summary)",
    "weights": "position value / portfolio value at each close, per feed with a position, "
    "plus 'cash' (btlstm Weights analyzer)",
    "per_year": "each calendar year's return of every run: last portfolio value of the year / "
    "last value of the previous year (the first year: the first value of the run) - 1, from "
    "equity.csv; a partial first or last year covers the run's bars in it only",
    "significance": "is the edge distinguishable from noise? (btlstm.significance, "
    "docs/significance.md): IC and rank IC with HAC t (lag horizon - 1; panels: the daily "
    "cross-sectional IC), hit rate vs the base rate of up moves, Sharpe with its standard error "
    "under skew and kurtosis, PSR and minimum track record, a seeded stationary-bootstrap 95% "
    "interval of the Sharpe difference and annual excess return vs each baseline run, the "
    "deflated Sharpe ratio for n_trials; 'verdict' applies 'rule'",
    "benchmark": "buy-and-hold of the benchmark feed: a real baseline run (orders, costs) when "
    "one was added, else the feed's closes from its first bar in the run to its last "
    "(BenchmarkRelative: no orders, no costs; see benchmark.source)",
}
"""What each reported number means and which analyzer produced it."""


@dataclass
class RunData:
    """A finished run as plain data: what every report writer reads.

    Attributes:
        report: one plain-JSON dict (sections ``title``, ``synthetic``,
            ``strategy``, ``benchmark``, ``relative``, ``comparison``,
            ``prediction``, ``period``, ``config``, ``provenance``, ``costs``,
            ``definitions``, ``warnings``, ``notes``, ``run``).
        tables: ``predictions`` (date, symbol, prediction, realised_return,
            realised_target), ``trades`` (strategy, created_date, date, symbol,
            side, size, price, value, commission, status, reason), ``equity``
            (date, one column per comparison row, plus the closes benchmark when
            no baseline run is the benchmark) and ``weights`` (date, symbol,
            weight; the strategy only).
    """

    report: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: extra files of a run, ``{file name: DataFrame}`` (``.csv`` or gzipped ``.csv.gz``),
    #: e.g. the ranker's ``gate.csv`` and ``scores.csv.gz``; written and kept on rebuild.
    files: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.report, dict):
            raise TypeError(f"RunData.report must be a dict, got {type(self.report).__name__}")
        for name, columns in TABLE_COLUMNS.items():
            if name not in self.tables:
                self.tables[name] = pd.DataFrame(columns=columns)


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------
def _num(x) -> float:
    """A float from anything numeric; NaN for None / missing / non-numbers."""
    if x is None:
        return _NAN
    try:
        return float(x)
    except (TypeError, ValueError):
        return _NAN


def _get(mapping, *keys, default=None):
    """Nested ``get`` through dicts and Backtrader ``AutoOrderedDict`` (no auto-creation)."""
    cur = mapping
    for k in keys:
        if cur is None:
            return default
        try:
            if k not in cur:
                return default
            cur = cur[k]
        except TypeError:
            return default
    return cur


def _analysis(strategy, name: str):
    """``strategy.analyzers.<name>.get_analysis()`` or None when not attached."""
    analyzer = getattr(strategy.analyzers, name, None)
    if analyzer is None:
        return None
    return analyzer.get_analysis()


def _find(config, key: str, default):
    """Look ``key`` up in ``config`` and, failing that, in its nested dicts (breadth first)."""
    if not isinstance(config, Mapping):
        return default
    queue = [config]
    while queue:
        cur = queue.pop(0)
        if key in cur and cur[key] is not None:
            return cur[key]
        queue.extend(v for v in cur.values() if isinstance(v, Mapping))
    return default


def _summary_row(strategy, name: str) -> dict:
    from btlstm.analyzers import summary_row

    row = dict(summary_row(strategy, name))
    if set(row) != set(SUMMARY_KEYS):
        raise ValueError(
            f"summary_row returned keys {sorted(row)}; expected exactly {list(SUMMARY_KEYS)}"
        )
    return {k: row[k] for k in SUMMARY_KEYS}


# ---------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------
_REQUIRED = ("returns", "drawdown", "sharpe", "trades", "benchmark", "exposure")


def _require_analyzers(strategy, who: str = "strategy") -> None:
    analyzers = getattr(strategy, "analyzers", None)
    missing = [n for n in _REQUIRED if getattr(analyzers, n, None) is None]
    if missing:
        raise ValueError(
            f"{who}: {type(strategy).__name__} lacks the analyzers {missing}; "
            "call btlstm.analyzers.add_standard_analyzers(cerebro, ...) before cerebro.run()"
        )


def _strategy_section(strategy, name: str) -> dict:
    ret = _analysis(strategy, "returns")
    dd = _analysis(strategy, "drawdown")
    sharpe = _analysis(strategy, "sharpe")
    trades = _analysis(strategy, "trades")
    bench = _analysis(strategy, "benchmark")
    expo = _analysis(strategy, "exposure")
    sqn = _analysis(strategy, "sqn")

    rtot = _num(_get(ret, "rtot"))
    closed = int(_get(trades, "total", "closed", default=0) or 0)
    won = int(_get(trades, "won", "total", default=0) or 0)
    return {
        "name": name,
        "start_value": _num(_get(bench, "start_value")),
        "final_value": _num(_get(bench, "final_value")),
        "total_return": math.expm1(rtot) if math.isfinite(rtot) else _NAN,
        "annual_return": _num(_get(ret, "rnorm")),
        "sharpe": _num(_get(sharpe, "sharperatio")),
        "max_drawdown": _num(_get(dd, "max", "drawdown")) / 100.0,
        "max_drawdown_len": int(_get(dd, "max", "len", default=0) or 0),
        "max_moneydown": _num(_get(dd, "max", "moneydown")),
        "n_trades": closed,
        "n_won": won,
        "n_lost": int(_get(trades, "lost", "total", default=0) or 0),
        "win_rate": won / closed if closed else _NAN,
        "pnl_net": _num(_get(trades, "pnl", "net", "total")),
        "n_orders": int(_get(expo, "n_orders", default=0) or 0),
        "n_rejected": int(_get(expo, "n_rejected", default=0) or 0),
        "n_margin": int(_get(expo, "n_margin", default=0) or 0),
        "n_canceled": int(_get(expo, "n_canceled", default=0) or 0),
        "n_expired": int(_get(expo, "n_expired", default=0) or 0),
        "exposure": _num(_get(expo, "exposure")),
        "avg_gross_exposure": _num(_get(expo, "avg_gross_exposure")),
        "turnover": _num(_get(expo, "turnover")),
        "turnover_annualized": _num(_get(expo, "turnover_annualized")),
        "traded_value": _num(_get(expo, "traded_value")),
        "sqn": _num(_get(sqn, "sqn")),
    }


_CLOSES_SOURCE = (
    "closes of the benchmark feed from its first bar in the run (BenchmarkRelative): "
    "no orders, no costs"
)


def _benchmark_section(strategy, name: str | None) -> tuple[dict, dict]:
    b = _analysis(strategy, "benchmark")
    total = _num(_get(b, "benchmark_return"))
    n = int(_get(b, "n_periods", default=0) or 0)
    annual = (1.0 + total) ** (252.0 / n) - 1.0 if n > 0 and total > -1.0 else _NAN
    feed = _get(b, "benchmark_name", default="") or ""
    bench = {
        "name": name or (f"buy-and-hold {feed}" if feed else "buy-and-hold"),
        "feed": feed,
        "source": _CLOSES_SOURCE,
        "from_closes": True,
        "total_return": total,
        "annual_return": annual,
        "sharpe": _num(_get(b, "benchmark_sharpe")),
        "max_drawdown": _num(_get(b, "benchmark_max_drawdown")),
        "turnover": None,  # no orders: not a run
        "n_trades": None,
        "exposure": None,
    }
    relative = {
        "benchmark": bench["name"],
        "excess_return": _num(_get(b, "excess_return")),
        "beta": _num(_get(b, "beta")),
        "alpha": _num(_get(b, "alpha")),
        "information_ratio": _num(_get(b, "information_ratio")),
        "tracking_error": _num(_get(b, "tracking_error")),
        "correlation": _num(_get(b, "correlation")),
        "n_periods": n,
    }
    return bench, relative


def _target_params(config) -> dict:
    return {
        "horizon": int(_find(config, "horizon", 5)),
        "clip": _find(config, "clip", 0.2),
        "scale": float(_find(config, "scale", 10.0)),
    }


def _target(realised: np.ndarray, clip, scale: float) -> np.ndarray:
    from btlstm.features import target_from_return

    return target_from_return(realised, None if clip is None else float(clip), scale)


_QUALITY_KEYS = ("hit_rate", "ic", "rank_ic", "long_hit_rate", "mean_prediction", "mean_realised")


def _prediction(strategy, config, default_symbol: str) -> tuple[dict | None, pd.DataFrame, list]:
    """The ``prediction`` section, the predictions table and warnings."""
    pq = _analysis(strategy, "prediction")
    columns = TABLE_COLUMNS["predictions"]
    if pq is None:
        return None, pd.DataFrame(columns=columns), []
    warnings = []
    tp = _target_params(config)
    horizon = int(_get(pq, "horizon", default=tp["horizon"]))
    if horizon != tp["horizon"]:
        warnings.append(
            f"config horizon {tp['horizon']} differs from PredictionQuality horizon {horizon}; "
            f"realised returns and targets use {horizon}"
        )
    records = list(_get(pq, "records", default=[]) or [])
    pred = np.array([_num(r.get("prediction")) for r in records], dtype=float)
    real = np.array([_num(r.get("realised")) for r in records], dtype=float)
    target = _target(real, tp["clip"], tp["scale"])
    table = pd.DataFrame(
        {
            "date": pd.to_datetime([r.get("date") for r in records]),
            "symbol": [str(r.get("symbol") or default_symbol) for r in records],
            "prediction": pred,
            "realised_return": real,
            "realised_target": target,
        },
        columns=columns,
    )
    ok = np.isfinite(pred) & np.isfinite(target)
    err = pred[ok] - target[ok]
    per_asset = {str(k): dict(v) for k, v in (_get(pq, "per_asset", default={}) or {}).items()}
    per_date = {str(k): dict(v) for k, v in (_get(pq, "per_date", default={}) or {}).items()}
    section = {
        "count": int(_get(pq, "count", default=0) or 0),
        **{k: _num(_get(pq, k)) for k in _QUALITY_KEYS},
        "rmse_target": float(np.sqrt(np.mean(err**2))) if len(err) else _NAN,
        "mae_target": float(np.mean(np.abs(err))) if len(err) else _NAN,
        "n_bars": len(records),
        "n_finite_predictions": int(np.isfinite(pred).sum()),
        "n_assets": int(table["symbol"].nunique()),
        "horizon": horizon,
        "clip": tp["clip"],
        "scale": tp["scale"],
        "per_asset": per_asset,
        "per_date": per_date,
    }
    return section, table, warnings


def _significance(strategy) -> dict | None:
    """The ``significance`` section: the Significance analyzer's figures (not its series)."""
    sig = _analysis(strategy, "significance")
    if sig is None:
        return None
    return {k: v for k, v in dict(sig).items() if k != "series"}


def _run_returns(run: "RunData") -> pd.Series:
    """The strategy's daily returns, from the equity table and its start value."""
    from btlstm.significance import daily_returns

    report = run.report
    name = (report.get("comparison") or [{}])[0].get("name")
    equity = run.tables["equity"]
    values = pd.Series(
        pd.to_numeric(equity[name], errors="coerce").to_numpy(float),
        index=pd.DatetimeIndex(pd.to_datetime(equity["date"])).normalize(),
    ).dropna()
    return daily_returns(values, _num((report.get("strategy") or {}).get("start_value")))


def _baseline_returns(strategy) -> pd.Series:
    """A finished run's daily returns (BenchmarkRelative's values and start value)."""
    from btlstm.significance import daily_returns

    values, _ = _values(strategy)
    values.index = values.index.normalize()
    start = _num(_get(_analysis(strategy, "benchmark"), "start_value"))
    return daily_returns(values, start)


def _compare_significance(run: "RunData", strategy, name: str, replaces_closes: bool) -> None:
    """Add the ``vs`` entry of a baseline run to the report's significance section."""
    from btlstm import significance

    sig = run.report.get("significance")
    if not isinstance(sig, dict):
        return
    opts = sig.get("settings") or {}
    entry = significance.compare(
        _run_returns(run),
        _baseline_returns(strategy),
        name,
        periods=int(opts.get("periods") or significance.ANNUALIZATION),
        reps=int(opts.get("reps") or significance.BOOTSTRAP_REPS),
        seed=int(opts.get("seed") or 0),
        min_block=int(sig.get("horizon") or 1),
    )
    if replaces_closes:
        significance.drop_closes(sig)
    run.report["significance"] = to_jsonable(significance.add_vs(sig, entry))


def _trades(strategy, name: str) -> pd.DataFrame:
    """One row per finished order, from the ``orders`` analyzer (OrderLog)."""
    orders = list(_get(_analysis(strategy, "orders"), "orders", default=[]) or [])
    columns = list(TABLE_COLUMNS["trades"])
    for row in orders:
        columns += [k for k in row if k not in columns]
    frame = pd.DataFrame([{"strategy": name, **dict(row)} for row in orders], columns=columns)
    for col in ("created_date", "date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _weights(strategy) -> pd.DataFrame:
    rows = list(_get(_analysis(strategy, "weights"), "weights", default=[]) or [])
    frame = pd.DataFrame([dict(r) for r in rows], columns=TABLE_COLUMNS["weights"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["symbol"] = frame["symbol"].astype(str)
    frame["weight"] = frame["weight"].astype(float)
    return frame


def _values(strategy) -> tuple[pd.Series, pd.Series]:
    """Portfolio values and benchmark closes by date (BenchmarkRelative's daily series)."""
    s = _get(_analysis(strategy, "benchmark"), "series", default={}) or {}
    index = pd.DatetimeIndex(pd.to_datetime(list(s.get("dates", []))), name="date")
    values = pd.Series(np.asarray(s.get("values", []), dtype=float), index=index)
    closes = pd.Series(np.asarray(s.get("benchmark_closes", []), dtype=float), index=index)
    return values, closes


def _closes_equity(values: pd.Series, closes: pd.Series) -> pd.Series:
    """The benchmark's closes scaled to the portfolio value at its first bar."""
    bench = pd.Series(np.nan, index=values.index)
    started = np.flatnonzero(np.isfinite(closes.to_numpy()))
    if len(started):
        first = int(started[0])
        c = closes.to_numpy()
        bench.iloc[first:] = c[first:] / c[first] * values.iloc[first]
    return bench


def _is_synthetic(strategy, meta: Mapping) -> bool:
    flags = [meta.get("synthetic"), _get(meta.get("provenance") or {}, "synthetic")]
    for data in getattr(strategy, "datas", []):
        frame = getattr(getattr(data, "p", None), "dataname", None)
        attrs = getattr(frame, "attrs", None)
        if isinstance(attrs, Mapping):
            flags.append(attrs.get("synthetic"))
    return any(bool(f) for f in flags if f is not None)


def _describe(strategy) -> dict:
    """Class and parameters of a strategy (its declared params, not its state)."""
    return {
        "strategy_class": type(strategy).__name__,
        "strategy_params": to_jsonable({k: getattr(strategy.p, k) for k in strategy.p._getkeys()}),
    }


# ---------------------------------------------------------------------------
# notes
# ---------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------
# per-year returns, forecasts
# ---------------------------------------------------------------------------
def per_year_returns(equity: pd.DataFrame) -> dict:
    """Each calendar year's return of every run of an equity table.

    Args:
        equity: ``date`` plus one portfolio-value column per run (the equity table).

    Returns:
        ``{year: {run name: return}}`` (years as strings, returns as fractions;
        a run without values in a year is left out of it). A year's return is its
        last value over the previous year's last value (the first year: the run's
        first value) minus 1.

    Example:
        >>> eq = pd.DataFrame({"date": pd.to_datetime(["2020-01-02", "2020-12-31",
        ...                                            "2021-12-31"]), "a": [100.0, 110.0, 99.0]})
        >>> {y: round(v["a"], 4) for y, v in per_year_returns(eq).items()}
        {'2020': 0.1, '2021': -0.1}
    """
    if equity is None or not len(equity) or "date" not in equity.columns:
        return {}
    frame = equity.set_index(pd.to_datetime(equity["date"])).drop(columns=["date"]).sort_index()
    out: dict = {}
    for name in frame.columns:
        values = pd.to_numeric(frame[name], errors="coerce").dropna()
        if not len(values):
            continue
        ends = values.groupby(values.index.year).last()
        prev = values.iloc[0]
        for year, last in ends.items():
            if prev and math.isfinite(prev):
                out.setdefault(str(year), {})[str(name)] = float(last / prev - 1.0)
            prev = last
    return dict(sorted(out.items()))


def forecasts_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """``date, sector, forecast`` from a predictions table (the bars with a forecast).

    The rotation report's ``forecasts.csv``: each scored feed's forecast on each
    date (``prediction`` of the predictions table), NaN bars left out.
    """
    cols = TABLE_COLUMNS["forecasts"]
    if predictions is None or not len(predictions):
        return pd.DataFrame(columns=cols)
    p = predictions[np.isfinite(pd.to_numeric(predictions["prediction"], errors="coerce"))]
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(p["date"]).to_numpy(),
            "sector": p["symbol"].astype(str).to_numpy(),
            "forecast": p["prediction"].astype(float).to_numpy(),
        },
        columns=cols,
    )
    return out.sort_values(["date", "sector"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------
# collect / add_comparison
# ---------------------------------------------------------------------------
def collect(strategy, meta: Mapping | None = None, name: str = "strategy") -> RunData:
    """Collect a finished run's metrics, tables, config and provenance as plain data.

    Reads only the strategy's analyzers (plus its declared params and its feeds'
    ``synthetic`` flags), never attributes the strategy keeps for itself.

    Args:
        strategy: the finished strategy instance (``cerebro.run()[0]``) with
            :func:`btlstm.analyzers.add_standard_analyzers` attached
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
    _require_analyzers(strategy)
    config = dict(meta.get("config") or {})

    bench, relative = _benchmark_section(strategy, meta.get("benchmark_name"))
    datas = list(getattr(strategy, "datas", []))
    default_symbol = str(getattr(datas[0], "_name", "") or "") if datas else ""
    prediction, predictions, warnings = _prediction(
        strategy, config, default_symbol or bench["feed"]
    )
    values, closes = _values(strategy)
    dates = [d.to_pydatetime() for d in values.index]
    period = {
        "start": dates[0] if dates else None,
        "end": dates[-1] if dates else None,
        "bars": len(dates),
    }
    equity = pd.DataFrame({"date": values.index, name: values.to_numpy()})
    if name != bench["name"]:
        equity[bench["name"]] = _closes_equity(values, closes).to_numpy()

    import backtrader as bt

    run_facts = {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "backtrader": getattr(bt, "__version__", None),
        "numpy": np.__version__,
        **_describe(strategy),
        "baselines": [],
        **dict(meta.get("run") or {}),
    }
    report = {
        "title": str(meta.get("title") or f"{type(strategy).__name__} backtest"),
        "synthetic": _is_synthetic(strategy, meta),
        "strategy": _strategy_section(strategy, name),
        "benchmark": bench,
        "relative": relative,
        "comparison": [_summary_row(strategy, name)],
        "prediction": prediction,
        "significance": _significance(strategy),
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
    report = to_jsonable(report)
    report["notes"] = honest_notes(report)
    tables = {
        "predictions": predictions,
        "trades": _trades(strategy, name),
        "equity": equity,
        "weights": _weights(strategy),
    }
    return RunData(report=report, tables=tables)


def add_comparison(run: RunData, strategy, name: str, benchmark: bool | None = None) -> None:
    """Append a baseline run (same feeds, broker and costs) to ``run``, in place.

    Adds its :func:`btlstm.analyzers.summary_row` to ``report['comparison']``,
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
    _require_analyzers(strategy, who=f"baseline {name!r}")
    row = to_jsonable(_summary_row(strategy, name))
    rows.append(row)

    values, _ = _values(strategy)
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

    trades = _trades(strategy, name)
    if len(trades):
        old = run.tables["trades"]
        run.tables["trades"] = pd.concat([old, trades], ignore_index=True) if len(old) else trades
    report.setdefault("run", {}).setdefault("baselines", []).append(
        {"name": name, **_describe(strategy)}
    )
    _compare_significance(run, strategy, name, replaces_closes)
    report["per_year"] = to_jsonable(per_year_returns(run.tables["equity"]))
    report["notes"] = honest_notes(report)


def build_report(strategy, meta: Mapping | None = None, benchmark_name: str | None = None) -> dict:
    """``collect(strategy, meta).report``: the report dict alone (kept for old callers)."""
    meta = {} if meta is None else meta
    if benchmark_name is not None and isinstance(meta, Mapping):
        meta = {**meta, "benchmark_name": benchmark_name}
    return collect(strategy, meta).report
