"""A checkpoint's own tokenizer, as a KerasHub tokenizer (TensorFlow ops: it runs in `tf.data` and SavedModels)."""

import json

from kerasformers.checkpoints.files import CheckpointError, checkpoint_format, read_json, resolve_directory

# KerasHub tokenizer classes a KerasHub preset directory may name, by model type.
KERAS_HUB_TOKENIZERS = {"BertTokenizer": "bert", "GPT2Tokenizer": "gpt2"}


def _word_piece_settings(directory):
    """`(lowercase, strip_accents)` as Hugging Face's BERT tokenizer applies them.

    `tokenizer_config.json`'s `do_lower_case` (default True) and
    `strip_accents` (None: follows `do_lower_case`); without that file, the
    `BertNormalizer` of `tokenizer.json`.
    """
    config = read_json(directory, "tokenizer_config.json", required=False)
    if config is None:
        normalizer = (read_json(directory, "tokenizer.json", required=False) or {}).get("normalizer") or {}
        config = {"do_lower_case": normalizer.get("lowercase", True), "strip_accents": normalizer.get("strip_accents")}
    lowercase = bool(config.get("do_lower_case", True))
    strip_accents = config.get("strip_accents")
    return lowercase, lowercase if strip_accents is None else bool(strip_accents)


def _word_piece_vocabulary(directory):
    path = directory / "vocab.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8").splitlines()
    model = (read_json(directory, "tokenizer.json", required=False) or {}).get("model") or {}
    if model.get("type") == "WordPiece" and isinstance(model.get("vocab"), dict):
        return [token for token, _ in sorted(model["vocab"].items(), key=lambda item: item[1])]
    raise CheckpointError(f"No WordPiece vocabulary in {directory}: expected vocab.txt or a WordPiece tokenizer.json.")


def _byte_pair_files(directory):
    vocab, merges = directory / "vocab.json", directory / "merges.txt"
    if vocab.is_file() and merges.is_file():
        lines = merges.read_text(encoding="utf-8").splitlines()
        return json.loads(vocab.read_text(encoding="utf-8")), [m for m in lines if m and not m.startswith("#version")]
    model = (read_json(directory, "tokenizer.json", required=False) or {}).get("model") or {}
    if model.get("type") == "BPE" and isinstance(model.get("vocab"), dict):
        merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
        return model["vocab"], merges
    raise CheckpointError(f"No byte-pair vocabulary in {directory}: expected vocab.json and merges.txt, or tokenizer.json.")


def load_pretrained_tokenizer(path, model_type=None):
    """The tokenizer of a Hugging Face checkpoint or KerasHub preset directory, as a KerasHub tokenizer.

    - BERT family (`model_type` `"bert"`): `keras_hub.models.BertTokenizer`
      (WordPiece) from `vocab.txt` (or `tokenizer.json`), lower-casing and
      accent stripping as `tokenizer_config.json` says (Hugging Face's rule:
      `strip_accents` unset follows `do_lower_case`).
    - GPT-2 (`"gpt2"`): `keras_hub.models.GPT2Tokenizer` (byte-level BPE)
      from `vocab.json` + `merges.txt` (or `tokenizer.json`).

    - A KerasHub preset directory (`BertBackbone` / `GPT2Backbone` presets):
      its own saved tokenizer (`keras_hub.tokenizers.Tokenizer.from_preset`).

    Both run in TensorFlow ops, so they go into `tf.data` pipelines and
    SavedModels.

    Args:
        path: the checkpoint directory (or a hub id, see `resolve_directory`).
        model_type: `"bert"` or `"gpt2"`; defaults to `config.json`'s
            `model_type` (ignored for a KerasHub preset).

    Returns:
        The tokenizer. Its special ids are attributes, e.g.
        `tokenizer.pad_token_id`, `tokenizer.cls_token_id`,
        `tokenizer.sep_token_id` (BERT) or `tokenizer.end_token_id` (GPT-2).

    Raises:
        CheckpointError: an unsupported `model_type` or missing files.

    Example:
    >>> tokenizer = load_pretrained_tokenizer("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> tokenizer("Hello world!")  # doctest: +SKIP
    """
    import keras_hub  # noqa: PLC0415 - heavy; only when a checkpoint is loaded

    directory = resolve_directory(path)
    if checkpoint_format(directory) == "keras_hub":
        return _keras_hub_tokenizer(keras_hub, directory)
    model_type = model_type or read_json(directory, "config.json").get("model_type")
    if model_type == "bert":
        lowercase, strip_accents = _word_piece_settings(directory)
        return keras_hub.models.BertTokenizer(
            vocabulary=_word_piece_vocabulary(directory), lowercase=lowercase, strip_accents=strip_accents
        )
    if model_type == "gpt2":
        vocabulary, merges = _byte_pair_files(directory)
        return keras_hub.models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
    raise CheckpointError(
        f"Unsupported model_type {model_type!r} in {directory / 'config.json'}: kerasformers reads 'bert' "
        "(BERT, MiniLM, ...) and 'gpt2' checkpoints."
    )


def _keras_hub_tokenizer(keras_hub, directory):
    """The tokenizer a KerasHub preset directory saved (`tokenizer.json` + `assets/tokenizer/`)."""
    config = read_json(directory, "tokenizer.json", required=False)
    kind = (config or {}).get("class_name")
    if kind not in KERAS_HUB_TOKENIZERS:
        found = "no tokenizer.json" if config is None else f"a {kind}"
        raise CheckpointError(
            f"The KerasHub preset {directory} has {found}; kerasformers reads presets with a "
            f"{' or '.join(KERAS_HUB_TOKENIZERS)}."
        )
    return keras_hub.tokenizers.Tokenizer.from_preset(str(directory))
