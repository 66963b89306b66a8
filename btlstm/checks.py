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

Bounds (issue 18): :data:`LIMITS` holds the cap of every size, count and length
setting, :func:`check_cap` checks one (``--allow-large`` lifts the caps),
:func:`check_seed` the generators' seed range, and :func:`check_memory` compares
an estimate with what this process may use (:func:`memory_budget`: available
memory, or ``ulimit -v``), all before anything is allocated.
"""

from __future__ import annotations

import difflib
import math
import numbers

__all__ = [
    "FIXED",
    "LIFT",
    "LIMITS",
    "SEED_MAX",
    "SWEEP_CONFIRM_RUNS",
    "check_cap",
    "check_choice",
    "check_memory",
    "check_seed",
    "check_int",
    "check_number",
    "close_names",
    "closest",
    "did_you_mean",
    "limits_table",
    "memory_budget",
    "range_text",
    "size_text",
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


# --------------------------------------------------------------------------- bounds
#: The largest value each size, count and length setting may take, and why. A setting
#: above its cap is refused before anything is allocated or built; ``--allow-large``
#: (TOML ``[output] allow_large = true``; for a sweep ``--allow-large`` or ``[sweep]
#: allow_large = true``) lifts the caps deliberately. The memory estimates
#: (:func:`check_memory`) still apply: a run that cannot fit in memory is refused
#: with or without it. ``btlstm.checks.limits_table()`` prints this table (docs/safety.md, Bounds).
LIMITS: dict[str, tuple[int, str]] = {  # key: (maximum, what it bounds)
    "lookback": (2_520, "bars in one input window: 10 years of daily bars"),
    "horizon": (252, "bars ahead of the target: one year"),
    "embargo": (252, "bars between a label and its fit: one year"),
    "retrain_every": (10_000, "bars between refits: 40 years"),
    "min_train": (100_000, "labelled samples before the first fit"),
    "train_window": (100_000, "bars of a rolling training window"),
    "epochs": (1_000, "epochs of one fit"),
    "warm_epochs": (1_000, "epochs of one warm refit"),
    "patience": (1_000, "early-stopping patience in epochs"),
    "batch_size": (65_536, "samples in one training batch"),
    "lstm_units": (4_096, "units of an LSTM layer (67 M weights at 4,096)"),
    "dense_units": (4_096, "units of a Dense layer"),
    "stacked_lstm_units": (4_096, "units of a stacked LSTM layer"),
    "layers": (16, "Dense layers, stacked LSTM layers or TCN blocks (dilations)"),
    "units": (4_096, "units of a GRU or attention-LSTM layer, TCN filters, Transformer width"),
    "heads": (64, "attention heads of a Transformer layer"),
    "kernel_size": (64, "bars one convolution of a TCN sees"),
    "encoder_layers": (16, "encoder layers of a Transformer"),
    "trials": (1_000_000, "configurations tried (the Sharpe deflation)"),
    "seeds": (1_000, "seeds of one --seeds run (one full run each)"),
    "topk": (1_000, "stocks or ETFs held or bought at once (also n_buy, max_positions)"),
    "synthetic_n": (100_000, "bars of synthetic data (400 years)"),
    "synthetic_n_symbols": (2_000, "symbols of a synthetic panel"),
    "synthetic_cells": (5_000_000, "bars x symbols of a synthetic panel"),
    "repeats": (1_000, "seeds per sweep configuration"),
    "configs": (1_000, "configurations of one sweep"),
    "runs": (10_000, "runs of one sweep (configurations x repeats)"),
    "workers": (256, "parallel sweep runs"),
    "fit_threads": (256, "CPU threads of a paper run's background fit"),
    "config_bytes": (1 << 20, "bytes of a TOML settings or sweep file (1 MiB)"),
    "data_bytes": (2 << 30, "bytes of a CSV data file after gunzip (2 GiB)"),
}

#: how the caps of :data:`LIMITS` are lifted, in words
LIFT = "--allow-large (TOML: [output] allow_large = true) lifts the cap"

#: the caps ``--allow-large`` does not lift (reads of files, lists parsed before any
#: setting is known): a Python caller may raise them in :data:`LIMITS` itself
FIXED = ("seeds", "config_bytes", "data_bytes")

#: a sweep of more runs than this asks for ``--yes`` (TOML ``[sweep] yes = true``) first
SWEEP_CONFIRM_RUNS = 100

#: the seeds every random generator of btlstm accepts (numpy, Keras, LightGBM)
SEED_MAX = 2**32 - 1


def check_cap(name: str, value, key: str, allow: bool = False, lo: int = 1, lift: str = LIFT):
    """``value`` (an integer >= ``lo``) unless it is above the cap ``LIMITS[key]``.

    Raises:
        ValueError: ``--lstm-units must be an integer in [1, 4096], got 100000000 (the
        cap on units of an LSTM layer ...; --allow-large ... lifts the cap)``.

    Example:
        >>> check_cap("--epochs", 20, "epochs")
        20
        >>> check_cap("--epochs", 10**6, "epochs", allow=True)
        1000000
    """
    cap, why = LIMITS[key]
    check_int(name, value, lo=lo)
    if value > cap and not allow:
        raise ValueError(
            f"{name} must be an integer {range_text(lo, cap)}, got {value!r} "
            f"(the cap on {why}; {lift})"
        )
    return int(value)


def check_seed(name: str, value) -> int:
    """A seed every generator accepts: an integer in ``[0, 2**32 - 1]``.

    Example:
        >>> check_seed("--seed", -1)
        Traceback (most recent call last):
        ValueError: --seed must be an integer in [0, 4294967295] (the seeds numpy, Keras and LightGBM accept), got -1
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not ok or not 0 <= value <= SEED_MAX:
        raise ValueError(
            f"{name} must be an integer in [0, {SEED_MAX}] (the seeds numpy, Keras and "
            f"LightGBM accept), got {value!r}"
        )
    return int(value)


