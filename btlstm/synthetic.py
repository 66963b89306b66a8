"""SYNTHETIC market data for tests, examples and benchmarks.

Everything here is generated, never real: every frame has
``attrs['synthetic'] = True``, ``attrs['source'] = 'synthetic:...'`` and a
symbol starting with ``SYN``. Frames are canonical (they pass
:func:`btlstm.data.validate_frame`) and deterministic given the seed (numpy's
``default_rng``: the same numbers in any process).

The return model plants a known, tunable predictable component so that tests
can check that a forecaster finds signal when there is some, and none when
there is none:

Formula:
  - latent AR(1) with unit variance:
    ``m_t = phi * m_{t-1} + sqrt(1 - phi**2) * u_t``, ``u_t ~ N(0, 1)``
  - daily log return:
    ``r_t = drift + vol * (signal * m_t + sqrt(1 - signal**2) * eps_t)``
  - ``close_t = price0 * exp(r_1 + ... + r_t)``

Because ``m`` is persistent (``phi`` = ``persistence``, close to 1), the
recent trend predicts the next few bars' return when ``signal > 0``;
``signal = 0`` is a pure random walk with drift.

Bars: ``open`` sits between the previous close and the close (plus a small
overnight gap), ``high``/``low`` extend beyond ``max/min(open, close)`` by a
half-normal intraday range, ``volume`` is lognormal and rises with ``|r_t|``.
``amount`` is ``volume x (high + low + close) / 3`` (a typical-price proxy for
the traded value, so not exactly ``close x volume``); ``attrs['amount_derived']``
is False and ``attrs['amount_method']`` says how it was made.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from btlstm.convert import parse_date
from btlstm.data.catalog import SECTORS

__all__ = [
    "synthetic_ohlcv",
    "synthetic_panel",
    "synthetic_sectors",
    "synthetic_market",
    "SECTOR_TICKERS",
]

#: The nine SPDR sector tickers (one definition: ``btlstm.data.catalog.SECTORS``).
SECTOR_TICKERS = SECTORS

_AMOUNT_METHOD = "volume * (high + low + close) / 3 (synthetic typical-price proxy)"


def _check(name: str, value, lo=None, hi=None, lo_open=False, hi_open=False):
    bad = False
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        left = ("(" if lo_open else "[") + (str(lo) if lo is not None else "-inf")
        right = (str(hi) if hi is not None else "inf") + (")" if hi_open else "]")
        raise ValueError(f"{name}: must lie in {left}, {right}, got {value!r}")


def _latent(rng: np.random.Generator, n: int, persistence: float) -> np.ndarray:
    """Unit-variance stationary AR(1) path of length ``n``."""
    u = rng.standard_normal(n)
    m = np.empty(n)
    m[0] = u[0]
    scale = np.sqrt(1.0 - persistence**2)
    for t in range(1, n):
        m[t] = persistence * m[t - 1] + scale * u[t]
    return m


def _returns(
    rng: np.random.Generator, n: int, drift: float, vol: float, signal: float, persistence: float
) -> tuple[np.ndarray, np.ndarray]:
    m = _latent(rng, n, persistence)
    eps = rng.standard_normal(n)
    r = drift + vol * (signal * m + np.sqrt(1.0 - signal**2) * eps)
    return r, m


def _bars(
    rng: np.random.Generator,
    dates: pd.DatetimeIndex,
    logret: np.ndarray,
    price0: float,
    vol: float,
    volume0: float,
    symbol: str,
    source: str,
) -> pd.DataFrame:
    """OHLCV + amount bars whose close-to-close log returns are ``logret``."""
    n = len(dates)
    close = price0 * np.exp(np.cumsum(logret))
    prev = np.concatenate([[price0], close[:-1]])
    # open: part of the day's move already happened overnight, plus a little noise
    frac = rng.uniform(0.0, 0.4, n)
    gap = 0.1 * vol * rng.standard_normal(n)
    open_ = prev * np.exp(frac * logret + gap)
    top = np.maximum(open_, close)
    bot = np.minimum(open_, close)
    high = top * np.exp(0.5 * vol * np.abs(rng.standard_normal(n)))
    low = bot * np.exp(-0.5 * vol * np.abs(rng.standard_normal(n)))
    surprise = np.abs(logret - np.mean(logret)) / max(vol, 1e-12)
    volume = np.round(volume0 * np.exp(0.25 * rng.standard_normal(n)) * (0.6 + 0.4 * surprise))
    volume = np.maximum(volume, 1.0)
    amount = volume * (high + low + close) / 3.0
    df = pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume.astype(float),
            "amount": amount,
        },
        index=pd.DatetimeIndex(dates, name="date"),
    )
    df.attrs = {
        "source": source,
        "symbol": symbol,
        "amount_derived": False,
        "amount_method": _AMOUNT_METHOD,
        "synthetic": True,
    }
    return df


def _dates(start, n: int) -> pd.DatetimeIndex:
    return pd.bdate_range(parse_date(start, "start", naive=True), periods=n, name="date")


def _symbol(symbol: str) -> str:
    if not isinstance(symbol, str) or not symbol.startswith("SYN"):
        raise ValueError(f"symbol: synthetic symbols must start with 'SYN', got {symbol!r}")
    return symbol


def synthetic_ohlcv(
    n: int = 2500,
    seed: int = 0,
    start="2010-01-04",
    symbol: str = "SYNIDX",
    price0: float = 1000.0,
    drift: float = 0.0002,
    vol: float = 0.012,
    signal: float = 0.0,
    persistence: float = 0.97,
    return_latent: bool = False,
):
    """One SYNTHETIC daily OHLCV series with a planted predictable component.

    Args:
        n: number of business days.
        seed: seed for ``numpy.random.default_rng``.
        start: first date (business-day calendar, no holidays).
        symbol: must start with ``SYN``.
        price0: the close before the first bar.
        drift: mean daily log return.
        vol: daily log-return volatility.
        signal: weight in ``[0, 1)`` of the latent AR(1) ``m_t`` in the return
            (0 = pure noise; see the module docstring for the formula).
        persistence: AR(1) coefficient ``phi`` of ``m_t``, in ``[0, 1)``.
        return_latent: also return the latent path ``m`` (float array, length n).

    Returns:
        A canonical frame (``attrs['synthetic'] = True``), or ``(frame, m)``
        with ``return_latent=True``.

    Example:

    >>> df = synthetic_ohlcv(n=500, seed=1, signal=0.5)
    >>> df.attrs["source"]
    'synthetic:ohlcv(seed=1, signal=0.5, persistence=0.97)'
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an int >= 1, got {n!r}")
    _check("signal", signal, 0.0, 1.0, hi_open=True)
    _check("persistence", persistence, 0.0, 1.0, hi_open=True)
    _check("vol", vol, 0.0, 0.2, lo_open=True)
    _check("price0", price0, 0.0, lo_open=True)
    symbol = _symbol(symbol)
    rng = np.random.default_rng(seed)
    r, m = _returns(rng, int(n), drift, vol, signal, persistence)
    source = f"synthetic:ohlcv(seed={seed}, signal={signal}, persistence={persistence})"
    df = _bars(rng, _dates(start, int(n)), r, price0, vol, 1e8, symbol, source)
    return (df, m) if return_latent else df


