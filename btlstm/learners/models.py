"""The LSTM model: build it, describe it, save / load it, and predict fast.

The default network is the article's: one LSTM layer and three Dense
layers, the last with one linear unit, on windows of ``lookback`` bars x
``n_features`` features::

    Input(lookback, n_features) -> LSTM(32) -> Dense(32, relu) -> Dense(16, relu) -> Dense(1)

Every argument of ``keras.layers.LSTM`` is reachable through ``lstm_kwargs``;
the four regularizer slots accept anything :func:`parse_regularizer` accepts
(``"l2(0.01)"``, ``{"l1": 0.01}``, a Keras regularizer, or a module-level
function ``weight -> scalar`` such as the article's ``l1_reg``).

Saving custom regularizers: built-in classes (``SeedL1``, ``GroupL21``,
``CallableRegularizer``) are registered under the ``btlstm`` package, so a
saved ``.keras`` file reloads with :func:`load_model` and no
``custom_objects``. A plain function is put on the allow-list under
``btlstm_custom>module.qualname`` when the model is built: it reloads with no
arguments in the same process, and in a new process once the function is
registered again (``@register_regularizer_fn`` on its definition, then
``import mymodule`` before ``load_model``). Lambdas and closures are refused
at build time.

The one layer btlstm adds, :class:`PositionEmbedding` (the ``transformer``
learner's learned positions), is registered under the ``btlstm`` package the
same way.

Safety: what a model file can do. :func:`load_model` reads only ``.keras``
archives, with Keras' safe mode on (no ``Lambda`` layers, no pickled code,
no module imports outside Keras) and no ``custom_objects``. A function named
in the file runs only if code in this process registered it
(:func:`register_regularizer_fn`); any other name is refused with
:class:`ModelFileError` before it is called. See :mod:`btlstm.learners.regularizers`.

This module imports Keras / TensorFlow; ``import btlstm`` first keeps TF quiet.
"""

from __future__ import annotations

import inspect
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from btlstm._compat import import_tensorflow_quietly
from btlstm._files import replacing
from btlstm.checks import check_int, check_number, close_names
from btlstm.errors import ModelFileError, RegularizerNotAllowedError

import_tensorflow_quietly()

import keras
import numpy as np

from btlstm.learners.regularizers import (
    VALID_FORMS,
    CallableRegularizer,
    GroupL21,
    SeedL1,
    parse_regularizer,
    register_regularizer_fn,
    register_regularizer_spec,
    registered_regularizer_fns,
    regularizer_spec,
)

__all__ = [
    "CallableRegularizer",
    "GroupL21",
    "ModelFileError",
    "PositionEmbedding",
    "RegularizerNotAllowedError",
    "SeedL1",
    "VALID_FORMS",
    "build_model",
    "compile_training",
    "describe_model",
    "load_model",
    "make_batch_predict_fn",
    "make_predict_fn",
    "parse_regularizer",
    "register_regularizer_fn",
    "register_regularizer_spec",
    "registered_regularizer_fns",
    "regularizer_spec",
    "save_model",
]

#: The regularizer slots of a Keras LSTM layer (also the LSTM learner's settings of these names).
REGULARIZER_SLOTS = ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                     "activity_regularizer")  # fmt: skip

# build_model sets these itself; lstm_kwargs / dense_kwargs may not.
_LSTM_RESERVED = {
    "units": "use lstm_units (and stacked_lstm_units)",
    "return_sequences": "set by build_model (True for stacked layers, False for the last)",
    "return_state": "the model outputs one prediction per sample",
    "name": "layer names are set by build_model",
}
_DENSE_RESERVED = {
    "units": "use dense_units",
    "activation": "use dense_activation (the output layer is linear)",
    "name": "layer names are set by build_model",
}


def _layer_arguments(cls: type) -> list[str]:
    params = inspect.signature(cls).parameters.values()
    return [p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]


