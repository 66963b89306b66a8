"""``btlstm check lookahead``: rewrite the future of a run's data, show nothing before it changed.

The proof btlstm's own tests run on its features, predictors and strategies,
run on a user's configuration (:func:`check_lookahead`) or a user's cerebro
script (:func:`check_cerebro`):

1. one ordinary run (the **base**) over the data as given, its fits written
   into the model cache (the run's ``[output] cache_dir``, else a temporary
   folder);
2. ``cuts`` cut dates spread over the test period; for each, a **perturbed**
   copy of every feed (the strategy's data and its extra feeds) where every bar
   AFTER the cut is rewritten: open, high, low, close (and adj_close) multiplied
   by one random factor path (so OHLC stays consistent), volume and amount by
   independent random factors; the copy ends ``after`` bars past the cut (the
   bars a leak must read to be caught are there; the fits later in the test
   period, which nothing at or before the cut may use, are not trained);
3. the run again on the perturbed copy (fits at or before the cut load from the
   cache: their data up to their date is unchanged), and a comparison, at every
   bar at or before the cut, of (a) each feature the run uses, per feed, (b) the
   predictions (the ``prediction`` analyzer's records, a scorer's scores and every
   line of every indicator of the strategy) and (c) the orders the strategy
   placed (date, feed, side, size, price as created; fills after the cut may
   legitimately differ).

The first value that changed at or before a cut is a leak: the report names the
stage, the feature or line, the feed and the bar's date. Docs: docs/lookahead.md.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from btlstm.errors import SettingsError

__all__ = ["check_lookahead", "check_cerebro", "load_script", "LookaheadResult", "Cut",
           "perturb_after", "cut_dates", "MAX_CUTS", "PlacedOrders"]  # noqa: F822 (module __getattr__)  # fmt: skip

log = logging.getLogger("btlstm.lookahead")

#: Most cut points one check may ask for (each is one more run).
MAX_CUTS = 50
#: Tolerances of the comparisons: features and orders are recomputed exactly;
#: predictions may differ in the last bits when a model predicts a batch of another size.
FEATURE_RTOL, PREDICTION_RTOL, PREDICTION_ATOL = 1e-12, 1e-6, 1e-7


# --------------------------------------------------------------------------- the data
def perturb_after(frame: pd.DataFrame, t, rng, end=None) -> pd.DataFrame:
    """A copy of ``frame`` whose bars after date ``t`` are rewritten; bars up to ``t`` are
    kept unchanged. ``end``: the copy stops at that date (None: every bar).

    Prices (open, high, low, close, adj_close) are multiplied by one random factor path
    (a random walk of log-steps N(0, 0.2)), so ``high >= max(open, close)`` and
    ``low <= min(open, close)`` still hold; volume and amount by independent factors in
    [0.1, 10]. The first rewritten bar REVERSES the direction of the original move from
    bar ``t`` (close and volume), by at least twice its size: a rule that reads the next
    bar's direction (``close[1] > close[0]``) is then sure to decide otherwise."""
    f = frame.copy()
    if end is not None:
        f = f.loc[f.index <= pd.Timestamp(end)].copy()
    f.attrs = dict(frame.attrs)
    after = f.index > pd.Timestamp(t)
    k = int(after.sum())
    if not k:
        return f
    j = int(np.argmax(after))  # the first rewritten bar

    def reverse(col):  # log-factor of the first bar: flips the move from bar j-1 to j
        if col not in f.columns or j == 0:
            return None
        x = f[col].to_numpy(np.float64)
        if not (x[j - 1] > 0 and x[j] > 0):
            return None
        r = math.log(x[j] / x[j - 1])
        u = max(rng.uniform(0.1, 0.3), 2 * abs(r) + 0.01)
        return -u if r >= 0 else u

    steps = rng.normal(0.0, 0.2, k)
    first = reverse("close")
    if first is not None:
        steps[0] = first
    fac = np.exp(np.cumsum(steps))
    for col in ("open", "high", "low", "close", "adj_close"):
        if col in f.columns:
            f[col] = f[col].astype(np.float64)
            f.loc[after, col] = f.loc[after, col].to_numpy() * fac
    for col in ("volume", "amount"):
        if col in f.columns:
            vf = rng.uniform(0.1, 10.0, k)
            first = reverse(col)
            if first is not None:
                vf[0] = math.exp(first) if abs(first) > 0.2 else (0.5 if first < 0 else 2.0)
            f[col] = f[col].astype(np.float64)
            f.loc[after, col] = f.loc[after, col].to_numpy() * vf
    return f


