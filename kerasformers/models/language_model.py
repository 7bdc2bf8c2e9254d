"""Decoder-only (GPT-style) language model."""

import keras

from kerasformers.checks import check_int, check_rate
from kerasformers.layers import TokenAndPositionEmbedding
from kerasformers.models._common import (
    block_kwargs,
    check_model_kwargs,
    decoder_stack,
    float32_layer,
    logits_head,
    run_decoder,
)
from kerasformers.models.presets import TEXT_PRESETS, TaskModel
from kerasformers.models.pretrained import load_language_model
from kerasformers.models.target_positions import NonPaddingTargets
from kerasformers.models.token_step import TokenStep, mask_id, supported


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerLanguageModel(NonPaddingTargets, TaskModel, keras.Model):
    """Causal Transformer language model: next-token logits for every position.

    `token_ids` (int32 `(batch, length)`) → `TokenAndPositionEmbedding` →
    dropout → `num_layers` decoder layers without cross-attention (causal
    self-attention) → final LayerNorm (pre-LN) → logits `(batch, length,
    vocabulary_size)` in float32. With `tie_embeddings=True` the output
    projection is the transposed token embedding (Press & Wolf 2017), as in
    GPT-2. Position `t` sees tokens `0..t` only, so right-padding never changes
    the logits of real tokens; the loss ignores label 0. In `fit` and
    `evaluate` the output head and the loss run on the positions whose label
    is not padding only (same loss and gradients; on the TensorFlow backend
    without XLA and with `MaskedSparseCategoricalCrossentropy`. Set
    `model.skip_padding_in_loss = False` to turn it off; see
    `kerasformers.models.target_positions`).

    Generation runs beside the training graph, on the same layers and weights:
    `init_cache` and `call_with_cache` are the cached decoding step (one new
    token costs O(length), as in `keras_hub.models.GPT2CausalLM`), `logits`
    is the output head. `kerasformers.generation.generate(model, ...)` drives
    them.

    Args:
        vocabulary_size: int.
        max_length: int. Longest context (size of the position table).
        num_layers, model_dim, num_heads, hidden_dim: ints.
        dropout: float.
        normalize_first: bool. Pre-LN (default, GPT-2) or post-LN.
        tie_embeddings: bool. Share input embedding and output projection.
        positional: `"learned"` (default) or `"sinusoidal"`.
        activation: feed-forward activation. Defaults to `"gelu"`.
        layer_norm_epsilon: float.
        padding_id: int or None. A pad id: positions holding it are masked
            out of attention (left padding is then safe too). Defaults to
            None: no mask, which right padding does not need (position `t`
            never sees later positions). GPT-2 has no pad token and its id 0
            is a real token, so it never masks id 0.
        **kwargs: `name`, `trainable`, `dtype` of `keras.Model`.

    Example:
    >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=65, max_length=64)
    >>> model.predict({"token_ids": np.array([[1, 2, 3]])}, verbose=0).shape
    (1, 3, 65)
    """

    presets = TEXT_PRESETS

    def __init__(
        self,
        vocabulary_size,
        max_length=256,
        num_layers=2,
        model_dim=128,
        num_heads=4,
        hidden_dim=512,
        dropout=0.1,
        normalize_first=True,
        tie_embeddings=True,
        positional="learned",
        activation="gelu",
        layer_norm_epsilon=1e-5,
        padding_id=None,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        dropout = check_rate("dropout", dropout)
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon)

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = TokenAndPositionEmbedding(
            vocabulary_size, max_length, model_dim, positional=positional, padding_id=padding_id, name="embedding"
        )
        embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        decoder_layers, final_norm = decoder_stack(num_layers, **blocks)
        x = _hidden_states(embedding, embedding_dropout, decoder_layers, token_ids)  # (batch, length, model_dim)
        output_projection = None if tie_embeddings else keras.layers.Dense(vocabulary_size, name="output_projection")
        to_float32 = float32_layer()
        logits = logits_head(x, final_norm, embedding, output_projection, to_float32)  # (batch, length, vocabulary_size)
        super().__init__(inputs={"token_ids": token_ids}, outputs=logits, **kwargs)

        # === Config and parts (`logits`, `init_cache` and `call_with_cache` reuse them) ===
        self._set_config(
            vocabulary_size=vocabulary_size,
            max_length=max_length,
            num_layers=num_layers,
            model_dim=model_dim,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            normalize_first=normalize_first,
            tie_embeddings=tie_embeddings,
            positional=positional,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
            padding_id=padding_id,
        )
        self.embedding = embedding
        self.embedding_dropout = embedding_dropout
        self.decoder_layers = decoder_layers
        self.final_norm = final_norm
        self.output_projection = output_projection
        self.to_float32 = to_float32

    @classmethod
    def from_pretrained(cls, source, **options):
        """A language model with a published GPT-2 checkpoint's architecture and weights.

        Our layers with GPT-2's settings (pre-LN blocks, tanh-approximated
        GELU, final LayerNorm, tied input/output embeddings); logits equal
        KerasHub's `GPT2CausalLM` on the same checkpoint. GPT-2 has no pad
        token and its id 0 (`!`) is a real token: the model masks nothing
        unless `padding_id` is given (right padding needs no mask).

        Args:
            source: a Hugging Face directory (`config.json` with `model_type:
                "gpt2"`, `model.safetensors` or sharded
                `model.safetensors.index.json`), a KerasHub preset directory, a
                `keras_hub.models.GPT2Backbone`, or a hub id (downloaded only
                then, which needs a network).
            **options: `dropout`, `padding_id`, `activation`, `name`, `dtype`,
                `trainable`.

        Raises:
            kerasformers.checkpoints.CheckpointError: missing files, an
                unsupported `model_type`, a missing or misshapen tensor.

        Example:
        >>> model = TransformerLanguageModel.from_pretrained("gpt2")  # doctest: +SKIP
        """
        return load_language_model(cls, source, **options)

    def _hidden_states(self, inputs, training=None):
        """The functional graph up to the output head: `(hidden, padding mask or None)` (`NonPaddingTargets`)."""
        token_ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        if isinstance(token_ids, (list, tuple)):  # a one-element list: the full graph takes it apart
            return None
        hidden = _hidden_states(self.embedding, self.embedding_dropout, self.decoder_layers, token_ids, training)
        return hidden, self.embedding.compute_mask(token_ids)

    def logits(self, hidden):
        """The output head: final norm (pre-LN), tied or untied projection, float32.

        The functional graph ends with the same head.

        Args:
            hidden: `(batch, length, model_dim)` outputs of the last decoder layer.

        Returns:
            float32 logits `(batch, length, vocabulary_size)`.

        Example:
        >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=65, max_length=64)
        >>> tuple(model.logits(keras.ops.ones((1, 3, 128))).shape)
        (1, 3, 65)
        """
        return logits_head(hidden, self.final_norm, self.embedding, self.output_projection, self.to_float32)

    def init_cache(self, batch_size, max_length):
        """An empty key/value cache for `max_length` positions.

        Args:
            batch_size: int or scalar int tensor.
            max_length: int in `[1, self.max_length]`: positions to cache
                (prompt and generated tokens).

        Returns:
            A tuple with one `(key_cache, value_cache)` per decoder layer, each
            of shape `(batch_size, max_length, num_heads, head_dim)` (zeros):
            plain tuples, so that `keras.tree`, `tf.while_loop` and beam search
            can carry, repeat and reorder them.

        Example:
        >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=65, max_length=64)
        >>> cache = model.init_cache(2, 16)
        >>> len(cache), tuple(cache[0][0].shape)
        (2, (2, 16, 4, 32))
        """
        max_length = check_int("max_length", max_length, minimum=1, maximum=self.max_length)
        return tuple(layer.self_attention.init_cache(batch_size, max_length) for layer in self.decoder_layers)

    def call_with_cache(self, token_ids, cache, index):
        """One cached forward pass: logits of `token_ids`, their keys and values written into `cache`.

        Feed the whole prompt at `index=0` to fill the cache, then one token
        at a time; the logits equal those of the full model on the sequence
        so far (dropout off).

        Args:
            token_ids: int `(batch, length)`, the tokens at positions
                `index ... index + length - 1`.
            cache: from `init_cache` (or a previous call).
            index: int or scalar int tensor: position of `token_ids[:, 0]`.

        Returns:
            `(logits, cache)`: float32 logits `(batch, length,
            vocabulary_size)` and the updated cache.

        Example:
        >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=65, max_length=64)
        >>> cache = model.init_cache(1, 8)
        >>> logits, cache = model.call_with_cache(np.array([[5, 6, 7]]), cache, 0)  # the prompt
        >>> logits, cache = model.call_with_cache(np.array([[8]]), cache, 3)  # the next token
        >>> tuple(logits.shape)
        (1, 1, 65)
        """
        x = self.embedding(token_ids, start_index=index)  # (batch, length, model_dim)
        x, cache, _ = run_decoder(self.decoder_layers, x, caches=cache, index=index, training=False)
        return self.logits(x), cache

    def token_step(self, cache):
        """The fused one-token step that `kerasformers.generation` loops over, or None if it does not apply.

        Equal to `call_with_cache(token_ids[:, None], cache, index)` for one
        token per row, with the weights read once (when this is called, e.g.
        before a decoding loop) and about a third of the ops per call. It
        applies to float32 models without quantized weights; otherwise this
        returns None and callers use `call_with_cache`.

        Args:
            cache: from `init_cache` / `call_with_cache` (e.g. after the
                prompt).

        Returns:
            A `kerasformers.models.token_step.TokenStep`: `step.cache` is
            `cache` in the step's layout, and `step(token_ids (batch,),
            cache, index) -> (logits (batch, vocabulary), cache)`; or None.

        Example:
        >>> model = TransformerLanguageModel.from_preset("tiny", vocabulary_size=65, max_length=64)
        >>> _, cache = model.call_with_cache(np.array([[5, 6, 7]]), model.init_cache(1, 8), 0)
        >>> step = model.token_step(cache)
        >>> logits, _ = step(np.array([8]), step.cache, 3)
        >>> tuple(logits.shape)
        (1, 65)
        """
        if not supported(self.embedding, self.decoder_layers, self.final_norm, self.output_projection):
            return None
        return TokenStep(self.embedding, self.decoder_layers, self.final_norm, self.output_projection, cache,
                         length=cache[0][0].shape[1], padding_id=mask_id(self.embedding))


def _hidden_states(embedding, embedding_dropout, decoder_layers, token_ids, training=None):
    """Token ids → embedding → dropout → decoder layers: the graph of `__init__` and of `_hidden_states`."""
    x = embedding_dropout(embedding(token_ids), training=training)
    x, _, _ = run_decoder(decoder_layers, x, training=training)
    return x
