"""Backtrader analyzers: what a run records while it runs, and :func:`add_standard_analyzers`.

Prediction quality, benchmark-relative performance, significance (is the edge
distinguishable from noise?), exposure / turnover, an order log and portfolio
weights: what Backtrader lacks. Returns, drawdown, Sharpe, trade statistics,
time returns and SQN come from Backtrader's own analyzers (added by
:func:`add_standard_analyzers` under stable names). The analyzers record; every
statistic is computed by :mod:`btlstm.metrics` (or :mod:`btlstm.significance`)
on the plain arrays they recorded.

The comparison row read from these analyzers after a run (``SUMMARY_KEYS``,
:func:`summary_row`) lives in :mod:`btlstm.summary`; both names are importable
from here too.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import backtrader as bt
import numpy as np
import pandas as pd

from btlstm import metrics
from btlstm.bt.rebalance import is_tradable
from btlstm.bt.signals import line_of, scored_signals, value_now
from btlstm.summary import SUMMARY_KEYS, summary_row

__all__ = [
    "MeasuredWindowWarning",
    "measured_start",
    "PredictionQuality",
    "BenchmarkRelative",
    "WindowSharpeRatio",
    "WindowReturns",
    "WindowDrawDown",
    "WindowTimeReturn",
    "Significance",
    "Exposure",
    "OrderLog",
    "Weights",
    "STANDARD_NAMES",
    "add_standard_analyzers",
    "summary_row",
    "SUMMARY_KEYS",
]

_NAN = float("nan")


def _symbol(strategy, data) -> str:
    """A feed's name, or ``data<i>`` (its position) when it has none."""
    name = getattr(data, "_name", "") or ""
    if name:
        return str(name)
    for i, d in enumerate(strategy.datas):
        if d is data:
            return f"data{i}"
    return "data"


# --------------------------------------------------------------------------- the measured window
class MeasuredWindowWarning(UserWarning):
    """btlstm's analyzers leave out more than a year of a feed's bars before the
    first prediction (or the predictor's ``test_start``): the years of sitting in
    cash are not measured. ``start="data"`` measures them."""


START_CHOICES = ("auto", "data")
"""The words ``start=`` takes besides a date (see :func:`measured_start`)."""


def check_start(start, who: str = "analyzer") -> None:
    """Refuse a ``start=`` that is not ``"auto"``, ``"data"`` or a date.

    Raises:
        ValueError: naming ``start``, the value as given and the valid values.
    """
    if isinstance(start, str) and start in START_CHOICES:
        return
    try:
        ok = not isinstance(start, (bool, int, float)) and not pd.isna(pd.Timestamp(start))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        from btlstm.checks import closest

        hint = closest(str(start), START_CHOICES) if isinstance(start, str) else ""
        raise ValueError(
            f"{who}: `start` must be 'auto' (from the first prediction), 'data' (from the "
            f"first bar) or a date such as '2016-01-01', got {start!r}{hint}"
        )


def _buffer(line):
    """The ``array`` behind a line, an indicator (its line 0) or None (a plain number)."""
    arr = getattr(line, "array", None)
    if arr is None and hasattr(line, "lines"):
        try:
            arr = line.lines[0].array
        except (AttributeError, IndexError):
            arr = None
    return arr


_UNKNOWN = "unknown"


def _first_finite_date(line, data):
    """Date of the first finite value of ``line`` on ``data``'s bars, or None when unknown."""
    arr = _buffer(line)
    dts = getattr(getattr(data, "datetime", None), "array", None)
    if arr is None or dts is None or not len(data):
        return None  # a plain number, or no bar
    if not len(arr) == len(dts) == len(data):
        return _UNKNOWN  # a buffer that is not kept whole (exactbars)
    ok = np.flatnonzero(np.isfinite(np.asarray(arr, dtype=float)))
    if not len(ok):
        return None
    return pd.Timestamp(bt.num2date(dts[int(ok[0])])).normalize()


def _predictor_test_start(strategy):
    """The earliest ``test_start`` configured on the strategy's walk-forward predictors."""
    starts = []
    for ind in strategy.getindicators():
        cfg = getattr(ind, "config", None)
        if cfg is None:  # a PooledPredictor: its pool's config
            cfg = getattr(getattr(getattr(getattr(ind, "p", None), "pool", None), "wf", None),
                          "config", None)  # fmt: skip
        ts = getattr(cfg, "test_start", None)
        if ts is not None and hasattr(cfg, "lookback"):
            starts.append(pd.Timestamp(ts).normalize())
    return min(starts) if starts else None


def _signal_lines(strategy, signal=None, data=None) -> list:
    """``[(line, feed)]`` of what the strategy predicts (its ``signals`` or ``prediction``)."""
    data = data if data is not None else strategy.datas[0]
    if isinstance(signal, str):
        if signal in data.lines.getlinealiases():
            return [(getattr(data.lines, signal), data)]
        return [(getattr(strategy, signal, None), data)]
    signals = getattr(strategy, "signals", None)
    if isinstance(signals, Mapping):
        by_name = {d._name: d for d in strategy.datas if d._name}
        return [(line, by_name[k]) for k, line in signals.items() if k in by_name]
    if hasattr(strategy, "prediction"):
        return [(strategy.prediction, data)]
    return []


def measured_start(strategy, start="auto", signal=None, data=None):
    """The first date btlstm's analyzers measure: ``(date or None, why)``.

    - ``start="auto"``: the earliest ``test_start`` of the strategy's walk-forward
      predictors when one is configured, else the date of the first finite
      prediction (the strategy's ``signals`` / ``prediction``, or the line
      ``signal`` names); None (the first bar) when neither is known (a strategy
      without a prediction line, or one that holds a plain number);
    - ``start="data"``: None, from the first bar;
    - a date: that date.

    With ``"auto"``, when the strategy's first feed starts more than 365 days
    before the date, a :class:`MeasuredWindowWarning` says so once per run,
    naming the years left out and ``start="data"``.
    """
    if isinstance(start, str) and start == "data":
        return None, "start='data': from the first bar"
    if not (isinstance(start, str) and start == "auto"):
        when = pd.Timestamp(start).normalize()
        last = _last_bar(strategy.datas[0])
        if last is not None and when > last and not strategy.__dict__.get("_btlstm_window_warned"):
            strategy._btlstm_window_warned = True
            warnings.warn(
                f"btlstm analyzers: start={start!r} is after the last bar {last.date()} of "
                f"{type(strategy).__name__}'s first feed: nothing is measured (NaN statistics)",
                MeasuredWindowWarning,
                stacklevel=2,
            )
        return when, f"start={start!r}"
    key = ("auto", signal if isinstance(signal, str) else None, id(data))
    cache = strategy.__dict__.setdefault("_btlstm_windows", {})
    if key in cache:
        return cache[key]
    when, why = _predictor_test_start(strategy), "the predictor's test_start"
    if when is None:
        found = [_first_finite_date(line, d) for line, d in _signal_lines(strategy, signal, data)]
        if _UNKNOWN in found and not strategy.__dict__.get("_btlstm_window_warned"):
            strategy._btlstm_window_warned = True
            warnings.warn(
                f"btlstm analyzers cannot see where {type(strategy).__name__}'s prediction "
                "starts (its line is not kept whole: exactbars): measuring from the first bar; "
                "pass start='YYYY-MM-DD' (the test start) to measure the test period",
                MeasuredWindowWarning,
                stacklevel=2,
            )
        found = [f for f in found if f is not None and f is not _UNKNOWN]
        when, why = (min(found), "the first prediction") if found else (None, "the first bar")
    cache[key] = (when, why)
    first = _first_bar(strategy.datas[0])
    late = when is not None and first is not None and (when - first).days > 365
    if late and not strategy.__dict__.get("_btlstm_window_warned"):
        strategy._btlstm_window_warned = True
        name = getattr(strategy.datas[0], "_name", "") or "data0"
        years = (when - first).days / 365.25
        warnings.warn(
            f"btlstm analyzers measure {type(strategy).__name__} from {when.date()} "
            f"({why}), but feed {name!r} starts {first.date()}: {years:.1f} years of bars "
            "before it are left out of the Sharpe, returns, drawdown, IC and the buy-and-hold "
            "comparison. Pass start='data' (add_standard_analyzers(..., start='data') or the "
            "analyzer's start= parameter) to measure from the first bar, or start='YYYY-MM-DD'; "
            "or give the predictor history= and a feed that starts at the test start",
            MeasuredWindowWarning,
            stacklevel=2,
        )
    return when, why


def check_wiring(strategy, who: str = "PredictionQuality") -> None:
    """Refuse, before anything trains, a strategy an analyzer cannot read a prediction from.

    An analyzer with ``signal=None`` reads the strategy's ``signals`` dict or its
    ``prediction`` attribute. Called from the analyzer's ``start()``, which
    Backtrader runs before the strategy's indicators compute (an
    :class:`~btlstm.bt.indicators.LSTMPredictor` trains in its first ``once()`` /
    ``next()``), so a misnamed predictor fails at once, not after training.

    Raises:
        AttributeError: naming the strategy, ``self.prediction``, the analyzer's
            ``signal=`` parameter and the attributes that hold a prediction line.
    """
    if hasattr(strategy, "signals") or hasattr(strategy, "prediction"):
        return
    found = []
    for name, value in vars(strategy).items():
        if name.startswith("_") or not isinstance(value, bt.LineSeries):
            continue
        if "prediction" in value.lines.getlinealiases():
            found.append(name)
    attr = found[0] if found else "pred"
    seen = f" (it has {', '.join(f'self.{n}' for n in found)})" if found else ""
    raise AttributeError(
        f"{who}(signal=None) reads the strategy's `signals` dict or its `prediction` attribute, "
        f"but strategy {type(strategy).__name__} has no `prediction` attribute{seen}: name the "
        f"LSTMPredictor `self.prediction = LSTMPredictor(...)`, or pass signal={attr!r} to the "
        f"analyzer (add_standard_analyzers(cerebro, signal={attr!r}) or "
        f"cerebro.addanalyzer({who}, signal={attr!r})); checked before any training"
    )


def _last_bar(data):
    dts = getattr(getattr(data, "datetime", None), "array", None)
    if dts is None or not len(dts):
        return None
    return pd.Timestamp(bt.num2date(dts[-1])).normalize()


def _first_bar(data):
    dts = getattr(getattr(data, "datetime", None), "array", None)
    if dts is None or not len(dts):
        return None
    return pd.Timestamp(bt.num2date(dts[0])).normalize()


def _cut(dates, when) -> int:
    """Index of the first of ``dates`` on or after ``when`` (0 when ``when`` is None)."""
    if when is None:
        return 0
    for i, d in enumerate(dates):
        if pd.Timestamp(d).normalize() >= when:
            return i
    return len(dates)


def _window(dates, i0, why, n_returns=None) -> dict:
    """The ``window`` entry of ``get_analysis()``: what was measured."""
    kept = dates[i0:]
    return {
        "start": pd.Timestamp(kept[0]).to_pydatetime() if len(kept) else None,
        "end": pd.Timestamp(kept[-1]).to_pydatetime() if len(kept) else None,
        "bars": len(kept),
        "returns": len(kept) if n_returns is None else int(n_returns),
        "left_out": int(i0),
        "from": why,
    }


def _centred_quality(p, r, centre: float) -> dict:
    """:func:`btlstm.metrics.prediction_quality` with the hit rate of ``p - centre``
    (a prediction of the ``sign`` target is a probability around 0.5); the ICs and
    means are the raw predictions' (an IC does not change with a shift)."""
    q = metrics.prediction_quality(p, r)
    if centre:
        q["hit_rate"] = metrics.prediction_quality(np.asarray(p, dtype=float) - centre,
                                                   r)["hit_rate"]  # fmt: skip
    return q


