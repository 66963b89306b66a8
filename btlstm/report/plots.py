"""PNG plots of a report, drawn on Agg ``Figure`` objects (no display needed).

Every function takes plain data (a :class:`~btlstm.report.collect.RunData`) and
returns PNG bytes; :func:`render_plots` draws all that apply:

- ``equity.png``: one curve per run (equity table columns);
- ``drawdown.png``: drawdown from the running peak of each curve;
- ``predictions.png``: one asset: predictions and realised targets over time;
  many assets: the daily cross-sectional IC (20-day mean); both with a scatter
  of prediction vs realised target;
- ``weights.png``: weights over time, stacked, the ``top`` largest symbols by
  mean weight plus ``other`` (cash is the gap to 100%);
- ``latency.png`` (paper runs, ``btlstm.live``): each bar's latency from its
  publication to the strategy's orders, with the bars where a fit was handed
  to the fitter and where a new model became active.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from btlstm import metrics
from btlstm.report.table import _f

__all__ = [
    "render_plots",
    "plot_equity",
    "plot_drawdown",
    "plot_predictions",
    "plot_weights",
    "plot_latency",
]

_SCATTER_MAX = 5000  # points in the prediction scatter (evenly thinned beyond)
_BASELINE_COLORS = ("tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:olive", "tab:cyan")


def _figure(width: float = 10.0, height: float = 4.5):
    # An Agg canvas of its own: no pyplot, no display, and the process-wide backend
    # (a notebook's inline one, say) is left alone; btlstm.plotting.headless() is for
    # cerebro.plot, which goes through pyplot.
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


def _curves(run) -> tuple[pd.Series, list[tuple[str, np.ndarray]]]:
    equity = run.tables["equity"]
    dates = pd.to_datetime(equity["date"])
    names = [c for c in equity.columns if c != "date"]
    return dates, [(n, equity[n].to_numpy(dtype=float)) for n in names]


def _is_closes(run, name: str) -> bool:
    b = run.report.get("benchmark") or {}
    return bool(b.get("from_closes", True)) and name == b.get("name")


def _label(run, name: str) -> str:
    return f"{name} (closes, no costs)" if _is_closes(run, name) else name


def _colors(run, names: list[str]) -> list:
    """The strategy blue, the closes benchmark grey, baselines from a fixed cycle."""
    out, k = [], 0
    for i, name in enumerate(names):
        if i == 0:
            out.append("tab:blue")
        elif _is_closes(run, name):
            out.append("0.45")
        else:
            out.append(_BASELINE_COLORS[k % len(_BASELINE_COLORS)])
            k += 1
    return out


def plot_equity(run) -> bytes:
    """Portfolio value of every run over time."""
    fig = _figure()
    ax = fig.add_subplot(1, 1, 1)
    dates, curves = _curves(run)
    colors = _colors(run, [name for name, _ in curves])
    for i, (name, values) in enumerate(curves):
        ax.plot(dates, values, label=_label(run, name), color=colors[i], lw=1.4 if i == 0 else 1.0)
    ax.set_ylabel("portfolio value")
    from matplotlib.ticker import StrMethodFormatter

    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    r = run.report
    _suptitle(fig, f"{r.get('title')}: equity", bool(r.get("synthetic")))
    fig.autofmt_xdate()
    return _png(fig)


def plot_drawdown(run) -> bytes:
    """Drawdown from the running peak of every run (the first one filled)."""
    fig = _figure(10.0, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    dates, curves = _curves(run)
    colors = _colors(run, [name for name, _ in curves])
    for i, (name, values) in enumerate(curves):
        dd = -metrics.drawdown(values) * 100.0
        if i == 0:
            ax.fill_between(dates, dd, 0.0, color="tab:red", alpha=0.35, label=name)
        else:
            ax.plot(dates, dd, color=colors[i], lw=1.0, label=_label(run, name))
    ax.set_ylabel("drawdown (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    _suptitle(fig, "drawdown from running peak", bool(run.report.get("synthetic")))
    fig.autofmt_xdate()
    return _png(fig)


def _daily_ic(pred: pd.DataFrame) -> pd.Series:
    wide_p = pred.pivot_table(index="date", columns="symbol", values="prediction")
    wide_t = pred.pivot_table(index="date", columns="symbol", values="realised_return")
    return metrics.cross_sectional_ic(wide_p, wide_t)


def plot_predictions(run) -> bytes:
    """Predictions vs realised targets (one asset) or the daily cross-sectional IC."""
    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot(1, 3, (1, 2))
    sc = fig.add_subplot(1, 3, 3)
    fig.subplots_adjust(wspace=0.45)
    pred = run.tables["predictions"]
    dates = pd.to_datetime(pred["date"])
    p = pred["prediction"].to_numpy(dtype=float)
    t = pred["realised_target"].to_numpy(dtype=float)
    many = pred["symbol"].nunique() > 1
    if len(pred) and many:
        ic = _daily_ic(pred)
        ax.plot(ic.index, ic.to_numpy(), color="0.75", lw=0.6, label="daily IC")
        ax.plot(
            ic.index,
            ic.rolling(20, min_periods=5).mean(),
            color="tab:blue",
            lw=1.2,
            label="20-day mean",
        )
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylabel(f"IC across {pred['symbol'].nunique()} assets")
        ax.legend(loc="best", fontsize=8)
    elif len(pred):
        ax.plot(dates, t, color="0.6", lw=0.8, label="realised target")
        ax.plot(dates, p, color="tab:blue", lw=1.0, label="prediction")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylabel("scaled forward return")
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no predictions recorded", ha="center", va="center")
    ok = np.flatnonzero(np.isfinite(p) & np.isfinite(t))
    if len(ok) > _SCATTER_MAX:
        ok = ok[np.linspace(0, len(ok) - 1, _SCATTER_MAX).astype(int)]
    sc.scatter(p[ok], t[ok], s=6, alpha=0.4 if many else 0.5, color="tab:blue")
    sc.axhline(0.0, color="k", lw=0.5)
    sc.axvline(0.0, color="k", lw=0.5)
    ax.grid(alpha=0.3)
    sc.set_xlabel("prediction")
    sc.set_ylabel("realised target")
    sc.grid(alpha=0.3)
    q = run.report.get("prediction") or {}
    _suptitle(
        fig,
        f"predictions vs realised (h={q.get('horizon')}, pooled IC {_f(q.get('ic'))})",
        bool(run.report.get("synthetic")),
    )
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
    return _png(fig)


def weights_wide(weights: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Weights as dates x symbols: the ``top`` symbols by mean weight, the rest
    summed as ``other``; ``cash`` left out; 0 where a symbol has no position."""
    w = weights[weights["symbol"] != "cash"]
    if w.empty:
        return pd.DataFrame()
    wide = w.pivot_table(index="date", columns="symbol", values="weight", aggfunc="sum")
    wide = wide.fillna(0.0).sort_index()
    order = wide.mean().sort_values(ascending=False).index
    keep = list(order[:top])
    out = wide[keep]
    if len(order) > top:
        out = out.assign(other=wide[list(order[top:])].sum(axis=1))
    out.index = pd.to_datetime(out.index)
    return out


