"""Published checkpoints onto kerasformers models.

BERT family (Hugging Face `model_type: "bert"`, e.g. BERT, MiniLM,
sentence-transformers' all-MiniLM-L6-v2) → `TransformerClassifier` (post-LN
blocks, exact GELU, segment table, embedding LayerNorm, pooler); GPT-2 →
`TransformerLanguageModel` (pre-LN blocks, tanh GELU, final LayerNorm, tied
embeddings). Sources: a Hugging Face directory (config.json + safetensors), a
KerasHub preset directory, or a KerasHub `BertBackbone` / `GPT2Backbone`
object. The mapping follows KerasHub's own converters
(`keras_hub/src/utils/transformers/convert_bert.py`, `convert_gpt2.py`).
"""

import math

import numpy as np

from kerasformers.checkpoints import (
    CheckpointError,
    SafetensorsReader,
    checkpoint_format,
    read_json,
    resolve_directory,
)
from kerasformers.layers.interop import copy_weights_from_keras

# Hugging Face `hidden_act` / `activation_function` -> ours.
ACTIVATIONS = {"gelu": "gelu", "gelu_new": "gelu_approximate", "gelu_pytorch_tanh": "gelu_approximate",
               "gelu_fast": "gelu_approximate", "relu": "relu"}
# What a caller may change on a pretrained architecture (the rest is the checkpoint's).
# `activation` too: e.g. "gelu_approximate" reproduces KerasHub's BertBackbone, which uses the tanh form
# for every BERT checkpoint although Hugging Face's `hidden_act: "gelu"` is the exact one.
CLASSIFIER_OPTIONS = ("dropout", "pooling", "output_probabilities", "activation", "name", "dtype", "trainable")
# KerasHub backbone classes kerasformers reads, by Hugging Face `model_type`.
BACKBONE_TYPES = {"BertBackbone": "bert", "GPT2Backbone": "gpt2"}
LANGUAGE_MODEL_OPTIONS = ("dropout", "padding_id", "activation", "name", "dtype", "trainable")


def _check_options(kind, options, allowed):
    unknown = sorted(k for k in options if k not in allowed)
    if unknown:
        raise ValueError(
            f"A pretrained {kind} takes its architecture from the checkpoint; only "
            f"{', '.join(allowed)} can be set. Received: {', '.join(f'{k}={options[k]!r}' for k in unknown)}"
        )


def _config_value(config, key, where, default=None):
    if key in config:
        return config[key]
    if default is not None:
        return default
    raise CheckpointError(f"{where} lacks {key!r}.")


