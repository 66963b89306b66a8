"""The Keras LSTM learner (the article's network) behind the learner interface.

One compiled model lives for a whole walk-forward run. Each cold fit builds a
fresh model from the fit's seed (about 30 ms; it draws the same random numbers
as a brand-new model would), copies its initial weights into the long-lived
model, resets the optimizer and trains. The long-lived model keeps its traced
train, validation and predict functions, so a refit costs training time, not
tracing, and memory stays flat however many fits a run makes. Training runs Keras'
own loop without its per-fit data pipeline, up to 64 batches per call
(:func:`btlstm.learners.models.fit_compiled`; the same numbers as a plain Keras ``fit``,
bit for bit); ``xla = true`` runs the full batches of a fit of at
least :data:`XLA_MIN_STEPS` steps XLA-compiled (faster, other float rounding).

The training, seeding, file checks and bounds shared by every Keras learner live
in :mod:`btlstm.learners.kerasnet`; this module gives the LSTM its settings and
network (:func:`btlstm.learners.models.build_model`).

Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from btlstm.checks import check_number
from btlstm.learners.kerasnet import (  # noqa: F401 - the names stay importable from here
    _XLA_MIN,
    MAX_KERAS_MEMBER_BYTES,
    XLA_MIN_STEPS,
    KerasLearner,
    _architecture,
    _architecture_difference,
    _check_finite_loss,
    _h5_declared_bytes,
    _recurrent_dropout,
    _stop_on_nan,
    check_keras_archive,
)

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
        """Keyword arguments for :func:`btlstm.learners.models.build_model`."""
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


class LSTMLearner(KerasLearner):
    """The article's LSTM regressor, trained with Adam on MSE and early stopping.

    ``fit`` seeds with ``keras.utils.set_random_seed(seed)`` first, so the same
    seed gives bit-identical weights in a new process. Training, files and bounds:
    :class:`~btlstm.learners.kerasnet.KerasLearner`; the network:
    :func:`btlstm.learners.models.build_model`.

    Example:
        >>> learner = LSTMLearner(lookback=30, n_features=6, settings={"lstm_units": 8})
        >>> learner.settings.dense_units
        (32, 16)
    """

    name = "lstm"
    Settings = LSTMSettings
    CAPS = {"lstm_units": "lstm_units", "dense_units": "dense_units",
            "stacked_lstm_units": "stacked_lstm_units"}  # fmt: skip

    def build_network(self):
        """:func:`btlstm.learners.models.build_model` (compiled) from the settings."""
        from btlstm.learners.models import build_model

        return build_model(
            lookback=self.lookback, n_features=self.n_features, **self.settings.build_kwargs()
        )

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        """The LSTM layers' ``4 (u (in + u) + u)`` and the Dense layers' weights."""
        st = settings
        inp, params = max(1, int(n_features)), 0
        for u in (*st.stacked_lstm_units, st.lstm_units):
            params += 4 * (u * (inp + u) + u)
            inp = u
        for u in (*st.dense_units, 1):
            params += inp * u + u
            inp = u
        return params

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        """Each LSTM layer keeps about 5 floats a unit a bar (4 gates and the cell)."""
        return int(lookback) * sum((*settings.stacked_lstm_units, settings.lstm_units)) * 5

    # ------------------------------------------------------------ settings (the seam)
    #: the settings whose size the memory estimate follows (named in its message)
    SIZE_KEYS = ("lstm_units", "dense_units", "stacked_lstm_units")

    @classmethod
    def check_settings(cls, given: dict, *, lookback: int, n_features: int, where,
                       allow_large: bool = False) -> None:
        """The layer sizes and the number of layers against their caps (:attr:`CAPS`,
        :data:`btlstm.checks.LIMITS`; ``allow_large`` lifts them), then each given
        regularizer spec parsed and a given ``loss`` resolved by Keras (Keras resolves
        a loss name only when training starts): each error names ``where(key)``."""
        given = {k: v for k, v in (given or {}).items()
                 if not (isinstance(v, (tuple, list)) and None in v)}  # fmt: skip
        super().check_settings(given, lookback=lookback, n_features=n_features, where=where,
                               allow_large=allow_large)  # fmt: skip
        slots = [s for s in REGULARIZER_SLOTS if given.get(s) is not None]
        if slots:
            from btlstm.learners.models import parse_regularizer

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
    def memory_what(cls, settings, given: dict, *, n_features: int, where) -> str:
        """What a memory refusal names: ``the network (N weights; --lstm-units)``."""
        names = ", ".join(where(k) for k in cls.SIZE_KEYS if k in given) or where("lstm_units")
        n = cls.count_weights(cls.make_settings(settings), lookback=1, n_features=n_features)
        return f"the network ({n:,} weights; {names})"

    @classmethod
    def validate(cls, settings, *, lookback: int, n_features: int) -> None:
        """Build the network once (no data, no training; ~0.1 s after Keras is imported),
        so a bad ``lstm_kwargs`` entry or activation fails before any work (the message
        is :func:`btlstm.learners.models.build_model`'s own)."""
        from btlstm.learners.models import build_model

        st = cls.make_settings(settings)
        build_model(lookback=lookback, n_features=n_features, **st.build_kwargs())

    def n_weights(self) -> int:
        """The network's weights, from the settings (no TensorFlow): the bound a saved
        file of this learner's architecture is checked against before it is loaded."""
        return self.count_weights(self.settings, lookback=self.lookback,
                                  n_features=self.n_features)  # fmt: skip

