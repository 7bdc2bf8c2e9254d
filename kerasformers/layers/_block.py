"""What the encoder and decoder layers share: arguments, sublayers, residual wiring."""

import keras

from kerasformers.layers.activations import get_activation
from keras.src.ops.operation import Operation

from kerasformers.checks import (
    check_positive_int,
    check_positive_number,
    check_rank,
    check_rate,
    reject_unknown_kwargs,
)
from kerasformers.layers.activations import get_activation
from kerasformers.layers.attention import MultiHeadAttention
from kerasformers.layers.feed_forward import FeedForward


class TransformerBlock(keras.layers.Layer):
    """Base of `TransformerEncoderLayer` and `TransformerDecoderLayer` (not public)."""

    def __init__(
        self,
        num_heads=None,
        hidden_dim=None,
        key_dim=None,
        value_dim=None,
        dropout=0.0,
        attention_dropout=None,
        activation_dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        use_bias=True,
        return_attention=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.hidden_dim = check_positive_int("hidden_dim", hidden_dim)
        self.key_dim = check_positive_int("key_dim", key_dim, allow_none=True)
        self.value_dim = check_positive_int("value_dim", value_dim, allow_none=True)
        self.dropout = check_rate("dropout", dropout)
        self.attention_dropout = None if attention_dropout is None else check_rate("attention_dropout", attention_dropout)
        self.activation_dropout = check_rate("activation_dropout", activation_dropout)
        self.activation = get_activation(activation)
        self.layer_norm_epsilon = check_positive_number("layer_norm_epsilon", layer_norm_epsilon)
        self.normalize_first = bool(normalize_first)
        self.use_bias = bool(use_bias)
        self.return_attention = bool(return_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    # -- sublayer factories (each built explicitly in `build`) --
    def _initializer(self, initializer):
        return keras.initializers.get(keras.initializers.serialize(initializer))  # a fresh clone

    def _check_input(self, arg_name, shape):
        check_rank(type(self).__name__, arg_name, shape, 3)
        if shape[-1] is None:
            raise ValueError(f"{type(self).__name__}: the last dimension of `{arg_name}` must be known. Received shape {tuple(shape)}")
        if self.key_dim is None and shape[-1] % self.num_heads:
            raise ValueError(
                f"{type(self).__name__}: the model dimension must be divisible by `num_heads` when "
                f"`key_dim` is not given. Received: model_dim={shape[-1]}, num_heads={self.num_heads}"
            )

    def _make_attention(self, name, query_shape, value_shape=None):
        layer = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            dropout=self.dropout if self.attention_dropout is None else self.attention_dropout,
            use_bias=self.use_bias,
            output_dim=query_shape[-1],
            kernel_initializer=self._initializer(self.kernel_initializer),
            bias_initializer=self._initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name=name,
        )
        layer.build(query_shape, value_shape)
        return layer

    def _make_norm(self, name, shape):
        layer = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)
        layer.build(shape)
        return layer

    def _make_dropout(self, name):
        return keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name=name)

    def _make_feed_forward(self, shape):
        layer = FeedForward(
            hidden_dim=self.hidden_dim,
            dropout=self.activation_dropout,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=self._initializer(self.kernel_initializer),
            bias_initializer=self._initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feed_forward",
        )
        layer.build(shape)
        return layer

    def _residual(self, x, sublayer, norm, dropout, training):
        """`x + dropout(sublayer(norm(x)))` (pre-LN) or `norm(x + dropout(sublayer(x)))` (post-LN).

        `sublayer` returns the new activations, or a tuple of them and anything
        else (scores, cache), which is handed back as a list.
        """
        y = sublayer(norm(x) if self.normalize_first else x)
        y, *extra = y if isinstance(y, tuple) else (y,)
        x = x + dropout(y, training=training)
        return (x if self.normalize_first else norm(x)), extra

    def compute_output_shape(self, inputs_shape, *args, **kwargs):
        return inputs_shape

    def compute_output_spec(self, *args, **kwargs):
        # Trace `call`: the output structure depends on `return_attention` and caches.
        return Operation.compute_output_spec(self, *args, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation_dropout": self.activation_dropout,
            "activation": keras.activations.serialize(self.activation),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "normalize_first": self.normalize_first,
            "use_bias": self.use_bias,
            "return_attention": self.return_attention,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


BLOCK_ARGS_DOC = """
        num_heads: int. Number of attention heads.
        hidden_dim: int. Width of the feed-forward inner layer (the paper's
            d_ff, keras_hub's `intermediate_dim`).
        key_dim: int or None. Size of each attention head for queries and
            keys. Defaults to `model_dim // num_heads`.
        value_dim: int or None. Size of each head for values. Defaults to
            `key_dim`.
        dropout: float in [0, 1). Dropout on each sub-layer's output before the
            residual addition (the paper's P_drop). Defaults to `0.0`.
        attention_dropout: float or None. Dropout on the attention
            probabilities. Defaults to `dropout` (as in keras_hub).
        activation_dropout: float. Dropout after the feed-forward activation.
            Defaults to `0.0`.
        activation: str or callable. Feed-forward activation: any Keras
            activation (`"gelu"` is the exact erf form, as in BERT) or
            `"gelu_approximate"` (tanh form, as in GPT-2). Defaults to
            `"relu"`.
        layer_norm_epsilon: float. Defaults to `1e-5`.
        normalize_first: bool. Pre-LN (`x + f(LN(x))`, stabler for deep
            stacks) when True; post-LN as in the paper (`LN(x + f(x))`) when
            False (default).
        use_bias: bool. Biases in all projections. Defaults to `True`.
        return_attention: bool. When True the layer returns
            `(outputs, attention_scores)` instead of `outputs`.
        kernel_initializer: initializer of all kernels.
        bias_initializer: initializer of all biases.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).
"""