class PredictionQuality(bt.Analyzer):
    """Scores prediction lines against the forward returns that followed them.

    While the backtest runs it records, for every new bar of every scored feed
    (including the warm-up bars before the strategy's minimum period): the
    date, the prediction, the close and whether the bar was tradable. At
    ``stop()`` -- after the fact, for scoring only -- it computes the realised
    forward return ``close[t+h] / close[t] - 1`` of each feed for every bar t
    where bar t+h exists. This uses future prices, which is fine for an
    evaluation that runs after the backtest; nothing here feeds back into
    trading. A bar whose feed has a ``tradable`` line that is 0 (a phantom or
    suspended bar of :func:`btlstm.bt.feeds.add_panel`) gets no realised return:
    no one could have traded on its prediction.

    Where the predictions come from:

      - ``signal`` a string: the line of that name on ``data`` (e.g. a
        ``prediction`` line of a PandasData subclass); one feed;
      - ``signal=None`` and the strategy has an attribute ``signals``: a dict
        ``{feed name: line}`` (a line, an indicator, or a number the strategy
        updates), read after the strategy's ``next()`` each bar; every feed
        in it is scored (a multi-asset strategy);
      - ``signal=None`` otherwise: the strategy's attribute ``prediction``,
        scored against ``data``. It may be a line (``[0]`` is read, e.g.
        ``HoldNDays.prediction``) or a plain number the strategy updates.

    Params:

      - ``signal`` (default: ``None``): line name on ``data`` or None (see above)
      - ``horizon`` (default: ``5``): forward-return horizon in bars
      - ``data`` (default: ``None``): the feed scored with a line name or the
        strategy's ``prediction``; None is the strategy's ``data0``
      - ``threshold`` (default: ``0.0``): a prediction above it counts as a
        long call for ``long_hit_rate``
      - ``centre`` (default: ``0.0``): the neutral prediction of the model's target
        (``TARGET_CENTRES``: 0 for ``return``/``vol_scaled``, 0.5 for ``sign``/``rank``);
        ``hit_rate`` compares the sign of ``prediction - centre`` with the realised
        return's. ``ic`` and ``rank_ic`` do not change with it (a shift)

    ``get_analysis()`` keys (pooled over every scored feed and bar; see
    :func:`btlstm.metrics.prediction_quality`):

      - ``count``: bars with both a finite prediction and a realised return
      - ``hit_rate``: share of those bars where the signs of prediction and
        realised return agree, excluding bars where either is exactly 0
      - ``ic``: Pearson correlation of prediction and realised return
      - ``rank_ic``: Spearman rank correlation (average ranks for ties)
      - ``mean_prediction``, ``mean_realised``: means over the counted bars
      - ``long_hit_rate``: share of realised > 0 among bars with
        prediction > ``threshold``
      - ``horizon``: the horizon used
      - ``records``: list of dicts ``date``, ``symbol``, ``prediction``,
        ``realised`` for every recorded bar, ordered by date then by feed
        (realised is NaN for the last ``horizon`` bars of a feed and on its
        untradable bars), for a ``predictions.csv``
      - ``per_asset``: ``{symbol: dict}`` with the keys of
        :func:`btlstm.metrics.prediction_quality` for each feed
      - ``per_date``: with more than one feed, ``{"ic": summary, "rank_ic":
        summary}``, each the :func:`btlstm.metrics.ic_summary` (``mean``,
        ``std``, ``icir``, ``t_stat``, ``n``) of the per-date cross-sectional
        IC / rank IC (:func:`btlstm.metrics.cross_sectional_ic`); ``{}`` with
        one feed

    ``symbol`` is the feed's name (``data<i>`` for an unnamed feed).
    Statistics that cannot be computed (too few points, constant input) are NaN.
    """

    params = (
        ("signal", None),  # line name on `data` or strategy attribute; None: `signals`/`prediction`
        ("horizon", 5),  # forward-return horizon in bars
        ("data", None),  # feed to score; None: the strategy's data0
        ("threshold", 0.0),  # prediction above this is a long call (long_hit_rate)
        ("start", "auto"),  # first date scored: "auto", "data" or a date (measured_start)
        ("centre", 0.0),  # the target's neutral prediction: hit rate of sign(p - centre)
    )

    def __init__(self):
        h = self.p.horizon
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValueError(f"`horizon` must be an integer >= 1 (bars), got {h!r}")
        check_start(self.p.start, type(self).__name__)
        self._data = self.p.data if self.p.data is not None else self.strategy.datas[0]
        self._line = None  # a line of `data` named by `signal` (btlstm.bt.signals)
        self._attr = None  # or a strategy attribute named by `signal`
        signal = self.p.signal
        if signal is not None:
            if isinstance(signal, str) and signal not in self._data.lines.getlinealiases():
                if hasattr(self.strategy, signal):
                    self._attr = signal
                    return
                hint = (
                    f", nor an attribute of strategy {type(self.strategy).__name__} "
                    f"(name the predictor `self.{signal} = LSTMPredictor(...)`)"
                )
                self._line = line_of(self._data, signal, hint=hint)
            self._line = line_of(self._data, signal)

    def start(self):
        # checked before any indicator computes (Backtrader starts analyzers before
        # the strategy's once()/next(), where an LSTMPredictor trains)
        if self.p.signal is None:
            check_wiring(self.strategy, type(self).__name__)
        self._feeds = None  # [(symbol, data, read)], resolved on the first bar
        self._rows = None  # per feed: [dates, predictions, closes, tradable flags]
        self._seen = None  # per feed: length at the last recorded bar

    def _resolve(self) -> list:
        strategy, name = self.strategy, _symbol(self.strategy, self._data)
        if self._line is not None:
            line = self._line
            return [(name, self._data, lambda: float(line[0]))]
        if self._attr is not None:
            attr = self._attr
            return [(name, self._data, lambda: value_now(getattr(strategy, attr)))]
        return scored_signals(strategy, self._data, name)  # its `signals` or `prediction`

    def next(self):
        # `prenext` and `nextstart` default to `next`: every bar is recorded
        if self._feeds is None:
            self._feeds = self._resolve()
            self._rows = [([], [], [], []) for _ in self._feeds]
            self._seen = [0] * len(self._feeds)
        for k, (_, data, read) in enumerate(self._feeds):
            n = len(data)
            if n == 0 or n == self._seen[k]:
                continue  # not started yet, or no new bar on this feed's calendar
            self._seen[k] = n
            dates, preds, closes, flags = self._rows[k]
            dates.append(data.datetime.datetime(0))
            preds.append(read())
            closes.append(float(data.close[0]))
            flags.append(is_tradable(data))

    def stop(self):
        h = self.p.horizon
        feeds = self._feeds or []
        rows = self._rows or []
        per_feed = []  # (symbol, dates, pred, realised)
        for (sym, _, _), (dates, preds, closes, flags) in zip(feeds, rows, strict=True):
            realised = metrics.forward_returns(np.asarray(closes, dtype=float), h)
            realised[~np.asarray(flags, dtype=bool)] = np.nan
            per_feed.append((sym, dates, np.asarray(preds, dtype=float), realised))

        records = [
            (d, k, sym, x, y)
            for k, (sym, dates, pred, realised) in enumerate(per_feed)
            for d, x, y in zip(dates, pred, realised, strict=True)
        ]
        if len(per_feed) > 1:
            records.sort(key=lambda rec: (rec[0], rec[1]))
        when, why = self._measured_start()
        all_dates = sorted({rec[0] for rec in records})
        i0 = _cut(all_dates, when)
        if i0:  # the records stay whole (predictions.csv); the statistics use the window
            first = all_dates[i0] if i0 < len(all_dates) else None
            keep = [first is not None and rec[0] >= first for rec in records]
            per_feed = [
                (sym, dates[_cut(dates, when):], pred[_cut(dates, when):],
                 realised[_cut(dates, when):])
                for sym, dates, pred, realised in per_feed
            ]  # fmt: skip
        else:
            keep = [True] * len(records)
        pred = np.asarray([rec[3] for rec, k in zip(records, keep) if k], dtype=float)
        realised = np.asarray([rec[4] for rec, k in zip(records, keep) if k], dtype=float)

        ok = np.isfinite(pred) & np.isfinite(realised)
        p, r = pred[ok], realised[ok]
        longs = p > self.p.threshold

        rets = self.rets
        c = float(self.p.centre)
        rets.update(_centred_quality(p, r, c))
        rets["long_hit_rate"] = float(np.mean(r[longs] > 0.0)) if longs.any() else _NAN
        rets["horizon"] = h
        rets["window"] = _window(all_dates, i0, why, n_returns=int(ok.sum()))
        rets["records"] = [
            {"date": d, "symbol": sym, "prediction": float(x), "realised": float(y)}
            for d, _, sym, x, y in records
        ]
        rets["per_asset"] = {sym: _centred_quality(x, y, c) for sym, _, x, y in per_feed}
        rets["per_date"] = {}
        if len(per_feed) > 1:
            frame = pd.DataFrame(
                {
                    "date": [rec[0] for rec, k in zip(records, keep) if k],
                    "symbol": [rec[2] for rec, k in zip(records, keep) if k],
                    "prediction": pred,
                    "realised": realised,
                }
            )
            wide = frame.pivot(index="date", columns="symbol")
            for key, method in (("ic", "pearson"), ("rank_ic", "spearman")):
                daily = metrics.cross_sectional_ic(
                    wide["prediction"], wide["realised"], method=method
                )
                rets["per_date"][key] = metrics.ic_summary(daily)

    def _measured_start(self):
        signal = self._attr or (self.p.signal if self._line is not None else None)
        return measured_start(self.strategy, self.p.start, signal, self.p.data)


