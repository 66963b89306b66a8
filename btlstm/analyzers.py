"""Backtrader analyzers for prediction quality, benchmark-relative performance
and exposure / turnover, plus :func:`add_standard_analyzers`.

These add what Backtrader lacks; returns, drawdown, Sharpe, trade statistics,
time returns and SQN come from Backtrader's own analyzers (added by
:func:`add_standard_analyzers` under stable names).
"""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pandas as pd

__all__ = [
    "PredictionQuality",
    "BenchmarkRelative",
    "Exposure",
    "STANDARD_NAMES",
    "add_standard_analyzers",
]

_NAN = float("nan")


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN for fewer than 2 points or a constant input."""
    if len(x) < 2:
        return _NAN
    xd = x - x.mean()
    yd = y - y.mean()
    den = math.sqrt(float(np.dot(xd, xd)) * float(np.dot(yd, yd)))
    if den == 0.0:
        return _NAN
    return float(np.dot(xd, yd) / den)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation: Pearson on average ranks (ties share a rank)."""
    rx = pd.Series(x).rank(method="average").to_numpy()
    ry = pd.Series(y).rank(method="average").to_numpy()
    return _pearson(rx, ry)


def _std(x: np.ndarray, ddof: int) -> float:
    if len(x) <= ddof:
        return _NAN
    return float(np.std(x, ddof=ddof))


def _ratio(num: float, den: float) -> float:
    if den == 0.0 or not math.isfinite(den) or not math.isfinite(num):
        return _NAN
    return num / den


