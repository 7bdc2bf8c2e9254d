"""`DecoderStep`: one token through a decoder layer with weights read once equals the layer's cached `call`."""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

from kerasformers.layers import TransformerDecoderLayer
from kerasformers.layers import decoding_step
from kerasformers.layers.decoding_step import DecoderStep, decoder_step_supported, step_cache

RNG = np.random.default_rng(3)
TARGET = RNG.normal(size=(2, 6, 16)).astype("float32")
SOURCE = RNG.normal(size=(2, 9, 12)).astype("float32")
SOURCE_PADDING = np.array([[1] * 9, [1] * 5 + [0] * 4], bool)
TOLERANCE = 1e-5  # float32, same weights


def layer_with(cross, **options):
    keras.utils.set_random_seed(0)
    layer = TransformerDecoderLayer(num_heads=4, hidden_dim=32, bias_initializer="random_normal", **options)
    layer(TARGET, SOURCE) if cross else layer(TARGET)
    return layer


def source_cache(layer):
    keys, values = step_cache(layer.compute_cross_attention_cache(SOURCE))
    mask = ops.convert_to_tensor(SOURCE_PADDING)[:, None, None, :]
    return keys, values, mask, ops.ones((2, 1))


@pytest.fixture(params=["products", "matmuls"])
def attention_by(request, monkeypatch):
    """Runs the test with the attention by elementwise products, then by batched matmuls."""
    monkeypatch.setattr(decoding_step, "PRODUCTS_MAX_ELEMENTS", 1 << 30 if request.param == "products" else 0)
    return request.param


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("options", [{}, {"normalize_first": True, "activation": "gelu_approximate"},
                                     {"key_dim": 6, "value_dim": 5, "use_bias": False}])
def test_step_equals_the_cached_layer(cross, options, attention_by):
    layer = layer_with(cross, **options)
    step = DecoderStep(layer)
    cache = layer.self_attention.init_cache(2, 6)
    fused = step_cache(cache)
    kwargs = {}
    if cross:
        kwargs = dict(cross_attention_cache=layer.compute_cross_attention_cache(SOURCE),
                      encoder_padding_mask=SOURCE_PADDING)
    for i in range(6):
        expected, cache = layer(TARGET[:, i: i + 1], self_attention_cache=cache, self_attention_cache_update_index=i,
                                **kwargs)
        got, fused = step(TARGET[:, i], fused, i, mask=ops.arange(6) <= i,
                          cross=source_cache(layer) if cross else None)
        np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)
    # The caches hold the same keys and values, in the step's layout.
    for ours, theirs in zip(fused, step_cache(cache)):
        np.testing.assert_allclose(ops.convert_to_numpy(ours), ops.convert_to_numpy(theirs), atol=TOLERANCE)


def test_padding_query_gives_zero_attention_like_the_query_mask(attention_by):
    layer = layer_with(cross=True)
    step = DecoderStep(layer)
    cache = layer.self_attention.init_cache(2, 6)
    _, cache = layer(TARGET[:, :2], self_attention_cache=cache, self_attention_cache_update_index=0,
                     cross_attention_cache=layer.compute_cross_attention_cache(SOURCE))
    padding = np.array([[True], [False]])  # row 1's token at position 2 is padding
    expected, _ = layer(TARGET[:, 2:3], self_attention_cache=cache, self_attention_cache_update_index=2,
                        cross_attention_cache=layer.compute_cross_attention_cache(SOURCE),
                        decoder_padding_mask=padding, encoder_padding_mask=SOURCE_PADDING)
    got, _ = step(TARGET[:, 2], step_cache(cache), 2, mask=ops.arange(6) <= 2,
                  query_visible=ops.cast(padding, "float32"), cross=source_cache(layer))
    np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)


