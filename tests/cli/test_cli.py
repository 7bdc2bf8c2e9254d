"""The `kerasformers` command: train (classification, vision), translate / generate / classify, export, errors."""

import json
import os
import subprocess
import sys

import pytest

from kerasformers import cli
from kerasformers.tasks import classification, runs, translation

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _one_error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("kerasformers: error: ")
    for fragment in fragments:
        assert fragment in err[0]
    return err[0]


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("train", "compare", "translate", "generate", "classify", "export"):
        assert command in out
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for task in ("translation", "classification", "language-model", "vision"):
        assert task in out


def test_usage_errors_exit_2(capsys):
    assert cli.main(["train"]) == 2
    assert cli.main(["train", "classification", "--epochs", "0"]) == 2
    assert "must be a positive integer" in capsys.readouterr().err


# ------------------------------------------------------------------------------ train, then use the products
def test_train_classification_writes_everything(run_of):
    run = run_of("classification")
    for name in ("model.keras", "task.json", "training_curves.png", "confusion_matrix.png", "tokenizers/text"):
        assert (run.run_dir / name).exists(), name
    assert list((run.run_dir / "logs" / "train").glob("events.out.tfevents.*"))
    assert list((run.run_dir / "logs" / "samples").glob("events.out.tfevents.*"))
    assert (run.run_dir / "checkpoints" / "best.weights.h5").is_file()
    metrics = run.info["metrics"]
    matrix = metrics["confusion_matrix"]
    assert len(matrix) == 2 and sum(map(sum, matrix)) == 20  # the validation split of 200 demo sentences
    assert metrics["accuracy"] == pytest.approx((matrix[0][0] + matrix[1][1]) / 20)  # the matrix's diagonal
    assert run.info["class_names"] == ["negative", "positive"]
    assert (run.export_dir / "1" / "saved_model.pb").is_file()
    assert run.info["export_path"] == str(run.export_dir / "1")


def test_train_vision_writes_everything(run_of):
    run = run_of("vision")
    for name in ("model.keras", "task.json", "training_curves.png", "predictions.png"):
        assert (run.run_dir / name).exists(), name
    assert run.info["dataset"] == "quadrants.npz" and run.info["class_names"] == ["0", "1", "2", "3"]
    assert set(run.info["metrics"]) >= {"accuracy", "chance_accuracy", "val_loss"}  # learning: test_demo_learning


