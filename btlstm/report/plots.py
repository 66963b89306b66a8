"""PNG plots of a report, drawn on Agg ``Figure`` objects (no display needed).

Every function takes plain data (a :class:`~btlstm.report.collect.RunData`) and
returns PNG bytes; :func:`render_plots` draws all that apply:

- ``equity.png``: one curve per run (equity table columns), on a log axis when
  the run is long or its values span more than a factor 3 (:func:`log_scale`;
  every equity chart of btlstm, the ``--seeds`` overview's too, sets its axis
  with :func:`equity_axis`);
- ``drawdown.png``: drawdown from the running peak of each curve, the
  strategy's worst drawdown periods marked in a strip under the axes (the
  curves stay visible), the legend below;
- ``excess.png``: the strategy's cumulative excess return over each baseline,
  the growth of ``(1 + r_s) / (1 + r_b)`` minus 1
  (:func:`btlstm.metrics.excess_growth`);
- ``yearly.png``: each calendar year's return, strategy and baselines side by side;
- ``rolling.png``: rolling 6- and 12-month Sharpe, beta against the main
  baseline and annualised volatility;
- ``returns.png``: the distribution of daily returns, strategy and main baseline;
- ``predictions.png``: the IC over time (one asset: over the last 63 bars;
  many: the daily cross-sectional IC and its 63-day mean) and the mean
  realised return by prediction decile (calibration);
- ``weights.png``: weights on every bar, stacked, the ``top`` largest symbols
  by mean weight, ``other`` and cash (each bar sums to 100%); runs longer than
  :data:`MONTHLY_AFTER` bars: a symbol x month heatmap of the monthly mean weights;
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
    "plot_rolling",
    "plot_distribution",
    "plot_latency",
    "log_scale",
    "equity_axis",
    "plot_excess",
    "plot_yearly",
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


def log_scale(values: np.ndarray, dates) -> bool:
    """Whether an equity plot uses a log axis: the run spans more than
    :data:`LOG_YEARS` years or its values more than a factor :data:`LOG_SPAN`."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v) or v.min() <= 0:
        return False
    d = pd.to_datetime(pd.Index(dates))
    years = (d.max() - d.min()).days / 365.25 if len(d) else 0.0
    return years > LOG_YEARS or float(v.max() / v.min()) > LOG_SPAN


LOG_YEARS = 8.0
LOG_SPAN = 3.0


