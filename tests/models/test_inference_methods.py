"""The inference methods of the generative models: `logits`, `init_cache` / `call_with_cache`, `cross_attention`.

Each is checked against the functional graph (`model(...)`), which is the reference: the cached step gives
its logits at every position, `logits` is its head, `cross_attention` are the probabilities its decoder layer
computes (rebuilt here the old way, a clone of the layer with `return_attention=True`).
"""

import keras
import numpy as np
import pytest
from keras import ops

import kerasformers as kf

VOCABULARY = 32
START = 2
# Sources of lengths 3 and 6 (right-padded); targets with padding ids (0) inside, which the full model masks.
SOURCES = np.array([[5, 6, 7, 0, 0, 0], [8, 9, 10, 11, 12, 13]], "int32")
TARGETS = np.array([[START, 5, 0, 7, 9, 0, 0, 4, 12], [START, 11, 12, 13, 0, 8, 9, 30, 3]], "int32")
TOKENS = np.array([[5, 9, 14, 7, 21, 0, 3, 8, 30, 1, 6, 2], [11, 4, 30, 3, 3, 17, 0, 0, 9, 12, 5, 5]], "int32")


def language_model(**overrides):
    keras.utils.set_random_seed(0)
    return kf.TransformerLanguageModel.from_preset(
        "tiny", vocabulary_size=VOCABULARY, max_length=16, dropout=0.0, **overrides
    )


def seq2seq(**overrides):
    keras.utils.set_random_seed(4)
    return kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=VOCABULARY, max_length=12, dropout=0.0, **overrides
    )


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x), "float64")


def full_lm_logits(model, ids):
    return numpy(model({"token_ids": np.asarray(ids, "int32")}, training=False))


def full_seq2seq_logits(model, source, decoder_ids):
    inputs = {"encoder_token_ids": np.asarray(source, "int32"), "decoder_token_ids": np.asarray(decoder_ids, "int32")}
    return numpy(model(inputs, training=False))


# ------------------------------------------------------------------------------ call_with_cache
@pytest.mark.parametrize(
    "overrides", [{}, {"tie_embeddings": False}, {"normalize_first": False}], ids=["tied", "untied", "post_ln"]
)
def test_language_model_cached_step_equals_the_full_model_at_every_step(overrides):
    model = language_model(**overrides)
    prompt_length = 4
    cache = model.init_cache(2, TOKENS.shape[1])
    logits, cache = model.call_with_cache(TOKENS[:, :prompt_length], cache, 0)  # seeds the cache
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    np.testing.assert_allclose(numpy(logits), full_lm_logits(model, TOKENS[:, :prompt_length]), atol=1e-5)
    for index in range(prompt_length, TOKENS.shape[1]):  # then one token at a time
        logits, cache = model.call_with_cache(TOKENS[:, index : index + 1], cache, index)
        assert tuple(logits.shape) == (2, 1, VOCABULARY)
        reference = full_lm_logits(model, TOKENS[:, : index + 1])[:, -1]
        np.testing.assert_allclose(numpy(logits)[:, 0], reference, atol=1e-5)


@pytest.mark.parametrize(
    "overrides", [{}, {"tie_embeddings": False}, {"normalize_first": True}, {"decoder_vocabulary_size": 20}],
    ids=["tied", "untied", "pre_ln", "own_vocabulary"],
)
def test_seq2seq_cached_step_equals_the_full_model_at_every_step(overrides):
    """Cross-attention keys/values computed once; padding ids in the target are masked as the full model does."""
    model = seq2seq(num_decoder_layers=2, **overrides)
    targets = np.minimum(TARGETS, model.target_vocabulary_size - 1)
    encoder_outputs, padding_mask = model.encode(SOURCES)
    cache = model.init_cache(encoder_outputs, padding_mask, targets.shape[1])
    for index in range(targets.shape[1]):
        logits, cache = model.call_with_cache(targets[:, index : index + 1], cache, index)
        assert tuple(logits.shape) == (2, 1, model.target_vocabulary_size)
        reference = full_seq2seq_logits(model, SOURCES, targets[:, : index + 1])[:, -1]
        np.testing.assert_allclose(numpy(logits)[:, 0], reference, atol=1e-5)
    # Several positions at once (a prefix) give the same logits as the full model too.
    cache = model.init_cache(encoder_outputs, padding_mask, targets.shape[1])
    logits, _ = model.call_with_cache(targets[:, :5], cache, 0)
    real = targets[:, :5] != 0  # the full model's outputs at padding positions are not meaningful
    np.testing.assert_allclose(numpy(logits)[real], full_seq2seq_logits(model, SOURCES, targets[:, :5])[real], atol=1e-5)


