"""tf.data pipelines: names, shapes, dtypes, teacher-forcing shift, padding, buckets, seeds."""

import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from kerasformers.text import (
    LabelledTexts,
    ReadReport,
    TextPairs,
    bucket_lengths,
    character_tokenizer,
    classification_dataset,
    language_model_dataset,
    split,
    split_sentences,
    split_text,
    translation_dataset,
    truncation_report,
)

SOURCES = ["hola", "el gato come", "la casa es muy grande hoy", "sí",
           "tengo un perro negro", "me gusta", "ella come una manzana roja", "no"]
TARGETS = ["hello", "the cat eats", "the house is very big today", "yes",
           "i have a black dog", "i like it", "she eats a red apple", "no"]


def word_tokenizer(texts):
    # One id per word (vocabulary = specials + the corpus' words): ids are easy to follow.
    words = sorted(set(" ".join(texts).split()))
    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=["[PAD]", "[UNK]", "[START]", "[END]"] + words, dtype="int32"
    )


@pytest.fixture(scope="module")
def tokenizers():
    return word_tokenizer(SOURCES), word_tokenizer(TARGETS)


def ids_of(tokenizer, text):
    return np.asarray(tokenizer.tokenize(text)).tolist()  # eager (Python) path: same ids


def first_batch(dataset):
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(dataset)))


# --- translation ---------------------------------------------------------------------------

def test_translation_teacher_forcing_on_a_concrete_example(tokenizers):
    source_tokenizer, target_tokenizer = tokenizers
    data = translation_dataset(
        ["el gato come"], ["the cat eats"], source_tokenizer, target_tokenizer,
        batch_size=1, max_length=6, shuffle=False,
    )
    inputs, labels = first_batch(data)
    source, target = ids_of(source_tokenizer, "el gato come"), ids_of(target_tokenizer, "the cat eats")
    assert len(source) == 3 and len(target) == 3 and min(source + target) > 3
    assert inputs["encoder_token_ids"].tolist() == [source + [0, 0, 0]]
    assert inputs["decoder_token_ids"].tolist() == [[2] + target + [0, 0]]  # [START] t1 t2 t3
    assert labels.tolist() == [target + [3, 0, 0]]  # t1 t2 t3 [END]


def test_translation_shapes_dtypes_padding_and_shift(tokenizers):
    data = translation_dataset(
        SOURCES, TARGETS, *tokenizers, batch_size=3, max_length=10, shuffle=False, bucket=False
    )
    spec_inputs, spec_labels = data.element_spec
    assert set(spec_inputs) == {"encoder_token_ids", "decoder_token_ids"}
    for spec in (*spec_inputs.values(), spec_labels):
        assert spec.dtype == tf.int32 and spec.shape.as_list() == [None, 10]
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in data]
    assert [b[1].shape for b in batches] == [(3, 10), (3, 10), (2, 10)]
    for inputs, labels in batches:
        decoder = inputs["decoder_token_ids"]
        assert (decoder[:, 0] == 2).all()
        # shifted by one: the label at step i is the decoder input at step i + 1
        lengths = (labels != 0).sum(axis=1)
        for row, length in enumerate(lengths):
            np.testing.assert_array_equal(decoder[row, 1:length], labels[row, : length - 1])
            assert labels[row, length - 1] == 3  # [END] (no target here exceeds max_length)
            assert (labels[row, length:] == 0).all() and (decoder[row, length:] == 0).all()


def test_translation_truncates_to_max_length(tokenizers):
    source_tokenizer, target_tokenizer = tokenizers
    long_source, long_target = SOURCES[2], TARGETS[2]  # 6 words each
    inputs, labels = first_batch(translation_dataset(
        [long_source], [long_target], source_tokenizer, target_tokenizer,
        batch_size=1, max_length=4, shuffle=False,
    ))
    source, target = ids_of(source_tokenizer, long_source), ids_of(target_tokenizer, long_target)
    assert inputs["encoder_token_ids"].tolist() == [source[:4]]
    assert inputs["decoder_token_ids"].tolist() == [[2] + target[:3]]
    assert labels.tolist() == [target[:4]]  # [END] cut off


