"""Text classification: train a `TransformerClassifier` on labelled TSV, report accuracy and a confusion matrix, export.

From scratch (a tokenizer trained on the data, a preset) or, with
`--pretrained DIR`, fine-tuned from a BERT-family checkpoint with its own
tokenizer and the fine-tuning recipe (AdamW, warm-up and linear decay, batches
padded to their longest text); `--lora-rank R` trains LoRA updates only and
merges them before saving and export.

Data, in order: `--demo` (generated review sentences with negation),
`--data PATH` (a TSV/CSV with a header, SST-2 layout `sentence<TAB>label` by
default; `--validation-data` or a split of it for validation), or GLUE SST-2
(`../shared/data` or a checked download; validated on its dev set).

    from kerasformers.tasks import run
    result = run("classification", demo=True, epochs=3, output="runs/sentiment")
    result.metrics["accuracy"], result.plots["confusion_matrix"], result.export_path
"""

import numpy as np
import tensorflow as tf

from kerasformers import export, text, training
from kerasformers.models import TransformerClassifier
from kerasformers.tasks import base, fine_tuning, plots
from kerasformers.text import demo_data, downloads
from kerasformers.tasks.arguments import add_length_buckets_argument, fraction, positive_int
from kerasformers.tasks.registry import register

TOKENIZERS = ("word_piece", "unigram", "bpe")
PRETRAINED = dict(learning_rate=1e-4, batch_size=32, epochs=2)  # fine-tuning defaults (a small BERT: MiniLM)


# ------------------------------------------------------------------------------ inference
def predict_probabilities(model, tokenizer, texts, batch_size=64, verbose=0):
    """Class probabilities `(len(texts), num_classes)` for a list of strings (`verbose=1`: a progress bar)."""
    ids = text.encode(tokenizer, texts, model.max_length)
    used = np.flatnonzero((ids != 0).any(axis=0))  # columns that hold a token: a checkpoint's 512 is mostly padding
    ids = ids[:, : max(1, int(used[-1]) + 1 if len(used) else 1)]
    logits = model.predict({"token_ids": ids}, batch_size=batch_size, verbose=verbose)
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


def format_confusion_matrix(matrix, class_names):
    """The matrix as aligned text: a header of class names, one row per true class, columns two spaces apart.

    Example:
    >>> print(format_confusion_matrix([[320, 5], [17, 170]], ["neg", "pos"]))
         neg  pos
    neg  320    5
    pos   17  170
    """
    cells = [[str(int(c)) for c in row] for row in np.asarray(matrix)]
    width = max([len(n) for n in class_names] + [len(c) for row in cells for c in row])
    lines = [" " * width + "".join(f"  {n:>{width}}" for n in class_names)]
    lines += [f"{name:>{width}}" + "".join(f"  {c:>{width}}" for c in row) for name, row in zip(class_names, cells)]
    return "\n".join(lines)


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
    train_set = base.read_reporting(text.read_labelled, data, **read)
    if validation_data is None:
        return text.split(train_set, validation_fraction, seed=seed)
    validation = base.read_reporting(text.read_labelled, validation_data, **read)
    if validation.class_names != train_set.class_names:
        raise ValueError(
            f"{validation_data} has the classes {validation.class_names}, {data} has {train_set.class_names}."
        )
    return train_set, validation


def load_labelled(options):
    """`(train, validation)` of the options of a classification-style task (`--max-examples` applied)."""
    o = options
    train, validation = load_data(o.data, o.validation_data, o.demo, o.demo_size, o.text_column, o.label_column,
                                  o.validation_fraction, o.seed, o.on_malformed)
    if o.max_examples:
        train = text.LabelledTexts(train.texts[: o.max_examples], train.labels[: o.max_examples], train.class_names,
                                   train.report)
    return train, validation


def add_labelled_data_arguments(data, max_examples=None):
    """The data options of tasks that read labelled texts (classification, lstm-transformer)."""
    data.add_argument("--validation-data", metavar="PATH",
                      help="labelled file for validation (default: SST-2 dev, or a split of --data)")
    data.add_argument("--text-column", default="sentence", help="header of the text column (default sentence)")
    data.add_argument("--label-column", default="label", help="header of the label column (default label)")
    data.add_argument("--max-examples", type=positive_int, default=max_examples, metavar="N",
                      help="keep at most N training texts" + (f" (default {max_examples})" if max_examples else ""))
    data.add_argument("--validation-fraction", type=fraction, default=0.1,
                      help="share held out for validation without --validation-data (default 0.1)")
    data.add_argument("--vocabulary-size", type=positive_int, default=8000, help="default 8000")


