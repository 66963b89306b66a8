"""Windows, per-sample z-scores and forward-return targets (numpy only).

Formula (the article's; ``docs/features-and-targets.md`` states it in full):

- input at bar t: the last ``lookback`` bars (t-lookback+1 .. t) of the chosen
  features, each column z-scored *within the window*:
  ``(x - mean(x)) / std(x)``; a constant column becomes 0;
- target at bar t: ``clip(close[t+horizon] / close[t] - 1, -clip, clip) * scale``,
  NaN where ``t + horizon`` is past the end of the data: :func:`forward_returns`
  then :func:`target_from_return`, the one label formula of btlstm (the
  ranker's labels, :func:`btlstm.forecast.xsfeatures.forward_label`, and the realised
  returns the metrics and reports score predictions against use them too).

Everything is vectorised (``sliding_window_view``); no Python loop per bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from btlstm.checks import check_int, check_memory, check_number
from btlstm.data.validate import CANONICAL_COLUMNS
from btlstm.errors import SettingsError
from btlstm.forecast import featurelib

__all__ = [
    "DEFAULT_FEATURES",
    "DERIVED_FEATURES",
    "feature_matrix",
    "make_windows",
    "zscore_windows",
    "NORMALIZE_MODES",
    "normalize_windows",
    "fit_train_zscore",
    "apply_train_zscore",
    "FEATURE_MAX_ABS",
    "check_feature_range",
    "make_targets",
    "forward_returns",
    "target_from_return",
    "TARGETS",
    "TARGET_CENTRES",
    "VOL_BARS",
    "trailing_vol",
    "make_labels",
    "rank_labels",
    "Windows",
    "build_dataset",
    "add_panel_features",
]

#: The article's six features, in the article's order.
DEFAULT_FEATURES = ("close", "open", "high", "low", "amount", "volume")

#: Optional extra features computed from past bars only (never defaults).
DERIVED_FEATURES = {
    "ret1": "close / previous close - 1 (0 on the first bar)",
    "logret1": "log(close / previous close) (0 on the first bar)",
    "hl_range": "(high - low) / close",
    "log_volume": "log(1 + volume)",
    "log_amount": "log(1 + amount)",
}


def _derived(name: str, cols: dict[str, np.ndarray]) -> np.ndarray:
    close = cols["close"]
    if name in ("ret1", "logret1"):
        out = np.zeros_like(close)
        if name == "ret1":
            out[1:] = close[1:] / close[:-1] - 1.0
        else:
            out[1:] = np.log(close[1:] / close[:-1])
        return out
    if name == "hl_range":
        return (cols["high"] - cols["low"]) / close
    if name == "log_volume":
        return np.log1p(cols["volume"])
    if name == "log_amount":
        return np.log1p(cols["amount"])
    raise KeyError(name)


def feature_matrix(
    data: pd.DataFrame | dict[str, np.ndarray], features=DEFAULT_FEATURES
) -> np.ndarray:
    """Stack the chosen feature columns into an ``(n_bars, n_features)`` float64 array.

    Args:
        data: a canonical frame, or a dict of equal-length 1-D arrays
            (``open high low close volume amount``).
        features: canonical column names, names from ``DERIVED_FEATURES``, and
            registered or built-in feature names (:mod:`btlstm.forecast.featurelib`:
            ``rsi14``, ``macd``, your ``@register_feature`` functions; these
            see the whole frame, NaN during their warm-up).

    Returns:
        ``np.ndarray`` of shape ``(n_bars, len(features))``.

    Raises:
        ValueError: naming the unknown feature and the valid choices.
    """
    features = tuple(features)
    if not features:
        raise ValueError("features must name at least one column, got ()")
    if isinstance(data, pd.DataFrame):
        cols = {
            c: data[c].to_numpy(dtype=np.float64)
            for c in data.columns
            if c in CANONICAL_COLUMNS or c == "adj_close"
        }
    else:
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in data.items()}
    out = []
    for f in features:
        if f in cols:
            out.append(cols[f])
        elif f in DERIVED_FEATURES:
            out.append(_derived(f, cols))
        elif featurelib.xs_features([f]) and isinstance(data, pd.DataFrame) and f in data:
            out.append(data[f].to_numpy(dtype=np.float64))  # featurelib.add_panel_features
        elif featurelib.is_feature(f):
            if not isinstance(data, pd.DataFrame):
                data = pd.DataFrame(cols)
            try:
                out.append(featurelib.compute_feature(f, data))
            except SettingsError as e:  # the name or its period: "features: ..." as below
                raise ValueError(str(e)) from None
        else:
            valid = sorted(set(cols) | set(DERIVED_FEATURES))
            if f in CANONICAL_COLUMNS or f == "adj_close":  # a known name this data lacks
                raise ValueError(
                    f"features: this data has no {f!r} column (features it has: {valid})"
                )
            raise ValueError(f"features: {featurelib.unknown_message(f, valid)}")
    return np.column_stack(out)


def add_panel_features(panel: dict, features) -> dict:
    """The panel with a column per ``xsrank(<feature>)`` name of ``features`` added to a
    copy of each frame (the panel itself when there is none).

    The inner feature is computed per symbol (:func:`feature_matrix`); the rank on a
    date uses that date's values only (:func:`btlstm.forecast.featurelib.xs_rank`).

    Raises:
        SettingsError: ``xsrank`` over fewer than two symbols.
    """
    xs = featurelib.xs_features(features)
    if not xs:
        return panel
    if len(panel) < 2:
        raise SettingsError(
            f"features: {xs[0]!r} ranks a feature across the symbols of a panel; this data "
            f"has {len(panel)} symbol (use the inner feature itself)"
        )
    out = {k: f.copy() for k, f in panel.items()}
    for name in xs:
        inner = name[len("xsrank(") : -1]
        cols = {
            str(k): pd.Series(feature_matrix(f, (inner,))[:, 0], index=pd.DatetimeIndex(f.index))
            for k, f in panel.items()
        }
        ranks = featurelib.xs_rank(pd.DataFrame(cols))
        for k, f in out.items():
            f[name] = ranks[str(k)].reindex(pd.DatetimeIndex(f.index)).to_numpy()
    return out


def make_windows(values: np.ndarray, lookback: int) -> np.ndarray:
    """All trailing windows: ``out[i] = values[i : i + lookback]`` (a read-only view).

    Window ``i`` ends at bar ``i + lookback - 1``.

    Args:
        values: ``(n_bars, n_features)`` array.
        lookback: bars per window (>= 1).

    Returns:
        ``(n_bars - lookback + 1, lookback, n_features)`` view; empty if too short.
    """
    check_int("lookback", lookback, lo=1)
    values = np.asarray(values)
    if values.ndim != 2:
        raise ValueError(f"values must be 2-D (bars, features), got shape {values.shape}")
    if len(values) < lookback:
        return np.empty((0, lookback, values.shape[1]), dtype=values.dtype)
    w = np.lib.stride_tricks.sliding_window_view(values, lookback, axis=0)
    return w.transpose(0, 2, 1)  # (n, lookback, features)


FEATURE_MAX_ABS = 1e100
"""The largest |value| a feature column may hold: far above any price, volume or amount,
far below where a window's squared deviations overflow float64 (about 1e154)."""


