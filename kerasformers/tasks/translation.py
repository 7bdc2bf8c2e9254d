"""Translation: train a `TransformerSeq2Seq` on tab-separated sentence pairs, report BLEU, plot attention, export.

Data, in order: `--demo` (generated date normalisation, `"March 3rd, 2021"` →
`"2021-03-03"`), `--source-file S --target-file T` (a parallel corpus as
published by WMT and OPUS: two aligned files, one sentence per line),
`--data PATH` (one `source<TAB>target`-style record per line; columns chosen
with `--source-column` / `--target-column`), or the Tatoeba Spanish→English
pairs of the keras.io example (`../shared/data` or a checked download).
Validation and test pairs are random splits of the training data unless
`--validation-source-file`/`--validation-target-file` and
`--test-source-file`/`--test-target-file` give them (e.g. a published test
set such as newstest).

    from kerasformers.tasks import run
    result = run("translation", demo=True, epochs=4, output="runs/dates")
    result.metrics["bleu"], result.plots["attention"], result.export_path
"""

import numpy as np
import tensorflow as tf
from keras.utils import Progbar

from kerasformers import export, generation, text, training
from kerasformers.models import TransformerSeq2Seq
from kerasformers.tasks import base, plots
from kerasformers.text import demo_data, downloads
from kerasformers.tasks.arguments import LAYER_OPTIONS, add_length_buckets_argument, fraction, positive_int
from kerasformers.tasks.registry import register

TOKENIZERS = ("unigram", "bpe", "char", "word_piece")


# ------------------------------------------------------------------------------ inference
def encode(tokenizer, texts, length):
    """Texts → int32 `(len(texts), length)` ids: truncated, 0-padded; an empty text becomes one `[UNK]`."""
    return text.encode(tokenizer, texts, length, empty_id=text.special_token_id(tokenizer, text.UNK_TOKEN) or 1)


def translate_ids(model, source_ids, target_tokenizer, batch_size, num_beams=None):
    """Translates source ids `(n <= batch_size, max_length)`, padded to `batch_size` rows (one compiled shape)."""
    rows = len(source_ids)
    padded = np.zeros((batch_size, model.max_length), "int32")
    padded[:rows, : source_ids.shape[1]] = source_ids
    padded[rows:, 0] = text.special_token_id(target_tokenizer, text.UNK_TOKEN) or 1  # filler rows
    kwargs = {"sampler": "beam", "num_beams": num_beams} if num_beams else {}
    output = generation.translate(
        model, padded, start_token_id=text.special_token_id(target_tokenizer, text.START_TOKEN),
        end_token_id=text.special_token_id(target_tokenizer, text.END_TOKEN), **kwargs,
    )
    return output[:rows]  # (rows, max_length)


def translate_texts(model, source_tokenizer, target_tokenizer, texts, batch_size=64, num_beams=None,
                    progress=False):
    """Translates a list of strings (greedy, or beam search with `num_beams`); returns a list of str.

    Every batch is padded to `batch_size` rows and `model.max_length` ids, so
    the decoding loop is compiled once for all batches.
    """
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
    decoded = [decoded] if isinstance(decoded, (str, bytes)) else decoded
    return [d.decode("utf-8") if isinstance(d, bytes) else str(d) for d in decoded]


def attention_plot(model, source_tokenizer, target_tokenizer, sentence, path, batch_size=1):
    """Translates `sentence` greedily and plots which source tokens each generated token attended to.

    `batch_size`: the batch shape the decoding loop was compiled for (reused).
    """
    source = encode(source_tokenizer, [sentence], model.max_length)
    source_length = int(np.count_nonzero(source[0]))
    start = text.special_token_id(target_tokenizer, text.START_TOKEN)
    end = text.special_token_id(target_tokenizer, text.END_TOKEN)
    generated = [int(t) for t in translate_ids(model, source, target_tokenizer, batch_size)[0] if t != 0] or [end]
    decoder_ids = np.array([[start] + generated[:-1]], "int32")  # the translation's tokens, [END] included
    scores = model.cross_attention(source[:, :source_length], decoder_ids)  # (1, heads, target, source)
    weights = np.asarray(scores)[0].mean(axis=0)
    translation = _as_strings(text.decode(target_tokenizer, np.array([generated])))[0]
    tokens = lambda tokenizer, ids: [str(tokenizer.id_to_token(int(i))) for i in ids]  # noqa: E731
    return plots.attention_heatmap(weights, tokens(source_tokenizer, source[0, :source_length]),
                                   tokens(target_tokenizer, generated), path, title=f"{sentence}  →  {translation}")


