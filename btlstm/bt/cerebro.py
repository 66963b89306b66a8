"""The one cerebro factory: every run builds its ``bt.Cerebro`` here.

``btlstm run`` (:func:`btlstm.pipeline.run_backtest`) and its baselines, the
runs of ``--seeds``, the backtests of a sweep (:mod:`btlstm.sweep`), paper
trading (``btlstm paper``, :mod:`btlstm.live`) and the scripts in
``scripts/`` all call :func:`make_cerebro`, so they share one set-up:

- **the broker of** ``[costs] market``: ``"index"`` (a per-value commission,
  :func:`btlstm.bt.broker.setup_broker`), ``"ashare"`` (lots, the 5 CNY minimum
  commission, the stamp tax by date, price limits, suspensions, T+1:
  :func:`btlstm.bt.ashare.setup_ashare_broker`) or ``"us"`` (per share:
  :func:`btlstm.bt.ashare.setup_us_broker`), on a :class:`btlstm.bt.broker.PanelBroker`;
  extra feeds (an index beside a stock panel) pay the plain per-value commission;
- **lean feeds**: one :func:`btlstm.bt.feeds.make_feed`, or a panel aligned on one
  calendar (:func:`btlstm.bt.feeds.add_panel`), then the extra feeds aligned to it;
  or the feeds a ``feed`` factory builds (paper trading: a live replay feed);
- no default observers (``stdstats=False``); ``runonce`` and ``preload`` kept;
- optionally btlstm's analyzers (:func:`btlstm.bt.analyzers.add_standard_analyzers`).

:func:`run` runs it with the objects made before the run kept out of the cyclic
garbage collector (the same result, faster).

Example:
    >>> from btlstm.synthetic import synthetic_ohlcv
    >>> cerebro = make_cerebro({"SYN": synthetic_ohlcv(n=60, seed=0)}, {"market": "ashare"},
    ...                        analyzers={})
    >>> cerebro.broker.getcash(), type(cerebro.broker).__name__
    (1000000.0, 'PanelBroker')
"""

from __future__ import annotations

from collections.abc import Mapping

import backtrader as bt

from btlstm.bt.broker import MARKETS, PanelBroker

__all__ = ["MARKETS", "COST_KEYS", "make_cerebro", "market_rules", "run"]

#: The cost settings :func:`make_cerebro` reads (the fields of ``[costs]``).
COST_KEYS = ("cash", "commission", "slippage", "market", "per_share")


def _costs(costs) -> dict:
    """``costs`` (``[costs]`` settings, a dict of :data:`COST_KEYS`, or None) as a full dict."""
    from btlstm.bt.ashare import US_COSTS
    from btlstm.bt.broker import INDEX_COSTS
    from btlstm.checks import closest

    out = dict(cash=INDEX_COSTS["cash"], commission=INDEX_COSTS["commission"],
               slippage=INDEX_COSTS["slippage_perc"], market="index",
               per_share=US_COSTS["per_share"])  # fmt: skip
    if costs is None:
        return out
    if not isinstance(costs, Mapping):  # CostSettings or any object with those attributes
        costs = {k: getattr(costs, k) for k in COST_KEYS if hasattr(costs, k)}
    for k, v in costs.items():
        if k not in out:
            raise ValueError(f"costs: unknown key {k!r}{closest(k, COST_KEYS)} (keys: {COST_KEYS})")
        out[k] = v
    if out["market"] not in MARKETS:
        raise ValueError(
            f"costs: market must be one of {list(MARKETS)}, got {out['market']!r}"
            f"{closest(str(out['market']), MARKETS)}"
        )
    return out


def _set_broker(cerebro: bt.Cerebro, c: dict, extra) -> None:
    """The broker of market ``c["market"]``; ``extra`` feeds pay the plain per-value commission."""
    from btlstm.bt.broker import setup_broker

    if c["market"] == "ashare":
        from btlstm.bt.ashare import setup_ashare_broker

        setup_ashare_broker(cerebro, cash=c["cash"], commission=c["commission"],
                            slippage_perc=c["slippage"])  # fmt: skip
    elif c["market"] == "us":
        from btlstm.bt.ashare import setup_us_broker

        setup_us_broker(cerebro, cash=c["cash"], per_share=c["per_share"],
                        slippage_perc=c["slippage"])  # fmt: skip
    else:
        setup_broker(cerebro, cash=c["cash"], commission=c["commission"],
                     slippage_perc=c["slippage"])  # fmt: skip
    if c["market"] != "index":
        for name in extra:
            plain = bt.CommInfoBase(commission=c["commission"], stocklike=True, percabs=True,
                                    commtype=bt.CommInfoBase.COMM_PERC)  # fmt: skip
            cerebro.broker.addcommissioninfo(plain, name=name)


def _benchmark(cerebro: bt.Cerebro, name):
    """The feed a benchmark name means (None: data0; a feed object passes through)."""
    if name is None or not isinstance(name, str):
        return name
    from btlstm.checks import closest

    by_name = {d._name: d for d in cerebro.datas}
    if name not in by_name:
        raise ValueError(
            f"analyzers: benchmark {name!r} names no feed{closest(name, by_name)} "
            f"(feeds: {list(by_name)[:10]})"
        )
    return by_name[name]