class BenchmarkRelative(bt.Analyzer):
    """Portfolio performance relative to a buy-and-hold benchmark.

    Each bar it records the portfolio value (``broker.getvalue()`` after the
    strategy's ``next``) and the benchmark's close. Daily returns are
    ``v[t]/v[t-1] - 1`` and ``c[t]/c[t-1] - 1`` over the recorded bars (the
    first bar has no return). The standard deviation convention follows
    Backtrader's ``SharpeRatio`` (``stddev_sample=False``: population, ddof 0).

    Formula (:mod:`btlstm.metrics` on the recorded series):

      - total / benchmark return: :func:`~btlstm.metrics.total_return`
      - beta = cov(rp, rb) / var(rb);  alpha = (mean(rp) - beta mean(rb)) * ann
        (CAPM, risk-free rate 0); tracking_error = std(rp - rb) * sqrt(ann);
        information_ratio = mean(rp - rb) / std(rp - rb) * sqrt(ann)
        (:func:`~btlstm.metrics.relative_performance`)
      - benchmark_sharpe = mean(rb) / std(rb) * sqrt(ann), risk-free rate 0
        (:func:`~btlstm.metrics.sharpe_ratio`)
      - benchmark_max_drawdown: :func:`~btlstm.metrics.max_drawdown` of the closes

    Params:

      - ``benchmark`` (default: ``None``): a data feed; None is the strategy's
        first data (buy-and-hold of the traded asset)
      - ``annualization`` (default: ``252``): periods per year
      - ``stddev_sample`` (default: ``False``): ddof 1 instead of 0
      - ``start`` (default: ``"auto"``): the first date measured
        (:func:`measured_start`): ``"auto"`` (the predictor's ``test_start``,
        else the first finite prediction, else the first bar), ``"data"``
        (the first bar) or a date; ``series`` holds the window only
      - ``signal`` (default: ``None``): the line name or strategy attribute
        whose first prediction starts the window (None: ``signals`` / ``prediction``)

    ``get_analysis()`` keys:

      - ``total_return``: final value / starting value - 1, over the whole
        window even when the benchmark starts later (bars before the
        benchmark's first close are left out of every other statistic)
      - ``benchmark_return``: last close / first recorded close - 1
      - ``excess_return``: ``total_return - benchmark_return``
      - ``beta``, ``alpha`` (annualized), ``information_ratio``,
        ``tracking_error`` (annualized), ``correlation`` (of daily returns)
      - ``benchmark_max_drawdown``: largest peak-to-trough fall of the
        benchmark close, as a positive fraction (0.25 = -25%)
      - ``benchmark_sharpe``: annualized, risk-free rate 0
      - ``n_periods``: number of daily returns used
      - ``start_value``: portfolio value before the window's first bar (at
        ``start()`` when the window is the whole run); ``final_value``: at the last bar
      - ``window``: what was measured: ``start``, ``end`` (dates), ``bars``,
        ``returns``, ``left_out`` (bars before it), ``from`` (why it starts there)
      - ``benchmark_name``: the benchmark feed's ``_name`` (may be empty)
      - ``series``: the daily series behind every statistic, for reports
        and plots: a dict of equal-length lists ``dates`` (datetime of each
        recorded bar), ``values`` (portfolio value after ``next``) and
        ``benchmark_closes`` (NaN before the benchmark's first bar)
    """

    params = (
        ("benchmark", None),  # data feed to compare with; None: the strategy's data0
        ("annualization", 252),  # periods per year
        ("stddev_sample", False),  # use ddof=1 (sample) standard deviations
        ("start", "auto"),  # first date measured: "auto", "data" or a date (measured_start)
        ("signal", None),  # line name / strategy attribute whose first prediction starts it
    )

    def __init__(self):
        check_start(self.p.start, type(self).__name__)
        ann = self.p.annualization
        if isinstance(ann, bool) or not isinstance(ann, (int, float)) or not ann > 0:
            raise ValueError(f"`annualization` must be a number > 0, got {ann!r}")
        self._bench = self.p.benchmark if self.p.benchmark is not None else self.strategy.datas[0]

    def start(self):
        self._value_start = self.strategy.broker.getvalue()
        self._dates = []
        self._values = []
        self._closes = []

    def next(self):
        self._dates.append(self.strategy.datetime.datetime(0))
        self._values.append(float(self.strategy.broker.getvalue()))
        # a benchmark feed that has not started yet (other calendar) reads NaN
        self._closes.append(float(self._bench.close[0]) if len(self._bench) else _NAN)

    def stop(self):
        ann = float(self.p.annualization)
        ddof = 1 if self.p.stddev_sample else 0
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        i0 = _cut(self._dates, when)
        start_value = self._values[i0 - 1] if i0 else self._value_start
        v = np.asarray(self._values[i0:], dtype=float)
        c = np.asarray(self._closes[i0:], dtype=float)
        self.rets["window"] = _window(self._dates, i0, why)
        self.rets["start_value"] = float(start_value)
        self.rets["final_value"] = float(v[-1]) if len(v) else _NAN
        self.rets["benchmark_name"] = str(getattr(self._bench, "_name", "") or "")
        self.rets["series"] = {
            "dates": list(self._dates[i0:]),
            "values": v.tolist(),
            "benchmark_closes": c.tolist(),
        }
        started = np.flatnonzero(np.isfinite(c))
        first = int(started[0]) if len(started) else len(c)
        # the strategy's return runs from the start value (its first bar), whenever the
        # benchmark starts; every other statistic compares from the benchmark's first close
        rets = self.rets
        rets["total_return"] = metrics.total_return(v, start_value)
        v, c = v[first:], c[first:]
        rets["benchmark_return"] = metrics.total_return(c)
        rets["excess_return"] = rets["total_return"] - rets["benchmark_return"]
        rp = metrics.daily_returns(v).to_numpy()
        rb = metrics.daily_returns(c).to_numpy()
        relative = metrics.relative_performance(rp, rb, periods=ann, ddof=ddof)
        rets["n_periods"] = relative.pop("n")
        rets.update(relative)
        rets["benchmark_sharpe"] = metrics.sharpe_ratio(rb, periods=ann, ddof=ddof)
        rets["benchmark_max_drawdown"] = metrics.max_drawdown(c)


