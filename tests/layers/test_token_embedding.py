"""Tests for TokenAndPositionEmbedding."""

import math
import re

import helpers
import keras
import keras_hub
import numpy as np
import pytest
from helpers import to_numpy
from keras import ops

from kerasformers.layers.positional_encoding import LearnedPositionalEmbedding, SinusoidalPositionalEncoding
from kerasformers.layers.token_embedding import TokenAndPositionEmbedding

RNG = np.random.default_rng(99)
VOCAB, MAX_LEN, DIM = 20, 10, 8
IDS = RNG.integers(1, VOCAB, size=(2, 6)).astype("int32")
PADDED = np.array([[5, 7, 3, 0, 0, 0], [1, 2, 3, 4, 5, 0]], "int32")


def paper_encoding(length, dim, start=0, max_wavelength=10000.0):
    """Vaswani et al. 3.5 in float64: PE(pos, 2i) = sin(pos / w^(2i/d)), PE(pos, 2i+1) = cos(...)."""
    pos = np.arange(start, start + length, dtype="float64")
    pe = np.zeros((length, dim), dtype="float64")
    for i in range((dim + 1) // 2):
        denominator = float(max_wavelength) ** (2.0 * i / dim)
        pe[:, 2 * i] = np.sin(pos / denominator)
        if 2 * i + 1 < dim:
            pe[:, 2 * i + 1] = np.cos(pos / denominator)
    return pe


def make(positional="learned", **kwargs):
    return lambda: TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, positional=positional, **kwargs)


def built(positional="learned", **kwargs):
    layer = make(positional, **kwargs)()
    layer.build((None, None))
    return layer


def test_matches_keras_hub_with_copied_weights():
    theirs = keras_hub.layers.TokenAndPositionEmbedding(VOCAB, sequence_length=MAX_LEN, embedding_dim=DIM)
    expected = to_numpy(theirs(IDS))
    ours = built()
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert [w.path.split("/")[-2] for w in ours.weights] == ["token_embedding", "position_embedding"]
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(to_numpy(ours(IDS)), expected, atol=1e-7)
    np.testing.assert_allclose(
        to_numpy(ours(IDS[:, :3], start_index=4)), to_numpy(theirs(IDS[:, :3], start_index=4)), atol=1e-7
    )


@pytest.mark.parametrize("scale", [False, True])
def test_output_is_token_rows_times_scale_plus_position_rows(scale):
    layer = built(scale_embeddings=scale)
    tokens = to_numpy(layer.token_embedding.embeddings)
    positions = to_numpy(layer.position_embedding.embeddings)
    factor = math.sqrt(DIM) if scale else 1.0
    expected = tokens[IDS] * factor + positions[None, : IDS.shape[1]]
    np.testing.assert_allclose(to_numpy(layer(IDS)), expected, rtol=1e-6, atol=1e-6)
    shifted = tokens[IDS[:, :2]] * factor + positions[None, 3:5]
    np.testing.assert_allclose(to_numpy(layer(IDS[:, :2], start_index=3)), shifted, rtol=1e-6, atol=1e-6)


