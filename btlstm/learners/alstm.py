"""The ``alstm`` learner: an LSTM with temporal attention over its hidden states (qlib's ALSTM).

Architecture (qlib's ``ALSTMModel``, Keras layers only)::

    Input(lookback, n_features)
      -> Dense(32, tanh) per bar                      input projection ("fc_in")
      -> LSTM(32, return_sequences, return_state)     hidden states h_1..h_T, last state h_T
      -> attention: Dense(16, tanh) -> Dense(1, no bias) per bar -> Softmax over the bars
      -> context = sum_t a_t h_t                       (Dot over the time axis)
      -> Concatenate(h_T, context) -> Dense(1)

The attention weights come from a small dense net over each hidden state,
normalized over the window's bars; the weighted sum of the states is
concatenated with the last state (qlib: ``fc_out`` on ``[h_T, context]``).
Every bar of a window is at or before the window's last bar, so the attention
sees only the past.

Defaults and where they come from: qlib's ALSTM benchmark (Alpha360: hidden size
64, two layers, attention net of hidden/2 units, no dense head) sized for CPUs:
32 units, one layer, attention 16 (hidden/2), no hidden Dense layer (qlib's
``fc_out`` straight to the output). 9,153 weights at the defaults with 6 features.

Training, seeding, caching and files: :class:`~btlstm.learners.kerasnet.KerasLearner`.
Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from btlstm.learners.kerasnet import KerasLearner, dense_head, dense_weights, zoo_settings_check

__all__ = ["ALSTMSettings", "ALSTMLearner"]


@dataclass
class ALSTMSettings:
    """Settings of the attention LSTM (``[model]`` keys beside the walk-forward ones).

    Args:
        lstm_units: units of the input projection and of the LSTM (default 32;
            qlib's benchmark: 64).
        attention_units: units of the attention net's hidden layer (default 16,
            qlib: half the LSTM's units).
        dense_units: hidden Dense layers between ``[last state, context]`` and the
            linear ``Dense(1)`` output (default none, as qlib's ``fc_out``).
        dropout: LSTM input dropout, in [0, 1).
        dense_activation: activation of the hidden Dense layers.
        learning_rate: Adam learning rate.
        loss: Keras loss.
    """

    lstm_units: int = 32
    attention_units: int = 16
    dense_units: tuple = ()
    dropout: float = 0.0
    dense_activation: str = "relu"
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        zoo_settings_check(self, ints=("lstm_units", "attention_units"),
                           tuples=("dense_units",), rates=("dropout",))  # fmt: skip


class ALSTMLearner(KerasLearner):
    """An LSTM whose prediction reads its last state and an attention-weighted sum of
    all its states over the window.

    Example:
        >>> ALSTMLearner(lookback=30, n_features=6).n_weights()
        9153
    """

    name = "alstm"
    Settings = ALSTMSettings
    CAPS = {"lstm_units": "lstm_units", "attention_units": "units",
            "dense_units": "dense_units"}  # fmt: skip

    def build_network(self):
        import keras

        st = self.settings
        L = keras.layers
        inputs = keras.Input((self.lookback, self.n_features), name="window")
        x = L.Dense(st.lstm_units, activation="tanh", name="fc_in")(inputs)
        seq, h_last, _c = L.LSTM(st.lstm_units, return_sequences=True, return_state=True,
                                 dropout=st.dropout, name="lstm")(x)  # fmt: skip
        a = L.Dense(st.attention_units, activation="tanh", name="attention_hidden")(seq)
        a = L.Dense(1, use_bias=False, name="attention_score")(a)
        a = L.Softmax(axis=1, name="attention_weights")(a)  # over the bars
        context = L.Flatten(name="context")(L.Dot(axes=1, name="attention_sum")([a, seq]))
        x = L.Concatenate(name="last_and_context")([h_last, context])
        return keras.Model(inputs, dense_head(keras, x, st), name="btlstm_alstm")

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        u, a = settings.lstm_units, settings.attention_units
        params = n_features * u + u  # fc_in
        params += 4 * (u * (u + u) + u)  # LSTM
        params += u * a + a + a  # attention net (its score layer has no bias)
        return params + dense_weights(2 * u, settings.dense_units)

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        """The projection, the LSTM's 5 floats a unit a bar and the attention net."""
        u, a = settings.lstm_units, settings.attention_units
        return int(lookback) * (u + 5 * u + a + 2)
