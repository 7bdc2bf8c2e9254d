"""Run folders: preparing, saving, loading and re-exporting them.

A run folder holds `model.keras`, `tokenizers/<role>/` (`kerasformers.text.save_tokenizer`
layout), `task.json` (the task's name, its settings and final metrics), `logs/`
(TensorBoard), `checkpoints/` and the plots. `load_run` reads it back for the
CLI's `translate` / `generate` / `classify` / `export` commands; the task it
belongs to comes from the registry (`kerasformers.tasks.registry`).
"""

import dataclasses
import datetime
import json
import pathlib
import shutil

import keras
import numpy as np

import kerasformers
from kerasformers import text
from kerasformers.tasks.registry import get_task

TASK_FILE = "task.json"
MODEL_FILE = "model.keras"
TOKENIZER_DIR = "tokenizers"
LOG_DIR = "logs"
OPTIONS_FILE = "options.json"
PROCESS_DIR = "processes"  # `processes/<id>/`: the backups of process id > 0 under --num-processes
# Files and folders a run writes: `overwrite=True` removes these and nothing else.
RUN_ARTIFACTS = (TASK_FILE, MODEL_FILE, TOKENIZER_DIR, LOG_DIR, "checkpoints", "backup", "metrics.json", OPTIONS_FILE)
SERVING_ROOT = pathlib.Path("saved_models")


@dataclasses.dataclass
class Run:
    """A loaded run folder.

    Attributes:
        path: `pathlib.Path` of the folder.
        task: the registered `Task` it belongs to.
        model: the Keras model.
        tokenizers: dict `{role: tokenizer}` (`"source"`/`"target"`, or `"text"`).
        info: the contents of `task.json`.
    """

    path: pathlib.Path
    task: object
    model: object
    tokenizers: dict
    info: dict
    served = False  # a Keras model, not a SavedModel


@dataclasses.dataclass
class Served:
    """A SavedModel export (a TF Serving model folder or one version of it), opened for its signatures."""

    path: pathlib.Path
    served = True

    def signature(self, name="serving_default"):
        """Signature `name`, called as TF Serving calls it (left-out inputs take their defaults); a ValueError
        listing the signatures when it is missing."""
        from kerasformers.export import load_signature

        return load_signature(self.path, name)


# ------------------------------------------------------------------------------ before a run
def prepare_run_dir(output, task_name, overwrite=False):
    """Checks (and with `overwrite` clears) the run folder; default `runs/<task>-<YYYYmmdd-HHMMSS>`.

    Called before any work; `run()` creates the folder once the data has been
    read, so that a missing file leaves no empty run folder behind. A folder
    holding an interrupted run (`backup/`) is resumed. A folder holding a
    finished run is an error unless `overwrite`, which deletes the run's own
    files (never anything else in the folder).

    Raises:
        FileExistsError: `output` holds a finished run and `overwrite` is False.
    """
    if output is None:
        output = pathlib.Path("runs") / f"{task_name}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
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


def is_interrupted(run_dir):
    """True when `run_dir` holds an interrupted run: a backup and no finished run."""
    run_dir = pathlib.Path(run_dir)
    return (run_dir / "backup").is_dir() and not (run_dir / TASK_FILE).exists()


# Options that change nothing in the training itself: a resumed run may change them.
RESUMABLE_CHANGES = ("output", "overwrite", "verbose", "plots", "export", "export_dir", "export_version",
                     "coordinator_address")


def remove_process_dir(run_dir):
    """Deletes the folder of a process other than the chief once its run ended well (it holds copies only)."""
    run_dir = pathlib.Path(run_dir)
    if run_dir.parent.name != PROCESS_DIR:
        raise ValueError(f"{run_dir} is not a process folder ({PROCESS_DIR}/<id>/ of a run).")
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        run_dir.parent.rmdir()  # the last process out removes processes/
    except OSError:
        pass


def save_options(run_dir, options):
    """Writes the run's options to `options.json` (what a resumed run is checked against)."""
    write_json(pathlib.Path(run_dir) / OPTIONS_FILE, vars(options))


