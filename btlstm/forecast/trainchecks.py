"""The loaded data checked against the walk-forward schedule, before training.

:func:`check_data` runs the data layer's checks
(:func:`btlstm.data.loading.check_frames`) and then asks the no-look-ahead
schedule (:mod:`btlstm.forecast.schedule`) what the first fit will train on: no fit at
all, or fewer than :data:`MIN_TRAIN_SAMPLES` training samples, is an error
naming the file and the setting to change; fewer than
:data:`WARN_TRAIN_SAMPLES` a warning. :func:`data_dates` fills the ``[model]``
dates a user's own data decides (the first fit of a walk-forward run).
"""

from __future__ import annotations

import dataclasses
import logging

import pandas as pd

from btlstm.data.loading import check_frames
from btlstm.errors import DataError

__all__ = ["check_data", "data_dates", "MIN_TRAIN_SAMPLES", "WARN_TRAIN_SAMPLES"]

log = logging.getLogger("btlstm.pipeline")  # the run's log, as before the move

#: Fewer training samples (windows with a known label) at the first fit: an error
#: before training (a 60-row file would otherwise train on 7 samples, 1 for validation).
MIN_TRAIN_SAMPLES = 50
#: Fewer training samples at the first fit (about a year of daily bars): a warning
#: in the terminal, report.json and report.html.
WARN_TRAIN_SAMPLES = 250


def check_data(settings, frames: dict, trains: bool = True) -> tuple[list, dict]:
    """Checks of the loaded data that catch silently wrong results, before training.

    Args:
        settings: the validated settings.
        frames: ``{name: frame}`` as loaded and clipped (:func:`~btlstm.data.loading.load_data`).
        trains: the strategy trains a model (its plan has a predictor).

    Returns:
        ``(warnings, dates_used)``: plain-language warnings for the terminal and
        the report, and the dates the run actually uses (first and last bar,
        the windows of the first fit, the test period).

    Raises:
        DataError: real data dated more than
            :data:`~btlstm.data.loading.FUTURE_GRACE_DAYS` after today;
            no fit at all, or fewer than :data:`MIN_TRAIN_SAMPLES` training
            samples at the first fit. The message names the file and the setting to change.
    """
    from btlstm.forecast.schedule import Schedule

    warnings, used = check_frames(settings, frames)
    if not used:
        return warnings, used  # no bar at all: _split names the empty period
    if not trains:
        return warnings, used
    m = settings.model
    if getattr(m, "target", "return") == "rank" and len(frames) < 2:
        raise DataError(
            f"{settings.where('model', 'target')} = 'rank' ranks each date's forward returns "
            f"across the symbols of a panel, and this run has {len(frames)} feed "
            f"({', '.join(map(str, frames)) or 'none'}); use 'return', 'sign' or 'vol_scaled' "
            "on one feed, or give several symbols"
        )
    first = min(f.index[0] for f in frames.values() if len(f))
    last = max(f.index[-1] for f in frames.values() if len(f))
    _check_feature_range(frames, m.features)
    sched = Schedule(m)
    syms = [sched.index(name, f.index) for name, f in frames.items() if len(f)]
    cal = Schedule.calendar(syms)
    fits = sched.fit_bars(syms, cal)
    src = next(iter(frames.values())).attrs.get("source", settings.data.data)
    if not fits:
        raise DataError(
            f"{src}: the model is never fitted: {m.mode} mode needs "
            + (
                f"{settings.where('model', 'min_train')} = {m.min_train} labelled samples, "
                f"and the data ({first.date()}..{last.date()}) has {sched.n_known(syms, cal[-1])}"
                if m.mode == "walkforward"
                else f"a bar on or after {settings.where('model', 'test_start')}"
            )
        )
    masks = sched.training_masks(syms, cal, fits[0])
    n = sum(int(k.sum()) for k in masks)
    n_val = int(round(n * m.validation_fraction))
    ends = [s.end_dates[k] for s, k in zip(syms, masks, strict=True) if k.any()]
    used.update(
        first_fit=str(pd.Timestamp(cal[fits[0]]).date()),
        train_start=str(pd.Timestamp(min(e.min() for e in ends)).date()) if ends else None,
        train_end=str(pd.Timestamp(max(e.max() for e in ends)).date()) if ends else None,
        train_samples=n,
        validation_samples=n_val,
    )
    what = (
        f"{n} training samples at the first fit ({used['first_fit']}; {n_val} of them for "
        "validation)"
    )
    how = (
        f"give more history: an earlier {settings.where('model', 'train_start')}, a later "
        f"{settings.where('model', 'train_end' if m.mode == 'static' else 'test_start')}, "
        "or a longer file"
    )
    need = m.lookback + m.horizon + m.embargo  # bars before the first window has a usable label
    if n < MIN_TRAIN_SAMPLES and need + MIN_TRAIN_SAMPLES > fits[0] + 1:
        how = (
            f"{settings.where('model', 'lookback')} = {m.lookback} + "
            f"{settings.where('model', 'horizon')} = {m.horizon} + "
            f"{settings.where('model', 'embargo')} = {m.embargo} take {need} of the "
            f"{fits[0] + 1} bars up to the first fit: shorten them, or {how}"
        )
    if n < MIN_TRAIN_SAMPLES:
        raise DataError(
            f"{src}: only {what}, fewer than {MIN_TRAIN_SAMPLES}: too few to train a model; {how}"
        )
    if n < WARN_TRAIN_SAMPLES:
        warnings.append(
            f"Only {what}, fewer than {WARN_TRAIN_SAMPLES} (about a year of daily bars): the "
            f"model has little to learn from; {how}."
        )
    return warnings, used