def plot_weights(run, top: int = 10) -> bytes:
    """Weights over time, stacked: top ``top`` symbols plus ``other``."""
    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    wide = weights_wide(run.tables["weights"], top=top)
    if wide.empty:
        ax.text(0.5, 0.5, "no positions", ha="center", va="center")
    else:
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
        colors = [cmap(i % 20) for i in range(wide.shape[1])]
        if "other" in wide.columns:
            colors[-1] = (0.8, 0.8, 0.8, 1.0)
        ax.stackplot(wide.index, (wide.to_numpy() * 100.0).T, labels=wide.columns, colors=colors)
        ax.set_ylim(0, max(100.0, float(wide.sum(axis=1).max()) * 100.0 * 1.02))
        ax.set_xlim(wide.index[0], wide.index[-1])
        handles, labels = ax.get_legend_handles_labels()  # top of the stack first
        ax.legend(
            handles[::-1],
            labels[::-1],
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize=8,
            frameon=False,
        )
    ax.set_ylabel("weight (% of portfolio)")
    ax.grid(alpha=0.3)
    name = (run.report.get("strategy") or {}).get("name") or "strategy"
    _suptitle(
        fig, f"{name}: weights over time (cash = gap to 100%)", bool(run.report.get("synthetic"))
    )
    fig.autofmt_xdate()
    return _png(fig)


def plot_latency(run) -> bytes:
    """Latency per bar of a paper run (``report["live"]["series"]``), log scale."""
    live = run.report["live"]
    series = live["series"]
    bars = np.asarray(series["bar"], dtype=float)
    ms = np.asarray([np.nan if v is None else v for v in series["latency_ms"]], dtype=float)
    fig = _figure(10.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(bars, ms, lw=0.8, color="tab:blue", label="latency per bar (publication to orders)")
    for i, b in enumerate(series.get("fits") or []):
        ax.axvline(
            b, color="tab:red", ls=":", lw=1.2, label="fit handed to the fitter" if not i else None
        )
    for i, b in enumerate(series.get("swaps") or []):
        ax.axvline(
            b, color="tab:green", ls="--", lw=1.0, label="new model active" if not i else None
        )
    if np.isfinite(ms).any() and np.nanmin(ms) > 0:
        ax.set_yscale("log")
    ax.set_xlabel("bar")
    ax.set_ylabel("ms")
    lat = live.get("latency") or {}
    text = ""
    if lat.get("bars"):
        text = f": median {lat['median_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms"
    _suptitle(fig, f"Paper run, latency per bar{text} (fits: {live.get('fits')})",
              bool(run.report.get("synthetic")))  # fmt: skip
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def render_plots(run) -> dict[str, bytes]:
    """Every plot that applies to ``run``: ``{file name: PNG bytes}``."""
    images = {"equity.png": plot_equity(run), "drawdown.png": plot_drawdown(run)}
    if run.report.get("prediction") is not None:
        images["predictions.png"] = plot_predictions(run)
    w = run.tables["weights"]
    if len(w) and (w["symbol"] != "cash").any():
        images["weights.png"] = plot_weights(run)
    if (run.report.get("live") or {}).get("series"):
        images["latency.png"] = plot_latency(run)
    return images
