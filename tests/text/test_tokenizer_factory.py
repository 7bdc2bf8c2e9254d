"""`make_tokenizer` (the one tokenizer factory), `VocabularyTooLargeError` and `encode`.

The reference functions below are verbatim copies of the helpers they replace
(`tasks/translation.py::_train_tokenizer` and `encode`,
`tasks/classification.py::encode`, `tasks/language_modeling.py::make_tokenizer`),
kept here so the new public functions are checked against the old behaviour
after the old ones are gone.
"""

import pickle
import re

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasformers import text
from kerasformers.text import (
    SPECIAL_TOKENS,
    TOKENIZER_KINDS,
    UNK_TOKEN,
    CharacterTokenizer,
    VocabularyTooLargeError,
    encode,
    make_tokenizer,
    special_token_id,
    train_sentence_piece,
)

SPANISH = ["hola mundo", "el gato come pescado", "la casa es muy grande", "¿dónde está el baño?",
           "me gusta la música", "el perro duerme en la casa", "tengo un gato negro"] * 5
ENGLISH = ["hello world", "the cat eats fish", "the house is very big", "where is the bathroom?",
           "i like music", "the dog sleeps in the house", "i have a black cat"] * 5


# --- the old helpers, copied ------------------------------------------------------------------

def old_train_tokenizer(kind, texts, vocabulary_size):
    """tasks/translation.py::_train_tokenizer (parsed the error message; printed)."""
    if kind == "word_piece":
        return text.train_word_piece(texts, vocabulary_size)
    if kind == "char":
        characters = {c for t in texts for c in t}
        return text.train_sentence_piece(texts, len(characters) + len(text.SPECIAL_TOKENS) + 1, model_type="char")
    try:
        return text.train_sentence_piece(texts, vocabulary_size, model_type=kind)
    except ValueError as error:
        limit = re.search(r"allows at most (\d+)", str(error))
        if not limit:
            raise
        return text.train_sentence_piece(texts, int(limit.group(1)), model_type=kind)


def old_translation_encode(tokenizer, texts, length):
    ids = np.zeros((len(texts), length), "int32")
    if not texts:
        return ids
    unk = text.special_token_id(tokenizer, text.UNK_TOKEN) or 1
    for row, tokens in enumerate(tokenizer(tf.constant(list(texts)))):
        tokens = np.asarray(tokens, "int32")[:length]
        ids[row, : len(tokens)] = tokens
        if not len(tokens):
            ids[row, 0] = unk
    return ids


def old_classification_encode(tokenizer, texts, length):
    ids = np.zeros((len(texts), length), "int32")
    if texts:
        for row, tokens in enumerate(tokenizer(tf.constant(list(texts)))):
            tokens = np.asarray(tokens, "int32")[:length]
            ids[row, : len(tokens)] = tokens
    return ids


# --- make_tokenizer -----------------------------------------------------------------------------

def test_kinds_are_listed():
    assert set(TOKENIZER_KINDS) == {"word_piece", "unigram", "bpe", "char", "sentence_piece", "character", "byte"}
    with pytest.raises(ValueError, match=r"`kind` must be one of .*Received: kind='spm'"):
        make_tokenizer("spm", SPANISH, 40)


@pytest.mark.parametrize("kind, size", [("unigram", 40), ("bpe", 60), ("char", None), ("word_piece", 80),
                                        ("unigram", 5000), ("bpe", 5000), ("char", 5000)])
def test_same_vocabulary_as_the_old_translation_helper(kind, size):
    new = make_tokenizer(kind, SPANISH, size)
    old = old_train_tokenizer(kind, SPANISH, size)
    assert new.get_vocabulary() == old.get_vocabulary()
    assert new.get_vocabulary()[:4] == list(SPECIAL_TOKENS)
    sentences = tf.constant(SPANISH[:3])
    assert [list(r) for r in new(sentences)] == [list(r) for r in old(sentences)]


def test_sentence_piece_is_an_alias_of_unigram_and_still_takes_a_model_type():
    assert make_tokenizer("sentence_piece", SPANISH, 40).get_vocabulary() == \
        make_tokenizer("unigram", SPANISH, 40).get_vocabulary()
    assert make_tokenizer("sentence_piece", SPANISH, 60, model_type="bpe").get_vocabulary() == \
        make_tokenizer("bpe", SPANISH, 60).get_vocabulary()
    with pytest.raises(ValueError, match="model_type='bpe'"):
        make_tokenizer("unigram", SPANISH, 60, model_type="bpe")


