"""`generate` on a TransformerLanguageModel: cached decoding equals full re-computation, batching, samplers.

(The model's own cached step, `call_with_cache`, is tested in tests/models.)
"""

import keras
import numpy as np
import pytest
from _generation_setup import END, NEW_TOKENS, PAD, PROMPT_LENGTHS, PROMPTS, VOCABULARY

from kerasformers.generation import generate, trace_count


def full_logits(model, ids):
    """Logits of the training graph on `ids` `(batch, length)`, float64 NumPy."""
    return np.asarray(keras.ops.convert_to_numpy(model({"token_ids": np.asarray(ids, "int32")}, training=False)), "float64")


def reference_greedy(model, prompt, max_new_tokens, end_token_id=None):
    """Greedy decoding without any cache: the whole model on the growing sequence, argmax of the last position."""
    sequence = list(prompt)
    for _ in range(max_new_tokens):
        token = int(np.argmax(full_logits(model, [sequence])[0, -1]))
        sequence.append(token)
        if token == end_token_id:
            break
    return sequence


def expected_rows(model, end_token_id=None):
    width = PROMPTS.shape[1] + NEW_TOKENS
    rows = []
    for prompt, length in zip(PROMPTS, PROMPT_LENGTHS):
        sequence = reference_greedy(model, prompt[:length], NEW_TOKENS, end_token_id)
        rows.append(sequence + [PAD] * (width - len(sequence)))
    return np.array(rows)


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def generated_log_prob(model, row, start, stop):
    """Sum of log p(row[j] | row[:j]) over the generated positions `start <= j < stop`, by the full model."""
    logp = log_softmax(full_logits(model, [row[:stop]])[0])
    return sum(logp[j - 1, row[j]] for j in range(start, stop))


@pytest.fixture(scope="module")
def greedy(lm):
    return expected_rows(lm)


def test_cached_greedy_equals_uncached_reference(lm, greedy):
    prompts = PROMPTS.copy()
    out = generate(lm, prompts, NEW_TOKENS)
    assert out.shape == (3, PROMPTS.shape[1] + NEW_TOKENS) and out.dtype == np.int32
    np.testing.assert_array_equal(out, greedy)
    # The prompt is never altered: neither the caller's array nor the prompt part of the output.
    np.testing.assert_array_equal(prompts, PROMPTS)
    for row, length in enumerate(PROMPT_LENGTHS):
        np.testing.assert_array_equal(out[row, :length], PROMPTS[row, :length])
    # Each row generated exactly NEW_TOKENS tokens after its own prompt, then padding.
    assert all((out[row, length + NEW_TOKENS :] == PAD).all() for row, length in enumerate(PROMPT_LENGTHS))
    assert len({tuple(r[l:]) for r, l in zip(greedy, PROMPT_LENGTHS)}) > 1  # not a degenerate model


class StepOnly:
    """Not a kerasformers model: a plain object that offers the causal language model step by delegation."""

    def __init__(self, model):
        self._model = model
        self.vocabulary_size, self.max_length = model.vocabulary_size, model.max_length
        self.calls = 0

    def init_cache(self, batch_size, max_length):
        return self._model.init_cache(batch_size, max_length)

    def call_with_cache(self, token_ids, cache, index):
        self.calls += 1  # Python side effect: counts traces (TF) or calls
        return self._model.call_with_cache(token_ids, cache, index)


def test_any_object_with_the_step_generates(lm, greedy):
    wrapper = StepOnly(lm)
    np.testing.assert_array_equal(generate(wrapper, PROMPTS, NEW_TOKENS), greedy)
    assert wrapper.calls > 0 and trace_count(wrapper) == 1
    np.testing.assert_array_equal(generate(wrapper, PROMPTS, NEW_TOKENS, num_beams=1), greedy)


def test_batch_rows_equal_each_prompt_alone(lm, greedy):
    batch = generate(lm, PROMPTS, NEW_TOKENS)
    for row in range(len(PROMPTS)):
        alone = generate(lm, PROMPTS[row : row + 1], NEW_TOKENS)  # a batch of one (one compiled shape)
        np.testing.assert_array_equal(alone[0], batch[row])


def test_uncached_generation_equals_cached(lm, greedy):
    np.testing.assert_array_equal(generate(lm, PROMPTS, NEW_TOKENS, use_cache=False), greedy)


def test_stops_at_the_end_token(lm, greedy):
    # Pick as end token one that greedy decoding produces mid-way in row 0.
    end = int(greedy[0, PROMPT_LENGTHS[0] + 2])
    out = generate(lm, PROMPTS, NEW_TOKENS, end_token_id=end)
    np.testing.assert_array_equal(out, expected_rows(lm, end_token_id=end))
    stop = PROMPT_LENGTHS[0] + list(greedy[0, PROMPT_LENGTHS[0] :]).index(end)
    assert out[0, stop] == end and (out[0, stop + 1 :] == PAD).all()


def test_beam_width_one_equals_greedy(lm, greedy):
    # With an end token, so that finished hypotheses are involved too.
    end = int(greedy[0, PROMPT_LENGTHS[0] + 2])
    np.testing.assert_array_equal(
        generate(lm, PROMPTS, NEW_TOKENS, sampler="beam", num_beams=1, end_token_id=end),
        expected_rows(lm, end_token_id=end),
    )


def test_beam_search_finds_sequences_at_least_as_likely_as_greedy(lm, greedy):
    beam = generate(lm, PROMPTS, NEW_TOKENS, num_beams=4, length_penalty=0.0)
    for row, length in enumerate(PROMPT_LENGTHS):
        np.testing.assert_array_equal(beam[row, :length], PROMPTS[row, :length])
        stop = length + NEW_TOKENS
        beam_logp = generated_log_prob(lm, beam[row], length, stop)
        greedy_logp = generated_log_prob(lm, greedy[row], length, stop)
        assert beam_logp >= greedy_logp - 1e-4, (row, beam_logp, greedy_logp)
    assert not np.array_equal(beam, greedy)  # the search explored beyond the greedy path


def test_top_k_with_k_one_equals_greedy(lm, greedy):
    np.testing.assert_array_equal(generate(lm, PROMPTS, NEW_TOKENS, sampler="top_k", top_k=1, seed=3), greedy)


def test_tiny_temperature_equals_greedy(lm, greedy):
    out = generate(lm, PROMPTS, NEW_TOKENS, sampler="top_p", top_p=1.0, temperature=1e-4, seed=5)
    np.testing.assert_array_equal(out, greedy)


def test_same_seed_same_samples_different_seed_different_samples(lm):
    def sample(seed):
        return generate(lm, PROMPTS, NEW_TOKENS, sampler="top_k", top_k=VOCABULARY, seed=seed, end_token_id=END)

    first = sample(1)
    count = trace_count(lm)
    np.testing.assert_array_equal(sample(1), first)
    assert not np.array_equal(sample(2), first)
    if keras.backend.backend() == "tensorflow":
        assert trace_count(lm) == count  # a new seed is not a new compilation
    for row, length in enumerate(PROMPT_LENGTHS):
        np.testing.assert_array_equal(first[row, :length], PROMPTS[row, :length])
        generated = list(first[row, length : length + NEW_TOKENS])
        if END in generated:  # padding after the end token
            assert all(t == PAD for t in generated[generated.index(END) + 1 :])
        assert (first[row, length + NEW_TOKENS :] == PAD).all()
