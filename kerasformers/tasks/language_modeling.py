"""Language modelling: train a GPT-style `TransformerLanguageModel` on a plain text file, sample from it, export.

Data, in order: `--demo` (a generated play in tiny Shakespeare's layout),
`--data PATH` (any UTF-8 text file), or tiny Shakespeare (`../shared/data` or
a checked download). The first 90% trains, the last 10% validates.

    from kerasformers.tasks import language_modeling
    result = language_modeling.train(demo=True, epochs=2, output="runs/play")
    result.metrics["val_perplexity"], result.samples
"""

import math

import numpy as np
import tensorflow as tf

from kerasformers import text
from kerasformers.models import TransformerLanguageModel
from kerasformers.tasks import _args, _common, demo_data, downloads, runs
from kerasformers.tasks import plots as plotting

TASK = "language_model"
TOKENIZERS = ("character", "byte", "unigram", "bpe")


# ------------------------------------------------------------------------------ inference
def generate_texts(model, tokenizer, prompts, max_new_tokens=200, sampler="greedy", top_p=None, seed=None):
    """Continues each prompt; returns the prompts with their continuations (list of str).

    Prompts are tokenized, right-padded to one length and continued by
    `max_new_tokens` tokens (fewer if the model's `max_length` is shorter).
    A prompt with no known token starts from a newline.
    """
    prompts = list(prompts)
    rows = [np.asarray(r, "int32") for r in tokenizer(tf.constant(prompts))]
    fallback = np.asarray(tokenizer(tf.constant(["\n"]))[0], "int32")[:1]
    rows = [r if len(r) else (fallback if len(fallback) else np.array([1], "int32")) for r in rows]
    length = min(max(len(r) for r in rows), model.max_length - 1)
    ids = np.zeros((len(rows), length), "int32")
    for i, r in enumerate(rows):
        r = r[-length:]  # keep the most recent context
        ids[i, : len(r)] = r
    max_new_tokens = max(1, min(max_new_tokens, model.max_length - length))
    kwargs = {"top_p": top_p} if sampler == "top_p" and top_p is not None else {}
    output = model.generate(ids, max_new_tokens, sampler=sampler, seed=seed, **kwargs)
    decoded = text.decode(tokenizer, output)
    decoded = [decoded] if isinstance(decoded, (str, bytes)) else decoded
    return [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in decoded]


# ------------------------------------------------------------------------------ training
def make_tokenizer(kind, corpus, vocabulary_size):
    """Character (default), byte, or SentencePiece `unigram`/`bpe` trained on the corpus' lines."""
    if kind == "character":
        return text.character_tokenizer(corpus)
    if kind == "byte":
        return text.make_tokenizer("byte")
    lines = [line for line in corpus.split("\n") if line.strip()]
    from kerasformers.tasks.translation import _train_tokenizer

    return _train_tokenizer(kind, lines, vocabulary_size)


def load_text(data=None, demo=False, demo_size=60_000, seed=0):
    if demo:
        corpus = demo_data.play_text(demo_size, seed=seed)
        print(f"Demo data: a generated play of {len(corpus):,} characters, starting {corpus[:40]!r}")
        return corpus
    path = data if data is not None else downloads.get_shakespeare()
    corpus = text.read_text(path)
    print(f"Read {path}: {len(corpus):,} characters")
    return corpus


