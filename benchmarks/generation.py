"""Generation speed: our cached decoding vs full re-computation vs keras_hub's GPT-2, in tokens/second.

Three greedy decoders of the same size (4 layers, d_model 256, 4 heads, d_ff
1024, vocabulary 8192, pre-LN, GELU, tied embeddings, learned positions, max
length 640), all randomly initialised and XLA-compiled on TensorFlow:

- ours, cached: `kerasformers.generation.generate` (key/value cache).
- ours, uncached: the same loop with `use_cache=False`: at every step a fresh,
  empty key/value cache is filled by one decoder pass over the whole buffer but
  its last position (prompt + new-token slots - 1 positions, a static shape, so
  slots not generated yet are computed too), then the token before the next
  position runs once more against it for the logits; nothing is reused between
  steps (`kerasformers.generation.decoding`).
- keras_hub: `keras_hub.models.GPT2CausalLM` on a `GPT2Backbone`, called with
  preprocessed `{"token_ids", "padding_mask"}` and `preprocessor=None`,
  compiled with `jit_compile=True` (Keras's default turns XLA off on CPU-only
  machines).

For each batch size and number of new tokens: one warm-up call each (tracing
and compilation, not timed), then the decoders alternate for `--runs` rounds
(default 5) of one timed call each. tokens/second = batch * new tokens / median
seconds; the ratios are min–median–max over rounds of the per-round ratios.
Prints a markdown table.

Usage:
    python benchmarks/generation.py            # batch 1, 8 x 32, 128, 512 new tokens, 5 rounds (~4-5 min)
    python benchmarks/generation.py --quick    # batch 1, 8 x 32, 128 new tokens, 2 rounds (a smoke run)
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


def seconds_of(call):
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def alternate_calls(calls, rounds):
    """One warm-up call each (tracing, XLA compilation), then `rounds` rounds of one timed call each, in turn
    (A B C A B C ...): {name: [seconds per round]}."""
    for call in calls.values():
        call()
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            times[name].append(seconds_of(call))
    return times


def ratio_text(numerator, denominator):
    """min–median–max over rounds of the per-round speed ratio (speed = 1 / seconds)."""
    ratios = [d / n for n, d in zip(numerator, denominator)]
    return f"{min(ratios):.2f}–**{statistics.median(ratios):.2f}**–{max(ratios):.2f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 32 and 128 new tokens, 2 rounds (a smoke run)")
    parser.add_argument("--runs", type=int, default=None, help="timed rounds per setting (default 5; quick 2)")
    parser.add_argument("--prompt-length", type=int, default=16)
    parser.add_argument("--uncached-max-tokens", type=int, default=1024,
                        help="skip uncached decoding where batch x new tokens exceeds this (batch 8 x 512: "
                             "each call runs the decoder over the 527-position buffer (prompt 16 + 512 - 1) at "
                             "each of its 512 steps, minutes on 2 cores)")
    args = parser.parse_args()
    args.runs = args.runs or (2 if args.quick else 5)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("This benchmark compares XLA-compiled decoders: run it with KERAS_BACKEND=tensorflow.")

    ours, hub = build_models()
    print(f"parameters: ours {ours.count_params():,}, keras_hub GPT-2 {hub.count_params():,}; "
          f"keras_hub jit_compile={hub.jit_compile}")
    if args.runs < 5:
        print(f"NOTE: {args.runs} rounds, fewer than 5: a smoke run, not a documented result.")
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
            calls = {"cached": lambda: generate(ours, prompt, count)}
            if batch * count <= args.uncached_max_tokens:
                calls["uncached"] = lambda: generate(ours, prompt, count, use_cache=False)
            calls["keras_hub"] = lambda: hub.generate(hub_inputs, stop_token_ids=None)
            times = alternate_calls(calls, args.runs)
            speeds = {name: batch * count / statistics.median(t) for name, t in times.items()}
            rows.append((f"batch {batch}, {count} new tokens", speeds, times))
            print(f"  done: batch {batch}, {count} new tokens", flush=True)

    print()
    print(f"Greedy decoding, prompt length {args.prompt_length}; after one warm-up call each, the three decoders "
          f"alternate for {args.runs} rounds of one call; tok/s: median over rounds; ratios: min–**median**–max "
          f"of the per-round ratios (TensorFlow {__import__('tensorflow').__version__}, XLA, {os.cpu_count()} CPU "
          "cores).")
    print()
    print("| setting | ours cached tok/s | ours uncached tok/s | keras_hub tok/s | cached/uncached | cached/keras_hub |")
    print("|---|---:|---:|---:|---:|---:|")
    for setting, speeds, times in rows:
        measured = "uncached" in speeds
        uncached = f"{speeds['uncached']:,.0f}" if measured else "skipped"
        cached_over_uncached = ratio_text(times["cached"], times["uncached"]) if measured else "—"
        print(f"| {setting} | {speeds['cached']:,.0f} | {uncached} | {speeds['keras_hub']:,.0f} | "
              f"{cached_over_uncached} | {ratio_text(times['cached'], times['keras_hub'])} |")


if __name__ == "__main__":
    main()
