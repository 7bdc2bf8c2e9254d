import helpers
import keras
import numpy as np
import pytest

from kerasformers.layers import LocalConvolution, TokenAndPositionEmbedding, TransformerEncoderLayer

X = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], bool)


def reference(layer, x, mask):
    """Keras' own LayerNormalization and Conv1D with the layer's weights, composed in NumPy."""
    norm = keras.layers.LayerNormalization(epsilon=layer.layer_norm_epsilon)
    conv = keras.layers.Conv1D(x.shape[-1], layer.kernel_size, padding="same", activation="gelu")
    norm.build(x.shape)
    conv.build(x.shape)
    norm.set_weights(layer.norm.get_weights())
    conv.set_weights(layer.conv.get_weights())
    real = mask[:, :, None].astype("float32")
    return (x + helpers.to_numpy(conv(helpers.to_numpy(norm(x)) * real))) * real


def test_matches_keras_layers_and_padding_never_reaches_a_real_position():
    layer = LocalConvolution(kernel_size=3)
    out = helpers.to_numpy(layer(X, padding_mask=MASK))
    np.testing.assert_allclose(out, reference(layer, X, MASK), atol=1e-5)
    noisy = X.copy()
    noisy[~MASK] = 50.0  # whatever padding holds
    np.testing.assert_allclose(helpers.to_numpy(layer(noisy, padding_mask=MASK)), out, atol=1e-5)
    assert not np.any(out[~MASK])
    no_mask = helpers.to_numpy(layer(X))
    np.testing.assert_allclose(no_mask, reference(layer, X, np.ones(MASK.shape, bool)), atol=1e-5)


def test_reads_keras_masks_and_passes_them_on():
    ids = np.array([[4, 5, 6, 0, 0], [6, 7, 8, 9, 3]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, 8, 4, mask_zero=True)(inputs)
    convolved = LocalConvolution(3)(x)
    encoded = TransformerEncoderLayer(num_heads=2, hidden_dim=8)(convolved)  # sees the mask only if passed on
    model = keras.Model(inputs, encoded)
    short = model.predict(ids[:1, :3], verbose=0)
    np.testing.assert_allclose(model.predict(ids, verbose=0)[0, :3], short[0], atol=1e-5)
    assert LocalConvolution(3).compute_mask(X, MASK) is MASK


def test_generic_checks(tmp_path):
    def factory():
        return LocalConvolution(kernel_size=5, activation="relu", layer_norm_epsilon=1e-6)

    clone = helpers.check_config_round_trip(factory)
    assert (clone.kernel_size, clone.layer_norm_epsilon) == (5, 1e-6)
    helpers.check_keras_round_trip(factory, X, tmp_path)
    assert tuple(helpers.check_symbolic_shapes(factory, X).shape) == (None, None, 4)
    helpers.check_fit_step(factory, X, jit_compile=True)
    layer, out = helpers.check_mixed_bfloat16(factory, X, {"padding_mask": MASK})
    assert not np.any(helpers.to_numpy(out)[~MASK])


def test_bad_input():
    with pytest.raises(ValueError, match="kernel_size=0"):
        LocalConvolution(kernel_size=0)
    with pytest.raises(ValueError, match=r"rank 3.*\(3, 6\)"):
        LocalConvolution(3)(X[:, :, 0])
    with pytest.raises(ValueError, match=r"padding_mask.shape=\(3, 4\)"):
        LocalConvolution(3)(X, padding_mask=MASK[:, :4])
    with pytest.raises(ValueError, match="kernal_initializer.*kernel_initializer"):
        LocalConvolution(3, kernal_initializer="zeros")
