"""A hand-made mutation test of btlstm's suite: small, plausible bugs, one at a time.

Each mutant of :data:`MUTANTS` is ``(id, file, original snippet, mutated snippet,
description)``; its file's tests are in :data:`TESTS` (the module's own fast tests,
no TensorFlow training where the module does not need it). For each mutant the
harness copies the project (``git ls-files``) to a temporary folder once per job,
replaces the original snippet (found exactly once) by the mutated one in that copy,
runs ``python -m pytest -x -q`` on the module's tests there with a per-mutant
timeout, and restores the file. A mutant is *killed* when the tests fail (or time
out), *survived* when they pass. The project itself is never edited.

The copy imports its own ``btlstm`` and ``btlstm.strategies`` (a ``sitecustomize``
on ``PYTHONPATH`` maps both names to the copy, also in the subprocesses tests
start), and the unmutated tests must pass there first (the baseline).

Usage::

    python scripts/mutants.py                 # every mutant, then the kill rate and the survivors
    python scripts/mutants.py --list          # the table (id, file, description, tests)
    python scripts/mutants.py --only S1,A3    # some mutants
    python scripts/mutants.py --jobs 2        # two copies, two mutants at a time
    python scripts/mutants.py --check         # every original snippet found exactly once (no run)

``tests/test_mutants.py`` checks that the table still applies to the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import Queue

ROOT = Path(__file__).resolve().parents[1]

#: Each file's tests: pytest arguments (files, ``-k``), run from the copy's root.
#: The walk-forward tests without the ones that train an LSTM (each has a ridge twin).
_NO_LSTM = "not lstm and not planted and not ready_model and not (every_model_setting and learner)"

TESTS = {
    "schedule": ["tests/test_walkforward.py", "-k", _NO_LSTM],
    "features": ["tests/test_features.py"],
    "ashare": ["tests/test_ashare.py"],
    "broker": ["tests/test_broker.py", "tests/test_ashare.py", "tests/test_cerebro.py"],
    "rebalance": ["tests/test_rebalance.py"],
    "hold": ["tests/test_hold.py"],
    "ranker": ["tests/test_ranker_strategy.py"],
    # the rotation strategy's own tests: not the real-data run, the CLI baselines run
    # or the pooled walk-forward (the walk-forward's tests cover it)
    "rotation": ["tests/test_rotation.py", "-k",
                 "not lstm and not real_sectors and not follow_the_rotations and not pooled"],
    "metrics": ["tests/test_metrics.py"],
    "analyzers": ["tests/test_analyzers.py"],
    "walkforward": ["tests/test_walkforward.py", "-k", _NO_LSTM],
    # without the LightGBM learning test and the real-data slice (a minute between them)
    "xswalkforward": ["tests/test_ranker.py", "-k", "not planted and not real_csi300"],
    "report": ["tests/test_report.py"],
    "readers": ["tests/test_readers.py"],
}


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    original: str
    mutated: str
    description: str
    tests: str  # a key of TESTS


def _m(id, file, original, mutated, description, tests):
    return Mutant(id, file, original, mutated, description, tests)


# fmt: off
MUTANTS = [
    # ---------------------------------------------------------------- schedule.py
    _m("S1", "btlstm/forecast/schedule.py", "m = (sym.label_dates <= T) & sym.labelled",
       "m = (sym.label_dates < T) & sym.labelled",
       "a label usable on the fit date is left out", "schedule"),
    _m("S2", "btlstm/forecast/schedule.py", "li = end + self.horizon + self.embargo",
       "li = end + self.horizon", "the embargo is ignored", "schedule"),
    _m("S3", "btlstm/forecast/schedule.py", "return i - last_fit >= c.retrain_every",
       "return i - last_fit > c.retrain_every", "retrain one bar late", "schedule"),
    _m("S4", "btlstm/forecast/schedule.py", "since = cal[max(0, i - self.config.train_window + 1)]",
       "since = cal[max(0, i - self.config.train_window)]",
       "the rolling window holds one bar too many", "schedule"),
    _m("S5", "btlstm/forecast/schedule.py", "m &= sym.end_dates <= self.test_end",
       "m &= sym.end_dates < self.test_end", "test_end itself gets no prediction", "schedule"),
    _m("S6", "btlstm/forecast/schedule.py", "return pd.Timestamp(c.train_end) + pd.Timedelta(days=1)",
       "return pd.Timestamp(c.train_end)",
       "a static model predicts its own last training day", "schedule"),
    # ---------------------------------------------------------------- features.py
    _m("F1", "btlstm/forecast/features.py",
       "std = np.sqrt(np.add.reduce(d * d, axis=1, keepdims=True) / n)",
       "std = np.sqrt(np.add.reduce(d * d, axis=1, keepdims=True) / (n - 1))",
       "z-score with the sample std (ddof 1)", "features"),
    _m("F2", "btlstm/forecast/features.py", "out[:-h] = c[h:] / c[:-h] - 1.0",
       "out[:-h] = c[h - 1 : -1] / c[:-h] - 1.0", "forward return one bar short", "features"),
    _m("F3", "btlstm/forecast/features.py", "r = np.clip(r, -clip, clip)", "r = np.clip(r, None, clip)",
       "target clipped above only", "features"),
    _m("F4", "btlstm/forecast/features.py", "out[1:] = close[1:] / close[:-1] - 1.0",
       "out[:-1] = close[1:] / close[:-1] - 1.0",
       "ret1 feature reads the next bar (look-ahead)", "features"),
    _m("F5", "btlstm/forecast/features.py", 'return (cols["high"] - cols["low"]) / close',
       'return (cols["high"] - cols["low"]) / cols["open"]', "hl_range over the open", "features"),
    # ---------------------------------------------------------------- ashare.py / broker.py
    _m("A1", "btlstm/bt/ashare.py", "        if day >= start:\n            rate = sale if sell else buy",
       "        if day > start:\n            rate = sale if sell else buy",
       "a stamp-tax change applies one day late", "ashare"),
    _m("A2", "btlstm/bt/ashare.py",
       'return c["limit_growth"] if _as_date(when) >= start else c["limit"]',
       'return c["limit_growth"] if _as_date(when) > start else c["limit"]',
       "ChiNext 20% limit from the day after 2020-08-24", "ashare"),
    _m("A3", "btlstm/bt/ashare.py", 'if code.startswith(("300", "301")):',
       'if code.startswith("300"):', "ChiNext 301xxx counted as main board", "ashare"),
    _m("A4", "btlstm/bt/ashare.py", "comm = max(self.p.commission * value, self.p.min_commission)",
       "comm = min(self.p.commission * value, self.p.min_commission)",
       "the minimum commission becomes a maximum", "ashare"),
    _m("A5", "btlstm/bt/ashare.py", "return float(self.p.stamp_tax) if sell else 0.0",
       "return float(self.p.stamp_tax)", "a fixed stamp tax charged on buys too", "ashare"),
    _m("A6", "btlstm/bt/ashare.py", "n = int(abs(size)) // lot * lot",
       "n = int(round(abs(size) / lot)) * lot", "lots rounded to nearest, not down", "ashare"),
    _m("A7", "btlstm/bt/ashare.py", '        if st:\n            return c["limit_st"]\n        if board',
       '        if st and board == "main":\n            return c["limit_st"]\n        if board',
       "the filler's ST limit only on the main board", "ashare"),
    _m("A8", "btlstm/bt/ashare.py", "if order.isbuy() and move >= limit - tol:",
       "if order.isbuy() and move >= limit + tol:", "limit-up tolerance of the wrong sign",
       "ashare"),
    _m("A9", "btlstm/bt/ashare.py", "if not order.isbuy() and move <= -(limit - tol):",
       "if not order.isbuy() and move <= -limit:", "limit-down without the tolerance", "ashare"),
    _m("A10", "btlstm/bt/ashare.py", "free = max(0, self.broker.getposition(data).size - qty)",
       "free = self.broker.getposition(data).size", "T+1 sells today's purchase", "ashare"),
    _m("B1", "btlstm/bt/broker.py", "broker.set_coc(bool(coc))", "broker.set_coc(True)",
       "cheat-on-close always on", "broker"),
    _m("B2", "btlstm/bt/broker.py", "self.positions = {d: p for d, p in every.items() if p.size}",
       "self.positions = {d: p for d, p in every.items() if p.size > 0}",
       "PanelBroker values no short position", "broker"),
    # ---------------------------------------------------------------- rebalance.py
    _m("R1", "btlstm/bt/rebalance.py",
       "keep = [d for d in feeds if is_tradable(d) or strategy.getposition(d).size]",
       "keep = [d for d in feeds if is_tradable(d)]",
       "a suspended holding loses its weight slot", "rebalance"),
    _m("R2", "btlstm/bt/rebalance.py", "key=lambda d: targets[d] - current[d]",
       "key=lambda d: current[d] - targets[d]", "buys sent before sales", "rebalance"),
    _m("R3", "btlstm/bt/rebalance.py",
       "reach = (broker.getvalue(datas=[data]) + RETRY_CASH_SHARE * broker.getcash()) / value",
       "reach = (broker.getvalue(datas=[data]) + broker.getcash()) / value",
       "a resubmitted buy may spend all the cash", "rebalance"),
    _m("R4", "btlstm/bt/rebalance.py", "return value == value and value > 0", "return value != 0",
       "a NaN tradable flag counts as tradable", "rebalance"),
    _m("R5", "btlstm/bt/rebalance.py", "if data not in self.targets or n >= self.retries:",
       "if data not in self.targets or n > self.retries:", "one retry too many", "rebalance"),
    # ---------------------------------------------------------------- strategies/hold.py
    _m("H1", "strategies/hold.py", "bullish = not math.isnan(p) and p > self._threshold",
       "bullish = not math.isnan(p) and p >= self._threshold",
       "a prediction at the threshold is bullish", "hold"),
    _m("H2", "strategies/hold.py", "self._exit_bar is not None and t >= self._exit_bar:",
       "self._exit_bar is not None and t > self._exit_bar:", "exit one bar late", "hold"),
    _m("H3", "strategies/hold.py", "self._exit_bar = t + self.p.hold",
       "self._exit_bar = t + self.p.hold - 1", "hold one bar short", "hold"),
    # ---------------------------------------------------------------- strategies/ranker.py
    _m("K1", "strategies/ranker.py", "t >= f + self.p.hold - 1:", "t >= f + self.p.hold:",
       "positions held one bar too long", "ranker"),
    _m("K2", "strategies/ranker.py",
       "self.p.max_positions - (len(self.fill_bar) - selling) - n_pending_buys",
       "self.p.max_positions - len(self.fill_bar) - n_pending_buys",
       "positions being sold still count against max_positions", "ranker"),
    _m("K3", "strategies/ranker.py", "cash = (broker.getcash() + proceeds - reserved) * 0.99",
       "cash = (broker.getcash() - reserved) * 0.99", "today's sales do not fund buys", "ranker"),
    _m("K4", "strategies/ranker.py", "budget = self._frac * broker.getvalue() / self.p.n_buy",
       "budget = self._frac * broker.getvalue() / max(1, min(n, len(cand)))",
       "fewer eligible stocks than n_buy get bigger slices", "ranker"),
    _m("K5", "strategies/ranker.py", "if exclude_st and st is not None and st.array[st.idx] > 0:",
       "if exclude_st and st is not None and st.array[st.idx] > 1:",
       "ST stocks are bought", "ranker"),
    _m("K6", "strategies/ranker.py", "return g, (g == g and g > self._threshold)",
       "return g, (g != g or g > self._threshold)", "a NaN gate (warm-up) is bullish", "ranker"),
    _m("K7", "strategies/ranker.py", "cash -= size * price", "cash -= 0.0",
       "the cash of earlier buys of the bar is not reserved", "ranker"),
    # ---------------------------------------------------------------- rotation (momentum.py, rotation.py)
    _m("M1", "strategies/momentum.py", "if self.p.cash_filter and all(s < 0 for s in ok.values()):",
       "if self.p.cash_filter and any(s < 0 for s in ok.values()):",
       "cash filter fires on one negative score", "rotation"),
    _m("M2", "strategies/momentum.py",
       "weight = self.p.percent / 100.0 / len(chosen) if chosen else 0.0",
       "weight = self.p.percent / 100.0 / self.p.topk if chosen else 0.0",
       "fewer eligible sectors than k leave cash idle", "rotation"),
    _m("M3", "strategies/momentum.py", "ok = {d: s for d, s in ok.items() if is_tradable(d)}",
       "ok = dict(ok)", "untradable sectors are selected", "rotation"),
    _m("M4", "strategies/momentum.py", "out[d] = c[-1 - self.skip] / c[-1 - self.lookback] - 1.0",
       "out[d] = c[-1] / c[-1 - self.lookback] - 1.0", "12-1 momentum keeps the last month",
       "rotation"),
    _m("M5", "strategies/rotation.py", "return {d: float(self.signals[d._name][0]) for d in self.sectors}",
       "return {d: float(self.signals[d._name][-1]) for d in self.sectors}",
       "the rotation ranks on yesterday's forecast", "rotation"),
    # ---------------------------------------------------------------- metrics.py
    _m("X1", "btlstm/metrics.py", "sd = float(np.std(r, ddof=ddof))", "sd = float(np.std(r, ddof=1))",
       "Sharpe ignores ddof", "metrics"),
    _m("X2", "btlstm/metrics.py", "np.mean(np.minimum(excess, 0.0) ** 2)",
       "np.mean(np.minimum(excess[excess < 0], 0.0) ** 2)",
       "Sortino downside over the losing periods only", "metrics"),
    _m("X3", "btlstm/metrics.py", "return (1.0 + total) ** (ann / n) - 1.0",
       "return (1.0 + total) ** (n / ann) - 1.0", "annualising exponent inverted", "metrics"),
    _m("X4", "btlstm/metrics.py", 'out["alpha"] = (float(rp.mean()) - b * float(rb.mean())) * ann',
       'out["alpha"] = (float(rp.mean()) - float(rb.mean())) * ann', "alpha without beta",
       "metrics"),
    _m("X5", "btlstm/metrics.py", "prev.iloc[0] = v.iloc[0]", "prev.iloc[0] = ends.iloc[0]",
       "the first year's return is measured from its own end", "metrics"),
    _m("X6", "btlstm/metrics.py", "std = float(np.std(x, ddof=1))", "std = float(np.std(x, ddof=0))",
       "ICIR with the population std", "metrics"),
    _m("X7", "btlstm/metrics.py", "nonzero = (p != 0.0) & (r != 0.0)", "nonzero = p != 0.0",
       "hit rate counts zero returns as misses", "metrics"),
    _m("X8", "btlstm/metrics.py", "peak = np.fmax.accumulate(np.where(ok, v, np.nan))",
       "peak = np.maximum.accumulate(np.where(ok, v, np.nan))",
       "a NaN value resets the drawdown peak", "metrics"),
    # ---------------------------------------------------------------- analyzers.py
    _m("N1", "btlstm/bt/analyzers.py", "realised[~np.asarray(flags, dtype=bool)] = np.nan",
       "pass", "untradable bars are scored", "analyzers"),
    _m("N2", "btlstm/bt/analyzers.py", "longs = p > self.p.threshold", "longs = p >= self.p.threshold",
       "long calls include the threshold", "analyzers"),
    _m("N3", "btlstm/bt/analyzers.py", 'rets["turnover"] = traded / mean_value if n and mean_value else _NAN',
       'rets["turnover"] = traded / values[0] if n and mean_value else _NAN',
       "turnover over the first value", "analyzers"),
    _m("N4", "btlstm/bt/analyzers.py", 'rets["n_rejected"] = u["Margin"] + u["Rejected"]',
       'rets["n_rejected"] = u["Rejected"]', "Margin refusals not counted", "analyzers"),
    _m("N5", "btlstm/bt/analyzers.py", "            if size:\n                invested = True",
       "            if size > 0:\n                invested = True",
       "a short position counts as out of the market", "analyzers"),
    _m("N6", "btlstm/bt/analyzers.py", "row.update(size=size, price=price, value=size * price,",
       "row.update(size=size, price=price, value=size * float(order.created.price),",
       "an order's value at the signal price, not the fill price", "analyzers"),
    # ---------------------------------------------------------------- walkforward.py / xswalkforward.py
    _m("W1", "btlstm/forecast/walkforward.py", 'order = np.argsort(d, kind="stable")',
       "order = np.arange(len(d))",
       "a panel's validation slice is the last symbol, not the latest dates", "walkforward"),
    _m("W2", "btlstm/forecast/walkforward.py", "return X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]",
       "return X, y, X[-n_val:], y[-n_val:]", "validation windows also trained on",
       "walkforward"),
    _m("W3", "btlstm/forecast/walkforward.py", 'cfg.pop("test_end", None)',
       'cfg.pop("test_end", None)\n        cfg.pop("validation_fraction", None)',
       "the cache key forgets validation_fraction", "walkforward"),
    _m("W4", "btlstm/forecast/walkforward.py", "if known < cfg.min_train:", "if known < cfg.min_train - 1:",
       "a first fit one sample short of min_train passes silently", "walkforward"),
    _m("Y1", "btlstm/forecast/xswalkforward.py", "valid = has_x & np.isfinite(label.to_numpy())",
       "valid = has_x", "rows without a label count as valid", "xswalkforward"),
    _m("Y2", "btlstm/forecast/xswalkforward.py",
       "rows = np.flatnonzero(scatter([sched.predicts(s, seg) for s in syms]) & p.has_x)",
       "rows = np.flatnonzero(scatter([sched.predicts(s, seg) for s in syms]))",
       "rows without a finite feature get a score", "xswalkforward"),
    # ---------------------------------------------------------------- report/collect.py, summary.py
    _m("C1", "btlstm/summary.py", 'number(lookup(drawdown, "max", "drawdown")) / 100.0',
       'number(lookup(drawdown, "max", "drawdown"))', "max drawdown in percent", "report"),
    _m("C2", "btlstm/summary.py", '"n_trades": count(trades, "total", "closed")',
       '"n_trades": count(trades, "total", "total")', "open trades counted", "report"),
    _m("C3", "btlstm/report/collect.py",
       '"warnings": warnings + [str(w) for w in meta.get("warnings") or []]',
       '"warnings": warnings', "the caller's warnings are dropped", "report"),
    _m("C4", "btlstm/report/collect.py",
       'benchmark = type(strategy).__name__ == "BuyAndHold" and bench.get("from_closes", True)',
       'benchmark = type(strategy).__name__ == "BuyAndHold"',
       "a second buy-and-hold replaces the benchmark", "report"),
    _m("C5", "btlstm/report/collect.py", 'if any(r.get("name") == name for r in rows):',
       "if False:", "duplicate comparison names accepted", "report"),
    # ---------------------------------------------------------------- data/_csv.py, readers.py
    _m("D1", "btlstm/data/_csv.py", "keep &= np.asarray(dates <= end)",
       "keep &= np.asarray(dates < end)", "the end date is exclusive", "readers"),
    _m("D2", "btlstm/data/_csv.py", "keep &= np.asarray(dates >= start)",
       "keep &= np.asarray(dates > start)", "the start date is exclusive", "readers"),
    _m("D3", "btlstm/data/_csv.py", "if len(found) > 1:", "if len(found) > 2:",
       "dates that read in two formats are read month-first silently", "readers"),
    _m("D4", "btlstm/data/readers.py", "first_line=2 if r.header_line else 1,",
       "first_line=1,", "a bad date's file line is off by one", "readers"),
    _m("D5", "btlstm/data/_csv.py", "cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1",
       "cuts = np.flatnonzero(keys[1:] != keys[:-1])",
       "a long file's symbols shifted by one row", "readers"),
    _m("D6", "btlstm/data/readers.py", 'return "," if comma > point else "."',
       'return "," if comma >= point else "."', "integer-only files read with a decimal comma",
       "readers"),
]
# fmt: on


# --------------------------------------------------------------------------- the copy
_SITE = textwrap.dedent(
    """
    # written by scripts/mutants.py: import btlstm and btlstm.strategies from this copy
    import importlib.util
    import os
    import sys

    _ROOT = os.environ.get("BTLSTM_MUTANT_ROOT")


    class _CopyFinder:
        @classmethod
        def find_spec(cls, name, path=None, target=None):
            folder = {"btlstm": "btlstm", "btlstm.strategies": "strategies"}.get(name)
            if not _ROOT or folder is None:
                return None
            where = os.path.join(_ROOT, folder)
            return importlib.util.spec_from_file_location(
                name, os.path.join(where, "__init__.py"), submodule_search_locations=[where]
            )


    if _ROOT:
        sys.meta_path.insert(0, _CopyFinder)
    """
)


def tracked_files(root: Path = ROOT) -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [f for f in out.splitlines() if (root / f).is_file()]


def make_copy(dest: Path, files: list[str]) -> None:
    for f in files:
        target = dest / f
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, target)
    boot = dest / ".mutant-boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text(_SITE)


def environment(copy: Path) -> dict:
    env = dict(os.environ)
    data = env.get("BTLSTM_DATA") or str(ROOT.parent / "shared" / "data")
    env["BTLSTM_DATA"] = str((ROOT / data).resolve()) if not os.path.isabs(data) else data
    env["BTLSTM_MUTANT_ROOT"] = str(copy)
    env["PYTHONPATH"] = os.pathsep.join([str(copy / ".mutant-boot"), env.get("PYTHONPATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.setdefault("MPLBACKEND", "Agg")
    return env


def run_tests(copy: Path, key: str, timeout: float) -> tuple[str, float, str]:
    """``("passed" | "failed" | "timeout", seconds, last lines)`` of ``TESTS[key]`` in ``copy``."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-m", "not slow", *TESTS[key]]  # fmt: skip
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=copy, env=environment(copy), capture_output=True,
                             text=True, timeout=timeout)  # fmt: skip
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, ""
    tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-3:])
    return ("passed" if res.returncode == 0 else "failed"), time.perf_counter() - t0, tail


