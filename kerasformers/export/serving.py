"""Export task models as TF Serving SavedModels with the tokenizer inside the graph.

An export is a model plus its `Endpoints`: the signatures (name, traced
function, input signature) and the resources they use (tokenizers). One
builder per kind of model makes them (`classifier_endpoints`,
`language_model_endpoints`, `translator_endpoints`); `export_for_serving`
writes any of them.
"""

import dataclasses
import json
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import tempfile

import keras
import tensorflow as tf

from kerasformers.checks import check_int, is_int
from kerasformers.export.tf_serving import (
    TF_SERVING_IMAGE,
    TF_SERVING_RELEASE,
    TF_SERVING_TEXT_OPS,
    TF_SERVING_TEXT_VERSION,
)
from kerasformers.generation import build_generate_function, build_translate_function, resolve_sampler
from kerasformers.text import (
    END_TOKEN,
    START_TOKEN,
    UNK_TOKEN,
    decode,
    padding_token_id,
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
    """Loads the latest version under `directory` (or `directory` itself if it is a version) with `tf.saved_model.load`."""
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops, as TF Serving's binary does)

    return tf.saved_model.load(str(_latest_version(directory)))


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

    Example:
    >>> endpoints = classifier_endpoints(model, tokenizer, ["negative", "positive"])  # doctest: +SKIP
    >>> [name for name, _, _ in endpoints.signatures]  # doctest: +SKIP
    ['serving_default', 'token_ids']
    """

    signatures: tuple
    resources: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "signatures", tuple(tuple(s) for s in self.signatures))
        object.__setattr__(self, "resources", tuple(self.resources))
        for signature in self.signatures:
            if len(signature) != 3 or not isinstance(signature[0], str) or not callable(signature[1]):
                raise ValueError(
                    "Each of `signatures` must be `(name, function, input_signature)`. "
                    f"Received: {signature!r}"
                )
        if not self.signatures:
            raise ValueError("`signatures` is empty: an export needs at least one. Received: signatures=()")


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

    return Endpoints(
        signatures=[
            ("serving_default", from_text, [TEXT]),
            ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="token_ids")]),
        ],
        resources=[tokenizer],
    )


def _first_token_fallback(tokenizer):
    """What an empty prompt starts from: a newline if the vocabulary has one, else `[START]`, else the
    tokenizer's `start_token_id` (GPT-2: `<|endoftext|>`), else id 1."""
    for token in ("\n", START_TOKEN):
        try:
            token_id = _token_id(tokenizer, token)
        except Exception:  # pragma: no cover - tokenizer without such lookups
            token_id = None
        if token_id is not None and token_id > 0:
            return int(token_id)
    start = getattr(tokenizer, "start_token_id", None)  # a checkpoint's, e.g. GPT-2's <|endoftext|>
    return 1 if start is None else int(start)


def language_model_endpoints(model, tokenizer, max_new_tokens=64):
    """Signatures of a `TransformerLanguageModel`: a prompt in, its greedy continuation out.

    - `serving_default(prompt: string[None])` → `text: string[None]` (prompt
      + continuation), `continuation: string[None]`.
    - `token_ids(prompt_ids: int32[None, None])` → `token_ids`,
      `prompt_lengths`.

    Each prompt keeps its last `model.max_length - max_new_tokens` tokens
    (the most recent context), in both signatures: a `token_ids` row ends at
    its last id that is not padding (`kerasformers.text.padding_token_id`:
    0, or GPT-2's `<|endoftext|>`, whose id 0 is the real token `!`); an
    empty prompt starts from a newline (or `[START]`, or the tokenizer's start
    token). Generation is the cached greedy loop of
    `kerasformers.generation.build_generate_function`, stopping at `[END]` if
    the vocabulary has it.

    Args:
        model: a `TransformerLanguageModel` (or any model with the causal
            language model step of `kerasformers.generation`).
        tokenizer: the tokenizer the model was trained with.
        max_new_tokens: int in `[1, model.max_length - 1]`: tokens generated
            per request. Defaults to `64`.

    Returns:
        `Endpoints` for `export_for_serving`.

    Raises:
        ValueError: without a tokenizer, or for a bad `max_new_tokens`.
    """
    _require("language_model_endpoints", model, ("vocabulary_size", "max_length", "init_cache", "call_with_cache"))
    _require_tokenizer("language model", "tokenizer", tokenizer)
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1, maximum=model.max_length - 1)
    prompt_length = model.max_length - max_new_tokens
    fallback = _first_token_fallback(tokenizer)
    end_id = _token_id(tokenizer, END_TOKEN)
    pad = padding_token_id(tokenizer)
    _, greedy = resolve_sampler("greedy", vocabulary_size=model.vocabulary_size)

    def from_ids(prompt_ids):  # (batch, any length) right-padded; rows may be empty
        prompt_ids = tf.cast(prompt_ids, tf.int32)
        # A prompt ends at its last non-padding id (as in `generate`); padding ids inside stay tokens.
        positions = tf.range(1, tf.shape(prompt_ids)[1] + 1)[None, :]
        lengths = tf.reduce_max(tf.where(prompt_ids != pad, positions, 0), axis=1)  # (batch,)
        lengths = tf.maximum(lengths, 0)  # a (batch, 0) input reduces to the int32 minimum
        # Keep each prompt's LAST `prompt_length` tokens (the most recent context), as the text signature does.
        prompt_ids = _dense(tf.RaggedTensor.from_tensor(prompt_ids, lengths=lengths), prompt_length, keep="last",
                            pad=pad)
        lengths = tf.minimum(lengths, prompt_length)
        empty = lengths == 0
        first = tf.where(empty, fallback, prompt_ids[:, 0])
        prompt_ids = tf.concat([first[:, None], prompt_ids[:, 1:]], axis=1)
        lengths = tf.maximum(lengths, 1)
        batch = tf.shape(prompt_ids)[0]
        buffer = tf.ensure_shape(tf.pad(prompt_ids, [[0, 0], [0, max_new_tokens]], constant_values=pad),
                                 [None, model.max_length])
        run = build_generate_function(model, greedy(), prompt_length, max_new_tokens, end_token_id=end_id,
                                      pad_token_id=pad)
        tokens = tf.cond(batch > 0, lambda: run(buffer, lengths), lambda: buffer)
        return {"token_ids": tokens, "prompt_lengths": lengths}

    def from_text(prompt):  # (batch,) strings
        ids = _tokenize(tokenizer, prompt)
        out = from_ids(_dense(ids, prompt_length, keep="last", pad=pad))
        tokens, lengths = out["token_ids"], out["prompt_lengths"]
        positions = tf.range(tf.shape(tokens)[1])[None, :]
        continuation = tf.where(positions >= lengths[:, None], tokens, pad)
        return {"text": _detokenize(tokenizer, tokens), "continuation": _detokenize(tokenizer, continuation)}

    return Endpoints(
        signatures=[
            ("serving_default", from_text, [tf.TensorSpec([None], tf.string, name="prompt")]),
            ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="prompt_ids")]),
        ],
        resources=[tokenizer],
    )


