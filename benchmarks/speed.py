"""Training throughput of kerasformers blocks against keras_hub (and plain Keras), in one run.

Architectures (encoder stack, decoder-only stack; encoder-decoder with
``--archs``), each built with identical sizes, data, optimizer and dropout:

- ``ours``      kerasformers.layers.TokenAndPositionEmbedding + TransformerEncoderLayer /
                TransformerDecoderLayer;
- ``keras_hub`` keras_hub.layers.TokenAndPositionEmbedding + TransformerEncoder /
                TransformerDecoder;
- ``keras_mha`` (``--keras-mha``) blocks from keras.layers.MultiHeadAttention + Add +
                LayerNormalization + Dense FFN, as in the TensorFlow "Neural machine
                translation with a Transformer" tutorial (post-LN; causal self-attention
                with ``use_causal_mask=True``; cross-attention ``mha(query, key, value)``).

The headline is implementation against implementation at the same precision:
``ours / keras_hub`` in float32 (and in bfloat16). ``ours`` and ``keras_hub`` are also
built under the ``mixed_bfloat16`` dtype policy (``ours@bf16``, ``keras_hub@bf16``) when
this CPU has bfloat16 units (AVX512-BF16 or AMX: ``kerasformers.training.fast_bfloat16``;
``--bf16 on`` forces them): mixed precision against float32 is a separate, labelled table,
a precision setting rather than an implementation gain.

Measured with ``model.fit`` (forward + backward + Adam step) on synthetic token ids
from a ``tf.data`` pipeline, with ``jit_compile=False`` (Keras' default on a machine
without a GPU; ``--sections xla`` adds a jit_compile=True comparison). Each comparison
(size × architecture) runs in a fresh process: every model first runs an untimed
warm-up epoch (tracing); then the candidates run one untimed round of one step each
(the first step of a model after the others ran is slow), then alternate
(A B C D A B C D ...) for 5 timed rounds of 5 steps, each round timed from the first
batch's start to the last batch's end. Ratios: per round, then min–median–max over
rounds. Also measures the machine's fp32 (and bf16) matmul peaks at the start and the
end (the best is used) and the achieved fraction of them.

Run it on a quiet machine: on 2 cores, other processes easily halve the
throughput and make single rounds jump by 2x; the script prints the load average.

Usage (from the repository root)::

    python benchmarks/speed.py --json speed.json   # documented run: S and M, encoder and decoder (20.5 min
                                                   # on a quiet 2-core AVX2 machine, without bf16 candidates)
    python benchmarks/speed.py --quick             # smoke run: S encoder, 3 rounds of 2 steps (not a result)
    python benchmarks/speed.py --sizes S --archs seq2seq --keras-mha   # encoder-decoder, plain-Keras blocks too
    python benchmarks/speed.py --sections lengths  # sequence-length sweep of our encoder (~3 min)
    python benchmarks/speed.py --sections xla      # jit_compile=True, ours vs keras_hub, size S (~3 min)
"""

import argparse
import functools
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import (  # noqa: E402
    Clock,
    alternate,
    current_rss,
    environment_info,
    load_warning,
    matmul_peak,
    median,
    median_ratio,
    mib,
    peak_rss,
    per_round_ratios,
    print_environment,
    print_table,
    reset_peak_rss,
    reset_tf_memory_peak,
    run_json_subprocess,
    tf_memory_info,
    time_fit,
    write_json,
)

VOCAB = 8000
DROPOUT = 0.1
EPSILON = 1e-5
NUM_BATCHES = 4  # distinct synthetic batches, cycled
SIZES = {
    "S": dict(model_dim=256, num_heads=4, hidden_dim=1024, num_layers=4, length=128, batch=32),
    "M": dict(model_dim=512, num_heads=8, hidden_dim=2048, num_layers=4, length=128, batch=32),
}
ARCHS = ("encoder", "decoder", "seq2seq")
BF16 = "@bf16"  # candidate suffix: the same build under the `mixed_bfloat16` dtype policy
# (numerator, denominator) throughput ratios reported for every comparison that has both candidates.
# Same precision (the headline): implementation against implementation.
SAME_PRECISION = (("ours", "keras_hub"), ("ours" + BF16, "keras_hub" + BF16), ("ours", "keras_mha"))
# Mixed precision against float32: a precision setting, reported apart from the headline.
PRECISION_GAINS = (("ours" + BF16, "keras_hub"), ("ours" + BF16, "ours"), ("keras_hub" + BF16, "keras_hub"))
RATIOS = SAME_PRECISION + PRECISION_GAINS
TARGET = 1.15  # issue #7: ours / keras_hub >= 1.15 on the encoder and decoder configurations


def candidates(args):
    """The implementations of a comparison, in their alternation order."""
    impls = ["ours", "keras_hub"] + (["keras_mha"] if args.keras_mha else [])
    if args.use_bf16:
        impls += ["ours" + BF16, "keras_hub" + BF16]
    return tuple(impls)
LENGTHS = (64, 128, 256, 512, 1024)
LENGTH_TOKENS = 4096  # batch = LENGTH_TOKENS // length in the length sweep

