"""Translation: train a `TransformerSeq2Seq` on tab-separated sentence pairs, report BLEU, plot attention, export.

Data, in order: `--demo` (generated date normalisation, `"March 3rd, 2021"` →
`"2021-03-03"`), `--data PATH` (one `source<TAB>target`-style record per
line; columns chosen with `source_column` / `target_column`), or the Tatoeba
Spanish→English pairs of the keras.io example (`../shared/data` or a checked
download).

    from kerasformers.tasks import translation
    result = translation.train(demo=True, epochs=4, output="runs/dates")
    result.metrics["bleu"], result.plots["attention"], result.export_path
"""

import numpy as np
import tensorflow as tf
from keras import ops

from kerasformers import text
from kerasformers.layers import TransformerDecoderLayer
from kerasformers.models import TransformerSeq2Seq
from kerasformers.tasks import _args, _common, demo_data, downloads, runs
from kerasformers.tasks import plots as plotting

TASK = "translation"
TOKENIZERS = ("unigram", "bpe", "char", "word_piece")


# ------------------------------------------------------------------------------ inference
def encode(tokenizer, texts, length):
    """Texts → int32 `(len(texts), length)` ids: truncated, 0-padded; an empty text becomes one `[UNK]`.

    (`translate` needs at least one token per row; the export's signature
    does the same truncation.)
    """
    ids = np.zeros((len(texts), length), "int32")
    if not texts:
        return ids
    unk = text.special_token_id(tokenizer, text.UNK_TOKEN) or 1
    for row, tokens in enumerate(tokenizer(tf.constant(list(texts)))):
        tokens = np.asarray(tokens, "int32")[:length]
        ids[row, : len(tokens)] = tokens
        if not len(tokens):
            ids[row, 0] = unk
    return ids


def translate_ids(model, source_ids, target_tokenizer, batch_size, num_beams=None):
    """Translates source ids `(n <= batch_size, max_length)`, padded to `batch_size` rows (one compiled shape)."""
    rows = len(source_ids)
    padded = np.zeros((batch_size, model.max_length), "int32")
    padded[:rows, : source_ids.shape[1]] = source_ids
    padded[rows:, 0] = text.special_token_id(target_tokenizer, text.UNK_TOKEN) or 1  # filler rows
    kwargs = {"sampler": "beam", "num_beams": num_beams} if num_beams else {}
    output = model.translate(
        padded,
        start_token_id=text.special_token_id(target_tokenizer, text.START_TOKEN),
        end_token_id=text.special_token_id(target_tokenizer, text.END_TOKEN),
        **kwargs,
    )
    return output[:rows]  # (rows, max_length)


def translate_texts(model, source_tokenizer, target_tokenizer, texts, batch_size=64, num_beams=None,
                    progress=False):
    """Translates a list of strings (greedy, or beam search with `num_beams`).

    Every batch is padded to `batch_size` rows and `model.max_length` ids, so
    the decoding loop is compiled once for all batches.

    Returns:
        list of str, one translation per text.
    """
    from keras.utils import Progbar

    texts = list(texts)
    bar = Progbar(len(texts), unit_name="sentence") if progress and texts else None
    results = []
    for first in range(0, len(texts), batch_size):
        chunk = texts[first: first + batch_size]
        output = translate_ids(model, encode(source_tokenizer, chunk, model.max_length), target_tokenizer,
                               batch_size, num_beams)
        results.extend(_as_strings(text.decode(target_tokenizer, output)))
        if bar is not None:
            bar.add(len(chunk))
    return results


def _as_strings(decoded):
    if isinstance(decoded, (str, bytes)):
        decoded = [decoded]
    return [d.decode("utf-8") if isinstance(d, bytes) else str(d) for d in decoded]


def _tokens(tokenizer, ids):
    return [str(tokenizer.id_to_token(int(i))) for i in ids]


