"""The ``transformer`` learner: a small Transformer encoder over the window's bars.

Architecture (qlib's ``Transformer`` benchmark model, Keras layers only)::

    Input(lookback, n_features)
      -> Dense(32) per bar                          feature projection to d_model
      -> + learned positions (PositionEmbedding, one 32-vector a bar)
      -> 2 x encoder layer:
           x = LayerNorm(x + Dropout(MultiHeadAttention(2 heads, key_dim 16)(x, x)))
           x = LayerNorm(x + Dense(32)(Dense(64, relu)(x)))
      -> the last bar's vector -> Dense(1)

Positional encoding: LEARNED (:class:`btlstm.learners.models.PositionEmbedding`, a weight
of ``lookback x d_model``; qlib uses fixed sinusoids). A learned encoding is a
weight, so it is saved with the weights, checked with the architecture and
seeded with them; a fixed table would live in the model's config instead.
Attention: FULL (not causal) within the window. Every bar of a window is at or
before the window's last bar ``t``, the bar the prediction is made at, so
letting bar ``t-5`` attend to bar ``t-2`` uses nothing after ``t`` (the
look-ahead tests change every bar after ``t`` and see no prediction at or
before ``t`` move). The encoder layers are post-norm, as qlib's
(``torch.nn.TransformerEncoderLayer``'s default); the last bar's vector feeds
the output, as qlib's ``output[:, -1, :]``.

Defaults and where they come from: qlib's benchmark (Alpha360: d_model 64,
2 heads, 2 layers, no dropout) sized for CPUs: d_model 32, 2 heads, 2 layers,
feed-forward 64. 18,305 weights at the defaults with ``lookback`` 30 and 6 features.

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

__all__ = ["TransformerSettings", "TransformerLearner"]


@dataclass
class TransformerSettings:
    """Settings of the Transformer encoder (``[model]`` keys beside the walk-forward ones).

    Args:
        d_model: width of each bar's vector (default 32; qlib's benchmark: 64); a
            multiple of ``heads``.
        heads: attention heads (default 2, as qlib's); each reads ``d_model / heads``
            dimensions.
        encoder_layers: encoder layers (default 2, as qlib's).
        ff_units: units of each layer's feed-forward hidden layer (default 64).
        dropout: dropout of the attention weights and of both residual branches, in [0, 1).
        dense_units: hidden Dense layers after the last bar's vector (default none);
            a linear ``Dense(1)`` output is always added.
        dense_activation: activation of the hidden Dense layers.
        learning_rate: Adam learning rate.
        loss: Keras loss.
    """

    d_model: int = 32
    heads: int = 2
    encoder_layers: int = 2
    ff_units: int = 64
    dropout: float = 0.0
    dense_units: tuple = ()
    dense_activation: str = "relu"
    learning_rate: float = 1e-3
    loss: str = "mse"

    def __post_init__(self):
        zoo_settings_check(self, ints=("d_model", "heads", "encoder_layers", "ff_units"),
                           tuples=("dense_units",), rates=("dropout",))  # fmt: skip
        if self.d_model % self.heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be a multiple of heads ({self.heads}): each "
                "head reads d_model / heads dimensions"
            )


class TransformerLearner(KerasLearner):
    """A post-norm Transformer encoder with learned positions; the last bar predicts.

    Example:
        >>> TransformerLearner(lookback=30, n_features=6).n_weights()
        18305
    """

    name = "transformer"
    Settings = TransformerSettings
    CAPS = {"d_model": "units", "heads": "heads", "encoder_layers": "encoder_layers",
            "ff_units": "dense_units", "dense_units": "dense_units"}  # fmt: skip

    def build_network(self):
        import keras

        from btlstm.learners.models import PositionEmbedding

        st = self.settings
        L = keras.layers
        inputs = keras.Input((self.lookback, self.n_features), name="window")
        x = L.Dense(st.d_model, name="projection")(inputs)
        x = PositionEmbedding(name="positions")(x)
        for i in range(st.encoder_layers):
            a = L.MultiHeadAttention(st.heads, st.d_model // st.heads, dropout=st.dropout,
                                     name=f"encoder{i}_attention")(x, x)  # fmt: skip
            if st.dropout:
                a = L.Dropout(st.dropout, name=f"encoder{i}_dropout1")(a)
            x = L.LayerNormalization(name=f"encoder{i}_norm1")(L.Add(name=f"encoder{i}_add1")([x, a]))
            f = L.Dense(st.ff_units, activation="relu", name=f"encoder{i}_ff1")(x)
            f = L.Dense(st.d_model, name=f"encoder{i}_ff2")(f)
            if st.dropout:
                f = L.Dropout(st.dropout, name=f"encoder{i}_dropout2")(f)
            x = L.LayerNormalization(name=f"encoder{i}_norm2")(L.Add(name=f"encoder{i}_add2")([x, f]))
        x = last_step(keras, x, self.lookback)
        return keras.Model(inputs, dense_head(keras, x, st), name="btlstm_transformer")

    @classmethod
    def count_weights(cls, settings, *, lookback, n_features) -> int:
        d, ff = settings.d_model, settings.ff_units
        params = n_features * d + d + int(lookback) * d  # projection, positions
        per_layer = 4 * d * d + 4 * d  # query, key, value, output (heads x key_dim = d)
        per_layer += 2 * (2 * d)  # two LayerNorms
        per_layer += d * ff + ff + ff * d + d  # feed-forward
        return params + settings.encoder_layers * per_layer + dense_weights(d, settings.dense_units)

    @classmethod
    def activation_floats(cls, settings, *, lookback, n_features) -> int:
        """A layer keeps about 8 ``lookback x d_model`` tensors, its feed-forward hidden
        layer and ``heads x lookback^2`` attention weights (twice: scores and softmax)."""
        lb, d = int(lookback), settings.d_model
        per_layer = lb * (8 * d + settings.ff_units) + 2 * settings.heads * lb * lb
        return lb * d + settings.encoder_layers * per_layer