def _names(value):
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ValueError("--class-names needs comma-separated names")
    return names


# ------------------------------------------------------------------------------ the task
LENGTH_LIMIT = 256  # the longest --max-length chosen from the data (a classifier reads whole texts: longer than 128)


@register
class Classification(base.Task):
    """Labelled texts → tokenizer → `TransformerClassifier` (mean pooling) → accuracy and confusion matrix."""

    name = "classification"
    summary = __doc__.splitlines()[0]
    model_class = TransformerClassifier
    defaults = dict(demo_size=2000, epochs=None, batch_size=None, max_length=None, learning_rate=None)
    default_notes = dict(
        epochs=f"4 with --demo, else 2; {PRETRAINED['epochs']} with --pretrained",
        batch_size=f"64; {PRETRAINED['batch_size']} with --pretrained",
        max_length=f"32 with --demo; the checkpoint's positions with --pretrained (batches are padded to their "
                   f"longest text then); else what 99%% of the training texts fit in, a multiple of 8, at most "
                   f"{LENGTH_LIMIT}",
        learning_rate=f"1e-3; {PRETRAINED['learning_rate']:g} with --pretrained",
    )
    data_help = "labelled TSV/CSV with a header (default: GLUE SST-2, from ../shared/data or downloaded)"
    demo_help = "train on generated review sentences: no download, about a minute"
    exports = True
    inference_command = "classify"
    inference_help = "classify texts with a trained classifier"

    def add_arguments(self, parser, groups):
        data = groups["data"]
        add_labelled_data_arguments(data)
        data.add_argument("--class-names", type=_names, metavar="A,B,...", help="names of the classes in label order")
        data.add_argument("--tokenizer", choices=TOKENIZERS, default="word_piece",
                          help="default word_piece (ignored with --pretrained: the checkpoint's own)")
        fine_tuning.add_pretrained_arguments(groups["training"], "a BERT-family checkpoint")
        add_length_buckets_argument(groups["training"])
        groups["training"].add_argument(
            "--conv-kernel-size", type=positive_int, metavar="K",
            help="a LocalConvolution of width K between the embeddings and the encoder (default none; 3 helped "
                 "on SST-2 validation, see docs/benchmarks.md)")
        groups["training"].add_argument("--pooling", choices=("mean", "max", "mean_max"),
                                        help="pooling over the real tokens (default mean)")

    def layer_overrides(self, options):
        return {**super().layer_overrides(options), "conv_kernel_size": getattr(options, "conv_kernel_size", None),
                "pooling": getattr(options, "pooling", None)}

    def prepare(self, options):
        fine_tuning.prepare_pretrained(self, options, "bert", PRETRAINED)
        options.epochs = options.epochs or (4 if options.demo else 2)
        if options.demo:
            options.max_length = options.max_length or 32  # else set by build_datasets, from the training texts
        options.batch_size = options.batch_size or 64
        options.learning_rate = options.learning_rate or 1e-3

    def load_data(self, run):
        o = run.options
        train, validation = load_labelled(o)
        sst2 = o.data is None and not o.demo
        names = list(o.class_names or (["negative", "positive"] if sst2 else train.class_names))
        if len(names) != len(train.class_names):
            raise ValueError(f"--class-names gives {len(names)} names for {len(train.class_names)} classes "
                             f"({train.class_names}).")
        print(f"{len(train)} training, {len(validation)} validation texts; classes: {', '.join(names)}")
        return dict(train=train, validation=validation, class_names=names)

    def build_tokenizers(self, run):
        o = run.options
        if o.pretrained:
            return {"text": fine_tuning.pretrained_tokenizer(o.pretrained)}
        tokenizer = text.make_tokenizer(o.tokenizer, run.data["train"].texts, o.vocabulary_size)
        print(f"Tokenizer ({o.tokenizer}): {tokenizer.vocabulary_size()} tokens")
        return {"text": tokenizer}

    def build_datasets(self, run):
        # validation: one shape for a compiled step (from scratch), each batch's longest in graph mode (pretrained)
        o = run.options
        frame = text.sentence_frame(run.tokenizers["text"])[0] is not None  # [CLS] ... [SEP]: two more ids
        report = text.truncation_report(run.tokenizers["text"], run.data["train"].texts, o.max_length or LENGTH_LIMIT,
                                        extra_ids=2 if frame else 0)
        if o.max_length is None:  # what 99% of the training texts fit in, not a fixed guess
            o.max_length = text.fitted_max_length(report, limit=LENGTH_LIMIT)
            print(f"--max-length {o.max_length}: from the data (99% of training texts fit, a multiple of 8, at most "
                  f"{LENGTH_LIMIT}; give --max-length to choose)")
            report = report.with_max_length(o.max_length)
        base.report_truncation(report, "training texts")
        validation_padding = "longest" if run.options.pretrained else "max_length"
        padding = "bucket" if run.options.length_buckets else validation_padding
        return labelled_datasets(run, padding, validation_padding)

    def build_model(self, run):
        o = run.options
        if not o.pretrained:
            return super().build_model(run)
        return fine_tuning.build_pretrained(run, TransformerClassifier, num_classes=len(run.data["class_names"]))

    def compile(self, run):
        if not run.options.pretrained:
            return super().compile(run)
        fine_tuning.compile_pretrained(run)

    def fit(self, run):
        history = super().fit(run)
        fine_tuning.merge_after_training(run)
        return history

    def model_arguments(self, run):
        return dict(vocabulary_size=run.tokenizers["text"].vocabulary_size(),
                    num_classes=len(run.data["class_names"]), max_length=run.options.max_length)

    def evaluate(self, run):
        o, validation, names = run.options, run.data["validation"], run.data["class_names"]
        print(f"Classifying {len(validation)} validation texts ...")
        probabilities = predict_probabilities(run.model, run.tokenizers["text"], validation.texts, o.batch_size,
                                              verbose=o.verbose)
        predictions, labels = probabilities.argmax(axis=-1), np.asarray(validation.labels)
        matrix = confusion_matrix(labels, predictions, len(names))
        majority = np.bincount(labels, minlength=len(names)).max() / len(labels)
        metrics = {"accuracy": float(np.mean(predictions == labels)), "majority_class_accuracy": float(majority),
                   **({"val_loss": min(run.history["val_loss"])} if run.history.get("val_loss") else {})}
        print(f"Validation accuracy: {metrics['accuracy']:.4f} (always answering the majority class: {majority:.4f})")
        print("Confusion matrix (rows: true, columns: predicted):\n" + format_confusion_matrix(matrix, names))
        metrics["confusion_matrix"] = matrix.tolist()
        examples = [f"{t}  →  {names[p]} ({probabilities[i, p]:.2f}; true: {names[y]})"
                    for i, (t, p, y) in enumerate(zip(validation.texts[:5], predictions, labels))]
        training.write_text_summary(run.log_dir / "samples", "validation_predictions", examples, o.epochs)
        return metrics, examples

    def plots(self, run):
        return {"confusion_matrix": plots.confusion_matrix(
            np.asarray(run.metrics["confusion_matrix"]), run.data["class_names"], run.run_dir / "confusion_matrix.png",
            title=f"Validation confusion matrix (accuracy {run.metrics['accuracy']:.3f})")}

    def run_info(self, run):
        o = run.options
        return dict(max_length=o.max_length, tokenizer="pretrained" if o.pretrained else o.tokenizer,
                    class_names=run.data["class_names"], pretrained=o.pretrained, lora_rank=o.lora_rank)

    def endpoints(self, model, tokenizers, info):
        return export.classifier_endpoints(model, tokenizers["text"], info.get("class_names"))

    # --- `kerasformers classify DIR TEXT...`
    def add_inference_arguments(self, parser):
        parser.add_argument("texts", metavar="TEXT", nargs="+", help="texts to classify")

    def infer(self, target, args):
        if target.served:
            outputs = target.signature("serving_default")(text=tf.constant(args.texts))
            labels = [s.decode("utf-8") for s in np.asarray(outputs["label"]).tolist()]
            answers = [(label, float(p.max())) for label, p in zip(labels, np.asarray(outputs["probabilities"]))]
        else:
            answers = classify_texts(target.model, target.tokenizers["text"], args.texts, target.info["class_names"])
        return [f"{label}\t{probability:.3f}\t{text_}" for text_, (label, probability) in zip(args.texts, answers)]


def labelled_datasets(run, padding="max_length", validation_padding=None):
    """`(train, validation)` classification pipelines of `run.data["train"/"validation"]` with the `text` tokenizer.

    `padding` of `text.classification_dataset` for training; `validation_padding` (default: the same) for validation.
    """
    o, tokenizer, train, validation = run.options, run.tokenizers["text"], run.data["train"], run.data["validation"]
    return (text.classification_dataset(train.texts, train.labels, tokenizer, o.batch_size, o.max_length, seed=o.seed,
                                        padding=padding),
            text.classification_dataset(validation.texts, validation.labels, tokenizer, o.batch_size, o.max_length,
                                        shuffle=False, padding=validation_padding or padding))
