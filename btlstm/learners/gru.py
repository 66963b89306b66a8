"""The ``gru`` learner: the article's network with a GRU in place of the LSTM.

Architecture::

    Input(lookback, n_features) -> GRU(32) -> Dense(32, relu) -> Dense(16, relu) -> Dense(1)

Defaults and where they come from: the LSTM's sizes (the article's 32 units
and Dense 32, 16), so ``gru`` and ``lstm`` differ only in the recurrent cell
(Keras' GRU with ``reset_after=True``: three gates, about three quarters of the
LSTM's recurrent weights). qlib's GRU benchmark (Alpha360, hidden size 64, two
layers) is larger; this one is sized for a walk-forward of hundreds of refits
on CPUs. 5,441 weights at the defaults with 6 features.

Training, seeding, caching and files: :class:`~btlstm.learners.kerasnet.KerasLearner`.
Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from btlstm.learners.kerasnet import KerasLearner, dense_head, dense_weights, zoo_settings_check

__all__ = ["GRUSettings", "GRULearner"]


@dataclass
class GRUSettings:
    """Settings of the GRU network (``[model]`` keys beside the walk-forward ones).

    Args:
        gru_units: units of the GRU layer (default 32, as the article's LSTM).
        dense_units: hidden Dense layers after it (default 32, 16); a linear
            ``Dense(1)`` output is always added.
        dropout: GRU input dropout, in [0, 1).
        recurrent_dropout: GRU recurrent dropout, in [0, 1) (trains with Keras' own loop).
        dense_activation: activation of the hidden Dense layers.
        learning_rate: Adam learning rate.
        loss: Keras loss.
    """

    gru_units: int = 32
    dense_units: tuple = (32, 16)
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    dense_activation: str = "relu"
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        zoo_settings_check(self, ints=("gru_units",), tuples=("dense_units",),
                           rates=("dropout", "recurrent_dropout"))  # fmt: skip


class GRULearner(KerasLearner):
    """A GRU regressor on the window, trained like the LSTM (Adam, MSE, early stopping).

    Example:
        >>> GRULearner(lookback=30, n_features=6).n_weights()
        5441
    """

    name = "gru"
    Settings = GRUSettings
    CAPS = {"gru_units": "units", "dense_units": "dense_units"}

    def build_network(self):
        import keras

        st = self.settings
        inputs = keras.Input((self.lookback, self.n_features), name="window")
        x = keras.layers.GRU(st.gru_units, dropout=st.dropout,
                             recurrent_dropout=st.recurrent_dropout, name="gru")(inputs)  # fmt: skip
        return keras.Model(inputs, dense_head(keras, x, st), name="btlstm_gru")

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        """The GRU's ``3 (u (in + u) + 2 u)`` (``reset_after``: two biases) and the Dense layers'."""
        u = settings.gru_units
        return 3 * (u * (n_features + u) + 2 * u) + dense_weights(u, settings.dense_units)

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        """About 4 floats a unit a bar (three gates and the state)."""
        return int(lookback) * settings.gru_units * 4
