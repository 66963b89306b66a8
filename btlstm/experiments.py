"""The sweep API under its old name, for scripts written before :mod:`btlstm.sweep`.

Everything lives in :mod:`btlstm.sweep` now (spec, task, engines, run,
statistics, report); ``from btlstm.experiments import make_sweep, run_sweep``
keeps working and gives the same objects.
"""

from btlstm.sweep.engines import Task
from btlstm.sweep.report import write_sweep_report
from btlstm.sweep.run import SweepResult, run_sweep
from btlstm.sweep.spec import (
    KINDS,
    METRICS,
    RUN_COLUMNS,
    SLOTS,
    Sweep,
    SweepError,
    load_sweep,
    make_sweep,
    regularizer_grid,
    regularizer_spec,
)
from btlstm.sweep.stats import (
    SIGNIFICANCE_KEYS,
    collect_runs,
    config_returns,
    paired_tests,
    summarize,
    sweep_significance,
)
from btlstm.sweep.task import evaluate_predictions, run_task

#: the names ``btlstm.experiments`` had (all of them now in :mod:`btlstm.sweep`)
__all__ = [
    "METRICS",
    "RUN_COLUMNS",
    "SLOTS",
    "KINDS",
    "SweepError",
    "Sweep",
    "Task",
    "SweepResult",
    "regularizer_spec",
    "regularizer_grid",
    "make_sweep",
    "load_sweep",
    "run_task",
    "run_sweep",
    "evaluate_predictions",
    "collect_runs",
    "summarize",
    "paired_tests",
    "config_returns",
    "sweep_significance",
    "SIGNIFICANCE_KEYS",
    "write_sweep_report",
]