def cut_dates(dates, cuts: int, after: int, where: str = "--cuts") -> list:
    """``cuts`` dates spread evenly over ``dates`` (the test period's bars), each at least
    ``after`` bars before its end; a :class:`SettingsError` when there is no room."""
    dates = pd.DatetimeIndex(dates)
    room = len(dates) - after
    if isinstance(cuts, bool) or not isinstance(cuts, int) or not 1 <= cuts <= MAX_CUTS:
        raise SettingsError(f"{where} must be a whole number from 1 to {MAX_CUTS}, got {cuts!r}")
    if room < cuts:
        raise SettingsError(
            f"{where} {cuts}: the test period has {len(dates)} bars, room for at most "
            f"{max(room, 0)} cut(s) that each keep {after} perturbed bars after them "
            f"(a smaller {where}, a smaller --after, or a longer test period)"
        )
    pos = sorted({int(round(x)) for x in np.linspace(0, room - 1, cuts + 2)[1:-1]})
    if len(pos) < cuts:  # very short periods: the first `cuts` bars
        pos = list(range(cuts))
    return [dates[p] for p in pos]


# --------------------------------------------------------------------------- recording
def _placed_orders_class():
    import backtrader as bt

    class PlacedOrders(bt.Analyzer):
        """Every order as the strategy placed it (one row at its first notification).

        Params: none. ``get_analysis()["orders"]``: dicts ``date`` (bar it was
        created on), ``symbol``, ``side``, ``size`` and ``price`` as created
        (``order.created``), ``exectype``. Fills are not recorded: they happen on
        later bars.
        """

        def start(self):
            self._seen = set()
            self.rets["orders"] = []

        def notify_order(self, order):
            if order.ref in self._seen:
                return
            self._seen.add(order.ref)
            from btlstm.bt.analyzers import _symbol

            self.rets["orders"].append(
                {
                    "date": pd.Timestamp(bt.num2date(order.created.dt).date()),
                    "symbol": _symbol(self.strategy, order.data),
                    "side": "buy" if order.isbuy() else "sell",
                    "size": float(order.created.size),
                    "price": float(order.created.price or math.nan),
                    "exectype": int(order.exectype or 0),
                }
            )

    return PlacedOrders


def __getattr__(name):  # PlacedOrders is built on first use (Backtrader loads lazily)
    if name == "PlacedOrders":
        return _placed_orders_class()
    raise AttributeError(name)


def _clock_dates(obj):
    """``(dates, feed)`` of the data feed that clocks an indicator (None when none is found):
    its clock, the clock's clock ... or the owner of a line given as its data."""
    import backtrader as bt

    clk = obj
    for _ in range(20):
        if clk is None or isinstance(clk, bt.AbstractDataBase):
            break
        nxt = getattr(clk, "_clock", None)
        if nxt is None or nxt is clk:
            nxt = getattr(clk, "_owner", None)
        clk = nxt
    if not isinstance(clk, bt.AbstractDataBase):
        return None
    return pd.DatetimeIndex([bt.num2date(x) for x in clk.datetime.array]).normalize(), clk


def _indicator_lines(strat) -> dict:
    """``{(line name, feed): Series by date}`` of every line of every indicator of ``strat``."""
    out = {}
    for ind in strat.getindicators():
        got = _clock_dates(ind)
        if got is None:
            continue
        dates, clk = got
        owner = type(ind).__name__
        for i, alias in enumerate(ind.lines.getlinealiases()):
            arr = np.asarray(ind.lines[i].array, dtype=float)
            if len(arr) != len(dates):
                continue
            key = (f"{owner}.{alias}", str(getattr(clk, "_name", "") or "data0"))
            while key in out:
                key = (key[0] + "'", key[1])
            out[key] = pd.Series(arr, index=dates)
    return out


