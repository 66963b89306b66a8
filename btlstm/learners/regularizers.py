"""Weight penalties for the LSTM: the penalty classes, the allow-list of named functions, the spec strings.

Public: import from here or from :mod:`btlstm.learners.models`, which re-exports every
name (``btlstm.learners.models.register_regularizer_fn`` keeps working). Importing
this module imports Keras / TensorFlow (the penalties are Keras classes).

Spec strings are what a CLI flag or a TOML value can carry::

    "none"                                  -> None
    "l1(0.01)"  "l2(0.01)"  "l2(l2=0.01)"   -> keras.regularizers.L1 / L2
    "l1l2(l1=0.01,l2=0.01)"  "l1_l2(...)"   -> keras.regularizers.L1L2
    "orthogonal(factor=0.01,mode='rows')"   -> keras.regularizers.OrthogonalRegularizer
    "seed_l1(0.01)"                         -> SeedL1 (the article's ``l1_reg``)
    "group_l21(0.01)"                       -> GroupL21 (group lasso over rows)
    "btlstm_custom>mymod.my_reg"            -> a function registered in this process

They are parsed with a regular expression and :func:`ast.literal_eval` on the
argument literals only; nothing is ever evaluated as code.

Safety: no function named by text runs unless it is on the allow-list. A
spec string, a dict config or a saved ``.keras`` file can name a function
only by its registered name, and that name is looked up in one place, the
allow-list of this process, which only code can fill:

* :func:`register_regularizer_fn` (also a decorator), or
* :class:`CallableRegularizer` built from a function object in code (what
  ``build_model(lstm_kwargs={"kernel_regularizer": l1_reg})`` does).

A name that is not on the list is refused with an error naming the function
(and the file or spec) *before* anything is called; modules are never
imported or searched (``sys.modules``) from a name found in text, and a
``module`` / ``qualname`` stored next to the name is only shown in messages.
A ``pkg>Name`` spec may also name a ``keras.regularizers.Regularizer``
subclass registered with ``keras.saving.register_keras_serializable``; any
other registered object is refused.

Plain callables ``weight -> scalar`` (the article's ``def l1_reg(w): ...``) are
wrapped in :class:`CallableRegularizer`, which saves the function by its
registered name (``btlstm_custom>module.qualname`` unless registered under
another). A saved model reloads in the same process with no
``custom_objects``; in a new process, once the function is registered again
(decorate it with ``@register_regularizer_fn`` where it is defined and import
that module, or call ``register_regularizer_fn(fn)``). Lambdas and closures
cannot be found by name again, so wrapping them raises ``ValueError`` up front
instead of producing a file that cannot be loaded (give
:func:`register_regularizer_fn` an explicit ``name`` to register one anyway).
"""

from __future__ import annotations

import ast
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

from btlstm._compat import import_tensorflow_quietly
from btlstm.checks import check_number, close_names
from btlstm.errors import RegularizerNotAllowedError

import_tensorflow_quietly()

import keras

__all__ = [
    "CallableRegularizer",
    "GroupL21",
    "SeedL1",
    "RegularizerNotAllowedError",
    "parse_regularizer",
    "register_regularizer_fn",
    "register_regularizer_spec",
    "registered_regularizer_fns",
    "regularizer_spec",
    "VALID_FORMS",
]

CUSTOM_PACKAGE = "btlstm_custom"

VALID_FORMS = (
    "None or 'none'; a keras.regularizers.Regularizer; a dict such as {'l2': 0.01}, "
    "{'l1': 0.01, 'l2': 0.01} or a Keras serialized config {'class_name': 'L2', "
    "'config': {'l2': 0.01}}; a spec string 'l1(0.01)', 'l2(0.01)', 'l2(l2=0.01)', "
    "'l1l2(l1=0.01,l2=0.01)', 'l1_l2(...)', \"orthogonal(factor=0.01,mode='rows')\", "
    "'seed_l1(0.01)', 'group_l21(0.01)' or another registered spec name; the registered name "
    "of a function registered with btlstm.learners.models.register_regularizer_fn; or a module-level "
    "function weight -> scalar"
)


