"""NumPy numbers (`np.int64(4)`, `np.float32(0.1)`) are accepted by every layer constructor,
and `get_config()` / `.keras` files hold plain Python numbers (JSON has no int64)."""

import json
import os

import keras
import numpy as np
import pytest
from helpers import to_numpy

from kerasformers.checks import check_positive_real, check_rate
from kerasformers.layers import (
    FeedForward,
    LearnedPositionalEmbedding,
    LocalConvolution,
    MultiHeadAttention,
    PatchEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    TokenAndPositionEmbedding,
    TransformerDecoderLayer,
    TransformerEncoderLayer,
)

I64, I32, F32 = np.int64, np.int32, np.float32
SEQUENCE = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
IDS = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], "int32")
IMAGES = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")

# (name, factory with NumPy arguments, the same arguments as Python numbers, sample input)
CASES = [
    ("encoder", lambda: TransformerEncoderLayer(num_heads=I64(4), hidden_dim=I64(32), key_dim=I32(4),
                                                value_dim=I64(4), dropout=F32(0.0), attention_dropout=F32(0.0),
                                                activation_dropout=np.float64(0.0), layer_norm_epsilon=F32(1e-5)),
     dict(num_heads=4, hidden_dim=32, key_dim=4, value_dim=4, dropout=0.0, attention_dropout=0.0,
          activation_dropout=0.0), SEQUENCE),
    ("decoder", lambda: TransformerDecoderLayer(num_heads=I32(2), hidden_dim=I64(8), dropout=F32(0.0)),
     dict(num_heads=2, hidden_dim=8, dropout=0.0), SEQUENCE),
    ("attention", lambda: MultiHeadAttention(num_heads=I32(2), key_dim=I64(8), value_dim=I64(8),
                                             output_dim=I64(16), dropout=F32(0.0)),
     dict(num_heads=2, key_dim=8, value_dim=8, output_dim=16, dropout=0.0), SEQUENCE),
    ("feed_forward", lambda: FeedForward(hidden_dim=I64(8), dropout=F32(0.0), output_dim=I32(16)),
     dict(hidden_dim=8, dropout=0.0, output_dim=16), SEQUENCE),
    ("sinusoidal", lambda: SinusoidalPositionalEncoding(max_wavelength=I64(500)),
     dict(max_wavelength=500), SEQUENCE),
    ("learned", lambda: LearnedPositionalEmbedding(max_length=I64(10)), dict(max_length=10), SEQUENCE),
    ("rotary", lambda: RotaryEmbedding(max_wavelength=I64(10000), scaling_factor=F32(2.0), sequence_axis=I64(1),
                                       feature_axis=I32(-1), max_length=I64(8)),
     dict(max_wavelength=10000, scaling_factor=2.0, sequence_axis=1, feature_axis=-1, max_length=8), SEQUENCE),
    ("token_embedding", lambda: TokenAndPositionEmbedding(vocabulary_size=I64(10), max_length=I32(8),
                                                          embedding_dim=I64(4), max_wavelength=I64(100),
                                                          positional="sinusoidal", mask_zero=True),
     dict(vocabulary_size=10, max_length=8, embedding_dim=4, max_wavelength=100), IDS),
    ("patch_embedding", lambda: PatchEmbedding(patch_size=I64(4), embedding_dim=I32(8)),
     dict(patch_size=4, embedding_dim=8), IMAGES),
    ("local_convolution", lambda: LocalConvolution(kernel_size=I64(3), layer_norm_epsilon=np.float64(1e-6)),
     dict(kernel_size=3, layer_norm_epsilon=1e-6), SEQUENCE),
]
IDS_OF_CASES = [case[0] for case in CASES]


def _plain(value):
    """True when `value` (recursively) holds only JSON-native Python types."""
    if isinstance(value, dict):
        return all(_plain(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return value is None or type(value) in (bool, int, float, str)


@pytest.mark.parametrize("name, factory, plain, sample", CASES, ids=IDS_OF_CASES)
def test_numpy_numbers_are_accepted_and_stored_as_python_numbers(name, factory, plain, sample):
    layer = factory()
    config = layer.get_config()
    for key, value in plain.items():
        assert config[key] == value and type(config[key]) is type(value), (key, config[key], type(config[key]))
    assert _plain(config), config
    json.dumps(config)  # np.int64 would raise "Object of type int64 is not JSON serializable"
    assert type(layer).from_config(config).get_config() == config
    layer(sample)  # and it runs


@pytest.mark.parametrize("name, factory, plain, sample", CASES, ids=IDS_OF_CASES)
def test_numpy_numbers_survive_a_keras_file_round_trip(name, factory, plain, sample, tmp_path):
    inputs = keras.Input(shape=sample.shape[1:], dtype=str(sample.dtype))
    model = keras.Model(inputs, factory()(inputs))
    path = os.path.join(str(tmp_path), f"{name}.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(to_numpy(restored(sample)), to_numpy(model(sample)), rtol=1e-6, atol=1e-6)
    layer = restored.layers[-1]
    for key, value in plain.items():
        assert type(getattr(layer, key)) is type(value), (key, getattr(layer, key))


@pytest.mark.parametrize(
    "build, message",
    [(lambda: TransformerEncoderLayer(num_heads=np.int64(0), hidden_dim=8), "num_heads=np.int64(0)"),
     (lambda: MultiHeadAttention(num_heads=2, key_dim=np.float64(8.0)), "key_dim=np.float64(8.0)"),
     (lambda: RotaryEmbedding(sequence_axis=np.float32(1.0)), "sequence_axis=np.float32(1.0)"),
     (lambda: FeedForward(hidden_dim=8, dropout=np.float32(1.5)), "dropout=np.float32(1.5)"),
     (lambda: SinusoidalPositionalEncoding(max_wavelength=np.float32("nan")), "max_wavelength=np.float32(nan)"),
     (lambda: FeedForward(hidden_dim=np.bool_(True)), "hidden_dim=np.True_")],
    ids=["zero-heads", "float-key-dim", "float-axis", "rate-above-one", "nan-wavelength", "numpy-bool"],
)
def test_bad_numpy_values_still_name_the_value(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        build()


def test_checks_return_plain_python_numbers():
    assert type(check_rate("dropout", np.float32(0.25))) is float
    assert type(check_positive_real("max_wavelength", np.int64(500))) is int
    assert type(check_positive_real("scaling_factor", np.float32(2.0))) is float