def _check_feature_range(frames: dict, features) -> None:
    """:func:`btlstm.forecast.features.check_feature_range` on every frame a model trains on, before
    training, so the error names the file (a DataError)."""
    from btlstm.forecast.features import check_feature_range, feature_matrix

    for f in frames.values():
        if len(f):
            try:
                values = feature_matrix(f, features)
            except ValueError:  # a feature this frame lacks: the walk-forward names it
                continue
            check_feature_range(values, tuple(features), f)


def data_dates(settings, frames: dict):
    """The settings with the ``[model]`` dates the user's own data decides
    (:attr:`Settings.data_dates`: a file or DataFrame, the dates not given;
    docs/your-data.md); other settings are returned as they are.

    Over the bars loaded (all frames' dates, within ``[data] start/end`` and the
    dates given):

    - ``train_start``: the first bar; ``test_end``: None, the last bar (as ``"end"``);
    - static mode: ``test_start`` is the first bar after a given ``train_end``,
      ``train_end`` the last bar before a given ``test_start``; neither given,
      the first :data:`~btlstm.splits.TRAIN_FRACTION` of the bars train (at least
      ``lookback + horizon + embargo +`` :data:`MIN_TRAIN_SAMPLES`, so the first
      test bar has a model; at most all but ``horizon + 2``) and the rest test;
    - walk-forward mode: ``test_start`` is the first fit (``min_train``
      labelled samples known); ``train_end`` stays open.

    Example:
        >>> import pandas as pd
        >>> from btlstm.settings import Settings
        >>> s = Settings.from_dict({"data": {"data": "prices.csv"}})
        >>> f = pd.DataFrame({"close": 1.0}, index=pd.bdate_range("2000-01-03", periods=1000))
        >>> m = data_dates(s, {"x": f}).model
        >>> m.train_start, m.train_end, m.test_start, m.test_end
        ('2000-01-03', '2002-09-06', '2002-09-09', None)
    """
    import numpy as np

    from btlstm.splits import TRAIN_FRACTION

    auto = settings.data_dates
    if not auto:
        return settings
    m = settings.model
    cal = pd.DatetimeIndex(np.unique(np.concatenate(
        [np.asarray(f.index.values, dtype="datetime64[ns]") for f in frames.values()]
    ))) if frames else pd.DatetimeIndex([])  # fmt: skip
    new: dict = {}
    if len(cal):
        day = lambda t: str(pd.Timestamp(t).date())  # noqa: E731
        if "train_start" in auto:
            new["train_start"] = day(cal[0])
        if "test_end" in auto:
            new["test_end"] = None  # the last bar, as "end": a live feed's bars are not cut off
        start = pd.Timestamp(new.get("train_start", m.train_start) or cal[0])
        end = pd.Timestamp(m.test_end if "test_end" not in auto and m.test_end else cal[-1])
        span = cal[(cal >= start) & (cal <= end)]
        if m.mode == "static":
            if "train_end" in auto and "test_start" not in auto:
                before = span[span < pd.Timestamp(m.test_start)]
                new["train_end"] = day(before[-1] if len(before) else start)
            elif "test_start" in auto and "train_end" not in auto:
                after = span[span > pd.Timestamp(m.train_end)]
                t0 = after[0] if len(after) else pd.Timestamp(m.train_end) + pd.Timedelta(days=1)
                new["test_start"] = day(t0)
            elif "test_start" in auto and len(span) > 1:
                n = len(span)
                k = max(round(TRAIN_FRACTION * n), m.lookback + m.horizon + m.embargo
                        + MIN_TRAIN_SAMPLES)  # fmt: skip
                k = max(1, min(k, n - (m.horizon + 2)))
                new["train_end"], new["test_start"] = day(span[k - 1]), day(span[k])
        else:
            if "train_end" in auto:
                new["train_end"] = None
            if "test_start" in auto:
                new["test_start"] = _first_fit(m, frames, new)
    settings = settings.replace(model=dataclasses.replace(m, **new))
    settings._dates_resolved = True
    if new:
        shown = ", ".join(f"{k} {v or ('end' if k == 'test_end' else 'open')}"
                          for k, v in new.items())  # fmt: skip
        log.info("dates from the data (docs/your-data.md): %s", shown)
    return settings


def _first_fit(m, frames: dict, new: dict) -> str | None:
    """The date of a walk-forward run's first fit over ``frames`` (its config ``m``
    with the ``new`` dates, from the first bar on), or None when it never fits."""
    from types import SimpleNamespace

    from btlstm.forecast.schedule import Schedule

    keys = ("lookback", "horizon", "embargo", "mode", "train_start", "train_end",
            "test_end", "retrain_every", "window", "train_window", "min_train")  # fmt: skip
    cfg = SimpleNamespace(**{k: getattr(m, k) for k in keys})
    cfg.__dict__.update({k: v for k, v in new.items() if k in keys}, test_start=None)
    sched = Schedule(cfg)
    syms = [sched.index(name, f.index) for name, f in frames.items() if len(f)]
    if not syms:
        return None
    cal = Schedule.calendar(syms)
    fits = sched.fit_bars(syms, cal)
    return str(pd.Timestamp(cal[fits[0]]).date()) if fits else None

