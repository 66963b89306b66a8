"""The ``mlp`` learner: a multilayer perceptron on the flattened window.

Architecture::

    Input(lookback, n_features) -> Flatten -> Dense(64, relu) -> Dense(32, relu) -> Dense(1)

The baseline every sequence model has to beat: it sees the same bars, with no
notion of their order beyond their position in the flat vector. Defaults: two
hidden layers of 64 and 32 (qlib's MLP benchmark uses wider layers on Alpha360's
360 inputs; the article's windows of 30 x 6 = 180 inputs need fewer).
13,697 weights at the defaults with ``lookback`` 30 and 6 features.

Training, seeding, caching and files: :class:`~btlstm.learners.kerasnet.KerasLearner`.
Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from btlstm.learners.kerasnet import KerasLearner, dense_head, dense_weights, zoo_settings_check

__all__ = ["MLPSettings", "MLPLearner"]


@dataclass
class MLPSettings:
    """Settings of the MLP (``[model]`` keys beside the walk-forward ones).

    Args:
        dense_units: hidden Dense layers on the flattened window (default 64, 32);
            a linear ``Dense(1)`` output is always added.
        dropout: dropout on the flattened window, in [0, 1).
        dense_activation: activation of the hidden Dense layers.
        learning_rate: Adam learning rate.
        loss: Keras loss.
    """

    dense_units: tuple = (64, 32)
    dropout: float = 0.0
    dense_activation: str = "relu"
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        zoo_settings_check(self, tuples=("dense_units",), rates=("dropout",))


class MLPLearner(KerasLearner):
    """Dense layers on the flattened window ``lookback x n_features``.

    Example:
        >>> MLPLearner(lookback=30, n_features=6).n_weights()
        13697
    """

    name = "mlp"
    Settings = MLPSettings
    CAPS = {"dense_units": "dense_units"}

    def build_network(self):
        import keras

        st = self.settings
        inputs = keras.Input((self.lookback, self.n_features), name="window")
        x = keras.layers.Flatten(name="flatten")(inputs)
        if st.dropout:
            x = keras.layers.Dropout(st.dropout, name="dropout")(x)
        return keras.Model(inputs, dense_head(keras, x, st), name="btlstm_mlp")

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        return dense_weights(int(lookback) * int(n_features), settings.dense_units)

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        return int(lookback) * int(n_features) + sum(settings.dense_units)
