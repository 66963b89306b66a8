"""What a report holds: its tables' columns, the definition of every number, and :class:`RunData`.

The schema every other room of :mod:`btlstm.report` writes and reads: the
leading columns of each table (:data:`TABLE_COLUMNS`), what each reported
number means and which analyzer or :mod:`btlstm.metrics` function produced it
(:data:`DEFINITIONS`, copied into every ``report.json``), the keys of a
comparison row (:data:`SUMMARY_KEYS`, from :mod:`btlstm.summary`) and the
plain-data container of a finished run (:class:`RunData`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from btlstm.summary import SUMMARY_KEYS

__all__ = ["TABLE_COLUMNS", "DEFINITIONS", "SUMMARY_KEYS", "RunData"]

TABLE_COLUMNS = {
    "predictions": ["date", "symbol", "prediction", "realised_return", "realised_target"],
    "trades": [
        "strategy",
        "created_date",
        "date",
        "symbol",
        "side",
        "size",
        "price",
        "value",
        "commission",
        "status",
        "reason",
        "detail",
    ],
    "equity": ["date"],  # + one column per comparison row (+ the closes benchmark)
    "weights": ["date", "symbol", "weight"],
    "forecasts": ["date", "sector", "forecast"],  # panel runs with a model (forecasts.csv)
}
"""Leading columns of each table of :class:`RunData` (and of its CSV file)."""

DEFINITIONS = {
    "total_return": "final portfolio value / starting value - 1, for the strategy and every "
    "comparison row (BenchmarkRelative's total_return: btlstm.metrics.total_return); "
    "benchmark from closes: last close / first close - 1 (the same function on its closes)",
    "annual_return": "strategy and comparison rows: Backtrader Returns 'rnorm' = exp(mean "
    "daily log return x 252) - 1; benchmark from closes: (1 + total_return) ** "
    "(252 / daily returns) - 1 (btlstm.metrics.annual_return)",
    "sharpe": "daily returns, annualised with sqrt(252); strategy: Backtrader SharpeRatio "
    "(risk-free rate = costs/config 'riskfree', 0 unless configured); benchmark from "
    "closes: BenchmarkRelative, risk-free 0, population std",
    "max_drawdown": "largest peak-to-trough fall as a positive fraction (0.25 = -25%); "
    "strategy: Backtrader DrawDown analyzer max.drawdown / 100 (portfolio value); "
    "benchmark from closes: on its closes",
    "max_drawdown_len": "bars of the longest drawdown (Backtrader DrawDown max.len)",
    "exposure": "share of bars closing with an open position (btlstm Exposure)",
    "turnover": "total traded value (both sides) / mean portfolio value over the run",
    "n_trades": "closed trades (Backtrader TradeAnalyzer total.closed)",
    "n_orders": "orders filled (status Completed; btlstm Exposure)",
    "n_rejected": "orders the broker refused: Margin (not enough cash at the fill, e.g. a buy "
    "sized at the close when the next open gaps up) or Rejected; each is a row of trades.csv "
    "with its status and, in 'detail', why (btlstm Exposure; n_margin: the Margin part)",
    "n_canceled": "orders cancelled (e.g. a stale rebalance order replaced by the next "
    "rebalance) or expired; rows of trades.csv with why in 'detail' (n_expired: the Expired part)",
    "win_rate": "closed trades with net pnl > 0 / closed trades (Backtrader TradeAnalyzer)",
    "comparison": "one row per run (the strategy first, then each baseline) with the same "
    "keys, from btlstm.summary.summary_row; every run uses the same feeds, broker and costs",
    "relative": "BenchmarkRelative on daily returns against the closes of the benchmark feed: "
    "beta = cov/var, alpha annualised (CAPM, rf 0), tracking error and information ratio "
    "annualised with 252; excess_return = mean(daily strategy - benchmark return) x 252 (per "
    "year, as significance.vs); cumulative_return_difference = total return - benchmark "
    "total return (not a rate)",
    "prediction": "PredictionQuality: prediction at bar t vs realised forward return "
    "close[t+h]/close[t]-1 (h = horizon), pooled over every scored feed; hit_rate = sign "
    "agreement, ic = Pearson, rank_ic = Spearman; rmse/mae against realised_target = "
    "clip(return, +-clip) * scale (target units); mean_prediction in target units, "
    "mean_prediction_return = mean_prediction / scale (a return, as mean_realised)",
    "per_asset": "prediction quality of each feed on its own bars (btlstm.metrics."
    "prediction_quality)",
    "per_date": "IC and rank IC across the feeds on each date, summarised over dates: mean, "
    "std, icir = mean / std, t_stat = mean / std * sqrt(n) (btlstm.metrics.ic_summary)",
    "weights": "position value / portfolio value at each close, per feed with a position, "
    "plus 'cash' (btlstm Weights analyzer)",
    "per_year": "each calendar year's return of every run: last portfolio value of the year / "
    "last value of the previous year (the first year: the first value of the run) - 1, from "
    "equity.csv (btlstm.metrics.period_returns); a partial first or last year covers the "
    "run's bars in it only",
    "significance": "is the edge distinguishable from noise? (btlstm.significance, "
    "docs/significance.md): IC and rank IC with HAC t (lag horizon - 1; panels: the daily "
    "cross-sectional IC), hit rate vs the better constant forecaster (always up / always down; "
    "const_rate its hit rate, p two-sided), Sharpe with its standard error under skew and "
    "excess kurtosis (population moments, as performance), PSR and minimum track record, a "
    "seeded stationary-bootstrap 95% interval of the Sharpe difference and annual excess "
    "return vs each baseline run, the deflated Sharpe ratio for n_trials; 'verdict' applies 'rule'",
    "performance": "every run's standard figures from its column of equity.csv and the "
    "starting cash (btlstm.metrics.performance_stats): annual_volatility = sample std of "
    "daily returns x sqrt(252) (empyrical); sortino = mean / sqrt(mean(min(r, 0)^2)) x "
    "sqrt(252) (empyrical); calmar = compound annual return / max drawdown (empyrical); skew, "
    "excess kurtosis (Fisher, population moments: m4 / m2^2 - 3, as significance.sharpe) of "
    "daily returns; best/worst day; best/worst month "
    "(btlstm.metrics.monthly_returns); longest_drawdown_*: the drawdown period with the most "
    "bars, its start (peak) and end (recovery; null: not recovered)",
    "drawdowns": "the strategy's 5 deepest drawdown periods (btlstm.metrics.drawdown_periods): "
    "start = last bar at the running peak, trough, end = first bar back at the peak (null: not "
    "recovered), depth, bars and calendar days from start to end (or to the last bar)",
    "payoff_ratio": "average winning trade's net pnl / |average losing trade's| (Backtrader "
    "TradeAnalyzer won/lost pnl average; btlstm.metrics.payoff_ratio)",
    "avg_holding_bars": "average bars a closed trade was held (Backtrader TradeAnalyzer "
    "len.average)",
    "best_trade": "largest net pnl of a winning trade (TradeAnalyzer won.pnl.max); worst_trade: "
    "the lowest net pnl of a losing trade (lost.pnl.max)",
    "tail_figures": "performance.var_95 = 5th percentile of the daily returns, cvar_95 = mean "
    "of the worst int((n - 1) x 0.05) + 1 daily returns (historical, 95%, daily), tail_ratio = "
    "|95th percentile| / |5th percentile|, omega = sum of gains / sum of losses at threshold 0 "
    "(all as empyrical; btlstm.metrics)",
    "excess_growth": "cumulative excess return over a baseline (excess.png): the growth of "
    "(1 + r_s) / (1 + r_b) - 1 from the first date both runs have a value "
    "(btlstm.metrics.excess_growth)",
    "roundtrips": "roundtrips.csv: filled orders matched first in, first out per run and "
    "symbol; one row per closing fill with entry/exit dates and prices, size, pnl net of both "
    "legs' commission, return_pct = pnl / (entry_price x size), bars_held "
    "(btlstm.report.tearsheet.roundtrips)",
    "benchmark": "buy-and-hold of the benchmark feed: a real baseline run (orders, costs) when "
    "one was added, else the feed's closes from its first bar in the run to its last "
    "(BenchmarkRelative: no orders, no costs; see benchmark.source)",
}
"""What each reported number means and which analyzer produced it."""


@dataclass
class RunData:
    """A finished run as plain data: what every report writer reads.

    Attributes:
        report: one plain-JSON dict (sections ``title``, ``synthetic``,
            ``strategy``, ``benchmark``, ``relative``, ``comparison``,
            ``prediction``, ``period``, ``config``, ``provenance``, ``costs``,
            ``definitions``, ``warnings``, ``notes``, ``run``).
        tables: ``predictions`` (date, symbol, prediction, realised_return,
            realised_target), ``trades`` (strategy, created_date, date, symbol,
            side, size, price, value, commission, status, reason), ``equity``
            (date, one column per comparison row, plus the closes benchmark when
            no baseline run is the benchmark) and ``weights`` (date, symbol,
            weight; the strategy only).
    """

    report: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: extra files of a run, ``{file name: DataFrame}`` (``.csv`` or gzipped ``.csv.gz``),
    #: e.g. the ranker's ``gate.csv`` and ``scores.csv.gz``; written and kept on rebuild.
    files: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.report, dict):
            raise TypeError(f"RunData.report must be a dict, got {type(self.report).__name__}")
        for name, columns in TABLE_COLUMNS.items():
            if name not in self.tables:
                self.tables[name] = pd.DataFrame(columns=columns)
