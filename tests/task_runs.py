"""Tiny end-to-end task runs, each trained once per test session and shared by tests/tasks, tests/cli, tests/examples.

Every run goes through a real entry point (an example script's `main` or
`kerasformers.cli.main`) on a few steps of generated data with a one-layer,
32-wide model, and writes its run folder and SavedModel under one session
temporary folder. `tests/` is on pytest's `pythonpath`, so every test directory
imports this one module (`import task_runs`, or the `run_of` fixture of
tests/conftest.py) and shares the same runs.
"""

import importlib.util
import json
import pathlib
import types

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
TINY_MODEL = ["--num-layers", "1", "--model-dim", "32", "--num-heads", "2", "--hidden-dim", "64"]
FEW_STEPS = ["--epochs", "1", "--steps-per-epoch", "3", "--seed", "0"]

_RUNS = {}


def load_example(name):
    """Imports `examples/<name>.py` as a module."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_digits_npz(path, train=64, test=32, size=8, seed=0):
    """A tiny image dataset in mnist.npz layout: the class is which quadrant holds a bright square."""
    rng = np.random.default_rng(seed)

    def make(count):
        labels = rng.integers(0, 4, size=count)
        images = rng.uniform(0, 40, size=(count, size, size)).astype("uint8")
        half = size // 2
        for image, label in zip(images, labels):
            row, column = divmod(int(label), 2)
            image[row * half:(row + 1) * half, column * half:(column + 1) * half] = 255
        return images, labels.astype("uint8")

    (x_train, y_train), (x_test, y_test) = make(train), make(test)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def _finished(run_dir, export_dir=None, result=None):
    run_dir = pathlib.Path(run_dir)
    info = json.loads((run_dir / "task.json").read_text())
    return types.SimpleNamespace(run_dir=run_dir, export_dir=export_dir and pathlib.Path(export_dir), info=info,
                                 result=result)


def _translation(base):
    run_dir, export_dir = base / "translation", base / "saved_models" / "translation"
    result = load_example("translate").main([
        "--demo", "--demo-size", "200", "--batch-size", "16", "--eval-size", "16", *FEW_STEPS, *TINY_MODEL,
        "--output", str(run_dir), "--export-dir", str(export_dir),
    ])
    return _finished(run_dir, export_dir, result)


def _classification(base):
    from kerasformers import cli

    run_dir, export_dir = base / "classification", base / "saved_models" / "classification"
    status = cli.main([
        "train", "classification", "--demo", "--demo-size", "200", "--batch-size", "16", "--max-length", "16",
        *FEW_STEPS, *TINY_MODEL, "--output", str(run_dir), "--export-dir", str(export_dir),
    ])
    assert status == 0
    return _finished(run_dir, export_dir)


def _language_model(base):
    run_dir, export_dir = base / "language-model", base / "saved_models" / "language-model"
    result = load_example("language_model").main([
        "--demo", "--demo-size", "4000", "--batch-size", "8", "--max-length", "32", "--sample-length", "8",
        "--prompt", "KING:\n", *FEW_STEPS, *TINY_MODEL, "--output", str(run_dir), "--export-dir", str(export_dir),
    ])
    return _finished(run_dir, export_dir, result)


def _vision(base):
    from kerasformers import cli

    run_dir = base / "vision"
    data = write_digits_npz(base / "quadrants.npz")
    status = cli.main([
        "train", "vision", "--data", str(data), "--batch-size", "16", *FEW_STEPS, "--num-layers", "1",
        "--output", str(run_dir),
    ])
    assert status == 0
    return _finished(run_dir)


RUNNERS = {
    "translation": _translation,
    "classification": _classification,
    "language-model": _language_model,
    "vision": _vision,
}


def get(name, tmp_path_factory):
    """The session's run of task `name` (trained on first use)."""
    if name not in _RUNS:
        _RUNS[name] = RUNNERS[name](tmp_path_factory.mktemp(f"run_{name}"))
    return _RUNS[name]