FLOPS_NOTE = (
    "Training FLOPs per step = 6·P·T + 12·n_layers·L·d·T  (T = batch·L tokens, L = sequence length, "
    "d = model dim; the causal decoder is counted at the full L², which is what the kernels compute).\n"
    "P = trainable parameters of the transformer blocks (attention q/k/v/o kernels and biases, FFN, "
    "LayerNorms) plus the output projection Dense(d → vocab); NOT counted: the token and position "
    "embedding tables (a lookup, no matmul).\n"
    "seq2seq (source length = target length = L): 6·P·T + 12·d·T·(n_enc·L_src + n_dec·L_tgt + n_dec·L_src), "
    "the last term being cross-attention; P covers both stacks, so the encoder's parameters see the "
    "T source tokens and the decoder's the T target tokens.\n"
    "tokens/s counts the input tokens a step consumes: batch·L, and batch·(L_src + L_tgt) for seq2seq."
)


# ------------------------------------------------------------------ arguments


# (rounds, timed steps per round) per section. The documented figures need at least
# MIN_ROUNDS rounds of MIN_STEPS steps; the quick smoke run uses fewer and says so.
MIN_ROUNDS, MIN_STEPS = 5, 5
PLAN = {"S": (5, 5), "M": (5, 5), "lengths": (5, 2), "xla": (5, 5)}
QUICK_PLAN = {"S": (3, 2), "M": (3, 2), "lengths": (2, 1), "xla": (3, 2)}
SECTIONS = ("main", "lengths", "xla")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: size S, encoder, 3 rounds of 2 steps, small matmul peak (not a result)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw numbers to this JSON file")
    parser.add_argument("--sections", default="main",
                        help="comma-separated, from " + ",".join(SECTIONS) + " (default main: the comparisons)")
    parser.add_argument("--rounds", type=int, help=f"alternation rounds per comparison (default {MIN_ROUNDS})")
    parser.add_argument("--steps", type=int,
                        help=f"timed training steps per candidate per round (default {MIN_STEPS}; length sweep 2)")
    parser.add_argument("--warmup-steps", type=int, default=1,
                        help="steps of each model's untimed warm-up epoch (tracing, XLA compilation if any), default 1; "
                             "it is followed by one untimed round of 1 step per candidate (2 steps in the "
                             "single-model length sweep)")
    parser.add_argument("--sizes", default=None, help="comma-separated, from S,M (default S,M; quick S)")
    parser.add_argument("--archs", default=None,
                        help="comma-separated, from " + ",".join(ARCHS) + " (default encoder,decoder: the target's "
                             "configurations; quick encoder)")
    parser.add_argument("--keras-mha", action="store_true", help="add the plain-Keras (MultiHeadAttention) blocks")
    parser.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                        help="mixed_bfloat16 candidates: auto (default) runs them where the CPU has bfloat16 units "
                             "(kerasformers.training.fast_bfloat16), on / off forces")
    parser.add_argument("--matmul-n", type=int, default=None,
                        help="matrix size of the peak measurement (4096; quick 2048)")
    parser.add_argument("--_length-worker", type=int, dest="length_worker", help=argparse.SUPPRESS)
    parser.add_argument("--_group-worker", dest="group_worker", help=argparse.SUPPRESS)  # SIZE:ARCH:JIT:IMPL,IMPL
    args = parser.parse_args(argv)
    args.sizes = (args.sizes or ("S" if args.quick else "S,M")).split(",")
    args.archs = (args.archs or ("encoder" if args.quick else "encoder,decoder")).split(",")
    args.sections = args.sections.split(",")
    args.matmul_n = args.matmul_n or (2048 if args.quick else 4096)
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    for arch in args.archs:
        if arch not in ARCHS:
            parser.error(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
    for section in args.sections:
        if section not in SECTIONS:
            parser.error(f"unknown section {section!r}; known: {', '.join(SECTIONS)}")
    return args


def below_minimum(rounds, steps):
    return rounds < MIN_ROUNDS or steps < MIN_STEPS


def plan(args, section):
    """(rounds, steps) of a section ("S", "M", "lengths" or "xla"), after --rounds / --steps."""
    rounds, steps = (QUICK_PLAN if args.quick else PLAN)[section]
    return args.rounds or rounds, args.steps or steps


# --------------------------------------------------------------------- models


@functools.lru_cache(maxsize=None)
def _keras_layers():
    """The plain-Keras (TensorFlow tutorial) blocks; defined lazily, after the backend is chosen."""
    import keras
    from keras import ops

    class TokenAndLearnedPosition(keras.layers.Layer):
        """keras.layers.Embedding + a learned (length, d) position table."""

        def __init__(self, vocabulary_size, length, dim, **kwargs):
            super().__init__(**kwargs)
            self.tokens = keras.layers.Embedding(vocabulary_size, dim, name="tokens")
            self.length, self.dim = length, dim

        def build(self, input_shape):
            self.tokens.build(input_shape)
            self.positions = self.add_weight(name="positions", shape=(self.length, self.dim), initializer="glorot_uniform")

        def call(self, ids):  # (batch, length) -> (batch, length, dim)
            return self.tokens(ids) + self.positions[None, : ops.shape(ids)[1]]

    class FeedForwardSublayer(keras.layers.Layer):
        """Tutorial `FeedForward`: x + Dropout(Dense(Dense(x, relu))), then LayerNorm."""

        def __init__(self, dim, hidden_dim, dropout, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(hidden_dim, activation="relu")
            self.outer = keras.layers.Dense(dim)
            self.dropout = keras.layers.Dropout(dropout)
            self.add = keras.layers.Add()
            self.norm = keras.layers.LayerNormalization(epsilon=EPSILON)

        def call(self, x, training=None):
            return self.norm(self.add([x, self.dropout(self.outer(self.inner(x)), training=training)]))

    class AttentionSublayer(keras.layers.Layer):
        """Tutorial `BaseAttention`: x + Dropout(MHA(...)), then LayerNorm.

        Deviation from the tutorial, for identical compute: the tutorial has no
        dropout on the attention output (ours and keras_hub do); and
        `key_dim = d / heads` where the tutorial passes `key_dim=d_model`.
        """

        def __init__(self, dim, num_heads, dropout, causal=False, **kwargs):
            super().__init__(**kwargs)
            self.mha = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=dim // num_heads, dropout=dropout)
            self.dropout = keras.layers.Dropout(dropout)
            self.add = keras.layers.Add()
            self.norm = keras.layers.LayerNormalization(epsilon=EPSILON)
            self.causal = causal

        def call(self, x, context=None, training=None):
            context = x if context is None else context
            y = self.mha(query=x, key=context, value=context, use_causal_mask=self.causal, training=training)
            return self.norm(self.add([x, self.dropout(y, training=training)]))

    class EncoderLayer(keras.layers.Layer):
        def __init__(self, dim, num_heads, hidden_dim, dropout, **kwargs):
            super().__init__(**kwargs)
            self.attention = AttentionSublayer(dim, num_heads, dropout)
            self.ffn = FeedForwardSublayer(dim, hidden_dim, dropout)

        def call(self, x, training=None):
            return self.ffn(self.attention(x, training=training), training=training)

    class DecoderLayer(keras.layers.Layer):
        def __init__(self, dim, num_heads, hidden_dim, dropout, cross_attention, **kwargs):
            super().__init__(**kwargs)
            self.causal_attention = AttentionSublayer(dim, num_heads, dropout, causal=True)
            self.cross_attention = AttentionSublayer(dim, num_heads, dropout) if cross_attention else None
            self.ffn = FeedForwardSublayer(dim, hidden_dim, dropout)

        def call(self, x, context=None, training=None):
            x = self.causal_attention(x, training=training)
            if self.cross_attention is not None:
                x = self.cross_attention(x, context, training=training)
            return self.ffn(x, training=training)

    return TokenAndLearnedPosition, EncoderLayer, DecoderLayer


def make_embedding(impl, length, dim, name):
    import keras_hub

    import kerasformers as kf

    if impl == "ours":
        return kf.layers.TokenAndPositionEmbedding(VOCAB, length, dim, name=name)
    if impl == "keras_hub":
        return keras_hub.layers.TokenAndPositionEmbedding(VOCAB, length, dim, name=name)
    return _keras_layers()[0](VOCAB, length, dim, name=name)


def make_block(impl, kind, cfg, name, cross_attention=False, dropout=DROPOUT):
    """One post-LN block, relu FFN, `dropout` (default 0.1) on residual branches and attention probabilities."""
    import keras_hub

    import kerasformers as kf

    d, h, ff = cfg["model_dim"], cfg["num_heads"], cfg["hidden_dim"]
    if impl == "ours":
        cls = kf.layers.TransformerEncoderLayer if kind == "encoder" else kf.layers.TransformerDecoderLayer
        return cls(num_heads=h, hidden_dim=ff, dropout=dropout, activation="relu", normalize_first=False,
                   layer_norm_epsilon=EPSILON, name=name)
    if impl == "keras_hub":
        cls = keras_hub.layers.TransformerEncoder if kind == "encoder" else keras_hub.layers.TransformerDecoder
        return cls(intermediate_dim=ff, num_heads=h, dropout=dropout, activation="relu", normalize_first=False,
                   layer_norm_epsilon=EPSILON, name=name)
    _, encoder_layer, decoder_layer = _keras_layers()
    if kind == "encoder":
        return encoder_layer(d, h, ff, dropout, name=name)
    return decoder_layer(d, h, ff, dropout, cross_attention, name=name)


def build_model(impl, arch, cfg, length=None, dropout=DROPOUT):
    """Returns (model, non-embedding parameter count P). `impl` may end in BF16: built under `mixed_bfloat16`."""
    from kerasformers.training import dtype_policy

    base, bf16 = impl.removesuffix(BF16), impl.endswith(BF16)
    with dtype_policy("mixed_bfloat16" if bf16 else "float32"):
        return _build_model(base, arch, cfg, length, dropout)


def _build_model(impl, arch, cfg, length=None, dropout=DROPOUT):
    import keras

    length = length or cfg["length"]
    d, n = cfg["model_dim"], cfg["num_layers"]
    embeddings = []

    def embed(ids, name):
        layer = make_embedding(impl, length, d, name)
        embeddings.append(layer)
        return layer(ids)

    if arch in ("encoder", "decoder"):
        ids = keras.Input(shape=(length,), dtype="int32", name="token_ids")
        inputs, x = ids, embed(ids, "embedding")
        for i in range(n):
            x = make_block(impl, arch, cfg, f"{arch}_{i}", dropout=dropout)(x)
    else:
        source = keras.Input(shape=(length,), dtype="int32", name="source_ids")
        target = keras.Input(shape=(length,), dtype="int32", name="target_ids")
        inputs = {"source_ids": source, "target_ids": target}
        context = embed(source, "source_embedding")
        for i in range(n):
            context = make_block(impl, "encoder", cfg, f"encoder_{i}", dropout=dropout)(context)
        x = embed(target, "target_embedding")
        for i in range(n):
            x = make_block(impl, "decoder", cfg, f"decoder_{i}", cross_attention=True, dropout=dropout)(x, context)
    logits = keras.layers.Dense(VOCAB, name="output_projection")(x)  # (batch, length, vocab)
    model = keras.Model(inputs, logits, name=f"{impl}_{arch}")
    params = model.count_params() - sum(layer.count_params() for layer in embeddings)
    return model, params


def compile_model(model, jit_compile):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )


def make_dataset(arch, batch, length, seed=0):
    """NUM_BATCHES distinct batches of random ids in [1, VOCAB), repeated forever (every `fit` call
    starts a new iterator at the first batch, so all candidates see the same batches)."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    rows = NUM_BATCHES * batch

    def ids():
        return rng.integers(1, VOCAB, size=(rows, length), dtype=np.int32)

    x = ids() if arch != "seq2seq" else {"source_ids": ids(), "target_ids": ids()}
    y = ids()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True)
    return dataset.repeat().prefetch(2)


def tokens_per_step(arch, batch, length):
    return batch * length * (2 if arch == "seq2seq" else 1)


def analytic_params(arch, cfg):
    """Non-embedding parameters P from the sizes (checked against the built models)."""
    d, ff, n = cfg["model_dim"], cfg["hidden_dim"], cfg["num_layers"]
    attention, ffn, norm = 4 * d * d + 4 * d, 2 * d * ff + ff + d, 2 * d
    encoder_layer = attention + ffn + 2 * norm
    head = d * VOCAB + VOCAB
    if arch == "seq2seq":
        return n * encoder_layer + n * (encoder_layer + attention + norm) + head
    return n * encoder_layer + head


def flops_per_step(arch, params, cfg, batch, length):
    """(total, attention) training FLOPs per step, see FLOPS_NOTE."""
    d, n = cfg["model_dim"], cfg["num_layers"]
    tokens = batch * length  # per stack
    if arch == "seq2seq":
        attention = 12 * d * tokens * (n * length + n * length + n * length)
    else:
        attention = 12 * n * length * d * tokens
    return 6 * params * tokens + attention, attention


# ---------------------------------------------------------------- comparisons


def compare(arch, size, cfg, impls, jit_compile, args):
    """Builds, warms up and alternates `impls` for one architecture. Returns a result dict."""
    import keras

    rounds, steps = plan(args, "xla" if jit_compile else size)
    batch, length = cfg["batch"], cfg["length"]
    dataset = make_dataset(arch, batch, length)  # one dataset object: same batches, same order for all
    tokens = tokens_per_step(arch, batch, length)
    models, info = {}, {}
    for impl in impls:
        clock = Clock()
        keras.utils.set_random_seed(0)
        model, params = build_model(impl, arch, cfg)
        compile_model(model, jit_compile)
        model.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0, shuffle=False)  # traces, compiles
        flops, attention_flops = flops_per_step(arch, params, cfg, batch, length)
        models[impl] = model
        info[impl] = dict(params=params, warmup_seconds=clock.elapsed(), flops_per_step=flops,
                          attention_flops_per_step=attention_flops)
        print(f"  {size} {arch:7s} jit={str(jit_compile):5s} {impl:9s} built + warm-up: {clock.elapsed():5.1f} s "
              f"(P = {params:,})", flush=True)
    if {v["params"] for v in info.values()} != {analytic_params(arch, cfg)}:
        print(f"  WARNING: parameter counts differ (expected {analytic_params(arch, cfg):,}):",
              {k: v["params"] for k, v in info.items()}, flush=True)

    # One untimed round in the timed order. The first step of a model after the other
    # candidates were warmed up is 1.5-3x slower (seen on this CPU for all three kinds);
    # timed, it would bias round 1 against whichever candidate was built first.
    settling = {impl: time_fit(models[impl], dataset, 1) for impl in impls}
    print("    untimed settling round, s/step: " + ", ".join(f"{k} {v:.2f}" for k, v in settling.items()), flush=True)

    def runner(impl):
        return lambda: tokens / time_fit(models[impl], dataset, steps)

    def progress(round_index, impl, rate):
        print(f"    round {round_index + 1}/{rounds} {impl:9s} {rate:8,.0f} tokens/s", flush=True)

    clock = Clock()
    rates = alternate({impl: runner(impl) for impl in impls}, rounds, on_result=progress)
    result = dict(arch=arch, size=size, jit_compile=jit_compile, batch=batch, length=length,
                  tokens_per_step=tokens, rounds=rounds, steps=steps, timed_seconds=clock.elapsed(),
                  candidates={})
    for impl in impls:
        rate = median(rates[impl])
        result["candidates"][impl] = dict(
            **info[impl],
            settling_round_seconds_per_step=settling[impl],
            tokens_per_second_rounds=rates[impl],
            tokens_per_second=rate,
            seconds_per_step=tokens / rate,
            achieved_flops=info[impl]["flops_per_step"] * rate / tokens,
        )
        reference = ours_reference(impl)
        if reference in rates:
            result["candidates"][impl].update(ours_over_this_rounds=per_round_ratios(rates, reference, impl),
                                              ours_over_this=median_ratio(rates, reference, impl))
    result["ratios"] = {}
    for a, b in RATIOS:
        if a in rates and b in rates:
            per_round = per_round_ratios(rates, a, b)
            result["ratios"][f"{a} / {b}"] = dict(min=min(per_round), median=median(per_round), max=max(per_round),
                                                  rounds=per_round)
    result["process_peak_rss"] = peak_rss()
    return result


def ours_reference(impl):
    """Our candidate of the same precision as `impl` (the numerator of its `ours ÷ this`)."""
    return "ours" + BF16 if impl.endswith(BF16) else "ours"


def precision_of(impl):
    return "bf16" if impl.endswith(BF16) else "fp32"


def warm_up_runtime(jit_compile):
    """Pays the process's one-time start-up costs (imports, first Keras fit, first XLA
    compilation) before any candidate, so that the warm-up times are comparable."""
    import keras
    import keras_hub  # noqa: F401 - imported here, not inside the first candidate's build
    import numpy as np

    import kerasformers  # noqa: F401

    inputs = keras.Input((8,), dtype="int32")
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Embedding(16, 8)(inputs)))
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=jit_compile)
    model.fit(np.ones((4, 8), "int32"), np.ones((4, 8), "int32"), epochs=1, verbose=0)
    keras.backend.clear_session()


def group_worker(args):
    """Runs in a fresh process: one `compare` (size, architecture, jit, implementations); prints JSON."""
    size, arch, jit, impls = args.group_worker.split(":")
    warm_up_runtime(jit == "1")
    result = compare(arch, size, SIZES[size], tuple(impls.split(",")), jit == "1", args)
    print(json.dumps(result), flush=True)


def run_group(size, arch, jit_compile, impls, args):
    """`compare` in a fresh process (isolated memory and compiled code); returns its result."""
    clock = Clock()
    forwarded = ["--warmup-steps", str(args.warmup_steps)] + (["--quick"] if args.quick else [])
    forwarded += (["--rounds", str(args.rounds)] if args.rounds else [])
    forwarded += (["--steps", str(args.steps)] if args.steps else [])
    spec = f"{size}:{arch}:{int(jit_compile)}:{','.join(impls)}"
    result = run_json_subprocess([os.path.abspath(__file__), "--_group-worker", spec] + forwarded)
    result["process_seconds"] = clock.elapsed()
    return result


def add_peak_fractions(results, peaks):
    """`peaks`: {"fp32": FLOP/s, "bf16": FLOP/s}; each candidate is compared with its own precision's peak."""
    for r in results:
        for impl, c in r["candidates"].items():
            c["fraction_of_peak"] = c["achieved_flops"] / peaks[precision_of(impl)]