def test_cache_layouts_and_limits():
    lm = language_model()
    cache = lm.init_cache(3, 10)
    assert len(cache) == lm.num_layers
    assert all(tuple(part.shape) == (3, 10, 4, 32) for layer_cache in cache for part in layer_cache)
    with pytest.raises(ValueError, match="max_length=17"):
        lm.init_cache(1, 17)
    model = seq2seq()
    self_caches, cross_caches, source_mask, target_mask = model.init_cache(*model.encode(SOURCES), 7)
    assert len(self_caches) == len(cross_caches) == model.num_decoder_layers
    assert tuple(self_caches[0][0].shape) == (2, 7, 4, 32) and tuple(cross_caches[0][1].shape) == (2, 6, 4, 32)
    assert numpy(source_mask).tolist() == (SOURCES != 0).tolist() and not numpy(target_mask).any()
    with pytest.raises(ValueError, match="max_length=0"):
        model.init_cache(*model.encode(SOURCES), 0)


# ------------------------------------------------------------------------------------ logits
def test_language_model_logits_is_the_head_of_the_functional_graph():
    for model in (language_model(), language_model(tie_embeddings=False)):
        assert model.outputs[0]._keras_history.operation is model.to_float32  # the graph ends in the same head
        inputs = {"token_ids": TOKENS}
        last_layer = model.decoder_layers[-1]
        hidden = keras.Model(model.inputs, last_layer.output)(inputs)
        np.testing.assert_allclose(numpy(model.logits(hidden)), numpy(model(inputs)), atol=1e-5)


def test_seq2seq_logits_is_the_head_of_the_functional_graph():
    for model in (seq2seq(), seq2seq(tie_embeddings=False), seq2seq(normalize_first=True)):
        assert model.outputs[0]._keras_history.operation is model.to_float32
        inputs = {"encoder_token_ids": SOURCES, "decoder_token_ids": TARGETS}
        hidden = keras.Model(model.inputs, model.decoder_layers[-1].output)(inputs)
        np.testing.assert_allclose(numpy(model.logits(hidden)), numpy(model(inputs)), atol=1e-5)
        # and `decode` = decoder + the same head
        real = TARGETS != 0
        decoded = numpy(model.decode(TARGETS, *model.encode(SOURCES)))
        np.testing.assert_allclose(decoded[real], numpy(model(inputs))[real], atol=1e-5)


# ---------------------------------------------------------------------------- cross_attention
def clone_reference(model, source_ids, decoder_ids, layer):
    """The cross-attention probabilities the old way: the decoder replayed up to `layer`, whose clone with
    `return_attention=True` (same weights) returns its scores."""
    encoder_outputs, encoder_mask = model.encode(source_ids)
    decoder_mask = ops.not_equal(decoder_ids, 0)
    y = model.decoder_embedding(decoder_ids)
    for block in model.decoder_layers[:layer]:
        y = block(y, encoder_outputs, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask)
    original = model.decoder_layers[layer]
    probe = kf.layers.TransformerDecoderLayer.from_config({**original.get_config(), "return_attention": True})
    probe(y, encoder_outputs)  # builds the clone
    probe.set_weights(original.get_weights())
    _, scores = probe(y, encoder_outputs, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask)
    return numpy(scores["cross_attention"])


@pytest.mark.parametrize("layer", [-1, 0, 1])
def test_cross_attention_equals_a_clone_of_the_layer(layer):
    model = seq2seq(num_decoder_layers=2)
    got = model.cross_attention(SOURCES, TARGETS, layer=layer)
    assert tuple(got.shape) == (2, model.num_heads, TARGETS.shape[1], SOURCES.shape[1])
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(numpy(got), clone_reference(model, SOURCES, TARGETS, layer % 2), atol=1e-6)
    assert not any(block.return_attention for block in model.decoder_layers)  # the model is untouched


def test_cross_attention_rows_are_distributions_over_the_real_source_tokens():
    model = seq2seq(num_decoder_layers=2)
    probabilities = numpy(model.cross_attention(SOURCES, TARGETS))  # (batch, heads, target, source)
    source_real = (SOURCES != 0)[:, None, None, :]
    target_real = (TARGETS != 0)[:, None, :]
    assert np.all(probabilities[np.broadcast_to(~source_real, probabilities.shape)] == 0.0)
    np.testing.assert_allclose(probabilities.sum(-1), np.broadcast_to(target_real, probabilities.shape[:-1]), atol=1e-6)
    assert np.all(probabilities >= 0)
    # The two layers attend differently (the layer argument is honoured).
    assert not np.allclose(probabilities, numpy(model.cross_attention(SOURCES, TARGETS, layer=0)))


def test_cross_attention_rejects_a_layer_that_does_not_exist():
    model = seq2seq(num_decoder_layers=2)
    for layer in (2, -3, 1.0):
        with pytest.raises(ValueError, match=f"layer={layer}"):
            model.cross_attention(SOURCES, TARGETS, layer=layer)


def test_target_vocabulary_size():
    assert seq2seq().target_vocabulary_size == VOCABULARY
    assert seq2seq(decoder_vocabulary_size=20).target_vocabulary_size == 20
