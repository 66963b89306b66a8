"""Cross-sectional walk-forward: a ranker's scores for every stock of a panel, on the schedule.

The walk-forward engine for panels of learners whose sample is one stock on
one day (:class:`~btlstm.learners.ranker.StockRanker`), beside
:mod:`btlstm.forecast.walkforward`, the engine for learners on windows of one feed.
Knows numpy and pandas, never Backtrader.

:class:`RankerWalkForward` trains the ranker through :class:`btlstm.forecast.schedule.Schedule`
with the fields of :class:`btlstm.forecast.walkforward.WalkForwardConfig` that mean the
same thing for every learner, on the panel's union calendar:

- the known-label rule: the sample of stock ``i`` on its bar ``s`` is usable
  at fit date ``T`` only when ``date_i[s + horizon + embargo] <= T``;
- ``mode`` (``"walkforward"`` / ``"static"``), ``train_start``, ``train_end``,
  ``test_start``, ``test_end``, ``retrain_every``, ``window`` /
  ``train_window`` (calendar bars), ``min_train`` (stock-day samples),
  ``horizon``, ``embargo`` and ``seed`` (fit ``k`` trains with
  :func:`~btlstm.learners.base.fit_seed`, the one seed rule of every engine);
- Not used by the ranker: ``lookback`` (a sample is one feature row; the
  features look back up to ``max(horizons)`` bars themselves), ``features``,
  ``clip``, ``scale``, ``epochs``, ``batch_size``, ``validation_fraction``,
  ``patience``, ``warm_start``, ``normalize`` (a warning names it when it is
  not the default: a tree ranks raw feature rows); ``target`` must stay ``"return"``
  (the ranker learns relevance grades of the forward return; another target is
  refused). Its own settings are
  :class:`~btlstm.learners.ranker.RankerSettings`.

Relevance grades are computed per date among the samples known at the fit
date, so a label that is not yet known never moves another stock's grade.

Scores at day ``t`` come from the model of the latest fit date ``<= t``
applied to day ``t``'s features: nothing after ``t`` reaches them.
:func:`ranker_quality` scores them afterwards; :func:`with_scores` puts them
on the panel's frames as a column for the feeds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from btlstm.checks import closest
from btlstm.forecast.schedule import Schedule
from btlstm.forecast.walkforward import WalkForwardConfig
from btlstm.forecast.xsfeatures import cross_sectional_features, forward_label, relevance_grades
from btlstm.learners import DEFAULT_SCORER, get_learner
from btlstm.learners.base import FitRecord, Learner
from btlstm.learners.fitting import fit_or_load
from btlstm.metrics import cross_sectional_ic, ic_summary, top_minus_bottom
from btlstm.significance import hac_lag, hac_mean_test

__all__ = [
    "RANKER_KIND",
    "RankerFit",
    "RankerWalkForward",
    "ranker_quality",
    "with_scores",
]

#: the ``kind`` field of a cached ranker model's manifest
RANKER_KIND = "ranker-model"

#: the field of a cache key that holds the scorer learner's settings (its name since the
#: ranker was the only one: older cache entries stay valid)
_SETTINGS_FIELD = "ranker"

#: A ranker fit's record: :class:`~btlstm.learners.base.FitRecord` (``n_dates`` set),
#: the one record type of every fit (the ranker had its own before).
RankerFit = FitRecord


class RankerWalkForward:
    """Walk-forward StockRanker scores for a panel, on the no-look-ahead schedule.

    Args:
        config: a :class:`~btlstm.forecast.walkforward.WalkForwardConfig` (or a dict of
            its fields; None: the defaults). See the module docstring for the
            fields the ranker uses.
        settings: the scorer learner's settings (for the ranker its
            :class:`~btlstm.learners.ranker.RankerSettings`, or a dict); default:
            ``config.learner_settings`` when ``config.learner`` names a learner of
            feature rows, else the defaults.
        model: a ready model (a :class:`StockRanker` or a saved model path):
            nothing is trained, it scores every day from ``test_start`` on.
        cache_dir: folder where each fit's model is cached (LightGBM text +
            sha256 manifest), keyed by every setting that changes it, each
            stock's features and closes up to the fit date, the fit number and
            the seed (:meth:`btlstm.forecast.schedule.Schedule.cache_key`); a re-run
            loads instead of training. None: no cache.

    The learner comes from the registry (:func:`btlstm.learners.get_learner`):
    ``config.learner`` when it names a learner of cross-sectional feature rows
    (``input == "rows"``), else :data:`btlstm.learners.DEFAULT_SCORER` (the LightGBM
    ranker; a run's ``[model] learner`` of windows trains the feed's predictor, not
    this). Each fit goes through :func:`btlstm.learners.fitting.fit_or_load`, the
    fit / cache / seed path of every walk-forward engine.

    Attributes:
        learner_class: the scorer learner's class.
        fits: a :class:`~btlstm.learners.base.FitRecord` per fit of the last
            :meth:`scores` call (``n_samples`` stock-days over ``n_dates`` dates).
        importances: ``DataFrame`` (fit date x feature) of the gain importances.
        ranker: the last fitted learner (a :class:`~btlstm.learners.ranker.StockRanker`;
            ``.save(path)`` keeps it).
        feature_names: the feature columns used.

    Example:
        >>> from btlstm.synthetic import synthetic_panel
        >>> panel = synthetic_panel(n_symbols=8, n=160, seed=3)
        >>> wf = RankerWalkForward({"min_train": 400, "retrain_every": 40},
        ...                        {"n_estimators": 5, "min_data_in_leaf": 5, "horizons": [1, 5]})
        >>> s = wf.scores(panel)
        >>> s.shape, [f.date for f in wf.fits]
        ((160, 8), ['2012-03-19', '2012-05-14', '2012-07-09'])
        >>> bool(s.loc[:"2012-03-16"].isna().all().all()), bool(s.loc["2012-03-19"].notna().all())
        (True, True)
    """

    def __init__(self, config=None, settings=None, model=None, cache_dir=None):
        if config is None:
            config = WalkForwardConfig()
        elif isinstance(config, Mapping):
            config = WalkForwardConfig.from_dict(dict(config))
        elif not isinstance(config, WalkForwardConfig):
            raise ValueError(f"config must be a WalkForwardConfig or a dict, got {config!r}")
        if config.target != "return":
            raise ValueError(
                f"target={config.target!r} is not used by the ranker: it learns each date's "
                "relevance grades of the forward return (a rank already); leave target 'return'"
            )
        self.config = config
        if config.normalize != "window":
            import logging

            logging.getLogger("btlstm.forecast.xswalkforward").warning(
                "normalize=%r is not used by the ranker: it scores one row of features per "
                "stock and day, not windows (drop --normalize)", config.normalize
            )
        cls = get_learner(config.learner)
        if getattr(cls, "input", "windows") == "rows":
            if settings is None:
                settings = config.learner_settings
        else:  # a learner of windows trains a feed's predictor: the panel's scorer is the default
            cls = get_learner(DEFAULT_SCORER)
        self.learner_class: type = cls
        self.settings = cls.make_settings(settings)
        self.model = model
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.fits: list[RankerFit] = []
        self.importances = pd.DataFrame()
        self.ranker: Learner | None = None
        self.feature_names: list[str] = []

    # --------------------------------------------------------------- helpers
    def _schedule(self):
        return Schedule(dataclasses.replace(self.config, lookback=1))

    def _columns(self, feats: pd.DataFrame) -> list[str]:
        cols = list(feats.columns)
        if self.settings.feature_columns is None:
            return cols
        for f in self.settings.feature_columns:
            if f not in cols:
                raise ValueError(f"unknown ranker feature {f!r}{closest(f, cols)} (valid: {cols})")
        return list(self.settings.feature_columns)

    def _new(self, n_features: int = 0, feature_names=None) -> Learner:
        """A new scorer learner for rows of ``n_features`` named ``feature_names``."""
        learner = self.learner_class(1, n_features, self.settings)
        if feature_names is not None:
            learner.feature_names = list(feature_names)
        return learner

    def _ready(self) -> Learner:
        if isinstance(self.model, self.learner_class):
            r = self.model
        else:
            r = self._new()
            r.load(self.model)
        if not r.fitted or list(getattr(r, "feature_names", None) or []) != list(self.feature_names):
            raise ValueError(
                f"the ready ranker model has features {r.feature_names}, "
                f"this run uses {self.feature_names}"
            )
        return r

    def _cache_path(self, p, panel, T, k: int) -> Path | None:
        """Where the model of fit ``k`` at date ``T`` is cached (None: no cache)."""
        if self.cache_dir is None:
            return None
        if p.key_values is None:  # each stock's features + closes, built once
            p.key_values = [
                np.column_stack([
                    p.X[pos],
                    panel[s.name]["close"].reindex(s.dates).to_numpy(dtype=np.float64),
                ])
                for s, pos in zip(p.syms, p.pos, strict=True)
            ]  # fmt: skip
        cfg = self.config.to_dict()
        cfg.pop("test_end", None)
        cfg.pop("learner_settings", None)  # the ranker settings are keyed below
        cls = self.learner_class
        ranker = dataclasses.asdict(self.settings)
        for name in cls.untracked:  # the ranker's num_threads: the same model on any number
            ranker.pop(name, None)
        settings = {
            "config": cfg,
            _SETTINGS_FIELD: ranker,
            "features": p.cols,
            "learner": getattr(cls, "cache_name", cls.name),
        }
        key = Schedule.cache_key(settings, p.syms, p.key_values, T, k)
        return self.cache_dir / f"rk-{key}{cls.suffix}"

    # --------------------------------------------------------------- scores
    def _prepare(self, panel, features):
        """Feature rows, labels, grades and the schedule's symbol indexes."""
        c, st = self.config, self.settings
        if features is None:
            features = cross_sectional_features(panel, horizons=st.horizons, dtype="float32")
        cols = self._columns(features)
        X = features[cols].to_numpy(dtype=np.float32)
        symbols = list(panel)
        row_dates = features.index.get_level_values(0).to_numpy(dtype="datetime64[ns]")
        row_sym = pd.Index(symbols).get_indexer(features.index.get_level_values(1))
        if (row_sym < 0).any():
            raise ValueError("features hold symbols that are not in the panel")
        label = forward_label(panel, c.horizon)
        if not label.index.equals(features.index):
            raise ValueError("features do not match the panel (rebuild them from this panel)")
        has_x = np.isfinite(X).any(axis=1)
        valid = has_x & np.isfinite(label.to_numpy())
        sched = self._schedule()
        order = np.argsort(row_sym, kind="stable")  # symbol-major, dates ascending
        bounds = np.searchsorted(row_sym[order], np.arange(len(symbols) + 1))
        pos = [order[bounds[j] : bounds[j + 1]] for j in range(len(symbols))]
        keep = [j for j in range(len(symbols)) if len(pos[j])]
        syms = [sched.index(symbols[j], row_dates[pos[j]], labelled=valid[pos[j]]) for j in keep]
        cal = sched.calendar(syms) if syms else np.array([], dtype="datetime64[ns]")
        return _Prep(
            cols=cols,
            X=X,
            symbols=symbols,
            row_sym=row_sym,
            row_day=np.searchsorted(cal, row_dates),
            label=label,
            has_x=has_x,
            valid=valid,
            sched=sched,
            syms=syms,
            pos=[pos[j] for j in keep],
            cal=cal,
        )

    def fit_dates(self, panel: Mapping[str, pd.DataFrame], features=None) -> list[str]:
        """The fit dates :meth:`scores` would use, without training."""
        p = self._prepare(panel, features)
        if self.model is not None:
            return [str(pd.Timestamp(p.cal[i]).date()) for i in p.sched.ready_start(p.cal)]
        return [str(pd.Timestamp(p.cal[i]).date()) for i in p.sched.fit_bars(p.syms, p.cal)]

    def scores(
        self,
        panel: Mapping[str, pd.DataFrame],
        features: pd.DataFrame | None = None,
        progress=None,
    ):
        """Scores of every stock on every day of the union calendar.

        Args:
            panel: ``{symbol: canonical frame}``.
            features: the output of
                :func:`~btlstm.forecast.xsfeatures.cross_sectional_features` for this
                panel, if already computed (default: computed here with the
                settings' ``horizons``, as float32).
            progress: called with each fit's :class:`~btlstm.learners.base.FitRecord`
                after the fit (``epochs`` = boosting rounds, no losses), as
                the LSTM walk-forward does: ``btlstm run`` shows a bar with it.

        Returns:
            A ``date x symbol`` float frame (union calendar, panel order), NaN
            where no score is allowed: before the first fit, after
            ``test_end``, on days a stock has no bar, is suspended or has no
            finite feature.
        """
        c, st = self.config, self.settings
        p = self._prepare(panel, features)
        self.feature_names = p.cols
        X, cal, sched, syms = p.X, p.cal, p.sched, p.syms
        grades_all = relevance_grades(p.label.where(p.valid), st.n_grades).to_numpy()
        n_valid_day = np.bincount(p.row_day[p.valid], minlength=len(cal))

        def scatter(masks) -> np.ndarray:
            m = np.zeros(len(X), dtype=bool)
            for where, mk in zip(p.pos, masks):
                m[where[mk]] = True
            return m

        out = np.full(len(X), np.nan)
        self.fits, imps, dates = [], [], []
        if self.model is not None:
            self.ranker = self._ready()
            bars = sched.ready_start(cal)
        else:
            bars = sched.fit_bars(syms, cal)
        for seg in sched.segments(bars, cal):
            if self.model is None:
                rows = np.flatnonzero(scatter(sched.training_masks(syms, cal, seg.bar)))
                day = p.row_day[rows]
                per_day = np.bincount(day, minlength=len(cal))
                g = grades_all[rows]
                partial = np.flatnonzero((per_day > 0) & (per_day != n_valid_day))
                if len(partial):  # some labels of those dates are not known yet: regrade
                    sub = np.isin(day, partial)
                    g[sub] = relevance_grades(p.label.iloc[rows[sub]], st.n_grades).to_numpy()
                ranker = self._new(len(p.cols), p.cols)
                date = str(pd.Timestamp(cal[seg.bar]).date())
                X_fit, g_fit, group = X[rows], g, per_day[per_day > 0]
                rec = fit_or_load(
                    ranker,
                    lambda seed: ranker.fit(X_fit, g_fit, group=group, seed=seed),  # noqa: B023 (called at once)
                    k=seg.k, seed=c.seed, date=date, rows=len(rows),
                    path=self._cache_path(p, panel, cal[seg.bar], seg.k), kind=RANKER_KIND,
                    what="cached ranker model", total=len(bars),
                    epochs=st.n_estimators, n_dates=int((per_day > 0).sum()),
                )  # fmt: skip
                self.ranker = ranker
                self.fits.append(rec)
                if progress is not None:
                    progress(rec)
                imps.append(ranker.importances())
                dates.append(pd.Timestamp(date))
            rows = np.flatnonzero(scatter([sched.predicts(s, seg) for s in syms]) & p.has_x)
            if len(rows):
                out[rows] = self.ranker.predict(X[rows])
        self.importances = (
            pd.DataFrame(imps, index=pd.DatetimeIndex(dates, name="date"))
            if imps
            else pd.DataFrame(columns=p.cols, dtype=float)
        )
        wide = np.full((len(cal), len(p.symbols)), np.nan)
        wide[p.row_day, p.row_sym] = out
        return pd.DataFrame(wide, index=pd.DatetimeIndex(cal, name="date"), columns=p.symbols)


