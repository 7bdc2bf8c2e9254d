"""The tasks' recipe in kerasformers.training: peak-rate schedule, compile_recipe, steps, text samples, summaries."""

import doctest
import glob
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import kerasformers
from kerasformers import training
from kerasformers.training import (
    MaskedSparseCategoricalCrossentropy,
    TextSamples,
    TransformerSchedule,
    compile_recipe,
    peak_optimizer,
    schedule_parameters,
    steps_per_epoch_of,
    write_scalar_summaries,
    write_text_summary,
)


def events(log_dir):
    """`[(tag, step, value)]` of every summary under `log_dir` (text as str, scalars as float)."""
    found = []
    for path in sorted(glob.glob(os.path.join(str(log_dir), "**", "events.out.tfevents.*"), recursive=True)):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                item = tensor.item() if tensor.ndim == 0 else tensor.tolist()
                found.append((value.tag, event.step, item.decode("utf-8") if isinstance(item, bytes) else item))
    return found


# --- schedule ---------------------------------------------------------------------------------

def test_schedule_peaks_at_the_learning_rate():
    warmup, scale = schedule_parameters(model_dim=128, total_steps=1000, learning_rate=2e-3)
    schedule = TransformerSchedule(128, warmup_steps=warmup, scale=scale)
    assert warmup == 100
    assert float(schedule(99)) == pytest.approx(2e-3, rel=1e-5)  # update number 100
    assert float(schedule(10)) < 2e-3 and float(schedule(500)) < 2e-3


@pytest.mark.parametrize("total_steps, warmup", [(5, 1), (1000, 100), (10**6, 4000)])
def test_default_warmup_is_a_tenth_of_the_run_within_1_and_4000(total_steps, warmup):
    assert schedule_parameters(64, total_steps, 1e-3)[0] == warmup
    assert schedule_parameters(64, total_steps, 1e-3, warmup_steps=7)[0] == 7


def test_peak_optimizer_is_the_papers_adam_with_the_rescaled_schedule():
    optimizer = peak_optimizer(128, 1000, 2e-3)
    assert isinstance(optimizer, keras.optimizers.Adam)
    assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.9, 0.98, 1e-9)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, TransformerSchedule)
    assert schedule.get_config() == {"model_dim": 128, "warmup_steps": 100, "scale": pytest.approx(0.2262741699796952)}
    optimizer.iterations.assign(99)
    assert float(optimizer.learning_rate) == pytest.approx(2e-3, rel=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"model_dim": 0}, "Received: model_dim=0"),
    ({"total_steps": -1}, "Received: total_steps=-1"),
    ({"learning_rate": float("nan")}, "Received: learning_rate=nan"),
    ({"warmup_steps": 0}, "Received: warmup_steps=0"),
])
def test_schedule_parameters_reject_bad_values(kwargs, match):
    arguments = {"model_dim": 64, "total_steps": 100, "learning_rate": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=match):
        schedule_parameters(**arguments)


# --- steps and compile_recipe -------------------------------------------------------------------

def test_steps_per_epoch_of():
    dataset = tf.data.Dataset.range(10).batch(4)
    assert steps_per_epoch_of(dataset, None) == 3
    assert steps_per_epoch_of(dataset, 0) == 3  # 0: not given
    assert steps_per_epoch_of(dataset, 50) == 50
    assert steps_per_epoch_of(dataset.repeat(), None) == 1  # infinite
    assert steps_per_epoch_of(dataset.filter(lambda x: True), None) == 1  # unknown
    with pytest.raises(ValueError, match="Received: steps_per_epoch=-2"):
        steps_per_epoch_of(dataset, -2)


def token_model(vocabulary=11, model_dim=8, length=5):
    """`(batch, length)` ids → `(batch, length, vocabulary)` logits; a `model_dim` attribute like the task models."""
    inputs = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(vocabulary, model_dim)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(vocabulary)(x))
    model.model_dim = model_dim
    return model


def token_data(rows=12, length=5, vocabulary=11):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocabulary, size=(rows, length)).astype("int32")
    ids[:, -2:] = 0  # padding
    return tf.data.Dataset.from_tensor_slices((ids, ids)).batch(4)


@pytest.mark.parametrize("perplexity, metric", [(True, "perplexity"), (False, "accuracy")])
def test_compile_recipe_sets_the_metric_loss_and_schedule(perplexity, metric):
    model, data = token_model(), token_data()
    assert compile_recipe(model, data, epochs=5, steps_per_epoch=None, learning_rate=1e-3,
                          label_smoothing=0.1, perplexity=perplexity) is model
    assert isinstance(model.loss, MaskedSparseCategoricalCrossentropy) and model.loss.label_smoothing == 0.1
    schedule = model.optimizer._learning_rate
    assert schedule.model_dim == 8 and schedule.warmup_steps == 1  # 5 epochs x 3 batches -> warm-up 1
    result = model.evaluate(data, verbose=0, return_dict=True)
    assert set(result) == {"loss", metric}
    if perplexity:
        assert result["perplexity"] > 1.0
    else:
        assert 0.0 <= result["accuracy"] <= 1.0