def translator_endpoints(model, source_tokenizer, target_tokenizer, num_beams=4, length_penalty=0.6):
    """Signatures of a `TransformerSeq2Seq`: source text in, its translation out.

    - `serving_default(text: string[None])` → `translation: string[None]`
      (greedy decoding).
    - `beam(text: string[None])` → `translation` (beam search with
      `num_beams` and `length_penalty`).
    - `token_ids(source_ids: int32[None, None])` → `token_ids` (greedy).

    Sources are truncated to `model.max_length` tokens; targets are decoded
    up to `model.max_length` tokens with the cached loop of
    `kerasformers.generation.build_translate_function`, from `[START]` to
    `[END]`. An empty source is read as one `[UNK]`.

    Args:
        model: a `TransformerSeq2Seq` (or any model with the encoder-decoder
            step of `kerasformers.generation`).
        source_tokenizer, target_tokenizer: the tokenizers the model was
            trained with; the target one needs `[START]` and `[END]`.
        num_beams: int >= 1. Beam width of the `beam` signature. Defaults to
            `4` (Vaswani et al. 2017, section 6.1).
        length_penalty: float >= 0. GNMT alpha of the `beam` signature.
            Defaults to `0.6`.

    Returns:
        `Endpoints` for `export_for_serving`.

    Raises:
        ValueError: without both tokenizers, without `[START]`/`[END]` in the
            target vocabulary, or for a bad `num_beams` / `length_penalty`.
    """
    _require(
        "translator_endpoints", model,
        ("encoder_vocabulary_size", "target_vocabulary_size", "max_length", "encode", "init_cache", "call_with_cache"),
    )
    _require_tokenizer("translator", "source_tokenizer", source_tokenizer)
    _require_tokenizer("translator", "target_tokenizer", target_tokenizer)
    start_id = _token_id(target_tokenizer, START_TOKEN)
    end_id = _token_id(target_tokenizer, END_TOKEN)
    if start_id is None or end_id is None:
        raise ValueError(
            f"The target tokenizer needs `{START_TOKEN}` and `{END_TOKEN}` tokens to translate. "
            f"Received: start id {start_id}, end id {end_id}"
        )
    unknown = _token_id(source_tokenizer, UNK_TOKEN) or 1
    vocabulary_size = model.target_vocabulary_size
    _, greedy = resolve_sampler("greedy", vocabulary_size=vocabulary_size)
    _, beam = resolve_sampler("beam", num_beams=num_beams, length_penalty=length_penalty, vocabulary_size=vocabulary_size)

    def make(sampler_factory):
        def from_ids(source_ids):  # (batch, source_length) 0-padded
            source_ids = tf.cast(source_ids[:, : model.max_length], tf.int32)
            source_ids = tf.pad(source_ids, [[0, 0], [0, model.max_length - tf.shape(source_ids)[1]]])
            source_ids = tf.ensure_shape(source_ids, [None, model.max_length])
            empty = tf.reduce_all(source_ids == 0, axis=1)
            # An empty source still needs one visible encoder position.
            source_ids = tf.concat([tf.where(empty, unknown, source_ids[:, 0])[:, None], source_ids[:, 1:]], axis=1)
            batch = tf.shape(source_ids)[0]
            run = build_translate_function(
                model, sampler_factory(), model.max_length, start_token_id=start_id, end_token_id=end_id
            )
            empty_result = tf.zeros([batch, model.max_length], tf.int32)
            return {"token_ids": tf.cond(batch > 0, lambda: run(source_ids), lambda: empty_result)}

        def from_text(text):
            ids = _dense(_tokenize(source_tokenizer, text), model.max_length)
            return {"translation": _detokenize(target_tokenizer, from_ids(ids)["token_ids"])}

        return from_ids, from_text

    greedy_ids, greedy_text = make(greedy)
    _, beam_text = make(beam)
    return Endpoints(
        signatures=[
            ("serving_default", greedy_text, [TEXT]),
            ("beam", beam_text, [TEXT]),
            ("token_ids", greedy_ids, [tf.TensorSpec([None, None], tf.int32, name="source_ids")]),
        ],
        resources=[source_tokenizer, target_tokenizer],
    )