def check_resumed_options(run_dir, options):
    """Raises a ValueError naming every option that differs from the interrupted run's.

    Raises:
        ValueError: an option that shapes training (data, model, recipe, seed, ...) changed.
    """
    path = pathlib.Path(run_dir) / OPTIONS_FILE
    if not path.is_file():
        return
    before = json.loads(path.read_text(encoding="utf-8"))
    now = to_jsonable(vars(options))
    changed = [f"--{k.replace('_', '-')} {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(before) | set(now))
               if k not in RESUMABLE_CHANGES and before.get(k) != now.get(k)]
    if changed:
        raise ValueError(
            f"{run_dir} holds an interrupted run with other options ({'; '.join(changed)}): resume it with the "
            f"same options, pass --overwrite to start over, or choose another --output."
        )


def save_tokenizers(run_dir, tokenizers):
    """Writes `tokenizers/<role>/` for each tokenizer and `tokenizers/roles.json` (a task without any: an empty list)."""
    folder = pathlib.Path(run_dir) / TOKENIZER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for role, tokenizer in tokenizers.items():
        text.save_tokenizer(tokenizer, folder / role)
    write_json(folder / "roles.json", sorted(tokenizers))


def resume_tokenizers(run_dir):
    """The tokenizers an interrupted run saved before training, or None (then they are trained again)."""
    roles = pathlib.Path(run_dir) / TOKENIZER_DIR / "roles.json"
    if not roles.is_file():
        return None
    tokenizers = {role: text.load_tokenizer(pathlib.Path(run_dir) / TOKENIZER_DIR / role)
                  for role in json.loads(roles.read_text(encoding="utf-8"))}
    print(f"Resuming with the tokenizers saved in {pathlib.Path(run_dir) / TOKENIZER_DIR}")
    return tokenizers


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


def default_export_dir(task_name):
    """`saved_models/<task name>`: the TF Serving model folder of a task."""
    return SERVING_ROOT / task_name


# ------------------------------------------------------------------------------ saving
def to_jsonable(value):
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    return value