def cross_attention(model, source_ids, decoder_ids):
    """Cross-attention of the last decoder layer, averaged over heads: `(target, source)` NumPy.

    Runs the decoder stack on `decoder_ids` (teacher forcing) and replays its
    last layer through a clone built with `return_attention=True` that holds
    the same weights, so the model itself is untouched.

    Args:
        model: a `TransformerSeq2Seq`.
        source_ids: int `(1, source_length)`.
        decoder_ids: int `(1, target_length)`, starting with `[START]`.
    """
    encoder_outputs, encoder_mask = model.encode(ops.convert_to_tensor(source_ids))
    decoder_ids = ops.convert_to_tensor(decoder_ids)
    decoder_mask = ops.not_equal(decoder_ids, 0)
    y = model.decoder_embedding(decoder_ids)
    for layer in model.decoder_layers[:-1]:
        y = layer(y, encoder_outputs, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask)
    last = model.decoder_layers[-1]
    probe = TransformerDecoderLayer.from_config({**last.get_config(), "return_attention": True})
    probe(y, encoder_outputs)  # builds the clone
    probe.set_weights(last.get_weights())
    _, scores = probe(y, encoder_outputs, decoder_padding_mask=decoder_mask, encoder_padding_mask=encoder_mask)
    attention = ops.convert_to_numpy(scores["cross_attention"])  # (1, heads, target, source)
    return np.asarray(attention[0]).mean(axis=0)


def attention_plot(model, source_tokenizer, target_tokenizer, sentence, path, batch_size=1):
    """Translates `sentence` greedily and plots which source tokens each generated token attended to.

    `batch_size`: the batch shape the decoding loop was compiled for (reused).
    """
    source = encode(source_tokenizer, [sentence], model.max_length)
    source_length = int(np.count_nonzero(source[0]))
    start = text.special_token_id(target_tokenizer, text.START_TOKEN)
    end = text.special_token_id(target_tokenizer, text.END_TOKEN)
    output = translate_ids(model, source, target_tokenizer, batch_size)[0]
    generated = [int(t) for t in output if t != 0] or [end]  # the translation's tokens, [END] included
    decoder_ids = np.array([[start] + generated[:-1]], "int32")
    weights = cross_attention(model, source[:, :source_length], decoder_ids)  # (target, source)
    translation = _as_strings(text.decode(target_tokenizer, np.array([generated])))[0]
    return plotting.attention_heatmap(
        weights,
        _tokens(source_tokenizer, source[0, :source_length]),
        _tokens(target_tokenizer, generated),
        path,
        title=f"{sentence}  →  {translation}",
    )


# ------------------------------------------------------------------------------ training
def _train_tokenizer(kind, texts, vocabulary_size):
    """SentencePiece (`unigram`/`bpe`/`char`) or WordPiece; shrinks the vocabulary to what a small corpus allows."""
    if kind == "word_piece":
        return text.train_word_piece(texts, vocabulary_size)
    if kind == "char":
        characters = {c for t in texts for c in t}
        return text.train_sentence_piece(texts, len(characters) + len(text.SPECIAL_TOKENS) + 1, model_type="char")
    try:
        return text.train_sentence_piece(texts, vocabulary_size, model_type=kind)
    except ValueError as error:
        import re

        limit = re.search(r"allows at most (\d+)", str(error))
        if not limit:
            raise
        size = int(limit.group(1))
        print(f"The corpus is small: using a vocabulary of {size} instead of {vocabulary_size}.")
        return text.train_sentence_piece(texts, size, model_type=kind)


def load_pairs(data=None, demo=False, demo_size=4000, source_column=1, target_column=0, seed=0,
               on_malformed="skip"):
    """The sentence pairs of a run: generated dates, `data`, or Tatoeba (Spanish → English)."""
    if demo:
        pairs = demo_data.date_pairs(demo_size, seed=seed)
        print(f"Demo data: {len(pairs)} generated date pairs, e.g. {pairs.sources[0]!r} -> {pairs.targets[0]!r}")
        return pairs
    path = data if data is not None else downloads.get_tatoeba()
    return _common.read_reporting(
        text.read_pairs, path, source_column=source_column, target_column=target_column, on_malformed=on_malformed
    )


