"""Serving cost of the exported SavedModels: latency against the Python path, XLA, cold start and int8.

For each task a `"tiny"` preset model (untrained; real tokenizers trained on
`../shared/data` when present, else on our generated demo data) is exported
with `kerasformers.export.export_for_serving` and loaded back with
`tf.saved_model.load`, which compiles `jit_compile` functions as TF Serving
does with `--xla_cpu_compilation_enabled=true`. Side by side, in the same run:

1. Latency (`--calls` timed calls after 2 warm-up calls; p50 and min-max):
   - classifier: `serving_default` on strings vs `model.predict_on_batch` on ids;
   - language model and translator, at batch 1 and 32, 32 and 128 new tokens:
     the Python XLA path (`kerasformers.generation.generate` / `translate` on
     ids: the reference, target ratio <= 1.3), the XLA export and the default
     (non-XLA) export, both on strings. Per-token latency of the default
     export at batch 1 (target: half of the 1.5-1.7 ms of the previous
     export, i.e. <= 0.8 ms).
2. Cold start (a fresh process per row): load time, then the first request,
   with and without replaying the export's warm-up file first (TF Serving
   replays it while loading).
3. int8 (`quantize="int8"`): variables size and p50 latency against float32,
   per task (default exports, batch 1).
4. The fused step (`--parts step`): the decoding loop as TF Serving's default
   export runs it (a `tf.function` graph without XLA, on token ids), with the
   models' fused `token_step` against the layers' `call_with_cache` (the
   export before the fused step): time per generated token at batch 1 and 32,
   per-round medians over `--rounds` alternating rounds (min-max). Target:
   at least 2x lower per token at batch 1.
5. The default export with each step (`--parts export-step`, not in the
   default): part 4 measured as the issue states it, on whole default
   exports on strings (tokenization included), both loaded in one process
   that runs no XLA when the part runs alone (as TF Serving without its XLA
   flag; an XLA program run in the same process slows the graph loop by
   10-20% here).
6. The attention threshold (`--parts threshold`, not in the default): the
   fused step's attention by elementwise products against batched matmuls,
   per cache size, for the language model at batch 1, 4, 8 and 32: the
   measurement behind `decoding_step.PRODUCTS_MAX_ELEMENTS`.

The models are untrained, so they rarely emit the end token: the language
model generates all its new tokens and the translator decodes to its maximum
length, the worst case of a trained model.

Usage (from the repository root)::

    python benchmarks/serving.py              # 10 timed calls per setting (~15 min)
    python benchmarks/serving.py --calls 5 --parts latency
    python benchmarks/serving.py --parts step --rounds 7   # fused step against the layers' step (~5 min)
    python benchmarks/serving.py --parts export-step --rounds 5 --calls 5   # the same on whole exports (~5 min)
    python benchmarks/serving.py --parts threshold --rounds 5 --calls 5   # products against matmuls (~4 min)
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import environment_info, load_warning, print_environment, print_table  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
MAX_LENGTH = 32


def corpora():
    """(sentences for classification, (spa, eng) pairs, plain text): the shared copies, else generated data."""
    from kerasformers import text
    from kerasformers.text import demo_data

    try:
        sst2 = text.read_labelled(SHARED / "sst2-glue" / "train.tsv").texts[:5000]
        pairs = text.read_pairs(SHARED / "anki-spa-eng" / "spa.txt", source_column=1, target_column=0)
        pairs = list(zip(pairs.sources, pairs.targets))[::4]
        play = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")[:200_000]
        origin = "../shared/data"
    except (FileNotFoundError, OSError, ValueError):
        sst2 = demo_data.sentiment_texts(2000).texts
        pairs = demo_data.date_pairs(2000)
        pairs = list(zip(pairs.sources, pairs.targets))
        play = demo_data.play_text()
        origin = "generated demo data (../shared/data not found)"
    return sst2, pairs, play, origin


def directory_size(path):
    return sum(f.stat().st_size for f in pathlib.Path(path).rglob("*") if f.is_file())


def timings(call, calls, warmup=2):
    """Seconds of `call()` over `calls` timed calls after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def summary(times):
    """`p50 (min-max)` in milliseconds."""
    import numpy as np

    return f"{np.median(times) * 1e3:.1f} ({min(times) * 1e3:.1f}-{max(times) * 1e3:.1f})"


