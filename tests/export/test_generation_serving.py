"""Issue 14: XLA-compiled exports, per-request sampling options, warm-up files and int8 exports."""

import dataclasses
import json
import pathlib
import re

import numpy as np
import pytest
import tensorflow as tf
from _export_setup import _ids, _texts, keras_reference
from test_serving import README, rest_feed, rest_predict, run_fresh

from kerasformers import text
from kerasformers.export import (
    OPTIONS_HELP,
    classifier_endpoints,
    export_for_serving,
    language_model_endpoints,
    load_for_serving,
    load_signature,
    read_warmup_requests,
    signature_defaults,
    translator_endpoints,
)
from kerasformers.generation import generate, translate

NEW = 16  # the language model fixture's max_new_tokens
PROMPTS = ["to be, or not", "whether 'tis nobler in the mind to suffer the slings and arrows", "", "or"]


@pytest.fixture(scope="session")
def lm_xla_export(language_model_export, tmp_path_factory):
    """The language model fixture exported again with XLA, small batch buckets so that padding is exercised."""
    export = language_model_export
    endpoints = language_model_endpoints(export.model, export.tokenizers["tokenizer"], max_new_tokens=NEW,
                                         batch_buckets=(1, 4))
    path = export_for_serving(export.model, tmp_path_factory.mktemp("xla") / "lm", endpoints, jit_compile=True)
    return dataclasses.replace(export, path=path)


@pytest.fixture(scope="session")
def translator_xla_export(translator_export, tmp_path_factory):
    export = translator_export
    endpoints = translator_endpoints(export.model, export.tokenizers["source"], export.tokenizers["target"],
                                     batch_buckets=(1, 4))
    path = export_for_serving(export.model, tmp_path_factory.mktemp("xla") / "translator", endpoints,
                              jit_compile=True)
    return dataclasses.replace(export, path=path)


