"""Training on several devices gives the single-device result (tf.distribute and Keras' DataParallel)."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
from task_data import KINDS, build, data

HERE = pathlib.Path(__file__).resolve().parent


def run(args, env=None):
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})}
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def mirrored_results(tmp_path_factory):
    """One subprocess (TF start-up is slow) trains every task model both ways."""
    out_dir = tmp_path_factory.mktemp("mirrored")
    return run([str(HERE / "_mirrored_script.py"), ",".join(KINDS), str(HERE), str(out_dir)], env={"KERAS_BACKEND": "tensorflow"})


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.distribute")
@pytest.mark.parametrize("kind", KINDS)
def test_mirrored_strategy_matches_single_device(kind, mirrored_results):
    out = mirrored_results[kind]
    np.testing.assert_allclose(out["mirrored"], out["single"], rtol=1e-4, atol=1e-5)
    assert out["single"][-1] < out["single"][0]
    assert out["reload_max_diff"] < 1e-5


JAX_SCRIPT = """
import json, sys
sys.path.insert(0, {here!r})
import keras, numpy as np
from task_data import build, data
def train(kind):
    x, y = data(kind)
    keras.utils.set_random_seed(0)
    model = build(kind)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]
kinds = {kinds!r}
single = {{kind: train(kind) for kind in kinds}}
devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
print(json.dumps({{kind: {{"single": single[kind], "parallel": train(kind)}} for kind in kinds}}))
"""


@pytest.fixture(scope="module")
def jax_results():
    code = JAX_SCRIPT.format(here=str(HERE), kinds=["classifier", "seq2seq"])
    return run(["-c", code], env={"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"})


@pytest.mark.parametrize("kind", ["classifier", "seq2seq"])
def test_jax_data_parallel_matches_single_device(kind, jax_results):
    out = jax_results[kind]
    np.testing.assert_allclose(out["parallel"], out["single"], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("kind", KINDS)
def test_mixed_precision_training(kind, policy):
    keras.config.set_dtype_policy(policy)
    try:
        model = build(kind)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    finally:
        keras.config.set_dtype_policy("float32")
    if policy == "mixed_float16":  # Keras wraps the optimizer for loss scaling
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert keras.backend.standardize_dtype(model.outputs[0].dtype) == "float32"
    x, y = data(kind)
    losses = model.fit(x, y, batch_size=8, epochs=3, verbose=0).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
