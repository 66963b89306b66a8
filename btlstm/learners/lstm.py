"""The Keras LSTM learner (the article's network) behind the learner interface.

One compiled model lives for a whole walk-forward run. Each cold fit builds a
fresh model from the fit's seed (about 30 ms; it draws the same random numbers
as a brand-new model would), copies its initial weights into the long-lived
model, resets the optimizer and trains. The long-lived model keeps its traced
train, validation and predict functions, so a refit costs training time, not
tracing, and memory stays flat however many fits a run makes. Training runs Keras'
own loop without its per-fit data pipeline, up to 64 batches per call
(:func:`btlstm.models.fit_compiled`; the same numbers as a plain Keras ``fit``,
bit for bit); ``xla = true`` runs the full batches of a fit of at
least :data:`XLA_MIN_STEPS` steps XLA-compiled (faster, other float rounding).

Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from btlstm.checks import check_number
from btlstm.errors import ModelFileError, TrainingError
from btlstm.learners.base import FitRecord, Learner

__all__ = ["LSTMSettings", "LSTMLearner", "REGULARIZER_SLOTS"]


@dataclass
class LSTMSettings:
    """Settings of the LSTM network (``[model]`` keys beside the walk-forward ones).

    Args:
        lstm_units: units of the LSTM layer (article: 32).
        dense_units: hidden Dense layers after it (article: 32, 16); a linear
            ``Dense(1)`` output is always added.
        dropout: ``keras.layers.LSTM`` input dropout.
        recurrent_dropout: ``keras.layers.LSTM`` recurrent dropout.
        kernel_regularizer: spec of the input-kernel penalty, e.g. ``"l2(0.01)"``.
        recurrent_regularizer: spec of the recurrent-kernel penalty.
        bias_regularizer: spec of the bias penalty.
        activity_regularizer: spec of the output-activity penalty.
        learning_rate: Adam learning rate.
        lstm_kwargs: any other ``keras.layers.LSTM`` argument.
        dense_kwargs: ``keras.layers.Dense`` arguments for every Dense layer.
        stacked_lstm_units: extra LSTM layers before the main one.
        dense_activation: activation of the hidden Dense layers.
        loss: Keras loss.
        xla: train full batches with an XLA-compiled step (about 2.4x faster per
            epoch on CPU; fits of fewer than 400 batch steps keep Keras' step). Not
            the same numbers: float rounding differs from Keras' step by about 1e-7
            per step, and training drifts from there (max 3e-2 in predictions
            after 8 epochs on noise, scripts/bench_fit.py). Off: every fit equals a
            plain Keras ``fit`` bit for bit.
    """

    lstm_units: int = 32
    dense_units: tuple = (32, 16)
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    kernel_regularizer: Any = None
    recurrent_regularizer: Any = None
    bias_regularizer: Any = None
    activity_regularizer: Any = None
    learning_rate: float = 1e-3
    lstm_kwargs: dict = field(default_factory=dict)
    dense_kwargs: dict = field(default_factory=dict)
    stacked_lstm_units: tuple = ()
    dense_activation: str = "relu"
    loss: str = "mse"
    xla: bool = False

    #: settings left out of a run's settings dict (sweep and paper-trading keys) while
    #: they hold these values, so the keys of runs made before they existed stay valid
    QUIET_DEFAULTS = {"xla": False}

    def __post_init__(self):
        self.dense_units = tuple(self.dense_units)
        self.stacked_lstm_units = tuple(self.stacked_lstm_units)
        for name in ("lstm_kwargs", "dense_kwargs"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a dict, got {getattr(self, name)!r}")
        for name in ("dropout", "recurrent_dropout"):
            v = check_number(name, getattr(self, name), 0, 1, hi_open=True)
            if v and name in self.lstm_kwargs:
                raise ValueError(f"{name} is given twice: as {name}={v!r} and in lstm_kwargs")
        for name in REGULARIZER_SLOTS:
            if getattr(self, name) is not None and name in self.lstm_kwargs:
                raise ValueError(f"{name} is given twice: as a setting and in lstm_kwargs")

    def build_kwargs(self) -> dict:
        """Keyword arguments for :func:`btlstm.models.build_model`."""
        lkw = dict(self.lstm_kwargs)
        for name in REGULARIZER_SLOTS:
            if getattr(self, name) is not None:
                lkw[name] = getattr(self, name)
        for name in ("dropout", "recurrent_dropout"):
            if getattr(self, name):
                lkw[name] = getattr(self, name)
        return dict(
            lstm_units=self.lstm_units,
            dense_units=self.dense_units,
            stacked_lstm_units=self.stacked_lstm_units,
            lstm_kwargs=lkw or None,
            dense_kwargs=dict(self.dense_kwargs) or None,
            dense_activation=self.dense_activation,
            learning_rate=self.learning_rate,
            loss=self.loss,
        )


#: The LSTM's four regularizer settings (``kernel_regularizer`` ...), read from its fields.
REGULARIZER_SLOTS = tuple(
    f.name for f in dataclasses.fields(LSTMSettings) if f.name.endswith("_regularizer")
)


class LSTMLearner(Learner):
    """The article's LSTM regressor, trained with Adam on MSE and early stopping.

    ``fit`` seeds with ``keras.utils.set_random_seed(seed)`` first, so the same
    seed gives bit-identical weights in a new process.

    Example:
        >>> learner = LSTMLearner(lookback=30, n_features=6, settings={"lstm_units": 8})
        >>> learner.settings.dense_units
        (32, 16)
    """

    name = "lstm"
    Settings = LSTMSettings
    suffix = ".keras"
    needs_tensorflow = True
    preload = ("btlstm.models",)

    def __init__(self, lookback: int, n_features: int, settings=None):
        super().__init__(lookback, n_features, settings)
        self.model = None  # the long-lived keras.Model
        self._fns: dict = {}
        self.pretrained = False
        #: extra ``keras.callbacks.Callback`` objects given to every ``model.fit``
        self.callbacks: list = []

    @classmethod
    def from_model(cls, model, n_features: int | None = None) -> "LSTMLearner":
        """A learner around a ready ``keras.Model`` or a saved ``.keras`` path (nothing is trained)."""
        from btlstm.models import load_model

        if isinstance(model, (str, Path)):
            model = load_model(model)
        shape = tuple(model.input_shape[1:])
        if len(shape) != 2 or None in shape:
            raise ValueError(
                f"model input_shape must be (batch, lookback, n_features), got {model.input_shape!r}"
            )
        learner = cls(shape[0], shape[1])
        learner.model = model
        learner.fitted = True
        learner.pretrained = True
        # A ready model used in many backtests is compiled once, not once per run: its
        # compiled functions ride on the model object itself (freed with it).
        fns = getattr(model, "_btlstm_fns", None)
        if not (isinstance(fns, dict) and fns.get("model") is model):
            fns = {"model": model}
            object.__setattr__(model, "_btlstm_fns", fns)
        learner._fns = fns
        return learner

    def token(self) -> dict:
        """The cache-key description; ``xla`` only where it is on (earlier keys stay)."""
        d = super().token()
        if not d.get("xla"):
            d.pop("xla", None)
        return d

    # ------------------------------------------------------------- training
    def _fresh(self, seed: int):
        from btlstm.models import build_model, seed_keras

        seed_keras(int(seed))  # keras.utils.set_random_seed less TensorFlow's (see there)
        return build_model(
            lookback=self.lookback, n_features=self.n_features, **self.settings.build_kwargs()
        )

    def _reset_to(self, fresh) -> None:
        """Give the long-lived model ``fresh``'s initial state and a new optimizer state."""
        for dst, src in zip(self.model.variables, fresh.variables, strict=True):
            dst.assign(src)
        self._reset_optimizer_only()

    def fit(
        self,
        X,
        y,
        X_val=None,
        y_val=None,
        *,
        seed=0,
        epochs=20,
        batch_size=64,
        patience=3,
        warm=False,
    ) -> FitRecord:
        from btlstm._compat import import_tensorflow_quietly

        import_tensorflow_quietly()  # the "Could not find cuda drivers" chatter stays hidden
        import keras

        from btlstm.models import fit_compiled

        if self.pretrained:
            raise ValueError("a learner built from a ready model is not trained (pass config only)")
        fresh = self._fresh(seed)  # always drawn, so warm and cold fits consume the same stream
        if self.model is None:
            self.model = fresh
        elif warm and self.fitted:
            self._reset_optimizer_only()
        else:
            self._reset_to(fresh)
        del fresh
        steps = (len(X) // max(1, int(batch_size))) * int(epochs)
        xla = bool(self.settings.xla) and steps >= XLA_MIN_STEPS
        callbacks = [*self.callbacks, _stop_on_nan(keras)]
        val = X_val is not None and len(X_val) and len(X)
        if val:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=int(patience), restore_best_weights=True
                )
            )
        if _recurrent_dropout(self.model):
            # fit_compiled's numbers differ from Keras' fit by float rounding here
            # (1 ulp of the weights per fit, tested): Keras' own loop keeps them exact
            import tensorflow as tf

            from btlstm.models import compile_training, training_compiled

            tf.random.set_seed(int(seed))  # the rest of set_random_seed was done in _fresh
            if training_compiled(self.model) != (int(batch_size), xla):
                compile_training(self.model, int(batch_size), xla=xla)
            vd = (X_val, np.asarray(y_val, dtype=np.float32)) if val else None
            hist = self.model.fit(
                X, np.asarray(y, dtype=np.float32), validation_data=vd, epochs=int(epochs),
                batch_size=int(batch_size), shuffle=True, verbose=0, callbacks=callbacks,
            ).history  # fmt: skip
        else:
            hist = fit_compiled(
                self.model, X, y, X_val if val else None, y_val if val else None,
                epochs=int(epochs), batch_size=int(batch_size), callbacks=callbacks, xla=xla,
                shuffle_seed=int(seed),
            ).history  # fmt: skip
        _check_finite_loss(hist)
        self.fitted = True
        loss = hist.get("loss", [None])[-1]
        vl = hist.get("val_loss")
        return FitRecord(
            epochs=len(hist.get("loss", [])),
            loss=None if loss is None else float(loss),
            val_loss=float(min(vl)) if vl else None,
        )

    def _reset_optimizer_only(self) -> None:
        opt = self.model.optimizer
        if getattr(opt, "built", False):
            keep = {id(getattr(opt, "_learning_rate", None))}
            for v in opt.variables:
                if id(v) not in keep:
                    v.assign(np.zeros(v.shape, dtype=v.dtype))

    # ------------------------------------------------------------- predicting
    def predictor(self, n_windows: int = 1):
        from btlstm.models import make_batch_predict_fn, make_predict_fn

        if self.model is None:
            raise ValueError("LSTMLearner: predict before fit (no model)")
        key = "block" if n_windows >= _XLA_MIN else "plain"
        if self._fns.get("model") is not self.model:  # compiled once per model object
            self._fns = {"model": self.model}
        fns = self._fns
        if key not in fns:
            make = make_batch_predict_fn if key == "block" else make_predict_fn
            fns[key] = make(self.model)
        return fns[key]

    # ------------------------------------------------------------- files
    def save(self, path) -> Path:
        from btlstm.models import save_model

        if self.model is None:
            raise ValueError("LSTMLearner: nothing to save before fit")
        return save_model(self.model, path)

    def n_weights(self) -> int:
        """The network's weights, from the settings (no TensorFlow): the bound a saved
        file of this learner's architecture is checked against before it is loaded."""
        return _n_weights(self.settings, self.n_features)

    def load(self, path) -> None:
        """Replace the current weights with a saved model's, checked first.

        Before Keras reads the file, the archive's declared member sizes and the
        declared shapes of the datasets in ``model.weights.h5`` are checked against
        what this learner's architecture can hold (:func:`check_keras_archive`: a
        file declaring GiBs of weights is refused without inflating anything).
        After loading, the model must be this learner's architecture (layer types,
        every variable's shape, input and output shape); otherwise a
        :class:`~btlstm.errors.ModelFileError` names the file and the first
        difference. A model of another architecture is never used.
        """
        path = Path(path)
        if not self.pretrained:
            check_keras_archive(path, self.n_weights())
        from btlstm.models import load_model

        loaded = load_model(path)
        want = (self.lookback, self.n_features)
        if tuple(loaded.input_shape[1:]) != want:
            raise ModelFileError(
                f"model file {str(path)!r} expects windows {tuple(loaded.input_shape[1:])}, "
                f"this run needs {want}"
            )
        if self.pretrained:  # a ready model the user named: its own architecture
            self.model = loaded
            self.fitted = True
            return
        problem = _architecture_difference(loaded, self._expected_architecture())
        if problem is not None:
            raise ModelFileError(
                f"model file {str(path)!r} is not this run's network ({problem})"
            )
        if self.model is None:
            self.model = loaded  # checked: the architecture this learner builds
        else:
            for dst, src in zip(self.model.variables, loaded.variables, strict=True):
                dst.assign(src)
        self.fitted = True

    def _expected_architecture(self) -> tuple:
        """:func:`_architecture` of the network this learner builds (built once)."""
        arch = getattr(self, "_arch", None)
        if arch is None:
            if self.model is not None:
                arch = _architecture(self.model)
            else:
                from btlstm.models import build_model

                arch = _architecture(
                    build_model(lookback=self.lookback, n_features=self.n_features,
                                **self.settings.build_kwargs())
                )  # fmt: skip
            self._arch = arch
        return arch

    # ------------------------------------------------------------ settings (the seam)
    #: the settings whose size the memory estimate follows (named in its message)
    SIZE_KEYS = ("lstm_units", "dense_units", "stacked_lstm_units")

    @classmethod
    def check_settings(cls, given: dict, *, lookback: int, n_features: int, where,
                       allow_large: bool = False) -> None:
        """The layer sizes and the number of layers against their caps
        (:data:`btlstm.checks.LIMITS`; ``allow_large`` lifts them), then each given
        regularizer spec parsed and a given ``loss`` resolved by Keras (Keras resolves
        a loss name only when training starts): each error names ``where(key)``."""
        from btlstm.checks import LIMITS, check_cap

        if given.get("lstm_units") is not None:
            check_cap(where("lstm_units"), given["lstm_units"], "lstm_units", allow_large)
        for key in ("dense_units", "stacked_lstm_units"):
            units = tuple(given.get(key) or ())
            if len(units) > LIMITS["layers"][0] and not allow_large:
                check_cap(f"the number of layers of {where(key)}", len(units), "layers")
            for u in units:
                if u is not None:
                    check_cap(where(key), u, key, allow_large)
        slots = [s for s in REGULARIZER_SLOTS if given.get(s) is not None]
        if slots:
            from btlstm.models import parse_regularizer

            for slot in slots:
                try:
                    parse_regularizer(given[slot], argument=where(slot))
                except TypeError as e:
                    raise ValueError(str(e)) from None
        if "loss" in given:
            import keras

            try:
                keras.losses.get(given["loss"])
            except (ValueError, TypeError) as e:
                raise ValueError(
                    f"{where('loss')}: {given['loss']!r} is not a Keras loss ({e})"
                ) from None

    @classmethod
    def memory_bytes(cls, settings, *, lookback: int, n_features: int, batch_size: int) -> int:
        """Weights, gradients and Adam moments (16 bytes a weight) and one batch's
        activations (5 gates' values, float32, forward and backward, per LSTM unit)."""
        st = cls.make_settings(settings)
        layers = (*st.stacked_lstm_units, st.lstm_units)
        acts = batch_size * lookback * sum(layers) * 5 * 4 * 2
        return _n_weights(st, n_features) * 16 + acts

    @classmethod
    def memory_what(cls, settings, given: dict, *, n_features: int, where) -> str:
        """What a memory refusal names: ``the network (N weights; --lstm-units)``."""
        names = ", ".join(where(k) for k in cls.SIZE_KEYS if k in given) or where("lstm_units")
        return f"the network ({_n_weights(cls.make_settings(settings), n_features):,} weights; {names})"

    @classmethod
    def validate(cls, settings, *, lookback: int, n_features: int) -> None:
        """Build the network once (no data, no training; ~0.1 s after Keras is imported),
        so a bad ``lstm_kwargs`` entry or activation fails before any work."""
        from btlstm.models import build_model

        st = cls.make_settings(settings)
        build_model(lookback=lookback, n_features=n_features, **st.build_kwargs())