def _predictions(strat) -> dict:
    """``{("prediction", feed): Series by date}`` from the ``prediction`` analyzer."""
    an = getattr(strat.analyzers, "prediction", None)
    if an is None:
        return {}
    recs = an.get_analysis().get("records") or []
    out: dict = {}
    for r in recs:
        out.setdefault(str(r.get("symbol")), {})[pd.Timestamp(r["date"]).normalize()] = float(
            r["prediction"] if r.get("prediction") is not None else math.nan
        )
    return {("prediction", k): pd.Series(v).sort_index() for k, v in out.items()}


def _features(frames: dict, names) -> dict:
    """``{(feature, feed): Series by date}`` of each named feature on each frame."""
    from btlstm.forecast.features import feature_matrix

    out = {}
    for sym, f in frames.items():
        for name in names:
            try:
                col = feature_matrix(f, (name,))[:, 0]
            except (KeyError, ValueError):
                continue  # a feature this feed has no column for (the run refuses it itself)
            out[(name, str(sym))] = pd.Series(col, index=pd.DatetimeIndex(f.index).normalize())
    return out


@dataclass
class _Run:
    """What one run gives the comparison."""

    features: dict
    predictions: dict
    orders: list
    seconds: float
    fits: list = field(default_factory=list)


# --------------------------------------------------------------------------- comparison
def _first_diff(base: dict, other: dict, cut, rtol: float, atol: float = 0.0):
    """``(date, name, feed, before, after)`` of the first value at or before ``cut`` that
    differs between two ``{(name, feed): Series}``, or None."""
    first = None
    cut = pd.Timestamp(cut)
    for key, a in base.items():
        a = a.loc[a.index <= cut]
        b = other.get(key)
        if b is None:
            if len(a):
                cand = (a.index[0], key[0], key[1], float(a.iloc[0]), math.nan)
                first = cand if first is None or cand[0] < first[0] else first
            continue
        b = b.loc[b.index <= cut].reindex(a.index)
        x, y = a.to_numpy(float), b.to_numpy(float)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        with np.errstate(invalid="ignore"):
            same |= np.isclose(x, y, rtol=rtol, atol=atol)
        bad = np.flatnonzero(~same)
        if len(bad):
            j = bad[0]
            cand = (a.index[j], key[0], key[1], float(x[j]), float(y[j]))
            if first is None or cand[0] < first[0]:
                first = cand
    for key, b in other.items():  # a value the base run does not have
        if key not in base:
            b = b.loc[b.index <= cut].dropna()
            if len(b):
                cand = (b.index[0], key[0], key[1], math.nan, float(b.iloc[0]))
                first = cand if first is None or cand[0] < first[0] else first
    return first


def _order_key(o: dict) -> tuple:
    price = o["price"]
    return (o["date"], o["symbol"], o["side"], round(o["size"], 9),
            None if not np.isfinite(price) else float(f"{price:.10g}"), o["exectype"])  # fmt: skip


def _first_order_diff(base: list, other: list, cut):
    """``(date, text)`` of the first order placed at or before ``cut`` that one run placed
    and the other did not (or placed with another size or price), or None."""
    cut = pd.Timestamp(cut)
    a = sorted((_order_key(o) for o in base if o["date"] <= cut), key=str)
    b = sorted((_order_key(o) for o in other if o["date"] <= cut), key=str)
    if a == b:
        return None
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    cands = [(k, "base") for k in only_a] + [(k, "perturbed") for k in only_b]
    k, who = min(cands, key=lambda c: (c[0][0], _who_rank(c[1])))
    price = "market" if k[4] is None else f"{k[4]:.6g}"
    text = f"{k[2]} {abs(k[3]):g} {k[1]} @ {price} ({who} run only)"
    return k[0], text


def _who_rank(who: str) -> int:
    return 0 if who == "base" else 1


@dataclass
class Cut:
    """One cut's verdict: the first change of each stage at or before ``date`` (None: none)."""

    date: pd.Timestamp
    feature: tuple | None
    prediction: tuple | None
    order: tuple | None
    n_orders: int
    n_bars: int
    fits_cached: int
    fits_trained: int
    seconds: float

    @property
    def leak(self) -> bool:
        return any(x is not None for x in (self.feature, self.prediction, self.order))

    def to_dict(self) -> dict:
        def one(x, keys):
            return None if x is None else {k: _plain(v) for k, v in zip(keys, x)}

        keys = ("date", "name", "feed", "base", "perturbed")
        return dict(
            cut=str(self.date.date()), leak=self.leak,
            feature=one(self.feature, keys), prediction=one(self.prediction, keys),
            order=one(self.order, ("date", "detail")), orders_compared=self.n_orders,
            bars_compared=self.n_bars, fits_from_cache=self.fits_cached,
            fits_trained=self.fits_trained, seconds=round(self.seconds, 2),
        )  # fmt: skip