def ids_of(tokenizer, strings, length, keep="first"):
    import numpy as np

    dense = np.zeros((len(strings), length), "int32")
    for row, tokens in enumerate(tokenizer(strings)):
        tokens = np.asarray(tokens, "int32")
        tokens = tokens[-length:] if keep == "last" else tokens[:length]
        dense[row, : len(tokens)] = tokens
        if not len(tokens):
            dense[row, 0] = 1
    return dense


def build(task, sst2, pairs, play, new_tokens=32):
    """(model, endpoints factory, strings, python_call(n) -> callable on the first n strings' ids)."""
    import kerasformers as kf
    from kerasformers import export, text
    from kerasformers.generation import generate, translate

    if task == "classifier":
        tokenizer = text.train_sentence_piece(sst2, 4000)
        model = kf.TransformerClassifier.from_preset(
            "tiny", vocabulary_size=tokenizer.vocabulary_size(), num_classes=2, max_length=MAX_LENGTH
        )
        strings = sst2[:32]
        ids = ids_of(tokenizer, strings, MAX_LENGTH)
        return model, lambda m, **kw: export.classifier_endpoints(m, tokenizer, ["negative", "positive"]), strings, \
            lambda n: (lambda: model.predict_on_batch({"token_ids": ids[:n]}))
    if task == "language_model":
        tokenizer = text.character_tokenizer(play)
        model = kf.TransformerLanguageModel.from_preset(
            "tiny", vocabulary_size=tokenizer.vocabulary_size(), max_length=MAX_LENGTH + new_tokens
        )
        strings = [line for line in play.splitlines() if line.strip()][:32]

        def python_call(n):  # the prompts as wide as the longest of the batch, as a user would pad them
            width = min(MAX_LENGTH, max(len(t) for t in tokenizer(strings[:n])))
            ids = ids_of(tokenizer, strings[:n], width, keep="last")
            call = lambda: generate(model, ids, max_new_tokens=new_tokens)  # noqa: E731
            call.ids = ids  # what the token_ids signature gets
            return call

        return model, lambda m, **kw: export.language_model_endpoints(m, tokenizer, new_tokens, **kw), strings, \
            python_call
    sources, targets = map(list, zip(*pairs))
    spa, eng = text.train_sentence_piece(sources, 4000), text.train_sentence_piece(targets, 4000)
    model = kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=spa.vocabulary_size(), decoder_vocabulary_size=eng.vocabulary_size(),
        max_length=new_tokens,
    )
    strings = sources[:32]
    ids = ids_of(spa, strings, new_tokens)  # the export pads sources to max_length too

    def python_call(n):
        call = lambda: translate(model, ids[:n])  # noqa: E731
        call.ids = ids[:n]
        return call

    return model, lambda m, **kw: export.translator_endpoints(m, spa, eng, **kw), strings, python_call


def input_name(task):
    return "prompt" if task == "language_model" else "text"


