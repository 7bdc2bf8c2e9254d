"""Export task models as TF Serving SavedModels with the tokenizer inside the graph."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import keras
import tensorflow as tf

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
    from kerasformers.text import special_token_id

    return special_token_id(tokenizer, token)


def _dense(ids, length, keep="first"):
    """Ragged `(batch, None)` ids -> int32 `(batch, length)`, truncated, right-padded with 0."""
    ids = tf.cast(ids, tf.int32)
    if keep == "last":
        ids = ids[:, -length:]
    else:
        ids = ids[:, :length]
    return ids.to_tensor(default_value=0, shape=[None, length])


def _tokenize(tokenizer, text):
    ids = tokenizer(_clean(text))
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(ids, padding=0)
    return ids


def _detokenize(tokenizer, ids):
    from kerasformers.text import decode

    return decode(tokenizer, ids)


# ----------------------------------------------------------------------------------- tasks
TEXT = tf.TensorSpec([None], tf.string, name="text")


def _classifier_endpoints(model, tokenizer, class_names, **_):
    if tokenizer is None:
        raise ValueError("Exporting a TransformerClassifier needs its `tokenizer`.")
    class_names = [str(c) for c in (class_names or range(model.num_classes))]
    if len(class_names) != model.num_classes:
        raise ValueError(
            f"`class_names` must have one name per class ({model.num_classes}). Received {len(class_names)}: {class_names}"
        )
    names = tf.constant(class_names)
    start = _token_id(tokenizer, "[START]") if model.pooling == "cls" else None

    def from_ids(token_ids):  # (batch, length) int32
        logits = model({"token_ids": token_ids}, training=False)
        probabilities = logits if model.output_probabilities else tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {"probabilities": probabilities, "label": tf.gather(names, label_id), "label_id": label_id}

    def from_text(text):  # (batch,) strings
        ids = _tokenize(tokenizer, text)
        length = model.max_length
        if start is not None:  # the class token the cls-pooling model was trained with
            ids = tf.concat([tf.fill([ids.nrows(), 1], tf.cast(start, ids.dtype)), ids], axis=1)
        return from_ids(_dense(ids, length))

    return [
        ("serving_default", from_text, [TEXT]),
        ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="token_ids")]),
    ]


def _first_token_fallback(tokenizer):
    """What an empty prompt starts from: a newline if the vocabulary has one, else `[START]`, else id 1."""
    for token in ("\n", "[START]"):
        try:
            token_id = _token_id(tokenizer, token)
        except Exception:  # pragma: no cover - tokenizer without such lookups
            token_id = None
        if token_id is not None and token_id > 0:
            return int(token_id)
    return 1


def _language_model_endpoints(model, tokenizer, max_new_tokens, **_):
    from kerasformers.generation import decoding

    if tokenizer is None:
        raise ValueError("Exporting a TransformerLanguageModel needs its `tokenizer`.")
    if not 0 < max_new_tokens < model.max_length:
        raise ValueError(
            f"`max_new_tokens` must be in [1, max_length - 1] = [1, {model.max_length - 1}]. "
            f"Received: max_new_tokens={max_new_tokens}"
        )
    prompt_length = model.max_length - max_new_tokens
    fallback = _first_token_fallback(tokenizer)
    end_id = _token_id(tokenizer, "[END]")
    _, factory = decoding._resolve_sampler("greedy", 1.0, None, None, None, 0.0, None, model.vocabulary_size)

    def from_ids(prompt_ids):  # (batch, prompt_length) right-padded; rows may be empty
        prompt_ids = tf.cast(prompt_ids[:, :prompt_length], tf.int32)
        prompt_ids = tf.pad(prompt_ids, [[0, 0], [0, prompt_length - tf.shape(prompt_ids)[1]]])
        prompt_ids = tf.ensure_shape(prompt_ids, [None, prompt_length])  # static length for the decoder
        # A prompt ends at its last non-padding id (as in `generate`); zeros inside stay tokens.
        positions = tf.range(1, prompt_length + 1)[None, :]
        lengths = tf.reduce_max(tf.where(prompt_ids != 0, positions, 0), axis=1)
        empty = lengths == 0
        first = tf.where(empty, fallback, prompt_ids[:, 0])
        prompt_ids = tf.concat([first[:, None], prompt_ids[:, 1:]], axis=1)
        lengths = tf.maximum(lengths, 1)
        batch = tf.shape(prompt_ids)[0]
        buffer = tf.ensure_shape(tf.pad(prompt_ids, [[0, 0], [0, max_new_tokens]]), [None, model.max_length])
        _, run = decoding._language_model_function(
            model, factory, batch, prompt_length, max_new_tokens, True, end_id, 0
        )
        tokens = tf.cond(batch > 0, lambda: run(buffer, lengths), lambda: buffer)
        return {"token_ids": tokens, "prompt_lengths": lengths}

    def from_text(prompt):  # (batch,) strings
        ids = _tokenize(tokenizer, prompt)
        out = from_ids(_dense(ids, prompt_length, keep="last"))
        tokens, lengths = out["token_ids"], out["prompt_lengths"]
        positions = tf.range(tf.shape(tokens)[1])[None, :]
        continuation = tf.where(positions >= lengths[:, None], tokens, 0)
        return {"text": _detokenize(tokenizer, tokens), "continuation": _detokenize(tokenizer, continuation)}

    return [
        ("serving_default", from_text, [tf.TensorSpec([None], tf.string, name="prompt")]),
        ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="prompt_ids")]),
    ]


def _translator_endpoints(model, source_tokenizer, target_tokenizer, num_beams, length_penalty, **_):
    from kerasformers.generation import decoding

    if source_tokenizer is None or target_tokenizer is None:
        raise ValueError("Exporting a TransformerSeq2Seq needs `source_tokenizer` and `target_tokenizer`.")
    vocabulary_size = model.decoder_vocabulary_size or model.encoder_vocabulary_size
    start_id = _token_id(target_tokenizer, "[START]")
    end_id = _token_id(target_tokenizer, "[END]")
    if start_id is None or end_id is None:
        raise ValueError("The target tokenizer needs `[START]` and `[END]` tokens to translate.")
    unknown = _token_id(source_tokenizer, "[UNK]") or 1

    def make(sampler, **options):
        _, factory = decoding._resolve_sampler(
            sampler, 1.0, None, None, options.get("num_beams"), options.get("length_penalty", 0.0), None,
            vocabulary_size,
        )

        def from_ids(source_ids):  # (batch, source_length) 0-padded
            source_ids = tf.cast(source_ids[:, : model.max_length], tf.int32)
            source_ids = tf.pad(source_ids, [[0, 0], [0, model.max_length - tf.shape(source_ids)[1]]])
            source_ids = tf.ensure_shape(source_ids, [None, model.max_length])
            empty = tf.reduce_all(source_ids == 0, axis=1)
            # An empty source still needs one visible encoder position.
            source_ids = tf.concat([tf.where(empty, unknown, source_ids[:, 0])[:, None], source_ids[:, 1:]], axis=1)
            batch = tf.shape(source_ids)[0]
            _, run = decoding._seq2seq_function(model, factory, batch, model.max_length, True, start_id, end_id, 0)
            empty_result = tf.zeros([batch, model.max_length], tf.int32)
            return {"token_ids": tf.cond(batch > 0, lambda: run(source_ids), lambda: empty_result)}

        def from_text(text):
            ids = _dense(_tokenize(source_tokenizer, text), model.max_length)
            return {"translation": _detokenize(target_tokenizer, from_ids(ids)["token_ids"])}

        return from_ids, from_text

    greedy_ids, greedy_text = make("greedy")
    _, beam_text = make("beam", num_beams=num_beams, length_penalty=length_penalty)
    return [
        ("serving_default", greedy_text, [TEXT]),
        ("beam", beam_text, [TEXT]),
        ("token_ids", greedy_ids, [tf.TensorSpec([None, None], tf.int32, name="source_ids")]),
    ]


ENDPOINTS = {
    "TransformerClassifier": _classifier_endpoints,
    "TransformerLanguageModel": _language_model_endpoints,
    "TransformerSeq2Seq": _translator_endpoints,
}


def export_for_serving(
    model,
    directory,
    *,
    tokenizer=None,
    source_tokenizer=None,
    target_tokenizer=None,
    class_names=None,
    version=None,
    overwrite=False,
    max_new_tokens=64,
    num_beams=4,
    length_penalty=0.6,
):
    """Writes `directory/<version>/`: a SavedModel that TF Serving loads as it is.

    Signatures (all with a `None` batch dimension):

    - classifier: `serving_default(text: string[None])` → `probabilities:
      float32[None, num_classes]`, `label: string[None]`, `label_id:
      int32[None]`; `token_ids(token_ids: int32[None, None])` → the same.
    - language model: `serving_default(prompt: string[None])` → `text:
      string[None]` (prompt + continuation), `continuation: string[None]`;
      `token_ids(prompt_ids: int32[None, None])` → `token_ids`.
    - translator: `serving_default(text: string[None])` → `translation:
      string[None]` (greedy); `beam(text)` → `translation` (beam search,
      `num_beams`, `length_penalty`); `token_ids(source_ids)` → `token_ids`.

    Tokenization and detokenization run inside the graph (TensorFlow and
    TensorFlow Text ops, see `custom_ops`). Generation runs the cached
    incremental decoding loop inside the graph. The files are written to a
    temporary folder and moved into place, so a version folder is never
    half-written.

    Args:
        model: a `TransformerClassifier`, `TransformerLanguageModel` or
            `TransformerSeq2Seq` (TensorFlow backend).
        directory: the model's folder, e.g. `"saved_models/translator"`.
        tokenizer: the classifier's or language model's tokenizer.
        source_tokenizer, target_tokenizer: the translator's tokenizers.
        class_names: classifier label names (defaults to "0", "1", ...).
        version: int. Defaults to the next free integer.
        overwrite: bool. Replace an existing version folder.
        max_new_tokens: int. Language model: tokens generated per request.
        num_beams, length_penalty: the translator's `beam` signature.

    Returns:
        `pathlib.Path` of the version folder.

    Raises:
        FileExistsError: the version exists and `overwrite` is False.
        ValueError: unsupported model, missing tokenizer, bad arguments.

    Example:
    >>> path = export_for_serving(classifier, "saved_models/sentiment", tokenizer=tok,
    ...                           class_names=["negative", "positive"])  # doctest: +SKIP
    >>> load_for_serving("saved_models/sentiment").signatures["serving_default"](
    ...     text=tf.constant(["a great film"]))["label"]  # doctest: +SKIP
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            f"SavedModel export needs the TensorFlow backend (KERAS_BACKEND=tensorflow); current backend: "
            f"{keras.backend.backend()}"
        )
    kind = type(model).__name__
    if kind not in ENDPOINTS:
        raise ValueError(f"Cannot export a {kind}: supported models are {', '.join(sorted(ENDPOINTS))}.")
    directory = pathlib.Path(directory)
    if version is None:
        version = next_version(directory)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"`version` must be a positive integer. Received: version={version!r}")
    target = directory / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists: pass overwrite=True or a new version (next free: {next_version(directory)}).")

    endpoints = ENDPOINTS[kind](
        model,
        tokenizer=tokenizer,
        source_tokenizer=source_tokenizer,
        target_tokenizer=target_tokenizer,
        class_names=class_names,
        max_new_tokens=max_new_tokens,
        num_beams=num_beams,
        length_penalty=length_penalty,
    )
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in (tokenizer, source_tokenizer, target_tokenizer):
        if resource is not None:
            if not resource.built:
                resource(tf.constant(["a"]))  # tokenizers build (create their lookup tables) on first use
            name_sentence_piece_resource(resource)
            archive.track(resource)
    for name, function, signature in endpoints:
        archive.add_endpoint(name, function, input_signature=signature)

    directory.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{version}-", dir=directory))
    try:
        archive.write_out(str(staging / "model"), verbose=False)
        (staging / "model" / "assets.extra").mkdir(exist_ok=True)
        (staging / "model" / "assets.extra" / "kerasformers.json").write_text(
            json.dumps({"model": kind, "config": model.get_config(), "limits": SERVING_LIMITS}, indent=1, default=str)
        )
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def custom_ops(path):
    """Op types in an export that core TensorFlow does not register (e.g. TensorFlow Text's).

    Reads every graph and function of the SavedModel in a fresh process that
    imports only `tensorflow`, and returns the sorted op names it does not know.
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
    return json.loads(result.stdout.strip().splitlines()[-1])
