"""The forecasting side: a market's bars -> predictions, with no look-ahead.

- inputs: :mod:`btlstm.forecast.features` (a feed's windows, per-window z-scores, THE
  label formula), :mod:`btlstm.forecast.featurelib` (the built-in indicators and
  ``@register_feature``) and :mod:`btlstm.forecast.xsfeatures` (a panel's
  cross-sectional features, forward labels, relevance grades);
- the no-look-ahead schedule: :mod:`btlstm.forecast.schedule` (fit bars, usable
  windows, panels on one calendar, cache keys) and
  :mod:`btlstm.forecast.trainchecks` (the loaded data checked against it before
  training);
- the walk-forward engines: :mod:`btlstm.forecast.walkforward` (one feed or a pooled
  panel) and :mod:`btlstm.forecast.xswalkforward` (a panel's cross-section).

The models they fit are the learners (:mod:`btlstm.learners`); the Backtrader side
that trades on the predictions is :mod:`btlstm.bt`. Importing this package imports
none of its modules.
"""
