"""The per-row seeded sampler: distributions, filters, seeds, batch independence, XLA, and its use by `generate`."""

import keras
import numpy as np
import pytest
from _generation_setup import NEW_TOKENS, PROMPTS, VOCABULARY

from kerasformers.generation import generate, trace_count
from kerasformers.generation.sampling import SamplingOptions, gumbel_noise, sample_next_tokens

PROBABILITIES = np.array([0.05, 0.5, 0.3, 0.15], "float32")
ROWS = 6000  # one row per seed: frequencies within ~0.02 of the probabilities (3 standard errors)


def frequencies(temperature=1.0, top_k=0, top_p=1.0, probabilities=PROBABILITIES, index=0):
    logits = np.tile(np.log(probabilities), (ROWS, 1))
    options = SamplingOptions(
        np.full(ROWS, temperature, "float32"), np.full(ROWS, top_k, "int32"), np.full(ROWS, top_p, "float32"),
        np.arange(ROWS, dtype="int32"),
    )
    tokens = keras.ops.convert_to_numpy(sample_next_tokens(logits, options, index))
    return np.bincount(tokens, minlength=len(probabilities)) / ROWS


def test_samples_follow_the_softmax():
    np.testing.assert_allclose(frequencies(), PROBABILITIES, atol=0.02)


def test_temperature_sharpens_and_flattens():
    expected = PROBABILITIES**2 / (PROBABILITIES**2).sum()  # temperature 0.5 squares the probabilities
    np.testing.assert_allclose(frequencies(temperature=0.5), expected, atol=0.02)
    flat = np.sqrt(PROBABILITIES) / np.sqrt(PROBABILITIES).sum()
    np.testing.assert_allclose(frequencies(temperature=2.0), flat, atol=0.02)


def test_top_k_keeps_the_k_most_likely_renormalised():
    expected = np.array([0, 0.5, 0.3, 0], "float32") / 0.8
    np.testing.assert_allclose(frequencies(top_k=2), expected, atol=0.02)


def test_top_p_keeps_the_smallest_set_reaching_p():
    # 0.5 < 0.7 -> keep the second token too; 0.5 + 0.3 >= 0.7 -> stop there.
    expected = np.array([0, 0.5, 0.3, 0], "float32") / 0.8
    np.testing.assert_allclose(frequencies(top_p=0.7), expected, atol=0.02)
    np.testing.assert_allclose(frequencies(top_p=0.4), [0, 1, 0, 0], atol=0)  # the most likely token always stays


def test_top_k_then_top_p_on_the_renormalised_top_k():
    # top-3 renormalised: 0.5/0.95, 0.3/0.95, 0.15/0.95; p=0.8 keeps the first two (0.526 + 0.316 >= 0.8).
    expected = np.array([0, 0.5, 0.3, 0], "float32") / 0.8
    np.testing.assert_allclose(frequencies(top_k=3, top_p=0.8), expected, atol=0.02)


def test_greedy_rows_and_sampled_rows_in_one_batch():
    logits = np.log(np.tile(PROBABILITIES, (4, 1)))
    options = SamplingOptions(np.array([0, 1, 0, 1], "float32"), np.array([0, 1, 0, 0], "int32"),
                              np.ones(4, "float32"), np.arange(4, dtype="int32"))
    tokens = keras.ops.convert_to_numpy(sample_next_tokens(logits, options, 3))
    assert tokens[0] == tokens[2] == 1 and tokens[1] == 1  # greedy rows and top-1 give the argmax


def test_a_row_does_not_depend_on_its_batch():
    """Same seed, position and logits: the same token alone or among other rows (TF Serving batching)."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 50)).astype("float32")
    options = SamplingOptions(np.ones(5, "float32"), np.zeros(5, "int32"), np.ones(5, "float32"),
                              np.array([7, 8, 9, 10, 11], "int32"))
    together = keras.ops.convert_to_numpy(sample_next_tokens(logits, options, 4))
    for row in range(5):
        alone = SamplingOptions(*(x[row : row + 1] for x in options.as_tuple()))
        assert keras.ops.convert_to_numpy(sample_next_tokens(logits[row : row + 1], alone, 4))[0] == together[row]


def test_noise_changes_with_seed_position_and_token():
    ids = np.arange(64, dtype="int32")[None, :]
    base = keras.ops.convert_to_numpy(gumbel_noise(np.array([1], "int32"), 0, ids))
    assert np.unique(base).size == 64  # every token its own draw
    for other in (gumbel_noise(np.array([2], "int32"), 0, ids), gumbel_noise(np.array([1], "int32"), 1, ids)):
        assert np.abs(keras.ops.convert_to_numpy(other) - base).max() > 1.0
    # Gumbel(0, 1) over many draws: mean 0.5772 (Euler-Mascheroni), standard deviation pi / sqrt(6).
    many = keras.ops.convert_to_numpy(gumbel_noise(np.arange(200, dtype="int32"), 3, np.tile(ids, (200, 1))))
    assert abs(many.mean() - 0.5772) < 0.02 and abs(many.std() - np.pi / np.sqrt(6)) < 0.03


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="XLA through tf.function")
def test_xla_samples_equal_eager_samples():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    logits = rng.normal(size=(8, 40)).astype("float32")
    options = SamplingOptions(np.linspace(0, 2, 8).astype("float32"), np.array([0, 3, 0, 5, 0, 1, 0, 10], "int32"),
                              np.array([1, 1, 0.5, 0.9, 0.3, 1, 0.95, 1], "float32"), np.arange(8, dtype="int32"))
    eager = sample_next_tokens(logits, options, 2)
    compiled = tf.function(lambda *x: sample_next_tokens(x[0], SamplingOptions(*x[1:]), 2), jit_compile=True)
    np.testing.assert_array_equal(compiled(logits, *options.as_tuple()).numpy(), keras.ops.convert_to_numpy(eager))


def test_generate_samples_with_new_settings_without_recompiling(lm):
    first = generate(lm, PROMPTS, NEW_TOKENS, sampler="top_p", top_p=0.9, temperature=0.8, seed=11)
    count = trace_count(lm)
    np.testing.assert_array_equal(generate(lm, PROMPTS, NEW_TOKENS, sampler="top_p", top_p=0.9, temperature=0.8,
                                           seed=11), first)
    generate(lm, PROMPTS, NEW_TOKENS, sampler="top_k", top_k=VOCABULARY // 2, temperature=1.3, seed=12)
    generate(lm, PROMPTS, NEW_TOKENS)  # greedy: the same compiled function
    if keras.backend.backend() == "tensorflow":
        assert trace_count(lm) == count


def test_sampling_examples_run():
    import doctest

    from kerasformers.generation import sampling

    result = doctest.testmod(sampling, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0
