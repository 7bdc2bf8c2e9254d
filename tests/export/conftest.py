"""Exports built once per test session: tiny models, briefly trained, with real tokenizers."""

import dataclasses

import keras
import pytest

import kerasformers as kf
from kerasformers import text
from kerasformers.export import (
    classifier_endpoints,
    export_for_serving,
    language_model_endpoints,
    translator_endpoints,
)

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
    return _classifier(tmp_path_factory)


def _classifier(tmp_path_factory, policy="float32"):
    keras.utils.set_random_seed(0)
    texts, labels = zip(*SENTIMENT)
    tokenizer = text.train_word_piece(list(texts), 200)
    model = kf.TransformerClassifier.from_preset(
        "tiny", dtype=policy, vocabulary_size=tokenizer.vocabulary_size(), num_classes=2, max_length=16, num_layers=1
    )
    model.compile("adam", kf.training.MaskedSparseCategoricalCrossentropy())
    model.fit(text.classification_dataset(list(texts), list(labels), tokenizer, 8, 16), epochs=2, verbose=0)
    path = export_for_serving(
        model, tmp_path_factory.mktemp("saved_models") / "sentiment",
        classifier_endpoints(model, tokenizer, ["negative", "positive"]),
    )
    return Export("classifier", path, model, {"tokenizer": tokenizer}, "text", "probabilities")


SHAKESPEARE = (
    "to be, or not to be, that is the question:\nwhether 'tis nobler in the mind to suffer\n"
    "the slings and arrows of outrageous fortune,\nor to take arms against a sea of troubles\n"
) * 8
PAIRS = [
    ("hola mundo", "hello world"), ("buenos días", "good morning"), ("¿dónde está la biblioteca?", "where is the library?"),
    ("me gusta el café", "i like coffee"), ("el gato duerme", "the cat sleeps"), ("tengo hambre", "i am hungry"),
] * 8


@pytest.fixture(scope="session")
def language_model_export(tmp_path_factory):
    return _language_model(tmp_path_factory)


def _language_model(tmp_path_factory, policy="float32"):
    keras.utils.set_random_seed(0)
    tokenizer = text.character_tokenizer(SHAKESPEARE)
    model = kf.TransformerLanguageModel.from_preset(
        "tiny", dtype=policy, vocabulary_size=tokenizer.vocabulary_size(), max_length=48, num_layers=1
    )
    model.compile("adam", kf.training.MaskedSparseCategoricalCrossentropy())
    model.fit(text.language_model_dataset(SHAKESPEARE, tokenizer, 32, 8), epochs=3, verbose=0)
    path = export_for_serving(
        model, tmp_path_factory.mktemp("saved_models") / "lm", language_model_endpoints(model, tokenizer, max_new_tokens=16)
    )
    return Export("language_model", path, model, {"tokenizer": tokenizer}, "prompt", "text")


@pytest.fixture(scope="session")
def translator_export(tmp_path_factory):
    return _translator(tmp_path_factory)


def _translator(tmp_path_factory, policy="float32"):
    keras.utils.set_random_seed(0)
    sources, targets = map(list, zip(*PAIRS))
    spa, eng = text.train_sentence_piece(sources, 30), text.train_sentence_piece(targets, 30)
    model = kf.TransformerSeq2Seq.from_preset(
        "tiny", dtype=policy, encoder_vocabulary_size=spa.vocabulary_size(),
        decoder_vocabulary_size=eng.vocabulary_size(),
        max_length=16, num_encoder_layers=1, num_decoder_layers=1,
    )
    model.compile("adam", kf.training.MaskedSparseCategoricalCrossentropy())
    model.fit(text.translation_dataset(sources, targets, spa, eng, 8, 16), epochs=20, verbose=0)
    path = export_for_serving(
        model, tmp_path_factory.mktemp("saved_models") / "translator", translator_endpoints(model, spa, eng)
    )
    return Export("translator", path, model, {"source": spa, "target": eng}, "text", "translation")


@pytest.fixture(scope="session")
def bfloat16_exports(tmp_path_factory):
    """The three exports again, from models built under `mixed_bfloat16`."""
    return {kind: build(tmp_path_factory, "mixed_bfloat16")
            for kind, build in [("classifier", _classifier), ("language_model", _language_model),
                                ("translator", _translator)]}
