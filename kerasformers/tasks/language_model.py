"""Language modelling: train a GPT-style `TransformerLanguageModel` on a plain text file, sample from it, export.

From scratch, or with `--pretrained DIR` fine-tuned from a GPT-2 checkpoint
with its own byte-level BPE tokenizer and the fine-tuning recipe (AdamW,
warm-up and linear decay); `--lora-rank R` trains LoRA updates only.

Data, in order: `--demo` (a generated play in tiny Shakespeare's layout),
`--data PATH` (any UTF-8 text file), or tiny Shakespeare (`../shared/data` or
a checked download). The first 90% trains, the last 10% validates.

    from kerasformers.tasks import run
    result = run("language-model", demo=True, epochs=2, output="runs/play")
    result.metrics["val_perplexity"], result.samples
"""

import math
import sys

import numpy as np
import tensorflow as tf

from kerasformers import checks, export, generation, text, training
from kerasformers.models import TransformerLanguageModel
from kerasformers.tasks import base, fine_tuning
from kerasformers.text import demo_data, downloads
from kerasformers.tasks.arguments import fraction, positive_float, positive_int
from kerasformers.tasks.registry import register

TOKENIZERS = ("character", "byte", "unigram", "bpe")
PRETRAINED = dict(learning_rate=5e-5, batch_size=8, epochs=1)  # fine-tuning defaults (GPT-2 small)


# ------------------------------------------------------------------------------ inference
def generate_texts(model, tokenizer, prompts, max_new_tokens=200, sampler="greedy", top_p=None, seed=None,
                   top_k=None, temperature=1.0):
    """Continues each prompt; returns the prompts with their continuations (list of str).

    Prompts are tokenized, right-padded to one length (with
    `text.padding_token_id(tokenizer)`: GPT-2's `<|endoftext|>`, not its
    real token 0) and continued by `max_new_tokens` tokens (fewer if the
    model's `max_length` is shorter). A prompt with no known token starts
    from a newline.
    """
    prompts = list(prompts)
    pad = text.padding_token_id(tokenizer)
    rows = [np.asarray(r, "int32") for r in tokenizer(tf.constant(prompts))]
    fallback = np.asarray(tokenizer(tf.constant(["\n"]))[0], "int32")[:1]
    rows = [r if len(r) else (fallback if len(fallback) else np.array([1], "int32")) for r in rows]
    length = min(max(len(r) for r in rows), model.max_length - 1)
    ids = np.full((len(rows), length), pad, "int32")
    for i, r in enumerate(rows):
        r = r[-length:]  # keep the most recent context
        ids[i, : len(r)] = r
    max_new_tokens = max(1, min(max_new_tokens, model.max_length - length))
    kwargs = {"top_p": top_p} if sampler == "top_p" and top_p is not None else {}
    if top_k is not None:
        kwargs["top_k"] = top_k
    output = generation.generate(model, ids, max_new_tokens, sampler=sampler, seed=seed, temperature=temperature,
                                 pad_token_id=pad, **kwargs)
    decoded = text.decode(tokenizer, output)
    decoded = [decoded] if isinstance(decoded, (str, bytes)) else decoded
    return [d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in decoded]


def default_prompt(validation_text):
    """The first whole non-empty line of the validation text (at most 40 characters; its first line may be cut)."""
    lines = [line for line in validation_text.split("\n")[1:] if line.strip()]
    return (lines[0][:40] + "\n") if lines else "\n"


def load_text(data=None, demo=False, demo_size=60_000, seed=0):
    if demo:
        corpus = demo_data.play_text(demo_size, seed=seed)
        print(f"Demo data: a generated play of {len(corpus):,} characters, starting {corpus[:40]!r}")
        return corpus
    path = data if data is not None else downloads.get_shakespeare()
    corpus = text.read_text(path)
    print(f"Read {path}: {len(corpus):,} characters")
    return corpus


