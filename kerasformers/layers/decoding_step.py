"""One-token decoding steps with the weights read once: fewer ops per generated token.

A cached decoding step runs one token per row through every decoder layer.
Through the layers' `call` that token is a `(batch, 1, model_dim)` sequence:
every projection is a rank-3 `tensordot` (shape ops, gathers, reshapes around
one matmul), every variable is read again, every mask is rebuilt. Inside a
graph `while` loop without XLA (TF Serving's default) each of those small ops
costs its dispatch at every step, and they, not the arithmetic, set the time
per token of a small model.

`DecoderStep` is the same computation for one token as a `(batch,
model_dim)` matrix, written in `keras.ops`: the kernels are read, cast,
reshaped and concatenated once, when the step is made (outside the loop), and
each layer runs a handful of 2-D matmuls. Its caches hold keys and values as
`(batch, heads, length, head_dim)` (`step_cache` converts a layer's cache
once). Without XLA, three kinds of kernel cost tens of microseconds each on
tensors this small, several times the rest of a step at batch 1: XLA-only ops
(`ops.slice_update` is TensorFlow's `XlaDynamicUpdateSlice`, which a graph
without XLA runs through XLA's on-demand launch at every call), and oneDNN's
batched matmul and softmax. So the step writes its key and value with one
`ops.scatter_update` per cache, computes the softmax from `exp` and sums, and
while the cache is small (`PRODUCTS_MAX_ELEMENTS`) attends with elementwise
products and sums (for one query, scores and weighted values are
matrix-vector products); above it, with batched matmuls, whose fixed cost is
then smaller than the products' temporaries.

The step equals `TransformerDecoderLayer.call` with a cache (dropout off) to
float32 rounding; `decoder_step_supported` says when it applies: float32
compute, no quantized kernel, Keras' `LayerNormalization` on the last axis.
Otherwise callers keep the layers' `call`.
"""

import keras
from keras import ops

NEG = -1e9  # masked scores, as in MultiHeadAttention
# Attention by elementwise products while the cache holds fewer elements than this (batch * heads * length *
# head_dim), by batched matmuls from there: products avoid the batched-matmul kernel's fixed cost (tens of microseconds
# without XLA), matmuls the products' temporaries. Measured in docs/benchmarks.md ("The fused step").
PRODUCTS_MAX_ELEMENTS = 1 << 17


def read(variable):
    """The variable's value now, as a tensor (TensorFlow reads a variable where it is used: in a loop, at
    every step, one op each; this reads it once, where the step is made)."""
    return ops.copy(ops.convert_to_tensor(variable))


def _quantized(layer):
    return getattr(layer, "quantization_mode", None) is not None


def layer_norm_supported(norm):
    """True when `norm` is a float32 Keras `LayerNormalization` over the last axis only."""
    if not isinstance(norm, keras.layers.LayerNormalization):
        return False
    axis = norm.axis if isinstance(norm.axis, (list, tuple)) else [norm.axis]
    # Our blocks' norms see (batch, length, model_dim): the last axis is -1 or, once resolved by `build`, 2.
    return (
        len(axis) == 1
        and axis[0] in (-1, 2)
        and not getattr(norm, "rms_scaling", False)
        and norm.compute_dtype == "float32"
    )


def decoder_step_supported(layer):
    """True when `DecoderStep(layer)` computes what `layer` does (float32, not quantized, standard norms).

    Args:
        layer: a built `TransformerDecoderLayer`.
    """
    attentions = [layer.self_attention] + ([layer.cross_attention] if layer.cross_attention is not None else [])
    dense = [d for a in attentions for d in (a.query_dense, a.key_dense, a.value_dense, a.output_dense)]
    dense += [layer.feed_forward.inner, layer.feed_forward.outer]
    norms = [layer.self_attention_norm, layer.feed_forward_norm]
    norms += [layer.cross_attention_norm] if layer.cross_attention is not None else []
    return (
        layer.compute_dtype == "float32"
        and not any(_quantized(d) for d in dense)
        and all(layer_norm_supported(n) for n in norms)
    )


class LayerNormStep:
    """Keras' `LayerNormalization` over the last axis, with its weights read once."""

    def __init__(self, norm):
        self.epsilon = norm.epsilon
        self.gamma = read(norm.gamma) if norm.scale else None
        self.beta = read(norm.beta) if norm.center else None

    def __call__(self, x):
        mean, variance = ops.moments(x, axes=[-1], keepdims=True)
        scale = ops.rsqrt(variance + self.epsilon)
        if self.gamma is not None:
            scale = scale * self.gamma
        x = (x - mean) * scale
        return x if self.beta is None else x + self.beta