@pytest.mark.parametrize("where", ["serving", "run"])
def test_classify(run_of, capsys, where):
    run = run_of("classification")
    capsys.readouterr()
    target = run.export_dir if where == "serving" else run.run_dir
    assert cli.main(["classify", str(target), "the film was wonderful", "the plot was dull"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    texts = ["the film was wonderful", "the plot was dull"]
    # What the Keras model of the run answers, computed here without the CLI.
    loaded = runs.load_run(run.run_dir)
    probabilities = classification.predict_probabilities(loaded.model, loaded.tokenizers["text"], texts)
    assert len(lines) == 2
    for line, text, expected in zip(lines, texts, probabilities):
        label, probability, echoed = line.split("\t")
        assert echoed == text and label == ["negative", "positive"][int(expected.argmax())]
        assert float(probability) == pytest.approx(float(expected.max()), abs=2e-3)  # printed with 3 decimals


def test_classify_answers_agree_between_savedmodel_and_run(run_of, capsys):
    run = run_of("classification")
    capsys.readouterr()
    texts = ["a charming, funny story", "boring"]
    cli.main(["classify", str(run.export_dir), *texts])
    serving = capsys.readouterr().out
    cli.main(["classify", str(run.run_dir), *texts])
    keras_run = capsys.readouterr().out
    assert [line.split("\t")[0] for line in serving.splitlines()] == [
        line.split("\t")[0] for line in keras_run.splitlines()]


@pytest.mark.parametrize("where", ["serving", "run"])
def test_translate(run_of, capsys, where):
    run = run_of("translation")
    capsys.readouterr()  # the first test to ask trains the run: drop its output
    target = run.export_dir if where == "serving" else run.run_dir
    sources = ["March 3rd, 2021", "the 1st of May, 1999"]
    assert cli.main(["translate", str(target), *sources]) == 0
    lines = capsys.readouterr().out.strip("\n").splitlines()
    assert [line.split("\t")[0] for line in lines] == sources
    # The translations are the model's: the same as the run's Keras model gives, computed here.
    loaded = runs.load_run(run.run_dir)
    expected = translation.translate_texts(loaded.model, loaded.tokenizers["source"], loaded.tokenizers["target"],
                                           sources, batch_size=len(sources))
    assert [line.split("\t")[1] for line in lines] == expected


@pytest.mark.parametrize("where", ["serving", "run"])
def test_generate(run_of, capsys, where):
    run = run_of("language-model")
    capsys.readouterr()
    target = run.export_dir if where == "serving" else run.run_dir
    assert cli.main(["generate", str(target), "KING:", "--max-new-tokens", "5"] if where == "run" else
                    ["generate", str(target), "KING:"]) == 0
    generated = capsys.readouterr().out.rstrip("\n")
    assert generated.startswith("KING:") and len(generated) > len("KING:")  # the prompt, then new text
    if where == "run":
        assert len(generated) == len("KING:") + 5  # characters: 5 new tokens


def test_generate_top_k_and_temperature(run_of, capsys):
    """`--sampler top_k --top-k 1` keeps only the best token: greedy, whatever the temperature."""
    run = run_of("language-model")
    capsys.readouterr()  # the fixture's training output, when this test is the first to use it
    common = ["generate", str(run.run_dir), "KING:", "--max-new-tokens", "6"]
    assert cli.main(common) == 0
    greedy = capsys.readouterr().out
    assert cli.main([*common, "--sampler", "top_k", "--top-k", "1", "--temperature", "3", "--seed", "1"]) == 0
    assert capsys.readouterr().out == greedy
    assert cli.main([*common, "--temperature", "0"]) == 2
    assert "must be a positive number, got 0" in capsys.readouterr().err


def test_export_writes_a_version_and_refuses_an_existing_one(run_of, capsys, tmp_path):
    run = run_of("classification")
    capsys.readouterr()
    target = tmp_path / "exported"
    assert cli.main(["export", str(run.run_dir), "--export-dir", str(target)]) == 0
    assert (target / "1" / "saved_model.pb").is_file()
    assert "Exported" in capsys.readouterr().out
    assert cli.main(["export", str(run.run_dir), "--export-dir", str(target), "--version", "1"]) == 2
    _one_error_line(capsys, "already exists", "overwrite=True")


def test_export_xla_int8_language_model_answers_with_options(run_of, capsys, tmp_path):
    """`kerasformers export --xla --quantize int8`: XLA loops, int8 weights, and the per-request options work."""
    import json

    import tensorflow as tf

    from kerasformers.export import load_signature

    run = run_of("language-model")
    target = tmp_path / "lm"
    assert cli.main(["export", str(run.run_dir), "--export-dir", str(target), "--xla", "--quantize", "int8"]) == 0
    out = capsys.readouterr().out
    assert "with XLA-compiled decoding, int8 weights" in out
    info = json.loads((target / "1" / "assets.extra" / "kerasformers.json").read_text())
    assert info["jit_compile"] is True and info["quantize"] == "int8"
    generate = load_signature(target)
    answers = [generate(prompt=tf.constant(["KING:"]), temperature=tf.constant([1.0]), seed=tf.constant([3], tf.int64),
                        max_new_tokens=tf.constant([4]))["continuation"].numpy() for _ in range(2)]
    assert answers[0] == answers[1] and len(answers[0][0]) > 0
    assert cli.main(["export", str(run.run_dir), "--quantize", "int4"]) == 2


def test_wrong_task_and_missing_folders(run_of, capsys, tmp_path):
    run = run_of("classification")
    capsys.readouterr()
    assert cli.main(["translate", str(run.run_dir), "hola"]) == 2
    _one_error_line(capsys, "holds a classification run, not a translation run")
    assert cli.main(["classify", str(tmp_path), "x"]) == 2
    _one_error_line(capsys, "neither a SavedModel export")
    assert cli.main(["export", str(tmp_path / "missing")]) == 2
    _one_error_line(capsys, "not a training run folder")


def test_existing_export_version_fails_before_training(tmp_path, capsys):
    (tmp_path / "saved" / "1").mkdir(parents=True)
    status = cli.main(["train", "classification", "--demo", "--export-dir", str(tmp_path / "saved"),
                       "--export-version", "1", "--output", str(tmp_path / "run")])
    assert status == 2
    _one_error_line(capsys, "already exists", "--overwrite")


def test_python_dash_m(tmp_path):
    """`python -m kerasformers` runs the same command; a user error is one line (after TensorFlow's own logs)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "kerasformers", "train", "classification", "--data", str(tmp_path / "none.tsv"),
         "--output", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"kerasformers: error: No such file: '{tmp_path / 'none.tsv'}'"


# ------------------------------------------------------------------------------ slow: every train command
@pytest.mark.slow
@pytest.mark.parametrize("task, extra", [
    ("translation", ["--demo", "--demo-size", "200", "--batch-size", "16", "--eval-size", "16"]),
    ("language-model", ["--demo", "--demo-size", "4000", "--batch-size", "8", "--max-length", "32",
                        "--sample-length", "8"]),
])
def test_train_text_tasks(tmp_path, task, extra):
    status = cli.main(["train", task, *extra, "--epochs", "1", "--steps-per-epoch", "2", "--num-layers", "1",
                       "--model-dim", "32", "--num-heads", "2", "--hidden-dim", "64",
                       "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "saved")])
    assert status == 0
    info = json.loads((tmp_path / "run" / "task.json").read_text())
    assert (tmp_path / "saved" / "1" / "saved_model.pb").is_file() and info["export_path"]
    assert (tmp_path / "run" / "training_curves.png").is_file()


@pytest.mark.slow
def test_compare_lstm_transformer(tmp_path, capsys):
    status = cli.main(["compare", "lstm-transformer", "--demo", "--demo-size", "300", "--epochs", "2",
                       "--steps-per-epoch", "2", "--batch-size", "16", "--max-length", "16", "--num-layers", "1",
                       "--output", str(tmp_path / "run")])
    assert status == 0
    assert "Verdict: On this data" in capsys.readouterr().out
    assert (tmp_path / "run" / "accuracy_vs_time.png").is_file()
