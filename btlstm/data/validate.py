"""Validation of canonical frames.

A *canonical frame* is the one representation every btlstm reader returns and
everything downstream (feeds, features, walk-forward, strategies) accepts:

- a tz-naive ``DatetimeIndex`` named ``date``, strictly ascending, unique;
- float64 columns ``open high low close volume amount`` (OHLC > 0, volume and
  amount >= 0, ``low <= open, close <= high``);
- optionally ``adj_close`` and source-specific extra columns (``tradestatus``,
  ``is_st``, ``turn`` ...), which validation leaves alone;
- ``frame.attrs`` carries provenance: ``source`` (file or ``yahoo:TICKER`` or
  ``synthetic:...``), ``symbol``, ``amount_derived`` (True when amount was
  computed as close x volume) and ``synthetic`` (True for generated data).

Problems raise :class:`DataError`, whose message names the file, the column
and the row (date) so a user can open the file and look.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btlstm.errors import DataError, row_text

__all__ = [
    "CANONICAL_COLUMNS",
    "PRICE_COLUMNS",
    "DataError",
    "RepairReport",
    "validate_frame",
    "repair_frame",
    "require_history",
]

PRICE_COLUMNS = ("open", "high", "low", "close")
CANONICAL_COLUMNS = ("open", "high", "low", "close", "volume", "amount")


def _source(df: pd.DataFrame, source):
    if source is not None:
        return source
    attrs = getattr(df, "attrs", None)
    return attrs.get("source") if isinstance(attrs, dict) else None


def _first_bad(index: pd.Index, mask: np.ndarray):
    pos = int(np.flatnonzero(mask)[0])
    return index[pos], int(mask.sum())


def validate_frame(
    df: pd.DataFrame,
    source: str | None = None,
    min_rows: int | None = None,
    check_ohlc: bool = True,
) -> pd.DataFrame:
    """Check that ``df`` is a canonical frame; return it unchanged.

    Args:
        df: the frame to check.
        source: the file or origin to name in errors (default ``df.attrs['source']``).
        min_rows: raise if the frame has fewer rows than this.
        check_ohlc: check ``low <= open, close <= high`` and ``high >= low``.

    Returns:
        ``df`` itself, so calls can be chained.

    Raises:
        DataError: naming the file, the column and the first bad row, for an
            empty frame, a non-datetime or tz-aware index, duplicate or unsorted
            dates, a missing column, NaN, non-positive prices, negative volume or
            amount, inconsistent OHLC, or too little history.
    """
    src = _source(df, source)
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame, got {type(df).__name__}", src)
    if len(df) == 0:
        raise DataError("the frame is empty (no rows)", src)
    idx = df.index
    if not isinstance(idx, pd.DatetimeIndex):
        raise DataError(f"the index must be a DatetimeIndex, got {type(idx).__name__}", src)
    if idx.tz is not None:
        raise DataError(
            f"the index is tz-aware ({idx.tz}); btlstm needs tz-naive dates "
            "(Backtrader's PandasData would shift them to UTC). Use df.tz_localize(None).",
            src,
            column="date",
        )
    if idx.hasnans:
        bad, n = _first_bad(pd.RangeIndex(len(idx)), np.asarray(idx.isna()))
        raise DataError(f"{n} missing date(s) (NaT); first at position {bad}", src, "date")
    dup = np.asarray(idx.duplicated())
    if dup.any():
        bad, n = _first_bad(idx, dup)
        raise DataError(f"duplicate date ({n} duplicated row(s) in all)", src, "date", bad)
    if len(idx) > 1:
        back = np.asarray(idx[1:] < idx[:-1])
        if back.any():
            bad, n = _first_bad(idx[1:], back)
            raise DataError(
                f"dates are not sorted ascending: this date comes after a later one "
                f"({n} out-of-order row(s))",
                src,
                "date",
                bad,
            )
    missing = [c for c in CANONICAL_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; a canonical frame has {list(CANONICAL_COLUMNS)} "
            f"(found {list(df.columns)})",
            src,
            column=missing[0],
        )
    cols = list(CANONICAL_COLUMNS) + (["adj_close"] if "adj_close" in df.columns else [])
    for c in cols:
        if not pd.api.types.is_numeric_dtype(df[c]):
            raise DataError(f"column is not numeric (dtype {df[c].dtype})", src, c)
        v = df[c].to_numpy(dtype=float)
        nan = np.isnan(v)
        if nan.any():
            bad, n = _first_bad(idx, nan)
            raise DataError(f"NaN value ({n} NaN row(s) in this column)", src, c, bad)
        if not np.isfinite(v).all():
            bad, n = _first_bad(idx, ~np.isfinite(v))
            raise DataError("infinite value", src, c, bad)
        if c in PRICE_COLUMNS or c == "adj_close":
            nonpos = v <= 0
            if nonpos.any():
                bad, n = _first_bad(idx, nonpos)
                raise DataError(
                    f"non-positive price {float(v[nonpos][0]):g} ({n} such row(s))", src, c, bad
                )
        else:
            neg = v < 0
            if neg.any():
                bad, n = _first_bad(idx, neg)
                raise DataError(
                    f"negative value {float(v[neg][0]):g} ({n} such row(s))", src, c, bad
                )
    if check_ohlc:
        o, h, lo, c_ = (df[k].to_numpy(dtype=float) for k in PRICE_COLUMNS)
        tol = 1e-9 * np.maximum(np.abs(h), 1.0)
        hl = h < lo - tol
        if hl.any():
            bad, n = _first_bad(idx, hl)
            raise DataError(f"high < low ({n} such row(s))", src, "high", bad)
        for name, v in (("open", o), ("close", c_)):
            out = (v > h + tol) | (v < lo - tol)
            if out.any():
                bad, n = _first_bad(idx, out)
                raise DataError(f"{name} outside [low, high] ({n} such row(s))", src, name, bad)
    if min_rows is not None:
        require_history(df, min_rows, source=src)
    return df


def require_history(df: pd.DataFrame, min_rows: int, source=None, what: str = "") -> None:
    """Raise DataError if ``df`` has fewer than ``min_rows`` rows."""
    if len(df) < min_rows:
        span = ""
        if len(df):
            span = f" ({row_text(df.index[0])} .. {row_text(df.index[-1])})"
        need = f" for {what}" if what else ""
        raise DataError(
            f"too little history: {len(df)} row(s){span}, need at least {min_rows}{need}",
            _source(df, source),
        )


@dataclass
class RepairReport:
    """What :func:`repair_frame` dropped or changed, row by row.

    Attributes:
        source: where the data came from.
        dropped: list of ``(date, column, reason)`` for every dropped row.
    """

    source: str | None = None
    dropped: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.dropped)

    def summary(self) -> str:
        if not self.dropped:
            return f"{self.source}: nothing dropped"
        reasons: dict[str, int] = {}
        for _, _, why in self.dropped:
            reasons[why] = reasons.get(why, 0) + 1
        parts = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items()))
        return f"{self.source}: dropped {len(self.dropped)} row(s): {parts}"


def repair_frame(
    df: pd.DataFrame,
    drop_nan: bool = True,
    drop_nonpositive: bool = True,
    drop_bad_ohlc: bool = True,
    drop_suspended: bool = False,
    drop_zero_volume: bool = False,
    source: str | None = None,
) -> tuple[pd.DataFrame, RepairReport]:
    """Drop rows with known defects, explicitly, and report each one.

    Never fixes a value: a row is either kept as it is or dropped, and every
    dropped row is listed in the returned report. Duplicate or unsorted dates
    and tz-aware indexes are not repaired (they mean a broken file: fix the
    reader or the file).

    Args:
        df: a frame with the canonical columns (possibly defective).
        drop_nan: drop rows with NaN in a canonical column.
        drop_nonpositive: drop rows with a price <= 0.
        drop_bad_ohlc: drop rows where high < low or open/close lie outside [low, high].
        drop_suspended: drop rows whose ``tradestatus`` column is 0 (A-share suspensions).
        drop_zero_volume: drop rows with volume == 0.
        source: name used in the report (default ``df.attrs['source']``).

    Returns:
        ``(clean_frame, report)``; ``clean_frame.attrs`` keeps the provenance and
        gains ``repair`` = the report summary.
    """
    src = _source(df, source)
    report = RepairReport(source=src)
    keep = np.ones(len(df), dtype=bool)
    idx = df.index

    def mark(mask, column, reason):
        mask = np.asarray(mask, dtype=bool) & keep
        for pos in np.flatnonzero(mask):
            report.dropped.append((idx[pos], column, reason))
        keep[mask] = False

    cols = [c for c in CANONICAL_COLUMNS if c in df.columns]
    if "adj_close" in df.columns:
        cols.append("adj_close")
    if drop_nan:
        for c in cols:
            mark(df[c].isna().to_numpy(), c, "NaN")
    if drop_nonpositive:
        for c in [c for c in PRICE_COLUMNS + ("adj_close",) if c in df.columns]:
            mark((df[c] <= 0).to_numpy(), c, "non-positive price")
    if drop_bad_ohlc and all(c in df.columns for c in PRICE_COLUMNS):
        o, h, lo, c_ = (df[k].to_numpy(dtype=float) for k in PRICE_COLUMNS)
        tol = 1e-9 * np.maximum(np.abs(np.nan_to_num(h)), 1.0)
        mark(h < lo - tol, "high", "high < low")
        mark((o > h + tol) | (o < lo - tol), "open", "open outside [low, high]")
        mark((c_ > h + tol) | (c_ < lo - tol), "close", "close outside [low, high]")
    if drop_suspended and "tradestatus" in df.columns:
        mark((df["tradestatus"] == 0).to_numpy(), "tradestatus", "suspended")
    if drop_zero_volume and "volume" in df.columns:
        mark((df["volume"] == 0).to_numpy(), "volume", "zero volume")
    out = df.loc[keep].copy()
    out.attrs = dict(df.attrs)
    out.attrs["repair"] = report.summary()
    return out, report
