"""Tests for SinusoidalPositionalEncoding, LearnedPositionalEmbedding and RotaryEmbedding."""

import re

import helpers
import keras
import keras_hub
import numpy as np
import pytest
from helpers import to_numpy
from keras import ops

from kerasformers.layers.positional_encoding import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)

RNG = np.random.default_rng(1234)


def paper_encoding(length, dim, start=0, max_wavelength=10000.0):
    """Vaswani et al. 3.5 in float64: PE(pos, 2i) = sin(pos / w^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    pos = np.arange(start, start + length, dtype="float64")
    pe = np.zeros((length, dim), dtype="float64")
    for i in range((dim + 1) // 2):
        denominator = float(max_wavelength) ** (2.0 * i / dim)
        pe[:, 2 * i] = np.sin(pos / denominator)
        if 2 * i + 1 < dim:
            pe[:, 2 * i + 1] = np.cos(pos / denominator)
    return pe


def roformer_reference(x, start=0, max_wavelength=10000.0, scaling_factor=1.0):
    """float64 rotary embedding, rotate-half layout: pair (j, j + d/2) rotated by p * theta_j / s."""
    x = np.asarray(x, dtype="float64")  # (batch, length, [heads,] dim)
    half = x.shape[-1] // 2
    theta = float(max_wavelength) ** (-2.0 * np.arange(half) / x.shape[-1]) / scaling_factor
    angle = np.arange(start, start + x.shape[1], dtype="float64")[:, None] * theta  # (length, half)
    angle = angle.reshape((1, x.shape[1]) + (1,) * (x.ndim - 3) + (half,))
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * np.cos(angle) - b * np.sin(angle), b * np.cos(angle) + a * np.sin(angle)], axis=-1)


def bfloat16_output(factory, sample, **call_kwargs):
    """Calls a fresh layer under `mixed_bfloat16` (for weightless layers, instead of check_mixed_bfloat16)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = factory()
        out = layer(sample, **call_kwargs)
    finally:
        keras.config.set_dtype_policy(previous)
    assert layer.compute_dtype == "bfloat16"
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    return out


def compiled(fn):
    """`fn` compiled by the backend (XLA), so that `start_index` arrives as a traced tensor."""
    if helpers.BACKEND == "jax":
        import jax

        return jax.jit(fn)
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


def check_trains_through(factory, sample, add_input):
    """A weightless layer inside `Dense -> layer` passes gradients: a jit-compiled fit step moves Dense."""
    inputs = keras.Input(shape=(None, *sample.shape[2:]))
    x = keras.layers.Dense(sample.shape[-1], name="dense")(inputs)
    y = factory()(x)
    model = keras.Model(inputs, x + y if add_input else y)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=True)
    before = [to_numpy(w) for w in model.trainable_weights]
    target = RNG.normal(size=sample.shape).astype("float32")
    history = model.fit(sample, target, epochs=1, batch_size=len(sample), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in model.trainable_weights]
    assert all(not np.allclose(b, a) for b, a in zip(before, after))