def test_static_batch_with_drop_remainder(tokenizers):
    data = translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=3, max_length=8,
                               drop_remainder=True, bucket=False)
    for spec in tf.nest.flatten(data.element_spec):
        assert spec.shape.as_list() == [3, 8]
    assert sum(1 for _ in data) == 2
    data = classification_dataset(SOURCES, [0] * 8, tokenizers[0], batch_size=3, max_length=8,
                                  drop_remainder=True, padding="max_length")
    assert data.element_spec[0]["token_ids"].shape.as_list() == [3, 8]
    assert data.element_spec[1].shape.as_list() == [3]
    # bucketed: the batch dimension stays static, the length is one of the bucket lengths
    data = translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=3, max_length=8, drop_remainder=True)
    assert data.element_spec[1].shape.as_list() == [3, None]
    data = classification_dataset(SOURCES, [0] * 8, tokenizers[0], batch_size=3, max_length=8, drop_remainder=True)
    assert data.element_spec[0]["token_ids"].shape.as_list() == [3, None]


def test_bucket_lengths():
    assert bucket_lengths(40) == [8, 16, 32, 40]
    assert bucket_lengths(64) == [8, 16, 32, 64]
    assert bucket_lengths(8) == [8] and bucket_lengths(9) == [8, 9] and bucket_lengths(3) == [3]
    with pytest.raises(ValueError, match="max_length=0"):
        bucket_lengths(0)


def _check_buckets(batches, max_length, count):
    """Every batch padded to the smallest bucket length that holds its longest row; every example once."""
    lengths, rows = set(), 0
    for ids in batches:
        true_lengths = (ids != 0).sum(axis=1)
        expected = min(edge for edge in bucket_lengths(max_length) if edge >= true_lengths.max())
        assert ids.shape[1] == expected, (ids.shape, true_lengths)
        lower = max([0] + [edge for edge in bucket_lengths(max_length) if edge < expected])
        assert (true_lengths > lower).all()  # the rows of a batch come from one bucket
        lengths.add(ids.shape[1])
        rows += ids.shape[0]
    assert rows == count
    return lengths


def test_translation_batches_are_length_buckets_by_default(tokenizers):
    sources = ["a " * n for n in range(1, 31)]
    targets = ["b " * n for n in range(1, 31)]
    tokenizer = word_tokenizer(["a b"])
    data = translation_dataset(sources, targets, tokenizer, tokenizer, batch_size=4, max_length=40, seed=3)
    assert data.element_spec[1].shape.as_list() == [None, None]
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in data]
    assert int(data.cardinality()) == len(batches)  # known: schedules and progress bars are sized from it
    for inputs, labels in batches:
        assert inputs["encoder_token_ids"].shape == inputs["decoder_token_ids"].shape == labels.shape
    # the bucket holds the longer of source and label ([END] makes the label one longer)
    lengths = _check_buckets([np.maximum(i["encoder_token_ids"], l) for i, l in batches], 40, 30)
    assert lengths == {8, 16, 32}  # 31 ids at most: the last bucket (40) is unused
    # one epoch holds every pair once, teacher forcing intact
    rows = sorted(int(n) for inputs, _ in batches for n in (inputs["encoder_token_ids"] != 0).sum(axis=1))
    assert rows == list(range(1, 31))


def test_classification_batches_are_length_buckets_by_default(tokenizers):
    texts = ["a " * n for n in range(1, 41)]
    tokenizer = word_tokenizer(["a"])
    data = classification_dataset(texts, list(range(40)), tokenizer, batch_size=4, max_length=20, seed=1)
    batches = [tf.nest.map_structure(lambda t: t.numpy(), b) for b in data]
    assert int(data.cardinality()) == len(batches)
    assert _check_buckets([inputs["token_ids"] for inputs, _ in batches], 20, 40) == {8, 16, 20}
    # buckets of 8, 8 and 24 texts: 2 + 2 + 8 full batches of 3 (3 + 3 + 8 with the remainders)
    dropped = classification_dataset(texts, list(range(40)), tokenizer, batch_size=3, max_length=20, seed=1,
                                     drop_remainder=True)
    assert int(dropped.cardinality()) == sum(1 for _ in dropped) == 12
    for inputs, labels in batches:  # labels stay with their texts; texts longer than 20 are cut
        np.testing.assert_array_equal((inputs["token_ids"] != 0).sum(axis=1), np.minimum(labels + 1, 20))


