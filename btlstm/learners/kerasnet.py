"""The Keras learner base: everything about a Keras learner that is not its network.

A learner of the model zoo (``lstm``, ``gru``, ``alstm``, ``tcn``,
``transformer``, ``mlp``) subclasses :class:`KerasLearner` and writes one hook,
:meth:`KerasLearner.build_network`: a ``keras.Model`` from windows
``(lookback, n_features)`` to ``(batch, 1)``, uncompiled (the base compiles it
with Adam at ``settings.learning_rate`` on ``settings.loss``) or compiled.

What the base does for every such learner:

- **Seeded fresh build.** Each cold fit seeds Keras with the fit's seed
  (:func:`btlstm.learners.models.seed_keras`) and builds a fresh network (it draws the
  same random numbers a brand-new model would), so the same seed gives
  bit-identical weights serially, on a worker or in a new process.
- **One long-lived compiled model.** The first fit keeps its network; later cold
  fits copy a fresh network's initial weights into it and reset the optimizer, so
  its traced train, validation and predict functions are reused and memory stays
  flat. A warm fit (``warm=True``) continues from the current weights with a
  fresh optimizer state.
- **The compiled training path.** :func:`btlstm.learners.models.fit_compiled` (Keras' own
  loop without its per-fit data pipeline, the same numbers as ``model.fit``);
  a network with recurrent dropout trains with Keras' ``fit`` (bit-exact there).
  A fit whose loss goes NaN stops at once and raises
  :class:`~btlstm.errors.TrainingError`; a validation slice drives early stopping
  (best weights restored).
- **Files.** ``.keras`` archives through :func:`btlstm.learners.models.save_model` /
  :func:`btlstm.learners.models.load_model` (safe mode, no custom objects beyond the
  registered ``btlstm`` ones). Before Keras reads a file, its declared sizes are
  checked against what this learner's network can hold
  (:func:`check_keras_archive`); after loading, the network must be this
  learner's architecture (layer types, every variable's shape, input and output
  shape), or :class:`~btlstm.errors.ModelFileError` names the first difference.
- **Bounds and memory.** :attr:`KerasLearner.CAPS` maps settings fields to caps
  of :data:`btlstm.checks.LIMITS` (:meth:`check_settings`);
  :meth:`memory_bytes` is 16 bytes a weight (float32 weights, gradients and
  Adam's two moments) plus one batch's activations, from the settings alone.

Importing this module does not import TensorFlow; fitting, loading and
:meth:`KerasLearner.validate` do.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from btlstm.checks import LIMITS, check_cap
from btlstm.errors import ModelFileError, TrainingError
from btlstm.learners.base import FitRecord, Learner

__all__ = [
    "KerasLearner",
    "check_keras_archive",
    "MAX_KERAS_MEMBER_BYTES",
    "XLA_MIN_STEPS",
]


class KerasLearner(Learner):
    """A Keras network trained with Adam, early stopping and the compiled training path.

    Subclasses set ``name``, ``Settings`` (a dataclass with at least
    ``learning_rate`` and ``loss``; ``xla`` optional) and :attr:`CAPS`, and write
    :meth:`build_network`. For :meth:`memory_bytes` without TensorFlow they also
    write :meth:`count_weights` and :meth:`activation_floats`.

    Attributes:
        model: the long-lived ``keras.Model`` (None before the first fit or load).
        callbacks: extra ``keras.callbacks.Callback`` objects given to every fit.
        pretrained: the learner wraps a ready model (:meth:`from_model`): it is
            used as is and never trained.
    """

    suffix = ".keras"
    needs_tensorflow = True
    preload = ("btlstm.learners.models",)
    #: settings field -> :data:`btlstm.checks.LIMITS` key; a tuple-valued field is
    #: checked element by element and its length against ``LIMITS["layers"]``
    CAPS: ClassVar[dict] = {}

    def __init__(self, lookback: int, n_features: int, settings=None):
        super().__init__(lookback, n_features, settings)
        self.model = None  # the long-lived keras.Model
        self._fns: dict = {}
        self.pretrained = False
        #: extra ``keras.callbacks.Callback`` objects given to every ``model.fit``
        self.callbacks: list = []

    # ----------------------------------------------------------------- the hook
    def build_network(self):
        """The network: ``keras.Model`` from ``(batch, lookback, n_features)`` to
        ``(batch, 1)``, uncompiled or compiled. Called after Keras is seeded; it
        must draw its initial weights from Keras' seeded generators only."""
        raise NotImplementedError(f"{type(self).__name__} must define build_network()")

    @classmethod
    def count_weights(cls, settings, *, lookback: int, n_features: int) -> int | None:
        """The network's weights from the settings (no TensorFlow), or None if unknown."""
        return None

    @classmethod
    def activation_floats(cls, settings, *, lookback: int, n_features: int) -> int:
        """Floats of one sample's activations kept for the backward pass (an estimate)."""
        return 0

    # ----------------------------------------------------------------- settings
    @classmethod
    def check_settings(cls, given, *, lookback, n_features, where, allow_large=False) -> None:
        """Every size in :attr:`CAPS` against its cap; raises ``ValueError`` naming
        ``where(key)`` and the valid range (``--allow-large`` lifts the caps)."""
        given = given or {}
        for key, limit in cls.CAPS.items():
            value = given.get(key)
            if value is None:
                continue
            if isinstance(value, (tuple, list)):
                if len(value) > LIMITS["layers"][0] and not allow_large:
                    check_cap(f"the number of layers of {where(key)}", len(value), "layers")
                for v in value:
                    check_cap(where(key), v, limit, allow_large)
            else:
                check_cap(where(key), value, limit, allow_large)

    @classmethod
    def memory_bytes(cls, settings, *, lookback, n_features, batch_size) -> int:
        """16 bytes a weight (float32 weights, gradients, Adam's two moments) plus one
        batch's activations (float32, twice: forward values and their gradients)."""
        s = cls.make_settings(settings)
        weights = cls.count_weights(s, lookback=int(lookback), n_features=max(1, int(n_features)))
        if weights is None:
            return 0
        acts = cls.activation_floats(s, lookback=int(lookback), n_features=max(1, int(n_features)))
        return int(weights) * 16 + int(batch_size) * int(acts) * 4 * 2

    @classmethod
    def validate(cls, settings, *, lookback, n_features) -> None:
        """Build the network once (no data, no training) and resolve the loss, so a bad
        setting fails now; ``ValueError`` says what Keras refused."""
        learner = cls(lookback, n_features, settings)
        try:
            learner._build()
        except (ValueError, TypeError) as e:
            raise ValueError(f"learner {cls.name!r}: {e}") from None
        loss = getattr(learner.settings, "loss", None)
        if loss is not None:
            import keras

            try:
                keras.losses.get(loss)
            except (ValueError, TypeError) as e:
                raise ValueError(f"loss {loss!r} is not a Keras loss ({e})") from None

    # ----------------------------------------------------------------- building
    def _build(self):
        """:meth:`build_network`, compiled with Adam on ``settings.loss`` if it is not.

        With :attr:`target` ``"sign"`` every network gets the same head, whatever the
        subclass builds: the network becomes a layer of a new model whose output is
        ``sigmoid(network(window))`` (the probability of up), compiled with Adam on
        ``binary_crossentropy`` (``settings.loss`` is then not used)."""
        from btlstm._compat import import_tensorflow_quietly

        import_tensorflow_quietly()
        import keras

        net = self.build_network()
        if not isinstance(net, keras.Model):
            raise TypeError(f"{type(self).__name__}.build_network() returned {type(net).__name__}, "
                            "not a keras.Model")  # fmt: skip
        want_in = (self.lookback, self.n_features)
        if tuple(net.input_shape[1:]) != want_in or tuple(net.output_shape[1:]) != (1,):
            raise ValueError(
                f"{type(self).__name__}.build_network() maps {net.input_shape} to "
                f"{net.output_shape}; a learner's network maps (None, {want_in[0]}, "
                f"{want_in[1]}) to (None, 1)"
            )
        sign = self.target == "sign"
        if sign:  # up/down: the network's linear output through a sigmoid, trained on BCE
            inp = keras.Input((self.lookback, self.n_features), name="window")
            out = keras.layers.Activation("sigmoid", name="probability_up")(net(inp))
            net = keras.Model(inp, out, name=f"{net.name}_sign")
        if sign or getattr(net, "optimizer", None) is None or not getattr(net, "compiled", True):
            from btlstm.learners.models import _make_optimizer

            lr = float(getattr(self.settings, "learning_rate", 1e-3))
            loss = "binary_crossentropy" if sign else getattr(self.settings, "loss", "mse")
            try:
                net.compile(optimizer=_make_optimizer("adam", lr), loss=loss)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"loss={loss!r} is not a Keras loss ({exc})") from None
        return net

    def _fresh(self, seed: int):
        from btlstm.learners.models import seed_keras

        seed_keras(int(seed))  # keras.utils.set_random_seed less TensorFlow's (see there)
        return self._build()

    @classmethod
    def from_model(cls, model, n_features: int | None = None):
        """A learner around a ready ``keras.Model`` or a saved ``.keras`` path (nothing is trained)."""
        from btlstm.learners.models import load_model

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

    # ----------------------------------------------------------------- training
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

        from btlstm.learners.models import fit_compiled

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
        xla = bool(getattr(self.settings, "xla", False)) and steps >= XLA_MIN_STEPS
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

            from btlstm.learners.models import compile_training, training_compiled

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

    # ----------------------------------------------------------------- predicting
    def predictor(self, n_windows: int = 1):
        from btlstm.learners.models import make_batch_predict_fn, make_predict_fn

        if self.model is None:
            raise ValueError(f"{type(self).__name__}: predict before fit (no model)")
        key = "block" if n_windows >= _XLA_MIN else "plain"
        if self._fns.get("model") is not self.model:  # compiled once per model object
            self._fns = {"model": self.model}
        fns = self._fns
        if key not in fns:
            make = make_batch_predict_fn if key == "block" else make_predict_fn
            fns[key] = make(self.model)
        return fns[key]

    # ----------------------------------------------------------------- files
    def save(self, path) -> Path:
        from btlstm.learners.models import save_model

        if self.model is None:
            raise ValueError(f"{type(self).__name__}: nothing to save before fit")
        return save_model(self.model, path)

    def n_weights(self) -> int:
        """The network's weights: from the settings where :meth:`count_weights` knows
        them (no TensorFlow), else by building the network once (cached). The bound a
        saved file of this learner's architecture is checked against before it is loaded."""
        n = getattr(self, "_n_weights", None)
        if n is None:
            n = type(self).count_weights(self.settings, lookback=self.lookback,
                                         n_features=max(1, self.n_features))  # fmt: skip
            if n is None:
                net = self.model if self.model is not None else self._build()
                n = int(net.count_params())
            self._n_weights = n = int(n)
        return n

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
        from btlstm.learners.models import load_model

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
            net = self.model if self.model is not None else self._build()
            arch = self._arch = _architecture(net)
        return arch


