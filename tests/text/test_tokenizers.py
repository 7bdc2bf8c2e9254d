"""Tokenizers: specials at 0-3, text -> ids -> text, TF graphs, tf.data, save/load."""

import os

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasformers.text import (
    CharacterTokenizer,
    classification_dataset,
    character_tokenizer,
    decode,
    load_tokenizer,
    make_tokenizer,
    save_tokenizer,
    special_token_id,
    train_sentence_piece,
    train_word_piece,
)

SPANISH = [
    "hola mundo",
    "el gato come pescado",
    "la casa es muy grande",
    "¿dónde está el baño?",
    "me gusta la música",
    "el perro duerme en la casa",
    "tengo un gato negro",
    "ella come una manzana",
] * 5
SPECIALS = ["[PAD]", "[UNK]", "[START]", "[END]"]


@pytest.fixture(scope="module")
def word_piece():
    return train_word_piece(SPANISH, 80)


@pytest.fixture(scope="module")
def sentence_piece():
    return train_sentence_piece(SPANISH, 40)


@pytest.fixture(scope="module")
def characters():
    return character_tokenizer(" ".join(SPANISH) + "\n¿¡?!")


def ragged_to_lists(ids):
    if isinstance(ids, tf.RaggedTensor):
        return ids.to_list()
    return [list(map(int, row)) for row in ids]


def as_text(strings):
    """Python str (or list of str) from eager/graph, bytes/str outputs."""
    strings = np.asarray(strings)

    def one(s):
        return s.decode("utf-8") if isinstance(s, bytes) else str(s)

    if strings.ndim == 0:
        return one(strings.item())
    return [one(s) for s in strings.tolist()]


def as_ids(ids):
    return np.asarray(ids).tolist()


# --- the three trained tokenizers -----------------------------------------------------

@pytest.mark.parametrize("name", ["word_piece", "sentence_piece"])
def test_special_tokens_at_0_to_3(name, request):
    tokenizer = request.getfixturevalue(name)
    assert tokenizer.get_vocabulary()[:4] == SPECIALS
    assert [tokenizer.token_to_id(t) for t in SPECIALS] == [0, 1, 2, 3]
    assert [special_token_id(tokenizer, t) for t in SPECIALS] == [0, 1, 2, 3]
    assert special_token_id(tokenizer, "[MASK]") is None  # not the [UNK] id
    assert tokenizer.vocabulary_size() <= 80
    # no real text maps to padding
    ids = tf.function(tokenizer)(tf.constant(SPANISH[:8])).flat_values.numpy()
    assert ids.min() > 0 and 1 not in ids  # no [UNK] on the training text


@pytest.mark.parametrize("name", ["word_piece", "sentence_piece", "characters"])
def test_round_trip_text_ids_text(name, request):
    tokenizer = request.getfixturevalue(name)
    texts = ["el gato come pescado", "hola mundo", "dónde está el perro"]
    ids = tf.function(tokenizer)(tf.constant(texts))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert as_text(tokenizer.detokenize(ids)) == texts


def test_sentence_piece_is_reversible_with_punctuation(sentence_piece, characters):
    text = "¿dónde está el gato?"
    for tokenizer in (sentence_piece, characters):
        ids = tokenizer.tokenize(text)
        assert as_text(tokenizer.detokenize(ids)) == text


def test_word_piece_lowercases_and_splits_punctuation(word_piece):
    ids = word_piece.tokenize("Hola Mundo!")
    assert as_text(word_piece.detokenize(ids)).startswith("hola mundo")
    assert word_piece.get_config()["lowercase"] is True


def test_sentence_piece_lowercase_option():
    tokenizer = train_sentence_piece(SPANISH, 40, lowercase=True)
    upper = np.asarray(tokenizer.tokenize("HOLA MUNDO"))
    lower = np.asarray(tokenizer.tokenize("hola mundo"))
    np.testing.assert_array_equal(upper, lower)


