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
    """`num_layers` encoder layers (+ a final LayerNorm for pre-LN stacks) run on `x`. Returns (outputs, layers, norm)."""
    layers, norm = encoder_layer_stack(num_layers, prefix, **kwargs)
    for layer in layers:
        x = layer(x)
    return (norm(x) if norm else x), layers, norm


def encoder_layer_stack(num_layers, prefix="encoder", **kwargs):
    """`num_layers` encoder layers (built on their first call) and the final LayerNorm of pre-LN stacks, or None."""
    layers = [TransformerEncoderLayer(name=f"{prefix}_layer_{i}", **kwargs) for i in range(check_positive_int("num_layers", num_layers))]
    return layers, final_norm(kwargs, f"{prefix}_final_norm")


def decoder_stack(num_layers, prefix="decoder", **kwargs):
    """`num_layers` decoder layers (built on their first call) and the final LayerNorm of pre-LN stacks, or None.

    `run_decoder` runs the layers, `logits_head` applies the norm.
    """
    layers = [TransformerDecoderLayer(name=f"{prefix}_layer_{i}", **kwargs) for i in range(check_positive_int("num_layers", num_layers))]
    return layers, final_norm(kwargs, f"{prefix}_final_norm")


def run_decoder(layers, x, encoder_outputs=None, caches=None, index=None, cross_caches=None, return_attention=False,
                **call_kwargs):
    """The decoder forward pass: `x` through every layer of `layers`, with optional key/value caches.

    The one layer loop of the decoder stacks: the functional graphs (Keras
    masks, no caches), `decode`, `call_with_cache` and `cross_attention` of
    the models all run it.

    Args:
        layers: `TransformerDecoderLayer`s, in order.
        x: `(batch, length, model_dim)`, the embedded target tokens.
        encoder_outputs: `(batch, source_length, model_dim)`, or None
            (decoder-only model, or `cross_caches` given).
        caches: None, or one self-attention `(key_cache, value_cache)` per
            layer; `x[:, 0]` is then at cache position `index`.
        index: int or scalar int tensor, with `caches`.
        cross_caches: None, or one cross-attention `(keys, values)` per layer.
        return_attention: bool. Also return every layer's attention scores.
        **call_kwargs: for every layer: `decoder_padding_mask`,
            `decoder_attention_mask`, `encoder_padding_mask`, `training`.

    Returns:
        `(outputs, caches, scores)`: `outputs` `(batch, length, model_dim)`
        before the final norm; the updated caches (None without `caches`);
        one dict of attention scores per layer (None without
        `return_attention`).
    """
    new_caches, scores = [], []
    for i, layer in enumerate(layers):
        kwargs = dict(call_kwargs, return_attention=bool(return_attention))
        if caches is not None:
            kwargs.update(self_attention_cache=caches[i], self_attention_cache_update_index=index)
        if cross_caches is not None:
            kwargs.update(cross_attention_cache=cross_caches[i])
        args = (x,) if encoder_outputs is None else (x, encoder_outputs)
        result = layer(*args, **kwargs)  # outputs [, scores] [, cache]
        x, *extra = result if isinstance(result, tuple) else (result,)
        if return_attention:
            scores.append(extra.pop(0))
        if caches is not None:
            new_caches.append(extra.pop(0))
    return x, (tuple(new_caches) if caches is not None else None), (scores if return_attention else None)


def logits_head(hidden, norm, embedding, projection, to_float32):
    """The output head: final norm (pre-LN) → projection → float32 logits.

    `projection` None ties the projection to the token `embedding` (its
    transposed table, `embedding(hidden, reverse=True)`); `to_float32` is the
    model's `float32_layer()`. Used by the functional graph and by the models'
    `logits` method alike.
    """
    if norm is not None:
        hidden = norm(hidden)
    logits = embedding(hidden, reverse=True) if projection is None else projection(hidden)
    return to_float32(logits)


def final_norm(kwargs, name):
    """Pre-LN stacks end with a LayerNorm (GPT-2, ViT); post-LN stacks already end normalized."""
    if not kwargs["normalize_first"]:
        return None
    return keras.layers.LayerNormalization(epsilon=kwargs["layer_norm_epsilon"], name=name)


def float32_layer(name="logits"):
    """A layer that casts to float32, so that losses and softmax stay exact under mixed precision."""
    return keras.layers.Activation("linear", dtype="float32", name=name)


def float32_logits(x, name="logits"):
    """`x` cast to float32 by a new `float32_layer(name)`."""
    return float32_layer(name)(x)