class Significance(bt.Analyzer):
    """Is the strategy's edge distinguishable from noise? Verdict statistics of a run.

    While the backtest runs it records the portfolio value after every bar,
    the closes of each benchmark feed and (through a
    :class:`PredictionQuality` child) the prediction line and, after the
    run, the realised forward returns. At ``stop()`` it hands these plain
    series to :func:`btlstm.significance.evaluate`, which tests them and
    applies the verdict rule (:data:`btlstm.significance.RULE`,
    ``docs/significance.md``).

    Formula:

      - daily returns ``v[t] / v[t-1] - 1`` from the value at ``start()``
        (as Backtrader's ``TimeReturn``); a benchmark feed's from its closes
      - ``ic`` / ``rank_ic``: correlation of prediction and realised
        ``horizon``-bar return with a HAC t (lag ``horizon - 1``); with
        several scored feeds, the daily cross-sectional IC
      - ``vs``: stationary bootstrap (``reps``, ``seed``) of the annualised
        Sharpe difference and annual excess return against each benchmark
      - ``dsr``: the deflated Sharpe ratio for ``n_trials`` trials

    Params:

      - ``benchmark`` (default: ``None``): what the strategy is compared
        with. None: the closes of the strategy's ``data0`` (buy-and-hold
        without orders or costs); a data feed: its closes; a ``pd.Series``
        of daily returns indexed by date (e.g. a baseline run's
        ``TimeReturn`` analysis, real orders and costs); a dict
        ``{name: feed or Series}`` for several; ``False``: none
      - ``signal`` (default: ``None``): the prediction line, as
        :class:`PredictionQuality`: a line name on ``data``, or None for the
        strategy's ``signals`` dict or its ``prediction`` attribute (a
        strategy with neither is not scored); ``False``: no prediction
      - ``data`` (default: ``None``): the feed scored by a line name; None is data0
      - ``horizon`` (default: ``5``): forward-return horizon in bars
      - ``n_trials`` (default: ``1``): the trials (configurations x seeds) this
        run was selected from, for the deflated Sharpe ratio; 1: this run alone
      - ``trial_sharpes`` (default: ``None``): the trials' annualised Sharpe
        ratios (their variance sets the DSR's bar), if known
      - ``reps`` (default: ``1000``), ``seed`` (default: ``0``): bootstrap
        resamples and seed (same seed, same interval)
      - ``annualization`` (default: ``252``): periods per year

    ``get_analysis()`` keys (:func:`btlstm.significance.evaluate`):

      - ``ic``, ``rank_ic``: ``value``, ``t_hac``, ``p_hac``, ``lag``, ``n``
        (also ``t_iid``, ``p_iid``: the naive test; ``kind``: ``pooled`` or
        ``cross_sectional``); None without a prediction
      - ``hit_rate``: ``value``, ``base_rate``, ``p`` (against the better
        constant forecaster), ``p_50``, ``t_hac``, ``n``; None without a prediction
      - ``sharpe``: ``value`` (annualised), ``se``, ``psr`` (against 0),
        ``per_period``, ``skew``, ``kurtosis``, ``n``, ``min_trl_years``
      - ``vs``: one dict per benchmark: ``name``, ``sharpe_diff``,
        ``ci_low``, ``ci_high``, ``excess_return``, ``excess_ci_low``,
        ``excess_ci_high``, ``psr``, ``beats``, ``n``, ``block``, ``reps``,
        ``seed``, ``from_closes``
      - ``dsr``: ``value``, ``n_trials``, ``sr0``, ``variance``, ``variance_source``
      - ``evidence`` (bool), ``verdict`` (the sentence), ``rule`` (in words),
        ``alpha``, ``horizon``, ``settings``
      - ``series``: ``dates`` and ``returns``, the strategy's daily returns
    """

    params = (
        ("benchmark", None),  # None: data0's closes; a feed; a Series of returns; a dict; False
        ("signal", None),  # line name on `data`; None: the strategy's signals/prediction; False
        ("data", None),  # feed scored with a line name; None: data0
        ("horizon", 5),  # forward-return horizon in bars (HAC lag horizon - 1)
        ("n_trials", 1),  # trials this run was selected from (deflated Sharpe ratio)
        ("trial_sharpes", None),  # the trials' annualised Sharpe ratios, if known
        ("reps", 1000),  # bootstrap resamples
        ("seed", 0),  # bootstrap seed
        ("annualization", 252),  # periods per year
        ("start", "auto"),  # first date measured: "auto", "data" or a date (measured_start)
        ("centre", 0.0),  # the target's neutral prediction: the hit rate tests sign(p - centre)
    )

    def __init__(self):
        check_start(self.p.start, type(self).__name__)
        n = self.p.n_trials
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`n_trials` must be an integer >= 1, got {n!r}")
        strategy = self.strategy
        scored = self.p.signal is not False and (
            self.p.signal is not None
            or hasattr(strategy, "signals")
            or hasattr(strategy, "prediction")
        )
        self._quality = None
        if scored:  # a child analyzer: Backtrader runs it before this one
            self._quality = PredictionQuality(
                signal=self.p.signal, data=self.p.data, horizon=self.p.horizon, start=self.p.start,
                centre=self.p.centre,
            )
        self._feeds, self._series = self._benchmarks(self.p.benchmark)

    def _benchmarks(self, bench) -> tuple[dict, dict]:
        if bench is False:
            return {}, {}
        if bench is None:
            bench = self.strategy.datas[0]
        if not isinstance(bench, Mapping):
            if isinstance(bench, pd.Series):
                bench = {str(bench.name or "benchmark"): bench}
            else:
                bench = {f"buy-and-hold {_symbol(self.strategy, bench)}": bench}
        feeds, series = {}, {}
        for name, b in bench.items():
            if isinstance(b, pd.Series):
                s = b.astype(float)
                s.index = pd.DatetimeIndex(pd.to_datetime(s.index)).normalize()
                series[str(name)] = s
            elif hasattr(b, "close") and hasattr(b, "datetime"):
                feeds[str(name)] = b
            else:
                raise ValueError(
                    f"`benchmark` {name!r}: expected a data feed or a pd.Series of daily "
                    f"returns, got {type(b).__name__}"
                )
        return feeds, series

    def start(self):
        self._value_start = float(self.strategy.broker.getvalue())
        self._dates = []
        self._values = []
        self._closes = {name: [] for name in self._feeds}

    def next(self):
        self._dates.append(self.strategy.datetime.datetime(0))
        self._values.append(float(self.strategy.broker.getvalue()))
        for name, feed in self._feeds.items():
            self._closes[name].append(float(feed.close[0]) if len(feed) else _NAN)

    def _predictions(self, first=None):
        """(predictions, realised): 1-D arrays for one feed, date x symbol frames for several;
        the records from date ``first`` on (all when None)."""
        if self._quality is None:
            return None, None
        records = self._quality.get_analysis().get("records") or []
        if first is not None:
            records = [r for r in records if r["date"] >= first]
        if not records:
            return None, None
        frame = pd.DataFrame(records)
        # the verdict's hit rate reads signs: a prediction is bullish above the target's
        # centre (sign: 0.5); the ICs are unchanged by the shift
        frame["prediction"] = frame["prediction"] - float(self.p.centre)
        if frame["symbol"].nunique() == 1:
            return frame["prediction"].to_numpy(float), frame["realised"].to_numpy(float)
        wide = frame.pivot_table(
            index="date", columns="symbol", values=["prediction", "realised"], dropna=False
        )
        return wide["prediction"], wide["realised"]

    def stop(self):
        from btlstm import significance

        if self._quality is not None:
            when, why = self._quality._measured_start()
        else:
            when, why = measured_start(self.strategy, self.p.start)
        i0 = _cut(self._dates, when)
        base = self._values[i0 - 1] if i0 else self._value_start
        kept = self._dates[i0:]
        dates = pd.DatetimeIndex(pd.to_datetime(kept)).normalize()
        values = pd.Series(np.asarray(self._values[i0:], dtype=float), index=dates)
        returns = metrics.daily_returns(values, base)
        benchmarks = {k: (v[v.index >= when] if when is not None else v)
                      for k, v in self._series.items()}  # fmt: skip
        for name, closes in self._closes.items():  # buy-and-hold from the window's first close
            c = pd.Series(np.asarray(closes[i0:], dtype=float), index=dates)
            benchmarks[name] = c / c.shift(1) - 1.0
        first = None if not i0 else (kept[0] if kept else pd.Timestamp.max)  # no bar: no record
        pred, real = self._predictions(first)
        self.rets.update(
            significance.evaluate(
                returns,
                pred,
                real,
                benchmarks,
                horizon=self.p.horizon,
                n_trials=int(self.p.n_trials),
                trial_sharpes=self.p.trial_sharpes,
                periods=int(self.p.annualization),
                reps=self.p.reps,
                seed=self.p.seed,
                closes=tuple(self._closes),
            )
        )
        self.rets["window"] = _window(self._dates, i0, why, n_returns=len(returns))
        self.rets["series"] = {
            "dates": list(kept),
            "returns": returns.to_numpy().tolist(),
        }


