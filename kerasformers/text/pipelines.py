"""`tf.data` pipelines for translation, classification and language modelling.

Model inputs are named `"token_ids"` (classifier, language model) and
`"encoder_token_ids"` / `"decoder_token_ids"` (translation). Ids are int32 and
padded with 0. Tokenization runs in TensorFlow ops inside `Dataset.map`, on
whole batches. Every pipeline shuffles with a fixed seed (so two pipelines
built with the same seed yield the same batches) and ends in
`prefetch(tf.data.AUTOTUNE)`.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from kerasformers.checks import check_fraction, check_positive_int
from kerasformers.text.readers import LabelledTexts, TextPairs
from kerasformers.text.tokenizers import (
    END_TOKEN,
    START_TOKEN,
    name_sentence_piece_resource,
    sentence_frame,
    special_token_id,
)

PADDINGS = ("bucket", "max_length", "longest")

__all__ = [
    "bucket_lengths",
    "classification_dataset",
    "language_model_dataset",
    "split",
    "split_sentences",
    "split_text",
    "translation_dataset",
    "truncation_report",
    "TruncationReport",
]

AUTOTUNE = tf.data.AUTOTUNE


def _strings(name, texts):
    if isinstance(texts, str):
        raise ValueError(f"`{name}` must be a sequence of strings, not one string.")
    texts = list(texts)
    if not texts:
        raise ValueError(f"`{name}` is empty.")
    return texts


def _check_enough(count, batch_size, drop_remainder, what):
    if drop_remainder and count < batch_size:
        raise ValueError(
            f"Only {count} {what}, fewer than batch_size={batch_size}: with "
            "drop_remainder=True the dataset would be empty."
        )


def _required_token(tokenizer, token, role):
    index = special_token_id(tokenizer, token)
    if index is None:
        raise ValueError(
            f"The {role} has no {token} token. Use `train_word_piece` or "
            "`train_sentence_piece`, which reserve [PAD]=0, [UNK]=1, [START]=2, [END]=3."
        )
    return index


def _ragged_ids(tokenizer, strings):
    """Tokenizes a batch of strings to int32 `(batch, None)` ragged ids."""
    ids = tokenizer(strings)
    if not isinstance(ids, tf.RaggedTensor):  # tokenizer with a `sequence_length`
        ids = tf.RaggedTensor.from_tensor(ids, padding=0)
    return tf.cast(ids, tf.int32)


def _prepend(ids, token_id):  # (batch, None) -> (batch, None), `token_id` first
    return _insert(ids, token_id, first=True)


def _append(ids, token_id):  # (batch, None) -> (batch, None), `token_id` last
    return _insert(ids, token_id, first=False)


def _insert(ids, token_id, first):
    """`token_id` put first or last in every row of int32 ragged `(batch, None)` ids, from the flat values.

    (Not `tf.concat(..., axis=1)`: a ragged concatenation along rows transposes integer
    indices, and TensorFlow's oneDNN build then logs "oneDNN supports DT_INT64 only on
    platforms with AVX-512" as an error line in the middle of a run.)
    """
    splits = tf.concat([tf.zeros([1], ids.row_splits.dtype), tf.cumsum(ids.row_lengths() + 1)], 0)
    row = ids.value_rowids()  # each value's row: every earlier row gained one id
    moved = tf.range(tf.size(ids.values, out_type=row.dtype), dtype=row.dtype) + row + (1 if first else 0)
    added = splits[:-1] if first else splits[1:] - 1
    values = tf.scatter_nd(tf.concat([moved, added], 0)[:, None],
                           tf.concat([ids.values, tf.fill([ids.nrows()], tf.cast(token_id, ids.values.dtype))], 0),
                           splits[-1:])
    values.set_shape([None])  # scatter_nd does not infer the rank from a computed shape
    return tf.RaggedTensor.from_row_splits(values, splits, validate=False)


def _pad(ids, max_length, rows=None):
    """Ragged (batch, None) -> dense (batch, max_length): truncated, padded with 0.

    `rows` (the batch size when it is fixed) makes the batch dimension static.
    """
    return ids[:, :max_length].to_tensor(default_value=0, shape=[rows, max_length])


def bucket_lengths(max_length):
    """The padded lengths of length-bucketed batches: 8, 16, 32, … below `max_length`, then `max_length`.

    A bucketed pipeline pads each batch to the smallest of these lengths that
    holds its longest example, so a compiled training step sees at most
    `len(bucket_lengths(max_length))` sequence lengths (times two batch sizes
    when the last batch of a bucket is smaller).

    Args:
        max_length: int > 0. The longest sequence, in ids.

    Returns:
        list of int, increasing, ending with `max_length`.

    Raises:
        ValueError: `max_length` is not a positive int.

    Example:
    >>> bucket_lengths(24), bucket_lengths(64), bucket_lengths(5)
    ([8, 16, 24], [8, 16, 32, 64], [5])
    """
    max_length = check_positive_int("max_length", max_length)
    lengths, edge = [], 8
    while edge < max_length:
        lengths.append(edge)
        edge *= 2
    return lengths + [max_length]


def _example_lengths(data, length_of_batch):
    """The bucketing length of every example, counted once with TF ops: int array, in the examples' order."""
    data = data.batch(2048).map(length_of_batch, num_parallel_calls=AUTOTUNE)
    return np.concatenate([np.asarray(chunk) for chunk in data.as_numpy_iterator()])


def _bucketed(data, length, max_length, batch_size, drop_remainder, example_lengths):
    """Single examples -> batches of examples of similar length, padded with 0 to a `bucket_lengths` entry.

    `example_lengths` (every example's length) gives the dataset its number of
    batches: `bucket_by_sequence_length` leaves it unknown, and Keras' progress
    bar and the schedules sized from `cardinality()` need it.
    """
    lengths = bucket_lengths(max_length)
    sizes = np.bincount(np.searchsorted(lengths, example_lengths, side="left"), minlength=len(lengths))
    batches = int((sizes // batch_size if drop_remainder else -(-sizes // batch_size)).sum())
    data = data.bucket_by_sequence_length(
        length,
        bucket_boundaries=[edge + 1 for edge in lengths],  # bucket i holds lengths up to lengths[i]
        bucket_batch_sizes=[batch_size] * (len(lengths) + 1),  # (the last bucket, > max_length, stays empty)
        pad_to_bucket_boundary=True,  # pad to lengths[i], not to the batch's longest: a few fixed shapes
        drop_remainder=drop_remainder,
    )
    data = data.apply(tf.data.experimental.assert_cardinality(batches))
    if not drop_remainder:
        return data

    def static_batch(*element):  # bucket_by_sequence_length leaves the batch dimension unknown
        element = tf.nest.map_structure(lambda t: tf.ensure_shape(t, [batch_size] + [None] * (t.shape.rank - 1)),
                                        element)
        return element if len(element) > 1 else element[0]

    return data.map(static_batch)


@dataclasses.dataclass
class TruncationReport:
    """How many texts a length limit cuts (made by `truncation_report`).

    Args:
        texts: int, texts counted.
        truncated: int, texts longer than the limit.
        max_length: int, the limit, in ids (special tokens included).
        longest: int, ids of the longest text (special tokens included).
        p99: int, ids that 99% of the texts fit in (special tokens included).

    Example:
    >>> report = TruncationReport(texts=200, truncated=3, max_length=20, longest=31, p99=19)
    >>> report.share, report.summary("pairs")
    (0.015, 'max_length 20 cuts 1.5% of 200 pairs (99% fit in 19 ids; longest 31)')
    """

    texts: int
    truncated: int
    max_length: int
    longest: int
    p99: int
    lengths: object = dataclasses.field(default=None, repr=False, compare=False)  # per text, when counted here

    def with_max_length(self, max_length):
        """The same texts counted against another limit, without tokenizing them again.

        Needs the per-text lengths that `truncation_report` keeps.

        Raises:
            ValueError: a bad `max_length`, or a report made without lengths.
        """
        max_length = check_positive_int("max_length", max_length)
        if self.lengths is None:
            raise ValueError("This TruncationReport has no per-text lengths: make it with `truncation_report`. "
                             f"Received: {self!r}")
        return dataclasses.replace(self, truncated=int((self.lengths > max_length).sum()), max_length=max_length)

    @property
    def share(self):
        """float: the truncated fraction of the texts."""
        return self.truncated / self.texts if self.texts else 0.0

    def summary(self, what="texts"):
        """One line, e.g. `"max_length 20 cuts 1.2% of 1,000 texts (99% fit in 17 ids; longest 31)"`."""
        return (f"max_length {self.max_length} cuts {self.share:.1%} of {self.texts:,} {what} "
                f"(99% fit in {self.p99} ids; longest {self.longest})")


def truncation_report(tokenizer, texts, max_length, extra_ids=0, batch_size=2048):
    """Counts the texts that do not fit in `max_length` ids once tokenized.

    Args:
        tokenizer: any tokenizer of `kerasformers.text`.
        texts: list of str.
        max_length: int > 0. The limit, in ids.
        extra_ids: int >= 0. Ids a pipeline adds to every text (`[START]` or
            `[END]` of a translation target: 1; BERT's `[CLS]`/`[SEP]`: 2).
        batch_size: int > 0. Texts tokenized at a time.

    Returns:
        `TruncationReport`.

    Raises:
        ValueError: `texts` is empty or one string, or a size is not a
            positive int.

    Example:
    >>> tokenizer = character_tokenizer("abcdef")  # doctest: +SKIP
    >>> truncation_report(tokenizer, ["abc", "abcdef"], 4).summary()  # doctest: +SKIP
    'max_length 4 cuts 50.0% of 2 texts (99% fit in 6 ids; longest 6)'
    """
    max_length = check_positive_int("max_length", max_length)
    texts = _strings("texts", texts)
    name_sentence_piece_resource(tokenizer)
    data = tf.data.Dataset.from_tensor_slices(texts).batch(check_positive_int("batch_size", batch_size))
    data = data.map(lambda batch: _ragged_ids(tokenizer, batch).row_lengths(), num_parallel_calls=AUTOTUNE)
    lengths = np.concatenate([chunk.numpy() for chunk in data]) + int(extra_ids)
    return TruncationReport(texts=len(lengths), truncated=int((lengths > max_length).sum()), max_length=max_length,
                            longest=int(lengths.max()), p99=int(np.ceil(np.percentile(lengths, 99))), lengths=lengths)


def fitted_max_length(*reports, multiple=8, limit=128):
    """A `max_length` chosen from the data: what 99% of the texts of every report fit in, rounded up.

    Args:
        *reports: `TruncationReport`s (e.g. of the sources and of the targets).
        multiple: int > 0. The length is rounded up to a multiple of it (8:
            the first bucket of `bucket_lengths`). Defaults to `8`.
        limit: int > 0. The largest length returned. Defaults to `128`.

    Returns:
        int in `[multiple, limit]` (or `limit` if smaller than `multiple`).

    Raises:
        ValueError: no report, or a size that is not a positive int.

    Example:
    >>> fitted_max_length(TruncationReport(texts=10, truncated=0, max_length=128, longest=30, p99=17),
    ...                   TruncationReport(texts=10, truncated=0, max_length=128, longest=25, p99=21))
    24
    """
    if not reports:
        raise ValueError("fitted_max_length needs at least one TruncationReport. Received: none")
    multiple, limit = check_positive_int("multiple", multiple), check_positive_int("limit", limit)
    p99 = max(report.p99 for report in reports)
    return min(limit, max(multiple, -(-p99 // multiple) * multiple))


def translation_dataset(
    sources,
    targets,
    source_tokenizer,
    target_tokenizer,
    batch_size,
    max_length,
    shuffle=True,
    seed=0,
    bucket=True,
    drop_remainder=False,
):
    """Batches of teacher-forcing examples for a sequence-to-sequence model.

    For a target tokenized as `t1 … tn` the decoder input is
    `[START] t1 … tn` and the label is `t1 … tn [END]`: the label at step i is
    the decoder input at step i + 1. The encoder input is the source ids
    (no special tokens). All three are truncated to `max_length` and padded
    with 0.

    Args:
        sources: list of str.
        targets: list of str, as long as `sources`.
        source_tokenizer: tokenizer for the sources.
        target_tokenizer: tokenizer for the targets; must have `[START]` and
            `[END]` tokens (`train_word_piece` / `train_sentence_piece`).
        batch_size: int > 0.
        max_length: int > 0. Longest sequence kept, in ids.
        shuffle: bool. Shuffle the pairs (full buffer) before batching.
            Defaults to `True`.
        seed: int. Shuffle seed. Defaults to `0`.
        bucket: bool. If `True` (default), pairs of similar length are
            batched together (`tf.data`'s `bucket_by_sequence_length`, after
            the shuffle) and each batch is padded to the smallest of
            `bucket_lengths(max_length)` (8, 16, 32, …, `max_length`) that
            holds it: on real text most of a batch padded to `max_length`
            is padding, and a few fixed shapes keep compiled steps reused.
            The pairs are tokenized once more when the dataset is made, to
            count its batches (`cardinality()`, which progress bars and
            learning-rate schedules use). If `False`, every batch is padded
            to `max_length` (one shape).
        drop_remainder: bool. Drop the last, smaller batch (of each bucket).
            Defaults to `False`.

    Returns:
        A `tf.data.Dataset` of
        `({"encoder_token_ids": (B, L), "decoder_token_ids": (B, L)}, labels (B, L))`,
        int32, with `L` one of `bucket_lengths(max_length)` (`max_length`
        when `bucket=False`).

    Raises:
        ValueError: lengths differ, empty inputs, non-positive `batch_size` /
            `max_length`, or a target tokenizer without `[START]`/`[END]`.

    Example:
    >>> data = translation_dataset(pairs.sources, pairs.targets, spa, eng,
    ...                            batch_size=64, max_length=20)  # doctest: +SKIP
    >>> model.fit(data, epochs=10)  # doctest: +SKIP
    """
    batch_size = check_positive_int("batch_size", batch_size)
    max_length = check_positive_int("max_length", max_length)
    sources, targets = _strings("sources", sources), _strings("targets", targets)
    if len(sources) != len(targets):
        raise ValueError(
            f"`sources` and `targets` must have the same length. "
            f"Received: {len(sources)} sources and {len(targets)} targets."
        )
    start_id = _required_token(target_tokenizer, START_TOKEN, "target tokenizer")
    end_id = _required_token(target_tokenizer, END_TOKEN, "target tokenizer")
    _check_enough(len(sources), batch_size, drop_remainder, "pairs")
    name_sentence_piece_resource(source_tokenizer)
    name_sentence_piece_resource(target_tokenizer)

    def pack(source, target):  # (batch,) strings -> ragged ids, truncated
        encoder = _ragged_ids(source_tokenizer, source)[:, :max_length]
        target = _ragged_ids(target_tokenizer, target)
        decoder = _prepend(target, start_id)[:, :max_length]
        labels = _append(target, end_id)[:, :max_length]
        return encoder, decoder, labels

    data = tf.data.Dataset.from_tensor_slices((sources, targets))
    if shuffle:
        data = data.shuffle(len(sources), seed=seed)
    rows = batch_size if drop_remainder else None
    if not bucket:
        def fixed(source, target):
            encoder, decoder, labels = pack(source, target)
            inputs = {"encoder_token_ids": _pad(encoder, max_length, rows),
                      "decoder_token_ids": _pad(decoder, max_length, rows)}
            return inputs, _pad(labels, max_length, rows)  # (batch, max_length) each

        data = data.batch(batch_size, drop_remainder=drop_remainder)
        return data.map(fixed, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)

    def single(source, target):  # one pair -> 1-D ids
        encoder, decoder, labels = pack(source[None], target[None])
        inputs = {"encoder_token_ids": encoder[0], "decoder_token_ids": decoder[0]}
        return inputs, labels[0]

    def length(inputs, labels):
        return tf.maximum(tf.shape(inputs["encoder_token_ids"])[0], tf.shape(labels)[0])

    def pair_lengths(source, target):  # (batch,) -> the longer of source and label, as `length`
        encoder, _, labels = pack(source, target)
        return tf.maximum(encoder.row_lengths(), labels.row_lengths())

    example_lengths = _example_lengths(tf.data.Dataset.from_tensor_slices((sources, targets)), pair_lengths)
    data = data.map(single, num_parallel_calls=AUTOTUNE)
    return _bucketed(data, length, max_length, batch_size, drop_remainder, example_lengths).prefetch(AUTOTUNE)


def classification_dataset(
    texts,
    labels,
    tokenizer,
    batch_size,
    max_length,
    shuffle=True,
    seed=0,
    cls_token=False,
    drop_remainder=False,
    padding="bucket",
):
    """Batches of `(token ids, class id)` for a sequence classifier.

    A checkpoint's tokenizer with a sentence frame (BERT's `[CLS]` ...
    `[SEP]`, see `sentence_frame`) frames every text with it, as the model
    was pretrained: `[CLS]`, the first `max_length - 2` ids, `[SEP]`.

    Args:
        texts: list of str.
        labels: list of int class ids, as long as `texts`.
        tokenizer: any tokenizer of `kerasformers.text`.
        batch_size: int > 0.
        max_length: int > 0. Longest example in ids, after truncation (the
            CLS / SEP tokens included).
        shuffle: bool. Defaults to `True`.
        seed: int. Shuffle seed. Defaults to `0`.
        cls_token: bool. Prepend `[START]` (id 2) as a BERT-style CLS token.
            Defaults to `False`.
        drop_remainder: bool. Defaults to `False`.
        padding: `"bucket"` (default): texts of similar length are batched
            together (after the shuffle) and each batch is padded with 0 to
            the smallest of `bucket_lengths(max_length)` (8, 16, 32, …,
            `max_length`) that holds it: short texts cost much less (SST-2
            sentences average about 13 word pieces against a checkpoint's
            512 positions) and a compiled step sees a few fixed shapes. The
            texts are tokenized once more when the dataset is made, to count
            its batches (`cardinality()`). `"max_length"`: every batch is padded to `max_length` (one
            shape). `"longest"`: batches of random texts, each padded to its
            own longest example, shape `(B, None)`.

    Returns:
        A `tf.data.Dataset` of `({"token_ids": (B, L)}, labels (B,))`, both
        int32: `L` is one of `bucket_lengths(max_length)` (`"bucket"`),
        `max_length`, or the batch's longest (`"longest"`).

    Raises:
        ValueError: lengths differ, empty inputs, non-positive `batch_size` /
            `max_length`, an unknown `padding`, `cls_token=True` with a
            tokenizer without `[START]` (or with a sentence frame of its
            own), or `max_length < 3` with a sentence frame.

    Example:
    >>> data = read_labelled("train.tsv")  # doctest: +SKIP
    >>> ds = classification_dataset(data.texts, data.labels, tokenizer,
    ...                             batch_size=32, max_length=64)  # doctest: +SKIP
    """
    batch_size = check_positive_int("batch_size", batch_size)
    max_length = check_positive_int("max_length", max_length)
    texts = _strings("texts", texts)
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(texts):
        raise ValueError(
            "`labels` must be a 1-D sequence as long as `texts`. "
            f"Received: {len(texts)} texts and labels of shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be integer class ids. Received dtype {labels.dtype}.")
    if padding not in PADDINGS:
        raise ValueError(f"`padding` must be one of {list(PADDINGS)}. Received: padding={padding!r}")
    first, last = sentence_frame(tokenizer)
    if first is not None and cls_token:
        raise ValueError("`cls_token=True` adds [START] as a CLS token; this tokenizer frames sentences with its "
                         f"own [CLS] (id {first}) ... [SEP] (id {last}). Received: cls_token=True")
    if first is not None and max_length < 3:
        raise ValueError(f"`max_length` must be at least 3 to hold [CLS], one token and [SEP]. "
                         f"Received: max_length={max_length}")
    cls_id = _required_token(tokenizer, START_TOKEN, "tokenizer") if cls_token else None
    _check_enough(len(texts), batch_size, drop_remainder, "texts")
    name_sentence_piece_resource(tokenizer)

    rows = batch_size if drop_remainder else None

    def pack_ids(text):  # (batch,) strings -> ragged ids, framed and truncated
        ids = _ragged_ids(tokenizer, text)
        if first is not None:
            ids = _append(_prepend(ids[:, : max_length - 2], first), last)
        elif cls_id is not None:
            ids = _prepend(ids, cls_id)
        return ids[:, :max_length]

    def pack(text, label):
        ids = pack_ids(text)
        if padding == "longest":  # (batch, longest in the batch), at least one column
            dense = ids.to_tensor(default_value=0, shape=[rows, None])
            dense = tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])
            return {"token_ids": dense}, label
        return {"token_ids": _pad(ids, max_length, rows)}, label  # (batch, max_length), (batch,)

    data = tf.data.Dataset.from_tensor_slices((texts, labels.astype("int32")))
    if shuffle:
        data = data.shuffle(len(texts), seed=seed)
    if padding == "bucket":
        def single(text, label):  # one text -> 1-D ids (at most max_length), its label
            ids = pack_ids(text[None])
            return {"token_ids": ids[0]}, label

        data = data.map(single, num_parallel_calls=AUTOTUNE)
        length = lambda inputs, label: tf.shape(inputs["token_ids"])[0]  # noqa: E731
        example_lengths = _example_lengths(tf.data.Dataset.from_tensor_slices(texts),
                                           lambda batch: pack_ids(batch).row_lengths())
        return _bucketed(data, length, max_length, batch_size, drop_remainder, example_lengths).prefetch(AUTOTUNE)
    data = data.batch(batch_size, drop_remainder=drop_remainder)
    return data.map(pack, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _tokenize_text(tokenizer, text):
    """The ids of one whole text, computed once with TF ops: (length,) int32."""
    name_sentence_piece_resource(tokenizer)
    ids = tf.function(lambda t: tokenizer(t))(tf.constant(text))
    return np.asarray(ids, dtype="int32")


def language_model_dataset(
    text_or_ids,
    tokenizer,
    sequence_length,
    batch_size,
    shuffle=True,
    seed=0,
    stride=None,
    drop_remainder=True,
):
    """Windows of a long text for next-token prediction.

    The text is tokenized once; windows of `sequence_length + 1` ids start
    every `stride` ids; each window `w` gives the input `w[:-1]` and the
    label `w[1:]` (labels are the inputs shifted by one).

    Args:
        text_or_ids: str (a whole corpus), or a 1-D sequence of int ids.
        tokenizer: tokenizer for the text (unused when ids are given; may be
            `None` then).
        sequence_length: int > 0. Ids per example.
        batch_size: int > 0.
        shuffle: bool. Shuffle the windows. Defaults to `True`.
        seed: int. Shuffle seed. Defaults to `0`.
        stride: int > 0 or `None` for `sequence_length` (windows that do not
            overlap, each id predicted once per epoch). `1` gives every window.
        drop_remainder: bool. Defaults to `True` (static batch shape).

    Returns:
        A `tf.data.Dataset` of `({"token_ids": (B, sequence_length)},
        labels (B, sequence_length))`, int32.

    Raises:
        ValueError: non-positive sizes, a text shorter than one window, or
            fewer windows than `batch_size` with `drop_remainder=True`.

    Example:
    >>> text = read_text("input.txt")  # doctest: +SKIP
    >>> train, validation = split_text(text)  # doctest: +SKIP
    >>> tokenizer = character_tokenizer(text)  # doctest: +SKIP
    >>> ds = language_model_dataset(train, tokenizer, 256, 32)  # doctest: +SKIP
    """
    sequence_length = check_positive_int("sequence_length", sequence_length)
    batch_size = check_positive_int("batch_size", batch_size)
    stride = sequence_length if stride is None else check_positive_int("stride", stride)
    if isinstance(text_or_ids, str):
        if tokenizer is None:
            raise ValueError("A `tokenizer` is needed to tokenize `text_or_ids` text.")
        ids = _tokenize_text(tokenizer, text_or_ids)
    else:
        ids = np.asarray(text_or_ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                "`text_or_ids` must be a str or a 1-D sequence of int ids. "
                f"Received an array of shape {ids.shape} and dtype {ids.dtype}."
            )
        ids = ids.astype("int32")
    window = sequence_length + 1
    if len(ids) < window:
        raise ValueError(
            f"The text has {len(ids)} ids, fewer than sequence_length + 1 = {window}."
        )
    starts = np.arange(0, len(ids) - window + 1, stride, dtype="int64")
    _check_enough(len(starts), batch_size, drop_remainder, "windows")
    ids = tf.constant(ids)
    offsets = tf.range(window, dtype=tf.int64)

    def cut(start):  # (batch,) -> (batch, window)
        windows = tf.gather(ids, start[:, None] + offsets[None, :])
        return {"token_ids": windows[:, :-1]}, windows[:, 1:]

    data = tf.data.Dataset.from_tensor_slices(starts)
    if shuffle:
        data = data.shuffle(len(starts), seed=seed)
    data = data.batch(batch_size, drop_remainder=drop_remainder)
    return data.map(cut, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)


def _take(items, index):
    if isinstance(items, TextPairs):
        return TextPairs(_take(items.sources, index), _take(items.targets, index), items.report)
    if isinstance(items, LabelledTexts):
        return LabelledTexts(
            _take(items.texts, index), _take(items.labels, index), items.class_names, items.report
        )
    if isinstance(items, np.ndarray):
        return items[index]
    return [items[i] for i in index]


def split(items, validation_fraction, seed=0):
    """Shuffles and splits into training and validation parts, reproducibly.

    Args:
        items: a list or NumPy array, or a `TextPairs` / `LabelledTexts`
            (split row-wise, keeping pairs and labels together).
        validation_fraction: float in (0, 1). Share of items for validation
            (rounded, at least one item).
        seed: int. Seed of the shuffle. Defaults to `0`.

    Returns:
        `(train, validation)`, of the same kind as `items`.

    Raises:
        ValueError: bad fraction, or too few items to give both parts one.

    Example:
    >>> split(list(range(10)), 0.2, seed=0)
    ([2, 7, 3, 5, 9, 0, 8, 1], [4, 6])
    """
    check_fraction("validation_fraction", validation_fraction)
    count = len(items)
    validation = max(1, int(round(count * validation_fraction)))
    if count - validation < 1:
        raise ValueError(
            f"Cannot split {count} items with validation_fraction={validation_fraction}: "
            "both parts need at least one item."
        )
    order = np.random.default_rng(seed).permutation(count)
    return _take(items, order[validation:]), _take(items, order[:validation])


def _spans(words, proper):
    """Every run of consecutive words, joined by one space (`proper`: without the whole)."""
    count = len(words)
    return (
        " ".join(words[i:j])
        for i in range(count)
        for j in range(i + 1, count + 1)
        if not (proper and i == 0 and j == count)
    )


def split_sentences(items, validation_size, seed=0):
    """Splits a phrase treebank into training and validation with no phrase of a validation sentence in training.

    In a phrase treebank such as GLUE SST-2's training set, the rows are the
    sentences *and* every labelled phrase inside them ("the movie", "is n't
    funny"). A random split (`split`) then validates on short phrases whose
    longer versions are in training: validation is easier than whole
    sentences and leaks into training. Here validation holds
    `validation_size` whole sentences (rows that are not a run of words of a
    longer row), and training drops every row that is one of their runs of
    words (the sentence itself and its phrases; a phrase shared with a
    training sentence, like "funny", goes too). Texts are compared as words
    split on whitespace.

    Args:
        items: `LabelledTexts`, or a list of str.
        validation_size: int > 0. Number of whole sentences for validation.
        seed: int. Seed of the choice of sentences. Defaults to `0`.

    Returns:
        `(train, validation)`, of the same kind as `items`.

    Raises:
        ValueError: `validation_size` is not a positive int, or there are
            not enough whole sentences to take it and leave training some.

    Example:
    >>> rows = ["a fine film .", "a fine film", "fine", "dull", "a dull plot ."]
    >>> split_sentences(rows, 1, seed=0)
    (['dull', 'a dull plot .'], ['a fine film .'])
    """
    check_positive_int("validation_size", validation_size)
    texts = items.texts if isinstance(items, LabelledTexts) else items
    words = [str(t).split() for t in texts]
    inside = set()
    for row in words:
        inside.update(_spans(row, proper=True))
    sentences = [i for i, row in enumerate(words) if row and " ".join(row) not in inside]
    if validation_size >= len(sentences):
        raise ValueError(
            f"validation_size={validation_size} asks for at least as many whole sentences as there are "
            f"({len(sentences)} of {len(texts)} rows): lower it."
        )
    order = np.random.default_rng(seed).permutation(len(sentences))
    chosen = sorted(sentences[i] for i in order[:validation_size])
    held = set()
    for i in chosen:
        held.update(_spans(words[i], proper=False))
    train = [i for i, row in enumerate(words) if " ".join(row) not in held]
    if not train:
        raise ValueError(f"validation_size={validation_size} leaves no row for training: lower it.")
    return _take(items, train), _take(items, chosen)


def split_text(text, validation_fraction=0.1):
    """Splits a corpus into its first and last parts (no shuffle), for language models.

    Args:
        text: str.
        validation_fraction: float in (0, 1). Defaults to `0.1` (the first
            90% for training, the last 10% for validation).

    Returns:
        `(train_text, validation_text)`, which concatenate back to `text`.

    Raises:
        ValueError: bad fraction, or a text too short to split.

    Example:
    >>> split_text("abcdefghij")
    ('abcdefghi', 'j')
    """
    check_fraction("validation_fraction", validation_fraction)
    if not isinstance(text, str):
        raise ValueError(f"`text` must be a str. Received: {type(text).__name__}")
    cut = int(round(len(text) * (1.0 - validation_fraction)))
    if not 0 < cut < len(text):
        raise ValueError(
            f"Cannot split a text of {len(text)} characters with "
            f"validation_fraction={validation_fraction}."
        )
    return text[:cut], text[cut:]
