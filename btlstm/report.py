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

import base64
import csv
import datetime as _dt
import html
import io
import json
import math
import platform
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "DEFINITIONS",
    "build_report",
    "format_table",
    "write_report",
    "load_report",
    "to_jsonable",
]

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


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def _atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder + ``os.replace``."""
    from btlstm.data.cache import atomic_write_bytes

    return atomic_write_bytes(path, data)


def _csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow(["" if _isnan(v) else _cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def _isnan(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v)))


def _cell(v):
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # shortest exact round-trip representation
    if isinstance(v, (_dt.datetime, _dt.date)):
        return to_jsonable(v)
    return v


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


def _drawdown(x: np.ndarray) -> np.ndarray:
    out = np.full(len(x), np.nan)
    ok = np.isfinite(x)
    if ok.any():
        peak = np.fmax.accumulate(np.where(ok, x, np.nan))
        out[ok] = x[ok] / peak[ok] - 1.0
    return out


def _figure(width: float = 10.0, height: float = 4.5):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def _suptitle(fig, text: str, synthetic: bool) -> None:
    fig.suptitle(("[SYNTHETIC DATA] " if synthetic else "") + text, fontsize=11)


def _plot_equity(series, report) -> bytes:
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    d = series["dates"]
    ax.plot(d, series["values"], label="strategy", color="tab:blue", lw=1.2)
    ax.plot(d, series["benchmark"], label=report["benchmark"]["name"], color="0.45", lw=1.0)
    ax.set_ylabel("portfolio value")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    _suptitle(fig, f"{report['title']}: equity vs benchmark", report["synthetic"])
    fig.autofmt_xdate()
    return _png(fig)


def _plot_drawdown(series, report) -> bytes:
    fig = _figure(10.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    d = series["dates"]
    dd_s = _drawdown(series["values"]) * 100.0
    dd_b = _drawdown(series["benchmark"]) * 100.0
    ax.fill_between(d, dd_s, 0.0, color="tab:red", alpha=0.35, label="strategy")
    ax.plot(d, dd_b, color="0.45", lw=1.0, label=report["benchmark"]["name"])
    ax.set_ylabel("drawdown (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    _suptitle(fig, "drawdown from running peak", report["synthetic"])
    fig.autofmt_xdate()
    return _png(fig)


def _plot_predictions(header, rows, report) -> bytes:
    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot(1, 3, (1, 2))
    sc = fig.add_subplot(1, 3, 3)
    if rows:
        dates = [r[0] for r in rows]
        pred = np.array([r[1] for r in rows], dtype=float)
        target = np.array([r[3] for r in rows], dtype=float)
        ax.plot(dates, target, color="0.6", lw=0.8, label="realised target")
        ax.plot(dates, pred, color="tab:blue", lw=1.0, label="prediction")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.legend(loc="best", fontsize=8)
        ok = np.isfinite(pred) & np.isfinite(target)
        sc.scatter(pred[ok], target[ok], s=6, alpha=0.5, color="tab:blue")
        sc.axhline(0.0, color="k", lw=0.5)
        sc.axvline(0.0, color="k", lw=0.5)
    else:
        ax.text(0.5, 0.5, "no predictions recorded", ha="center", va="center")
    ax.set_ylabel("scaled forward return")
    ax.grid(alpha=0.3)
    sc.set_xlabel("prediction")
    sc.set_ylabel("realised target")
    sc.grid(alpha=0.3)
    p = report.get("prediction") or {}
    _suptitle(
        fig,
        f"predictions vs realised (h={p.get('horizon')}, IC {_f(p.get('ic'))})",
        report["synthetic"],
    )
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
    return _png(fig)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;
text-align:right}th{background:#f4f4f4}td.k,th.k{text-align:left}
.banner{background:#b00020;color:#fff;font-weight:bold;padding:.8em;text-align:center;
font-size:1.2em;letter-spacing:.05em}
.note{background:#fff6d6;border-left:4px solid #e0b000;padding:.5em .8em;margin:.4em 0}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def _fmt_cell(key: str, value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return html.escape(str(value))
    if isinstance(value, int):
        return f"{value:d}"
    pct = {
        "total_return",
        "annual_return",
        "max_drawdown",
        "win_rate",
        "exposure",
        "avg_gross_exposure",
        "excess_return",
        "alpha",
        "tracking_error",
        "hit_rate",
        "long_hit_rate",
    }
    if key in pct:
        return f"{value * 100:.2f}%"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.2f}"


def _kv_table(d: Mapping) -> str:
    rows = "".join(
        f"<tr><td class='k'>{html.escape(str(k))}</td><td>{_fmt_cell(k, v)}</td></tr>"
        for k, v in d.items()
        if not isinstance(v, (dict, list))
    )
    return f"<table>{rows}</table>"


def _side_by_side(report) -> str:
    s, b = report["strategy"], report["benchmark"]
    keys = ["total_return", "annual_return", "sharpe", "max_drawdown"]
    head = (
        f"<tr><th class='k'></th><th>strategy</th><th>{html.escape(str(b.get('name')))}</th></tr>"
    )
    rows = "".join(
        f"<tr><td class='k'>{k}</td><td>{_fmt_cell(k, s.get(k))}</td>"
        f"<td>{_fmt_cell(k, b.get(k))}</td></tr>"
        for k in keys
    )
    rows += (
        f"<tr><td class='k'>trades</td><td>{_fmt_cell('n', s.get('n_trades'))}</td><td>1</td></tr>"
        f"<tr><td class='k'>exposure</td><td>{_fmt_cell('exposure', s.get('exposure'))}</td>"
        "<td>100.00%</td></tr>"
    )
    return f"<table>{head}{rows}</table>"


def _html(report: Mapping, images: Mapping[str, bytes]) -> bytes:
    title = html.escape(str(report.get("title")))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
    ]
    banner = (
        "<div class='banner'>SYNTHETIC DATA &mdash; generated prices, not a real market; "
        "these results say nothing about real trading</div>"
    )
    if report.get("synthetic"):
        parts.append(banner)
    period = report.get("period") or {}
    parts.append(f"<h1>{title}</h1>")
    parts.append(
        f"<p>Period {html.escape(str(period.get('start')))} .. "
        f"{html.escape(str(period.get('end')))} ({period.get('bars')} bars).</p>"
    )
    for note in report.get("notes") or []:
        parts.append(f"<div class='note'>{html.escape(note)}</div>")
    parts.append("<h2>Strategy vs benchmark</h2>" + _side_by_side(report))
    for name, caption in (
        ("equity.png", "Equity vs benchmark"),
        ("drawdown.png", "Drawdown"),
    ):
        if name in images:
            b64 = base64.b64encode(images[name]).decode("ascii")
            parts.append(f"<img alt='{caption}' src='data:image/png;base64,{b64}'>")
    parts.append("<h2>Strategy metrics</h2>" + _kv_table(report["strategy"]))
    parts.append("<h2>Benchmark</h2>" + _kv_table(report["benchmark"]))
    parts.append("<h2>Relative to benchmark</h2>" + _kv_table(report["relative"]))
    parts.append("<h2>Prediction quality</h2>")
    if report.get("prediction"):
        parts.append(_kv_table(report["prediction"]))
        if "predictions.png" in images:
            b64 = base64.b64encode(images["predictions.png"]).decode("ascii")
            parts.append(f"<img alt='Predictions vs realised' src='data:image/png;base64,{b64}'>")
    else:
        parts.append("<p>Not scored (no PredictionQuality analyzer attached).</p>")
    for key, label in (
        ("config", "Configuration"),
        ("provenance", "Data provenance"),
        ("costs", "Costs"),
        ("definitions", "Definitions"),
        ("run", "Run"),
    ):
        text = json.dumps(report.get(key), indent=2, sort_keys=True, allow_nan=False)
        parts.append(f"<h2>{label}</h2><pre>{html.escape(text)}</pre>")
    if report.get("synthetic"):
        parts.append(banner)
    parts.append("</body></html>\n")
    return "".join(parts).encode("utf-8")


def write_report(report: Mapping, strategy, outdir, plots: bool = True) -> dict[str, Path]:
    """Write the report files of a finished run into ``outdir`` (created if needed).

    Files (each written atomically: temp file in ``outdir`` + ``os.replace``):

      - ``report.json``: ``report`` as JSON (NaN -> null, keys sorted, 2-space indent);
      - ``predictions.csv``: ``date, prediction, realised_return, realised_target``
        for every bar PredictionQuality recorded (``realised_return`` =
        ``close[t+h]/close[t]-1``, ``realised_target`` = ``clip(realised_return,
        +-clip) * scale`` with ``horizon/clip/scale`` from the report, defaults
        5 / 0.2 / 10; empty cells for NaN); header only without PredictionQuality;
      - ``trades.csv``: one row per entry of ``strategy.trades_log`` (header only
        when the strategy keeps none);
      - ``equity.csv``: ``date, value, benchmark_value`` (benchmark scaled to the
        portfolio value at its first bar);
      - with ``plots``: ``equity.png``, ``drawdown.png``, ``predictions.png``
        (Agg canvas, no display needed) and ``report.html``, one self-contained
        file with inline CSS and the PNGs as base64 data URIs. Without ``plots``
        the HTML is still written, without images.

    Args:
        report: the dict from :func:`build_report` for this ``strategy``.
        strategy: the finished strategy instance the report was built from.
        outdir: output folder (str or Path).
        plots: draw and embed the PNG plots.

    Returns:
        ``{file name: Path}`` of every file written.

    Example:
        >>> paths = write_report(report, strat, "runs/csi300")
        >>> sorted(paths)[:3]
        ['drawdown.png', 'equity.csv', 'equity.png']
    """
    if not isinstance(report, Mapping) or "strategy" not in report:
        raise ValueError(
            f"`report` must be a dict from build_report(), got {type(report).__name__}"
        )
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    report = to_jsonable(report)
    written: dict[str, Path] = {}

    def put(name: str, data: bytes) -> None:
        written[name] = _atomic_write(outdir / name, data)

    text = json.dumps(report, indent=2, sort_keys=True, allow_nan=False) + "\n"
    put("report.json", text.encode("utf-8"))

    p_header, p_rows = _prediction_rows(strategy, report)
    put("predictions.csv", _csv_bytes(p_header, p_rows))
    t_header, t_rows = _trade_rows(strategy)
    put("trades.csv", _csv_bytes(t_header, t_rows))
    series = _series(strategy)
    put(
        "equity.csv",
        _csv_bytes(
            ["date", "value", "benchmark_value"],
            [
                [d, float(v), float(b)]
                for d, v, b in zip(
                    series["dates"], series["values"], series["benchmark"], strict=True
                )
            ],
        ),
    )

    images: dict[str, bytes] = {}
    if plots:
        images["equity.png"] = _plot_equity(series, report)
        images["drawdown.png"] = _plot_drawdown(series, report)
        if report.get("prediction") is not None:
            images["predictions.png"] = _plot_predictions(p_header, p_rows, report)
        for name, data in images.items():
            put(name, data)
    put("report.html", _html(report, images))
    return written


def load_report(path) -> dict:
    """Read a ``report.json`` written by :func:`write_report`.

    Args:
        path: the JSON file, or the folder that holds ``report.json``.

    Returns:
        The report dict (NaN values read back as ``None``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not valid JSON or not a report (no ``strategy`` key).

    Example:
        >>> load_report("runs/csi300")["strategy"]["sharpe"]
    """
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.is_file():
        raise FileNotFoundError(f"report: no such file {str(path)!r}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"report: {str(path)!r} is not valid JSON ({e})") from e
    if not isinstance(data, dict) or "strategy" not in data:
        raise ValueError(f"report: {str(path)!r} is not a btlstm report (no 'strategy' key)")
    return data
