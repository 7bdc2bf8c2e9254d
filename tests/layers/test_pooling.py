import helpers
import keras
import numpy as np
import pytest

from kerasformers.layers import MaskedMeanPooling, TokenAndPositionEmbedding

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
