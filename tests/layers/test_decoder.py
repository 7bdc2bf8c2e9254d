import os

import helpers
import keras
import keras_hub
import numpy as np
import pytest

from kerasformers.layers import TransformerDecoderLayer
from kerasformers.layers.interop import copy_weights_from_keras

RNG = np.random.default_rng(0)
TARGET = RNG.normal(size=(2, 6, 16)).astype("float32")
SOURCE = RNG.normal(size=(2, 9, 12)).astype("float32")
TARGET_PADDING = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], bool)
SOURCE_PADDING = np.array([[1] * 9, [1] * 5 + [0] * 4], bool)


def pair(normalize_first, cross=True):
    reference = keras_hub.layers.TransformerDecoder(intermediate_dim=32, num_heads=4, normalize_first=normalize_first)
    ours = TransformerDecoderLayer(num_heads=4, hidden_dim=32, normalize_first=normalize_first)
    args = (TARGET, SOURCE) if cross else (TARGET,)
    reference(*args)
    ours(*args)
    copy_weights_from_keras(reference, ours)
    return reference, ours


@pytest.mark.parametrize("normalize_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_matches_keras_hub_decoder_with_cross_attention(normalize_first, masks):
    reference, ours = pair(normalize_first)
    kwargs = dict(decoder_padding_mask=TARGET_PADDING, encoder_padding_mask=SOURCE_PADDING) if masks else {}
    expected = helpers.to_numpy(reference(TARGET, SOURCE, **kwargs))
    actual = helpers.to_numpy(ours(TARGET, SOURCE, **kwargs))
    np.testing.assert_allclose(actual[TARGET_PADDING], expected[TARGET_PADDING], atol=1e-5)
    if not masks:
        np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_matches_keras_hub_decoder_only(normalize_first):
    reference, ours = pair(normalize_first, cross=False)
    np.testing.assert_allclose(helpers.to_numpy(ours(TARGET)), helpers.to_numpy(reference(TARGET)), atol=1e-5)
    mask = RNG.random((2, 6, 6)) > 0.2
    np.testing.assert_allclose(
        helpers.to_numpy(ours(TARGET, decoder_attention_mask=mask)),
        helpers.to_numpy(reference(TARGET, decoder_attention_mask=mask)),
        atol=1e-5,
    )


@pytest.mark.parametrize("cross", [False, True])
def test_no_future_leak(cross):
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=32)
    args = (SOURCE,) if cross else ()
    a = helpers.to_numpy(layer(TARGET, *args))
    changed = TARGET.copy()
    changed[:, 4:] = 50.0
    b = helpers.to_numpy(layer(changed, *args))
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-5)
    assert not np.allclose(a[:, 4:], b[:, 4:])


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("normalize_first", [False, True])
def test_cached_decoding_matches_full_decoding(cross, normalize_first):
    layer = TransformerDecoderLayer(num_heads=4, hidden_dim=32, normalize_first=normalize_first)
    args = (SOURCE,) if cross else ()
    full = helpers.to_numpy(layer(TARGET, *args))
    cache = layer.self_attention.init_cache(batch_size=2, max_length=6)
    kwargs = {"cross_attention_cache": layer.compute_cross_attention_cache(SOURCE)} if cross else {}
    steps = []
    for i in range(6):
        out, cache = layer(
            TARGET[:, i : i + 1], self_attention_cache=cache, self_attention_cache_update_index=i, **kwargs
        )
        steps.append(helpers.to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_return_attention_gives_self_and_cross_scores():
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=16, return_attention=True)
    out, scores = layer(TARGET, SOURCE, encoder_padding_mask=SOURCE_PADDING)
    assert tuple(out.shape) == (2, 6, 16)
    self_scores = helpers.to_numpy(scores["self_attention"])
    cross_scores = helpers.to_numpy(scores["cross_attention"])
    assert self_scores.shape == (2, 2, 6, 6) and cross_scores.shape == (2, 2, 6, 9)
    assert np.all(np.triu(self_scores[0, 0], k=1) == 0)
    assert np.all(cross_scores[1, :, :, 5:] == 0)  # padded source tokens get no attention
    np.testing.assert_allclose(cross_scores.sum(-1), 1.0, atol=1e-5)


