"""A sweep's statistics: its finished runs read back, per-configuration summaries,
paired tests against the reference, the seed ensembles and the verdict.

Everything here is rebuilt from the run files (``runs/*.json``), so it can be
recomputed at any time, also while runs are missing.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm.sweep.engines import Task
from btlstm.sweep.spec import (
    FORMAT,
    HIGHER_IS_BETTER,
    METRICS,
    REFERENCE,
    RUN_COLUMNS,
    Sweep,
    plain,
)
from btlstm.sweep.task import evaluate_predictions, frame_of, full_line

__all__ = [
    "finished_runs",
    "collect_runs",
    "summarize",
    "paired_tests",
    "config_returns",
    "sweep_significance",
    "ensemble_runs",
    "run_returns",
    "SIGNIFICANCE_KEYS",
]

log = logging.getLogger("btlstm.sweep")


def finished_runs(out: Path, tasks: list[Task]) -> dict[str, dict]:
    """Finished runs in ``out/runs`` whose settings match the task (by key)."""
    found = {}
    for t in tasks:
        p = out / "runs" / f"{t.name}.json"
        if not p.exists():
            continue
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError):
            log.warning("unreadable run file %s: running it again", p)
            continue
        if d.get("key") == t.key and d.get("format") == FORMAT:
            found[t.name] = d
        else:
            log.info("run %s was made with other settings: running it again", t.name)
    return found


def collect_runs(out, sweep: Sweep | None = None) -> tuple[pd.DataFrame, dict]:
    """``runs.csv`` rows and the run dicts from ``out/runs`` (only this sweep's, when given)."""
    out = Path(out)
    if sweep is not None:
        tasks = sweep.tasks()
        found = finished_runs(out, tasks)
        order = [t.name for t in tasks if t.name in found]
        runs = {n: found[n] for n in order}
    else:
        runs = {}
        for p in sorted((out / "runs").glob("*.json")):
            runs[p.stem] = json.loads(p.read_text())
    rows = [{k: r.get(k, math.nan) for k in RUN_COLUMNS} for r in runs.values()]
    frame = pd.DataFrame(rows, columns=list(RUN_COLUMNS))
    for k in METRICS:
        frame[k] = pd.to_numeric(frame[k], errors="coerce").astype(float)
    return frame, runs


def ensemble_runs(sweep: Sweep, runs: dict) -> pd.DataFrame:
    """One row per configuration: the metrics of the mean prediction of its seeds."""
    rows = []
    for name in sweep.configs:
        mine = [r for r in runs.values() if r["config"] == name]
        if not mine:
            continue
        settings = sweep.settings[name]
        frame = frame_of(settings)
        preds = np.array([[np.nan if v is None else v for v in r["predictions"]] for r in mine])
        mean = np.nanmean(preds, axis=0) if preds.size else preds
        s = evaluate_predictions(frame, settings, full_line(frame, settings, mean))
        row = {"config": name, "seed": "ensemble", "n_seeds": len(mine)}
        row.update({k: s.get(k, math.nan) for k in METRICS})
        row["loss_gap"] = math.nan
        row["epochs"] = math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=["config", "seed", "n_seeds", *METRICS])


