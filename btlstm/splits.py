"""The named date splits, typed once: the article's split and the walk-forward preset.

Each is a dict of :class:`btlstm.walkforward.WalkForwardConfig` fields, to be
unpacked into a config, a strategy's registered defaults or a script::

    WalkForwardConfig(**ARTICLE_SPLIT)          # train 2005-2014, trade 2015-01 .. 2017-05
    register_strategy(..., defaults={"model": {**ARTICLE_SPLIT, "horizon": 5}})

- :data:`ARTICLE_SPLIT`: the article's Backtest 1 (and the ranker's Backtest 2):
  one model trained on 2005-01-01 .. 2014-12-31, predicting 2015-01-01 .. 2017-05-01;
- :data:`WALKFORWARD_PRESET`: what ``--walkforward`` (``[model] walkforward = true``)
  sets: retrain from 2005 data, predicting 2008-01-01 .. the end of the data.

Example:
    >>> ARTICLE_SPLIT["train_end"], ARTICLE_SPLIT["test_start"]
    ('2014-12-31', '2015-01-01')
    >>> dict(WALKFORWARD_PRESET, train_start="2010-01-01")["test_start"]  # read-only: copy it
    '2008-01-01'
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["ARTICLE_SPLIT", "WALKFORWARD_PRESET"]

#: The article's split: train 2005-2014 once, trade 2015-01 .. 2017-05.
ARTICLE_SPLIT = MappingProxyType(
    {
        "mode": "static",
        "train_start": "2005-01-01",
        "train_end": "2014-12-31",
        "test_start": "2015-01-01",
        "test_end": "2017-05-01",
    }
)

#: The walk-forward preset (``--walkforward``): retrain over 2008 .. end of data.
WALKFORWARD_PRESET = MappingProxyType(
    {
        "mode": "walkforward",
        "train_start": "2005-01-01",
        "train_end": None,
        "test_start": "2008-01-01",
        "test_end": None,
    }
)
