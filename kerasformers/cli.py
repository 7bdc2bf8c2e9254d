"""The `kerasformers` command: train, use and export the task models, built from the task registry.

    kerasformers train translation --demo
    kerasformers train classification --data train.tsv --validation-data dev.tsv
    kerasformers train language-model --epochs 1
    kerasformers train vision --dataset digits
    kerasformers compare lstm-transformer --demo
    kerasformers translate saved_models/translation "¿dónde está la biblioteca?"
    kerasformers generate saved_models/language-model "ROMEO:"
    kerasformers classify saved_models/classification "a gripping, beautifully acted film"
    kerasformers export runs/translation-20250101-120000

Every registered task (`kerasformers.tasks.registry`) is a sub-command of
`train` (or `compare`), with the options of its parser
(`kerasformers.tasks.arguments`); a task with an `inference_command` adds that
command (`translate`, `generate`, `classify`), which takes a TF Serving model
folder (`saved_models/<task>`, the latest version is used), one SavedModel
version folder, or a run folder written by `train` (its `.keras` model and
tokenizers). User errors (missing or malformed data, unknown preset, existing
outputs, no network, missing extras) print one line to stderr and exit with
status 2; `--traceback` (or `KERASFORMERS_TRACEBACK=1`) shows the whole trace.
"""

import argparse
import sys

from kerasformers import tasks
from kerasformers.tasks import arguments, runs

GROUPS = {  # CLI group of a task (`Task.command`) -> help
    "train": "train a task model end to end (data, metrics, plots, export)",
    "compare": "measured comparisons",
}
NOT_OPTIONS = ("command", "task", "handler", "task_object", "traceback")


def build_parser():
    """The `argparse` parser of the `kerasformers` command (sub-commands with their options)."""
    parser = argparse.ArgumentParser(
        prog="kerasformers",
        description="Train, use and export kerasformers Transformer models.",
        epilog="Run `kerasformers COMMAND --help` for a command's options.",
    )
    parser.add_argument("--traceback", action="store_true", help="show the full traceback of errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = {name: commands.add_parser(name, help=text).add_subparsers(dest="task", metavar="TASK", required=True)
              for name, text in GROUPS.items()}
    for task in tasks.all_tasks():
        description = (sys.modules[type(task).__module__].__doc__ or task.summary).split("\n\n")[0]
        sub = groups[task.command].add_parser(task.name, help=task.summary, description=description)
        arguments.build_parser(task, sub)
        sub.set_defaults(handler=_train, task_object=task)
        if task.inference_command:
            use = commands.add_parser(task.inference_command, help=task.inference_help)
            use.add_argument("model", metavar="DIR", help="saved_models/<name>, a SavedModel version, or a run folder")
            task.add_inference_arguments(use)
            use.set_defaults(handler=_infer, task_object=task)

    export = commands.add_parser("export", help="export a run folder's model as a new SavedModel version")
    export.add_argument("run", metavar="RUN_DIR", help="a run folder written by `kerasformers train`")
    export.add_argument("--export-dir", metavar="DIR",
                        help="TF Serving model folder (default: the one the run exported to)")
    export.add_argument("--version", type=arguments.positive_int, help="version number (default: the next free one)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing version")
    export.add_argument("--max-new-tokens", type=arguments.positive_int,
                        help="language models: the most tokens a request may ask for (and the default)")
    export.add_argument("--xla", action="store_true",
                        help="XLA-compiled decoding loops (language models, translators); TF Serving then needs "
                             "--xla_cpu_compilation_enabled=true on CPU, and fails every request without it")
    export.add_argument("--quantize", choices=["int8"], help="int8 weights (Keras post-training quantization)")
    export.set_defaults(handler=_export)
    return parser


# ------------------------------------------------------------------------------ handlers
def _train(args):
    options = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in NOT_OPTIONS})
    tasks.run(args.task_object, options)
    return 0


def _infer(args):
    target = runs.open_model_folder(args.model, args.task_object.name)
    for line in args.task_object.infer(target, args):
        print(line)
    return 0


def _export(args):
    path = runs.export_run(args.run, args.export_dir, version=args.version, overwrite=args.overwrite,
                           jit_compile=args.xla, quantize=args.quantize, export_max_new_tokens=args.max_new_tokens)
    print(f"Exported {path}")
    return 0


# ------------------------------------------------------------------------------ entry point
def main(argv=None):
    """Runs the command line; returns the exit status (0, or 2 for user errors).

    Example:
    >>> main(["classify", "saved_models/classification", "a great film"])  # doctest: +SKIP
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
        with tasks.user_errors(args.traceback):
            return args.handler(args)
    except SystemExit as exit_:
        return int(exit_.code)


if __name__ == "__main__":
    sys.exit(main())
