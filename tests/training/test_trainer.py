"""`training.fit` builds the optimizer before `model.fit`: one trace of the training step, the same training."""

import keras
import numpy as np
import pytest

from kerasformers.training import fit
from kerasformers.training.trainer import build_optimizer

X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = X.sum(axis=1, keepdims=True)


class CountingModel(keras.Sequential):
    """Counts the Python calls of `train_step`: one per trace of the compiled training step."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.traces = 0

    def train_step(self, *args, **kwargs):
        self.traces += 1
        return super().train_step(*args, **kwargs)


def make_model(cls=keras.Sequential):
    keras.utils.set_random_seed(0)
    model = cls([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


def test_build_optimizer_builds_once_and_skips_unbuilt_models():
    model = make_model()
    assert not model.optimizer.built
    assert build_optimizer(model) is True
    assert model.optimizer.built
    assert len(model.optimizer.variables) > 1  # iterations, learning rate, and Adam's moments
    assert build_optimizer(model) is False
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="adam", loss="mse")
    assert build_optimizer(unbuilt) is False
    assert not unbuilt.optimizer.built


def test_fit_trains_as_model_fit_does(tmp_path):
    ours, plain = make_model(), make_model()
    plain.set_weights(ours.get_weights())
    fit(ours, (X, Y), epochs=3, run_dir=tmp_path / "run", batch_size=8, shuffle=False, verbose=0, restore_best=False,
        tensorboard=False)
    plain.fit(X, Y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert int(ours.optimizer.iterations) == int(plain.optimizer.iterations) == 12


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="tf.function's retrace on variable creation")
def test_the_training_step_is_traced_once(tmp_path):
    plain = make_model(CountingModel)
    plain.fit(X, Y, epochs=1, batch_size=8, verbose=0)
    assert plain.traces == 2  # Keras alone: the trace that creates the optimizer's variables, then another
    ours = make_model(CountingModel)
    fit(ours, (X, Y), epochs=1, run_dir=tmp_path / "run", batch_size=8, verbose=0, tensorboard=False)
    assert ours.traces == 1