def test_sentence_piece_bpe_and_no_files_left(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tokenizer = train_sentence_piece(SPANISH, 45, model_type="bpe")
    assert tokenizer.vocabulary_size() == 45
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["word_piece", "sentence_piece", "characters"])
def test_scalar_and_batch_inside_tf_function(name, request):
    tokenizer = request.getfixturevalue(name)

    @tf.function
    def round_trip(text):
        return tokenizer.detokenize(tokenizer.tokenize(text))

    scalar_ids = tf.function(tokenizer.tokenize)(tf.constant("hola mundo"))
    assert scalar_ids.shape.rank == 1 and scalar_ids.dtype == tf.int32
    assert as_text(round_trip(tf.constant("hola mundo"))) == "hola mundo"
    assert as_text(round_trip(tf.constant(["hola mundo", "la casa"]))) == ["hola mundo", "la casa"]
    # The eager (keras_hub Python) path gives the same ids as the TF graph.
    np.testing.assert_array_equal(np.asarray(tokenizer.tokenize("hola mundo")), scalar_ids.numpy())


@pytest.mark.parametrize("name", ["word_piece", "sentence_piece", "characters"])
def test_inside_tf_data_map(name, request):
    tokenizer = request.getfixturevalue(name)
    texts = ["hola mundo", "el gato come pescado", "la casa"]
    per_example = tf.data.Dataset.from_tensor_slices(texts).map(tokenizer)
    per_batch = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer)
    one_by_one = [list(x) for x in per_example.as_numpy_iterator()]
    batched = ragged_to_lists(next(iter(per_batch)))
    assert one_by_one == batched
    back = tf.data.Dataset.from_tensor_slices(texts).batch(3).map(tokenizer).map(tokenizer.detokenize)
    assert as_text(next(iter(back))) == texts


@pytest.mark.parametrize("name", ["word_piece", "sentence_piece", "characters"])
def test_save_load_gives_identical_ids(name, request, tmp_path):
    tokenizer = request.getfixturevalue(name)
    directory = save_tokenizer(tokenizer, tmp_path / "tok")
    assert os.path.isfile(os.path.join(directory, "tokenizer.json"))
    loaded = load_tokenizer(directory)
    assert type(loaded) is type(tokenizer)
    texts = tf.constant(SPANISH[:8] + ["xyz ¿qué? Ω"])
    expected = tf.function(tokenizer)(texts)
    got = tf.function(loaded)(texts)
    assert ragged_to_lists(got) == ragged_to_lists(expected)
    assert loaded.get_vocabulary() == tokenizer.get_vocabulary()


def test_load_tokenizer_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        load_tokenizer(tmp_path / "nothing_here")


def test_decode_drops_padding_start_and_end(word_piece, sentence_piece, characters):
    for tokenizer in (word_piece, sentence_piece):
        ids = as_ids(tokenizer.tokenize("hola mundo"))
        padded = tf.constant([[2] + ids + [3, 0, 0], [2] + ids + [0, 0, 0]])
        assert as_text(decode(tokenizer, padded)) == ["hola mundo", "hola mundo"]
        assert as_text(tf.function(lambda x: decode(tokenizer, x))(padded[0])) == "hola mundo"
    # The character tokenizer has no [START]/[END]: ids 2 and 3 are characters.
    ids = as_ids(characters.tokenize("el gato"))
    assert as_text(decode(characters, ids + [0, 0])) == "el gato"
    with pytest.raises(ValueError, match=r"Received shape \(1, 1, 2\)"):
        decode(characters, [[[1, 2]]])


def test_wordpiece_detokenize_without_decode_shows_padding(word_piece):
    # Why `decode` exists: keras_hub writes padding as text.
    assert "[PAD]" in as_text(word_piece.detokenize([5, 0]))


# --- character tokenizer ----------------------------------------------------------------

def test_character_tokenizer_ids_are_sorted_code_points_from_one():
    tokenizer = character_tokenizer(["ba", "cañ"])
    assert tokenizer.get_vocabulary() == ["[PAD]", "a", "b", "c", "ñ"]
    assert tokenizer.vocabulary_size() == 5
    assert as_ids(tokenizer.tokenize("cañab")) == [3, 1, 4, 1, 2]
    # unknown characters and padding are 0; 0 and out-of-range ids decode to nothing
    assert as_ids(tokenizer.tokenize("aZb")) == [1, 0, 2]
    assert as_text(tokenizer.detokenize([3, 1, 0, 99, -1, 4])) == "cañ"
    assert tokenizer.token_to_id("ñ") == 4 and tokenizer.id_to_token(4) == "ñ"


