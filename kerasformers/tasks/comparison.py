"""LSTM against Transformer: the same data, the same batches, about the same parameter count, measured.

The seed blog claimed that Transformers beat recurrent networks. This run
measures it on one sentence-classification task: a `TransformerClassifier`
and an embedding + LSTM classifier whose LSTM width is solved so that the two
parameter counts are within a few percent, trained with the same optimizer
recipe on the same batches (same seed). It records, after every epoch, the
cumulative training time (validation excluded) and the validation accuracy,
and the training throughput in real (non-padding) tokens per second. The
verdict is computed from those numbers, whichever way they go.

    from kerasformers.tasks import comparison
    result = comparison.train(demo=True, epochs=4, output="runs/lstm-vs-transformer")
    print(result.metrics["verdict"])
"""

import math
import time

import keras
import numpy as np

from kerasformers import text
from kerasformers.models import TransformerClassifier
from kerasformers.tasks import _args, _common, classification
from kerasformers.tasks import plots as plotting

TASK = "lstm_vs_transformer"


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


def train(
    data=None,
    validation_data=None,
    demo=False,
    demo_size=4000,
    text_column="sentence",
    label_column="label",
    max_examples=20_000,
    validation_fraction=0.1,
    vocabulary_size=8000,
    preset="tiny",
    num_layers=None,
    model_dim=None,
    num_heads=None,
    hidden_dim=None,
    epochs=4,
    batch_size=64,
    max_length=64,
    learning_rate=1e-3,
    steps_per_epoch=None,
    seed=0,
    output=None,
    overwrite=False,
    plots=True,
    on_malformed="skip",
    verbose=1,
):
    """Trains both models on the same batches and compares them; returns a `TaskResult`.

    `metrics` holds, per model (`transformer_*`, `lstm_*`): `parameters`,
    `accuracy` (best validation accuracy), `training_seconds`,
    `tokens_per_second` (real tokens; epochs after the first when there are
    several, so that graph tracing is not counted as throughput), and
    `curve` (`[(seconds, accuracy), ...]`); plus `verdict`, one sentence.
    Plots: `accuracy_vs_time.png`. TensorBoard: `<output>/transformer/logs`,
    `<output>/lstm/logs`.

    Args: as in `kerasformers.tasks.classification.train` (`max_examples`
        defaults to 20,000 training sentences, to finish in minutes on a CPU).
    """
    timer = _common.Timer()
    _common.check_preset(TransformerClassifier, preset)
    if plots:
        plotting.check_available()
    _common.set_seed(seed)
    run_dir = _common.prepare_run_dir(output, TASK, overwrite)

    train_set, validation = classification.load_data(data, validation_data, demo, demo_size, text_column,
                                                     label_column, validation_fraction, seed, on_malformed)
    if max_examples:
        train_set = text.LabelledTexts(train_set.texts[:max_examples], train_set.labels[:max_examples],
                                       train_set.class_names, train_set.report)
    run_dir.mkdir(parents=True, exist_ok=True)
    num_classes = len(train_set.class_names)
    tokenizer = classification.train_tokenizer("word_piece", train_set.texts, vocabulary_size)
    vocabulary = tokenizer.vocabulary_size()
    train_data = text.classification_dataset(train_set.texts, train_set.labels, tokenizer, batch_size, max_length,
                                             seed=seed)
    validation_data_set = text.classification_dataset(validation.texts, validation.labels, tokenizer, batch_size,
                                                      max_length, shuffle=False)
    tokens_per_example = float(np.mean(np.count_nonzero(
        classification.encode(tokenizer, train_set.texts, max_length), axis=1)))  # real tokens per sentence
    steps = _common.steps_of(train_data, steps_per_epoch)
    examples_per_epoch = min(steps * batch_size, len(train_set)) if steps_per_epoch else len(train_set)
    tokens_per_epoch = tokens_per_example * examples_per_epoch

    transformer = TransformerClassifier.from_preset(
        preset, vocabulary_size=vocabulary, num_classes=num_classes, max_length=max_length,
        **_common.model_overrides(num_layers=num_layers, model_dim=model_dim, num_heads=num_heads,
                                  hidden_dim=hidden_dim),
    )
    target = transformer.count_params()
    units = matching_units(target, vocabulary, transformer.model_dim, num_classes)
    lstm = lstm_classifier(vocabulary, transformer.model_dim, units, num_classes, dropout=transformer.dropout)
    print(f"Transformer: {target:,} parameters; LSTM ({units} units, embedding {transformer.model_dim}): "
          f"{lstm.count_params():,} parameters ({lstm.count_params() / target - 1:+.1%})")

    results, histories, curves = {}, {}, {}
    for name, model in (("transformer", transformer), ("lstm", lstm)):
        print(f"\n=== Training the {name} ===")
        _common.set_seed(seed)
        _common.compile_recipe(model, train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                               learning_rate=learning_rate, model_dim=transformer.model_dim)
        clock = WallClock()
        histories[name] = _common.fit(model, train_data, validation_data_set, epochs=epochs, run_dir=run_dir / name,
                                      steps_per_epoch=steps_per_epoch, callbacks=[clock], verbose=verbose)
        steady = clock.epoch_seconds[1:] or clock.epoch_seconds
        results[name] = {
            "parameters": int(model.count_params()),
            "accuracy": max(a for _, a in clock.points),
            "training_seconds": clock.training_seconds,
            "tokens_per_second": tokens_per_epoch * len(steady) / max(sum(steady), 1e-9),
            "curve": clock.points,
        }
        curves["Transformer" if name == "transformer" else f"LSTM ({units} units)"] = tuple(zip(*clock.points))

    reachable = min(results["transformer"]["accuracy"], results["lstm"]["accuracy"])
    for r in results.values():
        r["seconds_to_target"] = _time_to(r["curve"], reachable)
    sentence = verdict(results["transformer"], results["lstm"], len(validation))
    metrics = {f"{name}_{key}": value for name, r in results.items() for key, value in r.items()}
    metrics["verdict"] = sentence
    print("\n             parameters  best val acc  train s  tokens/s")
    for name, r in results.items():
        print(f"{name:>12} {r['parameters']:>11,} {r['accuracy']:>13.4f} {r['training_seconds']:>8.1f} "
              f"{r['tokens_per_second']:>9,.0f}")
    print(f"\nVerdict: {sentence}")

    figures = {}
    if plots:
        figures["accuracy_vs_time"] = plotting.accuracy_over_time(
            curves, run_dir / "accuracy_vs_time.png",
            title=f"Same data, ~{target / 1e3:.0f}k parameters each",
        )
    _common.write_json(run_dir / "metrics.json", metrics)
    _common.write_json(run_dir / _common.TASK_FILE, {"task": TASK, "metrics": metrics})
    result = _common.TaskResult(TASK, run_dir, {k: v for k, v in metrics.items() if not k.endswith("_curve")},
                                figures, None, None, [sentence], log_dir=run_dir)
    return _common.finish(result, timer.elapsed)


def add_arguments(parser):
    """Adds this comparison's options to an `argparse` parser (dests are `train()` keywords)."""
    data = _args.add_data_arguments(
        parser,
        data_help="labelled TSV/CSV with a header (default: GLUE SST-2, from ../shared/data or downloaded)",
        demo_help="compare on generated review sentences: no download",
        demo_size=4000,
    )
    data.add_argument("--validation-data", metavar="PATH", help="labelled file for validation")
    data.add_argument("--text-column", default="sentence")
    data.add_argument("--label-column", default="label")
    data.add_argument("--max-examples", type=_args.positive_int, default=20_000, metavar="N",
                      help="training sentences (default 20000)")
    data.add_argument("--validation-fraction", type=_args.fraction, default=0.1)
    data.add_argument("--vocabulary-size", type=_args.positive_int, default=8000)
    _args.add_training_arguments(parser, epochs=4, batch_size=64, max_length=64, learning_rate=1e-3,
                                 presets=sorted(TransformerClassifier.presets), precision=False)
    _args.add_output_arguments(parser, TASK)
    return parser