FILE_OPTIONS = {  # which pairs -> (source file option, target file option)
    "training": ("source_file", "target_file"),
    "validation": ("validation_source_file", "validation_target_file"),
    "test": ("test_source_file", "test_target_file"),
}


def _flag(name):
    return "--" + name.replace("_", "-")


def parallel_files(options, which):
    """The `(source, target)` paths of `which` pairs given as two aligned files, or `None`; both or neither."""
    source_option, target_option = FILE_OPTIONS[which]
    source, target = getattr(options, source_option, None), getattr(options, target_option, None)
    if (source is None) != (target is None):
        given, missing = (source_option, target_option) if target is None else (target_option, source_option)
        raise ValueError(f"{_flag(given)} needs {_flag(missing)}: a parallel corpus is two aligned files, one "
                         f"sentence per line. Received: {_flag(given)}={source if target is None else target!r}")
    return None if source is None else (source, target)


def load_pairs(data=None, demo=False, demo_size=4000, source_column=1, target_column=0, seed=0,
               on_malformed="skip", files=None):
    """The sentence pairs of a run: generated dates, two aligned `files`, `data`, or Tatoeba (Spanish → English)."""
    if demo:
        pairs = demo_data.date_pairs(demo_size, seed=seed)
        print(f"Demo data: {len(pairs)} generated date pairs, e.g. {pairs.sources[0]!r} -> {pairs.targets[0]!r}")
        return pairs
    if files is not None:
        return base.read_reporting(text.read_parallel, *files, on_malformed=on_malformed)
    path = data if data is not None else downloads.get_tatoeba()
    return base.read_reporting(text.read_pairs, path, source_column=source_column, target_column=target_column,
                               on_malformed=on_malformed)


# ------------------------------------------------------------------------------ the task
LENGTH_LIMIT = 128  # the longest --max-length chosen from the data
# The demo: the tiny preset narrowed to width 64 (d_ff 256, 2 layers each side) without dropout, 8,000 pairs,
# batches of 32, a peak of 2e-3 and 4 epochs, chosen on selection seeds (`benchmarks/demo_settings.py`). The pairs
# are generated and noiseless, and dropout only slowed learning: with it, one d-128 layer each side (the defaults
# before) reached a median exact match of 0.93-0.94 on seeds 0-4, this 0.99 (docs/benchmarks.md, side by side).
# Real corpora: on Tatoeba's validation pairs the `mini` preset, batches of 128 and a peak of 2e-3 reached BLEU
# 43.7 in 21 minutes where the earlier defaults (tiny, 64, 1e-3) reached 34.8 in 11 (`benchmarks/cli_defaults.py`).
DEMO_DEFAULTS = dict(preset="tiny", model_dim=64, hidden_dim=256, dropout=0.0, epochs=4,
                     batch_size=32)  # the peak: 2e-3 for both
CORPUS_DEFAULTS = dict(preset="mini", epochs=2, batch_size=128)