# ----------------------------------------------------------------------------------- export
def export_for_serving(model, directory, endpoints, *, version=None, overwrite=False):
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
    `assets.extra/kerasformers.json` records the model's class, config and
    `SERVING_LIMITS`.

    Args:
        model: the Keras model the endpoints call (TensorFlow backend).
        directory: the model's folder, e.g. `"saved_models/translator"`.
        endpoints: an `Endpoints`, e.g. from `classifier_endpoints(model,
            tokenizer, class_names)`.
        version: int. Defaults to the next free integer.
        overwrite: bool. Replace an existing version folder.

    Returns:
        `pathlib.Path` of the version folder.

    Raises:
        RuntimeError: on a backend other than TensorFlow.
        FileExistsError: the version exists and `overwrite` is False.
        ValueError: `endpoints` is not an `Endpoints`, or a bad `version`.

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

    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in endpoints.resources:
        if not getattr(resource, "built", True):
            resource(tf.constant(["a"]))  # tokenizers build (create their lookup tables) on first use
        name_sentence_piece_resource(resource)
        archive.track(resource)
    for name, function, signature in endpoints.signatures:
        archive.add_endpoint(name, function, input_signature=signature)

    directory.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}-", dir=directory))
    try:
        archive.write_out(str(staging / "model"), verbose=False)
        (staging / "model" / "assets.extra").mkdir(exist_ok=True)
        (staging / "model" / "assets.extra" / "kerasformers.json").write_text(
            json.dumps(
                {"model": type(model).__name__, "config": model.get_config(), "limits": SERVING_LIMITS},
                indent=1, default=str,
            )
        )
        _move_into_place(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


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