def test_scaling_multiplies_token_part_by_sqrt_dim():
    plain, scaled = built(), built(scale_embeddings=True)
    scaled.set_weights(plain.get_weights())
    position_part = to_numpy(plain.position_embedding(np.zeros((2, 6, DIM), "float32")))
    token_plain = to_numpy(plain(IDS)) - position_part
    token_scaled = to_numpy(scaled(IDS)) - position_part
    np.testing.assert_allclose(token_scaled, token_plain * math.sqrt(8.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("start_index", [0, 3])
def test_sinusoidal_equals_token_embedding_plus_formula(start_index):
    layer = built("sinusoidal", max_wavelength=1000)
    assert isinstance(layer.position_embedding, SinusoidalPositionalEncoding)
    assert len(layer.weights) == 1  # only the token table
    ids = IDS[:, :5]
    tokens = to_numpy(layer.token_embedding.embeddings)
    expected = tokens[ids] + paper_encoding(5, DIM, start=start_index, max_wavelength=1000)[None]
    np.testing.assert_allclose(to_numpy(layer(ids, start_index=start_index)), expected, atol=1e-5)


def test_learned_positions_are_a_learned_positional_embedding():
    layer = built()
    assert isinstance(layer.position_embedding, LearnedPositionalEmbedding)
    assert layer.position_embedding.name == "position_embedding"
    assert tuple(layer.position_embedding.embeddings.shape) == (MAX_LEN, DIM)


def test_token_embedding_attribute():
    layer = built(mask_zero=True)
    assert isinstance(layer.token_embedding, keras.layers.Embedding)
    assert layer.token_embedding.name == "token_embedding"
    assert tuple(layer.token_embedding.embeddings.shape) == (VOCAB, DIM)
    assert layer.token_embedding.mask_zero


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_mask_zero_mask_reaches_downstream_layer(positional):
    embed = make(positional, mask_zero=True)()
    inputs = keras.Input((None,), dtype="int32")
    embedded = embed(inputs)
    model = keras.Model(inputs, [embedded, keras.layers.GlobalAveragePooling1D()(embedded)])
    values, pooled = (to_numpy(t) for t in model(PADDED))
    np.testing.assert_array_equal(to_numpy(embed.compute_mask(PADDED)), PADDED != 0)
    keep = (PADDED != 0)[..., None].astype("float32")
    manual = (values * keep).sum(1) / keep.sum(1)
    np.testing.assert_allclose(pooled, manual, rtol=1e-5, atol=1e-6)
    assert not np.allclose(pooled, values.mean(1), atol=1e-3)  # padding really was left out


def test_without_mask_zero_there_is_no_mask():
    layer = built()
    assert layer.compute_mask(PADDED) is None
    inputs = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    values = to_numpy(layer(PADDED))
    np.testing.assert_allclose(to_numpy(keras.Model(inputs, pooled)(PADDED)), values.mean(1), rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(helpers.BACKEND != "tensorflow", reason="eager tensors carry masks only in TF")
def test_eager_output_carries_mask():
    out = built(mask_zero=True)(PADDED)
    np.testing.assert_array_equal(to_numpy(out._keras_mask), PADDED != 0)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_too_long_sequence_names_both_lengths(positional):
    layer = make(positional)()
    with pytest.raises(ValueError, match=r"Sequence length 12 exceeds max_length=10"):
        layer(np.ones((1, 12), "int32"))
    with pytest.raises(ValueError, match=r"start_index=8 plus sequence length 4 exceeds max_length=10"):
        layer(np.ones((1, 4), "int32"), start_index=8)


def test_unknown_positional_lists_the_options():
    with pytest.raises(ValueError, match=r"'learned', 'sinusoidal'.*positional='rotary'"):
        TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, positional="rotary")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocabulary_size": 0}, "vocabulary_size=0"),
        ({"vocabulary_size": None}, "vocabulary_size=None"),
        ({"max_length": -1}, "max_length=-1"),
        ({"max_length": 2.0}, "max_length=2.0"),
        ({"embedding_dim": 0}, "embedding_dim=0"),
        ({"max_wavelength": -1}, "max_wavelength=-1"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    args = {"vocabulary_size": VOCAB, "max_length": MAX_LEN, "embedding_dim": DIM, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        TokenAndPositionEmbedding(**args)


def test_keras_hub_argument_name_gets_a_hint():
    with pytest.raises(ValueError, match="sequence_length=10.*max_length"):
        TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, sequence_length=10)


@pytest.mark.parametrize("shape", [(6,), (2, 6, 1)])
def test_rejects_wrong_rank(shape):
    with pytest.raises(ValueError, match=re.escape(str(shape))):
        make()()(np.ones(shape, "int32"))


# ------------------------------------------------------------ generic checks
POSITIONALS = ["learned", "sinusoidal"]


def test_config_round_trip():
    clone = helpers.check_config_round_trip(
        lambda: TokenAndPositionEmbedding(
            VOCAB, MAX_LEN, DIM, positional="sinusoidal", scale_embeddings=True, mask_zero=True,
            embeddings_initializer=keras.initializers.RandomNormal(stddev=0.3), positions_initializer="zeros",
            max_wavelength=500,
        )
    )
    assert (clone.positional, clone.scale_embeddings, clone.mask_zero, clone.max_wavelength) == (
        "sinusoidal", True, True, 500,
    )
    assert clone.embeddings_initializer.stddev == 0.3
    assert isinstance(clone.positions_initializer, keras.initializers.Zeros)


@pytest.mark.parametrize("positional", POSITIONALS)
def test_keras_round_trip(positional, tmp_path):
    helpers.check_keras_round_trip(make(positional, mask_zero=True, scale_embeddings=True), PADDED, tmp_path)


@pytest.mark.parametrize("positional", POSITIONALS)
def test_symbolic_shapes(positional):
    helpers.check_symbolic_shapes(make(positional), IDS)


@pytest.mark.parametrize("positional", POSITIONALS)
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_step(positional, jit_compile):
    helpers.check_fit_step(make(positional, mask_zero=True), PADDED, jit_compile=jit_compile)


@pytest.mark.parametrize("positional", POSITIONALS)
def test_mixed_bfloat16(positional):
    layer, out = helpers.check_mixed_bfloat16(make(positional), IDS)
    reference = make(positional)()
    reference.build((None, None))
    reference.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(out), to_numpy(reference(IDS)), atol=3e-2)


def test_docstring_example():
    embed = TokenAndPositionEmbedding(vocabulary_size=100, max_length=16, embedding_dim=8, mask_zero=True)
    ids = keras.ops.convert_to_tensor([[5, 7, 0, 0]])
    assert tuple(embed(ids).shape) == (1, 4, 8)
    assert keras.ops.convert_to_numpy(embed.compute_mask(ids)).tolist() == [[True, True, False, False]]


def test_start_index_tensor():
    layer = built()
    positions = to_numpy(layer.position_embedding.embeddings)
    tokens = to_numpy(layer.token_embedding.embeddings)
    out = layer(IDS[:, :2], start_index=ops.convert_to_tensor(6, "int32"))
    np.testing.assert_allclose(to_numpy(out), tokens[IDS[:, :2]] + positions[None, 6:8], atol=1e-6)


def test_reverse_call_is_the_tied_output_projection():
    layer = TokenAndPositionEmbedding(vocabulary_size=11, max_length=8, embedding_dim=4, mask_zero=True)
    layer(np.array([[1, 2, 0]]))
    hidden = np.random.default_rng(3).normal(size=(2, 3, 4)).astype("float32")
    logits = ops.convert_to_numpy(layer(hidden, reverse=True))
    table = ops.convert_to_numpy(layer.token_embedding.embeddings)
    np.testing.assert_allclose(logits, hidden @ table.T, atol=1e-5)
    symbolic = layer(keras.Input(shape=(None, 4)), reverse=True)
    assert tuple(symbolic.shape) == (None, None, 11)


# ---------------------------------------------------- float ids (keras.Input defaults to float32)
@pytest.mark.parametrize("positional", POSITIONALS)
def test_float_ids_are_masked_like_int_ids(positional):
    """`keras.Input(shape=(None,))` is float32: its padding is masked too, and attention skips it."""
    keras.utils.set_random_seed(3)
    from kerasformers.layers import TransformerEncoderLayer

    embed = make(positional, mask_zero=True)()
    inputs = keras.Input(shape=(None,))  # float32, as most users write it
    assert keras.backend.standardize_dtype(inputs.dtype) == "float32"
    embedded = embed(inputs)
    encoded = TransformerEncoderLayer(num_heads=2, hidden_dim=16)(embedded)
    model = keras.Model(inputs, [encoded, keras.layers.GlobalAveragePooling1D()(embedded)])

    padded = PADDED.astype("float32")
    np.testing.assert_array_equal(to_numpy(embed.compute_mask(padded)), PADDED != 0)
    out, pooled = (to_numpy(t) for t in model(padded))
    # The mask reached the next layers: the pooling averages real tokens only ...
    values = to_numpy(embed(padded))
    keep = (PADDED != 0)[..., None].astype("float32")
    np.testing.assert_allclose(pooled, (values * keep).sum(1) / keep.sum(1), rtol=1e-5, atol=1e-6)
    # ... and real positions attend to real positions only: the same as without any padding.
    for row, ids in enumerate(PADDED):
        length = int((ids != 0).sum())
        alone, _ = model(ids[None, :length].astype("float32"))
        np.testing.assert_allclose(out[row, :length], to_numpy(alone)[0], rtol=1e-5, atol=1e-5)


def test_float_ids_give_the_same_embeddings_as_int_ids():
    layer = built(mask_zero=True)
    np.testing.assert_allclose(to_numpy(layer(PADDED.astype("float32"))), to_numpy(layer(PADDED)), atol=1e-7)


def test_reverse_call_adds_no_mask():
    layer = built(mask_zero=True)
    hidden = np.zeros((2, 3, DIM), "float32")  # all zeros: a "padding" test on hidden states would mask them all
    assert layer.compute_mask(hidden) is None


# ---------------------------------------------------- pad ids and segments (pretrained checkpoints)
def test_padding_id_masks_that_id_and_keeps_id_zero():
    """GPT-2's id 0 is a real token: with `padding_id` only the pad id is masked."""
    layer = built(padding_id=7)
    ids = np.array([[0, 5, 7, 7]], "int32")
    assert to_numpy(layer.compute_mask(ids)).tolist() == [[True, True, False, False]]
    assert built().compute_mask(ids) is None  # neither mask_zero nor padding_id: no mask
    assert to_numpy(built(mask_zero=True).compute_mask(ids)).tolist() == [[False, True, True, True]]


def test_padding_id_mask_reaches_attention_in_a_functional_model():
    from kerasformers.layers import MultiHeadAttention

    inputs = keras.Input((None,), dtype="int32")
    x = make(padding_id=7)()(inputs)
    model = keras.Model(inputs, MultiHeadAttention(num_heads=2)(x))
    ids = np.array([[3, 0, 4, 7, 7]], "int32")
    longer = np.array([[3, 0, 4, 7, 7, 7, 7]], "int32")  # more padding: real positions unchanged
    np.testing.assert_allclose(model.predict(ids, verbose=0)[:, :3], model.predict(longer, verbose=0)[:, :3], atol=1e-6)


def test_mask_zero_and_another_padding_id_conflict():
    with pytest.raises(ValueError, match="padding_id=3"):
        TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, mask_zero=True, padding_id=3)
    with pytest.raises(ValueError, match="padding_id=20"):
        TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, padding_id=VOCAB)


