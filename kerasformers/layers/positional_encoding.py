"""Position information for Transformer inputs: sinusoidal, learned and rotary.

* `SinusoidalPositionalEncoding`: the fixed sin/cos encoding of Vaswani et al.
  (2017), section 3.5.
* `LearnedPositionalEmbedding`: a trainable `(max_length, dim)` table (BERT,
  GPT-2).
* `RotaryEmbedding`: RoFormer's rotary position embedding, applied to queries
  and keys.

All three take `start_index` so that cached decoding, which feeds one position
at a time, sees the absolute position of each token.

Angles are computed in float32 with an exact integer reduction of
`position * frequency` modulo one turn (see `_position_angles`), so that the
encoding matches the float64 formula to ~1e-6 also for long sequences, where a
plain float32 product `position * frequency` is off by ~1e-4 at position 2000.
"""

import numbers

import keras
import numpy as np
from keras import ops

from kerasformers.checks import (
    check_positive_int,
    check_positive_real,
    check_rank,
    is_int,
    reject_unknown_kwargs,
)

# `position * frequency` is split into a fixed-point part with this many
# fractional bits, reduced exactly in int32, and a tiny float32 remainder.
_FIXED_POINT_BITS = 15


def _check_positive_number(name, value):
    """Returns `value` as a plain Python number; a ValueError naming it unless it is a finite number > 0."""
    return check_positive_real(name, value)


def _check_start_index(layer_name, start_index):
    """Python ints must be non-negative; tensors are checked by the backend."""
    if isinstance(start_index, numbers.Integral) and not isinstance(start_index, bool) and start_index < 0:
        raise ValueError(f"{layer_name}: `start_index` must be >= 0. Received: start_index={start_index}")


def _check_max_length(layer_name, max_length, length, start_index=0):
    """Raises when a statically known `start_index + length` exceeds `max_length`."""
    if max_length is None or length is None:
        return
    if length > max_length:
        raise ValueError(
            f"{layer_name}: Sequence length {length} exceeds max_length={max_length}. "
            "Use shorter sequences or a layer with a larger `max_length`."
        )
    if isinstance(start_index, numbers.Integral) and start_index + length > max_length:
        raise ValueError(
            f"{layer_name}: start_index={start_index} plus sequence length {length} "
            f"exceeds max_length={max_length}."
        )


def _position_angles(positions, frequencies):
    """`positions[:, None] * frequencies[None, :]` modulo 2*pi, in float32.

    Args:
        positions: int tensor `(length,)` of absolute positions.
        frequencies: float64 NumPy array `(n,)` of angular frequencies
            (radians per position).

    Returns:
        float32 tensor `(length, n)` of angles in `[-pi, pi]`, equal to the
        exact angles modulo 2*pi to ~1e-6 (a plain float32 product loses
        `position * 6e-8` radians).

    In turns, `angle / 2pi = p * t` with `t = f / 2pi`. For an integer `p`,
    only `frac(t)` matters. Write `frac(t) = m / 2**B + r` with an integer `m`
    and `|r| <= 2**-(B+1)`: `frac(p * m / 2**B)` is computed exactly in int32
    and only `p * r` is left to float32.
    """
    scale = 2**_FIXED_POINT_BITS
    turns = np.mod(np.asarray(frequencies, dtype="float64") / (2.0 * np.pi), 1.0)
    fixed = np.round(turns * scale)
    remainder = (turns - fixed / scale).astype("float32")  # (n,)
    fixed = fixed.astype("int32")  # (n,), each <= 2**B
    p = ops.cast(positions, "int32")[:, None]  # (length, 1)
    # (p mod 2**B) * m < 2**(2B) fits in int32 for B = 15.
    exact = ops.mod(ops.mod(p, scale) * fixed[None, :], scale)  # (length, n)
    turns_of_p = ops.cast(exact, "float32") / float(scale) + ops.cast(p, "float32") * remainder
    turns_of_p = turns_of_p - ops.round(turns_of_p)  # in [-0.5, 0.5]
    return turns_of_p * (2.0 * np.pi)


