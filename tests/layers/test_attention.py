import itertools

import helpers
import keras
import numpy as np
import pytest
from keras import ops

from kerasformers.layers import MultiHeadAttention
from kerasformers.layers.interop import copy_weights_from_keras
from kerasformers.layers.masks import set_keras_mask

B, T, S, D = 2, 5, 7, 16


def rng(seed=0):
    return np.random.default_rng(seed)


def masked(x, mask):
    """A backend tensor carrying a Keras mask, as mask propagation would give it."""
    x = ops.convert_to_tensor(x)
    if mask is not None:
        set_keras_mask(x, ops.convert_to_tensor(mask))
    return x


def make_pair(key_dim, value_dim, cross, dropout=0.0):
    query = rng(1).normal(size=(B, T, D)).astype("float32")
    source = rng(2).normal(size=(B, S, D)).astype("float32") if cross else query
    reference = keras.layers.MultiHeadAttention(
        num_heads=4, key_dim=key_dim or D // 4, value_dim=value_dim, dropout=dropout
    )
    ours = MultiHeadAttention(num_heads=4, key_dim=key_dim, value_dim=value_dim, dropout=dropout)
    reference(query, source, return_attention_scores=True)  # keras' fused path fails on jax for value_dim != key_dim
    ours(query, source if cross else None)
    copy_weights_from_keras(reference, ours)
    return reference, ours, query, source


GRID = list(itertools.product([False, True], [None, 3], [None, 6], [False, True], [False, True], [False, True]))


@pytest.mark.parametrize("cross,key_dim,value_dim,causal,explicit,padding", GRID)
def test_matches_keras_multi_head_attention(cross, key_dim, value_dim, causal, explicit, padding):
    reference, ours, query, source = make_pair(key_dim, value_dim, cross)
    length = source.shape[1]
    attention_mask = rng(3).random((B, T, length)) > 0.3 if explicit else None
    query_mask = np.ones((B, T), bool)
    query_mask[1, 3:] = False
    source_mask = np.ones((B, length), bool)
    source_mask[0, 4:] = False
    if not cross:
        source_mask = query_mask

    def inputs():
        q = masked(query, query_mask if padding else None)
        v = masked(source, source_mask if padding else None) if cross else q
        return q, v

    kwargs = dict(attention_mask=attention_mask, use_causal_mask=causal)
    # return_attention_scores=True puts keras on its explicit-softmax path, which
    # zeroes fully masked rows exactly as we do on every path.
    expected, expected_scores = reference(*inputs(), return_attention_scores=True, **kwargs)
    q, v = inputs()
    fast = ours(q, v if cross else None, **kwargs)  # keras.ops.dot_product_attention when value_dim == key_dim
    q, v = inputs()
    explicit_out, scores = ours(q, v if cross else None, return_attention_scores=True, **kwargs)
    for actual in (fast, explicit_out):
        np.testing.assert_allclose(helpers.to_numpy(actual), helpers.to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(helpers.to_numpy(scores), helpers.to_numpy(expected_scores), atol=1e-5)


def test_keras_masks_propagate_through_a_functional_model():
    tokens = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]])
    inputs = keras.Input(shape=(None,), dtype="int32")
    embedded = keras.layers.Embedding(10, D, mask_zero=True)(inputs)
    reference_layer = keras.layers.MultiHeadAttention(num_heads=4, key_dim=4)
    ours_layer = MultiHeadAttention(num_heads=4)
    reference = keras.Model(inputs, reference_layer(embedded, embedded))
    ours_model = keras.Model(inputs, ours_layer(embedded))
    ours_layer.set_weights(reference_layer.get_weights())  # identical layout, even by order
    ours_model.layers[1].set_weights(reference.layers[1].get_weights())
    real = tokens != 0  # keras' fused path averages padded query rows, its explicit path zeroes them
    np.testing.assert_allclose(
        ours_model.predict(tokens, verbose=0)[real], reference.predict(tokens, verbose=0)[real], atol=1e-5
    )
    # the output carries the padding mask
    out = ours_layer(masked(np.ones((2, 5, D), "float32"), tokens != 0))
    np.testing.assert_array_equal(helpers.to_numpy(out._keras_mask), tokens != 0)


def _dropout_state(layer):
    return ops.convert_to_numpy(layer.dropout_layer.seed_generator.state)


def _restore_dropout_state(layer, state):
    layer.dropout_layer.seed_generator.state.assign(state)