def memory_budget() -> int:
    """Bytes this process may still allocate: the machine's available memory
    (``MemAvailable``), or the address-space limit (``ulimit -v``) if lower."""
    avail = None
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh.read(1 << 16).decode("ascii", "replace").splitlines():
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        import os

        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 62
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = min(avail, soft)
    except (ImportError, ValueError, OSError):
        pass
    return int(avail)


def size_text(n: float) -> str:
    """Bytes in words: ``size_text(3 * 2**30) == '3.0 GiB'``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} bytes"


def check_memory(what: str, need: float, budget: int | None = None) -> None:
    """Refuse work whose memory estimate ``need`` (bytes) is above what the process may use.

    Raises:
        ValueError: ``--lstm-units 30000 needs about 26.8 GiB of memory (estimate), more
        than the 3.5 GiB this process may use (available memory, ulimit -v)``.
    """
    budget = memory_budget() if budget is None else budget
    if need > budget:
        raise ValueError(
            f"{what} needs about {size_text(need)} of memory (estimate), more than the "
            f"{size_text(budget)} this process may use (available memory, ulimit -v): "
            "make it smaller"
        )


def limits_table() -> str:
    """The caps of :data:`LIMITS` as a Markdown table (docs/safety.md, Bounds)."""
    rows = ["| setting | maximum | what it bounds | lifted by |", "|---|---|---|---|"]
    for key, (cap, why) in LIMITS.items():
        if key in FIXED:
            lift = f"`btlstm.checks.LIMITS[{key!r}]` (Python)"
        elif key == "workers":
            lift = "`btlstm sweep --allow-large`"
        elif key in ("repeats", "configs", "runs"):
            lift = "`btlstm sweep --allow-large` / `[sweep] allow_large`"
        else:
            lift = "`--allow-large` / `[output] allow_large`"
        rows.append(f"| `{key}` | {cap:,} | {why} | {lift} |")
    return "\n".join(rows)
