"""Pinned results of the README's runs (tests/test_pins.py): what a refactor must not change.

``python tests/pins.py NAME ...`` (from the repository root, ``BTLSTM_DATA`` set)
re-runs the named commands and rewrites ``tests/pins.json``; do that only when a
change of results is intended and stated in the commit.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
PINS = HERE / "pins.json"

#: name -> (command arguments after ``btlstm``, the report files compared row by row)
RUNS = {
    "hold": (["run", "hold", "--data", "csi300"], ["trades.csv", "predictions.csv"]),
    "ranker": (["run", "ranker"], ["trades.csv", "gate.csv"]),
    "rotation": (["run", "rotation", "--data", "sector_etfs"], ["trades.csv", "forecasts.csv"]),
    "sweep_tiny": (["sweep", "--config", "examples/sweep_tiny.toml"], ["runs.csv"]),
}

_ROW_KEYS = ("name", "total_return", "sharpe", "max_drawdown", "n_trades", "n_orders",
             "n_rejected", "final_value")  # fmt: skip


def run(name: str, out: Path) -> dict:
    """Run pin ``name`` into ``out``; return its pinned facts."""
    args, files = RUNS[name]
    cmd = [sys.executable, "-m", "btlstm.cli", *args, "--out", str(out)]
    if args[0] == "run":
        cmd += ["--quiet", "--no-plots"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    facts: dict = {"files": {}}
    if args[0] == "run":
        report = json.loads((out / "report.json").read_text())
        facts["comparison"] = [
            {k: r.get(k) for k in _ROW_KEYS if k in r} for r in report["comparison"]
        ]
        sig = report.get("significance") or {}
        facts["verdict"] = sig.get("verdict")
    for f in files:
        frame = pd.read_csv(out / f)
        facts["files"][f] = {"rows": len(frame), "columns": list(frame.columns),
                             "digest": digest(frame)}  # fmt: skip
    return facts


def digest(frame: pd.DataFrame) -> list:
    """Per column: the sum of the numbers (rounded to 1e-9 relative) or the joined text."""
    out = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s):
            v = float(s.astype(float).fillna(0.0).abs().sum())
            out.append(float(f"{v:.9g}") if math.isfinite(v) else str(v))
        else:
            out.append(str(hash_text("|".join(map(str, s.tolist())))))
    return out


def hash_text(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def close(a, b, rel: float = 1e-7) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isfinite(a) and abs(a - b) <= rel * max(1.0, abs(a), abs(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], rel) for k in a)
    return a == b


if __name__ == "__main__":
    import tempfile

    pins = json.loads(PINS.read_text()) if PINS.exists() else {}
    for name in sys.argv[1:] or list(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            pins[name] = run(name, Path(tmp) / "out")
            print(name, json.dumps(pins[name].get("comparison"), indent=None)[:300])
    PINS.write_text(json.dumps(pins, indent=1, sort_keys=True) + "\n")