def test_translation_seed_makes_order_deterministic(tokenizers):
    def order(seed):
        data = translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=8, max_length=8,
                                   seed=seed)
        return first_batch(data)[0]["encoder_token_ids"].tolist()

    first = order(1)
    assert order(1) == first
    assert order(2) != first
    rows = [(ids_of(tokenizers[0], s) + [0] * 8)[:8] for s in SOURCES]
    assert sorted(first) == sorted(rows) and first != rows  # a permutation, not the input order


def test_translation_errors(tokenizers):
    with pytest.raises(ValueError, match="max_length=0"):
        translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=2, max_length=0)
    with pytest.raises(ValueError, match="batch_size=-1"):
        translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=-1, max_length=4)
    with pytest.raises(ValueError, match="8 sources and 7 targets"):
        translation_dataset(SOURCES, TARGETS[:7], *tokenizers, batch_size=2, max_length=4)
    with pytest.raises(ValueError, match=r"no \[START\] token"):
        translation_dataset(SOURCES, TARGETS, tokenizers[0], character_tokenizer("abc"),
                            batch_size=2, max_length=4)
    with pytest.raises(ValueError, match="fewer than batch_size=16"):
        translation_dataset(SOURCES, TARGETS, *tokenizers, batch_size=16, max_length=4,
                            drop_remainder=True)


# --- classification --------------------------------------------------------------------

def test_classification_shapes_padding_and_labels(tokenizers):
    tokenizer = tokenizers[0]
    labels = [0, 1, 1, 0, 1, 0, 1, 0]
    data = classification_dataset(SOURCES, labels, tokenizer, batch_size=4, max_length=5,
                                  shuffle=False, padding="max_length")
    spec_inputs, spec_labels = data.element_spec
    assert list(spec_inputs) == ["token_ids"]
    assert spec_inputs["token_ids"].shape.as_list() == [None, 5]
    assert spec_inputs["token_ids"].dtype == tf.int32 and spec_labels.dtype == tf.int32
    assert spec_labels.shape.as_list() == [None]
    inputs, got = first_batch(data)
    assert got.tolist() == labels[:4]
    expected = [(ids_of(tokenizer, t) + [0] * 5)[:5] for t in SOURCES[:4]]
    assert inputs["token_ids"].tolist() == expected  # padded with 0, "la casa es muy grande hoy" cut


def test_classification_cls_token(tokenizers):
    tokenizer = tokenizers[0]
    inputs, _ = first_batch(classification_dataset(
        ["el gato come", "la casa es muy grande hoy"], [1, 0], tokenizer, batch_size=2,
        max_length=4, shuffle=False, cls_token=True,
    ))
    assert inputs["token_ids"].tolist() == [
        [2] + ids_of(tokenizer, "el gato come"),
        [2] + ids_of(tokenizer, "la casa es muy grande hoy")[:3],
    ]


def test_classification_shuffle_keeps_text_label_pairs(tokenizers):
    tokenizer = tokenizers[0]
    labels = list(range(8))
    data = classification_dataset(SOURCES, labels, tokenizer, batch_size=8, max_length=8, seed=5)
    inputs, got = first_batch(data)
    assert got.tolist() != labels and sorted(got.tolist()) == labels
    for row, label in zip(inputs["token_ids"].tolist(), got.tolist()):
        expected = (ids_of(tokenizer, SOURCES[label]) + [0] * 8)[:8]
        assert row == expected


def test_classification_errors(tokenizers):
    tokenizer = tokenizers[0]
    with pytest.raises(ValueError, match="max_length=-3"):
        classification_dataset(SOURCES, [0] * 8, tokenizer, batch_size=2, max_length=-3)
    with pytest.raises(ValueError, match="8 texts and labels of shape"):
        classification_dataset(SOURCES, [0] * 7, tokenizer, batch_size=2, max_length=4)
    with pytest.raises(ValueError, match="integer class ids"):
        classification_dataset(SOURCES, [0.5] * 8, tokenizer, batch_size=2, max_length=4)
    with pytest.raises(ValueError, match=r"no \[START\] token"):
        classification_dataset(["ab"], [0], character_tokenizer("ab"), batch_size=1,
                               max_length=4, cls_token=True)


