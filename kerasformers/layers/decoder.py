"""Transformer decoder layer (Vaswani et al. 2017, section 3.1)."""

import keras

from kerasformers.layers import masks as masks_lib
from kerasformers.layers._block import BLOCK_ARGS_DOC, TransformerBlock


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerDecoderLayer(TransformerBlock):
    __doc__ = f"""One Transformer decoder layer: causal self-attention, optional cross-attention, feed-forward.

    Called with an `encoder_sequence` the layer has cross-attention (the
    encoder-decoder Transformer); called without, it is a decoder-only (GPT)
    block. The first call decides, as in keras_hub. Numerically equal to
    `keras_hub.layers.TransformerDecoder(intermediate_dim=hidden_dim, ...)`
    given the same weights.

    Args:{BLOCK_ARGS_DOC}
    Call arguments:
        decoder_sequence: `(batch, target_length, model_dim)`.
        encoder_sequence: `(batch, source_length, encoder_dim)` or None.
        decoder_padding_mask: boolean `(batch, target_length)`. Defaults to
            the Keras mask of `decoder_sequence`.
        decoder_attention_mask: boolean `(batch, target_length, target_length)`
            (or `(batch, target_length, max_length)` with a cache).
        encoder_padding_mask: boolean `(batch, source_length)`. Defaults to
            the Keras mask of `encoder_sequence`.
        encoder_attention_mask: boolean `(batch, target_length, source_length)`.
        use_causal_mask: bool. Defaults to `True`.
        self_attention_cache: optional `(key_cache, value_cache)` from
            `self.self_attention.init_cache(batch, max_length)`.
        self_attention_cache_update_index: int or scalar tensor: position of
            the first token of `decoder_sequence` in the cache.
        cross_attention_cache: optional `(keys, values)` from
            `compute_cross_attention_cache(encoder_sequence)`; computed once
            per source, reused at every step (`encoder_sequence` may then be
            None).
        return_attention: bool or None. Return the attention scores of this
            call; defaults to the layer's `return_attention` (e.g. to read
            the attention of a trained model's layer without rebuilding it).
        training: bool. Applies dropout when True.

    Returns:
        `outputs` `(batch, target_length, model_dim)`; with
        `return_attention=True` (constructor or call argument) also a dict
        of attention scores (`"self_attention"`, and `"cross_attention"`
        when there is cross-attention); with a `self_attention_cache` also
        the updated cache, last: `outputs`, `(outputs, scores)`, `(outputs,
        cache)` or `(outputs, scores, cache)`.

    Example:
    >>> layer = TransformerDecoderLayer(num_heads=2, hidden_dim=64)
    >>> target, source = keras.ops.ones((2, 5, 32)), keras.ops.ones((2, 7, 32))
    >>> tuple(layer(target, source).shape)
    (2, 5, 32)

    References:
        Vaswani et al., "Attention Is All You Need", 2017.
    """

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        self._check_input("decoder_sequence", decoder_sequence_shape)
        shape = decoder_sequence_shape
        self.self_attention = self._make_attention("self_attention", shape)
        self.self_attention_norm = self._make_norm("self_attention_norm", shape)
        self.self_attention_dropout = self._make_dropout("self_attention_dropout")
        self.cross_attention = None
        if encoder_sequence_shape is not None:
            self._check_input("encoder_sequence", encoder_sequence_shape)
            self.cross_attention = self._make_attention("cross_attention", shape, encoder_sequence_shape)
            self.cross_attention_norm = self._make_norm("cross_attention_norm", shape)
            self.cross_attention_dropout = self._make_dropout("cross_attention_dropout")
        self.feed_forward = self._make_feed_forward(shape)
        self.feed_forward_norm = self._make_norm("feed_forward_norm", shape)
        self.feed_forward_dropout = self._make_dropout("feed_forward_dropout")

    def compute_cross_attention_cache(self, encoder_sequence):
        """Keys and values of the encoder output, computed once for all decoding steps."""
        if self.cross_attention is None:
            raise ValueError("This decoder layer has no cross-attention (it was built without an encoder_sequence).")
        return self.cross_attention.compute_cache(encoder_sequence)

    def _check_call(self, encoder_sequence, cross_attention_cache):
        has_source = encoder_sequence is not None or cross_attention_cache is not None
        if self.cross_attention is None and has_source:
            raise ValueError(
                "This TransformerDecoderLayer was built without cross-attention (first called without "
                "`encoder_sequence`), so it cannot take an `encoder_sequence` now. Build a new layer."
            )
        if self.cross_attention is not None and not has_source:
            raise ValueError(
                "This TransformerDecoderLayer was built with cross-attention; pass `encoder_sequence` "
                "(or `cross_attention_cache`). Received: encoder_sequence=None"
            )

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        return_attention=None,
        training=None,
    ):
        self._check_call(encoder_sequence, cross_attention_cache)
        return_attention = self.return_attention if return_attention is None else bool(return_attention)
        name = type(self).__name__
        if decoder_padding_mask is None:
            decoder_padding_mask = masks_lib.get_keras_mask(decoder_sequence)
        masks_lib.check_mask_shape("decoder_padding_mask", decoder_padding_mask, (None, decoder_sequence.shape[1]), name)
        if encoder_padding_mask is None and encoder_sequence is not None:
            encoder_padding_mask = masks_lib.get_keras_mask(encoder_sequence)
        scores = {}

        def self_attend(x):  # (batch, target, model_dim)
            return self.self_attention(
                x,
                query_mask=decoder_padding_mask,
                attention_mask=decoder_attention_mask,
                use_causal_mask=use_causal_mask,
                return_attention_scores=return_attention,
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
                training=training,
            )

        x, extra = self._residual(
            decoder_sequence, self_attend, self.self_attention_norm, self.self_attention_dropout, training
        )
        if return_attention:
            scores["self_attention"] = extra.pop(0)
        new_cache = extra[0] if self_attention_cache is not None else None

        if self.cross_attention is not None:
            def cross_attend(x):  # (batch, target, model_dim) attends to (batch, source, encoder_dim)
                return self.cross_attention(
                    x,
                    encoder_sequence if cross_attention_cache is None else None,
                    query_mask=decoder_padding_mask,
                    value_mask=encoder_padding_mask,
                    attention_mask=encoder_attention_mask,
                    return_attention_scores=return_attention,
                    cache=cross_attention_cache,
                    training=training,
                )

            x, extra = self._residual(x, cross_attend, self.cross_attention_norm, self.cross_attention_dropout, training)
            if return_attention:
                scores["cross_attention"] = extra[0]

        x, _ = self._residual(
            x, lambda y: self.feed_forward(y, training=training), self.feed_forward_norm,
            self.feed_forward_dropout, training,
        )
        result = (x,)
        if return_attention:
            result += (scores,)
        if self_attention_cache is not None:
            result += (new_cache,)
        return result[0] if len(result) == 1 else result