def train(
    data=None,
    demo=False,
    demo_size=4000,
    source_column=1,
    target_column=0,
    max_pairs=None,
    validation_fraction=0.1,
    eval_size=1000,
    tokenizer=None,
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
    beam=False,
    sample=None,
    output=None,
    overwrite=False,
    plots=True,
    export=True,
    export_dir=None,
    export_version=None,
    on_malformed="skip",
    verbose=1,
):
    """Trains a translator end to end; returns a `TaskResult`.

    Steps: read (or generate) pairs → split train / validation / test →
    train one tokenizer per language on the training split → build
    `TransformerSeq2Seq.from_preset(preset)` → compile with the paper's
    recipe (Adam, warm-up + inverse-square-root schedule peaking at
    `learning_rate`, label smoothing 0.1) → `kerasformers.training.fit` into
    `output` (TensorBoard scalars, sample translations as TensorBoard text
    after every epoch, best weights) → sacrebleu BLEU and exact-match rate on
    up to `eval_size` test pairs → plots (`training_curves.png`,
    `attention.png`) → `model.keras` + tokenizers → SavedModel export.

    Args:
        data: path of a tab-separated pairs file, or None (Tatoeba).
        demo: bool. Train on generated date pairs instead (no download).
        demo_size: int. Pairs in the demo dataset.
        source_column, target_column: ints. Fields of `data` (Tatoeba:
            `English<TAB>Spanish`, so 1 → 0 translates Spanish to English).
        max_pairs: int or None. Keep at most this many training pairs (and
            `max_pairs * validation_fraction` validation pairs, at least 100).
        validation_fraction: float. Share of pairs for validation, and again
            for the test split.
        eval_size: int. Test pairs translated for BLEU.
        tokenizer: `"unigram"`, `"bpe"`, `"char"` (SentencePiece) or
            `"word_piece"`. Defaults to `"char"` for the demo, else `"unigram"`.
        vocabulary_size: int. Per language (ignored by `"char"`).
        preset: model size (`TransformerSeq2Seq.presets`).
        num_layers, model_dim, num_heads, hidden_dim: preset overrides
            (`num_layers` sets both encoder and decoder depth).
        epochs: int. Defaults to 6 for the demo, 2 otherwise.
        batch_size: int.
        max_length: int. Longest source / target in tokens. Defaults to 32
            for the demo (characters), 20 otherwise (as keras.io).
        learning_rate: float. Peak of the schedule.
        steps_per_epoch: int or None. Cap each epoch (quick runs).
        seed: int.
        precision: `"float32"` (default), `"mixed_bfloat16"`, `"mixed_float16"` or
            `"auto"` (`kerasformers.training.resolve_precision`): the model's dtype
            policy; logits and loss stay float32.
        beam: bool. Use beam search (4 beams) for the test translations.
        sample: str or None. Sentence of the attention plot (default: the
            first test source).
        output: run folder (default `runs/translation-<timestamp>`).
        overwrite: bool. Replace a finished run and an existing export version.
        plots: bool. Draw the PNG plots (needs matplotlib).
        export: bool. Export a SavedModel (default under `saved_models/translator`).
        export_dir, export_version: where to export.
        on_malformed: `"skip"` or `"raise"` for malformed lines of `data`.
        verbose: Keras `fit` verbosity (1: progress bar).

    Raises:
        FileNotFoundError / ValueError: missing, empty or malformed data;
            unknown preset or tokenizer.
        FileExistsError: `output` holds a finished run, or the export version exists.
        kerasformers.tasks.errors.DownloadError: Tatoeba is needed but cannot be downloaded.
        kerasformers.tasks.errors.MissingExtraError: `plots` without matplotlib.
    """
    timer = _common.Timer()
    _common.check_preset(TransformerSeq2Seq, preset)
    tokenizer = tokenizer or ("char" if demo else "unigram")
    if tokenizer not in TOKENIZERS:
        raise ValueError(f"Unknown tokenizer {tokenizer!r}. Known: {', '.join(TOKENIZERS)}")
    if plots:
        plotting.check_available()
    export_dir = export_dir or runs.default_export_dir(TASK)
    if export:
        _common.check_export_target(export_dir, export_version, overwrite)
    epochs = epochs or (6 if demo else 2)
    max_length = max_length or (32 if demo else 20)
    policy = _common.resolve_precision(precision)
    _common.set_seed(seed)
    run_dir = _common.prepare_run_dir(output, TASK, overwrite)

    # === Data ===
    pairs = load_pairs(data, demo, demo_size, source_column, target_column, seed, on_malformed)
    rest, test = text.split(pairs, validation_fraction, seed=seed)
    train_pairs, validation = text.split(rest, validation_fraction, seed=seed + 1)
    if max_pairs:  # a subset: validation shrinks in proportion (at least 100 pairs)
        keep = max(100, int(max_pairs * validation_fraction))
        train_pairs = text.TextPairs(train_pairs.sources[:max_pairs], train_pairs.targets[:max_pairs],
                                     train_pairs.report)
        validation = text.TextPairs(validation.sources[:keep], validation.targets[:keep], validation.report)
    test = text.TextPairs(test.sources[:eval_size], test.targets[:eval_size], test.report)
    print(f"{len(train_pairs)} training, {len(validation)} validation, {len(test)} test pairs")
    run_dir.mkdir(parents=True, exist_ok=True)
    source_tokenizer = _train_tokenizer(tokenizer, train_pairs.sources, vocabulary_size)
    target_tokenizer = _train_tokenizer(tokenizer, train_pairs.targets, vocabulary_size)
    print(f"Tokenizers ({tokenizer}): {source_tokenizer.vocabulary_size()} source, "
          f"{target_tokenizer.vocabulary_size()} target tokens")
    train_data = text.translation_dataset(train_pairs.sources, train_pairs.targets, source_tokenizer,
                                          target_tokenizer, batch_size, max_length, seed=seed)
    validation_data = text.translation_dataset(validation.sources, validation.targets, source_tokenizer,
                                               target_tokenizer, batch_size, max_length, shuffle=False)

    # === Model ===
    overrides = _common.model_overrides(num_encoder_layers=num_layers, num_decoder_layers=num_layers,
                                        model_dim=model_dim, num_heads=num_heads, hidden_dim=hidden_dim)
    model = TransformerSeq2Seq.from_preset(
        preset, dtype=policy, encoder_vocabulary_size=source_tokenizer.vocabulary_size(),
        decoder_vocabulary_size=target_tokenizer.vocabulary_size(), max_length=max_length, **overrides,
    )
    _common.compile_recipe(model, train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           learning_rate=learning_rate, label_smoothing=0.1)
    print(f"TransformerSeq2Seq ({preset}): {model.count_params():,} parameters")

    # === Training ===
    shown = test.sources[:4]

    def samples():
        translations = translate_texts(model, source_tokenizer, target_tokenizer, shown, batch_size)
        return [f"{s}  →  {t}  (reference: {r})" for s, t, r in zip(shown, translations, test.targets)]

    samples_callback = _common.TextSamples(run_dir / _common.LOG_DIR / "samples", samples)
    history = _common.fit(model, train_data, validation_data, epochs=epochs, run_dir=run_dir,
                          steps_per_epoch=steps_per_epoch, callbacks=[samples_callback], verbose=verbose)

    # === Evaluation ===
    import sacrebleu

    print(f"Translating {len(test)} test sentences ({'beam search' if beam else 'greedy'}) ...")
    hypotheses = translate_texts(model, source_tokenizer, target_tokenizer, test.sources, batch_size,
                                 num_beams=4 if beam else None, progress=True)
    bleu = sacrebleu.corpus_bleu(hypotheses, [test.targets])
    metrics = {
        "bleu": float(bleu.score),
        "exact_match": float(np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, test.targets)])),
    }
    if history.get("val_loss"):
        best = int(np.argmin(history["val_loss"]))
        metrics.update(val_loss=history["val_loss"][best], val_accuracy=history["val_accuracy"][best])
    print(f"BLEU on {len(test)} held-out pairs: {bleu}")
    examples = [f"{s}  →  {h}  (reference: {r})" for s, h, r in zip(test.sources[:5], hypotheses, test.targets)]
    for example in examples:
        print("  " + example)
    _common.write_text_summary(run_dir / _common.LOG_DIR / "samples", "test_translations", examples, epochs)
    _common.write_scalar_summaries(run_dir / _common.LOG_DIR / "validation", metrics, epochs)

    # === Plots, files, export ===
    figures = _common.training_curves(history, run_dir, "Translation training", plots)
    if plots:
        figures["attention"] = attention_plot(model, source_tokenizer, target_tokenizer, sample or test.sources[0],
                                              run_dir / "attention.png", batch_size)
    tokenizers = {"source": source_tokenizer, "target": target_tokenizer}
    info = dict(max_length=max_length, preset=preset, precision=policy, tokenizer=tokenizer, metrics=metrics,
                export_dir=str(export_dir), source_column=source_column, target_column=target_column)
    model_path = runs.save_run(run_dir, TASK, model, tokenizers, **info)
    export_path = None
    if export:
        export_path = runs.export(TASK, model, tokenizers, export_dir, version=export_version, overwrite=overwrite)
        runs.save_info(run_dir, export_path=export_path)
    result = _common.TaskResult(TASK, run_dir, metrics, figures, model_path, export_path, examples)
    return _common.finish(result, timer.elapsed)



