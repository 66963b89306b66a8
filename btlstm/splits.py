"""The named date splits, typed once: the article's split and the walk-forward preset.

Each is a dict of :class:`btlstm.forecast.walkforward.WalkForwardConfig` fields, to be
unpacked into a config, a strategy's registered defaults or a script::

    WalkForwardConfig(**ARTICLE_SPLIT)          # train 2005-2014, trade 2015-01 .. 2017-05
    register_strategy(..., defaults={"model": {**ARTICLE_SPLIT, "horizon": 5}})

- :data:`ARTICLE_SPLIT`: the article's Backtest 1 (and the ranker's Backtest 2):
  one model trained on 2005-01-01 .. 2014-12-31, predicting 2015-01-01 .. 2017-05-01;
- :data:`WALKFORWARD_PRESET`: what ``--walkforward`` (``[model] walkforward = true``)
  sets: retrain from 2005 data, predicting 2008-01-01 .. the end of the data.

These are the catalogue datasets' splits. On a file or DataFrame of the user's, the
dates not given come from the data instead (docs/your-data.md): a static split
trains on the first :data:`TRAIN_FRACTION` of the bars and tests on the rest, to
the last bar; a walk-forward run tests from its first fit to the last bar.
``test_end = "end"`` (:data:`END`) means the last bar of any data; dates that
leave more than :data:`UNUSED_YEARS` of the file unused are warned about.

Example:
    >>> ARTICLE_SPLIT["train_end"], ARTICLE_SPLIT["test_start"]
    ('2014-12-31', '2015-01-01')
    >>> dict(WALKFORWARD_PRESET, train_start="2010-01-01")["test_start"]  # read-only: copy it
    '2008-01-01'
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["ARTICLE_SPLIT", "WALKFORWARD_PRESET", "DATE_KEYS", "END", "TRAIN_FRACTION",
           "UNUSED_YEARS"]  # fmt: skip

#: The ``[model]`` date keys, in order.
DATE_KEYS = ("train_start", "train_end", "test_start", "test_end")
#: ``test_end = "end"`` (``--test-end end``): test to the last bar of the data.
END = "end"
#: A static split of the user's own data trains on this share of its bars (the first).
TRAIN_FRACTION = 0.7
#: Years of the data a run may leave unused (before its first bar or after its last)
#: before a warning names them and the flag to change.
UNUSED_YEARS = 1.0

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
