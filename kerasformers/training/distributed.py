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
import numpy as np

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


def initialize_processes(coordinator_address=None, num_processes=None, process_id=None, cpu_collectives="gloo",
                         auto_shard_dataset=True):
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
        auto_shard_dataset: bool. True (default): Keras gives each process its
            share of every batch (`rebatch` + `shard`; the pipeline's batch
            size must be static). False: each process' pipeline yields its
            own rows already, e.g. `process_shard(dataset, global_batch_size)`
            of a length-bucketed pipeline, which Keras cannot shard.

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
    coordinator_address, num_processes, process_id = resolve_processes(coordinator_address, num_processes,
                                                                         process_id)
    _check_backend()
    if num_processes > 1:
        import jax

        jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
        keras.distribution.initialize(str(coordinator_address), num_processes, process_id)
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices(),
                                                   auto_shard_dataset=bool(auto_shard_dataset))
    keras.distribution.set_distribution(distribution)
    return distribution


def resolve_processes(coordinator_address=None, num_processes=None, process_id=None):
    """`(coordinator_address, num_processes, process_id)` from the arguments, else Keras' environment variables.

    The checks of `initialize_processes`, without joining anything: a
    command line can check its options before any work.

    Returns:
        `(None, 1, 0)` for one process.

    Raises:
        ValueError: an argument missing, not an integer or out of range.

    Example:
    >>> resolve_processes("localhost:1234", 2, 1)
    ('localhost:1234', 2, 1)
    """
    coordinator_address = _from_environment("coordinator_address", coordinator_address)
    num_processes = _from_environment("num_processes", num_processes)
    process_id = _from_environment("process_id", process_id)
    num_processes = 1 if num_processes is None else _as_int("num_processes", num_processes)
    if num_processes < 1:
        raise ValueError(f"`num_processes` must be at least 1. Received: {num_processes}")
    if num_processes == 1:
        return None, 1, 0
    if not coordinator_address:
        raise ValueError(
            f"`coordinator_address` (host:port of process 0) is needed for num_processes={num_processes}: "
            f"pass it, or set {ENVIRONMENT['coordinator_address']}."
        )
    if process_id is None:
        raise ValueError(
            f"`process_id` is needed for num_processes={num_processes}: pass it, or set {ENVIRONMENT['process_id']}."
        )
    process_id = _as_int("process_id", process_id)
    if not 0 <= process_id < num_processes:
        raise ValueError(
            f"`process_id` must be in [0, {num_processes}) for num_processes={num_processes}. Received: {process_id}"
        )
    return str(coordinator_address), num_processes, process_id


def process_count():
    """How many processes cooperate (1 without `initialize_processes`, and on other backends than JAX).

    Example:
    >>> process_count()
    1
    """
    if keras.backend.backend() != "jax":
        return 1
    import jax

    return jax.process_count()


def process_shard(dataset, global_batch_size, process_id=None, num_processes=None):
    """This process' rows of every full global batch of `dataset`, for `auto_shard_dataset=False`.

    Every process builds the same pipeline (same data, same seed), batched to
    `global_batch_size`; process `i` of `n` keeps rows `[i * b, (i + 1) * b)`
    of each batch, `b = global_batch_size / n`, so all processes take the
    same steps on batches of the same shape. Unlike Keras' own sharding this
    works for batches whose shape varies (length buckets). Batches smaller
    than `global_batch_size` (the last of an epoch, or of a bucket) are
    left out: every process must take the same number of steps.

    Args:
        dataset: a batched `tf.data.Dataset` (any nest of tensors).
        global_batch_size: int, divisible by `num_processes`.
        process_id, num_processes: default: this process' (`process_index()`,
            `process_count()`).

    Returns:
        A `tf.data.Dataset` of `(global_batch_size / num_processes)`-row batches.

    Raises:
        ValueError: `global_batch_size` not a positive multiple of `num_processes`.

    Example:
    >>> import tensorflow as tf
    >>> batches = tf.data.Dataset.range(10).batch(4)  # [0..3], [4..7], [8, 9]
    >>> [b.numpy().tolist() for b in process_shard(batches, 4, process_id=1, num_processes=2)]
    [[2, 3], [6, 7]]
    """
    import tensorflow as tf

    num_processes = process_count() if num_processes is None else _as_int("num_processes", num_processes)
    process_id = process_index() if process_id is None else _as_int("process_id", process_id)
    global_batch_size = _as_int("global_batch_size", global_batch_size)
    if global_batch_size < 1 or global_batch_size % num_processes:
        raise ValueError(
            f"The global batch size must be a positive multiple of the number of processes ({num_processes}), "
            f"so that each process gets as many rows. Received: global_batch_size={global_batch_size}"
        )
    if not 0 <= process_id < num_processes:
        raise ValueError(f"`process_id` must be in [0, {num_processes}). Received: {process_id}")
    rows = global_batch_size // num_processes
    start = process_id * rows

    def full(*batch):
        return tf.equal(tf.shape(tf.nest.flatten(batch)[0])[0], global_batch_size)

    def mine(*batch):
        batch = tf.nest.map_structure(lambda t: t[start:start + rows], batch)
        return batch if len(batch) > 1 else batch[0]

    return dataset.filter(full).map(mine)


