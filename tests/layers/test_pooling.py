import helpers
import keras
import numpy as np
import pytest

from kerasformers.layers import MaskedMaxPooling, MaskedMeanPooling, TokenAndPositionEmbedding

X = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]], bool)


def test_matches_a_float64_masked_mean_and_never_nan():
    out = helpers.to_numpy(MaskedMeanPooling()(X, padding_mask=MASK))
    expected = np.stack([X[0, :3].mean(0), X[1].mean(0), np.zeros(4)])
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(helpers.to_numpy(MaskedMeanPooling()(X)), X.mean(1), atol=1e-6)


def test_matches_keras_global_average_pooling_with_keras_masks():
    ids = np.array([[4, 5, 0, 0], [6, 7, 8, 9]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, 8, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, [MaskedMeanPooling()(x), keras.layers.GlobalAveragePooling1D()(x)])
    ours, theirs = model.predict(ids, verbose=0)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_generic_checks(tmp_path):
    factory = MaskedMeanPooling
    helpers.check_config_round_trip(factory)
    helpers.check_keras_round_trip(factory, X, tmp_path)
    assert tuple(helpers.check_symbolic_shapes(factory, X).shape) == (None, 4)
    helpers.check_fit_step(lambda: keras.Sequential([keras.layers.Dense(4), MaskedMeanPooling()]), X, jit_compile=True)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        out = MaskedMeanPooling()(X, padding_mask=MASK)
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"


def test_bad_input():
    with pytest.raises(ValueError, match=r"rank 3.*\(3, 5\)"):
        MaskedMeanPooling()(X[:, :, 0])
    with pytest.raises(ValueError, match=r"padding_mask.shape=\(3, 4\)"):
        MaskedMeanPooling()(X, padding_mask=MASK[:, :4])


def test_max_matches_a_masked_numpy_maximum_where_padding_would_win():
    x = -np.abs(X) - 1.0  # every real value negative: a zero or a small value at padding must not win
    x[0, 3:] = 100.0  # padding holding the largest values: they must not win either
    out = helpers.to_numpy(MaskedMaxPooling()(x, padding_mask=MASK))
    np.testing.assert_allclose(out, np.stack([x[0, :3].max(0), x[1].max(0), np.zeros(4)]), atol=1e-6)
    np.testing.assert_allclose(helpers.to_numpy(MaskedMaxPooling()(x)), x.max(1), atol=1e-6)


def test_max_reads_keras_masks_and_gradients_stay_finite():
    ids = np.array([[4, 5, 0, 0], [6, 7, 8, 9], [0, 0, 0, 0]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, 8, 4, mask_zero=True)(inputs)
    model = keras.Model(inputs, [MaskedMaxPooling()(x), x])
    pooled, states = model.predict(ids, verbose=0)
    expected = np.stack([states[0, :2].max(0), states[1].max(0), np.zeros(4)])
    np.testing.assert_allclose(pooled, expected, atol=1e-6)
    helpers.check_fit_step(lambda: keras.Sequential([keras.layers.Dense(4), MaskedMaxPooling()]), X, jit_compile=True)
    trainable = keras.Sequential([TokenAndPositionEmbedding(10, 8, 4, mask_zero=True), MaskedMaxPooling()])
    trainable.compile(keras.optimizers.SGD(0.1), "mse")
    trainable.fit(ids, np.ones((3, 4), "float32"), verbose=0)  # the all-padding row included
    assert all(np.all(np.isfinite(helpers.to_numpy(w))) for w in trainable.weights)


def test_max_generic_checks(tmp_path):
    factory = MaskedMaxPooling
    helpers.check_config_round_trip(factory)
    helpers.check_keras_round_trip(factory, X, tmp_path)
    assert tuple(helpers.check_symbolic_shapes(factory, X).shape) == (None, 4)
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        out = MaskedMaxPooling()(X, padding_mask=MASK)
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_allclose(helpers.to_numpy(out)[2], np.zeros(4))


def test_max_bad_input():
    with pytest.raises(ValueError, match=r"rank 3.*\(3, 5\)"):
        MaskedMaxPooling()(X[:, :, 0])
    with pytest.raises(ValueError, match=r"padding_mask.shape=\(3, 4\)"):
        MaskedMaxPooling()(X, padding_mask=MASK[:, :4])
    with pytest.raises(ValueError, match="window"):
        MaskedMaxPooling(window=2)
