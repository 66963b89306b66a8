"""A sweep's report files: ``runs.csv``, ``ensemble.csv``, ``summary.csv``,
``tests.csv``, ``significance.json``, ``boxplots.png`` and a self-contained ``index.html``.

:func:`write_sweep_report` rebuilds them from the run files (atomic writes),
so a report can be rewritten at any time, also while runs are missing.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm._files import csv_bytes
from btlstm.data.cache import atomic_write_bytes
from btlstm.sweep.spec import HIGHER_IS_BETTER, METRICS, RUN_COLUMNS, Sweep
from btlstm.sweep.stats import (
    collect_runs,
    ensemble_runs,
    paired_tests,
    summarize,
    sweep_significance,
)

__all__ = ["write_sweep_report"]


def _boxplots(runs: pd.DataFrame, ensemble: pd.DataFrame, reference: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    order = list(dict.fromkeys(runs["config"]))
    if reference in order:
        order.remove(reference)
        order.insert(0, reference)
    ncol = 3
    nrow = math.ceil(len(METRICS) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 0.4 * len(order) * nrow + 2.5 * nrow))
    ens = ensemble.set_index("config") if len(ensemble) else None
    for ax, m in zip(np.ravel(axes), METRICS):
        data = [runs.loc[runs["config"] == c, m].dropna().to_numpy() for c in order]
        ax.boxplot(data, vert=False, showmeans=True)
        ax.set_yticks(range(1, len(order) + 1), order, fontsize=8)
        ax.invert_yaxis()
        if ens is not None and m not in ("loss_gap", "epochs"):
            xs = [ens.loc[c, m] if c in ens.index else np.nan for c in order]
            ax.plot(xs, range(1, len(order) + 1), "x", color="tab:red", label="seed ensemble")
        ax.set_title(m + (" (higher is better)" if m in HIGHER_IS_BETTER else ""), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    for ax in np.ravel(axes)[len(METRICS) :]:
        ax.axis("off")
    handles, labels = np.ravel(axes)[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _verdict_html(verdict: dict) -> list:
    from btlstm.report import page as pg
    from btlstm.report.formats import fmt

    if not verdict:
        return []
    esc = html.escape
    best = verdict.get("dsr_best") or {}
    spa = verdict.get("spa_p")
    rows = [
        ("reference", esc(str(verdict.get("reference")))),
        ("Hansen's SPA p-value (no configuration beats the reference)", fmt(spa, "corr")),
        ("StepM: configurations better than the reference (5%, family-wise)",
         esc(", ".join(verdict.get("stepm") or []) or "none")),
        ("best configuration (mean Sharpe over its seeds)",
         esc(f"{best.get('config')} ({fmt(best.get('mean_seed_sharpe'), 'ratio')})")
         if best else "n/a"),
        ("its deflated Sharpe ratio",
         f"{fmt(best.get('value'), 'corr')} over N = {best.get('n_trials')} trials "
         f"(SR0 {fmt(best.get('sr0'), 'ratio')})" if best else "n/a"),
    ]  # fmt: skip
    body = "".join(f"<tr><td class='k'>{a}</td><td class='k'>{b}</td></tr>" for a, b in rows)
    return [
        pg.verdict_box(verdict.get("verdict"), bool(verdict.get("evidence"))),
        f"<div class='tw'><table>{body}</table></div>",
        "<p>Each configuration's daily returns are the mean over its seeds. The paired tests "
        "below adjust their t-test p-values for testing every configuration: p_holm "
        "(family-wise), p_bh (false discovery rate). See docs/significance.md.</p>",
    ]


_RUN_KINDS = {"rmse": "corr", "loss_gap": "corr", "sharpe": "ratio", "epochs": "ratio"}


def _html(
    sweep: Sweep, runs, summary, tests, ensemble, png: bytes | None, verdict: dict | None = None
) -> str:
    from btlstm.report import page as pg

    def table(frame: pd.DataFrame, kinds=None) -> str:
        return pg.frame_table(frame, kinds=kinds, sortable=True)

    wide = summary.pivot_table(index="config", columns="metric", values="mean", sort=False)
    wide = wide.reindex(columns=list(METRICS)).reset_index()
    s = sweep.settings[sweep.reference]
    head = html.escape(
        f"{len(sweep.configs)} configurations x {sweep.repeats} seeds "
        f"({sweep.seeds[0]}..{sweep.seeds[-1]}) on {s.data.data}, {s.model.mode} "
        f"train {s.model.train_start}..{s.model.train_end}, test {s.model.test_start}.."
        f"{s.model.test_end}; strategy {s.strategy.name} {s.strategy.params}"
    )
    cfgs = pd.DataFrame(
        [{"config": k, "overrides": json.dumps(v)} for k, v in sweep.configs.items()]
    )
    parts = [
        "<h1>btlstm sweep</h1>",
        f"<p>{head}</p>",
        *_verdict_html(verdict or {}),
        "<h2>Overview: box plots over the seeds</h2>",
        pg.img(png, "box plots"),
        "<h2>Mean per configuration</h2>",
        table(wide, _RUN_KINDS),
        "<h2>Configurations</h2>",
        table(cfgs),
        "<h2>Seed ensemble (mean prediction of the seeds)</h2>",
        table(ensemble, _RUN_KINDS),
        f"<h2>Paired tests against {html.escape(sweep.reference)!s} (same seeds)</h2>",
        "<p>mean_diff: configuration minus reference; better: seeds on which the "
        "configuration did better; two-sided Wilcoxon signed-rank and paired t p-values; "
        "p_holm, p_bh: the t-test p-values adjusted for the configurations tested on the same "
        "metric (Holm, Benjamini-Hochberg).</p>",
        table(tests, {"n": "int", "better": "int"}),
        "<h2>Summary</h2>",
        table(summary, {"n": "int"}),
        "<h2>Runs</h2>",
        table(runs, {**_RUN_KINDS, "seed": "int"}),
    ]
    return pg.page("btlstm sweep", parts).decode("utf-8")


def write_sweep_report(out, sweep: Sweep, plots: bool = True) -> dict[str, Path]:
    """Write runs.csv, ensemble.csv, summary.csv, tests.csv, significance.json,
    boxplots.png and index.html.

    Everything is rebuilt from ``out/runs/*.json`` (atomic writes), so a
    report can be rewritten at any time, also while runs are missing.
    """
    out = Path(out)
    runs, by_name = collect_runs(out, sweep)
    ensemble = ensemble_runs(sweep, by_name) if len(runs) else pd.DataFrame(columns=RUN_COLUMNS)
    summary = summarize(runs, ensemble)
    tests = paired_tests(runs, sweep.reference)
    verdict = sweep_significance(sweep, runs, by_name) if len(runs) else {}
    files = {
        "runs.csv": csv_bytes(runs, float_format="%.17g"),
        "ensemble.csv": csv_bytes(ensemble, float_format="%.17g"),
        "summary.csv": csv_bytes(summary, float_format="%.17g"),
        "tests.csv": csv_bytes(tests, float_format="%.17g"),
        "significance.json": (json.dumps(verdict, indent=1) + "\n").encode(),
    }
    png = _boxplots(runs, ensemble, sweep.reference) if plots and len(runs) else None
    if png is not None:
        files["boxplots.png"] = png
    files["index.html"] = _html(sweep, runs, summary, tests, ensemble, png, verdict).encode()
    return {name: atomic_write_bytes(out / name, data) for name, data in files.items()}