@keras.saving.register_keras_serializable(package="btlstm")
class SeedL1(keras.regularizers.Regularizer):
    """The article's custom regularizer ``l1_reg``, as a saveable class (the name
    ``SeedL1`` and the spec ``seed_l1`` are kept: saved models and configs use them).

    Formula:
        ``penalty = factor * sum(|w|)`` (the article uses ``factor = 0.01``).

    Args:
        factor: non-negative penalty weight.

    Example:
        >>> reg = SeedL1(0.01)
        >>> round(float(reg(keras.ops.ones((2, 3)))), 6)
        0.06
    """

    def __init__(self, factor: float = 0.01):
        self.factor = check_number("factor", factor, lo=0)

    def __call__(self, x):
        return self.factor * keras.ops.sum(keras.ops.abs(x))

    def get_config(self) -> dict:
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="btlstm")
class GroupL21(keras.regularizers.Regularizer):
    """Group lasso: the sum of the L2 norms of the rows (``axis=1``) or columns.

    On an LSTM input kernel (shape ``(n_features, 4 * units)``) the rows are the
    input features, so this pushes whole features to zero: a soft feature
    selection that plain L1 (element-wise) does not give.

    Formula:
        ``penalty = factor * sum_i sqrt(sum_j w[i, j]^2 + eps)`` for ``axis=1``.

    Args:
        factor: non-negative penalty weight.
        axis: axis reduced inside each group: 1 groups rows, 0 groups columns.
            A 1-D weight (a bias) is one group.

    Example:
        >>> reg = GroupL21(1.0)
        >>> round(float(reg(keras.ops.ones((2, 4)))), 4)
        4.0
    """

    def __init__(self, factor: float = 0.01, axis: int = 1):
        self.factor = check_number("factor", factor, lo=0)
        if isinstance(axis, bool) or axis not in (0, 1):
            raise ValueError(f"axis must be 0 or 1, got {axis!r}")
        self.axis = int(axis)

    def __call__(self, x):
        sq = keras.ops.square(x)
        if len(x.shape) >= 2:
            sq = keras.ops.sum(sq, axis=self.axis)
        else:
            sq = keras.ops.sum(sq, keepdims=True)
        return self.factor * keras.ops.sum(keras.ops.sqrt(sq + 1e-12))

    def get_config(self) -> dict:
        return {"factor": self.factor, "axis": self.axis}


# The allow-list: registered name -> function. Filled only by code in this
# process (register_regularizer_fn, CallableRegularizer(fn)); never from text.
_ALLOWED_FNS: dict[str, Callable] = {}
_ALLOWED_LOCK = threading.Lock()
_NAME_RE = re.compile(r"[A-Za-z_][\w.]*>[A-Za-z_][\w.]*")


def _qualified_name(fn: Callable) -> tuple[str, str]:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname:
        raise ValueError(
            f"regularizer {fn!r} has no __module__/__qualname__ and cannot be saved by name; "
            "define a function at module level, register it with "
            "btlstm.learners.models.register_regularizer_fn(fn, name='pkg>name'), or subclass "
            "keras.regularizers.Regularizer and register it with "
            "keras.saving.register_keras_serializable"
        )
    return module, qualname


def _default_name(fn: Callable) -> str:
    """``btlstm_custom>module.qualname`` for a module-level function; refuses lambdas/closures."""
    module, qualname = _qualified_name(fn)
    if "<lambda>" in qualname or "<locals>" in qualname:
        raise ValueError(
            f"regularizer {qualname!r} (module {module!r}) is a lambda or a closure and "
            "cannot be found by name when the model is loaded; define it with `def` at "
            "module level, or register it under a name of your own with "
            "btlstm.learners.models.register_regularizer_fn(fn, name='pkg>name')"
        )
    found = sys.modules.get(module)
    for part in qualname.split("."):
        found = getattr(found, part, None) if found is not None else None
    if found is not fn:
        raise ValueError(
            f"regularizer {module}.{qualname} cannot be found again by that name "
            "(redefined or not a module attribute); define it at module level"
        )
    return f"{CUSTOM_PACKAGE}>{module}.{qualname}"


def _allowed_name(fn: Any) -> str | None:
    """The name ``fn`` is on the allow-list under, or None."""
    for name, allowed in list(_ALLOWED_FNS.items()):
        if allowed is fn:
            return name
    return None


def _check_function(fn: Any, argument: str = "fn") -> None:
    if isinstance(fn, str) or not callable(fn):
        raise ValueError(f"{argument} must be a function weight -> scalar, got {fn!r}")
    if isinstance(fn, type):
        raise ValueError(
            f"{argument}={fn!r} is a class; a Regularizer subclass is registered with "
            "keras.saving.register_keras_serializable (or register_regularizer_spec), "
            "not register_regularizer_fn"
        )
    if isinstance(fn, keras.regularizers.Regularizer):
        raise ValueError(f"{argument} is already a keras Regularizer ({fn!r}); use it directly")


