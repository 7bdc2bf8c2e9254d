"""Exports load without kerasformers, answer like the Keras model, and survive any input."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from _export_setup import _ids, _texts, keras_reference, tokenizes_to_something
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasformers import text
from kerasformers.export import (
    TF_SERVING_IMAGE,
    TF_SERVING_TEXT_OPS,
    Endpoints,
    classifier_endpoints,
    custom_ops,
    export_for_serving,
    language_model_endpoints,
    load_for_serving,
    load_signature,
    next_version,
    translator_endpoints,
)
from kerasformers.export import serving as serving_module
from kerasformers.export import tf_serving
from kerasformers.generation import translate

HERE = pathlib.Path(__file__).resolve().parent
README = (HERE.parents[1] / "README.md").read_text(encoding="utf-8")
EXPORTS = ["classifier_export", "language_model_export", "translator_export"]
BATCH_1 = ["a gripping, beautifully acted film"]
BATCH_7 = ["the best film of the year", "", "   ", "x " * 3000, "¿dónde está la biblioteca? 😀", "a dull plot", "Ünïcödé"]
ODD = ["", " \t\n ", "word " * 5000, "ñandú, café, corazón", "🎬🍿😀", "\x00\x01 control"]



def run_fresh(export, batches, options=None):
    result = subprocess.run(
        [sys.executable, str(HERE / "_fresh_process.py"), str(export.path), export.input_name, json.dumps(batches),
         json.dumps(options or {})],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", EXPORTS)
def test_fresh_process_without_kerasformers_matches_keras(name, request):
    export = request.getfixturevalue(name)
    out = run_fresh(export, [BATCH_1, BATCH_7])
    assert out["blocked"] is True
    for batch, result in zip([BATCH_1, BATCH_7], out["results"]):
        assert len(result[export.output_name]) == len(batch)
        if export.kind == "classifier":
            np.testing.assert_allclose(np.array(result["probabilities"]), keras_reference(export, batch), atol=1e-5)
            probabilities = np.array(result["probabilities"])
            assert result["label"] == [["negative", "positive"][i] for i in probabilities.argmax(-1)]
        else:  # greedy generation: identical strings wherever the input has tokens
            expected = keras_reference(export, batch)
            compared = [i for i, s in enumerate(batch) if tokenizes_to_something(export, s)]
            assert len(compared) >= 1
            assert [result[export.output_name][i] for i in compared] == [expected[i] for i in compared]


@pytest.mark.parametrize("name", EXPORTS)
def test_saved_model_cli_lists_string_inputs_with_dynamic_batch(name, request):
    export = request.getfixturevalue(name)
    cli = pathlib.Path(sys.executable).with_name("saved_model_cli")
    show = subprocess.run([str(cli), "show", "--dir", str(export.path), "--all"], capture_output=True, text=True, check=True)
    block = show.stdout.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert re.search(rf"inputs\['{export.input_name}'\] tensor_info:\s+dtype: DT_STRING\s+shape: \(-1\)", block), block
    assert f"outputs['{export.output_name}']" in block
    assert "signature_def['token_ids']" in show.stdout
    # `saved_model_cli run` with TF Text's ops registered (TF Serving links them in)
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys, tensorflow_text; from tensorflow.python.tools import saved_model_cli; "
         "sys.argv = ['saved_model_cli'] + sys.argv[1:]; saved_model_cli.main()",
         "run", "--dir", str(export.path), "--tag_set", "serve", "--signature_def", "serving_default",
         "--input_exprs", f"{export.input_name}=['{BATCH_1[0]}']"],
        capture_output=True, text=True,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    if export.kind == "classifier":
        expected = ["negative", "positive"][int(keras_reference(export, BATCH_1).argmax())]
    else:
        expected = keras_reference(export, BATCH_1)[0]
    assert repr(expected.encode("utf-8")) in run.stdout, run.stdout


def rest_body(marker):
    return json.loads(re.search(rf"<!-- rest:{marker} -->\n```json\n(.+?)\n```", README, flags=re.S).group(1))


class RestError(ValueError):
    """What TF Serving answers with HTTP 400 `{"error": ...}`."""


def rest_feed(loaded, body):
    """TF Serving's REST `:predict` mapping of a JSON body onto a signature's inputs (api_rest.md, "Request format").

    Row format, `{"instances": [...]}`: with one signature input each instance
    is a value of it (the batch is the list); otherwise each instance is an
    object keyed by input name. Columnar format, `{"inputs": ...}`: an object
    keyed by input name (or, with one input, the value itself). Exactly one of
    the two; unknown or missing input names are errors.
    """
    name = body.get("signature_name", "serving_default")
    if name not in loaded.signatures:
        raise RestError(f"Serving signature name: \"{name}\" not found in signature def")
    signature = loaded.signatures[name]
    names = set(signature.structured_input_signature[1])
    if ("instances" in body) == ("inputs" in body):
        raise RestError("Missing 'inputs' or 'instances' key" if "inputs" not in body else
                        "Not both 'instances' and 'inputs' can be specified")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise RestError("'instances' must be a list")
        if len(names) == 1 and not any(isinstance(i, dict) for i in instances):
            feed = {next(iter(names)): instances}
        elif all(isinstance(i, dict) for i in instances):
            keys = {key for i in instances for key in i}
            feed = {key: [i.get(key) for i in instances] for key in keys}
        else:
            raise RestError("Expecting object with named inputs in 'instances'")
    else:
        inputs = body["inputs"]
        if isinstance(inputs, dict):
            feed = dict(inputs)
        elif len(names) == 1:
            feed = {next(iter(names)): inputs}
        else:
            raise RestError("'inputs' must name the signature's inputs")
    defaults = getattr(loaded, "signature_defaults", {}).get(name, {})
    unknown, missing = set(feed) - names, names - set(feed) - set(defaults)
    if unknown or missing:
        raise RestError(f"input tensor alias not found in signature: {sorted(unknown)}; missing: {sorted(missing)}")
    return signature, {**{key: value for key, value in defaults.items() if key not in feed}, **feed}


def rest_predict(loaded, body):
    signature, feed = rest_feed(loaded, body)
    specs = signature.structured_input_signature[1]
    outputs = signature(**{key: tf.constant(value, specs[key].dtype) for key, value in feed.items()})
    return {key: value.numpy() for key, value in outputs.items()}


def test_readme_rest_requests_fit_the_signature(classifier_export):
    """The README's row and columnar bodies are different requests that TF Serving maps onto the same inputs."""
    loaded = load_for_serving(classifier_export.path)
    row, columnar = rest_body("row"), rest_body("columnar")
    input_names = set(loaded.signatures["serving_default"].structured_input_signature[1])
    assert input_names == {classifier_export.input_name} == {"text"}
    # Really two formats: row = a list of instances, columnar = inputs keyed by the signature's input name.
    assert set(row) == {"instances"} and isinstance(row["instances"], list)
    assert set(columnar) == {"signature_name", "inputs"} and set(columnar["inputs"]) == input_names
    assert row != columnar and json.dumps(row) != json.dumps(columnar)
    # Each maps onto the signature's one input, with the same batch ...
    _, row_feed = rest_feed(loaded, row)
    _, column_feed = rest_feed(loaded, columnar)
    assert row_feed == column_feed == {"text": row["instances"]}
    # ... and gets the same answers, which are the Keras model's.
    by_rows, by_columns = rest_predict(loaded, row), rest_predict(loaded, columnar)
    assert set(by_rows) == set(by_columns) == {"probabilities", "label", "label_id"}
    for key in by_rows:
        np.testing.assert_array_equal(by_rows[key], by_columns[key])
    np.testing.assert_allclose(by_rows["probabilities"], keras_reference(classifier_export, row["instances"]), atol=1e-5)
    assert len(by_rows["label"]) == len(row["instances"]) == 2


