"""Checks every kerasformers layer must pass (see DEVELOPERS' standards).

Each helper takes a *factory* (a zero-argument callable that returns a fresh
layer) so that checks never share state, and a numpy sample input.
"""

import inspect
import os

import keras
import numpy as np
from keras import ops

BACKEND = keras.backend.backend()


def to_numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.cast(x, "float32")))


def constructor_args(cls):
    return [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    ]


def check_config_round_trip(factory):
    """`get_config` holds every constructor argument; `from_config` rebuilds the same config."""
    layer = factory()
    config = layer.get_config()
    missing = [a for a in constructor_args(type(layer)) if a not in config]
    assert not missing, f"get_config() lacks constructor arguments {missing}"
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


def functional_model(factory, sample, call_kwargs=None, dynamic_length=True):
    """Wraps the layer in a functional model with a `None` batch (and length) dim."""
    sample = np.asarray(sample)
    shape = list(sample.shape[1:])
    if dynamic_length and len(shape) >= 1:
        shape[0] = None
    inputs = keras.Input(shape=tuple(shape), dtype=str(sample.dtype))
    outputs = factory()(inputs, **(call_kwargs or {}))
    return keras.Model(inputs, outputs)


def check_keras_round_trip(factory, sample, tmp_path, call_kwargs=None):
    """`.keras` save -> `keras.models.load_model` -> identical outputs."""
    model = functional_model(factory, sample, call_kwargs)
    expected = model.predict(sample, verbose=0)
    path = os.path.join(str(tmp_path), "layer.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    actual = restored.predict(sample, verbose=0)
    for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


def check_symbolic_shapes(factory, sample, call_kwargs=None):
    """A KerasTensor call with `None` batch and length gives the computed output shape."""
    sample = np.asarray(sample)
    shape = (None, None, *sample.shape[2:])
    inputs = keras.Input(batch_shape=shape, dtype=str(sample.dtype))
    layer = factory()
    out = layer(inputs, **(call_kwargs or {}))
    first = keras.tree.flatten(out)[0]
    assert tuple(first.shape) == tuple(layer.compute_output_shape(shape))
    eager = keras.tree.flatten(layer(sample, **(call_kwargs or {})))[0]
    assert tuple(eager.shape) == tuple(layer.compute_output_shape(sample.shape))
    return out


def check_fit_step(factory, sample, jit_compile=False, call_kwargs=None):
    """One `fit` step runs and changes the layer's trainable weights."""
    model = functional_model(factory, sample, call_kwargs)
    out_shape = keras.tree.flatten(model.predict(sample, verbose=0))[0].shape
    target = np.random.default_rng(0).normal(size=out_shape)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit_compile)
    before = [to_numpy(w) for w in model.trainable_weights]
    history = model.fit(sample, target.astype("float32"), epochs=1, batch_size=len(sample), verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = [to_numpy(w) for w in model.trainable_weights]
    assert before, "layer has no trainable weights"
    assert any(not np.allclose(b, a) for b, a in zip(before, after)), "fit did not change any weight"


def check_mixed_bfloat16(factory, sample, call_kwargs=None):
    """Under `mixed_bfloat16`: bfloat16 outputs, float32 weights, finite values."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = factory()
        out = layer(sample, **(call_kwargs or {}))
    finally:
        keras.config.set_dtype_policy(previous)
    first = keras.tree.flatten(out)[0]
    assert keras.backend.standardize_dtype(first.dtype) == "bfloat16"
    assert layer.weights, "layer has no weights"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)
    assert np.all(np.isfinite(to_numpy(first)))
    return layer, out


def free_port():
    """A TCP port on localhost that is free now (for a coordinator process)."""
    import socket

    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]
