"""Text classification: train a `TransformerClassifier` on labelled TSV, report accuracy and a confusion matrix, export.

Data, in order: `--demo` (generated review sentences with negation),
`--data PATH` (a TSV/CSV with a header, SST-2 layout `sentence<TAB>label` by
default; `--validation-data` or a split of it for validation), or GLUE SST-2
(`../shared/data` or a checked download; validated on its dev set).

    from kerasformers.tasks import classification
    result = classification.train(demo=True, epochs=3, output="runs/sentiment")
    result.metrics["accuracy"], result.plots["confusion_matrix"], result.export_path
"""

import numpy as np
import tensorflow as tf

from kerasformers import text
from kerasformers.models import TransformerClassifier
from kerasformers.tasks import _args, _common, demo_data, downloads, runs
from kerasformers.tasks import plots as plotting

TASK = "classification"
TOKENIZERS = ("word_piece", "unigram", "bpe")


# ------------------------------------------------------------------------------ inference
def encode(tokenizer, texts, length):
    """Texts → int32 `(len(texts), length)` ids, truncated and 0-padded (as the export does)."""
    ids = np.zeros((len(texts), length), "int32")
    if texts:
        for row, tokens in enumerate(tokenizer(tf.constant(list(texts)))):
            tokens = np.asarray(tokens, "int32")[:length]
            ids[row, : len(tokens)] = tokens
    return ids


def predict_probabilities(model, tokenizer, texts, batch_size=64, verbose=0):
    """Class probabilities `(len(texts), num_classes)` for a list of strings (`verbose=1`: a progress bar)."""
    logits = model.predict({"token_ids": encode(tokenizer, texts, model.max_length)}, batch_size=batch_size,
                           verbose=verbose)
    if model.output_probabilities:
        return np.asarray(logits)
    logits = np.asarray(logits, "float64")
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def classify_texts(model, tokenizer, texts, class_names):
    """`[(label, probability), ...]` for a list of strings."""
    probabilities = predict_probabilities(model, tokenizer, texts)
    best = probabilities.argmax(axis=-1)
    return [(class_names[i], float(p[i])) for i, p in zip(best, probabilities)]


def confusion_matrix(labels, predictions, num_classes):
    """Counts `(num_classes, num_classes)`: rows are true classes, columns predicted ones."""
    matrix = np.zeros((num_classes, num_classes), "int64")
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


# ------------------------------------------------------------------------------ training
def train_tokenizer(kind, texts, vocabulary_size):
    """WordPiece (default) or SentencePiece `unigram`/`bpe`, shrunk to what a small corpus allows."""
    if kind == "word_piece":
        return text.train_word_piece(texts, vocabulary_size)
    from kerasformers.tasks.translation import _train_tokenizer

    return _train_tokenizer(kind, texts, vocabulary_size)


def load_data(data=None, validation_data=None, demo=False, demo_size=2000, text_column="sentence",
              label_column="label", validation_fraction=0.1, seed=0, on_malformed="skip"):
    """`(train, validation)` `LabelledTexts`: generated, from `data`, or SST-2 (train / dev)."""
    if demo:
        data_set = demo_data.sentiment_texts(demo_size, seed=seed)
        print(f"Demo data: {len(data_set)} generated review sentences, e.g. {data_set.texts[0]!r} -> "
              f"{data_set.class_names[data_set.labels[0]]}")
        return text.split(data_set, validation_fraction, seed=seed)
    if data is None:
        data, default_validation = downloads.get_sst2()
        validation_data = validation_data or default_validation
    read = dict(text_column=text_column, label_column=label_column, on_malformed=on_malformed)
    train_set = _common.read_reporting(text.read_labelled, data, **read)
    if validation_data is None:
        return text.split(train_set, validation_fraction, seed=seed)
    validation = _common.read_reporting(text.read_labelled, validation_data, **read)
    if validation.class_names != train_set.class_names:
        raise ValueError(
            f"{validation_data} has the classes {validation.class_names}, {data} has {train_set.class_names}."
        )
    return train_set, validation


