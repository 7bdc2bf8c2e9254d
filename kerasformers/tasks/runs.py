"""Run folders written by the task `train` functions: saving, loading, re-exporting.

A run folder holds `model.keras`, `tokenizers/<role>/` (`kerasformers.text.save_tokenizer`
layout), `task.json` (the task, its settings and final metrics), `logs/`
(TensorBoard), `checkpoints/` and the plots. `load_run` reads it back for the
CLI's `translate` / `generate` / `classify` / `export` commands.
"""

import dataclasses
import json
import pathlib

import keras

import kerasformers  # noqa: F401  (registers the model classes for load_model)
from kerasformers import text
from kerasformers.tasks import _common

# Default export folders under saved_models/, per task.
EXPORT_NAMES = {"translation": "translator", "classification": "classifier", "language_model": "language_model"}


@dataclasses.dataclass
class Run:
    """A loaded run folder.

    Attributes:
        path: `pathlib.Path` of the folder.
        task: str (`"translation"`, `"classification"`, `"language_model"`, `"vision"`).
        model: the Keras model.
        tokenizers: dict `{role: tokenizer}` (`"source"`/`"target"`, or `"text"`).
        info: the contents of `task.json`.
    """

    path: pathlib.Path
    task: str
    model: object
    tokenizers: dict
    info: dict


def save_run(run_dir, task, model, tokenizers, **info):
    """Writes `model.keras`, the tokenizers and `task.json` into `run_dir`; returns the model path."""
    run_dir = pathlib.Path(run_dir)
    model_path = run_dir / _common.MODEL_FILE
    model.save(model_path)
    for role, tokenizer in tokenizers.items():
        text.save_tokenizer(tokenizer, run_dir / _common.TOKENIZER_DIR / role)
    _common.write_json(
        run_dir / _common.TASK_FILE,
        {"task": task, "model": _common.MODEL_FILE, "tokenizers": sorted(tokenizers),
         "kerasformers_version": kerasformers.__version__, **info},
    )
    return model_path


def is_run_dir(path):
    return (pathlib.Path(path) / _common.TASK_FILE).is_file()


def is_serving_dir(path):
    """True for a SavedModel folder or a TF Serving model folder (`<path>/<version>/saved_model.pb`)."""
    path = pathlib.Path(path)
    if (path / "saved_model.pb").is_file():
        return True
    return path.is_dir() and any(
        p.name.isdigit() and (p / "saved_model.pb").is_file() for p in path.iterdir()
    )


def read_info(run_dir):
    path = pathlib.Path(run_dir) / _common.TASK_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a training run folder: {path} is missing (folders written by "
            "`kerasformers train ...` hold it)."
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_run(run_dir, expected_task=None):
    """Loads the model and tokenizers of a run folder.

    Raises:
        FileNotFoundError: not a run folder, or a file of it is missing.
        ValueError: the run is of another task than `expected_task`.
    """
    run_dir = pathlib.Path(run_dir)
    info = read_info(run_dir)
    task = info["task"]
    if expected_task is not None and task != expected_task:
        raise ValueError(f"{run_dir} holds a {task} run, not a {expected_task} run.")
    model_path = run_dir / info.get("model", _common.MODEL_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path} is missing: the run in {run_dir} did not finish.")
    model = keras.models.load_model(model_path, compile=False)
    tokenizers = {
        role: text.load_tokenizer(run_dir / _common.TOKENIZER_DIR / role) for role in info.get("tokenizers", [])
    }
    return Run(run_dir, task, model, tokenizers, info)


def default_export_dir(task):
    return pathlib.Path("saved_models") / EXPORT_NAMES.get(task, task)


def export(task, model, tokenizers, export_dir=None, *, class_names=None, version=None, overwrite=False,
           max_new_tokens=64):
    """Exports a trained model for TF Serving with `kerasformers.export.export_for_serving`.

    Args:
        task: `"translation"`, `"classification"` or `"language_model"`.
        model: the trained model.
        tokenizers: `{"source", "target"}` (translation) or `{"text"}`.
        export_dir: the TF Serving model folder. Defaults to
            `saved_models/<translator|classifier|language_model>`.
        class_names, version, overwrite, max_new_tokens: as in `export_for_serving`.

    Returns:
        `pathlib.Path` of the version folder.

    Raises:
        FileExistsError: `version` exists and `overwrite` is False.
    """
    export_dir = pathlib.Path(export_dir) if export_dir is not None else default_export_dir(task)
    from kerasformers.export import export_for_serving  # lazy: TensorFlow-only, heavier

    if task == "translation":
        kwargs = dict(source_tokenizer=tokenizers["source"], target_tokenizer=tokenizers["target"])
    elif task == "classification":
        kwargs = dict(tokenizer=tokenizers["text"], class_names=class_names)
    elif task == "language_model":
        kwargs = dict(tokenizer=tokenizers["text"], max_new_tokens=max_new_tokens)
    else:
        raise ValueError(f"A {task} model cannot be exported for TF Serving (text tasks only).")
    print(f"Exporting the SavedModel to {export_dir}/ ...")
    return pathlib.Path(export_for_serving(model, export_dir, version=version, overwrite=overwrite, **kwargs))


def export_run(run_dir, export_dir=None, *, version=None, overwrite=False, max_new_tokens=None):
    """Re-exports the model of a run folder to a new SavedModel version; returns its path."""
    run = load_run(run_dir)
    max_new_tokens = max_new_tokens or run.info.get("export_max_new_tokens", 64)
    return export(
        run.task, run.model, run.tokenizers, export_dir or run.info.get("export_dir"),
        class_names=run.info.get("class_names"), version=version, overwrite=overwrite,
        max_new_tokens=max_new_tokens,
    )


def save_info(run_dir, **info):
    """Adds entries to a run's `task.json`."""
    path = pathlib.Path(run_dir) / _common.TASK_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(info)
    _common.write_json(path, data)