def make_cerebro(
    feeds: Mapping,
    costs=None,
    *,
    panel: bool = False,
    extra: Mapping | None = None,
    lines=(),
    feed=None,
    analyzers: dict | None = None,
) -> bt.Cerebro:
    """A cerebro with the feeds, the broker of the market and (optionally) the analyzers.

    Args:
        feeds: ``{name: canonical frame}``: one frame (one feed), or the panel
            (``panel=True``: aligned on one calendar, with filler bars that are
            not tradable; :func:`btlstm.bt.feeds.add_panel`).
        costs: ``[costs]`` settings (:class:`btlstm.settings.CostSettings`) or a
            dict of some of :data:`COST_KEYS` (``cash``, ``commission``,
            ``slippage``, ``market``, ``per_share``); None: the index defaults
            (:data:`btlstm.bt.broker.INDEX_COSTS`).
        panel: ``feeds`` is a panel.
        extra: ``{name: frame}`` added after the feeds, aligned to their calendar,
            with a ``tradable`` line (e.g. the index that carries a gate, SPY).
            Under market ``ashare`` or ``us`` they trade at the plain per-value
            ``commission`` (an index fund), not the stock rules.
        lines: extra columns of ``feeds`` exposed as lines (e.g. ``("score",)``,
            ``("prediction",)``).
        feed: ``feed(frame, name, lines)`` builds each feed instead of a lean
            preloaded one (paper trading: a live :class:`btlstm.live.ReplayFeed`).
        analyzers: None adds none; a dict adds btlstm's standard analyzers with
            those keyword arguments (:func:`btlstm.bt.analyzers.add_standard_analyzers`;
            ``benchmark`` may name a feed).

    Returns:
        The ``bt.Cerebro``, ready for ``addstrategy``.

    Raises:
        ValueError: an unknown cost key or market (with the closest name), a bad
            cost value (:func:`btlstm.bt.broker.check_number`), an unknown benchmark.
        DataError: a frame that is not canonical (:mod:`btlstm.bt.feeds`).

    Example::

        cerebro = make_cerebro({"CSI300": test}, {"cash": 1e6, "commission": 0.0003},
                               analyzers=dict(signal=True, horizon=5))
        cerebro.addstrategy(HoldNDays, predictor=LSTMPredictor, predictor_kwargs=...)
        strategy = run(cerebro)
    """
    from btlstm.bt.feeds import add_panel, align_frame, make_feed

    c = _costs(costs)
    extra = dict(extra or {})
    lines = tuple(lines)
    # The fast correct set-up measured by scripts/bench_ranker_scale.py: no default
    # observers (one BuySell per feed), lean feeds, a broker whose per-bar work
    # scales with open positions; runonce (the default) and preload kept.
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker = PanelBroker()

    def make(frame, name, with_lines):
        if feed is None:
            return make_feed(frame, name=name, extra_lines=with_lines)
        return feed(frame, name, with_lines)

    if panel:
        cal = add_panel(cerebro, feeds, progress=False, extra_lines=lines, factory=feed).calendar
    else:
        if len(feeds) != 1:
            raise ValueError(f"feeds: one frame without panel=True, got {len(feeds)}")
        ((name, frame),) = feeds.items()
        cerebro.adddata(make(frame, name, lines))
        cal = frame.index
    for name, frame in extra.items():
        cerebro.adddata(make(align_frame(frame, cal), name, ("tradable",)), name=name)
    _set_broker(cerebro, c, extra)
    if analyzers is not None:
        from btlstm.bt.analyzers import add_standard_analyzers

        kw = dict(analyzers)
        kw["benchmark"] = _benchmark(cerebro, kw.get("benchmark"))
        add_standard_analyzers(cerebro, **kw)
    return cerebro


def market_rules(costs) -> dict:
    """The trading rules of the market in effect (the report's ``costs.rules``; ``{}``
    for market ``index``, whose costs are the ``[costs]`` settings themselves)."""
    c = _costs(costs)
    if c["market"] == "ashare":
        from btlstm.bt.ashare import ASHARE_COSTS

        return {**ASHARE_COSTS, "cash": c["cash"], "commission": c["commission"],
                "slippage_perc": c["slippage"]}  # fmt: skip
    if c["market"] == "us":
        from btlstm.bt.ashare import US_COSTS

        return {**US_COSTS, "cash": c["cash"], "per_share": c["per_share"],
                "slippage_perc": c["slippage"], "index_commission": c["commission"]}  # fmt: skip
    return {}


def run(cerebro: bt.Cerebro):
    """``cerebro.run()[0]`` with the objects that exist before it (feeds, frames,
    models) frozen out of the cyclic garbage collector, which otherwise re-walks
    them at every collection the orders trigger (measured: 13-20% off a 300-stock
    gated backtest on lean feeds, ``scripts/bench_ranker_scale.py``). Same result."""
    import gc

    gc.collect()
    gc.freeze()
    try:
        return cerebro.run()[0]
    finally:
        gc.unfreeze()
