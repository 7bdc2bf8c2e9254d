"""Generation speed: our cached decoding vs full re-computation vs keras_hub's GPT-2, in tokens/second.

Three greedy decoders of the same size (4 layers, d_model 256, 4 heads, d_ff
1024, vocabulary 8192, pre-LN, GELU, tied embeddings, learned positions, max
length 640), all randomly initialised and XLA-compiled on TensorFlow:

- ours, cached: `kerasformers.generation.generate` (key/value cache).
- ours, uncached: the same loop with `use_cache=False` (every step re-runs the
  decoder over the whole fixed-size buffer).
- keras_hub: `keras_hub.models.GPT2CausalLM` on a `GPT2Backbone`, called with
  preprocessed `{"token_ids", "padding_mask"}` and `preprocessor=None`,
  compiled with `jit_compile=True` (Keras's default turns XLA off on CPU-only
  machines).

For each batch size and number of new tokens: one warm-up call (tracing and
compilation) is excluded, then the median of `--runs` timed calls.
tokens/second = batch * new tokens / seconds. Prints a markdown table.

Usage:
    python benchmarks/generation.py            # batch 1, 8 x 32, 128, 512 new tokens
    python benchmarks/generation.py --quick    # batch 1, 8 x 32, 128 new tokens
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import keras_hub  # noqa: E402
import numpy as np  # noqa: E402

import kerasformers as kf  # noqa: E402
from kerasformers.generation import generate  # noqa: E402

CONFIG = dict(vocabulary_size=8192, num_layers=4, model_dim=256, num_heads=4, hidden_dim=1024, max_length=640)


def build_models():
    keras.utils.set_random_seed(0)
    ours = kf.TransformerLanguageModel(
        vocabulary_size=CONFIG["vocabulary_size"],
        max_length=CONFIG["max_length"],
        num_layers=CONFIG["num_layers"],
        model_dim=CONFIG["model_dim"],
        num_heads=CONFIG["num_heads"],
        hidden_dim=CONFIG["hidden_dim"],
        dropout=0.0,
    )
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=CONFIG["vocabulary_size"],
        num_layers=CONFIG["num_layers"],
        num_heads=CONFIG["num_heads"],
        hidden_dim=CONFIG["model_dim"],
        intermediate_dim=CONFIG["hidden_dim"],
        dropout=0.0,
        max_sequence_length=CONFIG["max_length"],
    )
    hub = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    # Keras turns XLA off by default on CPU-only machines (`jit_compile="auto"`); ours is XLA-compiled,
    # so compare like with like.
    hub.compile(sampler="greedy", jit_compile=True)
    return ours, hub


def median_seconds(call, runs):
    call()  # warm-up: tracing and XLA compilation
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 32 and 128 new tokens")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per setting (median)")
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--uncached-max-tokens", type=int, default=1024,
                        help="skip uncached decoding where batch x new tokens exceeds this (batch 8 x 512: "
                             "each call re-runs the whole 640-token buffer 512 times, about 4 minutes here)")
    args = parser.parse_args()
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("This benchmark compares XLA-compiled decoders: run it with KERAS_BACKEND=tensorflow.")

    ours, hub = build_models()
    print(f"parameters: ours {ours.count_params():,}, keras_hub GPT-2 {hub.count_params():,}; "
          f"keras_hub jit_compile={hub.jit_compile}")
    batches = (1, 8)
    new_tokens = (32, 128) if args.quick else (32, 128, 512)
    rng = np.random.default_rng(0)
    rows = []
    for batch in batches:
        for count in new_tokens:
            prompt = rng.integers(1, CONFIG["vocabulary_size"], size=(batch, args.prompt_length)).astype("int32")
            length = args.prompt_length + count
            hub_inputs = {
                "token_ids": np.pad(prompt, ((0, 0), (0, count))),
                "padding_mask": np.arange(length)[None, :].repeat(batch, 0) < args.prompt_length,
            }
            cached = median_seconds(lambda: generate(ours, prompt, count), args.runs)
            if batch * count <= args.uncached_max_tokens:
                uncached = median_seconds(lambda: generate(ours, prompt, count, use_cache=False), args.runs)
            else:
                uncached = float("nan")
            reference = median_seconds(lambda: hub.generate(hub_inputs, stop_token_ids=None), args.runs)
            speeds = [batch * count / s for s in (cached, uncached, reference)]  # NaN stays NaN
            rows.append((f"batch {batch}, {count} new tokens", *speeds))
            print(f"  done: batch {batch}, {count} new tokens", flush=True)

    print()
    print(f"Greedy decoding, prompt length {args.prompt_length}, median of {args.runs} runs after a warm-up call "
          f"(TensorFlow {__import__('tensorflow').__version__}, XLA, {os.cpu_count()} CPU cores).")
    print()
    print("| setting | ours cached tok/s | ours uncached tok/s | keras_hub tok/s | cached/uncached | cached/keras_hub |")
    print("|---|---:|---:|---:|---:|---:|")
    for setting, cached, uncached, reference in rows:
        skipped = uncached != uncached  # NaN: not measured
        print(f"| {setting} | {cached:,.0f} | {'skipped' if skipped else f'{uncached:,.0f}'} | {reference:,.0f} | "
              f"{'—' if skipped else f'{cached / uncached:.2f}x'} | {cached / reference:.2f}x |")


if __name__ == "__main__":
    main()
