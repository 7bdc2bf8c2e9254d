"""`translate` on a TransformerSeq2Seq: cached decoding equals the full model, batching, end token, beams.

(The model's own cached step, `call_with_cache`, is tested in tests/models.)
"""

import keras
import numpy as np
import pytest
from _generation_setup import PAD, SOURCE_LENGTHS, SOURCES, START, TARGET_LENGTH

from kerasformers.generation import trace_count, translate


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
    # The uncached (full re-computation) path agrees.
    np.testing.assert_array_equal(
        translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, end_token_id=None, use_cache=False), greedy
    )


class StepOnly:
    """Not a kerasformers model: a plain object that offers the encoder-decoder step by delegation."""

    def __init__(self, model):
        self._model = model
        self.encoder_vocabulary_size = model.encoder_vocabulary_size
        self.target_vocabulary_size = model.target_vocabulary_size
        self.max_length = model.max_length

    def encode(self, source_ids):
        return self._model.encode(source_ids)

    def init_cache(self, encoder_outputs, encoder_padding_mask, max_length):
        return self._model.init_cache(encoder_outputs, encoder_padding_mask, max_length)

    def call_with_cache(self, token_ids, cache, index):
        return self._model.call_with_cache(token_ids, cache, index)


def test_any_object_with_the_step_translates(seq2seq, greedy):
    wrapper = StepOnly(seq2seq)
    np.testing.assert_array_equal(translate(wrapper, SOURCES, max_length=TARGET_LENGTH, end_token_id=None), greedy)
    assert trace_count(wrapper) == 1


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
