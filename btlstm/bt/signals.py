"""The one way a strategy gets its signal: a line of a feed, a predictor built on a feed, or a pool.

Strategies read lines, never models (DESIGN.md). Where a strategy's signal
comes from is decided here, once, for every strategy and for the analyzers
that score it:

- a **line** of the feed: a column the feed exposes (``make_feed(frame,
  extra_lines=("prediction",))``), e.g. hand-written predictions in a test;
- a **predictor**: a ``bt.Indicator`` class built on the feed with keyword
  arguments (:class:`btlstm.bt.indicators.LSTMPredictor`,
  :class:`~btlstm.bt.indicators.PrecomputedPrediction`, a live predictor); its
  line 0 is the signal;
- a **pool**: one :class:`btlstm.bt.indicators.PredictionPool` for several feeds
  (one pooled model); a :class:`~btlstm.bt.indicators.PooledPredictor` per feed.
  The strategy's feeds are the pool's: a pool given history for more feeds
  (e.g. the benchmark SPY) trains on the strategy's feeds only, through a new
  pool (:meth:`~btlstm.bt.indicators.PredictionPool.subset`); the shared pool is
  never edited.

:func:`signal_of` resolves one feed's signal, :func:`signals_of` one per feed;
:func:`line_of` is the plain line lookup (with the closest name on a typo).
:func:`scored_signals` is what :class:`btlstm.bt.analyzers.PredictionQuality`
scores: the strategy's ``signals`` dict ``{feed name: line}``, or its
``prediction`` attribute.

Example (a strategy's ``__init__``)::

    self.prediction, self.predictor = signal_of(
        self.data, line=self.p.signal, predictor=self.p.predictor,
        predictor_kwargs=self.p.predictor_kwargs)
"""

from __future__ import annotations

from collections.abc import Mapping

import backtrader as bt
import numpy as np

from btlstm.checks import closest

__all__ = ["line_of", "signal_of", "signals_of", "scored_signals", "value_now"]


def _feed_name(data) -> str:
    return getattr(data, "_name", "") or "0"


def line_of(data, name, param: str = "signal", hint: str = ""):
    """The line ``name`` of feed ``data``.

    Args:
        data: a Backtrader feed.
        name: the line's name (e.g. ``"prediction"``).
        param: the parameter that named it, for the error (``signal``, ``gate_line``).
        hint: what to do instead, appended to the error.

    Raises:
        ValueError: ``name`` is not a line of ``data``; the message names the
            parameter, the feed, its lines and the closest one.
    """
    aliases = tuple(data.lines.getlinealiases())
    if not isinstance(name, str) or name not in aliases:
        raise ValueError(
            f"`{param}` {name!r} is not a line of data {_feed_name(data)!r}"
            f"{closest(str(name), aliases)}; its lines are {aliases}{hint}"
        )
    return getattr(data.lines, name)


