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


@pytest.fixture(scope="module")
def peaked_model():
    keras.utils.set_random_seed(4)
    model = kf.TransformerLanguageModel.from_preset(
        "tiny", vocabulary_size=VOCABULARY, max_length=8, num_layers=1, dropout=0.0, tie_embeddings=False
    )
    kernel = model.output_projection.kernel
    kernel.assign(kernel * 2.0)  # sharper distributions, so that the length penalty changes the winner
    return model


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_is_exhaustive_and_the_length_penalty_matters(peaked_model, alpha):
    continuations, token_logp = continuation_log_probs(peaked_model)
    # An end token for which the length penalty changes the best hypothesis.
    end = next(
        e for e in (1, 2, 3)
        if best_by_enumeration(continuations, token_logp, e, 1.0) != best_by_enumeration(continuations, token_logp, e, 0.0)
    )
    expected = best_by_enumeration(continuations, token_logp, end, alpha)
    # 2 * num_beams >= 5 ** 2 * 6 candidates at the last step: nothing is ever pruned.
    out = generate(peaked_model, np.array([PROMPT]), NEW_TOKENS, num_beams=75, length_penalty=alpha, end_token_id=end)
    np.testing.assert_array_equal(out[0, len(PROMPT) :], expected)
