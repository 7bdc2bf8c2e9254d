"""`fit`: `model.fit` with kerasformers' default callbacks and best-weights restore."""

import contextlib
import os
import shlex

import keras

from kerasformers.checks import check_positive_int
from kerasformers.training import callbacks as callbacks_lib


def fit(
    model,
    train_data,
    validation_data=None,
    epochs=1,
    *,
    run_dir,
    restore_best=True,
    callbacks=None,
    monitor=None,
    mode="auto",
    checkpoint_every_steps=None,
    tensorboard=True,
    **fit_kwargs,
):
    """Trains a compiled model with logs, best weights, backups and a NaN stop.

    Runs `model.fit` with `default_callbacks(run_dir, ...)` followed by
    `callbacks`. Re-running the same call after an interruption (a crash, a
    killed job) resumes from the last backup in `run_dir/backup`. After
    training, if `restore_best` and best weights were saved by this run, they
    are loaded back into `model`, so the model ends at its best epoch rather
    than its last. Finally prints the `tensorboard --logdir ...` command.

    Args:
        model: a compiled, built `keras.Model`.
        train_data: a `tf.data.Dataset`, `keras.utils.PyDataset` or generator
            yielding `(x, y)` batches, or a tuple `(x, y)` / `(x, y,
            sample_weight)` of arrays (give `batch_size=` then).
        validation_data: passed to `model.fit`. Defaults to None.
        epochs: int. Total number of epochs (a resumed run continues up to it).
        run_dir: str or os.PathLike, keyword-only and required. Directory of the
            run: `logs/` (TensorBoard), `checkpoints/best.weights.h5`,
            `backup/` (deleted when training ends normally).
        restore_best: bool. Load the best weights into `model` after training.
            Defaults to True.
        callbacks: list of extra callbacks, run after the default ones.
        monitor: str or None. Quantity that picks the best epoch. Defaults to
            `"val_loss"` with validation data and `"loss"` without.
        mode: `"auto"`, `"min"` or `"max"` for `monitor`. Defaults to `"auto"`.
        checkpoint_every_steps: int or None. Back up every this many steps
            instead of every epoch.
        tensorboard: bool. Write TensorBoard logs. Defaults to True.
        **fit_kwargs: other `model.fit` arguments (`batch_size`, `verbose`,
            `steps_per_epoch`, ...).

    Returns:
        The `keras.callbacks.History` of this call (a resumed run's history
        holds only the epochs it ran).

    Example:
    >>> model.compile(optimizer=paper_optimizer(512), loss=MaskedSparseCategoricalCrossentropy(label_smoothing=0.1))
    >>> history = fit(model, train_ds, validation_data=val_ds, epochs=10, run_dir="runs/wmt-base")
    """
    run_dir = callbacks_lib.check_run_dir(run_dir)
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={model!r}")
    if getattr(model, "optimizer", None) is None:
        raise ValueError(
            f"`fit` needs a compiled model; call `model.compile(...)` first. Received: model={model.name!r}"
        )
    epochs = check_positive_int("epochs", epochs)
    if monitor is None:
        monitor = "val_loss" if validation_data is not None else "loss"
    defaults = callbacks_lib.default_callbacks(
        run_dir,
        monitor=monitor,
        mode=mode,
        save_best=True,
        backup=True,
        tensorboard=tensorboard,
        checkpoint_every_steps=checkpoint_every_steps,
    )
    if isinstance(train_data, tuple) and "y" not in fit_kwargs:
        if len(train_data) not in (2, 3):
            raise ValueError(
                "A tuple `train_data` must be `(x, y)` or `(x, y, sample_weight)`. "
                f"Received: a tuple of length {len(train_data)}"
            )
        x, y, *rest = train_data
        fit_kwargs = {**fit_kwargs, "y": y}
        if rest:
            fit_kwargs["sample_weight"] = rest[0]
    else:
        x = train_data
        if hasattr(train_data, "element_spec"):  # tf.data: Keras ignores (and warns about) shuffle=True
            fit_kwargs.setdefault("shuffle", False)
    build_optimizer(model)
    history = model.fit(
        x,
        validation_data=validation_data,
        epochs=epochs,
        callbacks=defaults + list(callbacks or []),
        **fit_kwargs,
    )
    checkpoint = next(c for c in defaults if isinstance(c, callbacks_lib.BestWeightsCheckpoint))
    if restore_best and checkpoint.has_best and os.path.exists(checkpoint.filepath):
        model.load_weights(checkpoint.filepath)
        print(
            f"Restored the best weights (epoch {checkpoint.best_epoch + 1}, "
            f"{monitor}={checkpoint.best:.6g}) from {checkpoint.filepath}"
        )
    if tensorboard:
        log_dir = os.path.join(run_dir, callbacks_lib.LOG_DIR)
        print(f"TensorBoard: tensorboard --logdir {shlex.quote(log_dir)}")
    return history


def build_optimizer(model):
    """Creates the optimizer's variables of a built, compiled `model` now, if `model.fit` would create them later.

    On the TensorFlow backend without a distribution strategy, Keras creates the
    optimizer's variables while it traces the first training step, and a
    `tf.function` that creates variables is traced a second time. Building the
    optimizer first saves that second trace: about 5 s of a translation demo's
    start on a 2-core CPU (`docs/benchmarks.md`). `model.fit` builds the same
    variables (`optimizer.build(model.trainable_variables)`) when this did not.
    Does nothing for an unbuilt model or an optimizer already built.

    Args:
        model: a compiled `keras.Model`.

    Returns:
        bool: whether the optimizer was built by this call.

    Example:
    >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> build_optimizer(model)
    True
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or optimizer.built or not model.built or not model.trainable_variables:
        return False
    strategy = getattr(model, "distribute_strategy", None) if keras.backend.backend() == "tensorflow" else None
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        optimizer.build(model.trainable_variables)
    return True