def train(
    data=None,
    demo=False,
    demo_size=60_000,
    validation_fraction=0.1,
    tokenizer="character",
    vocabulary_size=2000,
    preset="tiny",
    num_layers=None,
    model_dim=None,
    num_heads=None,
    hidden_dim=None,
    epochs=None,
    batch_size=32,
    max_length=128,
    stride=None,
    learning_rate=1e-3,
    steps_per_epoch=None,
    seed=0,
    precision="float32",
    prompt=None,
    sample_length=200,
    top_p=0.9,
    output=None,
    overwrite=False,
    plots=True,
    export=True,
    export_dir=None,
    export_version=None,
    on_malformed="skip",
    verbose=1,
):
    """Trains a language model end to end; returns a `TaskResult`.

    Steps: read (or generate) the text → split it into its first 90% and last
    10% → tokenizer (characters by default) → windows of `max_length`
    tokens → `TransformerLanguageModel.from_preset(preset)` → Adam with the
    warm-up + inverse-square-root schedule → `kerasformers.training.fit`
    (TensorBoard scalars; greedy and top-p samples as TensorBoard text after
    every epoch) → validation loss and perplexity → plots
    (`training_curves.png`) → `model.keras` + tokenizer → SavedModel export.

    Args:
        data: a UTF-8 text file, or None (tiny Shakespeare).
        demo: bool. Train on a generated play instead (no download).
        demo_size: int. Characters of the demo text.
        validation_fraction: float. Share of the text, at its end, for validation.
        tokenizer: `"character"` (default), `"byte"`, `"unigram"` or `"bpe"`.
        vocabulary_size: int (SentencePiece only).
        preset, num_layers, model_dim, num_heads, hidden_dim: model size.
        epochs: int. Defaults to 3.
        batch_size: int.
        max_length: int. Context length (training windows and generation).
        stride: int or None. Tokens between the starts of training windows.
            Defaults to `max_length` (no overlap), and to `max_length // 4`
            for the small demo text (more windows per epoch).
        learning_rate, steps_per_epoch, seed: training.
        precision: `"float32"` (default), `"mixed_bfloat16"`, `"mixed_float16"` or
            `"auto"` (`kerasformers.training.resolve_precision`): the model's dtype
            policy; logits and loss stay float32.
        prompt: str. Start of the samples (default: the validation text's
            first line).
        sample_length: int. Tokens generated per sample (also the
            SavedModel's `max_new_tokens`).
        top_p: float in (0, 1]. Nucleus size of the top-p samples.
        output, overwrite, plots, export, export_dir, export_version, verbose:
            as in `kerasformers.tasks.translation.train`.
        on_malformed: unused (plain text has no records); accepted for a
            uniform command line.

    Raises:
        FileNotFoundError / ValueError: missing or empty file, a text shorter
            than two windows, unknown preset.
        FileExistsError: `output` holds a finished run, or the export version exists.
        kerasformers.tasks.errors.DownloadError: tiny Shakespeare is needed but cannot be downloaded.
    """
    del on_malformed
    timer = _common.Timer()
    _common.check_preset(TransformerLanguageModel, preset)
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"Unknown tokenizer {tokenizer!r}. Known: {', '.join(TOKENIZERS)}")
    if not 0 < top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1]. Received: {top_p}")
    if plots:
        plotting.check_available()
    export_dir = export_dir or runs.default_export_dir(TASK)
    if export:
        _common.check_export_target(export_dir, export_version, overwrite)
    epochs = epochs or 3
    stride = stride or (max(1, max_length // 4) if demo else None)
    policy = _common.resolve_precision(precision)
    _common.set_seed(seed)
    run_dir = _common.prepare_run_dir(output, TASK, overwrite)

    # === Data ===
    corpus = load_text(data, demo, demo_size, seed)
    train_text, validation_text = text.split_text(corpus, validation_fraction)
    run_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_object = make_tokenizer(tokenizer, train_text, vocabulary_size)
    print(f"Tokenizer ({tokenizer}): {tokenizer_object.vocabulary_size()} tokens")
    try:
        train_data = text.language_model_dataset(train_text, tokenizer_object, max_length, batch_size, seed=seed,
                                                 stride=stride)
        validation_data = text.language_model_dataset(validation_text, tokenizer_object, max_length,
                                                      min(batch_size, _windows(validation_text, tokenizer_object,
                                                                               max_length)), shuffle=False)
    except ValueError as error:
        raise ValueError(f"The text is too short for --max-length {max_length} and --batch-size {batch_size}: "
                         f"{error}") from None

    # === Model ===
    model = TransformerLanguageModel.from_preset(
        preset, dtype=policy, vocabulary_size=tokenizer_object.vocabulary_size(), max_length=max_length,
        **_common.model_overrides(num_layers=num_layers, model_dim=model_dim, num_heads=num_heads,
                                  hidden_dim=hidden_dim),
    )
    _common.compile_recipe(model, train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           learning_rate=learning_rate, perplexity=True)
    print(f"TransformerLanguageModel ({preset}): {model.count_params():,} parameters")

    # === Training, with samples after every epoch ===
    prompt = prompt if prompt is not None else default_prompt(validation_text)
    length = min(sample_length, max_length - 1)

    def samples():
        greedy = generate_texts(model, tokenizer_object, [prompt], length, "greedy")[0]
        nucleus = generate_texts(model, tokenizer_object, [prompt], length, "top_p", top_p=top_p, seed=seed)[0]
        return [f"[greedy]\n{greedy}", f"[top-p {top_p}]\n{nucleus}"]

    samples_callback = _common.TextSamples(run_dir / _common.LOG_DIR / "samples", samples)
    history = _common.fit(model, train_data, validation_data, epochs=epochs, run_dir=run_dir,
                          steps_per_epoch=steps_per_epoch, callbacks=[samples_callback], verbose=verbose)

    # === Evaluation ===
    metrics = {}
    if history.get("val_loss"):
        best = int(np.argmin(history["val_loss"]))
        metrics = {"val_loss": history["val_loss"][best], "val_perplexity": history["val_perplexity"][best]}
        metrics["val_bits_per_token"] = metrics["val_loss"] / math.log(2)
        print(f"Validation loss {metrics['val_loss']:.4f}, perplexity {metrics['val_perplexity']:.3f} "
              f"(uniform guessing: {tokenizer_object.vocabulary_size()})")
    examples = samples_callback.samples or samples()
    _common.write_scalar_summaries(run_dir / _common.LOG_DIR / "validation", metrics, epochs)

    # === Plots, files, export ===
    figures = _common.training_curves(history, run_dir, "Language model training", plots)
    tokenizers = {"text": tokenizer_object}
    model_path = runs.save_run(run_dir, TASK, model, tokenizers, max_length=max_length, preset=preset,
                               precision=policy, tokenizer=tokenizer, metrics=metrics, prompt=prompt,
                               export_dir=str(export_dir), export_max_new_tokens=length)
    export_path = None
    if export:
        export_path = runs.export(TASK, model, tokenizers, export_dir, version=export_version, overwrite=overwrite,
                                  max_new_tokens=length)
        runs.save_info(run_dir, export_path=export_path)
    result = _common.TaskResult(TASK, run_dir, metrics, figures, model_path, export_path, examples)
    return _common.finish(result, timer.elapsed)


def default_prompt(validation_text):
    """The first whole non-empty line of the validation text (at most 40 characters; its first line may be cut)."""
    lines = [line for line in validation_text.split("\n")[1:] if line.strip()]
    return (lines[0][:40] + "\n") if lines else "\n"


def _windows(corpus, tokenizer, max_length):
    """Number of validation windows (at least 1), so that a short validation text still gives one batch."""
    ids = tokenizer(tf.constant(corpus))
    return max(1, (len(ids) - 1) // max_length)


# ------------------------------------------------------------------------------ command line
def add_arguments(parser):
    """Adds this task's options to an `argparse` parser (dests are `train()` keywords)."""
    data = _args.add_data_arguments(
        parser,
        data_help="a plain UTF-8 text file (default: tiny Shakespeare, from ../shared/data or downloaded)",
        demo_help="train on a generated play in tiny Shakespeare's layout: no download, about a minute",
        demo_size=60_000,
    )
    data.add_argument("--validation-fraction", type=_args.fraction, default=0.1,
                      help="share of the text, at its end, for validation (default 0.1)")
    data.add_argument("--tokenizer", choices=TOKENIZERS, default="character", help="default character")
    data.add_argument("--vocabulary-size", type=_args.positive_int, default=2000,
                      help="SentencePiece vocabulary (default 2000)")
    training_group = _args.add_training_arguments(parser, epochs=None, batch_size=32, max_length=128,
                                                  learning_rate=1e-3, presets=sorted(TransformerLanguageModel.presets))
    training_group.add_argument("--stride", type=_args.positive_int,
                                help="tokens between training windows (default: --max-length; a quarter for --demo)")
    training_group.add_argument("--prompt", help="start of the samples (default: the validation text's first line)")
    training_group.add_argument("--sample-length", type=_args.positive_int, default=200,
                                help="tokens per sample, and the SavedModel's max_new_tokens (default 200)")
    training_group.add_argument("--top-p", type=float, default=0.9, help="nucleus of the top-p samples (default 0.9)")
    _args.add_output_arguments(parser, TASK, runs.EXPORT_NAMES[TASK])
    return parser
