"""Prediction-quality metrics on plain arrays: hit rate, IC, rank IC, ICIR,
per-date cross-sectional IC, top-minus-bottom spread (``forward_returns``, the
label formula, lives in :mod:`btlstm.features` and is re-exported here).

numpy and pandas only (no Backtrader, no TensorFlow), so a strategy, an
analyzer, a report or a notebook can score a signal the same way. Every
function is NaN-safe: a pair ``(prediction, realised)`` in which either value
is NaN or infinite is dropped before anything is computed, and a statistic
that cannot be computed (too few points, a constant input) is NaN rather than
an error.

Pairs are matched by position. Two ``pd.Series`` with different indexes are
refused (align them first); DataFrames (dates x symbols) are aligned on their
index and columns.

These functions compare predictions with *realised* returns, which lie in the
future of the prediction: they are for evaluation after the fact, never for a
trading decision.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from btlstm.features import forward_returns

__all__ = [
    "hit_rate",
    "ic",
    "rank_ic",
    "prediction_quality",
    "cross_sectional_ic",
    "ic_summary",
    "top_minus_bottom",
    "forward_returns",
]

_NAN = float("nan")


def _vector(x: Any, name: str) -> np.ndarray:
    """``x`` as a 1-D float array (a scalar or a 2-D input is refused)."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be an array of numbers, got {x!r}") from None
    if a.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {a.shape}")
    return a


def _pairs(pred: Any, real: Any) -> tuple[np.ndarray, np.ndarray]:
    """The finite pairs of two equal-length vectors, matched by position."""
    if isinstance(pred, pd.Series) and isinstance(real, pd.Series):
        if not pred.index.equals(real.index):
            raise ValueError(
                "`pred` and `real` are Series with different indexes; align them first "
                "(e.g. `pred, real = pred.align(real, join='inner')`)"
            )
    p = _vector(pred, "pred")
    r = _vector(real, "real")
    if len(p) != len(r):
        raise ValueError(f"`pred` and `real` must have the same length, got {len(p)} and {len(r)}")
    ok = np.isfinite(p) & np.isfinite(r)
    return p[ok], r[ok]


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two clean vectors; NaN for < 2 points or a constant input."""
    if len(x) < 2 or x.min() == x.max() or y.min() == y.max():
        return _NAN  # a constant side; checked exactly (x - mean can leave 1e-17 residues)
    xd = x - x.mean()
    yd = y - y.mean()
    den = math.sqrt(float(np.dot(xd, xd)) * float(np.dot(yd, yd)))
    if den == 0.0:
        return _NAN
    return float(np.dot(xd, yd) / den)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share the mean of their ranks), 1-based."""
    return pd.Series(x).rank(method="average").to_numpy()


def _hit_rate(p: np.ndarray, r: np.ndarray) -> float:
    nonzero = (p != 0.0) & (r != 0.0)
    if not nonzero.any():
        return _NAN
    return float(np.mean(np.sign(p[nonzero]) == np.sign(r[nonzero])))


def hit_rate(pred: Any, real: Any) -> float:
    """Share of pairs in which prediction and realised return have the same sign.

    Pairs where either value is exactly 0 carry no direction and are left out,
    as are pairs with a NaN.

    Args:
        pred: predictions, a 1-D array-like.
        real: realised returns, same length as ``pred``.

    Returns:
        A float in [0, 1]; NaN when no pair is left.

    Example:
        >>> hit_rate([0.1, -0.2, 0.3, 0.0, float("nan")], [0.05, 0.01, 0.2, 0.1, 0.3])
        0.6666666666666666
        >>> hit_rate([0.0], [0.1])
        nan
    """
    p, r = _pairs(pred, real)
    return _hit_rate(p, r)


def ic(pred: Any, real: Any) -> float:
    """Information coefficient: the Pearson correlation of prediction and realised return.

    Args:
        pred: predictions, a 1-D array-like.
        real: realised returns, same length as ``pred``.

    Returns:
        The correlation in [-1, 1]; NaN for fewer than 2 finite pairs or when
        either side is constant.

    Example:
        >>> round(ic([1.0, 2.0, 3.0, 4.0], [0.1, 0.25, 0.2, 0.4]), 4)
        0.8779
        >>> ic([1.0, 1.0, 1.0], [0.1, 0.2, 0.3])
        nan
    """
    p, r = _pairs(pred, real)
    return _pearson(p, r)