class PredictionQuality(bt.Analyzer):
    """Scores a prediction line against the forward returns that followed it.

    While the backtest runs it records, for every bar (including the warm-up
    bars before the strategy's minimum period): the date, the prediction and
    the close. At ``stop()`` -- after the fact, for scoring only -- it computes
    the realised forward return ``close[t+h] / close[t] - 1`` for every bar t
    where bar t+h exists. This uses future prices, which is fine for an
    evaluation that runs after the backtest; nothing here feeds back into
    trading.

    Where the prediction comes from:

      - ``signal`` a string: the line of that name on ``data`` (e.g. a
        ``prediction`` line of a PandasData subclass);
      - ``signal=None``: the strategy's attribute ``prediction``, read after
        the strategy's ``next()`` each bar. It may be a line (``[0]`` is read,
        e.g. ``HoldNDays.prediction``) or a plain number the strategy updates.

    Params:

      - ``signal`` (default: ``None``): line name on ``data`` or None (see above)
      - ``horizon`` (default: ``5``): forward-return horizon in bars
      - ``data`` (default: ``None``): the feed whose close is scored; None is
        the strategy's ``data0``
      - ``threshold`` (default: ``0.0``): a prediction above it counts as a
        long call for ``long_hit_rate``

    ``get_analysis()`` keys:

      - ``count``: bars with both a finite prediction and a realised return
      - ``hit_rate``: share of those bars where the signs of prediction and
        realised return agree, excluding bars where either is exactly 0
      - ``ic``: Pearson correlation of prediction and realised return
      - ``rank_ic``: Spearman rank correlation (average ranks for ties)
      - ``mean_prediction``, ``mean_realised``: means over the counted bars
      - ``long_hit_rate``: share of realised > 0 among bars with
        prediction > ``threshold``
      - ``horizon``: the horizon used
      - ``records``: list of dicts ``date``, ``prediction``, ``realised`` for
        every recorded bar (realised is NaN for the last ``horizon`` bars), for
        a ``predictions.csv``

    Statistics that cannot be computed (too few points, constant input) are NaN.
    """

    params = (
        ("signal", None),  # line name on `data`, or None: the strategy's `prediction`
        ("horizon", 5),  # forward-return horizon in bars
        ("data", None),  # feed to score; None: the strategy's data0
        ("threshold", 0.0),  # prediction above this is a long call (long_hit_rate)
    )

    def __init__(self):
        h = self.p.horizon
        if isinstance(h, bool) or not isinstance(h, int) or h < 1:
            raise ValueError(f"`horizon` must be an integer >= 1 (bars), got {h!r}")
        self._data = self.p.data if self.p.data is not None else self.strategy.datas[0]
        if self.p.signal is not None:
            name = self.p.signal
            aliases = tuple(self._data.lines.getlinealiases())
            if not isinstance(name, str) or name not in aliases:
                raise ValueError(
                    f"`signal` {name!r} is not a line of data {self._data._name or 0!r}; "
                    f"its lines are {aliases}"
                )
            self._line = getattr(self._data.lines, name)
        else:
            self._line = None

    def start(self):
        self._dates = []
        self._preds = []
        self._closes = []

    def _read_prediction(self) -> float:
        if self._line is not None:
            return float(self._line[0])
        if not hasattr(self.strategy, "prediction"):
            raise AttributeError(
                "PredictionQuality(signal=None) reads the strategy's `prediction` attribute, "
                f"but {type(self.strategy).__name__} has none; pass `signal=<line name>`"
            )
        value = self.strategy.prediction
        if isinstance(value, (int, float, np.floating, np.integer)):
            return float(value)
        return float(value[0])

    def next(self):
        # `prenext` and `nextstart` default to `next`: every bar is recorded
        self._dates.append(self._data.datetime.datetime(0))
        self._preds.append(self._read_prediction())
        self._closes.append(float(self._data.close[0]))

    def stop(self):
        h = self.p.horizon
        pred = np.asarray(self._preds, dtype=float)
        close = np.asarray(self._closes, dtype=float)
        realised = np.full(len(close), np.nan)
        if len(close) > h:
            realised[:-h] = close[h:] / close[:-h] - 1.0

        ok = np.isfinite(pred) & np.isfinite(realised)
        p, r = pred[ok], realised[ok]
        nonzero = (p != 0.0) & (r != 0.0)
        longs = p > self.p.threshold

        rets = self.rets
        rets["count"] = int(ok.sum())
        rets["hit_rate"] = (
            float(np.mean(np.sign(p[nonzero]) == np.sign(r[nonzero]))) if nonzero.any() else _NAN
        )
        rets["ic"] = _pearson(p, r)
        rets["rank_ic"] = _spearman(p, r) if len(p) >= 2 else _NAN
        rets["mean_prediction"] = float(p.mean()) if len(p) else _NAN
        rets["mean_realised"] = float(r.mean()) if len(r) else _NAN
        rets["long_hit_rate"] = float(np.mean(r[longs] > 0.0)) if longs.any() else _NAN
        rets["horizon"] = h
        rets["records"] = [
            {"date": d, "prediction": float(x), "realised": float(y)}
            for d, x, y in zip(self._dates, pred, realised, strict=True)
        ]