def summarize(runs: pd.DataFrame, ensemble: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per configuration and metric: n, mean, std, median, min, max (and the ensemble's value).

    Example:
        >>> runs = pd.DataFrame({"config": ["a", "a", "b"], "seed": [0, 1, 0],
        ...                      **{m: [1.0, 3.0, 2.0] for m in METRICS}})
        >>> summarize(runs).query("metric == 'rmse'")[["config", "n", "mean", "max"]]
          config  n  mean  max
        0      a  2   2.0  3.0
        9      b  1   2.0  2.0
    """
    rows = []
    order = list(dict.fromkeys(runs["config"]))
    ens = {}
    if ensemble is not None and len(ensemble):
        ens = ensemble.set_index("config")
    for name in order:
        g = runs[runs["config"] == name]
        for m in METRICS:
            v = g[m].astype(float).dropna()
            rows.append(
                {
                    "config": name,
                    "metric": m,
                    "n": len(v),
                    "mean": v.mean() if len(v) else math.nan,
                    "std": v.std(ddof=1) if len(v) > 1 else math.nan,
                    "median": v.median() if len(v) else math.nan,
                    "min": v.min() if len(v) else math.nan,
                    "max": v.max() if len(v) else math.nan,
                    "ensemble": float(ens.loc[name, m])
                    if name in getattr(ens, "index", ())
                    else math.nan,
                }
            )
    return pd.DataFrame(rows)


def paired_tests(runs: pd.DataFrame, reference: str = REFERENCE) -> pd.DataFrame:
    """Each configuration against ``reference`` on the same seeds, metric by metric.

    Columns: ``config``, ``metric``, ``n`` (paired seeds), ``mean_diff``
    (configuration minus reference), ``better`` (seeds where the
    configuration is better), ``wilcoxon_p`` (two-sided Wilcoxon signed-rank;
    NaN when every difference is 0 or fewer than 2 pairs) and ``ttest_p``
    (two-sided paired t-test). With 5 seeds the smallest possible Wilcoxon
    p-value is 0.0625: read ``better`` and the box plots too. ``p_holm`` and
    ``p_bh`` are ``ttest_p`` adjusted for testing every configuration
    against the reference on the same metric (Holm: family-wise error;
    Benjamini-Hochberg: false discovery rate; ``statsmodels`` ``multipletests``).
    """
    from scipy import stats

    from btlstm.significance import adjust_pvalues

    rows = []
    if reference not in set(runs["config"]):
        return pd.DataFrame(columns=_TEST_COLUMNS)
    ref = runs[runs["config"] == reference].set_index("seed")
    for name in dict.fromkeys(runs["config"]):
        if name == reference:
            continue
        g = runs[runs["config"] == name].set_index("seed")
        seeds = [s for s in g.index if s in ref.index]
        for m in METRICS:
            a = g.loc[seeds, m].astype(float).to_numpy()
            b = ref.loc[seeds, m].astype(float).to_numpy()
            ok = np.isfinite(a) & np.isfinite(b)
            d = a[ok] - b[ok]
            sign = 1 if m in HIGHER_IS_BETTER else -1
            wp = tp = math.nan
            if len(d) >= 2 and np.any(d != 0):
                try:
                    wp = float(stats.wilcoxon(a[ok], b[ok]).pvalue)
                except ValueError:
                    pass
                if np.std(d) > 0:
                    tp = float(stats.ttest_rel(a[ok], b[ok]).pvalue)
            rows.append(
                {
                    "config": name,
                    "metric": m,
                    "n": int(len(d)),
                    "mean_diff": float(d.mean()) if len(d) else math.nan,
                    "better": int(np.sum(sign * d > 0)),
                    "wilcoxon_p": wp,
                    "ttest_p": tp,
                }
            )
    out = pd.DataFrame(rows, columns=_TEST_COLUMNS)
    for idx in out.groupby("metric", sort=False).groups.values():
        p = out.loc[idx, "ttest_p"].to_numpy(dtype=float)
        out.loc[idx, "p_holm"] = adjust_pvalues(p, "holm")
        out.loc[idx, "p_bh"] = adjust_pvalues(p, "fdr_bh")
    return out


_TEST_COLUMNS = [
    "config",
    "metric",
    "n",
    "mean_diff",
    "better",
    "wilcoxon_p",
    "ttest_p",
    "p_holm",
    "p_bh",
]


def run_returns(sweep: Sweep, run: dict) -> pd.Series:
    """A run's daily backtest returns by date; a run file written before they were kept
    is backtested again from its stored predictions (the same numbers)."""
    values = run.get("returns")
    if values is None:
        settings = sweep.settings[run["config"]]
        frame = frame_of(settings)
        pred = np.array([np.nan if v is None else v for v in run["predictions"]], dtype=float)
        values = evaluate_predictions(frame, settings, full_line(frame, settings, pred))["returns"]
    return pd.Series(
        np.array([np.nan if v is None else v for v in values], dtype=float),
        index=pd.to_datetime(run["dates"]),
    )


def config_returns(sweep: Sweep, runs: dict) -> pd.DataFrame:
    """Each configuration's daily returns: the mean over its seeds of their backtests'
    daily returns (an equal-weight portfolio of the seeds), dates x configurations."""
    cols = {}
    for name in sweep.configs:
        mine = [run_returns(sweep, r) for r in runs.values() if r["config"] == name]
        if mine:
            cols[name] = pd.concat(mine, axis=1).mean(axis=1)
    return pd.DataFrame(cols)


SIGNIFICANCE_KEYS = ("reference", "spa_p", "stepm", "dsr_best", "verdict")
"""Keys of ``significance.json`` a reader can count on (see :func:`sweep_significance`)."""


def sweep_significance(sweep: Sweep, runs: pd.DataFrame, by_name: dict) -> dict:
    """Is any configuration better than the reference, given how many were tried?

    Each configuration's daily returns are the mean over its seeds
    (:func:`config_returns`), on the dates every configuration has.

    - ``spa_p``: Hansen's SPA p-value (consistent) for "no configuration's
      expected daily return exceeds the reference's"
      (:func:`btlstm.significance.spa_test`, seeded);
    - ``stepm``: the configurations Romano-Wolf's StepM finds better than the
      reference at 5%, family-wise (:func:`btlstm.significance.stepm_test`);
    - ``dsr_best``: the configuration with the highest mean Sharpe ratio over
      its seeds, and the deflated Sharpe ratio of its seed-average returns with
      N = the runs (configurations x seeds) and the variance of all their
      Sharpe ratios: ``{config, value, n_trials, sharpe, sr0}``;
    - ``verdict``: the above in one sentence; ``evidence``: StepM found a
      configuration and the best one's DSR is at least 0.95.

    Returns:
        A plain-JSON dict (``significance.json``).
    """
    from btlstm import significance as sig

    ref = sweep.reference
    rets = config_returns(sweep, by_name).dropna()
    others = [c for c in rets.columns if c != ref]
    out = {
        "reference": ref,
        "n_configs": int(runs["config"].nunique()),
        "n_runs": len(runs),
        "n_days": len(rets),
        "returns": "each configuration's daily backtest returns, averaged over its seeds",
        "spa_p": None,
        "spa": None,
        "stepm": [],
        "dsr_best": None,
    }
    if ref in rets and others and len(rets) > 10:
        spa = sig.spa_test(rets[ref], rets[others], seed=sig.BOOTSTRAP_SEED)
        out.update(spa_p=spa["p"], spa=spa, stepm=sig.stepm_test(rets[ref], rets[others]))
    means = runs.groupby("config", sort=False)["sharpe"].mean().dropna()
    if len(means) and means.idxmax() in rets:
        best = str(means.idxmax())
        sharpe = sig.sharpe_test(rets[best])
        dsr = sig.deflated_sharpe_ratio(sharpe, max(1, len(runs)), runs["sharpe"].dropna())
        out["dsr_best"] = {
            "config": best,
            "value": dsr["value"],
            "n_trials": dsr["n_trials"],
            "sharpe": sharpe["value"],
            "mean_seed_sharpe": float(means[best]),
            "sr0": dsr["sr0"],
        }
    best = out["dsr_best"] or {}
    ok_dsr = (best.get("value") or 0.0) >= sig.DSR_MIN
    out["evidence"] = bool(out["stepm"]) and ok_dsr
    p = out["spa_p"]
    parts = [
        f"SPA p {p:.3f} for 'no configuration beats {ref}'" if p is not None else "no SPA test",
        "StepM: " + (", ".join(out["stepm"]) or "none") + f" better than {ref} at 5%",
    ]
    if best:
        parts.append(
            f"best {best['config']} (mean Sharpe {best['mean_seed_sharpe']:.2f}): deflated Sharpe "
            f"ratio {best['value']:.2f} over {best['n_trials']} trials"
        )
    head = (
        f"evidence that {', '.join(out['stepm'])} beat{'s' if len(out['stepm']) == 1 else ''} {ref}"
        if out["evidence"]
        else f"no evidence that any configuration beats {ref}"
    )
    out["verdict"] = head + ": " + "; ".join(parts)
    return plain(out)
