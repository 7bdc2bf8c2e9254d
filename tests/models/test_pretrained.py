"""Published checkpoints: our models loaded from tiny random HF checkpoints equal KerasHub's converters."""

import json
import math
import re

import keras
import keras_hub
import numpy as np
import pytest
import tiny_checkpoints
from helpers import to_numpy

import kerasformers as kf
from kerasformers.checkpoints import CheckpointError, load_pretrained_tokenizer

ATOL = 1e-4


def bert_inputs(directory, sentences, length=24):
    """Token ids `[CLS] ... [SEP]` padded with 0, from our tokenizer; and the padding mask."""
    tokenizer = load_pretrained_tokenizer(directory)
    ids = np.zeros((len(sentences), length), "int32")
    for i, sentence in enumerate(sentences):
        pieces = [tokenizer.cls_token_id, *to_numpy(tokenizer(sentence)).tolist()[: length - 2], tokenizer.sep_token_id]
        ids[i, : len(pieces)] = pieces
    return ids, ids != 0


def keras_hub_bert(directory, ids, mask):
    backbone = keras_hub.models.BertBackbone.from_preset(str(directory))
    outputs = backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask})
    return backbone, {k: to_numpy(v) for k, v in outputs.items()}


def numpy_bert(directory, ids):
    """BERT's forward pass in float64 NumPy from the checkpoint's tensors (exact erf GELU, as `hidden_act: gelu`)."""
    from safetensors.numpy import load_file

    config = json.loads((directory / "config.json").read_text())
    tensors = {}
    for file in sorted(directory.glob("*.safetensors")):
        tensors.update({k.removeprefix("bert."): v.astype("float64") for k, v in load_file(str(file)).items()})
    w = {k.replace(".gamma", ".weight").replace(".beta", ".bias"): v for k, v in tensors.items()}
    erf = np.vectorize(math.erf)

    def norm(x, p):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * w[p + ".weight"] + w[p + ".bias"]

    def dense(x, p):
        return x @ w[p + ".weight"].T + w[p + ".bias"]

    heads = config["num_attention_heads"]
    b, t = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
    x = norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
    visible = (ids != 0)[:, None, None, :]
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q, k, v = (dense(x, f"{p}.attention.self.{n}").reshape(b, t, heads, -1) for n in ("query", "key", "value"))
        scores = np.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(q.shape[-1])
        scores = np.where(visible, scores, -1e9)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = np.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, t, -1)
        x = norm(x + dense(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
        h = dense(x, f"{p}.intermediate.dense")
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
        x = norm(x + dense(h, f"{p}.output.dense"), f"{p}.output.LayerNorm")
    return {"sequence_output": x, "pooled_output": np.tanh(dense(x[:, 0], "pooler.dense"))}


def check_equal_to_keras_hub_bert(directory):
    ids, mask = bert_inputs(directory, tiny_checkpoints.SENTENCES)
    # The checkpoint says exact GELU: equal to a float64 NumPy BERT.
    exact = kf.TransformerClassifier.from_pretrained(directory, num_classes=3)
    ours = {k: to_numpy(v) for k, v in exact.encoder_model()({"token_ids": ids}).items()}
    reference = numpy_bert(directory, ids)
    np.testing.assert_allclose(ours["sequence_output"][mask], reference["sequence_output"][mask], atol=ATOL)
    np.testing.assert_allclose(ours["pooled_output"], reference["pooled_output"], atol=ATOL)
    # KerasHub's converter computes the tanh GELU: with the same activation, equal to it.
    _, expected = keras_hub_bert(directory, ids, mask)
    model = kf.TransformerClassifier.from_pretrained(directory, num_classes=3, activation="gelu_approximate")
    ours = {k: to_numpy(v) for k, v in model.encoder_model()({"token_ids": ids}).items()}
    np.testing.assert_allclose(ours["sequence_output"][mask], expected["sequence_output"][mask], atol=ATOL)
    np.testing.assert_allclose(ours["pooled_output"], expected["pooled_output"], atol=ATOL)
    assert exact.predict({"token_ids": ids}, verbose=0).shape == (len(ids), 3)
    return exact


def test_bert_equals_keras_hub_bert_backbone(tmp_path):
    model = check_equal_to_keras_hub_bert(tiny_checkpoints.write_bert(tmp_path / "bert"))
    config = model.get_config()
    assert (config["normalize_first"], config["layer_norm_epsilon"], config["activation"], config["pooling"]) == (
        False, 1e-12, "gelu", "pooler",
    )


def test_bert_from_sharded_prefixed_checkpoint_with_gamma_beta_names(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert", shards=3, prefix="bert.", gamma_beta=True, seed=1)
    assert len(list(directory.glob("*.safetensors"))) == 3
    check_equal_to_keras_hub_bert(directory)


def test_bert_from_a_keras_hub_backbone_object_and_preset_directory(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    ids, mask = bert_inputs(directory, tiny_checkpoints.SENTENCES)
    backbone, expected = keras_hub_bert(directory, ids, mask)
    from_object = kf.TransformerClassifier.from_pretrained(backbone, num_classes=2)
    backbone.save_to_preset(str(tmp_path / "preset"))
    from_preset = kf.TransformerClassifier.from_pretrained(tmp_path / "preset", num_classes=2)
    for model in (from_object, from_preset):
        ours = {k: to_numpy(v) for k, v in model.encoder_model()({"token_ids": ids}).items()}
        np.testing.assert_allclose(ours["sequence_output"][mask], expected["sequence_output"][mask], atol=ATOL)
        np.testing.assert_allclose(ours["pooled_output"], expected["pooled_output"], atol=ATOL)


def test_bert_keras_round_trip_keeps_the_pretrained_outputs(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    ids, _ = bert_inputs(directory, tiny_checkpoints.SENTENCES[:3])
    model = kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(restored.predict({"token_ids": ids}, verbose=0), model.predict({"token_ids": ids}, verbose=0), atol=1e-6)


def test_bert_without_pooler_defaults_to_mean_pooling(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert", pooler=False)
    assert kf.TransformerClassifier.from_pretrained(directory, num_classes=2).pooling == "mean"
    with pytest.raises(CheckpointError, match="pooler.dense.weight"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2, pooling="pooler")


def gpt2_logits_keras_hub(directory, ids):
    backbone = keras_hub.models.GPT2Backbone.from_preset(str(directory))
    hidden = backbone({"token_ids": ids, "padding_mask": np.ones_like(ids, bool)})
    return backbone, to_numpy(backbone.token_embedding(hidden, reverse=True))


def gpt2_ids(directory, sentences=tiny_checkpoints.SENTENCES, length=16):
    tokenizer = load_pretrained_tokenizer(directory)
    rows = [to_numpy(tokenizer(s)).tolist()[:length] for s in sentences if s]
    ids = np.full((len(rows), length), tokenizer.end_token_id, "int32")
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids


@pytest.mark.parametrize("shards,prefix", [(1, ""), (2, "transformer.")])
def test_gpt2_equals_keras_hub_gpt2(tmp_path, shards, prefix):
    directory = tiny_checkpoints.write_gpt2(tmp_path / "gpt2", shards=shards, prefix=prefix)
    ids = gpt2_ids(directory)
    _, expected = gpt2_logits_keras_hub(directory, ids)
    model = kf.TransformerLanguageModel.from_pretrained(directory)
    np.testing.assert_allclose(model.predict({"token_ids": ids}, verbose=0), expected, atol=ATOL)
    config = model.get_config()
    assert (config["normalize_first"], config["tie_embeddings"], config["padding_id"]) == (True, True, None)
    assert config["activation"] == "gelu_approximate"


def test_gpt2_from_a_keras_hub_backbone_object(tmp_path):
    directory = tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    ids = gpt2_ids(directory)
    backbone, expected = gpt2_logits_keras_hub(directory, ids)
    model = kf.TransformerLanguageModel.from_pretrained(backbone)
    np.testing.assert_allclose(model.predict({"token_ids": ids}, verbose=0), expected, atol=ATOL)


def test_gpt2_id_zero_is_a_real_token(tmp_path):
    """GPT-2's id 0 is `!`: a sequence of zeros must not be masked away (it was, with mask_zero)."""
    directory = tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    model = kf.TransformerLanguageModel.from_pretrained(directory)
    ids = np.array([[5, 0, 0, 7]], "int32")
    _, expected = gpt2_logits_keras_hub(directory, ids)
    np.testing.assert_allclose(model.predict({"token_ids": ids}, verbose=0), expected, atol=ATOL)


def test_gpt2_cached_decoding_equals_full_logits(tmp_path):
    model = kf.TransformerLanguageModel.from_pretrained(tiny_checkpoints.write_gpt2(tmp_path / "gpt2"))
    ids = gpt2_ids(tmp_path / "gpt2")[:2, :8]
    full = model.predict({"token_ids": ids}, verbose=0)
    cache = model.init_cache(2, 8)
    logits, cache = model.call_with_cache(ids[:, :5], cache, 0)
    steps = [to_numpy(logits)]
    for t in range(5, 8):
        logits, cache = model.call_with_cache(ids[:, t : t + 1], cache, t)
        steps.append(to_numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=ATOL)


# ---------------------------------------------------------------------------------------- tokenizers
def test_bert_tokenizer_ids_equal_keras_hub_for_a_cased_checkpoint(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert", lower_case=False)
    ours = load_pretrained_tokenizer(directory)
    theirs = keras_hub.models.BertTokenizer.from_preset(str(directory))
    for sentence in tiny_checkpoints.SENTENCES:
        assert to_numpy(ours(sentence)).tolist() == to_numpy(theirs(sentence)).tolist(), sentence
    assert to_numpy(ours("Hello The")).tolist() == [ours.token_to_id("Hello"), ours.token_to_id("The")]


def test_bert_tokenizer_lowercases_and_strips_accents_as_the_checkpoint_says(tmp_path):
    """Uncased BERT: lower-case and strip accents (Hugging Face's rule when `strip_accents` is unset).

    KerasHub's `BertTokenizer.from_preset` lower-cases but keeps accents; ours
    follows the checkpoint, and equals KerasHub's tokenizer given the same two settings.
    """
    directory = tiny_checkpoints.write_bert(tmp_path / "bert", lower_case=True)
    ours = load_pretrained_tokenizer(directory)
    vocab = tiny_checkpoints.bert_vocabulary()
    assert to_numpy(ours("Café Hello")).tolist() == [vocab.index("cafe"), vocab.index("hello")]
    same_settings = keras_hub.models.BertTokenizer(vocabulary=vocab, lowercase=True, strip_accents=True)
    for sentence in tiny_checkpoints.SENTENCES:
        assert to_numpy(ours(sentence)).tolist() == to_numpy(same_settings(sentence)).tolist(), sentence
    assert (ours.cls_token_id, ours.sep_token_id, ours.pad_token_id) == (2, 3, 0)


def test_gpt2_tokenizer_ids_equal_keras_hub(tmp_path):
    directory = tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    ours = load_pretrained_tokenizer(directory)
    theirs = keras_hub.models.GPT2Tokenizer.from_preset(str(directory))
    for sentence in tiny_checkpoints.SENTENCES:
        assert to_numpy(ours(sentence)).tolist() == to_numpy(theirs(sentence)).tolist(), sentence
    vocab = tiny_checkpoints.gpt2_vocabulary()
    assert to_numpy(ours("Hello world")).tolist() == [vocab["Hello"], vocab["Ġworld"]]  # the merges apply
    assert ours.detokenize(ours("Café 東京 😀")) == "Café 東京 😀"  # byte-level: nothing is unknown


# ---------------------------------------------------------------------------------------- errors
def test_errors_name_the_file_and_the_tensor(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(directory / "model.safetensors"))
    del tensors["encoder.layer.1.intermediate.dense.bias"]
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(CheckpointError, match=re.escape("'encoder.layer.1.intermediate.dense.bias' is missing from")):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)

    tensors["encoder.layer.1.intermediate.dense.bias"] = np.zeros(7, "float32")
    save_file(tensors, str(directory / "model.safetensors"))
    with pytest.raises(CheckpointError, match=r"'encoder.layer.1.intermediate.dense.bias' in .*has shape \(7,\)"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)


def test_unsupported_model_type_and_missing_files(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps({**config, "model_type": "t5"}))
    with pytest.raises(CheckpointError, match="loads 'bert' checkpoints.*'t5'"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    with pytest.raises(CheckpointError, match="Unsupported model_type 't5'"):
        load_pretrained_tokenizer(directory)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="loads 'gpt2' checkpoints"):
        kf.TransformerLanguageModel.from_pretrained(directory)

    (directory / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="expected model.safetensors or model.safetensors.index.json"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    (directory / "config.json").unlink()
    with pytest.raises(CheckpointError, match="Missing config.json"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    with pytest.raises(CheckpointError, match="No checkpoint directory at"):
        kf.TransformerClassifier.from_pretrained(tmp_path / "nowhere" / "x" / "y", num_classes=2)


def test_a_missing_shard_is_named(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert", shards=2)
    next(directory.glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(CheckpointError, match="Missing weights shard model-00002-of-00002.safetensors"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2)


def test_a_hub_id_without_network_says_a_network_is_needed(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="needs a network"):
        kf.TransformerClassifier.from_pretrained("no-such-org/no-such-model", num_classes=2)


def test_architecture_arguments_are_the_checkpoints(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    with pytest.raises(ValueError, match="model_dim=64"):
        kf.TransformerClassifier.from_pretrained(directory, num_classes=2, model_dim=64)


# ---------------------------------------------------------------------------------------- LoRA and int8
def lora_parameters(kernel_shape, rank):
    """Keras' EinsumDense/Dense LoRA: kernel (..., n) = A (..., rank) @ B (rank, n)."""
    return math.prod(kernel_shape[:-1]) * rank + rank * kernel_shape[-1]


def test_enable_lora_trains_exactly_the_lora_matrices_and_the_head(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    model = kf.TransformerClassifier.from_pretrained(directory, num_classes=2, dropout=0.0)
    ids, _ = bert_inputs(directory, tiny_checkpoints.SENTENCES[:4])
    labels = np.array([0, 1, 0, 1])
    before = {v.path: to_numpy(v).copy() for v in model.weights}
    count = kf.models.enable_lora(model, rank=4)
    hidden, inner, layers = 32, 64, 2
    per_layer = 3 * lora_parameters((hidden, 4, 8), 4) + lora_parameters((4, 8, hidden), 4)  # q, k, v; output
    per_layer += lora_parameters((hidden, inner), 4) + lora_parameters((inner, hidden), 4)  # feed-forward
    head = hidden * 2 + 2
    assert count == layers * per_layer + head
    trainable = sorted(v.path for v in model.trainable_weights)
    assert all("lora_kernel" in p or p.startswith("head/") for p in trainable), trainable
    assert sum("lora_kernel" in p for p in trainable) == layers * 6 * 2
    # Training moves the LoRA matrices and the head only; the function the model computes changes.
    outputs_before = model.predict({"token_ids": ids}, verbose=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit({"token_ids": ids}, labels, epochs=3, verbose=0)
    changed = {v.path for v in model.weights if v.path in before and not np.array_equal(to_numpy(v), before[v.path])}
    assert changed == {p for p in before if p.startswith("head/")}
    merged = kf.models.merge_lora(model)
    assert not any("lora" in v.path for v in merged.weights)
    np.testing.assert_allclose(merged.predict({"token_ids": ids}, verbose=0), model.predict({"token_ids": ids}, verbose=0), atol=1e-5)
    assert not np.allclose(model.predict({"token_ids": ids}, verbose=0), outputs_before, atol=1e-4)
    with pytest.raises(ValueError, match="already enabled"):
        kf.models.enable_lora(model, rank=4)


def test_merge_lora_needs_lora_and_targets_are_checked(tmp_path):
    model = kf.TransformerClassifier.from_preset("tiny", vocabulary_size=50, num_classes=2, max_length=16)
    with pytest.raises(ValueError, match="no LoRA weights"):
        kf.models.merge_lora(model)
    with pytest.raises(ValueError, match="targets=\\('mlp',\\)"):
        kf.models.enable_lora(model, 4, targets=("mlp",))
    with pytest.raises(ValueError, match="rank=0"):
        kf.models.enable_lora(model, 0)
    assert len(kf.models.lora_projections(model, ("attention",))) == 2 * 4


def test_int8_quantization_reaches_attention_and_feed_forward(tmp_path):
    directory = tiny_checkpoints.write_bert(tmp_path / "bert")
    model = kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
    ids, _ = bert_inputs(directory, tiny_checkpoints.SENTENCES)
    expected = model.encoder_model()({"token_ids": ids})["pooled_output"]
    model.quantize("int8")
    projections = kf.models.lora_projections(model)
    assert {p.quantization_mode for p in projections} == {"int8"}
    assert {str(v.dtype) for p in projections for v in p.weights if v.path.endswith("/kernel")} == {"int8"}
    quantized = to_numpy(model.encoder_model()({"token_ids": ids})["pooled_output"])
    assert np.abs(quantized - to_numpy(expected)).max() < 0.1
    assert not np.allclose(quantized, to_numpy(expected), atol=1e-6)


def test_int8_quantization_of_a_tied_language_model_head(tmp_path):
    """GPT-2's output projection is its (tied) token table: after `quantize("int8")` it is read dequantized."""
    directory = tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    model = kf.TransformerLanguageModel.from_pretrained(directory)
    ids = np.array([[5, 0, 17, 40, 3, 9]], "int32")
    expected = to_numpy(model({"token_ids": ids}))
    model.quantize("int8")
    table = model.embedding.token_embedding
    assert table.quantization_mode == "int8" and str(table._embeddings.dtype) == "int8"
    quantized = to_numpy(model({"token_ids": ids}))
    spread = expected.max() - expected.min()
    assert np.abs(quantized - expected).max() < 0.05 * spread  # int8 rounding, not raw int8 values
    assert not np.allclose(quantized, expected, atol=1e-6)
    cached, _ = model.call_with_cache(ids, model.init_cache(1, ids.shape[1]), 0)  # generation's path
    np.testing.assert_allclose(to_numpy(cached), quantized, atol=1e-4)