def percent(fraction):
    return "n/a" if fraction is None else f"{100 * fraction:.1f}%"


THROUGHPUT_HEADERS = ["size", "arch", "impl", "precision", "jit", "P (non-emb.)", "ms/step", "tokens/s", "GFLOP/step",
                      "GFLOP/s", "% of peak", "ours ÷ this", "warm-up s"]


def print_throughput(results, title):
    rows = []
    for r in results:
        for impl, c in r["candidates"].items():
            rows.append([
                r["size"], r["arch"], impl.removesuffix(BF16), precision_of(impl), "yes" if r["jit_compile"] else "no",
                f"{c['params'] / 1e6:.2f} M",
                f"{c['seconds_per_step'] * 1e3:.0f}", f"{c['tokens_per_second']:,.0f}",
                f"{c['flops_per_step'] / 1e9:.1f}", f"{c['achieved_flops'] / 1e9:.1f}",
                percent(c.get("fraction_of_peak")),
                "—" if impl == ours_reference(impl) or "ours_over_this" not in c else f"{c['ours_over_this']:.3f}",
                f"{c['warmup_seconds']:.0f}",
            ])
    print_table(THROUGHPUT_HEADERS, rows, title=title, align="llllllrrrrrrr",
                note="precision: fp32 = float32 policy; bf16 = `mixed_bfloat16` (bfloat16 compute, float32 weights, "
                     "float32 loss). % of peak: of the fp32 or bf16 matmul peak, by the candidate's precision. "
                     "ms/step and tokens/s: median over rounds. `ours ÷ this`: median over rounds of the "
                     "per-round ratio of tokens/s against ours at the same precision, > 1 means ours is faster. "
                     "warm-up: build + compile + warm-up epoch, not timed (nor is the untimed settling round "
                     "that follows).")


