"""From a finished Backtrader run to an honest, readable report.

:func:`build_report` collects the numbers of a finished strategy (``cerebro.run()[0]``
with :func:`btlstm.analyzers.add_standard_analyzers` attached) into one plain-JSON
dict; :func:`format_table` prints it as a concise terminal table;
:func:`write_report` writes ``report.json``, ``predictions.csv``, ``trades.csv``,
``equity.csv``, PNG plots (equity vs benchmark, drawdown, predictions vs realised)
and one self-contained ``report.html`` (inline CSS, images as base64 data URIs, no
external reference). Everything works headless: figures are drawn on
``matplotlib.figure.Figure`` objects with the Agg canvas, never through pyplot's
interactive backends.

Where the numbers come from (also written into the report's ``definitions``):

- strategy total / annual return: Backtrader's ``Returns`` analyzer
  (``exp(rtot) - 1`` and ``rnorm``);
- Sharpe: Backtrader's ``SharpeRatio`` analyzer (daily returns, annualised with
  sqrt(252), risk-free rate as configured in ``add_standard_analyzers``, 0 by default);
- max drawdown: Backtrader's ``DrawDown`` analyzer (``max.drawdown / 100``, length in bars);
- benchmark and relative statistics: :class:`btlstm.analyzers.BenchmarkRelative`
  (buy-and-hold of the benchmark feed, by default the traded asset itself).

The same run twice gives identical ``strategy``, ``benchmark``, ``relative`` and
``prediction`` sections: wall-clock facts go to the separate ``run`` section only.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["DEFINITIONS", "build_report", "to_jsonable"]

_NAN = float("nan")

DEFINITIONS = {
    "total_return": "final portfolio value / starting value - 1; strategy: exp(rtot) - 1 "
    "from Backtrader's Returns analyzer; benchmark: last close / first close - 1",
    "annual_return": "strategy: Backtrader Returns 'rnorm' = exp(mean daily log return x 252) "
    "- 1; benchmark: (1 + total_return) ** (252 / daily returns) - 1",
    "sharpe": "daily returns, annualised with sqrt(252); strategy: Backtrader SharpeRatio "
    "(risk-free rate = costs/config 'riskfree', 0 unless configured); benchmark: "
    "BenchmarkRelative, risk-free 0, population std",
    "max_drawdown": "largest peak-to-trough fall as a positive fraction (0.25 = -25%); "
    "strategy: Backtrader DrawDown analyzer max.drawdown / 100 (portfolio value); "
    "benchmark: on its closes",
    "max_drawdown_len": "bars of the longest drawdown (Backtrader DrawDown max.len)",
    "exposure": "share of bars closing with an open position (btlstm Exposure)",
    "turnover": "total traded value (both sides) / mean portfolio value over the run",
    "win_rate": "closed trades with net pnl > 0 / closed trades (Backtrader TradeAnalyzer)",
    "relative": "BenchmarkRelative on daily returns: beta = cov/var, alpha annualised "
    "(CAPM, rf 0), tracking error and information ratio annualised with 252",
    "prediction": "PredictionQuality: prediction at bar t vs realised forward return "
    "close[t+h]/close[t]-1 (h = horizon); hit_rate = sign agreement, ic = Pearson, "
    "rank_ic = Spearman; rmse/mae against realised_target = clip(return, +-clip) * scale",
    "benchmark": "buy-and-hold of the benchmark feed (the traded asset unless another "
    "feed was given), from its first close in the run to its last",
}
"""What each reported number means and which analyzer produced it."""


# ---------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------
def to_jsonable(obj):
    """Convert ``obj`` to plain JSON types; NaN and infinities become ``None``.

    Args:
        obj: nested dicts / lists / tuples of numbers, strings, numpy scalars or
            arrays, dates, datetimes, ``Path`` objects, Backtrader ``AutoOrderedDict``.

    Returns:
        The same structure with only ``dict``, ``list``, ``str``, ``int``,
        ``float`` (finite), ``bool`` and ``None``. Dict keys become strings;
        dates become ISO strings.

    Example:
        >>> to_jsonable({"a": float("nan"), "b": np.float64(1.5)})
        {'a': None, 'b': 1.5}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, (_dt.datetime, _dt.date)):
        if isinstance(obj, _dt.datetime) and obj.time() == _dt.time(0):
            return obj.date().isoformat()
        return obj.isoformat()
    if hasattr(obj, "isoformat") and callable(obj.isoformat):  # pandas Timestamp
        return to_jsonable(obj.to_pydatetime()) if hasattr(obj, "to_pydatetime") else str(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return [to_jsonable(x) for x in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, pd.DataFrame):  # e.g. an indicator's history= frame: describe, don't dump
        span = f" {obj.index[0]}..{obj.index[-1]}" if len(obj) else ""
        return f"<DataFrame {len(obj)} rows{span}>"
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if hasattr(obj, "to_dict") and callable(obj.to_dict):  # e.g. WalkForwardConfig
        try:
            return to_jsonable(obj.to_dict())
        except Exception:  # noqa: BLE001 - fall back to the repr
            pass
    return str(obj)


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


# ---------------------------------------------------------------------------
# build_report
# ---------------------------------------------------------------------------
def _require_analyzers(strategy) -> None:
    names = ("returns", "drawdown", "sharpe", "trades", "benchmark", "exposure")
    analyzers = getattr(strategy, "analyzers", None)
    missing = [n for n in names if getattr(analyzers, n, None) is None]
    if missing:
        raise ValueError(
            f"strategy: {type(strategy).__name__} lacks the analyzers {missing}; "
            "call btlstm.analyzers.add_standard_analyzers(cerebro, ...) before cerebro.run()"
        )


def _strategy_section(strategy) -> dict:
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
        "start_value": _num(_get(bench, "start_value")),
        "final_value": _num(strategy.broker.getvalue()),
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
        "exposure": _num(_get(expo, "exposure")),
        "avg_gross_exposure": _num(_get(expo, "avg_gross_exposure")),
        "turnover": _num(_get(expo, "turnover")),
        "turnover_annualized": _num(_get(expo, "turnover_annualized")),
        "traded_value": _num(_get(expo, "traded_value")),
        "sqn": _num(_get(sqn, "sqn")),
    }