@pytest.mark.parametrize("return_scores", [False, True])
def test_no_future_leak_with_dropout_in_training(return_scores):
    """keras#23038 dropped the causal mask with dropout > 0 and returned scores."""
    layer = MultiHeadAttention(num_heads=2, dropout=0.5)
    x = rng(4).normal(size=(1, 6, 8)).astype("float32")
    layer(x)
    state = _dropout_state(layer)
    out = layer(x, use_causal_mask=True, training=True, return_attention_scores=return_scores)
    changed = x.copy()
    changed[:, 3:] += 10.0  # only the future of position 2 changes
    _restore_dropout_state(layer, state)
    out2 = layer(changed, use_causal_mask=True, training=True, return_attention_scores=return_scores)
    if return_scores:
        (out, scores), (out2, _) = out, out2
        scores = helpers.to_numpy(scores)
        assert np.all(np.triu(np.ones((6, 6)), k=1)[None, None] * scores == 0)
        np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(helpers.to_numpy(out)[:, :3], helpers.to_numpy(out2)[:, :3], atol=1e-6)
    assert not np.allclose(helpers.to_numpy(out)[:, 3:], helpers.to_numpy(out2)[:, 3:])


@pytest.mark.parametrize("return_scores", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "mixed_bfloat16"])
def test_fully_masked_rows_are_zero_not_nan(return_scores, dtype):
    layer = MultiHeadAttention(num_heads=2, dtype=dtype)
    x = rng(5).normal(size=(2, 4, 8)).astype("float32")
    mask = np.ones((2, 4, 4), bool)
    mask[0, 1, :] = False  # query 1 of example 0 sees nothing
    out = layer(x, attention_mask=mask, return_attention_scores=return_scores)
    if return_scores:
        out, scores = out
        scores = helpers.to_numpy(scores)
        assert np.all(scores[0, :, 1] == 0) and np.all(np.isfinite(scores))
    out = helpers.to_numpy(out)
    assert np.all(np.isfinite(out))
    bias = helpers.to_numpy(layer.output_dense.bias)  # zero attention row -> output is the output bias
    np.testing.assert_allclose(out[0, 1], bias, atol=1e-6)


def test_incremental_self_attention_cache_matches_full_causal_attention():
    layer = MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3)
    x = rng(6).normal(size=(2, 6, 8)).astype("float32")
    full = helpers.to_numpy(layer(x, use_causal_mask=True))
    cache = layer.init_cache(batch_size=2, max_length=6)
    # a 2-token prompt first, then one token at a time
    out, cache = layer(x[:, :2], use_causal_mask=True, cache=cache, cache_update_index=0)
    steps = [helpers.to_numpy(out)]
    for i in range(2, 6):
        out, cache = layer(x[:, i : i + 1], use_causal_mask=True, cache=cache, cache_update_index=i)
        steps.append(helpers.to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)


def test_cross_attention_cache_matches_direct_call():
    layer = MultiHeadAttention(num_heads=2)
    query = rng(7).normal(size=(2, 3, 8)).astype("float32")
    source = rng(8).normal(size=(2, 5, 8)).astype("float32")
    source_mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    direct = layer(query, source, value_mask=source_mask)
    cache = layer.compute_cache(source)
    cached, same_cache = layer(query, value_mask=source_mask, cache=cache)
    np.testing.assert_allclose(helpers.to_numpy(cached), helpers.to_numpy(direct), atol=1e-6)
    assert same_cache is cache or helpers.to_numpy(same_cache[0]).shape == (2, 5, 2, 4)


def test_mixed_bfloat16_uses_float32_softmax():
    layer, out = helpers.check_mixed_bfloat16(lambda: MultiHeadAttention(num_heads=2), np.ones((2, 4, 8), "float32"))
    _, scores = layer(rng(9).normal(size=(2, 4, 8)).astype("float32"), return_attention_scores=True)
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"
    np.testing.assert_allclose(helpers.to_numpy(scores).sum(-1), 1.0, atol=1e-6)


def factory():
    return MultiHeadAttention(num_heads=2, key_dim=4, value_dim=6, dropout=0.1, output_dim=12, use_bias=False)


SAMPLE = rng(10).normal(size=(4, 5, 8)).astype("float32")


def test_config_round_trip():
    clone = helpers.check_config_round_trip(factory)
    assert clone.value_dim == 6 and clone.output_dim == 12 and clone.use_bias is False


def test_keras_file_round_trip(tmp_path):
    helpers.check_keras_round_trip(factory, SAMPLE, tmp_path, call_kwargs={"use_causal_mask": True})


