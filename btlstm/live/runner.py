"""``btlstm paper <strategy>``: the registered strategy on a live feed, end to end.

:func:`run_paper` is :func:`btlstm.pipeline.run_backtest` with the run made
live, through its ``live`` hooks (so the data, the split, the cerebro
factory, the broker, the analyzers, the baselines and the report are the
backtest's own):

- every feed is a :class:`~btlstm.live.feed.ReplayFeed` on one
  :class:`~btlstm.live.feed.ReplayClock` (speed, backfill, live start);
- the predictors are the live ones (:class:`~btlstm.live.indicators.LiveLSTMPredictor`,
  :class:`~btlstm.live.indicators.LivePredictionPool`): due fits go to the
  fitter, models swap at bar boundaries, every bar names its model version;
- an analyzer measures each bar's latency (from its publication to the end of
  the strategy's ``next``, i.e. its orders) and writes the run's state after
  the bar (:class:`~btlstm.live.state.StateStore`), so a killed run resumes;
- the report is the standard one plus a ``live`` section and two files,
  ``latency.csv`` (one row per bar) and ``model_versions.csv`` (one row per fit).

``[live] fits = "wait"`` (the default at maximum speed) makes every bar wait
for its due fit: the replay then gives the backtest's predictions, orders
and equity exactly (tested). ``"background"`` is what a real paper run does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import backtrader as bt
import numpy as np
import pandas as pd

from btlstm._files import folders_overlap
from btlstm._settings import (
    SettingsError,
    check_known_keys,
    closest,
    coerce,
    field_defaults,
    field_types,
)
from btlstm.checks import check_cap
from btlstm.learners import get_learner
from btlstm.live.engine import LiveSession
from btlstm.live.feed import ReplayClock, ReplayFeed
from btlstm.live.fitter import FITTERS
from btlstm.live.indicators import LiveLSTMPredictor, LivePredictionPool
from btlstm.live.state import (
    StateError,
    StateStore,
    broker_snapshot,
    first_difference,
    strategy_snapshot,
)
from btlstm.registry import FEED_PREDICTOR, POOLED_PREDICTOR
from btlstm.report.runs import PAPER_STATE

__all__ = [
    "LiveSettings",
    "run_paper",
    "LiveRecorder",
    "PaperRun",
    "latency_summary",
    "no_model_bars",
    "no_model_warning",
]

log = logging.getLogger("btlstm.live")

FITS = ("auto", "wait", "background")


@dataclass
class LiveSettings:
    """The ``[live]`` settings of ``btlstm paper`` (beside every setting of ``btlstm run``).

    Args:
        speed: replay speed: 0 = as fast as the bar loop goes; 1 = real time;
            86400 = a trading day per second (the bars' own spacing).
        bar_seconds: publish one bar every this many seconds instead of speed.
        live_start: bars dated before it are backfill: published at once, status DELAYED.
        fits: "wait" (each bar waits for its due fit: deterministic, the backtest's
            numbers), "background" (the bar loop goes on with the previous model), or
            "auto" (wait at speed 0, else background).
        fitter: where fits run: "inline" (in the bar loop; wait only), "process" (a
            worker process), "ray" (a Ray task), or "auto" (inline when waiting, else
            process).
        fit_threads: CPU threads a background fit may use.
        ray_address: the Ray cluster of fitter "ray" (none: start a local Ray).
        expiry: bars after its fit bar a model may still predict (0: never expires;
            default: 2 x retrain_every walk-forward, never for a static model).
        state_dir: the run's state folder (default: paper-state inside the run folder).
        fresh: start over: delete this run's state files first (never other files).
        qcheck: seconds the bar loop sleeps at most while waiting for the next bar.
    """

    speed: float = 0.0
    bar_seconds: float | None = None
    live_start: str | None = None
    fits: str = "auto"
    fitter: str = "auto"
    fit_threads: int = 1
    ray_address: str | None = None
    expiry: int | None = None
    state_dir: str | None = None
    fresh: bool = False
    qcheck: float = 0.5

    @classmethod
    def from_dict(cls, d: dict | None, where=None) -> "LiveSettings":
        """Build from a ``[live]`` table or flag values; unknown keys suggest the closest."""
        where = where or (lambda k: f"[live] {k}")
        d = dict(d or {})
        check_known_keys(cls, d, "key", where=where)
        types, defaults = field_types(cls), field_defaults(cls)
        return cls(**{k: coerce(v, types[k], defaults[k], where=where(k)) for k, v in d.items()})

    def resolve(self, settings, where=None) -> dict:
        """Check every value against the run's settings; return the effective policy
        (``wait``, ``fitter``, ``expiry``, ``state_dir``), before any work."""
        where = where or (lambda k: f"[live] {k}")
        if not (math.isfinite(self.speed) and self.speed >= 0):
            raise SettingsError(f"{where('speed')}: expected a number >= 0, got {self.speed!r}")
        if self.bar_seconds is not None and not (
            math.isfinite(self.bar_seconds) and self.bar_seconds > 0
        ):
            raise SettingsError(
                f"{where('bar_seconds')}: expected a number > 0, got {self.bar_seconds!r}"
            )
        if not (math.isfinite(self.qcheck) and 0 <= self.qcheck <= 60):
            raise SettingsError(
                f"{where('qcheck')}: expected seconds in [0, 60], got {self.qcheck!r}"
            )
        if self.fits not in FITS:
            raise SettingsError(
                f"{where('fits')}: expected one of {list(FITS)}, got {self.fits!r}"
                f"{closest(str(self.fits), FITS)}"
            )
        if self.fitter not in ("auto",) + FITTERS:
            raise SettingsError(
                f"{where('fitter')}: expected one of {['auto', *FITTERS]}, got {self.fitter!r}"
                f"{closest(str(self.fitter), ('auto',) + FITTERS)}"
            )
        try:  # a cap (btlstm.checks.LIMITS); --allow-large lifts it
            check_cap(where("fit_threads"), self.fit_threads, "fit_threads",
                      bool(settings.output.allow_large))  # fmt: skip
        except ValueError as e:
            raise SettingsError(str(e)) from None
        if self.live_start is not None:
            try:
                pd.Timestamp(self.live_start)
            except (TypeError, ValueError):
                raise SettingsError(
                    f"{where('live_start')}: not a date: {self.live_start!r}"
                ) from None
        wait = self.fits == "wait" or (
            self.fits == "auto" and self.speed == 0 and self.bar_seconds is None
        )
        fitter = self.fitter if self.fitter != "auto" else ("inline" if wait else "process")
        if fitter == "inline" and not wait:
            raise SettingsError(
                f"{where('fitter')} = 'inline' fits inside the bar loop: it needs "
                f"{where('fits')} = 'wait'; a background run uses 'process' or 'ray'"
            )
        if self.expiry is not None and self.expiry < 0:
            raise SettingsError(f"{where('expiry')}: expected bars >= 0, got {self.expiry!r}")
        m = settings.model
        if self.expiry is None:
            expiry = 2 * m.retrain_every if m.mode == "walkforward" else None
        else:
            expiry = self.expiry or None
        if m.mode == "walkforward" and expiry is not None and expiry < m.retrain_every:
            raise SettingsError(
                f"{where('expiry')} = {expiry} bars is shorter than retrain_every = "
                f"{m.retrain_every}: every model would expire before the next one is due"
            )
        out = Path(settings.output.out) if settings.output.out is not None else None
        if self.state_dir:
            state = Path(self.state_dir)
        else:  # inside the run folder; without --out, the new run folder's (run_paper)
            state = out / PAPER_STATE if out is not None else None
        if state is not None:
            try:
                StateStore.check_folder(state, where=where("state_dir"))
            except StateError as e:
                raise SettingsError(str(e)) from None
        if state is not None and out is not None and state.resolve() == out.resolve():
            raise SettingsError(f"{where('state_dir')} must not be the output folder {str(out)!r}")
        if (  # the report replaces its folder but for its own paper-state/ subfolder
            state is not None
            and out is not None
            and folders_overlap(state, out)
            and os.path.realpath(state) != os.path.realpath(out / PAPER_STATE)
        ):
            raise SettingsError(
                f"{where('state_dir')} {str(state)!r} and the output folder {str(out)!r} "
                f"({settings.where('output', 'out')}) overlap: a report replaces its whole "
                f"folder but for its {PAPER_STATE}/ subfolder, so the state lives there (leave "
                f"{where('state_dir')} out) or apart from the output folder"
            )
        return {"wait": wait, "fitter": fitter, "expiry": expiry, "state_dir": state}


def _hash_frame(h, name: str, frame: pd.DataFrame | None) -> None:
    if frame is None:
        return
    h.update(str(name).encode())
    h.update(np.asarray(pd.DatetimeIndex(frame.index).asi8).tobytes())
    num = frame.select_dtypes(include=[np.number])
    h.update(",".join(map(str, num.columns)).encode())
    h.update(np.ascontiguousarray(num.to_numpy(dtype=np.float64)).tobytes())


class PaperRun:
    """The hooks that make :func:`~btlstm.pipeline.run_backtest` a paper run (see the
    module docstring). One object per run."""

    def __init__(self, settings, live: LiveSettings, policy: dict):
        self.settings, self.live, self.policy = settings, live, policy
        self.plan = None  # the strategy's plan (set by run_paper)
        self.state_dir: Path = policy["state_dir"]
        self.cache_dir = Path(settings.output.cache_dir or self.state_dir / "models")
        self.clock = ReplayClock(
            speed=live.speed, bar_seconds=live.bar_seconds, live_start=live.live_start
        )
        self.session = LiveSession(
            fitter=policy["fitter"],
            wait=policy["wait"],
            expiry=policy["expiry"],
            cache_dir=self.cache_dir,
            threads=live.fit_threads,
            address=live.ray_address,
            preload=tuple(get_learner(settings.model.learner).preload),
        )
        self.predictors = {FEED_PREDICTOR: self._lstm, POOLED_PREDICTOR: self._pooled}
        self.frames: dict = {}
        self.histories: list = []
        self.store: StateStore | None = None
        self.saved: dict | None = None  # the state being resumed
        self.resume_bar = -1  # the last bar done before this session (-1: none)
        self.sessions: list = []
        self.persist_ms: list = []

    # ------------------------------------------------------------------ predictors
    def _lstm(self, settings, history, cache_dir=None, progress=None) -> dict:
        self.histories.append(history)
        kw = dict(config=settings.model, history=history, cache_dir=cache_dir or self.cache_dir,
                  progress=progress, session=self.session)  # fmt: skip
        return dict(predictor=LiveLSTMPredictor, predictor_kwargs=kw)

    def _pooled(self, settings, history, cache_dir=None, progress=None) -> dict:
        if not isinstance(history, dict):
            history = {getattr(history, "attrs", {}).get("symbol") or "data": history}
        self.histories += [history[k] for k in sorted(history)]
        pool = LivePredictionPool(config=settings.model, history=history,
                                  cache_dir=cache_dir or self.cache_dir, progress=progress,
                                  session=self.session)  # fmt: skip
        return dict(pool=pool)

    # ------------------------------------------------------------------ feeds
    def feed(self, frame: pd.DataFrame, name: str, lines=()):
        """The feed factory of :func:`btlstm.bt.cerebro.make_cerebro`: a live replay feed."""
        from btlstm.bt.feeds import feed_class

        self.frames[name] = frame
        cls = feed_class(lines, base=ReplayFeed)
        return cls(dataname=frame, name=name, clock=self.clock, qcheck=self.live.qcheck)

    # ------------------------------------------------------------------ run
    def fingerprint(self) -> str:
        """The run's identity: the settings that change results, the fit policy, the data."""
        h = hashlib.sha256()
        s = self.settings.to_dict()
        s.pop("output", None)
        policy = {"wait": self.policy["wait"], "expiry": self.policy["expiry"],
                  "live_start": self.live.live_start}  # fmt: skip
        h.update(json.dumps([s, policy], sort_keys=True, default=str).encode())
        for name in self.frames:
            _hash_frame(h, name, self.frames[name])
        for k, frame in enumerate(self.histories):
            _hash_frame(h, f"history{k}", frame)
        return h.hexdigest()

    def attach(self, cerebro) -> None:
        """Open the state folder (resume or start), then add the recorder analyzer."""
        s = self.settings
        describe = {"strategy": s.strategy.name, "data": s.data.data, "out": s.output.out,
                    "fits": "wait" if self.policy["wait"] else "background"}  # fmt: skip
        self.store = StateStore(self.state_dir, self.fingerprint(), describe)
        try:
            self.saved = self.store.open(fresh=self.live.fresh)
        except StateError as e:
            raise SettingsError(str(e)) from None
        if self.saved:
            n_bars = max((len(f) for f in self.frames.values()), default=0)
            span = None
            if n_bars:
                span = (min(f.index[0] for f in self.frames.values() if len(f)),
                        max(f.index[-1] for f in self.frames.values() if len(f)))  # fmt: skip
            try:
                self.store.check_bars(self.saved, n_bars, span)
            except StateError as e:
                raise SettingsError(str(e)) from None
            bars = int(self.saved["bars_done"])
            self.resume_bar = bars - 1
            self.clock.backfill_through(self.saved["last_date"])
            self.session.resume_date = pd.Timestamp(self.saved["last_date"])
            self.session.recorded = {
                name: {v["k"]: v["swap_date"] for v in st["versions"] if v.get("swap_date")}
                for name, st in (self.saved.get("streams") or {}).items()
            }
            self.sessions = list(self.saved.get("sessions") or [])
            log.info("resuming the paper run in %s after bar %d (%s): %d bar(s) replayed "
                     "with the saved models", self.state_dir, bars, self.saved["last_date"],
                     bars)  # fmt: skip
        self.sessions.append({"started_utc": pd.Timestamp.now("UTC").isoformat(timespec="seconds"),
                              "resumed_after_bar": self.resume_bar + 1})  # fmt: skip
        cerebro.addanalyzer(LiveRecorder, _name="live", paper=self)

    def run(self, cerebro, run):
        """``run(cerebro)`` with the fitter shut down afterwards, whatever happens."""
        try:
            strat = run(cerebro)
        finally:
            self.session.close()
        last = self.store and self._state_now()
        if last is not None:
            self.store.save({**last, "finished": True})
        return strat

    # ------------------------------------------------------------------ per bar
    def _state_now(self) -> dict | None:
        return getattr(self, "_last_state", None)

    def on_bar(self, strategy) -> None:
        """After the strategy's ``next`` (its orders are out): measure, then save the state."""
        now = self.clock.timer()
        d0 = strategy.datas[0]
        n = len(d0) - 1
        dt = d0.datetime[0]
        date = bt.num2date(dt)
        day = pd.Timestamp(date)
        published = self.clock.published_at(dt)
        streams = self.session.streams
        timing = {"predict": 0.0, "fit": 0.0, "swap": 0.0}
        no_model = {}
        for name, st in streams.items():
            if st.timing_date is not None and st.timing_date == day.normalize():
                for key in timing:
                    timing[key] += st.timing[key]
                no_model[name] = bool(st.no_model)
        row = {
            "bar": n,
            "date": str(day.date()) if day == day.normalize() else str(day),
            "status": "DELAYED" if self.clock.is_backfill(dt) else "LIVE",
            "latency_ms": None if published is None else round((now - published) * 1e3, 4),
            "predict_ms": round(timing["predict"] * 1e3, 4),
            "fit_ms": round(timing["fit"] * 1e3, 4),
            "swap_ms": round(timing["swap"] * 1e3, 4),
            "feeds": len(strategy.datas),
            "versions": {name: st.version for name, st in streams.items()},
            "fit_dates": {name: st.version_date for name, st in streams.items()},
            "no_model": no_model,
            "session": len(self.sessions) - 1,
        }
        self.clock.started(dt)
        if n < self.resume_bar:
            return  # a bar of the resumed run: replayed, already journaled
        snapshot = {"strategy": strategy_snapshot(strategy), "broker": broker_snapshot(strategy)}
        snapshot = json.loads(json.dumps(snapshot))
        if n == self.resume_bar:
            diff = first_difference(self.saved.get("snapshot"), snapshot)
            if diff:
                raise StateError(
                    f"resume: after replaying bar {n} ({row['date']}) the run differs from the "
                    f"saved state ({diff}): the data or the code changed since it was saved; "
                    "start over with --fresh"
                )
            log.info("resume: bar %d (%s) replayed, bookkeeping, cash and positions match the "
                     "saved state; going on", n, row["date"])  # fmt: skip
            return
        t0 = time.perf_counter()
        self.store.append(row)
        state = {
            "format": 1,
            "bars_done": n + 1,
            "last_date": row["date"],
            "finished": False,
            "streams": {
                name: {"versions": [v.to_dict() for v in st.versions], "in_flight": st.in_flight()}
                for name, st in streams.items()
            },
            "snapshot": snapshot,
            "sessions": self.sessions,
        }
        self.store.save(state)
        self._last_state = state
        self.persist_ms.append((time.perf_counter() - t0) * 1e3)

    # ------------------------------------------------------------------ report
    def finish(self, run, strategy) -> None:
        """The report's ``live`` section and its files ``latency.csv``, ``model_versions.csv``."""
        rows = self.store.journal() if self.store else []
        table = _journal_table(rows)
        versions = []
        for name, st in self.session.streams.items():
            versions += [{"predictor": name, **v.to_dict()} for v in st.versions]
        vt = pd.DataFrame(
            versions,
            columns=["predictor", "k", "fit_date", "submitted", "swap_date", "lag_bars", "seconds", "load_seconds",
                     "cached", "path", "fitter", "error"],
        )  # fmt: skip
        run.files["latency.csv"] = table
        run.files["model_versions.csv"] = vt
        run.report["live"] = live_section(self, table, versions)
        text = no_model_warning(run.report["live"])
        if text:
            from btlstm.report.notes import add_warning, honest_notes

            add_warning(run.report, text)
            run.report["notes"] = honest_notes(run.report)  # the terminal's WARNING line


def _journal_table(rows: list[dict]) -> pd.DataFrame:
    cols = ["bar", "date", "status", "session", "feeds", "latency_ms", "predict_ms", "fit_ms",
            "swap_ms"]  # fmt: skip
    out = pd.DataFrame([{k: r.get(k) for k in cols} for r in rows], columns=cols)
    names = sorted({k for r in rows for k in (r.get("versions") or {})})
    for name in names:
        out[f"version_{name}"] = [(r.get("versions") or {}).get(name) for r in rows]
        out[f"fit_date_{name}"] = [(r.get("fit_dates") or {}).get(name) for r in rows]
    # a journal written before "no_model" existed reads False
    out["no_model"] = [any((r.get("no_model") or {}).values()) for r in rows]
    return out


def no_model_bars(table: pd.DataFrame) -> dict:
    """The bars of a paper run that traded with no active model (:attr:`LiveStream.no_model`
    of any predictor: a due fit not active yet, or an expired model), and the longest
    stretch of them.

    Returns:
        ``{bars, of, share, longest: {bars, start, end} or None}``.

    Example:
        >>> t = pd.DataFrame({"date": ["d0", "d1", "d2", "d3", "d4"],
        ...                   "no_model": [True, True, False, True, False]})
        >>> no_model_bars(t)
        {'bars': 3, 'of': 5, 'share': 0.6, 'longest': {'bars': 2, 'start': 'd0', 'end': 'd1'}}
    """
    n = int(len(table))
    flags = table["no_model"].fillna(False).astype(bool).to_numpy() if "no_model" in table else []
    count = int(np.sum(flags)) if n else 0
    longest, run_start, best = None, None, 0
    for j, flag in enumerate(list(flags) + [False]):
        if flag and run_start is None:
            run_start = j
        elif not flag and run_start is not None:
            if j - run_start > best:
                best = j - run_start
                dates = table["date"].astype(str).to_numpy()
                longest = {"bars": best, "start": str(dates[run_start]), "end": str(dates[j - 1])}
            run_start = None
    return {"bars": count, "of": n, "share": count / n if n else 0.0, "longest": longest}


def no_model_warning(live: dict) -> str | None:
    """The warning of a paper run whose bars traded with no active model (None: none did).

    Example:
        >>> no_model_warning({"no_model": {"bars": 258, "of": 560, "share": 258 / 560,
        ...     "longest": {"bars": 258, "start": "2015-01-05", "end": "2016-01-21"}}})[:73]
        '258 of 560 bars (46%) traded with no active model (fits lagged the replay'
    """
    nm = live.get("no_model") or {}
    if not nm.get("bars"):
        return None
    longest = nm.get("longest") or {}
    stretch = (
        f"; the longest stretch: {longest['bars']} bar(s), {longest['start']} .. {longest['end']}"
        if longest
        else ""
    )
    return (
        f"{nm['bars']} of {nm['of']} bars ({nm['share']:.0%}) traded with no active model "
        "(fits lagged the replay, or a model expired: lower the replay speed, --speed / "
        "[live] speed, or wait for each fit, --fits wait); the result differs from the "
        f"backtest{stretch}"
    )


def latency_summary(ms, feeds: int | None = None) -> dict:
    """Median, 99th percentile and max of per-bar latencies (ms), and per feed."""
    x = np.asarray([v for v in ms if v is not None and np.isfinite(v)], dtype=float)
    if not len(x):
        return {"bars": 0}
    out = {
        "bars": int(len(x)),
        "median_ms": float(np.median(x)),
        "p99_ms": float(np.percentile(x, 99)),
        "max_ms": float(x.max()),
    }
    if feeds:
        out.update(feeds=int(feeds), median_ms_per_feed=out["median_ms"] / feeds,
                   p99_ms_per_feed=out["p99_ms"] / feeds)  # fmt: skip
    return out


def live_section(paper: PaperRun, table: pd.DataFrame, versions: list[dict]) -> dict:
    """The ``live`` section of ``report.json`` (plain data)."""
    live = table[table["status"] == "LIVE"] if len(table) else table
    feeds = int(table["feeds"].max()) if len(table) else 0
    no_fit = live[live["fit_ms"].fillna(0) == 0] if len(live) else live
    used: dict = {}
    for col in [c for c in table.columns if c.startswith("version_")]:
        counts = table[col].dropna().astype(int).value_counts().sort_index()
        used[col[len("version_") :]] = {str(k): int(v) for k, v in counts.items()}
    fits = [v for v in versions if v.get("fitter") != "given"]
    p = paper.policy
    return {
        "feed": "ReplayFeed (recorded bars on a clock; docs/live.md for a broker feed)",
        "speed": paper.live.speed,
        "bar_seconds": paper.live.bar_seconds,
        "live_start": paper.live.live_start,
        "fits": "wait" if p["wait"] else "background",
        "fitter": paper.session.fitter.name,
        "expiry_bars": p["expiry"],
        "state_dir": str(paper.state_dir),
        "bars": int(len(table)),
        "live_bars": int(len(live)),
        "backfill_bars": int((table["status"] == "DELAYED").sum()) if len(table) else 0,
        "latency": latency_summary(live["latency_ms"] if len(live) else [], feeds),
        "latency_without_fit_bars": latency_summary(
            no_fit["latency_ms"] if len(no_fit) else [], feeds
        ),  # fmt: skip
        "predict_ms": latency_summary(live["predict_ms"] if len(live) else []),
        "persist_ms": latency_summary(paper.persist_ms),
        "fits_total": len(fits),
        "fits_in_background": sum(1 for v in fits if v["fitter"] in ("process", "ray")),
        "fits_trained": sum(1 for v in fits if v.get("cached") is False),
        "fits_from_cache": sum(1 for v in fits if v.get("cached") is True),
        "fits_failed": sum(1 for v in fits if v.get("error")),
        "model_versions": versions,
        "versions_used": used,
        "expired_bars": int(sum(st.expired_bars for st in paper.session.streams.values())),
        "no_model": no_model_bars(table),
        "sessions": paper.sessions,
        "resumed": len(paper.sessions) > 1,
        "notes": _notes(paper),
        "series": _series(table),
    }


def _notes(paper: PaperRun) -> list[str]:
    """What this paper run does differently from a live one, in words."""
    out = []
    if paper.policy["wait"]:
        out.append(
            "fits = wait: every bar waited for its due fit, so this replay gives the "
            "backtest's predictions and orders exactly; a live run uses fits = background."
        )
    plan = paper.plan
    if plan is not None and plan.scores is not None:
        out.append(
            f"The {plan.scores!r} scores were computed walk-forward for the whole replay before "
            "its first bar (each date's score from the model fitted on data known then); they "
            "are not refitted off the bar loop like the LSTM. A live run needs them computed "
            "bar by bar, which btlstm does not do yet."
        )
    return out


def _series(table: pd.DataFrame) -> dict:
    """Per-bar latency, the bars a fit was handed over and the bars a model became active
    (the latency plot; the full rows are in latency.csv)."""
    if not len(table):
        return {}
    fits = table.loc[table["fit_ms"].fillna(0) > 0, "bar"].astype(int).tolist()
    swaps = []
    for col in [c for c in table.columns if c.startswith("version_")]:
        v = pd.to_numeric(table[col], errors="coerce").to_numpy()
        prev = np.concatenate([[np.nan], v[:-1]])
        changed = np.isfinite(v) & ~(v == prev)
        swaps += table.loc[changed, "bar"].astype(int).tolist()
    lat = [None if not np.isfinite(x) else round(float(x), 3)
           for x in pd.to_numeric(table["latency_ms"], errors="coerce")]  # fmt: skip
    return {"bar": table["bar"].astype(int).tolist(), "latency_ms": lat, "fits": fits,
            "swaps": sorted(set(swaps))}  # fmt: skip


class LiveRecorder(bt.Analyzer):
    """Latency and state of a paper run, bar by bar (added by ``btlstm paper``).

    Runs after the strategy's ``next`` on every bar: the bar's latency is
    measured from its publication by the feed's clock to that moment (the
    strategy's orders are out), then the run's state is saved
    (:class:`btlstm.live.state.StateStore`).

    Params:
      - ``paper``: the :class:`PaperRun`.

    ``get_analysis()`` keys: ``bars`` (bars recorded in this session).
    """

    params = (("paper", None),)  # the PaperRun this recorder reports to

    def start(self):
        self.bars = 0

    def next(self):
        self.p.paper.on_bar(self.strategy)
        self.bars += 1

    def get_analysis(self):
        return {"bars": self.bars}


def run_paper(settings, live: LiveSettings | dict | None = None, progress=None, title=None,
              where=None):  # fmt: skip
    """Run a registered strategy as a paper run over a replay (see the module docstring).

    Args:
        settings: :class:`~btlstm.settings.Settings` (or a dict), as for ``btlstm run``.
        live: :class:`LiveSettings` or a ``[live]`` dict.
        progress: receives each :class:`~btlstm.forecast.walkforward.FitRecord`.
        title: the report's title.
        where: ``key -> how the user named it`` for ``[live]`` errors (CLI flags).

    Returns:
        :class:`btlstm.pipeline.RunResult` (``result.report["live"]`` is the live section).

    Example::

        result = run_paper({"strategy": {"name": "hold"}, "model": {"epochs": 2}},
                           {"fits": "wait"})
        result.report["live"]["latency"]
    """
    from btlstm.pipeline import _as_settings, run_backtest, run_folder

    settings = _as_settings(settings)
    plan = settings.validate()
    if not isinstance(live, LiveSettings):
        live = LiveSettings.from_dict(live, where=where)
    policy = live.resolve(settings, where=where)  # every check before the run folder is made
    with run_folder(settings, kind="paper") as settings:  # a new run folder without --out
        if policy["state_dir"] is None:
            policy["state_dir"] = Path(settings.output.out) / PAPER_STATE
        paper = PaperRun(settings, live, policy)
        paper.plan = plan
        return run_backtest(settings, progress=progress, title=title, live=paper)