@dataclass
class _Prep:
    cols: list
    X: np.ndarray
    symbols: list
    row_sym: np.ndarray
    row_day: np.ndarray
    label: pd.Series
    has_x: np.ndarray
    valid: np.ndarray
    sched: object
    syms: list
    pos: list
    cal: np.ndarray
    key_values: list | None = None  # per stock: features + closes (cache keys), built once


def ranker_quality(
    scores: pd.DataFrame,
    panel: Mapping[str, pd.DataFrame],
    horizon: int = 5,
    quantile: float = 0.1,
) -> dict:
    """How well ``scores`` rank the stocks' realised forward returns (after the run).

    Uses :mod:`btlstm.metrics`: per date, :func:`~btlstm.metrics.cross_sectional_ic`
    (Pearson IC and Spearman rank IC) and :func:`~btlstm.metrics.top_minus_bottom`
    against :func:`~btlstm.forecast.xsfeatures.forward_label` (each stock's own next
    ``horizon`` bars), summarised by :func:`~btlstm.metrics.ic_summary`. The
    daily values overlap (``horizon``-bar returns on consecutive days), so
    ``t_stat`` overstates the evidence roughly by ``sqrt(horizon)``;
    ``t_hac`` and ``p_hac`` test the mean with ``horizon - 1`` HAC lags
    (:func:`btlstm.significance.hac_mean_test`).

    Args:
        scores: ``date x symbol`` scores (NaN: no score).
        panel: the ``{symbol: frame}`` the scores are for.
        horizon: bars of the realised return.
        quantile: share of stocks in the top and bottom groups (0.1: deciles).

    Returns:
        ``{"horizon", "quantile", "ic": {mean, std, icir, t_stat, n, t_hac, p_hac, lag},
        "rank_ic": {...}, "top_minus_bottom": {"mean", "n"},
        "daily": DataFrame(date; ic, rank_ic, top_minus_bottom)}``.

    Example:
        >>> from btlstm.synthetic import synthetic_panel
        >>> from btlstm.forecast.xsfeatures import forward_label
        >>> panel = synthetic_panel(n_symbols=10, n=60, seed=2)
        >>> perfect = forward_label(panel, 5).unstack("symbol")     # an oracle, for the example
        >>> q = ranker_quality(perfect, panel, horizon=5)
        >>> round(q["rank_ic"]["mean"], 6), q["rank_ic"]["n"], q["top_minus_bottom"]["mean"] > 0
        (1.0, 55, True)
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a date x symbol DataFrame, got {type(scores).__name__}")
    real = forward_label(panel, horizon).unstack("symbol")
    real = real.reindex(index=scores.index, columns=scores.columns)
    ic = cross_sectional_ic(scores, real, "pearson")
    ric = cross_sectional_ic(scores, real, "spearman")
    tmb = top_minus_bottom(scores, real, quantile)
    finite = tmb[np.isfinite(tmb)]

    def summary(daily: pd.Series) -> dict:
        t = hac_mean_test(daily.to_numpy(dtype=float), hac_lag(horizon))
        return {**ic_summary(daily), "t_hac": t["t_hac"], "p_hac": t["p_hac"], "lag": t["lag"]}

    return {
        "horizon": int(horizon),
        "quantile": float(quantile),
        "ic": summary(ic),
        "rank_ic": summary(ric),
        "top_minus_bottom": {
            "mean": float(finite.mean()) if len(finite) else float("nan"),
            "n": int(len(finite)),
        },
        "daily": pd.DataFrame({"ic": ic, "rank_ic": ric, "top_minus_bottom": tmb}),
    }


def with_scores(
    panel: Mapping[str, pd.DataFrame], scores: pd.DataFrame, column: str = "score"
) -> dict[str, pd.DataFrame]:
    """Copies of the panel's frames with the scores as a column, for
    ``add_panel(cerebro, panel, extra_lines=(column,))``.

    Each frame gets ``scores[symbol]`` on its own dates (NaN where there is
    no score, and for a symbol missing from ``scores``).

    Example:
        >>> import pandas as pd
        >>> days = pd.bdate_range("2020-01-01", periods=2)
        >>> panel = {"A": pd.DataFrame({"close": [1.0, 2.0]}, index=days)}
        >>> scores = pd.DataFrame({"A": [float("nan"), 0.3]}, index=days)
        >>> with_scores(panel, scores)["A"]["score"].tolist()
        [nan, 0.3]
    """
    out = {}
    for sym, f in panel.items():
        col = scores[sym].reindex(f.index) if sym in scores else np.nan
        out[sym] = f.assign(**{column: col})
    return out
