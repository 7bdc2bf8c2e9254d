import helpers
import keras
import keras_hub
import numpy as np
import pytest

from kerasformers.layers import TransformerEncoderLayer
from kerasformers.layers.interop import copy_weights_from_keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(2, 6, 16)).astype("float32")
PADDING = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], bool)
ATTENTION = RNG.random((2, 6, 6)) > 0.3


def pair(normalize_first, activation="relu"):
    reference = keras_hub.layers.TransformerEncoder(
        intermediate_dim=32, num_heads=4, normalize_first=normalize_first, activation=activation
    )
    ours = TransformerEncoderLayer(num_heads=4, hidden_dim=32, normalize_first=normalize_first, activation=activation)
    reference(X)
    ours(X)
    copy_weights_from_keras(reference, ours)
    return reference, ours


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("mask", ["none", "padding", "attention", "both"])
def test_matches_keras_hub_transformer_encoder(normalize_first, mask):
    reference, ours = pair(normalize_first, activation="gelu")
    kwargs = {}
    if mask in ("padding", "both"):
        kwargs["padding_mask"] = PADDING
    if mask in ("attention", "both"):
        kwargs["attention_mask"] = ATTENTION
    expected = helpers.to_numpy(reference(X, **kwargs))
    actual = helpers.to_numpy(ours(X, **kwargs))
    assert not np.allclose(expected, 0)
    # Outputs at padding positions are don't-care: compare every real token.
    np.testing.assert_allclose(actual[PADDING], expected[PADDING], atol=1e-5)
    if mask in ("none", "attention"):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_keras_mask_from_embedding_is_used_and_propagated():
    tokens = np.array([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 16, mask_zero=True)(inputs)
    encoded = TransformerEncoderLayer(num_heads=2, hidden_dim=32)(embedded)
    assert encoded._keras_mask is not None
    pooled = keras.layers.GlobalAveragePooling1D()(encoded)  # mask-aware mean
    model = keras.Model(inputs, [encoded, pooled])
    out, mean = model.predict(tokens, verbose=0)
    real = tokens != 0
    expected = np.stack([out[i][real[i]].mean(0) for i in range(2)])
    np.testing.assert_allclose(mean, expected, atol=1e-5)


def test_padded_values_never_leak_into_real_positions():
    _, ours = pair(False)
    a = helpers.to_numpy(ours(X, padding_mask=PADDING))
    noisy = X.copy()
    noisy[~PADDING] = 100.0
    b = helpers.to_numpy(ours(noisy, padding_mask=PADDING))
    np.testing.assert_allclose(a[PADDING], b[PADDING], atol=1e-5)


def test_blog_arguments_and_return_attention():
    """The seed blog's call, with the argument names it should have had."""
    layer = TransformerEncoderLayer(num_heads=8, key_dim=64, hidden_dim=2048, return_attention=True, use_bias=True)
    x = RNG.normal(size=(2, 10, 512)).astype("float32")
    outputs, scores = layer(x)
    assert tuple(outputs.shape) == (2, 10, 512)
    assert tuple(scores.shape) == (2, 8, 10, 10)
    np.testing.assert_allclose(helpers.to_numpy(scores).sum(-1), 1.0, atol=1e-5)
    # the same scores as keras_hub's return_attention_scores=True, given the same weights
    reference = keras_hub.layers.TransformerEncoder(intermediate_dim=2048, num_heads=8)
    reference(x)
    copy_weights_from_keras(reference, layer)
    ref_out, ref_scores = reference(x, return_attention_scores=True)
    outputs, scores = layer(x)
    np.testing.assert_allclose(helpers.to_numpy(scores), helpers.to_numpy(ref_scores), atol=1e-5)
    np.testing.assert_allclose(helpers.to_numpy(outputs), helpers.to_numpy(ref_out), atol=1e-4)


def test_blog_typo_num_head_suggests_num_heads():
    with pytest.raises(ValueError, match="`num_head`.*Did you mean `num_heads`"):
        TransformerEncoderLayer(num_head=8, key_dim=512, hidden_dim=512, return_attention=True, use_bias=True)


def factory():
    return TransformerEncoderLayer(
        num_heads=2, hidden_dim=24, key_dim=4, value_dim=6, dropout=0.1, attention_dropout=0.05,
        activation_dropout=0.1, activation="gelu", layer_norm_epsilon=1e-6, normalize_first=True,
    )


def test_config_round_trip():
    clone = helpers.check_config_round_trip(factory)
    assert clone.attention_dropout == 0.05 and clone.normalize_first


def test_keras_file_round_trip(tmp_path):
    helpers.check_keras_round_trip(factory, X, tmp_path)
    helpers.check_keras_round_trip(
        lambda: TransformerEncoderLayer(num_heads=2, hidden_dim=8, return_attention=True), X, tmp_path
    )


def test_symbolic_call():
    assert tuple(helpers.check_symbolic_shapes(factory, X).shape) == (None, None, 16)
    x = keras.Input(batch_shape=(None, None, 16))
    out, scores = TransformerEncoderLayer(num_heads=4, hidden_dim=8, return_attention=True)(x)
    assert tuple(out.shape) == (None, None, 16) and tuple(scores.shape) == (None, 4, None, None)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_step(jit_compile):
    helpers.check_fit_step(factory, X, jit_compile=jit_compile)


def test_mixed_bfloat16():
    helpers.check_mixed_bfloat16(factory, X)
    layer, (out, scores) = helpers.check_mixed_bfloat16(
        lambda: TransformerEncoderLayer(num_heads=2, hidden_dim=8, return_attention=True), X
    )
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_heads=0, hidden_dim=8), "num_heads=0"),
        (dict(num_heads=2, hidden_dim=-8), "hidden_dim=-8"),
        (dict(num_heads=2, hidden_dim=8, dropout=1.0), "dropout=1.0"),
        (dict(num_heads=2, hidden_dim=8, layer_norm_epsilon=0), "layer_norm_epsilon=0"),
        (dict(num_heads=2, intermediate_dim=8), "Did you mean `hidden_dim`"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerEncoderLayer(**kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="model_dim=16, num_heads=3"):
        TransformerEncoderLayer(num_heads=3, hidden_dim=8)(X)
    with pytest.raises(ValueError, match=r"rank 3.*\(2, 16\)"):
        TransformerEncoderLayer(num_heads=2, hidden_dim=8)(X[:, 0])
    layer = TransformerEncoderLayer(num_heads=2, hidden_dim=8)
    with pytest.raises(ValueError, match=r"padding_mask.shape=\(2, 5\)"):
        layer(X, padding_mask=PADDING[:, :5])
    with pytest.raises(ValueError, match=r"attention_mask.shape=\(2, 6, 5\)"):
        layer(X, attention_mask=ATTENTION[:, :, :5])