def ratio_cell(result, a, b):
    ratio = result.get("ratios", {}).get(f"{a} / {b}")
    return "—" if ratio is None else f"{ratio['min']:.3f}–**{ratio['median']:.3f}**–{ratio['max']:.3f}"


def headline(results):
    """The target check: ours / keras_hub in float32, jit_compile=False, encoder and decoder. Returns text."""
    rows = [r for r in results if not r["jit_compile"] and r["arch"] in ("encoder", "decoder")
            and "ours / keras_hub" in r.get("ratios", {})]
    if not rows:
        return None
    medians = [r["ratios"]["ours / keras_hub"]["median"] for r in rows]
    worst = min(medians)
    short = [r for r in rows if below_minimum(r["rounds"], r["steps"])]
    if short:
        verdict = (f"no verdict, {len(short)} comparison(s) ran fewer than {MIN_ROUNDS} rounds of {MIN_STEPS} "
                   f"steps (smoke run; median ratios {min(medians):.3f}–{max(medians):.3f})")
    elif worst >= TARGET:
        verdict = f"met (median ratios {min(medians):.3f}–{max(medians):.3f})"
    else:
        verdict = (f"missed (median ratios {min(medians):.3f}–{max(medians):.3f}; the lowest is "
                   f"{TARGET - worst:.3f} short of {TARGET})")
    return (f"Headline, equal precision (float32, jit_compile=False): ours / keras_hub >= {TARGET} on the "
            f"encoder and decoder configurations: {verdict}.")


