"""How every number of a report page is written: one function, :func:`fmt`.

Each key of a report has a kind (:data:`KINDS`; a key not listed is a
``ratio``), and each kind one format, never scientific notation:

==========  ======================================  ==============
kind        format                                  example
==========  ======================================  ==============
``pct``     percent, 2 decimals                     ``-12.34%``
``ratio``   2 decimals                              ``1.23``
``corr``    3 decimals (IC, PSR)                    ``0.081``
``p``       a p-value, 3 decimals                   ``<0.001``
``int``     integer, thousands separators           ``1,234``
``money``   2 decimals, thousands separators        ``945,952.20``
``plain``   a setting as typed, positional          ``0.00001``
``text``    as is                                   ``hold``
==========  ======================================  ==============

None and NaN are ``n/a``; a number too small for its format is ``0.00``
(never ``2.475e-05``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KINDS", "fmt", "fmt_key", "kind_of"]

_PCT = (
    "total_return annual_return max_drawdown win_rate exposure avg_gross_exposure excess_return "
    "alpha tracking_error hit_rate long_hit_rate weight annual_volatility best_day worst_day "
    "best_month worst_month time_in_market trade_win_rate depth mean_realised excess_ci_low "
    "excess_ci_high base_rate volatility return cumulative_return_difference const_rate "
    "mean_prediction_return"
)
_CORR = (
    "ic rank_ic psr dsr mean std icir corr correlation value mean_prediction rmse_target "
    "mae_target"
)
_P = "p p_hac p_iid p_50 wilcoxon_p ttest_p p_holm p_bh spa_p ic_p_hac"
_INT = (
    "count n n_trades n_orders n_rejected n_canceled n_won n_lost n_margin n_expired bars days "
    "max_drawdown_len longest_drawdown_bars longest_drawdown_days n_bars n_finite_predictions "
    "n_assets horizon lag n_periods n_trials reps block seed size fits"
)
_MONEY = (
    "start_value final_value max_moneydown pnl_net traded_value best_trade worst_trade avg_win "
    "avg_loss price value commission cash"
)
KINDS: dict[str, str] = {
    **dict.fromkeys(_PCT.split(), "pct"),
    **dict.fromkeys(_CORR.split(), "corr"),
    **dict.fromkeys(_P.split(), "p"),
    **dict.fromkeys(_INT.split(), "int"),
    **dict.fromkeys(_MONEY.split(), "money"),
    **dict.fromkeys(("var_95", "cvar_95", "return_pct", "excess_growth"), "pct"),
    **dict.fromkeys(("entry_price", "exit_price", "pnl"), "money"),
    **dict.fromkeys(("bars_held",), "int"),
}
"""The kind of each report key whose numbers are not plain ratios."""


def kind_of(key) -> str:
    """The kind of ``key`` (:data:`KINDS`), ``ratio`` when not listed."""
    return KINDS.get(str(key), "ratio")


def fmt(value, kind: str = "ratio") -> str:
    """``value`` written as its ``kind`` says (module docstring); never scientific.

    Example:
        >>> fmt(-0.0540478, "pct"), fmt(2.475e-05, "corr"), fmt(945952.1978, "money")
        ('-5.40%', '0.000', '945,952.20')
        >>> fmt(1e-5, "plain"), fmt(12345, "int"), fmt(None), fmt(float("nan"), "pct")
        ('0.00001', '12,345', 'n/a', 'n/a')
    """
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    x = float(value)
    if not math.isfinite(x):
        return "n/a"
    if kind == "pct":
        text = f"{x * 100:,.2f}%"
    elif kind == "corr":
        text = f"{x:,.3f}"
    elif kind == "p":
        return "<0.001" if 0.0 <= x < 0.001 else f"{x:.3f}"
    elif kind == "int":
        return f"{int(round(x)):,d}"
    elif kind == "money":
        text = f"{x:,.2f}"
    elif kind == "plain":
        if float(x).is_integer() and abs(x) < 1e15:
            return f"{int(x):d}"
        return np.format_float_positional(x, trim="-")
    elif kind == "text":
        return str(value)
    else:
        text = f"{x:,.2f}"
    return "0" + text[2:] if text.startswith("-0") and not text.strip("-0.,%") else text


def fmt_key(key, value) -> str:
    """``fmt(value, kind_of(key))``; ints of an unlisted key stay integers."""
    kind = kind_of(key)
    if kind == "ratio" and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        kind = "int"
    return fmt(value, kind)
