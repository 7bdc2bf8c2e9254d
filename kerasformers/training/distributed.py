"""Several cooperating processes, one `model.fit`: Keras' distribution API on the JAX backend.

Each process runs the same program. `initialize_processes` joins it to the
group (`jax.distributed.initialize` through `keras.distribution.initialize`)
and sets a `keras.distribution.DataParallel` over the devices of every
process. Keras then gives each process its shard of every global batch of a
`tf.data.Dataset` (`Distribution.distribute_dataset`: `rebatch` + `shard`)
and keeps the replicated weights in step with an all-reduce of the
gradients, so every process ends `fit` with the same weights. Write files
(checkpoints, exports) from one process, `is_chief()`, and the model with
`save_on_chief(model, path)`, called in every process.
"""

import os

import keras

# Keras' own environment variables (`keras.distribution.initialize` reads them too).
ENVIRONMENT = {
    "coordinator_address": "KERAS_DISTRIBUTION_JOB_ADDRESSES",
    "num_processes": "KERAS_DISTRIBUTION_NUM_PROCESSES",
    "process_id": "KERAS_DISTRIBUTION_PROCESS_ID",
}


def _from_environment(name, value):
    if value is not None:
        return value
    return os.environ.get(ENVIRONMENT[name]) or None


def _as_int(name, value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be an integer. Received: {value!r}") from None


def _check_backend():
    backend = keras.backend.backend()
    if backend != "jax":
        raise ValueError(
            "Several processes train with Keras' distribution API, which runs on the JAX backend: set "
            f"KERAS_BACKEND=jax before Keras starts. Received: the {backend!r} backend. (TensorFlow: "
            "tf.distribute.MultiWorkerMirroredStrategy, see docs/distributed.md.)"
        )


def initialize_processes(coordinator_address=None, num_processes=None, process_id=None, cpu_collectives="gloo"):
    """Joins this process to `num_processes` cooperating ones and sets data parallelism over all their devices.

    Call it first, before any JAX computation (building a model included),
    with the same `coordinator_address` and `num_processes` in every process
    and a different `process_id` in each. Any argument left None is read from
    Keras' environment variables `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
    `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`.
    With one process nothing is joined and the distribution spans the local
    devices.

    Then build and compile the model, and `fit` it on a `tf.data.Dataset`
    batched to the *global* batch size (divisible by the number of
    processes): every process reads the whole pipeline and keeps its shard
    of each batch. Write files from one process only (`is_chief()`); save
    the model with `save_on_chief`, called in every process.

    Args:
        coordinator_address: str. `host:port` of process 0, which every
            process can reach. A comma-separated list of every process'
            address is accepted too (Keras' form; the first is used).
        num_processes: int >= 1.
        process_id: int in `[0, num_processes)`; 0 is the coordinator.
        cpu_collectives: str. JAX's collectives between CPU processes
            (`"gloo"`, default, or `"mpi"`); only CPU devices use them.

    Returns:
        The `keras.distribution.DataParallel` now set globally.

    Raises:
        ValueError: not the JAX backend, an argument missing or out of range.

    Example:
    >>> # in every process, e.g. two on one machine (process 1 passes process_id=1):
    >>> distribution = initialize_processes("localhost:1234", 2, 0)  # doctest: +SKIP
    >>> model = kf.TransformerClassifier.from_preset("tiny", vocabulary_size=8000, num_classes=2)  # doctest: +SKIP
    >>> model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))  # doctest: +SKIP
    >>> model.fit(global_batches, epochs=2)  # doctest: +SKIP
    >>> save_on_chief(model, "model.keras")  # doctest: +SKIP
    """
    coordinator_address = _from_environment("coordinator_address", coordinator_address)
    num_processes = _from_environment("num_processes", num_processes)
    process_id = _from_environment("process_id", process_id)
    num_processes = 1 if num_processes is None else _as_int("num_processes", num_processes)
    if num_processes < 1:
        raise ValueError(f"`num_processes` must be at least 1. Received: {num_processes}")
    if num_processes > 1:
        if not coordinator_address:
            raise ValueError(
                f"`coordinator_address` (host:port of process 0) is needed for num_processes={num_processes}: "
                f"pass it, or set {ENVIRONMENT['coordinator_address']}."
            )
        if process_id is None:
            raise ValueError(
                f"`process_id` is needed for num_processes={num_processes}: pass it, or set "
                f"{ENVIRONMENT['process_id']}."
            )
        process_id = _as_int("process_id", process_id)
        if not 0 <= process_id < num_processes:
            raise ValueError(
                f"`process_id` must be in [0, {num_processes}) for num_processes={num_processes}. "
                f"Received: {process_id}"
            )
    _check_backend()
    if num_processes > 1:
        import jax

        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
        keras.distribution.initialize(str(coordinator_address), num_processes, process_id)
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    return distribution


def process_index():
    """This process' index among the cooperating ones (0 when there is one, and on other backends than JAX).

    Example:
    >>> process_index()
    0
    """
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


def is_chief():
    """True in the process that writes files (process 0).

    Example:
    >>> is_chief()
    True
    """
    return process_index() == 0


def save_on_chief(model, filepath, **kwargs):
    """`model.save(filepath)` in process 0 only; call it in every process.

    Under a multi-process distribution, Keras' `model.save` creates
    variables (the optimizer's skip list), and creating a variable there is a
    collective every process must join: `model.save` in the chief alone
    waits forever. Here the chief saves with the distribution unset for the
    moment (the replicated weights are all in its memory); the other
    processes return at once.

    Args:
        model: a `keras.Model`.
        filepath: str or os.PathLike, ending in `.keras`.
        **kwargs: passed to `model.save`.

    Returns:
        True in the process that wrote the file.

    Example:
    >>> save_on_chief(model, "model.keras")  # doctest: +SKIP
    True
    """
    if not is_chief():
        return False
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        model.save(filepath, **kwargs)
    finally:
        keras.distribution.set_distribution(distribution)
    return True
