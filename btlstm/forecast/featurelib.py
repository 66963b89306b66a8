"""Registered feature functions: ``@register_feature`` and the built-in indicators.

A feature function takes the canonical frame of ONE symbol (columns ``open high
low close volume amount``, a ``DatetimeIndex``) and returns one column aligned
to it (a Series or a 1-D array of the frame's length). A NaN warm-up at the
start is allowed; after its first finite value the column must stay finite, and
it must not be constant (:func:`compute_feature` checks it and names the
feature). A window of the walk-forward is usable only once every feature in it
is finite (``btlstm.forecast.walkforward``), so a warm-up only delays the first usable
window.

Names (``docs/features.md`` has every formula):

- ``@register_feature("name")``: any name of your own (letters, digits, ``_``);
- built in, parametrised by a number at the end of the name (``<N>`` bars):
  ``rsi<N>`` (Wilder's RSI, ``rsi14``), ``atr<N>`` (Wilder's ATR, ``atr14``),
  ``bbpctb<N>`` (Bollinger %b, N bars, 2 standard deviations, ``bbpctb20``),
  ``vol<N>`` (rolling volatility of log returns, ``vol20``), ``volz<N>``
  (volume z-score, ``volz20``), ``ret<N>`` (return over N bars, ``ret5``,
  ``ret20``; ``ret1`` stays the derived feature of :mod:`btlstm.forecast.features`);
  and MACD (12, 26, 9): ``macd``, ``macd_signal``, ``macd_hist``;
- for a panel, ``xsrank(<feature>)``: the cross-sectional rank of any other
  feature name, per date, over the symbols that have it (``xsrank(rsi14)``).

Every built-in is our own numpy/pandas code, tested bar by bar against
Backtrader's own indicator on CSI 300 (``tests/test_featurelib.py``).
"""

from __future__ import annotations

import hashlib
import inspect
import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from btlstm.checks import close_names, did_you_mean
from btlstm.errors import DataError, SettingsError

__all__ = [
    "register_feature",
    "Feature",
    "WarmupError",
    "is_feature",
    "check_name",
    "registered",
    "feature_names",
    "unknown_message",
    "compute_feature",
    "check_output",
    "needs_frame",
    "xs_features",
    "feature_tokens",
    "lookahead_leak",
    "rsi",
    "atr",
    "macd",
    "bollinger_pctb",
    "log_volatility",
    "volume_zscore",
    "returns",
    "xs_rank",
]

#: a name of one's own: letters, digits and ``_``, starting with a letter
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_XS = re.compile(r"^xsrank\((.+)\)$")
#: the canonical columns and the derived features of btlstm.forecast.features: never a registered name
_RESERVED = {
    "open", "high", "low", "close", "volume", "amount", "adj_close",
    "ret1", "logret1", "hl_range", "log_volume", "log_amount",
}  # fmt: skip


@dataclass(frozen=True)
class Feature:
    """One registered feature: its name, its function, and where it came from.

    Attributes:
        name: the name used in ``--features`` / ``[model] features``.
        fn: ``fn(frame) -> Series | 1-D array``.
        builtin: True for btlstm's own (their code is versioned with btlstm).
        token: a hash of the function's source (cache keys of user features).
    """

    name: str
    fn: Callable
    builtin: bool
    token: str


_REGISTRY: dict[str, Feature] = {}


class WarmupError(DataError):
    """A feature with no finite value yet: its warm-up is longer than the bars given."""


def _source_token(fn) -> str:
    """sha256 of the function's source (its bytecode and constants when there is no source)."""
    try:
        src = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        src = repr((getattr(code, "co_code", b""), getattr(code, "co_consts", ()))).encode()
    return hashlib.sha256(src).hexdigest()[:16]


