"""Export task models as TF Serving SavedModels with the tokenizer inside the graph.

An export is a model plus its `Endpoints`: the signatures (name, traced
function, input signature) and the resources they use (tokenizers). One
builder per kind of model makes them (`classifier_endpoints`,
`language_model_endpoints`, `translator_endpoints`); `export_for_serving`
writes any of them.
"""

import contextlib
import contextvars
import dataclasses
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np
import tensorflow as tf

from kerasformers.checks import is_int
from kerasformers.export.signature_files import signature_defaults, write_signature_defaults, write_warmup_requests
from kerasformers.export.tf_serving import (
    TF_SERVING_IMAGE,
    TF_SERVING_RELEASE,
    TF_SERVING_TEXT_OPS,
    TF_SERVING_TEXT_VERSION,
)
from kerasformers.text import (
    START_TOKEN,
    decode,
    sentence_frame,
    special_token_id,
)
from kerasformers.text.tokenizers import name_sentence_piece_resource

SERVING_LIMITS = """\
Inputs are never rejected by the signatures: invalid UTF-8 bytes are replaced
by U+FFFD, empty or whitespace-only strings give an empty token sequence
(classifier: the class of "no evidence"; language model: generation from a
newline or start token; translator: the model's translation of nothing), and
text longer than the model's maximum length is truncated to its first
`max_length` tokens (language model: to its last tokens, the most recent
context). A batch of 0 strings gives 0 answers.
"""


def next_version(directory):
    """The next integer version folder of a TF Serving model directory (1 when empty)."""
    directory = pathlib.Path(directory)
    versions = [int(p.name) for p in directory.iterdir() if p.is_dir() and p.name.isdigit()] if directory.is_dir() else []
    return max(versions, default=0) + 1


def _latest_version(directory):
    directory = pathlib.Path(directory)
    if (directory / "saved_model.pb").exists():
        return directory
    version = next_version(directory) - 1
    if version == 0:
        raise FileNotFoundError(f"No SavedModel version under {directory} (expected {directory}/<version>/saved_model.pb)")
    return directory / str(version)


def load_for_serving(directory):
    """Loads the latest version under `directory` (or `directory` itself if it is a version) with `tf.saved_model.load`.

    The loaded object's `signature_defaults` holds `{signature: {input: NumPy
    value}}`, the `SignatureDef` defaults that TF Serving applies to inputs a
    request leaves out (`load_signature` applies them too; `signatures[...]`
    wants every input).
    """
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving's binary does)

    path = _latest_version(directory)
    loaded = tf.saved_model.load(str(path))
    loaded.signature_defaults = signature_defaults(path)
    return loaded


# ----------------------------------------------------------------------------------- text ops
def _clean(text):
    """Replaces invalid UTF-8 with U+FFFD so that no tokenizer op ever fails on client bytes."""
    return tf.strings.unicode_transcode(
        text, input_encoding="UTF-8", output_encoding="UTF-8", errors="replace", replacement_char=0xFFFD
    )


def _token_id(tokenizer, token):
    return special_token_id(tokenizer, token)


def _dense(ids, length, keep="first", pad=0):
    """Ragged `(batch, None)` ids -> int32 `(batch, length)`, truncated, right-padded with `pad`."""
    ids = tf.cast(ids, tf.int32)
    if keep == "last":
        ids = ids[:, -length:]
    else:
        ids = ids[:, :length]
    return ids.to_tensor(default_value=pad, shape=[None, length])


def _tokenize(tokenizer, text):
    ids = tokenizer(_clean(text))
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(ids, padding=0)
    return ids


def _detokenize(tokenizer, ids):
    return decode(tokenizer, ids)


# ----------------------------------------------------------------------------------- endpoints
_JIT = contextvars.ContextVar("kerasformers_export_jit_compile", default=False)


@contextlib.contextmanager
def _tracing(jit_compile):
    """While `export_for_serving` traces the signatures: build decoding loops with XLA or without."""
    token = _JIT.set(bool(jit_compile))
    try:
        yield
    finally:
        _JIT.reset(token)


TEXT = tf.TensorSpec([None], tf.string, name="text")


