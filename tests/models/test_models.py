import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasformers as kf

RNG = np.random.default_rng(0)
SPARSE_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def token_batch(batch, length, vocabulary_size=50, pad_from=None, seed=0):
    ids = np.random.default_rng(seed).integers(3, vocabulary_size, size=(batch, length)).astype("int32")
    if pad_from is not None:
        ids[:, pad_from:] = 0
    return ids


def classifier(**overrides):
    return kf.TransformerClassifier.from_preset(
        "tiny", vocabulary_size=50, num_classes=3, max_length=16, dropout=0.0, **overrides
    )


def language_model(**overrides):
    return kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=50, max_length=16, dropout=0.0, **overrides)


def seq2seq(**overrides):
    return kf.TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=50, max_length=16, dropout=0.0, **overrides)


def vit(**overrides):
    return kf.VisionTransformer.from_preset(
        "tiny", image_size=8, patch_size=4, num_classes=3, num_channels=1, dropout=0.0, **overrides
    )


def task_data(kind, batch=32, length=10):
    """(inputs, labels) that a model can learn from: copy tasks and first-token classes."""
    ids = token_batch(batch, length, pad_from=length - 2)
    if kind == "classifier":
        return {"token_ids": ids}, ids[:, 0] % 3
    if kind == "language_model":
        return {"token_ids": ids[:, :-1]}, ids[:, 1:]
    if kind == "seq2seq":
        decoder = np.concatenate([np.full((batch, 1), 2, "int32"), ids[:, :-1]], axis=1)
        return {"encoder_token_ids": ids, "decoder_token_ids": decoder}, ids
    images = np.random.default_rng(1).random((batch, 8, 8, 1)).astype("float32")
    return {"images": images}, (images[:, :4].mean(axis=(1, 2, 3)) > 0.5).astype("int32") + (images[:, 4:].mean(axis=(1, 2, 3)) > 0.5)


FACTORIES = {"classifier": classifier, "language_model": language_model, "seq2seq": seq2seq, "vit": vit}


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_fit_lowers_the_loss_with_xla(kind):
    model = FACTORIES[kind]()
    x, y = task_data(kind)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=SPARSE_CE, jit_compile=True)
    losses = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_keras_round_trip_and_config(kind, tmp_path):
    model = FACTORIES[kind]()
    config = model.get_config()
    assert type(model).from_config(config).get_config() == config
    x, _ = task_data(kind, batch=4)
    expected = model.predict(x, verbose=0)
    path = os.path.join(str(tmp_path), f"{kind}.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(model)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected, atol=1e-6)


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_predict_on_arrays_and_datasets_agree(kind):
    model = FACTORIES[kind]()
    x, _ = task_data(kind, batch=10)
    from_arrays = model.predict(x, batch_size=4, verbose=0)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(4)
    np.testing.assert_allclose(model.predict(dataset, verbose=0), from_arrays, atol=1e-5)


@pytest.mark.parametrize("kind", ["classifier", "language_model", "seq2seq"])
def test_variable_sequence_lengths(kind):
    model = FACTORIES[kind]()
    for length in (3, 7, 16):
        x, _ = task_data(kind, batch=2, length=length)
        out = model.predict(x, verbose=0)
        assert out.shape[0] == 2 and np.all(np.isfinite(out))
    too_long = task_data(kind, batch=2, length=20)[0]
    with pytest.raises(ValueError, match="exceeds max_length=16"):
        model(too_long)  # static shapes: a clear ValueError
    if kind != "seq2seq":  # learned positions; sinusoidal ones are defined at any length
        with pytest.raises(tf.errors.InvalidArgumentError):
            model.predict(too_long, verbose=0)  # traced with a dynamic length: TF's slice bound check


@pytest.mark.parametrize("kind", list(FACTORIES))
def test_mixed_bfloat16_trains_with_float32_logits(kind):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = FACTORIES[kind]()
    finally:
        keras.config.set_dtype_policy("float32")
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    x, y = task_data(kind)
    model.compile(optimizer="adam", loss=SPARSE_CE)
    losses = model.fit(x, y, epochs=2, batch_size=16, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses))