@pytest.mark.parametrize(
    "body, message",
    [
        ({"inputs": {"texts": ["a film"]}}, r"alias not found in signature: \['texts'\]"),
        ({"instances": [{"sentence": "a film"}]}, r"alias not found in signature: \['sentence'\]"),
        ({"signature_name": "serving_default", "inputs": {}}, r"missing: \['text'\]"),
        ({"instances": ["a film"], "inputs": {"text": ["a film"]}}, "Not both"),
        ({"text": ["a film"]}, "Missing 'inputs' or 'instances'"),
        ({"signature_name": "predict", "instances": ["a film"]}, r'"predict" not found'),
    ],
    ids=["columnar-wrong-name", "row-wrong-name", "columnar-missing-input", "both-formats", "no-format", "no-such-signature"],
)
def test_malformed_rest_bodies_are_rejected(classifier_export, body, message):
    with pytest.raises(RestError, match=message):
        rest_predict(load_for_serving(classifier_export.path), body)


@pytest.mark.parametrize("name", EXPORTS)
def test_odd_input_never_crashes(name, request):
    export = request.getfixturevalue(name)
    signature = load_signature(export.path)
    invalid_utf8 = [b"\xff\xfe\xfd", b"caf\xc3", b"ok \xe2\x82"]
    for batch in (ODD, invalid_utf8, []):
        out = signature(**{export.input_name: tf.constant(batch, tf.string)})
        assert out[export.output_name].shape[0] == len(batch)
        if export.kind == "classifier":
            assert np.all(np.isfinite(out["probabilities"].numpy()))