def _check_units(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
    return tuple(check_int(f"{name}[{i}]", v, lo=1) for i, v in enumerate(value))


def _check_kwargs(
    kwargs: Mapping | None, name: str, layer: type, reserved: dict[str, str]
) -> dict[str, Any]:
    if kwargs is None:
        return {}
    if not isinstance(kwargs, Mapping):
        raise ValueError(f"{name} must be a dict of {layer.__name__} arguments, got {kwargs!r}")
    valid = [a for a in _layer_arguments(layer) if a not in reserved]
    out = dict(kwargs)
    for key in out:
        if key in reserved:
            raise ValueError(f"{name}[{key!r}]={out[key]!r} is not allowed: {reserved[key]}")
        if key not in valid:
            close = close_names(key, valid, n=3)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise ValueError(
                f"{name} has unknown {layer.__name__} argument {key!r}; {hint}"
                f"valid arguments: {', '.join(valid)}"
            )
    for slot in REGULARIZER_SLOTS:
        if slot in out:
            out[slot] = parse_regularizer(out[slot], argument=f"{name}[{slot!r}]")
    for key in ("dropout", "recurrent_dropout"):
        if key in out:
            out[key] = check_number(f"{name}[{key!r}]", out[key], 0, 1, hi_open=True)
    bias = out.get("bias_regularizer")
    if isinstance(bias, keras.regularizers.OrthogonalRegularizer):
        raise ValueError(
            f"{name}['bias_regularizer']={regularizer_spec(bias)!r}: the orthogonal regularizer "
            "needs a 2-D weight and a bias is 1-D; use it on kernel_regularizer or "
            "recurrent_regularizer"
        )
    return out


def _make_optimizer(optimizer: Any, learning_rate: float):
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise ValueError(f"optimizer must be a name or a keras Optimizer, got {optimizer!r}")
    try:
        return keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": learning_rate}}
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"optimizer={optimizer!r} is not a Keras optimizer ({exc})") from None


@keras.saving.register_keras_serializable(package="btlstm")
class PositionEmbedding(keras.layers.Layer):
    """A learned position vector added to each bar of a window (the ``transformer``
    learner's positional encoding): ``(batch, steps, width) -> (batch, steps, width)``.

    One weight of shape ``(steps, width)`` (``positions``), drawn from Keras' seeded
    generator. Registered under the ``btlstm`` package, so a saved ``.keras`` file
    reloads in safe mode with no ``custom_objects``; it names no function.

    Args:
        initializer: Keras initializer of the position vectors.
    """

    def __init__(self, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(int(input_shape[-2]), int(input_shape[-1])),
            initializer=self.initializer,
            name="positions",
        )

    def call(self, inputs):
        return inputs + keras.ops.cast(self.positions, inputs.dtype)

    def get_config(self):
        return {**super().get_config(),
                "initializer": keras.initializers.serialize(self.initializer)}  # fmt: skip


def build_model(
    lookback: int = 30,
    n_features: int = 6,
    lstm_units: int = 32,
    dense_units: Sequence[int] = (32, 16),
    stacked_lstm_units: Sequence[int] = (),
    lstm_kwargs: Mapping[str, Any] | None = None,
    dense_kwargs: Mapping[str, Any] | None = None,
    dense_activation: str | Callable = "relu",
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float = 1e-3,
    loss: str | Callable = "mse",
    seed: int | None = None,
    batch_size: int | None = None,
    name: str = "btlstm_lstm",
) -> keras.Model:
    """Build and compile the article's LSTM regressor.

    Args:
        lookback: bars per input window (the article uses 30).
        n_features: features per bar (the article uses 6).
        lstm_units: units of the main LSTM layer (the one feeding the Dense layers).
        dense_units: units of the hidden Dense layers; a final ``Dense(1)``
            with a linear activation is always added.
        stacked_lstm_units: units of extra LSTM layers inserted before the
            main one (``return_sequences=True``), with the same ``lstm_kwargs``.
        lstm_kwargs: any other ``keras.layers.LSTM`` argument (``activation``,
            ``recurrent_activation``, ``use_bias``, the initializers,
            ``unit_forget_bias``, ``kernel_regularizer``,
            ``recurrent_regularizer``, ``bias_regularizer``,
            ``activity_regularizer``, the three constraints, ``dropout``,
            ``recurrent_dropout``, ``go_backwards``, ``unroll``, ``use_cudnn``,
            ``stateful`` with ``batch_size``...). Regularizers go through
            :func:`parse_regularizer`.
        dense_kwargs: ``keras.layers.Dense`` arguments for every Dense layer,
            the output layer included (regularizers, initializers, constraints).
        dense_activation: activation of the hidden Dense layers.
        optimizer: optimizer name or instance (an instance keeps its own
            learning rate).
        learning_rate: learning rate when ``optimizer`` is a name.
        loss: Keras loss name or callable.
        seed: if given, ``keras.utils.set_random_seed(seed)`` is called before
            the layers are built (note: it reseeds Python, NumPy and the
            backend globally), so the same seed gives identical initial weights.
        batch_size: fixed batch size of the input (only needed for
            ``stateful=True``).
        name: model name.

    Returns:
        A compiled ``keras.Model`` mapping ``(batch, lookback, n_features)`` to ``(batch, 1)``.

    Raises:
        ValueError: a bad argument; the message names it and repeats the value
            (unknown LSTM arguments get a suggestion).

    Example:
        >>> model = build_model(lookback=10, n_features=6, seed=0,
        ...                     lstm_kwargs={"kernel_regularizer": "l2(0.01)", "dropout": 0.1})
        >>> model.output_shape
        (None, 1)
    """
    lookback = check_int("lookback", lookback, lo=1)
    n_features = check_int("n_features", n_features, lo=1)
    lstm_units = check_int("lstm_units", lstm_units, lo=1)
    dense_units = _check_units(dense_units, "dense_units")
    stacked_lstm_units = _check_units(stacked_lstm_units, "stacked_lstm_units")
    lkw = _check_kwargs(lstm_kwargs, "lstm_kwargs", keras.layers.LSTM, _LSTM_RESERVED)
    dkw = _check_kwargs(dense_kwargs, "dense_kwargs", keras.layers.Dense, _DENSE_RESERVED)
    if lkw.get("stateful") and batch_size is None:
        raise ValueError("lstm_kwargs['stateful']=True needs batch_size (a fixed batch size)")
    batch_size = check_int("batch_size", batch_size, lo=1, none=True)
    learning_rate = check_number("learning_rate", learning_rate, lo=0, lo_open=True)
    if seed is not None:
        seed = check_int("seed", seed, lo=0)
        keras.utils.set_random_seed(seed)
    try:
        keras.activations.get(dense_activation)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"dense_activation={dense_activation!r} is not an activation ({exc})"
        ) from None
    opt = _make_optimizer(optimizer, float(learning_rate))

    inputs = keras.Input((lookback, n_features), batch_size=batch_size, name="window")
    x = inputs
    try:
        for i, units in enumerate(stacked_lstm_units):
            x = keras.layers.LSTM(units, return_sequences=True, name=f"lstm_stack_{i}", **lkw)(x)
        x = keras.layers.LSTM(lstm_units, return_sequences=False, name="lstm", **lkw)(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"lstm_kwargs={lstm_kwargs!r} rejected by keras.layers.LSTM: {exc}"
        ) from None
    try:
        for i, units in enumerate(dense_units):
            x = keras.layers.Dense(units, activation=dense_activation, name=f"dense_{i}", **dkw)(x)
        outputs = keras.layers.Dense(1, activation=None, name="output", **dkw)(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"dense_kwargs={dense_kwargs!r} rejected by keras.layers.Dense: {exc}"
        ) from None
    model = keras.Model(inputs, outputs, name=name)
    _check_penalties(model)
    try:
        model.compile(optimizer=opt, loss=loss)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"loss={loss!r} is not a Keras loss ({exc})") from None
    return model