def test_a_source_without_tokens_gives_zero_cross_attention_like_the_layer(attention_by):
    layer = layer_with(cross=True)
    empty = np.zeros((2, 9), bool)
    empty[0] = True  # row 1 has no source token
    expected, _ = layer(TARGET[:, :1], self_attention_cache=layer.self_attention.init_cache(2, 6),
                        self_attention_cache_update_index=0,
                        cross_attention_cache=layer.compute_cross_attention_cache(SOURCE), encoder_padding_mask=empty)
    keys, values, _, _ = source_cache(layer)
    visible = ops.cast(ops.any(empty, axis=-1, keepdims=True), "float32")
    got, _ = DecoderStep(layer)(TARGET[:, 0], step_cache(layer.self_attention.init_cache(2, 6)), 0,
                                mask=ops.arange(6) <= 0, cross=(keys, values, empty[:, None, None, :], visible))
    np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TensorFlow graph with an unknown batch")
def test_with_an_unknown_batch_each_call_chooses_the_attention_by_the_cache_size(monkeypatch):
    import tensorflow as tf

    layer = layer_with(cross=True)
    step = DecoderStep(layer)
    # A row's self-attention cache holds 4 heads * 6 positions * 4 dims (its cross-attention cache 4 * 9 * 4):
    # one row attends by products, two rows by matmuls.
    monkeypatch.setattr(decoding_step, "PRODUCTS_MAX_ELEMENTS", 4 * 9 * 4 + 1)

    @tf.function(input_signature=[tf.TensorSpec([None, 16]), tf.TensorSpec([None, 9, 12]), tf.TensorSpec([None, 9], tf.bool)])
    def run(target, source, source_mask):
        batch = tf.shape(target)[0]
        cache = step_cache(layer.self_attention.init_cache(batch, 6))
        cross = (*step_cache(layer.compute_cross_attention_cache(source)), source_mask[:, None, None, :],
                 ops.ones((batch, 1)))
        return step(target, cache, 0, mask=ops.arange(6) <= 0, cross=cross)[0]

    for rows in (1, 2):
        expected, _ = layer(TARGET[:rows, :1], self_attention_cache=layer.self_attention.init_cache(rows, 6),
                            self_attention_cache_update_index=0,
                            cross_attention_cache=layer.compute_cross_attention_cache(SOURCE[:rows]),
                            encoder_padding_mask=SOURCE_PADDING[:rows])
        got = run(TARGET[:rows, 0], SOURCE[:rows], SOURCE_PADDING[:rows])
        np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)
    graph = run.get_concrete_function().graph.as_graph_def()
    branches = {f.signature.name: {n.op for n in f.node_def} for f in graph.library.function}
    conditionals = [n for n in graph.node if n.op in ("If", "StatelessIf")]
    assert len(conditionals) == 2  # self- and cross-attention
    for node in conditionals:
        products, matmuls = (branches[node.attr[b].func.name] for b in ("then_branch", "else_branch"))
        assert "Sum" in products and not products & {"BatchMatMulV2", "Einsum"}
        assert matmuls & {"BatchMatMulV2", "Einsum"}


def test_lora_weights_are_part_of_the_step():
    layer = layer_with(cross=False)
    layer.self_attention.query_dense.enable_lora(2)
    layer.feed_forward.inner.enable_lora(2)
    for dense in (layer.self_attention.query_dense, layer.feed_forward.inner):
        dense.lora_kernel_b.assign(RNG.normal(size=dense.lora_kernel_b.shape).astype("float32"))
    cache = layer.self_attention.init_cache(2, 6)
    expected, _ = layer(TARGET[:, :1], self_attention_cache=cache, self_attention_cache_update_index=0)
    got, _ = DecoderStep(layer)(TARGET[:, 0], step_cache(cache), 0, mask=ops.arange(6) <= 0)
    np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)


def test_unsupported_layers_are_named_in_the_error():
    layer = TransformerDecoderLayer(num_heads=2, hidden_dim=8, dtype="mixed_bfloat16", name="bf16_block")
    layer(TARGET)
    assert not decoder_step_supported(layer)
    with pytest.raises(ValueError, match="bf16_block.*mixed_bfloat16"):
        DecoderStep(layer)
    quantized = layer_with(cross=False)
    quantized.feed_forward.inner.quantize("int8")
    assert not decoder_step_supported(quantized)
    assert decoder_step_supported(layer_with(cross=True))


def test_docstring_examples_run():
    assert doctest.testmod(decoding_step, optionflags=doctest.ELLIPSIS).failed == 0