# --- language model -------------------------------------------------------------------

TEXT = "to be or not to be, that is the question.\n" * 3


def test_language_model_windows_are_shifted_by_one():
    tokenizer = character_tokenizer(TEXT)
    data = language_model_dataset(TEXT, tokenizer, sequence_length=8, batch_size=4, shuffle=False)
    spec_inputs, spec_labels = data.element_spec
    assert list(spec_inputs) == ["token_ids"]
    assert spec_inputs["token_ids"].shape.as_list() == [4, 8] == spec_labels.shape.as_list()
    assert spec_labels.dtype == tf.int32
    ids = np.asarray(tokenizer.tokenize(TEXT))
    batches = list(data.as_numpy_iterator())
    windows = (len(ids) - 9) // 8 + 1  # starts 0, 8, 16, ... while a window of 9 fits
    assert len(batches) == windows // 4  # drop_remainder=True by default
    inputs, labels = batches[0]
    tokens = inputs["token_ids"]
    np.testing.assert_array_equal(tokens[:, 1:], labels[:, :-1])
    for row in range(4):  # window `row` starts at row * stride (stride = sequence_length)
        np.testing.assert_array_equal(tokens[row], ids[row * 8: row * 8 + 8])
        np.testing.assert_array_equal(labels[row], ids[row * 8 + 1: row * 8 + 9])


def test_language_model_from_ids_with_stride_and_remainder():
    ids = np.arange(1, 21)
    data = language_model_dataset(ids, None, sequence_length=4, batch_size=3, shuffle=False,
                                  stride=2, drop_remainder=False)
    windows = [(x["token_ids"], y) for batch in data.as_numpy_iterator() for x, y in [batch]]
    inputs = np.concatenate([w[0] for w in windows])
    labels = np.concatenate([w[1] for w in windows])
    starts = list(range(0, 20 - 5 + 1, 2))  # 0, 2, ..., 14: 8 windows
    np.testing.assert_array_equal(inputs, [ids[s: s + 4] for s in starts])
    np.testing.assert_array_equal(labels, [ids[s + 1: s + 5] for s in starts])
    assert [len(w[0]) for w in windows] == [3, 3, 2]


def test_language_model_deterministic_with_seed():
    ids = np.arange(1, 200)

    def first(seed):
        data = language_model_dataset(ids, None, sequence_length=4, batch_size=8, seed=seed)
        return first_batch(data)[0]["token_ids"].tolist()

    assert first(0) == first(0) and first(0) != first(1)


def test_language_model_errors():
    tokenizer = character_tokenizer(TEXT)
    with pytest.raises(ValueError, match="sequence_length=0"):
        language_model_dataset(TEXT, tokenizer, sequence_length=0, batch_size=2)
    with pytest.raises(ValueError, match="fewer than sequence_length \\+ 1 = 501"):
        language_model_dataset(TEXT, tokenizer, sequence_length=500, batch_size=2)
    with pytest.raises(ValueError, match="fewer than batch_size=64"):
        language_model_dataset(TEXT, tokenizer, sequence_length=8, batch_size=64)
    with pytest.raises(ValueError, match="1-D sequence of int ids"):
        language_model_dataset(np.zeros((3, 40), "int32"), None, sequence_length=8, batch_size=2)


# --- splits ------------------------------------------------------------------------------

def test_split_is_shuffled_complete_and_seeded():
    items = list(range(100))
    train, validation = split(items, 0.1, seed=7)
    assert len(train) == 90 and len(validation) == 10
    assert sorted(train + validation) == items
    assert train != items[:90]
    assert split(items, 0.1, seed=7) == (train, validation)
    assert split(items, 0.1, seed=8) != (train, validation)