#: batches run per call of the training function (an epoch of up to 64 batches is one
#: call: the per-step Python and dispatch cost is paid once per epoch)
TRAIN_STEPS_PER_EXECUTION = 64


def _xla_step(step, batch_size: int, xla: bool):
    """``step`` itself, or with ``xla``: full batches of ``batch_size`` through an
    XLA-compiled copy of ``step`` and the one partial batch of an epoch through
    ``step`` (its size changes from fit to fit: nothing is compiled again)."""
    if not xla:
        return step
    import tensorflow as tf

    compiled = tf.function(step, jit_compile=True, reduce_retracing=True)

    def one(data):
        full = tf.equal(tf.shape(tf.nest.flatten(data)[0])[0], batch_size)
        return tf.cond(full, lambda: compiled(data), lambda: step(data))

    return one


def compile_training(model: keras.Model, batch_size: int, xla: bool = False) -> keras.Model:
    """Give ``model`` training and validation functions that every later ``model.fit`` reuses.

    Keras' ``fit`` and ``evaluate`` call ``model.train_function`` /
    ``model.test_function`` and build them only when they are missing. This
    installs both, traced once and kept for every later ``fit`` of the same
    model (a walk-forward run's refits, of any size, trace nothing again), and
    runs :data:`TRAIN_STEPS_PER_EXECUTION` batches per call (an epoch of up to
    64 batches is one call). With ``xla=False`` each batch runs Keras' own
    step: the weights equal a plain ``fit``'s bit for bit (same data order, loss,
    optimizer and callbacks).

    With ``xla=True`` a full batch of ``batch_size`` windows runs an
    XLA-compiled step (compiled once per model and batch size, a few seconds;
    about 2.4x faster per epoch on CPU) and the one partial batch of an epoch
    (its size changes from fit to fit) Keras' step, so no refit compiles again.
    XLA rounds floats differently (about 1e-7 per step) and training
    amplifies that: predictions are not a plain ``fit``'s (scripts/bench_fit.py).

    Args:
        model: a compiled Keras model (as :func:`build_model` makes).
        batch_size: the training batch size (the XLA step is compiled for it).
        xla: run full batches XLA-compiled. Each variant is made once per model
            and kept; asking for the other one later switches without tracing.

    Returns:
        ``model`` itself.
    """

    batch_size = check_int("batch_size", batch_size, lo=1)
    key = (batch_size, bool(xla))
    made = getattr(model, "_btlstm_training", None)
    if not isinstance(made, dict) or made.get("model_fns") != (
        model.train_function,
        model.test_function,
    ):
        made = {}  # none yet, or Keras compiled the model again (it drops its functions)
    if key in made:
        model.train_function, model.test_function = made[key]
        made["model_fns"], made["current"] = made[key], key
        return model
    model.steps_per_execution = TRAIN_STEPS_PER_EXECUTION

    model.train_function = model._make_function(_xla_step(model.train_step, batch_size, xla))
    model.test_function = model._make_function(_xla_step(model.test_step, batch_size, xla))
    made[key] = made["model_fns"] = (model.train_function, model.test_function)
    made["current"] = key
    object.__setattr__(model, "_btlstm_training", made)
    return model


