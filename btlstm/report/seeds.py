"""The overview of a several-seeds run (``btlstm run <strategy> --seeds 0-4``).

One folder, written as one unit::

    out/
      seed_0/ ... seed_4/   each a normal report folder (btlstm report out/seed_0)
      ensemble/             the seed ensemble (mean prediction), backtested: a report folder
      seeds.csv             one row per seed, then mean, sd and ensemble
      seeds.json            the same and the verdicts, N, the seeds' Sharpe ratios
      seeds.png             every seed's equity curve, the ensemble's and the baselines'
      index.html            the table, the picture and a link to every report
      manifest.json         format "btlstm-seeds": the files and the report folders

Plain data in (:class:`~btlstm.report.collect.RunData` per seed), files out.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from btlstm._files import (
    atomic_write_bytes,
    csv_bytes,
    entry_problem,
    file_entry,
    write_folder,
)
from btlstm.convert import to_jsonable
from btlstm.errors import ReportError
from btlstm.report.collect import RunData
from btlstm.report.files import (
    MANIFEST,
    REPORT_FILES,
    check_outdir,
    rebuild_report,
    write_report,
)
from btlstm.report.reading import (
    MAX_FILE_BYTES,
    MAX_JSON_BYTES,
    check_folder,
    parse_json,
    read_json_member,
    read_manifest,
    read_member,
)

__all__ = [
    "SEEDS_FORMAT",
    "SEED_COLUMNS",
    "seeds_overview",
    "format_seeds_table",
    "write_seeds_report",
    "rebuild_seeds_report",
    "is_seeds_folder",
    "rebuild",
]

SEEDS_FORMAT = "btlstm-seeds"
#: Columns of ``seeds.csv`` after ``run``.
SEED_COLUMNS = (
    "total_return",
    "annual_return",
    "sharpe",
    "max_drawdown",
    "n_trades",
    "ic",
    "ic_t_hac",
    "ic_p_hac",
    "rank_ic",
    "hit_rate",
    "psr",
    "dsr",
    "evidence",
)
_NUMERIC = [c for c in SEED_COLUMNS if c != "evidence"]


def _row(name: str, report: dict) -> dict:
    s = report.get("strategy") or {}
    sig = report.get("significance") or {}
    ic = sig.get("ic") or {}
    return {
        "run": name,
        "total_return": s.get("total_return"),
        "annual_return": s.get("annual_return"),
        "sharpe": s.get("sharpe"),
        "max_drawdown": s.get("max_drawdown"),
        "n_trades": s.get("n_trades"),
        "ic": ic.get("value"),
        "ic_t_hac": ic.get("t_hac"),
        "ic_p_hac": ic.get("p_hac"),
        "rank_ic": (sig.get("rank_ic") or {}).get("value"),
        "hit_rate": (sig.get("hit_rate") or {}).get("value"),
        "psr": (sig.get("sharpe") or {}).get("psr"),
        "dsr": (sig.get("dsr") or {}).get("value"),
        "evidence": sig.get("evidence"),
        "verdict": sig.get("verdict"),
    }


def seeds_overview(
    runs: dict[int, RunData], ensemble: RunData | None, n_trials: int, title: str = ""
) -> dict:
    """The overview of a seeds run as plain data (``seeds.json``).

    Args:
        runs: ``{seed: RunData}`` of every seed's run.
        ensemble: the seed ensemble's run, or None.
        n_trials: N of the deflated Sharpe ratios (trials x seeds).
        title: the runs' title.

    Returns:
        ``{format, title, seeds, n_trials, trial_sharpes, rows (one per seed),
        mean, sd, ensemble (a row or None), baselines (comparison rows),
        evidence (seeds with evidence of skill), verdict (the ensemble's)}``.
    """
    rows = [_row(f"seed {seed}", run.report) for seed, run in runs.items()]
    frame = pd.DataFrame(rows)
    mean = {"run": "mean"}
    sd = {"run": "sd"}
    for c in _NUMERIC:
        v = pd.to_numeric(frame[c], errors="coerce").dropna()
        mean[c] = float(v.mean()) if len(v) else None
        sd[c] = float(v.std(ddof=1)) if len(v) > 1 else None
    first = next(iter(runs.values())).report
    ens = _row("ensemble", ensemble.report) if ensemble is not None else None
    return to_jsonable(
        {
            "format": SEEDS_FORMAT,
            "title": title or first.get("title"),
            "seeds": list(runs),
            "n_trials": n_trials,
            "trial_sharpes": [
                ((run.report.get("significance") or {}).get("sharpe") or {}).get("value")
                for run in runs.values()
            ],
            "rows": rows,
            "mean": mean,
            "sd": sd,
            "ensemble": ens,
            "baselines": list((first.get("comparison") or [])[1:]),
            "evidence": [seed for seed, r in zip(runs, rows, strict=True) if r["evidence"]],
            "verdict": ens["verdict"] if ens else None,
            "synthetic": bool(first.get("synthetic")),
        }
    )


def _fmt(col: str, x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if col in ("total_return", "annual_return"):
        return f"{x * 100:+.2f}%"
    if col in ("max_drawdown", "hit_rate"):
        return f"{x * 100:.2f}%"
    if col == "n_trades":
        return f"{x:.0f}"
    if col == "ic_p_hac":
        return "<0.001" if x < 0.001 else f"{x:.3f}"
    if col == "evidence":
        return "yes" if x else "no"
    return f"{x:.3f}" if col in ("ic", "rank_ic") else f"{x:.2f}"


def _cell(row: dict, col: str) -> str:
    if col == "evidence" and row.get("run") in ("mean", "sd"):
        return ""
    return _fmt(col, row.get(col))


_SHOWN = (
    ("total return", "total_return"),
    ("Sharpe", "sharpe"),
    ("max DD", "max_drawdown"),
    ("IC", "ic"),
    ("IC p HAC", "ic_p_hac"),
    ("hit rate", "hit_rate"),
    ("DSR", "dsr"),
    ("evidence", "evidence"),
)


def format_seeds_table(overview: dict) -> str:
    """The terminal table of a seeds run: each seed's row, mean, sd, the ensemble, verdicts."""
    rows = list(overview["rows"]) + [overview["mean"], overview["sd"]]
    if overview.get("ensemble"):
        rows.append(overview["ensemble"])
    seeds = overview["seeds"]
    lines = []
    if overview.get("synthetic"):
        lines.append("!!! SYNTHETIC DATA - NOT A REAL MARKET !!!")
    lines.append(
        f"{overview.get('title')}: {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
        f"N = {overview['n_trials']} trials in the deflated Sharpe ratio (DSR)"
    )
    lines.append(f"{'':<10}" + "".join(f"  {h:>12}" for h, _ in _SHOWN))
    for r in rows:
        cells = "".join(f"  {_cell(r, c):>12}" for _, c in _SHOWN)
        lines.append(f"{r['run']:<10}{cells}")
    for b in overview.get("baselines") or []:
        lines.append(
            f"baseline {b.get('name')} (seed {seeds[0]}'s run): total return "
            f"{_fmt('total_return', b.get('total_return'))}  Sharpe {_fmt('sharpe', b.get('sharpe'))}"
        )
    for r in overview["rows"]:
        lines.append(f"{r['run']}: {r['verdict']}")
    n_ev = len(overview.get("evidence") or [])
    lines.append(f"{n_ev} of {len(seeds)} seeds show evidence of skill.")
    if overview.get("ensemble"):
        lines.append(f"VERDICT (seed ensemble): {overview['ensemble']['verdict']}")
    return "\n".join(lines)


def _plot(runs: dict[int, RunData], ensemble: RunData | None) -> bytes:
    from btlstm.report.plots import _figure, _png, _suptitle

    fig = _figure(10.0, 4.5)
    ax = fig.add_subplot()
    for seed, run in runs.items():
        eq = run.tables["equity"]
        name = (run.report.get("comparison") or [{}])[0].get("name")
        ax.plot(pd.to_datetime(eq["date"]), eq[name], lw=0.8, alpha=0.6, label=f"seed {seed}")
    if ensemble is not None:
        eq = ensemble.tables["equity"]
        name = (ensemble.report.get("comparison") or [{}])[0].get("name")
        ax.plot(pd.to_datetime(eq["date"]), eq[name], lw=2.2, color="black", label="ensemble")
    first = next(iter(runs.values()))
    eq = first.tables["equity"]
    for col in list(eq.columns)[2:]:
        ax.plot(pd.to_datetime(eq["date"]), eq[col], lw=1.2, ls="--", label=str(col))
    import numpy as np

    from btlstm.report.plots import equity_axis

    drawn = [np.asarray(line.get_ydata(), dtype=float) for line in ax.get_lines()]
    when = [d for line in ax.get_lines() for d in line.get_xdata()]
    equity_axis(ax, np.concatenate(drawn) if drawn else np.array([]), when)  # the one log rule
    ax.legend(fontsize=7, ncol=2)
    text = "equity of every seed, the seed ensemble and the baselines"
    _suptitle(fig, text, bool(first.report.get("synthetic")))
    return _png(fig)


_BOXES = (
    ("total return (%)", "total_return", 100.0),
    ("Sharpe", "sharpe", 1.0),
    ("max drawdown (%)", "max_drawdown", 100.0),
    ("IC", "ic", 1.0),
    ("deflated Sharpe ratio", "dsr", 1.0),
)


def _boxplots(overview: dict) -> bytes | None:
    """One box plot per figure over the seeds, each seed a dot, the ensemble a red x."""
    import numpy as np

    from btlstm.report.plots import _figure, _png, _suptitle

    rows = overview.get("rows") or []
    if len(rows) < 2:
        return None
    ens = overview.get("ensemble") or {}
    fig = _figure(10.0, 3.0)
    for i, (label, key, scale) in enumerate(_BOXES):
        ax = fig.add_subplot(1, len(_BOXES), i + 1)
        vals = np.array([np.nan if r.get(key) is None else r[key] * scale for r in rows], float)
        vals = vals[np.isfinite(vals)]
        if len(vals):
            ax.boxplot([vals], widths=0.5, showmeans=True)
            ax.plot(np.full(len(vals), 1.0) + np.linspace(-0.12, 0.12, len(vals)), vals, ".",
                    color="tab:blue", alpha=0.7)  # fmt: skip
        if ens.get(key) is not None:
            ax.plot([1.0], [ens[key] * scale], "x", color="tab:red", ms=9, mew=2,
                    label="seed ensemble")  # fmt: skip
        ax.set_xticks([])
        ax.set_title(label, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.subplots_adjust(wspace=0.75, top=0.78)
    _suptitle(fig, f"{len(rows)} seeds (dots), their box plots and the seed ensemble (red x)",
              bool(overview.get("synthetic")))  # fmt: skip
    return _png(fig)


def _html(overview: dict, png: bytes | None, folders: list[str]) -> bytes:
    from btlstm.report import page as pg
    from btlstm.report.formats import fmt

    esc = pg.esc
    rows = list(overview["rows"]) + [overview["mean"], overview["sd"]]
    if overview.get("ensemble"):
        rows.append(overview["ensemble"])
    cols = [c for _, c in _SHOWN]
    shown = [
        {**r, "evidence": "" if r.get("run") in ("mean", "sd") else fmt(r.get("evidence"))}
        for r in rows
    ]
    kinds = {"sharpe": "ratio", "dsr": "ratio", "ic_p_hac": "corr", "n_trades": "int"}
    table = pg.table(shown, ["run", *cols], labels=dict((c, h) for h, c in _SHOWN), kinds=kinds,
                     row_class=lambda r: "first" if r.get("run") == "ensemble" else "")  # fmt: skip
    runs = [r for r in overview["rows"] + [overview.get("ensemble")] if r]
    vrows = "".join(
        f"<tr><td class='k'><a href='{esc(f)}/report.html'>{esc(r['run'])}</a></td>"
        f"<td class='k'>{esc(fmt(r.get('evidence')))}</td>"
        f"<td class='k w'>{esc(str(r['verdict']))}</td></tr>"
        for f, r in zip(folders, runs, strict=False)
    )
    ens = overview.get("ensemble") or {}
    baselines = "; ".join(
        f"{esc(str(b.get('name')))}: total return {fmt(b.get('total_return'), 'pct')}"
        f", Sharpe {fmt(b.get('sharpe'), 'ratio')}"
        for b in overview.get("baselines") or []
    )
    parts = [
        pg.banner("SYNTHETIC DATA: generated prices, not a real market")
        if overview.get("synthetic") else "",
        f"<h1>{esc(str(overview.get('title')))}</h1>",
        f"<p>{len(overview['seeds'])} seeds; the deflated Sharpe ratio (DSR) counts N = "
        f"{overview['n_trials']} trials. {len(overview.get('evidence') or [])} of "
        f"{len(overview['seeds'])} seeds show evidence of skill.</p>",
        pg.verdict_box(overview.get("verdict"), bool(ens.get("evidence")),
                       "Verdict (seed ensemble)") if ens else "",
        "<h2>Overview</h2>",
        table,
        f"<p class='small'>Baselines in seed {overview['seeds'][0]}'s run (each report has "
        "its own; a baseline that uses a seeded model, such as the ranker alone, differs by "
        f"seed): {baselines}.</p>",
        pg.img(_boxplots(overview), "box plots over the seeds"),
        pg.img(png, "equity of every seed"),
        "<h2>Each run's verdict and report</h2>"
        "<div class='tw'><table><tr><th class='k'>run (its report)</th><th class='k'>evidence"
        f"</th><th class='k'>verdict</th></tr>{vrows}</table></div>",
    ]
    return pg.page(f"{overview.get('title')}: seeds", parts)


def _files(overview: dict, png: bytes | None, folders: list[str]) -> dict[str, bytes]:
    cols = ["run", *SEED_COLUMNS, "verdict"]
    rows = list(overview["rows"]) + [overview["mean"], overview["sd"]]
    if overview.get("ensemble"):
        rows.append(overview["ensemble"])
    csv = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    files = {
        "seeds.csv": csv_bytes(csv, lineterminator="\n", na_rep=""),
        "seeds.json": (json.dumps(overview, indent=2, allow_nan=False) + "\n").encode(),
        "index.html": _html(overview, png, folders),
    }
    if png:
        files["seeds.png"] = png
    return files


def write_seeds_report(
    runs: dict[int, RunData],
    ensemble: RunData | None,
    overview: dict,
    out,
    plots: bool = True,
) -> dict[str, Path]:
    """Write the seeds folder as one unit (see the module docstring).

    Each seed's and the ensemble's report folder is written with
    :func:`~btlstm.report.files.write_report` inside a temporary folder
    beside ``out``, then the overview files and ``manifest.json``; the whole
    folder is then swapped into place (the previous folder at ``out`` stays
    complete until then).

    Returns:
        ``{name: Path}`` of the overview files and the report folders.
    """
    target = check_outdir(out)
    folders = [f"seed_{seed}" for seed in runs] + (["ensemble"] if ensemble is not None else [])

    def reports(tmp: Path) -> dict:
        for seed, run in runs.items():
            write_report(run, tmp / f"seed_{seed}", plots=plots)
        if ensemble is not None:
            write_report(ensemble, tmp / "ensemble", plots=plots)
        return {f: {"report": True} for f in folders}

    png = _plot(runs, ensemble) if plots else None
    files = _files(overview, png, folders)
    header = {"format": SEEDS_FORMAT, "version": 1}
    write_folder(target, files, header, MANIFEST, owned=REPORT_FILES, fill=reports)
    return {name: target / name for name in [*files, *folders]}


def rebuild_seeds_report(folder) -> Path:
    """``btlstm report DIR`` on a seeds folder: every report folder in it is rebuilt
    (:func:`~btlstm.report.files.rebuild_report`), then ``index.html`` from
    ``seeds.json`` (checked against the manifest) and ``seeds.png``.

    Returns:
        The path of ``index.html``.
    """
    folder = Path(folder)
    where = f"report folder {str(folder)!r}"
    folder = check_folder(folder, where)
    known = ("seeds.json", "seeds.png", "index.html")
    manifest = read_manifest(folder, where, MANIFEST, (SEEDS_FORMAT,), known)
    listed = manifest["files"]
    folders = [n for n, info in listed.items() if info.get("report") is True]
    kept = {}
    for name in ("seeds.json", "seeds.png"):
        if name in listed:
            try:
                limit = MAX_JSON_BYTES if name.endswith(".json") else MAX_FILE_BYTES
                data = read_member(folder, name, where, limit, expect=listed[name]["bytes"])
            except FileNotFoundError:
                raise ReportError(
                    f"{where}: {name} is missing (listed in {MANIFEST}); the folder is incomplete"
                ) from None
            if entry_problem(listed[name], data) is not None:
                raise ReportError(
                    f"{where}: {name} does not match {MANIFEST} (sha256 differs): the file was "
                    "changed after the report was written"
                )
            kept[name] = data
    if "seeds.json" not in kept:
        raise ReportError(f"{where}: {MANIFEST} lists no seeds.json")
    overview = parse_json(kept["seeds.json"], f"{where}: seeds.json")
    if not isinstance(overview, dict):
        raise ReportError(
            f"{where}: seeds.json must be a JSON object, got {type(overview).__name__}"
        )
    for name in folders:
        rebuild_report(folder / name)
    try:
        page = _html(overview, kept.get("seeds.png"), folders)
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as e:
        text = " ".join(str(e).split())[:200]
        raise ReportError(
            f"{where}: seeds.json holds a value of a shape btlstm does not write, so the page "
            f"cannot be drawn ({type(e).__name__}: {text})"
        ) from None
    atomic_write_bytes(folder / "index.html", page)
    listed["index.html"] = file_entry(page)
    manifest["files"] = listed
    atomic_write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return folder / "index.html"


def is_seeds_folder(path) -> bool:
    """True when ``path`` is the folder of a ``--seeds`` run (manifest format btlstm-seeds)."""
    try:
        manifest = read_json_member(Path(path), MANIFEST, f"report folder {str(path)!r}")
    except (OSError, ValueError):  # not readable as data: load_report names the problem
        return False
    return isinstance(manifest, dict) and manifest.get("format") == SEEDS_FORMAT


def rebuild(outdir, plots: bool | None = None) -> Path:
    """``btlstm report DIR``: redraw a report folder, or a seeds folder and every report in it.

    A folder whose ``manifest.json`` has the format ``btlstm-seeds``
    (:func:`is_seeds_folder`) is rebuilt by :func:`rebuild_seeds_report`; any other by
    :func:`btlstm.report.files.rebuild_report` (``plots`` as there). This is
    ``btlstm.report.rebuild_report``.

    Returns:
        The path of the new ``report.html`` (``index.html`` for a seeds folder).
    """
    from btlstm.report import files as rf

    if is_seeds_folder(outdir):
        return rebuild_seeds_report(Path(outdir))
    return rf.rebuild_report(outdir, plots=plots)