@dataclasses.dataclass(frozen=True)
class Endpoints:
    """What `export_for_serving` writes besides the model: its signatures and the resources they use.

    Made by `classifier_endpoints`, `language_model_endpoints` or
    `translator_endpoints`, or by hand for another model.

    Args:
        signatures: sequence of `(name, function, input_signature)`: each
            becomes a SavedModel signature (`"serving_default"` is the one TF
            Serving calls by default); `function` takes tensors of the
            `tf.TensorSpec`s in `input_signature` and returns a dict of
            tensors.
        resources: sequence of objects the functions use besides the model
            (tokenizers): tracked, so that their tables and model files are
            saved; a tokenizer is built first if it has not run yet.
        defaults: dict of signature name to `{input name: NumPy value}`:
            inputs a request may leave out (written as `SignatureDef`
            defaults, which TF Serving applies).
        warmup: None, or `warmup(jit_compile) -> [(signature name, {input:
            NumPy value}), ...]`: the requests of TF Serving's warm-up file.

    Example:
    >>> endpoints = classifier_endpoints(model, tokenizer, ["negative", "positive"])  # doctest: +SKIP
    >>> [name for name, _, _ in endpoints.signatures]  # doctest: +SKIP
    ['serving_default', 'token_ids']
    """

    signatures: tuple
    resources: tuple = ()
    defaults: dict = dataclasses.field(default_factory=dict)
    warmup: object = None

    def __post_init__(self):
        object.__setattr__(self, "signatures", tuple(tuple(s) for s in self.signatures))
        object.__setattr__(self, "resources", tuple(self.resources))
        object.__setattr__(self, "defaults", {k: dict(v) for k, v in dict(self.defaults).items()})
        if self.warmup is not None and not callable(self.warmup):
            raise ValueError(f"`warmup` must be None or a function of `jit_compile`. Received: warmup={self.warmup!r}")
        for signature in self.signatures:
            if len(signature) != 3 or not isinstance(signature[0], str) or not callable(signature[1]):
                raise ValueError(
                    "Each of `signatures` must be `(name, function, input_signature)`. "
                    f"Received: {signature!r}"
                )
        if not self.signatures:
            raise ValueError("`signatures` is empty: an export needs at least one. Received: signatures=()")
        inputs = {name: {spec.name for spec in signature} for name, _, signature in self.signatures}
        for name, values in self.defaults.items():
            unknown = sorted(set(values) - inputs.get(name, set()))
            if name not in inputs or unknown:
                raise ValueError(f"`defaults` names inputs that signature {name!r} does not have. Received: "
                                 f"{sorted(values)}, signature inputs: {sorted(inputs.get(name, ()))}")


def _require(builder, model, names):
    """A ValueError naming the model's type unless it has every attribute in `names`."""
    missing = [name for name in names if not hasattr(model, name)]
    if missing:
        raise ValueError(
            f"`{builder}` needs a model with {', '.join(f'`{n}`' for n in names)}. "
            f"Received: model of type {type(model).__name__}, which lacks {', '.join(f'`{n}`' for n in missing)}"
        )


def _require_tokenizer(kind, name, tokenizer):
    if tokenizer is None:
        raise ValueError(f"Exporting a {kind} needs its `{name}`. Received: {name}=None")