def must_compile_functions(path):
    """Names of the functions in a SavedModel that TF must compile with XLA (`_XlaMustCompile`)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    library = proto.meta_graphs[0].graph_def.library.function
    return {f.signature.name for f in library if f.attr.get("_XlaMustCompile") and f.attr["_XlaMustCompile"].b} | {
        node.attr["f"].func.name for f in library for node in f.node_def
        if "_XlaMustCompile" in node.attr and node.attr["_XlaMustCompile"].b
    }


# ------------------------------------------------------------------ XLA exports
@pytest.mark.parametrize("name", ["lm_xla_export", "translator_xla_export"])
def test_xla_export_is_compiled_and_equals_keras_in_a_fresh_process(name, request):
    export = request.getfixturevalue(name)
    assert must_compile_functions(export.path), "no XLA-compiled function in the export"
    assert json.loads((export.path / "assets.extra" / "kerasformers.json").read_text())["jit_compile"] is True
    batches = [PROMPTS[:1], PROMPTS, PROMPTS * 2]  # batch 1, 4 (a bucket) and 8 (padded to a multiple of 4)
    out = run_fresh(export, batches)
    for batch, result in zip(batches, out["results"]):
        expected = keras_reference(export, batch)
        answers = result[export.output_name]
        assert [answers[i] for i, e in enumerate(expected) if e is not None] == [e for e in expected if e is not None]


def test_default_export_has_no_xla_function(language_model_export, translator_export):
    for export in (language_model_export, translator_export):
        assert not must_compile_functions(export.path)


def test_xla_and_plain_exports_agree_on_beam_search(translator_export, translator_xla_export):
    strings = [s for s in ["hola mundo", "me gusta el café", "el gato duerme"]]
    plain = load_for_serving(translator_export.path).signatures["beam"](text=tf.constant(strings))
    xla = load_for_serving(translator_xla_export.path).signatures["beam"](text=tf.constant(strings))
    assert _texts(plain["translation"].numpy()) == _texts(xla["translation"].numpy())
    model, source = translator_export.model, _ids(translator_export.tokenizers["source"], strings, 16)
    expected = text.decode(translator_export.tokenizers["target"], translate(model, source, num_beams=4))
    assert _texts(xla["translation"].numpy()) == _texts(expected)


def test_prompts_of_every_bucket_in_one_batch(lm_xla_export):
    """Prompt buckets (16, 32): a batch whose longest prompt needs the second, and one that fits the first."""
    export, tokenizer = lm_xla_export, lm_xla_export.tokenizers["tokenizer"]
    call = load_signature(export.path, "token_ids")
    for strings in (["to be", "the slings and arrows of outrageous fortune"], ["to be", "or not"]):
        ids = _ids(tokenizer, strings, 32, keep="last")
        out = call(prompt_ids=tf.constant(ids))["token_ids"].numpy()
        np.testing.assert_array_equal(out[:, : ids.shape[1] + NEW], generate(export.model, ids, NEW))


# ------------------------------------------------------------------ per-request options
@pytest.fixture(scope="session", params=["plain", "xla"])
def lm(request, language_model_export, lm_xla_export):
    export = language_model_export if request.param == "plain" else lm_xla_export
    return export, load_signature(export.path, "token_ids"), load_signature(export.path)


def test_options_are_optional_inputs_with_defaults(language_model_export):
    defaults = signature_defaults(language_model_export.path)
    for name in ("serving_default", "token_ids"):
        assert set(defaults[name]) == {"max_new_tokens", "temperature", "top_k", "top_p", "seed"}
        assert all(value.shape == (0,) for value in defaults[name].values())


def test_sampled_tokens_equal_generate_with_the_same_seed(lm):
    export, call, _ = lm
    ids = _ids(export.tokenizers["tokenizer"], PROMPTS[:2], 32, keep="last")
    settings = [dict(temperature=0.9, top_k=5, seed=7), dict(top_p=0.8, seed=123456789012),
                dict(temperature=1.5, seed=3)]
    for options in settings:
        served = call(prompt_ids=tf.constant(ids), **{
            k: tf.constant([v], {"seed": tf.int64, "top_k": tf.int32}.get(k, tf.float32)) for k, v in options.items()
        })["token_ids"].numpy()
        sampler = "top_k" if "top_k" in options else "top_p"
        kwargs = {"top_k": options.get("top_k"), "top_p": options.get("top_p", 1.0 if sampler == "top_p" else None)}
        expected = generate(export.model, ids, NEW, sampler=sampler, temperature=options.get("temperature", 1.0),
                            seed=options["seed"], **{k: v for k, v in kwargs.items() if v is not None})
        np.testing.assert_array_equal(served[:, : ids.shape[1] + NEW], expected)
    greedy = call(prompt_ids=tf.constant(ids))["token_ids"].numpy()
    assert not np.array_equal(served[:, : ids.shape[1] + NEW], greedy[:, : ids.shape[1] + NEW])


@pytest.mark.parametrize("name", ["language_model_export", "lm_xla_export"])
def test_sampled_text_in_a_fresh_process_equals_generate(name, request):
    """Without kerasformers, as on a TF Serving box: the same seed and options give generate's tokens."""
    export = request.getfixturevalue(name)
    tokenizer = export.tokenizers["tokenizer"]
    strings = ["to be, or not", "whether 'tis nobler"]
    out = run_fresh(export, [strings], {"temperature": [0.9], "top_p": [0.95], "seed": [2024]})["results"][0]
    ids = _ids(tokenizer, strings, 32, keep="last")
    tokens = generate(export.model, ids, NEW, sampler="top_p", top_p=0.95, temperature=0.9, seed=2024)
    assert out["text"] == _texts(text.decode(tokenizer, tokens))
    assert out["text"] != keras_reference(export, strings)  # sampled, not greedy


def test_same_seed_same_text_and_no_seed_varies(lm):
    _, _, call = lm
    prompt = tf.constant(["to be"] * 3)
    seeded = [call(prompt=prompt, temperature=tf.constant([1.0]), seed=tf.constant([5], tf.int64))["text"].numpy()
              for _ in range(2)]
    np.testing.assert_array_equal(*seeded)
    assert len(set(seeded[0].tolist())) == 1  # one seed for all rows: identical prompts, identical samples
    unseeded = call(prompt=prompt, temperature=tf.constant([2.0]))["continuation"].numpy()
    assert len(set(unseeded.tolist())) > 1  # a fresh seed per prompt


