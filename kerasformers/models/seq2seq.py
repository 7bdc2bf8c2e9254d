"""Encoder-decoder Transformer for translation (Vaswani et al. 2017)."""

import keras
from keras import ops

from kerasformers.checks import check_int, check_rate
from kerasformers.layers import TokenAndPositionEmbedding
from kerasformers.models._common import (
    block_kwargs,
    check_model_kwargs,
    decoder_stack,
    encoder_layer_stack,
    float32_layer,
    logits_head,
    run_decoder,
)
from kerasformers.models.presets import TaskModel, seq2seq_presets
from kerasformers.models.target_positions import NonPaddingTargets
from kerasformers.models.token_step import TokenStep, supported


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerSeq2Seq(NonPaddingTargets, TaskModel, keras.Model):
    """The original encoder-decoder Transformer: source tokens in, next-target-token logits out.

    Inputs `encoder_token_ids` `(batch, source_length)` and
    `decoder_token_ids` `(batch, target_length)` (int32, 0 = padding; the
    decoder input is `[START] + target`, teacher forcing); output: float32
    logits `(batch, target_length, decoder_vocabulary_size)`. Padding masks
    come from `mask_zero=True` embeddings and propagate through both stacks;
    the decoder's self-attention is causal. In `fit` and `evaluate` the
    output head and the loss run on the target positions whose label is not
    padding only (same loss and gradients; on the TensorFlow backend
    without XLA and with `MaskedSparseCategoricalCrossentropy`. Set
    `model.skip_padding_in_loss = False` to turn it off; see
    `kerasformers.models.target_positions`).

    Beside the training graph, on the same layers and weights: `encode()` and
    `decode()` run the two halves on their own; `init_cache()` and
    `call_with_cache()` are the cached decoding step (cross-attention keys and
    values computed once per source) that
    `kerasformers.generation.translate(model, ...)` drives; `logits()` is the
    output head; `cross_attention()` reads a decoder layer's attention over
    the source. All of them run the decoder stack through one layer loop.

    Args:
        encoder_vocabulary_size: int.
        decoder_vocabulary_size: int or None. Defaults to the encoder's (one
            shared vocabulary).
        max_length: int. Longest source or target sequence.
        num_encoder_layers, num_decoder_layers, model_dim, num_heads, hidden_dim: ints.
        dropout: float (the paper's P_drop).
        normalize_first: bool. Post-LN as in the paper by default.
        share_embeddings: bool. One embedding matrix for source and target
            (needs one shared vocabulary), as in the paper's Table 3 models.
        tie_embeddings: bool. The output projection is the transposed target
            embedding (paper section 3.4). Defaults to `True`.
        positional: `"sinusoidal"` (default, the paper's) or `"learned"`.
        scale_embeddings: bool. Multiply token embeddings by sqrt(model_dim)
            (paper section 3.4). Defaults to `True`.
        activation: feed-forward activation. Defaults to `"relu"` (the paper's).
        layer_norm_epsilon: float.
        **kwargs: `name`, `trainable`, `dtype` of `keras.Model`.

    Example:
    >>> model = TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=100, max_length=16)
    >>> ids = np.array([[5, 6, 7, 0]])
    >>> model.predict({"encoder_token_ids": ids, "decoder_token_ids": ids[:, :3]}, verbose=0).shape
    (1, 3, 100)
    """

    presets = seq2seq_presets()

    def __init__(
        self,
        encoder_vocabulary_size,
        decoder_vocabulary_size=None,
        max_length=128,
        num_encoder_layers=2,
        num_decoder_layers=2,
        model_dim=128,
        num_heads=4,
        hidden_dim=512,
        dropout=0.1,
        normalize_first=False,
        share_embeddings=False,
        tie_embeddings=True,
        positional="sinusoidal",
        scale_embeddings=True,
        activation="relu",
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        dropout = check_rate("dropout", dropout)
        target_vocabulary = decoder_vocabulary_size or encoder_vocabulary_size
        if share_embeddings and target_vocabulary != encoder_vocabulary_size:
            raise ValueError(
                "`share_embeddings=True` needs one vocabulary for source and target. Received: "
                f"encoder_vocabulary_size={encoder_vocabulary_size}, decoder_vocabulary_size={decoder_vocabulary_size}"
            )
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon)

        def make_embedding(vocabulary_size, name):
            return TokenAndPositionEmbedding(
                vocabulary_size, max_length, model_dim, positional=positional,
                scale_embeddings=scale_embeddings, mask_zero=True, name=name,
            )

        # === Functional graph ===
        encoder_ids = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
        decoder_ids = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
        encoder_embedding = make_embedding(encoder_vocabulary_size, "encoder_embedding" if not share_embeddings else "embedding")
        decoder_embedding = encoder_embedding if share_embeddings else make_embedding(target_vocabulary, "decoder_embedding")
        embedding_dropout = keras.layers.Dropout(dropout, name="embedding_dropout")
        encoder_layers, encoder_norm = encoder_layer_stack(num_encoder_layers, **blocks)
        decoder_layers, decoder_norm = decoder_stack(num_decoder_layers, **blocks)
        parts = (encoder_embedding, decoder_embedding, embedding_dropout, encoder_layers, encoder_norm, decoder_layers)
        y = _hidden_states(parts, encoder_ids, decoder_ids)  # Keras masks: padding of both sides
        output_projection = None if tie_embeddings else keras.layers.Dense(target_vocabulary, name="output_projection")
        to_float32 = float32_layer()
        logits = logits_head(y, decoder_norm, decoder_embedding, output_projection, to_float32)
        # logits: (batch, target_length, target_vocabulary_size)
        super().__init__(
            inputs={"encoder_token_ids": encoder_ids, "decoder_token_ids": decoder_ids}, outputs=logits, **kwargs
        )

        # === Config and parts ===
        self._set_config(
            encoder_vocabulary_size=encoder_vocabulary_size,
            decoder_vocabulary_size=decoder_vocabulary_size,
            max_length=max_length,
            num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers,
            model_dim=model_dim,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            normalize_first=normalize_first,
            share_embeddings=share_embeddings,
            tie_embeddings=tie_embeddings,
            positional=positional,
            scale_embeddings=scale_embeddings,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
        )
        self.encoder_embedding = encoder_embedding
        self.decoder_embedding = decoder_embedding
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.encoder_norm = encoder_norm
        self.decoder_norm = decoder_norm
        self.embedding_dropout = embedding_dropout
        self.output_projection = output_projection
        self.to_float32 = to_float32

    @property
    def target_vocabulary_size(self):
        """Size of the decoder's (target) vocabulary: `decoder_vocabulary_size`, else the shared one."""
        return self.decoder_vocabulary_size or self.encoder_vocabulary_size

    def encode(self, encoder_token_ids):
        """Runs the encoder.

        Args:
            encoder_token_ids: int `(batch, source_length)`, 0 = padding.

        Returns:
            `(encoder_outputs, padding_mask)`: `(batch, source_length,
            model_dim)` and the boolean source padding mask `(batch,
            source_length)` (True = real token).
        """
        padding_mask = ops.not_equal(encoder_token_ids, 0)
        x = self.encoder_embedding(encoder_token_ids)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=padding_mask)
        return (self.encoder_norm(x) if self.encoder_norm else x), padding_mask

    def _hidden_states(self, inputs, training=None):
        """The functional graph up to the output head: `(hidden, target padding mask)` (`NonPaddingTargets`)."""
        if not isinstance(inputs, dict):  # not the model's inputs: the full graph reports it
            return None
        parts = (self.encoder_embedding, self.decoder_embedding, self.embedding_dropout, self.encoder_layers,
                 self.encoder_norm, self.decoder_layers)
        decoder_ids = inputs["decoder_token_ids"]
        hidden = _hidden_states(parts, inputs["encoder_token_ids"], decoder_ids, training)
        return hidden, self.decoder_embedding.compute_mask(decoder_ids)

    def logits(self, hidden):
        """The output head: final decoder norm (pre-LN), tied or untied projection, float32.

        The functional graph ends with the same head.

        Args:
            hidden: `(batch, length, model_dim)` outputs of the last decoder layer.

        Returns:
            float32 logits `(batch, length, target_vocabulary_size)`.
        """
        return logits_head(hidden, self.decoder_norm, self.decoder_embedding, self.output_projection, self.to_float32)

    def _decoder(self, decoder_token_ids, encoder_outputs, encoder_padding_mask, return_attention=False, layers=None):
        """Embedded targets through `layers` (default: all) with explicit padding masks: `(outputs, _, scores)`."""
        y = self.decoder_embedding(decoder_token_ids)  # (batch, target_length, model_dim)
        return run_decoder(
            self.decoder_layers if layers is None else layers, y, encoder_outputs,
            decoder_padding_mask=ops.not_equal(decoder_token_ids, 0), encoder_padding_mask=encoder_padding_mask,
            return_attention=return_attention,
        )

    def decode(self, decoder_token_ids, encoder_outputs, encoder_padding_mask):
        """Runs the decoder on whole target sequences (teacher forcing).

        Args:
            decoder_token_ids: int `(batch, target_length)`, `[START] +
                target`, 0 = padding.
            encoder_outputs, encoder_padding_mask: from `encode`.

        Returns:
            float32 logits `(batch, target_length, target_vocabulary_size)`.
        """
        y, _, _ = self._decoder(decoder_token_ids, encoder_outputs, encoder_padding_mask)
        return self.logits(y)

    def cross_attention(self, source_ids, decoder_ids, layer=-1):
        """Attention probabilities of one decoder layer over the source (teacher forcing).

        The model runs once on `source_ids` and `decoder_ids` (dropout
        off); the chosen layer returns its cross-attention probabilities
        (the same layer, weights and masks: nothing is rebuilt).

        Args:
            source_ids: int `(batch, source_length)`, 0 = padding.
            decoder_ids: int `(batch, target_length)`, `[START] + target`.
            layer: int. Index of the decoder layer; defaults to the last
                (`-1`).

        Returns:
            float32 `(batch, num_heads, target_length, source_length)`: each
            row sums to 1 over the real source tokens and is 0 on source
            padding (and 0 for a padding target position).

        Example:
        >>> model = TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=100, max_length=16)
        >>> probabilities = model.cross_attention(np.array([[5, 6, 7, 0]]), np.array([[2, 8, 9]]))
        >>> tuple(probabilities.shape)
        (1, 4, 3, 4)
        """
        count = len(self.decoder_layers)
        index = check_int("layer", layer, minimum=-count, maximum=count - 1) % count
        encoder_outputs, encoder_padding_mask = self.encode(source_ids)
        _, _, scores = self._decoder(
            decoder_ids, encoder_outputs, encoder_padding_mask, return_attention=True,
            layers=self.decoder_layers[: index + 1],
        )
        return scores[index]["cross_attention"]

    def init_cache(self, encoder_outputs, encoder_padding_mask, max_length):
        """The decoder cache for one batch of sources.

        The cross-attention keys and values of every decoder layer are
        computed here, once per source; the self-attention caches start empty.

        Args:
            encoder_outputs: `(batch, source_length, model_dim)` from `encode`.
            encoder_padding_mask: boolean `(batch, source_length)` from `encode`.
            max_length: int in `[1, self.max_length]`: target positions to cache.

        Returns:
            `(self_caches, cross_caches, encoder_padding_mask,
            decoder_padding_mask)` (plain tuples, carried by `tf.while_loop`
            and reordered by beam search): one `(key_cache, value_cache)` of
            shape `(batch, max_length, num_heads, head_dim)` per layer, one
            `(keys, values)` of shape `(batch, source_length, num_heads,
            head_dim)` per layer, the source mask, and a boolean `(batch,
            max_length)` record of which cached target positions hold a real
            token (the full model masks padding in the decoder input, so the
            cached step does too).

        Example:
        >>> model = TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=100, max_length=16)
        >>> cache = model.init_cache(*model.encode(np.array([[5, 6, 7, 0]])), max_length=8)
        >>> logits, cache = model.call_with_cache(np.array([[2]]), cache, 0)  # [START]
        >>> tuple(logits.shape)
        (1, 1, 100)
        """
        max_length = check_int("max_length", max_length, minimum=1, maximum=self.max_length)
        batch_size = ops.shape(encoder_outputs)[0]
        self_caches = tuple(layer.self_attention.init_cache(batch_size, max_length) for layer in self.decoder_layers)
        cross_caches = tuple(layer.compute_cross_attention_cache(encoder_outputs) for layer in self.decoder_layers)
        decoder_padding_mask = ops.zeros((batch_size, max_length), "bool")
        return self_caches, cross_caches, ops.cast(encoder_padding_mask, "bool"), decoder_padding_mask

    def call_with_cache(self, token_ids, cache, index):
        """One cached decoder pass: logits of `token_ids`, their keys and values written into `cache`.

        The logits equal those of `decode` (and of the full model) on the
        target so far, padding ids included.

        Args:
            token_ids: int `(batch, length)`, the target tokens at positions
                `index ... index + length - 1` (`[START]` at position 0).
            cache: from `init_cache` (or a previous call).
            index: int or scalar int tensor: position of `token_ids[:, 0]`.

        Returns:
            `(logits, cache)`: float32 logits `(batch, length,
            target_vocabulary_size)` and the updated cache (its
            cross-attention part and source mask unchanged).
        """
        self_caches, cross_caches, encoder_padding_mask, decoder_padding_mask = cache
        padding_mask = ops.not_equal(token_ids, 0)  # (batch, length), as in `decode`
        decoder_padding_mask = ops.slice_update(decoder_padding_mask, [0, index], padding_mask)  # (batch, max_length)
        # Cached target positions holding padding are not attended to (the causal mask hides later ones).
        attention_mask = ops.logical_and(padding_mask[:, :, None], decoder_padding_mask[:, None, :])
        y = self.decoder_embedding(token_ids, start_index=index)  # (batch, length, model_dim)
        y, self_caches, _ = run_decoder(
            self.decoder_layers, y, caches=self_caches, index=index, cross_caches=cross_caches,
            decoder_padding_mask=padding_mask, decoder_attention_mask=attention_mask,
            encoder_padding_mask=encoder_padding_mask, training=False,
        )
        return self.logits(y), (self_caches, cross_caches, encoder_padding_mask, decoder_padding_mask)

    def token_step(self, cache):
        """The fused one-token decoder step that `kerasformers.generation` loops over, or None.

        Equal to `call_with_cache(token_ids[:, None], cache, index)` for one
        target token per row (padding ids masked as there), with the weights
        read once and about a third of the ops per call. It applies to
        float32 models without quantized weights; otherwise None.

        Args:
            cache: from `init_cache` / `call_with_cache`.

        Returns:
            A `kerasformers.models.token_step.TokenStep` (`step.cache`, then
            `step(token_ids (batch,), cache, index) -> (logits, cache)`), or
            None.

        Example:
        >>> model = TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=100, max_length=16)
        >>> step = model.token_step(model.init_cache(*model.encode(np.array([[5, 6, 7, 0]])), max_length=8))
        >>> logits, cache = step(np.array([2]), step.cache, 0)  # [START]
        >>> tuple(logits.shape)
        (1, 100)
        """
        if not supported(self.decoder_embedding, self.decoder_layers, self.decoder_norm, self.output_projection):
            return None
        return TokenStep(self.decoder_embedding, self.decoder_layers, self.decoder_norm, self.output_projection,
                         cache, length=cache[0][0][0].shape[1], padding_id=0, seq2seq=True)


def _hidden_states(parts, encoder_token_ids, decoder_token_ids, training=None):
    """Both stacks up to the decoder's last layer (before its final norm): the graph of `__init__` and of
    `_hidden_states`. The padding of both sides travels as Keras masks of the `mask_zero` embeddings."""
    encoder_embedding, decoder_embedding, embedding_dropout, encoder_layers, encoder_norm, decoder_layers = parts
    x = embedding_dropout(encoder_embedding(encoder_token_ids), training=training)
    for layer in encoder_layers:
        x = layer(x, training=training)
    encoder_outputs = encoder_norm(x) if encoder_norm else x
    y = embedding_dropout(decoder_embedding(decoder_token_ids), training=training)
    y, _, _ = run_decoder(decoder_layers, y, encoder_outputs, training=training)
    return y
