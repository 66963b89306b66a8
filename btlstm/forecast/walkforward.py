"""Walk-forward training and prediction: schedule x learner -> prediction arrays.

Knows numpy, never Backtrader, and no model in particular. The schedule
(:mod:`btlstm.forecast.schedule`) decides which bars are fit bars and which windows a
fit may use; a learner (:mod:`btlstm.learners`) fits and predicts. Two paths
run the same code and give the same numbers:

- :meth:`WalkForward.predict`: batched, over a whole frame or panel;
- :meth:`WalkForward.stream`: bar by bar (live feeds, ``runonce=False``).

The rule and the schedules are described in ``docs/schedule.md``. The
cross-section of a panel (one sample per stock and day, the ranker) has its
own engine on the same schedule, :mod:`btlstm.forecast.xswalkforward`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from btlstm._settings import check_known_keys
from btlstm.checks import check_choice, check_int, check_number
from btlstm.convert import date_text, plain
from btlstm.data.validate import CANONICAL_COLUMNS, DataError, require_history, validate_frame
from btlstm.executor import make_pool
from btlstm.executor import pin_tensorflow_threads as _pin_tf_threads
from btlstm.forecast.featurelib import WarmupError, feature_tokens, needs_frame, xs_features
from btlstm.forecast.features import (
    DEFAULT_FEATURES,
    MIN_LOOKBACK,
    NORMALIZE_MODES,
    PRICE_COLUMNS,
    TARGETS,
    add_panel_features,
    apply_train_zscore,
    build_dataset,
    feature_matrix,
    fit_train_zscore,
    normalize_windows,
    rank_labels,
)
from btlstm.forecast.schedule import Schedule, SymbolIndex
from btlstm.learners import DEFAULT_LEARNER, FitRecord, Learner, get_learner, make_learner
from btlstm.learners.base import fit_seed
from btlstm.learners.fitting import adopt_model, fit_or_load, load_cached

__all__ = [
    "WalkForwardConfig",
    "WalkForward",
    "Prepared",
    "SymbolData",
    "Stream",
    "walk_forward",
    "FitRecord",
]

log = logging.getLogger("btlstm.forecast.walkforward")

#: the ``kind`` field of a cached model's manifest
MODEL_KIND = "btlstm walk-forward model"

_MODES = ("static", "walkforward")
#: where parallel fits run (``[model] engine``): spawned local processes or a Ray cluster
ENGINES = ("local", "ray")
#: settings that decide where fits run, not what they give (not in cache keys)
_RUN_ONLY = {"workers": 1, "engine": "local", "address": None}
#: settings left out of ``to_dict`` (and so of cache keys) while at their defaults,
#: so the keys of runs made before they existed stay what they were
_NEW_DEFAULTS = {"normalize": "window"}
#: most parallel fits per core on this machine, and on a Ray cluster given by address
WORKERS_PER_CORE = 4
MAX_CLUSTER_WORKERS = 1024


def max_workers(engine: str = "local", address: str | None = None) -> int:
    """The most ``workers`` a run may ask for: 4 x this machine's cores (more processes
    than cores only share them), or 1,024 on a Ray cluster named by ``address``."""
    if engine == "ray" and address:
        return MAX_CLUSTER_WORKERS
    return WORKERS_PER_CORE * max(1, os.cpu_count() or 1)


_WINDOWS = ("expanding", "rolling")


@dataclass
class _Fields:
    """The fields of :class:`WalkForwardConfig` and their checks (documented there)."""

    lookback: int = 30
    horizon: int = 5
    features: tuple = DEFAULT_FEATURES
    clip: float = 0.2
    scale: float = 10.0
    target: str = "return"
    mode: str = "walkforward"
    train_start: str | None = None
    train_end: str | None = None
    test_start: str | None = None
    test_end: str | None = None
    retrain_every: int = 21
    window: str = "expanding"
    train_window: int | None = None
    min_train: int = 250
    embargo: int = 0
    epochs: int = 20
    warm_start: bool = False
    warm_epochs: int | None = None
    batch_size: int = 64
    validation_fraction: float = 0.1
    patience: int = 3
    learner: str = DEFAULT_LEARNER
    learner_settings: dict = field(default_factory=dict)
    seed: int = 0
    workers: int = 1
    engine: str = "local"
    address: str | None = None
    normalize: str = "window"

    def __post_init__(self):
        self.features = tuple(self.features)
        for name in ("lookback", "horizon", "retrain_every", "min_train", "epochs", "batch_size"):
            check_int(name, getattr(self, name), lo=1)
        check_int("embargo", self.embargo, lo=0)
        check_int("patience", self.patience, lo=0)
        check_choice("mode", self.mode, _MODES)
        check_choice("window", self.window, _WINDOWS)
        if self.window == "rolling":
            check_int("train_window (with window='rolling')", self.train_window, lo=1)
        if self.mode == "static" and self.train_end is None:
            raise ValueError("train_end is required with mode='static', got None")
        check_number("validation_fraction", self.validation_fraction, 0, 0.5, hi_open=True)
        check_int("warm_epochs", self.warm_epochs, lo=1, none=True)
        check_number("clip", self.clip, lo=0, lo_open=True, none=True)
        # 0 makes every target 0 (nothing to learn, an IC of noise); a negative scale
        # turns the target upside down and every trade with it: both are refused
        check_number("scale", self.scale, lo=0, lo_open=True)
        check_choice("target", self.target, TARGETS)
        for name in ("train_start", "train_end", "test_start", "test_end"):
            setattr(self, name, date_text(getattr(self, name), name, none=True))
        if not isinstance(self.learner_settings, dict):
            raise ValueError(
                f"learner_settings must be a dict of learner settings, got {self.learner_settings!r}"
            )
        get_learner(self.learner).make_settings(self.learner_settings)  # unknown keys raise here
        check_choice("engine", self.engine, ENGINES)
        if self.address is not None and self.engine != "ray":
            raise ValueError(
                f"address is a Ray cluster's address and needs engine='ray', got "
                f"engine={self.engine!r} with address={self.address!r}"
            )
        check_int("workers", self.workers, lo=1, hi=max_workers(self.engine, self.address))
        check_choice("normalize", self.normalize, NORMALIZE_MODES)
        if self.normalize == "last_close" and "close" not in self.features:
            prices = [f for f in self.features if f in PRICE_COLUMNS]
            if prices:
                raise ValueError(
                    f"normalize='last_close' divides prices ({', '.join(prices)}) by the "
                    "window's last close: add 'close' to features or choose another normalize"
                )


class WalkForwardConfig(_Fields):
    """Everything that decides the features, the schedule and the training.

    Args:
        lookback: bars per input window (article: 30).
        horizon: bars ahead of the target return (article: 5).
        features: feature columns (article: close, open, high, low, amount, volume),
            derived and indicator names (ret1, rsi14, macd, your @register_feature: docs/features.md).
        clip: absolute clip of the raw forward return (article: 0.2).
        scale: target multiplier after clipping (article: 10).
        target: what the model learns (docs/features.md "Targets"): ``"return"`` (the
            article's clipped, scaled forward return), ``"sign"`` (1 if the forward
            return is > 0 else 0; Keras learners get a sigmoid head and binary
            cross-entropy, the prediction is the probability of up), ``"vol_scaled"``
            (the clipped forward return over the trailing volatility known at t) or
            ``"rank"`` (each date's forward returns ranked across a panel's symbols,
            in [0, 1]; refused on one feed).
        mode: ``"static"`` (train once) or ``"walkforward"`` (retrain on a schedule).
        train_start: first window-end date used for training (None: from the start).
        train_end: last window-end date used for training (static mode; required there).
        test_start: first date that gets a prediction (static default: first bar
            after ``train_end``; walk-forward default: as soon as ``min_train``
            samples are known).
        test_end: last date that gets a prediction (None: to the end).
        retrain_every: bars between refits (walk-forward).
        window: ``"expanding"`` or ``"rolling"`` training window.
        train_window: length in bars of the rolling window.
        min_train: minimum number of labelled samples before the first fit.
        embargo: extra bars between a label's end and the fit bar (0: the label
            of window s is usable at bar s + horizon).
        epochs: maximum epochs per cold fit.
        warm_start: start each refit from the previous model's weights.
        warm_epochs: maximum epochs per warm refit (default: ``max(1, epochs // 4)``).
        batch_size: training batch size.
        validation_fraction: latest fraction of the training samples used for
            early stopping (0: no early stopping).
        patience: early-stopping patience in epochs.
        learner: name of the learner (see :mod:`btlstm.learners`; each learner has
            its own flags: --learner NAME --help).
        learner_settings: the learner's own settings (for ``"lstm"``: the fields of
            :class:`btlstm.learners.LSTMSettings` such as ``lstm_units``,
            ``dense_units``, ``kernel_regularizer``, ``dropout``). In a TOML file
            they are ``[model]`` keys beside the walk-forward ones. Its old name
            ``model=`` is still accepted (``WalkForwardConfig(model={...})``).
        seed: random seed; the same seed gives the same predictions.
        workers: fits run at once (cold starts only: a ``warm_start`` run is one
            chain of fits and runs as one task); 1 runs them one after another
            in this process. At most :func:`max_workers` (4 x the cores here;
            1,024 on a Ray cluster given by ``address``).
        engine: where parallel fits run: ``"local"`` (spawned processes on this
            machine) or ``"ray"`` (a Ray cluster). Neither changes a prediction:
            every fit is the serial run's, bit for bit, handed back through the
            model cache.
        address: the Ray cluster's address (``engine="ray"``; None starts a
            local Ray instance with ``workers`` CPUs).
        normalize: how input windows are scaled (docs/features.md, Normalisation):
            ``"window"`` (the article's per-window z-score), ``"last_close"`` (prices
            over the window's last close, volume and amount over their last value),
            ``"train_zscore"`` (a robust z-score fitted on each fit's training rows
            only) or ``"none"``.

    Example:
        >>> cfg = WalkForwardConfig(learner="ridge", model={"alpha": 2.0})  # the old name works
        >>> cfg.learner_settings, cfg.train_end
        ({'alpha': 2.0}, None)
        >>> WalkForwardConfig(mode="static", train_end=pd.Timestamp("2014-12-31")).train_end
        '2014-12-31'
    """

    def __init__(self, *args, model=None, **kwargs):
        if model is not None:
            if "learner_settings" in kwargs:
                raise TypeError("give learner_settings (or its old name model), not both")
            kwargs["learner_settings"] = model
        super().__init__(*args, **kwargs)

    @property
    def model(self) -> dict:
        """The old name of :attr:`learner_settings` (kept for scripts that use it)."""
        return self.learner_settings

    @classmethod
    def from_dict(cls, d: dict) -> "WalkForwardConfig":
        """Build from a plain dict (TOML/JSON); unknown keys raise, suggesting the closest.
        The old key ``model`` (the learner settings) is read as ``learner_settings``."""
        d = dict(d)
        if "model" in d and "learner_settings" not in d:
            d["learner_settings"] = d.pop("model")
        check_known_keys(cls, d, "walk-forward setting")
        return cls(**d)

    def to_dict(self) -> dict:
        """Plain JSON types, for reports and cache keys. Where the fits run (``workers``,
        ``engine``, ``address``) changes no result: left out while at their defaults, so
        the keys of earlier runs (sweeps) stay what they were."""
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        for k, v in (_RUN_ONLY | _NEW_DEFAULTS).items():
            if d.get(k) == v:
                d.pop(k)
        if d.get("target") == "return":  # the article's target: earlier keys stay valid
            d.pop("target")
        return plain(d)


@dataclass
class SymbolData:
    """One symbol's model inputs: its schedule index, windows, labels and raw values."""

    index: SymbolIndex
    X: np.ndarray  # (n_windows, lookback, n_features) windows as config.normalize builds them
    y: np.ndarray  # (n_windows,) targets, NaN where unknown in the data
    values: np.ndarray  # (n_bars, n_features + 1) raw feature values and close (cache keys)

    @property
    def name(self) -> str:
        return self.index.name


@dataclass
class Prepared:
    """A frame or panel ready for the engine: per-symbol data and the union calendar."""

    symbols: list[SymbolData]
    calendar: np.ndarray

    @property
    def indices(self) -> list[SymbolIndex]:
        return [s.index for s in self.symbols]


class WalkForward:
    """Walk-forward training and prediction over a frame or a panel.

    Args:
        config: a :class:`WalkForwardConfig`, a dict of its fields, or None (defaults).
        model: a ready ``keras.Model`` or a path to a saved ``.keras`` model; then
            nothing is trained and the model predicts every bar from
            ``config.test_start`` (or from the first full window).
        cache_dir: folder where fitted models are cached by a key of (data up to
            the fit date, config, learner settings, seed, fit number); None
            disables the cache.
        progress: True logs one line per fit to stderr; a callable receives
            each :class:`FitRecord`; False/None is silent (fits are still
            logged at INFO level on the ``btlstm.forecast.walkforward`` logger).
        learner: a ready :class:`~btlstm.learners.Learner` instance to use
            instead of the one named by ``config.learner``.

    Example:
        >>> from btlstm.synthetic import synthetic_ohlcv
        >>> frame = synthetic_ohlcv(n=200, seed=1)
        >>> wf = WalkForward(dict(lookback=10, retrain_every=50, min_train=60,
        ...                       learner="ridge", model={"alpha": 10.0}))
        >>> pred = wf.predict(frame)  # one value per bar, NaN before the first fit
        >>> [f.date for f in wf.fits]
        ['2010-04-15', '2010-06-24', '2010-09-02']
    """

    def __init__(self, config=None, model=None, cache_dir=None, progress=None, learner=None):
        if config is None:
            config = WalkForwardConfig()
        elif isinstance(config, dict):
            config = WalkForwardConfig.from_dict(config)
        elif not isinstance(config, WalkForwardConfig):
            raise ValueError(
                f"config must be a WalkForwardConfig, a dict or None, got {type(config).__name__}"
            )
        if config.lookback < MIN_LOOKBACK:  # one bar z-scores to zeros (features.MIN_LOOKBACK)
            check_int("lookback (each window is z-scored over its bars)", config.lookback,
                      lo=MIN_LOOKBACK)  # fmt: skip
        self.config = config
        self.schedule = Schedule(config)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.progress = progress
        self.fits: list[FitRecord] = []
        n_features = len(config.features)
        if model is not None:
            from btlstm.learners.lstm import LSTMLearner

            learner = LSTMLearner.from_model(model)
            want = (config.lookback, n_features)
            if (learner.lookback, learner.n_features) != want:
                raise ValueError(
                    f"model expects input shape {(learner.lookback, learner.n_features)} but "
                    f"config gives (lookback, features) = {want}"
                )
        elif learner is None:
            learner = make_learner(config.learner, config.lookback, n_features, config.model)
        elif not isinstance(learner, Learner):
            raise ValueError(f"learner must be a btlstm.learners.Learner, got {learner!r}")
        learner.set_target(config.target)  # sign: a sigmoid head (Keras), binary (lightgbm)
        self.learner = learner
        #: True when a ready model was given: nothing is trained.
        self.pretrained = bool(getattr(learner, "pretrained", False))
        if self.pretrained and config.normalize == "train_zscore":
            raise ValueError(
                "normalize='train_zscore' fits its statistics on each fit's training rows; "
                "a ready model has none: choose normalize='window', 'last_close' or 'none'"
            )
        #: ``(center, scale)`` of the current model's fit (normalize='train_zscore')
        self.norm_stats: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ schedule check
    def fit_problem(self, dates) -> str | None:
        """Why these bars would give no prediction, or only a model trained on fewer
        than ``min_train`` samples; None when the schedule is fine (or the model is ready).

        Date arithmetic only (:class:`~btlstm.forecast.schedule.Schedule`): nothing is read
        or trained, so callers can warn before any work.

        Example:
            >>> wf = WalkForward(dict(lookback=30, horizon=5, learner="ridge"))
            >>> print(wf.fit_problem(pd.bdate_range("2006-01-02", periods=255)))
            ... # doctest: +NORMALIZE_WHITESPACE
            no model is ever fitted (every prediction is NaN): mode='walkforward' fits first
            when min_train=250 labelled samples are known, and the 255 bars
            (2006-01-02..2006-12-22) give at most 221 (each window needs lookback=30 bars
            and its label horizon=5 + embargo=0 more)
        """
        if self.pretrained:
            return None
        cfg, sched = self.config, self.schedule
        sym = sched.index("data", pd.DatetimeIndex(dates))
        cal = sym.dates
        n = len(cal)
        span = (
            f"{n} bars ({pd.Timestamp(cal[0]).date()}..{pd.Timestamp(cal[-1]).date()})"
            if n
            else "0 bars"
        )
        need = (
            f"each window needs lookback={cfg.lookback} bars and its label "
            f"horizon={cfg.horizon} + embargo={cfg.embargo} more"
        )
        fits = sched.fit_bars([sym], cal) if n else []
        if not fits:
            if cfg.mode == "walkforward":
                most = sched.n_known([sym], cal[-1]) if n else 0
                after = f" on or after test_start={cfg.test_start}" if cfg.test_start else ""
                return (
                    f"no model is ever fitted (every prediction is NaN): mode='walkforward' fits first when "
                    f"min_train={cfg.min_train} labelled samples are known{after}, and the "
                    f"{span} give at most {most} ({need})"
                )
            return (
                f"no model is ever fitted (every prediction is NaN): mode='static' fits at the first bar on or after "
                f"{sched.first_allowed().date()}, and the {span} end before it"
            )
        known = sum(int(m.sum()) for m in sched.training_masks([sym], cal, fits[0]))
        if known < cfg.min_train:
            date = pd.Timestamp(cal[fits[0]]).date()
            return (
                f"the first fit ({date}) has only {known} labelled samples, fewer than "
                f"min_train={cfg.min_train}, in the {span} "
                f"(train_start={cfg.train_start}, train_end={cfg.train_end}; {need})"
            )
        return None

    # ------------------------------------------------------------------ data
    def prepare(self, data) -> Prepared:
        """Validate a frame or a panel (dict of frames) and build its windows and labels."""
        cfg = self.config
        if isinstance(data, pd.DataFrame):
            panel = {data.attrs.get("symbol") or "data": data}
        elif isinstance(data, dict) and data:
            panel = data
        else:
            raise DataError(
                f"walk-forward needs a canonical frame or a non-empty dict, got {type(data).__name__}"
            )
        syms = []
        for name, frame in panel.items():
            validate_frame(frame, check_ohlc=False)
            src = frame.attrs.get("source", name)
            require_history(frame, cfg.lookback, source=src, what=f"lookback={cfg.lookback}")
        panel = add_panel_features(panel, cfg.features)  # xsrank(...): ranks across symbols
        ranked = None
        if cfg.target == "rank":
            if len(panel) < 2:
                raise DataError(
                    f"target='rank' ranks each date's forward returns across the symbols of a "
                    f"panel, and this run has one feed ({next(iter(panel))}); use target "
                    f"'return', 'sign' or 'vol_scaled' on one feed, or give several symbols"
                )
            ranked = rank_labels(panel, cfg.horizon)
        for name, frame in panel.items():
            ds = build_dataset(frame, cfg.lookback, cfg.horizon, cfg.features, cfg.clip, cfg.scale,
                               normalize=cfg.normalize, target=cfg.target,
                               labels=None if ranked is None else ranked[name])  # fmt: skip
            # usable: a known label and every feature finite (an indicator's warm-up is NaN)
            usable = ~np.isnan(ds.y) & np.isfinite(ds.X).all(axis=(1, 2))
            index = self.schedule.index(str(name), frame.index, labelled=usable)
            # raw values behind the windows AND the labels (close), for cache keys
            values = feature_matrix(frame, tuple(cfg.features) + ("close",))
            syms.append(SymbolData(index, ds.X, ds.y, values))
        return Prepared(syms, Schedule.calendar(s.index for s in syms))

    def fit_dates(self, data) -> list[pd.Timestamp]:
        """The fit dates a run over ``data`` (frame or panel) would use."""
        prep = self.prepare(data)
        return [pd.Timestamp(prep.calendar[i]) for i in self.fit_bars(prep)]

    def fit_bars(self, prep: Prepared) -> list[int]:
        """Calendar indices of the fit bars (for a ready model: where predictions start)."""
        if self.pretrained:
            return self.schedule.ready_start(prep.calendar)
        return self.schedule.fit_bars(prep.indices, prep.calendar)

    # ------------------------------------------------------------------ training
    def training_set(self, prep: Prepared, i: int):
        """Windows and labels the fit at calendar bar ``i`` may use, oldest first.

        Returns ``(X, y, X_val, y_val)``: the latest ``validation_fraction`` of
        the usable windows (by window-end date) is the validation slice; the windows
        as the learner sees them (:meth:`inputs`, with ``train_zscore``'s statistics
        fitted on ``X`` alone).
        """
        return self._training(prep, i)[:4]

    def _training(self, prep: Prepared, i: int):
        """:meth:`training_set` and the fit's ``train_zscore`` statistics (None in
        the other modes)."""
        X, y, Xv, yv = self._raw_training_set(prep, i)
        stats = None
        if self.config.normalize == "train_zscore" and len(X):
            stats = fit_train_zscore(X)  # the training rows only: never X_val
        return self.inputs(X, stats), y, self.inputs(Xv, stats), yv, stats

    def inputs(self, X: np.ndarray, stats=None) -> np.ndarray:
        """Windows of ``prepare`` as the learner sees them: ``train_zscore`` applies
        ``stats`` (default: the current model's, :attr:`norm_stats`), ``none`` casts to
        float32; ``window`` and ``last_close`` windows are ready already."""
        mode = self.config.normalize
        if mode == "train_zscore":
            stats = self.norm_stats if stats is None else stats
            if stats is None:
                return np.full(np.shape(X), np.nan, dtype=np.float32)  # no fit yet
            return apply_train_zscore(X, *stats)
        if mode == "none":
            return np.asarray(X, dtype=np.float32)
        return X

    def _raw_training_set(self, prep: Prepared, i: int):
        cfg = self.config
        masks = self.schedule.training_masks(prep.indices, prep.calendar, i)
        X = np.concatenate([s.X[m] for s, m in zip(prep.symbols, masks)])
        y = np.concatenate([s.y[m] for s, m in zip(prep.symbols, masks)])
        d = np.concatenate([s.index.end_dates[m] for s, m in zip(prep.symbols, masks)])
        order = np.argsort(d, kind="stable")  # by window-end date; symbol order breaks ties
        X, y = X[order], y[order].astype(np.float32)
        n_val = int(round(len(X) * cfg.validation_fraction))
        if n_val >= 1 and len(X) - n_val >= 1:
            return X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]
        return X, y, X[:0], y[:0]

    def cache_settings(self) -> dict:
        """Everything that changes a fitted model: the config (less ``test_end``) and the learner."""
        cfg = self.config.to_dict()
        cfg.pop("test_end", None)
        for k in _RUN_ONLY:  # where the fits run changes no model
            cfg.pop(k, None)
        cfg["model"] = cfg.pop("learner_settings")  # its old name: older cache entries stay valid
        cfg["learner_token"] = self.learner.token()
        code = feature_tokens(self.config.features)
        if code:  # a user's feature function: editing it makes new models
            cfg["feature_code"] = code
        if get_learner(cfg.get("learner", "")) is type(self.learner):  # linear or its alias ridge:
            cfg["learner"] = cfg["learner_token"]["learner"]  # one model, one key (the token's name)
        return cfg

    def cache_path(self, prep: Prepared, i: int, k: int, root=None) -> Path | None:
        """Where the model of fit ``k`` at calendar bar ``i`` is cached (None: no cache);
        ``root``: a cache folder other than ``cache_dir`` (a parallel run's own folder)."""
        root = self.cache_dir if root is None else Path(root)
        if root is None:
            return None
        key = Schedule.cache_key(
            self.cache_settings(),
            prep.indices,
            [s.values for s in prep.symbols],
            prep.calendar[i],
            k,
        )
        return root / f"wf-{key}{self.learner.suffix}"

    def fit(self, prep: Prepared, i: int, k: int, total: int | None = None, root=None) -> FitRecord:
        """Fit (or load from the cache) the model used from calendar bar ``i`` on.

        The learner then holds that model; :meth:`predict` and :class:`Stream`
        predict with ``self.learner.predictor(...)`` until the next fit. ``root``:
        the cache folder to use instead of ``cache_dir``.
        """
        cfg = self.config
        T = prep.calendar[i]
        X, y, Xv, yv, stats = self._training(prep, i)
        n = len(X) + len(Xv)
        if n < 1:
            raise DataError(
                f"too little history: no labelled training sample is known at {pd.Timestamp(T).date()} "
                f"(lookback={cfg.lookback}, horizon={cfg.horizon}, "
                f"train_start={cfg.train_start}, train_end={cfg.train_end})"
            )
        date = str(pd.Timestamp(T).date())
        warm = bool(cfg.warm_start and self.learner.fitted)
        epochs = (cfg.warm_epochs or max(1, cfg.epochs // 4)) if warm else cfg.epochs

        def train(seed: int) -> FitRecord:
            rec = self.learner.fit(X, y, Xv, yv, seed=seed, epochs=epochs,
                                   batch_size=cfg.batch_size, patience=cfg.patience, warm=warm)
            return dataclasses.replace(rec, n_val=len(Xv))  # fmt: skip

        path = self.cache_path(prep, i, k, root)
        rec = fit_or_load(self.learner, train, k=k, seed=cfg.seed, date=date, rows=n,
                          path=path, kind=MODEL_KIND, total=total)  # fmt: skip
        self._set_stats(stats, path)
        return self._record(rec)

    def _set_stats(self, stats, path: Path | None) -> None:
        """Make ``stats`` the current model's (``train_zscore``) and write them beside
        its cache entry (:func:`stats_path`), where the live engine reads them."""
        self.norm_stats = stats
        if stats is not None and path is not None:
            save_stats(stats_path(path), stats)

    def _load_cached(self, path: Path) -> bool:
        """Load a cached model only if it is a regular file (no link), its sha256 matches
        the manifest written with it, the manifest carries the user's HMAC and the model
        is this learner's architecture (:func:`btlstm.data.cache.load_verified`);
        otherwise warn, naming the file, and return False: the fit is retrained and the
        entry rewritten."""
        return load_cached(self.learner, path, MODEL_KIND)

    def _record(self, rec: FitRecord) -> FitRecord:
        self.fits.append(rec)
        of = f"/{rec.total}" if rec.total else ""
        src = "cache" if rec.cached else f"{rec.epochs} epochs"
        vl = "" if rec.val_loss is None else f", val_loss {rec.val_loss:.4f}"
        line = (
            f"fit {rec.k + 1}{of} at {rec.date}: {rec.n_samples} samples, "
            f"{src}{vl}, {rec.seconds:.1f}s"
        )
        # a progress callable (the CLI's bar) shows the fit itself: log it quietly then
        log.log(logging.DEBUG if callable(self.progress) else logging.INFO, line)
        if callable(self.progress):
            self.progress(rec)
        elif self.progress:
            print(f"[btlstm] {line}", file=sys.stderr, flush=True)
        return rec

    # ------------------------------------------------------------------ batch path
    def predict(self, data):
        """Predict every bar of a frame (returns an array) or of a panel (dict of arrays).

        Values are NaN where no prediction is allowed yet (no model fitted, no
        full window) and outside ``[test_start, test_end]``.
        """
        prep = self.prepare(data)
        fits = self.fit_bars(prep)
        out = {s.name: np.full(len(s.index.dates), np.nan) for s in prep.symbols}
        total = len(fits)
        segs = self.schedule.segments(fits, prep.calendar)
        with self._elsewhere(prep, segs, total) as fitted:
            for seg in segs:
                if not self.pretrained:
                    fitted(seg)  # this process fits, or adopts a worker's model
                self._predict_segment(prep, seg, out)
        if isinstance(data, pd.DataFrame):
            return next(iter(out.values()))
        return out

    def _predict_segment(self, prep: Prepared, seg, out: dict) -> None:
        """Predict the windows of ``seg`` with the learner's current model into ``out``."""
        sels = [self.schedule.predicts(s.index, seg) for s in prep.symbols]
        n_win = int(sum(m.sum() for m in sels))
        if n_win:
            fn = self.learner.predictor(n_win)
            for s, sel in zip(prep.symbols, sels):
                if sel.any():
                    X = self.inputs(s.X[sel])
                    ok = np.isfinite(X).all(axis=(1, 2))  # no prediction in a warm-up
                    if ok.all():
                        out[s.name][s.index.end[sel]] = _predict_batches(fn, X)
                    elif ok.any():
                        out[s.name][s.index.end[sel][ok]] = _predict_batches(fn, X[ok])

    # ------------------------------------------------------------------ parallel fits
    def parallel(self) -> bool:
        """True when a :meth:`predict` run fits on ``config.workers`` processes: more
        than one worker, cold starts (a warm-started run is one chain of fits: one
        task, run here) and a learner to train."""
        cfg = self.config
        return not self.pretrained and cfg.workers > 1 and not cfg.warm_start

    @contextlib.contextmanager
    def _elsewhere(self, prep: Prepared, segs: list, total: int):
        """Yield ``fitted(seg)``, which gives the learner the model of ``seg``.

        Serially it is :meth:`fit`. With workers (:meth:`parallel`) the fits that
        are not in the cache run on the engine, at most two per worker at a time,
        each a cold start from the fit's seed: a worker trains, saves the model
        and hands the file back; this process writes it into the model cache
        (``cache_dir``, or a folder of the run's own) with its manifest and loads
        it from there, in fit order, so the predictions are the serial run's.
        """
        if not self.parallel() or len(segs) < 2:
            yield lambda seg: self.fit(prep, seg.bar, seg.k, total)
            return
        cfg = self.config
        tmp = None
        root = self.cache_dir
        if root is None:
            tmp = tempfile.TemporaryDirectory(prefix="btlstm-fits-")
            root = Path(tmp.name)
        todo = [
            seg for seg in segs
            if not (self.cache_dir is not None and self.cache_path(prep, seg.bar, seg.k).exists())
        ]  # fmt: skip
        remote = {seg.k for seg in todo}
        queue = iter(todo)
        done: dict = {}
        pending: dict = {}  # future -> fit number
        pool = None
        try:
            if todo:
                threads = max(1, (os.cpu_count() or 1) // cfg.workers)
                pool = make_pool(cfg.engine, cfg.workers, threads, address=cfg.address)

            def submit_more():
                while pool is not None and len(pending) < 2 * cfg.workers:
                    seg = next(queue, None)
                    if seg is None:
                        return
                    pending[pool.submit(fit_task, self._task(prep, seg))] = seg.k

            def fitted(seg):
                submit_more()
                if seg.k not in remote:  # in the cache already
                    return self.fit(prep, seg.bar, seg.k, total, root=root)
                while seg.k not in done:
                    fut = pool.wait(pending)[0]
                    done[pending.pop(fut)] = fut.result()
                    submit_more()
                return self._adopt(prep, seg, done.pop(seg.k), total, root)

            yield fitted
        finally:
            if pool is not None:
                pool.close()
            if tmp is not None:
                tmp.cleanup()

    def _task(self, prep: Prepared, seg) -> dict:
        """What a worker needs to fit ``seg``'s model: the learner's class and settings,
        the training set and the fit's arguments (picklable values)."""
        cfg = self.config
        cls = type(self.learner)
        if "<locals>" in cls.__qualname__:
            raise ValueError(
                f"workers={cfg.workers} needs a learner class importable by name, got "
                f"{cls.__qualname__} (defined inside a function); use workers=1"
            )
        X, y, Xv, yv = self.training_set(prep, seg.bar)
        if len(X) + len(Xv) < 1:
            self.fit(prep, seg.bar, seg.k)  # raises the serial path's "too little history"
        return dict(
            learner=(cls, self.learner.lookback, self.learner.n_features, self.learner.settings),
            target=self.learner.target,
            data=(X, y, Xv, yv),
            fit=dict(seed=fit_seed(cfg.seed, seg.k), epochs=cfg.epochs,
                     batch_size=cfg.batch_size, patience=cfg.patience, warm=False),
        )  # fmt: skip

    def _adopt(self, prep: Prepared, seg, result: dict, total: int, root: Path) -> FitRecord:
        """Write a worker's model into the cache with its manifest, load it from there
        (checked against the manifest) and record the fit."""
        date = str(pd.Timestamp(prep.calendar[seg.bar]).date())
        path = self.cache_path(prep, seg.bar, seg.k, root)
        rec = adopt_model(self.learner, result["model"], result["record"], path=path,
                          kind=MODEL_KIND, k=seg.k, date=date, total=total)  # fmt: skip
        self._set_stats(self._training(prep, seg.bar)[4], path)
        return self._record(rec)

    # ------------------------------------------------------------------ bar-by-bar path
    def stream(self, symbols=None) -> "Stream":
        """A bar-by-bar predictor (live feeds, ``runonce=False``).

        ``symbols=None`` streams one symbol (:meth:`Stream.update`); a list of
        names streams a pooled panel (:meth:`Stream.update_panel`).
        """
        return Stream(self, symbols)


# ---------------------------------------------------------------------- workers
_WORKER: dict = {}  # in a worker process: the learner kept across its tasks (one compiled model)


def fit_task(task: dict) -> dict:
    """Run one cold-start fit in a worker; return its record and the saved model's bytes.

    A worker keeps its learner (for the LSTM: one compiled model) across the tasks
    of one learner class and settings, as a serial run keeps it across fits.
    """
    cls, lookback, n_features, settings = task["learner"]
    target = task.get("target", "return")
    if getattr(cls, "needs_tensorflow", False):
        _pin_tf_threads()
    key = (cls, lookback, n_features, repr(settings), target)
    if _WORKER.get("key") != key:
        learner = cls(lookback, n_features, settings)
        learner.set_target(target)
        _WORKER.update(key=key, learner=learner)
    learner = _WORKER["learner"]
    X, y, Xv, yv = task["data"]
    t0 = time.perf_counter()
    rec = learner.fit(X, y, Xv, yv, **task["fit"])
    with tempfile.TemporaryDirectory(prefix="btlstm-fit-") as d:
        model = Path(learner.save(Path(d) / f"model{learner.suffix}")).read_bytes()
    rec = dataclasses.replace(
        rec, n_samples=len(X) + len(Xv), n_val=len(Xv), seconds=time.perf_counter() - t0
    )
    return {"record": rec, "model": model}


def stats_path(model_path: Path) -> Path:
    """Where a cached model's ``train_zscore`` statistics are kept: beside it,
    ``<model file>.norm.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".norm.json")


#: ``kind`` of the manifest of a ``train_zscore`` statistics file (:func:`save_stats`)
NORM_KIND = "btlstm normalisation statistics"


def save_stats(path: Path, stats) -> None:
    """Write ``(center, scale)`` as JSON (floats round-trip exactly; ``inf`` as
    Infinity), atomically, with a signed manifest (:data:`NORM_KIND`): like the model
    beside it, the file is data the live engine checks before it believes it."""
    import json

    from btlstm._files import atomic_write_bytes, write_manifest

    center, scale = stats
    data = json.dumps({"center": [float(v) for v in center],
                       "scale": [float(v) for v in scale]}).encode("utf-8")  # fmt: skip
    atomic_write_bytes(Path(path), data)
    write_manifest(Path(path), rows=len(center), data=data, kind=NORM_KIND)


def load_stats(path: Path, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read what :func:`save_stats` wrote, only if it is the file this user's btlstm
    wrote (:func:`btlstm.data.cache.load_verified`: no link followed, sha256 and HMAC of
    its manifest) and holds ``n_features`` finite centres and positive scales.

    Raises:
        btlstm.errors.ModelFileError: a file that is missing, forged, edited or
            malformed (never believed: the caller refits).
    """
    import json

    from btlstm.data.cache import load_verified
    from btlstm.errors import ModelFileError

    out: dict = {}

    def read(copy) -> None:
        try:
            d = json.loads(Path(copy).read_text(encoding="utf-8"))
            center = np.asarray(d["center"], dtype=np.float64)
            scale = np.asarray(d["scale"], dtype=np.float64)
        except (ValueError, KeyError, TypeError) as e:
            raise ModelFileError(f"not normalisation statistics ({type(e).__name__}: {e})") from None
        n = len(center) if n_features is None else int(n_features)
        if center.shape != (n,) or scale.shape != (n,):
            raise ModelFileError(f"{len(center)} centres and {len(scale)} scales, need {n} each")
        if not (np.isfinite(center).all() and (scale > 0).all()):
            raise ModelFileError("a centre that is not finite or a scale that is not positive")
        out["stats"] = (center, scale)

    if not load_verified(path, NORM_KIND, read, what="normalisation statistics"):
        raise ModelFileError(f"normalisation statistics {str(path)!r} failed their checks")
    return out["stats"]


def _predict_batches(fn: Callable, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    return np.concatenate([fn(X[j : j + batch]) for j in range(0, len(X), batch)])


class Stream:
    """Feed bars one at a time; get each bar's prediction as it closes.

    Runs the same schedule and the same :meth:`WalkForward.fit` as
    :meth:`WalkForward.predict` on the bars seen so far, so the values match
    the batched path.

    Args:
        wf: the :class:`WalkForward` whose config, schedule and learner to use.
        symbols: None for one symbol; a list of names for a pooled panel.
    """

    def __init__(self, wf: WalkForward, symbols=None):
        self.wf = wf
        self.symbols = ["data"] if symbols is None else [str(s) for s in symbols]
        self._rows = {s: {c: [] for c in CANONICAL_COLUMNS} for s in self.symbols}
        self._dates: dict[str, list] = {s: [] for s in self.symbols}
        self._cal: list = []
        self._last_fit: int | None = None
        self._k = 0
        self._live = wf.pretrained  # a ready model predicts from test_start on
        self._started = False

    def _frame(self, sym: str) -> pd.DataFrame:
        f = pd.DataFrame(self._rows[sym], index=pd.DatetimeIndex(self._dates[sym], name="date"))
        f.attrs["symbol"] = sym
        return f

    def update(self, date, open, high, low, close, volume, amount) -> float:
        """Add the bar that just closed (one symbol); return its prediction (NaN if none)."""
        return self.update_panel(date, {self.symbols[0]: (open, high, low, close, volume, amount)})[
            self.symbols[0]
        ]

    def update_panel(self, date, bars: dict) -> dict:
        """Add one date's bars ``{symbol: (open, high, low, close, volume, amount)}``.

        Symbols without a bar on ``date`` are left out. Returns the prediction
        of every symbol that has a bar (NaN where none is allowed).
        """
        wf, cfg, sched = self.wf, self.wf.config, self.wf.schedule
        date = pd.Timestamp(date)
        i, T = self._append(date, bars)
        if wf.pretrained:
            if not self._started:
                first = sched.first_allowed()
                self._started = first is None or T >= np.datetime64(first, "ns")
        elif self._due(i, T):
            live = [s for s in self.symbols if len(self._dates[s]) >= cfg.lookback]
            if live:
                prep = wf.prepare({s: self._frame(s) for s in live})
                # the calendar is every date seen, as in the batched path's union calendar
                prep.calendar = np.asarray(self._cal, dtype="datetime64[ns]")
                if sched.is_fit_bar(i, prep.calendar, self._last_fit, prep.indices):
                    wf.fit(prep, i, self._k, None)
                    self._last_fit = i
                    self._k += 1
                    self._started = True
        out = {}
        for sym in bars:
            out[sym] = self._predict(sym, date)
        return out

    def _append(self, date: pd.Timestamp, bars: dict) -> tuple[int, np.datetime64]:
        """Add one date's bars; return its calendar index and its date (``datetime64[ns]``)."""
        for sym, row in bars.items():
            if sym not in self._rows:
                raise ValueError(f"unknown symbol {sym!r} (this stream has {self.symbols})")
            for c, v in zip(CANONICAL_COLUMNS, row):
                self._rows[sym][c].append(float(v))
            self._dates[sym].append(date)
        self._cal.append(date)
        return len(self._cal) - 1, np.datetime64(date, "ns")

    def _window(self, sym: str) -> np.ndarray:
        """The window ending at ``sym``'s latest bar as the learner sees it,
        ``(1, lookback, n_features)`` (``config.normalize``; for ``train_zscore`` with
        the current model's statistics)."""
        return self.wf.inputs(self._raw_window(sym))

    def _raw_window(self, sym: str) -> np.ndarray:
        """The window ending at ``sym``'s latest bar as :meth:`WalkForward.prepare`
        builds it (:func:`~btlstm.forecast.features.normalize_windows`)."""
        cfg = self.wf.config
        rows = self._rows[sym]
        if needs_frame(cfg.features):  # indicators see the whole history, as in predict()
            if xs_features(cfg.features):
                panel = {s: self._frame(s) for s in self.symbols}
                frame = add_panel_features(panel, cfg.features)[sym]
            else:
                frame = self._frame(sym)
            try:
                vals = feature_matrix(frame, cfg.features)[-cfg.lookback :]
            except WarmupError:  # a feature with no value yet: no prediction yet
                return np.full((1, cfg.lookback, len(cfg.features)), np.nan, dtype=np.float32)
        else:
            last = {c: np.asarray(rows[c][-cfg.lookback - 1 :]) for c in CANONICAL_COLUMNS}
            vals = feature_matrix(last, cfg.features)[-cfg.lookback :]
        return normalize_windows(vals[None, :, :], cfg.normalize, cfg.features)

    def _predict(self, sym: str, date) -> float:
        cfg = self.wf.config
        if not self._started or not self.wf.schedule.may_predict(date):
            return float("nan")
        if len(self._rows[sym]["close"]) < cfg.lookback:
            return float("nan")
        window = self._window(sym)
        if not np.isfinite(window).all():  # a feature still in its warm-up
            return float("nan")
        return float(self.wf.learner.predictor(1)(window)[0])

    def _due(self, i: int, T) -> bool:
        """Cheap pre-check before the exact (O(n)) schedule decision."""
        cfg, sched = self.wf.config, self.wf.schedule
        first = sched.first_allowed()
        if first is not None and T < np.datetime64(first, "ns"):
            return False
        if not sched.may_predict(T):
            return False  # after test_end: a model fitted now would predict nothing
        if self._last_fit is not None:
            return cfg.mode == "walkforward" and i - self._last_fit >= cfg.retrain_every
        if cfg.mode == "static":
            return True
        # upper bound of labelled windows usable at bar i
        bound = sum(
            max(0, len(self._dates[s]) - cfg.horizon - cfg.embargo - cfg.lookback + 1)
            for s in self.symbols
        )
        return bound >= cfg.min_train


def walk_forward(data, config=None, model=None, cache_dir=None, progress=None):
    """Shortcut: ``WalkForward(config, model, cache_dir, progress).predict(data)``."""
    return WalkForward(config, model=model, cache_dir=cache_dir, progress=progress).predict(data)
