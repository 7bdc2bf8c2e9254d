"""Training steps per second with 1 and with 2 cooperating JAX processes on this machine (`initialize_processes`).

Each round starts one process, then two on localhost (gloo CPU collectives,
one CPU device each), and trains the same classifier with `model.fit` on the
same global batches (random token ids; the speed does not depend on them).
Timed between batch ends inside one `fit`, after warm-up steps that compile
the step. The global batch is the same in both, so steps/s compare directly;
the two processes share the machine's cores.

    python benchmarks/processes.py                 # 5 rounds, the small preset, global batch 64, length 64
    python benchmarks/processes.py --rounds 1 --steps 10 --preset tiny   # smoke run
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np


def worker(index, count, port, preset, batch, length, steps, warmup):
    os.environ["KERAS_BACKEND"] = "jax"
    import kerasformers as kf

    import keras
    import tensorflow as tf

    kf.training.initialize_processes(f"localhost:{port}", count, index)
    rng = np.random.default_rng(0)
    examples = batch * (steps + warmup)
    token_ids = rng.integers(1, 8000, size=(examples, length)).astype("int32")
    labels = rng.integers(0, 2, size=(examples,)).astype("int32")
    data = tf.data.Dataset.from_tensor_slices(({"token_ids": token_ids}, labels)).batch(batch, drop_remainder=True)
    keras.utils.set_random_seed(0)
    model = kf.TransformerClassifier.from_preset(preset, vocabulary_size=8000, num_classes=2, max_length=length)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class Ends(keras.callbacks.Callback):
        ends = []

        def on_train_batch_end(self, batch, logs=None):
            Ends.ends.append(time.perf_counter())

    model.fit(data, epochs=1, verbose=0, callbacks=[Ends()])
    seconds = Ends.ends[-1] - Ends.ends[warmup - 1]
    print(json.dumps({"process": index, "steps_per_s": steps / seconds}))


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(count, args):
    port = free_port()
    command = [sys.executable, __file__, "--worker", "--preset", args.preset, "--batch", str(args.batch),
               "--length", str(args.length), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device per process
    procs = [subprocess.Popen(command + ["--index", str(i), "--count", str(count), "--port", str(port)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i in range(count)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode:
            sys.exit(f"a worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return min(r["steps_per_s"] for r in results)  # the group is as fast as its slowest process


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30, help="timed steps")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.index, args.count, args.port, args.preset, args.batch, args.length, args.steps,
                      args.warmup)
    print(f"{os.cpu_count()} cores; {args.preset} classifier, global batch {args.batch} x {args.length} ids, "
          f"{args.steps} timed steps after {args.warmup}; {args.rounds} rounds", flush=True)
    speeds = {1: [], 2: []}
    for r in range(args.rounds):
        for count in (1, 2):
            speeds[count].append(launch(count, args))
            print(f"  round {r + 1}: {count} process(es): {speeds[count][-1]:.2f} steps/s", flush=True)
    print("\n| processes | steps/s, median (min–max) | examples/s | vs 1 process |")
    print("|---|---|---|---|")
    base = float(np.median(speeds[1]))
    for count, values in speeds.items():
        median = float(np.median(values))
        print(f"| {count} | {median:.2f} ({min(values):.2f}–{max(values):.2f}) | {median * args.batch:.0f} "
              f"| {median / base:.2f}× |")
    return speeds


if __name__ == "__main__":
    main()
