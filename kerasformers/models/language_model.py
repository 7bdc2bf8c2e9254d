"""Decoder-only (GPT-style) language model."""

import keras

from kerasformers.layers import TokenAndPositionEmbedding
from kerasformers.checks import check_rate
from kerasformers.models._common import block_kwargs, check_model_kwargs, decoder_stack, float32_logits
from kerasformers.models.presets import TEXT_PRESETS, TaskModel


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerLanguageModel(TaskModel, keras.Model):
    """Causal Transformer language model: next-token logits for every position.

    `token_ids` (int32 `(batch, length)`) → `TokenAndPositionEmbedding` →
    dropout → `num_layers` decoder layers without cross-attention (causal
    self-attention) → final LayerNorm (pre-LN) → logits `(batch, length,
    vocabulary_size)` in float32. With `tie_embeddings=True` the output
    projection is the transposed token embedding (Press & Wolf 2017), as in
    GPT-2. Position `t` sees tokens `0..t` only, so right-padding never changes
    the logits of real tokens; the loss ignores label 0.

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
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        dropout = check_rate("dropout", dropout)
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon)

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = TokenAndPositionEmbedding(vocabulary_size, max_length, model_dim, positional=positional, name="embedding")
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(embedding(token_ids))
        x, decoder_layers, final_norm = decoder_stack(x, num_layers, **blocks)  # (batch, length, model_dim)
        if tie_embeddings:
            output_projection = None
            logits = embedding(x, reverse=True)
        else:
            output_projection = keras.layers.Dense(vocabulary_size, name="output_projection")
            logits = output_projection(x)
        logits = float32_logits(logits)  # (batch, length, vocabulary_size)
        super().__init__(inputs={"token_ids": token_ids}, outputs=logits, **kwargs)

        # === Config and parts (the cached generation path reuses them) ===
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
        )
        self.embedding = embedding
        self.decoder_layers = decoder_layers
        self.final_norm = final_norm
        self.output_projection = output_projection

    def generate(self, prompt_ids, max_new_tokens, **kwargs):
        """Continues right-padded prompts `(batch, prompt_length)` by `max_new_tokens` tokens.

        Delegates to `kerasformers.generation.generate` (cached, XLA-compiled on
        TensorFlow; greedy, top-k, top-p or beam search): see it for the
        keyword arguments. Returns int32 ids `(batch, prompt_length +
        max_new_tokens)`.
        """
        from kerasformers.generation import generate  # lazy: generation imports the models

        return generate(self, prompt_ids, max_new_tokens, **kwargs)
