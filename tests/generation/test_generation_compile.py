"""TensorFlow: one XLA-compiled decoding function per shape and settings, never retraced for new inputs."""

import keras
import numpy as np
import pytest
from _generation_setup import NEW_TOKENS, PROMPTS, SOURCES, TARGET_LENGTH

from kerasformers.generation import generate, trace_count, translate

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="compilation is TensorFlow-only")


def test_language_model_traces_once_per_shape(lm):
    generate(lm, PROMPTS, NEW_TOKENS)
    count = trace_count(lm)
    rng = np.random.default_rng(0)
    for _ in range(3):  # new ids and new row lengths, same (batch, prompt_length)
        prompts = rng.integers(4, 32, size=PROMPTS.shape).astype("int32")
        prompts[:, rng.integers(1, PROMPTS.shape[1]) :] = 0
        generate(lm, prompts, NEW_TOKENS)
    generate(lm, PROMPTS.astype("int64").tolist(), NEW_TOKENS)  # other containers and dtypes
    assert trace_count(lm) == count
    wider = np.pad(PROMPTS, ((0, 0), (0, 1)))
    generate(lm, wider, NEW_TOKENS)
    assert trace_count(lm) == count + 1  # a new shape compiles once
    generate(lm, wider[::-1].copy(), NEW_TOKENS)
    assert trace_count(lm) == count + 1


def test_seq2seq_traces_once_per_shape(seq2seq):
    translate(seq2seq, SOURCES, max_length=TARGET_LENGTH, end_token_id=None)
    count = trace_count(seq2seq)
    translate(seq2seq, SOURCES[::-1].copy(), max_length=TARGET_LENGTH, end_token_id=None)
    translate(seq2seq, SOURCES + 1, max_length=TARGET_LENGTH, end_token_id=None)
    assert trace_count(seq2seq) == count
    translate(seq2seq, SOURCES[:, :4], max_length=TARGET_LENGTH, end_token_id=None)
    assert trace_count(seq2seq) == count + 1