def equity_axis(ax, values, dates, label: str = "portfolio value") -> bool:
    """Set an equity chart's y axis by the one rule (:func:`log_scale` of every
    value drawn on it): a log axis with 1-2-5 ticks, or a linear one; money ticks,
    the y label saying which. Returns whether the axis is a log axis."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    log = log_scale(np.asarray(values, dtype=float), dates)
    money = FuncFormatter(lambda x, _: f"{x:,.0f}")
    if log:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(money)
    ax.set_ylabel(f"{label} (log scale)" if log else label)
    ax.grid(alpha=0.3, which="both" if log else "major")
    return log


def plot_equity(run) -> bytes:
    """Portfolio value of every run over time (log axis when :func:`log_scale`)."""
    fig = _figure(10.0, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    dates, curves = _curves(run)
    colors = _colors(run, [name for name, _ in curves])
    for i, (name, values) in enumerate(curves):
        ax.plot(dates, values, label=_label(run, name), color=colors[i], lw=1.4 if i == 0 else 1.0)
    allv = np.concatenate([v for _, v in curves]) if curves else np.array([])
    equity_axis(ax, allv, dates)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    r = run.report
    _suptitle(fig, f"{r.get('title')}: equity", bool(r.get("synthetic")))
    fig.autofmt_xdate()
    return _png(fig)


def plot_drawdown(run, shade: int = 5) -> bytes:
    """Drawdown from the running peak of every run (the first one filled), with the
    strategy's ``shade`` worst drawdown periods marked (numbered by rank, as the
    table of worst drawdowns) in a strip under the axes; the legend below."""
    from btlstm.report.tearsheet import curves as _frame
    from btlstm.report.tearsheet import strategy_name

    fig = _figure(10.0, 4.1)
    grid = fig.add_gridspec(2, 1, height_ratios=(12, 1), hspace=0.05)
    ax = fig.add_subplot(grid[0])
    strip = fig.add_subplot(grid[1], sharex=ax)
    dates, curves = _curves(run)
    colors = _colors(run, [name for name, _ in curves])
    values = _frame(run)[strategy_name(run)].dropna()
    for k, p in enumerate(metrics.drawdown_periods(values, top=shade)):
        # the worst periods in a strip of their own, so the curves stay visible
        end = p["end"] if p["end"] is not None else values.index[-1]
        strip.axvspan(p["start"], end, color="tab:red", alpha=0.25 + 0.1 * (shade - k) / shade,
                      lw=0)  # fmt: skip
        mid = pd.Timestamp(p["start"]) + (pd.Timestamp(end) - pd.Timestamp(p["start"])) / 2
        strip.text(mid, 0.5, str(k + 1), ha="center", va="center", fontsize=7)
    strip.set_yticks([])
    strip.set_ylabel(f"worst {shade}", rotation=0, ha="right", va="center", fontsize=8)
    for i, (name, values) in enumerate(curves):
        dd = -metrics.drawdown(values) * 100.0
        if i == 0:  # the strategy on top of the baselines' thin lines
            ax.fill_between(dates, dd, 0.0, color="tab:red", alpha=0.35, label=name, zorder=3)
            ax.plot(dates, dd, color="darkred", lw=0.7, zorder=4)
        else:
            ax.plot(dates, dd, color=colors[i], lw=0.8, alpha=0.75, label=_label(run, name))
    ax.set_ylabel("drawdown (%)")
    ax.set_xlim(dates.min(), dates.max())
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=10)
    strip.xaxis.set_major_locator(locator)
    strip.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelbottom=False)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4, fontsize=8, frameon=False)
    _suptitle(fig, "drawdown from running peak", bool(run.report.get("synthetic")))
    return _png(fig)


def plot_rolling(run) -> bytes:
    """Rolling 6- and 12-month Sharpe ratio, beta against the main baseline and
    annualised volatility (%)."""
    from btlstm.report.tearsheet import main_baseline, rolling_figures

    figs = rolling_figures(run)
    whats = ["sharpe", "beta", "volatility"]
    if not any(k.startswith("beta") for k in figs):
        whats.remove("beta")
    figs = {k: (v * 100.0 if k.startswith("volatility") else v) for k, v in figs.items()}
    fig = _figure(10.0, 1.0 + 2.4 * len(whats))
    axes = [fig.add_subplot(len(whats), 1, i + 1) for i in range(len(whats))]
    for ax, what in zip(axes, whats, strict=True):
        for (label, series), color in zip(
            [(k, v) for k, v in figs.items() if k.startswith(what)], ("tab:cyan", "tab:blue"),
            strict=False,
        ):
            if not np.isfinite(series.to_numpy(dtype=float)).any():
                continue  # a run shorter than the window
            ax.plot(series.index, series.to_numpy(), color=color, lw=1.1,
                    label=label.replace(what + " ", ""))  # fmt: skip
        if what != "volatility":
            ax.axhline(0.0 if what == "sharpe" else 1.0, color="k", lw=0.6, ls=":")
        base = main_baseline(run)
        ax.set_ylabel({"sharpe": "rolling Sharpe", "beta": f"rolling beta vs\n{base}",
                       "volatility": "rolling volatility\n(% a year)"}[what])  # fmt: skip
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="best", fontsize=8, ncol=2, framealpha=0.85)
        else:
            ax.text(0.5, 0.5, "run shorter than the window", ha="center", va="center",
                    transform=ax.transAxes, color="0.5")  # fmt: skip
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    _suptitle(fig, "rolling Sharpe ratio, beta and annualised volatility (6 and 12 months = "
              "126 and 252 bars)", bool(run.report.get("synthetic")))  # fmt: skip
    return _png(fig)


def plot_excess(run) -> bytes:
    """The strategy's cumulative excess return over each baseline, in %:
    :func:`btlstm.metrics.excess_growth` (the growth of ``(1 + r_s) / (1 + r_b)`` - 1)."""
    from btlstm.report.tearsheet import excess_curves, strategy_name

    fig = _figure(10.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    _, series = _curves(run)
    names = [n for n, _ in series]
    colors = dict(zip(names, _colors(run, names), strict=True))
    for name, curve in excess_curves(run).items():
        if len(curve):
            ax.plot(curve.index, curve.to_numpy() * 100.0, color=colors.get(name), lw=1.2,
                    label=f"vs {_label(run, name)}: {curve.iloc[-1] * 100.0:+.2f}% at the end")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("cumulative excess return (%)")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8,
                  frameon=False)  # fmt: skip
    _suptitle(fig, f"{strategy_name(run)}: cumulative excess return over each baseline, "
              "growth of (1 + r_s) / (1 + r_b) - 1", bool(run.report.get("synthetic")))  # fmt: skip
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    return _png(fig)


def plot_yearly(run) -> bytes:
    """Each calendar year's return (:func:`btlstm.report.sections.per_year_returns`),
    one bar per run, the strategy first."""
    from btlstm.report.sections import per_year_returns

    years = per_year_returns(run.tables["equity"])
    _, series = _curves(run)
    names = [n for n, _ in series]
    colors = _colors(run, names)
    fig = _figure(10.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(years))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        vals = [100.0 * v[name] if v.get(name) is not None else np.nan for v in years.values()]
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width=width, color=colors[i],
               label=_label(run, name), alpha=0.9 if i == 0 else 0.75)  # fmt: skip
    ax.set_xticks(x, list(years), rotation=45 if len(years) > 12 else 0, fontsize=8)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("return in the year (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(years) <= 12 else -0.2),
              ncol=min(len(names), 5), fontsize=8, frameon=False)  # fmt: skip
    _suptitle(fig, "returns per calendar year (a partial first or last year: its bars only)",
              bool(run.report.get("synthetic")))  # fmt: skip
    return _png(fig)


def plot_distribution(run) -> bytes:
    """Histogram of the strategy's daily returns against the main baseline's."""
    from btlstm.report.tearsheet import curves as _frame
    from btlstm.report.tearsheet import main_baseline, strategy_name

    frame = _frame(run)
    fig = _figure(10.0, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    names = [n for n in (strategy_name(run), main_baseline(run)) if n is not None]
    rets = [frame[n].pct_change().dropna() * 100.0 for n in names]
    rets = [r[np.isfinite(r.to_numpy())] for r in rets]
    both = np.concatenate([r.to_numpy() for r in rets]) if rets else np.array([0.0])
    lo, hi = np.nanpercentile(both, [0.5, 99.5]) if len(both) else (-1.0, 1.0)
    span = max(abs(lo), abs(hi), 0.1)
    bins = np.linspace(-span, span, 61)
    for name, r, color in zip(names, rets, ("tab:blue", "tab:orange"), strict=False):
        ax.hist(np.clip(r.to_numpy(), -span, span), bins=bins, alpha=0.5, color=color,
                density=True,
                label=f"{name}: sd {r.std():.2f}%, skew {r.skew():.2f}, worst {r.min():.2f}%")
    ax.axvline(0.0, color="k", lw=0.6)
    ax.set_xlabel("daily return (%); the outer bins hold everything beyond them")
    ax.set_ylabel("density")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    _suptitle(fig, "distribution of daily returns", bool(run.report.get("synthetic")))
    return _png(fig)


def _daily_ic(pred: pd.DataFrame) -> pd.Series:
    wide_p = pred.pivot_table(index="date", columns="symbol", values="prediction")
    wide_t = pred.pivot_table(index="date", columns="symbol", values="realised_return")
    return metrics.cross_sectional_ic(wide_p, wide_t)


def _rolling_ic(pred: pd.DataFrame, window: int = 63) -> pd.Series:
    """IC over time: one asset, the correlation of prediction and realised return
    over the last ``window`` bars; several, the daily cross-sectional IC."""
    if pred["symbol"].nunique() > 1:
        return _daily_ic(pred)
    s = pred.assign(date=pd.to_datetime(pred["date"])).set_index("date").sort_index()
    p = pd.to_numeric(s["prediction"], errors="coerce")
    r = pd.to_numeric(s["realised_return"], errors="coerce")
    return p.rolling(window, min_periods=window // 2).corr(r)


def plot_predictions(run) -> bytes:
    """Prediction quality: the IC over time, and mean realised return by prediction decile."""
    fig = _figure(10.0, 4.2)
    ax = fig.add_subplot(1, 3, (1, 2))
    cal = fig.add_subplot(1, 3, 3)
    fig.subplots_adjust(wspace=0.5)
    pred = run.tables["predictions"]
    many = pred["symbol"].nunique() > 1
    if len(pred):
        ic = _rolling_ic(pred)
        if many:
            ax.plot(ic.index, ic.to_numpy(), color="0.78", lw=0.5, label="daily IC across assets")
            ax.plot(ic.index, ic.rolling(63, min_periods=20).mean(), color="tab:blue", lw=1.3,
                    label="63-day mean")  # fmt: skip
        else:
            ax.plot(ic.index, ic.to_numpy(), color="tab:blue", lw=1.2,
                    label="IC over the last 63 bars")  # fmt: skip
        ax.axhline(0.0, color="k", lw=0.5)
        ax.set_ylabel("IC (prediction vs realised return)")
        ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    else:
        ax.text(0.5, 0.5, "no predictions recorded", ha="center", va="center")
    table = metrics.calibration(pred["prediction"].to_numpy(float),
                                pred["realised_return"].to_numpy(float))  # fmt: skip
    if len(table):
        colors = ["tab:green" if x > 0 else "tab:red" for x in table["mean_realised"]]
        cal.bar(table["bin"], table["mean_realised"] * 100.0, color=colors, alpha=0.7)
        cal.set_xticks(list(table["bin"]))
    cal.axhline(0.0, color="k", lw=0.5)
    cal.set_xlabel("prediction decile (1 = lowest)")
    cal.set_ylabel("mean realised return (%)")
    ax.grid(alpha=0.3)
    cal.grid(alpha=0.3)
    q = run.report.get("prediction") or {}
    _suptitle(
        fig,
        f"prediction quality (h={q.get('horizon')}, pooled IC {_f(q.get('ic'))}): IC over time, "
        "calibration by decile",
        bool(run.report.get("synthetic")),
    )
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_ha("right")
    return _png(fig)


def weights_wide(weights: pd.DataFrame, top: int = 10, dates=None) -> pd.DataFrame:
    """Weights as dates x symbols on every bar (``dates``; default the dates of the
    weights table): the ``top`` symbols, ``other`` and ``cash`` (rows sum to 1;
    :func:`btlstm.report.tearsheet.daily_weights`)."""
    from btlstm.report.tearsheet import daily_weights

    if dates is None:
        dates = pd.to_datetime(weights["date"]).unique()
    return daily_weights(weights, dates, top=top)


MONTHLY_AFTER = 1000
"""Runs longer than this many bars show monthly mean weights (readable over decades)."""


def plot_weights(run, top: int = 10) -> bytes:
    """Weights over time, stacked: the top ``top`` symbols, ``other`` and cash, on every
    bar (a flat day is all cash); a long run shows each month's mean weights."""
    wide = weights_wide(run.tables["weights"], top=top, dates=run.tables["equity"]["date"])
    name = (run.report.get("strategy") or {}).get("name") or "strategy"
    synthetic = bool(run.report.get("synthetic"))
    if len(wide) > MONTHLY_AFTER:
        return _weights_heatmap(wide.resample("MS").mean(), name, top, synthetic)
    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    if wide.empty:
        ax.text(0.5, 0.5, "no bars", ha="center", va="center")
    else:
        import matplotlib

        cmap = matplotlib.colormaps["tab20"]
        colors = [cmap(i % 20) for i in range(wide.shape[1])]
        if "other" in wide.columns:
            colors[list(wide.columns).index("other")] = (0.6, 0.6, 0.6, 1.0)
        colors[list(wide.columns).index("cash")] = (0.93, 0.93, 0.93, 1.0)
        ax.stackplot(wide.index, (wide.to_numpy() * 100.0).T, labels=wide.columns, colors=colors,
                     step="post", lw=0)  # fmt: skip
        lo = min(0.0, float((wide.clip(upper=0).sum(axis=1)).min()) * 100.0)
        ax.set_ylim(lo, max(100.0, float(wide.clip(lower=0).sum(axis=1).max()) * 100.0))
        ax.set_xlim(wide.index[0], wide.index[-1])
        handles, labels = ax.get_legend_handles_labels()  # top of the stack first
        ax.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5),
                  fontsize=8, frameon=False)  # fmt: skip
    ax.set_ylabel("weight (% of portfolio)")
    ax.grid(alpha=0.3)
    _suptitle(fig, f"{name}: weights on every bar (cash included; top {top} symbols + other)",
              synthetic)  # fmt: skip
    fig.autofmt_xdate()
    return _png(fig)