def classifier_endpoints(model, tokenizer, class_names=None):
    """Signatures of a `TransformerClassifier`: text in, class probabilities and names out.

    - `serving_default(text: string[None])` → `probabilities: float32[None,
      num_classes]`, `label: string[None]` (class name), `label_id:
      int32[None]`.
    - `token_ids(token_ids: int32[None, None])` → the same, for clients that
      tokenize themselves.

    Text is tokenized in the graph, truncated to `model.max_length` tokens
    (after the `[START]` class token of a `pooling="cls"` model).

    Args:
        model: a `TransformerClassifier` (`num_classes`, `max_length`,
            `pooling`, `output_probabilities`; inputs `{"token_ids": ...}`).
        tokenizer: the tokenizer the model was trained with.
        class_names: one name per class. Defaults to `"0"`, `"1"`, ...

    Returns:
        `Endpoints` for `export_for_serving`.

    Raises:
        ValueError: without a tokenizer, or with the wrong number of
            `class_names`.

    Example:
    >>> export_for_serving(model, "saved_models/sentiment",
    ...                    classifier_endpoints(model, tokenizer, ["negative", "positive"]))  # doctest: +SKIP
    """
    _require("classifier_endpoints", model, ("num_classes", "max_length", "pooling", "output_probabilities"))
    _require_tokenizer("classifier", "tokenizer", tokenizer)
    class_names = [str(c) for c in (range(model.num_classes) if class_names is None else class_names)]
    if len(class_names) != model.num_classes:
        raise ValueError(
            f"`class_names` must have one name per class ({model.num_classes}). Received {len(class_names)}: {class_names}"
        )
    names = tf.constant(class_names)
    first, last = sentence_frame(tokenizer)  # a checkpoint's [CLS] ... [SEP]
    start = _token_id(tokenizer, START_TOKEN) if model.pooling == "cls" and first is None else None

    def from_ids(token_ids):  # (batch, length) int32
        logits = model({"token_ids": token_ids}, training=False)
        probabilities = logits if model.output_probabilities else tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "label": tf.gather(names, label_id), "label_id": label_id}

    def from_text(text):  # (batch,) strings
        ids = _tokenize(tokenizer, text)
        if first is not None:  # [CLS] ids [SEP], padded to the batch's longest row (a checkpoint's 512 is long)
            ids = tf.cast(ids[:, : model.max_length - 2], tf.int32)
            ids = tf.concat([tf.fill([ids.nrows(), 1], first), ids, tf.fill([ids.nrows(), 1], last)], axis=1)
            return from_ids(ids.to_tensor(default_value=getattr(model, "padding_id", 0)))
        if start is not None:  # the class token the cls-pooling model was trained with
            ids = tf.concat([tf.fill([ids.nrows(), 1], tf.cast(start, ids.dtype)), ids], axis=1)
        return from_ids(_dense(ids, model.max_length))

    def warmup(jit_compile):  # the first run of each signature optimises its graph
        return [("serving_default", {"text": np.array(["a"])}),
                ("token_ids", {"token_ids": np.ones((1, model.max_length), "int32")})]

    return Endpoints(
        signatures=[
            ("serving_default", from_text, [TEXT]),
            ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="token_ids")]),
        ],
        resources=[tokenizer],
        warmup=warmup,
    )


