"""The Backtrader side: feeds, brokers and market rules, rebalancing, indicators,
signals, analyzers, and the one cerebro factory.

- :mod:`btlstm.bt.feeds`: lean pandas feeds, a panel on one calendar;
- :mod:`btlstm.bt.broker`: costs set-up, the panel broker;
  :mod:`btlstm.bt.ashare`: the A-share (and US) market rules;
- :mod:`btlstm.bt.rebalance`: target weights, sells before buys, tradable checks;
- :mod:`btlstm.bt.indicators`: the walk-forward predictors as indicators and pools;
- :mod:`btlstm.bt.signals`: THE way a strategy gets its signal;
- :mod:`btlstm.bt.analyzers`: analyzers that record a run and measure it;
- :mod:`btlstm.bt.cerebro`: THE cerebro factory every run, baseline, sweep and
  paper run uses.

They stand on the forecasting side (:mod:`btlstm.forecast`). Importing this package
imports none of its modules.
"""