def register_regularizer_fn(fn: Callable | None = None, *, name: str | None = None):
    """Put a function ``weight -> scalar`` on the allow-list of named regularizers.

    Only a registered function may be named by a spec string
    (``"btlstm_custom>mymod.l1_reg"``), a dict config or a saved ``.keras``
    file; everything else named there is refused before it is called. Call
    this in your own code (at import time of the module that defines the
    function, e.g. as a decorator) so that a saved model using the function
    reloads in a new process. Passing the function itself to
    :func:`parse_regularizer` / ``build_model`` registers it too.

    Args:
        fn: the function. Leave it out to use the call as a decorator factory
            (``@register_regularizer_fn(name="mine>l1")``).
        name: the registered name, ``"package>name"``. Default
            ``"btlstm_custom>module.qualname"``, which needs a function defined
            at module level (not a lambda or a closure).

    Returns:
        ``fn`` itself (so it works as a decorator), or a decorator when ``fn``
        is left out.

    Raises:
        ValueError: ``fn`` is not a function, or is a lambda / closure without
            an explicit ``name``; ``name`` is not of the form ``package>name``.

    Example:
        >>> @register_regularizer_fn(name="example>l1")
        ... def my_l1(w):
        ...     return 0.01 * keras.ops.sum(keras.ops.abs(w))
        >>> parse_regularizer("example>l1").fn is my_l1
        True
    """
    if fn is None:
        return lambda f: register_regularizer_fn(f, name=name)
    _check_function(fn)
    if name is None:
        name = _default_name(fn)
    elif not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(
            f"name must look like 'package>name' (letters, digits, '_' and '.'), got {name!r}"
        )
    with _ALLOWED_LOCK:
        _ALLOWED_FNS[name] = fn
    return fn


def registered_regularizer_fns() -> dict[str, Callable]:
    """The allow-list: a copy of ``{registered name: function}``.

    Example:
        >>> all(">" in name for name in registered_regularizer_fns())
        True
    """
    return dict(_ALLOWED_FNS)


def _refuse(name: Any, module: Any = None, qualname: Any = None) -> RegularizerNotAllowedError:
    shown = repr(name)
    if module or qualname:
        shown += f" (module={module!r}, qualname={qualname!r})"
    close = close_names(name, _ALLOWED_FNS, n=3) if isinstance(name, str) else []
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    known = sorted(_ALLOWED_FNS)
    return RegularizerNotAllowedError(
        f"regularizer function {shown} is not registered in this process, so it is not called."
        f"{hint} Only functions registered by code may be named by a spec string or a model "
        "file: call btlstm.learners.models.register_regularizer_fn(fn) (or decorate the function with "
        "it) before building or loading. Registered: "
        f"{', '.join(repr(k) for k in known[:10]) if known else 'none'}"
        f"{f' and {len(known) - 10} more' if len(known) > 10 else ''}"
    )


def _lookup_function(registered: Any, module: Any = None, qualname: Any = None) -> Callable:
    """The allow-listed function named ``registered``; refuses everything else."""
    fn = _ALLOWED_FNS.get(registered) if isinstance(registered, str) else None
    if fn is None:
        raise _refuse(registered, module, qualname)
    return fn


def _registered_name(fn: Any) -> str | None:
    """The name of ``fn`` on the allow-list, else its Keras registered name, else None."""
    name = _allowed_name(fn)
    if name is not None:
        return name
    try:
        name = keras.saving.get_registered_name(fn)
    except AttributeError:  # no __name__ (functools.partial, instances)
        return None
    if name == getattr(fn, "__name__", None) or keras.saving.get_registered_object(name) is not fn:
        return None
    return name


