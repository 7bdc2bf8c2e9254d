"""Tiny models and learnable data shared by the distribution tests and their subprocesses."""

import numpy as np

import kerasformers as kf


def build(kind):
    if kind == "classifier":
        return kf.TransformerClassifier.from_preset("tiny", vocabulary_size=40, num_classes=3, max_length=12, dropout=0.0)
    if kind == "language_model":
        return kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=40, max_length=12, dropout=0.0)
    if kind == "seq2seq":
        return kf.TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=40, max_length=12, dropout=0.0)
    return kf.VisionTransformer.from_preset("tiny", image_size=8, patch_size=4, num_classes=3, num_channels=1, dropout=0.0)


def data(kind, batch=32, length=10):
    rng = np.random.default_rng(0)
    ids = rng.integers(4, 40, size=(batch, length)).astype("int32")
    ids[:, -2:] = 0
    if kind == "classifier":
        return {"token_ids": ids}, ids[:, 0] % 3
    if kind == "language_model":
        return {"token_ids": ids[:, :-1]}, ids[:, 1:]
    if kind == "seq2seq":
        decoder = np.concatenate([np.full((batch, 1), 2, "int32"), ids[:, :-1]], axis=1)
        return {"encoder_token_ids": ids, "decoder_token_ids": decoder}, ids
    images = rng.random((batch, 8, 8, 1)).astype("float32")
    return {"images": images}, (images.mean(axis=(1, 2, 3)) * 3).astype("int32").clip(0, 2)


KINDS = ("classifier", "language_model", "seq2seq", "vit")
