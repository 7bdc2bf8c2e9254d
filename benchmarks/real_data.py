"""Training throughput on real text, as users see it: non-padding tokens per second against the keras.io recipes.

Issue 15, item 3. For each corpus of `../shared/data`, the keras.io recipe's
pipeline and model run side by side with ours, at the same model size, the
same precision (float32), the same optimizer, batch size and examples, and
Keras' default compilation (`jit_compile="auto"`: off on a machine without a
GPU; the recipes leave it there):

- Tatoeba spa->eng: keras.io "English-to-Spanish translation with KerasHub"
  (direction swapped): its WordPiece vocabularies (15,000 per language, shared
  by both candidates), its pipeline (every pair packed to 40 + 41 ids,
  cached), its model (one `keras_hub` TransformerEncoder and one
  TransformerDecoder, d=256, d_ff=2048, 8 heads, learned positions,
  Dropout(0.5), softmax Dense head), RMSprop, sparse cross-entropy on every
  position. Ours: `TransformerSeq2Seq` of the same size (1 + 1 layers, learned
  positions, untied Dense head), `text.translation_dataset` (length buckets),
  `MaskedSparseCategoricalCrossentropy` (the head and loss on real target
  tokens only), RMSprop. A third row, "ours, head on every position"
  (`skip_padding_in_loss = False`), isolates that part.
- SST-2: keras.io "Text classification with Transformer" (its model: embed
  32, 2 heads, FFN 32, mean pooling; `pad_sequences` to 64 ids, front
  padding; Adam, batch 32), on the shared SentencePiece 8,000 vocabulary.
  Ours: `TransformerClassifier` with 1 layer, d=32, 2 heads, FFN 32,
  `text.classification_dataset` (length buckets), Adam, batch 32.
  Approximate: SST-2 instead of IMDB and 64 ids instead of 200 words, as in
  `benchmarks/quality.py`.
- tiny Shakespeare (characters, no padding: tokens/s only): nanoGPT's CPU
  configuration (context 64, 4 layers, 4 heads, d=128, batch 12) from
  `keras_hub.layers.TransformerDecoder` against `TransformerLanguageModel` of
  the same size, both on `text.language_model_dataset`, AdamW.

Each candidate trains on the same examples: the first `--steps` batches of a
shuffled training split, cached (as the NMT recipe caches), one untimed epoch
first (tracing, filling the cache), then `--rounds` rounds in alternation
(A B C A B C ...), one epoch each, timed. Non-padding tokens are the labels'
tokens that are not padding (translation: target tokens + [END]; SST-2: the
text's ids; Shakespeare: every character), the same count for every
candidate. After the last round (the same examples seen the same number of
times), each candidate's mean cross-entropy per real token (translation) or
per sentence (SST-2) or per character (Shakespeare) on a validation split.

Usage (from the repository root)::

    python benchmarks/real_data.py                      # documented run: 5 rounds, all three (~25 min)
    python benchmarks/real_data.py --tasks translation  # one corpus
    python benchmarks/real_data.py --quick              # smoke run: 2 rounds of 3 steps (not a result)
"""

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import kerasformers as kf  # noqa: E402  (first: TensorFlow without its start-up noise)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _common import alternate, environment_info, load_warning, median, print_environment, print_table, write_json  # noqa: E402
from quality import (  # noqa: E402
    KERAS_IO_NMT,
    keras_io_nmt_model,
    keras_io_nmt_preprocess,
    keras_io_nmt_tokenizers,
    keras_io_text_classifier,
    token_id_lists,
)

from kerasformers import text  # noqa: E402
from kerasformers.training import MaskedAccuracy, MaskedSparseCategoricalCrossentropy  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


def cached(dataset):
    """A finite dataset cached in memory (filled by the untimed first epoch)."""
    return dataset.cache().prefetch(tf.data.AUTOTUNE)


def label_tokens(dataset, pad_id=0):
    """Non-padding label tokens in one pass over `dataset` of `(inputs, labels)`."""
    return int(sum(int(np.sum(np.asarray(labels) != pad_id)) for _, labels in dataset))