@pytest.mark.parametrize("name", EXPORTS)
def test_any_unicode_or_bytes_batch_gets_one_answer_per_input(name, request):
    export = request.getfixturevalue(name)
    signature = load_signature(export.path)

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=200)), min_size=0, max_size=16))
    def check(batch):
        values = [b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass") for b in batch]
        out = signature(**{export.input_name: tf.constant(values, tf.string)})
        assert out[export.output_name].shape[0] == len(batch)

    check()


@pytest.mark.parametrize("name", EXPORTS)
def test_only_ops_tf_serving_ships(name, request):
    """Every non-core op of an export is a TF Text op of the TF Serving release the README names."""
    export = request.getfixturevalue(name)
    ops = set(custom_ops(export.path, check=True))  # raises on an op TF_SERVING_IMAGE lacks
    assert ops <= TF_SERVING_TEXT_OPS, ops - TF_SERVING_TEXT_OPS
    expected = {  # WordPiece; character tokenizer (core ops only); SentencePiece
        "classifier": {"CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"},
        "language_model": set(),
        "translator": {"SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceDetokenizeOp"},
    }[export.kind]
    assert ops == expected


def test_custom_ops_check_names_the_ops_tf_serving_lacks(classifier_export, monkeypatch):
    monkeypatch.setattr(serving_module, "TF_SERVING_TEXT_OPS", TF_SERVING_TEXT_OPS - {"CaseFoldUTF8"})
    with pytest.raises(ValueError, match=rf"{re.escape(TF_SERVING_IMAGE)} does not have.*\['CaseFoldUTF8'\]"):
        custom_ops(classifier_export.path, check=True)
    assert "CaseFoldUTF8" in custom_ops(classifier_export.path)  # without `check`: just the list


def test_tf_serving_text_ops_are_tensorflow_text_ops():
    """The list copied from TF Text's sources names real ops: those the installed wheel registers, plus the
    two mobile SentencePiece ops that TF Serving's `ops_lib` links and the wheel does not build."""
    code = (
        "import json, tensorflow as tf\n"
        "from tensorflow.python.client import pywrap_tf_session as c\n"
        "from tensorflow.core.framework import op_def_pb2\n"
        "def ops():\n"
        "    found = op_def_pb2.OpList()\n"
        "    found.ParseFromString(c.TF_GetBuffer(c.TF_GetAllOpList()))\n"
        "    return {op.name for op in found.op}\n"
        "core = ops()\n"
        "import tensorflow_text\n"
        "print(json.dumps(sorted(ops() - core)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    wheel_ops = set(json.loads(result.stdout.strip().splitlines()[-1]))
    mobile = {"TFSentencepieceTokenizeOp", "TFSentencepieceDetokenizeOp"}
    assert TF_SERVING_TEXT_OPS - mobile <= wheel_ops, (TF_SERVING_TEXT_OPS - mobile) - wheel_ops
    assert len(TF_SERVING_TEXT_OPS) == 40


def test_readme_names_the_checked_tf_serving_image():
    section = README.split("## Serving with TF Serving")[1].split("\n## ")[0]
    assert TF_SERVING_IMAGE == "tensorflow/serving:2.21.0" == f"tensorflow/serving:{tf_serving.TF_SERVING_RELEASE}"
    assert f"  {TF_SERVING_IMAGE}\n" in section  # the docker run line
    assert re.search(r"\btensorflow/serving\s*$", section, flags=re.M) is None  # no untagged image
    assert tf_serving.TF_SERVING_NIGHTLY_IMAGE in section


def test_translator_beam_signature_matches_keras_beam_search(translator_export):
    export = translator_export
    beam = load_for_serving(export.path).signatures["beam"]
    batch = ["hola mundo", "me gusta el café", "¿dónde está la biblioteca?"]
    source = _ids(export.tokenizers["source"], batch, export.model.max_length)
    beams = translate(export.model, source, num_beams=4, length_penalty=0.6)
    expected = _texts(text.decode(export.tokenizers["target"], beams))
    got = [s.decode("utf-8") for s in beam(text=tf.constant(batch))["translation"].numpy()]
    assert got == expected
    assert "where is the library?" in got or "hello world" in got  # it learned something


def test_versions_are_never_overwritten_by_accident(classifier_export, tmp_path):
    model, tokenizer = classifier_export.model, classifier_export.tokenizers["tokenizer"]
    endpoints = classifier_endpoints(model, tokenizer)
    first = export_for_serving(model, tmp_path / "m", endpoints)
    assert first.name == "1" and next_version(tmp_path / "m") == 2
    second = export_for_serving(model, tmp_path / "m", endpoints)
    assert second.name == "2"
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_for_serving(model, tmp_path / "m", endpoints, version=1)
    stamp = os.path.getmtime(first / "saved_model.pb")
    export_for_serving(model, tmp_path / "m", endpoints, version=1, overwrite=True)
    assert (first / "saved_model.pb").exists() and os.path.getmtime(first / "saved_model.pb") >= stamp
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]  # no staging folders left
    config = json.loads((first / "assets.extra" / "kerasformers.json").read_text())
    assert config["model"] == "TransformerClassifier" and config["config"]["num_classes"] == 2


def test_bad_export_arguments(classifier_export, language_model_export, translator_export, tmp_path):
    model, tokenizer = classifier_export.model, classifier_export.tokenizers["tokenizer"]
    with pytest.raises(ValueError, match="needs its `tokenizer`. Received: tokenizer=None"):
        classifier_endpoints(model, None)
    with pytest.raises(ValueError, match="one name per class"):
        classifier_endpoints(model, tokenizer, class_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="version=0"):
        export_for_serving(model, tmp_path / "m", classifier_endpoints(model, tokenizer), version=0)
    lm, translator = language_model_export.model, translator_export.model
    with pytest.raises(ValueError, match=r"max_new_tokens=48"):
        language_model_endpoints(lm, language_model_export.tokenizers["tokenizer"], max_new_tokens=48)
    with pytest.raises(ValueError, match="needs its `target_tokenizer`"):
        translator_endpoints(translator, translator_export.tokenizers["source"], None)
    with pytest.raises(ValueError, match="num_beams=0"):
        translator_endpoints(translator, translator_export.tokenizers["source"], translator_export.tokenizers["target"],
                             num_beams=0)
    # A builder given the wrong kind of model names its type.
    with pytest.raises(ValueError, match="type TransformerClassifier, which lacks `init_cache`, `call_with_cache`"):
        language_model_endpoints(model, tokenizer)
    with pytest.raises(ValueError, match="type TransformerLanguageModel, which lacks `encoder_vocabulary_size`"):
        translator_endpoints(lm, tokenizer, tokenizer)
    with pytest.raises(ValueError, match="type TransformerSeq2Seq, which lacks `num_classes`"):
        classifier_endpoints(translator, tokenizer)
    assert not (tmp_path / "m").exists()  # nothing written by a refused export


@pytest.mark.parametrize(
    "endpoints,shown",
    [(None, "None of type NoneType"), ("tokenizer", "'tokenizer' of type str"),
     ([("serving_default", print, [])], "of type list")],
    ids=["none", "str", "list"],
)
def test_export_needs_an_endpoints_object(classifier_export, tmp_path, endpoints, shown):
    model = classifier_export.model
    with pytest.raises(ValueError, match=rf"`endpoints` must be an `Endpoints`.*Received: endpoints=.*{re.escape(shown)}"):
        export_for_serving(model, tmp_path / "m", endpoints)
    with pytest.raises(TypeError, match="tokenizer"):  # the old keyword style is gone
        export_for_serving(model, tmp_path / "m", tokenizer=classifier_export.tokenizers["tokenizer"])
    assert not (tmp_path / "m").exists()


def test_hand_made_endpoints_export(classifier_export, tmp_path):
    """`Endpoints` is the whole contract: any signature over the model exports, no builder needed."""
    model = classifier_export.model

    def logits(token_ids):
        return {"logits": model({"token_ids": token_ids}, training=False)}

    with pytest.raises(ValueError, match=r"\(name, function, input_signature\)"):
        Endpoints(signatures=[("serving_default", logits)])
    with pytest.raises(ValueError, match="at least one"):
        Endpoints(signatures=[])
    spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")
    path = export_for_serving(model, tmp_path / "m", Endpoints(signatures=[("serving_default", logits, [spec])]))
    ids = np.array([[5, 6, 7, 0]], "int32")
    served = load_for_serving(path).signatures["serving_default"](token_ids=tf.constant(ids))["logits"].numpy()
    np.testing.assert_allclose(served, model.predict({"token_ids": ids}, verbose=0), atol=1e-5)


@pytest.mark.parametrize("kind", ["classifier", "language_model", "translator"])
def test_mixed_bfloat16_models_export_and_answer_like_keras(kind, bfloat16_exports):
    """A model trained under `mixed_bfloat16` (`--precision auto` on bfloat16 hardware) serves like its Keras model."""
    export = bfloat16_exports[kind]
    policies = {layer.dtype_policy.name for layer in export.model._flatten_layers(include_self=False)}
    assert "mixed_bfloat16" in policies, policies
    signature = load_signature(export.path)
    out = signature(**{export.input_name: tf.constant(BATCH_7)})
    expected = keras_reference(export, BATCH_7)
    if kind == "classifier":
        assert out["probabilities"].dtype == tf.float32
        # bfloat16 keeps 8 significant bits (relative rounding 2^-9): the graph and Keras' predict round
        # at different points (oneDNN fuses differently), so probabilities agree to bfloat16 precision.
        np.testing.assert_allclose(out["probabilities"].numpy(), expected, atol=1e-2)
        assert out["probabilities"].numpy().argmax(-1).tolist() == expected.argmax(-1).tolist()
    elif kind == "language_model":
        # Greedy decoding follows the argmax, and bfloat16 rounds differently in the graph and in Keras
        # (oneDNN fuses differently; more so on a CPU without AVX512-BF16), so a near-tie may go either way.
        # What must hold: every token the export chose is a best next token of the Keras model, within
        # bfloat16 rounding of the logits, given the text so far.
        _assert_greedy_under_keras(export, BATCH_7, max_new_tokens=16)
    else:
        compared = [i for i, s in enumerate(BATCH_7) if tokenizes_to_something(export, s)]
        answers = _texts(out[export.output_name].numpy())
        assert [answers[i] for i in compared] == [expected[i] for i in compared]


def _assert_greedy_under_keras(export, strings, max_new_tokens, relative=2**-5):
    model, tokenizer = export.model, export.tokenizers["tokenizer"]
    prompt = _ids(tokenizer, strings, model.max_length - max_new_tokens, keep="last")
    out = load_signature(export.path, "token_ids")(prompt_ids=tf.constant(prompt))
    tokens, lengths = out["token_ids"].numpy(), out["prompt_lengths"].numpy()
    logits = np.asarray(model.predict({"token_ids": tokens}, verbose=0), "float64")
    checked = 0
    for row in range(len(strings)):
        for position in range(lengths[row], lengths[row] + max_new_tokens):
            step = logits[row, position - 1]
            tolerance = relative * max(1.0, np.abs(step).max())
            assert step[tokens[row, position]] >= step.max() - tolerance, (row, position, step.max(),
                                                                         step[tokens[row, position]])
            checked += 1
    assert checked == len(strings) * max_new_tokens


# ------------------------------------------------------------------ language model: long prompts
def test_long_prompts_keep_their_last_tokens_in_both_signatures(language_model_export):
    """A prompt longer than the prompt window keeps its most recent tokens, by text and by token ids alike."""
    export = language_model_export
    tokenizer = export.tokenizers["tokenizer"]
    window = export.model.max_length - 16  # max_new_tokens=16 in conftest
    long_prompt = "the slings and arrows of outrageous fortune,\nor to take arms against a sea"
    prompts = [long_prompt, "to be"]
    ids = [np.asarray(row, "int32") for row in tokenizer(prompts)]
    assert len(ids[0]) > window + 10 and np.all(ids[0] != 0)
    padded = np.zeros((2, len(ids[0])), "int32")  # right-padded, wider than the window
    for i, row in enumerate(ids):
        padded[i, : len(row)] = row

    by_ids = load_signature(export.path, "token_ids")(prompt_ids=tf.constant(padded))
    tokens, lengths = by_ids["token_ids"].numpy(), by_ids["prompt_lengths"].numpy()
    assert lengths.tolist() == [window, len(ids[1])]
    np.testing.assert_array_equal(tokens[0, :window], ids[0][-window:])  # the LAST tokens, not the first
    np.testing.assert_array_equal(tokens[1, : len(ids[1])], ids[1])

    by_text = load_signature(export.path)(prompt=tf.constant(prompts))
    continuation = np.where(np.arange(tokens.shape[1])[None, :] >= lengths[:, None], tokens, 0)
    assert _texts(by_text["continuation"].numpy()) == _texts(text.decode(tokenizer, continuation))
    assert _texts(by_text["text"].numpy()) == _texts(text.decode(tokenizer, tokens))
    assert _texts(by_text["text"].numpy()) == keras_reference(export, prompts)  # and the Keras model agrees


def test_token_ids_signature_takes_narrow_and_empty_batches(language_model_export):
    signature = load_signature(language_model_export.path, "token_ids")
    out = signature(prompt_ids=tf.zeros([2, 0], tf.int32))  # no columns at all: two empty prompts
    assert out["prompt_lengths"].numpy().tolist() == [1, 1]
    assert signature(prompt_ids=tf.zeros([0, 5], tf.int32))["token_ids"].shape[0] == 0


# ------------------------------------------------------------------ overwriting a version safely
def _version_state(folder):
    pb = folder / "saved_model.pb"
    return pb.read_bytes(), os.path.getmtime(pb)


def test_a_failed_overwrite_keeps_the_old_version(classifier_export, tmp_path, monkeypatch):
    """The new version is moved in after the old one is renamed aside; if that move fails, the old one is back."""
    model, tokenizer = classifier_export.model, classifier_export.tokenizers["tokenizer"]
    endpoints = classifier_endpoints(model, tokenizer, ["negative", "positive"])
    first = export_for_serving(model, tmp_path / "m", endpoints)
    before = _version_state(first)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append((pathlib.Path(src).name, pathlib.Path(dst).name))
        if pathlib.Path(dst) == first and pathlib.Path(src).name == "model":  # the new version moving in
            raise OSError("disk full (simulated)")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="simulated"):
        export_for_serving(model, tmp_path / "m", endpoints, version=1, overwrite=True)
    monkeypatch.undo()
    aside = calls[0][1]
    assert calls[0][0] == "1" and re.fullmatch(r"\.1\.old-[0-9a-f]+", aside)  # renamed aside first ...
    assert calls[1] == ("model", "1") and calls[2] == (aside, "1")  # ... the move in failed, so it came back
    assert _version_state(first) == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1"]  # no aside or staging folder left
    served = load_for_serving(tmp_path / "m").signatures["serving_default"](text=tf.constant(BATCH_1))
    np.testing.assert_allclose(served["probabilities"].numpy(), keras_reference(classifier_export, BATCH_1), atol=1e-5)


