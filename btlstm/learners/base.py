"""The learner interface: what the walk-forward engine asks of a model.

A learner turns known samples into predictions. It never decides which
samples it may see: :mod:`btlstm.forecast.schedule` does that, and
:mod:`btlstm.forecast.walkforward` hands the learner only the windows (and the past
validation slice) that the schedule allows at a fit date.

One learner object lives for a whole walk-forward run. Each :meth:`Learner.fit`
replaces its state (or, with ``warm=True``, continues from it), so a run that
refits 180 times keeps one model in memory, not 180.

Every fit is described by one record type, :class:`FitRecord`: a learner's
``fit`` fills in what it knows (epochs, losses) and the walk-forward engines
(:mod:`btlstm.forecast.walkforward`, :mod:`btlstm.forecast.xswalkforward`) add when and on what
it was fitted.

This module is the learners' whole contract; it imports no model library.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np

from btlstm._settings import check_known_keys
from btlstm.errors import ModelFileError

__all__ = ["Learner", "FitRecord", "FitResult", "ModelFileError", "fit_seed"]

#: multiplier of the per-fit seed rule (:func:`fit_seed`)
SEED_STRIDE = 100003


def fit_seed(seed: int, k: int) -> int:
    """The seed of fit ``k`` of a run seeded ``seed``: ``seed * 100003 + k``.

    The one place this rule lives: every walk-forward engine (a feed's windows,
    pooled feeds, a panel's cross-section) seeds fit ``k`` with it, so fits are
    independent of one another and of the number of workers.

    Example:
        >>> fit_seed(7, 3)
        700024
    """
    return int(seed) * SEED_STRIDE + int(k)


@dataclass
class FitRecord:
    """One model fit (for progress lines, reports and tests).

    A learner's :meth:`Learner.fit` returns one with ``epochs``, ``loss`` and
    ``val_loss``; a walk-forward engine fills in the rest.

    Attributes:
        k: fit number (0-based).
        date: the fit date (``YYYY-MM-DD``).
        n_samples: samples used (training + validation): windows, or
            stock-days for a cross-sectional learner.
        n_val: of which validation samples.
        epochs: training epochs run (0 for closed-form learners; boosting
            rounds for the ranker).
        loss: final training loss (None if not applicable).
        val_loss: best validation loss (None without a validation slice).
        seconds: wall time of the fit (or of the load from the cache).
        cached: loaded from the model cache instead of trained.
        total: fits planned in this run (None when streaming).
        n_dates: dates (query groups) of a cross-sectional fit (None otherwise).
    """

    k: int = 0
    date: str = ""
    n_samples: int = 0
    n_val: int = 0
    epochs: int = 0
    loss: float | None = None
    val_loss: float | None = None
    seconds: float = 0.0
    cached: bool = False
    total: int | None = None
    n_dates: int | None = None


#: The name of :class:`FitRecord` before one record type served every fit.
FitResult = FitRecord


class Learner(ABC):
    """Fit on known samples, predict windows, save and load its fitted state.

    Subclasses set ``name`` (the registry key), ``Settings`` (a dataclass of
    their own settings; ``WalkForwardConfig.model`` holds its fields) and
    ``suffix`` (file suffix of a saved state).

    Args:
        lookback: bars per input window.
        n_features: features per bar.
        settings: a ``Settings`` instance, a dict of its fields, or None (defaults).
    """

    name: ClassVar[str] = ""
    #: what one sample is: ``"windows"`` (a feed's bars, the predictors' learners) or
    #: ``"rows"`` (cross-sectional feature rows of a panel, a scorer's learner)
    input: ClassVar[str] = "windows"
    Settings: ClassVar[type] = object
    suffix: ClassVar[str] = ".bin"
    #: fitting or loading imports TensorFlow: a worker process pins TensorFlow's
    #: threads before its first fit, and a live run imports :attr:`preload` first
    needs_tensorflow: ClassVar[bool] = False
    #: modules a live run's fitter process imports as it starts (its first fit is
    #: then not slowed by the import)
    preload: ClassVar[tuple] = ()
    #: other names the registry accepts for this learner (``"ridge"`` for ``"linear"``)
    aliases: ClassVar[tuple] = ()
    #: the settings fields that do not change a fitted model (left out of the cache key)
    untracked: ClassVar[tuple] = ()
    #: what the labels are (``WalkForwardConfig.target``, set by :meth:`set_target`):
    #: ``"return"`` (regression, the default) or ``"sign"`` (0/1 labels: a Keras learner
    #: gets a sigmoid head and binary cross-entropy, lightgbm the binary objective, the
    #: linear learner regresses the 0/1 labels); ``vol_scaled`` and ``rank`` are regressions
    target: str = "return"

    def set_target(self, target: str) -> None:
        """Learn ``target`` (:data:`btlstm.forecast.features.TARGETS`) from the next fit
        on; a learner whose model depends on it (a sigmoid head for ``"sign"``) reads
        :attr:`target` when it builds. Only the name is checked here."""
        if target not in ("return", "sign", "vol_scaled", "rank"):
            raise ValueError(
                f"target must be one of return, sign, vol_scaled, rank, got {target!r}"
            )
        self.target = target

    def __init_subclass__(cls, **kwargs):
        """An alias names one class: a subclass (``SlowRidge(LinearLearner)``) does not
        inherit its parent's ``aliases`` (``"ridge"`` would then name two learners)."""
        super().__init_subclass__(**kwargs)
        if "aliases" not in cls.__dict__:
            cls.aliases = ()

    # ----------------------------------------------------------------- settings
    @classmethod
    def check_settings(cls, given: dict, *, lookback: int, n_features: int,
                       where: Callable[[str], str], allow_large: bool = False) -> None:
        """Refuse settings out of this learner's bounds before any work.

        ``given`` holds the settings the user gave (TOML keys / flags), ``where(key)``
        spells a key as the user typed it (``--lstm-units`` or ``[model] lstm_units in
        F``), ``allow_large`` is ``--allow-large``. Raise ``ValueError`` whose message
        starts with ``where(key)`` and states the valid range. The default checks
        nothing (a learner with no size settings).
        """
        return None

    @classmethod
    def memory_bytes(cls, settings, *, lookback: int, n_features: int, batch_size: int) -> int:
        """Estimated peak bytes of one fit (weights, gradients, optimizer state and
        one batch's activations), from the settings alone (no model library). 0: small."""
        return 0

    @classmethod
    def validate(cls, settings, *, lookback: int, n_features: int) -> None:
        """Build the model once, without data, so a bad setting fails now (~0.1 s
        after the model library is imported); ``ValueError`` names the setting. The
        default builds nothing."""
        return None

    def __init__(self, lookback: int, n_features: int, settings=None):
        self.lookback = int(lookback)
        self.n_features = int(n_features)
        self.settings = self.make_settings(settings)
        self.fitted = False

    @classmethod
    def make_settings(cls, settings=None):
        """A ``Settings`` instance from None, a dict (unknown keys raise) or an instance."""
        if settings is None:
            return cls.Settings()
        if isinstance(settings, cls.Settings):
            return settings
        if isinstance(settings, dict):
            check_known_keys(cls.Settings, settings, f"{cls.name} model setting")
            return cls.Settings(**settings)
        raise ValueError(
            f"model settings for learner {cls.name!r} must be a dict or "
            f"{cls.Settings.__name__}, got {type(settings).__name__}: {settings!r}"
        )

    def token(self) -> dict[str, Any]:
        """Plain-JSON description of everything that changes a fitted model (cache keys):
        the learner's name, window shape and every settings field but :attr:`untracked`."""
        d = dataclasses.asdict(self.settings)
        for k in self.untracked:
            d.pop(k, None)
        d = json.loads(json.dumps(d, sort_keys=True, default=str))
        if self.target == "sign":  # another model (head, loss); other targets: same model
            d["target"] = "sign"
        return {"learner": self.name, "lookback": self.lookback, "n_features": self.n_features, **d}

    @abstractmethod
    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        *,
        seed: int = 0,
        epochs: int = 20,
        batch_size: int = 64,
        patience: int = 3,
        warm: bool = False,
    ) -> FitRecord:
        """Fit on ``X`` ``(n, lookback, n_features)`` and ``y`` ``(n,)``; the optional
        validation slice (older-than-the-fit-date samples) drives early stopping.
        Returns a :class:`FitRecord` with ``epochs``, ``loss`` and ``val_loss``."""

    @abstractmethod
    def predictor(self, n_windows: int = 1) -> Callable[[np.ndarray], np.ndarray]:
        """A fast function ``X -> 1-D predictions`` for the current fitted state.

        ``n_windows`` is how many windows the caller is about to predict with
        it (a learner may pick a faster compiled path for large batches).
        """

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1-D predictions for windows ``X`` (batched)."""
        X = np.asarray(X)
        if len(X) == 0:
            return np.empty(0)
        return self.predictor(len(X))(X)

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the fitted state to ``path`` atomically."""

    @abstractmethod
    def load(self, path: str | Path) -> None:
        """Replace the current state with the one saved at ``path``.

        Raises:
            ModelFileError (a ValueError): the file is missing,
                corrupt, or does not fit this learner's input shape.
        """
