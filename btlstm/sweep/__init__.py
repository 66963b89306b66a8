"""Sweeps: a grid of model settings x seeds, run as independent tasks (``btlstm sweep``).

One module per job (``docs/experiments.md``):

- :mod:`btlstm.sweep.spec`: the configurations, seeds and tasks, validated
  before any work (:func:`make_sweep`, :func:`load_sweep`, :func:`regularizer_grid`);
- :mod:`btlstm.sweep.task`: one task: train, score, backtest (:func:`run_task`);
- :mod:`btlstm.sweep.engines`: where tasks run: this process, local processes, Ray;
- :mod:`btlstm.sweep.run`: :func:`run_sweep`, resumable;
- :mod:`btlstm.sweep.stats`: summaries, paired tests, ensembles, the verdict;
- :mod:`btlstm.sweep.report`: the files and the HTML page.

The names below are imported on first access, so ``import btlstm.sweep.engines``
(the pipeline's ``--seeds`` runs, paper trading's fit worker) loads no more than
that module. ``btlstm.experiments`` is the same API under its old name.
"""

from __future__ import annotations

import importlib

#: module of this package -> the public names it defines
_MODULES = {
    "spec": "METRICS RUN_COLUMNS HIGHER_IS_BETTER SLOTS KINDS REFERENCE SweepError Sweep "
    "regularizer_spec regularizer_grid make_sweep load_sweep",
    "task": "run_task evaluate_predictions",
    "engines": "ENGINES Task",
    "run": "SweepResult run_sweep",
    "stats": "collect_runs summarize paired_tests config_returns sweep_significance "
    "SIGNIFICANCE_KEYS",
    "report": "write_sweep_report",
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names.split()}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
