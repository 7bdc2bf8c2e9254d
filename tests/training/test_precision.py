"""Choosing the dtype policy: hardware detection, `--precision`, and runs trained under it."""

import json

import keras
import numpy as np
import pytest

from kerasformers import cli
from kerasformers.tasks import runs
from kerasformers.training import dtype_policy, fast_bfloat16, precision, resolve_precision

AMPERE = ("GPU", {"compute_capability": (8, 0), "device_name": "A100"})
TURING = ("GPU", {"compute_capability": (7, 5), "device_name": "T4"})


@pytest.mark.parametrize("kwargs, expected", [
    (dict(flags={"avx2", "avx512f", "avx512_bf16"}, backend="tensorflow"), True),  # Zen 4, Cooper Lake
    (dict(flags={"avx2", "amx_bf16", "amx_tile"}, backend="tensorflow"), True),  # Sapphire Rapids
    (dict(flags={"avx2", "avx512f"}, backend="tensorflow"), False),  # emulated bfloat16
    (dict(flags={"avx512_bf16"}, backend="jax"), False),  # XLA's CPU backend gains nothing
    (dict(flags=set(), backend="tensorflow"), False),  # no /proc/cpuinfo (macOS, Windows)
    (dict(accelerator=("TPU", {}), backend="jax"), True),
    (dict(accelerator=AMPERE, backend="torch"), True),
    (dict(accelerator=TURING, backend="tensorflow"), False),
])
def test_fast_bfloat16(kwargs, expected):
    fast, reason = fast_bfloat16(**kwargs)
    assert fast is expected and reason


def test_onednn_off_means_no_fast_bfloat16(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    fast, reason = fast_bfloat16(flags={"avx512_bf16"}, backend="tensorflow")
    assert not fast and "TF_ENABLE_ONEDNN_OPTS=0" in reason


def test_cpu_flags_reads_the_flags_line(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512_bf16"}
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_resolve_precision():
    assert resolve_precision("auto", flags={"avx512_bf16"}, backend="tensorflow")[0] == "mixed_bfloat16"
    assert resolve_precision("auto", flags={"avx2"}, backend="tensorflow")[0] == "float32"
    for name in ("float32", "mixed_bfloat16", "mixed_float16"):
        assert resolve_precision(name) == (name, "requested")
    with pytest.raises(ValueError, match=r"Unknown precision 'bf16'\. Expected one of: auto, float32"):
        resolve_precision("bf16")


def test_dtype_policy_restores_the_previous_policy_also_on_error():
    with dtype_policy("mixed_bfloat16") as policy:
        assert policy.name == "mixed_bfloat16" and keras.config.dtype_policy().name == "mixed_bfloat16"
        layer = keras.layers.Dense(2)
    assert keras.config.dtype_policy().name == "float32"
    assert layer.dtype_policy.name == "mixed_bfloat16"
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_float16"):
            raise RuntimeError("boom")
    assert keras.config.dtype_policy().name == "float32"


def test_precision_flag_rejects_unknown_values(capsys):
    assert cli.main(["train", "classification", "--demo", "--precision", "bf16"]) == 2
    assert "invalid choice: 'bf16'" in capsys.readouterr().err


def test_trained_under_mixed_bfloat16(tmp_path, capsys):
    """`--precision mixed_bfloat16`: the model computes in bfloat16, keeps float32 weights and logits, and says so."""
    run_dir = tmp_path / "run"
    status = cli.main(["train", "classification", "--demo", "--demo-size", "200", "--batch-size", "16",
                       "--max-length", "16", "--epochs", "1", "--steps-per-epoch", "3", "--num-layers", "1",
                       "--model-dim", "32", "--num-heads", "2", "--hidden-dim", "64", "--precision", "mixed_bfloat16",
                       "--no-export", "--no-plots", "--output", str(run_dir)])
    assert status == 0
    assert "Precision: mixed_bfloat16\n" in capsys.readouterr().out
    assert json.loads((run_dir / "task.json").read_text())["precision"] == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"  # the run did not leak its policy
    model = runs.load_run(run_dir).model
    layers = list(model._flatten_layers(include_self=False))
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in layers}
    assert {w.dtype for w in model.weights} == {"float32"}
    logits = model.predict({"token_ids": np.ones((2, 16), "int32")}, verbose=0)
    assert logits.dtype == np.float32 and np.all(np.isfinite(logits))
