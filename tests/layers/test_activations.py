"""gelu_approximate: GPT-2's tanh GELU, by name in every layer that takes an activation."""

import doctest
import math

import keras
import numpy as np
import pytest
from helpers import to_numpy

from kerasformers.layers import FeedForward, TransformerDecoderLayer, TransformerEncoderLayer, activations, gelu_approximate


def test_equals_the_tanh_formula_and_differs_from_exact_gelu():
    x = np.linspace(-4, 4, 41)
    expected = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(to_numpy(gelu_approximate(keras.ops.convert_to_tensor(x, "float32"))), expected, atol=1e-6)
    exact = to_numpy(keras.activations.gelu(keras.ops.convert_to_tensor(x, "float32")))
    assert np.abs(exact - expected).max() > 1e-4  # "gelu" is the other (erf) form


@pytest.mark.parametrize("name", ["gelu_approximate", "kerasformers>gelu_approximate", gelu_approximate])
@pytest.mark.parametrize("cls", [TransformerEncoderLayer, TransformerDecoderLayer])
def test_blocks_take_it_by_name_and_keep_it_through_config(cls, name):
    layer = cls(num_heads=2, hidden_dim=8, activation=name)
    assert layer.activation is gelu_approximate
    assert cls.from_config(layer.get_config()).activation is gelu_approximate


def test_feed_forward_keras_round_trip(tmp_path):
    inputs = keras.Input((3, 4))
    model = keras.Model(inputs, FeedForward(hidden_dim=8, activation="gelu_approximate")(inputs))
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_unknown_activation_names_the_value():
    with pytest.raises(ValueError, match="gelu_fancy"):
        TransformerEncoderLayer(num_heads=2, hidden_dim=8, activation="gelu_fancy")


def test_docstring_example_runs():
    assert doctest.testmod(activations, optionflags=doctest.ELLIPSIS).failed == 0