def print_summary(results):
    rows = []
    for r in results:
        rows.append([r["size"], r["arch"], "yes" if r["jit_compile"] else "no", f"{r['rounds']}×{r['steps']}",
                     *(ratio_cell(r, a, b) for a, b in SAME_PRECISION)])
    print_table(["size", "arch", "jit", "rounds×steps", "ours / keras_hub (fp32)", "ours / keras_hub (bf16)",
                 "ours / keras-MHA (fp32)"], rows,
                title="Same precision: implementation against implementation (min–**median**–max of per-round "
                      "throughput ratios)",
                align="llllrrr",
                note="> 1 means ours is faster. Each round times every candidate once, in turn; the ratio is taken "
                     "per round. — : candidate not run (--keras-mha; bf16 needs --bf16 on where the CPU has no "
                     "bfloat16 units).")
    text = headline(results)
    if text:
        print(text + "\n")
    if any(f"{a} / {b}" in r.get("ratios", {}) for r in results for a, b in PRECISION_GAINS):
        rows = [[r["size"], r["arch"], "yes" if r["jit_compile"] else "no", f"{r['rounds']}×{r['steps']}",
                 *(ratio_cell(r, a, b) for a, b in PRECISION_GAINS)] for r in results]
        print_table(["size", "arch", "jit", "rounds×steps", "ours bf16 / keras_hub fp32", "ours bf16 / ours fp32",
                     "keras_hub bf16 / keras_hub fp32"], rows,
                    title="Mixed precision against float32: a precision setting, not an implementation gain "
                          "(min–**median**–max of per-round ratios)",
                    align="llllrrr",
                    note="bf16 = the `mixed_bfloat16` policy (bfloat16 compute, float32 weights and loss); fp32 = "
                         "Keras' default float32 policy. The same switch gives KerasHub models the same gain "
                         "(last column); what kerasformers adds is choosing it (`--precision auto`).")


