"""Beam search: GNMT length penalty, and exhaustive search when the beam holds every hypothesis."""

import itertools

import keras
import numpy as np
import pytest

import kerasformers as kf
from kerasformers.generation import generate, length_penalty_factor

VOCABULARY, END, NEW_TOKENS = 6, 1, 3
PROMPT = [4, 5]


def test_length_penalty_is_gnmt():
    for length, alpha in [(1, 0.6), (7, 0.6), (12, 1.0), (3, 0.0)]:
        got = float(keras.ops.convert_to_numpy(length_penalty_factor(length, alpha)))
        assert got == pytest.approx(((5 + length) / 6) ** alpha, rel=1e-6)


def continuation_log_probs(model):
    """Every continuation of NEW_TOKENS tokens, and their per-token log-probabilities by the full model."""
    continuations = np.array(list(itertools.product(range(VOCABULARY), repeat=NEW_TOKENS)), "int32")
    ids = np.concatenate([np.tile(PROMPT, (len(continuations), 1)), continuations], axis=1).astype("int32")
    logits = np.asarray(keras.ops.convert_to_numpy(model({"token_ids": ids}, training=False)), "float64")
    logits -= logits.max(-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    steps = np.arange(NEW_TOKENS)
    return continuations, logp[np.arange(len(ids))[:, None], len(PROMPT) + steps - 1, continuations]


def best_by_enumeration(continuations, token_logp, end, alpha):
    """The highest `log P / lp(len)` over every hypothesis of at most NEW_TOKENS tokens (ended by `end` or not)."""
    best, best_score = None, -np.inf
    for continuation, logp in zip(continuations, token_logp):
        ends = list(continuation).index(end) + 1 if end in continuation else NEW_TOKENS
        score = logp[:ends].sum() / ((5 + ends) / 6) ** alpha
        if score > best_score + 1e-9:
            best, best_score = list(continuation[:ends]), score
    return best + [0] * (NEW_TOKENS - len(best))


def model_where_the_length_penalty_matters():
    """A tiny model and an end token for which alpha = 1 and alpha = 0 disagree on the best hypothesis."""
    for seed in range(4, 20):  # seed 4 does on TensorFlow; other backends draw other weights
        keras.utils.set_random_seed(seed)
        model = kf.TransformerLanguageModel.from_preset(
            "tiny", vocabulary_size=VOCABULARY, max_length=8, num_layers=1, dropout=0.0, tie_embeddings=False
        )
        kernel = model.output_projection.kernel
        kernel.assign(kernel * 2.0)  # sharper distributions, so that the length penalty can change the winner
        continuations, token_logp = continuation_log_probs(model)
        for end in (1, 2, 3):
            best = [best_by_enumeration(continuations, token_logp, end, alpha) for alpha in (0.0, 1.0)]
            if best[0] != best[1]:
                return model, continuations, token_logp, end
    raise AssertionError("no seed where the length penalty matters")


def test_wide_beam_is_exhaustive_and_the_length_penalty_matters():
    model, continuations, token_logp, end = model_where_the_length_penalty_matters()
    # 2 * num_beams >= 5 ** 2 * 6 candidates at the last step: nothing is ever pruned, beam search is exact.
    out = generate(model, np.array([PROMPT]), NEW_TOKENS, num_beams=75, length_penalty=1.0, end_token_id=end)
    np.testing.assert_array_equal(out[0, len(PROMPT) :], best_by_enumeration(continuations, token_logp, end, 1.0))