def _check_predictor(predictor, kwargs, param: str) -> dict:
    if predictor is None:
        if kwargs:
            raise ValueError(f"`{param}_kwargs` given without `{param}`: {kwargs!r}")
        return {}
    if not (isinstance(predictor, type) and issubclass(predictor, bt.Indicator)):
        raise TypeError(f"`{param}` must be a backtrader Indicator class, got {predictor!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise TypeError(f"`{param}_kwargs` must be a dict, got {kwargs!r}")
    return dict(kwargs or {})


def signal_of(
    data,
    line: str = "prediction",
    predictor=None,
    predictor_kwargs=None,
    param: str = "signal",
    hint: str = "",
):
    """One feed's signal: ``(line, indicator)``.

    Args:
        data: the feed.
        line: the name of the feed's line to read when there is no ``predictor``.
        predictor: a ``bt.Indicator`` class built on ``data`` with
            ``predictor_kwargs``; its line 0 is the signal.
        predictor_kwargs: keyword arguments of ``predictor``.
        param: the strategy parameter that names ``line`` (for errors).
        hint: appended to the error of a missing line.

    Returns:
        ``(signal line, predictor indicator or None)``.

    Raises:
        TypeError: ``predictor`` is not an Indicator class.
        ValueError: ``predictor_kwargs`` without a predictor; a missing line.
    """
    kwargs = _check_predictor(predictor, predictor_kwargs, "predictor")
    if predictor is not None:
        indicator = predictor(data, **kwargs)
        return indicator.lines[0], indicator
    return line_of(data, line, param, hint), None


def signals_of(
    feeds,
    line: str = "prediction",
    predictor=None,
    predictor_kwargs=None,
    pool=None,
    param: str = "signal",
    hint: str = "",
) -> dict:
    """A signal per feed: ``{feed name: line}``, in the order of ``feeds``.

    Args:
        feeds: the feeds (named, e.g. a panel's).
        line: each feed's line to read without ``predictor`` or ``pool``.
        predictor, predictor_kwargs: an indicator class built on each feed.
        pool: a :class:`btlstm.bt.indicators.PredictionPool`: one pooled model for
            all the feeds. It trains on these feeds only (a new pool when it
            holds history for others); the given pool is left as it is.
        param, hint: as :func:`signal_of`.

    Raises:
        ValueError: both ``predictor`` and ``pool``; feeds without a name or
            with the same name; a feed without ``line`` (every such feed named).
    """
    feeds = list(feeds)
    names = [getattr(d, "_name", "") for d in feeds]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(
            f"signals: each feed needs a name of its own (cerebro.adddata(feed, name=...)), "
            f"got {names[:10]}"
        )
    if pool is not None:
        from btlstm.bt.indicators import PooledPredictor, PredictionPool

        if predictor is not None:
            raise ValueError("signals: give `predictor` or `pool`, not both")
        if not isinstance(pool, PredictionPool):
            raise TypeError(f"`pool` must be a btlstm PredictionPool, got {pool!r}")
        if set(pool.history) - set(names):  # e.g. the benchmark: not trained on
            pool = pool.subset(names)
        return {n: PooledPredictor(d, pool=pool).prediction for n, d in zip(names, feeds)}
    if predictor is None:
        missing = [n for n, d in zip(names, feeds) if line not in d.lines.getlinealiases()]
        if missing:
            aliases = tuple(feeds[names.index(missing[0])].lines.getlinealiases())
            raise ValueError(
                f"`{param}` {line!r} is not a line of feeds {missing[:8]}"
                f"{' ...' if len(missing) > 8 else ''}{closest(str(line), aliases)}; "
                f"their lines are {aliases}{hint}"
            )
    return {
        n: signal_of(d, line, predictor, predictor_kwargs, param, hint)[0]
        for n, d in zip(names, feeds)
    }


def value_now(value) -> float:
    """A number, or the current value ``[0]`` of a line / indicator."""
    if isinstance(value, (int, float, np.floating, np.integer)):
        return float(value)
    return float(value[0])


def scored_signals(strategy, data, name: str) -> list:
    """What an analyzer scores in ``strategy``: ``[(feed name, feed, read)]``, where
    ``read()`` is the signal's current value.

    - the strategy's ``signals``: a dict ``{feed name: line}`` (a line, an
      indicator, or a number the strategy updates): every feed in it;
    - else its ``prediction`` attribute (a line or a number), scored against
      ``data`` (named ``name``).

    Raises:
        ValueError: ``signals`` is not a non-empty dict, or a key names no feed.
        AttributeError: the strategy has neither.
    """
    if hasattr(strategy, "signals"):
        signals = strategy.signals
        if not isinstance(signals, Mapping) or not signals:
            raise ValueError(
                f"{type(strategy).__name__}.signals must be a non-empty dict "
                f"{{feed name: line}}, got {signals!r}"
            )
        by_name = {d._name: d for d in strategy.datas if d._name}
        feeds = []
        for key in signals:
            if key not in by_name:
                raise ValueError(
                    f"{type(strategy).__name__}.signals has key {key!r}, which names no "
                    f"feed{closest(str(key), by_name)} (feeds: {list(by_name)})"
                )

            def read(key=key):
                return value_now(strategy.signals[key])

            feeds.append((str(key), by_name[key], read))
        return feeds
    if not hasattr(strategy, "prediction"):
        raise AttributeError(
            "PredictionQuality(signal=None) reads the strategy's `signals` dict or its "
            f"`prediction` attribute, but {type(strategy).__name__} has none; pass "
            "`signal=<line name>`"
        )
    return [(name, data, lambda: value_now(strategy.prediction))]