def train(
    data=None,
    validation_data=None,
    demo=False,
    demo_size=2000,
    text_column="sentence",
    label_column="label",
    class_names=None,
    max_examples=None,
    validation_fraction=0.1,
    tokenizer="word_piece",
    vocabulary_size=8000,
    preset="tiny",
    num_layers=None,
    model_dim=None,
    num_heads=None,
    hidden_dim=None,
    epochs=None,
    batch_size=64,
    max_length=None,
    learning_rate=1e-3,
    steps_per_epoch=None,
    seed=0,
    precision="float32",
    output=None,
    overwrite=False,
    plots=True,
    export=True,
    export_dir=None,
    export_version=None,
    on_malformed="skip",
    verbose=1,
):
    """Trains a text classifier end to end; returns a `TaskResult`.

    Steps: read (or generate) labelled texts → train a tokenizer on the
    training texts → `TransformerClassifier.from_preset(preset)` (mean
    pooling) → Adam with the warm-up + inverse-square-root schedule →
    `kerasformers.training.fit` (TensorBoard scalars, best weights by
    validation loss) → accuracy and confusion matrix on the validation set →
    plots (`training_curves.png`, `confusion_matrix.png`) → `model.keras` +
    tokenizer → SavedModel export (strings in, `label` / `probabilities` out).

    Args:
        data: labelled TSV/CSV with a header, or None (SST-2).
        validation_data: labelled file for validation, or None (a split of
            `data`; SST-2's dev set by default).
        demo: bool. Train on generated review sentences (no download).
        demo_size: int. Sentences in the demo dataset.
        text_column, label_column: header names (or indices) in the files.
        class_names: list of str naming the classes in label order (default:
            the file's labels; `negative`, `positive` for SST-2).
        max_examples: int or None. Keep at most this many training texts.
        validation_fraction: float. Share held out when there is no
            validation file.
        tokenizer: `"word_piece"` (default), `"unigram"` or `"bpe"`.
        vocabulary_size: int.
        preset, num_layers, model_dim, num_heads, hidden_dim: model size.
        epochs: int. Defaults to 4 for the demo, 2 otherwise.
        max_length: int. Tokens per text. Defaults to 32 for the demo, 64 otherwise.
        batch_size, learning_rate, steps_per_epoch, seed: training.
        precision: `"float32"` (default), `"mixed_bfloat16"`, `"mixed_float16"` or
            `"auto"` (`kerasformers.training.resolve_precision`): the model's dtype
            policy; logits and loss stay float32.
        output, overwrite, plots, export, export_dir, export_version,
        on_malformed, verbose: as in `kerasformers.tasks.translation.train`.

    Raises:
        FileNotFoundError / ValueError: missing, empty or malformed data,
            unknown preset.
        FileExistsError: `output` holds a finished run, or the export version exists.
        kerasformers.tasks.errors.DownloadError: SST-2 is needed but cannot be downloaded.
    """
    timer = _common.Timer()
    _common.check_preset(TransformerClassifier, preset)
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"Unknown tokenizer {tokenizer!r}. Known: {', '.join(TOKENIZERS)}")
    if plots:
        plotting.check_available()
    export_dir = export_dir or runs.default_export_dir(TASK)
    if export:
        _common.check_export_target(export_dir, export_version, overwrite)
    epochs = epochs or (4 if demo else 2)
    max_length = max_length or (32 if demo else 64)
    policy = _common.resolve_precision(precision)
    _common.set_seed(seed)
    run_dir = _common.prepare_run_dir(output, TASK, overwrite)

    # === Data ===
    sst2 = data is None and not demo
    train_set, validation = load_data(data, validation_data, demo, demo_size, text_column, label_column,
                                      validation_fraction, seed, on_malformed)
    if max_examples:
        train_set = text.LabelledTexts(train_set.texts[:max_examples], train_set.labels[:max_examples],
                                       train_set.class_names, train_set.report)
    names = list(class_names or (["negative", "positive"] if sst2 else train_set.class_names))
    if len(names) != len(train_set.class_names):
        raise ValueError(f"--class-names gives {len(names)} names for {len(train_set.class_names)} classes "
                         f"({train_set.class_names}).")
    print(f"{len(train_set)} training, {len(validation)} validation texts; classes: {', '.join(names)}")
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_object = train_tokenizer(tokenizer, train_set.texts, vocabulary_size)
    print(f"Tokenizer ({tokenizer}): {tokenizer_object.vocabulary_size()} tokens")
    train_data = text.classification_dataset(train_set.texts, train_set.labels, tokenizer_object, batch_size,
                                             max_length, seed=seed)
    validation_data_set = text.classification_dataset(validation.texts, validation.labels, tokenizer_object,
                                                      batch_size, max_length, shuffle=False)

    # === Model ===
    model = TransformerClassifier.from_preset(
        preset, dtype=policy, vocabulary_size=tokenizer_object.vocabulary_size(), num_classes=len(names),
        max_length=max_length,
        **_common.model_overrides(num_layers=num_layers, model_dim=model_dim, num_heads=num_heads,
                                  hidden_dim=hidden_dim),
    )
    _common.compile_recipe(model, train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           learning_rate=learning_rate)
    print(f"TransformerClassifier ({preset}): {model.count_params():,} parameters")
    history = _common.fit(model, train_data, validation_data_set, epochs=epochs, run_dir=run_dir,
                          steps_per_epoch=steps_per_epoch, verbose=verbose)

    # === Evaluation ===
    print(f"Classifying {len(validation)} validation texts ...")
    probabilities = predict_probabilities(model, tokenizer_object, validation.texts, batch_size, verbose=verbose)
    predictions = probabilities.argmax(axis=-1)
    labels = np.asarray(validation.labels)
    matrix = confusion_matrix(labels, predictions, len(names))
    majority = np.bincount(labels, minlength=len(names)).max() / len(labels)
    metrics = {"accuracy": float(np.mean(predictions == labels)), "majority_class_accuracy": float(majority)}
    if history.get("val_loss"):
        metrics["val_loss"] = min(history["val_loss"])
    print(f"Validation accuracy: {metrics['accuracy']:.4f} (always answering the majority class: {majority:.4f})")
    print("Confusion matrix (rows: true, columns: predicted):")
    width = max(len(n) for n in names) + 2
    print(" " * width + "".join(f"{n:>{width}}" for n in names))
    for name, row in zip(names, matrix):
        print(f"{name:>{width}}" + "".join(f"{c:>{width}}" for c in row))
    metrics["confusion_matrix"] = matrix.tolist()
    examples = [f"{t}  →  {names[p]} ({probabilities[i, p]:.2f}; true: {names[y]})"
                for i, (t, p, y) in enumerate(zip(validation.texts[:5], predictions, labels))]
    _common.write_text_summary(run_dir / _common.LOG_DIR / "samples", "validation_predictions", examples, epochs)
    _common.write_scalar_summaries(run_dir / _common.LOG_DIR / "validation",
                                   {k: v for k, v in metrics.items() if k != "confusion_matrix"}, epochs)

    # === Plots, files, export ===
    figures = _common.training_curves(history, run_dir, "Classification training", plots)
    if plots:
        figures["confusion_matrix"] = plotting.confusion_matrix(
            matrix, names, run_dir / "confusion_matrix.png",
            title=f"Validation confusion matrix (accuracy {metrics['accuracy']:.3f})",
        )
    tokenizers = {"text": tokenizer_object}
    model_path = runs.save_run(run_dir, TASK, model, tokenizers, max_length=max_length, preset=preset,
                               precision=policy, tokenizer=tokenizer, class_names=names, metrics=metrics,
                               export_dir=str(export_dir))
    export_path = None
    if export:
        export_path = runs.export(TASK, model, tokenizers, export_dir, class_names=names, version=export_version,
                                  overwrite=overwrite)
        runs.save_info(run_dir, export_path=export_path)
    result = _common.TaskResult(TASK, run_dir, metrics, figures, model_path, export_path, examples)
    return _common.finish(result, timer.elapsed)


