"""What every task run shares: run folders, seeds, the optimizer recipe, fitting, samples, results."""

import dataclasses
import datetime
import json
import math
import pathlib
import shlex
import shutil
import time
import warnings

import keras
import numpy as np

from kerasformers import training
from kerasformers.tasks import plots
from kerasformers.text import MalformedLinesWarning

TASK_FILE = "task.json"
MODEL_FILE = "model.keras"
TOKENIZER_DIR = "tokenizers"
LOG_DIR = "logs"
# Files and folders a run writes: `overwrite=True` removes these and nothing else.
RUN_ARTIFACTS = (TASK_FILE, MODEL_FILE, TOKENIZER_DIR, LOG_DIR, "checkpoints", "backup", "metrics.json")


@dataclasses.dataclass
class TaskResult:
    """What a task run produced.

    Attributes:
        task: str, e.g. `"translation"`.
        run_dir: `pathlib.Path` of the run folder.
        metrics: dict of final metrics (floats, and lists for matrices).
        plots: dict `{name: pathlib.Path}` of the PNG files.
        model_path: `pathlib.Path` of the saved `.keras` model.
        export_path: `pathlib.Path` of the SavedModel version folder, or None.
        samples: list of str, generated examples (translations, texts, predictions).
        log_dir: `pathlib.Path` to point TensorBoard at (default `run_dir/logs`).
    """

    task: str
    run_dir: pathlib.Path
    metrics: dict
    plots: dict
    model_path: pathlib.Path
    export_path: pathlib.Path = None
    samples: list = dataclasses.field(default_factory=list)
    log_dir: pathlib.Path = None

    def __post_init__(self):
        if self.log_dir is None:
            self.log_dir = pathlib.Path(self.run_dir) / LOG_DIR

    @property
    def tensorboard_command(self):
        return f"tensorboard --logdir {shlex.quote(str(self.log_dir))}"


def prepare_run_dir(output, task, overwrite=False):
    """Checks (and with `overwrite` clears) the run folder; default `runs/<task>-<YYYYmmdd-HHMMSS>`.

    Called before any work; the folder itself is created once the data has
    been read (`run_dir.mkdir(...)` in each task), so that a missing file
    leaves no empty run folder behind. A folder holding an interrupted run (`backup/`) is resumed. A folder
    holding a finished run is an error unless `overwrite`, which deletes the
    run's own files (never anything else in the folder).

    Raises:
        FileExistsError: `output` holds a finished run and `overwrite` is False.
    """
    if output is None:
        output = pathlib.Path("runs") / f"{task}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
    run_dir = pathlib.Path(output)
    if run_dir.exists() and not run_dir.is_dir():
        raise FileExistsError(f"--output {run_dir} exists and is not a folder.")
    if (run_dir / TASK_FILE).exists():
        if not overwrite:
            raise FileExistsError(
                f"--output {run_dir} already holds a finished run: pass --overwrite to replace it, "
                "or choose another --output."
            )
        for name in RUN_ARTIFACTS:
            path = run_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        for png in run_dir.glob("*.png"):
            png.unlink()
    elif (run_dir / "backup").is_dir():
        print(f"Resuming the interrupted run in {run_dir} (delete {run_dir / 'backup'} to start over).")
    return run_dir


def check_preset(model_class, preset):
    """Raises a ValueError listing the known presets when `preset` is not one of them (before any work)."""
    if preset not in model_class.presets:
        raise ValueError(
            f"Unknown preset {preset!r} for {model_class.__name__}. Known presets: "
            f"{', '.join(sorted(model_class.presets))}"
        )


def check_export_target(export_dir, export_version, overwrite):
    """Fails before training (not after) when the requested export version already exists."""
    if export_dir is None or export_version is None:
        return
    target = pathlib.Path(export_dir) / str(export_version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"The export folder {target} already exists: pass --overwrite, another --export-version, "
            "or no --export-version (the next free version is used)."
        )


def model_overrides(**overrides):
    """Keyword overrides of a preset, without the ones left at None."""
    return {k: v for k, v in overrides.items() if v is not None}


def set_seed(seed):
    keras.utils.set_random_seed(int(seed))


