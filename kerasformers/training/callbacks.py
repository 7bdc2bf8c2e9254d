"""The callbacks every kerasformers training run uses: logs, best weights, backups, NaN stop."""

import json
import math
import os

import keras

BEST_WEIGHTS = os.path.join("checkpoints", "best.weights.h5")
BEST_RECORD = os.path.join("checkpoints", "best.json")
BACKUP_DIR = "backup"
LOG_DIR = "logs"


def check_run_dir(run_dir):
    """Returns `run_dir` as a string; raises a ValueError naming it if it is empty or not a path."""
    if not isinstance(run_dir, (str, os.PathLike)) or not os.fspath(run_dir):
        raise ValueError(
            "`run_dir` must be a non-empty path (str or os.PathLike), e.g. "
            f"'runs/translation-base'. Received: run_dir={run_dir!r}"
        )
    return os.fspath(run_dir)


class BestWeightsCheckpoint(keras.callbacks.ModelCheckpoint):
    """`ModelCheckpoint(save_best_only=True, save_weights_only=True)` that remembers its best value.

    Next to the weights it writes a small JSON record (`monitor`, `best`,
    `epoch`, `weights`) each time the monitored value improves. An epoch whose
    monitored value is NaN or infinite is never saved (Keras' own checkpoint
    saves the first epoch whatever its value). Keras' own
    `ModelCheckpoint` forgets its best value when a process dies, so a run
    resumed by `BackupAndRestore` would overwrite the best weights with its
    first, possibly worse, epoch; `default_callbacks` reads the record back as
    `initial_value_threshold` when it resumes a run.

    Args:
        filepath: str. Where to write the weights; must end in `.weights.h5`.
        monitor: str. The logged quantity to watch. Defaults to `"val_loss"`.
        mode: `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        initial_value_threshold: float or None. Best value already reached
            (by an earlier, interrupted process of the same run).
        record_path: str or None. Where to write the JSON record. Defaults to
            `filepath` with `.weights.h5` replaced by `.json`.
        verbose: int. 1 prints a line whenever weights are saved. Defaults to 0.

    Attributes:
        best_epoch: 0-based epoch of the best weights, or None.
        has_best: True once best weights exist that belong to this run (saved
            by this callback, or inherited through `initial_value_threshold`).
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        mode="auto",
        initial_value_threshold=None,
        record_path=None,
        verbose=0,
        best_epoch=None,
    ):
        super().__init__(
            filepath,
            monitor=monitor,
            verbose=verbose,
            save_best_only=True,
            save_weights_only=True,
            mode=mode,
            initial_value_threshold=initial_value_threshold,
        )
        self.initial_value_threshold = initial_value_threshold
        if record_path is None:
            record_path = self.filepath[: -len(".weights.h5")] + ".json"
        self.record_path = os.fspath(record_path)
        self.best_epoch = best_epoch
        self.has_best = initial_value_threshold is not None and os.path.exists(self.filepath)

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is not None and not math.isfinite(float(current)):
            return  # Keras would save a NaN first epoch as "best" (its best starts as None)
        before = self.best
        super().on_epoch_end(epoch, logs)
        if self.best is not None and self.best != before:
            self.best_epoch = epoch
            self.has_best = True
            record = {
                "monitor": self.monitor,
                "best": float(self.best),
                "epoch": epoch,
                "weights": os.path.basename(self.filepath),
            }
            with open(self.record_path, "w") as f:
                json.dump(record, f)


def _read_best_record(path, monitor):
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if record.get("monitor") != monitor or not math.isfinite(record.get("best", math.nan)):
        return None
    return record


def default_callbacks(
    run_dir,
    monitor="val_loss",
    mode="auto",
    save_best=True,
    backup=True,
    tensorboard=True,
    checkpoint_every_steps=None,
):
    """The standard callbacks of a run, all writing under `run_dir`.

    In order:
    - `keras.callbacks.TensorBoard(log_dir=run_dir/"logs")` (if `tensorboard`);
    - `BestWeightsCheckpoint(run_dir/"checkpoints/best.weights.h5")`, a
      `ModelCheckpoint(save_best_only=True, save_weights_only=True)` keeping
      the weights of the best epoch by `monitor` (if `save_best`);
    - `keras.callbacks.BackupAndRestore(run_dir/"backup")`, saving every epoch
      or every `checkpoint_every_steps` steps, so that re-running the same
      command after an interruption resumes (if `backup`);
    - `keras.callbacks.TerminateOnNaN()`, always.

    The progress bar is Keras' own (`verbose=1` in `fit`).

    When a backup exists (a run is being resumed) and the best-weights record
    matches `monitor`, the checkpoint starts from the recorded best value, so
    the resumed run only replaces the best weights with better ones.

    On resumption Keras restores the weights, the optimizer state (including
    `iterations`, so the learning-rate schedule continues) and the epoch
    number; an epoch interrupted in the middle restarts from its first batch,
    with the weights of the last step-level backup.

    Args:
        run_dir: str or os.PathLike. Directory of this run (relative paths are
            relative to the working directory).
        monitor: str. Quantity that decides the best epoch. Defaults to
            `"val_loss"`; use `"loss"` without validation data.
        mode: `"auto"`, `"min"` or `"max"`. Defaults to `"auto"`.
        save_best: bool. Include the best-weights checkpoint. Defaults to True.
        backup: bool. Include `BackupAndRestore`. Defaults to True.
        tensorboard: bool. Include `TensorBoard`. Defaults to True.
        checkpoint_every_steps: int or None. Back up every this many steps
            instead of every epoch. Defaults to None (every epoch).

    Returns:
        A list of `keras.callbacks.Callback`.

    Example:
    >>> callbacks = default_callbacks("runs/lm-tiny", checkpoint_every_steps=500)
    >>> model.fit(train_ds, validation_data=val_ds, epochs=10, callbacks=callbacks)
    """
    run_dir = check_run_dir(run_dir)
    if not isinstance(monitor, str) or not monitor:
        raise ValueError(f"`monitor` must be a non-empty string. Received: monitor={monitor!r}")
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"`mode` must be one of 'auto', 'min', 'max'. Received: mode={mode!r}")
    if checkpoint_every_steps is not None and (
        isinstance(checkpoint_every_steps, bool)
        or not isinstance(checkpoint_every_steps, int)
        or checkpoint_every_steps <= 0
    ):
        raise ValueError(
            "`checkpoint_every_steps` must be a positive integer or None. "
            f"Received: checkpoint_every_steps={checkpoint_every_steps!r}"
        )
    backup_dir = os.path.join(run_dir, BACKUP_DIR)
    callbacks = []
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=os.path.join(run_dir, LOG_DIR)))
    if save_best:
        weights_path = os.path.join(run_dir, BEST_WEIGHTS)
        record_path = os.path.join(run_dir, BEST_RECORD)
        record = None
        if backup and os.path.exists(backup_dir) and os.path.exists(weights_path):
            record = _read_best_record(record_path, monitor)
        callbacks.append(
            BestWeightsCheckpoint(
                weights_path,
                monitor=monitor,
                mode=mode,
                initial_value_threshold=record["best"] if record else None,
                best_epoch=record["epoch"] if record else None,
                record_path=record_path,
            )
        )
    if backup:  # after the checkpoint: a backup never runs ahead of the best weights
        callbacks.append(
            keras.callbacks.BackupAndRestore(backup_dir, save_freq=checkpoint_every_steps or "epoch")
        )
    callbacks.append(keras.callbacks.TerminateOnNaN())
    return callbacks
