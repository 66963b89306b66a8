"""From a finished Backtrader run to an honest, readable report.

One job per module, data flowing one way:

- :mod:`~btlstm.report.schema`: what a report holds (:class:`RunData`, the
  tables' columns, the definition of every number);
- :mod:`~btlstm.report.sections`: each section and table, read from a finished
  strategy's analyzers;
- :mod:`~btlstm.report.notes`: the plain-language notes (:func:`honest_notes`);
- :mod:`~btlstm.report.collect`: the assembly: finished strategy ->
  :class:`RunData` (plain data: a JSON dict and four tables);
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

from btlstm.report.collect import add_comparison, build_report, collect, to_jsonable
from btlstm.report.files import ReportError, check_outdir, load_report, write_report
from btlstm.report.notes import honest_notes
from btlstm.report.schema import DEFINITIONS, SUMMARY_KEYS, RunData
from btlstm.report.sections import forecasts_table, per_year_returns
from btlstm.report.seeds import rebuild as rebuild_report
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
