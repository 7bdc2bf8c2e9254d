"""A run killed mid-epoch (SIGKILL) resumes from its last backup when started again with the same --output."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import keras
import pytest

import kerasformers  # noqa: F401  (registers the model classes for load_model)
from kerasformers.tasks import run

ROOT = pathlib.Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
DEMO_SIZE, BATCH = 1200, 8


def _command(output, epochs=2):
    return [sys.executable, "-m", "kerasformers", "train", "classification", "--demo", "--demo-size", str(DEMO_SIZE), "--batch-size", str(BATCH),
            "--max-length", "16", "--epochs", str(epochs), "--backup-every", "5", "--num-layers", "1",
            "--model-dim", "32", "--num-heads", "2", "--hidden-dim", "64", "--no-plots", "--no-export",
            "--output", str(output)]


def _wait_for_backup(metadata, process, min_batch=20, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            backup = json.loads(metadata.read_text())
            if backup["batch"] >= min_batch:
                return backup
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no mid-epoch backup appeared (process status {process.poll()})")


def test_sigkill_then_restart_continues_from_the_last_backup(tmp_path):
    output = tmp_path / "run"
    process = subprocess.Popen(_command(output), cwd=tmp_path, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for_backup(output / "backup" / "training_metadata.json", process)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    backup = json.loads((output / "backup" / "training_metadata.json").read_text())  # the last one written
    assert backup["batch"] > 0 and not (output / "task.json").exists()

    # A changed option is a clear error, not a silent mix of two runs.
    with pytest.raises(ValueError, match=r"holds an interrupted run with other options \(--epochs 2 -> 3\)"):
        run("classification", demo=True, demo_size=DEMO_SIZE, batch_size=BATCH, max_length=16, epochs=3,
            backup_every=5, num_layers=1, model_dim=32, num_heads=2, hidden_dim=64, plots=False, export=False,
            output=str(output))

    resumed = subprocess.run(_command(output), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming the interrupted run" in resumed.stdout
    assert "Resuming with the tokenizers saved in" in resumed.stdout  # not trained again
    assert (output / "task.json").is_file() and not (output / "backup").exists()

    # The step counter went on from the backup: Keras restarts the interrupted epoch from its first batch
    # with the backed-up weights and optimizer state; a run from zero would end at 2 * STEPS.
    # Batches per epoch, as Keras' progress bar counts them (length buckets each end with a smaller batch).
    progress = re.sub(r"Epoch \d+/\d+", "", resumed.stdout)
    steps = {int(n) for line in progress.splitlines() if "val_loss" in line  # the training epochs' bars
             for n in re.findall(r"(?<![\d/])(\d+)/\1(?![\d/])", line)}
    assert len(steps) == 1, resumed.stdout[-2000:]
    STEPS = steps.pop()
    assert STEPS >= (DEMO_SIZE - DEMO_SIZE // 10) / BATCH  # at least the unbucketed count
    model = keras.models.load_model(output / "model.keras")
    from_backup = backup["epoch"] * STEPS + backup["batch"] + 1
    assert int(model.optimizer.iterations) == from_backup + (2 - backup["epoch"]) * STEPS
    assert json.loads((output / "task.json").read_text())["metrics"]["accuracy"] > 0.6
