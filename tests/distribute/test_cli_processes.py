"""`kerasformers train ... --num-processes 2`: one run in two JAX processes on localhost, written once by process 0."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import free_port

from kerasformers.tasks import runs as runs_lib

# 288 training and 32 validation texts: whole batches of 16, so one process sees the same global batches
DEMO = ["--demo", "--demo-size", "320", "--batch-size", "16", "--max-length", "16", "--epochs", "2", "--no-plots"]


def start(folder, extra=(), num_processes=1, demo=DEMO):
    """Starts `kerasformers train classification` in `num_processes` processes; returns the `Popen`s."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    command = [sys.executable, "-m", "kerasformers", "train", "classification", *demo, "--output", str(folder / "run"),
               "--export-dir", str(folder / "saved"), *extra]
    if num_processes > 1:
        address = f"localhost:{free_port()}"
        commands = [command + ["--num-processes", str(num_processes), "--process-id", str(i),
                               "--coordinator-address", address] for i in range(num_processes)]
    else:
        commands = [command]
    return [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=folder)
            for c in commands]


def train(folder, extra=(), num_processes=1, demo=DEMO, timeout=900):
    """Runs `kerasformers train classification` in `num_processes` processes; returns their stdout."""
    procs = start(folder, extra, num_processes, demo)
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=timeout))
    finally:
        for proc in procs:
            proc.kill()
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    return [stdout for stdout, _ in outputs]


def weights(run_dir):
    """`{path: array}` of the run's model, but the attention key biases: their gradient is zero in exact arithmetic
    (softmax does not change when a constant is added to every key's score), so Adam turns float noise into
    learning-rate-sized steps, which differ with the order of a sum."""
    model = keras.saving.load_model(run_dir / "model.keras", compile=False)
    return {v.path: np.asarray(v) for v in model.weights if not v.path.endswith("key/bias")}


@pytest.fixture(scope="module")
def fixed_shapes(tmp_path_factory):
    """One process and two processes, batches padded to --max-length (no SavedModel)."""
    single, pair = tmp_path_factory.mktemp("single"), tmp_path_factory.mktemp("pair")
    extra = ["--no-length-buckets", "--no-export"]
    return train(single, extra), train(pair, extra, num_processes=2), single, pair


def test_two_processes_train_as_one(fixed_shapes):
    _, (chief_output, other_output), single, pair = fixed_shapes
    assert "Process 0 of 2" in chief_output and "Process 1 of 2" in other_output
    assert "process 1 done" in other_output and "accuracy" not in other_output  # the chief evaluates
    assert "Validation accuracy" in chief_output
    # written once: the run is process 0's; process 1's folder (its backups) is gone at the end
    assert (pair / "run" / "model.keras").is_file() and not (pair / "run" / runs_lib.PROCESS_DIR).exists()
    one, two = weights(single / "run"), weights(pair / "run")
    assert sorted(one) == sorted(two) and len(one) == 36
    for path in one:  # each process trained on its half of every batch, the gradients all-reduced
        np.testing.assert_allclose(two[path], one[path], rtol=1e-4, atol=1e-4, err_msg=path)
    history = [json.loads((folder / "run" / "task.json").read_text())["metrics"] for folder in (single, pair)]
    np.testing.assert_allclose(history[0]["val_loss"], history[1]["val_loss"], rtol=1e-4)
    assert history[0]["accuracy"] == history[1]["accuracy"]


def test_two_processes_with_length_buckets_export_once(tmp_path):
    """The default pipeline (length buckets, which Keras cannot shard) and the SavedModel, written by TensorFlow."""
    chief_output, _ = train(tmp_path, num_processes=2)
    assert "Exporting with the TensorFlow backend" in chief_output
    info = json.loads((tmp_path / "run" / "task.json").read_text())
    assert info["export_path"] == str(tmp_path / "saved" / "1")
    assert (tmp_path / "saved" / "1" / "saved_model.pb").is_file()
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["1"]  # once
    served = subprocess.run([sys.executable, "-m", "kerasformers", "classify", str(tmp_path / "saved"), "a great film"],
                            capture_output=True, text=True, env={**os.environ, "KERAS_BACKEND": "tensorflow"})
    assert served.returncode == 0, served.stderr[-3000:]
    assert served.stdout.strip().endswith("a great film")


