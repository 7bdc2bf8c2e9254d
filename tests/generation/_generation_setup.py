"""Constants and tiny models shared by the generation tests."""

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


def make_language_model():
    keras.utils.set_random_seed(0)
    return kf.TransformerLanguageModel.from_preset(
        "tiny", vocabulary_size=VOCABULARY, max_length=16, num_layers=2, dropout=0.0
    )


def make_seq2seq(tie_embeddings=False, num_decoder_layers=1):
    keras.utils.set_random_seed(4)
    # Untied output projection: the untrained tied model only ever repeats [START]; seed 4 gives varied output.
    return kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=VOCABULARY, max_length=12, num_encoder_layers=1,
        num_decoder_layers=num_decoder_layers, dropout=0.0, tie_embeddings=tie_embeddings,
    )

