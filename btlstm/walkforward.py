"""Walk-forward training and prediction: the one place that decides what a model may see.

Knows numpy and Keras, never Backtrader. :class:`LSTMPredictor` (the
Backtrader indicator) calls :meth:`WalkForward.predict` in its batched path
and :meth:`WalkForward.stream` in its bar-by-bar path; both run the same
schedule and the same training code, so they give the same numbers.

The no-look-ahead rule (SPEC section 1): the prediction made at bar t uses the
windows ending at t (prices up to t only), and the model it uses was trained
only on samples whose labels were known at t: window end s with
``date[s + horizon + embargo] <= date[t]``. Early stopping validates on the
latest of those samples, so the validation slice is in the past as well.

Schedules:

- ``mode="static"``: the seed's split. One model, trained on windows ending in
  ``[train_start, train_end]`` whose labels are known at the first test bar,
  predicts every bar from ``test_start`` (default: the first bar after
  ``train_end``) to ``test_end``.
- ``mode="walkforward"``: the first model is fitted at the first bar (on or
  after ``test_start``) where at least ``min_train`` labelled samples are
  known, then a new one every ``retrain_every`` bars, on an expanding window
  or (``window="rolling"``) on the last ``train_window`` bars. Each model
  predicts the bars up to the next refit.

Pooled mode: give a dict of frames (a panel); one model is trained on the
windows of all symbols, with the same rule per bar, and the schedule runs on
the union calendar of the panel.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import sys
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from btlstm._settings import check_known_keys
from btlstm.data.validate import DataError, require_history, validate_frame
from btlstm.features import (
    DEFAULT_FEATURES,
    build_dataset,
    feature_matrix,
    zscore_windows,
)

__all__ = ["WalkForwardConfig", "WalkForward", "walk_forward", "FitRecord", "predict_fn"]

log = logging.getLogger("btlstm.walkforward")

_MODES = ("static", "walkforward")
_WINDOWS = ("expanding", "rolling")


@dataclass
class WalkForwardConfig:
    """Everything that decides the features, the schedule and the training.

    Args:
        lookback: bars per input window (seed: 30).
        horizon: bars ahead of the target return (seed: 5).
        features: feature columns (seed: close, open, high, low, amount, volume).
        clip: absolute clip of the raw forward return (seed: 0.2).
        scale: target multiplier after clipping (seed: 10).
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
        model: keyword arguments for :func:`btlstm.models.build_model`
            (``lstm_units``, ``dense_units``, ``lstm_kwargs`` with regularizers ...).
        seed: random seed; the same seed gives the same predictions.
    """

    lookback: int = 30
    horizon: int = 5
    features: tuple = DEFAULT_FEATURES
    clip: float = 0.2
    scale: float = 10.0
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
    model: dict = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self):
        self.features = tuple(self.features)
        ints = ("lookback", "horizon", "retrain_every", "min_train", "epochs", "batch_size")
        for name in ints:
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not isinstance(self.embargo, (int, np.integer)) or self.embargo < 0:
            raise ValueError(f"embargo must be an integer >= 0, got {self.embargo!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience!r}")
        if self.mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {self.mode!r}")
        if self.window not in _WINDOWS:
            raise ValueError(f"window must be one of {_WINDOWS}, got {self.window!r}")
        if self.window == "rolling" and (self.train_window is None or self.train_window < 1):
            raise ValueError(
                f"train_window must be an integer >= 1 with window='rolling', got {self.train_window!r}"
            )
        if self.mode == "static" and self.train_end is None:
            raise ValueError("train_end is required with mode='static', got None")
        if not 0.0 <= self.validation_fraction < 0.5:
            raise ValueError(
                f"validation_fraction must be in [0, 0.5), got {self.validation_fraction!r}"
            )
        if self.warm_epochs is not None and self.warm_epochs < 1:
            raise ValueError(f"warm_epochs must be >= 1 or None, got {self.warm_epochs!r}")
        if self.clip is not None and self.clip <= 0:
            raise ValueError(f"clip must be > 0 or None, got {self.clip!r}")
        for name in ("train_start", "train_end", "test_start", "test_end"):
            v = getattr(self, name)
            if v is not None:
                try:
                    setattr(self, name, str(pd.Timestamp(v).date()))
                except (ValueError, TypeError) as e:
                    raise ValueError(f"{name} must be a date, got {v!r}") from e
        if not isinstance(self.model, dict):
            raise ValueError(f"model must be a dict of build_model arguments, got {self.model!r}")

    @classmethod
    def from_dict(cls, d: dict) -> "WalkForwardConfig":
        """Build from a plain dict (TOML/JSON); unknown keys raise, suggesting the closest."""
        check_known_keys(cls, d, "walk-forward setting")
        return cls(**d)

    def to_dict(self) -> dict:
        """Plain JSON types, for reports and cache keys."""
        d = dataclasses.asdict(self)
        d["features"] = list(self.features)
        return json.loads(json.dumps(d, default=str))


@dataclass
class FitRecord:
    """One model fit of a walk-forward run (for progress, reports and tests)."""

    k: int
    date: str
    n_samples: int
    n_val: int
    epochs: int
    loss: float | None
    val_loss: float | None
    seconds: float
    cached: bool


def _ts(v) -> pd.Timestamp | None:
    return None if v is None else pd.Timestamp(v)


class _Sym:
    """Per-symbol arrays: windows, labels and label dates (known-at dates)."""

    def __init__(self, name: str, frame: pd.DataFrame, cfg: WalkForwardConfig):
        self.name = name
        self.dates = pd.DatetimeIndex(frame.index)
        ds = build_dataset(frame, cfg.lookback, cfg.horizon, cfg.features, cfg.clip, cfg.scale)
        self.X, self.y, self.end = ds.X, ds.y, ds.end
        self.end_dates = self.dates[self.end].values.astype("datetime64[ns]")
        lag = cfg.horizon + cfg.embargo
        li = self.end + lag
        far = np.datetime64("2262-01-01", "ns")
        ok = li < len(self.dates)
        self.label_dates = np.where(
            ok, self.dates.values.astype("datetime64[ns]")[np.minimum(li, len(self.dates) - 1)], far
        )
        self.values = feature_matrix(frame, cfg.features)


class WalkForward:
    """Walk-forward LSTM training and prediction over a frame or a panel.

    Args:
        config: a :class:`WalkForwardConfig`, a dict of its fields, or None (defaults).
        model: a ready ``keras.Model`` or a path to a saved ``.keras`` model; then
            nothing is trained and the model predicts every bar from
            ``config.test_start`` (or from the first full window).
        cache_dir: folder where fitted models are cached by a key of (data up to
            the fit date, config, seed, fit number); None disables the cache.
        progress: True prints one line per fit to stderr; a callable receives
            each :class:`FitRecord`; False/None is silent.

    Example:
        >>> wf = WalkForward(WalkForwardConfig(retrain_every=63, epochs=10))
        >>> pred = wf.predict(frame)  # one value per bar, NaN before the first fit
    """

    def __init__(self, config=None, model=None, cache_dir=None, progress=None):
        if config is None:
            config = WalkForwardConfig()
        elif isinstance(config, dict):
            config = WalkForwardConfig.from_dict(config)
        elif not isinstance(config, WalkForwardConfig):
            raise ValueError(
                f"config must be a WalkForwardConfig, a dict or None, got {type(config).__name__}"
            )
        self.config = config
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.progress = progress
        self.fits: list[FitRecord] = []
        self._ready = None
        if model is not None:
            from btlstm.models import load_model

            self._ready = load_model(model) if isinstance(model, (str, Path)) else model
            shape = tuple(self._ready.input_shape[1:])
            want = (config.lookback, len(config.features))
            if shape != want:
                raise ValueError(
                    f"model expects input shape {shape} but config gives (lookback, features) = {want}"
                )

    # ------------------------------------------------------------------ schedule
    def _known(self, syms: list[_Sym], T: np.datetime64) -> list[np.ndarray]:
        """Per symbol, the mask of samples usable for a fit at date T."""
        cfg = self.config
        ts, te = _ts(cfg.train_start), _ts(cfg.train_end)
        out = []
        for s in syms:
            m = s.label_dates <= T
            m &= ~np.isnan(s.y)
            if ts is not None:
                m &= s.end_dates >= np.datetime64(ts, "ns")
            if te is not None:
                m &= s.end_dates <= np.datetime64(te, "ns")
            out.append(m)
        return out

    def _first_allowed(self) -> pd.Timestamp | None:
        cfg = self.config
        if cfg.test_start is not None:
            return pd.Timestamp(cfg.test_start)
        if cfg.mode == "static":
            return pd.Timestamp(cfg.train_end) + pd.Timedelta(days=1)
        return None

    def _fit_here(self, i: int, cal: np.ndarray, last_fit: int | None, syms) -> bool:
        """Causal decision: is calendar bar i a fit bar? Uses dates up to i only."""
        cfg = self.config
        first = self._first_allowed()
        if first is not None and cal[i] < np.datetime64(first, "ns"):
            return False
        if cfg.mode == "static":
            return last_fit is None
        if last_fit is not None:
            return i - last_fit >= cfg.retrain_every
        n = sum(int(m.sum()) for m in self._known(syms, cal[i]))
        return n >= cfg.min_train

    def schedule(self, data) -> list[pd.Timestamp]:
        """The fit dates a run over ``data`` (frame or panel) would use."""
        syms, cal = self._prepare(data)
        return [pd.Timestamp(cal[i]) for i in self._fit_bars(syms, cal)]

    def _fit_bars(self, syms, cal) -> list[int]:
        if self._ready is not None:
            first = self._first_allowed()
            start = 0 if first is None else int(np.searchsorted(cal, np.datetime64(first, "ns")))
            return [start] if start < len(cal) else []
        fits, last = [], None
        for i in range(len(cal)):
            if self._fit_here(i, cal, last, syms):
                fits.append(i)
                last = i
        return fits

    # ------------------------------------------------------------------ data
    def _prepare(self, data):
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
            syms.append(_Sym(str(name), frame, cfg))
        cal = np.unique(np.concatenate([s.dates.values.astype("datetime64[ns]") for s in syms]))
        return syms, cal

    # ------------------------------------------------------------------ training
    def _training_set(self, syms, T, i_cal: int, cal):
        cfg = self.config
        masks = self._known(syms, T)
        if cfg.window == "rolling":
            lo = cal[max(0, i_cal - cfg.train_window + 1)]
            masks = [m & (s.end_dates >= lo) for m, s in zip(masks, syms)]
        X = np.concatenate([s.X[m] for s, m in zip(syms, masks)])
        y = np.concatenate([s.y[m] for s, m in zip(syms, masks)])
        d = np.concatenate([s.end_dates[m] for s, m in zip(syms, masks)])
        order = np.argsort(d, kind="stable")  # by window-end date; symbol order breaks ties
        return X[order], y[order].astype(np.float32)

    def _cache_key(self, syms, T, k: int) -> str:
        h = hashlib.sha256()
        cfg = self.config.to_dict()
        cfg.pop("test_end", None)
        h.update(json.dumps(cfg, sort_keys=True).encode())
        h.update(f"|k={k}|T={T}".encode())
        for s in syms:
            n = int(np.searchsorted(s.dates.values.astype("datetime64[ns]"), T, side="right"))
            h.update(s.name.encode())
            h.update(s.dates.values[:n].astype("int64").tobytes())
            h.update(np.ascontiguousarray(s.values[:n]).tobytes())
        return h.hexdigest()[:24]

    def _train(self, X, y, k: int, prev):
        import keras

        from btlstm.models import build_model

        cfg = self.config
        keras.utils.set_random_seed(int(cfg.seed) * 100_003 + k)
        model = build_model(lookback=cfg.lookback, n_features=len(cfg.features), **cfg.model)
        epochs = cfg.epochs
        if cfg.warm_start and prev is not None:
            model.set_weights(prev.get_weights())
            epochs = cfg.warm_epochs or max(1, cfg.epochs // 4)
        n_val = int(round(len(X) * cfg.validation_fraction))
        fit_kw = dict(epochs=epochs, batch_size=cfg.batch_size, shuffle=True, verbose=0)
        if n_val >= 1 and len(X) - n_val >= 1:
            fit_kw["validation_data"] = (X[-n_val:], y[-n_val:])
            fit_kw["callbacks"] = [
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=cfg.patience, restore_best_weights=True
                )
            ]
            Xt, yt = X[:-n_val], y[:-n_val]
        else:
            n_val, Xt, yt = 0, X, y
        hist = model.fit(Xt, yt, **fit_kw).history
        loss = hist.get("loss", [None])[-1]
        vl = hist.get("val_loss")
        return model, n_val, len(hist.get("loss", [])), loss, (min(vl) if vl else None)

    def _model_at(self, syms, cal, i: int, k: int, prev, n_fits: int | None):
        """The model used from calendar bar i on: loaded from cache or trained."""
        from btlstm.models import ModelFileError, load_model, save_model

        T = cal[i]
        X, y = self._training_set(syms, T, i, cal)
        if len(X) < 1:
            raise DataError(
                f"too little history: no labelled training sample is known at {pd.Timestamp(T).date()} "
                f"(lookback={self.config.lookback}, horizon={self.config.horizon}, "
                f"train_start={self.config.train_start}, train_end={self.config.train_end})"
            )
        t0 = time.perf_counter()
        path = None
        if self.cache_dir is not None:
            path = self.cache_dir / f"wf-{self._cache_key(syms, T, k)}.keras"
            if path.exists():
                try:
                    model = load_model(path)
                    rec = FitRecord(
                        k,
                        str(pd.Timestamp(T).date()),
                        len(X),
                        0,
                        0,
                        None,
                        None,
                        time.perf_counter() - t0,
                        True,
                    )
                    self._record(rec, n_fits)
                    return model
                except ModelFileError as e:
                    log.warning("corrupt cached model %s (%s): retraining", path, e)
        model, n_val, ep, loss, vl = self._train(X, y, k, prev)
        if path is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            save_model(model, path)
        rec = FitRecord(
            k,
            str(pd.Timestamp(T).date()),
            len(X),
            n_val,
            ep,
            None if loss is None else float(loss),
            None if vl is None else float(vl),
            time.perf_counter() - t0,
            False,
        )
        self._record(rec, n_fits)
        return model

    def _record(self, rec: FitRecord, n_fits: int | None):
        self.fits.append(rec)
        if callable(self.progress):
            self.progress(rec)
        elif self.progress:
            of = f"/{n_fits}" if n_fits else ""
            src = "cache" if rec.cached else f"{rec.epochs} epochs"
            vl = "" if rec.val_loss is None else f", val_loss {rec.val_loss:.4f}"
            print(
                f"[btlstm] fit {rec.k + 1}{of} at {rec.date}: {rec.n_samples} samples, "
                f"{src}{vl}, {rec.seconds:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    # ------------------------------------------------------------------ batch path
    def predict(self, data):
        """Predict every bar of a frame (returns an array) or of a panel (dict of arrays).

        Values are NaN where no prediction is allowed yet (no model fitted, no
        full window) and outside ``[test_start, test_end]``.
        """
        syms, cal = self._prepare(data)
        fits = self._fit_bars(syms, cal)
        out = {s.name: np.full(len(s.dates), np.nan) for s in syms}
        te = _ts(self.config.test_end)
        end_limit = np.datetime64(te, "ns") if te is not None else np.datetime64("2262-01-01", "ns")
        model = None
        for k, i in enumerate(fits):
            model = (
                self._ready
                if self._ready is not None
                else self._model_at(
                    syms, cal, i, k, model, len(fits) if self.config.mode == "walkforward" else 1
                )
            )
            lo = cal[i]
            hi = cal[fits[k + 1]] if k + 1 < len(fits) else np.datetime64("2262-01-01", "ns")
            sels = [
                (s.end_dates >= lo) & (s.end_dates < hi) & (s.end_dates <= end_limit) for s in syms
            ]
            n_win = int(sum(m.sum() for m in sels))
            if n_win == 0:
                continue
            fn = predict_fn(model, n_win)
            for s, sel in zip(syms, sels):
                if sel.any():
                    out[s.name][s.end[sel]] = _predict_batches(fn, s.X[sel])
        if isinstance(data, pd.DataFrame):
            return next(iter(out.values()))
        return out

    # ------------------------------------------------------------------ bar-by-bar path
    def stream(self) -> "Stream":
        """A bar-by-bar predictor for one symbol (live feeds, ``runonce=False``)."""
        return Stream(self)


def _predict_batches(fn: Callable, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    return np.concatenate([fn(X[j : j + batch]) for j in range(0, len(X), batch)])


_FNS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_XLA_MIN = 1024  # windows predicted by one model before XLA compilation pays off


def predict_fn(model, n_windows: int = 1) -> Callable:
    """The compiled forward pass for ``model``, built once per model and reused.

    A ready model used in many backtests is traced once, not once per run. One
    model over many windows (>= 1024) gets the XLA block path; a walk-forward
    model that predicts a few weeks gets the plain compiled pass.
    """
    from btlstm.models import make_batch_predict_fn, make_predict_fn

    fns = _FNS.setdefault(model, {})
    key = "block" if n_windows >= _XLA_MIN else "plain"
    if key not in fns:
        fns[key] = make_batch_predict_fn(model) if key == "block" else make_predict_fn(model)
    return fns[key]


class Stream:
    """Feed bars one at a time; get the prediction for each bar as it closes.

    Runs the same schedule and training as :meth:`WalkForward.predict` on the
    bars seen so far, so the values match the batched path.
    """

    _COLS = ("open", "high", "low", "close", "volume", "amount")

    def __init__(self, wf: WalkForward):
        self.wf = wf
        self._rows: dict[str, list] = {c: [] for c in self._COLS}
        self._dates: list = []
        self._last_fit: int | None = None
        self._k = 0
        self._model = None
        self._fn = None

    def _frame(self) -> pd.DataFrame:
        f = pd.DataFrame(self._rows, index=pd.DatetimeIndex(self._dates, name="date"))
        f.attrs["symbol"] = "data"
        return f

    def update(self, date, open, high, low, close, volume, amount) -> float:
        """Add the bar that just closed; return its prediction (NaN if none allowed)."""
        wf, cfg = self.wf, self.wf.config
        for c, v in zip(self._COLS, (open, high, low, close, volume, amount)):
            self._rows[c].append(float(v))
        self._dates.append(pd.Timestamp(date))
        i = len(self._dates) - 1
        if i + 1 < cfg.lookback:
            return float("nan")
        T = np.datetime64(pd.Timestamp(date), "ns")
        if wf._ready is not None:
            if self._fn is None:
                first = wf._first_allowed()
                if first is None or T >= np.datetime64(first, "ns"):
                    self._fn = predict_fn(wf._ready)
        elif self._due(i, T):
            frame = self._frame()
            syms, cal = wf._prepare(frame)
            if wf._fit_here(i, cal, self._last_fit, syms):
                self._model = wf._model_at(syms, cal, i, self._k, self._model, None)
                self._fn = predict_fn(self._model)
                self._last_fit = i
                self._k += 1
        if self._fn is None:
            return float("nan")
        te = _ts(cfg.test_end)
        if te is not None and pd.Timestamp(date) > te:
            return float("nan")
        vals = feature_matrix(
            {c: np.asarray(self._rows[c][-cfg.lookback - 1 :]) for c in self._COLS}, cfg.features
        )[-cfg.lookback :]
        x = zscore_windows(vals[None, :, :])
        return float(self._fn(x)[0])

    def _due(self, i: int, T) -> bool:
        """Cheap pre-check before the exact (O(n)) schedule decision."""
        cfg = self.wf.config
        first = self.wf._first_allowed()
        if first is not None and T < np.datetime64(first, "ns"):
            return False
        if self._last_fit is not None:
            return cfg.mode == "walkforward" and i - self._last_fit >= cfg.retrain_every
        if cfg.mode == "static":
            return True
        # upper bound of labelled samples known at bar i (single symbol)
        return i - cfg.horizon - cfg.embargo - cfg.lookback + 2 >= cfg.min_train


def walk_forward(data, config=None, model=None, cache_dir=None, progress=None):
    """Shortcut: ``WalkForward(config, model, cache_dir, progress).predict(data)``."""
    return WalkForward(config, model=model, cache_dir=cache_dir, progress=progress).predict(data)
