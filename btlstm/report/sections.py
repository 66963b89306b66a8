"""Each section and table of a report, read from a finished strategy's analyzers.

One function per part of :class:`~btlstm.report.schema.RunData`: the
``strategy``, ``benchmark`` / ``relative``, ``prediction`` and
``significance`` sections, the predictions, trades, weights and equity
tables, and the parts derived from those tables (``per_year``, the
``forecasts`` table). They read the analyzers that
:func:`btlstm.bt.analyzers.add_standard_analyzers` attaches, by name (plus a
strategy's declared params and its feeds' ``synthetic`` flags), never what a
strategy keeps for itself; every statistic comes from the analyzers or from
:mod:`btlstm.metrics`. :mod:`btlstm.report.collect` assembles them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from btlstm import metrics
from btlstm.report.schema import SUMMARY_KEYS, TABLE_COLUMNS
from btlstm.summary import analysis, count, lookup, number, summary_row

__all__ = [
    "strategy_section",
    "benchmark_section",
    "annual_excess_return",
    "prediction_section",
    "significance_section",
    "trades_table",
    "weights_table",
    "run_values",
    "closes_equity",
    "run_returns",
    "baseline_returns",
    "is_synthetic",
    "describe",
    "per_year_returns",
    "forecasts_table",
    "trade_stats",
]

_NAN = float("nan")

_EXPOSURE_EXTRAS = ("avg_gross_exposure", "turnover_annualized", "traded_value")


def strategy_section(strategy, name: str) -> dict:
    """The ``strategy`` section: its comparison row plus what only a strategy has."""
    row = summary_row(strategy, name)
    dd = analysis(strategy, "drawdown")
    trades = analysis(strategy, "trades")
    bench = analysis(strategy, "benchmark")
    expo = analysis(strategy, "exposure")
    closed, won = row["n_trades"], count(trades, "won", "total")
    return {
        "name": name,
        "start_value": number(lookup(bench, "start_value")),
        "final_value": number(lookup(bench, "final_value")),
        **{k: row[k] for k in SUMMARY_KEYS if k != "name"},
        "max_drawdown_len": count(dd, "max", "len"),
        "max_moneydown": number(lookup(dd, "max", "moneydown")),
        "n_won": won,
        "n_lost": count(trades, "lost", "total"),
        "win_rate": won / closed if closed else _NAN,
        "pnl_net": number(lookup(trades, "pnl", "net", "total")),
        "n_margin": count(expo, "n_margin"),
        "n_expired": count(expo, "n_expired"),
        **{k: number(lookup(expo, k)) for k in _EXPOSURE_EXTRAS},
        "sqn": number(lookup(analysis(strategy, "sqn"), "sqn")),
        **trade_stats(trades),
    }


def trade_stats(trades) -> dict:
    """Round-trip trade figures from Backtrader's ``TradeAnalyzer``: net pnl of the
    average win and loss, their ratio (:func:`btlstm.metrics.payoff_ratio`), the best
    and worst trade, and the average holding period in bars (``len.average``)."""
    won, lost = count(trades, "won", "total"), count(trades, "lost", "total")
    avg_win = number(lookup(trades, "won", "pnl", "average")) if won else _NAN
    avg_loss = number(lookup(trades, "lost", "pnl", "average")) if lost else _NAN
    best = number(lookup(trades, "won", "pnl", "max")) if won else _NAN
    worst = number(lookup(trades, "lost", "pnl", "max")) if lost else _NAN  # bt: the lowest pnl
    closed = count(trades, "total", "closed")
    return {
        "avg_win": avg_win,
        "avg_loss": avg_loss,
        "payoff_ratio": metrics.payoff_ratio(avg_win, avg_loss),
        "best_trade": best,  # NaN without a win (TradeAnalyzer keeps no best loss)
        "worst_trade": worst,
        "avg_holding_bars": number(lookup(trades, "len", "average")) if closed else _NAN,
    }


_CLOSES_SOURCE = (
    "closes of the benchmark feed from its first bar in the run (BenchmarkRelative): "
    "no orders, no costs"
)

_RELATIVE_KEYS = (
    "excess_return",
    "beta",
    "alpha",
    "information_ratio",
    "tracking_error",
    "correlation",
)


def benchmark_section(strategy, name: str | None) -> tuple[dict, dict]:
    """The ``benchmark`` (buy-and-hold on the closes) and ``relative`` sections."""
    b = analysis(strategy, "benchmark")
    total = number(lookup(b, "benchmark_return"))
    n = count(b, "n_periods")
    feed = lookup(b, "benchmark_name", default="") or ""
    bench = {
        "name": name or (f"buy-and-hold {feed}" if feed else "buy-and-hold"),
        "feed": feed,
        "source": _CLOSES_SOURCE,
        "from_closes": True,
        "total_return": total,
        "annual_return": metrics.annual_return(total, n),
        "sharpe": number(lookup(b, "benchmark_sharpe")),
        "max_drawdown": number(lookup(b, "benchmark_max_drawdown")),
        "turnover": None,  # no orders: not a run
        "n_trades": None,
        "exposure": None,
    }
    relative = {
        "benchmark": bench["name"],
        **{k: number(lookup(b, k)) for k in _RELATIVE_KEYS},
        "n_periods": n,
    }
    # excess return per year, as significance.vs has it; the difference of the two
    # cumulative returns under its own name (it is not a rate: -328% over 8 years)
    relative["cumulative_return_difference"] = relative["excess_return"]
    relative["excess_return"] = annual_excess_return(lookup(b, "series", default=None))
    return bench, relative


def annual_excess_return(series, periods: int = 252) -> float:
    """``mean(r_strategy - r_benchmark) * periods``: the annual (arithmetic) excess return
    over the benchmark's closes, on the daily returns from the benchmark's first close
    (the BenchmarkRelative analyzer's ``series``); the formula of
    ``significance.vs[].excess_return``. NaN without a series.

    Example:
        >>> round(annual_excess_return({"values": [100.0, 101.0, 103.02],
        ...                             "benchmark_closes": [10.0, 10.0, 10.1]}, periods=1), 12)
        0.01
    """
    if not isinstance(series, Mapping):
        return _NAN
    v = np.asarray(series.get("values") or [], dtype=float)
    c = np.asarray(series.get("benchmark_closes") or [], dtype=float)
    if len(v) != len(c):
        return _NAN
    started = np.flatnonzero(np.isfinite(c))
    if not len(started):
        return _NAN
    v, c = v[started[0] :], c[started[0] :]
    d = metrics.daily_returns(v).to_numpy() - metrics.daily_returns(c).to_numpy()
    d = d[np.isfinite(d)]
    return float(d.mean() * periods) if len(d) else _NAN


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


def _target_params(config) -> dict:
    return {
        "horizon": int(_find(config, "horizon", 5)),
        "clip": _find(config, "clip", 0.2),
        "scale": float(_find(config, "scale", 10.0)),
        "target": _model_target(config),
    }


def _model_target(config) -> str:
    """``[model] target`` of ``config``: the first ``target`` key (breadth first) whose
    value is a target's name (a ``target`` dict of clip and scale is not); else ``return``."""
    from btlstm.forecast.features import TARGETS

    queue = [config] if isinstance(config, Mapping) else []
    while queue:
        cur = queue.pop(0)
        if isinstance(cur.get("target"), str) and cur["target"] in TARGETS:
            return cur["target"]
        queue.extend(v for v in cur.values() if isinstance(v, Mapping))
    return "return"


def _target(realised: np.ndarray, clip, scale: float, target: str = "return") -> np.ndarray:
    """The realised target of each realised return: the article's clipped, scaled return,
    ``sign``'s 0/1; NaN for ``vol_scaled`` and ``rank`` (they need the trailing volatility
    or the other symbols, not in the records: their rmse/mae are then NaN)."""
    from btlstm.forecast.features import target_from_return

    if target == "sign":
        return np.where(np.isnan(realised), np.nan, (realised > 0).astype(float))
    if target != "return":
        return np.full(len(realised), np.nan)
    return target_from_return(realised, None if clip is None else float(clip), scale)


_QUALITY_KEYS = ("hit_rate", "ic", "rank_ic", "long_hit_rate", "mean_prediction", "mean_realised")


def prediction_section(
    strategy, config, default_symbol: str
) -> tuple[dict | None, pd.DataFrame, list]:
    """The ``prediction`` section, the predictions table and warnings (PredictionQuality)."""
    pq = analysis(strategy, "prediction")
    columns = TABLE_COLUMNS["predictions"]
    if pq is None:
        return None, pd.DataFrame(columns=columns), []
    warnings = []
    tp = _target_params(config)
    horizon = int(lookup(pq, "horizon", default=tp["horizon"]))
    if horizon != tp["horizon"]:
        warnings.append(
            f"config horizon {tp['horizon']} differs from PredictionQuality horizon {horizon}; "
            f"realised returns and targets use {horizon}"
        )
    records = list(lookup(pq, "records", default=[]) or [])
    pred = np.array([number(r.get("prediction")) for r in records], dtype=float)
    real = np.array([number(r.get("realised")) for r in records], dtype=float)
    target = _target(real, tp["clip"], tp["scale"], tp["target"])
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
    per_asset = {str(k): dict(v) for k, v in (lookup(pq, "per_asset", default={}) or {}).items()}
    per_date = {str(k): dict(v) for k, v in (lookup(pq, "per_date", default={}) or {}).items()}
    section = {
        "count": count(pq, "count"),
        **{k: number(lookup(pq, k)) for k in _QUALITY_KEYS},
        # the mean prediction as a return (target units / scale), beside mean_realised
        # (a return only for the article's target; sign's is a probability, NaN here)
        "mean_prediction_return": number(lookup(pq, "mean_prediction")) / tp["scale"]
        if tp["scale"] and tp["target"] == "return"
        else _NAN,
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


def significance_section(strategy) -> dict | None:
    """The ``significance`` section: the Significance analyzer's figures (not its series)."""
    sig = analysis(strategy, "significance")
    if sig is None:
        return None
    return {k: v for k, v in dict(sig).items() if k != "series"}


def trades_table(strategy, name: str) -> pd.DataFrame:
    """One row per finished order, from the ``orders`` analyzer (OrderLog)."""
    orders = list(lookup(analysis(strategy, "orders"), "orders", default=[]) or [])
    columns = list(TABLE_COLUMNS["trades"])
    for row in orders:
        columns += [k for k in row if k not in columns]
    frame = pd.DataFrame([{"strategy": name, **dict(row)} for row in orders], columns=columns)
    for col in ("created_date", "date"):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def weights_table(strategy) -> pd.DataFrame:
    """``date, symbol, weight`` at every close, from the ``weights`` analyzer."""
    rows = list(lookup(analysis(strategy, "weights"), "weights", default=[]) or [])
    frame = pd.DataFrame([dict(r) for r in rows], columns=TABLE_COLUMNS["weights"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["symbol"] = frame["symbol"].astype(str)
    frame["weight"] = frame["weight"].astype(float)
    return frame


def run_values(strategy) -> tuple[pd.Series, pd.Series]:
    """Portfolio values and benchmark closes by date (BenchmarkRelative's daily series)."""
    s = lookup(analysis(strategy, "benchmark"), "series", default={}) or {}
    index = pd.DatetimeIndex(pd.to_datetime(list(s.get("dates", []))), name="date")
    value = pd.Series(np.asarray(s.get("values", []), dtype=float), index=index)
    closes = pd.Series(np.asarray(s.get("benchmark_closes", []), dtype=float), index=index)
    return value, closes


def closes_equity(value: pd.Series, closes: pd.Series) -> pd.Series:
    """The benchmark's closes scaled to the portfolio value at its first bar."""
    bench = pd.Series(np.nan, index=value.index)
    started = np.flatnonzero(np.isfinite(closes.to_numpy()))
    if len(started):
        first = int(started[0])
        c = closes.to_numpy()
        bench.iloc[first:] = c[first:] / c[first] * value.iloc[first]
    return bench


def run_returns(run) -> pd.Series:
    """The strategy's daily returns, from a RunData's equity table and its start value."""
    report, equity = run.report, run.tables["equity"]
    name = (report.get("comparison") or [{}])[0].get("name")
    value = pd.Series(
        pd.to_numeric(equity[name], errors="coerce").to_numpy(float),
        index=pd.DatetimeIndex(pd.to_datetime(equity["date"])).normalize(),
    ).dropna()
    return metrics.daily_returns(value, number((report.get("strategy") or {}).get("start_value")))


def baseline_returns(strategy) -> pd.Series:
    """A finished run's daily returns (BenchmarkRelative's values and start value)."""
    value, _ = run_values(strategy)
    value.index = value.index.normalize()
    start = number(lookup(analysis(strategy, "benchmark"), "start_value"))
    return metrics.daily_returns(value, start)


def is_synthetic(strategy, meta: Mapping) -> bool:
    """Whether ``meta`` or any of the strategy's feeds says the data are synthetic."""
    flags = [meta.get("synthetic"), lookup(meta.get("provenance") or {}, "synthetic")]
    for data in getattr(strategy, "datas", []):
        frame = getattr(getattr(data, "p", None), "dataname", None)
        attrs = getattr(frame, "attrs", None)
        if isinstance(attrs, Mapping):
            flags.append(attrs.get("synthetic"))
    return any(bool(f) for f in flags if f is not None)


def describe(strategy) -> dict:
    """Class and parameters of a strategy (its declared params, not its state), as plain
    JSON; a param without a plain value (a progress bar, a frame) is named by its type."""
    from btlstm.convert import to_jsonable
    from btlstm.report.tearsheet import clean_reprs

    return {
        "strategy_class": type(strategy).__name__,
        "strategy_params": clean_reprs(
            to_jsonable({k: getattr(strategy.p, k) for k in strategy.p._getkeys()})
        ),
    }


def per_year_returns(equity: pd.DataFrame) -> dict:
    """Each calendar year's return of every run of an equity table.

    Args:
        equity: ``date`` plus one portfolio-value column per run (the equity table).

    Returns:
        ``{year: {run name: return}}`` (years as strings, returns as fractions;
        a run without values in a year is left out of it). A year's return is its
        last value over the previous year's last value (the first year: the run's
        first value) minus 1 (:func:`btlstm.metrics.period_returns`).

    Example:
        >>> eq = pd.DataFrame({"date": pd.to_datetime(["2020-01-02", "2020-12-31",
        ...                                            "2021-12-31"]), "a": [100.0, 110.0, 99.0]})
        >>> {y: round(v["a"], 4) for y, v in per_year_returns(eq).items()}
        {'2020': 0.1, '2021': -0.1}
    """
    if equity is None or not len(equity) or "date" not in equity.columns:
        return {}
    frame = equity.set_index(pd.DatetimeIndex(pd.to_datetime(equity["date"])))
    out: dict = {}
    for name in frame.columns.drop("date"):
        for period, ret in metrics.period_returns(frame[name], "year").items():
            out.setdefault(str(period), {})[str(name)] = float(ret)
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
