"""`fit` / `evaluate` run the output head and the loss on non-padding targets only: same loss, same gradients."""

import keras
import numpy as np
import pytest

import kerasformers as kf
from kerasformers.training import MaskedAccuracy, MaskedSparseCategoricalCrossentropy, Perplexity

TOLERANCE = 1e-5  # float32, same weights, a sum over the same tokens in another order

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the TensorFlow backend's path")


def language_model_batch(padding_id=0):
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 40, (4, 9))
    ids[1, 5:] = 0  # right padding
    ids[2, :3] = 0  # left padding: input 2 is padding, label 2 is a real token
    model = kf.TransformerLanguageModel(vocabulary_size=40, max_length=16, num_layers=2, model_dim=32, num_heads=4,
                                        hidden_dim=64, dropout=0.0, padding_id=padding_id)
    return model, {"token_ids": ids[:, :-1]}, ids[:, 1:]


def translator_batch():
    rng = np.random.default_rng(1)
    source, target = rng.integers(3, 50, (4, 7)), rng.integers(3, 40, (4, 9))
    source[0, 4:] = 0
    source[2, 2:] = 0
    target[1, 3:] = 0
    target[3, 6:] = 0
    model = kf.TransformerSeq2Seq.from_preset(
        "tiny", encoder_vocabulary_size=50, decoder_vocabulary_size=40, max_length=12, num_encoder_layers=1,
        num_decoder_layers=2, model_dim=32, hidden_dim=64, dropout=0.0,
    )
    return model, {"encoder_token_ids": source, "decoder_token_ids": target[:, :-1]}, target[:, 1:]


BATCHES = {"language_model": language_model_batch, "translator": translator_batch}


def one_step(make, skip, sample_weight=None, loss=None, metrics=None, **compile_options):
    """Loss, metrics and gradients (`before - after` one SGD(1) step) of one `train_on_batch`, then `evaluate`."""
    keras.utils.set_random_seed(0)
    model, x, y = make()
    model.skip_padding_in_loss = skip
    model.compile(optimizer=keras.optimizers.SGD(1.0),
                  loss=loss or MaskedSparseCategoricalCrossentropy(label_smoothing=0.1),
                  metrics=metrics or [MaskedAccuracy(name="accuracy"), Perplexity(name="perplexity")], **compile_options)
    before = [w.numpy().copy() for w in model.trainable_weights]
    trained = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)
    gradients = [b - w.numpy() for b, w in zip(before, model.trainable_weights)]
    evaluated = model.evaluate(x, y, sample_weight=sample_weight, verbose=0, return_dict=True)
    return trained, evaluated, gradients


def record_heads(model):
    """Wraps `model.logits` (called by the gathered path only) to record the shapes of its inputs."""
    shapes, logits = [], model.logits

    def recording(hidden):
        shapes.append(tuple(hidden.shape))
        return logits(hidden)

    model.logits = recording
    return shapes


@pytest.mark.parametrize("task", sorted(BATCHES))
@pytest.mark.parametrize("sample_weight", [None, np.array([1.0, 2.0, 0.5, 0.0])], ids=["unweighted", "weighted"])
def test_loss_metrics_and_gradients_equal_the_masked_loss_on_every_position(task, sample_weight):
    full_trained, full_evaluated, full_gradients = one_step(BATCHES[task], skip=False, sample_weight=sample_weight)
    trained, evaluated, gradients = one_step(BATCHES[task], skip=True, sample_weight=sample_weight)
    for key in ("loss", "accuracy", "perplexity"):
        np.testing.assert_allclose(trained[key], full_trained[key], rtol=TOLERANCE, atol=TOLERANCE, err_msg=key)
        np.testing.assert_allclose(evaluated[key], full_evaluated[key], rtol=TOLERANCE, atol=TOLERANCE, err_msg=key)
    assert len(gradients) == len(full_gradients)
    for ours, full in zip(gradients, full_gradients):
        np.testing.assert_allclose(ours, full, atol=TOLERANCE)
    assert max(float(np.abs(g).max()) for g in full_gradients) > 1e-3  # the step did change the weights


def test_the_head_runs_on_the_real_target_positions_only():
    model, x, y = translator_batch()
    model.compile(optimizer="sgd", loss=MaskedSparseCategoricalCrossentropy())
    shapes = record_heads(model)
    model.train_on_batch(x, y)
    model.evaluate(x, y, verbose=0)
    assert shapes == [(1, None, 32), (1, None, 32)]  # (1, real tokens, model_dim), traced once per step function


def test_outside_fit_the_model_returns_every_position():
    model, x, y = translator_batch()
    model.compile(optimizer="sgd", loss=MaskedSparseCategoricalCrossentropy())
    model.train_on_batch(x, y)
    assert model(x, training=True).shape == (4, 8, 40)
    assert model.predict(x, verbose=0).shape == (4, 8, 40)


@pytest.mark.parametrize(
    "case",
    ["plain keras loss", "pad_id None", "jit_compile", "switched off"],
)
def test_the_full_logits_are_used_when_the_gathered_path_would_change_the_result(case):
    model, x, y = language_model_batch()
    options = {"loss": MaskedSparseCategoricalCrossentropy()}
    if case == "plain keras loss":  # its mean counts padding positions: gathering would change it
        options["loss"] = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif case == "pad_id None":
        options["loss"] = MaskedSparseCategoricalCrossentropy(pad_id=None)
    elif case == "jit_compile":  # XLA needs static shapes; the number of real tokens changes per batch
        options["jit_compile"] = True
    else:
        model.skip_padding_in_loss = False
    model.compile(optimizer="sgd", **options)
    shapes = record_heads(model)
    model.train_on_batch(x, y)
    assert shapes == []


def test_a_batch_of_padding_only_gives_a_zero_loss_as_the_masked_loss_does():
    model, x, y = language_model_batch()
    model.compile(optimizer="sgd", loss=MaskedSparseCategoricalCrossentropy(), metrics=[MaskedAccuracy(name="accuracy")])
    result = model.train_on_batch(x, np.zeros_like(y), return_dict=True)
    assert result == {"loss": 0.0, "accuracy": 0.0}



def test_inputs_the_model_does_not_take_give_the_full_graph_s_error():
    model, x, y = translator_batch()
    model.compile(optimizer="sgd", loss=MaskedSparseCategoricalCrossentropy())
    with pytest.raises(ValueError, match="structure of `inputs` doesn't match"):
        model.train_on_batch([x["encoder_token_ids"], x["decoder_token_ids"]], y)
