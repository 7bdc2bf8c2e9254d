"""A classifier fine-tuned from a BERT-family checkpoint exports like ours: raw strings in, its own tokenizer in the graph."""

import pathlib
import subprocess
import sys
import json

import numpy as np
import pytest
import tiny_checkpoints

import kerasformers as kf
from kerasformers import text
from kerasformers.checkpoints import load_pretrained_tokenizer
from kerasformers.export import classifier_endpoints, export_for_serving

HERE = pathlib.Path(__file__).resolve().parent
STRINGS = ["Hello world!", "", "the quick brown fox " * 40, "Café crème 東京 😀", "UPPER lower"]


@pytest.fixture(scope="module")
def bert_export(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    directory = tiny_checkpoints.write_bert(root / "bert")
    tokenizer = load_pretrained_tokenizer(directory)
    model = kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    path = export_for_serving(model, root / "export", classifier_endpoints(model, tokenizer, ["neg", "pos"]))
    return model, tokenizer, path


def test_encode_frames_sentences_with_cls_and_sep(bert_export):
    _, tokenizer, _ = bert_export
    assert text.sentence_frame(tokenizer) == (2, 3)
    ids = text.encode(tokenizer, ["Hello world!", ""], 6)
    vocab = tiny_checkpoints.bert_vocabulary()
    assert ids.tolist() == [[2, vocab.index("hello"), vocab.index("world"), vocab.index("!"), 3, 0], [2, 3, 0, 0, 0, 0]]
    assert text.encode(tokenizer, ["the quick brown fox"], 4).tolist() == [[2, vocab.index("the"), vocab.index("quick"), 3]]
    with pytest.raises(ValueError, match="length=2"):
        text.encode(tokenizer, ["x"], 2)


def test_export_answers_like_keras_in_a_process_without_kerasformers(bert_export):
    model, tokenizer, path = bert_export
    result = subprocess.run(
        [sys.executable, str(HERE / "_fresh_process.py"), str(path), "text", json.dumps([STRINGS])],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["blocked"] is True
    logits = model.predict({"token_ids": text.encode(tokenizer, STRINGS, model.max_length)}, verbose=0)
    expected = np.exp(logits - logits.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(np.array(out["results"][0]["probabilities"]), expected, atol=1e-5)
    assert out["results"][0]["label"] == [["neg", "pos"][i] for i in expected.argmax(-1)]