class Exposure(bt.Analyzer):
    """Time in the market, gross exposure and turnover.

    Each bar it records the portfolio value and the gross position value
    ``sum(|size| * close * mult)`` over all data feeds; each completed order
    adds ``|executed size| * executed price * mult`` to the traded value.

    Params:

      - ``annualization`` (default: ``252``): periods per year, for
        ``turnover_annualized``
      - ``start``, ``signal``: the measured window, as :class:`BenchmarkRelative`
        (exposure, turnover and ``n_bars`` cover it; the order and trade counts
        cover the whole run)

    ``get_analysis()`` keys:

      - ``window``: as :class:`BenchmarkRelative`
      - ``exposure``: fraction of bars (at the close) with any open position
      - ``avg_gross_exposure``: mean of gross position value / portfolio value
      - ``turnover``: total traded value / mean portfolio value (over the run)
      - ``turnover_annualized``: ``turnover * annualization / n_bars``
      - ``traded_value``: total traded value (both sides)
      - ``n_orders``: completed orders
      - ``n_rejected``: orders the broker refused: ``Margin`` (not enough cash
        at the fill) or ``Rejected``
      - ``n_canceled``: orders cancelled (by the strategy, e.g. a stale
        rebalance order) or expired
      - ``n_margin``, ``n_expired``: the ``Margin`` and ``Expired`` parts of the two above
      - ``n_trades``: closed trades
      - ``n_bars``: bars recorded
    """

    params = (
        ("annualization", 252),  # periods per year for turnover_annualized
        ("start", "auto"),  # first date measured: "auto", "data" or a date (measured_start)
        ("signal", None),  # line name / strategy attribute whose first prediction starts it
    )

    def __init__(self):
        check_start(self.p.start, type(self).__name__)

    def start(self):
        self._dates = []
        self._traded_by_bar = []  # traded value so far, after each bar
        self._invested = []
        self._gross = []
        self._values = []
        self._traded = 0.0
        self._n_orders = 0
        self._n_trades = 0
        self._unfilled = dict.fromkeys(("Canceled", "Margin", "Rejected", "Expired"), 0)

    def notify_order(self, order):
        if order.status == order.Completed:
            mult = self.strategy.broker.getcommissioninfo(order.data).p.mult
            self._traded += abs(order.executed.size) * order.executed.price * mult
            self._n_orders += 1
        elif order.status in _FINISHED:
            self._unfilled[order.getstatusname()] += 1

    def notify_trade(self, trade):
        if trade.isclosed:
            self._n_trades += 1

    def next(self):
        broker = self.strategy.broker
        gross = 0.0
        invested = False
        for data in self.strategy.datas:
            size = broker.getposition(data).size
            if size:
                invested = True
                mult = broker.getcommissioninfo(data).p.mult
                gross += abs(size) * float(data.close[0]) * mult
        self._invested.append(invested)
        self._gross.append(gross)
        self._values.append(float(broker.getvalue()))
        self._dates.append(self.strategy.datetime.datetime(0))
        self._traded_by_bar.append(self._traded)

    def stop(self):
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        i0 = _cut(self._dates, when)
        n = len(self._values) - i0
        values = np.asarray(self._values[i0:], dtype=float)
        traded = self._traded - (self._traded_by_bar[i0 - 1] if i0 else 0.0)
        rets = self.rets
        rets["window"] = _window(self._dates, i0, why)
        rets["n_bars"] = n
        rets["exposure"] = float(np.mean(self._invested[i0:])) if n else _NAN
        gross = np.asarray(self._gross[i0:])
        rets["avg_gross_exposure"] = float(np.mean(gross / values)) if n else _NAN
        mean_value = float(values.mean()) if n else _NAN
        rets["traded_value"] = traded
        rets["turnover"] = traded / mean_value if n and mean_value else _NAN
        rets["turnover_annualized"] = (
            rets["turnover"] * float(self.p.annualization) / n if n else _NAN
        )
        rets["n_orders"] = self._n_orders
        u = self._unfilled
        rets["n_rejected"] = u["Margin"] + u["Rejected"]
        rets["n_canceled"] = u["Canceled"] + u["Expired"]
        rets["n_margin"] = u["Margin"]
        rets["n_expired"] = u["Expired"]
        rets["n_trades"] = self._n_trades


_FINISHED = (
    bt.Order.Completed,
    bt.Order.Canceled,
    bt.Order.Margin,
    bt.Order.Rejected,
    bt.Order.Expired,
)


class OrderLog(bt.Analyzer):
    """Every finished order of the strategy, one row each.

    An order is recorded when its final notification arrives: Completed,
    Canceled, Margin, Rejected or Expired (submitted, accepted and partially
    filled orders are still alive and wait).

    Params: none.

    ``get_analysis()`` keys:

      - ``orders``: list of dicts, in notification order, with keys

        - ``created_date``: date of the bar the order was placed on
        - ``date``: date of the bar its final notification arrived on (the
          fill bar for a completed order)
        - ``symbol``: the feed's name (``data<i>`` for an unnamed feed)
        - ``side``: ``"buy"`` or ``"sell"``
        - ``size``: executed size, positive for both sides
        - ``price``: average execution price
        - ``value``: ``size * price``
        - ``commission``: commission paid
        - ``status``: ``"Completed"``, ``"Canceled"``, ``"Margin"``,
          ``"Rejected"`` or ``"Expired"``
        - ``reason``: ``order.info.get("reason")`` (None when not set), e.g.
          the ``reason`` of a :class:`btlstm.bt.rebalance.Rebalancer`
        - ``detail``: why an order did not fill, or that it is a resubmission:
          ``Margin``: the cash it lacked at the fill bar's open; ``Canceled``:
          ``order.info["detail"]`` (e.g. a stale rebalance order) or "cancelled
          by the strategy"; ``Rejected``: ``order.info["blocked"]`` or "rejected
          by the broker"; ``Expired``: its validity; a resubmitted order
          (``order.info["retry"]``): "retry n"; else empty

        An order that never filled has ``size``, ``price`` and ``value`` NaN
        and ``commission`` 0; one cancelled after partial fills shows the
        part that was filled.
    """

    def start(self):
        self._orders = []
        self.rets["orders"] = self._orders

    def notify_order(self, order):
        if order.status not in _FINISHED:
            return
        ex = order.executed
        row = {
            "created_date": bt.num2date(order.created.dt).date(),
            "date": self.strategy.datetime.date(0),
            "symbol": _symbol(self.strategy, order.data),
            "side": "buy" if order.isbuy() else "sell",
        }
        if ex.size:
            size = abs(float(ex.size))
            price = float(ex.price)
            row.update(size=size, price=price, value=size * price, commission=float(ex.comm))
        else:
            row.update(size=_NAN, price=_NAN, value=_NAN, commission=0.0)
        row["status"] = order.getstatusname()
        row["reason"] = order.info.get("reason", None)
        row["detail"] = _detail(self.strategy, order)
        self._orders.append(row)