# ------------------------------------------------------------------------------ command line
def _names(value):
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ValueError("--class-names needs comma-separated names")
    return names


def add_arguments(parser):
    """Adds this task's options to an `argparse` parser (dests are `train()` keywords)."""
    data = _args.add_data_arguments(
        parser,
        data_help="labelled TSV/CSV with a header (default: GLUE SST-2, from ../shared/data or downloaded)",
        demo_help="train on generated review sentences: no download, about a minute",
        demo_size=2000,
    )
    data.add_argument("--validation-data", metavar="PATH",
                      help="labelled file for validation (default: SST-2 dev, or a split of --data)")
    data.add_argument("--text-column", default="sentence", help="header of the text column (default sentence)")
    data.add_argument("--label-column", default="label", help="header of the label column (default label)")
    data.add_argument("--class-names", type=_names, metavar="A,B,...", help="names of the classes in label order")
    data.add_argument("--max-examples", type=_args.positive_int, metavar="N", help="keep at most N training texts")
    data.add_argument("--validation-fraction", type=_args.fraction, default=0.1,
                      help="share held out for validation without --validation-data (default 0.1)")
    data.add_argument("--tokenizer", choices=TOKENIZERS, default="word_piece", help="default word_piece")
    data.add_argument("--vocabulary-size", type=_args.positive_int, default=8000, help="default 8000")
    _args.add_training_arguments(parser, epochs=None, batch_size=64, max_length=None, learning_rate=1e-3,
                                 presets=sorted(TransformerClassifier.presets))
    _args.add_output_arguments(parser, TASK, runs.EXPORT_NAMES[TASK])
    return parser
