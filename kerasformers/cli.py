"""The `kerasformers` command: train, use and export the task models.

    kerasformers train translation --demo
    kerasformers train classification --data train.tsv --validation-data dev.tsv
    kerasformers train language-model --epochs 1
    kerasformers train vision --dataset digits
    kerasformers compare lstm-transformer --demo
    kerasformers translate saved_models/translator "¿dónde está la biblioteca?"
    kerasformers generate saved_models/language_model "ROMEO:"
    kerasformers classify saved_models/classifier "a gripping, beautifully acted film"
    kerasformers export runs/translation-20250101-120000

`translate`, `generate` and `classify` take a TF Serving model folder
(`saved_models/<name>`, the latest version is used), one SavedModel version
folder, or a run folder written by `train` (its `.keras` model and
tokenizers). User errors (missing or malformed data, unknown preset, existing
outputs, no network, missing extras) print one line to stderr and exit with
status 2; `--traceback` (or `KERASFORMERS_TRACEBACK=1`) shows the whole trace.
"""

import argparse
import contextlib
import os
import sys

TRAIN_TASKS = {  # command name -> module of kerasformers.tasks
    "translation": "translation",
    "classification": "classification",
    "language-model": "language_modeling",
    "vision": "vision",
}
USER_ERROR_STATUS = 2


def _task_module(name):
    import importlib

    return importlib.import_module(f"kerasformers.tasks.{name}")


def build_parser():
    """The `argparse` parser of the `kerasformers` command (sub-commands with their options)."""
    parser = argparse.ArgumentParser(
        prog="kerasformers",
        description="Train, use and export kerasformers Transformer models.",
        epilog="Run `kerasformers COMMAND --help` for a command's options.",
    )
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = commands.add_parser("train", help="train a task model end to end (data, metrics, plots, export)")
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, module in TRAIN_TASKS.items():
        task_module = _task_module(module)
        sub = tasks.add_parser(name, help=task_module.__doc__.splitlines()[0],
                               description=task_module.__doc__.split("\n\n")[0])
        task_module.add_arguments(sub)
        sub.set_defaults(handler=_train, module=module)

    compare = commands.add_parser("compare", help="measured comparisons")
    comparisons = compare.add_subparsers(dest="comparison", metavar="COMPARISON", required=True)
    comparison = _task_module("comparison")
    sub = comparisons.add_parser("lstm-transformer", help=comparison.__doc__.splitlines()[0],
                                 description=comparison.__doc__.split("\n\n")[0])
    comparison.add_arguments(sub)
    sub.set_defaults(handler=_train, module="comparison")

    translate = commands.add_parser("translate", help="translate sentences with a trained translator")
    translate.add_argument("model", metavar="DIR", help="saved_models/<name>, a SavedModel version, or a run folder")
    translate.add_argument("texts", metavar="TEXT", nargs="+", help="sentences to translate")
    translate.add_argument("--beam", action="store_true", help="beam search (the SavedModel's `beam` signature)")
    translate.set_defaults(handler=_translate)

    generate = commands.add_parser("generate", help="continue prompts with a trained language model")
    generate.add_argument("model", metavar="DIR", help="saved_models/<name>, a SavedModel version, or a run folder")
    generate.add_argument("prompts", metavar="PROMPT", nargs="+", help="texts to continue")
    generate.add_argument("--max-new-tokens", type=int, default=None,
                          help="tokens to generate (run folders; a SavedModel has its own, set at export)")
    generate.add_argument("--sampler", choices=("greedy", "top_p", "top_k"), default="greedy",
                          help="run folders only (default greedy)")
    generate.add_argument("--top-p", type=float, default=None, help="nucleus size for --sampler top_p")
    generate.add_argument("--seed", type=int, default=None, help="seed of top-p / top-k sampling")
    generate.set_defaults(handler=_generate)

    classify = commands.add_parser("classify", help="classify texts with a trained classifier")
    classify.add_argument("model", metavar="DIR", help="saved_models/<name>, a SavedModel version, or a run folder")
    classify.add_argument("texts", metavar="TEXT", nargs="+", help="texts to classify")
    classify.set_defaults(handler=_classify)

    export = commands.add_parser("export", help="export a run folder's model as a new SavedModel version")
    export.add_argument("run", metavar="RUN_DIR", help="a run folder written by `kerasformers train`")
    export.add_argument("--export-dir", metavar="DIR",
                        help="TF Serving model folder (default: the one the run exported to)")
    export.add_argument("--version", type=int, help="version number (default: the next free one)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--max-new-tokens", type=int, help="language models: tokens generated per request")
    export.set_defaults(handler=_export)
    return parser


# ------------------------------------------------------------------------------ handlers
def _train(args):
    options = {k: v for k, v in vars(args).items()
               if k not in ("command", "task", "comparison", "handler", "module", "traceback")}
    _task_module(args.module).train(**options)
    return 0