def _detail(strategy, order) -> str:
    """Why ``order`` did not fill (or that it was resubmitted), in plain words."""
    info, parts = order.info, []
    if info.get("retry"):
        parts.append(f"retry {info['retry']} of a Margin-refused order")
    if order.status == order.Margin:
        size = abs(float(order.created.size))
        price = float(order.data.open[0])
        cash = float(strategy.broker.getcash())
        parts.append(
            f"not enough cash at the fill: {size:g} x open {price:.4g} = {size * price:,.2f} "
            f"before costs, cash {cash:,.2f} after the bar's fills"
        )
    elif order.status == order.Canceled:
        parts.append(str(info.get("detail") or "cancelled by the strategy"))
    elif order.status == order.Rejected:
        parts.append(str(info.get("blocked") or info.get("detail") or "rejected by the broker"))
    elif order.status == order.Expired:
        valid = order.valid
        parts.append(f"expired (valid until {bt.num2date(valid).date()})" if valid else "expired")
    return "; ".join(parts)


class Weights(bt.Analyzer):
    """Portfolio weights at every bar's close.

    Formula:
      - weight of a feed = ``broker.getvalue([data]) / broker.getvalue()``
        (position value at the close over portfolio value; negative for a
        short); the ``cash`` row is ``broker.getcash() / broker.getvalue()``.
        The weights of a bar sum to 1 for a cash-settled (stock) broker.

    Recorded after the strategy's ``next`` on every bar, including warm-up
    bars. Memory: one row per bar and held feed (300 held stocks over 10
    years are ~750,000 rows).

    Params: none.

    ``get_analysis()`` keys:

      - ``weights``: list of dicts ``date`` (the bar's datetime), ``symbol``
        (the feed's name, ``data<i>`` for an unnamed feed, or ``"cash"``)
        and ``weight``: one row per feed with a non-zero position, then one
        ``cash`` row, for every bar; NaN weights when the portfolio value is 0
    """

    def start(self):
        self._rows = []
        self.rets["weights"] = self._rows

    def next(self):
        strategy = self.strategy
        broker = strategy.broker
        when = strategy.datetime.datetime(0)
        value = float(broker.getvalue())
        scale = 1.0 / value if value else _NAN
        for data in strategy.datas:
            if broker.getposition(data).size:
                weight = float(broker.getvalue(datas=[data])) * scale
                self._rows.append(
                    {"date": when, "symbol": _symbol(strategy, data), "weight": weight}
                )
        self._rows.append(
            {"date": when, "symbol": "cash", "weight": float(broker.getcash()) * scale}
        )


# --------------------------------------------------------------------------- Backtrader's, windowed
def _keep_from(rets, when) -> int:
    """Drop the entries of a ``{datetime: value}`` analysis dated before ``when``; how many."""
    if when is None:
        return 0
    old = [k for k in rets if pd.Timestamp(k).normalize() < when]
    for k in old:
        del rets[k]
    return len(old)


class WindowTimeReturn(bt.analyzers.TimeReturn):
    """Backtrader's ``TimeReturn`` over the measured window (:func:`measured_start`).

    The same ``{period end: return}`` analysis, without the periods that end
    before the window's first date (the first kept return is against the value
    at the end of the period before, as in a run that starts there).

    Params (besides ``TimeReturn``'s):

      - ``start`` (default: ``"auto"``): ``"auto"`` (the predictor's
        ``test_start`` or the first prediction), ``"data"`` (every bar) or a date
      - ``signal`` (default: ``None``): the line name or strategy attribute whose
        first prediction starts the window; None: ``signals`` / ``prediction``

    ``self.window``: the measured window (``start``, ``end``, ``bars``, ``left_out``, ``from``).
    """

    params = (("start", "auto"), ("signal", None))

    def __init__(self):
        check_start(self.p.start, type(self).__name__)

    def stop(self):
        super().stop()
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        dates = list(self.rets)
        n = _keep_from(self.rets, when)
        self.window = _window(dates, n, why)


class WindowSharpeRatio(bt.analyzers.SharpeRatio):
    """Backtrader's ``SharpeRatio`` over the measured window (:func:`measured_start`).

    Its ``TimeReturn`` child keeps the periods from the window's first date
    only; the ratio is Backtrader's formula on those returns. Keys: Backtrader's
    ``sharperatio`` and ``window`` (``start``, ``end``, ``bars``, ``returns``,
    ``left_out``, ``from``).

    Params (besides ``SharpeRatio``'s): ``start`` and ``signal`` as
    :class:`WindowTimeReturn`.
    """

    params = (("start", "auto"), ("signal", None))

    def __init__(self):
        check_start(self.p.start, type(self).__name__)
        super().__init__()

    def stop(self):
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        rets = self.timereturn.rets
        dates = list(rets)
        n = _keep_from(rets, when)
        super().stop()
        self.rets["window"] = _window(dates, n, why)


class WindowReturns(bt.analyzers.Returns):
    """Backtrader's ``Returns`` over the measured window (:func:`measured_start`).

    ``rtot`` is the log return from the value at the end of the bar before the
    window (the starting value when the window is the whole run) to the final
    value; ``ravg`` divides it by the periods in the window; ``rnorm`` annualizes
    as Backtrader does. Keys: Backtrader's and ``window``.

    Params (besides ``Returns``'s): ``start`` and ``signal`` as :class:`WindowTimeReturn`.
    """

    params = (("start", "auto"), ("signal", None))

    def __init__(self):
        check_start(self.p.start, type(self).__name__)

    def start(self):
        super().start()
        self._marks = []  # (datetime, periods so far, value) after each bar

    def next(self):
        super().next()
        value = self.strategy.broker.getvalue()
        self._marks.append((self.strategy.datetime.datetime(0), self._tcount, value))

    def stop(self):
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        dates = [m[0] for m in self._marks]
        i0 = _cut(dates, when)
        if 0 < i0 < len(dates):
            _, periods, value = self._marks[i0 - 1]
            self._value_start = value
            self._tcount -= periods
        super().stop()
        if dates and i0 == len(dates):  # the window holds no bar
            for key in ("rtot", "ravg", "rnorm", "rnorm100"):
                self.rets[key] = _NAN
        self.rets["window"] = _window(dates, i0, why)


