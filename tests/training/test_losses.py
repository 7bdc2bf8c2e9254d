import keras
import numpy as np
import pytest

from kerasformers.training import MaskedAccuracy, MaskedSparseCategoricalCrossentropy, Perplexity

VOCAB = 7
RNG = np.random.default_rng(0)
# Two sequences: 3 and 5 real tokens, the first padded with 0 (= padding).
LABELS = np.array([[3, 1, 6, 0, 0], [2, 2, 5, 4, 1]])
LOGITS = RNG.normal(size=(2, 5, VOCAB)).astype("float32")


def numpy_loss(labels, logits, smoothing, pad_id=0, sample_weight=None):
    """Smoothed cross-entropy in float64, averaged over non-padding tokens."""
    logits = np.asarray(logits, np.float64)
    log_probs = logits - logits.max(-1, keepdims=True)
    log_probs = log_probs - np.log(np.exp(log_probs).sum(-1, keepdims=True))
    num_classes = logits.shape[-1]
    target = (1 - smoothing) * np.eye(num_classes)[labels] + smoothing / num_classes
    per_token = -(target * log_probs).sum(-1)
    mask = (labels != pad_id).astype(np.float64)
    weights = mask if sample_weight is None else mask * np.asarray(sample_weight, np.float64)[:, None]
    return (per_token * weights).sum() / mask.sum()


def pad(labels, logits, extra):
    """Appends `extra` padding columns (label 0) with random logits."""
    labels = np.concatenate([labels, np.zeros((labels.shape[0], extra), labels.dtype)], axis=1)
    noise = RNG.normal(size=(logits.shape[0], extra, logits.shape[2])).astype(logits.dtype) * 5
    return labels, np.concatenate([logits, noise], axis=1)


def value(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_equals_float64_smoothed_cross_entropy(smoothing):
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=smoothing)
    np.testing.assert_allclose(value(loss(LABELS, LOGITS)), numpy_loss(LABELS, LOGITS, smoothing), rtol=1e-5)


def test_probabilities_input_matches_logits():
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(LOGITS))
    with_probs = MaskedSparseCategoricalCrossentropy(from_logits=False, label_smoothing=0.1)
    np.testing.assert_allclose(value(with_probs(LABELS, probs)), numpy_loss(LABELS, LOGITS, 0.1), rtol=1e-4)


def test_without_smoothing_equals_keras_on_non_padding_tokens():
    ours = value(MaskedSparseCategoricalCrossentropy()(LABELS, LOGITS))
    keep = LABELS != 0
    reference = keras.losses.sparse_categorical_crossentropy(LABELS[keep], LOGITS[keep], from_logits=True)
    np.testing.assert_allclose(ours, float(np.mean(keras.ops.convert_to_numpy(reference))), rtol=1e-6)
    # ... and differs from Keras' unmasked mean, which counts padding tokens.
    unmasked = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(LABELS, LOGITS)
    assert abs(ours - value(unmasked)) > 1e-3


def test_padding_leaves_loss_and_accuracy_unchanged():
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1)
    padded_labels, padded_logits = pad(LABELS, LOGITS, extra=4)
    np.testing.assert_allclose(value(loss(padded_labels, padded_logits)), value(loss(LABELS, LOGITS)), rtol=1e-6)
    accuracy, padded_accuracy = MaskedAccuracy(), MaskedAccuracy()
    accuracy.update_state(LABELS, LOGITS)
    padded_accuracy.update_state(padded_labels, padded_logits)
    expected = np.mean(LOGITS.argmax(-1)[LABELS != 0] == LABELS[LABELS != 0])
    assert value(accuracy.result()) == pytest.approx(expected)
    assert value(padded_accuracy.result()) == pytest.approx(expected)


def test_all_padding_batch_gives_zero_not_nan():
    loss = MaskedSparseCategoricalCrossentropy()
    assert value(loss(np.zeros((2, 3), "int32"), LOGITS[:, :3])) == 0.0


def test_sequence_sample_weight_is_broadcast_over_length():
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1)
    weights = np.array([1.0, 3.0], "float32")
    expected = numpy_loss(LABELS, LOGITS, 0.1, sample_weight=weights)
    np.testing.assert_allclose(value(loss(LABELS, LOGITS, sample_weight=weights)), expected, rtol=1e-5)
    per_token = np.broadcast_to(weights[:, None], LABELS.shape)
    np.testing.assert_allclose(value(loss(LABELS, LOGITS, sample_weight=per_token)), expected, rtol=1e-5)


def test_reduction_none_and_sum():
    per_token = keras.ops.convert_to_numpy(
        MaskedSparseCategoricalCrossentropy(label_smoothing=0.1, reduction=None)(LABELS, LOGITS)
    )
    assert per_token.shape == LABELS.shape
    assert np.all(per_token[LABELS == 0] == 0) and np.all(per_token[LABELS != 0] > 0)
    total = value(MaskedSparseCategoricalCrossentropy(label_smoothing=0.1, reduction="sum")(LABELS, LOGITS))
    np.testing.assert_allclose(total, numpy_loss(LABELS, LOGITS, 0.1) * np.sum(LABELS != 0), rtol=1e-5)