_MAXINT32 = 2**31 - 1


def keras_order(n: int, seed: int | None = None):
    """The order in which Keras' ``fit(shuffle=True)`` visits ``n`` samples after
    ``keras.utils.set_random_seed(seed)`` (``seed=None``: under TensorFlow's current
    global seed, as ``fit`` itself would).

    Keras' array adapter draws the permutation with ``tf.random.shuffle`` inside a
    ``tf.data`` map function; each epoch starts a new iterator, whose shuffle kernel
    starts afresh, so every epoch of a fit repeats the same order. Inside that
    function TensorFlow gives the shuffle the seed pair ``(seed mod (2^31 - 1), 0)``
    (``(0, 2^31 - 1)`` where that is ``(0, 0)``). With ``seed`` given, this draws
    the shuffle with that pair explicitly, without setting TensorFlow's global seed:
    setting it clears every cached kernel, and the next call of a traced training
    function is then optimized again (about 0.2 s a fit). Checked against Keras'
    own order for many seeds and sizes (``tests/test_parallel_fits.py``).
    """
    import tensorflow as tf

    if seed is None:

        def permutation(_):  # the same operations, in the same order, as Keras' own
            indices = tf.range(n, dtype=tf.int64)
            indices = tf.random.shuffle(indices)
            return indices

    else:
        s1 = int(seed) % _MAXINT32
        s1, s2 = (0, _MAXINT32) if s1 == 0 else (s1, 0)

        def permutation(_):
            indices = tf.range(n, dtype=tf.int64)
            return tf.raw_ops.RandomShuffle(value=indices, seed=s1, seed2=s2)

    return next(iter(tf.data.Dataset.range(1).map(permutation)))


def seed_keras(seed: int) -> None:
    """``keras.utils.set_random_seed(seed)`` except TensorFlow's global seed: Python's
    and NumPy's generators, Keras' global seed and its global ``SeedGenerator``.

    What the seed decides in a btlstm fit is drawn from these (the initial weights
    and dropout seeds from Python's generator) and from the shuffle, which
    :func:`fit_compiled` draws with ``shuffle_seed`` (:func:`keras_order`). Leaving
    TensorFlow's global seed alone keeps its kernel cache: the traced training
    functions are not optimized again at every fit. Where Keras' internals differ
    from the ones this was written against, it calls ``set_random_seed`` itself
    (slower, the same numbers).
    """
    import random

    try:
        from keras.src.backend.common import global_state
        from keras.src.random import seed_generator
        from keras.src.utils import rng_utils

        key_seed, key_gen = rng_utils.GLOBAL_RANDOM_SEED, seed_generator.GLOBAL_SEED_GENERATOR
    except (ImportError, AttributeError):  # pragma: no cover - another Keras
        keras.utils.set_random_seed(int(seed))
        return
    global_state.set_global_attribute(key_seed, int(seed))
    global_state.set_global_attribute(key_gen, None)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def _loop_functions(model: keras.Model, batch_size: int, xla: bool):
    """The traced epoch functions of :func:`fit_compiled` for ``model`` (made once per
    model, batch size and ``xla``; kept on the model)."""
    import tensorflow as tf

    made = getattr(model, "_btlstm_loop", None)
    if not isinstance(made, dict) or made.get("steps") != (model.train_step, model.test_step):
        made = {"steps": (model.train_step, model.test_step)}
        object.__setattr__(model, "_btlstm_loop", made)
    key = (batch_size, bool(xla))
    if key in made:
        return made[key]
    lookback, n_features = model.input_shape[1:]
    bs = tf.constant(batch_size, tf.int32)

    train_step = _xla_step(model.train_step, batch_size, xla)
    test_step = _xla_step(model.test_step, batch_size, xla)
    windows = tf.TensorSpec((None, lookback, n_features), tf.float32)
    labels = tf.TensorSpec((None,), tf.float32)
    scalar = tf.TensorSpec((), tf.int32)

    @tf.function(
        input_signature=[windows, labels, tf.TensorSpec((None,), tf.int64), scalar, scalar]
    )
    def train_batches(X, y, order, first, stop):
        n = tf.shape(order)[0]

        def body(b):
            idx = order[b * bs : tf.minimum((b + 1) * bs, n)]
            train_step((tf.gather(X, idx, axis=0), tf.gather(y, idx, axis=0)))
            return (b + 1,)

        tf.while_loop(lambda b: b < stop, body, (first,))
        return tf.constant(0)

    @tf.function(input_signature=[windows, labels, scalar, scalar])
    def test_batches(X, y, first, stop):
        n = tf.shape(X)[0]

        def body(b):
            lo = b * bs
            hi = tf.minimum(lo + bs, n)
            test_step((X[lo:hi], y[lo:hi]))
            return (b + 1,)

        tf.while_loop(lambda b: b < stop, body, (first,))
        return tf.constant(0)

    made[key] = (train_batches, test_batches)
    return made[key]


