"""Inference helpers of the task modules, on small untrained models."""

import keras
import numpy as np

import kerasformers as kf
from kerasformers import text
from kerasformers.tasks import classification, language_model, translation


def test_translation_encode_truncates_pads_and_fills_empty_rows():
    tokenizer = text.make_tokenizer("unigram", ["hola mundo", "hola amigo", "buenos dias"] * 5, 100)
    ids = translation.encode(tokenizer, ["hola mundo hola mundo hola mundo", ""], 4)
    assert ids.shape == (2, 4) and ids.dtype == np.int32
    assert np.all(ids[0] != 0)  # truncated to 4 ids
    assert ids[1, 0] == 1 and np.all(ids[1, 1:] == 0)  # empty text -> one [UNK]


def test_translate_texts_pads_every_batch_to_one_shape():
    keras.utils.set_random_seed(0)
    source = text.make_tokenizer("unigram", ["uno dos", "tres cuatro", "cinco seis"] * 5, 100)
    target = text.make_tokenizer("char", ["one two", "three four", "five six"] * 5, 100)
    model = kf.TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=source.vocabulary_size(),
                                              decoder_vocabulary_size=target.vocabulary_size(), max_length=6,
                                              num_encoder_layers=1, num_decoder_layers=1, model_dim=16,
                                              num_heads=2, hidden_dim=32)
    out = translation.translate_texts(model, source, target, ["uno dos", "tres", "cinco seis", ""], batch_size=3)
    assert len(out) == 4 and all(isinstance(t, str) for t in out)
    assert kf.generation.trace_count(model) == 1  # one compiled shape for both batches


def test_classification_helpers():
    keras.utils.set_random_seed(0)
    tokenizer = text.train_word_piece(["good film", "bad film", "great plot"] * 5, 30)
    model = kf.TransformerClassifier.from_preset("tiny", vocabulary_size=tokenizer.vocabulary_size(), num_classes=3,
                                                 max_length=8, num_layers=1, model_dim=16, num_heads=2, hidden_dim=32)
    probabilities = classification.predict_probabilities(model, tokenizer, ["good film", "bad"])
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-6)
    answers = classification.classify_texts(model, tokenizer, ["good film"], ["a", "b", "c"])
    assert answers[0][0] in "abc" and 0 < answers[0][1] <= 1
    matrix = classification.confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], 3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_generate_texts_keeps_the_prompt_and_fits_the_context():
    keras.utils.set_random_seed(0)
    tokenizer = text.character_tokenizer("abcdef \n")
    model = kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=tokenizer.vocabulary_size(),
                                                    max_length=12, num_layers=1, model_dim=16, num_heads=2,
                                                    hidden_dim=32)
    texts = language_model.generate_texts(model, tokenizer, ["abcdef" * 4, "dd"], max_new_tokens=50,
                                             sampler="top_p", top_p=0.9, seed=2)
    # The longest prompt keeps its last 11 characters (max_length 12 - 1 new token); rows keep their prompts.
    # (Seed 2: with seed 1 this untrained model samples the padding id, which decodes to nothing.)
    assert len(texts[0]) == 12 and texts[0].startswith("bcdefabcdef") and texts[1].startswith("dd")
    assert language_model.default_prompt("tail of a line\nKING:\nspeech\n") == "KING:\n"


def test_translation_max_length_comes_from_the_training_lengths(tmp_path, capsys):
    """Without --max-length a run fits 99% of its training pairs, rounded up to a multiple of 8."""
    import re

    from kerasformers.tasks import run

    rng = np.random.default_rng(0)
    words = ["uno", "dos", "tres", "cuatro", "cinco", "seis"]
    lines = []
    for i in range(300):
        count = 30 if i % 100 == 0 else int(rng.integers(2, 6))  # 1% long sentences, about 150 characters
        source = " ".join(rng.choice(words, count))
        lines.append(f"{source.replace('uno', 'one')}\t{source}")
    data = tmp_path / "pairs.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("translation", data=data, tokenizer="char", epochs=1, steps_per_epoch=2, batch_size=16,
                 eval_size=8, num_layers=1, model_dim=32, num_heads=2, hidden_dim=64, plots=False, export=False,
                 output=tmp_path / "run")
    printed = capsys.readouterr().out
    chosen = int(re.search(r"--max-length (\d+): from the data", printed).group(1))
    assert chosen % 8 == 0 and chosen < 100  # the short sentences' length, not the outliers'
    cut = [float(share) for share in re.findall(rf"max_length {chosen} cuts ([\d.]+)% of", printed)]
    assert len(cut) == 2 and 0 < max(cut) <= 1.5  # the long ones are cut, 99% fit
    assert keras.saving.load_model(result.model_path).max_length == chosen