def _positions(length, start_index):
    """int32 `(length,)`: `start_index, ..., start_index + length - 1`."""
    return ops.arange(length, dtype="int32") + ops.cast(start_index, "int32")


@keras.saving.register_keras_serializable(package="kerasformers")
class SinusoidalPositionalEncoding(keras.layers.Layer):
    """Fixed sinusoidal position encoding (Vaswani et al. 2017, section 3.5).

    `PE(pos, 2i) = sin(pos / max_wavelength^(2i/d))` and
    `PE(pos, 2i+1) = cos(pos / max_wavelength^(2i/d))`: even features are
    sines, odd features cosines, interleaved. The layer returns the encoding
    (it does not add it to the input), broadcast to the input's shape and in
    the layer's compute dtype, like `keras_hub.layers.SinePositionEncoding`.
    It has no weights and no maximum length; odd `d` is allowed (the last
    feature is then a sine). A Keras mask on the input is passed through.

    Args:
        max_wavelength: positive number. The longest wavelength of the
            sinusoids (the paper's 10000). Defaults to `10000`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, length, dim)`. Only its shape is used.
        start_index: int or scalar int tensor. Position of the first token,
            for cached decoding. Defaults to `0`.

    Returns:
        The encoding, of shape `(batch, length, dim)`.

    Example:
    >>> pe = SinusoidalPositionalEncoding()
    >>> out = pe(keras.ops.zeros((2, 5, 8)))
    >>> tuple(out.shape)
    (2, 5, 8)
    >>> [round(float(v), 4) for v in keras.ops.convert_to_numpy(out[0, 1, :2])]
    [0.8415, 0.5403]

    References:
        Vaswani et al., "Attention Is All You Need", 2017, section 3.5.
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.max_wavelength = _check_positive_number("max_wavelength", max_wavelength)
        self.supports_masking = True

    def _check_shape(self, shape):
        check_rank(type(self).__name__, "inputs", shape, 3)
        if shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__}: the last dimension of `inputs` must be known. "
                f"Received: inputs.shape={tuple(shape)}"
            )

    def build(self, input_shape):
        self._check_shape(input_shape)

    def call(self, inputs, start_index=0):  # (batch, length, dim)
        self._check_shape(inputs.shape)
        _check_start_index(type(self).__name__, start_index)
        dim = inputs.shape[-1]
        pair = np.arange(dim) // 2  # i of features 2i and 2i + 1
        frequencies = float(self.max_wavelength) ** (-2.0 * pair / dim)  # (dim,)
        angles = _position_angles(_positions(ops.shape(inputs)[1], start_index), frequencies)
        is_sine = np.arange(dim) % 2 == 0
        encoding = ops.where(is_sine[None, :], ops.sin(angles), ops.cos(angles))  # (length, dim)
        encoding = ops.cast(encoding, self.compute_dtype)
        return ops.broadcast_to(encoding[None], ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


@keras.saving.register_keras_serializable(package="kerasformers")
class LearnedPositionalEmbedding(keras.layers.Layer):
    """A trainable position embedding table of shape `(max_length, dim)`.

    Returns rows `start_index ... start_index + length - 1` of the table,
    broadcast to the input's shape (it does not add them to the input). The
    weight is laid out as in `keras_hub.layers.PositionEmbedding(
    sequence_length=max_length)`, so `layer.set_weights(hub.get_weights())`
    copies one. Unlike keras_hub, a sequence longer than `max_length` is an
    error, not silently cut: statically known lengths raise a `ValueError`;
    with dynamic lengths the TensorFlow backend fails at run time in
    `ops.slice` (JAX shapes are always static; a traced `start_index` tensor
    is clamped by `jax.lax.dynamic_slice`). A Keras mask on the input is
    passed through.

    Args:
        max_length: int. Number of positions in the table.
        initializer: initializer for the table. Defaults to
            `"glorot_uniform"`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, length, dim)`. Only its shape is used.
        start_index: int or scalar int tensor. Position of the first token,
            for cached decoding. Defaults to `0`.

    Returns:
        The position embeddings, of shape `(batch, length, dim)`.

    Example:
    >>> pos = LearnedPositionalEmbedding(max_length=10)
    >>> tuple(pos(keras.ops.zeros((2, 4, 16))).shape)
    (2, 4, 16)
    >>> tuple(pos.embeddings.shape)
    (10, 16)

    References:
        Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers
        for Language Understanding", 2019.
    """

    def __init__(self, max_length, initializer="glorot_uniform", **kwargs):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.max_length = check_positive_int("max_length", max_length)
        self.initializer = keras.initializers.get(initializer)
        self.supports_masking = True

    def _check_shape(self, shape, start_index=0):
        name = type(self).__name__
        check_rank(name, "inputs", shape, 3)
        if shape[-1] is None:
            raise ValueError(
                f"{name}: the last dimension of `inputs` must be known. Received: inputs.shape={tuple(shape)}"
            )
        _check_start_index(name, start_index)
        _check_max_length(name, self.max_length, shape[1], start_index)

    def build(self, input_shape):
        self._check_shape(input_shape)
        # Same name and shape as keras_hub.layers.PositionEmbedding.
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.max_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs, start_index=0):  # (batch, length, dim)
        self._check_shape(inputs.shape, start_index)
        length, dim = ops.shape(inputs)[1], inputs.shape[-1]
        table = ops.cast(self.embeddings, self.compute_dtype)  # (max_length, dim)
        rows = ops.slice(table, (start_index, 0), (length, dim))  # (length, dim)
        return ops.broadcast_to(rows[None], ops.shape(inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="kerasformers")
class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embedding (RoPE, Su et al. 2021), applied to its input.

    Feature pairs `(x[j], x[j + d/2])` of the token at position `p` are
    rotated by the angle `p * theta_j / scaling_factor`, with
    `theta_j = max_wavelength^(-2j/d)` (the "rotate-half" layout of GPT-NeoX,
    LLaMA and `keras_hub.layers.RotaryEmbedding`, whose outputs this layer
    reproduces for the same settings). Rotations preserve norms, and the dot
    product of a rotated query at position `m` with a rotated key at position
    `n` depends only on `m - n`. The layer has no weights. A Keras mask on the
    input is passed through.

    Args:
        max_wavelength: positive number. The longest wavelength (RoPE's
            "base" / `rope_theta`). Defaults to `10000`.
        scaling_factor: positive number. Positions are divided by it (linear
            position interpolation, to stretch a model to longer contexts).
            Defaults to `1.0`.
        sequence_axis: int. Axis of the input holding positions. Defaults
            to `1`.
        feature_axis: int. Axis of the input holding features; its size must
            be even. Defaults to `-1`.
        max_length: int or None. If set, sequences (plus `start_index`, when
            known) longer than this raise a `ValueError`. Defaults to None
            (no limit).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, length, dim)` or `(batch, length, heads, head_dim)`
            (with the default axes).
        start_index: int or scalar int tensor. Position of the first token,
            for cached decoding. Defaults to `0`.

    Returns:
        The rotated inputs, same shape, in the layer's compute dtype.

    Example:
    >>> rope = RotaryEmbedding()
    >>> q = keras.ops.ones((2, 6, 4, 8))  # (batch, length, heads, head_dim)
    >>> tuple(rope(q).shape)
    (2, 6, 4, 8)
    >>> float(keras.ops.max(keras.ops.abs(rope(q)[:, 0] - q[:, 0])))  # position 0: no rotation
    0.0

    References:
        Su et al., "RoFormer: Enhanced Transformer with Rotary Position
        Embedding", 2021.
    """

    def __init__(
        self,
        max_wavelength=10000,
        scaling_factor=1.0,
        sequence_axis=1,
        feature_axis=-1,
        max_length=None,
        **kwargs,
    ):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.max_wavelength = _check_positive_number("max_wavelength", max_wavelength)
        self.scaling_factor = _check_positive_number("scaling_factor", scaling_factor)
        for arg, value in (("sequence_axis", sequence_axis), ("feature_axis", feature_axis)):
            if not is_int(value):
                raise ValueError(f"`{arg}` must be an integer. Received: {arg}={value!r}")
        sequence_axis, feature_axis = int(sequence_axis), int(feature_axis)
        if sequence_axis == feature_axis:
            raise ValueError(
                "`sequence_axis` and `feature_axis` must differ. "
                f"Received: sequence_axis={sequence_axis}, feature_axis={feature_axis}"
            )
        self.sequence_axis = sequence_axis
        self.feature_axis = feature_axis
        self.max_length = check_positive_int("max_length", max_length, allow_none=True)
        self.supports_masking = True

    def _axes(self, shape, start_index=0):
        """Validates a static shape; returns the non-negative (sequence, feature) axes."""
        name = type(self).__name__
        if len(shape) not in (3, 4):
            raise ValueError(
                f"{name} expects `inputs` of rank 3 `(batch, length, dim)` or rank 4 "
                f"`(batch, length, heads, head_dim)`, but received shape {tuple(shape)} (rank {len(shape)})."
            )
        rank = len(shape)
        axes = []
        for arg, axis in (("sequence_axis", self.sequence_axis), ("feature_axis", self.feature_axis)):
            if not -rank <= axis < rank:
                raise ValueError(
                    f"{name}: `{arg}={axis}` is out of range for inputs of shape {tuple(shape)}."
                )
            axes.append(axis % rank)
        sequence_axis, feature_axis = axes
        if sequence_axis == feature_axis:
            raise ValueError(
                f"{name}: `sequence_axis` and `feature_axis` name the same axis of inputs of shape "
                f"{tuple(shape)}. Received: sequence_axis={self.sequence_axis}, feature_axis={self.feature_axis}"
            )
        dim = shape[feature_axis]
        if dim is None or dim % 2:
            raise ValueError(
                f"{name}: the feature dimension must be known and even (features are rotated in "
                f"pairs). Received: dim={dim} for inputs of shape {tuple(shape)}"
            )
        _check_start_index(name, start_index)
        _check_max_length(name, self.max_length, shape[sequence_axis], start_index)
        return sequence_axis, feature_axis

    def build(self, input_shape):
        self._axes(input_shape)

    def call(self, inputs, start_index=0):
        sequence_axis, feature_axis = self._axes(inputs.shape, start_index)
        x = ops.cast(inputs, self.compute_dtype)
        moved = (sequence_axis, feature_axis) != (1, x.ndim - 1)
        if moved:
            x = ops.moveaxis(x, (sequence_axis, feature_axis), (1, -1))
        # x: (batch, length, [heads,] dim)
        dim = x.shape[-1]
        frequencies = float(self.max_wavelength) ** (-np.arange(0, dim, 2) / dim) / self.scaling_factor
        angles = _position_angles(_positions(ops.shape(x)[1], start_index), frequencies)  # (length, dim/2)
        angles = ops.concatenate([angles, angles], axis=-1)  # (length, dim)
        angles = ops.reshape(angles, (1, -1) + (1,) * (x.ndim - 3) + (dim,))  # (1, length, [1,] dim)
        cos = ops.cast(ops.cos(angles), self.compute_dtype)
        sin = ops.cast(ops.sin(angles), self.compute_dtype)
        x1, x2 = ops.split(x, 2, axis=-1)
        rotated_half = ops.concatenate([-x2, x1], axis=-1)
        out = x * cos + rotated_half * sin
        if moved:
            out = ops.moveaxis(out, (1, -1), (sequence_axis, feature_axis))
        return out

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "max_wavelength": self.max_wavelength,
            "scaling_factor": self.scaling_factor,
            "sequence_axis": self.sequence_axis,
            "feature_axis": self.feature_axis,
            "max_length": self.max_length,
        }
