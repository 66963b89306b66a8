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

Everything read back is data, not trusted (``docs/trust-files.md``): the
folder's files are opened without following links (a link, a FIFO or a device
is refused), size-capped (:data:`MAX_STATE_BYTES`, :data:`MAX_JOURNAL_BYTES`)
and nesting-capped before parsing; ``state.json`` carries an HMAC
(:func:`btlstm._files.sign`, the user's secret) over its content, the run's
fingerprint and the sha256 of the journal's lines, and its fields are checked
(types, ranges, the journal holding exactly ``bars_done`` lines). ``--fresh``
deletes only btlstm's regular files, never through a link.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

from btlstm._files import (
    UnsafeFile,
    mode_kind,
    read_nofollow,
    remove_owned,
    sign,
    signature_ok,
    unsafe_reason,
)
from btlstm.convert import load_json
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

MAX_STATE_BYTES = 64 << 20
"""The most bytes read from ``state.json`` or the marker (64 MiB)."""
MAX_JOURNAL_BYTES = 1 << 30
"""The most bytes read from ``journal.jsonl`` (1 GiB: millions of bars)."""

#: what each entry of a state folder must be (``lstat``: links are never followed)
_KINDS = {MARKER: stat.S_ISREG, STATE: stat.S_ISREG, JOURNAL: stat.S_ISREG, MODELS: stat.S_ISDIR}


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
        if folder.is_dir():
            for name, ok in _KINDS.items():
                try:
                    mode = os.lstat(folder / name).st_mode
                except FileNotFoundError:
                    continue
                if not ok(mode):
                    raise StateError(
                        f"{where} {str(folder)!r}: {name} is {mode_kind(mode)}, not the "
                        f"{'folder' if name == MODELS else 'regular file'} btlstm wrote (links "
                        "are never followed); remove it or give another folder"
                    )
        parent = folder.parent if not folder.exists() else folder
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not os.access(parent, os.W_OK):
            raise StateError(f"{where} {str(folder)!r} cannot be written (permission denied)")
        return folder

    def _bytes(self, name: str, limit: int) -> bytes | None:
        """A file of the folder, read without following links, at most ``limit``
        bytes; None when absent; anything else: a StateError naming it."""
        try:
            return read_nofollow(self.folder / name, limit)
        except FileNotFoundError:
            return None
        except UnsafeFile as e:
            raise self._refuse(name, unsafe_reason(e, limit)) from None

    def _refuse(self, name: str, why: str) -> StateError:
        return StateError(
            f"state folder {str(self.folder)!r}: {name} {why}; start over with --fresh"
        )

    def _read(self, name: str, limit: int = MAX_STATE_BYTES):
        """A JSON file of the folder, None when absent; unreadable: a StateError."""
        data = self._bytes(name, limit)
        if data is None:
            return None
        try:
            return load_json(data, name)
        except ValueError as e:
            raise self._refuse(name, f"is unreadable ({e})") from None

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
        if state is None:  # killed before its first bar was done: its journal lines go
            remove_owned(self.folder / JOURNAL)
            self._journal_hash = hashlib.sha256()
            return None
        state = self._check_state(state)
        self._trim_journal(state["bars_done"], state["journal_sha256"])
        return state

    def _signature(self, doc: dict) -> str:
        body = {k: v for k, v in doc.items() if k != "hmac"}
        return sign("btlstm-state", self.fingerprint,
                    json.dumps(body, sort_keys=True, allow_nan=True))  # fmt: skip

    def _check_state(self, doc) -> dict:
        """``state.json`` authenticated and its fields checked, or one StateError."""
        if not isinstance(doc, dict):
            raise self._refuse(STATE, f"is not a JSON object (a {type(doc).__name__})")
        body = {k: v for k, v in doc.items() if k != "hmac"}
        if not signature_ok(doc.get("hmac"), "btlstm-state", self.fingerprint,
                            json.dumps(body, sort_keys=True, allow_nan=True)):  # fmt: skip
            raise self._refuse(
                STATE,
                "is not signed with this user's secret for this run (edited, forged, or "
                "written by another user or an older btlstm)",
            )
        checks = (
            ("bars_done", int, "an integer >= 1"),
            ("last_date", str, "a date"),
            ("finished", bool, "true or false"),
            ("streams", dict, "a table"),
            ("snapshot", dict, "a table"),
            ("sessions", list, "a list"),
            ("journal_sha256", str, "a sha256"),
        )
        required = ("bars_done", "last_date", "journal_sha256")
        for key, kind, words in checks:
            v = doc.get(key)
            if v is None and key not in required:
                continue
            if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
                raise self._refuse(STATE, f"field {key!r} is {v!r}, expected {words}")
        if doc["bars_done"] < 1:
            raise self._refuse(STATE, f"field 'bars_done' is {doc['bars_done']}, expected >= 1")
        for name, st in (doc.get("streams") or {}).items():
            versions = st.get("versions") if isinstance(st, dict) else None
            if not isinstance(versions, list) or not all(
                isinstance(v, dict) and isinstance(v.get("k"), int) for v in versions
            ):
                raise self._refuse(STATE, f"streams.{name}: expected a list of model versions")
        return doc

    def check_bars(self, state: dict, n_bars: int, span=None) -> None:
        """Refuse a state whose ``bars_done`` is more than the ``n_bars`` the data has,
        or whose ``last_date`` is no date within ``span`` (the data's first and last
        dates, when given)."""
        if state["bars_done"] > n_bars:
            raise self._refuse(
                STATE,
                f"says bars_done = {state['bars_done']}, but the data has {n_bars} bars "
                f"(expected 1..{n_bars})",
            )
        import pandas as pd

        try:
            last = pd.Timestamp(state["last_date"])
        except (ValueError, TypeError):
            last = None
        if last is None or last is pd.NaT:
            raise self._refuse(STATE, f"field 'last_date' is {state['last_date']!r}, not a date")
        if span is not None:
            lo, hi = (pd.Timestamp(d).date() for d in span)
            day = pd.Timedelta(days=1)  # a time zone may move a bar's date by one
            if not (lo - day <= last.date() <= hi + day):
                raise self._refuse(
                    STATE,
                    f"field 'last_date' is {state['last_date']}, outside the data "
                    f"({lo}..{hi})",
                )

    def clear(self) -> None:
        """Delete btlstm's files in the folder (never anything else): regular files
        only (``lstat``), never through a link; ``models/`` only when it is a real folder."""
        for name in (STATE, JOURNAL, MARKER):
            remove_owned(self.folder / name)
        models = self.models_dir
        try:
            real = stat.S_ISDIR(os.lstat(models).st_mode)
        except FileNotFoundError:
            real = False
        if real:
            for p in models.iterdir():
                if p.name.startswith("wf-"):
                    remove_owned(p)
            if not any(models.iterdir()):
                models.rmdir()
        for p in self.folder.glob(f".{STATE}.*.tmp"):
            remove_owned(p)
        self._journal_hash = hashlib.sha256()

    def save(self, state: dict) -> None:
        """Write ``state.json`` atomically (the bar is done once this returns), with
        the journal's sha256 and the HMAC of both."""
        doc = {k: v for k, v in state.items() if k != "hmac"}
        doc["journal_sha256"] = self._jhash().hexdigest()
        doc = json.loads(json.dumps(doc, allow_nan=True))  # what a reader will parse
        doc["hmac"] = self._signature(doc)
        atomic_write_text(self.folder / STATE, json.dumps(doc, allow_nan=True) + "\n")

    def _jhash(self):
        if getattr(self, "_journal_hash", None) is None:
            self._journal_hash = hashlib.sha256()
        return self._journal_hash

    def append(self, row: dict) -> None:
        """Append one bar's journal line (flushed: a killed process loses nothing; only
        ``state.json`` is fsync'ed, so after a power cut the journal, a record of
        latencies, may miss its last lines, never the state). Never through a link."""
        line = (json.dumps(row, allow_nan=True) + "\n").encode("utf-8")
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(self.folder / JOURNAL, flags, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        self._jhash().update(line)

    def journal(self) -> list[dict]:
        """Every journal line (one dict per bar done)."""
        data = self._bytes(JOURNAL, MAX_JOURNAL_BYTES)
        if data is None:
            return []
        rows = []
        for i, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line:
                continue
            try:
                row = load_json(line, f"{JOURNAL} line {i}")
            except ValueError as e:
                raise self._refuse(JOURNAL, f"is unreadable ({e})") from None
            if not isinstance(row, dict):
                raise self._refuse(JOURNAL, f"line {i} is not a JSON object")
            rows.append(row)
        return rows

    def _trim_journal(self, bars_done: int, digest: str) -> None:
        """Keep the first ``bars_done`` lines (a kill may leave one more, or half of
        one); fewer lines, or lines other than the ones ``state.json`` signed: refused."""
        data = self._bytes(JOURNAL, MAX_JOURNAL_BYTES) or b""
        lines = data.splitlines(keepends=True)
        keep = [line for line in lines[:bars_done] if line.endswith(b"\n")]
        if len(keep) != bars_done:
            raise self._refuse(
                JOURNAL,
                f"holds {len(keep)} complete lines, state.json says {bars_done} bars are done",
            )
        h = hashlib.sha256()
        for line in keep:
            h.update(line)
        if h.hexdigest() != digest:
            raise self._refuse(JOURNAL, "is not the journal state.json signed (edited or swapped)")
        self._journal_hash = h
        if len(keep) != len(lines):
            atomic_write_text(self.folder / JOURNAL, b"".join(keep).decode("utf-8"))


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
    """Cash, value, every open position and every open order of the strategy's broker
    (the orders placed on this bar included: they are still in the broker's submit queue)."""
    broker = strategy.broker
    positions = {}
    for data in strategy.datas:
        pos = broker.getposition(data)
        if pos.size:
            positions[data._name] = [float(pos.size), float(pos.price)]
    orders = []
    # the bar's own orders first sit in the broker's ``submitted`` queue (Backtrader moves
    # them to the open orders at the next bar): the state of bar k holds them too
    live = list(getattr(broker, "submitted", ()) or ())
    live += [o for o in broker.get_orders_open() if all(o is not x for x in live)]
    for o in live:
        if not o.alive():
            continue
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
