"""`get_layout_map`: every task model sharded over two JAX CPU devices gives the unsharded loss and gradients."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

from kerasformers.models import get_layout_map

HERE = pathlib.Path(__file__).resolve().parent

SCRIPT = """
import json, sys
sys.path.insert(0, {here!r})
import jax, keras, numpy as np
import kerasformers as kf
from task_data import KINDS, build, data

loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def loss_and_grads(model, x, y):
    trainable = [v.value for v in model.trainable_variables]
    other = [v.value for v in model.non_trainable_variables]

    def loss(trainable):
        logits, _ = model.stateless_call(trainable, other, x, training=False)
        return loss_fn(y, logits)

    value, grads = jax.jit(jax.value_and_grad(loss))(trainable)
    return float(value), [np.asarray(g) for g in grads]


def fit(model, x, y):
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss_fn)
    return model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history["loss"]


devices = keras.distribution.list_devices()
assert len(devices) == 2, devices
mesh = keras.distribution.DeviceMesh((1, 2), ["batch", "model"], devices)
distribution = keras.distribution.ModelParallel(layout_map=kf.TransformerClassifier.get_layout_map(mesh),
                                                batch_dim_name="batch")
out = {{}}
for kind in KINDS:
    x, y = data(kind)
    keras.utils.set_random_seed(0)
    single = build(kind)
    weights = single.get_weights()
    loss, grads = loss_and_grads(single, x, y)
    with distribution.scope():
        sharded = build(kind)
    sharded.set_weights(weights)
    specs = {{v.path: [str(a) for a in v.value.sharding.spec] for v in sharded.trainable_variables
              if any(a is not None for a in v.value.sharding.spec)}}
    shard_shapes = {{v.path: [list(s.data.shape) for s in v.value.addressable_shards]
                     for v in sharded.trainable_variables if v.path in specs}}
    sharded_loss, sharded_grads = loss_and_grads(sharded, x, y)
    out[kind] = dict(
        loss=loss, sharded_loss=sharded_loss, specs=specs, shard_shapes=shard_shapes,
        shapes={{v.path: list(v.shape) for v in sharded.trainable_variables}},
        grad_diff=max(float(np.abs(a - b).max()) for a, b in zip(grads, sharded_grads)),
        grad_scale=max(float(np.abs(a).max()) for a in grads),
        total=sum(int(np.prod(v.shape)) for v in sharded.weights),
        per_device=sum(int(np.prod(v.value.addressable_shards[0].data.shape)) for v in sharded.weights),
        fit=fit(single, x, y))
    with distribution.scope():
        again = build(kind)
    again.set_weights(weights)
    with distribution.scope():
        out[kind]["sharded_fit"] = fit(again, x, y)
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results():
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = subprocess.run([sys.executable, "-c", SCRIPT.format(here=str(HERE))], capture_output=True, text=True,
                            timeout=900, env=env)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


KINDS = ("classifier", "language_model", "seq2seq", "vit")


@pytest.mark.parametrize("kind", KINDS)
def test_sharded_loss_and_gradients_equal_unsharded(kind, results):
    out = results[kind]
    assert abs(out["sharded_loss"] - out["loss"]) < 1e-5, out
    assert out["grad_diff"] < 1e-5 * max(1.0, out["grad_scale"]), out
    np.testing.assert_allclose(out["sharded_fit"], out["fit"], rtol=1e-4, atol=1e-5)
    assert out["fit"][-1] < out["fit"][0]  # it trains


def _expected_spec(path):
    """The Megatron layout, written out per variable kind (independently of the patterns)."""
    name = path.split("/")
    if name[-2] in ("query", "key", "value"):
        return ["None", "model", "None"] if name[-1] == "kernel" else ["model", "None"]
    if name[-2] == "attention_output" and name[-1] == "kernel":
        return ["model", "None", "None"]
    if name[-3:-1] == ["feed_forward", "inner"]:
        return ["None", "model"] if name[-1] == "kernel" else ["model"]
    if name[-3:] == ["feed_forward", "outer", "kernel"]:
        return ["model", "None"]
    if name[-2:] == ["token_embedding", "embeddings"]:
        return ["model", "None"]
    if name[-2] == "output_projection":
        return ["None", "model"] if name[-1] == "kernel" else ["model"]
    return None  # replicated


@pytest.mark.parametrize("kind", KINDS)
def test_megatron_layout_and_each_device_holds_half(kind, results):
    out = results[kind]
    expected = {p: s for p in out["shapes"] if (s := _expected_spec(p)) is not None}
    assert out["specs"] == expected
    assert len(expected) >= (4 if kind == "vit" else 5) * 2  # two layers' attention and feed-forward at least
    for path, spec in expected.items():
        split = spec.index("model")
        halves = [shape[split] for shape in out["shard_shapes"][path]]
        assert halves == [out["shapes"][path][split] // 2] * 2, (path, out["shard_shapes"][path])


def test_memory_arithmetic_counts_what_a_device_holds(results):
    """benchmarks/sharding_memory.py (docs/distributed.md's table) counts per device what JAX placed per device."""
    sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
    sys.path.insert(0, str(HERE))
    import sharding_memory
    from task_data import build

    for kind in KINDS:
        counted = sharding_memory.sharded_counts(build(kind), 2)
        assert counted == (results[kind]["total"], results[kind]["per_device"]), kind
        assert counted[1] < counted[0]


def test_layout_map_errors_name_the_value():
    mesh = keras.distribution.DeviceMesh((1,), ["batch"], keras.distribution.list_devices()[:1])
    with pytest.raises(ValueError, match=r"`model_parallel_dim_name`='model' is not an axis .*\('batch',\)"):
        get_layout_map(mesh)
    with pytest.raises(ValueError, match="Received: 'mesh' of type str"):
        get_layout_map("mesh")
    mesh = keras.distribution.DeviceMesh((1, 1), ["data", "shards"], keras.distribution.list_devices()[:1])
    layout_map = get_layout_map(mesh, "shards", "data")
    assert layout_map["m/decoder_layer_1/cross_attention/value/kernel"].axes == (None, "shards", None)
    assert layout_map["m/decoder_layer_1/cross_attention/value/lora_kernel_a"] is None  # LoRA: replicated
    assert layout_map["m/embedding/position_embedding/embeddings"] is None
