"""Image patches to tokens, with a class token (Dosovitskiy et al. 2021)."""

import keras
from keras import ops

from kerasformers.checks import check_positive_int, check_rank, reject_unknown_kwargs


@keras.saving.register_keras_serializable(package="kerasformers")
class PatchEmbedding(keras.layers.Layer):
    """Cuts images into non-overlapping patches and projects each to a vector.

    A `Conv2D` with kernel size and stride `patch_size` is exactly a linear
    projection of each flattened patch. With `class_token=True` a learned
    `[CLS]` vector is prepended, whose final state classifies the image.

    Args:
        patch_size: int. Side of the square patches; must divide the image size.
        embedding_dim: int. Size of each patch vector.
        class_token: bool. Prepend a learned class token. Defaults to `True`.
        kernel_initializer: initializer of the projection.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        images: `(batch, height, width, channels)`.

    Returns:
        `(batch, class_token + (height // patch_size) * (width // patch_size), embedding_dim)`.

    Example:
    >>> layer = PatchEmbedding(patch_size=4, embedding_dim=32)
    >>> tuple(layer(keras.ops.ones((2, 28, 28, 1))).shape)
    (2, 50, 32)

    References:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", ICLR 2021.
    """

    def __init__(self, patch_size, embedding_dim, class_token=True, kernel_initializer="glorot_uniform", **kwargs):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.patch_size = check_positive_int("patch_size", patch_size)
        self.embedding_dim = check_positive_int("embedding_dim", embedding_dim)
        self.class_token = bool(class_token)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _num_patches(self, shape):
        height, width = shape[1], shape[2]
        for name, size in (("height", height), ("width", width)):
            if size is not None and size % self.patch_size:
                raise ValueError(
                    f"PatchEmbedding: image {name} must be divisible by patch_size={self.patch_size}. "
                    f"Received: images.shape={tuple(shape)}"
                )
        if height is None or width is None:
            return None
        return (height // self.patch_size) * (width // self.patch_size)

    def build(self, images_shape):
        check_rank("PatchEmbedding", "images", images_shape, 4)
        self._num_patches(images_shape)
        self.projection = keras.layers.Conv2D(
            self.embedding_dim,
            self.patch_size,
            strides=self.patch_size,
            padding="valid",
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            dtype=self.dtype_policy,
            name="projection",
        )
        self.projection.build(images_shape)
        if self.class_token:
            self.class_embedding = self.add_weight(
                name="class_embedding", shape=(1, 1, self.embedding_dim), initializer="zeros"
            )

    def call(self, images):  # (batch, height, width, channels)
        patches = self.projection(images)  # (batch, height / p, width / p, embedding_dim)
        batch = ops.shape(patches)[0]
        patches = ops.reshape(patches, (batch, -1, self.embedding_dim))  # (batch, patches, embedding_dim)
        if not self.class_token:
            return patches
        cls = ops.broadcast_to(ops.cast(self.class_embedding, patches.dtype), (batch, 1, self.embedding_dim))
        return ops.concatenate([cls, patches], axis=1)

    def compute_output_shape(self, images_shape):
        patches = self._num_patches(images_shape)
        length = None if patches is None else patches + int(self.class_token)
        return (images_shape[0], length, self.embedding_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "patch_size": self.patch_size,
            "embedding_dim": self.embedding_dim,
            "class_token": self.class_token,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