def test_per_row_options_and_max_new_tokens(lm):
    export, call, _ = lm
    ids = _ids(export.tokenizers["tokenizer"], PROMPTS[:2], 32, keep="last")
    out = call(prompt_ids=tf.constant(ids), max_new_tokens=tf.constant([3, NEW]))
    tokens, lengths = out["token_ids"].numpy(), out["prompt_lengths"].numpy()
    greedy = generate(export.model, ids, NEW)
    np.testing.assert_array_equal(tokens[1, : ids.shape[1] + NEW], greedy[1])
    np.testing.assert_array_equal(tokens[0, : lengths[0] + 3], greedy[0, : lengths[0] + 3])
    assert (tokens[0, lengths[0] + 3 :] == 0).all()  # nothing after its 3 tokens
    # Row 0 greedy (temperature 0), row 1 sampled: row 0 is unchanged.
    mixed = call(prompt_ids=tf.constant(ids), temperature=tf.constant([0.0, 1.0]), seed=tf.constant([1, 2], tf.int64))
    np.testing.assert_array_equal(mixed["token_ids"].numpy()[0, : ids.shape[1] + NEW], greedy[0])


@pytest.mark.parametrize("options, message", [
    (dict(temperature=tf.constant([-1.0])), r"`temperature` must be >= 0.*-1"),
    (dict(top_p=tf.constant([0.0])), r"`top_p` must be in \(0, 1\].*0"),
    (dict(top_p=tf.constant([1.5])), r"`top_p` must be in \(0, 1\].*1.5"),
    (dict(top_k=tf.constant([-2])), r"`top_k` must be >= 0.*-2"),
    (dict(max_new_tokens=tf.constant([0])), r"`max_new_tokens` must be in \[1, 16\].*0"),
    (dict(max_new_tokens=tf.constant([17])), r"`max_new_tokens` must be in \[1, 16\].*17"),
    (dict(seed=tf.constant([1, 2, 3], tf.int64)), r"`seed` needs 0 values, 1 value or one per prompt.*3"),
])
def test_invalid_options_fail_the_request_with_a_message(lm, options, message):
    _, _, call = lm
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(prompt=tf.constant(["to be", "or not"]), **options)
    assert call(prompt=tf.constant(["to be"]))["text"].shape == (1,)  # and the model keeps serving


def lm_rest_body(marker):
    return json.loads(re.search(rf"<!-- rest:{marker} -->\n```json\n(.+?)\n```", README, flags=re.S).group(1))


@pytest.mark.parametrize("marker", ["lm-greedy", "lm-sampled", "lm-rows"])
def test_readme_language_model_rest_bodies(language_model_export, marker):
    loaded = load_for_serving(language_model_export.path)
    body = lm_rest_body(marker)
    _, feed = rest_feed(loaded, body)
    out = rest_predict(loaded, body)
    assert len(out["text"]) == len(feed["prompt"])
    if marker == "lm-greedy":
        assert _texts(out["text"]) == keras_reference(language_model_export, feed["prompt"])
    else:
        assert rest_predict(loaded, body)["text"].tolist() == out["text"].tolist()  # seeded: repeatable


def test_options_help_names_every_option():
    for name in ("max_new_tokens", "temperature", "top_k", "top_p", "seed"):
        assert f"`{name}`" in OPTIONS_HELP


# ------------------------------------------------------------------ warm-up
@pytest.mark.parametrize("name", ["language_model_export", "lm_xla_export", "translator_xla_export",
                                  "classifier_export"])
def test_warmup_file_parses_and_replays(name, request):
    from tensorflow_serving.apis import prediction_log_pb2

    export = request.getfixturevalue(name)
    warmup = export.path / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(warmup)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert logs and all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    requests = read_warmup_requests(export.path)
    signatures = {signature for signature, _ in requests}
    assert signatures == set(load_for_serving(export.path).signatures) - {"beam"} | (
        {"beam"} if export.kind == "translator" else set())
    if name == "lm_xla_export":  # one request per (batch bucket, prompt bucket)
        shapes = {inputs["prompt_ids"].shape for signature, inputs in requests if signature == "token_ids"}
        assert shapes == {(1, 16), (1, 32), (4, 16), (4, 32)}
    for signature, inputs in requests:
        out = load_signature(export.path, signature)(**{k: tf.constant(v) for k, v in inputs.items()})
        batch = max(value.shape[0] for value in inputs.values())  # options may hold one value for all rows
        assert all(value.shape[0] == batch for value in out.values()), (signature, batch)