def register_feature(name: str, *, _builtin: bool = False):
    """Decorator: make ``fn(frame)`` a feature usable by ``name`` everywhere a feature
    name is accepted (``--features``, ``[model] features``, ``WalkForwardConfig``).

    Params:
        name: letters, digits and ``_``, starting with a letter; not a canonical
            column or a derived feature (``close``, ``ret1``, ...). Registering a
            name again replaces the function (a reloaded module).

    The function gets the canonical frame of one symbol and returns one column
    aligned to it; a panel applies it to each symbol. Its output is checked
    where it is used (:func:`check_output`).

    Example::

        @register_feature("range_pct")
        def range_pct(frame):
            return (frame["high"] - frame["low"]) / frame["close"]

        # then: --features close,range_pct (with --plugin FILE), or
        # WalkForwardConfig(features=("close", "range_pct"))
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise SettingsError(
            f"register_feature: a feature name is letters, digits and '_', starting with a "
            f"letter, got {name!r}"
        )
    if name in _RESERVED:
        raise SettingsError(
            f"register_feature: {name!r} is a built-in column or derived feature; choose "
            "another name"
        )
    if not _builtin and (name in _BUILTIN_NAMES or _family(name) is not None):
        raise SettingsError(
            f"register_feature: {name!r} is a built-in indicator name "
            f"(built in: {sorted(_BUILTIN_NAMES)}, {sorted(f + '<N>' for f in _FAMILIES)}); "
            "choose another name"
        )

    def deco(fn):
        if not callable(fn):
            raise SettingsError(f"register_feature({name!r}): expected a function, got {fn!r}")
        _REGISTRY[name] = Feature(name, fn, _builtin, _source_token(fn))
        return fn

    return deco


def registered() -> dict[str, Feature]:
    """``{name: Feature}`` of every registered feature (built-in and user)."""
    return dict(_REGISTRY)


# --------------------------------------------------------------------------- the indicators
def _smoothed(x: np.ndarray, period: int, alpha: float) -> np.ndarray:
    """Exponential smoothing seeded with the simple mean of the first ``period`` finite
    values (Backtrader's EMA and SmoothedMovingAverage): ``s[seed] = mean(x[f..seed])``,
    then ``s[t] = s[t-1] * (1 - alpha) + x[t] * alpha``. NaN before the seed."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(len(x), np.nan)
    finite = np.flatnonzero(np.isfinite(x))
    if not len(finite):
        return out
    first = int(finite[0])
    seed = first + period - 1
    if seed >= len(x):
        return out
    prev = math.fsum(x[first : seed + 1]) / period
    out[seed] = prev
    a1 = 1.0 - alpha
    if seed + 1 < len(x):
        from scipy.signal import lfilter  # the recursion in C: y = alpha*x + a1*y_prev

        out[seed + 1 :] = lfilter([alpha], [1.0, -a1], x[seed + 1 :], zi=[a1 * prev])[0]
    return out


def _prev(x: np.ndarray) -> np.ndarray:
    out = np.full(len(x), np.nan)
    out[1:] = x[:-1]
    return out


def rsi(frame: pd.DataFrame, period: int = 14) -> np.ndarray:
    """Wilder's RSI of the close.

    Formula: ``up[t] = max(close[t] - close[t-1], 0)``, ``down[t] = max(close[t-1] -
    close[t], 0)`` (from the second bar); ``U``, ``D`` = Wilder's smoothing of each
    (seeded with the mean of the first ``period`` values, then ``s = s*(1-1/period) +
    x/period``); ``rsi = 100 - 100 / (1 + U / D)``; 100 where ``D = 0 < U``, 50 where
    both are 0. First value at bar ``period``. Backtrader: ``bt.ind.RSI(period=period)``.
    """
    c = frame["close"].to_numpy(dtype=np.float64)
    d = c - _prev(c)
    up = _smoothed(np.where(np.isnan(d), np.nan, np.maximum(d, 0.0)), period, 1.0 / period)
    down = _smoothed(np.where(np.isnan(d), np.nan, np.maximum(-d, 0.0)), period, 1.0 / period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 100.0 - 100.0 / (1.0 + up / down)
    out = np.where(down == 0.0, np.where(up > 0.0, 100.0, 50.0), out)
    return np.where(np.isnan(up) | np.isnan(down), np.nan, out)


def atr(frame: pd.DataFrame, period: int = 14) -> np.ndarray:
    """Wilder's average true range.

    Formula: ``tr[t] = max(high[t], close[t-1]) - min(low[t], close[t-1])`` (from the
    second bar), ``atr`` = Wilder's smoothing of ``tr`` over ``period`` (as in
    :func:`rsi`). First value at bar ``period``. Backtrader: ``bt.ind.ATR(period=period)``.
    """
    h, lo, c = (frame[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close"))
    pc = _prev(c)
    tr = np.fmax(h, pc) - np.fmin(lo, pc)
    tr[0] = np.nan
    return _smoothed(tr, period, 1.0 / period)


def macd(frame: pd.DataFrame, fast: int = 12, slow: int = 26, signal: int = 9):
    """MACD line, signal and histogram of the close: ``(line, signal, hist)``.

    Formula: ``ema_n`` = exponential average with ``alpha = 2 / (n + 1)``, seeded with
    the mean of its first ``n`` values; ``line = ema_fast(close) - ema_slow(close)``
    (first at bar ``slow - 1``), ``signal = ema_signal(line)`` (first at bar ``slow +
    signal - 2``), ``hist = line - signal``. Backtrader: ``bt.ind.MACD`` (``macd``,
    ``signal``) and ``bt.ind.MACDHisto`` (``histo``).
    """
    c = frame["close"].to_numpy(dtype=np.float64)
    line = _smoothed(c, fast, 2.0 / (fast + 1)) - _smoothed(c, slow, 2.0 / (slow + 1))
    sig = _smoothed(line, signal, 2.0 / (signal + 1))
    return line, sig, line - sig


def _rolling_mean_std(x: np.ndarray, period: int):
    s = pd.Series(x)
    r = s.rolling(period, min_periods=period)
    return r.mean().to_numpy(), r.std(ddof=0).to_numpy()


def bollinger_pctb(frame: pd.DataFrame, period: int = 20, devs: float = 2.0) -> np.ndarray:
    """Bollinger %b of the close.

    Formula: ``mid = mean(close[t-period+1..t])``, ``sd`` = their population standard
    deviation (ddof 0), ``top = mid + devs*sd``, ``bot = mid - devs*sd``, ``%b =
    (close - bot) / (top - bot)``; 0.5 where ``sd = 0``. First value at bar
    ``period - 1``. Backtrader: ``bt.ind.BollingerBandsPct(period, devfactor=devs).pctb``.
    """
    c = frame["close"].to_numpy(dtype=np.float64)
    mid, sd = _rolling_mean_std(c, period)
    top, bot = mid + devs * sd, mid - devs * sd
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (c - bot) / (top - bot)
    return np.where(sd == 0.0, 0.5, out)


def log_volatility(frame: pd.DataFrame, period: int = 20) -> np.ndarray:
    """Rolling volatility of log returns (per bar, not annualised).

    Formula: ``lr[t] = log(close[t] / close[t-1])`` (from the second bar); ``vol`` =
    population standard deviation (ddof 0) of ``lr[t-period+1..t]``. First value at
    bar ``period``. Backtrader: ``bt.ind.StdDev(<log return line>, period=period)``.
    """
    c = frame["close"].to_numpy(dtype=np.float64)
    lr = np.log(c / _prev(c))
    return _rolling_mean_std(lr, period)[1]


def volume_zscore(frame: pd.DataFrame, period: int = 20) -> np.ndarray:
    """Volume z-score over the last ``period`` bars, the current one included.

    Formula: ``(volume[t] - mean(volume[t-period+1..t])) / sd``, ``sd`` their population
    standard deviation (ddof 0); 0 where ``sd = 0``. First value at bar ``period - 1``.
    Backtrader has no such indicator: tested against this formula.
    """
    v = frame["volume"].to_numpy(dtype=np.float64)
    mean, sd = _rolling_mean_std(v, period)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (v - mean) / sd
    return np.where(sd == 0.0, 0.0, out)


def returns(frame: pd.DataFrame, period: int = 5) -> np.ndarray:
    """Return over ``period`` bars: ``close[t] / close[t-period] - 1``.

    First value at bar ``period``. Backtrader: ``bt.ind.PctChange(period=period)``.

    Example:
        >>> returns(pd.DataFrame({"close": [100.0, 110.0, 121.0]}), 2).round(4).tolist()
        [nan, nan, 0.21]
    """
    c = frame["close"].to_numpy(dtype=np.float64)
    out = np.full(len(c), np.nan)
    if len(c) > period:
        out[period:] = c[period:] / c[:-period] - 1.0
    return out


def xs_rank(values: pd.DataFrame) -> pd.DataFrame:
    """Cross-sectional rank per date (rows: dates, columns: symbols).

    Formula: over the symbols with a finite value on the date, ``rank / n`` with
    ``rank`` from 1 (lowest) to ``n`` and ties sharing their average rank; NaN where
    the symbol has no value. Values in ``(0, 1]``.

    Example:
        >>> v = pd.DataFrame({"a": [1.0, 3.0], "b": [2.0, np.nan], "c": [2.0, 1.0]})
        >>> xs_rank(v).to_numpy().tolist()
        [[0.3333333333333333, 0.8333333333333334, 0.8333333333333334], [1.0, nan, 0.5]]
    """
    v = values.where(np.isfinite(values.to_numpy(dtype=np.float64)))
    return v.rank(axis=1, method="average", pct=True)


# name -> fn(frame, n), the least N, the default N (the example in the docs)
_FAMILIES: dict[str, tuple[Callable, int, int]] = {
    "rsi": (rsi, 2, 14),
    "atr": (atr, 2, 14),
    "bbpctb": (bollinger_pctb, 2, 20),
    "volz": (volume_zscore, 2, 20),
    "vol": (log_volatility, 2, 20),
    "ret": (returns, 1, 5),
}
_FAMILY = re.compile(r"^(rsi|atr|bbpctb|volz|vol|ret)(\d+)$")
#: the longest period of a parametrised name
MAX_PERIOD = 10_000

_BUILTIN_NAMES = {"macd", "macd_signal", "macd_hist"}


def _family(name: str):
    """``(fn, n)`` of a parametrised built-in name (``rsi14``), else None."""
    m = _FAMILY.match(name)
    if not m or name in _RESERVED:
        return None
    return _FAMILIES[m.group(1)][0], int(m.group(2))


def check_name(name: str) -> None:
    """Refuse a parametrised built-in name whose period is out of range (``rsi1``,
    ``ret0``, ``vol007``), in ``xsrank(...)`` too; any other name passes."""
    x = _XS.match(name)
    m = _FAMILY.match(x.group(1) if x else name)
    if not m or m.group(0) in _RESERVED:
        return
    lo = _FAMILIES[m.group(1)][1]
    n = int(m.group(2))
    if not lo <= n <= MAX_PERIOD or m.group(2) != str(n):
        raise SettingsError(
            f"feature {name!r}: the period of {m.group(1)}<N> must be an integer in "
            f"[{lo}, {MAX_PERIOD}] written without leading zeros, got {m.group(2)!r}"
        )


register_feature("macd", _builtin=True)(lambda frame: macd(frame)[0])
register_feature("macd_signal", _builtin=True)(lambda frame: macd(frame)[1])
register_feature("macd_hist", _builtin=True)(lambda frame: macd(frame)[2])


# --------------------------------------------------------------------------- names
def is_feature(name) -> bool:
    """Whether ``name`` is a registered, parametrised built-in or ``xsrank(...)`` name
    (canonical columns and derived features are :mod:`btlstm.forecast.features`'s)."""
    if not isinstance(name, str):
        return False
    m = _XS.match(name)
    if m:
        inner = m.group(1)
        return not _XS.match(inner) and (inner in _RESERVED or is_feature(inner))
    return name in _REGISTRY or _family(name) is not None


def feature_names() -> list[str]:
    """The names to show a user: every registered name, each parametrised built-in with
    its default period and as ``name<N>``, and ``xsrank(<feature>)``."""
    fam = [f"{k}{d}" for k, (_, _, d) in _FAMILIES.items()] + ["ret20"]
    return sorted(set(_REGISTRY) | set(fam)) + [f"{k}<N>" for k in _FAMILIES] + [
        "xsrank(<feature>)"
    ]


def unknown_message(name, base_valid) -> str:
    """``unknown feature 'x'; did you mean 'y'? (valid: ...)`` over the columns and
    derived features ``base_valid`` and every registered / built-in name."""
    m = _XS.match(str(name))
    probe = m.group(1) if m else str(name)
    valid = sorted(base_valid) + feature_names()
    got = close_names(probe, [v for v in valid if "<" not in v])
    if m:
        got = [f"xsrank({g})" for g in got]
    return (
        f"unknown feature {name!r}{did_you_mean(got)} (valid: {valid}; a feature of your own: "
        "@register_feature in a module named by --plugin, docs/features.md)"
    )


def xs_features(features) -> list[str]:
    """The ``xsrank(...)`` names among ``features``."""
    return [f for f in features if isinstance(f, str) and _XS.match(f)]


def needs_frame(features) -> bool:
    """Whether any of ``features`` is computed by a function of the whole history
    (registered, built-in indicator or ``xsrank``), not from the bar's own columns."""
    return any(isinstance(f, str) and f not in _RESERVED and is_feature(f) for f in features)


# --------------------------------------------------------------------------- computing
def check_output(name: str, out, frame: pd.DataFrame) -> np.ndarray:
    """A feature function's output as a float64 column, or one DataError naming the feature.

    Checks: one column of the frame's length (a Series must carry the frame's index);
    no infinity; finite from its first finite value on (NaN only as a warm-up at the
    start); not constant over its finite values; at least one finite value.
    """
    src = getattr(frame, "attrs", {}).get("source") or getattr(frame, "attrs", {}).get("symbol")
    n = len(frame)
    if isinstance(out, pd.DataFrame):
        if out.shape[1] != 1:
            raise DataError(
                f"feature {name!r} returned {out.shape[1]} columns; a feature returns one",
                src,
            )
        out = out.iloc[:, 0]
    if isinstance(out, pd.Series):
        if len(out) == n and not out.index.equals(frame.index):
            raise DataError(
                f"feature {name!r} returned a Series whose index is not the frame's "
                "(return it aligned to the frame, e.g. computed from its columns)",
                src,
            )
        out = out.to_numpy()
    try:
        a = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            f"feature {name!r} returned {type(out).__name__}, not numbers", src
        ) from None
    if a.ndim == 2 and a.shape[1:] == (1,):
        a = a[:, 0]
    if a.shape != (n,):
        raise DataError(
            f"feature {name!r} returned shape {a.shape}; a feature returns one column of the "
            f"frame's {n} bars",
            src,
        )
    fin = np.isfinite(a)

    def when(i):
        if isinstance(frame.index, pd.DatetimeIndex):
            return str(frame.index[i].date())
        return f"row {i}"

    inf = np.flatnonzero(np.isinf(a))
    if len(inf):
        raise DataError(
            f"feature {name!r} is {a[inf[0]]} at {when(int(inf[0]))} ({len(inf)} such bars); "
            "a feature must be finite after its warm-up",
            src,
        )
    if not fin.any():
        raise WarmupError(
            f"feature {name!r} has no finite value in the {n} bars (its warm-up is longer "
            "than the data, or it is NaN throughout)",
            src,
        )
    first = int(np.argmax(fin))
    gaps = np.flatnonzero(~fin[first:])
    if len(gaps):
        i = first + int(gaps[0])
        raise DataError(
            f"feature {name!r} is NaN at {when(i)} after its warm-up (finite from "
            f"{when(first)}; {len(gaps)} such bars): NaN is allowed only at the start "
            "(a NaN at the end often means the feature reads later bars)",
            src,
        )
    vals = a[first:]
    if vals.max() == vals.min():
        raise DataError(
            f"feature {name!r} is constant ({float(vals[0])!r}) over its {len(vals)} finite bars; "
            "a constant input carries nothing (leave it out of --features)",
            src,
        )
    return a


def compute_feature(name: str, frame: pd.DataFrame) -> np.ndarray:
    """The checked values of registered or built-in feature ``name`` on ``frame`` (one
    symbol). ``xsrank(...)`` needs the panel: :func:`btlstm.forecast.features.add_panel_features`.

    Raises:
        SettingsError: an unknown name or a period out of range.
        DataError: the output fails :func:`check_output` (naming the feature).
    """
    if name in _REGISTRY:
        fn = _REGISTRY[name].fn
    else:
        try:
            check_name(name)
        except SettingsError as e:
            raise SettingsError(f"features: {e}") from None
        fam = _family(name)
        if fam is None:
            if _XS.match(name):
                raise SettingsError(
                    f"features: {name!r} ranks a feature across the symbols of a panel; "
                    "this data has one symbol (use the inner feature itself)"
                )
            raise SettingsError(f"features: {unknown_message(name, _RESERVED)}")
        f, n = fam

        def fn(frame, f=f, n=n):
            return f(frame, n)

    return check_output(name, fn(frame), frame)


def feature_tokens(features) -> dict[str, str]:
    """``{name: hash of its source}`` for the user-registered features among ``features``
    (inside ``xsrank(...)`` too): part of the model cache key, so editing a feature
    function invalidates the models fitted on it. Empty when all are built in."""
    out = {}
    for f in features:
        m = _XS.match(f) if isinstance(f, str) else None
        name = m.group(1) if m else f
        feat = _REGISTRY.get(name)
        if feat is not None and not feat.builtin:
            out[name] = feat.token
    return out


# --------------------------------------------------------------------------- look-ahead
def _rewrite_after(frame: pd.DataFrame, t, seed: int) -> pd.DataFrame:
    """Bars after ``t`` rewritten: prices rescaled by a random walk of factors, volume
    and amount by random factors; bars up to ``t`` unchanged."""
    rng = np.random.default_rng(seed)
    f = frame.copy()
    after = f.index > t
    k = int(after.sum())
    if k:
        fac = np.exp(np.cumsum(rng.normal(0, 0.2, k)))
        for col in ("open", "high", "low", "close", "adj_close"):
            if col in f.columns:
                f.loc[after, col] = f.loc[after, col].to_numpy() * fac
        for col in ("volume", "amount"):
            if col in f.columns:
                f.loc[after, col] = f.loc[after, col].to_numpy() * rng.uniform(0.1, 10, k)
    return f


def lookahead_leak(name_or_fn, frame: pd.DataFrame, cuts: int = 5, seed: int = 7):
    """Rewrite the future after ``cuts`` dates spread over the frame and recompute the
    feature: ``None`` when nothing at or before any cut changed, else
    ``(cut date, first changed date)`` of the first leak found.

    Params:
        name_or_fn: a feature name (registered or built in) or a function of the frame.
        frame: the canonical frame of one symbol.
        cuts: how many cut dates, spread evenly between the frame's 10% and 90%
            points.
        seed: the random rewrite's seed (cut ``j`` uses ``seed + j``).
    """
    if callable(name_or_fn):

        def compute(f):
            return np.asarray(name_or_fn(f), dtype=np.float64)

    else:

        def compute(f):
            return compute_feature(name_or_fn, f)

    base = compute(frame)
    n = len(frame)
    for j, pos in enumerate(np.linspace(0.1 * n, 0.9 * n, cuts).astype(int)):
        t = frame.index[pos]
        alt = compute(_rewrite_after(frame, t, seed + j))
        a, b = base[: pos + 1], alt[: pos + 1]
        diff = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        if diff.any():
            return t, frame.index[int(np.argmax(diff))]
    return None
