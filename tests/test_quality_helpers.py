"""`benchmarks/quality.py`'s weight averaging: `averaged_weights` puts Keras' moving average in, then takes it out."""

import pathlib
import sys

import keras
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "benchmarks"))

import quality  # noqa: E402

MOMENTUM = 0.9


class Record(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([keras.ops.convert_to_numpy(v) for v in self.model.trainable_variables])


def test_averaged_weights_hold_the_moving_average_then_the_training_weights():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=MOMENTUM), loss="mse")
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    record = Record()
    model.fit(x, x[:, :2] * 2.0, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    # Keras' average: the first step's weights, then momentum * average + (1 - momentum) * weights
    expected = record.weights[0]
    for step in record.weights[1:]:
        expected = [MOMENTUM * a + (1 - MOMENTUM) * w for a, w in zip(expected, step)]
    training = record.weights[-1]
    with quality.averaged_weights(model):
        for value, average, last in zip(model.trainable_variables, expected, training):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(value), average, rtol=1e-5, atol=1e-6)
            assert not np.allclose(average, last)  # the average is not the last weights
    for value, last in zip(model.trainable_variables, training):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), last)


def test_averaged_weights_leave_a_model_without_an_average_alone():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", loss="mse")
    before = model.get_weights()
    with quality.averaged_weights(model):
        pass
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
