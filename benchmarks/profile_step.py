"""Where the time of one training step goes: a tf.profiler breakdown, and dropout on against off.

Two measurements on the speed benchmark's models (`benchmarks/speed.py`: size S
encoder stack, d=256, 4 heads, d_ff 1024, 4 post-LN layers, L=128, batch 32,
Dense(256 → 8,000) head, Adam, jit_compile=False):

1. Breakdown (`--sections profile`): for each candidate (ours and keras_hub, float32,
   and under `mixed_bfloat16` where the CPU has bfloat16 units or with `--bf16 on`),
   a warm-up, then `--profile-steps` training steps under `tf.profiler`. The trace's
   TensorFlow op events are summed per step by the name scope they belong to: the
   output head (Dense d → vocabulary, forward and gradients), the loss
   (cross-entropy, forward and gradients), the attention sublayers (projections,
   scores, softmax, attention dropout, weighted sum: everything inside the
   attention layer, forward and gradients), layer norms, the other dropouts,
   feed-forward layers, embeddings, the optimizer, other. The ops of a step run on
   two inter-op threads, so the summed op time can exceed the step's wall time;
   shares are of the summed op time. The profiler's own overhead slows the profiled
   steps a little: compare the shares, not the milliseconds, with `speed.py`.
2. Dropout (`--sections dropout`): ours, float32, dropout 0.1 against 0.0 (same
   model otherwise), alternated for 5 rounds of 5 steps; ms/step medians and the
   min–median–max of the per-round ratio.

    python benchmarks/profile_step.py            # both sections, size S (~3 min on a quiet 2-core machine)
    python benchmarks/profile_step.py --quick    # smoke run: a tiny model, 2 rounds of 2 steps (not a result)
"""

import argparse
import collections
import glob
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import speed  # noqa: E402
from _common import (  # noqa: E402
    Clock,
    alternate,
    environment_info,
    load_warning,
    median,
    per_round_ratios,
    print_environment,
    print_table,
    time_fit,
)

TINY = dict(model_dim=64, num_heads=2, hidden_dim=128, num_layers=2, length=32, batch=8)

# Categories of op time, by name scope. A TF op event is named "<scopes>/<op name>:<op type>"; the first
# scope component that matches a pattern decides (gradient ops carry their forward op's scopes after
# "gradient_tape/"). Layer names: ours (kerasformers) and keras_hub, see speed.make_block.
CATEGORIES = (
    ("output head", re.compile(r"^output_projection(_\d+)?$")),
    ("loss (cross-entropy)", re.compile(r"^compile_loss$")),
    ("attention sublayer", re.compile(r"^(self|cross)_attention(_layer)?(_\d+)?$")),
    ("layer norm", re.compile(r"norm(_\d+)?$")),
    ("residual dropout", re.compile(r"dropout(_\d+)?$")),
    ("feed-forward", re.compile(r"^feed_?forward")),
    ("embedding", re.compile(r"embedding")),
    ("optimizer (Adam)", re.compile(r"^adam(_\d+)?$")),
)
OTHER = "other"


def categorize(event_name):
    """`(category, op type)` of a TF op event name, e.g. '.../output_projection_1/Tensordot/MatMul:MatMul'."""
    scopes, _, op_type = event_name.rpartition(":")
    for component in scopes.split("/"):
        for category, pattern in CATEGORIES:
            if pattern.search(component):
                return category, op_type
    return OTHER, op_type


def read_trace(logdir):
    """{(category, op type): total op seconds} from the tf.profiler trace in `logdir` (TF op events only)."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
    if not paths:
        raise RuntimeError(f"tf.profiler wrote no trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(paths[0], "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):  # the executor threads that run the graph's ops
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" not in name or "/" not in name:  # executor bookkeeping, not an op
                    continue
                totals[categorize(name)] += event.duration_ps * 1e-12
    return totals


def profile(impl, cfg, args):
    """Warm-up, then `args.profile_steps` profiled steps. Returns (wall s/step, {(category, op type): s/step})."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model, _ = speed.build_model(impl, "encoder", cfg)
    speed.compile_model(model, jit_compile=False)
    dataset = speed.make_dataset("encoder", cfg["batch"], cfg["length"])
    model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)  # tracing, then a settled step
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            seconds = time_fit(model, dataset, args.profile_steps)
        finally:
            tf.profiler.experimental.stop()
        totals = read_trace(logdir)
    return seconds, {key: value / args.profile_steps for key, value in totals.items()}


