"""Exports built once per test session: tiny models, briefly trained, with real tokenizers."""

import dataclasses

import keras
import numpy as np
import pytest

import kerasformers as kf
from kerasformers import text
from kerasformers.export import export_for_serving

SENTIMENT = [
    ("a gripping, beautifully acted film", 1), ("a dull, lifeless plot", 0), ("great fun from start to end", 1),
    ("boring and far too long", 0), ("the best film of the year", 1), ("the worst script i have read", 0),
    ("warm, funny and wise", 1), ("a tedious mess", 0),
] * 6


@dataclasses.dataclass
class Export:
    kind: str
    path: object
    model: object
    tokenizers: dict
    input_name: str
    output_name: str


@pytest.fixture(scope="session")
def classifier_export(tmp_path_factory):
    keras.utils.set_random_seed(0)
    texts, labels = zip(*SENTIMENT)
    tokenizer = text.train_word_piece(list(texts), 200)
    model = kf.TransformerClassifier.from_preset(
        "tiny", vocabulary_size=tokenizer.vocabulary_size(), num_classes=2, max_length=16, num_layers=1
    )
    model.compile("adam", kf.training.MaskedSparseCategoricalCrossentropy())
    model.fit(text.classification_dataset(list(texts), list(labels), tokenizer, 8, 16), epochs=2, verbose=0)
    path = export_for_serving(
        model, tmp_path_factory.mktemp("saved_models") / "sentiment", tokenizer=tokenizer, class_names=["negative", "positive"]
    )
    return Export("classifier", path, model, {"tokenizer": tokenizer}, "text", "probabilities")


def keras_reference(export, strings):
    """What the Keras model answers for `strings`, tokenized the way the export does (eagerly)."""
    if export.kind == "classifier":
        tokenizer = export.tokenizers["tokenizer"]
        ids = tokenizer(strings)
        dense = np.zeros((len(strings), export.model.max_length), "int32")
        for i, row in enumerate(ids):
            row = np.asarray(row)[: export.model.max_length]
            dense[i, : len(row)] = row
        logits = export.model.predict({"token_ids": dense}, verbose=0)
        return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    raise NotImplementedError(export.kind)
