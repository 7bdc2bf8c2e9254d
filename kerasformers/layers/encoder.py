"""Transformer encoder layer (Vaswani et al. 2017, section 3.1)."""

import keras

from kerasformers.layers import masks as masks_lib
from kerasformers.layers._block import BLOCK_ARGS_DOC, TransformerBlock


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerEncoderLayer(TransformerBlock):
    __doc__ = f"""One Transformer encoder layer: self-attention, then a feed-forward network.

    Each sub-layer has a residual connection, dropout and layer normalization,
    before the sub-layer (`normalize_first=True`, pre-LN) or after the residual
    addition (post-LN, the paper's arrangement). Numerically equal to
    `keras_hub.layers.TransformerEncoder(intermediate_dim=hidden_dim, ...)`
    given the same weights.

    Args:{BLOCK_ARGS_DOC}
    Call arguments:
        inputs: `(batch, length, model_dim)`.
        padding_mask: boolean `(batch, length)`, True for real tokens. Defaults
            to the Keras mask of `inputs` (e.g. from `mask_zero=True`).
            Padding positions are never attended to; their own outputs are
            finite but meaningless.
        attention_mask: boolean `(batch, length, length)`, True where query
            position i may attend to key position j.
        training: bool. Applies dropout when True.

    Returns:
        `outputs` of shape `(batch, length, model_dim)`, or
        `(outputs, attention_scores)` with scores of shape
        `(batch, num_heads, length, length)` if `return_attention=True`.
        The Keras mask of `inputs` is propagated to `outputs`.

    Example:
    >>> layer = TransformerEncoderLayer(num_heads=8, key_dim=64, hidden_dim=2048)
    >>> tuple(layer(keras.ops.ones((2, 10, 512))).shape)
    (2, 10, 512)
    >>> layer = TransformerEncoderLayer(num_heads=2, hidden_dim=64, return_attention=True)
    >>> outputs, scores = layer(keras.ops.ones((2, 10, 32)))
    >>> tuple(scores.shape)
    (2, 2, 10, 10)

    References:
        Vaswani et al., "Attention Is All You Need", 2017.
        Xiong et al., "On Layer Normalization in the Transformer Architecture", 2020.
    """

    def build(self, inputs_shape):
        self._check_input("inputs", inputs_shape)
        self.self_attention = self._make_attention("self_attention", inputs_shape)
        self.self_attention_norm = self._make_norm("self_attention_norm", inputs_shape)
        self.self_attention_dropout = self._make_dropout("self_attention_dropout")
        self.feed_forward = self._make_feed_forward(inputs_shape)
        self.feed_forward_norm = self._make_norm("feed_forward_norm", inputs_shape)
        self.feed_forward_dropout = self._make_dropout("feed_forward_dropout")

    def call(self, inputs, padding_mask=None, attention_mask=None, training=None):
        padding_mask = masks_lib.get_keras_mask(inputs) if padding_mask is None else padding_mask
        masks_lib.check_mask_shape("padding_mask", padding_mask, (None, inputs.shape[1]), type(self).__name__)

        def attend(x):  # (batch, length, model_dim) -> same [, (batch, heads, length, length)]
            return self.self_attention(
                x,
                query_mask=padding_mask,
                attention_mask=attention_mask,
                return_attention_scores=self.return_attention,
                training=training,
            )

        x, scores = self._residual(inputs, attend, self.self_attention_norm, self.self_attention_dropout, training)
        x, _ = self._residual(
            x, lambda y: self.feed_forward(y, training=training), self.feed_forward_norm,
            self.feed_forward_dropout, training,
        )
        return (x, scores[0]) if self.return_attention else x
