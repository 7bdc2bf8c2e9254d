import keras
import keras_hub
import numpy as np
import pytest

from keras import ops

from kerasformers.training import MaskedAccuracy, MaskedSparseCategoricalCrossentropy, Perplexity

RNG = np.random.default_rng(3)


def masked_nll(labels, logits):
    """Sum of float64 negative log-likelihoods of non-padding tokens, and their count."""
    logits = np.asarray(logits, np.float64)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], axis=-1)[..., 0]
    keep = labels != 0
    return nll[keep].sum(), keep.sum()


def batches():
    """Two batches with different lengths and amounts of padding."""
    a = RNG.integers(1, 9, size=(3, 4))
    a[0, 2:] = 0
    b = RNG.integers(1, 9, size=(2, 6))
    b[1, 1:] = 0
    return [(a, RNG.normal(size=(3, 4, 9)).astype("float32")), (b, RNG.normal(size=(2, 6, 9)).astype("float32"))]


def test_perplexity_is_exp_of_the_masked_mean_nll_over_batches():
    perplexity = Perplexity()
    total, count = 0.0, 0
    for labels, logits in batches():
        perplexity.update_state(labels, logits)
        s, n = masked_nll(labels, logits)
        total, count = total + s, count + n
    np.testing.assert_allclose(float(perplexity.result()), np.exp(total / count), rtol=1e-5)
    # Without the mask (keras_hub's own default) the padding tokens would count.
    assert isinstance(perplexity, keras_hub.metrics.Perplexity)
    (labels, logits), _ = batches()
    unmasked = keras_hub.metrics.Perplexity(from_logits=True)
    unmasked.update_state(labels, logits)
    s, n = masked_nll(labels, logits)
    assert abs(float(unmasked.result()) - np.exp(s / n)) > 0.1


def test_perplexity_ignores_padding_columns_and_takes_bfloat16():
    (labels, logits), _ = batches()
    padded_labels = np.pad(labels, ((0, 0), (0, 3)))
    padded_logits = np.concatenate([logits, RNG.normal(size=(3, 3, 9)).astype("float32") * 4], axis=1)
    plain, padded, half = Perplexity(), Perplexity(), Perplexity()
    plain.update_state(labels, logits)
    padded.update_state(padded_labels, padded_logits)
    half.update_state(labels, keras.ops.cast(logits, "bfloat16"))
    s, n = masked_nll(labels, logits)
    np.testing.assert_allclose(float(plain.result()), np.exp(s / n), rtol=1e-5)
    np.testing.assert_allclose(float(padded.result()), float(plain.result()), rtol=1e-6)
    assert keras.backend.standardize_dtype(half.result().dtype) == "float32"
    np.testing.assert_allclose(float(half.result()), float(plain.result()), rtol=3e-2)


def test_perplexity_of_uniform_logits_is_the_vocabulary_size():
    perplexity = Perplexity()
    perplexity.update_state(np.array([[1, 2, 3, 0]]), np.zeros((1, 4, 11), "float32"))
    np.testing.assert_allclose(float(perplexity.result()), 11.0, rtol=1e-6)
    perplexity.reset_state()
    assert float(perplexity.result()) == 0.0  # keras_hub's value before any token


def test_masked_accuracy_accumulates_tokens_not_batch_means():
    accuracy = MaskedAccuracy()
    correct, count = 0, 0
    for labels, logits in batches():
        accuracy.update_state(labels, logits)
        keep = labels != 0
        correct += np.sum(logits.argmax(-1)[keep] == labels[keep])
        count += keep.sum()
    assert count == 17
    np.testing.assert_allclose(float(accuracy.result()), correct / count, rtol=1e-6)
    accuracy.reset_state()
    assert float(accuracy.result()) == 0.0


def test_masked_accuracy_sample_weight_and_exact_value():
    labels = np.array([[2, 1, 0, 0], [1, 1, 1, 0]])
    logits = np.eye(3, dtype="float32")[np.array([[2, 0, 1, 1], [1, 0, 0, 2]])]
    accuracy = MaskedAccuracy()
    accuracy.update_state(labels, logits)
    assert float(accuracy.result()) == pytest.approx(2 / 5)  # padding rows predicted wrong: ignored
    weighted = MaskedAccuracy()
    weighted.update_state(labels, logits, sample_weight=np.array([1.0, 0.0]))
    assert float(weighted.result()) == pytest.approx(1 / 2)


def test_metric_configs_round_trip():
    accuracy = MaskedAccuracy(pad_id=3, name="acc")
    assert accuracy.get_config()["pad_id"] == 3
    assert MaskedAccuracy.from_config(accuracy.get_config()).get_config() == accuracy.get_config()
    perplexity = Perplexity()
    config = perplexity.get_config()
    assert config["from_logits"] is True and config["mask_token_id"] == 0
    assert Perplexity.from_config(config).get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(perplexity))
    assert type(restored) is Perplexity


def test_metrics_ignore_positions_the_model_output_masks_as_the_loss_does():
    """A left-padded language model: input 0 is padding but label 0 is a real token; the output's mask drops it."""
    from keras.src.backend import set_keras_mask  # how a masking model marks its output

    labels = np.array([[3, 1, 2]])
    logits = np.log(np.array([[[0.1, 0.2, 0.3, 0.4], [0.1, 0.6, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]]]))
    output = ops.convert_to_tensor(logits, "float32")
    set_keras_mask(output, ops.convert_to_tensor([[False, True, True]]))
    accuracy, perplexity = MaskedAccuracy(), Perplexity()
    accuracy.update_state(labels, output)
    perplexity.update_state(labels, output)
    assert float(accuracy.result()) == 0.5  # position 1 right, position 2 a tie resolved to class 0: wrong
    np.testing.assert_allclose(float(perplexity.result()), np.exp(-(np.log(0.6) + np.log(0.25)) / 2), rtol=1e-5)
    loss = MaskedSparseCategoricalCrossentropy()(labels, output)
    np.testing.assert_allclose(float(loss), -(np.log(0.6) + np.log(0.25)) / 2, rtol=1e-5)


def test_perplexity_weighs_every_token_of_a_sequence_by_its_sample_weight():
    labels = np.array([[1, 2, 0], [3, 0, 0]])
    logits = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    weighted = Perplexity()
    weighted.update_state(labels, logits, sample_weight=np.array([1.0, 3.0]))
    per_token = Perplexity()
    per_token.update_state(labels, logits, sample_weight=np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]]))
    np.testing.assert_allclose(float(weighted.result()), float(per_token.result()), rtol=1e-6)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.array([log_probs[0, 0, 1], log_probs[0, 1, 2], log_probs[1, 0, 3]])
    np.testing.assert_allclose(float(weighted.result()), np.exp((nll * [1, 1, 3]).sum() / 5), rtol=1e-5)
    unmasked, unmasked_per_token = Perplexity(mask_token_id=None), Perplexity(mask_token_id=None)
    unmasked.update_state(labels, logits, sample_weight=np.array([1.0, 3.0]))  # every token counts, padding too
    unmasked_per_token.update_state(labels, logits, sample_weight=np.repeat([[1.0], [3.0]], 3, axis=1))
    np.testing.assert_allclose(float(unmasked.result()), float(unmasked_per_token.result()), rtol=1e-6)
