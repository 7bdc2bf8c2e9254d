"""Each task, trained for seconds on its offline data, beats chance by a margin (fast stand-ins for the slow runs).

The slow tests train the demo defaults for a minute or more; these run the same
task code with a one-layer model on smaller generated data, so that a change
that stops a task from learning fails the default suite, not only `-m slow`.
"""

import collections
import math

import pytest

from kerasformers import text
from kerasformers.text import demo_data
from kerasformers.tasks import run

SMALL = dict(num_layers=1, model_dim=64, num_heads=4, hidden_dim=128, plots=False, verbose=0)


def test_classification_demo_learns(tmp_path):
    # 600 texts x 3 epochs sat at the edge (0.57-0.70 against a 0.55-0.62 majority, by seed); 1,500 x 4 reach
    # 0.79-0.81 against 0.50-0.53 on seeds 0-2, so the margin below fails only when learning breaks.
    result = run("classification", demo=True, demo_size=1500, epochs=4, export=False, output=tmp_path / "run",
                 **SMALL)
    metrics = result.metrics
    assert metrics["accuracy"] > metrics["majority_class_accuracy"] + 0.2, metrics


def test_language_model_demo_learns(tmp_path):
    result = run("language-model", demo=True, demo_size=20_000, epochs=3, max_length=64, learning_rate=3e-3,
                 export=False, sample_length=16, output=tmp_path / "run", **SMALL)
    # Chance with context-free guessing: the perplexity of the validation text under the training text's
    # character frequencies (about 25 here; uniform guessing over the ~48 characters would be 48).
    corpus = demo_data.play_text(20_000, seed=0)
    train, validation = text.split_text(corpus, 0.1)
    counts = collections.Counter(train)
    unigram = math.exp(-sum(math.log(counts.get(c, 1) / len(train)) for c in validation) / len(validation))
    assert result.metrics["val_perplexity"] < 0.6 * unigram, (result.metrics, unigram)


def test_translation_demo_learns(tmp_path):
    result = run("translation", demo=True, demo_size=1500, epochs=4, eval_size=100, export=False,
                 output=tmp_path / "run", **SMALL)
    # Chance: always predicting the most frequent target token (a digit or "-", about a fifth of the tokens).
    pairs = demo_data.date_pairs(1500, seed=0)
    counts = collections.Counter(c for target in pairs.targets for c in target + "$")  # "$": the [END] token
    most_frequent = max(counts.values()) / sum(counts.values())
    assert result.metrics["val_accuracy"] > most_frequent + 0.2, (result.metrics, most_frequent)
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