def _factor_panel(
    rng: np.random.Generator,
    symbols: list[str],
    n: int,
    dates: pd.DatetimeIndex,
    drift: float,
    market_vol: float,
    idio_vol: float,
    signal: float,
    persistence: float,
    source: str,
):
    """Frames with a common market factor + idiosyncratic parts (both carry signal)."""
    market, _ = _returns(rng, n, drift, market_vol, signal, persistence)
    frames = {}
    rets = {}
    for sym in symbols:
        beta = rng.uniform(0.7, 1.3)
        idio, _ = _returns(rng, n, 0.0, idio_vol, signal, persistence)
        r = beta * market + idio
        price0 = float(np.round(rng.uniform(10.0, 200.0), 2))
        vol = float(np.hypot(beta * market_vol, idio_vol))
        volume0 = float(np.round(rng.uniform(1e5, 1e7)))
        frames[sym] = _bars(rng, dates, r, price0, vol, volume0, sym, source + f":{sym}")
        rets[sym] = r
    return frames, market, rets


def synthetic_panel(
    n_symbols: int = 20,
    n: int = 1500,
    seed: int = 0,
    signal: float = 0.0,
    start="2012-01-02",
    late_starters: int = 0,
    stoppers: int = 0,
    persistence: float = 0.97,
) -> dict[str, pd.DataFrame]:
    """A SYNTHETIC cross-section: market factor + idiosyncratic parts.

    Daily log return of symbol i: ``beta_i * market_t + idio_it`` where both
    ``market`` (vol 1%) and ``idio`` (vol 1.5%) follow the planted-signal model
    of :func:`synthetic_ohlcv` with the same ``signal`` and ``persistence``.

    Args:
        n_symbols: number of symbols (``SYN0000``, ``SYN0001`` ...).
        n: number of business days of the full calendar.
        seed: seed for ``numpy.random.default_rng``.
        signal: weight of the latent AR(1) component, in ``[0, 1)``.
        start: first date of the calendar.
        late_starters: the first this-many symbols start late (their first
            bar falls in the first half of the calendar, after day 0).
        stoppers: the last this-many symbols stop early (their last bar falls
            in the second half, before the final day).
        persistence: AR(1) coefficient of the latent component.

    Returns:
        ``{symbol: canonical frame}``, insertion-ordered by symbol.

    Example:

    >>> panel = synthetic_panel(n_symbols=5, n=300, late_starters=1, stoppers=1)
    >>> len(panel["SYN0000"]) < 300
    True
    """
    if not isinstance(n_symbols, (int, np.integer)) or n_symbols < 1:
        raise ValueError(f"n_symbols: expected an int >= 1, got {n_symbols!r}")
    if not isinstance(n, (int, np.integer)) or n < 20:
        raise ValueError(f"n: expected an int >= 20, got {n!r}")
    if late_starters < 0 or stoppers < 0 or late_starters + stoppers > n_symbols:
        raise ValueError(
            f"late_starters + stoppers must be between 0 and n_symbols={n_symbols}, "
            f"got late_starters={late_starters!r}, stoppers={stoppers!r}"
        )
    _check("signal", signal, 0.0, 1.0, hi_open=True)
    _check("persistence", persistence, 0.0, 1.0, hi_open=True)
    rng = np.random.default_rng(seed)
    dates = _dates(start, int(n))
    symbols = [f"SYN{i:04d}" for i in range(n_symbols)]
    source = f"synthetic:panel(seed={seed}, signal={signal})"
    frames, _, _ = _factor_panel(
        rng, symbols, int(n), dates, 0.0002, 0.010, 0.015, signal, persistence, source
    )
    half = n // 2
    for sym in symbols[:late_starters]:
        first = int(rng.integers(1, half))
        frames[sym] = _keep_attrs(frames[sym], frames[sym].iloc[first:])
    for sym in symbols[n_symbols - stoppers :]:
        last = int(rng.integers(half, n - 1))
        frames[sym] = _keep_attrs(frames[sym], frames[sym].iloc[: last + 1])
    return frames


