"""Token embedding plus position information: the input layer of a Transformer."""

import math

import keras
from keras import ops

from kerasformers.checks import (
    check_int,
    check_positive_int,
    check_rank,
    reject_unknown_kwargs,
)
from kerasformers.layers.positional_encoding import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
    _check_max_length,
    _check_positive_number,
)

POSITIONAL_OPTIONS = ("learned", "sinusoidal")


@keras.saving.register_keras_serializable(package="kerasformers")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Embeds token ids and adds position information.

    `token_embedding(ids) * (sqrt(embedding_dim) if scale_embeddings else 1)
    + positions`, where the positions come from a `LearnedPositionalEmbedding`
    (`positional="learned"`) or a `SinusoidalPositionalEncoding`
    (`positional="sinusoidal"`, no weights). With `positional="learned"` and
    `scale_embeddings=False` the weights are laid out as in
    `keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size,
    sequence_length=max_length, embedding_dim)` (token table, then position
    table), so `layer.set_weights(hub.get_weights())` copies one.

    With `mask_zero=True`, id 0 is padding: the output carries a boolean Keras
    mask `ids != 0` (True = real token) that downstream layers (attention,
    pooling, losses) receive, whatever the ids' dtype (a float
    `keras.Input(shape=(None,))` is masked like an int one; float ids are
    cast to int32 for the lookup). Sequences longer than `max_length` raise a
    `ValueError` for both kinds of positions.

    `padding_id` generalizes this to any pad id (GPT-2 has no padding token
    and its id 0 is a real token, `!`: give its pad id, or no mask at all).
    `num_segments` adds BERT's token-type (segment) table: the call's
    `segment_ids` (default: all 0) are embedded and added too.

    The token embedding is exposed as `layer.token_embedding` (a
    `keras.layers.Embedding`, created in `build()`), e.g. to tie it to the
    output projection.

    Args:
        vocabulary_size: int. Number of token ids.
        max_length: int. Longest sequence (including `start_index`) accepted.
        embedding_dim: int. Size of each embedding vector.
        positional: `"learned"` or `"sinusoidal"`. Defaults to `"learned"`.
        scale_embeddings: bool. Multiply the token embeddings by
            `sqrt(embedding_dim)` before adding positions (Vaswani et al.
            2017, section 3.4). Defaults to False.
        mask_zero: bool. Treat id 0 as padding and emit a mask. Defaults to
            False. The same as `padding_id=0`.
        padding_id: int or None. Treat this id as padding and emit a mask
            `ids != padding_id`. Defaults to None (no mask unless
            `mask_zero`).
        num_segments: int or None. Size of a segment (token type) table, as
            in BERT. Defaults to None (no segment embedding).
        embeddings_initializer: initializer of the token table. Defaults to
            `"uniform"`.
        positions_initializer: initializer of the learned position table.
            Defaults to `"glorot_uniform"`.
        max_wavelength: positive number. Longest wavelength of the sinusoidal
            positions (unused with `"learned"`). Defaults to `10000`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: token ids `(batch, length)`, int or float (cast to int32).
        segment_ids: int `(batch, length)` in `[0, num_segments)`, with
            `num_segments`. Defaults to all zeros (a single segment).
        start_index: int or scalar int tensor. Position of the first token,
            for cached decoding. Defaults to `0`.
        reverse: bool. When True, `inputs` are hidden states
            `(batch, length, embedding_dim)` and the call returns
            `inputs @ token_embeddings^T`, logits `(batch, length,
            vocabulary_size)`: the output projection tied to the input
            embedding (Press & Wolf 2017; Vaswani et al. 3.4).

    Returns:
        `(batch, length, embedding_dim)` in the layer's compute dtype, with a
        Keras mask if `mask_zero=True`.

    Example:
    >>> embed = TokenAndPositionEmbedding(vocabulary_size=100, max_length=16, embedding_dim=8, mask_zero=True)
    >>> ids = keras.ops.convert_to_tensor([[5, 7, 0, 0]])
    >>> tuple(embed(ids).shape)
    (1, 4, 8)
    >>> keras.ops.convert_to_numpy(embed.compute_mask(ids)).tolist()
    [[True, True, False, False]]

    References:
        Vaswani et al., "Attention Is All You Need", 2017, sections 3.4-3.5.
        Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers
        for Language Understanding", 2019.
    """

    def __init__(
        self,
        vocabulary_size,
        max_length,
        embedding_dim,
        positional="learned",
        scale_embeddings=False,
        mask_zero=False,
        embeddings_initializer="uniform",
        positions_initializer="glorot_uniform",
        max_wavelength=10000,
        padding_id=None,
        num_segments=None,
        **kwargs,
    ):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.vocabulary_size = check_positive_int("vocabulary_size", vocabulary_size)
        self.max_length = check_positive_int("max_length", max_length)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        if positional not in POSITIONAL_OPTIONS:
            raise ValueError(
                f"`positional` must be one of {', '.join(repr(o) for o in POSITIONAL_OPTIONS)}. "
                f"Received: positional={positional!r}"
            )
        self.positional = positional
        self.scale_embeddings = bool(scale_embeddings)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.positions_initializer = keras.initializers.get(positions_initializer)
        self.max_wavelength = _check_positive_number("max_wavelength", max_wavelength)
        self.padding_id = check_int("padding_id", padding_id, minimum=0, maximum=self.vocabulary_size - 1, allow_none=True)
        if self.mask_zero and self.padding_id not in (None, 0):
            raise ValueError(
                "`mask_zero=True` means id 0 is padding; it cannot be combined with another `padding_id`. "
                f"Received: mask_zero=True, padding_id={padding_id}"
            )
        self.num_segments = check_positive_int("num_segments", num_segments, allow_none=True)
        self.supports_masking = True

    @property
    def _mask_id(self):
        return 0 if self.mask_zero else self.padding_id

    def _check_shape(self, shape, start_index=0):
        name = type(self).__name__
        check_rank(name, "inputs", shape, 2)
        _check_max_length(name, self.max_length, shape[1], start_index)

    def build(self, input_shape):
        self._check_shape(input_shape)
        # Fresh initializer objects, so that seeded initializers are not shared.
        # Keras' ReversibleEmbedding: `reverse=True` is the tied output projection, int8-quantized with the table.
        self.token_embedding = keras.layers.ReversibleEmbedding(
            self.vocabulary_size,
            self.embedding_dim,
            tie_weights=True,
            embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
            mask_zero=self.mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build(input_shape)
        self.segment_embedding = None
        if self.num_segments:
            self.segment_embedding = keras.layers.Embedding(
                self.num_segments,
                self.embedding_dim,
                embeddings_initializer=keras.initializers.serialize(self.embeddings_initializer),
                dtype=self.dtype_policy,
                name="segment_embedding",
            )
            self.segment_embedding.build(input_shape)
        if self.positional == "learned":
            self.position_embedding = LearnedPositionalEmbedding(
                self.max_length,
                initializer=keras.initializers.serialize(self.positions_initializer),
                dtype=self.dtype_policy,
                name="position_embedding",
            )
        else:
            self.position_embedding = SinusoidalPositionalEncoding(
                self.max_wavelength, dtype=self.dtype_policy, name="position_embedding"
            )
        self.position_embedding.build((*input_shape, self.embedding_dim))

    def call(self, inputs, start_index=0, reverse=False, segment_ids=None):  # (batch, length) int ids
        if reverse:  # (batch, length, embedding_dim) -> (batch, length, vocabulary_size)
            return self.token_embedding(inputs, reverse=True)
        self._check_shape(inputs.shape, start_index)
        tokens = self.token_embedding(inputs)  # (batch, length, embedding_dim)
        if self.scale_embeddings:
            tokens = tokens * ops.cast(math.sqrt(self.embedding_dim), tokens.dtype)
        outputs = tokens + self.position_embedding(tokens, start_index=start_index)
        if self.segment_embedding is not None:
            if segment_ids is None:  # one segment: row 0 everywhere (looked up, so a quantized table works too)
                segment_ids = ops.zeros(ops.shape(inputs)[:2], "int32")
            outputs = outputs + self.segment_embedding(segment_ids)
        elif segment_ids is not None:
            raise ValueError(
                f"{type(self).__name__} has no segment table: pass `num_segments` to use `segment_ids`. "
                f"Received: num_segments={self.num_segments}"
            )
        return outputs

    def compute_mask(self, inputs, mask=None):
        # Ids are `(batch, length)` of any dtype: `keras.Input(shape=(None,))` is float32, and its
        # padding must be masked too (as keras.layers.Embedding does). The reverse (output
        # projection) call gets hidden states `(batch, length, embedding_dim)`: no new mask.
        if self._mask_id is None or len(inputs.shape) != 2:
            return mask
        return ops.not_equal(inputs, ops.cast(self._mask_id, inputs.dtype))  # (batch, length), True = real token

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.embedding_dim)

    def compute_output_spec(self, inputs, start_index=0, reverse=False, segment_ids=None):
        shape = (*inputs.shape[:-1], self.vocabulary_size) if reverse else self.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "max_length": self.max_length,
            "embedding_dim": self.embedding_dim,
            "positional": self.positional,
            "scale_embeddings": self.scale_embeddings,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "positions_initializer": keras.initializers.serialize(self.positions_initializer),
            "max_wavelength": self.max_wavelength,
            "padding_id": self.padding_id,
            "num_segments": self.num_segments,
        }