def _dense(layer, input_axes=1):
    """A Dense/EinsumDense's kernel as a `(inputs, outputs)` matrix and its flat bias (or None), read once.

    `input_axes`: how many leading kernel axes are contracted with the input
    (2 for the attention output's `(heads, head_dim, model_dim)`).
    """
    kernel = ops.convert_to_tensor(layer.kernel)  # includes a LoRA update when enabled
    inputs = 1
    for dim in kernel.shape[:input_axes]:
        inputs *= dim
    bias = getattr(layer, "bias", None)
    return ops.reshape(kernel, (inputs, -1)), (None if bias is None else ops.reshape(read(bias), (-1,)))


def _affine(x, kernel, bias):
    y = ops.matmul(x, kernel)
    return y if bias is None else y + bias


class DecoderStep:
    """One decoder layer for one token per row, with the weights read when the step is made.

    Make it where its tensors may be captured (e.g. in the traced function,
    before a decoding loop): the kernels are read and prepared then, not at
    every step.

    Args:
        layer: a built `TransformerDecoderLayer` with
            `decoder_step_supported(layer)`.

    Call arguments:
        x: float32 `(batch, model_dim)`, the token's input to the layer.
        cache: `(keys, values)`, both `(batch, heads, max_length,
            head_dim)` (see `step_cache`).
        index: int32 scalar, the token's position: its key and value are
            written there.
        mask: boolean, broadcastable to `(batch, 1, 1, max_length)`: the
            cached positions the token attends to (the causal rule
            `positions <= index`, and any padding rule).
        query_visible: None, or float `(batch, 1)`: 0 for a row whose token
            is padding (its attention outputs are zero, as the layer's query
            mask makes them).
        cross: None, or `(keys, values, source_mask, source_visible)`: the
            cross-attention cache in the layout above (see `step_cache`),
            the boolean source mask `(batch, 1, 1, source_length)` and float
            `(batch, 1)`: 0 for a row without any source token (its
            cross-attention outputs are zero, as in the layer).
        write_at: None, or `write_positions(batch, index, heads)`: pass it
            to share one across the layers of a step; made from `index`
            when None.

    Returns:
        `(outputs, cache)`: `(batch, model_dim)` and the updated cache.

    Example:
    >>> from kerasformers.layers import TransformerDecoderLayer
    >>> layer = TransformerDecoderLayer(num_heads=2, hidden_dim=32)
    >>> _ = layer(keras.ops.zeros((1, 4, 16)))
    >>> step = DecoderStep(layer)
    >>> cache = step_cache(layer.self_attention.init_cache(1, 4))
    >>> out, cache = step(keras.ops.ones((1, 16)), cache, 0, mask=keras.ops.arange(4) <= 0)
    >>> tuple(out.shape), tuple(cache[0].shape), tuple(cache[1].shape)
    ((1, 16), (1, 2, 4, 8), (1, 2, 4, 8))
    """

    def __init__(self, layer):
        if not decoder_step_supported(layer):
            raise ValueError(
                "DecoderStep needs a float32, non-quantized TransformerDecoderLayer with LayerNormalization "
                f"norms (see decoder_step_supported). Received: {layer.name} with dtype policy "
                f"{layer.dtype_policy.name}"
            )
        attention = layer.self_attention
        self.normalize_first = layer.normalize_first
        self.activation = layer.activation
        self.heads = attention.num_heads
        self.key_dim, self.value_dim = attention._key_head_dim, attention._value_head_dim
        self.scale = attention._scale
        kernels, biases = zip(*(_dense(d) for d in (attention.query_dense, attention.key_dense, attention.value_dense)))
        self.qkv = ops.concatenate(kernels, axis=-1)  # (model_dim, heads * (2 key_dim + value_dim))
        self.qkv_bias = None if biases[0] is None else ops.concatenate(biases, axis=-1)
        self.output = _dense(attention.output_dense, input_axes=2)  # (heads * value_dim, model_dim)
        self.self_norm = LayerNormStep(layer.self_attention_norm)
        self.cross = None
        if layer.cross_attention is not None:
            cross = layer.cross_attention
            self.cross = (_dense(cross.query_dense), _dense(cross.output_dense, input_axes=2), cross._scale,
                          cross._key_head_dim)
            self.cross_norm = LayerNormStep(layer.cross_attention_norm)
        self.inner = _dense(layer.feed_forward.inner)
        self.outer = _dense(layer.feed_forward.outer)
        self.feed_forward_norm = LayerNormStep(layer.feed_forward_norm)

    def _residual(self, x, sublayer, norm):
        if self.normalize_first:
            return x + sublayer(norm(x))
        return norm(x + sublayer(x))

    def _attend(self, q, keys, values, mask, query_visible, output, scale):
        """q `(batch, heads, 1, key_dim)`, keys `(batch, heads, length, key_dim)`, values `(batch, heads, length, dim)`."""
        heads, length, dim = values.shape[1:]

        def softmax(scores):  # (batch, heads, 1, length); explicit: no softmax kernel
            scores = ops.where(mask, scores * scale, NEG)
            scores = ops.exp(scores - ops.max(scores, axis=-1, keepdims=True))
            return scores / ops.sum(scores, axis=-1, keepdims=True)

        def by_products():  # elementwise products and sums: no batched-matmul kernel
            weights = softmax(ops.reshape(ops.sum(q * keys, axis=-1), (-1, heads, 1, length)))
            return ops.sum(ops.reshape(weights, (-1, heads, length, 1)) * values, axis=2)  # (batch, heads, dim)

        def by_matmuls():  # batched matmuls: no (batch, heads, length, dim) temporaries
            weights = softmax(ops.einsum("bhqd,bhld->bhql", q, keys))
            return ops.reshape(ops.matmul(weights, values), (-1, heads, dim))

        row = heads * length * max(dim, q.shape[-1])  # elements of one row's keys or values
        if q.shape[0] is not None:  # a static batch: decided when traced
            out = by_products() if q.shape[0] * row < PRODUCTS_MAX_ELEMENTS else by_matmuls()
        else:  # decided at every step, by a conditional whose branches run only when taken
            out = ops.cond(ops.shape(q)[0] * row < PRODUCTS_MAX_ELEMENTS, by_products, by_matmuls)
        out = ops.reshape(out, (-1, heads * dim))
        if query_visible is not None:
            out = out * query_visible
        return _affine(out, *output)

    def __call__(self, x, cache, index, mask, query_visible=None, cross=None, write_at=None):
        heads, kd, vd = self.heads, self.key_dim, self.value_dim
        keys, values = cache
        if write_at is None:
            write_at = write_positions(ops.shape(x)[0], index, heads)

        def self_attend(x):
            y = _affine(x, self.qkv, self.qkv_bias)  # (batch, heads * (2 kd + vd))
            q, k, v = ops.split(y, [heads * kd, 2 * heads * kd], axis=-1)
            nonlocal keys, values
            keys = ops.scatter_update(keys, write_at, ops.reshape(k, (-1, kd)))  # (batch * heads, kd) at write_at
            values = ops.scatter_update(values, write_at, ops.reshape(v, (-1, vd)))
            q = ops.reshape(q, (-1, heads, 1, kd))
            return self._attend(q, keys, values, mask, query_visible, self.output, self.scale)

        x = self._residual(x, self_attend, self.self_norm)
        if self.cross is not None:
            (query, output, scale, cross_kd) = self.cross
            cross_keys, cross_values, source_mask, source_visible = cross
            visible = source_visible if query_visible is None else source_visible * query_visible

            def cross_attend(x):
                q = ops.reshape(_affine(x, *query), (-1, heads, 1, cross_kd))
                return self._attend(q, cross_keys, cross_values, source_mask, visible, output, scale)

            x = self._residual(x, cross_attend, self.cross_norm)

        def feed_forward(x):
            return _affine(self.activation(_affine(x, *self.inner)), *self.outer)

        return self._residual(x, feed_forward, self.feed_forward_norm), (keys, values)


