"""Text data for kerasformers: readers, tokenizers (in TensorFlow ops) and `tf.data` pipelines.

Example:
>>> from kerasformers import text  # doctest: +SKIP
>>> pairs = text.read_pairs("spa.txt", source_column=1, target_column=0)  # doctest: +SKIP
>>> train, validation = text.split(pairs, 0.1, seed=0)  # doctest: +SKIP
>>> spa = text.train_sentence_piece(train.sources, 8000)  # doctest: +SKIP
>>> eng = text.train_sentence_piece(train.targets, 8000)  # doctest: +SKIP
>>> ds = text.translation_dataset(train.sources, train.targets, spa, eng,
...                               batch_size=64, max_length=20)  # doctest: +SKIP
"""

from kerasformers.text.pipelines import (
    bucket_lengths,
    classification_dataset,
    fitted_max_length,
    language_model_dataset,
    split,
    split_sentences,
    split_text,
    translation_dataset,
    truncation_report,
    TruncationReport,
)
from kerasformers.text.readers import (
    LabelledTexts,
    MalformedLinesWarning,
    ReadReport,
    TextPairs,
    read_labelled,
    read_pairs,
    read_parallel,
    read_text,
)
from kerasformers.text.tokenizers import (
    END_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    START_TOKEN,
    TOKENIZER_KINDS,
    UNK_TOKEN,
    CharacterTokenizer,
    VocabularyTooLargeError,
    character_tokenizer,
    decode,
    encode,
    load_tokenizer,
    make_tokenizer,
    padding_token_id,
    save_tokenizer,
    sentence_frame,
    special_token_id,
    train_sentence_piece,
    train_word_piece,
)

__all__ = [
    "CharacterTokenizer",
    "END_TOKEN",
    "LabelledTexts",
    "MalformedLinesWarning",
    "PAD_TOKEN",
    "ReadReport",
    "SPECIAL_TOKENS",
    "START_TOKEN",
    "TOKENIZER_KINDS",
    "TextPairs",
    "UNK_TOKEN",
    "VocabularyTooLargeError",
    "character_tokenizer",
    "bucket_lengths",
    "classification_dataset",
    "decode",
    "encode",
    "fitted_max_length",
    "language_model_dataset",
    "load_tokenizer",
    "make_tokenizer",
    "read_labelled",
    "read_pairs",
    "read_parallel",
    "read_text",
    "save_tokenizer",
    "padding_token_id",
    "sentence_frame",
    "special_token_id",
    "split",
    "split_sentences",
    "split_text",
    "train_sentence_piece",
    "train_word_piece",
    "translation_dataset",
    "truncation_report",
    "TruncationReport",
]
