"""Price gaps too large to be a market move: an unadjusted split or a bad tick, found and named.

A 10:1 split that the file does not adjust for shows as a -90% overnight
return; a mistyped close as a jump there and back. Either trains the model on
a move that never happened and books a profit or loss no one could have made.
:func:`price_gaps` finds every bar whose open or close is more than
:data:`PRICE_GAP_LIMIT` (40%) away from the previous close and describes them
in one warning per symbol (the file, the symbol, the dates and the gaps); the
run goes on, and the warning reaches the terminal, ``report.json`` and the page.

The limit is far beyond any daily move of a broad index or an ETF, and twice
the A-share daily price limit of 20%; an IPO's first days or a stock in
distress may pass it honestly, so a gap is a warning, not an error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PRICE_GAP_LIMIT", "price_gaps"]

PRICE_GAP_LIMIT = 0.40
"""The largest |open / previous close - 1| and |close / previous close - 1| taken as a
market move; beyond it a bar is reported as a likely split or bad tick."""

_SHOWN = 3  # dates shown per symbol


def price_gaps(frame: pd.DataFrame, limit: float = PRICE_GAP_LIMIT, name=None) -> str | None:
    """One warning naming the bars of ``frame`` that gap more than ``limit``, or None.

    Args:
        frame: a canonical frame (``open``, ``close``; a ``DatetimeIndex``);
            ``attrs['source']`` and ``attrs['symbol']`` name it in the text.
        limit: the largest gap taken as a market move (a fraction: 0.4 = 40%).
        name: the symbol when ``attrs`` has none (e.g. the panel's key).

    Returns:
        ``"prices.csv, symbol X: 2 bars move more than 40% from the previous close,
        likely an unadjusted split or a bad tick: 2020-08-31 close -75.0% (from
        500.00 to 125.00), ...; the model trains on and the strategy trades these
        moves"``, or None when there is no such bar.

    Example:
        >>> idx = pd.bdate_range("2020-01-01", periods=4)
        >>> f = pd.DataFrame({"open": [10.0, 10, 1.0, 1], "close": [10.0, 10, 1, 1]}, index=idx)
        >>> f.attrs.update(source="x.csv", symbol="X")
        >>> price_gaps(f)[:66]
        'x.csv, symbol X: 1 bar moves more than 40% from the previous close'
    """
    if frame is None or len(frame) < 2 or "close" not in frame:
        return None
    close = frame["close"].to_numpy(dtype=np.float64)
    prev = close[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        moves = {"close": close[1:] / prev - 1.0}
        if "open" in frame:
            moves["open"] = frame["open"].to_numpy(dtype=np.float64)[1:] / prev - 1.0
    size = np.zeros(len(prev))
    which = np.full(len(prev), "close", dtype=object)
    for col, r in moves.items():
        r = np.where(np.isfinite(r), np.abs(r), 0.0)
        bigger = r > size
        size = np.where(bigger, r, size)
        which = np.where(bigger, col, which)
    bad = np.flatnonzero(size > limit)
    if not bad.size:
        return None
    attrs = frame.attrs if isinstance(frame.attrs, dict) else {}
    source = attrs.get("source") or "data"
    symbol = attrs.get("symbol") or name
    who = f"{source}, symbol {symbol}" if symbol and str(symbol) not in str(source) else source
    shown = []
    for i in bad[:_SHOWN]:
        col = which[i]
        now = frame[col].iloc[i + 1]
        shown.append(
            f"{pd.Timestamp(frame.index[i + 1]).date()} {col} {moves[col][i]:+.1%} "
            f"(previous close {prev[i]:.4g}, {col} {now:.4g})"
        )
    more = f" and {bad.size - _SHOWN} more" if bad.size > _SHOWN else ""
    n = bad.size
    return (
        f"{who}: {n} bar{'s' if n > 1 else ''} move{'' if n > 1 else 's'} more than "
        f"{limit:.0%} from the previous close, likely an unadjusted split or a bad tick: "
        f"{'; '.join(shown)}{more}. The model trains on these moves and the backtest books "
        "them: check those rows (a suspension or listing can be real; a split needs adjusted "
        "prices, a bad tick a fix)."
    )
