"""The models' fused one-token step equals `call_with_cache`, and the decoding loop runs fewer ops with it."""

import collections
import doctest

import keras
import numpy as np
import pytest
from keras import ops

import kerasformers as kf
from kerasformers.generation import build_generate_function, build_translate_function, generate, resolve_sampler, translate

TOLERANCE = 1e-5  # float32 logits, same weights


def small_lm(**options):
    keras.utils.set_random_seed(0)
    options = {"num_layers": 2, "model_dim": 32, "num_heads": 4, "hidden_dim": 64, **options}
    return kf.TransformerLanguageModel(vocabulary_size=40, max_length=16, **options)


def small_seq2seq(**options):
    keras.utils.set_random_seed(0)
    return kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=50, decoder_vocabulary_size=40, max_length=12, num_encoder_layers=1,
        num_decoder_layers=2, model_dim=32, hidden_dim=64, **options,
    )


def assert_steps_equal(model, cache, tokens, start):
    """Feeds `tokens[:, i]` at positions `start + i` through both paths and compares logits and caches."""
    step = model.token_step(cache)
    assert step is not None
    fused = step.cache
    for i in range(tokens.shape[1]):
        expected, cache = model.call_with_cache(tokens[:, i: i + 1], cache, start + i)
        got, fused = step(tokens[:, i], fused, start + i)
        np.testing.assert_allclose(ops.convert_to_numpy(got), ops.convert_to_numpy(expected)[:, 0], atol=TOLERANCE)


@pytest.mark.parametrize("options", [
    {},
    {"normalize_first": False, "activation": "relu"},
    {"tie_embeddings": False, "positional": "sinusoidal"},
])
def test_language_model_step_equals_call_with_cache(options):
    model = small_lm(**options)
    prompt = np.array([[5, 6, 7], [8, 9, 10]])
    _, cache = model.call_with_cache(prompt, model.init_cache(2, 10), 0)
    assert_steps_equal(model, cache, np.array([[11, 12, 13, 14], [15, 16, 17, 18]]), start=3)


def test_language_model_step_masks_the_padding_id_like_call_with_cache():
    model = small_lm(padding_id=3)
    _, cache = model.call_with_cache(np.array([[5, 6], [8, 9]]), model.init_cache(2, 8), 0)
    assert_steps_equal(model, cache, np.array([[11, 3, 13], [3, 16, 3]]), start=2)  # padding fed mid-sequence


def test_seq2seq_step_equals_call_with_cache_with_padding_and_empty_sources():
    model = small_seq2seq()
    sources = np.array([[5, 6, 7, 0], [8, 0, 0, 0], [0, 0, 0, 0]])  # the last source has no token
    cache = model.init_cache(*model.encode(sources), max_length=6)
    targets = np.array([[2, 11, 12, 0, 13], [2, 0, 14, 15, 16], [2, 17, 0, 0, 0]])
    assert_steps_equal(model, cache, targets, start=0)


@pytest.mark.parametrize("dtype", ["mixed_bfloat16", "int8"])
def test_no_fused_step_for_bfloat16_or_quantized_models_and_generation_still_works(dtype):
    if dtype == "int8":
        model = small_lm()
        model.quantize("int8")
    else:
        keras.utils.set_random_seed(0)
        model = kf.TransformerLanguageModel(vocabulary_size=40, max_length=16, num_layers=1, model_dim=32,
                                            num_heads=4, hidden_dim=64, dtype=dtype)
    _, cache = model.call_with_cache(np.array([[5, 6]]), model.init_cache(1, 8), 0)
    assert model.token_step(cache) is None
    tokens = generate(model, np.array([[5, 6]]), max_new_tokens=3)
    reference = generate(model, np.array([[5, 6]]), max_new_tokens=3, use_cache=False)
    np.testing.assert_array_equal(tokens, reference)


def test_fused_generation_equals_recomputing_generation():
    model = small_lm(padding_id=0)
    prompts = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    for sampler in ({}, {"sampler": "top_k", "top_k": 5, "seed": 4}):
        np.testing.assert_array_equal(generate(model, prompts, max_new_tokens=5, **sampler),
                                      generate(model, prompts, max_new_tokens=5, use_cache=False, **sampler))
    seq2seq = small_seq2seq()
    sources = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    for sampler in ({}, {"sampler": "beam", "num_beams": 3}):
        np.testing.assert_array_equal(translate(seq2seq, sources, max_length=6, **sampler),
                                      translate(seq2seq, sources, max_length=6, use_cache=False, **sampler))


