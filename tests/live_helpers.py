"""Helpers of tests/test_live.py that a fit worker process must import too.

A spawned worker unpickles the fit job's learner class by reference, so it
imports this module (found on the parent's ``sys.path``) and the
``register_learner`` below runs there as well.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from btlstm.learners import register_learner
from btlstm.learners.ridge import RidgeLearner, RidgeSettings
from btlstm.live.fitter import Fitter, run_fit_job


@dataclass
class SlowRidgeSettings(RidgeSettings):
    """Ridge settings plus ``release``: every fit after a worker's first waits for that file."""

    release: str = ""
    timeout: float = 60.0


@register_learner
class SlowRidge(RidgeLearner):
    """A ridge learner whose second and later fits (in one process) take as long as the
    test wants: they wait until the file ``settings.release`` exists."""

    name = "slow_ridge"
    Settings = SlowRidgeSettings

    def fit(self, *args, **kwargs):
        release = self.settings.release
        if self.fitted and release:
            t0 = time.monotonic()
            while not Path(release).exists():
                if time.monotonic() - t0 > self.settings.timeout:
                    raise TimeoutError(f"SlowRidge: {release} never appeared")
                time.sleep(0.01)
        return super().fit(*args, **kwargs)


class HeldFitter(Fitter):
    """A background fitter run by the test: a job is done only once the test releases it
    (``release(k)``); the fit itself then runs here, on collection."""

    name = "held"

    def __init__(self):
        super().__init__()
        self.released: set = set()
        self.jobs: list = []

    def release(self, k: int) -> None:
        self.released.add(k)

    def _start(self, job):
        self.jobs.append(job)
        return job

    def _done(self, job) -> bool:
        return job.k in self.released

    def _result(self, job):
        return run_fit_job(job)