def _keep_attrs(orig: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    new = new.copy()
    new.attrs = dict(orig.attrs)
    return new


def synthetic_sectors(
    n: int = 2500,
    seed: int = 0,
    signal: float = 0.0,
    start="2010-01-04",
    persistence: float = 0.97,
) -> dict[str, pd.DataFrame]:
    """SYNTHETIC nine sector ETFs (``SYN_XLB`` ... ``SYN_XLY``) and ``SYN_SPY``.

    Sectors share a market factor and each has its own idiosyncratic part
    (both with the planted signal). ``SYN_SPY``'s daily log return is the
    average of the nine sectors' (so SPY is about the equal-weight basket).
    Every frame has ``adj_close``: the close with a 2%/year dividend yield
    reinvested, equal to ``close`` on the last day (Yahoo convention).

    Args:
        n: number of business days.
        seed: seed for ``numpy.random.default_rng``.
        signal: weight of the latent AR(1) component, in ``[0, 1)``.
        start: first date.
        persistence: AR(1) coefficient of the latent component.

    Returns:
        ``{"SYN_XLB": frame, ..., "SYN_XLY": frame, "SYN_SPY": frame}``.

    Example:

    >>> sectors = synthetic_sectors(n=300, seed=2)
    >>> sorted(sectors)[-1]
    'SYN_XLY'
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: expected an int >= 2, got {n!r}")
    _check("signal", signal, 0.0, 1.0, hi_open=True)
    rng = np.random.default_rng(seed)
    dates = _dates(start, int(n))
    symbols = [f"SYN_{t}" for t in SECTOR_TICKERS]
    source = f"synthetic:sectors(seed={seed}, signal={signal})"
    frames, _, rets = _factor_panel(
        rng, symbols, int(n), dates, 0.0003, 0.010, 0.008, signal, persistence, source
    )
    spy_r = np.mean([rets[s] for s in symbols], axis=0)
    spy_vol = float(np.std(spy_r)) or 0.01
    frames["SYN_SPY"] = _bars(
        rng, dates, spy_r, 100.0, spy_vol, 5e7, "SYN_SPY", source + ":SYN_SPY"
    )
    yearly_yield = 0.02
    age = np.arange(int(n) - 1, -1, -1) / 252.0
    for df in frames.values():
        df["adj_close"] = df["close"].to_numpy() * np.exp(-yearly_yield * age)
    return frames


def synthetic_market(
    n_members: int = 50,
    n: int = 1500,
    seed: int = 0,
    signal: float = 0.0,
    start="2012-01-02",
    late_starters: int = 0,
    stoppers: int = 0,
    persistence: float = 0.97,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A SYNTHETIC index and its members, consistent with each other.

    The members come from :func:`synthetic_panel`; the index (``SYNIDX``,
    base 1000) returns, each day, the equal-weighted average close-to-close
    return of the members that traded that day and the day before.

    Args:
        n_members: number of member stocks.
        n: number of business days.
        seed: seed for ``numpy.random.default_rng``.
        signal: weight of the latent AR(1) component, in ``[0, 1)``.
        start: first date.
        late_starters: members that list late (see :func:`synthetic_panel`).
        stoppers: members that stop early.
        persistence: AR(1) coefficient of the latent component.

    Returns:
        ``(index_frame, {symbol: member_frame})``.

    Example:

    >>> index, members = synthetic_market(n_members=10, n=250)
    >>> index.attrs["symbol"]
    'SYNIDX'
    """
    members = synthetic_panel(
        n_symbols=n_members,
        n=n,
        seed=seed,
        signal=signal,
        start=start,
        late_starters=late_starters,
        stoppers=stoppers,
        persistence=persistence,
    )
    dates = _dates(start, int(n))
    closes = pd.DataFrame({s: f["close"] for s, f in members.items()}).reindex(dates)
    simple = (closes / closes.shift(1) - 1.0).mean(axis=1, skipna=True).fillna(0.0)
    logret = np.log1p(simple.to_numpy())
    vol = float(np.std(logret)) or 0.01
    rng = np.random.default_rng([seed, 1])
    source = f"synthetic:market(seed={seed}, signal={signal}):SYNIDX"
    index = _bars(rng, dates, logret, 1000.0, vol, 1e9, "SYNIDX", source)
    return index, members
