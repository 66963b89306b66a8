"""The state of a paper run, written atomically after every bar, so a killed run resumes.

A state folder (``--state-dir``, default ``paper-state`` inside the run folder) holds:

- ``btlstm-state.json``: the marker: this folder is btlstm's, and the
  fingerprint of the run it belongs to (settings, data, fit policy). A folder
  of other files is refused, never written into; another run's folder is
  refused with the way out (``--fresh``, or another ``--state-dir``);
- ``state.json``: rewritten atomically after each bar (temporary file,
  fsync, rename): the bars done, the last bar's date, every model version of
  every predictor (fit date, the bar it became active, its file), the
  strategy's bookkeeping (``strategy.live_state()``: holding clocks, buy
  dates, pending exits, targets) and the broker's cash, value, positions and
  open orders after that bar;
- ``journal.jsonl``: one line per bar (date, status, latency, the model
  version behind each prediction), written before ``state.json`` says the
  bar is done; lines past it (a kill between the two) are dropped on resume;
- ``models/``: the model cache (one file per fit with its sha256 manifest),
  unless ``--cache-dir`` names another.

How a resume works (``docs/live.md``): the bars already done are replayed at
once as backfill (status DELAYED) with the saved models (no fit is trained
again: each loads from the cache) and the versions switch on the bars they
switched on before; after the last saved bar the strategy's bookkeeping,
cash, positions and open orders are compared with the saved ones (a
difference stops the run: the data or the code changed), then the run goes on
LIVE from the next bar.
"""

from __future__ import annotations

import json
import logging
import math
import os
from datetime import datetime, timezone
from pathlib import Path

from btlstm.data.cache import atomic_write_text
from btlstm.errors import StateError

__all__ = ["StateStore", "StateError", "broker_snapshot", "strategy_snapshot", "first_difference"]

log = logging.getLogger("btlstm.live")

MARKER = "btlstm-state.json"
STATE = "state.json"
JOURNAL = "journal.jsonl"
MODELS = "models"
KIND = "btlstm paper-trading state"
FORMAT = 1


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class StateStore:
    """One paper run's state folder (see the module docstring).

    Args:
        folder: the state folder.
        fingerprint: the run's identity (settings, data, fit policy) as a hex digest.
        describe: plain facts about the run, kept in the marker (for people).

    Example:
        >>> import tempfile
        >>> store = StateStore(tempfile.mkdtemp() + "/s", "abc", {"strategy": "hold"})
        >>> store.open() is None        # a new folder: nothing to resume
        True
        >>> store.append({"bar": 0, "date": "2020-01-02"})
        >>> store.save({"bars_done": 1, "last_date": "2020-01-02"})
        >>> StateStore(store.folder, "abc").open()["bars_done"]
        1
    """

    def __init__(self, folder, fingerprint: str, describe: dict | None = None):
        self.folder = Path(folder)
        self.fingerprint = str(fingerprint)
        self.describe = dict(describe or {})

    @property
    def models_dir(self) -> Path:
        return self.folder / MODELS

    # ------------------------------------------------------------------ checks
    @staticmethod
    def check_folder(folder, where: str = "--state-dir") -> Path:
        """Refuse a folder btlstm may not use (before any work): a file, or a
        non-empty folder without btlstm's marker."""
        folder = Path(folder)
        if folder.exists() and not folder.is_dir():
            raise StateError(f"{where} {str(folder)!r} is a file, not a folder")
        if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
            raise StateError(
                f"{where} {str(folder)!r} is a folder of other files (no {MARKER}): btlstm "
                "never writes into or deletes files it did not write; give an empty or new folder"
            )
        parent = folder.parent if not folder.exists() else folder
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise StateError(f"{where} {str(folder)!r} cannot be written (permission denied)")
        return folder

    def _read(self, name: str):
        """A JSON file of the folder, None when absent; unreadable: a StateError."""
        try:
            return json.loads((self.folder / name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise StateError(
                f"state folder {str(self.folder)!r}: {name} is unreadable ({e}); start over "
                "with --fresh"
            ) from None

    def _marker(self) -> dict | None:
        doc = self._read(MARKER)
        if doc is None:
            return None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise StateError(f"state folder {str(self.folder)!r}: {MARKER} is not btlstm's marker")
        return doc

    # ------------------------------------------------------------------ life cycle
    def open(self, fresh: bool = False) -> dict | None:
        """Use the folder for this run; return the saved state to resume, or None.

        ``fresh`` deletes btlstm's own files (marker, state, journal, the models
        it wrote) first. Raises :class:`StateError` for a folder of other files
        or of another run.
        """
        self.check_folder(self.folder)
        marker = self._marker()
        if marker is not None and fresh:
            self.clear()
            marker = None
        if marker is not None and marker.get("fingerprint") != self.fingerprint:
            was = marker.get("describe") or {}
            raise StateError(
                f"state folder {str(self.folder)!r} holds another paper run "
                f"({json.dumps(was, sort_keys=True)}, started {marker.get('created_utc')}): "
                "resume it with the same settings and data, start over with --fresh, or give "
                "another --state-dir"
            )
        if marker is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            doc = {
                "kind": KIND,
                "format": FORMAT,
                "fingerprint": self.fingerprint,
                "created_utc": _now(),
                "describe": self.describe,
            }
            atomic_write_text(self.folder / MARKER, json.dumps(doc, indent=1) + "\n")
            return None
        state = self._read(STATE)
        if state is None:
            return None
        self._trim_journal(int(state.get("bars_done", 0)))
        return state

    def clear(self) -> None:
        """Delete btlstm's files in the folder (never anything else)."""
        for name in (STATE, JOURNAL, MARKER):
            p = self.folder / name
            if p.exists():
                p.unlink()
        models = self.models_dir
        if models.is_dir():
            for p in models.iterdir():
                if p.name.startswith("wf-") and p.is_file():
                    p.unlink()
            if not any(models.iterdir()):
                models.rmdir()
        for p in self.folder.glob(f".{STATE}.*.tmp"):
            p.unlink()

    def save(self, state: dict) -> None:
        """Write ``state.json`` atomically (the bar is done once this returns)."""
        atomic_write_text(self.folder / STATE, json.dumps(state, allow_nan=True) + "\n")

    def append(self, row: dict) -> None:
        """Append one bar's journal line (flushed: a killed process loses nothing; only
        ``state.json`` is fsync'ed, so after a power cut the journal, a record of
        latencies, may miss its last lines, never the state)."""
        with open(self.folder / JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row, allow_nan=True) + "\n")

    def journal(self) -> list[dict]:
        """Every journal line (one dict per bar done)."""
        path = self.folder / JOURNAL
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]

    def _trim_journal(self, bars_done: int) -> None:
        """Keep the first ``bars_done`` lines (a kill may leave one more, or half of one)."""
        path = self.folder / JOURNAL
        if not path.exists():
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        keep = [line for line in lines[:bars_done] if line.endswith("\n")]
        if len(keep) != len(lines):
            atomic_write_text(path, "".join(keep))