# ------------------------------------------------------------------------------ command line
def add_arguments(parser):
    """Adds this task's options to an `argparse` parser (dests are `train()` keywords)."""
    data = _args.add_data_arguments(
        parser,
        data_help="tab-separated sentence pairs (default: Tatoeba Spanish→English, from ../shared/data or "
                  "downloaded)",
        demo_help='train on generated date pairs ("March 3rd, 2021" → "2021-03-03"): no download, about a minute',
        demo_size=4000,
    )
    data.add_argument("--source-column", type=int, default=1, help="field of the source text (default 1: Spanish)")
    data.add_argument("--target-column", type=int, default=0, help="field of the target text (default 0: English)")
    data.add_argument("--max-pairs", type=_args.positive_int, metavar="N", help="keep at most N training pairs")
    data.add_argument("--validation-fraction", type=_args.fraction, default=0.1,
                      help="share of pairs for validation, and again for the test split (default 0.1)")
    data.add_argument("--eval-size", type=_args.positive_int, default=1000,
                      help="test pairs translated for BLEU (default 1000)")
    data.add_argument("--tokenizer", choices=TOKENIZERS,
                      help="SentencePiece unigram/bpe/char or WordPiece (default: char for --demo, else unigram)")
    data.add_argument("--vocabulary-size", type=_args.positive_int, default=8000,
                      help="tokens per language (default 8000)")
    training_group = _args.add_training_arguments(
        parser, epochs=None, batch_size=64, max_length=None, learning_rate=1e-3,
        presets=sorted(TransformerSeq2Seq.presets),
    )
    training_group.add_argument("--beam", action="store_true", help="beam search (4 beams) for the BLEU translations")
    training_group.add_argument("--sample", metavar="TEXT", help="sentence of the attention plot")
    _args.add_output_arguments(parser, TASK, runs.EXPORT_NAMES[TASK])
    return parser
