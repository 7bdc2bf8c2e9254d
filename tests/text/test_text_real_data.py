"""Slow checks on the real corpora in ../shared/data (skipped when the folder is absent)."""

import pathlib
import time
import warnings

import numpy as np
import pytest

from kerasformers.text import (
    character_tokenizer,
    classification_dataset,
    decode,
    language_model_dataset,
    read_labelled,
    read_pairs,
    read_text,
    split,
    split_text,
    train_sentence_piece,
    train_word_piece,
    translation_dataset,
)

DATA = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "data"
pytestmark = pytest.mark.slow


def corpus(relative):
    path = DATA / relative
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def tatoeba():
    path = corpus("anki-spa-eng/spa.txt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_pairs(path, source_column=1, target_column=0)


def test_tatoeba_reads_every_pair(tatoeba):
    assert len(tatoeba) == 118_964 and tatoeba.report.malformed == []
    assert (tatoeba.sources[0], tatoeba.targets[0]) == ("Ve.", "Go.")


def test_sentence_piece_is_faster_than_word_piece_on_tatoeba_spanish(tatoeba):
    start = time.perf_counter()
    spanish = train_sentence_piece(tatoeba.sources, 8000)
    sentence_piece_seconds = time.perf_counter() - start
    start = time.perf_counter()
    word_piece = train_word_piece(tatoeba.sources, 8000)
    word_piece_seconds = time.perf_counter() - start
    print(
        f"\n8,000-token vocabularies on {len(tatoeba)} Spanish sentences: "
        f"SentencePiece {sentence_piece_seconds:.1f} s, WordPiece {word_piece_seconds:.1f} s "
        f"({word_piece.vocabulary_size()} tokens)"
    )
    assert spanish.vocabulary_size() == 8000
    assert sentence_piece_seconds < word_piece_seconds


def test_tatoeba_translation_batches(tatoeba):
    train, validation = split(tatoeba, 0.1, seed=0)
    assert len(validation) == 11_896
    spanish = train_sentence_piece(train.sources, 4000)
    english = train_sentence_piece(train.targets, 4000)
    data = translation_dataset(train.sources, train.targets, spanish, english,
                               batch_size=64, max_length=20)
    inputs, labels = next(iter(data))
    assert inputs["encoder_token_ids"].shape == (64, 20) == labels.shape
    decoder, labels = inputs["decoder_token_ids"].numpy(), labels.numpy()
    real = decoder[:, 1:] != 0
    np.testing.assert_array_equal(decoder[:, 1:][real], labels[:, :-1][real])  # shifted by one
    # Short sentences come back intact from decoder inputs.
    texts = decode(english, decoder)  # eager: a list of str
    assert sum(t in train.targets for t in texts) > 50


def test_sst2_reads_and_batches():
    train = read_labelled(corpus("sst2-glue/train.tsv"))
    dev = read_labelled(corpus("sst2-glue/dev.tsv"))
    assert len(train) == 67_349 and len(dev) == 872
    assert train.class_names == ["0", "1"] and set(train.labels) == {0, 1}
    assert train.report.malformed == []
    tokenizer = train_sentence_piece(train.texts, 4000, lowercase=True)
    data = classification_dataset(dev.texts, dev.labels, tokenizer, batch_size=32,
                                  max_length=64, cls_token=True)
    inputs, labels = next(iter(data))
    assert inputs["token_ids"].shape == (32, 64) and (inputs["token_ids"][:, 0] == 2).numpy().all()


def test_tinyshakespeare_character_language_model():
    text = read_text(corpus("tinyshakespeare/input.txt"))
    assert len(text) == 1_115_394
    train, validation = split_text(text)
    tokenizer = character_tokenizer(text)
    assert tokenizer.vocabulary_size() == 66  # 65 characters + padding
    data = language_model_dataset(train, tokenizer, sequence_length=128, batch_size=32)
    inputs, labels = next(iter(data))
    assert inputs["token_ids"].shape == (32, 128)
    np.testing.assert_array_equal(inputs["token_ids"][:, 1:], labels[:, :-1])
    window = str(tokenizer.detokenize(inputs["token_ids"][0]))  # eager: a Python str
    assert window in train
