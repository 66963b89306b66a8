"""Backtrader strategies for btlstm: they read lines (signals), never models.

``BuyAndHold`` and ``EqualWeight`` are baselines (``strategies.buyhold``);
``HoldNDays`` trades a prediction line (``strategies.hold``); ``RankerGated``
buys top-ranked stocks under a gate line (``strategies.ranker``);
``SectorRotation`` holds the top forecast sectors (``strategies.rotation``) and
``MomentumRotation`` is its trailing-momentum baseline (``strategies.momentum``).
A module that
registers its strategy with :func:`btlstm.registry.register_strategy` gets
``btlstm run <name>``, its flags and its TOML keys; the registry imports every
module of this package on first use. Strategy modules
are imported on first use, so ``import strategies`` stays cheap and one
module's import does not depend on another's.
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
    "BuyAndHold": "strategies.buyhold",
    "EqualWeight": "strategies.buyhold",
    "HoldNDays": "strategies.hold",
    "MomentumRotation": "strategies.momentum",
    "RankerGated": "strategies.ranker",
    "SectorRotation": "strategies.rotation",
}


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'strategies' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