def rank_ic(pred: Any, real: Any) -> float:
    """Rank information coefficient: the Spearman correlation (Pearson on ranks).

    Ties share the average of their ranks, as in ``scipy.stats.spearmanr``.

    Args:
        pred: predictions, a 1-D array-like.
        real: realised returns, same length as ``pred``.

    Returns:
        The rank correlation in [-1, 1]; NaN for fewer than 2 finite pairs or
        when either side is constant.

    Example:
        >>> rank_ic([1.0, 2.0, 3.0, 4.0], [0.1, 0.25, 0.2, 0.4])
        0.8
        >>> rank_ic([1.0, 2.0, 3.0, 40.0], [1.0, 4.0, 9.0, 16.0])
        1.0
    """
    p, r = _pairs(pred, real)
    if len(p) < 2:
        return _NAN
    return _pearson(_ranks(p), _ranks(r))


def prediction_quality(pred: Any, real: Any) -> dict[str, float | int]:
    """All pooled scores of a prediction at once.

    Args:
        pred: predictions, a 1-D array-like.
        real: realised returns, same length as ``pred``.

    Returns:
        A dict with ``count`` (finite pairs), ``hit_rate``, ``ic``,
        ``rank_ic``, ``mean_prediction`` and ``mean_realised`` (means over the
        counted pairs; NaN when there are none).

    Example:
        >>> q = prediction_quality([0.1, -0.2, 0.3, float("nan")], [0.05, -0.01, 0.2, 0.4])
        >>> q["count"], q["hit_rate"], q["rank_ic"]
        (3, 1.0, 1.0)
    """
    p, r = _pairs(pred, real)
    return {
        "count": len(p),
        "hit_rate": _hit_rate(p, r),
        "ic": _pearson(p, r),
        "rank_ic": _pearson(_ranks(p), _ranks(r)) if len(p) >= 2 else _NAN,
        "mean_prediction": float(p.mean()) if len(p) else _NAN,
        "mean_realised": float(r.mean()) if len(r) else _NAN,
    }


def _frames(pred: Any, real: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two date x symbol frames aligned on index and columns, NaN where either is missing."""
    for name, frame in (("pred", pred), ("real", real)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"`{name}` must be a DataFrame (dates x symbols), got {type(frame).__name__}"
            )
    p, r = pred.align(real, join="outer")
    p = p.astype(float)
    r = r.astype(float)
    ok = np.isfinite(p.to_numpy()) & np.isfinite(r.to_numpy())
    return p.where(ok), r.where(ok)


def cross_sectional_ic(
    pred: pd.DataFrame,
    real: pd.DataFrame,
    method: str = "pearson",
    min_assets: int = 2,
) -> pd.Series:
    """Per-date IC across assets: on each date, correlate the predictions of
    all symbols with their realised returns.

    Args:
        pred: predictions, a DataFrame with dates as index and symbols as
            columns.
        real: realised returns in the same layout (aligned on index and
            columns; a cell missing in either frame is dropped).
        method: ``"pearson"`` (IC) or ``"spearman"`` (rank IC, average ranks).
        min_assets: dates with fewer finite pairs than this give NaN.

    Returns:
        A float Series indexed by date (the union of both indexes), named
        ``"ic"`` or ``"rank_ic"``; NaN on dates with fewer than
        ``min_assets`` pairs or a constant cross-section.

    Example:
        >>> import pandas as pd
        >>> dates = pd.to_datetime(["2024-01-02", "2024-01-03"])
        >>> pred = pd.DataFrame({"A": [1.0, 3.0], "B": [2.0, 2.0], "C": [3.0, 1.0]}, index=dates)
        >>> real = pd.DataFrame({"A": [0.01, 0.02], "B": [0.02, 0.03], "C": [0.03, 0.01]},
        ...                     index=dates)
        >>> cross_sectional_ic(pred, real, method="spearman").round(4).tolist()
        [1.0, 0.5]
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"`method` must be 'pearson' or 'spearman', got {method!r}")
    if isinstance(min_assets, bool) or not isinstance(min_assets, int) or min_assets < 2:
        raise ValueError(f"`min_assets` must be an integer >= 2, got {min_assets!r}")
    p, r = _frames(pred, real)
    if method == "spearman":
        p = p.rank(axis=1, method="average")
        r = r.rank(axis=1, method="average")
    pv = p.to_numpy()
    rv = r.to_numpy()
    n = np.isfinite(pv).sum(axis=1)
    out = np.full(len(p), np.nan)
    rows = np.flatnonzero(n >= min_assets)
    for i in rows:
        ok = np.isfinite(pv[i])
        out[i] = _pearson(pv[i, ok], rv[i, ok])
    return pd.Series(out, index=p.index, name="ic" if method == "pearson" else "rank_ic")