def test_split_keeps_pairs_and_labels_together():
    report = ReadReport("x", 4, 4, [])
    pairs = TextPairs(["a", "b", "c", "d"], ["A", "B", "C", "D"], report)
    train, validation = split(pairs, 0.25, seed=0)
    assert isinstance(train, TextPairs) and len(validation) == 1
    for part in (train, validation):
        assert [s.upper() for s in part.sources] == part.targets
    labelled = LabelledTexts(["a", "b", "c", "d"], [0, 1, 2, 3], ["w", "x", "y", "z"], report)
    train, validation = split(labelled, 0.5, seed=0)
    assert [ord(t) - ord("a") for t in train.texts] == train.labels
    assert train.class_names == ["w", "x", "y", "z"]
    arrays = split(np.arange(10), 0.3, seed=0)
    assert isinstance(arrays[0], np.ndarray) and len(arrays[1]) == 3


def test_split_errors():
    with pytest.raises(ValueError, match="validation_fraction=1.5"):
        split([1, 2, 3], 1.5, seed=0)
    with pytest.raises(ValueError, match="Cannot split 1 items"):
        split([1], 0.5, seed=0)


TREEBANK = [  # sentences and their labelled phrases, as GLUE SST-2's training rows
    ("a gorgeous , witty film .", 1), ("a gorgeous , witty film", 1), ("gorgeous", 1), ("witty film", 1),
    ("the plot is dull .", 0), ("the plot", 0), ("is dull", 0), ("dull", 0),
    ("a dull , gorgeous mess", 0), ("mess", 0),
    ("funny", 1), ("it is funny and  warm .", 1), ("funny and warm", 1),
]


def test_split_sentences_holds_out_whole_sentences_and_their_phrases():
    labelled = LabelledTexts([t for t, _ in TREEBANK], [y for _, y in TREEBANK], ["neg", "pos"],
                             ReadReport("x", 14, 13, []))
    sentences = {"a gorgeous , witty film .", "the plot is dull .", "a dull , gorgeous mess",
                 "it is funny and  warm ."}
    seen = set()
    for seed in range(12):
        train, validation = split_sentences(labelled, 2, seed=seed)
        assert len(validation) == 2 and set(validation.texts) <= sentences
        seen.update(validation.texts)
        # labels stay with their texts
        assert all(dict(TREEBANK)[t] == y for part in (train, validation) for t, y in zip(part.texts, part.labels))
        def inside(row, sentence):  # `row` is a run of words of `sentence`
            return f" {' '.join(row.split())} " in f" {' '.join(sentence.split())} "

        expected = [t for t in labelled.texts if not any(inside(t, v) for v in validation.texts)]
        assert train.texts == expected  # all the others stay, in their order
    assert seen == sentences  # the choice depends on the seed
    assert split_sentences(labelled, 2, seed=3) == split_sentences(labelled, 2, seed=3)
    train, validation = split_sentences(labelled, 1, seed=0)
    if validation.texts == ["the plot is dull ."]:
        assert set(labelled.texts) - set(train.texts) == {"the plot is dull .", "the plot", "is dull", "dull"}


def test_split_sentences_drops_shared_phrases_and_compares_words():
    rows = ["the plot is dull .", "dull", "a dull , gorgeous mess", "gorgeous", "it  is dull"]
    for seed in range(20):
        train, validation = split_sentences(rows, 1, seed=seed)
        if validation == ["the plot is dull ."]:
            # "dull" is inside the held-out sentence: it leaves training although another sentence has it too;
            # "it  is dull" (two spaces) is a whole sentence of its own, not a phrase of the held-out one
            assert train == ["a dull , gorgeous mess", "gorgeous", "it  is dull"]
            break
    else:
        raise AssertionError("no seed held out 'the plot is dull .'")


def test_split_sentences_errors():
    with pytest.raises(ValueError, match="validation_size=0"):
        split_sentences(["a b", "c d"], 0)
    with pytest.raises(ValueError, match=r"validation_size=2 .*\(2 of 3 rows\)"):
        split_sentences(["a b", "a", "c d"], 2)


def test_split_text_first_and_last_part():
    text = "".join(chr(ord("a") + i % 26) for i in range(1000))
    train, validation = split_text(text)
    assert train == text[:900] and validation == text[900:]
    assert split_text("abcd", 0.25) == ("abc", "d")
    with pytest.raises(ValueError, match="validation_fraction=0"):
        split_text(text, 0)


# --- truncation ------------------------------------------------------------------------

