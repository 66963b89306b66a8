"""Settings dataclasses read from TOML and flags: keys checked by name, values by type, help from comments.

Private helpers shared by the settings dataclasses (WalkForwardConfig,
btlstm.settings, the strategies' params): one unknown-key check (with the
closest valid name, :func:`btlstm.checks.closest`), one type check of a value
against a dataclass field's annotation, the help text of a field read from the
class's source (a trailing ``# comment``) or its docstring's ``Args:``
section, and the ``--seeds`` list. ``SettingsError`` lives in
:mod:`btlstm.errors` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import types
import typing

from btlstm.checks import LIMITS, SEED_MAX, closest
from btlstm.errors import SettingsError

__all__ = [
    "SettingsError",
    "check_known_keys",
    "closest",
    "coerce",
    "field_help",
    "field_types",
    "parse_seeds",
]


def check_known_keys(cls, d: dict, what: str, where=None) -> None:
    """Raise ValueError for the first key of ``d`` that is not a field of dataclass ``cls``.

    ``what`` names the kind of key ("walk-forward setting"); ``where(key)``,
    when given, names the place the user typed it (a TOML key or a flag).
    """
    names = [f.name for f in dataclasses.fields(cls)]
    for k in d:
        if k not in names:
            place = where(k) if where else repr(k)
            raise SettingsError(f"unknown {what} {place}{closest(k, names)} (valid: {names})")


def field_types(cls) -> dict:
    """``{field name: resolved annotation}`` of a dataclass."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - unresolvable annotation: no type check
        hints = {}
    return {f.name: hints.get(f.name, typing.Any) for f in dataclasses.fields(cls)}


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def field_defaults(cls) -> dict:
    return {f.name: _default(f) for f in dataclasses.fields(cls)}


# --------------------------------------------------------------------------- types
def _args(tp) -> tuple:
    return typing.get_args(tp)


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def optional(tp) -> bool:
    """True when ``None`` is a valid value of annotation ``tp``."""
    return tp is typing.Any or tp is type(None) or (_is_union(tp) and type(None) in _args(tp))


def _kinds(tp) -> list:
    """The non-None members of a (possibly Optional/Union) annotation."""
    if _is_union(tp):
        return [a for a in _args(tp) if a is not type(None)]
    return [tp]


def _element(tp, default):
    """Element type of a tuple/list annotation (from its args or the default's items)."""
    args = [a for a in _args(tp) if a is not Ellipsis]
    if args:
        return args[0]
    if isinstance(default, (tuple, list)) and default:
        return type(default[0])
    return typing.Any


def _name(tp) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    origin = typing.get_origin(tp) or tp
    if origin in (tuple, list):
        return "a list"
    if origin is dict:
        return "a table (dict)"
    return getattr(tp, "__name__", str(tp))