def token_loss(model, dataset, from_logits):
    """Mean cross-entropy per non-padding label token (id 0 is padding) of `model` on `dataset`."""
    loss = MaskedSparseCategoricalCrossentropy(from_logits=from_logits, reduction="sum")
    total, count = 0.0, 0
    for inputs, labels in dataset:
        total += float(loss(labels, model(inputs, training=False)))
        count += int(np.sum(np.asarray(labels) != 0))
    return total / count


def sentence_loss(model, dataset, from_logits):
    """Mean cross-entropy per example (classification) of `model` on `dataset`."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction="sum")
    total, count = 0.0, 0
    for inputs, labels in dataset:
        total += float(loss(labels, model(inputs, training=False)))
        count += int(np.asarray(labels).shape[0])
    return total / count


# ----------------------------------------------------------------------------- Tatoeba spa->eng
def translation(data_dir, steps, seed):
    pairs = text.read_pairs(data_dir / "anki-spa-eng" / "spa.txt", source_column=1, target_column=0)
    train, _test = text.split(pairs, 1000 / len(pairs), seed=seed)  # the test pairs of quality.py, never used
    train, val = text.split(train, 500 / len(train), seed=seed + 1)
    batch, length = KERAS_IO_NMT["batch_size"], KERAS_IO_NMT["sequence_length"]
    print(f"  WordPiece vocabularies (the recipe's, {KERAS_IO_NMT['vocabulary_size']:,} per language) ...", flush=True)
    source_tokenizer, target_tokenizer = keras_io_nmt_tokenizers(train)()
    count = steps * batch

    def lower(texts):
        return [t.lower() for t in texts]

    sources, targets = lower(train.sources[:count]), lower(train.targets[:count])
    preprocess = keras_io_nmt_preprocess(source_tokenizer, target_tokenizer)

    def recipe_data(src, tgt):
        return tf.data.Dataset.from_tensor_slices((src, tgt)).batch(batch).map(preprocess)

    def our_data(src, tgt, bucket=True, shuffle=True):
        return text.translation_dataset(src, tgt, source_tokenizer, target_tokenizer, batch, length,
                                        shuffle=shuffle, seed=seed, bucket=bucket)

    recipe = keras_io_nmt_model(source_tokenizer, target_tokenizer)
    recipe.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # as published

    def ours(skip_padding):
        keras.utils.set_random_seed(seed)
        model = kf.TransformerSeq2Seq(  # the recipe's vocabulary sizes (15,000), as its embeddings and head
            encoder_vocabulary_size=KERAS_IO_NMT["vocabulary_size"],
            decoder_vocabulary_size=KERAS_IO_NMT["vocabulary_size"], max_length=length, num_encoder_layers=1,
            num_decoder_layers=1, model_dim=256, num_heads=8, hidden_dim=2048, dropout=0.1, positional="learned",
            scale_embeddings=False, tie_embeddings=False,
        )
        model.skip_padding_in_loss = skip_padding
        model.compile("rmsprop", loss=MaskedSparseCategoricalCrossentropy(), metrics=[MaskedAccuracy(name="accuracy")])
        return model

    val_recipe = recipe_data(lower(val.sources), lower(val.targets))
    val_ours = our_data(lower(val.sources), lower(val.targets), bucket=False, shuffle=False)
    return {
        "keras.io recipe": (recipe, cached(recipe_data(sources, targets)), lambda m: token_loss(m, val_recipe, False)),
        "kerasformers": (ours(True), cached(our_data(sources, targets)), lambda m: token_loss(m, val_ours, True)),
        "kerasformers, head on every position": (ours(False), cached(our_data(sources, targets)),
                                                 lambda m: token_loss(m, val_ours, True)),
    }, "cross-entropy per target token"


# ----------------------------------------------------------------------------- SST-2
def sst2(data_dir, steps, seed):
    train = text.read_labelled(data_dir / "sst2-glue" / "train.tsv")
    train, val = text.split(train, 0.02, seed=seed)
    tokenizer = text.make_tokenizer("unigram", train.texts, 8000, lowercase=True)
    batch, length = 32, 64
    count = steps * batch
    texts, labels = train.texts[:count], np.asarray(train.labels[:count], "int32")

    def recipe_data(part_texts, part_labels):
        ids = keras.utils.pad_sequences(token_id_lists(tokenizer, part_texts), maxlen=length)  # the recipe's: front padding, truncation
        return tf.data.Dataset.from_tensor_slices((ids, np.asarray(part_labels, "int32"))).batch(batch)

    def our_data(part_texts, part_labels, padding="bucket", shuffle=True):
        return text.classification_dataset(part_texts, part_labels, tokenizer, batch, length, shuffle=shuffle,
                                           seed=seed, padding=padding)

    keras.utils.set_random_seed(seed)
    recipe = keras_io_text_classifier(tokenizer.vocabulary_size(), length)
    recipe.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # as published
    keras.utils.set_random_seed(seed)
    model = kf.TransformerClassifier(vocabulary_size=tokenizer.vocabulary_size(), num_classes=2, max_length=length,
                                     num_layers=1, model_dim=32, num_heads=2, hidden_dim=32, dropout=0.1)
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    val_recipe = recipe_data(val.texts, val.labels)
    val_ours = our_data(val.texts, val.labels, padding="max_length", shuffle=False)
    return {
        "keras.io recipe": (recipe, cached(recipe_data(texts, labels)), lambda m: sentence_loss(m, val_recipe, False)),
        "kerasformers": (model, cached(our_data(texts, labels)), lambda m: sentence_loss(m, val_ours, True)),
    }, "cross-entropy per sentence"


def sst2_tokens(dataset):
    """Non-padding ids of the inputs (the labels are classes)."""
    total = 0
    for inputs, _ in dataset:
        ids = inputs["token_ids"] if isinstance(inputs, dict) else inputs
        total += int(np.sum(np.asarray(ids) != 0))
    return total


# ----------------------------------------------------------------------------- tiny Shakespeare
def shakespeare(data_dir, steps, seed):
    import keras_hub

    train_text, held_out = text.split_text(text.read_text(data_dir / "tinyshakespeare" / "input.txt"), 0.1)
    val_text, _test = text.split_text(held_out, 0.5)  # the validation part of quality.py; its test is not used
    tokenizer = text.make_tokenizer("character", train_text)
    context, batch = 64, 12
    vocabulary = tokenizer.vocabulary_size()

    def data(part, count=None, shuffle=True):
        windows = text.language_model_dataset(part, tokenizer, context, batch_size=batch, shuffle=shuffle, seed=seed)
        return windows.take(count) if count else windows

    def optimizer():
        return keras.optimizers.AdamW(1e-3, beta_2=0.99, weight_decay=0.1)

    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedding = keras_hub.layers.TokenAndPositionEmbedding(vocabulary, context, 128, tie_weights=True)
    x = embedding(ids)
    for _ in range(4):
        x = keras_hub.layers.TransformerDecoder(intermediate_dim=512, num_heads=4, dropout=0.0, normalize_first=True,
                                                activation="gelu")(x)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    reference = keras.Model({"token_ids": ids}, embedding.token_embedding(x, reverse=True))
    reference.compile(optimizer(), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(seed)
    model = kf.TransformerLanguageModel(vocabulary_size=vocabulary, max_length=context, num_layers=4, model_dim=128,
                                        num_heads=4, hidden_dim=512, dropout=0.0)
    model.compile(optimizer(), loss=MaskedSparseCategoricalCrossentropy(pad_id=None))
    val = data(val_text, 50, shuffle=False)

    def char_loss(m):
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        return float(np.mean([float(loss(y, m(x, training=False))) for x, y in val]))

    train = data(train_text, steps)
    return {
        "keras_hub decoder blocks (nanoGPT CPU size)": (reference, cached(train), char_loss),
        "kerasformers": (model, cached(train), char_loss),
    }, "cross-entropy per character"


def every_token(dataset):
    return int(sum(int(np.asarray(labels).size) for _, labels in dataset))


TASKS = {
    "translation": ("Tatoeba spa->eng", translation, label_tokens, 1.5),
    "sst2": ("SST-2", sst2, sst2_tokens, 1.5),
    "lm": ("tiny Shakespeare", shakespeare, every_token, None),
}


def run_task(name, data_dir, steps, rounds, seed):
    title, build, count_tokens, target = TASKS[name]
    print(f"\n## {title}", flush=True)
    candidates, loss_name = build(data_dir, steps, seed)
    tokens = {}
    for label, (model, dataset, _) in candidates.items():
        started = time.perf_counter()
        model.fit(dataset, epochs=1, verbose=0)  # untimed: tracing, filling the cache
        tokens[label] = count_tokens(dataset)
        print(f"  {label}: first epoch {time.perf_counter() - started:.1f} s, {tokens[label]:,} non-padding tokens "
              f"per epoch, {model.count_params():,} parameters", flush=True)

    def timed(model, dataset):
        def run():
            started = time.perf_counter()
            model.fit(dataset, epochs=1, verbose=0)
            return time.perf_counter() - started
        return run

    seconds = alternate({label: timed(model, dataset) for label, (model, dataset, _) in candidates.items()}, rounds,
                        on_result=lambda r, label, s: print(f"  round {r + 1} {label}: {s:.2f} s", flush=True))
    reference = next(iter(candidates))
    rows = []
    result = {"task": title, "steps": steps, "rounds": rounds, "candidates": {}}
    for label, (model, _, validation_loss) in candidates.items():
        rates = [tokens[label] / s for s in seconds[label]]
        ratios = [s_ref / s for s_ref, s in zip(seconds[reference], seconds[label])]  # same tokens: time ratio
        loss = validation_loss(model)
        rows.append([label, f"{median(rates):,.0f} ({min(rates):,.0f}-{max(rates):,.0f})",
                     "-" if label == reference else f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})",
                     f"{loss:.4f}"])
        result["candidates"][label] = {"non_padding_tokens_per_epoch": tokens[label], "seconds": seconds[label],
                                       "tokens_per_second": rates, "ratio_to_reference": ratios,
                                       "validation_loss": loss}
    print_table(["candidate", "non-padding tokens/s, median (min-max)", f"/ {reference}",
                 f"validation {loss_name} after {rounds + 1} epochs"], rows,
                title=f"{title}: {steps} batches per epoch, {rounds} timed rounds")
    if target:
        ours = result["candidates"]["kerasformers"]
        ratio, ours_loss = median(ours["ratio_to_reference"]), ours["validation_loss"]
        ref_loss = result["candidates"][reference]["validation_loss"]
        print(f"  target >= {target}x with the loss no worse: {ratio:.2f}x, loss {ours_loss:.4f} vs {ref_loss:.4f}: "
              f"{'MET' if ratio >= target and ours_loss <= ref_loss else 'MISSED'}", flush=True)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=pathlib.Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--tasks", default="translation,sst2,lm")
    parser.add_argument("--steps", type=int, default=None, help="batches per epoch (default: 60, 200, 100)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 rounds of 3 steps (not a result)")
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    default_steps = {"translation": 60, "sst2": 200, "lm": 100}
    tasks = args.tasks.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown --tasks {unknown}; choose from {sorted(TASKS)}")
    if not args.data.is_dir():
        print(f"No shared data at {args.data}: nothing to measure (give --data).")
        return 0
    print_environment(environment_info())
    warning = load_warning()
    if warning:
        print(warning)
    results = []
    for task in tasks:
        steps = 3 if args.quick else (args.steps or default_steps[task])
        results.append(run_task(task, args.data, steps, 2 if args.quick else args.rounds, args.seed))
    if args.json:
        write_json(args.json, {"environment": environment_info(), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