def test_an_interrupted_run_resumes_in_every_process(tmp_path):
    """Both processes are killed after the first epoch and started again: each restores its own backup (of the
    same step) and they finish together. A process whose backup is missing is an error in both, not a hang."""
    import signal
    import time

    demo = ["--demo", "--demo-size", "2000", "--batch-size", "16", "--max-length", "16", "--epochs", "4",
            "--no-plots", "--backup-every", "5", "--no-export"]
    procs = start(tmp_path, num_processes=2, demo=demo)
    backups = [tmp_path / "run" / "backup", tmp_path / "run" / runs_lib.PROCESS_DIR / "1" / "backup"]
    metadata = backups[0] / "training_metadata.json"
    try:
        deadline = time.time() + 600
        while time.time() < deadline and all(p.poll() is None for p in procs):
            if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 1:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no backup after the first epoch: " + "".join(p.communicate()[1][-2000:] for p in procs))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.communicate()
    assert not (tmp_path / "run" / "task.json").exists()  # interrupted
    if (backups[1] / "training_metadata.json").read_text() != metadata.read_text():  # killed between two writes
        shutil.rmtree(backups[1])
        shutil.copytree(backups[0], backups[1])  # the remedy the error message names: backups of one step

    saved = tmp_path / "saved_backup"
    shutil.copytree(backups[1], saved)
    shutil.rmtree(backups[1])  # process 1 lost its backup: both stop with the same message
    procs = start(tmp_path, num_processes=2, demo=demo)
    outputs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, stderr) in zip(procs, outputs):
        assert proc.returncode == 2, stderr[-3000:]
        assert re.search(r"different backups \(process 0: epoch \d+, step \d+; process 1: none\)", stderr), stderr
    shutil.copytree(saved, backups[1])

    chief_output, other_output = train(tmp_path, num_processes=2, demo=demo, timeout=600)
    assert "Resuming the interrupted run" in chief_output and "Resuming the interrupted run" in other_output
    assert "Epoch 1/4" not in chief_output and "Epoch 4/4" in chief_output
    assert "process 1 done" in other_output
    assert (tmp_path / "run" / "model.keras").is_file() and not (tmp_path / "run" / runs_lib.PROCESS_DIR).exists()


@pytest.mark.parametrize("extra, message", [
    (["--num-processes", "2", "--process-id", "0", "--coordinator-address", "localhost:1", "--batch-size", "15"],
     "multiple of 2. Received: --batch-size 15"),
    (["--num-processes", "2", "--process-id", "2", "--coordinator-address", "localhost:1"],
     r"in \[0, 2\).*Received: 2"),
    (["--num-processes", "2", "--process-id", "0"], "`coordinator_address`"),
])
def test_process_option_errors(tmp_path, extra, message, monkeypatch):
    from kerasformers import tasks

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")  # the checks come before any JAX work
    options = dict(demo=True, output=str(tmp_path / "run"), plots=False, export=False)
    args = iter(extra)
    for flag in args:
        value = next(args)
        key = flag[2:].replace("-", "_")
        options[key] = value if key == "coordinator_address" else int(value)
    with pytest.raises(ValueError, match=message):
        tasks.run("classification", **options)
    assert not (tmp_path / "run").exists()  # before any work


def test_several_processes_need_the_jax_backend(tmp_path, monkeypatch):
    from kerasformers import tasks

    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    with pytest.raises(ValueError, match="runs on the JAX backend: start every process with KERAS_BACKEND=jax. "
                                         "Received: the 'tensorflow' backend"):
        tasks.run("classification", demo=True, output=str(tmp_path / "run"), plots=False, export=False,
                  num_processes=2, process_id=0, coordinator_address="localhost:1")
    assert not (tmp_path / "run").exists()


def test_several_processes_need_an_output(monkeypatch):
    from kerasformers import tasks

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="same run folder: pass --output"):
        tasks.run("classification", demo=True, plots=False, export=False, num_processes=2, process_id=1,
                  coordinator_address="localhost:1")


def test_process_shard_keeps_each_process_rows_of_full_batches():
    import tensorflow as tf

    from kerasformers.training import process_shard

    batches = tf.data.Dataset.from_tensor_slices(({"ids": np.arange(20).reshape(10, 2)}, np.arange(10))).batch(4)
    shards = [list(process_shard(batches, 4, process_id=i, num_processes=2)) for i in (0, 1)]
    assert [y.numpy().tolist() for _, y in shards[0]] == [[0, 1], [4, 5]]  # the last batch (8, 9) is not full
    assert [y.numpy().tolist() for _, y in shards[1]] == [[2, 3], [6, 7]]
    assert shards[1][0][0]["ids"].numpy().tolist() == [[4, 5], [6, 7]]
    with pytest.raises(ValueError, match="multiple of the number of processes \\(2\\).*global_batch_size=5"):
        process_shard(batches, 5, process_id=0, num_processes=2)


def test_docs_command_lines_parse():
    """The shell block of docs/distributed.md ("From the command line") names options that exist."""
    import re
    import shlex

    from kerasformers import cli

    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "distributed.md").read_text(encoding="utf-8")
    block = re.search(r"### From the command line.*?```bash\n(.*?)```", doc, flags=re.S).group(1)
    options = re.search(r'^OPTIONS="(.*)"$', block, flags=re.M).group(1)
    lines = [line.split(">")[0].replace("$OPTIONS", options) for line in block.splitlines()
             if line.startswith("kerasformers ")]
    assert len(lines) == 2
    for line in lines:
        args = cli.build_parser().parse_args(shlex.split(line)[1:])
        assert (args.num_processes, args.coordinator_address, args.output) == (2, "localhost:12345", "runs/two")
    assert sorted(cli.build_parser().parse_args(shlex.split(line)[1:]).process_id for line in lines) == [0, 1]
