"""Cross-sectional stock features, labels and relevance grades for the ranker.

Numpy and pandas only. Every feature is computed on wide ``date x symbol``
frames over the panel's union calendar (one vectorised operation per feature,
no Python loop over days), then stacked into one frame indexed by
``(date, symbol)`` with one row per real bar of each symbol.

Features at day ``t`` (a stock's row on date ``t``) read bars up to ``t``
only. ``ret_<h>`` and the moving averages count bars of the union calendar: a
date on which a stock has no row (before its first bar, in a hole) is NaN and
makes every window that covers it NaN (never a shorter window). A-share
suspensions are rows (flat prices, volume 0, ``tradestatus`` 0): they stay in
the windows of later days, but the suspended stock-day itself gets NaN in
every feature (it is not a sample and gets no score).

========================  =====================================================
column                    value at day t
========================  =====================================================
``ret_<h>``               ``close[t] / close[t-h] - 1`` for each horizon ``h``
``ret_<h>_rank``          its percentile rank across the stocks of day t, (0, 1]
``vol_20``                sample std (ddof 1) of the last 20 daily returns
``amount_20``             mean traded amount of the last 20 bars
``amount_20_rank``        its percentile rank across the stocks of day t
``turn``, ``turn_20``     turnover of day t and its 20-bar mean (data with a
                          ``turn`` column; suspended days count as 0)
``ma20_gap``              ``close[t] / mean(close[t-19..t]) - 1``
``ma60_gap``              ``close[t] / mean(close[t-59..t]) - 1``
``is_st``                 the ST flag of day t (data with an ``is_st`` column)
========================  =====================================================

Percentile ranks are pandas' ``rank(pct=True)`` (ties share their mean rank)
among the stocks with a finite value that day. Every price feature is a ratio
of prices, never a price level: forward-adjusted (qfq) levels depend on
dividends paid later, their ratios before day t do not.

The label of the sample at day ``t`` is the stock's forward return over its
own next ``horizon`` bars, ``close[t+h] / close[t] - 1``
(:func:`btlstm.forecast.features.forward_returns`); :func:`relevance_grades` turns it
into per-date grades ``0 .. n_grades-1`` for lambdarank.

Example:
    >>> from btlstm.synthetic import synthetic_panel
    >>> panel = synthetic_panel(n_symbols=4, n=100, seed=1)
    >>> X = cross_sectional_features(panel, horizons=(1, 5))
    >>> X.shape, X.index.names
    ((400, 9), FrozenList(['date', 'symbol']))
    >>> X.columns.tolist()[:4]
    ['ret_1', 'ret_5', 'ret_1_rank', 'ret_5_rank']
    >>> y = forward_label(panel, horizon=5)
    >>> g = relevance_grades(y, n_grades=2)
    >>> sorted(g.dropna().unique().tolist())
    [0.0, 1.0]
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from btlstm.checks import check_int
from btlstm.forecast.features import forward_returns

__all__ = [
    "DEFAULT_HORIZONS",
    "check_horizons",
    "cross_sectional_features",
    "feature_names",
    "forward_label",
    "relevance_grades",
    "wide",
]

#: look-backs of the return features, in bars
DEFAULT_HORIZONS = (1, 5, 10, 20, 60)


def _check_panel(panel) -> None:
    if not isinstance(panel, Mapping) or not panel:
        raise ValueError(f"panel must be a non-empty dict {{symbol: frame}}, got {type(panel)!r}")
    for sym, f in panel.items():
        if not isinstance(f, pd.DataFrame) or not isinstance(f.index, pd.DatetimeIndex):
            raise ValueError(f"panel[{sym!r}] must be a DataFrame with a DatetimeIndex")


def check_horizons(horizons) -> tuple[int, ...]:
    """``horizons`` as a tuple of distinct integers >= 1 (a list, not a string)."""
    if isinstance(horizons, (str, bytes)) or not hasattr(horizons, "__iter__"):
        raise ValueError(f"horizons must be a list of integers >= 1, got {horizons!r}")
    hs = tuple(horizons)
    if not hs:
        raise ValueError(f"horizons must name at least one horizon, got {horizons!r}")
    for i, h in enumerate(hs):
        check_int(f"horizons[{i}]", h, lo=1)
    if len(set(hs)) != len(hs):
        raise ValueError(f"horizons must be distinct, got {horizons!r}")
    return tuple(int(h) for h in hs)


def wide(panel: Mapping[str, pd.DataFrame], column: str, calendar=None) -> pd.DataFrame:
    """One column of every frame as a ``date x symbol`` frame on the union calendar.

    Args:
        panel: ``{symbol: frame}``.
        column: the column to take (a symbol without it gives an all-NaN column).
        calendar: dates to reindex to (default: the union of the frames' dates).

    Returns:
        A float frame, columns in the panel's order, NaN where a symbol has no row.

    Example:
        >>> import pandas as pd
        >>> a = pd.DataFrame({"close": [1.0, 2.0]}, index=pd.to_datetime(["2020-01-01", "2020-01-02"]))
        >>> b = pd.DataFrame({"close": [5.0]}, index=pd.to_datetime(["2020-01-02"]))
        >>> wide({"A": a, "B": b}, "close").to_numpy().tolist()
        [[1.0, nan], [2.0, 5.0]]
    """
    cols = {
        s: (f[column].astype(float) if column in f else pd.Series(np.nan, index=f.index))
        for s, f in panel.items()
    }
    out = pd.concat(cols, axis=1, sort=True)
    out.index.name = "date"
    if calendar is not None:
        out = out.reindex(pd.DatetimeIndex(calendar))
    return out.astype(float)


def feature_names(horizons=DEFAULT_HORIZONS, turn: bool = False, is_st: bool = False) -> list[str]:
    """The columns :func:`cross_sectional_features` returns, in order.

    Example:
        >>> feature_names((1, 5))
        ['ret_1', 'ret_5', 'ret_1_rank', 'ret_5_rank', 'vol_20', 'amount_20', 'amount_20_rank', 'ma20_gap', 'ma60_gap']
    """
    hs = check_horizons(horizons)
    names = [f"ret_{h}" for h in hs] + [f"ret_{h}_rank" for h in hs]
    names += ["vol_20", "amount_20", "amount_20_rank"]
    if turn:
        names += ["turn", "turn_20"]
    names += ["ma20_gap", "ma60_gap"]
    if is_st:
        names += ["is_st"]
    return names


def _stack(frames: dict[str, pd.DataFrame], present: np.ndarray, dtype) -> pd.DataFrame:
    """Stack wide frames (same shape) into a (date, symbol) frame of the present cells."""
    first = next(iter(frames.values()))
    dates, symbols = first.index, first.columns
    rows, cols = np.nonzero(present)  # date-major: sorted by date, then panel order
    data = {k: np.asarray(v.to_numpy()[rows, cols], dtype=dtype) for k, v in frames.items()}
    idx = pd.MultiIndex.from_arrays([dates[rows], symbols[cols]], names=["date", "symbol"])
    return pd.DataFrame(data, index=idx)


def cross_sectional_features(
    panel: Mapping[str, pd.DataFrame],
    horizons=DEFAULT_HORIZONS,
    price: str = "close",
    dtype="float64",
) -> pd.DataFrame:
    """The ranker's features for every stock and day (see the module docstring).

    Args:
        panel: ``{symbol: canonical frame}`` (``close`` and ``amount`` needed;
            ``tradestatus``, ``turn`` and ``is_st`` used when present).
        horizons: look-backs (bars) of the return features.
        price: the price column of returns and moving averages (``"close"``;
            ``"adj_close"`` where a source has it).
        dtype: dtype of the feature columns (``"float32"`` halves the memory).

    Returns:
        A frame indexed by ``(date, symbol)``, one row per real bar of each
        symbol, sorted by date then panel order, columns
        :func:`feature_names` (``turn``/``turn_20`` if any frame has ``turn``,
        ``is_st`` if any has ``is_st``). NaN where a window is incomplete and
        on suspended stock-days (``tradestatus == 0``).

    Raises:
        ValueError: an empty panel, a frame without ``price`` or ``amount``,
            bad ``horizons``.

    Example:
        >>> import pandas as pd
        >>> days = pd.bdate_range("2020-01-01", periods=3)
        >>> f = pd.DataFrame({"close": [10.0, 11.0, 12.1], "amount": [1.0, 2.0, 3.0],
        ...                   "tradestatus": [1, 1, 0]}, index=days)
        >>> X = cross_sectional_features({"A": f}, horizons=(1, 2))
        >>> X["ret_1"].round(4).tolist(), X["ret_2"].round(4).tolist()
        ([nan, 0.1, nan], [nan, nan, nan])
    """
    _check_panel(panel)
    hs = check_horizons(horizons)
    for sym, f in panel.items():
        for col in (price, "amount"):
            if col not in f:
                raise ValueError(f"panel[{sym!r}] has no column {col!r} (needed by the features)")
    close = wide(panel, price)
    cal = close.index
    present = close.notna().to_numpy()
    status = wide(panel, "tradestatus", cal)
    suspended = (status == 0).to_numpy()
    amount = wide(panel, "amount", cal)

    def masked(df: pd.DataFrame) -> pd.DataFrame:
        return df.mask(suspended)

    out: dict[str, pd.DataFrame] = {}
    rets = {h: close / close.shift(h) - 1.0 for h in hs}
    for h in hs:
        out[f"ret_{h}"] = rets[h]
    # ranks among the stocks that traded that day (suspended cells masked first)
    for h in hs:
        out[f"ret_{h}_rank"] = masked(rets[h]).rank(axis=1, pct=True)
    r1 = rets[1] if 1 in rets else close / close.shift(1) - 1.0
    out["vol_20"] = r1.rolling(20, min_periods=20).std(ddof=1)
    out["amount_20"] = amount.rolling(20, min_periods=20).mean()
    out["amount_20_rank"] = masked(out["amount_20"]).rank(axis=1, pct=True)
    if any("turn" in f for f in panel.values()):
        turn = wide(panel, "turn", cal)
        turn = turn.mask(suspended & turn.isna().to_numpy(), 0.0)
        out["turn"] = turn
        out["turn_20"] = turn.rolling(20, min_periods=20).mean()
    out["ma20_gap"] = close / close.rolling(20, min_periods=20).mean() - 1.0
    out["ma60_gap"] = close / close.rolling(60, min_periods=60).mean() - 1.0
    if any("is_st" in f for f in panel.values()):
        out["is_st"] = wide(panel, "is_st", cal)
    out = {k: masked(v) for k, v in out.items()}
    return _stack(out, present, dtype)


def forward_label(
    panel: Mapping[str, pd.DataFrame], horizon: int = 5, price: str = "close"
) -> pd.Series:
    """The future return of every stock-day over the stock's own next ``horizon`` bars.

    ``close[t + horizon] / close[t] - 1`` counted on each symbol's own bars
    (:func:`btlstm.forecast.features.forward_returns`), so it matches the schedule's
    label date ``date[s + horizon]``. It reads the future: a label or an
    evaluation target, never an input.

    Args:
        panel: ``{symbol: frame}``.
        horizon: bars ahead (>= 1).
        price: the price column.

    Returns:
        A float Series named ``"label"`` indexed like
        :func:`cross_sectional_features` (``(date, symbol)``, date-major),
        NaN for each symbol's last ``horizon`` bars.

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"close": [10.0, 11.0, 12.1]}, index=pd.bdate_range("2020-01-01", periods=3))
        >>> forward_label({"A": f}, horizon=1).round(4).tolist()
        [0.1, 0.1, nan]
    """
    _check_panel(panel)
    parts = {s: forward_returns(f[price].astype(float), horizon) for s, f in panel.items()}
    w = pd.concat(parts, axis=1, sort=True)
    present = wide(panel, price).notna().to_numpy()
    return _stack({"label": w}, present, "float64")["label"]


def relevance_grades(labels: pd.Series, n_grades: int = 5) -> pd.Series:
    """Per-date quantile buckets of ``labels``: grades ``0`` (worst) .. ``n_grades - 1``.

    Formula:
        on each date, among the ``m`` finite labels with average ranks
        ``r = 1 .. m`` (ties share their mean rank),
        ``grade = min(n_grades - 1, floor((r - 1) * n_grades / m))``.

    Args:
        labels: a Series indexed by ``(date, symbol)`` (level 0 is the date).
        n_grades: number of grades, 2 .. 31 (LightGBM's default label gains).

    Returns:
        A float Series like ``labels`` (NaN where the label is NaN).

    Example:
        >>> import pandas as pd
        >>> idx = pd.MultiIndex.from_product([["2020-01-02"], list("ABCDE")])
        >>> y = pd.Series([0.05, -0.01, 0.02, float("nan"), -0.03], index=idx)
        >>> relevance_grades(y, n_grades=2).tolist()
        [1.0, 0.0, 1.0, nan, 0.0]
    """
    check_int("n_grades", n_grades, lo=2, hi=31)
    if not isinstance(labels, pd.Series) or labels.index.nlevels < 2:
        raise ValueError("labels must be a Series indexed by (date, symbol)")
    by = labels.groupby(level=0, sort=False)
    r = by.rank(method="average")
    m = by.transform("count")
    g = np.floor((r - 1.0) * n_grades / m).clip(upper=n_grades - 1)
    return g.where(labels.notna()).astype(float).rename("grade")
