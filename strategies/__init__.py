"""Backtrader strategies for btlstm (``btlstm.strategies``): they read lines, never models.

This is the repository folder ``strategies/``, installed as ``btlstm.strategies``
(``setup.py`` ``package_dir``): btlstm claims no top-level ``strategies`` module,
so a user's own ``strategies.py`` or ``strategies/`` package is left alone.

``BuyAndHold`` and ``EqualWeight`` are baselines (``btlstm.strategies.buyhold``);
``HoldNDays`` trades a prediction line (``btlstm.strategies.hold``); ``RankerGated``
buys top-ranked stocks under a gate line (``btlstm.strategies.ranker``);
``SectorRotation`` holds the top forecast sectors (``btlstm.strategies.rotation``) and
``MomentumRotation`` is its trailing-momentum baseline (``btlstm.strategies.momentum``).
A module that
registers its strategy with :func:`btlstm.registry.register_strategy` gets
``btlstm run <name>``, its flags and its TOML keys; the registry imports every
module of this package on first use (a user's own module runs with
``btlstm run --plugin MODULE``; see :mod:`btlstm.registry`). The classes below
are imported on first access, so ``import btlstm.strategies`` stays cheap and
one module's import does not depend on another's.
"""

from __future__ import annotations

import importlib

__all__ = [
    "BuyAndHold",
    "EqualWeight",
    "HoldNDays",
    "MomentumRotation",
    "RankerGated",
    "SectorRotation",
]

_WHERE = {
    "BuyAndHold": "btlstm.strategies.buyhold",
    "EqualWeight": "btlstm.strategies.buyhold",
    "HoldNDays": "btlstm.strategies.hold",
    "MomentumRotation": "btlstm.strategies.momentum",
    "RankerGated": "btlstm.strategies.ranker",
    "SectorRotation": "btlstm.strategies.rotation",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
