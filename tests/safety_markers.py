"""Helper module for tests/test_safety.py: functions that must never be called from text.

Each marker records its call in ``CALLS`` (and touches ``$BTLSTM_SAFETY_MARKER``
when set, for checks in a child process). The module is imported (it sits in
``sys.modules``), so a loader that resolved ``module`` + ``qualname`` from a
file or spec string would find them; the allow-list must not.
"""

import os
from pathlib import Path

import keras

CALLS: list[str] = []


def _record(name: str) -> None:
    CALLS.append(name)
    target = os.environ.get("BTLSTM_SAFETY_MARKER")
    if target:
        with Path(target).open("a") as fh:
            fh.write(name + "\n")


def marker_reg(weight):
    """Looks like a regularizer; never registered."""
    _record("marker_reg")
    return 0.0 * keras.ops.sum(weight)


def safe_l1(weight):
    """A regularizer the tests register explicitly."""
    return 0.01 * keras.ops.sum(keras.ops.abs(weight))


def safe_l1x(weight):
    """A registered-name lookalike of ``safe_l1`` (never registered)."""
    _record("safe_l1x")
    return 0.01 * keras.ops.sum(keras.ops.abs(weight))