def print_breakdown(profiles):
    names = list(profiles)
    categories = [c for c, _ in CATEGORIES] + [OTHER]
    per_category = {n: collections.Counter() for n in names}
    for n in names:
        for (category, _), seconds in profiles[n][1].items():
            per_category[n][category] += seconds
    rows = []
    for category in categories:
        row = [category]
        for n in names:
            total = sum(per_category[n].values())
            row.append(f"{1e3 * per_category[n][category]:.0f} ({100 * per_category[n][category] / total:.0f}%)")
        rows.append(row)
    rows.append(["summed op time"] + [f"{1e3 * sum(per_category[n].values()):.0f}" for n in names])
    rows.append(["wall time of a profiled step"] + [f"{1e3 * profiles[n][0]:.0f}" for n in names])
    print_table(["ms per step (share of summed op time)", *names], rows,
                title="Breakdown of a training step by name scope (tf.profiler, TF op events)",
                align="l" + "r" * len(names),
                note="Forward and gradient ops together. Ops run on two inter-op threads, so the summed op time "
                     "can exceed the wall time.")

    rows = []
    for n in names:
        by_type = collections.Counter()
        for (category, op_type), seconds in profiles[n][1].items():
            if category == "attention sublayer":
                by_type[op_type] += seconds
        top = ", ".join(f"{t} {1e3 * s:.0f}" for t, s in by_type.most_common(6))
        rows.append([n, f"{1e3 * sum(by_type.values()):.0f}", top])
    print_table(["candidate", "attention sublayers, ms/step", "largest op types, ms/step"], rows,
                title="Inside the attention sublayers (all layers, forward and gradients)", align="lrl",
                note="keras_hub's query/key/value projections are EinsumDense layers (BatchMatMulV2 ops); ours "
                     "computes q, k, v with one fused Dense (MatMul ops): compare the totals, not one op type.")


def dropout_section(cfg, args):
    """Ours, float32: dropout 0.1 against 0.0, alternated. Returns the result dict (and prints a table)."""
    import keras

    rounds, steps = args.rounds, args.steps
    dataset = speed.make_dataset("encoder", cfg["batch"], cfg["length"])
    tokens = cfg["batch"] * cfg["length"]
    models = {}
    for name, rate in (("dropout 0.1", speed.DROPOUT), ("dropout 0.0", 0.0)):
        keras.utils.set_random_seed(0)
        models[name], _ = speed.build_model("ours", "encoder", cfg, dropout=rate)
        speed.compile_model(models[name], jit_compile=False)
        models[name].fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)  # tracing, then a settled step

    for model in models.values():  # one untimed step each, in the timed order (as speed.py: the first step
        time_fit(model, dataset, 1)  # of a model after another one ran is slow)

    def runner(name):
        return lambda: tokens / time_fit(models[name], dataset, steps)

    rates = alternate({name: runner(name) for name in models}, rounds,
                      on_result=lambda i, name, rate: print(f"    round {i + 1}/{rounds} {name}: {rate:,.0f} tokens/s",
                                                            flush=True))
    ratios = per_round_ratios(rates, "dropout 0.0", "dropout 0.1")
    rows = [[name, f"{1e3 * tokens / median(rates[name]):.0f}", f"{median(rates[name]):,.0f}"] for name in models]
    print_table(["ours, float32", "ms/step (median)", "tokens/s (median)"], rows,
                title=f"Dropout on against off ({rounds} rounds of {steps} steps, alternated)", align="lrr",
                note=f"throughput dropout 0.0 / dropout 0.1, per round: min {min(ratios):.3f}, median "
                     f"{median(ratios):.3f}, max {max(ratios):.3f} (> 1: dropout costs time).")
    return dict(rates=rates, ratios=ratios)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny model, 2 rounds of 2 steps (a smoke run)")
    parser.add_argument("--sections", default="profile,dropout", help="comma-separated, from profile,dropout")
    parser.add_argument("--profile-steps", type=int, default=None, help="profiled steps per candidate (default 3)")
    parser.add_argument("--rounds", type=int, default=None, help="dropout section: rounds (default 5)")
    parser.add_argument("--steps", type=int, default=None, help="dropout section: steps per round (default 5)")
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="profile the mixed_bfloat16 candidates too: auto (default) where the CPU has bfloat16 "
                             "units (kerasformers.training.fast_bfloat16)")
    args = parser.parse_args(argv)
    args.profile_steps = args.profile_steps or (1 if args.quick else 3)
    args.rounds = args.rounds or (2 if args.quick else 5)
    args.steps = args.steps or (2 if args.quick else 5)
    clock = Clock()
    from kerasformers.training import fast_bfloat16

    fast, reason = fast_bfloat16()
    bf16 = args.bf16 == "on" or (args.bf16 == "auto" and fast)
    cfg = TINY if args.quick else speed.SIZES["S"]
    print("# Where a training step's time goes\n")
    print_environment(environment_info(model=cfg, mixed_bfloat16=f"{'on' if bf16 else 'off'} ({reason})",
                                       profile_steps=args.profile_steps,
                                       dropout_rounds_x_steps=f"{args.rounds}×{args.steps}"))
    warning = load_warning()
    if warning:
        print(warning + "\n")
    if args.quick:
        print("NOTE: --quick: a tiny model and few steps, a smoke run, not a result.\n")
    sections = args.sections.split(",")
    if "profile" in sections:
        impls = ["ours", "keras_hub"] + (["ours" + speed.BF16, "keras_hub" + speed.BF16] if bf16 else [])
        profiles = {}
        for impl in impls:
            profiles[impl] = profile(impl, cfg, args)
            print(f"  profiled {impl}: {1e3 * profiles[impl][0]:.0f} ms/step [{clock}]", flush=True)
        print()
        print_breakdown(profiles)
    if "dropout" in sections:
        dropout_section(cfg, args)
    print(f"Total elapsed: {clock} (m:ss)")


if __name__ == "__main__":
    main()