def fit_compiled(
    model: keras.Model,
    X,
    y,
    X_val=None,
    y_val=None,
    *,
    epochs: int,
    batch_size: int,
    callbacks: Sequence = (),
    xla: bool = False,
    shuffle_seed: int | None = None,
):
    """``model.fit(X, y, validation_data=(X_val, y_val), shuffle=True, verbose=0)``
    with the same numbers bit for bit, without Keras' per-fit data pipeline.

    Keras' ``fit`` builds a ``tf.data`` pipeline for the training and for the
    validation data in every call (tracing its map functions) and starts a new
    iterator for each of them in every epoch: about 0.3 s a fit of the default
    model, a large share of a walk-forward's short fits. This runs the same loop
    (callbacks, metrics, validation after each epoch, ``stop_training``) over
    functions traced once per model and batch size that take the windows, the
    labels and the epoch's order as tensors: the order is Keras' own
    (:func:`keras_order`), and each batch runs ``model.train_step`` /
    ``model.test_step``, :data:`TRAIN_STEPS_PER_EXECUTION` batches per call
    (callbacks see a batch end per call, as with Keras' ``steps_per_execution``).
    ``xla=True``: full batches XLA-compiled (as :func:`compile_training`).
    ``shuffle_seed``: the order of a fit after ``keras.utils.set_random_seed(
    shuffle_seed)`` (None: under TensorFlow's current global seed, as ``fit``).
    ``tests/test_parallel_fits.py`` checks the weights against ``model.fit``.
    One exception is known: with ``recurrent_dropout`` in a recurrent layer the
    weights come out 1 ulp apart from ``fit``'s (float rounding; the dropout
    masks are the same), so the LSTM learner trains such models with ``fit``.

    Returns:
        The ``keras.callbacks.History`` of the fit (``.history["loss"]``, ...).
    """
    import tensorflow as tf
    from keras.src.callbacks.callback_list import CallbackList
    from keras.src.utils.python_utils import pythonify_logs

    batch_size = check_int("batch_size", batch_size, lo=1)
    epochs = check_int("epochs", epochs, lo=0)
    X = tf.convert_to_tensor(np.asarray(X, dtype=np.float32))
    y = tf.convert_to_tensor(np.asarray(y, dtype=np.float32))
    n = int(X.shape[0])
    train_batches, test_batches = _loop_functions(model, batch_size, xla)
    order = keras_order(n, shuffle_seed)
    n_batches = -(-n // batch_size)
    val = X_val is not None and len(X_val) > 0
    if val:
        Xv = tf.convert_to_tensor(np.asarray(X_val, dtype=np.float32))
        yv = tf.convert_to_tensor(np.asarray(y_val, dtype=np.float32))
        n_val_batches = -(-int(Xv.shape[0]) // batch_size)
    per_call = TRAIN_STEPS_PER_EXECUTION
    cbs = CallbackList(list(callbacks), add_history=True, add_progbar=False, verbose=0,
                       epochs=epochs, steps=n_batches, model=model)  # fmt: skip
    model.stop_training = False
    cbs.on_train_begin()
    logs: dict = {}
    epoch_logs = None
    for epoch in range(epochs):
        model.reset_metrics()
        cbs.on_epoch_begin(epoch)
        for first in range(0, n_batches, per_call):
            cbs.on_train_batch_begin(first)
            train_batches(X, y, order, first, min(first + per_call, n_batches))
            logs = model.get_metrics_result()
            cbs.on_train_batch_end(first + per_call - 1, logs)
            if model.stop_training:
                break
        epoch_logs = dict(model._get_metrics_result_or_logs(logs))
        if val:  # Keras' evaluate(..., return_dict=True) on the cached validation data
            cbs.on_test_begin()
            model.reset_metrics()
            vlogs: dict = {}
            for first in range(0, n_val_batches, per_call):
                cbs.on_test_batch_begin(first)
                test_batches(Xv, yv, first, min(first + per_call, n_val_batches))
                vlogs = model.get_metrics_result()
                cbs.on_test_batch_end(first + per_call - 1, vlogs)
            vlogs = pythonify_logs(model._get_metrics_result_or_logs(vlogs))
            cbs.on_test_end(vlogs)
            epoch_logs.update({f"val_{k}": v for k, v in vlogs.items()})
        cbs.on_epoch_end(epoch, epoch_logs)
        if model.stop_training:
            break
    if epochs > 0:
        model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs=epoch_logs)
    return model.history


def training_compiled(model: keras.Model) -> tuple[int, bool] | None:
    """``(batch_size, xla)`` of the functions :func:`compile_training` installed on
    ``model`` (None: none, or Keras dropped them when the model was compiled again).
    Both variants, once made, stay on the model: switching between them traces nothing."""
    made = getattr(model, "_btlstm_training", None)
    if not isinstance(made, dict) or made.get("model_fns") != (
        model.train_function,
        model.test_function,
    ):
        return None
    return made.get("current")


def _regularized_weights(layer) -> list[tuple[str, Any, Any]]:
    """(slot, regularizer, weight) for the weight regularizers of one layer."""
    owner = getattr(layer, "cell", layer)
    pairs = (
        ("kernel_regularizer", "kernel"),
        ("recurrent_regularizer", "recurrent_kernel"),
        ("bias_regularizer", "bias"),
    )
    out = []
    for slot, attr in pairs:
        reg = getattr(owner, slot, None)
        weight = getattr(owner, attr, None)
        if reg is not None and weight is not None:
            out.append((slot, reg, weight))
    return out


def _check_penalties(model: keras.Model) -> None:
    """Evaluate each weight penalty once on the initial weights: it must be a finite scalar."""
    for layer in model.layers:
        for slot, reg, weight in _regularized_weights(layer):
            try:
                value = keras.ops.convert_to_numpy(reg(weight))
            except Exception as exc:  # noqa: BLE001 - re-raised with the layer and slot
                raise ValueError(
                    f"{slot}={regularizer_spec(reg)!r} fails on layer {layer.name!r} weight of "
                    f"shape {tuple(weight.shape)}: {type(exc).__name__}: {exc}"
                ) from None
            if np.size(value) != 1 or not np.all(np.isfinite(value)):
                raise ValueError(
                    f"{slot}={regularizer_spec(reg)!r} gives {value!r} on layer {layer.name!r} "
                    f"weight of shape {tuple(weight.shape)} (it must return a finite scalar; "
                    "an orthogonal regularizer needs at least 2 rows / columns in its mode)"
                )


def _check_saveable(model: keras.Model) -> None:
    for layer in model.layers:
        for slot in REGULARIZER_SLOTS:
            reg = getattr(layer, slot, None)
            if reg is None:
                continue
            if isinstance(reg, keras.regularizers.Regularizer):
                cls = type(reg)
                if cls.__module__.startswith("keras."):
                    continue
                name = keras.saving.get_registered_name(cls)
                if keras.saving.get_registered_object(name) is not cls:
                    raise ValueError(
                        f"layer {layer.name!r} {slot} uses {cls.__module__}.{cls.__qualname__}, "
                        "which is not registered, so the saved file could not be loaded: "
                        "decorate the class with "
                        "@keras.saving.register_keras_serializable(package=...)"
                    )
            elif callable(reg):
                # A bare function set on a layer: make sure it can be found by name.
                try:
                    CallableRegularizer(reg)
                except ValueError as exc:
                    raise ValueError(
                        f"layer {layer.name!r} {slot}={reg!r} cannot be saved: {exc}"
                    ) from None


def save_model(model: keras.Model, path) -> Path:
    """Save ``model`` to a ``.keras`` file atomically.

    The model is written to a temporary ``*.keras`` file in the same folder and
    moved over ``path`` with ``os.replace``: a failure while saving leaves any
    previous file at ``path`` intact.

    Args:
        model: the Keras model.
        path: destination; must end with ``.keras``. Parent folders are created.

    Returns:
        The destination as a ``Path``.

    Raises:
        ValueError: ``path`` does not end with ``.keras`` or a layer holds a
            regularizer that cannot be saved by name.

    Example:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "m.keras"
        >>> save_model(build_model(lookback=10), path) == path
        True
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"path must end with '.keras', got {str(path)!r}")
    _check_saveable(model)
    with replacing(path, suffix=".tmp.keras") as tmp:  # Keras needs the .keras suffix
        model.save(tmp, overwrite=True)
    return path


def load_model(path, compile: bool = True) -> keras.Model:
    """Load a model saved by :func:`save_model` (or ``model.save``).

    No ``custom_objects`` are needed for the built-in regularizers; a model
    using a plain function regularizer needs that function registered in this
    process first (:func:`register_regularizer_fn`; see the module docstring).
    Nothing else named in the file runs: Keras' safe mode is on, and a function
    that is not registered is refused before it is called.

    Args:
        path: a ``.keras`` file (legacy ``.h5`` / SavedModel files are refused:
            they go through Keras' legacy loader).
        compile: restore the optimizer and loss too.

    Returns:
        The ``keras.Model``.

    Raises:
        ModelFileError: the file is missing, empty, truncated, not a ``.keras``
            archive, names a function that is not registered, or Keras cannot
            rebuild the model from it; the message names the file (and the
            function).

    Example:
        >>> import pathlib, tempfile
        >>> path = save_model(build_model(lookback=10), pathlib.Path(tempfile.mkdtemp()) / "m.keras")
        >>> load_model(path).input_shape
        (None, 10, 6)
    """
    path = Path(path)
    where = f"model file {str(path)!r}"
    if not path.exists():
        raise ModelFileError(f"{where} does not exist")
    if not path.is_file():
        raise ModelFileError(f"{where} is not a file")
    size = path.stat().st_size
    if size == 0:
        raise ModelFileError(f"{where} is empty (0 bytes)")
    if path.suffix != ".keras":
        raise ModelFileError(
            f"{where} does not end with '.keras': only .keras archives are loaded (legacy "
            ".h5 / SavedModel files go through Keras' legacy loader, which btlstm does not use)"
        )
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{where} ({size} bytes) is not a .keras zip archive (truncated or not a model file)"
        )
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise ModelFileError(f"{where} is a damaged zip archive ({exc})") from None
    if bad is not None:
        raise ModelFileError(f"{where} is damaged: member {bad!r} fails its CRC check")
    missing = {"config.json", "metadata.json"} - names
    if missing:
        raise ModelFileError(
            f"{where} is a zip archive but not a Keras model (missing {sorted(missing)})"
        )
    try:
        return keras.saving.load_model(path, custom_objects=None, compile=compile, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        refused = _find_cause(exc, RegularizerNotAllowedError)
        if refused is not None:
            raise ModelFileError(f"{where} refused: {refused}") from None
        raise ModelFileError(f"{where} could not be loaded: {type(exc).__name__}: {exc}") from None


def _find_cause(exc: BaseException, kind: type) -> BaseException | None:
    """``exc`` or the first exception of type ``kind`` in its cause / context chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kind):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def make_predict_fn(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled forward pass for per-bar calls (about 1 ms instead of ~40 ms for ``predict``).

    Args:
        model: a model with input ``(batch, lookback, n_features)`` and one
            output unit (as :func:`build_model` makes).

    Returns:
        ``predict(x)``: ``x`` is ``(n, lookback, n_features)`` or one window
        ``(lookback, n_features)``; returns a 1-D float64 array of length ``n``
        (``(n, k)`` for a ``k``-unit output). The numbers are those of
        ``model.predict`` (inference mode: no dropout).

    Example:
        >>> predict = make_predict_fn(build_model(lookback=10, seed=0))
        >>> predict(np.zeros((10, 6), "float32")).shape  # one window -> one prediction
        (1,)
    """
    shape = tuple(model.input_shape)
    if len(shape) != 3 or shape[1] is None or shape[2] is None:
        raise ValueError(
            f"model input_shape must be (batch, lookback, n_features), got {model.input_shape!r}"
        )
    lookback, n_features = int(shape[1]), int(shape[2])
    fixed_batch = shape[0]

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        @tf.function(
            reduce_retracing=True,
            input_signature=[tf.TensorSpec((fixed_batch, lookback, n_features), tf.float32)],
        )
        def forward(x):
            return model(x, training=False)

    else:  # pragma: no cover - btlstm runs on TensorFlow

        def forward(x):
            return model(x, training=False)

    def predict(x: np.ndarray) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3 or arr.shape[1:] != (lookback, n_features):
            raise ValueError(
                f"x must have shape (n, {lookback}, {n_features}) or ({lookback}, {n_features}), "
                f"got {np.shape(x)}"
            )
        out = keras.ops.convert_to_numpy(forward(arr)).astype(np.float64)
        out = out.reshape(arr.shape[0], -1)
        return out[:, 0] if out.shape[1] == 1 else out

    predict.lookback = lookback
    predict.n_features = n_features
    predict.forward = forward  # the compiled function (for tracing checks)
    return predict


_BLOCK_STEP = 256  # XLA batch shapes are multiples of this (little padding, few shapes)
_BLOCK_MAX = 4096  # larger batches are cut into blocks of this size


def make_batch_predict_fn(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """An XLA-compiled forward pass for one model over many windows (the batched path).

    The batch is padded to a multiple of 256 windows (at most 4,096 per call),
    and one compiled function per padded size is kept, so a backtest over
    3,159 bars runs one call of 3,328 windows instead of four of 1,024
    (about 30% less work). Per-window results do not depend on the batch
    shape (checked: bit-identical across sizes) and equal the plain compiled
    pass to float32 rounding. Falls back to the plain pass where XLA is
    unavailable.
    """
    plain = make_predict_fn(model)
    if keras.backend.backend() != "tensorflow":  # pragma: no cover
        return plain
    import tensorflow as tf

    lookback, n_features = plain.lookback, plain.n_features
    compiled: dict[int, object] = {}
    state = {"xla": True}

    def forward(block: int):
        if block not in compiled:
            compiled[block] = tf.function(
                lambda x: model(x, training=False),
                jit_compile=True,
                input_signature=[tf.TensorSpec((block, lookback, n_features), tf.float32)],
            )
        return compiled[block]

    def predict(x: np.ndarray) -> np.ndarray:
        arr = np.asarray(x, dtype=np.float32)
        if not state["xla"] or arr.ndim != 3 or arr.shape[1:] != (lookback, n_features):
            return plain(arr)
        n = len(arr)
        block = min(_BLOCK_MAX, -(-n // _BLOCK_STEP) * _BLOCK_STEP)
        pad = (-n) % block
        if pad:
            arr = np.concatenate([arr, np.zeros((pad, lookback, n_features), np.float32)])
        try:
            fn = forward(block)
            out = [np.asarray(fn(arr[i : i + block]))[:, 0] for i in range(0, len(arr), block)]
        except Exception:  # noqa: BLE001 - no XLA on this build: stay correct, just slower
            state["xla"] = False
            return plain(x)
        return np.concatenate(out)[:n].astype(np.float64)

    predict.lookback = lookback
    predict.n_features = n_features
    return predict


def _layer_info(layer) -> dict[str, Any]:
    info: dict[str, Any] = {"name": layer.name, "class": type(layer).__name__}
    cfg = layer.get_config()
    for key in ("units", "activation", "recurrent_activation", "return_sequences"):
        if key in cfg:
            info[key] = cfg[key] if isinstance(cfg[key], (int, bool, str)) else str(cfg[key])
    for key in ("dropout", "recurrent_dropout"):
        if key in cfg:
            info[key] = float(cfg[key])
    regs = {}
    for slot in REGULARIZER_SLOTS:
        reg = getattr(layer, slot, None)
        if reg is not None:
            regs[slot] = regularizer_spec(reg)
    if regs:
        info["regularizers"] = regs
    info["params"] = int(layer.count_params()) if layer.built else 0
    return info


def describe_model(model: keras.Model) -> dict[str, Any]:
    """A plain-JSON summary of a model for reports.

    Args:
        model: a Keras model.

    Returns:
        ``{"name", "input_shape": [lookback, n_features], "layers": [{"name",
        "class", "units", "activation", "dropout", "regularizers": {slot:
        spec}, "params"...}], "params", "trainable_params", "optimizer",
        "learning_rate", "loss"}``; regularizers are spec strings such as
        ``"l2(0.01)"``.

    Example:
        >>> describe_model(build_model(lookback=10))["layers"][1]["class"]
        'LSTM'
    """
    layers = [_layer_info(layer) for layer in model.layers]
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    out: dict[str, Any] = {
        "name": model.name,
        "input_shape": [d for d in tuple(model.input_shape)[1:]],
        "layers": layers,
        "params": int(model.count_params()),
        "trainable_params": int(trainable),
        "optimizer": None,
        "learning_rate": None,
        "loss": None,
    }
    opt = getattr(model, "optimizer", None)
    if opt is not None:
        out["optimizer"] = type(opt).__name__
        try:
            lr = float(keras.ops.convert_to_numpy(opt.learning_rate))
            out["learning_rate"] = float(f"{lr:.7g}")  # stored as float32
        except (TypeError, ValueError, AttributeError):
            out["learning_rate"] = None
    loss = getattr(model, "loss", None)
    if loss is not None:
        out["loss"] = loss if isinstance(loss, str) else getattr(loss, "__name__", str(loss))
    return out