def write_positions(batch, index, heads=None):
    """`ops.scatter_update` indices that write position `index` of every row (and head), in a cache or buffer.

    Args:
        batch: int or scalar tensor, the rows.
        index: int or int scalar tensor, the position.
        heads: None for a `(batch, length, ...)` tensor: int32 `(batch, 2)`
            `[row, index]` pairs. An int for a `(batch, heads, length, ...)`
            cache: int32 `(batch * heads, 3)` `[row, head, index]` triples.

    Example:
    >>> keras.ops.convert_to_numpy(write_positions(2, 5)).tolist()
    [[0, 5], [1, 5]]
    >>> keras.ops.convert_to_numpy(write_positions(2, 5, heads=1)).tolist()
    [[0, 0, 5], [1, 0, 5]]
    """
    rows = ops.arange(batch, dtype="int32")
    if heads is None:
        return ops.stack([rows, ops.full_like(rows, ops.cast(index, "int32"))], axis=1)
    rows = ops.reshape(ops.broadcast_to(rows[:, None], (batch, heads)), (-1,))
    columns = ops.reshape(ops.broadcast_to(ops.arange(heads, dtype="int32")[None, :], (batch, heads)), (-1,))
    return ops.stack([rows, columns, ops.full_like(rows, ops.cast(index, "int32"))], axis=-1)


def step_cache(cache):
    """A layer's `(keys, values)` cache, both `(batch, length, heads, dim)`, in `DecoderStep`'s layout.

    Returns:
        keys and values, both `(batch, heads, length, dim)`: one token's key
        and value are a `(batch, heads, dim)` scatter, and its scores and
        weighted values need no transpose per step.
    """
    keys, values = cache
    return ops.transpose(keys, (0, 2, 1, 3)), ops.transpose(values, (0, 2, 1, 3))
