"""The old module of the ``linear`` learner (``ridge``): its names, kept for scripts.

``from btlstm.learners.ridge import RidgeLearner`` keeps working; the learner
lives in :mod:`btlstm.learners.linear` (:class:`~btlstm.learners.linear.LinearLearner`).
"""

from __future__ import annotations

from btlstm.learners.linear import LinearLearner, LinearSettings, RidgeLearner, RidgeSettings

__all__ = ["LinearLearner", "LinearSettings", "RidgeLearner", "RidgeSettings"]