def test_symbolic_call_and_output_shape():
    out = helpers.check_symbolic_shapes(factory, SAMPLE)
    assert tuple(out.shape) == (None, None, 12)
    x = keras.Input(batch_shape=(None, None, 8))
    source = keras.Input(batch_shape=(None, None, 10))
    out, scores = MultiHeadAttention(num_heads=2)(x, source, return_attention_scores=True)
    assert tuple(out.shape) == (None, None, 8) and tuple(scores.shape) == (None, 2, None, None)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_step(jit_compile):
    helpers.check_fit_step(factory, SAMPLE, jit_compile=jit_compile, call_kwargs={"use_causal_mask": True})


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(num_heads=0), "num_heads=0"),
        (dict(), "num_heads=None"),
        (dict(num_heads=2, key_dim=-1), "key_dim=-1"),
        (dict(num_heads=2, value_dim=0), "value_dim=0"),
        (dict(num_heads=2, dropout=1.5), "dropout=1.5"),
        (dict(num_heads=2, output_dim=2.5), "output_dim=2.5"),
        (dict(num_head=8), "Did you mean `num_heads`"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_model_dim_not_divisible_by_heads():
    with pytest.raises(ValueError, match="query_dim=10, num_heads=4"):
        MultiHeadAttention(num_heads=4)(np.ones((1, 3, 10), "float32"))


def test_wrong_rank_and_shapes():
    with pytest.raises(ValueError, match=r"rank 3.*\(2, 8\)"):
        MultiHeadAttention(num_heads=2)(np.ones((2, 8), "float32"))
    with pytest.raises(ValueError, match="same length"):
        MultiHeadAttention(num_heads=2)(np.ones((1, 3, 8), "float32"), np.ones((1, 4, 8), "float32"), np.ones((1, 5, 8), "float32"))
    layer = MultiHeadAttention(num_heads=2)
    with pytest.raises(ValueError, match=r"attention_mask.shape=\(1, 3, 4\)"):
        layer(np.ones((1, 3, 8), "float32"), attention_mask=np.ones((1, 3, 4), bool))
    with pytest.raises(ValueError, match=r"query_mask.shape=\(1, 5\)"):
        layer(np.ones((1, 3, 8), "float32"), query_mask=np.ones((1, 5), bool))


def test_inputs_keep_their_keras_masks():
    """keras.layers.MultiHeadAttention strips them; a decoder stack then loses the
    encoder padding mask after its first layer. Ours leaves its inputs alone."""
    query = masked(rng(11).normal(size=(2, 3, 8)).astype("float32"), np.array([[1, 1, 0], [1, 1, 1]], bool))
    source = masked(rng(12).normal(size=(2, 4, 8)).astype("float32"), np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool))
    MultiHeadAttention(num_heads=2)(query, source)
    assert query._keras_mask is not None and source._keras_mask is not None


def _projections(layer):
    return (layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense)


def test_projections_start_independent():
    """Each projection draws its own initial kernel (one shared unseeded initializer once gave q = k = v)."""
    layer = MultiHeadAttention(num_heads=4)
    layer(ops.ones((1, 3, D)))
    q, k, v, _ = [helpers.to_numpy(d.kernel) for d in _projections(layer)]
    assert not np.allclose(q, k) and not np.allclose(k, v)


def test_enable_lora_reaches_every_projection_and_the_fused_path():
    query = rng(1).normal(size=(B, T, D)).astype("float32")
    layer = MultiHeadAttention(num_heads=4)
    layer(query)
    before = helpers.to_numpy(layer(query))
    for dense in _projections(layer):
        dense.enable_lora(2)
    # LoRA starts as a no-op (B = 0) ...
    np.testing.assert_allclose(helpers.to_numpy(layer(query)), before, atol=1e-6)
    trainable = sorted(w.path.split("/", 1)[1] for w in layer.trainable_weights)
    assert [p for p in trainable if "lora" in p] == sorted(
        f"{name}/lora_kernel_{ab}" for name in ("query", "key", "value", "attention_output") for ab in "ab"
    )
    assert not any(p.endswith("/kernel") for p in trainable)  # base kernels frozen by enable_lora
    # ... and once trained it changes the fused self-attention exactly as merged kernels would.
    for i, dense in enumerate(_projections(layer)):
        dense.lora_kernel_b.assign(rng(10 + i).normal(size=dense.lora_kernel_b.shape).astype("float32") * 0.1)
    merged = MultiHeadAttention(num_heads=4)
    merged(query)
    merged.set_weights([helpers.to_numpy(w) for d in _projections(layer) for w in (d.kernel, d.bias)])
    fused = helpers.to_numpy(layer(query))
    assert not np.allclose(fused, before, atol=1e-3)
    np.testing.assert_allclose(fused, helpers.to_numpy(merged(query)), atol=1e-5)
    # The unfused (cross-attention) path agrees with the fused one on the same input.
    np.testing.assert_allclose(helpers.to_numpy(layer(query, ops.convert_to_tensor(query) + 0.0)), fused, atol=1e-5)


def test_int8_quantization_reaches_every_projection():
    query = rng(1).normal(size=(B, T, D)).astype("float32")
    layer = MultiHeadAttention(num_heads=4)
    layer(query)
    expected = helpers.to_numpy(layer(query))
    model = keras.Sequential([keras.Input((T, D)), layer])
    model.quantize("int8")
    assert [d.quantization_mode for d in _projections(layer)] == ["int8"] * 4
    assert {str(d._kernel.dtype) for d in _projections(layer)} == {"int8"}
    out = helpers.to_numpy(layer(query))
    assert np.abs(out - expected).max() < 0.05 * np.abs(expected).max()
    assert not np.allclose(out, expected, atol=1e-7)  # really the int8 kernels, not the float ones
