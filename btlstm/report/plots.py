"""PNG plots of a report, drawn on Agg ``Figure`` objects (no display needed)."""

from __future__ import annotations

import io

import numpy as np

from btlstm.report.table import _f


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