# --------------------------------------------------------------- length sweep


def length_worker(args):
    """Runs in a fresh process: our encoder stack at size S and one sequence length; prints JSON."""
    import keras

    cfg = dict(SIZES["S"])
    length = args.length_worker
    batch = max(1, LENGTH_TOKENS // length)
    rss_start = current_rss()
    keras.utils.set_random_seed(0)
    model, params = build_model("ours", "encoder", cfg, length=length)
    compile_model(model, jit_compile=False)
    dataset = make_dataset("encoder", batch, length)
    rss_built = current_rss()
    model.fit(dataset, epochs=1, steps_per_epoch=args.warmup_steps + 1, verbose=0, shuffle=False)
    rss_warm, peak_rss_warm, tf_warm = current_rss(), peak_rss(), tf_memory_info()
    tf_resettable, rss_resettable = reset_tf_memory_peak(), reset_peak_rss()
    rounds, steps = plan(args, "lengths")
    seconds = [time_fit(model, dataset, steps) for _ in range(rounds)]
    tf_steps = tf_memory_info()
    flops, attention = flops_per_step("encoder", params, cfg, batch, length)
    print(json.dumps(dict(
        length=length, batch=batch, tokens_per_step=batch * length, params=params, rounds=rounds, steps=steps,
        seconds_per_step_rounds=seconds, seconds_per_step=median(seconds),
        flops_per_step=flops, attention_flops_per_step=attention,
        rss_start=rss_start, rss_after_build=rss_built, rss_after_warmup=rss_warm,
        peak_rss_through_warmup=peak_rss_warm,
        peak_rss_timed_steps=peak_rss() if rss_resettable else None,
        tf_memory_after_warmup=tf_warm,
        tf_memory_timed_steps=tf_steps if tf_resettable else None,
    )))


def length_sweep(args, lengths):
    results = []
    for length in lengths:
        clock = Clock()
        r = run_json_subprocess([os.path.abspath(__file__), "--_length-worker", str(length),
                                 "--warmup-steps", str(args.warmup_steps)]
                                + (["--quick"] if args.quick else [])
                                + (["--rounds", str(args.rounds)] if args.rounds else [])
                                + (["--steps", str(args.steps)] if args.steps else []))
        r["process_seconds"] = clock.elapsed()
        r["tokens_per_second"] = r["tokens_per_step"] / r["seconds_per_step"]
        peaks = [v for v in (r["peak_rss_through_warmup"], r["peak_rss_timed_steps"]) if v is not None]
        r["peak_rss_minus_rss_after_build"] = max(peaks) - r["rss_after_build"]
        results.append(r)
        print(f"  L={length:4d} batch={r['batch']:3d}: {r['seconds_per_step'] * 1e3:5.0f} ms/step "
              f"(process {clock.elapsed():.0f} s)", flush=True)
    return results


def print_length_sweep(results, peak):
    rows = []
    for r in results:
        tf_mem = r["tf_memory_timed_steps"]
        rows.append([
            r["length"], r["batch"], r["tokens_per_step"], f"{r['seconds_per_step'] * 1e3:.0f}",
            f"{r['tokens_per_second']:,.0f}", f"{r['flops_per_step'] / 1e9:.1f}",
            percent(r["flops_per_step"] / r["seconds_per_step"] / peak),
            f"{100 * r['attention_flops_per_step'] / r['flops_per_step']:.1f}%",
            mib(tf_mem and tf_mem["peak"]), mib(tf_mem and tf_mem["peak"] - tf_mem["current"]),
            mib(r["peak_rss_minus_rss_after_build"]),
        ])
    print_table(
        ["L", "batch", "tokens/step", "ms/step", "tokens/s", "GFLOP/step", "% of peak", "attention FLOP share",
         "TF peak/step MiB", "− resident MiB", "peak RSS − RSS after build MiB"],
        rows, title=f"Sequence-length scaling: our encoder stack, size S, float32, jit_compile=False, {LENGTH_TOKENS} tokens/step",
        align="rrrrrrrrrrr",
        note="attention FLOP share = 12·n_layers·L·d·T / total training FLOPs. Each length runs in a fresh process.\n"
             "TF peak/step: tf.config.experimental.get_memory_info('CPU:0')['peak'] over the timed steps (reset "
             "after the warm-up; it does work on CPU): the tensors TensorFlow allocates. `− resident` "
             "subtracts what stays allocated between steps (weights, Adam slots), leaving activations, gradients "
             "and temporaries of one step. peak RSS − RSS after build: the process's peak resident memory "
             "(VmHWM) minus its RSS once the model is built; it includes allocator caching, "
             "so it is an upper bound. (getrusage's ru_maxrss is not used: a subprocess inherits its parent's.)",
    )


# ----------------------------------------------------------------------- main


def measure_peak(args):
    """Matmul peaks {"fp32": {...}, "bf16": {...}} (bf16 only if its candidates run; `_common.matmul_peak`)."""
    peaks = {"fp32": matmul_peak(n=args.matmul_n, repeats=3)}
    if args.use_bf16:
        peaks["bf16"] = matmul_peak(n=args.matmul_n, repeats=3, dtype="bfloat16")
    return peaks


def resolve_bf16(args):
    """Sets `args.use_bf16` from --bf16 and the CPU; returns the reason as text."""
    from kerasformers.training import fast_bfloat16

    fast, reason = fast_bfloat16()
    args.use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and fast)
    if args.use_bf16 and not fast:
        return f"mixed_bfloat16 candidates forced on (--bf16 on), but: {reason}; expect no speed-up from it here."
    if args.use_bf16:
        return f"mixed_bfloat16 candidates on: {reason}."
    return (f"mixed_bfloat16 candidates off ({'--bf16 off' if args.bf16 == 'off' else reason}); "
            "--bf16 on runs them anyway.")


