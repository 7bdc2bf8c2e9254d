"""Encoder-decoder Transformer for translation (Vaswani et al. 2017)."""

import keras
from keras import ops

from kerasformers.layers import TokenAndPositionEmbedding
from kerasformers.checks import check_rate
from kerasformers.models._common import (
    block_kwargs,
    check_model_kwargs,
    decoder_stack,
    encoder_stack,
    float32_logits,
)
from kerasformers.models.presets import TaskModel, seq2seq_presets


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerSeq2Seq(TaskModel, keras.Model):
    """The original encoder-decoder Transformer: source tokens in, next-target-token logits out.

    Inputs `encoder_token_ids` `(batch, source_length)` and
    `decoder_token_ids` `(batch, target_length)` (int32, 0 = padding; the
    decoder input is `[START] + target`, teacher forcing); output: float32
    logits `(batch, target_length, decoder_vocabulary_size)`. Padding masks
    come from `mask_zero=True` embeddings and propagate through both stacks;
    the decoder's self-attention is causal.

    `encode()` and `decode()` run the two halves on their own (the cached
    generation path builds on them).

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
        x = embedding_dropout(encoder_embedding(encoder_ids))
        encoder_outputs, encoder_layers, encoder_norm = encoder_stack(x, num_encoder_layers, **blocks)
        y = embedding_dropout(decoder_embedding(decoder_ids))
        y, decoder_layers, decoder_norm = decoder_stack(y, num_decoder_layers, encoder_outputs, **blocks)
        if tie_embeddings:
            output_projection = None
            logits = decoder_embedding(y, reverse=True)
        else:
            output_projection = keras.layers.Dense(target_vocabulary, name="output_projection")
            logits = output_projection(y)
        logits = float32_logits(logits)  # (batch, target_length, decoder_vocabulary_size)
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
        self.output_projection = output_projection

    def encode(self, encoder_token_ids):
        """Source ids `(batch, source_length)` → (encoder outputs, source padding mask)."""
        padding_mask = ops.not_equal(encoder_token_ids, 0)
        x = self.encoder_embedding(encoder_token_ids)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=padding_mask)
        return (self.encoder_norm(x) if self.encoder_norm else x), padding_mask

    def project(self, hidden):
        """Decoder states `(batch, length, model_dim)` → float32 logits over the target vocabulary."""
        if self.decoder_norm:
            hidden = self.decoder_norm(hidden)
        logits = self.decoder_embedding(hidden, reverse=True) if self.tie_embeddings else self.output_projection(hidden)
        return ops.cast(logits, "float32")

    def decode(self, decoder_token_ids, encoder_outputs, encoder_padding_mask):
        """Target ids `(batch, target_length)` + encoder outputs → logits `(batch, target_length, vocabulary)`."""
        padding_mask = ops.not_equal(decoder_token_ids, 0)
        y = self.decoder_embedding(decoder_token_ids)
        for layer in self.decoder_layers:
            y = layer(y, encoder_outputs, decoder_padding_mask=padding_mask, encoder_padding_mask=encoder_padding_mask)
        return self.project(y)

    def translate(self, source_ids, **kwargs):
        """Decodes target ids for source ids `(batch, source_length)`.

        Delegates to `kerasformers.generation.translate` (cached, XLA-compiled
        on TensorFlow; greedy, top-k, top-p or beam search with length
        penalty): see it for the keyword arguments. Returns int32 ids
        `(batch, max_length)` without the start token, padding after the end
        token.
        """
        from kerasformers.generation import translate  # lazy: generation imports the models

        return translate(self, source_ids, **kwargs)