def loop_bodies(model):
    """Op counts of the bodies of the greedy decoding loop, traced as an (uncompiled) graph.

    The seeded sampler's graph holds two loops (greedy rows only, or sampling).
    """
    import tensorflow as tf

    run = build_generate_function(model, resolve_sampler("greedy")[1](), prompt_length=4, max_new_tokens=8)
    graph = tf.function(run).get_concrete_function(
        tf.TensorSpec([None, 12], tf.int32), tf.TensorSpec([None], tf.int32)).graph.as_graph_def()
    counts = [collections.Counter(n.op for n in f.node_def) for f in graph.library.function
              if "while_body" in f.signature.name]
    assert len(counts) == 2, len(counts)
    return counts


def loop_ops(model):
    """Non-constant ops in the body of the greedy loop (the one of the two with fewer ops)."""
    return min(sum(body.values()) - body["Const"] for body in loop_bodies(model))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts TensorFlow graph ops")
def test_the_fused_loop_runs_under_half_the_ops_per_token(monkeypatch):
    model = small_lm()
    fused = loop_ops(model)
    monkeypatch.setattr(model, "token_step", lambda cache: None)  # the layers' call_with_cache
    layers = loop_ops(model)
    assert fused < 0.5 * layers, (fused, layers)


def slow_ops_without_xla(body):
    # Without XLA (TF Serving's default), XlaDynamicUpdateSlice runs through XLA's on-demand launch, and oneDNN's
    # BatchMatMul and Softmax cost tens of microseconds each on one token: together most of a step's time.
    return sorted(op for op in body if op.startswith(("Xla", "BatchMatMul", "Softmax")))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reads TensorFlow graph ops")
def test_the_layers_loop_has_no_xla_only_op(monkeypatch):
    # The loop of models without a fused step (bfloat16, int8): call_with_cache writes one token by scatter.
    model = small_lm()
    monkeypatch.setattr(model, "token_step", lambda cache: None)
    for body in loop_bodies(model):
        assert not [op for op in body if op.startswith("Xla")]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reads TensorFlow graph ops")
@pytest.mark.parametrize("padding_id", [None, 0])
def test_the_fused_loops_have_no_xla_only_op_and_no_batched_matmul_or_softmax_kernel(padding_id):
    greedy, sampling = sorted(loop_bodies(small_lm(padding_id=padding_id)), key=lambda body: sum(body.values()))
    assert not slow_ops_without_xla(greedy)
    assert slow_ops_without_xla(sampling) == ["Softmax"]  # top-p's probabilities over the vocabulary, once a step
    import tensorflow as tf

    for sampler in ("greedy", "beam"):
        run = build_translate_function(small_seq2seq(), resolve_sampler(sampler, num_beams=2)[1](), max_length=6)
        graph = tf.function(run).get_concrete_function(tf.TensorSpec([None, 5], tf.int32)).graph.as_graph_def()
        bodies = [collections.Counter(n.op for n in f.node_def) for f in graph.library.function
                  if "while_body" in f.signature.name]
        assert bodies and not any(op.startswith("Xla") for body in bodies for op in body), sampler
        assert not slow_ops_without_xla(min(bodies, key=lambda body: sum(body.values()))), sampler


def test_generation_retraces_after_quantize_and_enable_lora():
    prompt = np.array([[5, 6, 7]])
    model, fresh = small_lm(), small_lm()  # same seed: same weights
    generate(model, prompt, max_new_tokens=4)  # traced and stored with the float32 weights
    model.quantize("int8")
    fresh.quantize("int8")
    np.testing.assert_array_equal(generate(model, prompt, max_new_tokens=4),
                                  generate(fresh, prompt, max_new_tokens=4))
    lora = small_lm()
    before = generate(lora, prompt, max_new_tokens=4)
    kf.models.enable_lora(lora, 2)
    rng = np.random.default_rng(0)
    for variable in lora.trainable_variables:  # random LoRA factors (a constant update would be cancelled by
        variable.assign(rng.normal(size=variable.shape).astype("float32"))  # the zero-mean LayerNorm outputs)
    after = generate(lora, prompt, max_new_tokens=4)
    np.testing.assert_array_equal(after, generate(lora, prompt, max_new_tokens=4, use_cache=False))
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("method", [kf.TransformerLanguageModel.token_step, kf.TransformerSeq2Seq.token_step])
def test_docstring_examples_run(method):
    globs = {"np": np, "TransformerLanguageModel": kf.TransformerLanguageModel,
             "TransformerSeq2Seq": kf.TransformerSeq2Seq}
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(method, method.__qualname__, globs=globs):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0