# --------------------------------------------------------------------------- one mutant
def problems(mutants=None, root: Path = ROOT) -> list[str]:
    """What keeps mutants from applying: an original snippet not found exactly once,
    a mutant equal to its original, an unknown test key or a repeated id."""
    out, seen = [], set()
    for m in MUTANTS if mutants is None else mutants:
        if m.id in seen:
            out.append(f"{m.id}: the id is used twice")
        seen.add(m.id)
        if m.tests not in TESTS:
            out.append(f"{m.id}: unknown tests {m.tests!r}")
        if m.original == m.mutated:
            out.append(f"{m.id}: the mutant equals the original")
        path = root / m.file
        if not path.is_file():
            out.append(f"{m.id}: {m.file} does not exist")
            continue
        n = path.read_text(encoding="utf-8").count(m.original)
        if n != 1:
            out.append(f"{m.id}: the original snippet is found {n} times in {m.file}")
    return out


def apply(m: Mutant, copy: Path) -> tuple[Path, str, tuple[int, int]]:
    """Write the mutant into ``copy``; returns what :func:`restore` needs."""
    path = copy / m.file
    text = path.read_text(encoding="utf-8")
    assert text.count(m.original) == 1, m.id
    st = path.stat()
    path.write_text(text.replace(m.original, m.mutated), encoding="utf-8")
    # a distinct mtime, so no bytecode cached for another version is ever reused
    stamp = st.st_mtime_ns + (1 + MUTANTS.index(m)) * 1_000_000_000_000
    os.utime(path, ns=(stamp, stamp))
    return path, text, (st.st_atime_ns, st.st_mtime_ns)


