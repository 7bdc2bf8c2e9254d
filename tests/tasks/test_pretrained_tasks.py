"""`kerasformers train classification --pretrained DIR [--lora-rank R]`: a BERT-family checkpoint fine-tuned end to end.

Tiny random checkpoints (tests/tiny_checkpoints.py) stand in for real ones; the
real all-MiniLM-L6-v2 run is `benchmarks/quality.py --task sst2-pretrained`.
"""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
import tiny_checkpoints

import kerasformers as kf
from kerasformers import cli, text
from kerasformers.checkpoints import load_pretrained_tokenizer
from kerasformers.tasks import classification, fine_tuning, language_model, runs
from kerasformers.tasks import run as run_task

FEW = dict(demo=True, demo_size=200, epochs=1, steps_per_epoch=4, batch_size=8, plots=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoints.write_bert(tmp_path_factory.mktemp("ckpt") / "bert", positions=64)


@pytest.fixture(scope="module")
def fine_tuned(checkpoint, tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    result = run_task("classification", pretrained=str(checkpoint), dropout=0.25, output=str(base / "run"),
                      export_dir=str(base / "export"), **FEW)
    return result


@pytest.fixture(scope="module")
def lora_run(checkpoint, tmp_path_factory):
    base = tmp_path_factory.mktemp("lora")
    result = run_task("classification", pretrained=str(checkpoint), lora_rank=2, output=str(base / "run"),
                      export_dir=str(base / "export"), **FEW)
    return result


def test_fine_tuning_starts_from_the_checkpoint_and_uses_its_tokenizer(fine_tuned, checkpoint):
    info = json.loads((fine_tuned.run_dir / "task.json").read_text())
    assert info["pretrained"] == str(checkpoint) and info["tokenizer"] == "pretrained"
    assert info["max_length"] == 64  # the checkpoint's positions
    run = runs.load_run(fine_tuned.run_dir)
    tokenizer = run.tokenizers["text"]
    original = load_pretrained_tokenizer(checkpoint)
    for sentence in tiny_checkpoints.SENTENCES:  # the saved tokenizer is the checkpoint's, reloaded
        assert np.asarray(tokenizer(sentence)).tolist() == np.asarray(original(sentence)).tolist(), sentence
    assert run.model.num_layers == 2 and run.model.model_dim == 32 and run.model.pooling == "pooler"
    # --dropout replaces the checkpoint's 0.1 (it changes training, not the architecture)
    assert run.model.dropout == 0.25
    assert {layer.rate for layer in run.model.layers if isinstance(layer, keras.layers.Dropout)} == {0.25}
    assert {layer.dropout for layer in run.model.encoder_layers} == {0.25}
    # 4 steps at 1e-4 move the embeddings only a little away from the checkpoint's
    start = kf.TransformerClassifier.from_pretrained(checkpoint, num_classes=2)
    moved = run.model.embedding.token_embedding.embeddings.numpy() - start.embedding.token_embedding.embeddings.numpy()
    assert 0 < np.abs(moved).max() < 0.05


def test_export_and_run_folder_answer_alike(fine_tuned):
    run = runs.load_run(fine_tuned.run_dir)
    texts = ["a wonderful film", "not good at all", ""]
    expected = classification.predict_probabilities(run.model, run.tokenizers["text"], texts)
    served = runs.Served(fine_tuned.export_path).signature("serving_default")(text=tf.constant(texts))
    np.testing.assert_allclose(np.asarray(served["probabilities"]), expected, atol=1e-5)


def test_predictions_do_not_depend_on_trailing_padding(fine_tuned):
    run = runs.load_run(fine_tuned.run_dir)
    model, tokenizer = run.model, run.tokenizers["text"]
    texts = ["a wonderful film", "not good"]
    full = model.predict({"token_ids": text.encode(tokenizer, texts, model.max_length)}, verbose=0)
    logits = np.log(classification.predict_probabilities(model, tokenizer, texts))
    np.testing.assert_allclose(logits - logits.max(-1, keepdims=True),
                               full - full.max(-1, keepdims=True), atol=1e-5)


def test_lora_trains_only_the_low_rank_updates_and_exports_merged_weights(lora_run, checkpoint, capsys):
    run = runs.load_run(lora_run.run_dir)
    assert not any("lora" in v.path for v in run.model.weights)  # merged: plain kernels
    start = kf.TransformerClassifier.from_pretrained(checkpoint, num_classes=2)
    # frozen weights stayed the checkpoint's; merged kernels moved by the (small) low-rank update
    np.testing.assert_array_equal(run.model.embedding.token_embedding.embeddings.numpy(),
                                  start.embedding.token_embedding.embeddings.numpy())
    query = run.model.encoder_layers[0].self_attention.query_dense.kernel.numpy()
    delta = query - start.encoder_layers[0].self_attention.query_dense.kernel.numpy()
    assert np.abs(delta).max() > 0
    assert np.linalg.matrix_rank(delta.reshape(-1, delta.shape[-1]), tol=1e-6) <= 2  # (dim * heads, head_dim)
    texts = ["a wonderful film", "not good at all"]
    expected = classification.predict_probabilities(run.model, run.tokenizers["text"], texts)
    served = runs.Served(lora_run.export_path).signature("serving_default")(text=tf.constant(texts))
    np.testing.assert_allclose(np.asarray(served["probabilities"]), expected, atol=1e-5)


def test_lora_count_is_printed(checkpoint, capsys):
    model = kf.TransformerClassifier.from_pretrained(checkpoint, num_classes=2)
    trainable = fine_tuning.with_lora(model, 2)
    dim, heads, ffn, layers = 32, 4, 64, 2
    head_dim = dim // heads
    attention = 3 * (dim * heads * 2 + 2 * head_dim) + (heads * head_dim * 2 + 2 * dim)  # q, k, v; output
    feed_forward = (dim * 2 + 2 * ffn) + (ffn * 2 + 2 * dim)
    head = dim * 2 + 2
    assert trainable == layers * (attention + feed_forward) + head
    assert f"LoRA rank 2: {trainable:,} trainable parameters of {model.count_params():,}" in capsys.readouterr().out


@pytest.mark.parametrize("options, message", [
    (dict(lora_rank=4), "--lora-rank 4 adapts a pretrained checkpoint"),
    (dict(pretrained="CKPT", preset="small"), "drop --preset"),
    (dict(pretrained="CKPT", num_layers=2), "drop --num-layers"),
    (dict(pretrained="CKPT", max_length=65), "--max-length 65 exceeds the 64 positions"),
    (dict(pretrained="GPT2"), "is a 'gpt2' checkpoint; the classification task fine-tunes 'bert'"),
])
def test_bad_options_fail_before_any_work(options, message, checkpoint, tmp_path):
    gpt2 = tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    options = {k: {"CKPT": str(checkpoint), "GPT2": str(gpt2)}.get(v, v) for k, v in options.items()}
    with pytest.raises(ValueError, match=message):
        run_task("classification", output=str(tmp_path / "run"), **FEW, **options)
    assert not (tmp_path / "run").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="No checkpoint directory at .*nope"):
        run_task("classification", pretrained=str(tmp_path / "nope"), output=str(tmp_path / "run"), **FEW)
    assert not (tmp_path / "run").exists()


def test_help_names_the_fine_tuning_defaults(capsys):
    assert cli.main(["train", "classification", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--pretrained DIR" in help_text and "--lora-rank R" in help_text
    assert "1e-3; 0.0001 with --pretrained" in help_text
    assert "64; 32 with --pretrained" in help_text


def test_classification_dataset_frames_and_pads_to_the_longest(checkpoint):
    tokenizer = load_pretrained_tokenizer(checkpoint)
    vocab = tiny_checkpoints.bert_vocabulary()
    data = text.classification_dataset(["hello world", "the quick brown fox", ""], [0, 1, 0], tokenizer,
                                       batch_size=3, max_length=5, shuffle=False, padding="longest")
    (inputs, labels), = list(data)
    the, quick, brown = (vocab.index(w) for w in ("the", "quick", "brown"))
    assert inputs["token_ids"].numpy().tolist() == [
        [2, vocab.index("hello"), vocab.index("world"), 3, 0],
        [2, the, quick, brown, 3],  # truncated to 5 with [SEP] kept
        [2, 3, 0, 0, 0],
    ]
    assert labels.numpy().tolist() == [0, 1, 0]
    short = text.classification_dataset(["hello"], [1], tokenizer, batch_size=1, max_length=50, padding="longest")
    assert next(iter(short))[0]["token_ids"].shape == (1, 3)  # [CLS] hello [SEP], not 50
    fixed = text.classification_dataset(["hello"], [1], tokenizer, batch_size=1, max_length=6)
    assert next(iter(fixed))[0]["token_ids"].numpy().tolist() == [[2, vocab.index("hello"), 3, 0, 0, 0]]


def test_classification_dataset_errors(checkpoint):
    tokenizer = load_pretrained_tokenizer(checkpoint)
    with pytest.raises(ValueError, match="padding='widest'"):
        text.classification_dataset(["a"], [0], tokenizer, 1, 8, padding="widest")
    with pytest.raises(ValueError, match="own \\[CLS\\]"):
        text.classification_dataset(["a"], [0], tokenizer, 1, 8, cls_token=True)
    with pytest.raises(ValueError, match="max_length=2"):
        text.classification_dataset(["a"], [0], tokenizer, 1, 2)


def test_longest_padding_of_an_unframed_tokenizer_keeps_one_column():
    tokenizer = text.character_tokenizer("ab")
    data = text.classification_dataset(["", ""], [0, 1], tokenizer, 2, 8, shuffle=False, padding="longest")
    assert next(iter(data))[0]["token_ids"].numpy().tolist() == [[0], [0]]


def test_a_keras_hub_preset_directory_gives_its_tokenizer(checkpoint, tmp_path):
    import keras_hub

    backbone = keras_hub.models.BertBackbone.from_preset(str(checkpoint))
    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(checkpoint))
    backbone.save_to_preset(str(tmp_path / "preset"))
    tokenizer.save_to_preset(str(tmp_path / "preset"))
    loaded = load_pretrained_tokenizer(tmp_path / "preset")
    assert type(loaded).__name__ == "BertTokenizer"
    for sentence in tiny_checkpoints.SENTENCES:
        assert np.asarray(loaded(sentence)).tolist() == np.asarray(tokenizer(sentence)).tolist()
    assert kf.models.checkpoint_facts(tmp_path / "preset") == {"model_type": "bert", "max_length": 64}
    assert kf.models.checkpoint_facts(checkpoint) == {"model_type": "bert", "max_length": 64}
    assert kf.models.checkpoint_facts(backbone) == {"model_type": "bert", "max_length": 64}


def test_fine_tuning_schedule_and_weight_decay():
    schedule = kf.training.WarmupLinearDecay(1e-4, total_steps=100, warmup_steps=10)
    rates = [float(schedule(i)) for i in (0, 9, 54, 99, 120)]
    np.testing.assert_allclose(rates, [1e-5, 1e-4, 1e-4 * 46 / 91, 1e-4 / 91, 0.0], rtol=1e-5)
    again = kf.training.WarmupLinearDecay.from_config(schedule.get_config())
    assert again.get_config() == {"peak_learning_rate": 1e-4, "total_steps": 100, "warmup_steps": 10}
    with pytest.raises(ValueError, match="warmup_steps=101"):
        kf.training.WarmupLinearDecay(1e-4, 100, 101)
    with pytest.raises(ValueError, match="weight_decay=-1"):
        kf.training.fine_tuning_optimizer(10, 1e-4, weight_decay=-1)
    optimizer = kf.training.fine_tuning_optimizer(total_steps=50, learning_rate=1e-3)
    assert isinstance(optimizer, keras.optimizers.AdamW) and optimizer.weight_decay == 0.01
    norm = keras.layers.LayerNormalization()
    dense = keras.layers.Dense(3)
    norm.build((None, 3))
    dense.build((None, 3))
    assert not optimizer._use_weight_decay(norm.gamma) and not optimizer._use_weight_decay(dense.bias)
    assert optimizer._use_weight_decay(dense.kernel)


# ------------------------------------------------------------------------------ GPT-2: language-model --pretrained
@pytest.fixture(scope="module")
def gpt2_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("gpt2")
    checkpoint = tiny_checkpoints.write_gpt2(base / "gpt2", positions=64)
    result = run_task("language-model", pretrained=str(checkpoint), demo=True, demo_size=4000, epochs=1,
                      steps_per_epoch=3, batch_size=4, max_length=32, sample_length=8, plots=False,
                      output=str(base / "run"), export_dir=str(base / "export"))
    return result, checkpoint


def test_padding_token_id_never_takes_a_real_token(checkpoint, tmp_path):
    gpt2 = load_pretrained_tokenizer(tiny_checkpoints.write_gpt2(tmp_path / "gpt2"))
    end = len(tiny_checkpoints.gpt2_vocabulary()) - 1
    assert gpt2.pad_token_id == 0 and gpt2.id_to_token(0) == "!"  # KerasHub's GPT-2 "pad" is a real token
    assert text.padding_token_id(gpt2) == end
    assert text.padding_token_id(load_pretrained_tokenizer(checkpoint)) == 0
    assert text.padding_token_id(text.character_tokenizer("ab")) == 0
    ids = np.asarray(gpt2("Hello world!")).tolist()
    assert ids[-1] == 0  # "!"
    assert text.decode(gpt2, [ids + [end, end]]) == ["Hello world!"]  # "!" kept, padding dropped


def test_gpt2_fine_tuning_run_generates_and_exports_alike(gpt2_run):
    result, checkpoint = gpt2_run
    info = json.loads((result.run_dir / "task.json").read_text())
    assert info["pretrained"] == str(checkpoint) and info["tokenizer"] == "pretrained"
    run = runs.load_run(result.run_dir)
    assert run.model.max_length == 64 and run.model.padding_id is None
    original = load_pretrained_tokenizer(checkpoint)
    assert np.asarray(run.tokenizers["text"]("Hello the world!")).tolist() == \
        np.asarray(original("Hello the world!")).tolist()
    prompts = ["Hello world!", "the lower"]
    length = info["export_max_new_tokens"]
    python = language_model.generate_texts(run.model, run.tokenizers["text"], prompts, length)
    assert all(p.startswith(q) and len(p) > len(q) for p, q in zip(python, prompts))  # "!" kept in the prompt
    served = runs.Served(result.export_path).signature("serving_default")(prompt=tf.constant(prompts))
    assert [s.decode("utf-8", "replace") for s in np.asarray(served["text"]).tolist()] == python


def test_gpt2_export_loads_without_kerasformers(gpt2_run):
    result, _ = gpt2_run
    run = runs.load_run(result.run_dir)
    prompts = ["Hello world!", "", "the lower the"]
    helper = pathlib.Path(__file__).resolve().parents[1] / "export" / "_fresh_process.py"
    done = subprocess.run([sys.executable, str(helper), str(result.export_path), "prompt", json.dumps([prompts])],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["blocked"] is True
    length = json.loads((result.run_dir / "task.json").read_text())["export_max_new_tokens"]
    expected = language_model.generate_texts(run.model, run.tokenizers["text"], prompts[:1] + prompts[2:], length)
    texts = out["results"][0]["text"]
    assert [texts[0], texts[2]] == expected
    assert len(texts[1]) > 0  # an empty prompt starts from <|endoftext|> and continues