@register
class Translation(base.Task):
    """Pairs → one tokenizer per language → `TransformerSeq2Seq` (paper recipe, label smoothing 0.1) → BLEU."""

    name = "translation"
    summary = __doc__.splitlines()[0]
    model_class = TransformerSeq2Seq
    defaults = dict(demo_size=8000, epochs=None, batch_size=None, max_length=None, learning_rate=2e-3, preset=None)
    default_notes = dict(
        epochs=f"{DEMO_DEFAULTS['epochs']} with --demo, else {CORPUS_DEFAULTS['epochs']}",
        batch_size=f"{DEMO_DEFAULTS['batch_size']} with --demo, else {CORPUS_DEFAULTS['batch_size']}",
        preset=f"{DEMO_DEFAULTS['preset']} with --demo, else {CORPUS_DEFAULTS['preset']}",
        **{name: f"{DEMO_DEFAULTS[name]} with --demo and no --preset, else the preset's"
           for name in ("model_dim", "hidden_dim", "dropout")},
        max_length="32 with --demo, else what 99%% of the training sentences fit in, a multiple of 8, at most 128")
    data_help = "tab-separated sentence pairs (default: Tatoeba Spanish→English, from ../shared/data or downloaded)"
    demo_help = 'train on generated date pairs ("March 3rd, 2021" → "2021-03-03"): no download, a minute or two'
    exports = True
    recipe = dict(label_smoothing=0.1)
    inference_command = "translate"
    inference_help = "translate sentences with a trained translator"

    def add_arguments(self, parser, groups):
        data, group = groups["data"], groups["training"]
        data.add_argument("--source-column", type=int, default=1, help="field of the source text (default 1: Spanish)")
        data.add_argument("--target-column", type=int, default=0, help="field of the target text (default 0: English)")
        data.add_argument("--source-file", metavar="PATH",
                          help="training source sentences, one per line, aligned with --target-file (instead of "
                               "--data: the format of WMT and OPUS corpora)")
        data.add_argument("--target-file", metavar="PATH", help="training target sentences, one per line")
        data.add_argument("--validation-source-file", metavar="PATH",
                          help="validation source sentences (with --validation-target-file): no validation split")
        data.add_argument("--validation-target-file", metavar="PATH", help="validation target sentences")
        data.add_argument("--test-source-file", metavar="PATH",
                          help="test source sentences for BLEU, e.g. a published test set (with "
                               "--test-target-file): no test split")
        data.add_argument("--test-target-file", metavar="PATH", help="test target sentences")
        data.add_argument("--max-pairs", type=positive_int, metavar="N", help="keep at most N training pairs")
        data.add_argument("--validation-fraction", type=fraction, default=0.1,
                          help="share of pairs for validation, and again for the test split, when no file "
                               "gives them (default 0.1)")
        data.add_argument("--eval-size", type=positive_int,
                          help="test pairs translated for BLEU (default: 1000 of a test split, all of "
                               "--test-source-file)")
        data.add_argument("--tokenizer", choices=TOKENIZERS,
                          help="SentencePiece unigram/bpe/char or WordPiece (default: char for --demo, else unigram)")
        data.add_argument("--vocabulary-size", type=positive_int, default=8000, help="tokens per language (default 8000)")
        group.add_argument("--beam", action="store_true", help="beam search (4 beams) for the BLEU translations")
        add_length_buckets_argument(group)
        group.add_argument("--sample", metavar="TEXT", help="sentence of the attention plot")

    def prepare(self, options):
        files = {which: parallel_files(options, which) for which in FILE_OPTIONS}
        if files["training"] and (options.demo or options.data is not None):
            given = "--demo" if options.demo else f"--data={options.data!r}"
            raise ValueError(f"--source-file/--target-file give the training pairs: drop {given}.")
        options.tokenizer = options.tokenizer or ("char" if options.demo else "unigram")
        defaults = dict(DEMO_DEFAULTS if options.demo else CORPUS_DEFAULTS)
        if options.preset is not None:  # a preset the user chose keeps its own layers, widths and dropout
            for name, _ in LAYER_OPTIONS:
                defaults.pop(name, None)
        for name, value in defaults.items():
            if getattr(options, name) is None:
                setattr(options, name, value)
        if options.demo:  # else None: chosen from the training data's lengths (`build_datasets`)
            options.max_length = options.max_length or 32

    def load_data(self, run):
        o = run.options
        files = {which: parallel_files(o, which) for which in FILE_OPTIONS}
        pairs = load_pairs(o.data, o.demo, o.demo_size, o.source_column, o.target_column, o.seed, o.on_malformed,
                           files["training"])
        given = {which: base.read_reporting(text.read_parallel, *paths, on_malformed=o.on_malformed)
                 for which, paths in files.items() if paths and which != "training"}
        rest, test = (pairs, given["test"]) if "test" in given else text.split(pairs, o.validation_fraction,
                                                                                   seed=o.seed)
        train, validation = ((rest, given["validation"]) if "validation" in given
                             else text.split(rest, o.validation_fraction, seed=o.seed + 1))
        if o.max_pairs:  # a subset: a validation split shrinks in proportion (at least 100 pairs)
            train = text.TextPairs(train.sources[: o.max_pairs], train.targets[: o.max_pairs], train.report)
            if "validation" not in given:
                keep = max(100, int(o.max_pairs * o.validation_fraction))
                validation = text.TextPairs(validation.sources[:keep], validation.targets[:keep], validation.report)
        size = o.eval_size or (len(test) if "test" in given else 1000)
        test = text.TextPairs(test.sources[:size], test.targets[:size], test.report)
        origin = lambda which: "file" if which in given else "split"  # noqa: E731
        print(f"{len(train)} training, {len(validation)} validation ({origin('validation')}), "
              f"{len(test)} test pairs ({origin('test')})")
        return dict(train=train, validation=validation, test=test)

    def build_tokenizers(self, run):
        o, train = run.options, run.data["train"]
        tokenizers = {"source": text.make_tokenizer(o.tokenizer, train.sources, o.vocabulary_size),
                      "target": text.make_tokenizer(o.tokenizer, train.targets, o.vocabulary_size)}
        print(f"Tokenizers ({o.tokenizer}): {tokenizers['source'].vocabulary_size()} source, "
              f"{tokenizers['target'].vocabulary_size()} target tokens")
        return tokenizers

    def build_datasets(self, run):
        o, source, target = run.options, run.tokenizers["source"], run.tokenizers["target"]
        train, validation = run.data["train"], run.data["validation"]
        reports = (text.truncation_report(source, train.sources, o.max_length or LENGTH_LIMIT),
                   text.truncation_report(target, train.targets, o.max_length or LENGTH_LIMIT, extra_ids=1))
        if o.max_length is None:  # what 99% of the training pairs fit in, not a fixed guess
            o.max_length = text.fitted_max_length(*reports, limit=LENGTH_LIMIT)
            print(f"--max-length {o.max_length}: from the data (99% of training sources and targets fit, "
                  f"a multiple of 8, at most {LENGTH_LIMIT}; give --max-length to choose)")
            reports = tuple(report.with_max_length(o.max_length) for report in reports)
        base.report_truncation(reports[0], "training sources")
        base.report_truncation(reports[1], "training targets ([START] or [END] included)")
        return (text.translation_dataset(train.sources, train.targets, source, target, o.batch_size, o.max_length,
                                         seed=o.seed, bucket=o.length_buckets),
                text.translation_dataset(validation.sources, validation.targets, source, target, o.batch_size,
                                         o.max_length, shuffle=False, bucket=False))

    def model_arguments(self, run):
        return dict(encoder_vocabulary_size=run.tokenizers["source"].vocabulary_size(),
                    decoder_vocabulary_size=run.tokenizers["target"].vocabulary_size(),
                    max_length=run.options.max_length)

    def layer_overrides(self, options):
        overrides = super().layer_overrides(options)
        layers = overrides.pop("num_layers")
        return dict(overrides, num_encoder_layers=layers, num_decoder_layers=layers)

    def _translate(self, run, sentences, **kwargs):
        return translate_texts(run.model, run.tokenizers["source"], run.tokenizers["target"], sentences,
                               run.options.batch_size, **kwargs)

    def callbacks(self, run):
        test = run.data["test"]

        def samples():
            translations = self._translate(run, test.sources[:4])
            return [f"{s}  →  {t}  (reference: {r})" for s, t, r in zip(test.sources, translations, test.targets)]

        return [training.TextSamples(run.log_dir / "samples", samples)]

    def evaluate(self, run):
        import sacrebleu

        test, beam = run.data["test"], run.options.beam
        print(f"Translating {len(test)} test sentences ({'beam search' if beam else 'greedy'}) ...")
        hypotheses = self._translate(run, test.sources, num_beams=4 if beam else None, progress=True)
        bleu = sacrebleu.corpus_bleu(hypotheses, [test.targets])
        metrics = {"bleu": float(bleu.score),
                   "exact_match": float(np.mean([h.strip() == r.strip() for h, r in zip(hypotheses, test.targets)])),
                   **base.best_validation(run.history, "val_loss", "val_accuracy")}
        print(f"BLEU on {len(test)} held-out pairs: {bleu}")
        examples = [f"{s}  →  {h}  (reference: {r})" for s, h, r in zip(test.sources[:5], hypotheses, test.targets)]
        for example in examples:
            print("  " + example)
        training.write_text_summary(run.log_dir / "samples", "test_translations", examples, run.options.epochs)
        return metrics, examples

    def plots(self, run):
        sentence = run.options.sample or run.data["test"].sources[0]
        return {"attention": attention_plot(run.model, run.tokenizers["source"], run.tokenizers["target"], sentence,
                                            run.run_dir / "attention.png", run.options.batch_size)}

    def run_info(self, run):
        o = run.options
        return dict(max_length=o.max_length, tokenizer=o.tokenizer, source_column=o.source_column,
                    target_column=o.target_column,
                    **{name: str(getattr(o, name)) for names in FILE_OPTIONS.values() for name in names
                       if getattr(o, name, None) is not None})

    def endpoints(self, model, tokenizers, info):
        return export.translator_endpoints(model, tokenizers["source"], tokenizers["target"])

    # --- `kerasformers translate DIR TEXT...`
    def add_inference_arguments(self, parser):
        parser.add_argument("texts", metavar="TEXT", nargs="+", help="sentences to translate")
        parser.add_argument("--beam", action="store_true", help="beam search (the SavedModel's `beam` signature)")

    def infer(self, target, args):
        if target.served:
            signature = target.signature("beam" if args.beam else "serving_default")
            translations = _as_strings(np.asarray(signature(text=tf.constant(args.texts))["translation"]).tolist())
        else:
            translations = translate_texts(target.model, target.tokenizers["source"], target.tokenizers["target"],
                                           args.texts, batch_size=len(args.texts), num_beams=4 if args.beam else None)
        return [f"{source}\t{translation}" for source, translation in zip(args.texts, translations)]
