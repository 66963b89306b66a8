"""From a finished Backtrader run to an honest, readable report.

One job per module: :mod:`~btlstm.report.collect` (finished strategy -> plain
data), :mod:`~btlstm.report.table` (terminal table), :mod:`~btlstm.report.files`
(CSV/JSON, reading back), :mod:`~btlstm.report.plots` (Agg PNGs) and
:mod:`~btlstm.report.html` (one self-contained page).
"""

from btlstm.report.collect import DEFINITIONS, build_report, to_jsonable
from btlstm.report.files import load_report, write_report
from btlstm.report.table import format_table

__all__ = [
    "DEFINITIONS",
    "build_report",
    "format_table",
    "write_report",
    "load_report",
    "to_jsonable",
]