def check_feature_range(values: np.ndarray, features, frame=None) -> None:
    """Refuse a feature column of extreme magnitude before it is z-scored.

    Beyond :data:`FEATURE_MAX_ABS` the squares in :func:`zscore_windows` overflow
    to infinity and the column's z-scores become silent zeros: the model would
    train on nothing.

    Args:
        values: ``(n_bars, n_features)`` from :func:`feature_matrix`.
        features: the feature names, in column order.
        frame: the frame they came from (its ``attrs['source']`` and dates name
            the file and the row), or None.

    Raises:
        DataError: naming the file, the feature, the value and its date.

    Example:
        >>> check_feature_range(np.array([[1.0, 1e300]]), ("close", "volume"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        btlstm.errors.DataError: feature 'volume' reaches 1e+300 at row 0: beyond 1e+100, its z-scores would overflow to zeros (1 such rows); rescale the column in the file or leave it out of --features
    """
    from btlstm.errors import DataError

    with np.errstate(invalid="ignore"):
        big = np.abs(np.where(np.isfinite(values), values, 0.0)) > FEATURE_MAX_ABS
    if not big.any():
        return
    col = int(np.flatnonzero(big.any(axis=0))[0])
    rows = np.flatnonzero(big[:, col])
    row = int(rows[0])
    attrs = getattr(frame, "attrs", None) or {}
    where = f"row {row}"
    if frame is not None and isinstance(getattr(frame, "index", None), pd.DatetimeIndex):
        where = str(frame.index[row].date())
    raise DataError(
        f"feature {features[col]!r} reaches {values[row, col]:.3g} at {where}: beyond "
        f"{FEATURE_MAX_ABS:.0e}, its z-scores would overflow to zeros ({rows.size} such "
        "rows); rescale the column in the file or leave it out of --features",
        attrs.get("source"),
    )