# ------------------------------------------------------------------ int8
def test_int8_exports_match_the_quantized_keras_model(classifier_export, language_model_export, translator_export,
                                                      tmp_path):
    for export in (classifier_export, language_model_export, translator_export):
        model = type(export.model).from_config(export.model.get_config())
        model.set_weights(export.model.get_weights())
        if export.kind == "classifier":
            endpoints = classifier_endpoints(model, export.tokenizers["tokenizer"], ["negative", "positive"])
        elif export.kind == "language_model":
            endpoints = language_model_endpoints(model, export.tokenizers["tokenizer"], max_new_tokens=NEW)
        else:
            endpoints = translator_endpoints(model, export.tokenizers["source"], export.tokenizers["target"])
        path = export_for_serving(model, tmp_path / export.kind, endpoints, quantize="int8")
        assert any(getattr(layer, "quantization_mode", None) == "int8" for layer in model._flatten_layers())
        size = sum(f.stat().st_size for f in (path / "variables").rglob("*"))
        float_size = sum(f.stat().st_size for f in (export.path / "variables").rglob("*"))
        assert size < 0.6 * float_size, (export.kind, size, float_size)
        strings = ["a gripping, beautifully acted film", "to be, or not", "hola mundo"]
        served = load_signature(path)(**{export.input_name: tf.constant(strings)})
        quantized = dataclasses.replace(export, model=model)
        if export.kind == "classifier":
            np.testing.assert_allclose(served["probabilities"].numpy(), keras_reference(quantized, strings), atol=1e-5)
        else:
            assert _texts(served[export.output_name].numpy()) == keras_reference(quantized, strings)


def test_bad_quantize_is_an_error_naming_it(classifier_export, tmp_path):
    endpoints = classifier_endpoints(classifier_export.model, classifier_export.tokenizers["tokenizer"])
    with pytest.raises(ValueError, match=r"quantize='int4'"):
        export_for_serving(classifier_export.model, tmp_path / "m", endpoints, quantize="int4")


# ------------------------------------------------------------------ docs/serving.md
DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"


def test_batching_files_match_the_xla_buckets():
    """Each task's --batching_parameters_file: known fields, sizes = the default XLA batch buckets."""
    from kerasformers.export import DEFAULT_BATCH_BUCKETS

    for task in ("classification", "language_model", "translation"):
        lines = [line for line in (DOCS / "batching" / f"{task}.config").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
        fields = {}
        for line in lines:
            match = re.fullmatch(r"(\w+)(?: \{ value: (\d+) \}|: (\w+))", line.strip())
            assert match, line
            fields.setdefault(match.group(1), []).append(match.group(2) or match.group(3))
        assert set(fields) <= {"max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
                               "allowed_batch_sizes", "pad_variable_length_inputs"}
        allowed = [int(v) for v in fields["allowed_batch_sizes"]]
        assert tuple(allowed) == DEFAULT_BATCH_BUCKETS and allowed == sorted(allowed)
        assert int(fields["max_batch_size"][0]) == allowed[-1]  # TF Serving: the last allowed size is the max
        assert fields["pad_variable_length_inputs"] == ["false"]


def test_batching_request_of_the_docs_sends_every_input(language_model_export):
    """The full request of docs/serving.md (every input, one value per prompt) is greedy and works."""
    body = json.loads(re.search(r"```json\n(.+?)\n```", (DOCS / "serving.md").read_text(), flags=re.S).group(1))
    loaded = load_for_serving(language_model_export.path)
    _, feed = rest_feed(loaded, body)
    assert set(body["inputs"]) == set(loaded.signatures["serving_default"].structured_input_signature[1])
    assert all(len(value) == len(body["inputs"]["prompt"]) for value in body["inputs"].values())
    body["inputs"]["max_new_tokens"] = [NEW]  # the fixture's cap
    assert _texts(rest_predict(loaded, body)["text"]) == keras_reference(language_model_export, feed["prompt"])


def test_longest_max_new_tokens_leaves_one_prompt_bucket(language_model_export, tmp_path):
    """max_new_tokens = max_length - 1: prompts keep their last id, one decoding loop (regression: the bucket
    comparison was float32 against int32 with no smaller bucket, and the export failed)."""
    export = language_model_export
    longest = export.model.max_length - 1
    endpoints = language_model_endpoints(export.model, export.tokenizers["tokenizer"], max_new_tokens=longest)
    path = export_for_serving(export.model, tmp_path / "lm", endpoints)
    call = load_signature(path, "token_ids")
    prompt = [[5, 6, 7]]  # keeps its last id, 7
    out = call(prompt_ids=tf.constant(prompt, tf.int32), max_new_tokens=tf.constant([4]))
    expected = generate(export.model, np.array([[7]], "int32"), max_new_tokens=4)
    np.testing.assert_array_equal(out["token_ids"].numpy()[0, :5], np.asarray(expected)[0, :5])