def test_segment_embedding_adds_the_segment_rows():
    layer = built(num_segments=2)
    segments = np.array([[0, 0, 0, 1, 1, 1], [0, 1, 0, 1, 0, 1]], "int32")
    table = to_numpy(layer.segment_embedding.embeddings)
    plain = to_numpy(layer.token_embedding(IDS)) + to_numpy(layer.position_embedding.embeddings)[:6]
    np.testing.assert_allclose(to_numpy(layer(IDS, segment_ids=segments)), plain + table[segments], atol=1e-6)
    np.testing.assert_allclose(to_numpy(layer(IDS)), plain + table[0], atol=1e-6)  # default: one segment


def test_segment_ids_without_a_segment_table_are_an_error():
    with pytest.raises(ValueError, match="num_segments=None"):
        built()(IDS, segment_ids=np.zeros_like(IDS))


def test_config_round_trip_with_pad_id_and_segments():
    clone = helpers.check_config_round_trip(lambda: TokenAndPositionEmbedding(VOCAB, MAX_LEN, DIM, padding_id=5, num_segments=2))
    assert (clone.padding_id, clone.num_segments) == (5, 2)


def test_keras_round_trip_with_pad_id_and_segments(tmp_path):
    helpers.check_keras_round_trip(make(padding_id=5, num_segments=2), np.array([[1, 0, 5, 5]], "int32"), tmp_path)
