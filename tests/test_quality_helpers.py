"""`benchmarks/quality.py`'s helpers: `averaged_weights` puts Keras' moving average in, then takes it out;
`token_dropout` turns real ids into padding; `TimeSchedule` ends at its own length; `_warm_up` steps on every
batch shape; `sst2_classifier` and `sst2_sweep.py` take the regularisation they are given; `_round_medians` summarises
rounds."""

import argparse
import pathlib
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

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


def test_token_dropout_pads_real_ids_at_the_rate_and_never_empties_a_row():
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 100, size=(4000, 12)).astype("int32")
    ids[:, 9:] = 0  # padding stays padding
    ids[:1000, 1:] = 0  # one-token rows: with rate 0.5 about half of them would empty
    labels = np.arange(4000, dtype="int32")
    dataset = tf.data.Dataset.from_tensor_slices(({"token_ids": ids}, labels)).batch(500)
    out = np.concatenate([f["token_ids"].numpy() for f, _ in quality.token_dropout(dataset, 0.5, seed=1)])
    kept = out != 0
    assert not kept[:, 9:].any()
    assert ((out == ids) | ~kept).all()  # a kept id is the same id at the same position
    assert kept.any(axis=1).all()  # no row left empty
    long_rows = kept[1000:, :9]
    assert abs(long_rows.mean() - 0.5) < 0.02, long_rows.mean()  # 27,000 ids; 0.5 +- 0.003 (1 sd)
    assert kept[:1000, 0].all()
    labels_out = np.concatenate([l.numpy() for _, l in quality.token_dropout(dataset, 0.5, seed=1)])
    np.testing.assert_array_equal(labels_out, labels)
    assert quality.token_dropout(dataset, 0.0) is dataset


def test_time_schedule_ends_at_its_own_length_before_the_budget():
    class Clock:
        seconds = 600.0

    class Optimizer:
        learning_rate = None

    schedule = quality.TimeSchedule(Clock(), peak=3e-3, seconds=150.0)  # warm-up: the first 15 s
    schedule.set_model(type("Model", (), {"optimizer": Optimizer()})())
    for elapsed, expected in [(7.5, 1.5e-3), (15.0, 3e-3), (82.5, 1.5e-3), (150.0, 0.0), (400.0, 0.0)]:
        schedule.budget.elapsed = lambda: elapsed
        schedule.on_train_batch_begin(0)
        assert abs(schedule.model.optimizer.learning_rate - expected) < 1e-12, (elapsed, expected)


def test_warm_up_steps_once_on_every_batch_shape_through_the_function_fit_runs():
    traces = []

    class Counting(keras.Sequential):
        def train_step(self, data):
            traces.append(1)  # Python runs here only while TensorFlow traces the step
            return super().train_step(data)

    keras.utils.set_random_seed(0)
    model = Counting([keras.Input((None,), dtype="int32"), keras.layers.Embedding(10, 4),
                      keras.layers.GlobalAveragePooling1D(), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), jit_compile=True)
    lengths = (8, 16, 8, 32, 16)
    dataset = tf.data.Dataset.from_generator(
        lambda: ((np.ones((4, n), "int32"), np.zeros((4,), "int32")) for n in lengths),
        output_signature=(tf.TensorSpec((4, None), tf.int32), tf.TensorSpec((4,), tf.int32))).repeat()
    assert quality._warm_up(model, dataset, scan=10) == 3  # lengths 8, 16, 32
    assert int(model.optimizer.iterations) == 2 + 3  # the two tracing steps, then one per shape
    # one trace: every warm-up step ran through the function `fit` runs on the real dataset (XLA compiles each
    # shape once for it); `train_on_batch` would have traced its own
    assert len(traces) == 1
    model.fit(dataset, epochs=1, steps_per_epoch=5, verbose=0)
    assert len(traces) == 1
    with pytest.raises(ValueError, match="scan=-2"):  # an unknown cardinality: `take(-2)` would never end
        quality._warm_up(model, dataset, scan=-2)


class _Vocabulary:
    """The one tokenizer method `sst2_classifier` asks for."""

    def vocabulary_size(self):
        return 50


def test_sst2_classifier_compiles_the_weight_decay_and_label_smoothing_it_is_given():
    size = dict(num_layers=1, model_dim=8, num_heads=2, hidden_dim=16, dropout=0.1)
    default = quality.sst2_classifier(_Vocabulary(), 8, size, ema=None)
    assert default.optimizer.weight_decay == pytest.approx(quality.SST2_WEIGHT_DECAY)
    assert default.loss.label_smoothing == pytest.approx(quality.SST2_LABEL_SMOOTHING)
    chosen = quality.sst2_classifier(_Vocabulary(), 8, size, ema=None, weight_decay=0.3, label_smoothing=0.25)
    assert chosen.optimizer.weight_decay == pytest.approx(0.3)
    assert chosen.loss.label_smoothing == pytest.approx(0.25)


