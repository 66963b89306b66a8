"""The comparison row of a finished run: ``SUMMARY_KEYS`` and :func:`summary_row`.

The report-row schema: one row per run (the strategy and each baseline) with
the same keys, read after ``cerebro.run()`` from the analyzers that
:func:`btlstm.bt.analyzers.add_standard_analyzers` attaches, by their names. The
small readers the report uses on the same analyses live here too
(:func:`analysis`, :func:`lookup`, :func:`number`, :func:`count`,
:func:`require_analyzers`).
This module knows analyzer *names*, not analyzer classes, and imports no
Backtrader; ``btlstm.bt.analyzers.summary_row`` and ``btlstm.bt.analyzers.SUMMARY_KEYS``
are the same objects.
"""

from __future__ import annotations

__all__ = [
    "SUMMARY_KEYS",
    "ROW_ANALYZERS",
    "summary_row",
    "require_analyzers",
    "analysis",
    "lookup",
    "number",
    "count",
]

_NAN = float("nan")

SUMMARY_KEYS = (
    "name",
    "total_return",
    "annual_return",
    "sharpe",
    "max_drawdown",
    "turnover",
    "n_trades",
    "exposure",
    "n_orders",
    "n_rejected",
    "n_canceled",
)
"""Keys of :func:`summary_row`, in order."""

ROW_ANALYZERS = ("returns", "drawdown", "sharpe", "trades", "benchmark", "exposure")
"""The analyzer names (of ``add_standard_analyzers``) a row is read from."""


def number(x) -> float:
    """A float from anything numeric; NaN for None, a missing value or a non-number.

    Example:
        >>> number("1.5"), number(None)
        (1.5, nan)
    """
    try:
        return float(x)
    except (TypeError, ValueError):
        return _NAN


def lookup(mapping, *keys, default=None):
    """Nested ``get`` through dicts and Backtrader's ``AutoOrderedDict``.

    Never creates a key (an ``AutoOrderedDict`` would on a plain ``[]``).

    Example:
        >>> lookup({"max": {"drawdown": 12.5}}, "max", "drawdown")
        12.5
        >>> lookup({"max": {}}, "max", "len", default=0)
        0
    """
    cur = mapping
    for k in keys:
        if cur is None:
            return default
        try:
            if k not in cur:
                return default
            cur = cur[k]
        except TypeError:
            return default
    return cur


def count(mapping, *keys) -> int:
    """An integer count at ``keys`` of an analysis; 0 when missing.

    Example:
        >>> count({"total": {"closed": 3}}, "total", "closed"), count({}, "won", "total")
        (3, 0)
    """
    return int(lookup(mapping, *keys, default=0) or 0)


def analysis(strategy, name: str):
    """``strategy.analyzers.<name>.get_analysis()``, or None when not attached."""
    analyzer = getattr(strategy.analyzers, name, None)
    if analyzer is None:
        return None
    return analyzer.get_analysis()


def require_analyzers(strategy, who: str = "strategy") -> None:
    """Refuse a strategy without the analyzers a row is read from.

    Args:
        strategy: a strategy returned by ``cerebro.run()``.
        who: how the error names it, e.g. ``"strategy"`` or ``"baseline 'x'"``.

    Raises:
        TypeError: ``strategy`` has no analyzers (not a run strategy).
        ValueError: some of :data:`ROW_ANALYZERS` are missing (named).
    """
    analyzers = getattr(strategy, "analyzers", None)
    if analyzers is None:
        raise TypeError(f"{who}: expected a strategy returned by cerebro.run(), got {strategy!r}")
    missing = [n for n in ROW_ANALYZERS if getattr(analyzers, n, None) is None]
    if missing:
        raise ValueError(
            f"{who} ({type(strategy).__name__}) lacks {missing}: call "
            "btlstm.bt.analyzers.add_standard_analyzers(cerebro, ...) before cerebro.run()"
        )


def summary_row(strategy, name: str) -> dict:
    """One comparison row for a finished strategy, from the standard analyzers.

    The same keys for the strategy and for every baseline, so rows can be
    compared side by side (``report.json``'s ``comparison`` list).

    Formula:
      - ``total_return``: final portfolio value / starting value - 1
        (the ``benchmark`` analyzer's ``total_return``:
        :func:`btlstm.metrics.total_return`)
      - ``annual_return``: Backtrader ``Returns`` ``rnorm`` (``returns``)
      - ``sharpe``: Backtrader ``SharpeRatio`` ``sharperatio`` (NaN when
        Backtrader gives None)
      - ``max_drawdown``: ``DrawDown`` ``max.drawdown / 100``, a positive
        fraction (0.25 = -25%)
      - ``turnover``: :class:`~btlstm.bt.analyzers.Exposure` ``turnover``
      - ``n_trades``: closed trades (``TradeAnalyzer`` ``total.closed``)
      - ``exposure``: :class:`~btlstm.bt.analyzers.Exposure` ``exposure`` (share
        of bars in the market)
      - ``n_orders``, ``n_rejected``, ``n_canceled``:
        :class:`~btlstm.bt.analyzers.Exposure`'s filled orders, orders the broker
        refused (``Margin``, ``Rejected``) and orders cancelled or expired

    Args:
        strategy: a strategy returned by ``cerebro.run()`` after
            :func:`~btlstm.bt.analyzers.add_standard_analyzers`.
        name: the row's name, e.g. ``"strategy"`` or ``"buy_and_hold"``.

    Returns:
        A dict with exactly the keys of ``SUMMARY_KEYS``: ``name``,
        ``total_return``, ``annual_return``, ``sharpe``, ``max_drawdown``,
        ``turnover``, ``n_trades`` (int), ``exposure`` (floats, NaN when
        unknown), ``n_orders``, ``n_rejected`` and ``n_canceled`` (ints).

    Raises:
        ValueError: ``name`` is empty, or an analyzer of :data:`ROW_ANALYZERS` is missing.

    Example:
        >>> import backtrader as bt
        >>> import pandas as pd
        >>> from btlstm.bt.analyzers import add_standard_analyzers
        >>> frame = pd.DataFrame({"open": [10.0, 11.0, 12.0], "close": [11.0, 12.0, 12.5]},
        ...                      index=pd.bdate_range("2024-01-01", periods=3))
        >>> cerebro = add_standard_analyzers(bt.Cerebro(stdstats=False))
        >>> _ = cerebro.adddata(bt.feeds.PandasData(dataname=frame))
        >>> _ = cerebro.addstrategy(bt.Strategy)
        >>> row = summary_row(cerebro.run()[0], "idle")
        >>> row["name"], row["total_return"], row["n_trades"], row["exposure"]
        ('idle', 0.0, 0, 0.0)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string, got {name!r}")
    require_analyzers(strategy, f"summary_row {name!r}")
    returns, drawdown, sharpe, trades, bench, expo = (analysis(strategy, n) for n in ROW_ANALYZERS)
    return {
        "name": name,
        "total_return": number(lookup(bench, "total_return")),
        "annual_return": number(lookup(returns, "rnorm")),
        "sharpe": number(lookup(sharpe, "sharperatio")),
        "max_drawdown": number(lookup(drawdown, "max", "drawdown")) / 100.0,
        "turnover": number(lookup(expo, "turnover")),
        "n_trades": count(trades, "total", "closed"),
        "exposure": number(lookup(expo, "exposure")),
        "n_orders": count(expo, "n_orders"),
        "n_rejected": count(expo, "n_rejected"),
        "n_canceled": count(expo, "n_canceled"),
    }