def _activation(name, where):
    if name not in ACTIVATIONS:
        raise CheckpointError(f"Unsupported activation {name!r} in {where}; known: {', '.join(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


# --------------------------------------------------------------------------- sources
class _Source:
    """A checkpoint: its `model_type`, our constructor arguments, and a way to fill a built model."""

    def __init__(self, source):
        import keras_hub  # noqa: PLC0415 - heavy; only when a checkpoint is loaded

        self.backbone, self.reader = None, None
        if isinstance(source, keras_hub.models.Backbone):
            self.backbone = source
        else:
            directory = resolve_directory(source)
            if checkpoint_format(directory) == "keras_hub":
                self.backbone = keras_hub.models.Backbone.from_preset(str(directory))
            else:
                self.directory = directory
                self.config = read_json(directory, "config.json")
                self.where = str(directory / "config.json")
                self.model_type = self.config["model_type"]
                self.reader = SafetensorsReader(directory)
        if self.backbone is not None:
            names = BACKBONE_TYPES
            kind = type(self.backbone).__name__
            if kind not in names:
                raise CheckpointError(f"Unsupported KerasHub backbone {kind}: kerasformers reads BertBackbone and GPT2Backbone.")
            self.model_type = names[kind]
            self.config = self.backbone.get_config()
            self.where = f"the KerasHub {kind}"

    def require(self, model_type, model_name):
        if self.model_type != model_type:
            raise CheckpointError(
                f"{model_name} loads {model_type!r} checkpoints; {self.where} is a {self.model_type!r} model."
            )


def _layer_norm(source, prefix):
    """(gamma, beta) names: `LayerNorm.weight/bias` or the original BERT's `LayerNorm.gamma/beta`."""
    if source.reader.has(f"{prefix}.gamma"):
        return f"{prefix}.gamma", f"{prefix}.beta"
    return f"{prefix}.weight", f"{prefix}.bias"


def _put(reader, variable, name, transform=None):
    """Copies tensor `name` (after `transform`, reshaped to the variable) into `variable`, or a CheckpointError."""
    array = reader.get(name)
    value = array if transform is None else transform(array)
    if value.size != math.prod(variable.shape):
        raise CheckpointError(
            f"Tensor {name!r} in {reader.directory} has shape {tuple(array.shape)}, which does not fit "
            f"{variable.path} of shape {tuple(variable.shape)}."
        )
    variable.assign(np.reshape(value, tuple(variable.shape)).astype(variable.dtype))


def _put_norm(source, norm, prefix):
    gamma, beta = _layer_norm(source, prefix)
    _put(source.reader, norm.gamma, gamma)
    _put(source.reader, norm.beta, beta)


def _put_dense(reader, dense, prefix, transpose=True):
    """A torch `Linear` (`weight` is `(out, in)`: transposed) or GPT-2 `Conv1D` (`(in, out)`) into a Dense/EinsumDense."""
    _put(reader, dense.kernel, f"{prefix}.weight", np.transpose if transpose else None)
    _put(reader, dense.bias, f"{prefix}.bias")


# --------------------------------------------------------------------------- BERT
def bert_arguments(source):
    """Our `TransformerClassifier` arguments for a BERT-family checkpoint."""
    config, where = source.config, source.where
    if source.backbone is not None:  # KerasHub BertBackbone config
        return dict(
            vocabulary_size=config["vocabulary_size"], max_length=config["max_sequence_length"],
            num_layers=config["num_layers"], model_dim=config["hidden_dim"], num_heads=config["num_heads"],
            hidden_dim=config["intermediate_dim"], dropout=config["dropout"],
            activation="gelu_approximate",  # what KerasHub's BertBackbone computes, whatever the checkpoint said
            layer_norm_epsilon=1e-12, num_segments=config["num_segments"], padding_id=0,
            normalize_first=False, embedding_norm=True, positional="learned",
        )
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise CheckpointError(f"Unsupported position_embedding_type {position_type!r} in {where}: only 'absolute'.")
    return dict(
        vocabulary_size=_config_value(config, "vocab_size", where),
        max_length=_config_value(config, "max_position_embeddings", where),
        num_layers=_config_value(config, "num_hidden_layers", where),
        model_dim=_config_value(config, "hidden_size", where),
        num_heads=_config_value(config, "num_attention_heads", where),
        hidden_dim=_config_value(config, "intermediate_size", where),
        dropout=float(config.get("hidden_dropout_prob", 0.1)),
        activation=_activation(config.get("hidden_act", "gelu"), where),
        layer_norm_epsilon=float(config.get("layer_norm_eps", 1e-12)),
        num_segments=int(config.get("type_vocab_size", 2)),
        padding_id=int(config.get("pad_token_id") or 0),
        normalize_first=False,
        embedding_norm=True,
        positional="learned",
    )


def _has_pooler(source):
    if source.backbone is not None:
        return True
    return source.reader.has("pooler.dense.weight")


def _fill_bert_from_reader(model, source):
    reader = source.reader
    embedding = model.embedding
    _put(reader, embedding.token_embedding.embeddings, "embeddings.word_embeddings.weight")
    _put(reader, embedding.position_embedding.embeddings, "embeddings.position_embeddings.weight")
    _put(reader, embedding.segment_embedding.embeddings, "embeddings.token_type_embeddings.weight")
    _put_norm(source, model.get_layer("embedding_norm"), "embeddings.LayerNorm")
    for i, layer in enumerate(model.encoder_layers):
        prefix = f"encoder.layer.{i}"
        attention = layer.self_attention
        for dense, name in ((attention.query_dense, "query"), (attention.key_dense, "key"), (attention.value_dense, "value")):
            _put_dense(reader, dense, f"{prefix}.attention.self.{name}")
        _put_dense(reader, attention.output_dense, f"{prefix}.attention.output.dense")
        _put_norm(source, layer.self_attention_norm, f"{prefix}.attention.output.LayerNorm")
        _put_dense(reader, layer.feed_forward.inner, f"{prefix}.intermediate.dense")
        _put_dense(reader, layer.feed_forward.outer, f"{prefix}.output.dense")
        _put_norm(source, layer.feed_forward_norm, f"{prefix}.output.LayerNorm")
    if model.pooling == "pooler":
        _put_dense(reader, model.get_layer("pooler"), "pooler.dense")


def _fill_bert_from_backbone(model, backbone):
    embedding = model.embedding
    embedding.token_embedding.embeddings.assign(backbone.get_layer("token_embedding").embeddings)
    embedding.position_embedding.embeddings.assign(backbone.get_layer("position_embedding").position_embeddings)
    embedding.segment_embedding.embeddings.assign(backbone.get_layer("segment_embedding").embeddings)
    model.get_layer("embedding_norm").set_weights(backbone.get_layer("embeddings_layer_norm").get_weights())
    for i, layer in enumerate(model.encoder_layers):
        copy_weights_from_keras(backbone.get_layer(f"transformer_layer_{i}"), layer)
    if model.pooling == "pooler":
        model.get_layer("pooler").set_weights(backbone.get_layer("pooled_dense").get_weights())


def load_classifier(cls, source, num_classes, **options):
    """`cls` (a `TransformerClassifier`) built from a BERT-family checkpoint; the head is new (random)."""
    _check_options("classifier", options, CLASSIFIER_OPTIONS)
    source = _Source(source)
    source.require("bert", cls.__name__)
    options.setdefault("pooling", "pooler" if _has_pooler(source) else "mean")
    if options["pooling"] == "pooler" and not _has_pooler(source):
        raise CheckpointError(f"pooling='pooler' needs the checkpoint's pooler; {source.where} has no 'pooler.dense.weight'.")
    model = cls(num_classes=num_classes, **{**bert_arguments(source), **options})
    if source.backbone is not None:
        _fill_bert_from_backbone(model, source.backbone)
    else:
        _fill_bert_from_reader(model, source)
    return model


# --------------------------------------------------------------------------- GPT-2
def gpt2_arguments(source):
    """Our `TransformerLanguageModel` arguments for a GPT-2 checkpoint."""
    config, where = source.config, source.where
    if source.backbone is not None:  # KerasHub GPT2Backbone config
        return dict(
            vocabulary_size=config["vocabulary_size"], max_length=config["max_sequence_length"],
            num_layers=config["num_layers"], model_dim=config["hidden_dim"], num_heads=config["num_heads"],
            hidden_dim=config["intermediate_dim"], dropout=config["dropout"], activation="gelu_approximate",
            layer_norm_epsilon=1e-5, normalize_first=True, tie_embeddings=True, positional="learned",
        )
    model_dim = _config_value(config, "n_embd", where)
    return dict(
        vocabulary_size=_config_value(config, "vocab_size", where),
        max_length=_config_value(config, "n_positions", where),
        num_layers=_config_value(config, "n_layer", where),
        model_dim=model_dim,
        num_heads=_config_value(config, "n_head", where),
        hidden_dim=config.get("n_inner") or 4 * model_dim,
        dropout=float(config.get("resid_pdrop", 0.1)),
        activation=_activation(config.get("activation_function", "gelu_new"), where),
        layer_norm_epsilon=float(config.get("layer_norm_epsilon", 1e-5)),
        normalize_first=True,
        tie_embeddings=True,
        positional="learned",
    )


def _fill_gpt2_from_reader(model, source):
    reader = source.reader
    _put(reader, model.embedding.token_embedding.embeddings, "wte.weight")
    _put(reader, model.embedding.position_embedding.embeddings, "wpe.weight")
    dim = model.model_dim
    for i, layer in enumerate(model.decoder_layers):
        prefix = f"h.{i}"
        attention = layer.self_attention
        _put_norm(source, layer.self_attention_norm, f"{prefix}.ln_1")
        qkv = (attention.query_dense, attention.key_dense, attention.value_dense)
        for j, dense in enumerate(qkv):  # c_attn is one Conv1D (dim, 3 * dim): query, key, value side by side
            part = slice(j * dim, (j + 1) * dim)
            _put(reader, dense.kernel, f"{prefix}.attn.c_attn.weight", lambda w, part=part: w[:, part])
            _put(reader, dense.bias, f"{prefix}.attn.c_attn.bias", lambda b, part=part: b[part])
        _put_dense(reader, attention.output_dense, f"{prefix}.attn.c_proj", transpose=False)
        _put_norm(source, layer.feed_forward_norm, f"{prefix}.ln_2")
        _put_dense(reader, layer.feed_forward.inner, f"{prefix}.mlp.c_fc", transpose=False)
        _put_dense(reader, layer.feed_forward.outer, f"{prefix}.mlp.c_proj", transpose=False)
    _put_norm(source, model.final_norm, "ln_f")


def _fill_gpt2_from_backbone(model, backbone):
    model.embedding.token_embedding.embeddings.assign(backbone.get_layer("token_embedding").embeddings)
    model.embedding.position_embedding.embeddings.assign(backbone.get_layer("position_embedding").position_embeddings)
    for i, layer in enumerate(model.decoder_layers):
        copy_weights_from_keras(backbone.get_layer(f"transformer_layer_{i}"), layer)
    model.final_norm.set_weights(backbone.get_layer("layer_norm").get_weights())


def load_language_model(cls, source, **options):
    """`cls` (a `TransformerLanguageModel`) built from a GPT-2 checkpoint."""
    _check_options("language model", options, LANGUAGE_MODEL_OPTIONS)
    source = _Source(source)
    source.require("gpt2", cls.__name__)
    model = cls(**{**gpt2_arguments(source), **options})
    if source.backbone is not None:
        _fill_gpt2_from_backbone(model, source.backbone)
    else:
        _fill_gpt2_from_reader(model, source)
    return model


# --------------------------------------------------------------------------- facts without the weights
def checkpoint_facts(source):
    """`{"model_type", "max_length"}` of a checkpoint, read from its config (no weights are loaded).

    For the command line, which checks its options against the checkpoint
    before any work.

    Args:
        source: a Hugging Face or KerasHub preset directory, a hub id, or a
            KerasHub `BertBackbone` / `GPT2Backbone`.

    Returns:
        dict: `model_type` (`"bert"`, `"gpt2"`, ...) and `max_length` (the
        checkpoint's positions).

    Raises:
        CheckpointError: missing files or an unreadable config.

    Example:
    >>> checkpoint_facts("all-MiniLM-L6-v2")  # doctest: +SKIP
    {'model_type': 'bert', 'max_length': 512}
    """
    import keras_hub  # noqa: PLC0415 - heavy; only when a checkpoint is read

    if isinstance(source, keras_hub.models.Backbone):
        kind = BACKBONE_TYPES.get(type(source).__name__, type(source).__name__)
        return {"model_type": kind, "max_length": int(source.get_config()["max_sequence_length"])}
    directory = resolve_directory(source)
    config = read_json(directory, "config.json")
    where = str(directory / "config.json")
    if checkpoint_format(directory) == "keras_hub":
        kind = BACKBONE_TYPES.get(config.get("class_name"), config.get("class_name"))
        return {"model_type": kind,
                "max_length": int(_config_value(config.get("config", {}), "max_sequence_length", where))}
    kind = config["model_type"]
    key = "n_positions" if kind == "gpt2" else "max_position_embeddings"
    return {"model_type": kind, "max_length": int(_config_value(config, key, where))}