# ----------------------------------------------------------------------------------- export
def export_for_serving(model, directory, endpoints, *, version=None, overwrite=False, jit_compile=False,
                       quantize=None, warmup=True):
    """Writes `directory/<version>/`: a SavedModel that TF Serving loads as it is.

    The model, the resources of `endpoints` (tokenizers) and one signature per
    endpoint, all with a `None` batch dimension (see `classifier_endpoints`,
    `language_model_endpoints`, `translator_endpoints` for what each kind of
    model answers). Tokenization and detokenization run inside the graph
    (TensorFlow and TensorFlow Text ops, see `custom_ops`); generation runs
    the cached incremental decoding loop inside the graph. The files are
    written to a temporary folder and moved into place, so a version folder
    is never half-written; with `overwrite=True` the old version is renamed
    aside (`.<version>.old-<random>`, which TF Serving ignores) before the
    new one moves in and deleted only after, so a failure in between keeps
    the old version (the next export restores it if the process died).
    `assets.extra/kerasformers.json` records the model's class, config,
    `jit_compile`, `quantize` and `SERVING_LIMITS`; with `warmup`,
    `assets.extra/tf_serving_warmup_requests` holds the endpoints' warm-up
    requests, which TF Serving replays before it serves the version.

    XLA (`jit_compile=True`): the decoding loops of generative endpoints
    (`language_model_endpoints`, `translator_endpoints`) become
    `tf.function(jit_compile=True)` programs, with batches (and prompts)
    padded to a few bucket sizes. `tf.saved_model.load` runs them with XLA;
    TF Serving needs `--xla_cpu_compilation_enabled=true` on CPU, and without
    that flag every request to them fails with an error status. Keep the
    default (`False`) for servers started without it. A classifier has no
    loop: its export is the same either way.

    Args:
        model: the Keras model the endpoints call (TensorFlow backend).
        directory: the model's folder, e.g. `"saved_models/translator"`.
        endpoints: an `Endpoints`, e.g. from `classifier_endpoints(model,
            tokenizer, class_names)`.
        version: int. Defaults to the next free integer.
        overwrite: bool. Replace an existing version folder.
        jit_compile: bool. XLA-compiled decoding loops (see above). Defaults
            to `False`.
        quantize: None or `"int8"`: `model.quantize("int8")` before export
            (Keras' post-training int8 weights of the Dense and EinsumDense
            layers, and of the embeddings); **`model` itself is quantized in
            place**, since the endpoints call it. Defaults to `None`.
        warmup: bool. Write TF Serving's warm-up file. Defaults to `True`.

    Returns:
        `pathlib.Path` of the version folder.

    Raises:
        RuntimeError: on a backend other than TensorFlow.
        FileExistsError: the version exists and `overwrite` is False.
        ValueError: `endpoints` is not an `Endpoints`, a bad `version` or
            `quantize`.

    Example:
    >>> path = export_for_serving(classifier, "saved_models/sentiment",
    ...                           classifier_endpoints(classifier, tok, ["negative", "positive"]))  # doctest: +SKIP
    >>> load_for_serving("saved_models/sentiment").signatures["serving_default"](
    ...     text=tf.constant(["a great film"]))["label"]  # doctest: +SKIP
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"SavedModel export needs the TensorFlow backend (KERAS_BACKEND=tensorflow); current backend: "
            f"{keras.backend.backend()}"
        )
    if not isinstance(endpoints, Endpoints):
        raise ValueError(
            "`endpoints` must be an `Endpoints`, e.g. `classifier_endpoints(model, tokenizer)`, "
            "`language_model_endpoints(model, tokenizer)` or `translator_endpoints(model, source_tokenizer, "
            f"target_tokenizer)`. Received: endpoints={endpoints!r} of type {type(endpoints).__name__}"
        )
    if quantize not in (None, "int8"):
        raise ValueError(f'`quantize` must be None or "int8". Received: quantize={quantize!r}')
    directory = pathlib.Path(directory)
    _recover_aside_versions(directory)
    if version is None:
        version = next_version(directory)
    if not is_int(version) or version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    version = int(version)
    target = directory / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists: pass overwrite=True or a new version (next free: {next_version(directory)}).")

    if quantize is not None:
        if getattr(model, "quantization_mode", None) is None and not _is_quantized(model):
            with warnings.catch_warnings():  # Keras warns for every layer without weights to quantize
                warnings.filterwarnings("ignore", message=r".*does not have a `quantize` method")
                model.quantize(quantize)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in endpoints.resources:
        if not getattr(resource, "built", True):
            resource(tf.constant(["a"]))  # tokenizers build (create their lookup tables) on first use
        name_sentence_piece_resource(resource)
        archive.track(resource)
    directory.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}-", dir=directory))
    try:
        with _tracing(jit_compile):
            for name, function, signature in endpoints.signatures:
                archive.add_endpoint(name, function, input_signature=signature)
            archive.write_out(str(staging / "model"), verbose=False)
        write_signature_defaults(staging / "model", endpoints.defaults)
        if warmup and endpoints.warmup is not None:
            write_warmup_requests(staging / "model", endpoints.warmup(bool(jit_compile)), model_name=directory.name)
        (staging / "model" / "assets.extra").mkdir(exist_ok=True)
        (staging / "model" / "assets.extra" / "kerasformers.json").write_text(
            json.dumps(
                {"model": type(model).__name__, "config": model.get_config(), "jit_compile": bool(jit_compile),
                 "quantize": quantize, "limits": SERVING_LIMITS},
                indent=1, default=str,
            )
        )
        _move_into_place(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _is_quantized(model):
    return any(getattr(layer, "quantization_mode", None) for layer in model._flatten_layers(include_self=False))


def load_signature(directory, name="serving_default"):
    """A signature of the latest export under `directory`, called as TF Serving calls it.

    `tf.saved_model.load` wants every input of a signature; TF Serving fills
    the inputs a request leaves out from the `SignatureDef` defaults (e.g. a
    language model's sampling options). This does the same.

    Args:
        directory: a model folder (its latest version) or a version folder.
        name: the signature. Defaults to `"serving_default"`.

    Returns:
        `call(**inputs) -> dict of tensors`.

    Raises:
        ValueError: for a signature the export does not have.

    Example:
    >>> generate = load_signature("saved_models/language_model")  # doctest: +SKIP
    >>> generate(prompt=tf.constant(["ROMEO:"]), temperature=tf.constant([0.8]))["text"]  # doctest: +SKIP
    """
    loaded = load_for_serving(directory)
    if name not in loaded.signatures:
        raise ValueError(f"The SavedModel in {directory} has no `{name}` signature "
                         f"(it has {', '.join(sorted(loaded.signatures))}).")
    signature, defaults = loaded.signatures[name], loaded.signature_defaults.get(name, {})

    def call(**inputs):
        return signature(**{**{k: tf.constant(v) for k, v in defaults.items()}, **inputs})

    call.loaded = loaded  # keeps the variables alive
    return call


def _aside_name(version):
    """`.<version>.old-<random>`: dot-prefixed and not an integer, so TF Serving never loads it."""
    return f".{version}.old-{secrets.token_hex(4)}"


def _move_into_place(new, target):
    """Moves the folder `new` to `target`; an existing `target` is renamed aside first and deleted last.

    At every moment either the old or the new version is complete on disk: if
    moving the new one in fails, the old one is moved back; if the process
    dies in between, the old one waits under `.<version>.old-<random>` and
    `_recover_aside_versions` (run by the next export) puts it back.
    """
    if not target.exists():
        os.replace(new, target)
        return
    aside = target.parent / _aside_name(target.name)
    os.replace(target, aside)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(aside, target)  # the old version again, as if nothing happened
        raise
    shutil.rmtree(aside, ignore_errors=True)


def _recover_aside_versions(directory):
    """After an interrupted overwrite: restores an old version whose replacement never arrived, drops the rest."""
    if not directory.is_dir():
        return
    for aside in sorted(directory.glob(".*.old-*")):
        version = aside.name[1:].split(".old-")[0]
        if not (aside.is_dir() and version.isdigit()):
            continue
        if (directory / version).exists():
            shutil.rmtree(aside, ignore_errors=True)  # the new version made it; the old one was due for deletion
        else:
            os.replace(aside, directory / version)


def custom_ops(path, check=False):
    """Op types in an export that core TensorFlow does not register (e.g. TensorFlow Text's).

    Reads every graph and function of the SavedModel in a fresh process that
    imports only `tensorflow`, and returns the sorted op names it does not know.

    Args:
        path: a model folder (its latest version is read) or a version folder.
        check: bool. Raise unless every such op is one of the TensorFlow Text
            ops that `TF_SERVING_IMAGE` links in (`TF_SERVING_TEXT_OPS`, see
            `kerasformers.export.tf_serving`). Defaults to False.

    Returns:
        The sorted list of op names.

    Raises:
        ValueError: with `check=True`, naming the ops TF Serving cannot run.

    Example:
    >>> custom_ops("saved_models/sentiment", check=True)  # doctest: +SKIP
    ['CaseFoldUTF8', 'FastWordpieceTokenizeWithOffsets', 'RegexSplitWithOffsets']
    """
    code = (
        "import json, sys\n"
        "from tensorflow.core.protobuf import saved_model_pb2\n"
        "from tensorflow.python.framework import op_def_registry\n"
        "sm = saved_model_pb2.SavedModel()\n"
        "sm.ParseFromString(open(sys.argv[1], 'rb').read())\n"
        "ops = set()\n"
        "for mg in sm.meta_graphs:\n"
        "    ops.update(n.op for n in mg.graph_def.node)\n"
        "    for f in mg.graph_def.library.function:\n"
        "        ops.update(n.op for n in f.node_def)\n"
        "known = {f.signature.name for mg in sm.meta_graphs for f in mg.graph_def.library.function}\n"
        "print(json.dumps(sorted(o for o in ops if o not in known and op_def_registry.get(o) is None)))\n"
    )
    pb = _latest_version(path) / "saved_model.pb"
    result = subprocess.run([sys.executable, "-c", code, str(pb)], capture_output=True, text=True, check=True)
    ops = json.loads(result.stdout.strip().splitlines()[-1])
    unsupported = [op for op in ops if op not in TF_SERVING_TEXT_OPS]
    if check and unsupported:
        raise ValueError(
            f"{pb.parent} needs ops that {TF_SERVING_IMAGE} does not have (it links in only core TensorFlow "
            f"{TF_SERVING_RELEASE} and TensorFlow Text {TF_SERVING_TEXT_VERSION}'s ops): {unsupported}. "
            f"Received: path={str(path)!r}"
        )
    return ops