# =============================================================== sinusoidal
class TestSinusoidalPositionalEncoding:
    sample = RNG.normal(size=(2, 6, 8)).astype("float32")

    @pytest.mark.parametrize(
        "length, dim, max_wavelength",
        [(1, 4, 10000), (2, 5, 10000), (17, 6, 10000), (2000, 7, 10000), (2000, 64, 10000), (40, 10, 100.0)],
    )
    def test_matches_paper_formula_in_float64(self, length, dim, max_wavelength):
        out = SinusoidalPositionalEncoding(max_wavelength=max_wavelength)(np.zeros((2, length, dim), "float32"))
        assert tuple(out.shape) == (2, length, dim)
        expected = paper_encoding(length, dim, max_wavelength=max_wavelength)
        np.testing.assert_allclose(to_numpy(out)[0], expected, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(to_numpy(out)[1], to_numpy(out)[0])

    @pytest.mark.parametrize("length, dim, atol", [(1, 4, 1e-6), (33, 7, 1e-5), (33, 16, 1e-5), (2000, 64, 2e-4)])
    def test_matches_keras_hub(self, length, dim, atol):
        # keras_hub multiplies position * frequency in plain float32: its own error against the
        # float64 formula reaches ~7e-5 at position 2000, hence the looser tolerance there.
        x = np.zeros((2, length, dim), "float32")
        ours = to_numpy(SinusoidalPositionalEncoding()(x))
        theirs = to_numpy(keras_hub.layers.SinePositionEncoding()(x))
        np.testing.assert_allclose(ours, theirs, atol=atol, rtol=0)

    def test_output_does_not_depend_on_input_values(self):
        layer = SinusoidalPositionalEncoding()
        np.testing.assert_array_equal(to_numpy(layer(self.sample)), to_numpy(layer(np.zeros_like(self.sample))))

    @pytest.mark.parametrize("as_tensor", [False, True])
    def test_start_index_equals_slice_of_longer_encoding(self, as_tensor):
        layer = SinusoidalPositionalEncoding()
        start = ops.convert_to_tensor(7, "int32") if as_tensor else 7
        shifted = to_numpy(layer(np.zeros((1, 5, 6), "float32"), start_index=start))
        longer = to_numpy(layer(np.zeros((1, 12, 6), "float32")))
        np.testing.assert_allclose(shifted, longer[:, 7:12], atol=1e-6)
        np.testing.assert_allclose(shifted[0], paper_encoding(5, 6, start=7), atol=1e-5)
        assert not np.allclose(shifted, longer[:, :5])

    def test_long_start_index_is_accurate(self):
        out = SinusoidalPositionalEncoding()(np.zeros((1, 3, 16), "float32"), start_index=50_000)
        np.testing.assert_allclose(to_numpy(out)[0], paper_encoding(3, 16, start=50_000), atol=1e-5)

    def test_mask_passes_through_to_downstream_layer(self):
        ids = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 0]], "int32")
        inputs = keras.Input((None,), dtype="int32")
        encoding = SinusoidalPositionalEncoding()(keras.layers.Embedding(10, 6, mask_zero=True)(inputs))
        pooled = keras.layers.GlobalAveragePooling1D()(encoding)
        out = to_numpy(keras.Model(inputs, pooled)(ids))
        pe = paper_encoding(5, 6)
        np.testing.assert_allclose(out[0], pe[:2].mean(0), atol=1e-5)
        np.testing.assert_allclose(out[1], pe[:4].mean(0), atol=1e-5)

    def test_mixed_bfloat16_output(self):
        out = bfloat16_output(SinusoidalPositionalEncoding, self.sample)
        np.testing.assert_allclose(to_numpy(out)[0], paper_encoding(6, 8), atol=1e-2)

    def test_gradients_flow_in_jit_compiled_fit(self):
        check_trains_through(SinusoidalPositionalEncoding, self.sample, add_input=True)

    def test_config_round_trip(self):
        clone = helpers.check_config_round_trip(lambda: SinusoidalPositionalEncoding(max_wavelength=500))
        assert clone.max_wavelength == 500

    def test_keras_round_trip(self, tmp_path):
        helpers.check_keras_round_trip(lambda: SinusoidalPositionalEncoding(max_wavelength=300), self.sample, tmp_path)

    def test_symbolic_shapes(self):
        helpers.check_symbolic_shapes(SinusoidalPositionalEncoding, self.sample)

    @pytest.mark.parametrize("value", [-1, 0, "big", None])
    def test_rejects_bad_max_wavelength(self, value):
        with pytest.raises(ValueError, match=re.escape(f"max_wavelength={value!r}")):
            SinusoidalPositionalEncoding(max_wavelength=value)

    @pytest.mark.parametrize("shape", [(2, 8), (2, 3, 4, 8)])
    def test_rejects_wrong_rank(self, shape):
        with pytest.raises(ValueError, match=re.escape(str(shape))):
            SinusoidalPositionalEncoding()(np.zeros(shape, "float32"))

    def test_rejects_negative_start_index(self):
        with pytest.raises(ValueError, match="start_index=-1"):
            SinusoidalPositionalEncoding()(self.sample, start_index=-1)

    def test_rejects_unknown_kwarg(self):
        with pytest.raises(ValueError, match="max_wavelenght"):
            SinusoidalPositionalEncoding(max_wavelenght=5)

    def test_docstring_example(self):
        pe = SinusoidalPositionalEncoding()
        out = pe(keras.ops.zeros((2, 5, 8)))
        assert tuple(out.shape) == (2, 5, 8)
        assert [round(float(v), 4) for v in keras.ops.convert_to_numpy(out[0, 1, :2])] == [0.8415, 0.5403]