# --------------------------------------------------------------------- for the zoo
def zoo_settings_check(settings, ints=(), tuples=(), rates=()) -> None:
    """The shared ``__post_init__`` checks of a zoo learner's settings: ``ints``
    integers >= 1, ``tuples`` tuples of them (made tuples), ``rates`` in [0, 1),
    ``learning_rate`` > 0, ``dense_activation`` a name; each message names the field."""
    from btlstm.checks import check_int, check_number

    for name in tuples:
        value = getattr(settings, name)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name} must be a list of integers >= 1, got {value!r}")
        value = tuple(value)
        for v in value:
            check_int(f"{name} entry", v, lo=1)
        setattr(settings, name, tuple(int(v) for v in value))
    for name in ints:
        setattr(settings, name, check_int(name, getattr(settings, name), lo=1))
    for name in rates:
        check_number(name, getattr(settings, name), 0, 1, hi_open=True)
    check_number("learning_rate", settings.learning_rate, lo=0, lo_open=True)
    act = getattr(settings, "dense_activation", "relu")
    if not isinstance(act, str) or not act:
        raise ValueError(f"dense_activation must be an activation name such as 'relu', got {act!r}")


def dense_head(keras, x, settings):
    """``settings.dense_units`` Dense layers (``settings.dense_activation``) and the
    linear ``Dense(1)`` output, the head every zoo network ends with."""
    for i, units in enumerate(settings.dense_units):
        x = keras.layers.Dense(units, activation=settings.dense_activation, name=f"dense_{i}")(x)
    return keras.layers.Dense(1, activation=None, name="output")(x)


def dense_weights(inp: int, units) -> int:
    """Weights of Dense layers ``units`` and the ``Dense(1)`` output on ``inp`` inputs."""
    params = 0
    for u in (*units, 1):
        params += inp * u + u
        inp = u
    return params


def last_step(keras, x, lookback: int):
    """The last bar of a sequence ``(batch, lookback, width) -> (batch, width)``
    (``Cropping1D`` and ``Flatten``: plain Keras layers, no Lambda)."""
    if lookback > 1:
        x = keras.layers.Cropping1D((lookback - 1, 0), name="last_step")(x)
    return keras.layers.Flatten(name="last")(x)


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
