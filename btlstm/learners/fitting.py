"""One fit / cache / seed path: load a verified cached model, or fit with the fit's seed and cache it.

Every walk-forward engine fits through here: :class:`btlstm.forecast.walkforward.WalkForward`
(a feed's windows, and a pooled panel's) and
:class:`btlstm.forecast.xswalkforward.RankerWalkForward` (a panel's cross-section). The
engine says *what* to fit (the learner, the training call, the cache file and
its key, the fit number ``k`` and the run's seed); this module does the rest,
the same way for all of them:

- a cached model is used only when :func:`btlstm._files.load_verified` accepts
  it (a regular file whose sha256 and the user's HMAC match the manifest written
  with it, loaded by the learner's own checked ``load``); otherwise the fit is
  trained again and the entry rewritten;
- fit ``k`` of a run seeded ``seed`` trains with :func:`~btlstm.learners.base.fit_seed`
  (``seed * 100003 + k``), the one seed rule, so fits are independent of one another
  and of how many workers ran them;
- a fitted model is saved to the cache with its signed manifest
  (:func:`btlstm._files.write_manifest`: kind, learner, fit, date, rows);
- every fit, trained or loaded, is described by one
  :class:`~btlstm.learners.base.FitRecord`.

A model trained in a worker process comes back as bytes: :func:`adopt_model`
writes it into the cache with its manifest and loads it from there, checked
like any cached model.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from btlstm._files import atomic_write_bytes, load_verified, write_manifest
from btlstm.errors import DataError
from btlstm.learners.base import FitRecord, Learner, fit_seed

__all__ = ["fit_or_load", "adopt_model", "load_cached"]


def load_cached(learner: Learner, path: Path | None, kind: str,
                what: str = "cached model") -> bool:  # fmt: skip
    """Load the model cached at ``path`` into ``learner`` if it is there and verified
    (:func:`btlstm._files.load_verified`); False (with a warning naming the file when
    it is there but refused) otherwise."""
    if path is None or not Path(path).exists():
        return False
    return bool(load_verified(path, kind, learner.load, what))


def fit_or_load(
    learner: Learner,
    train: Callable[[int], FitRecord],
    *,
    k: int,
    seed: int,
    date: str,
    rows: int,
    path: Path | None = None,
    kind: str = "",
    what: str = "cached model",
    total: int | None = None,
    **fields,
) -> FitRecord:
    """Fit ``k`` of a run: the cached model at ``path`` if it verifies, else ``train``.

    Args:
        learner: the learner that holds the model afterwards.
        train: ``train(fit_seed) -> FitRecord``: fits ``learner`` with that seed
            (the engine's own call: its samples, epochs, groups ...).
        k: fit number (0-based); ``seed``: the run's seed (the fit trains with
            :func:`~btlstm.learners.base.fit_seed` ``(seed, k)``).
        date: the fit date (``YYYY-MM-DD``); ``rows``: samples used (the manifest's
            ``rows`` and the record's ``n_samples``).
        path: the cache file (None: no cache); ``kind``: the manifest's kind;
            ``what``: how a refused cache entry is named in the warning.
        total: fits planned in the run (the record's ``total``).
        **fields: further :class:`FitRecord` fields set on the record, trained or
            loaded (``epochs`` and ``n_dates`` of a ranker fit).

    Returns:
        The fit's :class:`FitRecord` (``cached=True`` when loaded, ``seconds`` the
        time of the load or of the fit and save).
    """
    t0 = time.perf_counter()
    if load_cached(learner, path, kind, what):
        rec = FitRecord(k, date, rows, cached=True, total=total)
    else:
        rec = train(fit_seed(seed, k))
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # a learner's save may assume it
            learner.save(path)
            write_manifest(path, rows=rows, kind=kind, learner=learner.name, fit=k, date=date)
        rec = dataclasses.replace(rec, k=k, date=date, n_samples=rows, cached=False, total=total)
    return dataclasses.replace(rec, seconds=time.perf_counter() - t0, **fields)


def adopt_model(
    learner: Learner,
    model: bytes,
    rec: FitRecord,
    *,
    path: Path,
    kind: str,
    k: int,
    date: str,
    total: int | None = None,
) -> FitRecord:
    """A model fitted elsewhere (a worker process's saved bytes and record) into the
    cache at ``path`` with its manifest, then loaded from there into ``learner``,
    checked as any cached model.

    Raises:
        DataError: the model does not load (named by fit number and date).
    """
    atomic_write_bytes(path, model)
    write_manifest(path, rows=rec.n_samples, kind=kind, learner=learner.name, fit=k, date=date)
    if not load_cached(learner, path, kind):
        raise DataError(f"the model of fit {k + 1} ({date}) from a worker does not load")
    return dataclasses.replace(rec, k=k, date=date, cached=False, total=total)
