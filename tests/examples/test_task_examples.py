"""The task example scripts, end to end on a few steps of small data (generated, or ../shared/data in slow tests)."""

import json
import pathlib

import pytest
import task_runs

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
TINY = ["--epochs", "1", "--steps-per-epoch", "3", "--num-layers", "1", "--model-dim", "32", "--num-heads", "2",
        "--hidden-dim", "64"]


def _events(folder):
    return list(pathlib.Path(folder).glob("events.out.tfevents.*"))


def test_translate_example(run_of, capsys):
    run = run_of("translation")
    result = run.result
    assert result.task == "translation" and result.run_dir == run.run_dir
    assert set(result.plots) == {"training_curves", "attention"} and all(p.is_file() for p in result.plots.values())
    assert json.loads((run.run_dir / "task.json").read_text())["metrics"] == pytest.approx(result.metrics)
    assert set(result.metrics) == {"bleu", "exact_match", "val_loss", "val_accuracy"}  # learning: test_demo_learning
    assert (result.export_path / "saved_model.pb").is_file() and result.export_path == run.export_dir / "1"
    assert result.model_path.is_file() and (run.run_dir / "tokenizers" / "source" / "tokenizer.json").is_file()
    assert _events(run.run_dir / "logs" / "train") and _events(run.run_dir / "logs" / "samples")
    assert len(result.samples) == 5 and all("→" in s for s in result.samples)
    assert result.tensorboard_command == f"tensorboard --logdir {run.run_dir}"


def test_language_model_example(run_of):
    run = run_of("language-model")
    result = run.result
    assert result.plots["training_curves"].is_file()
    assert result.metrics["val_perplexity"] > 1.0
    assert result.samples[0].startswith("[greedy]\nKING:") and result.samples[1].startswith("[top-p 0.9]\nKING:")
    assert (result.export_path / "saved_model.pb").is_file()
    assert _events(run.run_dir / "logs" / "samples")


def test_example_error_is_one_line(tmp_path, capsys):
    example = task_runs.load_example("classify")
    with pytest.raises(SystemExit) as exit_:
        example.main(["--data", str(tmp_path / "missing.tsv"), "--output", str(tmp_path / "run")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"classify.py: error: No such file: '{tmp_path / 'missing.tsv'}'"] or (
        len(err) == 1 and err[0].endswith(f"error: No such file: '{tmp_path / 'missing.tsv'}'"))


# ------------------------------------------------------------------------------ slow
@pytest.mark.slow
def test_classify_example(tmp_path):
    result = task_runs.load_example("classify").main([
        "--demo", "--demo-size", "200", "--batch-size", "16", "--max-length", "16", *TINY,
        "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "saved"),
    ])
    assert set(result.plots) == {"training_curves", "confusion_matrix"}
    assert (result.export_path / "saved_model.pb").is_file()


@pytest.mark.slow
def test_vision_transformer_example(tmp_path):
    data = task_runs.write_digits_npz(tmp_path / "quadrants.npz")
    result = task_runs.load_example("vision_transformer").main([
        "--data", str(data), "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "3", "--num-layers", "1",
        "--output", str(tmp_path / "run"),
    ])
    assert result.plots["predictions"].is_file() and result.export_path is None


@pytest.mark.slow
def test_vision_transformer_example_on_digits(tmp_path):
    pytest.importorskip("sklearn")
    result = task_runs.load_example("vision_transformer").main([
        "--dataset", "digits", "--output", str(tmp_path / "run"), "--no-plots",
    ])
    assert result.metrics["accuracy"] > 0.5  # chance is about 0.1


@pytest.mark.slow
def test_lstm_vs_transformer_example(tmp_path, capsys):
    result = task_runs.load_example("lstm_vs_transformer").main([
        "--demo", "--demo-size", "600", "--epochs", "2", "--steps-per-epoch", "4", "--batch-size", "32",
        "--max-length", "16", "--num-layers", "1", "--output", str(tmp_path / "run"),
    ])
    metrics = result.metrics
    assert abs(metrics["lstm_parameters"] / metrics["transformer_parameters"] - 1) < 0.10
    assert metrics["transformer_tokens_per_second"] > 0 and metrics["lstm_tokens_per_second"] > 0
    assert result.plots["accuracy_vs_time"].is_file()
    out = capsys.readouterr().out
    assert f"Verdict: {metrics['verdict']}" in out and "parameters" in out


@pytest.mark.slow
@pytest.mark.parametrize("example", ["translate", "classify", "language_model"])
def test_demo_defaults_learn(tmp_path, example):
    """The --demo default settings (what a newcomer runs offline) train to well above chance."""
    result = task_runs.load_example(example).main([
        "--demo", "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "saved"),
    ])
    metric = {"translate": ("bleu", 50.0), "classify": ("accuracy", 0.85),
              "language_model": ("val_perplexity", None)}[example]
    if metric[1] is None:
        assert result.metrics["val_perplexity"] < 6.0  # 49 characters: uniform guessing is 49
    else:
        assert result.metrics[metric[0]] > metric[1]


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("example, data", [
    ("translate", ["--data", str(SHARED / "anki-spa-eng" / "spa.txt"), "--max-pairs", "2000", "--eval-size", "64",
                   "--vocabulary-size", "1000"]),
    ("classify", ["--data", str(SHARED / "sst2-glue" / "train.tsv"), "--validation-data",
                  str(SHARED / "sst2-glue" / "dev.tsv"), "--max-examples", "2000", "--vocabulary-size", "1000"]),
    ("language_model", ["--data", str(SHARED / "tinyshakespeare" / "input.txt"), "--sample-length", "20"]),
])
def test_examples_on_real_data(tmp_path, example, data):
    result = task_runs.load_example(example).main([
        *data, *TINY, "--output", str(tmp_path / "run"), "--export-dir", str(tmp_path / "saved"),
    ])
    assert (result.export_path / "saved_model.pb").is_file()
    assert all(p.is_file() for p in result.plots.values())