# ================================================================== learned
class TestLearnedPositionalEmbedding:
    sample = RNG.normal(size=(2, 6, 4)).astype("float32")

    def test_matches_keras_hub_with_copied_weights(self):
        x = np.zeros((2, 7, 5), "float32")
        theirs = keras_hub.layers.PositionEmbedding(sequence_length=10)
        ours = LearnedPositionalEmbedding(max_length=10)
        expected = to_numpy(theirs(x))
        ours.build(x.shape)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()] == [(10, 5)]
        ours.set_weights(theirs.get_weights())
        np.testing.assert_array_equal(to_numpy(ours(x)), expected)
        np.testing.assert_array_equal(
            to_numpy(ours(x[:, :4], start_index=3)), to_numpy(theirs(x[:, :4], start_index=3))
        )

    @pytest.mark.parametrize("as_tensor", [False, True])
    def test_start_index_selects_table_rows(self, as_tensor):
        layer = LearnedPositionalEmbedding(max_length=10)
        layer.build((None, None, 4))
        table = to_numpy(layer.embeddings)
        start = ops.convert_to_tensor(3, "int32") if as_tensor else 3
        out = to_numpy(layer(np.zeros((2, 4, 4), "float32"), start_index=start))
        np.testing.assert_array_equal(out[0], table[3:7])
        np.testing.assert_array_equal(out[1], table[3:7])
        np.testing.assert_array_equal(to_numpy(layer(self.sample))[1], table[:6])

    def test_too_long_sequence_names_both_lengths(self):
        layer = LearnedPositionalEmbedding(max_length=10)
        with pytest.raises(ValueError, match=r"Sequence length 12 exceeds max_length=10"):
            layer(np.zeros((2, 12, 4), "float32"))
        layer(np.zeros((2, 10, 4), "float32"))  # exactly max_length is fine
        with pytest.raises(ValueError, match=r"Sequence length 12 exceeds max_length=10"):
            layer(np.zeros((2, 12, 4), "float32"))  # also once built

    def test_symbolic_too_long_sequence_fails_in_build(self):
        with pytest.raises(ValueError, match=r"Sequence length 11 exceeds max_length=10"):
            LearnedPositionalEmbedding(max_length=10)(keras.Input((11, 4)))

    def test_start_index_past_the_table_names_both(self):
        with pytest.raises(ValueError, match=r"start_index=8 plus sequence length 4 exceeds max_length=10"):
            LearnedPositionalEmbedding(max_length=10)(np.zeros((1, 4, 4), "float32"), start_index=8)

    @pytest.mark.skipif(helpers.BACKEND != "tensorflow", reason="dynamic shapes exist only in TF graphs")
    def test_dynamic_too_long_sequence_fails_at_run_time(self):
        import tensorflow as tf

        layer = LearnedPositionalEmbedding(max_length=10)
        layer.build((None, None, 4))
        fn = tf.function(layer.__call__, input_signature=[tf.TensorSpec((None, None, 4), tf.float32)])
        assert fn(tf.zeros((1, 10, 4))).shape == (1, 10, 4)
        with pytest.raises(tf.errors.InvalidArgumentError):
            fn(tf.zeros((1, 12, 4)))

    def test_config_round_trip(self):
        clone = helpers.check_config_round_trip(
            lambda: LearnedPositionalEmbedding(max_length=7, initializer=keras.initializers.RandomNormal(stddev=0.5))
        )
        assert clone.max_length == 7
        assert isinstance(clone.initializer, keras.initializers.RandomNormal)
        assert clone.initializer.stddev == 0.5

    def test_keras_round_trip(self, tmp_path):
        helpers.check_keras_round_trip(lambda: LearnedPositionalEmbedding(max_length=8), self.sample, tmp_path)

    def test_symbolic_shapes(self):
        helpers.check_symbolic_shapes(lambda: LearnedPositionalEmbedding(max_length=8), self.sample)

    @pytest.mark.parametrize("jit_compile", [False, True])
    def test_fit_step(self, jit_compile):
        helpers.check_fit_step(lambda: LearnedPositionalEmbedding(max_length=8), self.sample, jit_compile=jit_compile)

    def test_mixed_bfloat16(self):
        helpers.check_mixed_bfloat16(lambda: LearnedPositionalEmbedding(max_length=8), self.sample)

    def test_mask_passes_through(self):
        ids = np.array([[3, 4, 0], [1, 2, 3]], "int32")
        inputs = keras.Input((None,), dtype="int32")
        positions = LearnedPositionalEmbedding(max_length=5, name="pos")
        pooled = keras.layers.GlobalAveragePooling1D()(positions(keras.layers.Embedding(10, 4, mask_zero=True)(inputs)))
        out = to_numpy(keras.Model(inputs, pooled)(ids))
        table = to_numpy(positions.embeddings)
        np.testing.assert_allclose(out, np.stack([table[:2].mean(0), table[:3].mean(0)]), atol=1e-6)

    @pytest.mark.parametrize("value", [0, -3, None, 2.5, True])
    def test_rejects_bad_max_length(self, value):
        with pytest.raises(ValueError, match=re.escape(f"max_length={value!r}")):
            LearnedPositionalEmbedding(max_length=value)

    def test_keras_hub_argument_name_gets_a_hint(self):
        with pytest.raises(ValueError, match="sequence_length=10.*max_length"):
            LearnedPositionalEmbedding(max_length=10, sequence_length=10)

    @pytest.mark.parametrize("shape", [(2, 4), (2, 3, 4, 5)])
    def test_rejects_wrong_rank(self, shape):
        with pytest.raises(ValueError, match=re.escape(str(shape))):
            LearnedPositionalEmbedding(max_length=10)(np.zeros(shape, "float32"))

    def test_docstring_example(self):
        pos = LearnedPositionalEmbedding(max_length=10)
        assert tuple(pos(keras.ops.zeros((2, 4, 16))).shape) == (2, 4, 16)
        assert tuple(pos.embeddings.shape) == (10, 16)


