"""Encoder-only text classifier."""

import keras

from kerasformers.layers import MaskedMeanPooling, TokenAndPositionEmbedding
from kerasformers.checks import check_choice, check_positive_int, check_rate
from kerasformers.models._common import (
    block_kwargs,
    check_model_kwargs,
    encoder_stack,
    float32_logits,
)
from kerasformers.models.presets import TEXT_PRESETS, TaskModel


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerClassifier(TaskModel, keras.Model):
    """Transformer encoder + pooling + linear head: text classification.

    A functional model: `token_ids` (int32 `(batch, length)`, 0 = padding) →
    `TokenAndPositionEmbedding(mask_zero=True)` → dropout → `num_layers`
    `TransformerEncoderLayer`s → pooling → dropout → `Dense(num_classes)`.
    Logits (or probabilities) are float32, also under mixed precision.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_classes: int. Number of classes.
        max_length: int. Longest sequence (size of the learned position table).
        num_layers, model_dim, num_heads, hidden_dim: ints. Encoder size.
        dropout: float. Dropout on embeddings, sub-layers and the pooled vector.
        pooling: `"mean"` (mean over real tokens; padding never counts) or
            `"cls"` (the first position: feed sequences that start with a class
            token, e.g. `classification_dataset(..., cls_token=True)`).
        normalize_first: bool. Pre-LN blocks (default True: stabler from scratch).
        positional: `"learned"` or `"sinusoidal"`.
        activation: feed-forward activation. Defaults to `"gelu"`.
        output_probabilities: bool. Output softmax probabilities instead of
            logits (default False: logits, pair with `from_logits=True`).
        layer_norm_epsilon: float.
        **kwargs: `name`, `trainable`, `dtype` of `keras.Model`.

    Example:
    >>> model = TransformerClassifier.from_preset("tiny", vocabulary_size=100, num_classes=2, max_length=32)
    >>> model.predict({"token_ids": np.array([[5, 6, 7, 0]])}, verbose=0).shape
    (1, 2)
    """

    presets = TEXT_PRESETS

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        max_length=512,
        num_layers=2,
        model_dim=128,
        num_heads=4,
        hidden_dim=512,
        dropout=0.1,
        pooling="mean",
        normalize_first=True,
        positional="learned",
        activation="gelu",
        output_probabilities=False,
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        check_positive_int("num_classes", num_classes)
        check_choice("pooling", pooling, ("mean", "cls"))
        dropout = check_rate("dropout", dropout)
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon)

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = TokenAndPositionEmbedding(
            vocabulary_size, max_length, model_dim, positional=positional, mask_zero=True, name="embedding"
        )
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(embedding(token_ids))
        x, encoder_layers, _ = encoder_stack(x, num_layers, **blocks)  # (batch, length, model_dim)
        if pooling == "mean":
            pooled = MaskedMeanPooling(name="mean_pooling")(x)  # over real tokens; all-padding rows give 0
        else:
            pooled = x[:, 0, :]
        pooled = keras.layers.Dropout(dropout, name="head_dropout")(pooled)
        logits = float32_logits(keras.layers.Dense(num_classes, name="head")(pooled))
        outputs = keras.layers.Softmax(dtype="float32", name="probabilities")(logits) if output_probabilities else logits
        super().__init__(inputs={"token_ids": token_ids}, outputs=outputs, **kwargs)

        # === Config ===
        self._set_config(
            vocabulary_size=vocabulary_size,
            num_classes=num_classes,
            max_length=max_length,
            num_layers=num_layers,
            model_dim=model_dim,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            pooling=pooling,
            normalize_first=normalize_first,
            positional=positional,
            activation=activation,
            output_probabilities=bool(output_probabilities),
            layer_norm_epsilon=layer_norm_epsilon,
        )
        self.embedding = embedding
        self.encoder_layers = encoder_layers
