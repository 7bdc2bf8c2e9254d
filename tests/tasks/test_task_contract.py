"""The task contract, proved by a task that is not one of the built-in ones: defined here, registered, run end to end."""

import json

import numpy as np
import pytest
import tensorflow as tf

import kerasformers as kf
from kerasformers import cli, export, text
from kerasformers.tasks import Task, all_tasks, get_task, register, run, runs, task_names, unregister

WORDS = ["red", "blue", "green", "cat", "dog", "tree", "sky", "road"]


class Keyword(Task):
    """Does the sentence say "good"? A two-class task of generated sentences, small enough for a unit test."""

    name = "keyword-test"
    summary = "Does the sentence say good?"
    model_class = kf.TransformerClassifier
    defaults = dict(demo_size=400, epochs=6, batch_size=16, max_length=8, learning_rate=3e-3)
    exports = True

    def load_data(self, run):
        rng = np.random.default_rng(run.options.seed)
        sentences, labels = [], []
        for _ in range(run.options.demo_size):
            words = list(rng.choice(WORDS, size=4))
            label = int(rng.integers(2))
            if label:
                words[int(rng.integers(4))] = "good"
            sentences.append(" ".join(words))
            labels.append(label)
        cut = int(0.8 * len(sentences))
        return dict(train=(sentences[:cut], labels[:cut]), validation=(sentences[cut:], labels[cut:]))

    def build_tokenizers(self, run):
        return {"text": text.make_tokenizer("word_piece", run.data["train"][0], 40)}

    def build_datasets(self, run):
        o, tokenizer = run.options, run.tokenizers["text"]
        return tuple(text.classification_dataset(*run.data[split], tokenizer, o.batch_size, o.max_length,
                                                 shuffle=split == "train", seed=o.seed)
                     for split in ("train", "validation"))

    def model_arguments(self, run):
        return dict(vocabulary_size=run.tokenizers["text"].vocabulary_size(), num_classes=2,
                    max_length=run.options.max_length)

    def evaluate(self, run):
        sentences, labels = run.data["validation"]
        ids = text.encode(run.tokenizers["text"], sentences, run.options.max_length)
        predictions = np.asarray(run.model.predict({"token_ids": ids}, verbose=0)).argmax(-1)
        return {"accuracy": float(np.mean(predictions == np.asarray(labels)))}, sentences[:2]

    def run_info(self, run):
        return {"class_names": ["other", "good"]}

    def endpoints(self, model, tokenizers, info):
        return export.classifier_endpoints(model, tokenizers["text"], info["class_names"])


@pytest.fixture
def keyword_task():
    register(Keyword)
    yield get_task("keyword-test")
    unregister("keyword-test")


SMALL = dict(num_layers=1, model_dim=32, num_heads=2, hidden_dim=64, plots=False, verbose=0)


def test_a_new_task_runs_end_to_end_through_run(keyword_task, tmp_path):
    result = run("keyword-test", output=tmp_path / "run", export_dir=tmp_path / "saved", **SMALL)

    # Data → fit → evaluate: the model learnt the keyword (chance is about 0.5).
    assert result.task == "keyword-test" and result.metrics["accuracy"] > 0.8
    # Saved run folder, readable by the same machinery as the built-in tasks.
    info = json.loads((tmp_path / "run" / "task.json").read_text())
    assert info["task"] == "keyword-test" and info["class_names"] == ["other", "good"]
    assert (tmp_path / "run" / "checkpoints" / "best.weights.h5").is_file()
    loaded = runs.load_run(tmp_path / "run")
    assert loaded.task is keyword_task and isinstance(loaded.model, kf.TransformerClassifier)

    # Export → reload: the SavedModel answers strings, like the Keras model.
    assert result.export_path == tmp_path / "saved" / "1"
    sentences = ["red good dog sky", "cat tree blue road", "good good good good", "sky"]
    served = runs.Served(tmp_path / "saved").signature()(text=tf.constant(sentences))
    ids = text.encode(loaded.tokenizers["text"], sentences, 8)
    expected = np.asarray(tf.nn.softmax(loaded.model.predict({"token_ids": ids}, verbose=0)))
    np.testing.assert_allclose(np.asarray(served["probabilities"]), expected, atol=1e-5)
    assert [s.decode() for s in served["label"].numpy()] == [["other", "good"][i] for i in expected.argmax(-1)]

    # `kerasformers export RUN_DIR` uses the same task hook through the registry.
    assert runs.export_run(tmp_path / "run") == tmp_path / "saved" / "2"