@keras.saving.register_keras_serializable(package="btlstm")
class CallableRegularizer(keras.regularizers.Regularizer):
    """Wrap a plain function ``weight -> scalar`` so that a model using it saves and reloads.

    The function is stored by its registered name. Built from a function object
    (in code), the function is put on the allow-list (see
    :func:`register_regularizer_fn`): under the name it is registered with
    already, else ``btlstm_custom>module.qualname`` for a module-level function.
    Built from a name (how ``from_config`` rebuilds it from a file), the name
    must be on the allow-list of this process; anything else raises
    :class:`RegularizerNotAllowedError` and nothing is called. Modules are never
    imported or searched by a name found in a file.

    Args:
        fn: a callable taking a weight tensor and returning a scalar tensor, or
            the registered name of one (how ``from_config`` rebuilds it).
        module: module of the function (set by ``get_config``; informational).
        qualname: qualified name of the function (set by ``get_config``; informational).

    Raises:
        ValueError: ``fn`` is a lambda, a closure or another object that cannot
            be found again by name.
        RegularizerNotAllowedError: ``fn`` is a name that is not registered.

    Example:
        In a module, at top level (a function defined at module level can be
        found again by name, so the saved model reloads once it is registered)::

            def l1_reg(w):
                return 0.01 * keras.ops.sum(keras.ops.abs(w))

            reg = CallableRegularizer(l1_reg)   # registers l1_reg in this process
    """

    def __init__(self, fn: Callable | str, module: str | None = None, qualname: str | None = None):
        if isinstance(fn, str):
            self.fn = _lookup_function(fn, module, qualname)
            self.registered_name = fn
            self.module = getattr(self.fn, "__module__", None)
            self.qualname = getattr(self.fn, "__qualname__", None)
            return
        if not callable(fn):
            raise ValueError(f"fn must be callable or a registered name, got {fn!r}")
        if isinstance(fn, keras.regularizers.Regularizer):
            raise ValueError(f"fn is already a keras Regularizer ({fn!r}); use it directly")
        name = _registered_name(fn)
        if name is None:
            name = _default_name(fn)
        register_regularizer_fn(fn, name=name)
        self.fn = fn
        self.registered_name = name
        self.module = getattr(fn, "__module__", None)
        self.qualname = getattr(fn, "__qualname__", None)

    def __call__(self, x):
        return self.fn(x)

    def get_config(self) -> dict:
        return {"fn": self.registered_name, "module": self.module, "qualname": self.qualname}

    @classmethod
    def from_config(cls, config: dict):
        if not isinstance(config, dict):
            raise RegularizerNotAllowedError(
                f"CallableRegularizer config must be a dict, got {config!r}"
            )
        unknown = set(config) - {"fn", "module", "qualname"}
        if unknown:
            raise RegularizerNotAllowedError(
                f"CallableRegularizer config has unknown keys {sorted(unknown)} "
                "(valid: fn, module, qualname)"
            )
        name = config.get("fn")
        if not isinstance(name, str):
            raise RegularizerNotAllowedError(
                f"CallableRegularizer config 'fn' must be a registered name, got {name!r}"
            )
        return cls(name, config.get("module"), config.get("qualname"))

    def __repr__(self) -> str:
        return f"CallableRegularizer({self.registered_name!r})"


# ---------------------------------------------------------------------------
# spec strings
# ---------------------------------------------------------------------------

_SPEC_FACTORIES: dict[str, Callable[..., keras.regularizers.Regularizer]] = {
    "l1": keras.regularizers.L1,
    "l2": keras.regularizers.L2,
    "l1l2": keras.regularizers.L1L2,
    "l1_l2": keras.regularizers.L1L2,
    "orthogonal": keras.regularizers.OrthogonalRegularizer,
    "orthogonal_regularizer": keras.regularizers.OrthogonalRegularizer,
    "seed_l1": SeedL1,
    "group_l21": GroupL21,
}

# class -> (spec name, positional parameter or None)
_SPEC_NAMES: dict[type, tuple[str, str | None]] = {
    keras.regularizers.L1: ("l1", "l1"),
    keras.regularizers.L2: ("l2", "l2"),
    keras.regularizers.L1L2: ("l1l2", None),
    keras.regularizers.OrthogonalRegularizer: ("orthogonal", None),
    SeedL1: ("seed_l1", "factor"),
    GroupL21: ("group_l21", None),
}

