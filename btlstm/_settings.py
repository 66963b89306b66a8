"""Private helper shared by the settings dataclasses (WalkForwardConfig, HoldRun)."""

from __future__ import annotations

import dataclasses
import difflib


def check_known_keys(cls, d: dict, what: str) -> None:
    """Raise ValueError for the first key of ``d`` that is not a field of dataclass ``cls``,
    suggesting the closest valid name."""
    names = [f.name for f in dataclasses.fields(cls)]
    for k in d:
        if k not in names:
            close = difflib.get_close_matches(k, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"unknown {what} {k!r}{hint} (valid: {names})")
