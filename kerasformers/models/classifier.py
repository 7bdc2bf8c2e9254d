"""Encoder-only text classifier."""

import keras

from kerasformers.layers import LocalConvolution, MaskedMaxPooling, MaskedMeanPooling, TokenAndPositionEmbedding
from kerasformers.checks import check_choice, check_positive_int, check_rate
from kerasformers.models._common import (
    block_kwargs,
    check_model_kwargs,
    encoder_stack,
    float32_logits,
)
from kerasformers.models.presets import TEXT_PRESETS, TaskModel
from kerasformers.models.pretrained import load_classifier


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerClassifier(TaskModel, keras.Model):
    """Transformer encoder + pooling + linear head: text classification.

    A functional model: `token_ids` (int32 `(batch, length)`, 0 = padding) →
    `TokenAndPositionEmbedding(mask_zero=True)` → dropout → [`LocalConvolution`]
    → `num_layers` `TransformerEncoderLayer`s → pooling → dropout →
    `Dense(num_classes)`.
    Logits (or probabilities) are float32, also under mixed precision.

    Args:
        vocabulary_size: int. Size of the token vocabulary.
        num_classes: int. Number of classes.
        max_length: int. Longest sequence (size of the learned position table).
        num_layers, model_dim, num_heads, hidden_dim: ints. Encoder size.
        dropout: float. Dropout on embeddings, sub-layers and the pooled vector.
        pooling: `"mean"` (mean over real tokens; padding never counts),
            `"cls"` (the first position: feed sequences that start with a class
            token, e.g. `classification_dataset(..., cls_token=True)`) or
            `"pooler"` (BERT's pooler: the first position through
            `Dense(model_dim, activation="tanh")`); or `"max"` (maximum over
            real tokens, `MaskedMaxPooling`) or `"mean_max"` (mean and maximum
            concatenated: `2 * model_dim` features).
        normalize_first: bool. Pre-LN blocks (default True: stabler from scratch).
        positional: `"learned"` or `"sinusoidal"`.
        activation: feed-forward activation. Defaults to `"gelu"`.
        output_probabilities: bool. Output softmax probabilities instead of
            logits (default False: logits, pair with `from_logits=True`).
        layer_norm_epsilon: float.
        padding_id: int. The pad id: positions holding it are masked out of
            attention and pooling. Defaults to `0`.
        num_segments: int or None. BERT's segment (token type) table; every
            token is in segment 0 (single-sentence classification). Defaults
            to None (no table).
        embedding_norm: bool. A LayerNorm after the embeddings, as in BERT.
            Defaults to False.
        conv_kernel_size: int or None. A `LocalConvolution` of this width
            between the embeddings and the encoder: local n-gram features,
            which help small models trained from scratch on short texts.
            Defaults to None (none).
        **kwargs: `name`, `trainable`, `dtype` of `keras.Model`.

    `TransformerClassifier.from_pretrained(path, num_classes=...)` builds one
    from a published BERT-family checkpoint (see `from_pretrained`).

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
        padding_id=0,
        num_segments=None,
        embedding_norm=False,
        conv_kernel_size=None,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        check_positive_int("num_classes", num_classes)
        check_choice("pooling", pooling, ("mean", "cls", "pooler", "max", "mean_max"))
        conv_kernel_size = check_positive_int("conv_kernel_size", conv_kernel_size, allow_none=True)
        dropout = check_rate("dropout", dropout)
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon)

        # === Functional graph ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        embedding = TokenAndPositionEmbedding(
            vocabulary_size, max_length, model_dim, positional=positional, padding_id=padding_id,
            num_segments=num_segments, name="embedding",
        )
        x = embedding(token_ids)  # (batch, length, model_dim), masked where token_ids == padding_id
        if embedding_norm:
            x = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="embedding_norm")(x)
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
        if conv_kernel_size:
            x = LocalConvolution(conv_kernel_size, activation=activation, layer_norm_epsilon=layer_norm_epsilon,
                                 name="local_convolution")(x)  # padding zeroed; the mask passes through
        x, encoder_layers, _ = encoder_stack(x, num_layers, **blocks)  # (batch, length, model_dim)
        if pooling in ("mean", "max", "mean_max"):  # over real tokens; all-padding rows give 0
            pooled = []
            if pooling in ("mean", "mean_max"):
                pooled.append(MaskedMeanPooling(name="mean_pooling")(x))
            if pooling in ("max", "mean_max"):
                pooled.append(MaskedMaxPooling(name="max_pooling")(x))
            pooled = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="mean_max")(pooled)
        else:
            pooled = x[:, 0, :]
            if pooling == "pooler":
                pooled = keras.layers.Dense(model_dim, activation="tanh", name="pooler")(pooled)
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
            padding_id=padding_id,
            num_segments=num_segments,
            embedding_norm=bool(embedding_norm),
            conv_kernel_size=conv_kernel_size,
        )
        self.embedding = embedding
        self.encoder_layers = encoder_layers

    @classmethod
    def from_pretrained(cls, source, num_classes, **options):
        """A classifier on a published BERT-family encoder (BERT, MiniLM, ...); the head is new.

        Builds the checkpoint's architecture with our layers (post-LN blocks,
        exact GELU, LayerNorm epsilon 1e-12, learned positions, segment table,
        embedding LayerNorm, pooler) and copies its weights; the final
        `Dense(num_classes)` starts random, ready for `fit`. The activation
        is the checkpoint's `hidden_act` (exact GELU for BERT); KerasHub's
        `BertBackbone` computes the tanh approximation instead, and with
        `activation="gelu_approximate"` our outputs equal it. Feed ids from the
        checkpoint's tokenizer (`kerasformers.checkpoints.load_pretrained_tokenizer`),
        with `[CLS]` first and `[SEP]` last, padded with its pad id.

        Args:
            source: a Hugging Face directory (`config.json` with `model_type:
                "bert"`, `model.safetensors` or sharded
                `model.safetensors.index.json`), a KerasHub preset directory,
                a `keras_hub.models.BertBackbone`, or a hub id (downloaded
                only then, which needs a network).
            num_classes: int. Classes of the new head.
            **options: `dropout`, `pooling` (default `"pooler"` when the
                checkpoint has one, else `"mean"`), `output_probabilities`,
                `activation`, `name`, `dtype`, `trainable`. The architecture itself is the
                checkpoint's.

        Raises:
            kerasformers.checkpoints.CheckpointError: missing files, an
                unsupported `model_type`, a missing or misshapen tensor (the
                message names the file and the tensor).

        Example:
        >>> model = TransformerClassifier.from_pretrained("all-MiniLM-L6-v2", num_classes=2)  # doctest: +SKIP
        """
        return load_classifier(cls, source, num_classes, **options)

    def encoder_model(self):
        """The encoder part of this model as a functional model sharing its layers (and weights).

        Returns:
            A `keras.Model` from `{"token_ids"}` to `{"sequence_output":
            (batch, length, model_dim), "pooled_output": (batch, model_dim)}`:
            the encoder's last hidden states (after the final LayerNorm of a
            pre-LN stack) and the pooled vector the head sees (before its
            dropout). Use it for sentence embeddings or to compare with
            another implementation.

        Example:
        >>> model = TransformerClassifier.from_preset("tiny", vocabulary_size=100, num_classes=2, max_length=32)
        >>> outputs = model.encoder_model()({"token_ids": np.array([[5, 6, 7, 0]])})
        >>> tuple(outputs["sequence_output"].shape), tuple(outputs["pooled_output"].shape)
        ((1, 4, 128), (1, 128))
        """
        last = self.get_layer("encoder_final_norm") if self.normalize_first else self.encoder_layers[-1]
        return keras.Model(
            self.inputs,
            {"sequence_output": last.output, "pooled_output": self.get_layer("head_dropout").input},
            name=f"{self.name}_encoder",
        )