def main(argv=None):
    args = parse_args(argv)
    if args.length_worker:
        return length_worker(args)
    if args.group_worker:
        return group_worker(args)
    clock = Clock()
    import tensorflow as tf

    import kerasformers

    bf16_note = resolve_bf16(args)
    comparisons = "main" in args.sections or "xla" in args.sections
    sections = ([s for s in ("S", "M") if s in args.sizes] if "main" in args.sections else []) + \
        [s for s in ("lengths", "xla") if s in args.sections]
    env = environment_info(
        kerasformers=getattr(kerasformers, "__version__", "?"),
        tf_intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads() or "auto",
        mode="quick" if args.quick else "full",
        sections=",".join(args.sections),
        rounds_x_steps=", ".join(f"{s}: {'×'.join(map(str, plan(args, s)))}" for s in sections),
        warmup_steps=args.warmup_steps,
        mixed_bfloat16=bf16_note,
    )
    print("# Training throughput: kerasformers vs keras_hub (vs keras.layers.MultiHeadAttention)\n")
    print_environment(env)
    warning = load_warning()
    if warning:
        print(warning + "\n")
    if any(below_minimum(*plan(args, s)) for s in sections if s != "lengths"):
        print(f"NOTE: fewer than {MIN_ROUNDS} rounds of {MIN_STEPS} steps: a smoke run, not a documented result.\n")
    if comparisons:
        print(f"vocab {VOCAB}, dropout {DROPOUT} (residual branches and attention probabilities), post-LN, relu, "
              f"Adam, sparse CE on Dense(vocab) logits. Synthetic ids: every `fit` call restarts at the first of "
              f"{NUM_BATCHES} fixed random batches, so every candidate trains on the same batches, with the same "
              "batch size and step counts.\n")
    print_table(["size", "d", "heads", "d_ff", "layers", "L", "batch"],
                [[k, c["model_dim"], c["num_heads"], c["hidden_dim"], c["num_layers"], c["length"], c["batch"]]
                 for k, c in SIZES.items() if k in args.sizes], title="Sizes", align="lrrrrrr")
    print(FLOPS_NOTE + "\n", flush=True)

    print("Progress:", flush=True)
    peaks = [measure_peak(args)]  # once now, once at the end: load can only lower it
    print(f"  matmul peak: " + ", ".join(f"{p} {m['peak_flops'] / 1e9:.1f}" for p, m in peaks[0].items())
          + f" GFLOP/s [{clock}]", flush=True)
    results, xla, lengths = [], [], []
    impls = candidates(args)
    if "main" in args.sections:
        for size in args.sizes:
            for arch in args.archs:
                results.append(run_group(size, arch, False, impls, args))
                print(f"  [{clock} elapsed; that process: {results[-1]['process_seconds']:.0f} s, "
                      f"peak RSS {mib(results[-1]['process_peak_rss'])} MiB]", flush=True)
    if "lengths" in args.sections:
        lengths = length_sweep(args, LENGTHS)
        print(f"  [{clock} elapsed]", flush=True)
    if "xla" in args.sections:
        for arch in [a for a in args.archs if a != "seq2seq"]:
            xla.append(run_group("S", arch, True, ("ours", "keras_hub"), args))
            print(f"  [{clock} elapsed]", flush=True)
    peaks.append(measure_peak(args))
    best = {p: max(m[p]["peak_flops"] for m in peaks) for p in peaks[0]}
    add_peak_fractions(results + xla, best)
    print()

    print_table(["when", "dtype", "n", "tf.matmul GFLOP/s", "XLA tf.matmul GFLOP/s"],
                [[when, p, m[p]["n"], f"{m[p]['eager_flops'] / 1e9:.1f}", f"{m[p]['xla_flops'] / 1e9:.1f}"]
                 for when, m in zip(("start", "end"), peaks) for p in m],
                title="Matmul peak (best of repeats, 2·n³ FLOPs per n×n product)", align="llrrr",
                note="Peaks used for `% of peak`: " + ", ".join(
                    f"{p} {best[p] / 1e9:.1f} GFLOP/s" for p in best) + " (the best of all).")
    if results:
        print_throughput(results, "Training throughput, jit_compile=False")
    if xla:
        print_throughput(xla, "Training throughput, jit_compile=True (size S, float32)")
    if any(c["fraction_of_peak"] > 1 for r in results + xla for c in r["candidates"].values()):
        print("NOTE: some runs exceed the measured matmul peak: the machine was busier while the peak was "
              "measured than during those steps; compare ratios, not fractions, on a loaded machine.\n")
    if results or xla:
        print_summary(results + xla)
    if lengths:
        print_length_sweep(lengths, best["fp32"])
    print(f"Total elapsed: {clock} (m:ss); load average now (including this run) "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.json:
        write_json(args.json, dict(environment=env, args=vars(args), vocab=VOCAB, dropout=DROPOUT, sizes=SIZES,
                                   flops_formula=FLOPS_NOTE, matmul_peak=dict(start=peaks[0], end=peaks[1]),
                                   peak_flops_used=best, throughput=results, throughput_xla=xla,
                                   length_sweep=lengths, total_seconds=clock.elapsed()))
        print(f"Raw numbers written to {args.json}")


if __name__ == "__main__":
    main()
