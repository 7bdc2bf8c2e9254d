"""Pieces every task model uses."""

import keras

from kerasformers.layers import TransformerDecoderLayer, TransformerEncoderLayer
from kerasformers.checks import check_positive_int, reject_unknown_kwargs

MODEL_KWARGS = ("name", "trainable", "dtype")


def check_model_kwargs(cls, kwargs):
    """Functional models take `name`, `trainable` and `dtype` only; anything else is a typo."""
    unknown = {k: v for k, v in kwargs.items() if k not in MODEL_KWARGS}
    if unknown:
        reject_unknown_kwargs(cls, unknown)


def block_kwargs(model_dim, num_heads, hidden_dim, dropout, activation, normalize_first, layer_norm_epsilon):
    for name, value in (("model_dim", model_dim), ("num_heads", num_heads), ("hidden_dim", hidden_dim)):
        check_positive_int(name, value)
    if model_dim % num_heads:
        raise ValueError(
            f"`model_dim` must be divisible by `num_heads`. Received: model_dim={model_dim}, num_heads={num_heads}"
        )
    return dict(
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        dropout=dropout,
        activation=activation,
        normalize_first=normalize_first,
        layer_norm_epsilon=layer_norm_epsilon,
    )


def encoder_stack(x, num_layers, prefix="encoder", **kwargs):
    """`num_layers` encoder layers (+ a final LayerNorm for pre-LN stacks). Returns (outputs, layers, norm)."""
    layers = [TransformerEncoderLayer(name=f"{prefix}_layer_{i}", **kwargs) for i in range(check_positive_int("num_layers", num_layers))]
    for layer in layers:
        x = layer(x)
    norm = final_norm(kwargs, f"{prefix}_final_norm")
    return (norm(x) if norm else x), layers, norm


def decoder_stack(x, num_layers, encoder_outputs=None, prefix="decoder", **kwargs):
    """`num_layers` decoder layers (+ a final LayerNorm for pre-LN stacks). Returns (outputs, layers, norm)."""
    layers = [TransformerDecoderLayer(name=f"{prefix}_layer_{i}", **kwargs) for i in range(check_positive_int("num_layers", num_layers))]
    for layer in layers:
        x = layer(x) if encoder_outputs is None else layer(x, encoder_outputs)
    norm = final_norm(kwargs, f"{prefix}_final_norm")
    return (norm(x) if norm else x), layers, norm


def final_norm(kwargs, name):
    """Pre-LN stacks end with a LayerNorm (GPT-2, ViT); post-LN stacks already end normalized."""
    if not kwargs["normalize_first"]:
        return None
    return keras.layers.LayerNormalization(epsilon=kwargs["layer_norm_epsilon"], name=name)


def float32_logits(x, name="logits"):
    """Casts to float32 so that losses and softmax stay exact under mixed precision."""
    return keras.layers.Activation("linear", dtype="float32", name=name)(x)


def check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value
