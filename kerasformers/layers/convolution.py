"""A residual 1D convolution over the real positions of a sequence: local n-gram features before attention."""

import keras
from keras import ops

from kerasformers.checks import check_positive_int, check_positive_number, check_rank, reject_unknown_kwargs
from kerasformers.layers import masks as masks_lib
from kerasformers.layers.activations import get_activation


@keras.saving.register_keras_serializable(package="kerasformers")
class LocalConvolution(keras.layers.Layer):
    """Pre-LN residual convolution: `x + activation(Conv1D(LayerNorm(x)))` over real positions only.

    Each position mixes with its `kernel_size - 1` neighbours ("same"
    padding), the n-gram features of convolutional text classifiers (Kim,
    2014) in front of a Transformer's attention. Padding positions are zeroed
    before the convolution, so they never leak into a real position, and in
    the output; the mask passes through to the next layer.

    Args:
        kernel_size: int. Positions each output sees (odd keeps it centred).
        activation: str or callable. A Keras activation or
            `"gelu_approximate"`. Defaults to `"gelu"`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        kernel_initializer: initializer of the convolution's kernel.
        bias_initializer: initializer of the convolution's bias.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, dim)`.
        padding_mask: boolean `(batch, length)`, True at real positions.
            Defaults to the Keras mask of `inputs`; without either, every
            position is real.

    Returns:
        `(batch, length, dim)`, zeros at padding positions.

    Example:
    >>> conv = LocalConvolution(kernel_size=3)
    >>> tuple(conv(keras.ops.ones((2, 10, 64))).shape)
    (2, 10, 64)
    """

    def __init__(
        self,
        kernel_size,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.activation = get_activation(activation)
        self.layer_norm_epsilon = check_positive_number("layer_norm_epsilon", layer_norm_epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        check_rank(type(self).__name__, "inputs", inputs_shape, 3)
        if inputs_shape[-1] is None:
            raise ValueError(
                f"LocalConvolution needs a known last dimension. Received: inputs_shape={tuple(inputs_shape)}"
            )
        self.norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name="norm"
        )
        self.norm.build(inputs_shape)
        self.conv = keras.layers.Conv1D(
            inputs_shape[-1],
            self.kernel_size,
            padding="same",
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            bias_initializer=keras.initializers.get(keras.initializers.serialize(self.bias_initializer)),
            dtype=self.dtype_policy,
            name="conv",
        )
        self.conv.build(inputs_shape)

    def call(self, inputs, padding_mask=None):  # (batch, length, dim)
        if padding_mask is None:
            padding_mask = masks_lib.get_keras_mask(inputs)
        if padding_mask is None:
            return inputs + self.activation(self.conv(self.norm(inputs)))
        masks_lib.check_mask_shape("padding_mask", padding_mask, (None, inputs.shape[1]), type(self).__name__)
        real = ops.cast(padding_mask, inputs.dtype)[:, :, None]  # (batch, length, 1)
        return (inputs + self.activation(self.conv(self.norm(inputs) * real))) * real

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