def _number(text: str):
    """A CLI list item of unknown type: an int, else a float, else the string."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


class _Refused(Exception):
    """A value of the right type that no setting accepts (nan, a NUL character)."""


def _one(value, tp, default, text: bool):
    """Check/convert ``value`` to ``tp``; raise TypeError/ValueError on a mismatch."""
    if tp is typing.Any:
        return value
    origin = typing.get_origin(tp) or tp
    if origin is bool:
        if text and isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "yes", "1", "on"):
                return True
            if low in ("false", "no", "0", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise TypeError
    if origin is int:
        if text and isinstance(value, str):
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError
    if origin is float:
        if text and isinstance(value, str):
            x = float(value.strip())
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            x = float(value)
        else:
            raise TypeError
        if not math.isfinite(x):  # TOML's nan/inf, --clip nan: refused here, named
            raise _Refused(f"expected a finite number, got {value!r}")
        return x
    if origin is str:
        if isinstance(value, str):
            if "\x00" in value:
                raise _Refused(f"{value!r} contains a NUL character")
            return value
        raise TypeError
    if origin in (tuple, list):
        if text and isinstance(value, str):
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        if not isinstance(value, (list, tuple)):
            raise TypeError
        el = _element(tp, default)
        if el is typing.Any and text:
            return origin(_number(v) for v in value)
        return origin(_one(v, el, None, text) for v in value)
    if origin is dict:
        if text and isinstance(value, str):
            value = json.loads(value)
        if not isinstance(value, dict):
            raise TypeError
        return dict(value)
    if isinstance(origin, type) and not isinstance(value, origin):
        raise TypeError
    return value


def coerce(value, tp, default=None, where: str = "value", text: bool = False):
    """Check ``value`` against annotation ``tp`` (``text``: parse it from a CLI string).

    TOML values are checked, not guessed: the string ``"false"`` is not a
    bool, ``"5"`` is not an integer. Integers are accepted where a float is
    expected. Raises ValueError naming ``where`` and repeating the value.
    """
    if value is None:
        if optional(tp):
            return None
        raise SettingsError(f"{where}: expected {_name(tp)}, got no value")
    if text and isinstance(value, str) and optional(tp) and value.strip().lower() == "none":
        return None
    kinds = _kinds(tp)
    # a str member last: "1.5" for `float | str` stays a number from the CLI
    kinds = sorted(kinds, key=lambda k: k is str)
    for k in kinds:
        try:
            return _one(value, k, default, text)
        except (TypeError, ValueError):
            continue
        except _Refused as e:
            raise SettingsError(f"{where}: {e}") from None
    want = " or ".join(_name(k) for k in kinds)
    raise SettingsError(f"{where}: expected {want}, got {value!r} ({type(value).__name__})")


# --------------------------------------------------------------------------- help
_COMMENT = re.compile(r"""^\s*\(?\s*["']?(\w+)["']?\s*[:,=].*#\s*(.+?)\s*$""")


def _doc_help(doc: str) -> dict:
    """``{name: help}`` of a docstring's ``Args:`` / ``Attributes:`` / ``Params:`` section."""
    out: dict = {}
    m = re.search(r"^(Args|Attributes|Params):\s*$(.*?)(?=^\S|\Z)", doc, re.M | re.S)
    if m:
        name, buf = None, []
        for line in m.group(2).splitlines():
            hit = re.match(r"^\s{2,4}(\w+)(?:\s*\([^)]*\))?:\s*(.*)$", line)
            if hit:
                if name:
                    out[name] = " ".join(buf).strip()
                name, buf = hit.group(1), [hit.group(2)]
            elif name and line.strip():
                buf.append(line.strip())
        if name:
            out[name] = " ".join(buf).strip()
    return out


_HELP: dict = {}  # class -> its field help: reading source parses the whole module each time


def field_help(cls) -> dict:
    """``{name: help}`` from ``# comments`` after each field (dataclass fields or a
    Backtrader ``params`` tuple) and from the docstring's ``Args:`` section, of the
    class and of its bases (a dataclass's bases declare fields too; the class wins).
    Read once per class (``btlstm run``'s parser asks for each class once per strategy)."""
    try:
        return dict(_HELP[cls])
    except (KeyError, TypeError):  # not read yet, or not hashable
        pass
    out = _field_help(cls)
    try:
        _HELP[cls] = dict(out)
    except TypeError:
        pass
    return out


def _field_help(cls) -> dict:
    out: dict = {}
    for klass in getattr(cls, "__mro__", (cls,)):
        if klass is object:
            continue
        own = klass.__dict__.get("__doc__") if isinstance(klass, type) else klass.__doc__
        for k, v in _doc_help(inspect.cleandoc(own or "")).items():
            out.setdefault(k, v)
        for k, v in _comment_help(klass).items():
            out.setdefault(k, v)
    return out


_COMMENTS: dict = {}  # class -> its ``# comment`` help: the source is parsed once a process


def _comment_help(klass) -> dict:
    """``{name: comment}`` of a class's field lines (first comment wins), cached: every
    ``btlstm`` parser reads ~50 classes' source, 1.8 s a parse without the cache."""
    try:
        return _COMMENTS[klass]
    except (KeyError, TypeError):
        pass
    out: dict = {}
    try:
        src = inspect.getsource(klass)
    except (OSError, TypeError):
        src = ""
    for line in src.splitlines():
        hit = _COMMENT.match(line)
        if hit and hit.group(1) not in out and "noqa" not in hit.group(2):
            out[hit.group(1)] = hit.group(2)
    try:
        _COMMENTS[klass] = out
    except TypeError:  # an unhashable class-like object: not cached
        pass
    return out


#: The most seeds one ``--seeds`` list may name (each trains and backtests a model).
MAX_SEEDS = LIMITS["seeds"][0]  # the cap, read from btlstm.checks.LIMITS at each call


def parse_seeds(text, where: str = "--seeds") -> list[int]:
    """The seeds of a list such as ``"0-4"`` or ``"0,2,5-7"`` (ranges include both ends).

    Raises SettingsError naming ``where``: a seed that is not an integer >= 0,
    a range that runs backwards, a seed named twice, fewer than two seeds
    (one seed is ``--seed``) or more than :data:`MAX_SEEDS`.

    Example:
        >>> parse_seeds("0,2,5-7")
        [0, 2, 5, 6, 7]
        >>> parse_seeds("")
        []
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return []
    if isinstance(text, (list, tuple)):
        text = ",".join(str(x) for x in text)
    if not isinstance(text, str):
        raise SettingsError(f"{where}: expected a list of seeds such as '0-4', got {text!r}")
    out: list[int] = []
    for part in text.replace(" ", "").split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise SettingsError(
                f"{where}: {part!r} in {text!r} is not a seed (an integer >= 0) or a range "
                "such as 0-4; write e.g. '0-4' or '0,2,5-7'"
            )
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise SettingsError(f"{where}: the range {part!r} runs backwards; write {hi}-{lo}")
        if hi > SEED_MAX:
            raise SettingsError(
                f"{where}: seed {hi} in {text!r} is outside [0, {SEED_MAX}] (the seeds "
                "numpy, Keras and LightGBM accept)"
            )
        most = LIMITS["seeds"][0]
        if hi - lo + len(out) >= most:
            raise SettingsError(f"{where}: {text!r} names more than {most} seeds")
        for seed in range(lo, hi + 1):
            if seed in out:
                raise SettingsError(f"{where}: seed {seed} is named twice in {text!r}")
            out.append(seed)
    if len(out) < 2:
        raise SettingsError(
            f"{where}: {text!r} names one seed; --seeds runs several (e.g. '0-4'), "
            "one seed is --seed"
        )
    return out
