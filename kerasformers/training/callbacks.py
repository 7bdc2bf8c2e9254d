"""The callbacks every kerasformers training run uses: logs, best weights, backups, NaN stop, text samples."""

import json
import math
import numbers
import os

import keras

from kerasformers.checks import check_positive_int

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
    checkpoint_every_steps = check_positive_int("checkpoint_every_steps", checkpoint_every_steps, allow_none=True)
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
            # double_checkpoint: a process killed while writing a backup resumes from the one before.
            keras.callbacks.BackupAndRestore(backup_dir, save_freq=checkpoint_every_steps or "epoch",
                                             double_checkpoint=True)
        )
    callbacks.append(keras.callbacks.TerminateOnNaN())
    return callbacks


class TextSamples(keras.callbacks.Callback):
    """At the end of every epoch: generate samples, print them and log them to TensorBoard as text.

    Translations of a few test sentences, a continuation of a prompt, the
    predicted class of some reviews: whatever `make_samples` returns is shown
    under the progress bar and written with `write_text_summary`, so that
    TensorBoard's Text tab shows how the samples change epoch by epoch.

    Args:
        log_dir: str or os.PathLike. Folder of the TensorBoard run (e.g.
            `run_dir/logs/samples`).
        make_samples: zero-argument callable returning a list of str.
        tag: str. TensorBoard tag. Defaults to `"samples"`.

    Attributes:
        samples: list of str, the samples of the last epoch (empty before).

    Example:
    >>> samples = TextSamples("runs/lm/logs/samples", lambda: [generate(model, "ROMEO:")])  # doctest: +SKIP
    >>> model.fit(train_ds, epochs=3, callbacks=[samples])  # doctest: +SKIP
    >>> samples.samples  # doctest: +SKIP
    ['ROMEO: ...']
    """

    def __init__(self, log_dir, make_samples, tag="samples"):
        super().__init__()
        if not callable(make_samples):
            raise ValueError(f"`make_samples` must be callable. Received: make_samples={make_samples!r}")
        self.log_dir = check_run_dir(log_dir)
        self.make_samples = make_samples
        self.tag = tag
        self.samples = []

    def on_epoch_end(self, epoch, logs=None):
        self.samples = [str(sample) for sample in self.make_samples()]
        write_text_summary(self.log_dir, self.tag, self.samples, epoch)
        print(f"\nSamples after epoch {epoch + 1}:")
        for sample in self.samples:
            print("  " + sample.replace("\n", "\n  "))


def write_text_summary(log_dir, tag, samples, step):
    """Logs `samples` as one TensorBoard text summary (Markdown: one indented code block per sample).

    Args:
        log_dir: str or os.PathLike. Folder of the TensorBoard run.
        tag: str. The summary's tag.
        samples: list of str.
        step: int. The step (or epoch) of the summary.

    Returns:
        None.

    Example:
    >>> write_text_summary("runs/lm/logs/samples", "samples", ["ROMEO: ..."], step=0)  # doctest: +SKIP
    """
    import tensorflow as tf

    writer = tf.summary.create_file_writer(os.fspath(log_dir))
    body = "\n\n".join("    " + s.replace("\n", "\n    ") for s in samples)
    with writer.as_default():
        tf.summary.text(tag, tf.constant(body), step=step)
    writer.flush()
    writer.close()


def write_scalar_summaries(log_dir, metrics, step):
    """Logs the finite numbers of `metrics` as TensorBoard scalars tagged `final/<name>`.

    Values that are not numbers (lists, matrices, strings), booleans, NaN
    and infinities are skipped.

    Args:
        log_dir: str or os.PathLike. Folder of the TensorBoard run.
        metrics: dict `{name: value}`, e.g. a run's final metrics.
        step: int. The step of the summaries (e.g. the number of epochs).

    Returns:
        list of str: the names that were logged.

    Example:
    >>> write_scalar_summaries("runs/lm/logs/final", {"perplexity": 4.2, "confusion": [[1]]}, 3)  # doctest: +SKIP
    ['perplexity']
    """
    import tensorflow as tf

    logged = []
    writer = tf.summary.create_file_writer(os.fspath(log_dir))
    with writer.as_default():
        for name, value in metrics.items():
            if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
                tf.summary.scalar(f"final/{name}", float(value), step=step)
                logged.append(name)
    writer.flush()
    writer.close()
    return logged