def _serving_signature(directory, name="serving_default"):
    from kerasformers.export import load_for_serving

    loaded = load_for_serving(directory)
    if name not in loaded.signatures:
        raise ValueError(f"The SavedModel in {directory} has no `{name}` signature "
                         f"(it has {', '.join(sorted(loaded.signatures))}).")
    return loaded.signatures[name]


def _strings(tensor):
    import numpy as np

    return [s.decode("utf-8", "replace") if isinstance(s, bytes) else str(s) for s in np.asarray(tensor).tolist()]


def _resolve(directory, task):
    """`("serving", path)` or `("run", Run)`; a clear error for anything else."""
    from kerasformers.tasks import runs

    if not os.path.exists(directory):
        raise FileNotFoundError(f"No such folder: '{directory}'")
    if runs.is_serving_dir(directory):
        return "serving", directory
    if runs.is_run_dir(directory):
        return "run", runs.load_run(directory, expected_task=task)
    raise FileNotFoundError(
        f"'{directory}' is neither a SavedModel export (saved_models/<name>/<version>/saved_model.pb) nor a run "
        "folder written by `kerasformers train` (with task.json)."
    )


def _translate(args):
    import tensorflow as tf

    kind, target = _resolve(args.model, "translation")
    if kind == "serving":
        signature = _serving_signature(target, "beam" if args.beam else "serving_default")
        translations = _strings(signature(text=tf.constant(args.texts))["translation"])
    else:
        from kerasformers.tasks import translation

        translations = translation.translate_texts(
            target.model, target.tokenizers["source"], target.tokenizers["target"], args.texts,
            batch_size=len(args.texts), num_beams=4 if args.beam else None,
        )
    for source, translation_text in zip(args.texts, translations):
        print(f"{source}\t{translation_text}")
    return 0


def _generate(args):
    import tensorflow as tf

    kind, target = _resolve(args.model, "language_model")
    if kind == "serving":
        if args.max_new_tokens is not None or args.sampler != "greedy":
            print("Note: a SavedModel generates greedily with the max_new_tokens set at export; "
                  "--max-new-tokens/--sampler apply to run folders.", file=sys.stderr)
        texts = _strings(_serving_signature(target)(prompt=tf.constant(args.prompts))["text"])
    else:
        from kerasformers.tasks import language_modeling

        texts = language_modeling.generate_texts(
            target.model, target.tokenizers["text"], args.prompts, args.max_new_tokens or 200,
            sampler=args.sampler, top_p=args.top_p, seed=args.seed,
        )
    for generated in texts:
        print(generated)
        print()
    return 0


def _classify(args):
    import numpy as np
    import tensorflow as tf

    kind, target = _resolve(args.model, "classification")
    if kind == "serving":
        outputs = _serving_signature(target)(text=tf.constant(args.texts))
        labels = _strings(outputs["label"])
        probabilities = np.asarray(outputs["probabilities"]).max(axis=-1)
        answers = list(zip(labels, probabilities.tolist()))
    else:
        from kerasformers.tasks import classification

        answers = classification.classify_texts(target.model, target.tokenizers["text"], args.texts,
                                                target.info["class_names"])
    for text_, (label, probability) in zip(args.texts, answers):
        print(f"{label}\t{probability:.3f}\t{text_}")
    return 0


def _export(args):
    from kerasformers.tasks import runs

    path = runs.export_run(args.run, args.export_dir, version=args.version, overwrite=args.overwrite,
                           max_new_tokens=args.max_new_tokens)
    print(f"Exported {path}")
    return 0


# ------------------------------------------------------------------------------ entry points
@contextlib.contextmanager
def user_errors(show_traceback=False, program="kerasformers"):
    """Turns user errors into one line on stderr and `SystemExit(2)` (the example scripts use it too).

    User errors: missing/empty/malformed data (`FileNotFoundError`,
    `ValueError`), existing outputs (`FileExistsError`), no network
    (`ConnectionError`), a missing optional dependency (`MissingExtraError`).
    With `show_traceback` (`--traceback`) or the environment variable
    `KERASFORMERS_TRACEBACK=1` they propagate with their traceback instead.
    """
    from kerasformers.tasks.errors import USER_ERRORS

    try:
        yield
    except USER_ERRORS as error:
        if show_traceback or os.environ.get("KERASFORMERS_TRACEBACK"):
            raise
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{program}: error: {message}", file=sys.stderr)
        raise SystemExit(USER_ERROR_STATUS) from None


def main(argv=None):
    """Runs the command line; returns the exit status (0, or 2 for user errors).

    Example:
    >>> main(["classify", "saved_models/classifier", "a great film"])  # doctest: +SKIP
    positive	0.981	a great film
    0
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code or 0)
    try:
        with user_errors(args.traceback):
            return args.handler(args)
    except SystemExit as exit_:
        return int(exit_.code)



if __name__ == "__main__":
    sys.exit(main())