def latency_part(corpora_, calls, tmp):
    """Rows: task, new tokens, batch, Python XLA p50, XLA export p50, default export p50, ratios, per token."""
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasformers.export import export_for_serving, load_signature

    rows = []
    for task in ("language_model", "translator"):
        for new_tokens in (32, 128):
            keras.utils.set_random_seed(0)
            model, endpoints, strings, python_call = build(task, *corpora_, new_tokens=new_tokens)
            folder = pathlib.Path(tmp) / f"{task}-{new_tokens}"
            plain = load_signature(export_for_serving(model, folder / "plain", endpoints(model)))
            xla_path = export_for_serving(model, folder / "xla", endpoints(model), jit_compile=True)
            xla, xla_ids = load_signature(xla_path), load_signature(xla_path, "token_ids")
            ids_name = "prompt_ids" if task == "language_model" else "source_ids"
            for batch in (1, 32):
                inputs = {input_name(task): tf.constant(strings[:batch])}
                reference = python_call(batch)
                python = timings(reference, calls)
                by_ids = timings(lambda: xla_ids(**{ids_name: tf.constant(reference.ids)}), calls)
                compiled = timings(lambda: xla(**inputs), calls)
                graph = timings(lambda: plain(**inputs), calls)
                ratio_xla = np.median(compiled) / np.median(python)
                per_token = np.median(graph) / new_tokens * 1e3
                rows.append([task, new_tokens, batch, summary(python), summary(by_ids),
                             f"{np.median(by_ids) / np.median(python):.2f}x", summary(compiled), f"{ratio_xla:.2f}x",
                             summary(graph), f"{np.median(graph) / np.median(python):.2f}x", f"{per_token:.2f}"])
                print(f"  done: {task}, {new_tokens} tokens, batch {batch}", flush=True)
    keras.utils.set_random_seed(0)
    model, endpoints, strings, python_call = build("classifier", *corpora_)
    plain = load_signature(export_for_serving(model, pathlib.Path(tmp) / "classifier", endpoints(model)))
    for batch in (1, 32):
        python = timings(python_call(batch), calls)
        graph = timings(lambda: plain(text=tf.constant(strings[:batch])), calls)
        rows.append(["classifier", "-", batch, summary(python), "-", "-", "-", "-", summary(graph),
                     f"{np.median(graph) / np.median(python):.2f}x", "-"])
    return rows


COLD = """
import json, sys, time
start = time.perf_counter()
from kerasformers.export import load_for_serving, load_signature, read_warmup_requests
import tensorflow as tf
path, name, warm, text = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
start = time.perf_counter()
loaded = load_for_serving(path)
loaded_at = time.perf_counter()
def call(signature, inputs):
    defaults = loaded.signature_defaults.get(signature, {})
    return loaded.signatures[signature](**{**{k: tf.constant(v) for k, v in defaults.items()},
                                         **{k: tf.constant(v) for k, v in inputs.items()}})
if warm:
    for signature, inputs in read_warmup_requests(path):
        call(signature, inputs)
warm_at = time.perf_counter()
call("serving_default", {name: [text]})
first_at = time.perf_counter()
call("serving_default", {name: [text]})
second_at = time.perf_counter()
print(json.dumps({"load": loaded_at - start, "warmup": warm_at - loaded_at, "first": first_at - warm_at,
                  "second": second_at - first_at}))
"""


