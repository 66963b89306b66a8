"""StockRanker: LightGBM lambdarank over the cross-section of a day (fit / predict / save / load).

A sample is one stock on one day: its row of
:func:`btlstm.forecast.xsfeatures.cross_sectional_features` (bars up to that day) and,
as label, the per-date relevance grade (:func:`btlstm.forecast.xsfeatures.relevance_grades`)
of its forward ``horizon``-bar return. One query group is one date: the model
learns to order the stocks of a day. Its settings are :class:`RankerSettings`.

Which samples a fit may use, and when, is not decided here:
:class:`btlstm.forecast.xswalkforward.RankerWalkForward` walks the ranker forward on the
no-look-ahead schedule of :mod:`btlstm.forecast.schedule`. Importing this module imports
neither LightGBM nor TensorFlow; fitting and loading import LightGBM.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from btlstm._files import MAX_MODEL_BYTES, atomic_write_bytes
from btlstm.checks import check_int, check_number
from btlstm.errors import ModelFileError
from btlstm.forecast.xsfeatures import DEFAULT_HORIZONS, check_horizons
from btlstm.learners.base import FitRecord, Learner

__all__ = ["RankerSettings", "RankerConfig", "StockRanker"]


def check_tree_settings(s) -> None:
    """The LightGBM settings the ranker and the ``lightgbm`` learner share, each in its
    range (``ValueError`` naming the field): n_estimators, learning_rate, num_leaves,
    min_data_in_leaf, feature_fraction, lambda_l2, num_threads."""
    check_int("n_estimators", s.n_estimators, lo=1)
    check_number("learning_rate", s.learning_rate, lo=0.0, lo_open=True)
    check_int("num_leaves", s.num_leaves, lo=2)
    check_int("min_data_in_leaf", s.min_data_in_leaf, lo=1)
    check_number("feature_fraction", s.feature_fraction, 0.0, 1.0, lo_open=True)
    check_number("lambda_l2", s.lambda_l2, lo=0.0)
    check_int("num_threads", s.num_threads, lo=0)


@dataclass
class RankerSettings:
    """The ranker's own settings (``WalkForwardConfig.learner_settings`` with ``learner="ranker"``).

    Args:
        n_estimators: boosting rounds per fit.
        learning_rate: shrinkage per round.
        num_leaves: leaves per tree.
        min_data_in_leaf: minimum samples in a leaf.
        feature_fraction: share of features drawn per tree (seeded).
        lambda_l2: L2 penalty on leaf values.
        n_grades: relevance grades per date (2..31), quantile buckets of the label.
        horizons: look-backs (bars) of the return features.
        feature_columns: feature columns to use (None: every column of
            :func:`btlstm.forecast.xsfeatures.cross_sectional_features`).
        num_threads: LightGBM threads; 0 (the default): every core this
            process may run on (``os.sched_getaffinity``), for a ranker that
            runs alone. A pool of workers passes its share instead. The scores
            do not depend on it: ``deterministic=True`` makes LightGBM give the
            same model on any number of threads (``tests/test_ranker.py``), so
            it is not part of the model cache's key.
    """

    n_estimators: int = 100
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    lambda_l2: float = 1.0
    n_grades: int = 5
    horizons: tuple = DEFAULT_HORIZONS
    feature_columns: tuple | None = None
    num_threads: int = 0

    def __post_init__(self):
        check_tree_settings(self)
        check_int("n_grades", self.n_grades, lo=2, hi=31)
        self.horizons = check_horizons(self.horizons)
        fc = self.feature_columns
        if fc is not None:
            if isinstance(fc, str) or not hasattr(fc, "__iter__"):
                raise ValueError(f"feature_columns must be a list of names or None, got {fc!r}")
            self.feature_columns = tuple(str(f) for f in fc)
            if not self.feature_columns:
                raise ValueError("feature_columns must name at least one column, got []")

    def threads(self) -> int:
        """The LightGBM threads of a fit: ``num_threads``, or every usable core when 0."""
        return int(self.num_threads) or available_cores()

    def params(self, seed: int) -> dict:
        """LightGBM parameters of one fit (deterministic on any number of threads)."""
        return {
            "objective": "lambdarank",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "lambda_l2": self.lambda_l2,
            "num_threads": self.threads(),
            "seed": int(seed),
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }


def _lightgbm():
    """``import lightgbm``, with OpenMP's idle threads sleeping instead of spinning.

    ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment sets it): on a machine
    whose cores are shared with other processes, spinning OpenMP threads wait
    for each other at every barrier; measured on 2 shared cores (load 12), a
    100-round fit of 60,000 rows took 76 s on 2 spinning threads, 6.5 s on 2
    passive ones and 5.0 s on 1. It takes effect when OpenMP starts, so it is
    set before LightGBM is first imported."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import lightgbm

    return lightgbm


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where
    the platform has no affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: The name of :class:`RankerSettings` before every learner's settings ended in ``Settings``.
