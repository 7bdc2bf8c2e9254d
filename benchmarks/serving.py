"""Serving cost of the exported SavedModels: size on disk and p50/p95 latency of `serving_default`.

For each task (classifier, language model, translator) a `"tiny"` preset model
with a real tokenizer (trained on `../shared/data` when present, else on our
generated demo data) is exported with `kerasformers.export.export_for_serving`,
loaded back with `tf.saved_model.load` and called with batches of 1 and 32
raw strings. Beside it, in the same run, the reference: the same Keras model
called in Python on token ids the way a user would without an export
(`model.predict_on_batch(ids)` for the classifier, the compiled
`kerasformers.generation.generate` / `translate` for the generative ones); tokenization is not included in that time, so the ratio
SavedModel / Keras shows what strings-in, strings-out costs on top.

The models are untrained, so they rarely emit the end token: the language
model always generates its `--max-new-tokens` and the translator decodes to
`max_length` target tokens. That is the worst case of a trained model.

Usage (from the repository root)::

    python benchmarks/serving.py              # 30 timed calls per setting
    python benchmarks/serving.py --calls 10   # quicker
"""

import argparse
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


def percentiles(call, calls, warmup=2):
    """(p50, p95) seconds of `call()` over `calls` timed calls after `warmup` untimed ones."""
    import numpy as np

    for _ in range(warmup):
        call()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


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


def build(task, sst2, pairs, play, max_new_tokens):
    """(model, endpoints, strings, keras_call(strings) -> callable)."""
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
        return model, export.classifier_endpoints(model, tokenizer, ["negative", "positive"]), strings, \
            lambda n: (lambda: model.predict_on_batch({"token_ids": ids[:n]}))
    if task == "language_model":
        tokenizer = text.character_tokenizer(play)
        model = kf.TransformerLanguageModel.from_preset(
            "tiny", vocabulary_size=tokenizer.vocabulary_size(), max_length=MAX_LENGTH + max_new_tokens
        )
        strings = [line for line in play.splitlines() if line.strip()][:32]
        ids = ids_of(tokenizer, strings, MAX_LENGTH, keep="last")
        return model, export.language_model_endpoints(model, tokenizer, max_new_tokens), strings, \
            lambda n: (lambda: generate(model, ids[:n], max_new_tokens=max_new_tokens))
    sources, targets = map(list, zip(*pairs))
    spa, eng = text.train_sentence_piece(sources, 4000), text.train_sentence_piece(targets, 4000)
    model = kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=spa.vocabulary_size(), decoder_vocabulary_size=eng.vocabulary_size(),
        max_length=MAX_LENGTH,
    )
    strings = sources[:32]
    ids = ids_of(spa, strings, MAX_LENGTH)
    return model, export.translator_endpoints(model, spa, eng), strings, \
        lambda n: (lambda: translate(model, ids[:n]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="timed calls per setting (after 2 warm-up calls)")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="language model export setting")
    parser.add_argument("--tasks", default="classifier,language_model,translator")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from kerasformers.export import export_for_serving, load_for_serving

    print_environment(environment_info())
    warning = load_warning()
    if warning:
        print(warning)
    sst2, pairs, play, origin = corpora()
    print(f"tokenizers trained on {origin}; tiny presets, max_length {MAX_LENGTH}, untrained weights\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            keras.utils.set_random_seed(0)
            model, endpoints, strings, keras_call = build(task, sst2, pairs, play, args.max_new_tokens)
            path = export_for_serving(model, pathlib.Path(tmp) / task, endpoints)
            signature = load_for_serving(path).signatures["serving_default"]
            input_name = "prompt" if task == "language_model" else "text"
            size = directory_size(path)
            for batch in (1, 32):
                inputs = tf.constant(strings[:batch])
                p50, p95 = percentiles(lambda: signature(**{input_name: inputs}), args.calls)
                k50, _ = percentiles(keras_call(batch), args.calls)
                rows.append([task, f"{size / 2**20:.1f}", batch, f"{p50 * 1e3:.1f}", f"{p95 * 1e3:.1f}",
                             f"{k50 * 1e3:.1f}", f"{p50 / k50:.2f}x"])
                print(f"  done: {task}, batch {batch}", flush=True)
    print()
    print_table(
        ["task", "export MiB", "batch", "SavedModel p50 ms", "SavedModel p95 ms", "Keras p50 ms (ids in)",
         "SavedModel / Keras"],
        rows,
        title=f"serving_default latency, {args.calls} timed calls after 2 warm-up calls",
        note=(f"Language model: {args.max_new_tokens} new tokens per request; translator: greedy to "
              f"{MAX_LENGTH} target tokens. Keras: the model called in Python on token ids (no tokenization)."),
    )


if __name__ == "__main__":
    main()