def write_json(path, data):
    pathlib.Path(path).write_text(json.dumps(to_jsonable(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def save_run(run_dir, task_name, model, tokenizers, **info):
    """Writes `model.keras`, the tokenizers and `task.json` into `run_dir`; returns the model path."""
    run_dir = pathlib.Path(run_dir)
    model_path = run_dir / MODEL_FILE
    model.save(model_path)
    save_tokenizers(run_dir, tokenizers)
    write_json(run_dir / TASK_FILE, {"task": task_name, "model": MODEL_FILE, "tokenizers": sorted(tokenizers),
                                     "kerasformers_version": kerasformers.__version__, **info})
    return model_path


def save_info(run_dir, **info):
    """Adds entries to a run's `task.json`."""
    path = pathlib.Path(run_dir) / TASK_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(info)
    write_json(path, data)


# ------------------------------------------------------------------------------ loading
def is_run_dir(path):
    return (pathlib.Path(path) / TASK_FILE).is_file()


def is_serving_dir(path):
    """True for a SavedModel folder or a TF Serving model folder (`<path>/<version>/saved_model.pb`)."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return True
    return path.is_dir() and any(p.name.isdigit() and (p / "saved_model.pb").is_file() for p in path.iterdir())


def read_info(run_dir):
    path = pathlib.Path(run_dir) / TASK_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a training run folder: {path} is missing (folders written by "
            "`kerasformers train ...` hold it)."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_run(run_dir, expected_task=None):
    """Loads the model and tokenizers of a run folder.

    Args:
        run_dir: the folder.
        expected_task: a task name, or None for any task.

    Raises:
        FileNotFoundError: not a run folder, or a file of it is missing.
        ValueError: the run is of another task than `expected_task`, or of an unknown task.
    """
    run_dir = pathlib.Path(run_dir)
    info = read_info(run_dir)
    task = get_task(info["task"])  # also accepts the names older versions wrote
    if expected_task is not None and task is not get_task(expected_task):
        raise ValueError(f"{run_dir} holds a {task.name} run, not a {get_task(expected_task).name} run.")
    model_path = run_dir / info.get("model", MODEL_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} is missing: the run in {run_dir} did not finish.")
    model = keras.models.load_model(model_path, compile=False)
    tokenizers = {role: text.load_tokenizer(run_dir / TOKENIZER_DIR / role) for role in info.get("tokenizers", [])}
    return Run(run_dir, task, model, tokenizers, info)


def open_model_folder(directory, task_name):
    """A `Served` export or a loaded `Run` of task `task_name`, from a folder the user named.

    Raises:
        FileNotFoundError: no such folder, or neither kind of folder.
        ValueError: a run folder of another task.
    """
    path = pathlib.Path(directory)
    if not path.exists():
        raise FileNotFoundError(f"No such folder: '{directory}'")
    if is_serving_dir(path):
        return Served(path)
    if is_run_dir(path):
        return load_run(path, expected_task=task_name)
    raise FileNotFoundError(
        f"'{directory}' is neither a SavedModel export (saved_models/<name>/<version>/saved_model.pb) nor a run "
        "folder written by `kerasformers train` (with task.json)."
    )


# ------------------------------------------------------------------------------ exporting
def export(task, model, tokenizers, export_dir=None, info=None, *, version=None, overwrite=False, jit_compile=False,
           quantize=None):
    """Exports a trained model for TF Serving with the task's endpoints (`kerasformers.export`).

    Args:
        task: a task name or `Task` (its `endpoints` hook gives the signatures).
        model: the trained model.
        tokenizers: `{role: tokenizer}` as the run saved them.
        export_dir: the TF Serving model folder. Defaults to `saved_models/<task name>`.
        info: the run's `task.json` entries (class names, max_new_tokens, ...).
        version, overwrite, jit_compile, quantize: as in
            `kerasformers.export.export_for_serving` (`quantize="int8"`
            quantizes `model` in place).

    Returns:
        `pathlib.Path` of the version folder.

    Raises:
        FileExistsError: `version` exists and `overwrite` is False.
        ValueError: the task does not export.
    """
    from kerasformers.export import export_for_serving  # TensorFlow-only, heavier

    task = get_task(task)
    if not task.exports:
        raise ValueError(f"A {task.name} model cannot be exported for TF Serving (text tasks only).")
    export_dir = pathlib.Path(export_dir) if export_dir is not None else default_export_dir(task.name)
    endpoints = task.endpoints(model, tokenizers, info or {})
    settings = "".join([" with XLA-compiled decoding" if jit_compile else "", f", {quantize} weights" if quantize else ""])
    print(f"Exporting the SavedModel to {export_dir}/{settings} ...")
    return pathlib.Path(export_for_serving(model, export_dir, endpoints, version=version, overwrite=overwrite,
                                           jit_compile=jit_compile, quantize=quantize))


def export_in_tensorflow(run_dir, export_dir=None, *, version=None, overwrite=False):
    """`export_run` in a new Python process on the TensorFlow backend; the version folder's path.

    A SavedModel is written by TensorFlow: a run trained on another backend
    (JAX) is exported by `kerasformers export RUN_DIR` with
    `KERAS_BACKEND=tensorflow`, from the `model.keras` the run saved.

    Raises:
        RuntimeError: the export failed (its output is in the message).
    """
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "kerasformers", "export", str(run_dir)]
    if export_dir is not None:
        command += ["--export-dir", str(export_dir)]
    if version is not None:
        command += ["--version", str(version)]
    if overwrite:
        command.append("--overwrite")
    print(f"Exporting with the TensorFlow backend: {' '.join(command[1:])} ...", flush=True)
    done = subprocess.run(command, env={**os.environ, "KERAS_BACKEND": "tensorflow"}, capture_output=True,
                          text=True)
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines or not lines[-1].startswith("Exported "):
        raise RuntimeError(f"The SavedModel export of {run_dir} failed (exit status {done.returncode}):\n"
                           f"{done.stdout}{done.stderr}")
    return pathlib.Path(lines[-1][len("Exported "):])


def export_run(run_dir, export_dir=None, *, version=None, overwrite=False, jit_compile=False, quantize=None, **info):
    """Re-exports the model of a run folder to a new SavedModel version; returns its path.

    `info` overrides entries of the run's `task.json` (e.g. `max_new_tokens=`).
    """
    run = load_run(run_dir)
    info = {**run.info, **{k: v for k, v in info.items() if v is not None}}
    return export(run.task, run.model, run.tokenizers, export_dir or run.info.get("export_dir"), info,
                  version=version, overwrite=overwrite, jit_compile=jit_compile, quantize=quantize)