def restore(path: Path, text: str, times: tuple[int, int]) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=times)


def run_mutant(m: Mutant, copy: Path, timeout: float) -> dict:
    saved = apply(m, copy)
    try:
        status, seconds, tail = run_tests(copy, m.tests, timeout)
    finally:
        restore(*saved)
    killed = status != "passed"
    return {"mutant": m, "killed": killed, "status": status, "seconds": seconds, "tail": tail}


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--list", action="store_true", help="print the mutant table and exit")
    ap.add_argument("--check", action="store_true", help="check the table applies, run nothing")
    ap.add_argument("--only", default=None, help="comma-separated mutant ids")
    ap.add_argument("--jobs", type=int, default=1, help="copies run side by side (default 1)")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per mutant's tests")
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmutated test run")
    args = ap.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        ids = [i.strip() for i in args.only.split(",") if i.strip()]
        unknown = [i for i in ids if i not in {m.id for m in MUTANTS}]
        if unknown:
            print(f"mutants: unknown id(s) {unknown}", file=sys.stderr)
            return 2
        mutants = [m for m in MUTANTS if m.id in ids]
    if args.list:
        for m in mutants:
            print(f"{m.id:4} {m.file:28} {m.description}  [{' '.join(TESTS[m.tests])}]")
        print(f"{len(mutants)} mutants")
        return 0
    bad = problems(mutants)
    if bad:
        print("the mutant table does not apply:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 2
    if args.check:
        print(f"{len(mutants)} mutants apply")
        return 0

    files = tracked_files()
    jobs = max(1, args.jobs)
    with tempfile.TemporaryDirectory(prefix="btlstm-mutants-") as tmp:
        copies: Queue = Queue()
        for j in range(jobs):
            dest = Path(tmp) / f"copy{j}"
            make_copy(dest, files)
            copies.put(dest)
        if not args.no_baseline:
            probe = copies.get()
            check = subprocess.run(
                [sys.executable, "-c", "import btlstm, btlstm.strategies as s; "
                 "print(btlstm.__file__); print(s.__file__)"],
                cwd=probe, env=environment(probe), capture_output=True, text=True,
            )  # fmt: skip
            where = check.stdout.split()
            if check.returncode or not all(w.startswith(str(probe)) for w in where):
                print(f"the copy does not import its own code: {check.stdout}{check.stderr}")
                return 2
            for key in sorted({m.tests for m in mutants}):
                status, seconds, tail = run_tests(probe, key, args.timeout)
                print(f"baseline {key:14} {status} in {seconds:5.1f}s", flush=True)
                if status != "passed":
                    print(f"the unmutated tests do not pass ({key}):\n{tail}")
                    return 2
            copies.put(probe)

        def one(m: Mutant) -> dict:
            copy = copies.get()
            try:
                r = run_mutant(m, copy, args.timeout)
            finally:
                copies.put(copy)
            word = "killed  " if r["killed"] else "SURVIVED"
            print(f"{m.id:4} {word} {r['status']:8} {r['seconds']:6.1f}s  {m.file}: "
                  f"{m.description}", flush=True)  # fmt: skip
            return r

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(one, mutants))
        wall = time.perf_counter() - t0

    killed = sum(r["killed"] for r in results)
    n = len(results)
    print(f"\n{killed}/{n} mutants killed ({100.0 * killed / n:.1f}%) in {wall:.0f}s")
    survivors = [r["mutant"] for r in results if not r["killed"]]
    if survivors:
        print("survivors:")
        for m in survivors:
            print(f"  {m.id:4} {m.file}: {m.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