_SPEC_RE = re.compile(r"^\s*([A-Za-z_][\w.>]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def register_regularizer_spec(
    name: str, factory: Callable[..., keras.regularizers.Regularizer]
) -> None:
    """Make ``name(...)`` usable in spec strings.

    Args:
        name: the short name (letters, digits, underscore).
        factory: a registered ``keras.regularizers.Regularizer`` subclass (so
            models using it save and reload) called with the spec's arguments.

    Example:
        >>> register_regularizer_spec("example_l1", SeedL1)
        >>> parse_regularizer("example_l1(0.1)").factor
        0.1
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"name must be an identifier, got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory must be callable, got {factory!r}")
    _SPEC_FACTORIES[name.lower()] = factory
    if isinstance(factory, type) and factory not in _SPEC_NAMES:
        _SPEC_NAMES[factory] = (name.lower(), None)


def _bad(argument: str, value: Any, why: str) -> ValueError:
    return ValueError(f"{argument}={value!r}: {why}. Valid forms: {VALID_FORMS}")


def _parse_args(argument: str, spec: str, text: str) -> tuple[list, dict]:
    if not text.strip():
        return [], {}
    try:
        call = ast.parse(f"_f({text})", mode="eval").body
    except SyntaxError:
        raise _bad(argument, spec, "cannot parse the arguments") from None
    if not isinstance(call, ast.Call):
        raise _bad(argument, spec, "cannot parse the arguments")
    nodes = list(call.args) + [k.value for k in call.keywords]
    if any(isinstance(n, ast.Starred) for n in call.args) or any(
        k.arg is None for k in call.keywords
    ):
        raise _bad(argument, spec, "*args / **kwargs are not allowed")
    seen = [k.arg for k in call.keywords]
    twice = sorted({k for k in seen if seen.count(k) > 1})
    if twice:
        raise _bad(argument, spec, f"keyword {twice[0]!r} is given twice (which one is meant?)")
    values = []
    for node in nodes:
        try:
            values.append(ast.literal_eval(node))
        except (ValueError, SyntaxError):
            raise _bad(
                argument, spec, f"argument {ast.unparse(node)!r} is not a literal number or string"
            ) from None
        if isinstance(values[-1], bool) or values[-1] is None:
            raise _bad(
                argument,
                spec,
                f"argument {ast.unparse(node)} is not a number (a factor such as 0.01 is meant)",
            )
    args = values[: len(call.args)]
    kwargs = {k.arg: v for k, v in zip(call.keywords, values[len(call.args) :], strict=True)}
    return args, kwargs


def _from_string(spec: str, argument: str):
    if spec.strip().lower() in ("", "none", "null"):
        return None
    m = _SPEC_RE.match(spec)
    if not m:
        raise _bad(argument, spec, "not of the form name(args)")
    name, text = m.group(1), m.group(2) or ""
    key = name.lower()
    if key in _SPEC_FACTORIES:
        factory = _SPEC_FACTORIES[key]
    elif ">" in name:
        if name in _ALLOWED_FNS:
            if text.strip():
                raise _bad(argument, spec, "a registered function takes no arguments")
            return CallableRegularizer(_ALLOWED_FNS[name])
        factory = keras.saving.get_registered_object(name)
        if not (isinstance(factory, type) and issubclass(factory, keras.regularizers.Regularizer)):
            # Not on the allow-list and not a registered Regularizer class: refuse, call nothing.
            exc = _refuse(name)
            raise RegularizerNotAllowedError(f"{argument}={spec!r}: {exc}") from None
    else:
        close = close_names(key, _SPEC_FACTORIES, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        raise _bad(
            argument, spec, f"unknown regularizer {name!r}; {hint}known: {sorted(_SPEC_FACTORIES)}"
        )
    args, kwargs = _parse_args(argument, spec, text)
    try:
        reg = factory(*args, **kwargs)
    except RegularizerNotAllowedError as exc:
        raise RegularizerNotAllowedError(f"{argument}={spec!r}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _bad(argument, spec, f"invalid arguments ({exc})") from None
    if not isinstance(reg, keras.regularizers.Regularizer):
        raise _bad(argument, spec, f"factory for {name!r} did not return a Regularizer")
    return reg


def parse_regularizer(spec: Any, argument: str = "kernel_regularizer"):
    """Turn a regularizer spec into a Keras regularizer (or ``None``).

    Args:
        spec: ``None`` / ``"none"``; a ``keras.regularizers.Regularizer``; a
            dict (``{"l2": 0.01}``, ``{"l1": 0.01, "l2": 0.01}`` or a Keras
            serialized config); a spec string (``"l1(0.01)"``, ``"l2(l2=0.01)"``,
            ``"l1l2(l1=0.01,l2=0.01)"``, ``"orthogonal(factor=0.01,mode='rows')"``,
            ``"seed_l1(0.01)"``, ``"group_l21(0.01)"``, a name added with
            :func:`register_regularizer_spec`, or a registered Keras name such
            as ``"btlstm_custom>mymod.l1_reg"``); or a module-level function
            ``weight -> scalar`` (wrapped in :class:`CallableRegularizer`).
        argument: the argument name used in error messages.

    Returns:
        A ``keras.regularizers.Regularizer`` or ``None``.

    Raises:
        ValueError: the spec is not one of the forms above; the message names
            ``argument``, repeats the value and lists the valid forms.

    Example:
        >>> parse_regularizer("l2(0.01)").l2
        0.01
        >>> parse_regularizer({"l1": 0.01, "l2": 0.02}).l2
        0.02
    """
    if spec is None:
        return None
    if isinstance(spec, keras.regularizers.Regularizer):
        return spec
    if isinstance(spec, str):
        return _from_string(spec, argument)
    if isinstance(spec, dict):
        if "class_name" in spec:
            try:
                reg = keras.regularizers.deserialize(spec)
            except RegularizerNotAllowedError as exc:
                raise RegularizerNotAllowedError(f"{argument}={spec!r}: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - re-raised with context
                raise _bad(argument, spec, f"cannot deserialize ({exc})") from None
            if not isinstance(reg, keras.regularizers.Regularizer):
                # A dict names a class; a function found by Keras' registry is not
                # on our allow-list unless the user registered it with us.
                name = _allowed_name(reg)
                if name is None:
                    raise RegularizerNotAllowedError(
                        f"{argument}={spec!r}: {_refuse(spec.get('class_name'))}"
                    )
                return CallableRegularizer(reg)
            return reg
        keys = set(spec)
        flags = [k for k, v in spec.items() if isinstance(v, bool) or v is None]
        if flags:
            raise _bad(argument, spec, f"{flags[0]} = {spec[flags[0]]!r} is not a number")
        try:
            if keys == {"l1"}:
                return keras.regularizers.L1(spec["l1"])
            if keys == {"l2"}:
                return keras.regularizers.L2(spec["l2"])
            if keys == {"l1", "l2"}:
                return keras.regularizers.L1L2(l1=spec["l1"], l2=spec["l2"])
        except (TypeError, ValueError) as exc:
            raise _bad(argument, spec, f"invalid value ({exc})") from None
        raise _bad(argument, spec, "dict keys must be l1 and/or l2, or a Keras 'class_name' config")
    if isinstance(spec, bool) or isinstance(spec, (int, float)):
        raise _bad(argument, spec, "a bare number is ambiguous; write 'l2(0.01)' or 'l1(0.01)'")
    if callable(spec):
        try:
            return CallableRegularizer(spec)
        except ValueError as exc:
            raise ValueError(f"{argument}={spec!r}: {exc}") from None
    raise _bad(argument, spec, f"unsupported type {type(spec).__name__}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        short = f"{value:.7g}"
        return short if len(repr(value)) > len(short) else repr(value)
    return repr(value)


def regularizer_spec(obj: Any) -> str | None:
    """A short readable string for a regularizer; the inverse of :func:`parse_regularizer`.

    Args:
        obj: ``None``, a Keras regularizer, a :class:`CallableRegularizer` or a
            plain function.

    Returns:
        ``None`` for ``None``, else e.g. ``"l2(0.01)"``,
        ``"l1l2(l1=0.01,l2=0.01)"``, ``"orthogonal(factor=0.01,mode='rows')"``,
        ``"btlstm_custom>mymod.l1_reg"``. Floats are shown with 7 significant
        digits (Keras stores some factors as float32).

    Example:
        >>> regularizer_spec(keras.regularizers.L2(0.01))
        'l2(0.01)'
    """
    if obj is None:
        return None
    if isinstance(obj, CallableRegularizer):
        return obj.registered_name
    if isinstance(obj, keras.regularizers.Regularizer):
        config = obj.get_config()
        name, positional = _SPEC_NAMES.get(type(obj), (None, None))
        if name is None:
            name = keras.saving.get_registered_name(type(obj))
        if positional is not None and set(config) == {positional}:
            return f"{name}({_fmt(config[positional])})"
        inner = ",".join(f"{k}={_fmt(v)}" for k, v in config.items())
        return f"{name}({inner})"
    if callable(obj):
        return _registered_name(obj) or repr(obj)
    return repr(obj)
