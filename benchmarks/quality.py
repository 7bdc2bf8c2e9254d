"""Quality on real data in a fixed wall-clock budget: kerasformers vs a keras_hub reference.

For each task both recipes train from scratch on `../shared/data` for the same
training time (evaluation time excluded, vocabulary training included), in one
run, on this machine. Evaluation runs every few seconds; the table reports the
best validation metric reached within the budget and when the target was first
reached.

    python benchmarks/quality.py --task lm            # tiny Shakespeare, 167 s each
    python benchmarks/quality.py --task sst2          # SST-2, 10 min each
    python benchmarks/quality.py --task translation   # Tatoeba spa->eng, 20 min each
    python benchmarks/quality.py --task all --budget-scale 0.05   # smoke run

Targets (docs/benchmarks.md): LM validation loss < 1.80 within 167 s; SST-2 dev
accuracy >= 0.83 within 10 min; Tatoeba BLEU >= 30 within 20 min.
"""

import argparse
import json
import pathlib
import sys
import time

import keras
import numpy as np
import tensorflow as tf

import kerasformers as kf
from kerasformers import generation, text
from kerasformers.training import MaskedSparseCategoricalCrossentropy

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` after `seconds` of training; evaluates every `every` seconds off the clock."""

    def __init__(self, seconds, evaluate, every, higher_is_better, target, label):
        super().__init__()
        self.seconds, self.evaluate, self.every = seconds, evaluate, every
        self.higher_is_better, self.target, self.label = higher_is_better, target, label
        self.history = []  # (training seconds, steps, metric)
        self.steps = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.paused = 0.0
        self.next_eval = self.every

    def elapsed(self):
        return time.perf_counter() - self.start - self.paused

    def better(self, a, b):
        return b is None or (a > b if self.higher_is_better else a < b)

    def best(self):
        values = [m for _, _, m in self.history]
        if not values:
            return None
        return max(values) if self.higher_is_better else min(values)

    def reached(self):
        for seconds, _, metric in self.history:
            if (metric >= self.target) if self.higher_is_better else (metric < self.target):
                return seconds
        return None

    def _evaluate(self, elapsed):
        pause = time.perf_counter()
        metric = float(self.evaluate(self.model))
        if self.better(metric, self.best()):
            self.best_weights = self.model.get_weights()
        self.history.append((elapsed, self.steps, metric))
        print(f"  [{self.label}] {elapsed:7.1f} s  step {self.steps:6d}  metric {metric:.4f}", flush=True)
        self.paused += time.perf_counter() - pause

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        elapsed = self.elapsed()
        if elapsed >= self.seconds:
            self.model.stop_training = True
            self._evaluate(elapsed)
        elif elapsed >= self.next_eval:
            self._evaluate(elapsed)
            self.next_eval = elapsed + self.every


# ----------------------------------------------------------------------------- references
def keras_hub_decoder_stack(x, num_layers, hidden_dim, num_heads, dropout, normalize_first, encoder=None):
    import keras_hub

    for _ in range(num_layers):
        layer = keras_hub.layers.TransformerDecoder(
            intermediate_dim=hidden_dim, num_heads=num_heads, dropout=dropout, normalize_first=normalize_first
        )
        x = layer(x) if encoder is None else layer(x, encoder)
    return x


# ----------------------------------------------------------------------------- language model
def lm_task(data_dir, scale, seed):
    """Char-level tiny Shakespeare, first 90% train / last 10% validation (nanoGPT's split)."""
    import keras_hub

    raw = text.read_text(data_dir / "tinyshakespeare" / "input.txt")
    train_text, val_text = text.split_text(raw, 0.1)
    tokenizer = text.character_tokenizer(train_text)
    vocab = tokenizer.vocabulary_size()
    context, budget_s = 64, 167 * scale
    loss = MaskedSparseCategoricalCrossentropy(pad_id=None)
    val = text.language_model_dataset(val_text, tokenizer, context, batch_size=128, shuffle=False, drop_remainder=False)
    val = val.cache()

    def evaluate(model):
        return model.evaluate(val, verbose=0, return_dict=True)["loss"]

    results = []
    # --- reference: nanoGPT's CPU config (4 layers, 4 heads, d=128, context 64, batch 12,
    # AdamW lr 1e-3, beta2 0.99, warmup 100, dropout 0) built from keras_hub layers.
    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras_hub.layers.TokenAndPositionEmbedding(vocab, context, 128)(ids)
    x = keras_hub_decoder_stack(x, 4, 512, 4, 0.0, True)
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    reference = keras.Model({"token_ids": ids}, keras.layers.Dense(vocab)(x))
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 2000, alpha=0.1, warmup_target=1e-3, warmup_steps=100)
    reference.compile(keras.optimizers.AdamW(schedule, beta_2=0.99, weight_decay=0.1), loss=loss, jit_compile=True)
    train = text.language_model_dataset(train_text, tokenizer, context, batch_size=12, seed=seed).repeat()
    budget = TimeBudget(budget_s, evaluate, 10 * scale, False, 1.80, "keras_hub nanoGPT")
    results.append(_fit_steps(reference, train, budget, "keras_hub layers, nanoGPT CPU recipe"))

    # --- ours
    keras.utils.set_random_seed(seed)
    model = kf.TransformerLanguageModel(
        vocabulary_size=vocab, max_length=context, num_layers=4, model_dim=128, num_heads=4, hidden_dim=512,
        dropout=0.0, tie_embeddings=False, dtype=OURS.policy,
    )
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 2500, alpha=0.1, warmup_target=2e-3, warmup_steps=100)
    model.compile(keras.optimizers.AdamW(schedule, beta_2=0.99, weight_decay=0.1), loss=loss, jit_compile=OURS.jit)
    train = text.language_model_dataset(train_text, tokenizer, context, batch_size=16, seed=seed).repeat()
    budget = TimeBudget(budget_s, evaluate, 10 * scale, False, 1.80, "kerasformers")
    results.append(_fit_steps(model, train, budget, "kerasformers TransformerLanguageModel"))
    return {"task": "tiny Shakespeare (char LM)", "metric": "validation loss", "target": "< 1.80",
            "budget_s": budget_s, "results": results}


def _fit_steps(model, repeated_dataset, budget, label):
    """`fit` on an infinite dataset in 1,000-step epochs until the budget callback stops it.

    Two warm-up steps first compile the XLA train function off the clock, for both recipes.
    """
    model.fit(repeated_dataset, epochs=1, steps_per_epoch=2, verbose=0)
    model.fit(repeated_dataset, epochs=100_000, steps_per_epoch=1000, verbose=0, callbacks=[budget])
    if budget.best_weights is not None:
        model.set_weights(budget.best_weights)
    return {
        "label": label,
        "best": budget.best(),
        "reached_target_at_s": budget.reached(),
        "steps": budget.steps,
        "params": model.count_params(),
        "history": budget.history,
    }


# ----------------------------------------------------------------------------- SST-2
def sst2_task(data_dir, scale, seed):
    import keras_hub

    started = time.perf_counter()
    train = text.read_labelled(data_dir / "sst2-glue" / "train.tsv")
    dev = text.read_labelled(data_dir / "sst2-glue" / "dev.tsv")
    tokenizer = text.train_sentence_piece(train.texts, 8000, lowercase=True)
    vocab_s = time.perf_counter() - started
    max_length, budget_s = 64, 600 * scale - vocab_s
    dev_ds = text.classification_dataset(dev.texts, dev.labels, tokenizer, 256, max_length, shuffle=False).cache()
    dev_labels = np.asarray(dev.labels)

    def evaluate(model):
        probs = model.predict(dev_ds, verbose=0)
        return float((probs.argmax(-1) == dev_labels).mean())

    results = []
    # --- reference: keras.io "Text classification with Transformer" from keras_hub layers
    # (embed 32, 2 heads, ff 32, mean pooling, dropout 0.1, Dense(20) head, Adam).
    keras.utils.set_random_seed(seed)
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras_hub.layers.TokenAndPositionEmbedding(tokenizer.vocabulary_size(), max_length, 32)(ids)
    x = keras_hub.layers.TransformerEncoder(intermediate_dim=32, num_heads=2, dropout=0.1)(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(20, activation="relu")(x)
    x = keras.layers.Dropout(0.1)(x)
    reference = keras.Model({"token_ids": ids}, keras.layers.Dense(2, activation="softmax")(x))
    reference.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    train_ds = text.classification_dataset(train.texts, train.labels, tokenizer, 32, max_length, seed=seed).repeat()
    budget = TimeBudget(budget_s, evaluate, 30 * scale, True, 0.83, "keras_hub keras.io recipe")
    results.append(_fit_steps(reference, train_ds, budget, "keras_hub layers, keras.io recipe"))

    # --- ours
    keras.utils.set_random_seed(seed)
    model = kf.TransformerClassifier(
        vocabulary_size=tokenizer.vocabulary_size(), num_classes=2, max_length=max_length, num_layers=2,
        model_dim=128, num_heads=4, hidden_dim=256, dropout=0.2, dtype=OURS.policy,
    )
    model.compile(
        keras.optimizers.AdamW(kf.training.TransformerSchedule(128, warmup_steps=500), weight_decay=0.05),
        MaskedSparseCategoricalCrossentropy(label_smoothing=0.1), jit_compile=OURS.jit,
    )
    train_ds = text.classification_dataset(train.texts, train.labels, tokenizer, 64, max_length, seed=seed).repeat()
    budget = TimeBudget(budget_s, evaluate, 30 * scale, True, 0.83, "kerasformers")
    results.append(_fit_steps(model, train_ds, budget, "kerasformers TransformerClassifier"))
    return {"task": "SST-2", "metric": "dev accuracy", "target": ">= 0.83", "budget_s": 600 * scale,
            "vocabulary_s": vocab_s, "results": results}


# ----------------------------------------------------------------------------- translation
def bleu(hypotheses, references):
    import sacrebleu

    return sacrebleu.corpus_bleu(hypotheses, [references]).score


def translation_task(data_dir, scale, seed):
    import keras_hub

    pairs = text.read_pairs(data_dir / "anki-spa-eng" / "spa.txt", source_column=1, target_column=0)
    train, test = text.split(pairs, 1000 / len(pairs), seed=seed)  # 1,000 held-out shuffled pairs
    max_length, budget_s = 24, 1200 * scale
    results = []

    def run(label, build, batch_size, make_tokenizers, translate):
        started = time.perf_counter()
        spa, eng = make_tokenizers()
        vocab_s = time.perf_counter() - started
        keras.utils.set_random_seed(seed)
        model = build(spa, eng)
        train_ds = text.translation_dataset(
            train.sources, train.targets, spa, eng, batch_size, max_length, seed=seed, drop_remainder=True
        ).repeat()
        sample = (test.sources[:200], test.targets[:200])

        def evaluate(model):
            return bleu(translate(model, spa, eng, sample[0]), sample[1])

        budget = TimeBudget(budget_s - vocab_s, evaluate, 120 * scale, True, 30.0, label)
        result = _fit_steps(model, train_ds, budget, label)
        result["vocabulary_s"] = vocab_s
        result["test_bleu_1000"] = bleu(translate(model, spa, eng, test.sources), test.targets)
        print(f"  [{label}] held-out BLEU on 1,000 pairs: {result['test_bleu_1000']:.2f}", flush=True)
        results.append(result)

    # --- reference: the keras.io KerasHub NMT recipe (WordPiece 15k, 1+1 layers, d=256,
    # d_ff=2048, 8 heads, dropout 0.5? -> keras.io uses 0.5 in none; we follow its defaults).
    def hub_tokenizers():
        return (text.train_word_piece(train.sources, 15000), text.train_word_piece(train.targets, 15000))

    def hub_build(spa, eng):
        enc = keras.Input(shape=(None,), dtype="int32", name="encoder_token_ids")
        dec = keras.Input(shape=(None,), dtype="int32", name="decoder_token_ids")
        x = keras_hub.layers.TokenAndPositionEmbedding(spa.vocabulary_size(), max_length, 256, mask_zero=True)(enc)
        x = keras_hub.layers.TransformerEncoder(intermediate_dim=2048, num_heads=8)(x)
        y = keras_hub.layers.TokenAndPositionEmbedding(eng.vocabulary_size(), max_length, 256, mask_zero=True)(dec)
        y = keras_hub.layers.TransformerDecoder(intermediate_dim=2048, num_heads=8)(y, x)
        y = keras.layers.Dropout(0.5)(y)
        model = keras.Model({"encoder_token_ids": enc, "decoder_token_ids": dec}, keras.layers.Dense(eng.vocabulary_size())(y))
        model.compile("rmsprop", MaskedSparseCategoricalCrossentropy(), jit_compile=True)
        return model

    def uncached_greedy(model, spa, eng, sources):
        source_ids = _pad_ids(spa, sources, max_length)
        target = np.zeros((len(sources), max_length), "int32")
        target[:, 0] = 2
        done = np.zeros(len(sources), bool)
        for i in range(max_length - 1):
            logits = model.predict({"encoder_token_ids": source_ids, "decoder_token_ids": target}, verbose=0, batch_size=256)
            nxt = np.where(done, 0, logits[:, i].argmax(-1))
            target[:, i + 1] = nxt
            done |= nxt == 3
            if done.all():
                break
        return [_decode(eng, row[1:]) for row in target]

    if "translation" not in SKIP_REFERENCE:
        run("keras_hub layers, keras.io NMT recipe", hub_build, 64, hub_tokenizers, uncached_greedy)

    # --- ours: SentencePiece (fast to train), 3+3 layers, paper schedule, label smoothing 0.1
    def our_tokenizers():
        return (text.train_sentence_piece(train.sources, 8000), text.train_sentence_piece(train.targets, 8000))

    def our_build(spa, eng):
        model = kf.TransformerSeq2Seq(
            encoder_vocabulary_size=spa.vocabulary_size(), decoder_vocabulary_size=eng.vocabulary_size(),
            max_length=max_length, num_encoder_layers=3, num_decoder_layers=3, model_dim=256, num_heads=8,
            hidden_dim=1024, dropout=0.1, dtype=OURS.policy,
        )
        model.compile(kf.training.paper_optimizer(256, warmup_steps=1000, scale=2.0),
                      MaskedSparseCategoricalCrossentropy(label_smoothing=0.1), jit_compile=OURS.jit)
        return model

    def our_greedy(model, spa, eng, sources):
        if hasattr(model, "call_with_cache"):  # the cached, compiled decoding of kerasformers.generation
            out = generation.translate(model, _pad_ids(spa, sources, max_length), max_length=max_length)
            return [_decode(eng, row) for row in np.asarray(out)]
        return uncached_greedy(model, spa, eng, sources)

    run("kerasformers TransformerSeq2Seq", our_build, 128, our_tokenizers, our_greedy)
    return {"task": "Tatoeba spa->eng", "metric": "BLEU (greedy, sacrebleu)", "target": ">= 30",
            "budget_s": budget_s, "results": results}


def _pad_ids(tokenizer, sentences, max_length):
    """Truncated, 0-padded ids, as the translation task computes them (an empty sentence gets one [UNK])."""
    from kerasformers.tasks.translation import encode

    return encode(tokenizer, sentences, max_length)


def _decode(tokenizer, ids):
    ids = [int(i) for i in ids]
    if 3 in ids:
        ids = ids[: ids.index(3)]
    ids = [i for i in ids if i > 3]
    out = text.decode(tokenizer, tf.constant([ids], "int32") if ids else tf.zeros((1, 0), "int32"))
    value = out[0] if not isinstance(out, (str, bytes)) else out
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


SKIP_REFERENCE = set()  # tasks whose reference recipe is not re-run (--skip-reference)


class OURS:
    """How our recipes run (--precision): dtype policy, and XLA on (float32) or off (bfloat16: XLA's CPU
    backend gains nothing from it, TensorFlow's oneDNN kernels do). The references always run as recorded."""

    policy = "float32"
    jit = True
TASKS = {"lm": lm_task, "sst2": sst2_task, "translation": translation_task}


def table(report):
    lines = [
        f"### {report['task']}: {report['metric']} (target {report['target']}, budget {report['budget_s']:.0f} s)",
        "",
        "| recipe | params | steps | best metric | reached target at |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        reached = "—" if r["reached_target_at_s"] is None else f"{r['reached_target_at_s']:.0f} s"
        best = "—" if r["best"] is None else f"{r['best']:.4f}"
        extra = f" (held-out 1,000: {r['test_bleu_1000']:.2f})" if "test_bleu_1000" in r else ""
        lines.append(f"| {r['label']} | {r['params']:,} | {r['steps']:,} | {best}{extra} | {reached} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--budget-scale", type=float, default=1.0, help="multiply every budget (smoke runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--skip-reference", action="append", default=[], choices=["translation"],
                        help="do not re-run this task's reference recipe (20 min + 2.5 min of WordPiece for "
                             "translation); compare with a recorded reference run instead")
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16", "auto"], default="float32",
                        help="dtype policy of our recipes (default float32, with XLA); mixed_bfloat16 turns XLA "
                             "off; auto: kerasformers.training.resolve_precision")
    args = parser.parse_args(argv)
    SKIP_REFERENCE.update(args.skip_reference)
    OURS.policy = kf.training.resolve_precision(args.precision)[0]
    OURS.jit = OURS.policy == "float32"
    if not args.data_dir.is_dir():
        sys.exit(f"No data at {args.data_dir}: pass --data-dir (the shared corpora folder).")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, kerasformers {kf.__version__}; "
          f"ours: {OURS.policy}, jit_compile={OURS.jit}")
    reports = []
    for name in TASKS if args.task == "all" else [args.task]:
        print(f"== {name}", flush=True)
        reports.append(TASKS[name](args.data_dir, args.budget_scale, args.seed))
        print(table(reports[-1]) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, default=float))
    return reports


if __name__ == "__main__":
    main()