def _windows(corpus, tokenizer, max_length):
    """Number of validation windows (at least 1), so that a short validation text still gives one batch."""
    return max(1, (len(tokenizer(tf.constant(corpus))) - 1) // max_length)


# ------------------------------------------------------------------------------ the task
@register
class LanguageModel(base.Task):
    """Text → tokenizer (characters) → windows → `TransformerLanguageModel` → perplexity, greedy and top-p samples."""

    name = "language-model"
    summary = __doc__.splitlines()[0]
    model_class = TransformerLanguageModel
    aliases = ("language_model", "language_modeling")  # run folders of kerasformers <= 0.1.0
    defaults = dict(demo_size=60_000, epochs=None, batch_size=None, max_length=None, learning_rate=None)
    default_notes = dict(
        epochs=f"3; {PRETRAINED['epochs']} with --pretrained",
        batch_size=f"32; {PRETRAINED['batch_size']} with --pretrained",
        max_length="128; the checkpoint's positions with --pretrained (GPT-2: 1024; less is much faster on a CPU)",
        learning_rate=f"1e-3; {PRETRAINED['learning_rate']:g} with --pretrained",
    )
    data_help = "a plain UTF-8 text file (default: tiny Shakespeare, from ../shared/data or downloaded)"
    demo_help = "train on a generated play in tiny Shakespeare's layout: no download, about a minute"
    exports = True
    recipe = dict(perplexity=True)
    inference_command = "generate"
    inference_help = "continue prompts with a trained language model"

    def add_arguments(self, parser, groups):
        data, group = groups["data"], groups["training"]
        data.add_argument("--validation-fraction", type=fraction, default=0.1,
                          help="share of the text, at its end, for validation (default 0.1)")
        data.add_argument("--tokenizer", choices=TOKENIZERS, default="character",
                          help="default character (ignored with --pretrained: the checkpoint's own)")
        data.add_argument("--vocabulary-size", type=positive_int, default=2000,
                          help="SentencePiece vocabulary (default 2000)")
        group.add_argument("--stride", type=positive_int,
                           help="tokens between training windows (default: --max-length; a quarter for --demo)")
        group.add_argument("--prompt", help="start of the samples (default: the validation text's first line)")
        group.add_argument("--sample-length", type=positive_int, default=200,
                           help="tokens per sample, and the SavedModel's max_new_tokens (default 200)")
        group.add_argument("--top-p", type=float, default=0.9, help="nucleus of the top-p samples (default 0.9)")
        fine_tuning.add_pretrained_arguments(group, "a GPT-2 checkpoint")

    def prepare(self, options):
        checks.check_fraction("top_p", options.top_p, high_open=False)
        fine_tuning.prepare_pretrained(self, options, "gpt2", PRETRAINED)
        options.epochs = options.epochs or 3
        options.max_length = options.max_length or 128
        options.batch_size = options.batch_size or 32
        options.learning_rate = options.learning_rate or 1e-3
        options.stride = options.stride or (max(1, options.max_length // 4) if options.demo else None)

    def load_data(self, run):
        o = run.options
        train, validation = text.split_text(load_text(o.data, o.demo, o.demo_size, o.seed), o.validation_fraction)
        return dict(train=train, validation=validation)

    def build_tokenizers(self, run):
        o, corpus = run.options, run.data["train"]
        if o.pretrained:
            return {"text": fine_tuning.pretrained_tokenizer(o.pretrained)}
        lines = [line for line in corpus.split("\n") if line.strip()]  # SentencePiece learns from lines
        tokenizer = text.make_tokenizer(o.tokenizer, corpus if o.tokenizer == "character" else lines,
                                        o.vocabulary_size)
        print(f"Tokenizer ({o.tokenizer}): {tokenizer.vocabulary_size()} tokens")
        return {"text": tokenizer}

    def build_datasets(self, run):
        o, tokenizer, data = run.options, run.tokenizers["text"], run.data
        try:
            return (text.language_model_dataset(data["train"], tokenizer, o.max_length, o.batch_size, seed=o.seed,
                                                stride=o.stride),
                    text.language_model_dataset(data["validation"], tokenizer, o.max_length,
                                                min(o.batch_size, _windows(data["validation"], tokenizer, o.max_length)),
                                                shuffle=False))
        except ValueError as error:
            raise ValueError(f"The text is too short for --max-length {o.max_length} and --batch-size "
                             f"{o.batch_size}: {error}") from None

    def model_arguments(self, run):
        return dict(vocabulary_size=run.tokenizers["text"].vocabulary_size(), max_length=run.options.max_length)

    def build_model(self, run):
        o = run.options
        if not o.pretrained:
            return super().build_model(run)
        return fine_tuning.build_pretrained(run, TransformerLanguageModel)

    def compile(self, run):
        if not run.options.pretrained:
            return super().compile(run)
        # GPT-2's id 0 is a real token and training windows hold no padding: nothing is masked
        fine_tuning.compile_pretrained(run, perplexity=True, pad_id=run.model.padding_id)

    def fit(self, run):
        history = super().fit(run)
        fine_tuning.merge_after_training(run)
        return history

    def _samples(self, run):
        o, prompt = run.options, self._prompt(run)
        length = min(o.sample_length, o.max_length - 1)
        greedy = generate_texts(run.model, run.tokenizers["text"], [prompt], length, "greedy")[0]
        nucleus = generate_texts(run.model, run.tokenizers["text"], [prompt], length, "top_p", top_p=o.top_p,
                                 seed=o.seed)[0]
        return [f"[greedy]\n{greedy}", f"[top-p {o.top_p}]\n{nucleus}"]

    def _prompt(self, run):
        return run.options.prompt if run.options.prompt is not None else default_prompt(run.data["validation"])

    def callbacks(self, run):
        run.extras["samples"] = training.TextSamples(run.log_dir / "samples", lambda: self._samples(run))
        return [run.extras["samples"]]

    def evaluate(self, run):
        metrics = base.best_validation(run.history, "val_loss", "val_perplexity")
        if metrics:
            metrics["val_bits_per_token"] = metrics["val_loss"] / math.log(2)
            print(f"Validation loss {metrics['val_loss']:.4f}, perplexity {metrics['val_perplexity']:.3f} "
                  f"(uniform guessing: {run.tokenizers['text'].vocabulary_size()})")
        return metrics, run.extras["samples"].samples or self._samples(run)

    def run_info(self, run):
        o = run.options
        return dict(max_length=o.max_length, tokenizer="pretrained" if o.pretrained else o.tokenizer,
                    prompt=self._prompt(run), export_max_new_tokens=min(o.sample_length, o.max_length - 1),
                    pretrained=o.pretrained, lora_rank=o.lora_rank)

    def endpoints(self, model, tokenizers, info):
        return export.language_model_endpoints(model, tokenizers["text"], info.get("export_max_new_tokens", 64))

    # --- `kerasformers generate DIR PROMPT...`
    def add_inference_arguments(self, parser):
        parser.add_argument("prompts", metavar="PROMPT", nargs="+", help="texts to continue")
        parser.add_argument("--max-new-tokens", type=positive_int, default=None,
                            help="tokens to generate (run folders; a SavedModel has its own, set at export)")
        parser.add_argument("--sampler", choices=("greedy", "top_p", "top_k"), default="greedy",
                            help="run folders only (default greedy)")
        parser.add_argument("--top-p", type=float, default=None, help="nucleus size for --sampler top_p")
        parser.add_argument("--top-k", type=positive_int, default=None,
                            help="k of --sampler top_k (default 5), or a pre-filter of top_p")
        parser.add_argument("--temperature", type=positive_float, default=1.0,
                            help="divides the logits before sampling (default 1.0)")
        parser.add_argument("--seed", type=int, default=None, help="seed of top-p / top-k sampling")

    def infer(self, target, args):
        if target.served:
            if args.max_new_tokens is not None or args.sampler != "greedy" or args.top_k or args.temperature != 1:
                print("Note: a SavedModel generates greedily with the max_new_tokens set at export; "
                      "--max-new-tokens/--sampler/--top-k/--temperature apply to run folders.", file=sys.stderr)
            outputs = target.signature("serving_default")(prompt=tf.constant(args.prompts))["text"]
            texts = [s.decode("utf-8", "replace") for s in np.asarray(outputs).tolist()]
        else:
            texts = generate_texts(target.model, target.tokenizers["text"], args.prompts, args.max_new_tokens or 200,
                                   sampler=args.sampler, top_p=args.top_p, seed=args.seed, top_k=args.top_k,
                                   temperature=args.temperature)
        return [line for generated in texts for line in (generated, "")]
