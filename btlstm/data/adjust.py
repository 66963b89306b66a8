"""Total-return prices: dividends folded into every price of a canonical frame.

Yahoo's ``open high low close`` are split-adjusted but not dividend-adjusted;
``adj_close`` is (dividends reinvested, equal to ``close`` on the last day).
A backtest on ``close`` therefore misses the dividends an ETF pays: about 2% a
year for SPY and the sector ETFs. :func:`total_return` scales the four prices
of each bar by that bar's ``adj_close / close`` so a strategy trades and is
measured on total-return prices, with the bar's shape (its range, the gap from
the previous close) kept.

Formula (each bar ``t``):
  - ``factor[t] = adj_close[t] / close[t]``
  - ``open, high, low, close *= factor[t]`` (so ``close == adj_close``)
  - ``volume`` unchanged (shares traded)
  - ``amount *= factor[t]`` (traded value at the adjusted prices; for Yahoo's
    derived amount this is exactly ``close * volume`` again)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from btlstm.data.validate import DataError

__all__ = ["ADJUSTMENTS", "total_return", "adjust"]

#: The price adjustments :func:`adjust` knows, with what each does (for reports).
ADJUSTMENTS = {
    "none": "prices as in the file (split-adjusted, dividends not included)",
    "total_return": "open/high/low/close scaled by adj_close/close on each bar "
    "(dividends reinvested); volume unchanged, amount scaled alike",
}

_PRICES = ("open", "high", "low", "close")


def total_return(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` on total-return prices (see the module docstring).

    Args:
        frame: a canonical frame with an ``adj_close`` column.

    Returns:
        A new frame: the same index and columns, prices scaled, ``attrs`` copied
        with ``attrs["adjusted"] = "total_return"``. A frame already adjusted is
        returned as a copy, unchanged.

    Raises:
        DataError: no ``adj_close`` column, or a factor that is NaN, zero,
            negative or infinite (names the file and the first bad row).

    Example:
        >>> import pandas as pd
        >>> f = pd.DataFrame({"open": [10.0, 11.0], "high": [11.0, 12.0],
        ...                   "low": [9.0, 10.0], "close": [10.0, 12.0],
        ...                   "volume": [100.0, 100.0], "amount": [1000.0, 1200.0],
        ...                   "adj_close": [9.0, 12.0]},
        ...                  index=pd.to_datetime(["2024-01-02", "2024-01-03"]))
        >>> tr = total_return(f)
        >>> tr["close"].tolist(), tr["open"].tolist(), tr.attrs["adjusted"]
        ([9.0, 12.0], [9.0, 11.0], 'total_return')
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"`frame` must be a pandas DataFrame, got {type(frame).__name__}")
    src = frame.attrs.get("source")
    if frame.attrs.get("adjusted") == "total_return":
        out = frame.copy()
        out.attrs = dict(frame.attrs)
        return out
    if "adj_close" not in frame.columns:
        raise DataError(
            "total-return prices need an 'adj_close' column (Yahoo's Adj Close); "
            f"this frame has {list(frame.columns)}",
            src,
            column="adj_close",
        )
    factor = frame["adj_close"].to_numpy(np.float64) / frame["close"].to_numpy(np.float64)
    bad = ~(np.isfinite(factor) & (factor > 0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"adj_close / close is {float(factor[i]):g} (adj_close "
            f"{float(frame['adj_close'].iloc[i]):g}, close {float(frame['close'].iloc[i]):g}): "
            "cannot scale the prices",
            src,
            column="adj_close",
            row=frame.index[i],
        )
    out = frame.copy()
    for col in _PRICES:
        out[col] = frame[col].to_numpy(np.float64) * factor
    out["close"] = frame["adj_close"].to_numpy(np.float64)  # exact, not close * ratio
    if "amount" in out.columns:
        out["amount"] = frame["amount"].to_numpy(np.float64) * factor
    # scaling by a positive factor keeps low <= open, close <= high up to rounding
    out["high"] = np.maximum(out["high"].to_numpy(), out[["open", "close"]].max(axis=1).to_numpy())
    out["low"] = np.minimum(out["low"].to_numpy(), out[["open", "close"]].min(axis=1).to_numpy())
    out.attrs = dict(frame.attrs)
    out.attrs["adjusted"] = "total_return"
    return out


def adjust(frame: pd.DataFrame, how: str = "none") -> pd.DataFrame:
    """Apply adjustment ``how`` (a key of :data:`ADJUSTMENTS`) to a frame.

    ``"none"`` returns ``frame`` itself (``attrs["adjusted"]`` untouched).
    """
    if how == "none":
        return frame
    if how == "total_return":
        return total_return(frame)
    raise ValueError(f"adjust: expected one of {sorted(ADJUSTMENTS)}, got {how!r}")