def _weights_heatmap(monthly: pd.DataFrame, name: str, top: int, synthetic: bool) -> bytes:
    """A long run's weights: one row per symbol (then other, cash), one column per
    month, the colour the month's mean weight (a stack of decades is a barcode)."""
    import matplotlib.dates as mdates

    rows = list(monthly.columns)
    fig = _figure(10.0, 1.2 + 0.32 * len(rows))
    ax = fig.add_subplot(1, 1, 1)
    start = mdates.date2num(monthly.index[0])
    end = mdates.date2num(monthly.index[-1] + pd.offsets.MonthBegin(1))
    data = monthly.to_numpy().T * 100.0
    vmax = max(100.0, float(np.nanmax(data))) if data.size else 100.0
    im = ax.imshow(data, aspect="auto", cmap="Blues", vmin=min(0.0, float(np.nanmin(data))),
                   vmax=vmax, extent=(start, end, len(rows) - 0.5, -0.5),
                   interpolation="nearest")  # fmt: skip
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.xaxis_date()
    ax.xaxis.set_major_locator(mdates.YearLocator(base=2 if len(monthly) > 120 else 1))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    bar = fig.colorbar(im, ax=ax, pad=0.01, fraction=0.04)
    bar.set_label("mean weight in the month (%)", fontsize=8)
    _suptitle(fig, f"{name}: monthly mean weights (top {top} symbols, other, cash)", synthetic)
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
    if len(run.tables["equity"]) > 1 and run.tables["equity"].shape[1] > 2:
        images["excess.png"] = plot_excess(run)
    if len(run.tables["equity"]) > 1:
        images["yearly.png"] = plot_yearly(run)
    if len(run.tables["equity"]) > 2:
        images["rolling.png"] = plot_rolling(run)
        images["returns.png"] = plot_distribution(run)
    if run.report.get("prediction") is not None:
        images["predictions.png"] = plot_predictions(run)
    if len(run.tables["weights"]) and len(run.tables["equity"]):
        images["weights.png"] = plot_weights(run)
    if (run.report.get("live") or {}).get("series"):
        images["latency.png"] = plot_latency(run)
    return images
