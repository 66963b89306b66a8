"""The ``tcn`` learner: a temporal convolutional network of dilated causal Conv1D blocks.

Architecture (Bai, Kolter and Koltun 2018, "An Empirical Evaluation of Generic
Convolutional and Recurrent Networks for Sequence Modeling"; qlib's TCN)::

    Input(lookback, n_features)
      -> block(dilation 1) -> block(dilation 2) -> block(dilation 4) -> block(dilation 8)
      -> the last bar's channels -> Dense(1)

    block(d): Conv1D(32, kernel 3, dilation d, causal, relu) -> Dropout
              -> Conv1D(32, kernel 3, dilation d, causal, relu) -> Dropout
              -> Add(residual) -> relu
              (residual: the block's input, through a 1x1 Conv1D where its width differs)

``padding="causal"`` pads on the left only: the output at bar ``t`` reads bars
``t, t-d, t-2d`` and nothing later. The receptive field is
``1 + 2 (kernel - 1) sum(dilations)`` bars: 61 at the defaults, which covers the
article's 30-bar window; the last bar's output is the one that reads the whole window.

Defaults and where they come from: qlib's TCN benchmark (Alpha360: 32 channels,
kernel 7, 5 levels, dropout 0.5) sized for CPUs and the 30-bar window: 32
filters, kernel 3, dilations 1, 2, 4, 8, no dropout, no hidden Dense layer.
22,593 weights at the defaults with 6 features.

Training, seeding, caching and files: :class:`~btlstm.learners.kerasnet.KerasLearner`.
Importing this module does not import TensorFlow; fitting does.
"""

from __future__ import annotations

from dataclasses import dataclass

from btlstm.learners.kerasnet import (
    KerasLearner,
    dense_head,
    dense_weights,
    last_step,
    zoo_settings_check,
)

__all__ = ["TCNSettings", "TCNLearner"]


@dataclass
class TCNSettings:
    """Settings of the TCN (``[model]`` keys beside the walk-forward ones).

    Args:
        filters: channels of every causal convolution (default 32, as qlib's benchmark).
        kernel_size: bars one convolution reads (default 3; qlib: 7).
        dilations: one residual block per dilation (default 1, 2, 4, 8: a
            receptive field of 61 bars with kernel 3).
        dropout: dropout after each convolution, in [0, 1).
        dense_units: hidden Dense layers after the last bar's channels (default
            none); a linear ``Dense(1)`` output is always added.
        dense_activation: activation of the hidden Dense layers.
        learning_rate: Adam learning rate.
        loss: Keras loss.
    """

    filters: int = 32
    kernel_size: int = 3
    dilations: tuple = (1, 2, 4, 8)
    dropout: float = 0.0
    dense_units: tuple = ()
    dense_activation: str = "relu"
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        zoo_settings_check(self, ints=("filters", "kernel_size"),
                           tuples=("dilations", "dense_units"), rates=("dropout",))  # fmt: skip
        if not self.dilations:
            raise ValueError("dilations must name at least one dilation (one residual block each)")

    def receptive_field(self) -> int:
        """Bars the last output reads: ``1 + 2 (kernel_size - 1) sum(dilations)``."""
        return 1 + 2 * (self.kernel_size - 1) * sum(self.dilations)


class TCNLearner(KerasLearner):
    """Residual blocks of dilated causal convolutions; the last bar's output predicts.

    Example:
        >>> TCNLearner(lookback=30, n_features=6).n_weights()
        22593
    """

    name = "tcn"
    Settings = TCNSettings
    CAPS = {"filters": "units", "kernel_size": "kernel_size", "dilations": "lookback",
            "dense_units": "dense_units"}  # fmt: skip

    def build_network(self):
        import keras

        st = self.settings
        L = keras.layers
        inputs = keras.Input((self.lookback, self.n_features), name="window")
        x, width = inputs, self.n_features
        for i, d in enumerate(st.dilations):
            y = x
            for j in (1, 2):
                y = L.Conv1D(st.filters, st.kernel_size, dilation_rate=d, padding="causal",
                             activation="relu", name=f"block{i}_conv{j}")(y)  # fmt: skip
                if st.dropout:
                    y = L.Dropout(st.dropout, name=f"block{i}_dropout{j}")(y)
            res = x if width == st.filters else L.Conv1D(st.filters, 1, name=f"block{i}_1x1")(x)
            x = L.Activation("relu", name=f"block{i}_out")(L.Add(name=f"block{i}_add")([y, res]))
            width = st.filters
        x = last_step(keras, x, self.lookback)
        return keras.Model(inputs, dense_head(keras, x, st), name="btlstm_tcn")

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        f, k = settings.filters, settings.kernel_size
        params, width = 0, int(n_features)
        for _ in settings.dilations:
            params += k * width * f + f + k * f * f + f
            if width != f:
                params += width * f + f
            width = f
        return params + dense_weights(f, settings.dense_units)

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        """Three tensors of ``lookback x filters`` a block (two convolutions, the sum)."""
        return int(lookback) * settings.filters * 3 * len(settings.dilations)
