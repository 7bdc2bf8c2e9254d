"""The options every task shares, one parser per task, and options given in Python checked like flags.

`build_parser(task)` adds three groups (`data`, `training`, `output`) from the
task's attributes and defaults, then the task's own options
(`Task.add_arguments`). The destinations are the option names of
`kerasformers.tasks.run`, so `--batch-size 16` on the command line and
`run(task, batch_size=16)` in Python are the same option, checked the same way.
"""

import argparse

from kerasformers import checks
from kerasformers.training.precision import PRECISIONS

positive_int = checks.argparse_type(checks.check_positive_int, int)
positive_float = checks.argparse_type(checks.check_positive_number, float)
fraction = checks.argparse_type(checks.check_fraction, float)
rate = checks.argparse_type(checks.check_rate, float)  # [0, 1)
BACKUP_EVERY = 100  # steps: at most a few minutes of work lost at up to ~2 s per step
LAYER_OPTIONS = (("num_layers", "number of layers"), ("model_dim", "model width"),
                 ("num_heads", "attention heads"), ("hidden_dim", "feed-forward width"),
                 ("dropout", "dropout rate"))
LAYER_OPTION_TYPES = {"dropout": rate}  # the others: positive integers


DEFAULTS = {"learning_rate": 1e-3, "preset": "tiny"}  # shared defaults a task's `defaults` may change


def _default_text(value, unset="depends on the data"):
    return f"default {unset if value is None else value}"


def build_parser(task, parser=None):
    """The `argparse` parser of `task` (a new one, or `parser` filled in, e.g. a CLI sub-command)."""
    parser = parser or argparse.ArgumentParser(description=task.summary)
    defaults = task.defaults
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="PATH", help=task.data_help)
    if task.demo:
        size = defaults["demo_size"]
        data.add_argument("--demo", action="store_true", help=task.demo_help)
        data.add_argument("--demo-size", type=positive_int, default=size, metavar="N",
                          help=f"examples in the generated demo dataset (default {size})")
        data.add_argument("--on-malformed", choices=("skip", "raise"), default="skip",
                          help="malformed lines of --data: skip them (listed with their line numbers) or stop")
    parser.set_defaults(demo=False, verbose=1)

    group = parser.add_argument_group("training")
    notes = task.default_notes  # how `prepare` fills the defaults left None

    def default_help(name):
        return _default_text(defaults.get(name, DEFAULTS.get(name)), notes.get(name, "depends on the data"))

    group.add_argument("--epochs", type=positive_int, default=defaults.get("epochs"),
                       help=f"epochs ({default_help('epochs')})")
    if task.model_class is not None:
        group.add_argument("--preset", default=defaults.get("preset", DEFAULTS["preset"]),
                           help=f"model size: {', '.join(sorted(task.model_class.presets))} "
                                f"({default_help('preset')})")
    group.add_argument("--batch-size", type=positive_int, default=defaults.get("batch_size"),
                       help=default_help("batch_size"))
    if task.sequences:
        group.add_argument("--max-length", type=positive_int, default=defaults.get("max_length"),
                           help=f"longest sequence in tokens ({default_help('max_length')})")
    group.add_argument("--learning-rate", type=positive_float, default=defaults.get("learning_rate", 1e-3),
                       help=f"peak learning rate of the warm-up schedule ({default_help('learning_rate')})")
    group.add_argument("--steps-per-epoch", type=positive_int, metavar="N",
                       help="cap every epoch at N batches (quick runs)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--backup-every", type=positive_int, default=BACKUP_EVERY, metavar="STEPS",
                       help=f"back up the training state every STEPS steps (default {BACKUP_EVERY}); a run "
                            "started again with the same --output resumes from the last backup")
    if task.precision:
        group.add_argument("--precision", choices=PRECISIONS, default="float32",
                           help="dtype policy (default float32); auto: mixed_bfloat16 where the hardware has "
                                "bfloat16 units (TPU, GPU >= Ampere, CPU with AVX512-BF16/AMX), else float32")
    if task.model_class is not None:
        for dest, what in LAYER_OPTIONS:
            note = f" ({_default_text(None, notes[dest])})" if dest in notes else ""
            group.add_argument("--" + dest.replace("_", "-"), type=LAYER_OPTION_TYPES.get(dest, positive_int),
                               help=f"override the preset's {what}{note}")

    output = parser.add_argument_group("output")
    output.add_argument("--output", metavar="DIR",
                        help=f"run folder (default runs/{task.name}-<timestamp>): logs/, checkpoints/, plots, model")
    output.add_argument("--overwrite", action="store_true",
                        help="replace a finished run in --output" + (" and an existing --export-version"
                                                                     if task.exports else ""))
    output.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw PNG plots")
    if task.exports:
        output.add_argument("--export-dir", metavar="DIR",
                            help=f"TF Serving model folder (default saved_models/{task.name})")
        output.add_argument("--export-version", type=positive_int, metavar="N",
                            help="SavedModel version (default: the next free one)")
        output.add_argument("--no-export", dest="export", action="store_false", help="do not export a SavedModel")
    if task.command == "train":
        add_process_arguments(parser)
    task.add_arguments(parser, {"data": data, "training": group, "output": output})
    return parser