def _benchmark_section(strategy, name: str | None) -> tuple[dict, dict]:
    b = _analysis(strategy, "benchmark")
    total = _num(_get(b, "benchmark_return"))
    n = int(_get(b, "n_periods", default=0) or 0)
    annual = (1.0 + total) ** (252.0 / n) - 1.0 if n > 0 and total > -1.0 else _NAN
    feed = _get(b, "benchmark_name", default="") or ""
    bench = {
        "name": name or (f"buy-and-hold {feed}" if feed else "buy-and-hold"),
        "feed": feed,
        "total_return": total,
        "annual_return": annual,
        "sharpe": _num(_get(b, "benchmark_sharpe")),
        "max_drawdown": _num(_get(b, "benchmark_max_drawdown")),
    }
    relative = {
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
    r = np.asarray(realised, dtype=float)
    if clip is not None:
        r = np.clip(r, -float(clip), float(clip))
    return r * scale


def _prediction_section(strategy, config) -> tuple[dict | None, list[str]]:
    pq = _analysis(strategy, "prediction")
    if pq is None:
        return None, []
    notes = []
    tp = _target_params(config)
    horizon = int(_get(pq, "horizon", default=tp["horizon"]))
    if horizon != tp["horizon"]:
        notes.append(
            f"config horizon {tp['horizon']} differs from PredictionQuality horizon {horizon}; "
            f"realised returns and targets use {horizon}"
        )
    records = list(_get(pq, "records", default=[]) or [])
    pred = np.array([_num(r["prediction"]) for r in records], dtype=float)
    real = np.array([_num(r["realised"]) for r in records], dtype=float)
    target = _target(real, tp["clip"], tp["scale"])
    ok = np.isfinite(pred) & np.isfinite(target)
    err = pred[ok] - target[ok]
    section = {
        k: _num(_get(pq, k))
        for k in (
            "hit_rate",
            "ic",
            "rank_ic",
            "long_hit_rate",
            "mean_prediction",
            "mean_realised",
        )
    }
    section = {
        "count": int(_get(pq, "count", default=0) or 0),
        **section,
        "rmse_target": float(np.sqrt(np.mean(err**2))) if len(err) else _NAN,
        "mae_target": float(np.mean(np.abs(err))) if len(err) else _NAN,
        "n_bars": len(records),
        "n_finite_predictions": int(np.isfinite(pred).sum()),
        "horizon": horizon,
        "clip": tp["clip"],
        "scale": tp["scale"],
    }
    return section, notes


def _is_synthetic(strategy, meta: Mapping) -> bool:
    flags = [meta.get("synthetic"), _get(meta.get("provenance") or {}, "synthetic")]
    for data in getattr(strategy, "datas", []):
        frame = getattr(getattr(data, "p", None), "dataname", None)
        attrs = getattr(frame, "attrs", None)
        if isinstance(attrs, Mapping):
            flags.append(attrs.get("synthetic"))
    return any(bool(f) for f in flags if f is not None)


def build_report(strategy, meta: Mapping | None = None, benchmark_name: str | None = None) -> dict:
    """Collect a finished run's metrics, config and provenance into a plain-JSON dict.

    Args:
        strategy: the finished strategy instance (``cerebro.run()[0]``) with
            :func:`btlstm.analyzers.add_standard_analyzers` attached (``prediction``
            is optional; without it the ``prediction`` section is ``None``).
        meta: a dict with optional keys ``title`` (str), ``config`` (plain dict of
            data / model / walk-forward / cost settings; ``horizon``, ``clip``,
            ``scale`` are looked up in it, at any depth, for the realised target),
            ``provenance`` (dataset, sources, symbol, dates, rows, ``synthetic``,
            repair notes), ``costs`` (e.g. ``btlstm.broker.INDEX_COSTS``),
            ``synthetic`` (bool) and ``run`` (extra facts for the ``run`` section).
        benchmark_name: display name of the benchmark (default
            ``"buy-and-hold <feed name>"``).

    Returns:
        A dict with keys ``title``, ``synthetic``, ``strategy``, ``benchmark``,
        ``relative``, ``prediction`` (or None), ``period`` (``start``, ``end``,
        ``bars``), ``config``, ``provenance``, ``costs``, ``definitions``,
        ``notes`` (list of str) and ``run`` (creation time, versions). Every value
        is plain JSON; NaN is ``None``; floats are not rounded. ``synthetic`` is
        True if ``meta``, its provenance or any feed's ``frame.attrs`` says so.

    Raises:
        ValueError: a standard analyzer is missing.

    Example:
        >>> strat = cerebro.run()[0]
        >>> report = build_report(strat, {"title": "CSI 300 hold-5", "config": cfg})
        >>> print(format_table(report))
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"`meta` must be a dict, got {type(meta).__name__}: {meta!r}")
    _require_analyzers(strategy)
    config = dict(meta.get("config") or {})

    strat = _strategy_section(strategy)
    bench, relative = _benchmark_section(strategy, benchmark_name)
    prediction, notes = _prediction_section(strategy, config)

    series = _get(_analysis(strategy, "benchmark"), "series", default={}) or {}
    dates = list(series.get("dates", []))
    period = {
        "start": dates[0] if dates else None,
        "end": dates[-1] if dates else None,
        "bars": len(dates),
    }

    tr, btr = strat["total_return"], bench["total_return"]
    if math.isfinite(tr) and math.isfinite(btr) and tr <= btr:
        notes.append(
            f"The strategy did not beat buy-and-hold: total return {tr:.2%} vs {btr:.2%} "
            f"({bench['name']})."
        )
    if strat["n_trades"] < 10:
        notes.append(
            f"Only {strat['n_trades']} closed trades: the statistics carry little evidence."
        )
    synthetic = _is_synthetic(strategy, meta)
    if synthetic:
        notes.insert(0, "SYNTHETIC DATA: these numbers say nothing about any real market.")

    import backtrader as bt

    run = {
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "python": platform.python_version(),
        "backtrader": getattr(bt, "__version__", None),
        "numpy": np.__version__,
        "strategy_class": type(strategy).__name__,
        "strategy_params": {k: getattr(strategy.p, k) for k in strategy.p._getkeys()},
        **dict(meta.get("run") or {}),
    }
    report = {
        "title": str(meta.get("title") or f"{type(strategy).__name__} backtest"),
        "synthetic": synthetic,
        "strategy": strat,
        "benchmark": bench,
        "relative": relative,
        "prediction": prediction,
        "period": period,
        "config": config,
        "provenance": dict(meta.get("provenance") or {}),
        "costs": dict(meta.get("costs") or {}),
        "definitions": dict(DEFINITIONS),
        "notes": notes,
        "run": run,
    }
    return to_jsonable(report)


def _prediction_rows(strategy, report) -> tuple[list[str], list[list]]:
    header = ["date", "prediction", "realised_return", "realised_target"]
    pq = _analysis(strategy, "prediction")
    if pq is None:
        return header, []
    p = report.get("prediction") or {}
    clip = p.get("clip", 0.2)
    scale = float(p.get("scale", 10.0))
    records = list(_get(pq, "records", default=[]) or [])
    real = np.array([_num(r["realised"]) for r in records], dtype=float)
    target = _target(real, clip, scale)
    rows = [
        [r["date"], _num(r["prediction"]), float(x), float(t)]
        for r, x, t in zip(records, real, target, strict=True)
    ]
    return header, rows


_TRADE_COLUMNS = [
    "created_date",
    "created_bar",
    "created_size",
    "date",
    "bar",
    "side",
    "size",
    "price",
    "value",
    "commission",
    "status",
    "reason",
]


def _trade_rows(strategy) -> tuple[list[str], list[list]]:
    log = list(getattr(strategy, "trades_log", None) or [])
    header = list(_TRADE_COLUMNS)
    for row in log:
        header += [k for k in row if k not in header]
    return header, [[row.get(k) for k in header] for row in log]


def _series(strategy) -> dict:
    s = _get(_analysis(strategy, "benchmark"), "series", default={}) or {}
    dates = list(s.get("dates", []))
    values = np.asarray(s.get("values", []), dtype=float)
    closes = np.asarray(s.get("benchmark_closes", []), dtype=float)
    bench = np.full(len(values), np.nan)
    started = np.flatnonzero(np.isfinite(closes))
    if len(started):
        first = int(started[0])
        # the benchmark equity starts at the portfolio value of that bar
        bench[first:] = closes[first:] / closes[first] * values[first]
    return {"dates": dates, "values": values, "benchmark": bench}
