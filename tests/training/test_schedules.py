import keras
import numpy as np
import pytest

from kerasformers.training import (
    MaskedAccuracy,
    MaskedSparseCategoricalCrossentropy,
    Perplexity,
    TransformerSchedule,
    paper_optimizer,
)


def paper_rate(step, model_dim, warmup_steps, scale=1.0):
    """Vaswani et al. 2017, eq. 3, in float64; `step` counted from 1."""
    step = np.float64(step)
    return scale * model_dim**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)


@pytest.mark.parametrize("model_dim, warmup, scale", [(512, 4000, 1.0), (64, 100, 2.0)])
@pytest.mark.parametrize("step_factor", [None, 1, 10])
def test_equals_the_paper_formula(model_dim, warmup, scale, step_factor):
    step = 1 if step_factor is None else step_factor * warmup
    schedule = TransformerSchedule(model_dim, warmup_steps=warmup, scale=scale)
    # Keras passes optimizer.iterations, 0 for the first update: step = iterations + 1.
    actual = float(keras.ops.convert_to_numpy(schedule(step - 1)))
    np.testing.assert_allclose(actual, paper_rate(step, model_dim, warmup, scale), rtol=1e-6)


def test_known_values_of_the_base_model():
    schedule = TransformerSchedule(512, warmup_steps=4000)
    # d^-0.5 * warmup^-0.5 at the peak; d^-0.5 * 40000^-0.5 at 10 * warmup.
    np.testing.assert_allclose(float(schedule(3999)), 6.987712429686844e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(39999)), 2.209708691207961e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(0)), 512**-0.5 * 4000**-1.5, rtol=1e-6)


def test_peak_is_at_warmup_and_first_rate_is_positive():
    warmup = 50
    schedule = TransformerSchedule(16, warmup_steps=warmup)
    rates = keras.ops.convert_to_numpy(schedule(np.arange(0, 5 * warmup)))
    assert int(np.argmax(rates)) + 1 == warmup  # iterations warmup - 1 is step `warmup`
    assert np.all(np.diff(rates[: warmup]) > 0) and np.all(np.diff(rates[warmup:]) < 0)
    assert rates[0] > 0 and np.isfinite(rates[0])


def test_first_sgd_update_uses_step_one():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(TransformerSchedule(4, warmup_steps=10)), loss="mse")
    model.fit(np.ones((1, 1)), np.ones((1, 1)), epochs=1, batch_size=1, verbose=0)
    # d(w - 1)^2/dw = -2 at w = 0, so w = 2 * lr(step 1).
    np.testing.assert_allclose(float(model.get_weights()[0][0, 0]), 2 * paper_rate(1, 4, 10), rtol=1e-5)


def test_config_round_trip():
    schedule = TransformerSchedule(256, warmup_steps=123, scale=0.5)
    config = schedule.get_config()
    assert config == {"model_dim": 256, "warmup_steps": 123, "scale": 0.5}
    clone = TransformerSchedule.from_config(config)
    assert clone.get_config() == config
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, TransformerSchedule) and restored.get_config() == config
    assert float(restored(500)) == float(schedule(500))


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"model_dim": 0}, "model_dim=0"),
        ({"model_dim": 2.5}, "model_dim=2.5"),
        ({"model_dim": 8, "warmup_steps": -1}, "warmup_steps=-1"),
        ({"model_dim": 8, "scale": 0.0}, "scale=0.0"),
        ({"model_dim": 8, "scale": float("nan")}, "scale=nan"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, received):
    with pytest.raises(ValueError, match=f"Received: {received}"):
        TransformerSchedule(**kwargs)


def test_paper_optimizer():
    optimizer = paper_optimizer(512, warmup_steps=4000)
    assert isinstance(optimizer, keras.optimizers.Adam)
    config = optimizer.get_config()
    assert (config["beta_1"], config["beta_2"], config["epsilon"]) == (0.9, 0.98, 1e-9)
    schedule = keras.saving.deserialize_keras_object(config["learning_rate"])
    assert isinstance(schedule, TransformerSchedule)
    assert schedule.get_config() == {"model_dim": 512, "warmup_steps": 4000, "scale": 1.0}


def test_keras_file_keeps_schedule_loss_and_metrics(tmp_path):
    rng = np.random.default_rng(0)
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(12, 8),
        keras.layers.Dense(12),
    ])
    model.compile(
        optimizer=paper_optimizer(8, warmup_steps=10, scale=2.0),
        loss=MaskedSparseCategoricalCrossentropy(label_smoothing=0.1),
        metrics=[MaskedAccuracy(), Perplexity()],
    )
    x = rng.integers(0, 12, size=(6, 5))
    model.fit(x, x, batch_size=2, epochs=1, verbose=0)  # 3 updates
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    config = loaded.optimizer.get_config()
    schedule = keras.saving.deserialize_keras_object(config["learning_rate"])
    assert isinstance(schedule, TransformerSchedule)
    assert schedule.get_config() == {"model_dim": 8, "warmup_steps": 10, "scale": 2.0}
    assert int(loaded.optimizer.iterations) == 3
    # The next update is step 4.
    np.testing.assert_allclose(float(loaded.optimizer.learning_rate), paper_rate(4, 8, 10, 2.0), rtol=1e-6)
    assert isinstance(loaded.loss, MaskedSparseCategoricalCrossentropy)
    assert loaded.loss.label_smoothing == 0.1
    np.testing.assert_allclose(
        loaded.evaluate(x, x, verbose=0, return_dict=True)["loss"],
        model.evaluate(x, x, verbose=0, return_dict=True)["loss"],
        rtol=1e-6,
    )
