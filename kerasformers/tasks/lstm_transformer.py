"""LSTM against Transformer: the same data, the same batches, about the same parameter count, measured.

The seed blog claimed that Transformers beat recurrent networks. This run
measures it on one sentence-classification task: a `TransformerClassifier`
and an embedding + LSTM classifier whose LSTM width is solved so that the two
parameter counts are within a few percent, trained with the same optimizer
recipe on the same batches (same seed). It records, after every epoch, the
cumulative training time (validation excluded) and the validation accuracy,
and the training throughput in real (non-padding) tokens per second. The
verdict is computed from those numbers, whichever way they go.

    from kerasformers.tasks import run
    result = run("lstm-transformer", demo=True, epochs=4, output="runs/lstm-transformer")
    print(result.metrics["verdict"])
"""

import math
import time

import keras
import numpy as np

from kerasformers import text, training
from kerasformers.models import TransformerClassifier
from kerasformers.tasks import base, classification, plots, runs
from kerasformers.tasks.registry import register

def lstm_parameters(vocabulary_size, embedding_dim, units, num_classes):
    """Parameter count of `lstm_classifier`: embedding + LSTM (4 gates) + dense head."""
    return vocabulary_size * embedding_dim + 4 * (units * (embedding_dim + units) + units) + (units + 1) * num_classes


def matching_units(target, vocabulary_size, embedding_dim, num_classes):
    """The LSTM width whose classifier's parameter count is closest to `target`."""
    units = 1
    while lstm_parameters(vocabulary_size, embedding_dim, units + 1, num_classes) <= target:
        units += 1
    over = units + 1
    if abs(lstm_parameters(vocabulary_size, embedding_dim, over, num_classes) - target) < abs(
        lstm_parameters(vocabulary_size, embedding_dim, units, num_classes) - target
    ):
        units = over
    return units


def lstm_classifier(vocabulary_size, embedding_dim, units, num_classes, dropout=0.1):
    """`token_ids` → Embedding(mask_zero) → LSTM (last real step) → dropout → Dense logits."""
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, name="embedding")(token_ids)
    x = keras.layers.LSTM(units, name="lstm")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="head")(x)
    return keras.Model({"token_ids": token_ids}, logits, name="lstm_classifier")


class WallClock(keras.callbacks.Callback):
    """Cumulative training seconds (validation excluded) and validation accuracy after every epoch."""

    def __init__(self):
        super().__init__()
        self.training_seconds = 0.0
        self.points = []  # (cumulative training seconds, validation accuracy)
        self.epoch_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._test = 0.0

    def on_test_begin(self, logs=None):
        self._test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self._test += time.perf_counter() - self._test_start

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start - self._test
        self.epoch_seconds.append(seconds)
        self.training_seconds += seconds
        self.points.append((self.training_seconds, float((logs or {}).get("val_accuracy", math.nan))))


def noise_margin(accuracy, count):
    """Two standard errors of the difference of two accuracies near `accuracy` measured on `count` examples."""
    return 2.0 * math.sqrt(2.0 * accuracy * (1.0 - accuracy) / max(count, 1))


def verdict(transformer, lstm, validation_size):
    """One honest sentence from the measurements.

    Args:
        transformer, lstm: dicts with `accuracy` (best validation accuracy),
            `tokens_per_second` and `seconds_to_target` (training seconds to
            reach the lower of the two best accuracies, or None).
        validation_size: int. Accuracy differences within two standard
            errors on this many examples (at least one point) are called a tie.
    """
    a, b = transformer["accuracy"], lstm["accuracy"]
    margin = max(0.01, noise_margin((a + b) / 2, validation_size))
    if abs(a - b) <= margin:
        accuracy = (f"both reached about the same best validation accuracy (Transformer {a:.3f}, LSTM {b:.3f}; "
                    f"a difference within ±{margin:.3f} is noise on {validation_size} examples)")
    else:
        better, worse = ("Transformer", "LSTM") if a > b else ("LSTM", "Transformer")
        accuracy = f"the {better} was more accurate ({max(a, b):.3f} against {min(a, b):.3f} for the {worse})"
    ratio = transformer["tokens_per_second"] / max(lstm["tokens_per_second"], 1e-9)
    if 1 / 1.1 <= ratio <= 1.1:
        speed = "both trained on about as many tokens per second"
    elif ratio > 1:
        speed = f"the Transformer trained on {ratio:.1f}x as many tokens per second"
    else:
        speed = f"the LSTM trained on {1 / ratio:.1f}x as many tokens per second"
    times = [(name, r["seconds_to_target"]) for name, r in (("Transformer", transformer), ("LSTM", lstm))]
    race = ""
    if all(t is not None for _, t in times):
        (first, t1), (second, t2) = sorted(times, key=lambda item: item[1])
        race = (f", and the {first} reached the lower of the two best accuracies first "
                f"({t1:.1f} s of training against {t2:.1f} s)")
    return f"On this data {accuracy}; {speed}{race}."


def _time_to(points, target):
    for seconds, accuracy in points:
        if accuracy >= target - 1e-9:
            return seconds
    return None