def test_truncation_report_counts_the_texts_a_limit_cuts():
    tokenizer = word_tokenizer(["a"])
    texts = ["a " * n for n in range(1, 101)]  # 1 .. 100 ids
    report = truncation_report(tokenizer, texts, 20, batch_size=7)
    assert (report.texts, report.truncated, report.longest, report.p99) == (100, 80, 100, 100)
    assert report.share == 0.8
    assert report.summary("pairs") == "max_length 20 cuts 80.0% of 100 pairs (99% fit in 100 ids; longest 100)"
    assert truncation_report(tokenizer, texts, 20, extra_ids=1).truncated == 81  # [END] makes 20 ids 21
    assert truncation_report(tokenizer, texts, 100).truncated == 0
    with pytest.raises(ValueError, match="max_length=0"):
        truncation_report(tokenizer, texts, 0)


def test_a_report_counts_again_at_another_limit_and_fits_a_length():
    from kerasformers.text import TruncationReport, fitted_max_length

    tokenizer = word_tokenizer(["a"])
    texts = ["a " * n for n in range(1, 101)]  # 1 .. 100 ids
    report = truncation_report(tokenizer, texts, 128)
    for limit in (5, 50, 99):
        assert report.with_max_length(limit) == truncation_report(tokenizer, texts, limit)
    assert fitted_max_length(report) == 104  # p99 100, rounded up to a multiple of 8
    assert fitted_max_length(report, limit=64) == 64
    assert fitted_max_length(truncation_report(tokenizer, texts[:3], 128)) == 8  # at least one multiple
    with pytest.raises(ValueError, match="no per-text lengths"):
        TruncationReport(texts=1, truncated=0, max_length=8, longest=3, p99=3).with_max_length(4)
    with pytest.raises(ValueError, match="at least one TruncationReport"):
        fitted_max_length()


def test_tasks_warn_when_the_limit_cuts_most_texts(capsys):
    from kerasformers.tasks import base
    from kerasformers.text import TruncationReport

    base.report_truncation(TruncationReport(texts=10, truncated=6, max_length=8, longest=30, p99=29), "sources")
    base.report_truncation(TruncationReport(texts=10, truncated=5, max_length=8, longest=30, p99=29), "targets")
    assert capsys.readouterr().out.splitlines() == [
        "Warning: max_length 8 cuts 60.0% of 10 sources (99% fit in 29 ids; longest 30): most are cut. "
        "--max-length 29 keeps 99% whole.",
        "Length: max_length 8 cuts 50.0% of 10 targets (99% fit in 29 ids; longest 30)",
    ]


# --- the start and end ids: put in from the flat values, equal to a ragged concatenation ----------------------
@pytest.mark.parametrize("rows", [[[1, 2], [], [3, 4, 5]], [[], []], [[7]]])
def test_start_and_end_ids_equal_a_ragged_concatenation(rows):
    from kerasformers.text import pipelines

    ids = tf.ragged.constant(rows, dtype=tf.int32)
    column = tf.RaggedTensor.from_tensor(tf.fill([ids.nrows(), 1], 9))
    for ours, reference in ((pipelines._prepend(ids, 9), tf.concat([column, ids], axis=1)),
                            (pipelines._append(ids, 9), tf.concat([ids, column], axis=1))):
        assert ours.to_list() == reference.to_list()
        assert ours.row_splits.dtype == ids.row_splits.dtype and ours.dtype == tf.int32


def test_a_translation_pipeline_logs_nothing(tmp_path):
    """A ragged concatenation along rows made TensorFlow's oneDNN build log an error line mid-run."""
    import os
    import subprocess
    import sys

    code = (
        "import kerasformers, keras_hub\n"
        "from kerasformers import text\n"
        "vocabulary = ['[PAD]', '[UNK]', '[START]', '[END]', 'a', 'b']\n"
        "tokenizer = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocabulary, dtype='int32')\n"
        "for bucket in (True, False):\n"
        "    data = text.translation_dataset(['a b', 'b', 'a a b'] * 4, ['b a', 'a', 'b'] * 4, tokenizer, tokenizer,\n"
        "                                    4, 8, bucket=bucket)\n"
        "    print(len(list(data)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERASFORMERS_VERBOSE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0 and result.stdout == "3\n3\n", result.stderr
    assert result.stderr == "", result.stderr
