"""An equal-weight index built from a panel of stocks (a gate for a universe
that has no index file, e.g. ``sp500_5yr``).

Formula, on the union calendar of the panel, for each date ``t``:

  - each stock's return ``r_i[t] = close_i[t] / close_i[prev] - 1``, where
    ``prev`` is that stock's own previous bar (a suspended or not-yet-listed
    stock has no return that day); non-finite returns are left out;
  - the index return ``R[t]`` = the mean of the stocks' returns that day
    (0 when no stock has one: the first date);
  - ``close[t] = base * prod(1 + R[s], s <= t)``;
  - ``open[t] = close[t-1] * (1 + mean_i(open_i[t] / close_i[prev] - 1))``
    (the average overnight gap), ``high = max(open, close)``,
    ``low = min(open, close)``: an index has no traded range of its own;
  - ``volume`` and ``amount`` = the sums over the stocks that traded.

Every value at ``t`` uses the stocks' bars up to ``t`` only (tested by
rewriting the future). Survivorship of the panel carries over to the index.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from btlstm.data.validate import DataError

__all__ = ["EQUAL_WEIGHT", "equal_weight_index"]

#: The ``[data] index`` value that builds this index from the run's panel.
EQUAL_WEIGHT = "equal_weight"


def equal_weight_index(
    panel: Mapping[str, pd.DataFrame], name: str = "EQUALWEIGHT", base: float = 1000.0
) -> pd.DataFrame:
    """The equal-weight index of ``panel`` as a canonical frame (module docstring).

    Args:
        panel: ``{symbol: canonical frame}`` (float ``open high low close
            volume``; ``amount`` used when present).
        name: the frame's ``attrs['symbol']``.
        base: the index level before the first return.

    Returns:
        A frame indexed by the panel's union calendar with ``open high low
        close volume amount``; ``attrs``: symbol, source, ``members``.

    Raises:
        DataError: an empty panel.

    Example:

    >>> from btlstm.synthetic import synthetic_panel
    >>> ix = equal_weight_index(synthetic_panel(n_symbols=3, n=30, seed=0))
    >>> float(ix["close"].iloc[0])
    1000.0
    """
    if not panel:
        raise DataError("equal_weight_index: the panel is empty")
    close = pd.DataFrame({s: f["close"] for s, f in panel.items()}).astype(float)
    opens = pd.DataFrame({s: f["open"] for s, f in panel.items()}).reindex(close.index)
    volume = pd.DataFrame({s: f["volume"] for s, f in panel.items()}).reindex(close.index)
    amount = pd.DataFrame(
        {s: f["amount"] if "amount" in f else f["close"] * f["volume"] for s, f in panel.items()}
    ).reindex(close.index)
    prev = close.ffill().shift(1)  # each stock's own previous close (its last real bar)
    has = close.notna()
    ret = (close / prev - 1.0).where(has)
    gap = (opens / prev - 1.0).where(has)
    ret = ret.where(np.isfinite(ret))
    gap = gap.where(np.isfinite(gap))
    r = ret.mean(axis=1).fillna(0.0).to_numpy()
    g = gap.mean(axis=1).fillna(0.0).to_numpy()
    level = base * np.cumprod(1.0 + r)
    before = np.concatenate([[base], level[:-1]])
    open_ = before * (1.0 + g)
    out = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, level),
            "low": np.minimum(open_, level),
            "close": level,
            "volume": volume.where(has).sum(axis=1).to_numpy(float),
            "amount": amount.where(has).sum(axis=1).to_numpy(float),
        },
        index=pd.DatetimeIndex(close.index, name="date"),
    )
    out.attrs = {
        "symbol": name,
        "source": f"equal-weight index of {len(panel)} stocks (btlstm.data.index)",
        "members": len(panel),
    }
    return out