RankerConfig = RankerSettings


def save_booster(booster, path, who: str) -> Path:
    """Write a fitted LightGBM booster's text model to ``path`` atomically (``who``
    names the learner in the error before a fit)."""
    if booster is None:
        raise ValueError(f"{who}: nothing to save before fit")
    return atomic_write_bytes(Path(path), booster.model_to_string().encode("utf-8"))


def read_booster(path, where: str):
    """``(booster, text)`` of the LightGBM text model at ``path``, checked before it is
    parsed: it must exist, hold at most :data:`~btlstm._files.MAX_MODEL_BYTES` and
    start as LightGBM's text models do. ``where`` names the file in every
    :class:`~btlstm.errors.ModelFileError`; the caller checks what the model is."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ModelFileError(f"{where} does not exist") from None
    except OSError as e:
        raise ModelFileError(f"{where} cannot be read ({type(e).__name__}: {e})") from None
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{where} is {size:,} bytes, more than a model file may be ({MAX_MODEL_BYTES:,})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{where} cannot be read ({type(e).__name__}: {e})") from None
    if not text.startswith("tree\n"):
        raise ModelFileError(f"{where} is not a LightGBM text model (no 'tree' header)")
    try:
        booster = _lightgbm().Booster(model_str=text)
    except Exception as e:  # lightgbm raises LightGBMError on a bad model text
        raise ModelFileError(f"{where} is corrupt ({type(e).__name__}: {e})") from None
    return booster, text


def booster_predictor(booster, rows, threads: int):
    """``X -> float64 predictions`` of ``booster`` on ``rows(X)`` with ``threads`` threads."""
    return lambda X: np.asarray(booster.predict(rows(X), num_threads=threads), dtype=np.float64)


class StockRanker(Learner):
    """LightGBM ``lambdarank`` on feature rows, one query group per date.

    Args:
        lookback: always 1 (a sample is one feature row); present for the
            :class:`~btlstm.learners.base.Learner` interface.
        n_features: features per row (0: taken from the first fit).
        settings: a :class:`RankerSettings`, a dict of its fields, or None.
        feature_names: column names (for importances and the saved model).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(400, 3))
        >>> y = (X[:, 0] > 0).astype(int)            # grade 1 when feature 0 is positive
        >>> r = StockRanker(n_features=3, settings={"n_estimators": 20, "min_data_in_leaf": 5})
        >>> _ = r.fit(X, y, group=[20] * 20)            # 20 dates of 20 stocks
        >>> s = r.predict(X)
        >>> bool(s[y == 1].min() > s[y == 0].max()), r.importances().idxmax()
        (True, 'f0')
    """

    name = "ranker"
    Settings = RankerSettings
    suffix = ".txt"
    input = "rows"
    #: the same model on any number of threads: not in cache keys
    untracked = ("num_threads",)
    #: the ``learner`` of its cache keys (:class:`btlstm.forecast.xswalkforward.RankerWalkForward`)
    cache_name = "lightgbm-lambdarank"

    def __init__(self, lookback: int = 1, n_features: int = 0, settings=None, feature_names=None):
        if lookback != 1:
            raise ValueError(
                f"lookback must be 1 for the ranker (a sample is one feature row), got "
                f"{lookback!r}: run the ranker with RankerWalkForward, not WalkForward"
            )
        super().__init__(1, n_features, settings)
        self.feature_names = list(feature_names) if feature_names is not None else None
        if self.feature_names is not None:
            if self.n_features and len(self.feature_names) != self.n_features:
                raise ValueError(
                    f"feature_names has {len(self.feature_names)} names, n_features is {self.n_features}"
                )
            self.n_features = len(self.feature_names)
        self.booster = None

    def _rows(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 3 and X.shape[1] == 1:
            X = X[:, 0, :]
        if X.ndim != 2 or (self.n_features and X.shape[1] != self.n_features):
            want = self.n_features or "n_features"
            raise ValueError(f"X must have shape (n, {want}) or (n, 1, {want}), got {X.shape}")
        return X

    def fit(
        self,
        X,
        y,
        X_val=None,
        y_val=None,
        *,
        group=None,
        seed: int = 0,
        epochs: int = 0,
        batch_size: int = 0,
        patience: int = 0,
        warm: bool = False,
    ) -> FitRecord:
        """Fit on rows ``X`` sorted by date, integer grades ``y`` and ``group``
        (the number of rows of each date, in order). ``X_val``/``y_val``,
        ``epochs``, ``batch_size``, ``patience`` and ``warm`` are not used
        (``n_estimators`` rounds, no early stopping)."""
        lgb = _lightgbm()

        if group is None:
            raise ValueError(
                "StockRanker.fit needs group= (rows per date): run the ranker with "
                "RankerWalkForward, not WalkForward"
            )
        X = self._rows(X)
        y = np.asarray(y)
        group = np.asarray(group, dtype=np.int64)
        if len(y) != len(X) or group.sum() != len(X) or (group < 1).any():
            raise ValueError(
                f"rows, labels and group sizes disagree: {len(X)} rows, {len(y)} labels, "
                f"groups summing to {int(group.sum())}"
            )
        if not np.all(np.isfinite(y)) or np.any(y < 0) or np.any(y != np.round(y)):
            raise ValueError("y must be integer relevance grades >= 0 (no NaN)")
        if not self.n_features:
            self.n_features = X.shape[1]
        names = self.feature_names or [f"f{i}" for i in range(X.shape[1])]
        ds = lgb.Dataset(
            X, label=y.astype(np.int32), group=group, feature_name=names, free_raw_data=True
        )
        self.booster = lgb.train(
            self.settings.params(seed), ds, num_boost_round=self.settings.n_estimators
        )
        self.feature_names = names
        self.fitted = True
        return FitRecord(epochs=self.settings.n_estimators)

    def predictor(self, n_windows: int = 1):
        if self.booster is None:
            raise ValueError("StockRanker: predict before fit (no model)")
        return booster_predictor(self.booster, self._rows, self.settings.threads())

    def importances(self, kind: str = "gain") -> pd.Series:
        """Feature importances of the fitted model (``"gain"`` or ``"split"``), by name."""
        if self.booster is None:
            raise ValueError("StockRanker: no importances before fit")
        vals = self.booster.feature_importance(importance_type=kind)
        return pd.Series(np.asarray(vals, dtype=float), index=self.booster.feature_name())

    def save(self, path) -> Path:
        """Write the LightGBM model text to ``path`` atomically (temp file + rename)."""
        return save_booster(self.booster, path, "StockRanker")

    def load(self, path) -> None:
        """Replace the model with the one saved at ``path``.

        Raises:
            btlstm.errors.ModelFileError: missing, larger than
                :data:`~btlstm._files.MAX_MODEL_BYTES`, not a LightGBM text model,
                corrupt, or a model for a different number of features.
        """
        booster, _ = read_booster(path, f"ranker model file {str(path)!r}")
        where = f"ranker model file {str(path)!r}"
        n = booster.num_feature()
        if self.n_features and n != self.n_features:
            raise ModelFileError(
                f"{where} holds a model of {n} features, this run needs {self.n_features}"
            )
        self.booster, self.n_features = booster, n
        self.feature_names = booster.feature_name()
        self.fitted = True