# =================================================================== rotary
class TestRotaryEmbedding:
    sample = RNG.normal(size=(2, 6, 8)).astype("float32")
    sample4 = RNG.normal(size=(2, 5, 3, 4)).astype("float32")

    @pytest.mark.parametrize("rank", [3, 4])
    @pytest.mark.parametrize(
        "settings", [{}, {"max_wavelength": 500, "scaling_factor": 2.5}], ids=["default", "custom"]
    )
    @pytest.mark.parametrize("start_index", [0, 3])
    def test_matches_keras_hub(self, rank, settings, start_index):
        x = self.sample if rank == 3 else self.sample4
        ours = to_numpy(RotaryEmbedding(**settings)(x, start_index=start_index))
        theirs = to_numpy(keras_hub.layers.RotaryEmbedding(**settings)(x, start_index=start_index))
        assert ours.shape == x.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5, rtol=0)
        assert not np.allclose(ours[:, 1:], x[:, 1:], atol=1e-3)  # it does rotate

    @pytest.mark.parametrize("start_index", [0, 5000])
    def test_matches_float64_reference(self, start_index):
        x = self.sample4
        out = RotaryEmbedding(max_wavelength=500, scaling_factor=0.5)(x, start_index=start_index)
        expected = roformer_reference(x, start=start_index, max_wavelength=500, scaling_factor=0.5)
        np.testing.assert_allclose(to_numpy(out), expected, atol=1e-5, rtol=0)

    def test_custom_axes_match_transposed_default(self):
        x = self.sample4  # (batch, length, heads, dim)
        default = to_numpy(RotaryEmbedding()(x, start_index=2))
        heads_first = np.transpose(x, (0, 2, 1, 3))  # (batch, heads, length, dim)
        out = to_numpy(RotaryEmbedding(sequence_axis=2)(heads_first, start_index=2))
        np.testing.assert_allclose(np.transpose(out, (0, 2, 1, 3)), default, atol=1e-6)
        features_second = np.transpose(x, (0, 3, 1, 2))  # (batch, dim, length, heads)
        out = to_numpy(RotaryEmbedding(sequence_axis=2, feature_axis=1)(features_second, start_index=2))
        np.testing.assert_allclose(np.transpose(out, (0, 2, 3, 1)), default, atol=1e-6)

    def test_preserves_the_norm_of_each_rotated_pair(self):
        x = self.sample
        out = to_numpy(RotaryEmbedding()(x, start_index=11))
        half = x.shape[-1] // 2
        pair_norms_in = np.hypot(x[..., :half], x[..., half:])
        pair_norms_out = np.hypot(out[..., :half], out[..., half:])
        np.testing.assert_allclose(pair_norms_out, pair_norms_in, rtol=1e-5, atol=1e-6)
        assert not np.allclose(out, x)

    def test_dot_product_depends_only_on_relative_position(self):
        rope = RotaryEmbedding()
        q = RNG.normal(size=(1, 1, 8)).astype("float32")
        k = RNG.normal(size=(1, 1, 8)).astype("float32")

        def score(m, n):
            return float(np.sum(to_numpy(rope(q, start_index=m)) * to_numpy(rope(k, start_index=n))))

        for offset in (0, 2, 7):
            scores = [score(n + offset, n) for n in (0, 5, 40, 1000)]
            np.testing.assert_allclose(scores, scores[0], atol=1e-4)
        assert abs(score(2, 0) - score(7, 0)) > 1e-2  # but it does depend on m - n

    def test_max_length_error_names_both_lengths(self):
        layer = RotaryEmbedding(max_length=8)
        layer(np.zeros((1, 8, 4), "float32"))
        with pytest.raises(ValueError, match=r"Sequence length 9 exceeds max_length=8"):
            layer(np.zeros((1, 9, 4), "float32"))
        with pytest.raises(ValueError, match=r"start_index=5 plus sequence length 4 exceeds max_length=8"):
            layer(np.zeros((1, 4, 4), "float32"), start_index=5)
        # Without max_length, any length works.
        assert tuple(RotaryEmbedding()(np.zeros((1, 9, 4), "float32")).shape) == (1, 9, 4)

    @pytest.mark.parametrize("shape", [(2, 6, 7), (2, 6, 3, 5)])
    def test_odd_feature_dim_is_rejected(self, shape):
        with pytest.raises(ValueError, match=rf"even.*dim={shape[-1]}"):
            RotaryEmbedding()(np.zeros(shape, "float32"))

    @pytest.mark.parametrize("shape", [(2, 8), (2, 3, 4, 5, 8)])
    def test_rejects_wrong_rank(self, shape):
        with pytest.raises(ValueError, match=re.escape(str(shape))):
            RotaryEmbedding()(np.zeros(shape, "float32"))

    def test_mixed_bfloat16_output(self):
        out = bfloat16_output(RotaryEmbedding, self.sample)
        np.testing.assert_allclose(to_numpy(out), roformer_reference(self.sample), atol=5e-2)

    def test_gradients_flow_in_jit_compiled_fit(self):
        check_trains_through(RotaryEmbedding, self.sample, add_input=False)

    def test_config_round_trip(self):
        clone = helpers.check_config_round_trip(
            lambda: RotaryEmbedding(max_wavelength=500, scaling_factor=2.0, sequence_axis=2, feature_axis=3, max_length=64)
        )
        assert (clone.max_wavelength, clone.scaling_factor, clone.sequence_axis, clone.feature_axis, clone.max_length) == (
            500, 2.0, 2, 3, 64,
        )

    @pytest.mark.parametrize("rank", [3, 4])
    def test_keras_round_trip(self, rank, tmp_path):
        x = self.sample if rank == 3 else self.sample4
        helpers.check_keras_round_trip(lambda: RotaryEmbedding(max_wavelength=100, scaling_factor=2.0), x, tmp_path)

    @pytest.mark.parametrize("rank", [3, 4])
    def test_symbolic_shapes(self, rank):
        helpers.check_symbolic_shapes(RotaryEmbedding, self.sample if rank == 3 else self.sample4)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"max_wavelength": -1}, "max_wavelength=-1"),
            ({"max_wavelength": 0}, "max_wavelength=0"),
            ({"scaling_factor": 0}, "scaling_factor=0"),
            ({"scaling_factor": -2.0}, "scaling_factor=-2.0"),
            ({"max_length": 0}, "max_length=0"),
            ({"max_length": 3.5}, "max_length=3.5"),
            ({"sequence_axis": -1}, "sequence_axis=-1, feature_axis=-1"),
            ({"sequence_axis": 1.0}, "sequence_axis=1.0"),
            ({"feature_axis": "last"}, "feature_axis='last'"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=re.escape(message)):
            RotaryEmbedding(**kwargs)

    def test_rejects_axes_naming_the_same_axis(self):
        with pytest.raises(ValueError, match=re.escape("sequence_axis=2, feature_axis=-1")):
            RotaryEmbedding(sequence_axis=2)(np.zeros((2, 4, 6), "float32"))
        with pytest.raises(ValueError, match=re.escape("`sequence_axis=5` is out of range")):
            RotaryEmbedding(sequence_axis=5)(np.zeros((2, 4, 6), "float32"))

    def test_docstring_example(self):
        rope = RotaryEmbedding()
        q = keras.ops.ones((2, 6, 4, 8))  # (batch, length, heads, head_dim)
        assert tuple(rope(q).shape) == (2, 6, 4, 8)
        assert float(keras.ops.max(keras.ops.abs(rope(q)[:, 0] - q[:, 0]))) == 0.0


# ============================================================ all three
@pytest.mark.parametrize(
    "factory, shape",
    [
        (SinusoidalPositionalEncoding, (1, 3, 6)),
        (lambda: LearnedPositionalEmbedding(max_length=10), (1, 3, 6)),
        (RotaryEmbedding, (1, 3, 2, 6)),
    ],
    ids=["sinusoidal", "learned", "rotary"],
)
def test_traced_start_index_in_compiled_function_equals_python_int(factory, shape):
    layer = factory()
    x = RNG.normal(size=shape).astype("float32")
    expected = to_numpy(layer(x, start_index=4))
    step = compiled(lambda inputs, index: layer(inputs, start_index=index))
    actual = to_numpy(step(ops.convert_to_tensor(x), ops.convert_to_tensor(4, "int32")))
    np.testing.assert_allclose(actual, expected, atol=1e-6)
    assert not np.allclose(to_numpy(step(ops.convert_to_tensor(x), ops.convert_to_tensor(0, "int32"))), expected)
