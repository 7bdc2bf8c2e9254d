import helpers
import keras
import numpy as np
import pytest

from kerasformers.layers import FeedForward

SAMPLE = np.random.default_rng(0).normal(size=(4, 5, 8)).astype("float32")


def factory():
    return FeedForward(hidden_dim=16, dropout=0.1, activation="gelu", output_dim=6)


def test_matches_the_formula_in_float64():
    layer = FeedForward(hidden_dim=16)
    out = helpers.to_numpy(layer(SAMPLE))
    w1, b1, w2, b2 = [np.asarray(w, np.float64) for w in layer.get_weights()]
    expected = np.maximum(0.0, SAMPLE.astype(np.float64) @ w1 + b1) @ w2 + b2
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_dropout_only_in_training():
    layer = FeedForward(hidden_dim=64, dropout=0.5)
    a = helpers.to_numpy(layer(SAMPLE))
    np.testing.assert_allclose(helpers.to_numpy(layer(SAMPLE, training=False)), a)
    assert not np.allclose(helpers.to_numpy(layer(SAMPLE, training=True)), a)


def test_generic_checks(tmp_path):
    helpers.check_config_round_trip(factory)
    helpers.check_keras_round_trip(factory, SAMPLE, tmp_path)
    assert tuple(helpers.check_symbolic_shapes(factory, SAMPLE).shape) == (None, None, 6)
    helpers.check_fit_step(factory, SAMPLE)
    helpers.check_fit_step(factory, SAMPLE, jit_compile=True)
    helpers.check_mixed_bfloat16(factory, SAMPLE)


def test_mask_passes_through():
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    out = FeedForward(hidden_dim=16)(x)
    assert out._keras_mask is not None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(hidden_dim=0), "hidden_dim=0"),
        (dict(hidden_dim=8, dropout=-0.1), "dropout=-0.1"),
        (dict(hidden_dim=8, output_dim=0), "output_dim=0"),
        (dict(hidden_dim=8, d_model=3), "unexpected keyword argument `d_model`"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeedForward(**kwargs)


def test_scalar_input_is_rejected():
    with pytest.raises(ValueError, match=r"input_shape=\(4,\)"):
        FeedForward(hidden_dim=8)(np.ones((4,), "float32"))
