"""Command-line arguments shared by the task scripts and `kerasformers train` (dests = `train()` keywords)."""

import argparse

from kerasformers.training.precision import PRECISIONS


def positive_int(value):
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return number


def positive_float(value):
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return number


def fraction(value):
    number = float(value)
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1), got {value}")
    return number


def add_data_arguments(parser, data_help, demo_help, demo_size):
    group = parser.add_argument_group("data")
    group.add_argument("--data", metavar="PATH", help=data_help)
    group.add_argument("--demo", action="store_true", help=demo_help)
    group.add_argument("--demo-size", type=positive_int, default=demo_size, metavar="N",
                       help=f"examples in the generated demo dataset (default {demo_size})")
    group.add_argument("--on-malformed", choices=("skip", "raise"), default="skip",
                       help="malformed lines of --data: skip them (listed with their line numbers) or stop")
    return group


def add_training_arguments(parser, *, epochs, batch_size, max_length, learning_rate, presets, preset="tiny",
                           layers=True, precision=True):
    group = parser.add_argument_group("training")
    group.add_argument("--epochs", type=positive_int, default=epochs,
                       help=f"epochs (default {epochs if epochs else 'depends on the data'})")
    group.add_argument("--preset", default=preset,
                       help=f"model size: {', '.join(presets)} (default {preset})")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help=f"default {batch_size if batch_size else 'depends on the data'}")
    if max_length is not False:  # False: no sequences (images)
        group.add_argument("--max-length", type=positive_int, default=max_length,
                           help="longest sequence in tokens" + (f" (default {max_length})" if max_length else
                                                               " (default depends on the data)"))
    group.add_argument("--learning-rate", type=positive_float, default=learning_rate,
                       help=f"peak learning rate of the warm-up schedule (default {learning_rate})")
    group.add_argument("--steps-per-epoch", type=positive_int, metavar="N",
                       help="cap every epoch at N batches (quick runs)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    if precision:
        group.add_argument("--precision", choices=PRECISIONS, default="float32",
                           help="dtype policy (default float32); auto: mixed_bfloat16 where the hardware has "
                                "bfloat16 units (TPU, GPU >= Ampere, CPU with AVX512-BF16/AMX), else float32")
    if layers:
        group.add_argument("--num-layers", type=positive_int, help="override the preset's number of layers")
        group.add_argument("--model-dim", type=positive_int, help="override the preset's model width")
        group.add_argument("--num-heads", type=positive_int, help="override the preset's attention heads")
        group.add_argument("--hidden-dim", type=positive_int, help="override the preset's feed-forward width")
    return group


def add_output_arguments(parser, task, export_name=None):
    group = parser.add_argument_group("output")
    group.add_argument("--output", metavar="DIR",
                       help=f"run folder (default runs/{task}-<timestamp>): logs/, checkpoints/, plots, model")
    group.add_argument("--overwrite", action="store_true",
                       help="replace a finished run in --output and an existing --export-version")
    group.add_argument("--no-plots", dest="plots", action="store_false", help="do not draw PNG plots")
    if export_name:
        group.add_argument("--export-dir", metavar="DIR",
                           help=f"TF Serving model folder (default saved_models/{export_name})")
        group.add_argument("--export-version", type=positive_int, metavar="N",
                           help="SavedModel version (default: the next free one)")
        group.add_argument("--no-export", dest="export", action="store_false", help="do not export a SavedModel")
    return group