def _n_weights(settings: LSTMSettings, n_features: int) -> int:
    """The weights of the network of ``settings`` on ``n_features`` features (at least 1)."""
    inp, params = max(1, n_features), 0
    for u in (*settings.stacked_lstm_units, settings.lstm_units):
        params += 4 * (u * (inp + u) + u)
        inp = u
    for u in (*settings.dense_units, 1):
        params += inp * u + u
        inp = u
    return params


#: The most bytes a member of a ``.keras`` archive other than the weights may declare.
MAX_KERAS_MEMBER_BYTES = 1 << 20


def check_keras_archive(path, n_weights: int) -> None:
    """Refuse a ``.keras`` archive that declares more than a network of ``n_weights``
    weights can hold, before anything is inflated or loaded.

    ``model.weights.h5`` may declare at most 16 bytes a weight (the float32
    weights and Adam's two moments) plus 1 MiB, the archive's other members 1 MiB
    each; the datasets inside ``model.weights.h5`` (their declared shapes and
    types, read from its headers: no data is read) at most the same. Python's
    zip reader never inflates a member past its declared size, so a checked
    archive cannot grow while Keras reads it.

    Raises:
        ModelFileError: naming the file, the member and the sizes.
    """
    import zipfile

    path = Path(path)
    where = f"model file {str(path)!r}"
    limit = 16 * int(n_weights) + (1 << 20)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ModelFileError(f"{where} lists a member twice: not a file btlstm wrote")
            for info in infos:
                cap = limit if info.filename == "model.weights.h5" else MAX_KERAS_MEMBER_BYTES
                if info.file_size > cap:
                    raise ModelFileError(
                        f"{where}: {info.filename} declares {info.file_size:,} bytes, more than "
                        f"the {cap:,} this run's network ({n_weights:,} weights) can need: "
                        "refused before loading"
                    )
            if "model.weights.h5" in names:
                with zf.open("model.weights.h5") as fh:
                    declared = _h5_declared_bytes(fh)
                if declared > limit:
                    raise ModelFileError(
                        f"{where}: model.weights.h5 declares datasets of {declared:,} bytes, "
                        f"more than the {limit:,} this run's network ({n_weights:,} weights) "
                        "can need: refused before loading"
                    )
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ModelFileError(f"{where} is not a readable .keras archive ({e})") from None