@pytest.mark.parametrize("kind", list(FACTORIES))
def test_dtype_argument_builds_every_layer_in_it_and_survives_saving(kind, tmp_path):
    """`dtype="mixed_bfloat16"` reaches the layers (not only the model), and a saved model reloads in it
    even when the global policy is float32, predicting exactly what it predicted before saving."""
    model = FACTORIES[kind](dtype="mixed_bfloat16")
    assert keras.config.dtype_policy().name == "float32"  # not leaked
    computing = [layer for layer in model._flatten_layers(include_self=False) if layer.weights]
    assert computing and all(layer.dtype_policy.name == "mixed_bfloat16" for layer in computing)
    assert {w.dtype for w in model.weights} == {"float32"}
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    x, _ = task_data(kind, batch=4)
    expected = model.predict(x, verbose=0)
    path = os.path.join(str(tmp_path), f"{kind}.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    policies = {layer.dtype_policy.name for layer in restored._flatten_layers(include_self=False) if layer.weights}
    assert policies == {"mixed_bfloat16"}
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
    assert FACTORIES[kind]().get_config()["dtype"]["config"]["name"] == "float32"

def test_classifier_mean_pooling_ignores_padding():
    model = classifier()
    ids = token_batch(3, 6)
    padded = np.concatenate([ids, np.zeros((3, 5), "int32")], axis=1)
    np.testing.assert_allclose(model.predict({"token_ids": padded}, verbose=0), model.predict({"token_ids": ids}, verbose=0), atol=1e-5)


@pytest.mark.parametrize("pooling", ["max", "mean_max"])
def test_classifier_max_pooling_and_convolution_ignore_padding_and_pool_the_final_states(pooling):
    model = classifier(pooling=pooling, conv_kernel_size=3)
    ids = token_batch(3, 6)
    padded = np.concatenate([ids, np.zeros((3, 5), "int32")], axis=1)
    out = model.predict({"token_ids": padded}, verbose=0)
    np.testing.assert_allclose(out, model.predict({"token_ids": ids}, verbose=0), atol=1e-5)
    states = keras.Model(model.inputs, model.get_layer("encoder_final_norm").output).predict({"token_ids": ids}, verbose=0)
    features = states.max(1) if pooling == "max" else np.concatenate([states.mean(1), states.max(1)], -1)
    kernel, bias = model.get_layer("head").get_weights()
    np.testing.assert_allclose(out, features @ kernel + bias, atol=1e-5)
    assert model.get_layer("local_convolution").kernel_size == 3
    assert kf.TransformerClassifier.from_config(model.get_config()).get_config() == model.get_config()
    assert type(classifier(pooling=pooling, conv_kernel_size=np.int64(3)).get_config()["conv_kernel_size"]) is int


def test_classifier_cls_pooling_and_probabilities():
    model = classifier(pooling="cls", output_probabilities=True)
    x = {"token_ids": token_batch(4, 6)}
    out = model.predict(x, verbose=0)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)
    states = keras.Model(model.inputs, model.get_layer("encoder_final_norm").output).predict(x, verbose=0)
    kernel, bias = model.get_layer("head").get_weights()
    logits = states[:, 0] @ kernel + bias  # the first position's final state only
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_language_model_is_causal_and_ties_embeddings():
    model = language_model()
    ids = token_batch(2, 10)
    changed = ids.copy()
    changed[:, 6:] = 7
    a, b = model.predict({"token_ids": ids}, verbose=0), model.predict({"token_ids": changed}, verbose=0)
    np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-5)
    assert not np.allclose(a[:, 6:], b[:, 6:])
    untied = language_model(tie_embeddings=False)
    assert untied.count_params() - model.count_params() == 50 * 128 + 50  # output kernel + bias


def test_seq2seq_encode_decode_match_the_model_and_padding_is_ignored():
    model = seq2seq()
    x, _ = task_data("seq2seq", batch=4)
    full = model.predict(x, verbose=0)
    encoded, mask = model.encode(x["encoder_token_ids"])
    parts = keras.ops.convert_to_numpy(model.decode(x["decoder_token_ids"], encoded, mask))
    real = x["decoder_token_ids"] != 0
    np.testing.assert_allclose(parts[real], full[real], atol=1e-5)
    # more source padding changes nothing for real target positions
    more = dict(x, encoder_token_ids=np.pad(x["encoder_token_ids"], ((0, 0), (0, 4))))
    np.testing.assert_allclose(model.predict(more, verbose=0)[real], full[real], atol=1e-5)


def test_seq2seq_vocabularies():
    separate = seq2seq(decoder_vocabulary_size=30)
    assert separate.outputs[0].shape[-1] == 30
    shared = seq2seq(share_embeddings=True)
    assert shared.encoder_embedding is shared.decoder_embedding
    assert separate.count_params() > shared.count_params()
    with pytest.raises(ValueError, match="decoder_vocabulary_size=30"):
        seq2seq(decoder_vocabulary_size=30, share_embeddings=True)


def test_paper_base_preset_has_65m_parameters():
    """Vaswani et al. Table 3: base model, shared 37k vocabulary, tied embeddings: 65M."""
    model = kf.TransformerSeq2Seq.from_preset(
        "transformer_base", encoder_vocabulary_size=37000, share_embeddings=True, tie_embeddings=True
    )
    assert model.num_encoder_layers == 6 and model.model_dim == 512 and model.hidden_dim == 2048
    assert model.num_heads == 8 and model.dropout == 0.1
    assert abs(model.count_params() - 65e6) / 65e6 < 0.05, model.count_params()
    big = kf.TransformerSeq2Seq.presets["transformer_big"]
    assert (big["model_dim"], big["hidden_dim"], big["num_heads"], big["dropout"]) == (1024, 4096, 16, 0.3)


@pytest.mark.parametrize("cls", [kf.TransformerClassifier, kf.TransformerLanguageModel, kf.TransformerSeq2Seq, kf.VisionTransformer])
def test_unknown_preset_lists_known_ones(cls):
    with pytest.raises(ValueError, match=r"Unknown preset 'huge'.*tiny"):
        cls.from_preset("huge")


@pytest.mark.parametrize(
    "build,match",
    [
        (lambda: kf.TransformerClassifier(vocabulary_size=50, num_classes=0), "num_classes=0"),
        (lambda: classifier(pooling="maximum"), "pooling='maximum'"),
        (lambda: classifier(conv_kernel_size=0), "conv_kernel_size=0"),
        (lambda: language_model(model_dim=100, num_heads=3), "model_dim=100, num_heads=3"),
        (lambda: kf.VisionTransformer(image_size=10, patch_size=4, num_classes=2), "image_size=10, patch_size=4"),
        (lambda: seq2seq(num_head=4), "Did you mean `num_heads`"),
        (lambda: kf.TransformerLanguageModel(vocabulary_size=50, dropout=2.0), "dropout=2.0"),
    ],
)
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()
