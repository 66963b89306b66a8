"""Plain values at the edges: dates read from text, and anything turned into plain JSON types.

- :func:`parse_date` / :func:`date_text`: a date a user wrote (``"2015-01-01"``,
  a ``Timestamp``, a ``datetime.date``) or a clear ``ValueError`` naming it;
- :func:`to_jsonable`: reports and state files (NaN and infinities -> ``None``,
  dates -> ISO strings, numpy -> Python);
- :func:`plain`: a JSON round trip with ``str`` for anything else, the form
  of cache keys and ``to_dict()`` methods (NaN stays NaN, so a key never
  changes with the helper that made it);
- :func:`load_json` / :func:`nesting_depth`: JSON text a user's file holds,
  with its nesting depth checked (:data:`MAX_NESTING`) before it is parsed,
  so a hostile file ends in one clear ``ValueError``, never a ``RecursionError``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "MAX_NESTING",
    "date_text",
    "json_text_depth",
    "load_json",
    "nesting_depth",
    "parse_date",
    "plain",
    "to_jsonable",
]

MAX_NESTING = 64
"""Deepest nesting of lists and objects (dicts, TOML tables) read from a file: btlstm's own
files nest fewer than 10 levels; a deeper file is refused before it is used."""


def parse_date(
    value, name: str = "date", none: bool = False, naive: bool = False
) -> pd.Timestamp | None:
    """``value`` as a ``pd.Timestamp``, or ``ValueError`` naming ``name`` and the value.

    Args:
        value: text (``"2015-01-01"``), a ``Timestamp``, ``datetime`` or ``date``.
        name: what to call it in the message (a flag, a TOML key, an argument).
        none: None is a valid value (returned as None).
        naive: refuse a date with a time zone (btlstm's dates are tz-naive).

    Example:
        >>> parse_date("2015-01-05")
        Timestamp('2015-01-05 00:00:00')
        >>> parse_date("2015-13-01", "train_end")
        Traceback (most recent call last):
        ValueError: train_end must be a date YYYY-MM-DD, got '2015-13-01'
    """
    if value is None and none:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        ts = None
    if ts is None or ts is pd.NaT:
        raise ValueError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    if naive and ts.tzinfo is not None:
        raise ValueError(f"{name} must be a tz-naive date, got {value!r}")
    return ts


def date_text(value, name: str = "date", none: bool = False) -> str | None:
    """``value`` as ``"YYYY-MM-DD"`` (see :func:`parse_date`).

    Example:
        >>> date_text(pd.Timestamp("2015-01-05 15:00"))
        '2015-01-05'
    """
    ts = parse_date(value, name, none)
    return None if ts is None else str(ts.date())


def plain(obj):
    """``obj`` through a JSON round trip, ``str()`` for what JSON has no type for.

    Example:
        >>> plain({"features": ("close", "open"), "path": Path("a")})
        {'features': ['close', 'open'], 'path': 'a'}
    """
    return json.loads(json.dumps(obj, default=str))


def to_jsonable(obj):
    """Convert ``obj`` to plain JSON types; NaN and infinities become ``None``.

    Args:
        obj: nested dicts / lists / tuples of numbers, strings, numpy scalars or
            arrays, dates, datetimes, ``Path`` objects, Backtrader ``AutoOrderedDict``.

    Returns:
        The same structure with only ``dict``, ``list``, ``str``, ``int``,
        ``float`` (finite), ``bool`` and ``None``. Dict keys become strings;
        dates become ISO strings.

    Example:
        >>> to_jsonable({"a": float("nan"), "b": np.float64(1.5)})
        {'a': None, 'b': 1.5}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, (_dt.datetime, _dt.date)):
        if isinstance(obj, _dt.datetime) and obj.time() == _dt.time(0):
            return obj.date().isoformat()
        return obj.isoformat()
    if hasattr(obj, "isoformat") and callable(obj.isoformat):  # pandas Timestamp
        return to_jsonable(obj.to_pydatetime()) if hasattr(obj, "to_pydatetime") else str(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.ndarray):
        return [to_jsonable(x) for x in obj.tolist()]
    if isinstance(obj, Mapping):
        return {str(to_jsonable(k)): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, pd.DataFrame):  # e.g. an indicator's history= frame: describe, don't dump
        span = f" {obj.index[0]}..{obj.index[-1]}" if len(obj) else ""
        return f"<DataFrame {len(obj)} rows{span}>"
    if isinstance(obj, type):
        return f"{obj.__module__}.{obj.__qualname__}"
    if hasattr(obj, "to_dict") and callable(obj.to_dict):  # e.g. WalkForwardConfig
        try:
            return to_jsonable(obj.to_dict())
        except Exception:  # noqa: BLE001 - fall back to the repr
            pass
    return str(obj)


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def json_text_depth(data: bytes | str) -> int:
    """The deepest nesting of ``[`` / ``{`` in JSON text, without parsing it (no recursion).

    Strings are blanked first, so brackets inside them do not count. Linear in the
    size of ``data`` (a regular expression and a numpy cumulative sum).

    Example:
        >>> json_text_depth(b'{"a": [1, {"b": "[[["}]}')
        3
    """
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    stripped = _JSON_STRING.sub(b'""', data)
    codes = np.frombuffer(stripped, dtype=np.uint8)
    if not codes.size:
        return 0
    step = np.zeros(codes.size, dtype=np.int64)
    step[(codes == ord("[")) | (codes == ord("{"))] = 1
    step[(codes == ord("]")) | (codes == ord("}"))] = -1
    return max(int(np.cumsum(step).max()), 0)


def nesting_depth(obj, limit: int | None = None) -> int:
    """The nesting depth of dicts and lists in ``obj`` (a scalar: 0), found without recursion.

    Args:
        obj: parsed JSON or TOML (dicts, lists, tuples, scalars).
        limit: stop as soon as the depth exceeds it (returns ``limit + 1``).

    Example:
        >>> nesting_depth({"a": [1, {"b": 2}]}), nesting_depth(3)
        (3, 0)
    """
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if limit is not None and deepest > limit:
            return deepest
        stack.extend((c, depth + 1) for c in children if isinstance(c, (Mapping, list, tuple)))
    return deepest


def load_json(data: bytes | str, what: str, max_depth: int = MAX_NESTING):
    """Parse JSON text from a file, its nesting checked first.

    Args:
        data: the file's bytes (UTF-8) or text.
        what: how the message names the file (``"report folder 'x': report.json"``).
        max_depth: the deepest nesting allowed (:data:`MAX_NESTING`).

    Returns:
        The parsed value (any JSON type: callers check its shape).

    Raises:
        ValueError: ``"{what} is not valid JSON (...)"``, or ``"{what} nests
            100001 levels deep, more than 64"``.

    Example:
        >>> load_json(b'{"a": [1]}', "x.json")
        {'a': [1]}
        >>> load_json(b"[" * 100 + b"]" * 100, "x.json")
        Traceback (most recent call last):
        ValueError: x.json nests 100 levels deep, more than the 64 a btlstm file may have
    """
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else str(data)
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    depth = json_text_depth(text)
    if depth > max_depth:
        raise ValueError(
            f"{what} nests {depth} levels deep, more than the {max_depth} a btlstm file may have"
        )
    try:
        return json.loads(text)
    except RecursionError:  # pragma: no cover - the scan above refuses it first
        raise ValueError(f"{what} nests too deep to read") from None
    except ValueError as e:
        raise ValueError(f"{what} is not valid JSON ({e})") from None
