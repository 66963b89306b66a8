"""``lightgbm``: LightGBM regression on the flattened window, a windows learner.

Distinct from the ranker (:mod:`btlstm.learners.ranker`, LambdaRank over the
cross-section of a day): this learner regresses a feed's forward return on the
same z-scored windows the LSTM sees, so it runs wherever a window learner runs
(``btlstm run hold``, the pooled ``rotation``, ``paper``, ``sweep``, the
indicators' ``learner=`` param).

Inputs (one row per window, ``lookback * n_features`` columns):
  - the flattened window ``window.ravel()``, bar-major: column
    ``b * n_features + f`` is feature ``f`` of bar ``b`` (``b = lookback - 1``
    is the last bar, the one the prediction is made at); the last bar's
    features are therefore already among the columns, so no separate
    "last bar" block is added (it would only duplicate columns).

Training: ``objective="regression"`` (L2; ``objective="binary"``, the logistic
loss, with the ``sign`` target: a prediction is then the probability of up) with ``n_estimators`` rounds at most,
early stopping on the walk-forward's validation slice (older than the fit
date; ``patience`` rounds, as the networks' ``patience`` epochs) when there is
one, ``deterministic=True`` and ``seed`` = the fit's seed, so a fit gives the
same model on any number of threads and in any process. ``num_threads`` 0 uses
the cores this process may run on (a pool's worker is limited to its share by
``OMP_NUM_THREADS``, read here as the ranker does).

Saved as LightGBM's text model (no pickle): a load checks the file's size,
parses it with LightGBM, and refuses a model whose feature count is not this
run's ``lookback * n_features`` (:class:`~btlstm.errors.ModelFileError`
naming the file). Importing this module imports neither LightGBM nor TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from btlstm.checks import check_number
from btlstm.errors import ModelFileError
from btlstm.learners.base import FitRecord, Learner
from btlstm.learners.ranker import (
    _lightgbm,
    available_cores,
    booster_predictor,
    check_tree_settings,
    read_booster,
    save_booster,
)

__all__ = ["LightGBMSettings", "LightGBMLearner", "LIGHTGBM_BOUNDS"]

#: The bounds ``check_settings`` enforces: key -> (low, high). Above ``high``
#: needs ``--allow-large`` for ``num_leaves`` and ``n_estimators`` (sizes);
#: ``learning_rate`` outside its range is refused always.
LIGHTGBM_BOUNDS = {
    "num_leaves": (2, 4096),
    "n_estimators": (1, 10_000),
    "learning_rate": (1e-4, 1.0),
    "min_data_in_leaf": (1, 100_000),
}


@dataclass
class LightGBMSettings:
    """Settings of :class:`LightGBMLearner` (``[model]`` keys, ``--flags``).

    Defaults are LightGBM's own (``num_leaves`` 31, ``learning_rate`` 0.05 as
    the ranker) with fewer leaves' samples (``min_data_in_leaf`` 20, LightGBM's
    default) and L2 1.0, sized for a few thousand windows per fit.

    Args:
        n_estimators: boosting rounds at most (early stopping on the validation
            slice may stop sooner; 1..10000).
        learning_rate: shrinkage per round (0.0001..1).
        num_leaves: leaves per tree (2..4096).
        min_data_in_leaf: minimum windows in a leaf (>= 1).
        feature_fraction: share of the window's columns drawn per tree (seeded; (0, 1]).
        bagging_fraction: share of windows drawn per round (seeded; (0, 1]; 1: all).
        lambda_l2: L2 penalty on leaf values (>= 0).
        num_threads: LightGBM threads; 0: every core this process may run on (or
            ``OMP_NUM_THREADS`` in a pool's worker). Not in the cache key: a
            deterministic fit is the same on any number of threads.
    """

    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.8
    bagging_fraction: float = 1.0
    lambda_l2: float = 1.0
    num_threads: int = 0

    def __post_init__(self):
        check_tree_settings(self)
        check_number("bagging_fraction", self.bagging_fraction, 0.0, 1.0, lo_open=True)

    def threads(self) -> int:
        """LightGBM threads of a fit: ``num_threads``; else a worker's thread limit
        (:func:`btlstm.executor.thread_limit`, its share of the machine); else every
        usable core."""
        from btlstm.executor import thread_limit

        if self.num_threads:
            return int(self.num_threads)
        return thread_limit() or available_cores()

    def params(self, seed: int) -> dict:
        """LightGBM parameters of one fit (deterministic on any number of threads)."""
        p = {
            "objective": "regression",
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": float(self.feature_fraction),
            "lambda_l2": float(self.lambda_l2),
            "num_threads": self.threads(),
            "seed": int(seed),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if self.bagging_fraction < 1.0:
            p.update(bagging_fraction=float(self.bagging_fraction), bagging_freq=1)
        return p


class LightGBMLearner(Learner):
    """LightGBM regression on the flattened window (``learner = "lightgbm"``).

    Params: the fields of :class:`LightGBMSettings` (``--n-estimators``,
    ``--num-leaves``, ``--learning-rate``, ...). The walk-forward's ``epochs``
    and ``batch_size`` do not apply; ``patience`` is the early-stopping rounds
    on the validation slice (0: no early stopping).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 4, 2)).astype("float32")
        >>> y = np.where(X[:, -1, 0] > 0, 1.0, -1.0)
        >>> m = LightGBMLearner(4, 2, {"n_estimators": 50, "num_threads": 1})
        >>> rec = m.fit(X, y, seed=1)
        >>> rec.epochs, bool(np.corrcoef(m.predict(X), y)[0, 1] > 0.9)
        (50, True)
    """

    name = "lightgbm"
    Settings = LightGBMSettings
    suffix = ".lgb.txt"
    untracked = ("num_threads",)

    def __init__(self, lookback: int, n_features: int, settings=None):
        super().__init__(lookback, n_features, settings)
        self.booster = None

    # ------------------------------------------------------------- settings
    @classmethod
    def check_settings(cls, given, *, lookback, n_features, where, allow_large=False):
        """``num_leaves``, ``n_estimators``, ``min_data_in_leaf`` within
        :data:`LIGHTGBM_BOUNDS` (above: only with ``--allow-large``), and
        ``learning_rate`` within its range always."""
        for key, (lo, hi) in LIGHTGBM_BOUNDS.items():
            if key not in given or given[key] is None:
                continue
            v = given[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue  # the settings dataclass reports the type
            size = key != "learning_rate"
            if v < lo or (v > hi and not (size and allow_large)):
                extra = " (or --allow-large)" if size and v > hi else ""
                raise ValueError(f"{where(key)}: expected {lo} to {hi}{extra}, got {v!r}")

    @classmethod
    def memory_bytes(cls, settings, *, lookback, n_features, batch_size):
        """LightGBM's binned copy of the windows dominates and depends on the data;
        from the settings alone: the trees (about 64 bytes a leaf and round) and
        a histogram per leaf (256 bins x 24 bytes x columns)."""
        s = cls.make_settings(settings)
        cols = int(lookback) * int(n_features)
        return int(s.n_estimators) * int(s.num_leaves) * 64 + int(s.num_leaves) * cols * 256 * 24

    # ------------------------------------------------------------- fit / predict
    def _rows(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[None]
        if X.shape[1:] != (self.lookback, self.n_features):
            raise ValueError(
                f"X must have shape (n, {self.lookback}, {self.n_features}), got {X.shape}"
            )
        return X.reshape(len(X), -1)

    def fit(self, X, y, X_val=None, y_val=None, *, seed=0, epochs=0, batch_size=0,
            patience=0, warm=False) -> FitRecord:  # fmt: skip
        """Fit on windows ``X`` and targets ``y``; with a validation slice, stop
        after ``patience`` rounds without improvement (the best round is kept)."""
        lgb = _lightgbm()

        A = self._rows(X)
        y = np.asarray(y, dtype=np.float64)
        if len(y) != len(A) or len(A) < 2:
            raise ValueError(f"LightGBMLearner: {len(A)} windows and {len(y)} targets")
        names = [f"b{b}_f{f}" for b in range(self.lookback) for f in range(self.n_features)]
        ds = lgb.Dataset(A, label=y, feature_name=names, free_raw_data=True,
                         params={"verbosity": -1})  # fmt: skip
        params = self.settings.params(seed)
        if self.target == "sign":  # 0/1 labels: logistic loss, predictions P(up)
            params["objective"] = "binary"
        metric = "binary_logloss" if self.target == "sign" else "l2"
        sets, callbacks, record = [ds], [], {}
        have_val = X_val is not None and len(X_val) > 0
        if have_val:
            vs = lgb.Dataset(self._rows(X_val), label=np.asarray(y_val, dtype=np.float64),
                             reference=ds)  # fmt: skip
            sets.append(vs)
            callbacks.append(lgb.record_evaluation(record))
            if patience and int(patience) > 0:
                callbacks.append(lgb.early_stopping(int(patience), verbose=False))
        booster = lgb.train(
            params, ds, num_boost_round=int(self.settings.n_estimators),
            valid_sets=sets if have_val else None,
            valid_names=["train", "val"] if have_val else None, callbacks=callbacks,
        )  # fmt: skip
        best = int(booster.best_iteration or 0)
        if best > 0:  # keep the best round only: the saved model is the one evaluated
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.booster = booster
        self.fitted = True
        rounds = booster.current_iteration()
        loss = float(np.mean((booster.predict(A, num_threads=params["num_threads"]) - y) ** 2))
        val = None
        if have_val:
            val = float(min(record["val"][metric][:rounds]))
        return FitRecord(epochs=rounds, loss=loss, val_loss=val)

    def predictor(self, n_windows: int = 1):
        if self.booster is None:
            raise ValueError("LightGBMLearner: predict before fit (no model)")
        return booster_predictor(self.booster, self._rows, self.settings.threads())

    # ------------------------------------------------------------- save / load
    def save(self, path) -> Path:
        """Write LightGBM's text model to ``path`` atomically."""
        return save_booster(self.booster, path, "LightGBMLearner")

    def load(self, path) -> None:
        """Replace the model with LightGBM's text model at ``path``.

        Raises:
            btlstm.errors.ModelFileError: missing, larger than
                :data:`~btlstm._files.MAX_MODEL_BYTES`, not a LightGBM model, or one
                whose feature count is not ``lookback * n_features``.
        """
        where = f"lightgbm model file {str(path)!r}"
        booster, text = read_booster(path, where)
        want = self.lookback * self.n_features
        if booster.num_feature() != want:
            raise ModelFileError(
                f"{where} holds a model of {booster.num_feature()} features, this run needs "
                f"{want} (lookback {self.lookback} x {self.n_features} features)"
            )
        want_obj = "objective=binary" if self.target == "sign" else "objective=regression"
        if want_obj not in text.split("\nTree=", 1)[0]:
            kind = "binary (target sign)" if self.target == "sign" else "regression"
            raise ModelFileError(f"{where} is not a LightGBM {kind} model (the ranker's?)")
        self.booster = booster
        self.fitted = True