def test_sst2_sweep_labels_each_regularisation_point_and_refuses_bad_rates(capsys):
    import sst2_sweep

    recipe = ("C", 0.9995, 0.0, 150.0, None, quality.SST2_WEIGHT_DECAY, quality.SST2_LABEL_SMOOTHING, None)
    assert sst2_sweep.describe(recipe, 3e-3) == "C, ema 0.9995, linear decay to 0 at 150 s, peak 0.003"
    changed = ("C", 0.9995, 0.0, 150.0, 0.4, 0.5, 0.2, sst2_sweep.front_end("conv3-mean_max"))
    assert sst2_sweep.describe(changed, 3e-3) == ("C, conv3-mean_max, dropout 0.4, ema 0.9995, linear decay to 0 at "
                                                  "150 s, peak 0.003, weight decay 0.5, label smoothing 0.2")
    assert sst2_sweep.front_end_options(changed[-1]) == {"pooling": "mean_max", "conv_kernel_size": 3}
    assert sst2_sweep.front_end_options(sst2_sweep.front_end("max")) == {"pooling": "max", "conv_kernel_size": None}
    assert sst2_sweep.RATE("0.4") == 0.4
    with pytest.raises(argparse.ArgumentTypeError, match="got 1.0"):
        sst2_sweep.RATE("1.0")
    for flags, message in [(["--weight-decay", "-0.1"], "received [-0.1]"),
                           (["--dropout", "1"], "must be in [0, 1), got 1"),
                           (["--label-smoothing", "-0.5"], "got -0.5"),
                           (["--front-ends", "conv0-mean"], "received 'conv0-mean'"),
                           (["--front-ends", "conv3-cls"], "received 'conv3-cls'")]:
        with pytest.raises(SystemExit):
            sst2_sweep.main([*flags, "--data-dir", "nowhere"])
        assert message in capsys.readouterr().err


def test_round_medians_summarise_each_recipe_over_rounds_and_count_the_target(monkeypatch):
    def row(label, loss):
        return {"label": label, "test": {"loss": loss}}

    results = [row("reference (seed 0)", 1.9), row("ours (seed 0)", 1.7), row("the same, quantized", 1.7),
               row("reference (seed 1)", 1.7), row("ours (seed 1)", 1.6),
               row("reference (seed 2)", 1.8), row("ours (seed 2)", 1.85)]
    recipes = {"the reference": "reference", "ours": "ours"}
    monkeypatch.setattr(quality, "ROUNDS", 1)
    assert quality._round_medians(results, "loss", recipes, 1.80, False) == []  # one round: its rows say it all
    monkeypatch.setattr(quality, "ROUNDS", 3)
    assert quality._round_medians(results, "loss", recipes, 1.80, False) == [
        "the reference, 3 rounds: test loss median 1.8000 (min 1.7000, max 1.9000); target (< 1.8) met in 1 of 3",
        "ours, 3 rounds: test loss median 1.7000 (min 1.6000, max 1.8500); target (< 1.8) met in 2 of 3"]
    accuracy = [{"label": "ours", "test": {"accuracy": a}} for a in (0.83, 0.82, 0.84)]
    assert quality._round_medians(accuracy, "accuracy", {"ours": "ours"}, 0.83, True) == [
        "ours, 3 rounds: test accuracy median 0.8300 (min 0.8200, max 0.8400); target (>= 0.83) met in 2 of 3"]


def test_average_of_predicts_the_mean_of_its_members_probabilities_and_quantizes():
    size = dict(num_layers=1, model_dim=8, num_heads=2, hidden_dim=16, dropout=0.0)
    members = []
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        members.append(quality.sst2_classifier(_Vocabulary(), 8, size, ema=None))
    ids = {"token_ids": np.array([[5, 7, 9, 0, 0, 0, 0, 0], [3, 4, 0, 0, 0, 0, 0, 0]], "int32")}
    expected = np.mean([keras.ops.convert_to_numpy(keras.ops.softmax(m.predict(ids, verbose=0))) for m in members], 0)
    ensemble = quality.average_of(members)
    np.testing.assert_allclose(ensemble.predict(ids, verbose=0), expected, atol=1e-6)
    assert ensemble.count_params() == sum(m.count_params() for m in members)
    assert quality.average_of(members[:1]) is members[0]  # one member: the model itself, logits and all
    ensemble.quantize("int8")  # the int8 row quantizes every member through the ensemble
    np.testing.assert_allclose(ensemble.predict(ids, verbose=0), expected, atol=0.05)
    for member in members:
        assert any(getattr(layer, "quantization_mode", None) == "int8" for layer in member._flatten_layers())


def test_restart_trains_a_used_model_as_a_new_one_from_the_given_weights():
    size = dict(num_layers=1, model_dim=8, num_heads=2, hidden_dim=16, dropout=0.0)
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, 50, (16, 8)).astype("int32")}
    y = rng.integers(0, 2, 16).astype("int32")

    keras.utils.set_random_seed(1)
    new = quality.sst2_classifier(_Vocabulary(), 8, size, ema=MOMENTUM)
    start = new.get_weights()
    new.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)

    keras.utils.set_random_seed(2)
    used = quality.sst2_classifier(_Vocabulary(), 8, size, ema=MOMENTUM)
    used.fit({"token_ids": x["token_ids"][::-1]}, 1 - y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    quality.restart(used, start)
    assert int(used.optimizer.iterations) == 0
    used.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(values(used), values(new)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    with quality.averaged_weights(used), quality.averaged_weights(new):  # the moving averages agree too
        for a, b in zip(values(used), values(new)):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_restart_keeps_a_learning_rate_given_as_a_number():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.AdamW(1e-3), "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    quality.restart(model, model.get_weights())
    assert int(model.optimizer.iterations) == 0
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-3)


def test_sst2_recipe_label_names_the_front_end_first(monkeypatch):
    monkeypatch.setattr(quality, "SST2_SIZE", dict(quality.SST2_SIZE, conv_kernel_size=3, pooling="mean_max"))
    label = quality.sst2_recipe()
    assert label.startswith(f"convolution 3, mean+max pooling, dropout {quality.SST2_SIZE['dropout']:g}, weight decay")
    monkeypatch.setattr(quality, "SST2_SIZE", dict(quality.SST2_SIZE, conv_kernel_size=None, pooling="mean"))
    assert quality.sst2_recipe().startswith(f"dropout {quality.SST2_SIZE['dropout']:g}, weight decay")