def test_a_registered_task_is_a_cli_command(keyword_task, tmp_path, capsys):
    assert "keyword-test" in task_names()
    assert cli.main(["train", "--help"]) == 0
    assert "keyword-test" in capsys.readouterr().out
    status = cli.main(["train", "keyword-test", "--epochs", "1", "--steps-per-epoch", "2", "--num-layers", "1",
                       "--model-dim", "16", "--num-heads", "2", "--hidden-dim", "32", "--no-plots", "--no-export",
                       "--output", str(tmp_path / "run")])
    assert status == 0 and (tmp_path / "run" / "model.keras").is_file()
    assert "=== keyword-test: done" in capsys.readouterr().out


def test_options_are_checked_like_their_flags(keyword_task, tmp_path):
    with pytest.raises(ValueError, match=r"`epochs` must be a positive integer. Received: epochs=0"):
        run("keyword-test", epochs=0, output=tmp_path / "run")
    with pytest.raises(ValueError, match=r"Unknown option epoch=3 for the keyword-test task. Known options: .*epochs"):
        run("keyword-test", epoch=3)
    with pytest.raises(ValueError, match=r"`precision` must be one of .*Received: precision='fp8'"):
        run("keyword-test", precision="fp8")
    assert not (tmp_path / "run").exists()  # nothing written


def test_registry_errors(keyword_task):
    with pytest.raises(ValueError, match=r"Unknown task 'nope'. Known tasks: translation, classification"):
        get_task("nope")
    with pytest.raises(ValueError, match="register\\(\\) needs a Task subclass with a `name`"):
        register(type("Nameless", (Task,), {}))

    class Other(Keyword):
        pass

    with pytest.raises(ValueError, match="'keyword-test' is taken by Keyword"):
        register(Other)


def test_older_run_folder_names_still_load():
    """Run folders of kerasformers 0.1.0 wrote `language_model` and `lstm_vs_transformer`."""
    assert get_task("language_model") is get_task("language-model")
    assert get_task("lstm_vs_transformer") is get_task("lstm-transformer")


def test_every_built_in_task_has_one_spelling():
    built_in = [t for t in all_tasks() if type(t).__module__.startswith("kerasformers.tasks.")]
    assert [t.name for t in built_in] == ["translation", "classification", "language-model", "vision",
                                          "lstm-transformer"]
    for task in built_in:
        assert task.name == task.name.lower() and "_" not in task.name and " " not in task.name
        assert runs.default_export_dir(task.name) == runs.SERVING_ROOT / task.name
        module = type(task).__module__.rsplit(".", 1)[1]
        assert module == task.name.replace("-", "_")  # the module is named after the task


def test_the_architecture_docs_example_runs(tmp_path, monkeypatch, capsys):
    """docs/architecture.md's "How to add a task" snippet, pasted as it is (writes runs/ and saved_models/ here)."""
    import pathlib
    import re

    docs = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    snippet = re.search(r"<!-- example:add-a-task -->\n```python\n(.*?)```", docs, flags=re.S).group(1)
    expected = re.search(r"^# (.+)$", snippet, flags=re.M).group(1)
    monkeypatch.chdir(tmp_path)
    try:
        exec(compile(snippet, "docs/architecture.md", "exec"), {"__name__": "architecture_example"})
    finally:
        if "mentions-good" in task_names():
            unregister("mentions-good")
    assert capsys.readouterr().out.strip().splitlines()[-1] == expected
    assert (tmp_path / "saved_models" / "mentions-good" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "runs" / "mentions-good" / "task.json").is_file()