def add_process_arguments(parser):
    """`--num-processes`, `--process-id`, `--coordinator-address`: one run in N cooperating JAX processes.

    Left out, each is read from Keras' environment variables
    (`KERAS_DISTRIBUTION_NUM_PROCESSES`, `KERAS_DISTRIBUTION_PROCESS_ID`,
    `KERAS_DISTRIBUTION_JOB_ADDRESSES`); see `kerasformers.training.initialize_processes`.
    """
    group = parser.add_argument_group(
        "several processes (JAX backend; docs/distributed.md)",
        "Start the same command once per host (or device group) with the same --output, "
        "--coordinator-address and --num-processes, and its own --process-id. Each process trains on its share "
        "of every batch (--batch-size is the global batch); process 0 writes the run and the SavedModel.")
    group.add_argument("--num-processes", type=positive_int, metavar="N",
                       help="processes taking part (default $KERAS_DISTRIBUTION_NUM_PROCESSES, else 1)")
    group.add_argument("--process-id", type=int, metavar="I",
                       help="this process' index in [0, N); 0 writes the files (default "
                            "$KERAS_DISTRIBUTION_PROCESS_ID)")
    group.add_argument("--coordinator-address", metavar="HOST:PORT",
                       help="process 0's address, reachable from every process (default "
                            "$KERAS_DISTRIBUTION_JOB_ADDRESSES)")


def add_length_buckets_argument(group):
    """`--no-length-buckets`: training batches padded to `--max-length` instead of grouped by length.

    On by default (`options.length_buckets`): `kerasformers.text` pipelines
    batch texts of similar length together and pad each batch to 8, 16, 32, …
    or `--max-length` (`text.bucket_lengths`).
    """
    group.add_argument("--no-length-buckets", dest="length_buckets", action="store_false",
                       help="pad every training batch to --max-length instead of batching texts of similar "
                            "length together (padded to 8, 16, 32, ... or --max-length)")


def resolve(task, options=None, overrides=None):
    """The options of a run: the task's defaults, then `options` (a Namespace), then `overrides` (checked).

    Raises:
        ValueError: an unknown option name, or a value its flag would refuse
            (`epochs=0`, `tokenizer="nope"`, ...), naming the value.
    """
    parser = build_parser(task)
    namespace = parser.parse_args([])
    actions = {a.dest: a for a in parser._actions if a.dest != "help"}  # argparse has no public list
    for key, value in vars(options or argparse.Namespace()).items():
        setattr(namespace, key, value)
    for key, value in (overrides or {}).items():
        if not hasattr(namespace, key):
            raise ValueError(f"Unknown option {key}={value!r} for the {task.name} task. Known options: "
                             f"{', '.join(sorted(vars(namespace)))}")
        setattr(namespace, key, _check(key, value, actions.get(key)))
    return namespace


def _check(key, value, action):
    if action is None or value is None:
        return value
    check = getattr(action.type, "check", None)
    if check is not None and not isinstance(value, str):
        value = check(key, value)
    elif action.type is not None and isinstance(value, str) and action.type is not str:
        value = action.type(value)
    if action.choices is not None and value not in action.choices:
        raise ValueError(f"`{key}` must be one of {list(action.choices)}. Received: {key}={value!r}")
    return value
