"""Checks of one value, and the one way btlstm says what is wrong with it.

One phrasing for every range check: the name, the valid range, the bad value::

    lookback must be an integer >= 1, got 0
    dropout must be a finite number in [0, 1), got 1.5
    n_grades must be an integer in [2, 31], got 40

and one way to suggest a name for a misspelt one (:func:`closest`, built on
:func:`close_names`)::

    unknown learner 'rige'; did you mean 'ridge'? (valid: ['lstm', 'ranker', 'ridge'])

``name`` is what the user typed or the argument's name; a caller that knows
the flag or TOML key passes that (``--cash``, ``[costs] cash``).
"""

from __future__ import annotations

import difflib
import math
import numbers

__all__ = [
    "check_choice",
    "check_int",
    "check_number",
    "close_names",
    "closest",
    "did_you_mean",
    "range_text",
]


def close_names(name, names, n: int = 1, cutoff: float = 0.6) -> list[str]:
    """The up to ``n`` names of ``names`` closest to ``name`` (difflib's ratio >= ``cutoff``).

    Example:
        >>> close_names("lookbak", ["lookback", "horizon"])
        ['lookback']
    """
    return difflib.get_close_matches(str(name), [str(x) for x in names], n=n, cutoff=cutoff)


def closest(name, names, n: int = 1, cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``names`` (up to ``n``), or ``""``.

    Example:
        >>> "unknown learner 'rige'" + closest("rige", ["lstm", "ridge"])
        "unknown learner 'rige'; did you mean 'ridge'?"
        >>> closest("nets", ["netease", "generic", "stooq"], n=2, cutoff=0.5)
        "; did you mean 'netease'?"
    """
    return did_you_mean(close_names(name, names, n, cutoff))


def did_you_mean(candidates) -> str:
    """``"; did you mean 'a', 'b'?"`` for a list of candidate names, ``""`` for none."""
    return f"; did you mean {', '.join(repr(c) for c in candidates)}?" if candidates else ""


def range_text(lo=None, hi=None, lo_open: bool = False, hi_open: bool = False) -> str:
    """How a range reads in a message: ``">= 1"``, ``"> 0"``, ``"in [0, 1)"``, ``""`` (any).

    Example:
        >>> range_text(0, 1, hi_open=True), range_text(lo=1), range_text(hi=5, hi_open=True)
        ('in [0, 1)', '>= 1', '< 5')
    """
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi}"
    return ""


def _fail(name: str, kind: str, rng: str, value, note: str = "") -> ValueError:
    what = f"{kind} {rng}".strip()
    return ValueError(f"{name} must be {what}{note}, got {value!r}")


def check_int(name: str, value, lo=None, hi=None, none: bool = False) -> int | None:
    """``value`` as an ``int`` if it is an integer (not a bool) in ``[lo, hi]``.

    Args:
        name: what to call the value in the message.
        value: the value to check.
        lo, hi: inclusive bounds (None: unbounded).
        none: None is a valid value (returned as None).

    Raises:
        ValueError: ``name must be an integer >= 1, got 0``.

    Example:
        >>> check_int("lookback", 30, lo=1)
        30
        >>> check_int("lookback", 0, lo=1)
        Traceback (most recent call last):
        ValueError: lookback must be an integer >= 1, got 0
    """
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or (lo is not None and value < lo) or (hi is not None and value > hi):
        raise _fail(name, "an integer", range_text(lo, hi), value, " or None" if none else "")
    return int(value)


def check_number(
    name: str,
    value,
    lo=None,
    hi=None,
    lo_open: bool = False,
    hi_open: bool = False,
    none: bool = False,
) -> float | None:
    """``value`` as a finite ``float`` in the range (``lo_open``/``hi_open``: bound excluded).

    Args:
        name: what to call the value in the message.
        value: an int or float (not a bool).
        lo, hi: bounds (None: unbounded).
        lo_open, hi_open: exclude the bound.
        none: None is a valid value (returned as None).

    Raises:
        ValueError: ``cash must be a finite number > 0, got -1``.

    Example:
        >>> check_number("dropout", 0.25, 0, 1, hi_open=True)
        0.25
        >>> check_number("dropout", 1.0, 0, 1, hi_open=True)
        Traceback (most recent call last):
        ValueError: dropout must be a finite number in [0, 1), got 1.0
    """
    if value is None and none:
        return None
    x = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        x = float(value)
    ok = x is not None and math.isfinite(x)
    if ok and lo is not None:
        ok = x > lo if lo_open else x >= lo
    if ok and hi is not None:
        ok = x < hi if hi_open else x <= hi
    if not ok:
        rng = range_text(lo, hi, lo_open, hi_open)
        raise _fail(name, "a finite number", rng, value, " or None" if none else "")
    return x


def check_choice(name: str, value, choices):
    """``value`` if it is one of ``choices``; else name the choices and the closest one.

    Example:
        >>> check_choice("mode", "walkforward", ("static", "walkforward"))
        'walkforward'
        >>> check_choice("mode", "walkfoward", ("static", "walkforward"))
        Traceback (most recent call last):
        ValueError: mode must be one of ('static', 'walkforward'), got 'walkfoward'; did you mean 'walkforward'?
    """
    if value not in choices:
        hint = closest(value, choices) if isinstance(value, str) else ""
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}{hint}")
    return value