# --------------------------------------------------------------------------- snapshots
def _plain(value):
    """JSON-safe: floats stay exact (repr round trip), NaN stays NaN, dates become text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def broker_snapshot(strategy) -> dict:
    """Cash, value, every open position and every open order of the strategy's broker."""
    broker = strategy.broker
    positions = {}
    for data in strategy.datas:
        pos = broker.getposition(data)
        if pos.size:
            positions[data._name] = [float(pos.size), float(pos.price)]
    orders = []
    for o in broker.get_orders_open():
        orders.append([o.data._name, "buy" if o.isbuy() else "sell", float(o.created.size)])
    return {
        "cash": float(broker.getcash()),
        "value": float(broker.getvalue()),
        "positions": positions,
        "orders": sorted(orders),
    }


def strategy_snapshot(strategy) -> dict | None:
    """The strategy's own bookkeeping (``strategy.live_state()``), or None when it has none."""
    fn = getattr(strategy, "live_state", None)
    return _plain(fn()) if callable(fn) else None


def first_difference(saved, now, path: str = "") -> str | None:
    """Where two snapshots differ first (``"broker.cash: 1000.0 != 999.5"``), or None."""
    if isinstance(saved, dict) and isinstance(now, dict):
        for k in sorted(set(saved) | set(now)):
            d = first_difference(saved.get(k), now.get(k), f"{path}.{k}" if path else str(k))
            if d:
                return d
        return None
    if isinstance(saved, list) and isinstance(now, list) and len(saved) == len(now):
        for i, (a, b) in enumerate(zip(saved, now)):
            d = first_difference(a, b, f"{path}[{i}]")
            if d:
                return d
        return None
    same = saved == now or (
        isinstance(saved, float)
        and isinstance(now, float)
        and math.isnan(saved)
        and math.isnan(now)
    )
    return None if same else f"{path}: saved {saved!r}, replayed {now!r}"
