"""Each task, trained for seconds on its offline data, beats chance by a margin (fast stand-ins for the slow runs).

The slow tests train the demo defaults for a minute or more; these run the same
task code with a one-layer model on smaller generated data, so that a change
that stops a task from learning fails the default suite, not only `-m slow`.
"""

import pytest

from kerasformers import text
from kerasformers.tasks import run

SMALL = dict(num_layers=1, model_dim=64, num_heads=4, hidden_dim=128, plots=False, verbose=0)


def test_classification_demo_learns(tmp_path):
    result = run("classification", demo=True, demo_size=600, epochs=3, export=False, output=tmp_path / "run",
                 **SMALL)
    metrics = result.metrics
    assert metrics["accuracy"] > metrics["majority_class_accuracy"] + 0.1, metrics


def test_language_model_demo_learns(tmp_path):
    result = run("language-model", demo=True, demo_size=20_000, epochs=2, max_length=64, export=False,
                 sample_length=16, output=tmp_path / "run", **SMALL)
    vocabulary = text.load_tokenizer(tmp_path / "run" / "tokenizers" / "text").vocabulary_size()
    # Uniform guessing has the perplexity of the vocabulary (about 50 characters).
    assert result.metrics["val_perplexity"] < vocabulary / 3, (result.metrics, vocabulary)


def test_translation_demo_learns(tmp_path):
    result = run("translation", demo=True, demo_size=1500, epochs=4, eval_size=100, export=False,
                 output=tmp_path / "run", **SMALL)
    # An untrained model scores 0; every reference is a date "YYYY-MM-DD".
    assert result.metrics["bleu"] > 10.0, result.metrics
    assert all(" → " in s for s in result.samples)


def test_vision_transformer_learns_the_digits(tmp_path):
    pytest.importorskip("sklearn")
    result = run("vision", dataset="digits", epochs=4, learning_rate=2e-3, output=tmp_path / "run", **SMALL)
    assert result.metrics["accuracy"] > result.metrics["chance_accuracy"] + 0.25, result.metrics


def test_compare_lstm_transformer_end_to_end(tmp_path, capsys):
    from kerasformers import cli

    assert cli.main(["compare", "lstm-transformer", "--demo", "--demo-size", "300", "--epochs", "2",
                     "--steps-per-epoch", "3", "--batch-size", "16", "--max-length", "16", "--num-layers", "1",
                     "--no-plots", "--output", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    verdict = next(line for line in out.splitlines() if line.startswith("Verdict: "))
    assert verdict.startswith("Verdict: On this data ") and "tokens per second" in verdict
    import json

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert abs(metrics["lstm_parameters"] / metrics["transformer_parameters"] - 1) < 0.10
    assert len(metrics["transformer_curve"]) == len(metrics["lstm_curve"]) == 2  # one point per epoch each
    assert metrics["transformer_tokens_per_second"] > 0 and metrics["lstm_tokens_per_second"] > 0