def schedule_parameters(model_dim, total_steps, learning_rate, warmup_steps=None):
    """`(warmup_steps, scale)` of the paper's schedule so that it peaks at `learning_rate`.

    Warm-up defaults to a tenth of the run (at most the paper's 4,000 steps);
    the schedule peaks at `scale * (model_dim * warmup_steps)**-0.5`.
    """
    if warmup_steps is None:
        warmup_steps = max(1, min(4000, total_steps // 10))
    return warmup_steps, learning_rate * math.sqrt(model_dim * warmup_steps)


def optimizer(model_dim, total_steps, learning_rate, warmup_steps=None):
    """The paper's Adam + warm-up / inverse-square-root schedule, peaking at `learning_rate`."""
    warmup_steps, scale = schedule_parameters(model_dim, total_steps, learning_rate, warmup_steps)
    return training.paper_optimizer(model_dim, warmup_steps=warmup_steps, scale=scale)


def read_reporting(reader, *args, **kwargs):
    """Calls a `kerasformers.text` reader and prints its report (malformed lines with their numbers)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MalformedLinesWarning)
        data = reader(*args, **kwargs)
    for warning in caught:
        if not issubclass(warning.category, MalformedLinesWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    report = getattr(data, "report", None)
    if report is not None:
        prefix = "Warning: skipped malformed lines in " if report.malformed else "Read "
        print(prefix + report.summary())
    return data


def repeat_for_steps(dataset, steps_per_epoch):
    """`steps_per_epoch` caps an epoch; the data repeats so that every epoch gets its steps."""
    return dataset.repeat() if steps_per_epoch else dataset


def resolve_precision(precision):
    """The dtype policy of a run (`kerasformers.training.precision.resolve_precision`), printed with the reason."""
    policy, reason = training.precision.resolve_precision(precision)
    print(f"Precision: {policy}" + ("" if reason == "requested" else f" ({reason})"))
    return policy


def compile_recipe(model, train_data, *, epochs, steps_per_epoch, learning_rate, label_smoothing=0.0,
                   perplexity=False, model_dim=None):
    """Compiles a task model with the task recipe: the paper's Adam and schedule, masked loss and metric.

    The schedule peaks at `learning_rate` and is sized for `epochs` epochs of
    `train_data` (or `steps_per_epoch` batches each); the metric is masked
    accuracy, or perplexity for language models. `model_dim` (default
    `model.model_dim`) sets the schedule's d_model, for models without one.
    """
    total_steps = epochs * steps_of(train_data, steps_per_epoch)
    model.compile(
        optimizer=optimizer(model_dim or model.model_dim, total_steps, learning_rate),
        loss=training.MaskedSparseCategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[training.Perplexity() if perplexity else training.MaskedAccuracy(name="accuracy")],
    )
    return model


def steps_of(dataset, steps_per_epoch):
    if steps_per_epoch:
        return steps_per_epoch
    count = int(dataset.cardinality())
    return max(1, count) if count > 0 else 1


class TextSamples(keras.callbacks.Callback):
    """At the end of every epoch: generate samples, print them and log them to TensorBoard as text.

    Args:
        log_dir: folder of the TensorBoard run (`logs/samples`).
        make_samples: zero-argument callable returning a list of str.
        tag: TensorBoard tag. Defaults to `"samples"`.
    """

    def __init__(self, log_dir, make_samples, tag="samples"):
        super().__init__()
        self.log_dir = str(log_dir)
        self.make_samples = make_samples
        self.tag = tag
        self.samples = []

    def on_epoch_end(self, epoch, logs=None):
        self.samples = list(self.make_samples())
        write_text_summary(self.log_dir, self.tag, self.samples, epoch)
        print(f"\nSamples after epoch {epoch + 1}:")
        for sample in self.samples:
            print("  " + sample.replace("\n", "\n  "))


def write_text_summary(log_dir, tag, samples, step):
    """Logs `samples` (list of str) as one TensorBoard text summary (Markdown, one block per sample)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    body = "\n\n".join("    " + s.replace("\n", "\n    ") for s in samples)
    with writer.as_default():
        tf.summary.text(tag, tf.constant(body), step=step)
    writer.flush()
    writer.close()


def write_scalar_summaries(log_dir, metrics, step):
    """Logs final numeric metrics as TensorBoard scalars (tag `final/<name>`)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        for name, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                tf.summary.scalar(f"final/{name}", value, step=step)
    writer.flush()
    writer.close()


def fit(model, train_data, validation_data, *, epochs, run_dir, steps_per_epoch=None, callbacks=None, verbose=1):
    """`kerasformers.training.fit` with Keras' progress bar; returns the history dict."""
    history = training.fit(
        model,
        repeat_for_steps(train_data, steps_per_epoch),
        validation_data=validation_data,
        epochs=epochs,
        run_dir=run_dir,
        steps_per_epoch=steps_per_epoch,
        callbacks=callbacks,
        verbose=verbose,
    )
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def training_curves(history, run_dir, title, make_plots):
    if not make_plots or not history:
        return {}
    return {"training_curves": plots.training_curves(history, pathlib.Path(run_dir) / "training_curves.png", title)}


def to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def write_json(path, data):
    pathlib.Path(path).write_text(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def finish(result, elapsed):
    """Prints the closing summary of a run (metrics, files, the TensorBoard command)."""
    print(f"\n=== {result.task}: done in {elapsed:.0f} s ===")
    for name, value in result.metrics.items():
        if isinstance(value, float):
            print(f"  {name}: {value:.4f}")
        elif isinstance(value, int):
            print(f"  {name}: {value}")
    print(f"  run folder: {result.run_dir}")
    if result.model_path is not None:
        print(f"  model: {result.model_path}")
    for name, path in result.plots.items():
        print(f"  plot ({name}): {path}")
    if result.export_path is not None:
        print(f"  SavedModel: {result.export_path}")
    print(f"  TensorBoard: {result.tensorboard_command}")
    return result


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    @property
    def elapsed(self):
        return time.perf_counter() - self.start