class BenchmarkRelative(bt.Analyzer):
    """Portfolio performance relative to a buy-and-hold benchmark.

    Each bar it records the portfolio value (``broker.getvalue()`` after the
    strategy's ``next``) and the benchmark's close. Daily returns are
    ``v[t]/v[t-1] - 1`` and ``c[t]/c[t-1] - 1`` over the recorded bars (the
    first bar has no return). The standard deviation convention follows
    Backtrader's ``SharpeRatio`` (``stddev_sample=False``: population, ddof 0).

    Formula:

      - beta = cov(rp, rb) / var(rb);  alpha = (mean(rp) - beta mean(rb)) * ann
        (CAPM, risk-free rate 0)
      - tracking_error = std(rp - rb) * sqrt(ann)
      - information_ratio = mean(rp - rb) / std(rp - rb) * sqrt(ann)
      - benchmark_sharpe = mean(rb) / std(rb) * sqrt(ann)  (risk-free rate 0)

    Params:

      - ``benchmark`` (default: ``None``): a data feed; None is the strategy's
        first data (buy-and-hold of the traded asset)
      - ``annualization`` (default: ``252``): periods per year
      - ``stddev_sample`` (default: ``False``): ddof 1 instead of 0

    ``get_analysis()`` keys:

      - ``total_return``: final value / starting value (at ``start()``) - 1
        (bars before the benchmark's first close are left out of every other
        statistic)
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
        v, c = v[first:], c[first:]  # compare from the benchmark's first close on
        rets = self.rets
        n = len(v)
        rets["total_return"] = float(v[-1] / self._value_start - 1.0) if n else _NAN
        rets["benchmark_return"] = float(c[-1] / c[0] - 1.0) if n else _NAN
        rets["excess_return"] = rets["total_return"] - rets["benchmark_return"]

        rp = v[1:] / v[:-1] - 1.0 if n > 1 else np.empty(0)
        rb = c[1:] / c[:-1] - 1.0 if n > 1 else np.empty(0)
        rets["n_periods"] = len(rp)
        if len(rp) > ddof:
            var_b = float(np.var(rb, ddof=ddof))
            cov = float(np.cov(rp, rb, ddof=ddof)[0, 1]) if len(rp) > 1 else 0.0
            beta = _ratio(cov, var_b)
            active = rp - rb
            te = _std(active, ddof)
            sd_b = _std(rb, ddof)
            rets["beta"] = beta
            rets["alpha"] = (float(rp.mean()) - beta * float(rb.mean())) * ann
            rets["tracking_error"] = te * math.sqrt(ann)
            rets["information_ratio"] = _ratio(float(active.mean()), te) * math.sqrt(ann)
            rets["correlation"] = _pearson(rp, rb)
            rets["benchmark_sharpe"] = _ratio(float(rb.mean()), sd_b) * math.sqrt(ann)
        else:
            for key in (
                "beta",
                "alpha",
                "tracking_error",
                "information_ratio",
                "correlation",
                "benchmark_sharpe",
            ):
                rets[key] = _NAN
        if n:
            peak = np.maximum.accumulate(c)
            rets["benchmark_max_drawdown"] = float(np.max(1.0 - c / peak))
        else:
            rets["benchmark_max_drawdown"] = _NAN


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

    def notify_order(self, order):
        if order.status == order.Completed:
            mult = self.strategy.broker.getcommissioninfo(order.data).p.mult
            self._traded += abs(order.executed.size) * order.executed.price * mult
            self._n_orders += 1

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
        rets["turnover"] = _ratio(self._traded, mean_value)
        rets["turnover_annualized"] = (
            rets["turnover"] * float(self.p.annualization) / n if n else _NAN
        )
        rets["n_orders"] = self._n_orders
        rets["n_trades"] = self._n_trades


STANDARD_NAMES = (
    "returns",
    "drawdown",
    "sharpe",
    "trades",
    "timereturn",
    "sqn",
    "benchmark",
    "exposure",
    "prediction",
)
"""``_name`` of each analyzer added by :func:`add_standard_analyzers`."""


def add_standard_analyzers(
    cerebro: bt.Cerebro,
    riskfree: float = 0.0,
    benchmark=None,
    signal=None,
    horizon: int = 5,
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
      - ``prediction``: :class:`PredictionQuality`, only when ``signal`` is given

    Args:
        cerebro: the ``bt.Cerebro`` to add to.
        riskfree: annual risk-free rate for the Sharpe ratio (0.02 = 2%).
        benchmark: data feed for :class:`BenchmarkRelative`; None is data0.
        signal: None (no PredictionQuality), a line name on data0, or
            ``True`` to read the strategy's ``prediction`` attribute.
        horizon: forward-return horizon in bars for PredictionQuality.

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
    if signal is not None:
        cerebro.addanalyzer(
            PredictionQuality,
            _name="prediction",
            signal=None if signal is True else signal,
            horizon=horizon,
        )
    return cerebro