def test_an_overwrite_interrupted_between_the_moves_loses_nothing(classifier_export, tmp_path, monkeypatch):
    """If the process dies after renaming the old version aside, the old version waits there and comes back."""
    model, tokenizer = classifier_export.model, classifier_export.tokenizers["tokenizer"]
    endpoints = classifier_endpoints(model, tokenizer)
    first = export_for_serving(model, tmp_path / "m", endpoints)
    before = _version_state(first)
    real_replace = os.replace

    class Killed(BaseException):  # like SIGKILL: nothing after it runs
        pass

    def replace(src, dst):  # the move in and the move back both fail, as if the process had died
        if pathlib.Path(dst) == first and pathlib.Path(src).name != "1":
            raise Killed
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(Killed):
        export_for_serving(model, tmp_path / "m", endpoints, version=1, overwrite=True)
    monkeypatch.undo()
    asides = [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".1.old-")]
    assert not first.exists() and len(asides) == 1  # TF Serving sees no version 1 (dot folder, not an integer) ...
    assert (asides[0] / "saved_model.pb").read_bytes() == before[0]  # ... but nothing is lost
    assert next_version(tmp_path / "m") == 1
    second = export_for_serving(model, tmp_path / "m", endpoints)  # the next export puts it back first
    assert second.name == "2" and _version_state(first) == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]