# ------------------------------------------------------------------------------ the task
@register
class LstmTransformer(base.Task):
    """Both models, same batches, same recipe: parameters, tokens/s, accuracy against time, a verdict."""

    name = "lstm-transformer"
    summary = __doc__.splitlines()[0]
    model_class = TransformerClassifier
    command = "compare"
    aliases = ("lstm_vs_transformer",)  # run folders of kerasformers <= 0.1.0
    defaults = dict(demo_size=4000, epochs=4, batch_size=64, max_length=64)
    data_help = "labelled TSV/CSV with a header (default: GLUE SST-2, from ../shared/data or downloaded)"
    demo_help = "compare on generated review sentences: no download"
    precision = False

    def add_arguments(self, parser, groups):
        classification.add_labelled_data_arguments(groups["data"], max_examples=20_000)

    def load_data(self, run):
        train, validation = classification.load_labelled(run.options)
        return dict(train=train, validation=validation)

    def build_tokenizers(self, run):
        return {"text": text.make_tokenizer("word_piece", run.data["train"].texts, run.options.vocabulary_size)}

    def build_datasets(self, run):
        return classification.labelled_datasets(run)

    def model_arguments(self, run):
        return dict(vocabulary_size=run.tokenizers["text"].vocabulary_size(),
                    num_classes=len(run.data["train"].class_names), max_length=run.options.max_length)

    def compile(self, run):
        """Both models are compiled in `fit`, each right before its training (same seed, same recipe)."""

    def fit(self, run):
        o, transformer, train = run.options, run.model, run.data["train"]
        vocabulary, num_classes = run.tokenizers["text"].vocabulary_size(), len(train.class_names)
        units = matching_units(transformer.count_params(), vocabulary, transformer.model_dim, num_classes)
        lstm = lstm_classifier(vocabulary, transformer.model_dim, units, num_classes, dropout=transformer.dropout)
        print(f"Transformer: {transformer.count_params():,} parameters; LSTM ({units} units, embedding "
              f"{transformer.model_dim}): {lstm.count_params():,} parameters "
              f"({lstm.count_params() / transformer.count_params() - 1:+.1%})")
        real_tokens = np.count_nonzero(text.encode(run.tokenizers["text"], train.texts, o.max_length), axis=1)
        steps = training.steps_per_epoch_of(run.train_data, o.steps_per_epoch)
        examples = min(steps * o.batch_size, len(train)) if o.steps_per_epoch else len(train)
        tokens_per_epoch = float(np.mean(real_tokens)) * examples
        results, histories = {}, {}
        for name, model in (("transformer", transformer), ("lstm", lstm)):
            print(f"\n=== Training the {name} ===")
            keras.utils.set_random_seed(o.seed)
            training.compile_recipe(model, run.train_data, epochs=o.epochs, steps_per_epoch=o.steps_per_epoch,
                                    learning_rate=o.learning_rate, model_dim=transformer.model_dim)
            clock = WallClock()
            histories[name] = base.fit(run, model, run.run_dir / name, [clock])
            steady = clock.epoch_seconds[1:] or clock.epoch_seconds  # the first epoch traces the graph
            results[name] = {"parameters": int(model.count_params()), "accuracy": max(a for _, a in clock.points),
                             "training_seconds": clock.training_seconds,
                             "tokens_per_second": tokens_per_epoch * len(steady) / max(sum(steady), 1e-9),
                             "curve": clock.points}
        run.extras.update(results=results, units=units)
        return histories["transformer"]

    def evaluate(self, run):
        results = run.extras["results"]
        reachable = min(r["accuracy"] for r in results.values())
        for r in results.values():
            r["seconds_to_target"] = _time_to(r["curve"], reachable)
        sentence = verdict(results["transformer"], results["lstm"], len(run.data["validation"]))
        print("\n             parameters  best val acc  train s  tokens/s")
        for name, r in results.items():
            print(f"{name:>12} {r['parameters']:>11,} {r['accuracy']:>13.4f} {r['training_seconds']:>8.1f} "
                  f"{r['tokens_per_second']:>9,.0f}")
        print(f"\nVerdict: {sentence}")
        metrics = {f"{name}_{key}": value for name, r in results.items() for key, value in r.items()}
        runs.write_json(run.run_dir / "metrics.json", {**metrics, "verdict": sentence})
        return {k: v for k, v in metrics.items() if not k.endswith("_curve")} | {"verdict": sentence}, [sentence]

    def plots(self, run):
        results, units = run.extras["results"], run.extras["units"]
        curves = {"Transformer": tuple(zip(*results["transformer"]["curve"])),
                  f"LSTM ({units} units)": tuple(zip(*results["lstm"]["curve"]))}
        return {"accuracy_vs_time": plots.accuracy_over_time(
            curves, run.run_dir / "accuracy_vs_time.png",
            title=f"Same data, ~{results['transformer']['parameters'] / 1e3:.0f}k parameters each")}

    def run_info(self, run):
        return dict(max_length=run.options.max_length, class_names=run.data["train"].class_names)
