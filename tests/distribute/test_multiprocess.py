"""Two processes on localhost train with `model.fit` (JAX, gloo CPU collectives) and end as one process does."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import free_port

from kerasformers.training import initialize_processes, is_chief, process_index

SCRIPT = pathlib.Path(__file__).resolve().parent / "_multiprocess_script.py"


def launch(num_processes, out_dir):
    """Runs the script in `num_processes` processes; returns [(info, final weights)] by process."""
    port = free_port()
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    procs = [subprocess.Popen([sys.executable, str(SCRIPT), str(i), str(num_processes), str(port), str(out_dir)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(num_processes)]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=600))
    finally:
        for proc in procs:
            proc.kill()
    for proc, (stdout, stderr) in zip(procs, outputs):
        assert proc.returncode == 0, f"stdout:\n{stdout}\nstderr:\n{stderr[-4000:]}"
    return [(json.loads((out_dir / f"process_{i}.json").read_text()),
             list(np.load(out_dir / f"process_{i}.npz").values())) for i in range(num_processes)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    single_dir, pair_dir = tmp_path_factory.mktemp("single"), tmp_path_factory.mktemp("pair")
    return launch(1, single_dir), launch(2, pair_dir), pair_dir


def test_two_processes_end_with_the_weights_of_one(runs):
    (single_info, single_weights), = runs[0]
    (info0, weights0), (info1, weights1) = runs[1]
    assert single_info["devices"] == 1 and info0["devices"] == info1["devices"] == 2  # one device per process
    assert [info0["index"], info1["index"]] == [0, 1] and (info0["chief"], info1["chief"]) == (True, False)
    assert (info0["saved"], info1["saved"]) == (True, False)
    assert (single_info["examples_read"], info0["examples_read"], info1["examples_read"]) == (64, 32, 32)
    for a, b in zip(weights0, weights1):  # the replicas stay identical
        np.testing.assert_array_equal(a, b)
    # and equal to one process on the clean global batches: each process' copy is wrong outside its shard
    for a, b in zip(weights0, single_weights):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(info0["loss"], single_info["loss"], rtol=1e-4, atol=1e-5)
    assert single_info["loss"][-1] < single_info["loss"][0]
    saved = keras.saving.load_model(runs[2] / "model.keras", compile=False)  # written once, by process 0
    for a, b in zip(saved.get_weights(), weights0):
        np.testing.assert_array_equal(a, b)
    changed = max(float(np.abs(a - b).max()) for a, b in zip(weights0, _initial_weights()))
    assert changed > 1e-3  # training moved the weights


def _initial_weights():
    sys.path.insert(0, str(SCRIPT.parent))
    from task_data import build

    keras.utils.set_random_seed(0)
    return build("classifier").get_weights()


def test_single_process_defaults(monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert process_index() == 0 and is_chief()
    if keras.backend.backend() != "jax":
        with pytest.raises(ValueError, match="runs on the JAX backend.*Received: the 'tensorflow' backend"):
            initialize_processes()


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_processes=0), "at least 1. Received: 0"),
    (dict(num_processes="two"), "`num_processes` must be an integer. Received: 'two'"),
    (dict(num_processes=2, process_id=0), "`coordinator_address`.*KERAS_DISTRIBUTION_JOB_ADDRESSES"),
    (dict(num_processes=2, coordinator_address="h:1"), "`process_id` is needed.*KERAS_DISTRIBUTION_PROCESS_ID"),
    (dict(num_processes=2, coordinator_address="h:1", process_id=2), r"in \[0, 2\).*Received: 2"),
])
def test_argument_errors(kwargs, message, monkeypatch):
    for name in ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                 "KERAS_DISTRIBUTION_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=message):
        initialize_processes(**kwargs)


def test_docstring_examples_run():
    import doctest

    from kerasformers.training import distributed

    result = doctest.testmod(distributed, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted >= 6


def test_processes_come_from_keras_environment_variables(monkeypatch):
    from kerasformers.training import resolve_processes

    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "host0:1234")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "4")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "3")
    assert resolve_processes() == ("host0:1234", 4, 3)
    assert resolve_processes(process_id=1) == ("host0:1234", 4, 1)  # an argument wins
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")
    assert resolve_processes() == (None, 1, 0)


def test_cli_options_fall_back_to_the_environment(monkeypatch):
    from kerasformers import cli
    from kerasformers.tasks.base import processes_of

    monkeypatch.setenv("KERAS_DISTRIBUTION_JOB_ADDRESSES", "host0:1234")
    monkeypatch.setenv("KERAS_DISTRIBUTION_NUM_PROCESSES", "2")
    monkeypatch.setenv("KERAS_DISTRIBUTION_PROCESS_ID", "1")
    args = cli.build_parser().parse_args(["train", "classification", "--demo"])
    assert processes_of(args) == ("host0:1234", 2, 1)
    args = cli.build_parser().parse_args(["train", "classification", "--demo", "--process-id", "0"])
    assert processes_of(args) == ("host0:1234", 2, 0)
