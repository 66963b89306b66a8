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
from collections.abc import Mapping

import backtrader as bt
import numpy as np
import pandas as pd

from btlstm import metrics
from btlstm.rebalance import is_tradable
from btlstm.signals import line_of, scored_signals
from btlstm.summary import SUMMARY_KEYS, summary_row

__all__ = [
    "PredictionQuality",
    "BenchmarkRelative",
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
    suspended bar of :func:`btlstm.feeds.add_panel`) gets no realised return:
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
        ("signal", None),  # line name on `data`, or None: the strategy's `signals`/`prediction`
        ("horizon", 5),  # forward-return horizon in bars
        ("data", None),  # feed to score; None: the strategy's data0
        ("threshold", 0.0),  # prediction above this is a long call (long_hit_rate)
    )

    def __init__(self):
        h = self.p.horizon
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValueError(f"`horizon` must be an integer >= 1 (bars), got {h!r}")
        self._data = self.p.data if self.p.data is not None else self.strategy.datas[0]
        self._line = None  # a line of `data` named by `signal` (btlstm.signals)
        if self.p.signal is not None:
            self._line = line_of(self._data, self.p.signal)

    def start(self):
        self._feeds = None  # [(symbol, data, read)], resolved on the first bar
        self._rows = None  # per feed: [dates, predictions, closes, tradable flags]
        self._seen = None  # per feed: length at the last recorded bar

    def _resolve(self) -> list:
        strategy, name = self.strategy, _symbol(self.strategy, self._data)
        if self._line is not None:
            line = self._line
            return [(name, self._data, lambda: float(line[0]))]
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
        pred = np.asarray([rec[3] for rec in records], dtype=float)
        realised = np.asarray([rec[4] for rec in records], dtype=float)

        ok = np.isfinite(pred) & np.isfinite(realised)
        p, r = pred[ok], realised[ok]
        longs = p > self.p.threshold

        rets = self.rets
        rets.update(metrics.prediction_quality(p, r))
        rets["long_hit_rate"] = float(np.mean(r[longs] > 0.0)) if longs.any() else _NAN
        rets["horizon"] = h
        rets["records"] = [
            {"date": d, "symbol": sym, "prediction": float(x), "realised": float(y)}
            for d, _, sym, x, y in records
        ]
        rets["per_asset"] = {sym: metrics.prediction_quality(x, y) for sym, _, x, y in per_feed}
        rets["per_date"] = {}
        if len(per_feed) > 1:
            frame = pd.DataFrame(
                {
                    "date": [rec[0] for rec in records],
                    "symbol": [rec[2] for rec in records],
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

    ``get_analysis()`` keys:

      - ``total_return``: final value / starting value (at ``start()``) - 1,
        over the whole run even when the benchmark starts later (bars before
        the benchmark's first close are left out of every other statistic)
      - ``benchmark_return``: last close / first recorded close - 1
      - ``excess_return``: ``total_return - benchmark_return``
      - ``beta``, ``alpha`` (annualized), ``information_ratio``,
        ``tracking_error`` (annualized), ``correlation`` (of daily returns)
      - ``benchmark_max_drawdown``: largest peak-to-trough fall of the
        benchmark close, as a positive fraction (0.25 = -25%)
      - ``benchmark_sharpe``: annualized, risk-free rate 0
      - ``n_periods``: number of daily returns used
      - ``start_value``: portfolio value at ``start()``; ``final_value``: at
        the last bar
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
    )

    def __init__(self):
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
        v = np.asarray(self._values, dtype=float)
        c = np.asarray(self._closes, dtype=float)
        self.rets["start_value"] = float(self._value_start)
        self.rets["final_value"] = float(v[-1]) if len(v) else _NAN
        self.rets["benchmark_name"] = str(getattr(self._bench, "_name", "") or "")
        self.rets["series"] = {
            "dates": list(self._dates),
            "values": v.tolist(),
            "benchmark_closes": c.tolist(),
        }
        started = np.flatnonzero(np.isfinite(c))
        first = int(started[0]) if len(started) else len(c)
        # the strategy's return runs from the start value (its first bar), whenever the
        # benchmark starts; every other statistic compares from the benchmark's first close
        rets = self.rets
        rets["total_return"] = metrics.total_return(v, self._value_start)
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
    )

    def __init__(self):
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
                signal=self.p.signal, data=self.p.data, horizon=self.p.horizon
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

    def _predictions(self):
        """(predictions, realised): 1-D arrays for one feed, date x symbol frames for several."""
        if self._quality is None:
            return None, None
        records = self._quality.get_analysis().get("records") or []
        if not records:
            return None, None
        frame = pd.DataFrame(records)
        if frame["symbol"].nunique() == 1:
            return frame["prediction"].to_numpy(float), frame["realised"].to_numpy(float)
        wide = frame.pivot_table(
            index="date", columns="symbol", values=["prediction", "realised"], dropna=False
        )
        return wide["prediction"], wide["realised"]

    def stop(self):
        from btlstm import significance

        dates = pd.DatetimeIndex(pd.to_datetime(self._dates)).normalize()
        values = pd.Series(np.asarray(self._values, dtype=float), index=dates)
        returns = metrics.daily_returns(values, self._value_start)
        benchmarks = dict(self._series)
        for name, closes in self._closes.items():
            c = pd.Series(np.asarray(closes, dtype=float), index=dates)
            benchmarks[name] = c / c.shift(1) - 1.0
        pred, real = self._predictions()
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
        self.rets["series"] = {
            "dates": list(self._dates),
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

    ``get_analysis()`` keys:

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

    params = (("annualization", 252),)  # periods per year for turnover_annualized

    def start(self):
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

    def stop(self):
        n = len(self._values)
        values = np.asarray(self._values, dtype=float)
        rets = self.rets
        rets["n_bars"] = n
        rets["exposure"] = float(np.mean(self._invested)) if n else _NAN
        rets["avg_gross_exposure"] = float(np.mean(np.asarray(self._gross) / values)) if n else _NAN
        mean_value = float(values.mean()) if n else _NAN
        rets["traded_value"] = self._traded
        rets["turnover"] = self._traded / mean_value if n and mean_value else _NAN
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
          the ``reason`` of a :class:`btlstm.rebalance.Rebalancer`
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
) -> bt.Cerebro:
    """Add Backtrader's standard analyzers and btlstm's under stable names.

    Names (``strategy.analyzers.<name>``):

      - ``returns``: ``bt.analyzers.Returns`` (daily, ``tann=252``)
      - ``drawdown``: ``bt.analyzers.DrawDown``
      - ``sharpe``: ``bt.analyzers.SharpeRatio`` (daily returns, compression 1,
        ``riskfreerate=riskfree`` as an annual rate, annualized with factor 252)
      - ``trades``: ``bt.analyzers.TradeAnalyzer``
      - ``timereturn``: ``bt.analyzers.TimeReturn`` (daily)
      - ``sqn``: ``bt.analyzers.SQN``
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
        signal: None (no PredictionQuality), a line name on data0, or
            ``True`` to read the strategy's ``signals`` dict (every feed in
            it) or else its ``prediction`` attribute (data0).
        horizon: forward-return horizon in bars for PredictionQuality and Significance.
        n_trials: the trials this run was selected from (Significance's
            deflated Sharpe ratio; 1: this run alone).

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

    days = bt.TimeFrame.Days
    cerebro.addanalyzer(bt.analyzers.Returns, _name="returns", timeframe=days, tann=252)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(
        bt.analyzers.SharpeRatio,
        _name="sharpe",
        timeframe=days,
        compression=1,
        riskfreerate=rf,
        annualize=True,
        factor=252,
    )
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.addanalyzer(bt.analyzers.TimeReturn, _name="timereturn", timeframe=days)
    cerebro.addanalyzer(bt.analyzers.SQN, _name="sqn")
    cerebro.addanalyzer(BenchmarkRelative, _name="benchmark", benchmark=benchmark)
    cerebro.addanalyzer(Exposure, _name="exposure")
    cerebro.addanalyzer(OrderLog, _name="orders")
    cerebro.addanalyzer(Weights, _name="weights")
    if signal is not None:
        cerebro.addanalyzer(
            PredictionQuality,
            _name="prediction",
            signal=None if signal is True else signal,
            horizon=horizon,
        )
        cerebro.addanalyzer(
            Significance,
            _name="significance",
            signal=None if signal is True else signal,
            horizon=horizon,
            benchmark=benchmark,
            n_trials=n_trials,
        )
    return cerebro