def test_classification_max_length_comes_from_the_training_lengths(tmp_path, capsys):
    """Without --max-length (and without --demo or --pretrained) a run fits 99% of its training texts."""
    import re

    from kerasformers.tasks import run

    rng = np.random.default_rng(0)
    words = ["good", "bad", "film", "plot", "great", "dull"]
    lines = ["sentence\tlabel"]
    for i in range(300):
        count = 60 if i % 100 == 0 else int(rng.integers(2, 8))  # 1% long texts
        sentence = " ".join(rng.choice(words, count))
        lines.append(f"{sentence}\t{int('good' in sentence)}")
    data = tmp_path / "labelled.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("classification", data=data, epochs=1, steps_per_epoch=2, batch_size=16, num_layers=1,
                 model_dim=32, num_heads=2, hidden_dim=64, plots=False, export=False, output=tmp_path / "run")
    printed = capsys.readouterr().out
    chosen = int(re.search(r"--max-length (\d+): from the data", printed).group(1))
    assert chosen % 8 == 0 and chosen < 60  # the short texts' length, not the outliers'
    cut = [float(share) for share in re.findall(rf"max_length {chosen} cuts ([\d.]+)% of", printed)]
    assert len(cut) == 1 and 0 < cut[0] <= 1.5  # the long ones are cut, 99% fit
    assert keras.saving.load_model(result.model_path).max_length == chosen


def test_a_run_trains_from_one_iterator_of_repeated_data(tmp_path, monkeypatch):
    """An epoch is one pass's batches of a repeated dataset: Keras keeps one iterator instead of one per epoch."""
    import tensorflow as tf

    from kerasformers import training
    from kerasformers.tasks import base, run

    seen = {}
    real_fit = training.fit

    class CountSteps(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen["steps"] = seen.get("steps", 0) + 1

    def fit(model, train_data, **kwargs):
        seen.update(cardinality=int(train_data.cardinality()), steps_per_epoch=kwargs["steps_per_epoch"])
        return real_fit(model, train_data, **{**kwargs, "callbacks": [*kwargs["callbacks"], CountSteps()]})

    monkeypatch.setattr(base.training, "fit", fit)
    run("classification", demo=True, demo_size=200, epochs=2, batch_size=32, max_length=16, num_layers=1,
        model_dim=16, num_heads=2, hidden_dim=32, plots=False, export=False, output=tmp_path / "run")
    assert seen["cardinality"] == tf.data.INFINITE_CARDINALITY
    assert seen["steps_per_epoch"] >= 180 // 32  # one pass over the ~180 training texts, in buckets
    assert seen["steps"] == 2 * seen["steps_per_epoch"]  # two epochs of one pass each


def test_dropout_overrides_the_preset_and_is_checked(tmp_path, capsys):
    """`--dropout` (`dropout=` in Python) reaches every layer of the model, and is named in the run's model line."""
    import pytest

    from kerasformers import cli
    from kerasformers.tasks import run

    result = run("classification", demo=True, epochs=1, steps_per_epoch=2, batch_size=16, num_layers=1,
                 model_dim=32, num_heads=2, hidden_dim=64, dropout=0.25, plots=False, export=False,
                 output=tmp_path / "run")
    assert "(tiny with --num-layers 1 --model-dim 32 --num-heads 2 --hidden-dim 64 --dropout 0.25)" in (
        capsys.readouterr().out)
    model = keras.saving.load_model(result.model_path)
    assert model.get_config()["dropout"] == 0.25
    rates = [layer.rate for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)]
    # embedding, attention weights, both residual branches, head; the feed-forward's inner dropout is 0 in every
    # preset (as in the paper and KerasHub's blocks)
    assert sorted(rates) == [0.0] + [0.25] * 5
    with pytest.raises(ValueError, match=r"Received: dropout=1\.0"):
        run("classification", demo=True, dropout=1.0, output=tmp_path / "refused")
    assert cli.main(["train", "classification", "--demo", "--dropout", "-0.1"]) == 2
    assert "argument --dropout: must be in [0, 1), got -0.1" in capsys.readouterr().err


def test_classification_takes_a_convolutional_front_end_and_a_pooling(tmp_path, capsys):
    """`--conv-kernel-size` and `--pooling` reach the classifier; a pooling it does not offer is refused."""
    from kerasformers import cli
    from kerasformers.tasks import run

    result = run("classification", demo=True, epochs=1, steps_per_epoch=2, batch_size=16, num_layers=1,
                 model_dim=16, num_heads=2, hidden_dim=32, conv_kernel_size=3, pooling="mean_max", plots=False,
                 export=False, output=tmp_path / "run")
    config = keras.saving.load_model(result.model_path).get_config()
    assert (config["conv_kernel_size"], config["pooling"]) == (3, "mean_max")
    assert ("TransformerClassifier (tiny with --num-layers 1 --model-dim 16 --num-heads 2 --hidden-dim 32 "
            "--conv-kernel-size 3 --pooling mean_max): ") in capsys.readouterr().out
    assert cli.main(["train", "classification", "--demo", "--pooling", "cls"]) == 2
    assert "argument --pooling: invalid choice: 'cls'" in capsys.readouterr().err