def test_a_too_large_vocabulary_is_fitted_to_the_corpus_without_parsing_a_message():
    with pytest.raises(VocabularyTooLargeError) as caught:
        train_sentence_piece(SPANISH, 5000)
    error = caught.value
    assert isinstance(error, ValueError)  # old `except ValueError` callers keep working
    assert error.vocabulary_size == 5000 and isinstance(error.limit, int) and 5 <= error.limit < 5000
    assert f"This corpus allows at most {error.limit}." in str(error)
    assert pickle.loads(pickle.dumps(error)).limit == error.limit

    fitted = make_tokenizer("unigram", SPANISH, 5000)
    assert fitted.vocabulary_size() == error.limit
    with pytest.raises(VocabularyTooLargeError, match="vocabulary_size=5000"):
        make_tokenizer("unigram", SPANISH, 5000, fit_to_corpus=False)
    assert make_tokenizer("unigram", SPANISH, 40, fit_to_corpus=False).vocabulary_size() == 40


def test_a_too_small_vocabulary_is_a_plain_value_error():
    with pytest.raises(ValueError, match="vocabulary_size=6") as caught:
        make_tokenizer("unigram", SPANISH, 6)
    assert not isinstance(caught.value, VocabularyTooLargeError)
    with pytest.raises(ValueError, match="vocabulary_size=3"):
        make_tokenizer("bpe", SPANISH, 3)


def test_a_corpus_string_is_used_line_by_line_as_the_language_model_task_did():
    corpus = "\n".join(SPANISH) + "\n\n   \n"
    lines = [line for line in corpus.split("\n") if line.strip()]
    assert make_tokenizer("unigram", corpus, 5000).get_vocabulary() == \
        old_train_tokenizer("unigram", lines, 5000).get_vocabulary()
    character = make_tokenizer("character", corpus)
    assert isinstance(character, CharacterTokenizer)
    assert character.get_vocabulary() == text.character_tokenizer(corpus).get_vocabulary()  # "\n" included


def test_byte_needs_no_text_and_others_need_what_they_need():
    assert isinstance(make_tokenizer("byte"), keras_hub.tokenizers.ByteTokenizer)
    with pytest.raises(ValueError, match="needs `texts`"):
        make_tokenizer("char")
    with pytest.raises(ValueError, match="needs `vocabulary_size`"):
        make_tokenizer("bpe", SPANISH)
    with pytest.raises(ValueError, match="takes no other arguments"):
        make_tokenizer("character", SPANISH, lowercase=True)


def test_a_dataset_of_strings_is_accepted():
    dataset = tf.data.Dataset.from_tensor_slices(SPANISH).batch(4)
    assert make_tokenizer("bpe", dataset, 60).get_vocabulary() == make_tokenizer("bpe", SPANISH, 60).get_vocabulary()


# --- encode -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizers():
    return {
        "unigram": make_tokenizer("unigram", ENGLISH, 5000),
        "char": make_tokenizer("char", ENGLISH),
        "word_piece": make_tokenizer("word_piece", ENGLISH, 80),
        "character": make_tokenizer("character", ENGLISH),
        "byte": make_tokenizer("byte"),
    }


TEXTS = ["the cat eats fish in the big house every day", "", "hello", "   ", "où?"]


@pytest.mark.parametrize("kind", ["unigram", "char", "word_piece", "character", "byte"])
@pytest.mark.parametrize("length", [1, 4, 64])
def test_encode_matches_both_old_helpers(tokenizers, kind, length):
    tokenizer = tokenizers[kind]
    plain = encode(tokenizer, TEXTS, length)
    np.testing.assert_array_equal(plain, old_classification_encode(tokenizer, TEXTS, length))
    unk = special_token_id(tokenizer, UNK_TOKEN) or 1
    filled = encode(tokenizer, TEXTS, length, empty_id=unk)
    np.testing.assert_array_equal(filled, old_translation_encode(tokenizer, TEXTS, length))
    assert plain.dtype == np.int32 and plain.shape == (len(TEXTS), length)
    assert (plain[1] == 0).all() and filled[1, 0] == unk and (filled[1, 1:] == 0).all()


def test_encode_edges(tokenizers):
    tokenizer = tokenizers["character"]
    assert encode(tokenizer, [], 5).shape == (0, 5)
    assert encode(tokenizer, ("ab",), 3).tolist() == [[tokenizer.token_to_id("a"), tokenizer.token_to_id("b"), 0]]
    with pytest.raises(ValueError, match="not one string"):
        encode(tokenizer, "hello", 5)
    with pytest.raises(ValueError, match="Received: length=0"):
        encode(tokenizer, ["a"], 0)
    with pytest.raises(ValueError, match="Received: empty_id=-1"):
        encode(tokenizer, ["a"], 2, empty_id=-1)
