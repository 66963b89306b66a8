"""``linear``: ridge regression on flattened windows (``ridge`` is its other name).

Numpy only. It exists so that every property of the walk-forward engine (no
look-ahead, embargo, cache, stream == batch) is tested with a learner other
than the LSTM, and as a fast, honest baseline forecaster.

Formula:
  - x = [1, window.ravel()]  (the z-scored window, lookback x n_features values)
  - w = argmin ||X w - y||^2 + alpha ||w[1:]||^2  (closed form; the intercept is not penalised)
  - prediction = x . w
  - with the ``sign`` target (labels 0/1) this is a linear probability model: the
    prediction estimates P(up) but is not bounded to [0, 1] (nothing is clipped)

Its registry name is ``linear`` (issue 29: a clear name beside the zoo); the
name ``ridge`` stays an alias, and the model cache files its fits under
``ridge`` whichever name is typed, so cached fits of older runs stay valid and
``--learner ridge`` gives the same cache key and predictions as before.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from btlstm._files import atomic_write_bytes
from btlstm.checks import check_number
from btlstm.errors import ModelFileError
from btlstm.learners.base import FitRecord, Learner

__all__ = ["LinearSettings", "LinearLearner", "RidgeSettings", "RidgeLearner"]


@dataclass
class LinearSettings:
    """Settings of :class:`LinearLearner` (``[model] alpha``).

    Args:
        alpha: L2 penalty on the coefficients (>= 0).
    """

    alpha: float = 1.0

    def __post_init__(self):
        check_number("alpha", self.alpha, lo=0)


class LinearLearner(Learner):
    """Closed-form ridge regression on the flattened window (numpy only): ``linear``.

    Params (``[model]`` keys, ``--flags``):
        alpha: L2 penalty on the coefficients (>= 0; 1.0).

    It fits in milliseconds, needs no TensorFlow, and is the honest baseline a
    network must beat on the same walk-forward.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 4, 2)).astype("float32")
        >>> y = X[:, -1, 0] * 0.5
        >>> learner = LinearLearner(lookback=4, n_features=2, settings={"alpha": 1e-6})
        >>> _ = learner.fit(X, y)
        >>> bool(np.allclose(learner.predict(X[:3]), y[:3], atol=1e-4))
        True
    """

    name = "linear"
    aliases = ("ridge",)
    Settings = LinearSettings
    suffix = ".npz"
    #: the learner name in the cache key: the fits cached before the rename stay valid
    cache_name = "ridge"

    def __init__(self, lookback: int, n_features: int, settings=None):
        super().__init__(lookback, n_features, settings)
        self.coef = None

    def token(self) -> dict:
        """The cache key's description, filed under ``ridge`` (its name before ``linear``)."""
        token = super().token()
        if self.name == LinearLearner.name:  # a subclass of its own keeps its own name
            token["learner"] = self.cache_name
        return token

    def _design(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 2:
            X = X[None]
        if X.shape[1:] != (self.lookback, self.n_features):
            raise ValueError(
                f"X must have shape (n, {self.lookback}, {self.n_features}), got {X.shape}"
            )
        flat = X.reshape(len(X), -1)
        return np.hstack([np.ones((len(X), 1)), flat])

    def fit(
        self,
        X,
        y,
        X_val=None,
        y_val=None,
        *,
        seed=0,
        epochs=0,
        batch_size=0,
        patience=0,
        warm=False,
    ) -> FitRecord:
        A = self._design(X)
        y = np.asarray(y, dtype=np.float64)
        pen = np.full(A.shape[1], float(self.settings.alpha))
        pen[0] = 0.0
        self.coef = np.linalg.solve(A.T @ A + np.diag(pen) + 1e-12 * np.eye(A.shape[1]), A.T @ y)
        self.fitted = True
        loss = float(np.mean((A @ self.coef - y) ** 2))
        val = None
        if X_val is not None and len(X_val):
            val = float(np.mean((self._design(X_val) @ self.coef - np.asarray(y_val)) ** 2))
        return FitRecord(epochs=0, loss=loss, val_loss=val)

    def predictor(self, n_windows: int = 1):
        if self.coef is None:
            raise ValueError("LinearLearner: predict before fit (no coefficients)")
        coef = self.coef.copy()
        return lambda X: self._design(X) @ coef

    def save(self, path) -> Path:
        path = Path(path)
        if self.coef is None:
            raise ValueError("LinearLearner: nothing to save before fit")
        buf = io.BytesIO()
        np.savez(buf, coef=self.coef, shape=np.array([self.lookback, self.n_features]))
        return atomic_write_bytes(path, buf.getvalue())

    def load(self, path) -> None:
        path = Path(path)
        where = f"linear (ridge) model file {str(path)!r}"
        try:
            with np.load(path, allow_pickle=False) as z:
                coef, shape = z["coef"], z["shape"]
        except FileNotFoundError:
            raise ModelFileError(f"{where} does not exist") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ModelFileError(f"{where} is corrupt ({type(e).__name__}: {e})") from None
        want = (self.lookback, self.n_features)
        if tuple(int(v) for v in shape) != want or coef.shape != (1 + want[0] * want[1],):
            raise ModelFileError(
                f"{where} holds a model for windows {tuple(shape)}, this run needs {want}"
            )
        if not np.all(np.isfinite(coef)):
            raise ModelFileError(f"{where} holds non-finite coefficients")
        self.coef = coef
        self.fitted = True


#: The names of :class:`LinearLearner` and its settings before the rename (kept).
RidgeLearner = LinearLearner
RidgeSettings = LinearSettings
