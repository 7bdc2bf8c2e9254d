"""Helpers of the export tests: the Keras model's reference answers, tokenized as the export does."""

import numpy as np

from kerasformers import text
from kerasformers.generation import generate, translate


def _ids(tokenizer, strings, length, keep="first"):
    """Tokenized, truncated and right-padded ids, as the export computes them (eagerly)."""
    rows = tokenizer(strings)
    dense = np.zeros((len(strings), length), "int32")
    for i, row in enumerate(rows):
        row = np.asarray(row, "int32")
        row = row[-length:] if keep == "last" else row[:length]
        dense[i, : len(row)] = row
    return dense


def _texts(values):
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]


def tokenizes_to_something(export, string):
    tokenizer = export.tokenizers.get("tokenizer") or export.tokenizers["source"]
    return bool(np.any(np.asarray(tokenizer([string])[0]) != 0))


def keras_reference(export, strings):
    """The Keras model's answer; for generation, None where the input has no token at all."""
    if export.kind == "classifier":
        return _keras_reference(export, strings)
    keep = [i for i, s in enumerate(strings) if tokenizes_to_something(export, s)]
    answers = _keras_reference(export, [strings[i] for i in keep]) if keep else []
    result = [None] * len(strings)
    for i, answer in zip(keep, answers):
        result[i] = answer
    return result


def _keras_reference(export, strings):
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
    if export.kind == "language_model":
        tokenizer, model = export.tokenizers["tokenizer"], export.model
        prompt = _ids(tokenizer, strings, model.max_length - 16, keep="last")
        tokens = generate(model, prompt, max_new_tokens=16)
        return _texts(text.decode(tokenizer, tokens))
    model = export.model
    source = _ids(export.tokenizers["source"], strings, model.max_length)
    return _texts(text.decode(export.tokenizers["target"], translate(model, source)))
