"""From a finished Backtrader run to an honest, readable report.

One job per module, data flowing one way:

- :mod:`~btlstm.report.collect`: finished strategy -> :class:`RunData` (plain
  data: a JSON dict and four tables), read from the analyzers only;
  :func:`add_comparison` appends baseline runs;
- :mod:`~btlstm.report.table`: the terminal table (:func:`format_table`);
- :mod:`~btlstm.report.files`: the folder written as one unit
  (:func:`write_report`), checked when read (:func:`load_report`), redrawn from
  its files (:func:`rebuild_report`);
- :mod:`~btlstm.report.plots`: Agg PNGs (equity, drawdown, predictions, weights);
- :mod:`~btlstm.report.html`: one self-contained ``report.html``;
- :mod:`~btlstm.report.seeds`: the folder of a ``--seeds`` run (a report per
  seed and for the seed ensemble, and an overview).

Example::

    strategy = cerebro.run()[0]              # with add_standard_analyzers(...)
    run = collect(strategy, {"title": "Hold 5 days on CSI 300", "config": cfg})
    add_comparison(run, baseline.run()[0], "buy-and-hold CSI300")
    print(format_table(run.report))
    write_report(run, "runs/csi300")
    rebuild_report("runs/csi300")            # later: report.html from the files
"""

from btlstm.report import files as _files
from btlstm.report.collect import (
    DEFINITIONS,
    SUMMARY_KEYS,
    RunData,
    add_comparison,
    build_report,
    collect,
    forecasts_table,
    honest_notes,
    per_year_returns,
    to_jsonable,
)
from btlstm.report.files import (
    ReportError,
    check_outdir,
    load_report,
    write_report,
)
from btlstm.report.seeds import is_seeds_folder, rebuild_seeds_report
from btlstm.report.table import format_table

__all__ = [
    "DEFINITIONS",
    "SUMMARY_KEYS",
    "RunData",
    "ReportError",
    "collect",
    "add_comparison",
    "honest_notes",
    "format_table",
    "check_outdir",
    "write_report",
    "load_report",
    "rebuild_report",
    "build_report",
    "to_jsonable",
    "forecasts_table",
    "per_year_returns",
]


def rebuild_report(outdir, plots: bool | None = None):
    """``btlstm report DIR``: redraw a report folder from its files
    (:func:`btlstm.report.files.rebuild_report`), or every report of a ``--seeds``
    run's folder and then its overview (:func:`btlstm.report.seeds.rebuild_seeds_report`).

    Returns:
        The path of the new ``report.html`` (``index.html`` for a ``--seeds`` folder).
    """
    if is_seeds_folder(outdir):
        return rebuild_seeds_report(outdir)
    return _files.rebuild_report(outdir, plots)