def cold_part(corpora_, tmp):
    import subprocess

    import keras

    from kerasformers.export import export_for_serving

    rows = []
    for task, jit in (("classifier", False), ("language_model", False), ("language_model", True),
                      ("translator", False), ("translator", True)):
        keras.utils.set_random_seed(0)
        model, endpoints, strings, _ = build(task, *corpora_)
        path = export_for_serving(model, pathlib.Path(tmp) / f"cold-{task}-{jit}", endpoints(model), jit_compile=jit)
        for warm in (False, True):
            result = subprocess.run([sys.executable, "-c", COLD, str(path), input_name(task), "1" if warm else "0",
                                     strings[0]], capture_output=True, text=True, check=True,
                                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            t = json.loads(result.stdout.strip().splitlines()[-1])
            rows.append([task, "XLA" if jit else "default", "yes" if warm else "no", f"{t['load']:.2f}",
                         f"{t['warmup']:.2f}" if warm else "-", f"{t['first'] * 1e3:.0f}", f"{t['second'] * 1e3:.1f}"])
        print(f"  done: cold start {task} {'XLA' if jit else 'default'}", flush=True)
    return rows


def int8_part(corpora_, calls, tmp):
    import keras
    import numpy as np
    import tensorflow as tf

    from kerasformers.export import export_for_serving, load_signature

    rows = []
    for task in ("classifier", "language_model", "translator"):
        keras.utils.set_random_seed(0)
        model, endpoints, strings, _ = build(task, *corpora_)
        quantized = type(model).from_config(model.get_config())
        quantized.set_weights(model.get_weights())
        paths = {"float32": export_for_serving(model, pathlib.Path(tmp) / f"f32-{task}", endpoints(model)),
                 "int8": export_for_serving(quantized, pathlib.Path(tmp) / f"int8-{task}", endpoints(quantized),
                                            quantize="int8")}
        sizes = {k: directory_size(pathlib.Path(v) / "variables") for k, v in paths.items()}
        latency = {}
        for kind, path in paths.items():
            signature = load_signature(path)
            latency[kind] = timings(lambda: signature(**{input_name(task): tf.constant(strings[:1])}), calls)
        rows.append([task, f"{sizes['float32'] / 2**20:.2f}", f"{sizes['int8'] / 2**20:.2f}",
                     f"{sizes['int8'] / sizes['float32']:.2f}", summary(latency["float32"]), summary(latency["int8"]),
                     f"{np.median(latency['int8']) / np.median(latency['float32']):.2f}x"])
        print(f"  done: int8 {task}", flush=True)
    return rows


def alternated(functions, rounds, calls, per):
    """`{kind: per-round medians of `calls` calls, in ms / per}` of the zero-argument `functions`, rounds alternated."""
    import numpy as np

    per_round = {kind: [] for kind in functions}
    for _ in range(rounds):
        for kind, function in functions.items():
            per_round[kind].append(np.median(timings(function, calls)) / per * 1e3)
    return {kind: np.asarray(values) for kind, values in per_round.items()}


def spread(values, digits=3, suffix=""):
    """'median (min-max)' of an array."""
    import numpy as np

    return (f"{np.median(values):.{digits}f}{suffix} ({values.min():.{digits}f}-{values.max():.{digits}f})")


def against(new, old):
    """The cells of an old-against-new comparison: old, new, old / new; each 'median (min-max)' over rounds."""
    return [spread(old), spread(new), spread(old / new, 2, "x")]


def prompt_buffer(ids, new_tokens):
    """`build_generate_function`'s inputs for right-padded prompt ids: the buffer and the prompt lengths."""
    import numpy as np
    import tensorflow as tf

    batch, width = ids.shape
    buffer = np.zeros((batch, width + new_tokens), "int32")
    buffer[:, :width] = ids
    return tf.constant(buffer), tf.constant(np.maximum((ids != 0).sum(1), 1).astype("int32"))


def step_part(corpora_, calls, rounds):
    """Per-token time of the non-XLA decoding loop with the fused step and with `call_with_cache`, alternated."""
    import keras
    import tensorflow as tf

    from kerasformers.generation import build_generate_function, build_translate_function, resolve_sampler

    rows = []
    for task in ("language_model", "translator"):
        for new_tokens in (32, 128):
            keras.utils.set_random_seed(0)
            model, _, _, python_call = build(task, *corpora_, new_tokens=new_tokens)
            for batch in (1, 32):
                ids = python_call(batch).ids
                loops = {}
                for kind in ("fused", "layers"):
                    if kind == "layers":
                        model.token_step = lambda cache: None  # generation falls back to call_with_cache
                    greedy = resolve_sampler("greedy")[1]()
                    if task == "language_model":
                        run = tf.function(build_generate_function(model, greedy, ids.shape[1], new_tokens))
                        args = prompt_buffer(ids, new_tokens)
                    else:
                        run = tf.function(build_translate_function(model, greedy, new_tokens))
                        args = (tf.constant(ids),)
                    run(*args)  # traced now, while the choice of step is in place
                    loops[kind] = (lambda run, args: lambda: run(*args))(run, args)
                    if kind == "layers":
                        del model.token_step
                times = alternated(loops, rounds, calls, new_tokens)
                rows.append([task, new_tokens, batch, *against(times["fused"], times["layers"])])
                print(f"  done: step {task}, {new_tokens} tokens, batch {batch}", flush=True)
    return rows


def export_step_part(corpora_, calls, rounds, tmp):
    """Per-token time of default (non-XLA) exports with the fused step and with `call_with_cache`, alternated.

    The issue's measure (strings in, tokenization included), in a process
    that runs no XLA when this part runs alone, as TF Serving without
    `--xla_cpu_compilation_enabled`.
    """
    import keras
    import tensorflow as tf

    from kerasformers.export import export_for_serving, load_signature

    rows = []
    for task in ("language_model", "translator"):
        for new_tokens in (32, 128):
            keras.utils.set_random_seed(0)
            model, endpoints, strings, _ = build(task, *corpora_, new_tokens=new_tokens)
            folder = pathlib.Path(tmp) / f"export-step-{task}-{new_tokens}"
            signatures = {"fused": load_signature(export_for_serving(model, folder / "fused", endpoints(model),
                                                                     warmup=False))}
            model.token_step = lambda cache: None  # the export's loop falls back to call_with_cache
            signatures["layers"] = load_signature(export_for_serving(model, folder / "layers", endpoints(model),
                                                                     warmup=False))
            del model.token_step
            for batch in (1, 32):
                inputs = {input_name(task): tf.constant(strings[:batch])}
                times = alternated({kind: (lambda signature: lambda: signature(**inputs))(signature)
                                    for kind, signature in signatures.items()}, rounds, calls, new_tokens)
                rows.append([task, new_tokens, batch, *against(times["fused"], times["layers"])])
                print(f"  done: export step {task}, {new_tokens} tokens, batch {batch}", flush=True)
    return rows


def threshold_part(corpora_, calls, rounds):
    """The fused step's attention by elementwise products against batched matmuls, per cache size (language model).

    `PRODUCTS_MAX_ELEMENTS` is where the two cross: this part times the
    default export's loop (greedy, token ids, no XLA) with each forced.
    """
    import keras
    import tensorflow as tf

    from kerasformers.generation import build_generate_function, resolve_sampler
    from kerasformers.layers import decoding_step

    rows, default = [], decoding_step.PRODUCTS_MAX_ELEMENTS
    try:
        for new_tokens in (32, 128):
            keras.utils.set_random_seed(0)
            model, _, _, python_call = build("language_model", *corpora_, new_tokens=new_tokens)
            for batch in (1, 4, 8, 32):
                ids = python_call(batch).ids
                args = prompt_buffer(ids, new_tokens)
                loops = {}
                for path, limit in (("products", 1 << 40), ("matmuls", 0)):
                    decoding_step.PRODUCTS_MAX_ELEMENTS = limit
                    run = tf.function(build_generate_function(model, resolve_sampler("greedy")[1](), ids.shape[1],
                                                              new_tokens))
                    run(*args)  # traced now, with this path
                    loops[path] = (lambda run: lambda: run(*args))(run)
                times = alternated(loops, rounds, calls, new_tokens)
                config = model.get_config()
                heads, head_dim = config["num_heads"], config["model_dim"] // config["num_heads"]
                elements = batch * heads * (ids.shape[1] + new_tokens) * head_dim
                rows.append([new_tokens, batch, f"{elements:,}", spread(times["products"]), spread(times["matmuls"]),
                             "products" if elements < default else "matmuls"])
                print(f"  done: threshold, {new_tokens} tokens, batch {batch}", flush=True)
    finally:
        decoding_step.PRODUCTS_MAX_ELEMENTS = default
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10, help="timed calls per setting (after 2 warm-up calls)")
    parser.add_argument("--parts", default="latency,cold,int8,step",
                        help="comma-separated: latency, cold, int8, step, and (not in the default) export-step, "
                             "threshold")
    parser.add_argument("--rounds", type=int, default=7, help="alternating rounds of the step part")
    parser.add_argument("--intra-op-threads", type=int, default=None,
                        help="TensorFlow's intra-op thread pool size (TF Serving: --tensorflow_intra_op_parallelism); "
                             "default: TensorFlow's (one per core)")
    args = parser.parse_args(argv)
    if args.intra_op_threads is not None:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads)
        print(f"intra-op threads: {args.intra_op_threads} (as TF Serving's --tensorflow_intra_op_parallelism)")

    print_environment(environment_info())
    warning = load_warning()
    if warning:
        print(warning)
    corpora_ = corpora()
    sst2, pairs, play, origin = corpora_
    corpora_ = (sst2, pairs, play)
    print(f"tokenizers trained on {origin}; tiny presets, untrained weights\n")
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        if "latency" in parts:
            rows = latency_part(corpora_, args.calls, tmp)
            print()
            print_table(
                ["task", "new tokens", "batch", "Python XLA ms (ids)", "XLA export ms (ids)", "ids: export / Python",
                 "XLA export ms (strings)", "strings: export / Python",
                 "default export ms", "default / Python", "default ms per token"],
                rows,
                title=f"Latency, p50 (min-max) of {args.calls} calls after 2 warm-up calls",
                note=("Python XLA: generate/translate on token ids. XLA export (ids): its token_ids signature on "
                      "the same ids, like for like; (strings): serving_default, tokenization and detokenization "
                      "included. Default export: serving_default on strings. Classifier: predict_on_batch on ids "
                      "vs its export on strings."),
            )
        if "cold" in parts:
            rows = cold_part(corpora_, tmp)
            print()
            print_table(["task", "export", "warm-up file replayed", "load s", "warm-up s", "first request ms",
                         "second request ms"], rows, title="Cold start (fresh process per row, batch 1, 32 tokens)")
        if "int8" in parts:
            rows = int8_part(corpora_, args.calls, tmp)
            print()
            print_table(["task", "float32 MiB", "int8 MiB", "size ratio", "float32 ms", "int8 ms", "latency ratio"],
                        rows, title=f"int8 exports (default, batch 1; p50 (min-max) of {args.calls} calls)",
                        note="Variables only; quality on real data against float32 not measured here.")
        if "step" in parts:
            rows = step_part(corpora_, args.calls, args.rounds)
            print()
            print_table(["task", "new tokens", "batch", "layers' step ms/token", "fused step ms/token",
                         "layers / fused"], rows,
                        title=(f"Decoding loop without XLA (tf.function graph, token ids): per-round median of "
                               f"{args.calls} calls / new tokens, median (min-max) over {args.rounds} rounds"),
                        note=("layers' step: call_with_cache, the step every export used before the fused "
                              "token_step (its one-token cache writes are scatters since commit d92b54f, "
                              "XlaDynamicUpdateSlice before); both in the same process, rounds alternated."))
        if "export-step" in parts:
            rows = export_step_part(corpora_, args.calls, args.rounds, tmp)
            print()
            print_table(["task", "new tokens", "batch", "layers' step export ms/token", "fused step export ms/token",
                         "layers / fused"], rows,
                        title=(f"Default (non-XLA) exports on strings: per-round median of {args.calls} calls / new "
                               f"tokens, median (min-max) over {args.rounds} rounds"),
                        note=("Both exports of the same weights loaded in one process, rounds alternated; layers' "
                              "step: the export's loop over call_with_cache, as before the fused token_step (its "
                              "one-token cache writes are scatters since commit d92b54f)."))
        if "threshold" in parts:
            rows = threshold_part(corpora_, args.calls, args.rounds)
            print()
            print_table(["new tokens", "batch", "cache elements", "products ms/token", "matmuls ms/token",
                         "PRODUCTS_MAX_ELEMENTS picks"], rows,
                        title=(f"The fused step's attention, language model, greedy, no XLA: per-round median of "
                               f"{args.calls} calls / new tokens, median (min-max) over {args.rounds} rounds"),
                        note="cache elements: batch x heads x (prompt + new tokens) x head_dim, one layer's keys.")


if __name__ == "__main__":
    main()
