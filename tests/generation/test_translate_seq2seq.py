"""`translate` on a TransformerSeq2Seq: cached decoding equals the full model, batching, end token, beams."""

import keras
import numpy as np
import pytest
from _generation_setup import PAD, SOURCE_LENGTHS, SOURCES, START, TARGET_LENGTH, make_seq2seq

from kerasformers.generation import init_seq2seq_cache, seq2seq_call_with_cache, translate


def full_logits(model, source, decoder_ids):
    """Logits of the training graph, float64 NumPy `(batch, target_length, vocabulary)`."""
    inputs = {"encoder_token_ids": np.asarray(source, "int32"), "decoder_token_ids": np.asarray(decoder_ids, "int32")}
    return np.asarray(keras.ops.convert_to_numpy(model(inputs, training=False)), "float64")


def reference_greedy(model, source, max_length, end_token_id=None):
    """Greedy decoding without cache: the whole model on [START] + the tokens so far, argmax of the last position."""
    target = []
    for _ in range(max_length):
        token = int(np.argmax(full_logits(model, [source], [[START] + target])[0, -1]))
        target.append(token)
        if token == end_token_id:
            break
    return target + [PAD] * (max_length - len(target))


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def target_log_prob(model, source, target):
    logp = log_softmax(full_logits(model, [source], [[START] + list(target[:-1])])[0])
    return sum(logp[j, t] for j, t in enumerate(target))


def pick_end_token(row):
    """A token greedy decoding produces mid-way (not at the start), to use as end token."""
    return int(next(t for t in row[2:] if t not in (PAD, START) and t != row[0]))


@pytest.fixture(scope="module")
def greedy(seq2seq):
    return np.array([reference_greedy(seq2seq, source, TARGET_LENGTH) for source in SOURCES])


def test_cached_greedy_equals_uncached_reference(seq2seq, greedy):
    sources = SOURCES.copy()
    out = translate(seq2seq, sources, max_length=TARGET_LENGTH, end_token_id=None)
    assert out.shape == (2, TARGET_LENGTH) and out.dtype == np.int32
    np.testing.assert_array_equal(out, greedy)
    np.testing.assert_array_equal(sources, SOURCES)
    assert len(set(greedy[0])) > 1  # not a degenerate model
    # The model method delegates; the uncached (full re-computation) path agrees.
    np.testing.assert_array_equal(seq2seq.translate(SOURCES, max_length=TARGET_LENGTH, end_token_id=None), greedy)
    np.testing.assert_array_equal(
        translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, end_token_id=None, use_cache=False), greedy
    )


@pytest.mark.parametrize("tie_embeddings", [False, True])
def test_cached_step_logits_match_the_full_model(tie_embeddings):
    """Cross-attention cache computed once; every decoder step within 1e-5 of the full model."""
    model = make_seq2seq(tie_embeddings, num_decoder_layers=2)
    encoder_outputs, padding_mask = model.encode(SOURCES)
    cache = init_seq2seq_cache(model, encoder_outputs, padding_mask, 10)
    targets = np.full((2, 1), START, "int32")
    for index in range(10):
        logits, cache = seq2seq_call_with_cache(model, targets[:, -1:], cache, index)
        logits = keras.ops.convert_to_numpy(logits)[:, 0]
        np.testing.assert_allclose(logits, full_logits(model, SOURCES, targets)[:, -1], atol=1e-5)
        # Follow the second-best token: not the model's fixed point, and it feeds a padding id (0) on the way,
        # which the full model masks in the decoder input (so must the cache).
        next_tokens = np.argsort(logits, axis=-1)[:, -2]
        targets = np.concatenate([targets, next_tokens[:, None].astype("int32")], axis=1)


def test_batch_row_equals_its_source_alone(seq2seq, greedy):
    # The short source alone, without its padding columns: the batch's padding changes nothing.
    length = SOURCE_LENGTHS[0]
    alone = translate(seq2seq, SOURCES[:1, :length], max_length=TARGET_LENGTH, end_token_id=None)
    np.testing.assert_array_equal(alone[0], greedy[0])


def test_stops_at_the_end_token(seq2seq, greedy):
    end = pick_end_token(greedy[0])
    out = translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, end_token_id=end)
    expected = [reference_greedy(seq2seq, source, TARGET_LENGTH, end_token_id=end) for source in SOURCES]
    np.testing.assert_array_equal(out, expected)
    stop = list(greedy[0]).index(end)
    assert out[0, stop] == end and (out[0, stop + 1 :] == PAD).all()


def test_beam_width_one_equals_greedy(seq2seq, greedy):
    end = pick_end_token(greedy[0])
    expected = [reference_greedy(seq2seq, source, TARGET_LENGTH, end_token_id=end) for source in SOURCES]
    out = translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, num_beams=1, length_penalty=0.0, end_token_id=end)
    np.testing.assert_array_equal(out, expected)


def test_beam_search_is_at_least_as_likely_as_greedy(seq2seq, greedy):
    beam = translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, num_beams=4, length_penalty=0.0, end_token_id=None)
    for row, source in enumerate(SOURCES):
        beam_logp = target_log_prob(seq2seq, source, beam[row])
        greedy_logp = target_log_prob(seq2seq, source, greedy[row])
        assert beam_logp >= greedy_logp - 1e-4, (row, beam_logp, greedy_logp)
    assert not np.array_equal(beam, greedy)