def _h5_declared_bytes(fh) -> int:
    """The bytes the datasets of an HDF5 file declare (shape x item size), headers only."""
    import h5py

    total = 0

    def visit(_name, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            n = 1
            for d in obj.shape or ():
                n *= int(d)
            total += n * int(obj.dtype.itemsize)

    try:
        with h5py.File(fh, "r") as h5:
            h5.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ModelFileError(f"model.weights.h5 is not a readable HDF5 file ({e})") from None
    return total


def _architecture(model) -> tuple:
    """What a network is: its layer types, input and output shape, every variable's shape."""
    layers = tuple(type(layer).__name__ for layer in model.layers)
    shapes = tuple(tuple(int(d) for d in v.shape) for v in model.variables)
    return layers, tuple(model.input_shape[1:]), tuple(model.output_shape[1:]), shapes


def _architecture_difference(model, want: tuple) -> str | None:
    """The first way ``model`` differs from architecture ``want``, or None."""
    got = _architecture(model)
    labels = ("layers", "input shape", "output shape", "variable shapes")
    for label, g, w in zip(labels, got, want, strict=True):
        if g == w:
            continue
        if label == "variable shapes":
            if len(g) != len(w):
                return f"{len(g)} variables, expected {len(w)}"
            i = next(j for j, (a, b) in enumerate(zip(g, w)) if a != b)
            return f"variable {i} has shape {g[i]}, expected {w[i]}"
        text = f"{label} {list(g)}, expected {list(w)}"
        return text if len(text) < 400 else text[:400] + "..."
    return None


def _stop_on_nan(keras):
    """Keras's TerminateOnNaN without its print: stop at the first batch whose loss is
    nan or inf (:func:`_check_finite_loss` then names the epoch)."""

    class StopOnNaN(keras.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not np.isfinite(float(loss)):
                self.model.stop_training = True

    return StopOnNaN()


def _check_finite_loss(hist: dict) -> None:
    """A fit whose loss went nan or inf (TerminateOnNaN stopped it) is an error naming
    the epoch and the loss, not a model that predicts NaN."""
    for key in ("loss", "val_loss"):
        for epoch, value in enumerate(hist.get(key) or (), 1):
            if not np.isfinite(value):
                raise TrainingError(
                    f"training diverged at epoch {epoch} ({key} {float(value)}): lower "
                    "[model] learning_rate, or shrink the target ([model] scale, clip)"
                )


_XLA_MIN = 1024  # windows predicted by one model before XLA compilation pays off


#: with ``xla = true``: full batches x epochs of a fit from which its steps run
#: XLA-compiled. XLA saves about 7 ms per step of the default model on this 2-core CPU
#: and costs several seconds to compile once per process (scripts/bench_fit.py), so a
#: lone fit pays off from several hundred steps and a walk-forward's many fits sooner.
#: The rule depends on the fit alone: a fit gives the same numbers serially, on a worker
#: or in a new process.
XLA_MIN_STEPS = 400


def _recurrent_dropout(model) -> bool:
    """Does a recurrent layer of ``model`` drop recurrent units in training?"""
    return any(
        float(getattr(getattr(layer, "cell", None), "recurrent_dropout", 0) or 0) > 0
        for layer in model.layers
    )