def _plain(v):
    if isinstance(v, pd.Timestamp):
        return str(v.date())
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


@dataclass
class LookaheadResult:
    """What :func:`check_lookahead` returns.

    Attributes:
        cuts: one :class:`Cut` per cut date.
        base_seconds: the unperturbed run's time; ``seconds``: the whole check's.
        features: the feature names compared; ``lines``: the prediction lines compared.
        notes: what the check did not cover (said, not hidden).
    """

    cuts: list
    base_seconds: float
    seconds: float
    features: list
    lines: list
    after: int
    notes: list = field(default_factory=list)

    @property
    def leak(self) -> bool:
        return any(c.leak for c in self.cuts)

    @property
    def exit_code(self) -> int:
        return 1 if self.leak else 0

    def to_dict(self) -> dict:
        return dict(
            leak=self.leak, cuts=[c.to_dict() for c in self.cuts], after=self.after,
            features=self.features, lines=self.lines, base_seconds=round(self.base_seconds, 2),
            seconds=round(self.seconds, 2),
            cost=round(self.seconds / self.base_seconds, 2) if self.base_seconds else None,
            notes=self.notes,
        )  # fmt: skip

    def table(self) -> str:
        """The per-cut table (one line a cut) and a verdict line."""

        def cell(x, ok):
            if x is None:
                return ok
            return f"LEAK {x[1]} [{x[2]}] {x[0].date()}"

        rows = [("cut", "features", "predictions", "orders", "fits cached/trained")]
        for c in self.cuts:
            rows.append(
                (
                    str(c.date.date()),
                    cell(c.feature, f"same ({len(self.features)})" if self.features else "none"),
                    cell(c.prediction, f"same ({c.n_bars} bars)" if self.lines else "none"),
                    "same" + f" ({c.n_orders})"
                    if c.order is None
                    else f"LEAK {c.order[0].date()} {c.order[1]}",
                    f"{c.fits_cached}/{c.fits_trained}",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]
        n = len(self.cuts)
        cost = self.seconds / self.base_seconds if self.base_seconds else math.nan
        verdict = (
            f"LEAK at {sum(c.leak for c in self.cuts)} of {n} cut(s): a value at or before "
            "the cut changed when only later bars did"
            if self.leak
            else f"clean: nothing at or before any of {n} cut(s) changed"
        )
        lines.append(
            f"{verdict}; {self.seconds:.1f}s = {cost:.1f}x the base run ({self.base_seconds:.1f}s)"
        )
        lines += [f"note: {t}" for t in self.notes]
        return "\n".join(lines)


# --------------------------------------------------------------------------- a config
def _run_once(settings, plan, bars, frames_for_features) -> _Run:
    """Steps 4-8 of :func:`btlstm.pipeline.run_backtest` on ``bars``, recording what the
    comparison needs (no report, no baselines)."""
    from btlstm import pipeline as p

    t0 = time.perf_counter()
    features = _features(frames_for_features, settings.model.features)
    p._split_bars(settings, plan, bars)
    fits = p._Fits(None)
    scored, lines = p._score(settings, plan, bars, fits)
    params = p._strategy_params(settings, plan, bars, fits, None, None)
    cerebro = p._make_cerebro(settings, plan, bars, lines, None, p._analyzers(settings, plan, bars))
    cerebro.addanalyzer(_placed_orders_class(), _name="placed")
    cerebro.addstrategy(plan.strategy, **params)
    strat = p._run_strategy(settings, plan, cerebro, None, plan.predictor is not None)
    preds = {**_predictions(strat), **_indicator_lines(strat)}
    if scored is not None:
        s = scored["scores"]
        for col in s.columns:
            preds[("score", str(col))] = pd.Series(
                s[col].to_numpy(float), index=pd.DatetimeIndex(s.index).normalize()
            )
    return _Run(features, preds, list(strat.analyzers.placed.get_analysis()["orders"]),
                time.perf_counter() - t0, list(fits.records))  # fmt: skip


def check_lookahead(settings, data=None, cuts: int = 5, after: int | None = None,
                    seed: int = 0, where=None) -> LookaheadResult:  # fmt: skip
    """Run the look-ahead check on a run's settings (module docstring).

    Args:
        settings: :class:`~btlstm.settings.Settings` or a dict in the TOML layout.
        data: in-memory prices instead of ``[data] data`` (as ``run_backtest(data=...)``).
        cuts: how many cut dates, spread over the test period (1 to :data:`MAX_CUTS`).
        after: perturbed bars kept after each cut (default ``max(2 * horizon, 10)``).
        seed: seed of the random rewrite.
        where: ``{"cuts": "--cuts", "after": "--after"}``: the names errors use.

    Returns:
        :class:`LookaheadResult` (``exit_code`` 1 on a leak, else 0).

    Raises:
        SettingsError, DataError: bad settings, cuts or data, before any run.
    """
    from btlstm import pipeline as p

    where = {"cuts": "cuts", "after": "after", **(where or {})}
    t_all = time.perf_counter()
    settings = p._in_memory(p._as_settings(settings), data)
    plan = settings.validate(in_memory=data is not None)
    if after is None:
        after = max(2 * settings.model.horizon, 10)
    if isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= 10_000:
        raise SettingsError(
            f"{where['after']} must be a whole number from 1 to 10000, got {after!r}"
        )
    if isinstance(cuts, bool) or not isinstance(cuts, int) or not 1 <= cuts <= MAX_CUTS:
        raise SettingsError(
            f"{where['cuts']} must be a whole number from 1 to {MAX_CUTS}, got {cuts!r}"
        )
    notes = []
    if getattr(settings.output, "seeds", None):
        notes.append(f"{settings.where('output', 'seeds')} is not used: the check runs one "
                     f"seed ({settings.where('model', 'seed')} = {settings.model.seed})")
    with tempfile.TemporaryDirectory(prefix="btlstm-lookahead-") as tmp:
        out = settings.output
        if not out.cache_dir:
            out = dataclasses.replace(out, cache_dir=tmp)
            notes.append("no [output] cache_dir: the fits were cached in a temporary folder")
        settings = settings.replace(output=out)
        settings, bars = p._load(settings, plan, data)
        warnings, _ = p._check(settings, plan, bars)  # bad data: one error before any fit
        for text in warnings:  # what a run would warn of, the check says too
            log.warning("WARNING: %s", text)
        first = next(iter(bars.frames.values()))
        test = first.index
        if settings.model.test_start is not None:
            test = test[test >= pd.Timestamp(settings.model.test_start)]
        if settings.model.test_end not in (None, "end"):
            test = test[test <= pd.Timestamp(settings.model.test_end)]
        dates = cut_dates(test, cuts, after, where["cuts"])
        log.info("look-ahead check: base run ...")
        base = _run_once(settings, plan, copy.deepcopy(bars), bars.frames)
        rng = np.random.default_rng(seed)
        results = []
        for c in dates:
            i = test.get_loc(c)
            end = test[min(i + after, len(test) - 1)]
            pb = copy.deepcopy(bars)
            pb.frames = {k: perturb_after(f, c, rng, end) for k, f in bars.frames.items()}
            pb.extra = {k: perturb_after(f, c, rng, end) for k, f in bars.extra.items()}
            model = dataclasses.replace(settings.model, test_end=str(end.date()))
            s = settings.replace(model=model)
            log.info("look-ahead check: cut %s (rewritten after it, to %s)", c.date(), end.date())
            run = _run_once(s, plan, pb, pb.frames)
            feat = _first_diff(base.features, run.features, c, FEATURE_RTOL)
            pred = _first_diff(base.predictions, run.predictions, c, PREDICTION_RTOL,
                               PREDICTION_ATOL)  # fmt: skip
            order = _first_order_diff(base.orders, run.orders, c)
            n_bars = int(test.get_loc(c)) + 1
            results.append(Cut(
                c, feat, pred, order, sum(o["date"] <= c for o in base.orders), n_bars,
                sum(bool(r.cached) for r in run.fits), sum(not r.cached for r in run.fits),
                run.seconds,
            ))  # fmt: skip
    lines = sorted({k[0] for k in base.predictions})
    if not lines:
        notes.append("the strategy has no prediction, score or indicator line: orders only")
    notes.append(
        f"each cut keeps {after} perturbed bars after it (--after); baselines and the report "
        "are not run"
    )
    return LookaheadResult(results, base.seconds, time.perf_counter() - t_all,
                           list(settings.model.features), lines, after, notes)  # fmt: skip


# --------------------------------------------------------------------------- a script
def load_script(path):
    """Import the user's script file ``path`` (``btlstm check cerebro FILE``) as a module;
    a :class:`SettingsError` naming the file when it is missing or its import raises."""
    import importlib.util
    from pathlib import Path

    p = Path(path).expanduser()
    if p.suffix != ".py":
        raise SettingsError(f"btlstm check cerebro: {str(path)!r} is not a .py file")
    if not p.is_file():
        raise SettingsError(f"btlstm check cerebro: no such file {str(path)!r}")
    import sys

    name = f"btlstm_user_script_{p.stem}"
    spec = importlib.util.spec_from_file_location(name, p)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # Backtrader looks its classes' modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: one line naming the file
        sys.modules.pop(name, None)
        raise SettingsError(f"{p}: importing it raised {type(e).__name__}: {e}") from None
    return module


def check_cerebro(build, data, cuts: int = 5, after: int = 20, seed: int = 0,
                  start=None, where=None) -> LookaheadResult:  # fmt: skip
    """The look-ahead check on a user's own cerebro: ``build(data)`` returns a ready
    ``bt.Cerebro`` (feeds, strategy) built from ``data`` (a DataFrame, or a dict of
    them). Compared at or before each cut: every line of every indicator of the
    strategy, and the orders it placed (no features: a script's features are its
    indicators' lines). ``start``: first date of the period the cuts spread over
    (default: the data's 20 % point); ``where``: the names errors use
    (``{"cuts": "--cuts", "after": "--after"}``)."""
    where = {"cuts": "cuts", "after": "after", **(where or {})}
    if isinstance(after, bool) or not isinstance(after, int) or not 1 <= after <= 10_000:
        raise SettingsError(
            f"{where['after']} must be a whole number from 1 to 10000, got {after!r}"
        )
    if not callable(build):
        raise SettingsError(f"build must be a function data -> bt.Cerebro, got {build!r}")
    frames = data if isinstance(data, dict) else {"data": data}
    if not frames or not all(isinstance(f, pd.DataFrame) for f in frames.values()):
        raise SettingsError("data must be a DataFrame or a dict of DataFrames")
    first = next(iter(frames.values()))
    idx = pd.DatetimeIndex(first.index)
    if start is None:
        start = idx[int(len(idx) * 0.2)]
    test = idx[idx >= pd.Timestamp(start)]
    dates = cut_dates(test, cuts, after, where["cuts"])

    def one(fr):
        t0 = time.perf_counter()
        cerebro = build(fr if isinstance(data, dict) else fr["data"])
        cerebro.addanalyzer(_placed_orders_class(), _name="placed")
        strat = cerebro.run()[0]
        preds = {**_predictions(strat), **_indicator_lines(strat)}
        orders = list(strat.analyzers.placed.get_analysis()["orders"])
        return _Run({}, preds, orders, time.perf_counter() - t0)

    t_all = time.perf_counter()
    base = one({k: f.copy() for k, f in frames.items()})
    rng = np.random.default_rng(seed)
    results = []
    for c in dates:
        end = test[min(test.get_loc(c) + after, len(test) - 1)]
        run = one({k: perturb_after(f, c, rng, end) for k, f in frames.items()})
        pred = _first_diff(base.predictions, run.predictions, c, PREDICTION_RTOL, PREDICTION_ATOL)
        order = _first_order_diff(base.orders, run.orders, c)
        results.append(Cut(c, None, pred, order, sum(o["date"] <= c for o in base.orders),
                           int(idx.get_loc(c)) + 1, 0, 0, run.seconds))  # fmt: skip
    return LookaheadResult(results, base.seconds, time.perf_counter() - t_all, [],
                           sorted({k[0] for k in base.predictions}), after,
                           [f"each cut keeps {after} perturbed bars after it"])  # fmt: skip
