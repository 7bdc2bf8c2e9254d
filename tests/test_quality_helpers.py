"""`benchmarks/quality.py`'s weight averaging: `averaged_weights` puts Keras' moving average in, then takes it out."""

import pathlib
import sys

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import quality  # noqa: E402

MOMENTUM = 0.9


def values(model):
    return [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]


class Probe(keras.callbacks.Callback):
    """Records the weights after every step; at step `at` also what `averaged_weights` shows, and after it.

    Mid-training, as `TimeBudget` evaluates (at its end `fit` itself puts the average into the model)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.weights = at, []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(values(self.model))
        if batch == self.at:
            with quality.averaged_weights(self.model):
                self.inside = values(self.model)
            self.after = values(self.model)


def test_averaged_weights_hold_the_moving_average_then_the_training_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=MOMENTUM), loss="mse")
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    probe = Probe(at=4)
    model.fit(x, x[:, :2] * 2.0, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[probe])
    # Keras' average: the first step's weights, then momentum * average + (1 - momentum) * weights
    expected = probe.weights[0]
    for step in probe.weights[1:5]:
        expected = [MOMENTUM * a + (1 - MOMENTUM) * w for a, w in zip(expected, step)]
    training = probe.weights[4]
    for inside, average, last in zip(probe.inside, expected, training):
        np.testing.assert_allclose(inside, average, rtol=1e-5, atol=1e-6)
        assert not np.allclose(average, last)  # the average is not the last weights
    for after, last in zip(probe.after, training):
        np.testing.assert_array_equal(after, last)
    assert not np.allclose(probe.weights[5][0], training[0])  # training went on from the training weights


def test_averaged_weights_leave_a_model_without_an_average_alone():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", loss="mse")
    before = model.get_weights()
    with quality.averaged_weights(model):
        pass
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
