"""Vision Transformer (Dosovitskiy et al. 2021)."""

import keras

from kerasformers.layers import LearnedPositionalEmbedding, PatchEmbedding
from kerasformers.checks import check_positive_int, check_rate
from kerasformers.models._common import block_kwargs, check_model_kwargs, encoder_stack, float32_logits
from kerasformers.models.presets import VISION_PRESETS, TaskModel


@keras.saving.register_keras_serializable(package="kerasformers")
class VisionTransformer(TaskModel, keras.Model):
    """ViT: image patches + class token + learned positions → pre-LN encoder → class logits.

    Input `images` `(batch, image_size, image_size, num_channels)` floats
    (scale them yourself, e.g. to [0, 1]); output float32 logits
    `(batch, num_classes)` read from the class token's final state.

    Args:
        image_size: int. Height and width; divisible by `patch_size`.
        patch_size: int.
        num_classes: int.
        num_channels: int. Defaults to 3.
        num_layers, model_dim, num_heads, hidden_dim: ints.
        dropout: float.
        activation: feed-forward activation. Defaults to `"gelu"`.
        layer_norm_epsilon: float. Defaults to `1e-6` (as in the paper's code).
        **kwargs: `name`, `trainable`, `dtype` of `keras.Model`.

    Example:
    >>> vit = VisionTransformer.from_preset("tiny", image_size=8, patch_size=2, num_classes=10, num_channels=1)
    >>> vit.predict({"images": np.zeros((2, 8, 8, 1))}, verbose=0).shape
    (2, 10)
    """

    presets = VISION_PRESETS

    def __init__(
        self,
        image_size,
        patch_size,
        num_classes,
        num_channels=3,
        num_layers=4,
        model_dim=64,
        num_heads=4,
        hidden_dim=128,
        dropout=0.1,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        **kwargs,
    ):
        check_model_kwargs(type(self), kwargs)
        for name, value in (("image_size", image_size), ("patch_size", patch_size),
                            ("num_classes", num_classes), ("num_channels", num_channels)):
            check_positive_int(name, value)
        if image_size % patch_size:
            raise ValueError(
                f"`image_size` must be divisible by `patch_size`. Received: image_size={image_size}, patch_size={patch_size}"
            )
        dropout = check_rate("dropout", dropout)
        blocks = block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, True, layer_norm_epsilon)
        num_patches = (image_size // patch_size) ** 2

        # === Functional graph ===
        images = keras.Input(shape=(image_size, image_size, num_channels), name="images")
        patches = PatchEmbedding(patch_size, model_dim, name="patch_embedding")(images)  # (batch, 1 + patches, d)
        positions = LearnedPositionalEmbedding(num_patches + 1, name="position_embedding")(patches)
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(keras.layers.Add()([patches, positions]))
        x, encoder_layers, _ = encoder_stack(x, num_layers, **blocks)
        logits = float32_logits(keras.layers.Dense(num_classes, name="head")(x[:, 0, :]))
        super().__init__(inputs={"images": images}, outputs=logits, **kwargs)

        self._set_config(
            image_size=image_size,
            patch_size=patch_size,
            num_classes=num_classes,
            num_channels=num_channels,
            num_layers=num_layers,
            model_dim=model_dim,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            dropout=dropout,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
        )
        self.encoder_layers = encoder_layers