def ic_summary(ic_series: Any) -> dict[str, float | int]:
    """Summary of a series of per-date ICs: mean, spread, ICIR and t statistic.

    Formula:
        ``icir = mean / std`` (sample standard deviation, ddof 1) and
        ``t_stat = icir * sqrt(n)``, over the ``n`` finite values.

    Args:
        ic_series: per-date ICs (e.g. from :func:`cross_sectional_ic`); NaNs
            are dropped.

    Returns:
        A dict with ``mean``, ``std``, ``icir``, ``t_stat`` and ``n``. With
        no value everything but ``n`` is NaN; with one value (or a zero std)
        ``std``/``icir``/``t_stat`` are NaN.

    Example:
        >>> s = ic_summary([0.1, 0.3, float("nan"), 0.2])
        >>> s["n"], round(s["mean"], 4), round(s["std"], 4), round(s["icir"], 4)
        (3, 0.2, 0.1, 2.0)
        >>> round(s["t_stat"], 4)
        3.4641
    """
    x = _vector(ic_series, "ic_series")
    x = x[np.isfinite(x)]
    n = len(x)
    mean = float(x.mean()) if n else _NAN
    if n < 2:
        std = _NAN
    elif x.min() == x.max():
        std = 0.0  # exactly: np.std of equal floats can round to 1e-17
    else:
        std = float(np.std(x, ddof=1))
    icir = mean / std if n > 1 and std > 0.0 else _NAN
    return {
        "mean": mean,
        "std": std,
        "icir": icir,
        "t_stat": icir * math.sqrt(n) if math.isfinite(icir) else _NAN,
        "n": n,
    }


def top_minus_bottom(
    pred: pd.DataFrame,
    real: pd.DataFrame,
    quantile: float = 0.1,
) -> pd.Series:
    """Per-date long-short spread: the mean realised return of the top
    ``quantile`` of assets by prediction minus that of the bottom ``quantile``.

    Formula:
        on each date, among the ``n`` symbols with a finite prediction and a
        finite realised return, ``k = max(1, floor(quantile * n))`` symbols
        with the highest predictions form the top group and the ``k`` lowest
        the bottom group (ties are broken by column order). Needs ``n >= 2``;
        ``k`` is at most ``n // 2`` so the groups never overlap.

    Args:
        pred: predictions, dates x symbols.
        real: realised returns in the same layout (aligned on index and
            columns).
        quantile: share of the cross-section in each group, in (0, 0.5].

    Returns:
        A float Series indexed by date, named ``"top_minus_bottom"``; NaN on
        dates with fewer than 2 pairs.

    Example:
        >>> import pandas as pd
        >>> pred = pd.DataFrame({"A": [1.0], "B": [2.0], "C": [3.0], "D": [4.0]})
        >>> real = pd.DataFrame({"A": [-0.02], "B": [0.0], "C": [0.01], "D": [0.03]})
        >>> top_minus_bottom(pred, real, quantile=0.25).round(4).tolist()
        [0.05]
        >>> top_minus_bottom(pred, real, quantile=0.5).round(4).tolist()
        [0.03]
    """
    q = quantile
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0.0 < q <= 0.5:
        raise ValueError(f"`quantile` must be a number in (0, 0.5], got {quantile!r}")
    p, r = _frames(pred, real)
    pv = p.to_numpy()
    rv = r.to_numpy()
    out = np.full(len(p), np.nan)
    for i in range(len(p)):
        ok = np.flatnonzero(np.isfinite(pv[i]))
        n = len(ok)
        if n < 2:
            continue
        k = min(max(1, int(math.floor(q * n + 1e-12))), n // 2)
        order = ok[np.argsort(-pv[i, ok], kind="stable")]
        top = rv[i, order[:k]]
        bottom = rv[i, order[::-1][:k]]
        out[i] = float(top.mean() - bottom.mean())
    return pd.Series(out, index=p.index, name="top_minus_bottom")
