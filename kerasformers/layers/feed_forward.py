"""Position-wise feed-forward network (Vaswani et al. 2017, section 3.3)."""

import keras

from kerasformers.checks import check_positive_int, check_rate, reject_unknown_kwargs
from kerasformers.layers.activations import get_activation


@keras.saving.register_keras_serializable(package="kerasformers")
class FeedForward(keras.layers.Layer):
    """Position-wise feed-forward block: Dense(hidden_dim) → activation → dropout → Dense(model_dim).

    `FFN(x) = max(0, x W1 + b1) W2 + b2`, applied to every position alike.

    Args:
        hidden_dim: int. Width of the inner layer (the paper's d_ff).
        dropout: float in [0, 1). Dropout after the activation. Defaults to `0.0`.
        activation: str or callable. A Keras activation or
            `"gelu_approximate"`. Defaults to `"relu"`.
        output_dim: int or None. Defaults to the input's last dimension.
        use_bias: bool. Defaults to `True`.
        kernel_initializer: initializer of both kernels.
        bias_initializer: initializer of both biases.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, model_dim)` (any rank ≥ 2 works).
        training: bool. Applies dropout when True.

    Returns:
        `(batch, length, output_dim)`.

    Example:
    >>> ff = FeedForward(hidden_dim=2048)
    >>> tuple(ff(keras.ops.ones((2, 10, 512))).shape)
    (2, 10, 512)
    """

    def __init__(
        self,
        hidden_dim,
        dropout=0.0,
        activation="relu",
        output_dim=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.dropout = check_rate("dropout", dropout)
        self.activation = get_activation(activation)
        self.output_dim = check_positive_int("output_dim", output_dim, allow_none=True)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"FeedForward expects inputs of rank >= 2 with a known last dimension. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        common = dict(
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.get(keras.initializers.serialize(self.kernel_initializer)),
            bias_initializer=keras.initializers.get(keras.initializers.serialize(self.bias_initializer)),
            dtype=self.dtype_policy,
        )
        self.inner = keras.layers.Dense(self.hidden_dim, name="inner", **common)
        self.inner.build(input_shape)
        self.outer = keras.layers.Dense(self.output_dim or input_shape[-1], name="outer", **common)
        self.outer.build((*input_shape[:-1], self.hidden_dim))
        self.drop = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="dropout")

    def call(self, inputs, training=None):  # (batch, length, model_dim)
        return self.outer(self.drop(self.activation(self.inner(inputs)), training=training))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim or input_shape[-1])

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_dim": self.hidden_dim,
            "dropout": self.dropout,
            "activation": keras.activations.serialize(self.activation),
            "output_dim": self.output_dim,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }
