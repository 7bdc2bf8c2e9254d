"""What the tasks share to fine-tune a published checkpoint (`--pretrained DIR`, `--lora-rank R`)."""

from kerasformers import training
from kerasformers.checkpoints import load_pretrained_tokenizer
from kerasformers.models import checkpoint_facts, enable_lora, merge_lora
from kerasformers.tasks.arguments import positive_int

# Layer options (`--dropout`, ...) that change how a checkpoint trains, not its architecture: given with
# `--pretrained`, they replace the checkpoint's values; the others are refused.
TRAINING_OVERRIDES = ("dropout",)


def add_pretrained_arguments(group, family):
    """`--pretrained DIR` and `--lora-rank R` in a parser group; `family` names the checkpoints it takes."""
    group.add_argument("--pretrained", metavar="DIR",
                       help=f"fine-tune {family}: a Hugging Face folder (config.json, model.safetensors, tokenizer "
                            "files), a KerasHub preset folder, or a hub id (downloaded: needs a network); its "
                            "architecture and tokenizer replace --preset and --tokenizer (--dropout, if given, "
                            "replaces its dropout rate)")
    group.add_argument("--lora-rank", type=positive_int, metavar="R",
                       help="with --pretrained: train only rank-R LoRA updates of the attention and feed-forward "
                            "projections (and a new head); merged into the kernels before model.keras and the "
                            "SavedModel are written")


def prepare_pretrained(task, options, model_type, defaults):
    """Checks `--pretrained` against the other options and fills the fine-tuning defaults (reads config.json only).

    Nothing to do without `--pretrained`. `--max-length` defaults to the checkpoint's positions; every option of
    `defaults` (`{"learning_rate": 1e-4, ...}`) left None gets its value.

    Raises:
        ValueError: `--lora-rank` without it; `--preset` or a layer override other than `--dropout` given with
            it, a checkpoint of another `model_type`, or `--max-length` beyond the checkpoint's positions.
    """
    if options.lora_rank and not options.pretrained:
        raise ValueError(f"--lora-rank {options.lora_rank} adapts a pretrained checkpoint: give --pretrained DIR "
                         "too (a model trained from scratch trains all its weights).")
    if not options.pretrained:
        return
    given = [f"--{k.replace('_', '-')}" for k, v in task.layer_overrides(options).items()
             if v is not None and k not in TRAINING_OVERRIDES]
    if options.preset != "tiny":
        given.insert(0, "--preset")
    if given:
        raise ValueError(f"--pretrained takes the architecture from the checkpoint: drop {', '.join(given)}.")
    facts = checkpoint_facts(options.pretrained)
    if facts["model_type"] != model_type:
        raise ValueError(f"--pretrained {options.pretrained} is a {facts['model_type']!r} checkpoint; the "
                         f"{task.name} task fine-tunes {model_type!r} checkpoints.")
    if options.max_length and options.max_length > facts["max_length"]:
        raise ValueError(f"--max-length {options.max_length} exceeds the {facts['max_length']} positions of "
                         f"{options.pretrained}.")
    options.max_length = options.max_length or facts["max_length"]
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)


def pretrained_tokenizer(source):
    """The checkpoint's own tokenizer (`kerasformers.checkpoints.load_pretrained_tokenizer`), printed."""
    tokenizer = load_pretrained_tokenizer(source)
    print(f"Tokenizer: the checkpoint's {type(tokenizer).__name__}, {tokenizer.vocabulary_size()} tokens")
    return tokenizer


def with_lora(model, rank):
    """`enable_lora(model, rank)` with the trainable parameters counted and printed; returns the count."""
    trainable = enable_lora(model, rank)
    total = model.count_params()
    print(f"LoRA rank {rank}: {trainable:,} trainable parameters of {total:,} "
          f"({100 * trainable / total:.2f}%: the LoRA matrices and the head)")
    return trainable


def build_pretrained(run, model_class, **arguments):
    """`model_class.from_pretrained(--pretrained, dtype=the run's policy, **arguments)`, with `--dropout` if
    given and LoRA if asked; printed."""
    o = run.options
    overrides = {k: getattr(o, k) for k in TRAINING_OVERRIDES if getattr(o, k, None) is not None}
    model = model_class.from_pretrained(o.pretrained, dtype=run.policy, **overrides, **arguments)
    print(f"Loaded {o.pretrained}: {model.num_layers} layers, width {model.model_dim}, {model.max_length} positions, "
          f"{model.vocabulary_size:,} tokens, dropout {model.dropout:g}")
    if o.lora_rank:
        with_lora(model, o.lora_rank)
    return model


def compile_pretrained(run, **recipe):
    """`kerasformers.training.compile_fine_tuning` of the run's model with its options (`recipe`: `perplexity`, ...)."""
    o = run.options
    training.compile_fine_tuning(run.model, run.train_data, epochs=o.epochs, steps_per_epoch=o.steps_per_epoch,
                                 learning_rate=o.learning_rate, **recipe)


def merge_after_training(run):
    """With `--lora-rank`: replaces the run's model by `merge_lora` of it (plain kernels for saving and export)."""
    if run.options.lora_rank:
        run.model = merge_lora(run.model)
        print("Merged the LoRA updates into the kernels: model.keras and the SavedModel hold plain weights.")