#: the shortest input window: each window is z-scored over its own bars, and one bar
#: has no spread (every value becomes 0, a model that sees nothing). Two bars is the
#: least that carries a direction.
MIN_LOOKBACK = 2


def zscore_windows(windows: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Z-score every window column by column; a constant column becomes 0.

    Args:
        windows: ``(n, lookback, n_features)`` array.
        eps: a column whose std is below ``eps * max(1, |mean|)`` counts as constant.

    Returns:
        float32 array of the same shape.
    """
    if getattr(windows, "ndim", 0) == 3:  # before the float64 copy: its peak, estimated
        n_w, lb, nf = windows.shape
        check_memory(
            f"z-scoring {n_w:,} input windows (lookback {lb} x {nf} features)",
            28 * windows.size,  # float64 copy, deviations, their squares, the float32 result
        )
    # one contiguous float64 copy first: the windows are usually a strided view
    # (make_windows), and every operation below runs about 3x faster on
    # contiguous memory. The sums still run bar after bar along axis 1 in the
    # same order, so the result is the same to the bit (tests/test_features.py).
    w = np.ascontiguousarray(windows, dtype=np.float64)
    n = w.shape[1]
    # the same float64 operations as np.mean / np.std (ddof 0), with the
    # deviations computed once and divided straight into the float32 result
    mean = np.add.reduce(w, axis=1, keepdims=True) / n
    d = w - mean
    std = np.sqrt(np.add.reduce(d * d, axis=1, keepdims=True) / n)
    const = std <= eps * np.maximum(1.0, np.abs(mean))
    z = np.empty(d.shape, dtype=np.float32)
    np.divide(d, np.where(const, 1.0, std), out=z, casting="same_kind")
    np.copyto(z, np.float32(0.0), where=np.broadcast_to(const, z.shape))
    return z


#: the choices of ``[model] normalize`` / ``--normalize`` (docs/features.md, Normalisation)
NORMALIZE_MODES = ("window", "last_close", "train_zscore", "none")

#: columns divided by the window's last close under ``normalize="last_close"``
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
#: columns divided by their own last value in the window under ``"last_close"``
SIZE_COLUMNS = ("volume", "amount")


def normalize_windows(windows: np.ndarray, mode: str = "window", features=DEFAULT_FEATURES):
    """The windows as a learner sees them before any fit, for one ``normalize`` mode.

    - ``"window"``: :func:`zscore_windows` (the article's; float32);
    - ``"last_close"``: prices (``open high low close adj_close``) divided by the
      window's last close, ``volume`` and ``amount`` each by its own last value in the
      window (a last value of 0 makes that column 0); every other feature (derived,
      registered) left as it is (float32);
    - ``"train_zscore"`` and ``"none"``: the raw values, unchanged (the windows
      themselves, often a read-only view); ``train_zscore``'s statistics come per
      fit (:func:`fit_train_zscore`), ``none`` is cast to float32 where it is used.

    Args:
        windows: ``(n, lookback, n_features)`` from :func:`make_windows`.
        mode: one of :data:`NORMALIZE_MODES`.
        features: the feature names, in column order.

    Example:
        >>> w = np.array([[[10.0, 5.0], [20.0, 4.0]]])  # close, volume; lookback 2
        >>> normalize_windows(w, "last_close", ("close", "volume")).tolist()
        [[[0.5, 1.25], [1.0, 1.0]]]
    """
    if mode == "window":
        return zscore_windows(windows)
    if mode in ("train_zscore", "none"):
        return windows
    if mode != "last_close":
        raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {mode!r}")
    features = tuple(features)
    w = np.array(windows, dtype=np.float64)  # a copy: the windows are usually a view
    if w.size == 0:
        return w.astype(np.float32)
    if any(f in PRICE_COLUMNS for f in features) and "close" not in features:
        raise ValueError("normalize='last_close' divides prices by the window's last close: "
                         "add 'close' to features")  # fmt: skip
    out = w.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, f in enumerate(features):
            if f in PRICE_COLUMNS:
                base = w[:, -1:, features.index("close")]
            elif f in SIZE_COLUMNS:
                base = w[:, -1:, j]
            else:
                continue
            zero = base == 0
            out[:, :, j] = np.where(zero, 0.0, w[:, :, j] / np.where(zero, 1.0, base))
    return out.astype(np.float32)


#: MAD of a normal distribution times this is its standard deviation
MAD_TO_STD = 1.4826


def fit_train_zscore(X_train: np.ndarray, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """The robust z-score statistics of one fit: per feature, the median and
    ``1.4826 * MAD`` over the training windows' last rows (one row per training
    sample, the bar it ends at; never a validation window).

    A feature whose MAD is below ``eps * max(1, |median|)`` is scaled by its standard
    deviation instead; one that is constant too gets a scale of ``inf`` (it becomes 0).

    Args:
        X_train: ``(n, lookback, n_features)`` raw training windows (no validation).

    Returns:
        ``(center, scale)``, float64 arrays of ``n_features``.

    Example:
        >>> X = np.array([[[1.0, 7.0]], [[2.0, 7.0]], [[4.0, 7.0]]])  # lookback 1
        >>> c, s = fit_train_zscore(X)
        >>> c.tolist(), s.round(4).tolist()
        ([2.0, 7.0], [1.4826, inf])
    """
    rows = np.asarray(X_train, dtype=np.float64)[:, -1, :]
    if len(rows) == 0:
        raise ValueError("normalize='train_zscore' needs at least one training sample, got 0")
    center = np.median(rows, axis=0)
    scale = MAD_TO_STD * np.median(np.abs(rows - center), axis=0)
    tiny = eps * np.maximum(1.0, np.abs(center))
    scale = np.where(scale <= tiny, rows.std(axis=0), scale)
    scale = np.where(scale <= tiny, np.inf, scale)
    return center, scale


def apply_train_zscore(X: np.ndarray, center, scale) -> np.ndarray:
    """``(X - center) / scale`` per feature, as float32 (a constant feature becomes 0)."""
    X = np.asarray(X, dtype=np.float64)
    return ((X - np.asarray(center)) / np.asarray(scale)).astype(np.float32)


def forward_returns(close, horizon: int):
    """The return over the next ``horizon`` bars, ``close[t+h] / close[t] - 1``.

    Uses future prices by construction: a label or an evaluation target,
    never an input to a decision at ``t``.

    Args:
        close: closes as a 1-D or 2-D array (time on axis 0), a Series or a
            DataFrame (dates x symbols).
        horizon: bars ahead, an integer >= 1.

    Returns:
        The same type and shape as ``close``, NaN for the last ``horizon``
        rows (no bar ``t + horizon`` yet).

    Example:
        >>> forward_returns([100.0, 110.0, 121.0, 133.1], 1).round(4).tolist()
        [0.1, 0.1, 0.1, nan]
        >>> forward_returns([100.0, 110.0, 121.0], 2).round(4).tolist()
        [0.21, nan, nan]
    """
    h = check_int("`horizon`", horizon, lo=1)
    if isinstance(close, (pd.Series, pd.DataFrame)):
        values = forward_returns(close.to_numpy(dtype=float), h)
        if isinstance(close, pd.Series):
            return pd.Series(values, index=close.index, name=close.name)
        return pd.DataFrame(values, index=close.index, columns=close.columns)
    try:
        c = np.asarray(close, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"`close` must be an array of numbers, got {close!r}") from None
    if c.ndim not in (1, 2):
        raise ValueError(f"`close` must be 1-D or 2-D (time on axis 0), got shape {c.shape}")
    out = np.full(c.shape, np.nan)
    if len(c) > h:
        out[:-h] = c[h:] / c[:-h] - 1.0
    return out


def target_from_return(r, clip: float | None = 0.2, scale: float = 10.0) -> np.ndarray:
    """THE target formula, from a raw forward return: ``clip(r, -clip, clip) * scale``.

    Every target in btlstm (training labels, realised targets in reports) comes
    from here.

    Example:
        >>> target_from_return(np.array([0.01, -0.5]), clip=0.2, scale=10.0)
        array([ 0.1, -2. ])
    """
    r = np.asarray(r, dtype=np.float64)
    if clip is not None:
        r = np.clip(r, -clip, clip)
    return r * scale


def make_targets(close: np.ndarray, horizon: int = 5, clip: float = 0.2, scale: float = 10.0):
    """Forward return target per bar: ``clip(close[t+h]/close[t]-1, +-clip) * scale``.

    Args:
        close: 1-D close prices.
        horizon: bars ahead (>= 1).
        clip: absolute clip of the raw return (> 0), or None for no clip.
        scale: multiplier applied after clipping.

    Returns:
        float64 array of len(close); NaN for the last ``horizon`` bars.
    """
    check_number("clip", clip, lo=0, lo_open=True, none=True)
    close = np.asarray(close, dtype=np.float64)
    return target_from_return(forward_returns(close, horizon), clip, scale)


#: what a model learns (``[model] target`` / ``--target``; docs/features.md "Targets")
TARGETS = ("return", "sign", "vol_scaled", "rank")
#: the neutral value of each target: a prediction above it is bullish (the strategies'
#: default threshold, the hit rate's sign(prediction - centre))
TARGET_CENTRES = {"return": 0.0, "sign": 0.5, "vol_scaled": 0.0, "rank": 0.5}
#: bars of one-bar returns behind the ``vol_scaled`` target's trailing volatility
VOL_BARS = 20


def trailing_vol(close, bars: int = VOL_BARS) -> np.ndarray:
    """Population std of the last ``bars`` one-bar returns ending at t (bars <= t only).

    ``close[t] / close[t-1] - 1`` for ``t - bars + 1 .. t``; NaN for the first
    ``bars`` bars (fewer returns known) and where the std is 0 (nothing to scale by).

    Example:
        >>> trailing_vol([100.0, 101.0, 100.0, 101.0], bars=2).round(6).tolist()
        [nan, nan, 0.00995, 0.00995]
    """
    c = np.asarray(close, dtype=np.float64)
    r = np.full(len(c), np.nan)
    if len(c) > 1:
        r[1:] = c[1:] / c[:-1] - 1.0
    out = pd.Series(r).rolling(int(bars), min_periods=int(bars)).std(ddof=0).to_numpy().copy()
    out[~(out > 0)] = np.nan
    return out


def make_labels(close, horizon: int = 5, clip: float | None = 0.2, scale: float = 10.0,
                target: str = "return") -> np.ndarray:
    """One symbol's labels for ``target`` (``r = forward_returns(close, horizon)``):

    - ``return``: ``clip(r, +-clip) * scale`` (:func:`target_from_return`, the article's);
    - ``sign``: ``1.0`` where ``r > 0``, else ``0.0`` (a flat return is not up);
    - ``vol_scaled``: ``clip(r, +-clip) / (trailing_vol(close)[t] * sqrt(horizon))``:
      the forward return in units of the volatility known at t (bars <= t; ``scale``
      is not applied);
    - ``rank`` needs the other symbols of a panel: :func:`rank_labels`.

    NaN where ``r`` is unknown (the last ``horizon`` bars) or, for ``vol_scaled``,
    where the trailing volatility is (the first :data:`VOL_BARS` bars).

    Example:
        >>> make_labels([100.0, 101.0, 100.0, 100.0], 1, target="sign").tolist()
        [1.0, 0.0, 0.0, nan]
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target == "rank":
        raise ValueError("target='rank' ranks each date's forward returns across the "
                         "symbols of a panel: use rank_labels on a panel, not one symbol")
    check_number("clip", clip, lo=0, lo_open=True, none=True)
    c = np.asarray(close, dtype=np.float64)
    r = forward_returns(c, horizon)
    if target == "return":
        return target_from_return(r, clip, scale)
    if target == "sign":
        return np.where(np.isnan(r), np.nan, (r > 0).astype(np.float64))
    rc = r if clip is None else np.clip(r, -clip, clip)
    return rc / (trailing_vol(c) * np.sqrt(float(horizon)))


def rank_labels(panel: dict, horizon: int = 5) -> dict:
    """The ``rank`` target: each date's forward returns ranked across the panel's symbols.

    On each date the ``m >= 2`` symbols with a known forward return get
    ``(rank - 1) / (m - 1)`` in ``[0, 1]`` (average ranks for ties; 0 the worst,
    1 the best, centre 0.5); NaN where the return is unknown or fewer than 2 are known.

    Args:
        panel: ``{symbol: canonical frame}`` (dates may differ; aligned by date).
        horizon: bars ahead (each symbol's own bars).

    Returns:
        ``{symbol: float array}`` aligned to each frame's rows.
    """
    rets = pd.DataFrame({s: pd.Series(forward_returns(f["close"].to_numpy(dtype=np.float64),
                                                      horizon), index=f.index)
                         for s, f in panel.items()})  # fmt: skip
    m = rets.notna().sum(axis=1)
    ranks = rets.rank(axis=1, method="average")
    scaled = ranks.sub(1.0).div((m - 1).where(m >= 2), axis=0)
    return {s: scaled[s].reindex(f.index).to_numpy(dtype=np.float64) for s, f in panel.items()}


@dataclass
class Windows:
    """Model-ready windows for one symbol.

    Attributes:
        X: ``(n_windows, lookback, n_features)`` float32 z-scored windows.
        y: ``(n_windows,)`` targets, NaN where the label is not known in the data.
        end: ``(n_windows,)`` bar index of each window's last bar (window end s).
        dates: the frame's dates (``DatetimeIndex``), one per bar.
    """

    X: np.ndarray
    y: np.ndarray
    end: np.ndarray
    dates: pd.DatetimeIndex


def build_dataset(
    frame: pd.DataFrame,
    lookback: int = 30,
    horizon: int = 5,
    features=DEFAULT_FEATURES,
    clip: float = 0.2,
    scale: float = 10.0,
    normalize: str = "window",
    target: str = "return",
    labels: np.ndarray | None = None,
) -> Windows:
    """Windows and targets for every bar of ``frame`` that has a full window.

    The window ending at bar s uses bars ``s-lookback+1 .. s`` only; its label
    uses ``close[s + horizon]`` and is NaN when that bar is not in ``frame``.
    ``normalize``: how the windows are scaled (:func:`normalize_windows`).
    ``target`` picks the label (:func:`make_labels`); ``labels`` gives them ready
    (one per bar of ``frame``; the ``rank`` target's, :func:`rank_labels`).

    Example:
        >>> ds = build_dataset(frame.iloc[:100], lookback=30, horizon=5)
        >>> ds.X.shape  # (len(frame) - 29, 30, 6)
        (71, 30, 6)
        >>> int(np.isnan(ds.y).sum())  # the last 5 windows have no label yet
        5
    """
    values = feature_matrix(frame, features)
    check_feature_range(values, tuple(features), frame)
    X = normalize_windows(make_windows(values, lookback), normalize, features)
    end = np.arange(lookback - 1, len(frame))
    if labels is not None:  # computed by the caller (target="rank": across a panel)
        y_all = np.asarray(labels, dtype=np.float64)
    else:
        y_all = make_labels(frame["close"].to_numpy(dtype=np.float64), horizon, clip, scale,
                            target)  # fmt: skip
    return Windows(X=X, y=y_all[end], end=end, dates=pd.DatetimeIndex(frame.index))
