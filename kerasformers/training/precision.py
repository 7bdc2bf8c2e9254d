"""Choosing a numeric precision (Keras dtype policy) that the hardware runs fastest.

bfloat16 matmuls run at about twice the float32 rate on hardware with bfloat16
units: TPUs, NVIDIA GPUs of compute capability 8.0 and newer (Ampere), and x86
CPUs with AVX512-BF16 or AMX-BF16 (Intel Cooper Lake / Sapphire Rapids and
newer, AMD Zen 4 and newer) through TensorFlow's oneDNN kernels. On such a CPU
(`docs/benchmarks.md`) training under `mixed_bfloat16` runs 1.3-1.7x faster
than float32 with the same model; on a CPU without those units, bfloat16 is
emulated and slower. XLA's CPU backend gains nothing from bfloat16, so on a
CPU the choice assumes TensorFlow without `jit_compile` (Keras' default there).
"""

import contextlib
import functools
import os

import keras

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=None)
def cpu_flags(path="/proc/cpuinfo"):
    """The CPU feature flags the kernel reports (Linux `/proc/cpuinfo`); an empty set elsewhere."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _accelerators():
    """`(kind, details)` of the first accelerator TensorFlow sees, or None (TensorFlow absent: None)."""
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - tensorflow is a dependency
        return None
    if tf.config.list_logical_devices("TPU"):
        return ("TPU", {})
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return ("GPU", tf.config.experimental.get_device_details(gpus[0]))
    return None


def fast_bfloat16(flags=None, accelerator=None, backend=None):
    """Whether this machine runs bfloat16 matmuls natively, and why.

    Args:
        flags: CPU flags to judge (default: this machine's, from `/proc/cpuinfo`).
        accelerator: `(kind, details)` as returned for TensorFlow's first
            TPU/GPU, or None for a CPU-only machine (default: detected).
        backend: Keras backend name (default: the current one). On a CPU only
            TensorFlow's oneDNN kernels are known to gain from bfloat16.

    Returns:
        `(bool, reason)`; `reason` is a short human-readable sentence.
    """
    backend = backend or keras.backend.backend()
    if accelerator is None and flags is None:
        accelerator = _accelerators()
    if accelerator is not None:
        kind, details = accelerator
        if kind == "TPU":
            return True, "TPU: bfloat16 matrix units"
        capability = (details or {}).get("compute_capability")
        if capability and tuple(capability) >= (8, 0):
            return True, f"GPU with compute capability {capability[0]}.{capability[1]} (>= 8.0): bfloat16 tensor cores"
        return False, f"GPU with compute capability {capability}: no bfloat16 tensor cores (mixed_float16 may help)"
    flags = cpu_flags() if flags is None else frozenset(flags)
    found = [flag for flag in _CPU_BF16_FLAGS if flag in flags]
    if not found:
        return False, "CPU without AVX512-BF16 / AMX-BF16: bfloat16 would be emulated"
    if backend != "tensorflow":
        return False, f"CPU with {found[0]}, but the {backend} backend's CPU kernels do not gain from bfloat16"
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") == "0":
        return False, f"CPU with {found[0]}, but TF_ENABLE_ONEDNN_OPTS=0 turns off TensorFlow's oneDNN kernels"
    return True, f"CPU with {found[0]}: TensorFlow's oneDNN bfloat16 kernels"


def resolve_precision(precision="auto", **detection):
    """The Keras dtype policy name for `precision`.

    Args:
        precision: `"auto"` (`"mixed_bfloat16"` where `fast_bfloat16()`,
            else `"float32"`), `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`.
        **detection: passed to `fast_bfloat16` (for tests).

    Returns:
        `(policy_name, reason)`.

    Raises:
        ValueError: `precision` is not one of `PRECISIONS`.

    Example:

    >>> resolve_precision("float32")
    ('float32', 'requested')
    """
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}. Expected one of: {', '.join(PRECISIONS)}.")
    if precision != "auto":
        return precision, "requested"
    fast, reason = fast_bfloat16(**detection)
    return ("mixed_bfloat16" if fast else "float32"), reason


@contextlib.contextmanager
def dtype_policy(policy):
    """Sets Keras' global dtype policy inside the block and restores the previous one after.

    Layers take the global policy when they are created, so build a model inside
    the block and it keeps that policy (also after saving and loading).

    Example:

    >>> with dtype_policy("mixed_bfloat16"):
    ...     layer = keras.layers.Dense(4)
    >>> layer.dtype_policy.name, keras.config.dtype_policy().name
    ('mixed_bfloat16', 'float32')
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield keras.config.dtype_policy()
    finally:
        keras.config.set_dtype_policy(previous)
