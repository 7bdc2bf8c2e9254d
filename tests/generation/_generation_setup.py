"""Constants and tiny models shared by the generation tests.

The models that go through compiled generation have one decoder layer (every
new shape or setting is an XLA compilation, and the suite must stay fast); the
step-by-step cache tests use two layers.
"""

import keras
import numpy as np

import kerasformers as kf

VOCABULARY = 32
PAD, START, END = 0, 2, 3

# Right-padded prompts of lengths 5, 3 and 1.
PROMPTS = np.array(
    [[5, 9, 14, 7, 21], [11, 4, 30, 0, 0], [17, 0, 0, 0, 0]],
    dtype="int32",
)
PROMPT_LENGTHS = [5, 3, 1]
NEW_TOKENS = 8

# Sources of lengths 3 and 6.
SOURCES = np.array([[5, 6, 7, 0, 0, 0], [8, 9, 10, 11, 12, 13]], dtype="int32")
SOURCE_LENGTHS = [3, 6]
TARGET_LENGTH = 8


def make_language_model(num_layers=1):
    keras.utils.set_random_seed(0)
    return kf.TransformerLanguageModel.from_preset(
        "tiny", vocabulary_size=VOCABULARY, max_length=16, num_layers=num_layers, dropout=0.0
    )


def make_seq2seq(tie_embeddings=False, num_decoder_layers=1):
    # Untied output projection: the untrained tied model only ever repeats [START]. Seeds that give varied
    # greedy output (and a beam search that differs from it); the backends draw different weights.
    keras.utils.set_random_seed({"jax": 6}.get(keras.backend.backend(), 4))
    return kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=VOCABULARY, max_length=12, num_encoder_layers=1,
        num_decoder_layers=num_decoder_layers, dropout=0.0, tie_embeddings=tie_embeddings,
    )

