"""A training process killed with SIGKILL resumes from its last backup when re-run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SAVE_EVERY = 5
STEPS_PER_EPOCH = 8
EPOCHS = 4

SCRIPT = textwrap.dedent(
    f"""
    import json, sys, time

    import keras
    import numpy as np

    from kerasformers.training import fit

    run_dir, log_path = sys.argv[1], sys.argv[2]
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=({STEPS_PER_EPOCH} * 4, 4)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")


    class Record(keras.callbacks.Callback):
        # Runs after BackupAndRestore, so on_train_begin sees the restored state.
        def _write(self, **event):
            event["iterations"] = int(self.model.optimizer.iterations)
            with open(log_path, "a") as f:
                f.write(json.dumps(event) + "\\n")

        def on_train_begin(self, logs=None):
            self._write(event="begin")

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self._write(event="batch", epoch=self.epoch, batch=batch)
            time.sleep(0.1)

        def on_train_end(self, logs=None):
            self._write(event="end")


    fit(model, (x, y), epochs={EPOCHS}, batch_size=4, run_dir=run_dir, callbacks=[Record()],
        checkpoint_every_steps={SAVE_EVERY}, tensorboard=False, verbose=0)
    """
)


def read_events(path):
    events = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    events.append(json.loads(line))
                except ValueError:  # a line cut by the kill
                    pass
    return events


def test_killed_run_resumes_from_backup(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    run_dir, first_log, second_log = tmp_path / "run", tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    metadata = run_dir / "backup" / "training_metadata.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    def start(log):
        return subprocess.Popen(
            [sys.executable, str(script), str(run_dir), str(log)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
        )

    first = start(first_log)
    deadline = time.monotonic() + 40
    # Kill inside the second epoch, after a step-level backup, between two backups.
    while time.monotonic() < deadline and first.poll() is None:
        steps = [e["iterations"] for e in read_events(first_log) if e["event"] == "batch"]
        if metadata.exists() and steps and steps[-1] >= STEPS_PER_EPOCH + 4:
            break
        time.sleep(0.02)
    if first.poll() is not None:
        pytest.fail(f"first run ended before it was killed:\n{first.communicate()[0]}")
    first.send_signal(signal.SIGKILL)
    first_output = first.communicate(timeout=10)[0]
    assert first.returncode == -signal.SIGKILL
    steps_before_kill = max(e["iterations"] for e in read_events(first_log) if e["event"] == "batch")
    assert not any(e["event"] == "end" for e in read_events(first_log)), first_output

    second = start(second_log)
    second_output = second.communicate(timeout=45)[0]
    report = f"first run:\n{first_output}\nsecond run:\n{second_output}"
    assert second.returncode == 0, report
    events = read_events(second_log)
    begin = events[0]
    first_batch = next(e for e in events if e["event"] == "batch")
    # Resumed: weights and optimizer state of the last backup, and its epoch.
    assert begin["event"] == "begin" and begin["iterations"] > 0, report
    assert begin["iterations"] % SAVE_EVERY == 0, report
    assert first_batch["epoch"] >= 1 and first_batch["iterations"] == begin["iterations"] + 1, report
    # At most one checkpoint interval of updates was lost.
    assert 0 <= steps_before_kill - begin["iterations"] <= SAVE_EVERY, report
    # Keras restarts the interrupted epoch from its first batch, then finishes the run.
    assert first_batch["batch"] == 0
    batches = [e for e in events if e["event"] == "batch"]
    assert len(batches) == (EPOCHS - first_batch["epoch"]) * STEPS_PER_EPOCH, report
    assert events[-1]["event"] == "end", report
    assert not (run_dir / "backup").exists(), report