def test_return_attention_call_argument_overrides_the_constructor_for_one_call():
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=16)
    plain = layer(TARGET, SOURCE, encoder_padding_mask=SOURCE_PADDING)
    out, scores = layer(TARGET, SOURCE, encoder_padding_mask=SOURCE_PADDING, return_attention=True)
    np.testing.assert_allclose(helpers.to_numpy(out), helpers.to_numpy(plain), atol=1e-6)
    probe = TransformerDecoderLayer.from_config({**layer.get_config(), "return_attention": True})
    probe(TARGET, SOURCE)
    probe.set_weights(layer.get_weights())
    _, expected = probe(TARGET, SOURCE, encoder_padding_mask=SOURCE_PADDING)
    for name in ("self_attention", "cross_attention"):
        np.testing.assert_allclose(helpers.to_numpy(scores[name]), helpers.to_numpy(expected[name]), atol=1e-6)
    assert not layer.return_attention and not isinstance(layer(TARGET, SOURCE), tuple)  # only that call
    assert not isinstance(probe(TARGET, SOURCE, return_attention=False), tuple)
    _, cache = layer(TARGET, SOURCE, self_attention_cache=layer.self_attention.init_cache(2, 6),
                     self_attention_cache_update_index=0)
    out, scores, cache = layer(TARGET, SOURCE, self_attention_cache=cache, self_attention_cache_update_index=0,
                               return_attention=True)
    assert set(scores) == {"self_attention", "cross_attention"} and len(cache) == 2


def test_cross_attention_is_fixed_by_the_first_call():
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=8)
    layer(TARGET)
    with pytest.raises(ValueError, match="built without cross-attention"):
        layer(TARGET, SOURCE)
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=8)
    layer(TARGET, SOURCE)
    with pytest.raises(ValueError, match="encoder_sequence=None"):
        layer(TARGET)


def factory():
    return TransformerDecoderLayer(
        num_heads=2, hidden_dim=24, dropout=0.1, activation="gelu", normalize_first=True, layer_norm_epsilon=1e-6
    )


def test_generic_checks_decoder_only(tmp_path):
    helpers.check_config_round_trip(factory)
    helpers.check_keras_round_trip(factory, TARGET, tmp_path)
    assert tuple(helpers.check_symbolic_shapes(factory, TARGET).shape) == (None, None, 16)
    helpers.check_fit_step(factory, TARGET)
    helpers.check_fit_step(factory, TARGET, jit_compile=True)
    helpers.check_mixed_bfloat16(factory, TARGET)


def cross_model():
    target = keras.Input(shape=(None, 16), name="target")
    source = keras.Input(shape=(None, 12), name="source")
    out, scores = TransformerDecoderLayer(num_heads=2, hidden_dim=24, return_attention=True)(target, source)
    return keras.Model([target, source], [out, scores["cross_attention"]])


def test_cross_attention_model_round_trip_and_fit(tmp_path):
    model = cross_model()
    assert tuple(model.outputs[1].shape) == (None, 2, None, None)
    expected = model.predict([TARGET, SOURCE], verbose=0)
    path = os.path.join(str(tmp_path), "decoder.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    for e, a in zip(expected, restored.predict([TARGET, SOURCE], verbose=0)):
        np.testing.assert_allclose(a, e, atol=1e-6)
    trainer = keras.Model(model.inputs, model.outputs[0])
    trainer.compile(optimizer="adam", loss="mse", jit_compile=True)
    losses = trainer.fit([TARGET, SOURCE], TARGET[..., ::-1], epochs=5, verbose=0).history["loss"]
    assert losses[-1] < losses[0]


def test_mixed_bfloat16_with_cross_attention():
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = TransformerDecoderLayer(num_heads=2, hidden_dim=8)
        out = layer(TARGET, SOURCE)
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)


def test_bad_inputs():
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=8)
    with pytest.raises(ValueError, match=r"decoder_padding_mask.shape=\(2, 5\)"):
        layer(TARGET, SOURCE, decoder_padding_mask=TARGET_PADDING[:, :5])
    with pytest.raises(ValueError, match=r"encoder_sequence.*rank 3.*\(2, 12\)"):
        TransformerDecoderLayer(num_heads=2, hidden_dim=8)(TARGET, SOURCE[:, 0])
    with pytest.raises(ValueError, match="Did you mean `num_heads`"):
        TransformerDecoderLayer(num_head=8, hidden_dim=8)
