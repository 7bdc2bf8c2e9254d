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
    Endpoints,
    classifier_endpoints,
    custom_ops,
    export_for_serving,
    language_model_endpoints,
    load_for_serving,
    next_version,
    translator_endpoints,
)
from kerasformers.generation import translate

HERE = pathlib.Path(__file__).resolve().parent
README = (HERE.parents[1] / "README.md").read_text(encoding="utf-8")
EXPORTS = ["classifier_export", "language_model_export", "translator_export"]
BATCH_1 = ["a gripping, beautifully acted film"]
BATCH_7 = ["the best film of the year", "", "   ", "x " * 3000, "¿dónde está la biblioteca? 😀", "a dull plot", "Ünïcödé"]
ODD = ["", " \t\n ", "word " * 5000, "ñandú, café, corazón", "🎬🍿😀", "\x00\x01 control"]

# Ops of TensorFlow Text that the TF Serving model server's embedded TF Text
# (2.12) registers; an export must not need anything else beyond core TF.
TF_SERVING_TEXT_OPS = {
    "CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets", "NormalizeUTF8",
    "SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceDetokenizeOp", "WordpieceTokenizeWithOffsets",
}


def run_fresh(export, batches):
    result = subprocess.run(
        [sys.executable, str(HERE / "_fresh_process.py"), str(export.path), export.input_name, json.dumps(batches)],
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


def test_readme_rest_requests_fit_the_signature(classifier_export):
    """TF Serving's row and columnar request formats, as documented, parsed and fed to the signature."""
    signature = load_for_serving(classifier_export.path).signatures["serving_default"]
    row = rest_body("row")
    assert set(row) == {"instances"}
    by_rows = signature(text=tf.constant(row["instances"]))  # one named input: each instance is its value
    columnar = rest_body("columnar")
    assert columnar["signature_name"] in {"serving_default"}
    by_columns = signature(**{k: tf.constant(v) for k, v in columnar["inputs"].items()})
    np.testing.assert_allclose(by_rows["probabilities"].numpy(), by_columns["probabilities"].numpy())
    np.testing.assert_allclose(by_rows["probabilities"].numpy(), keras_reference(classifier_export, row["instances"]), atol=1e-5)


@pytest.mark.parametrize("name", EXPORTS)
def test_odd_input_never_crashes(name, request):
    export = request.getfixturevalue(name)
    signature = load_for_serving(export.path).signatures["serving_default"]
    invalid_utf8 = [b"\xff\xfe\xfd", b"caf\xc3", b"ok \xe2\x82"]
    for batch in (ODD, invalid_utf8, []):
        out = signature(**{export.input_name: tf.constant(batch, tf.string)})
        assert out[export.output_name].shape[0] == len(batch)
        if export.kind == "classifier":
            assert np.all(np.isfinite(out["probabilities"].numpy()))


@pytest.mark.parametrize("name", EXPORTS)
def test_any_unicode_or_bytes_batch_gets_one_answer_per_input(name, request):
    export = request.getfixturevalue(name)
    signature = load_for_serving(export.path).signatures["serving_default"]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=200)), min_size=0, max_size=16))
    def check(batch):
        values = [b if isinstance(b, bytes) else b.encode("utf-8", "surrogatepass") for b in batch]
        out = signature(**{export.input_name: tf.constant(values, tf.string)})
        assert out[export.output_name].shape[0] == len(batch)

    check()


@pytest.mark.parametrize("name", EXPORTS)
def test_only_ops_tf_serving_ships(name, request):
    export = request.getfixturevalue(name)
    ops = set(custom_ops(export.path))
    assert ops <= TF_SERVING_TEXT_OPS, ops - TF_SERVING_TEXT_OPS
    expected = {  # WordPiece; character tokenizer (core ops only); SentencePiece
        "classifier": {"CaseFoldUTF8", "FastWordpieceTokenizeWithOffsets", "RegexSplitWithOffsets"},
        "language_model": set(),
        "translator": {"SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceDetokenizeOp"},
    }[export.kind]
    assert ops == expected


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
    signature = load_for_serving(export.path).signatures["serving_default"]
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
    out = load_for_serving(export.path).signatures["token_ids"](prompt_ids=tf.constant(prompt))
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