def test_compile_recipe_model_dim_and_steps():
    model = token_model()
    del model.model_dim
    with pytest.raises(ValueError, match="needs `model_dim`"):
        compile_recipe(model, token_data(), epochs=1, steps_per_epoch=None, learning_rate=1e-3)
    compile_recipe(model, token_data(), epochs=2, steps_per_epoch=500, learning_rate=1e-3, model_dim=16)
    schedule = model.optimizer._learning_rate
    assert schedule.model_dim == 16 and schedule.warmup_steps == 100  # 2 x 500 steps / 10
    with pytest.raises(ValueError, match="Received: epochs=0"):
        compile_recipe(model, token_data(), epochs=0, steps_per_epoch=None, learning_rate=1e-3)
    with pytest.raises(ValueError, match="Received: label_smoothing=1.0"):
        compile_recipe(model, token_data(), epochs=1, steps_per_epoch=None, learning_rate=1e-3,
                       label_smoothing=1.0, model_dim=16)


# --- TextSamples and summaries ----------------------------------------------------------------

def test_text_samples_store_print_and_log_every_epoch(tmp_path, capsys):
    calls = []

    def make_samples():
        calls.append(len(calls))
        return [f"sample {len(calls)}", "two\nlines"]

    callback = TextSamples(tmp_path / "samples", make_samples, tag="translations")
    assert callback.samples == []
    model, data = token_model(), token_data()
    compile_recipe(model, data, epochs=2, steps_per_epoch=None, learning_rate=1e-3)
    model.fit(data, epochs=2, callbacks=[callback], verbose=0, shuffle=False)
    assert callback.samples == ["sample 2", "two\nlines"]
    printed = capsys.readouterr().out
    assert "Samples after epoch 1:" in printed and "Samples after epoch 2:" in printed and "  two\n  lines" in printed
    logged = events(tmp_path / "samples")
    assert [(tag, step) for tag, step, _ in logged] == [("translations", 0), ("translations", 1)]
    assert logged[1][2] == "    sample 2\n\n    two\n    lines"  # Markdown code blocks


def test_text_samples_reject_a_non_callable(tmp_path):
    with pytest.raises(ValueError, match="`make_samples` must be callable"):
        TextSamples(tmp_path, ["not", "callable"])


def test_write_text_summary(tmp_path):
    write_text_summary(tmp_path, "samples", ["a", "b"], step=3)
    assert events(tmp_path) == [("samples", 3, "    a\n\n    b")]


def test_write_scalar_summaries_skips_non_finite_and_non_numbers(tmp_path):
    metrics = {"bleu": 27.5, "steps": 12, "numpy": np.float32(0.5), "nan": float("nan"), "inf": float("inf"),
               "flag": True, "matrix": [[1, 2], [3, 4]], "name": "x"}
    assert write_scalar_summaries(tmp_path, metrics, step=4) == ["bleu", "steps", "numpy"]
    logged = events(tmp_path)
    assert [(tag, step) for tag, step, _ in logged] == [("final/bleu", 4), ("final/steps", 4), ("final/numpy", 4)]
    assert [value for _, _, value in logged] == pytest.approx([27.5, 12.0, 0.5])


# --- the floor ----------------------------------------------------------------------------------

def test_training_and_text_load_no_kerasformers_module_above_floor_1():
    """Imported without the root package's re-exports, training and text pull in only themselves and checks."""
    package_dir = os.path.dirname(kerasformers.__file__)
    script = textwrap.dedent(f"""
        import sys, types
        package = types.ModuleType("kerasformers")
        package.__path__ = [{package_dir!r}]
        sys.modules["kerasformers"] = package  # skip kerasformers/__init__.py, which re-exports models
        import kerasformers.training, kerasformers.text
        print(sorted(name for name in sys.modules if name.startswith("kerasformers.")))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = eval(run.stdout.strip().splitlines()[-1])
    assert "kerasformers.training.recipe" in loaded and "kerasformers.text.tokenizers" in loaded
    above = [name for name in loaded
             if name.split(".")[1] not in ("checks", "training", "text")]
    assert not above, f"kerasformers.training / kerasformers.text imported {above}"


@pytest.mark.parametrize("module", [training.recipe, training.schedules], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_names_are_exported_and_documented():
    for name in ("TextSamples", "write_text_summary", "write_scalar_summaries", "schedule_parameters",
                 "peak_optimizer", "compile_recipe", "steps_per_epoch_of"):
        obj = getattr(training, name)
        assert name in training.__all__
        doc = obj.__doc__ or ""
        assert "Args:" in doc and "Example:" in doc, name
        if not isinstance(obj, type):
            assert "Returns:" in doc, name