def test_character_tokenizer_sequence_length_pads_and_truncates():
    tokenizer = CharacterTokenizer(vocabulary=list("abc"), sequence_length=4)
    ids = tokenizer.tokenize(tf.constant(["ab", "abcabc"]))
    np.testing.assert_array_equal(np.asarray(ids), [[1, 2, 0, 0], [1, 2, 3, 1]])
    assert as_ids(tokenizer.tokenize("ab")) == [1, 2, 0, 0]


def test_character_tokenizer_keras_serialization(characters):
    config = keras.saving.serialize_keras_object(characters)
    assert config["config"]["vocabulary"] == characters.get_vocabulary()[1:]
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, CharacterTokenizer)
    text = tf.constant(["dónde está", "¿¡?!"])
    assert ragged_to_lists(clone(text)) == ragged_to_lists(characters(text))
    from_vocabulary = CharacterTokenizer(vocabulary=characters.get_vocabulary())
    assert from_vocabulary.get_vocabulary() == characters.get_vocabulary()


def test_character_tokenizer_bad_vocabulary():
    with pytest.raises(ValueError, match="single characters"):
        CharacterTokenizer(vocabulary=["a", "bc"])
    with pytest.raises(ValueError, match=r"repeats characters: \['a'\]"):
        CharacterTokenizer(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="no character"):
        character_tokenizer("")


# --- make_tokenizer and argument errors ----------------------------------------------

def test_make_tokenizer_kinds(tmp_path):
    assert isinstance(make_tokenizer("character", "abc"), CharacterTokenizer)
    assert isinstance(make_tokenizer("word_piece", SPANISH, 60), keras_hub.tokenizers.WordPieceTokenizer)
    assert isinstance(
        make_tokenizer("sentence_piece", SPANISH, 40), keras_hub.tokenizers.SentencePieceTokenizer
    )
    byte = make_tokenizer("byte")
    assert as_ids(byte.tokenize("Añ")) == [65, 195, 177]  # not lowercased
    loaded = load_tokenizer(save_tokenizer(byte, tmp_path / "byte"))
    assert as_ids(loaded.tokenize("Añ")) == [65, 195, 177]
    assert as_text(tf.function(loaded.detokenize)(tf.constant([[65, 195, 177, 0]]))) == ["Añ"]
    with pytest.raises(ValueError, match="kind='wordpiece'"):
        make_tokenizer("wordpiece", SPANISH, 10)
    with pytest.raises(ValueError, match="vocabulary_size"):
        make_tokenizer("word_piece", SPANISH)


def test_training_argument_errors():
    with pytest.raises(ValueError, match="vocabulary_size=3"):
        train_word_piece(SPANISH, 3)
    with pytest.raises(ValueError, match="texts` is empty"):
        train_sentence_piece([], 40)
    with pytest.raises(ValueError, match="model_type='wordpiece'"):
        train_sentence_piece(SPANISH, 40, model_type="wordpiece")
    with pytest.raises(ValueError, match=r"vocabulary_size=5000\. This corpus allows at most \d+"):
        train_sentence_piece(SPANISH, 5000)
    with pytest.raises(ValueError, match="not one string"):
        train_word_piece("hola mundo", 40)


def test_sentence_piece_survives_set_random_seed_in_a_pipeline(tmp_path):
    """keras.utils.set_random_seed clears TF's kernel cache; TF Text's anonymous SentencePiece resource died with it."""
    texts = ["hola mundo", "hola amigo", "buenos dias"] * 10
    trained = train_sentence_piece(texts, 19)
    expected = [np.asarray(row).tolist() for row in trained(texts[:3])]
    handmade = keras_hub.tokenizers.SentencePieceTokenizer(proto=trained.proto, dtype="int32")  # not ours
    save_tokenizer(trained, tmp_path / "spm")
    loaded = load_tokenizer(tmp_path / "spm")
    for tokenizer in (trained, handmade, loaded):
        tokenizer(texts[:1])  # used once eagerly: the kernel now owns the model
        keras.utils.set_random_seed(0)
        data = classification_dataset(texts[:3], [0, 1, 0], tokenizer, batch_size=3, max_length=16, shuffle=False,
                                      padding="max_length")  # in order (buckets would regroup the rows)
        ids = next(iter(data))[0]["token_ids"].numpy()
        assert [row[row != 0].tolist() for row in ids] == expected