def local_copy(model):
    """A copy of `model` outside any distribution, with its weights, compiled alike; the distribution is unset.

    After `fit` under several processes every weight is an array spread over
    all processes' devices: computing with it is a collective. The copy's
    weights live in this process alone, so one process can evaluate, save
    and export it while the others have finished. The copy has a new
    optimizer: the training state stays in the backups.

    Args:
        model: a built `keras.Model` (`get_config` / `from_config`).

    Returns:
        The new `keras.Model`.

    Example:
    >>> model.fit(global_batches)  # doctest: +SKIP
    >>> model = local_copy(model)  # doctest: +SKIP
    >>> end_processes()  # doctest: +SKIP
    """
    weights = model.get_weights()  # replicated: every process holds all of each
    compile_config = model.get_compile_config() if getattr(model, "compiled", False) else None
    keras.distribution.set_distribution(None)
    copy = type(model).from_config(model.get_config())
    if not copy.built:
        copy.build_from_config(model.get_build_config())
    copy.set_weights(weights)
    if compile_config is not None:
        copy.compile_from_config(compile_config)
    return copy


def end_processes():
    """Leaves the group of processes (`jax.distributed.shutdown`; a barrier: call it in every process).

    Afterwards each process computes alone (e.g. on a `local_copy` of the
    model) and may exit at any time: without it, a process that exits waits
    for all the others at the end, and fails after five minutes.

    Example:
    >>> end_processes()  # nothing to leave in one process
    """
    if process_count() > 1:
        import jax

        jax.distributed.shutdown()


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



def check_same_backup(backup_dir):
    """Raises the same ValueError in every process unless all of them hold the same backup, or none.

    Each process of a resumed run restores its own backup (Keras'
    `BackupAndRestore`), and restoring is a collective: a process without a
    backup, or with one from another step (killed between two processes'
    writes), would wait for the others forever, or train a replica that
    differs from theirs. Call it in every process before `fit`; with one
    process it does nothing.

    Args:
        backup_dir: str or os.PathLike: this process' `BackupAndRestore` folder.

    Raises:
        ValueError: the processes' backups differ, naming each one's.

    Example:
    >>> check_same_backup("runs/x/backup")  # one process: nothing to compare
    """
    if process_count() < 2:
        return
    import json

    from jax.experimental import multihost_utils

    path = os.path.join(os.fspath(backup_dir), "training_metadata.json")
    mine = [-1, -1]
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            metadata = json.load(f)
        mine = [int(metadata.get("epoch", 0)), int(metadata.get("batch", 0))]
    every = np.asarray(multihost_utils.process_allgather(np.asarray(mine, "int64"))).reshape(-1, 2)
    if (every != every[0]).any():
        described = "; ".join(f"process {i}: " + ("none" if epoch < 0 else f"epoch {epoch + 1}, step {batch}")
                              for i, (epoch, batch) in enumerate(every.tolist()))
        raise ValueError(
            f"The processes hold different backups ({described}), so they cannot resume together. Restore the "
            "backups of one step, or start over with --overwrite (every process)."
        )