@pytest.mark.parametrize("label_shape", [(6,), (6, 1)])
def test_classification_labels_have_no_padding(label_shape):
    labels = np.array([0, 1, 0, 3, 2, 0]).reshape(label_shape)  # class 0 is a real class here
    logits = RNG.normal(size=(6, 4)).astype("float32")
    ours = value(MaskedSparseCategoricalCrossentropy(label_smoothing=0.2)(labels, logits))
    reference = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)(
        np.eye(4)[labels.reshape(-1)], logits
    )
    np.testing.assert_allclose(ours, value(reference), rtol=1e-5)
    accuracy = MaskedAccuracy()
    accuracy.update_state(labels, logits)
    assert value(accuracy.result()) == pytest.approx(np.mean(logits.argmax(-1) == labels.reshape(-1)))


def test_bfloat16_logits_give_a_float32_loss():
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1)
    logits16 = keras.ops.cast(LOGITS, "bfloat16")
    result = loss(LABELS, logits16)
    assert keras.backend.standardize_dtype(result.dtype) == "float32"
    rounded = keras.ops.convert_to_numpy(keras.ops.cast(logits16, "float32"))
    np.testing.assert_allclose(value(result), numpy_loss(LABELS, rounded, 0.1), rtol=1e-5)


def token_model(mask_zero, learning_rate=1e-3):
    """Per-token logits: padding columns cannot change the other tokens' logits."""
    inputs = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 8, mask_zero=mask_zero)(inputs)
    outputs = keras.layers.Dense(VOCAB)(keras.layers.Dense(8, activation="relu")(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=MaskedSparseCategoricalCrossentropy(label_smoothing=0.1),
        metrics=[MaskedAccuracy(), Perplexity()],
    )
    return model


@pytest.mark.parametrize("mask_zero", [False, True])
def test_evaluate_is_unchanged_by_padding(mask_zero):
    keras.utils.set_random_seed(1)
    model = token_model(mask_zero)
    x = RNG.integers(1, VOCAB, size=(4, 6))
    x[0, 3:] = 0
    x[2, 5:] = 0
    y = np.where(x != 0, RNG.integers(1, VOCAB, size=x.shape), 0)
    x_padded = np.concatenate([x, np.zeros((4, 5), x.dtype)], axis=1)
    y_padded = np.concatenate([y, np.zeros((4, 5), y.dtype)], axis=1)
    plain = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    padded = model.evaluate(x_padded, y_padded, batch_size=4, verbose=0, return_dict=True)
    for name in ("loss", "masked_accuracy", "perplexity"):
        np.testing.assert_allclose(padded[name], plain[name], rtol=1e-5, err_msg=name)
    logits = model.predict(x, verbose=0)
    np.testing.assert_allclose(plain["loss"], numpy_loss(y, logits, 0.1), rtol=1e-5)
    unsmoothed_nll = numpy_loss(y, logits, 0.0)
    np.testing.assert_allclose(plain["perplexity"], np.exp(unsmoothed_nll), rtol=1e-5)
    keep = y != 0
    np.testing.assert_allclose(plain["masked_accuracy"], np.mean(logits.argmax(-1)[keep] == y[keep]), rtol=1e-6)


def test_fit_lowers_the_masked_loss():
    keras.utils.set_random_seed(2)
    model = token_model(mask_zero=False, learning_rate=0.03)
    x = RNG.integers(1, VOCAB, size=(32, 6))
    x[:, 4:] = 0
    y = np.where(x != 0, (x + 1) % VOCAB + (x + 1 == VOCAB), 0)  # next id, never 0
    history = model.fit(x, y, batch_size=8, epochs=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_config_round_trip_and_errors():
    loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1, pad_id=5, from_logits=False, reduction="sum")
    config = loss.get_config()
    for key in ("from_logits", "label_smoothing", "pad_id", "reduction", "name"):
        assert key in config
    assert MaskedSparseCategoricalCrossentropy.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="Received: label_smoothing=1.0"):
        MaskedSparseCategoricalCrossentropy(label_smoothing=1.0)
    with pytest.raises(ValueError, match="Received: pad_id='0'"):
        MaskedSparseCategoricalCrossentropy(pad_id="0")
    with pytest.raises(ValueError, match=r"y_true.shape=\(2, 4\), y_pred.shape=\(2, 5, 7\)"):
        MaskedSparseCategoricalCrossentropy()(LABELS[:, :4], LOGITS)


def test_custom_pad_id():
    labels = np.where(LABELS == 0, -100, LABELS)  # the Hugging Face convention
    loss = MaskedSparseCategoricalCrossentropy(pad_id=-100, label_smoothing=0.1)
    np.testing.assert_allclose(value(loss(labels, LOGITS)), numpy_loss(LABELS, LOGITS, 0.1), rtol=1e-5)