class WindowDrawDown(bt.analyzers.DrawDown):
    """Backtrader's ``DrawDown`` over the measured window (:func:`measured_start`).

    The same keys (``drawdown``, ``moneydown``, ``len``, ``max.drawdown``,
    ``max.moneydown``, ``max.len``) replayed on the values from the window's
    first bar (the peak starts there), plus ``window``.

    Params (besides ``DrawDown``'s): ``start`` and ``signal`` as :class:`WindowTimeReturn`.
    """

    params = (("start", "auto"), ("signal", None))

    def __init__(self):
        check_start(self.p.start, type(self).__name__)

    def start(self):
        super().start()
        self._marks = []  # (datetime, value) of each bar

    def next(self):
        super().next()
        self._marks.append((self.strategy.datetime.datetime(0), self._value))

    def stop(self):
        when, why = measured_start(self.strategy, self.p.start, self.p.signal)
        dates = [m[0] for m in self._marks]
        i0 = _cut(dates, when)
        r = self.rets
        if 0 < i0 < len(dates):  # the same steps as DrawDown.next, from the window's first bar
            r.len, r.drawdown, r.moneydown = 0, 0.0, 0.0
            r.max.len, r.max.drawdown, r.max.moneydown = 0.0, 0.0, 0.0
            peak = float("-inf")
            for _, value in self._marks[i0:]:
                peak = max(peak, value)
                r.moneydown = moneydown = peak - value
                r.drawdown = drawdown = 100.0 * moneydown / peak
                r.max.moneydown = max(r.max.moneydown, moneydown)
                r.max.drawdown = max(r.max.drawdown, drawdown)
                r.len = r.len + 1 if drawdown else 0
                r.max.len = max(r.max.len, r.len)
        if dates and i0 == len(dates):  # the window holds no bar
            r.drawdown = r.moneydown = r.max.drawdown = r.max.moneydown = _NAN
        r.window = _window(dates, i0, why)
        super().stop()


STANDARD_NAMES = (
    "returns",
    "drawdown",
    "sharpe",
    "trades",
    "timereturn",
    "sqn",
    "benchmark",
    "exposure",
    "orders",
    "weights",
    "prediction",
    "significance",
)
"""``_name`` of each analyzer added by :func:`add_standard_analyzers`, in order
(``prediction`` and ``significance`` only when a signal is given)."""


def add_standard_analyzers(
    cerebro: bt.Cerebro,
    riskfree: float = 0.0,
    benchmark=None,
    signal=None,
    horizon: int = 5,
    n_trials: int = 1,
    start="auto",
    centre: float = 0.0,
) -> bt.Cerebro:
    """Add Backtrader's standard analyzers and btlstm's under stable names.

    Every analyzer but ``trades``, ``sqn``, ``orders`` and ``weights`` measures
    the same window (:func:`measured_start`): by default from the strategy's
    predictor's ``test_start``, else its first finite prediction, else the first
    bar; each states it under ``window`` (``timereturn``: ``.window``). A feed
    that carries more than a year before it gets a :class:`MeasuredWindowWarning`.

    Names (``strategy.analyzers.<name>``):

      - ``returns``: :class:`WindowReturns` (Backtrader's ``Returns``, daily,
        ``tann=252``, over the window)
      - ``drawdown``: :class:`WindowDrawDown` (Backtrader's ``DrawDown`` over the window)
      - ``sharpe``: :class:`WindowSharpeRatio` (Backtrader's ``SharpeRatio``:
        daily returns, compression 1, ``riskfreerate=riskfree`` as an annual
        rate, annualized with factor 252; over the window)
      - ``trades``: ``bt.analyzers.TradeAnalyzer`` (the whole run: trades are
        not windowed; a strategy that waits for its prediction has none before)
      - ``timereturn``: :class:`WindowTimeReturn` (daily, over the window)
      - ``sqn``: ``bt.analyzers.SQN`` (the whole run, as ``trades``)
      - ``benchmark``: :class:`BenchmarkRelative`
      - ``exposure``: :class:`Exposure`
      - ``orders``: :class:`OrderLog`
      - ``weights``: :class:`Weights`
      - ``prediction``: :class:`PredictionQuality`, only when ``signal`` is given
      - ``significance``: :class:`Significance` (against the closes of
        ``benchmark``, for ``n_trials`` trials), only when ``signal`` is given

    Args:
        cerebro: the ``bt.Cerebro`` to add to.
        riskfree: annual risk-free rate for the Sharpe ratio (0.02 = 2%).
        benchmark: data feed for :class:`BenchmarkRelative`; None is data0.
        signal: None (no PredictionQuality), a line name on data0 or the
            name of a strategy attribute that holds the prediction (``"pred"``
            for ``self.pred = LSTMPredictor(...)``), or ``True`` to read the
            strategy's ``signals`` dict (every feed in it) or else its
            ``prediction`` attribute (data0; a strategy with neither fails at
            the start of the run, before any training).
        horizon: forward-return horizon in bars for PredictionQuality and Significance.
        n_trials: the trials this run was selected from (Significance's
            deflated Sharpe ratio; 1: this run alone).
        start: the window measured: ``"auto"`` (above), ``"data"`` (from the
            first bar, every bar of the feed) or a date (``"2016-01-01"``).
        centre: the neutral prediction of the model's target (0.5 for ``sign`` and
            ``rank``, else 0): the hit rates compare the sign of ``prediction - centre``
            with the realised return's, and PredictionQuality's long calls are the
            predictions above it (docs/features.md "Targets").

    Returns:
        The same ``cerebro``.

    Example:
        >>> import backtrader as bt
        >>> cerebro = add_standard_analyzers(bt.Cerebro(), signal="prediction")
    """
    if not isinstance(cerebro, bt.Cerebro):
        raise TypeError(f"`cerebro` must be a backtrader.Cerebro, got {cerebro!r}")
    try:
        rf = float(riskfree)
    except (TypeError, ValueError):
        raise ValueError(f"`riskfree` must be a number, got {riskfree!r}") from None
    if not math.isfinite(rf):
        raise ValueError(f"`riskfree` must be finite, got {riskfree!r}")
    if signal is not None and signal is not True and not isinstance(signal, str):
        raise ValueError(f"`signal` must be None, True or a line name, got {signal!r}")
    check_start(start, "add_standard_analyzers")

    days = bt.TimeFrame.Days
    win = dict(start=start, signal=signal if isinstance(signal, str) else None)
    cerebro.addanalyzer(WindowReturns, _name="returns", timeframe=days, tann=252, **win)
    cerebro.addanalyzer(WindowDrawDown, _name="drawdown", **win)
    cerebro.addanalyzer(
        WindowSharpeRatio,
        _name="sharpe",
        timeframe=days,
        compression=1,
        riskfreerate=rf,
        annualize=True,
        factor=252,
        **win,
    )
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(WindowTimeReturn, _name="timereturn", timeframe=days, **win)
    cerebro.addanalyzer(bt.analyzers.SQN, _name="sqn")
    cerebro.addanalyzer(BenchmarkRelative, _name="benchmark", benchmark=benchmark, **win)
    cerebro.addanalyzer(Exposure, _name="exposure", **win)
    cerebro.addanalyzer(OrderLog, _name="orders")
    cerebro.addanalyzer(Weights, _name="weights")
    if signal is not None:
        cerebro.addanalyzer(
            PredictionQuality,
            _name="prediction",
            signal=None if signal is True else signal,
            horizon=horizon,
            start=start,
            centre=float(centre),
            threshold=float(centre),  # a long call: a prediction above the centre
        )
        cerebro.addanalyzer(
            Significance,
            _name="significance",
            signal=None if signal is True else signal,
            horizon=horizon,
            benchmark=benchmark,
            n_trials=n_trials,
            start=start,
            centre=float(centre),
        )
    return cerebro
