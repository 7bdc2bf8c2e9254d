import json
import os

import keras
import numpy as np
import pytest

from kerasformers.training import BestWeightsCheckpoint, default_callbacks, fit


def linear_model(learning_rate=0.1):
    """y = w * x with w = 0 at the start: every update is computable by hand."""
    model = keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


class RecordWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.kernels, self.batches = [], 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.kernels.append(float(self.model.get_weights()[0][0, 0]))


def test_default_callbacks_layout(tmp_path):
    run_dir = tmp_path / "run"
    callbacks = default_callbacks(run_dir, checkpoint_every_steps=7)
    assert [type(c) for c in callbacks] == [
        keras.callbacks.TensorBoard,
        BestWeightsCheckpoint,
        keras.callbacks.BackupAndRestore,
        keras.callbacks.TerminateOnNaN,
    ]
    tensorboard, best, backup, _ = callbacks
    assert tensorboard.log_dir == os.path.join(str(run_dir), "logs")
    assert best.filepath == os.path.join(str(run_dir), "checkpoints", "best.weights.h5")
    assert best.save_best_only and best.save_weights_only and best.monitor == "val_loss"
    assert backup.backup_dir == os.path.join(str(run_dir), "backup") and backup.save_freq == 7
    assert default_callbacks(run_dir)[2].save_freq == "epoch"
    # Relative run directories stay relative.
    assert default_callbacks("runs/x", tensorboard=False)[0].filepath == os.path.join("runs", "x", "checkpoints", "best.weights.h5")
    only_nan = default_callbacks(run_dir, save_best=False, backup=False, tensorboard=False)
    assert [type(c) for c in only_nan] == [keras.callbacks.TerminateOnNaN]


@pytest.mark.parametrize(
    "kwargs, received",
    [
        ({"run_dir": ""}, "run_dir=''"),
        ({"run_dir": "r", "mode": "best"}, "mode='best'"),
        ({"run_dir": "r", "checkpoint_every_steps": 0}, "checkpoint_every_steps=0"),
        ({"run_dir": "r", "monitor": 3}, "monitor=3"),
    ],
)
def test_default_callbacks_errors(kwargs, received):
    with pytest.raises(ValueError, match=f"Received: {received}"):
        default_callbacks(**kwargs)


def test_fit_restores_the_best_epoch(tmp_path, capsys):
    # Train towards w = 2 while validation wants w = 1: with SGD(0.1) on x = 1,
    # w_t = 2 - 2 * 0.8**t, i.e. 0.4, 0.72, 0.976, 1.1808, 1.34464, so the
    # validation loss (w - 1)^2 is best after the third epoch and worse later.
    model = linear_model()
    recorder = RecordWeights()
    x = np.ones((4, 1), "float32")
    history = fit(
        model, (x, 2 * x), validation_data=(x, x), epochs=5, run_dir=tmp_path / "run",
        callbacks=[recorder], batch_size=4, verbose=0,
    )
    kernels = 2 - 2 * 0.8 ** np.arange(1, 6)
    np.testing.assert_allclose(recorder.kernels, kernels, rtol=1e-5)
    np.testing.assert_allclose(history.history["val_loss"], (kernels - 1) ** 2, rtol=1e-4, atol=1e-7)
    assert int(np.argmin(history.history["val_loss"])) == 2
    final = float(model.get_weights()[0][0, 0])
    assert final == pytest.approx(recorder.kernels[2], rel=1e-6)
    assert final != pytest.approx(recorder.kernels[-1], rel=1e-3)
    checkpoint = linear_model()
    checkpoint.load_weights(tmp_path / "run" / "checkpoints" / "best.weights.h5")
    assert float(checkpoint.get_weights()[0][0, 0]) == final
    record = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert record["monitor"] == "val_loss" and record["epoch"] == 2
    assert record["best"] == pytest.approx(history.history["val_loss"][2])
    assert not (tmp_path / "run" / "backup").exists()  # deleted after a normal end
    out = capsys.readouterr().out
    assert f"tensorboard --logdir {tmp_path / 'run' / 'logs'}" in out
    assert os.listdir(tmp_path / "run" / "logs" / "train")


def test_fit_on_datasets_without_restore_keeps_the_last_weights(tmp_path):
    import tensorflow as tf

    model = linear_model()
    x = np.ones((4, 1), "float32")
    train = tf.data.Dataset.from_tensor_slices((x, 2 * x)).batch(4)
    validation = tf.data.Dataset.from_tensor_slices((x, x)).batch(4)
    fit(model, train, validation_data=validation, epochs=5, run_dir=tmp_path / "run",
        restore_best=False, tensorboard=False, verbose=0)
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(2 - 2 * 0.8**5, rel=1e-5)
    assert not (tmp_path / "run" / "logs").exists()


def test_resumed_run_keeps_the_earlier_best(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "checkpoints").mkdir()
    linear_model().save_weights(run_dir / "checkpoints" / "best.weights.h5")
    record = {"monitor": "val_loss", "best": 0.25, "epoch": 3, "weights": "best.weights.h5"}
    (run_dir / "checkpoints" / "best.json").write_text(json.dumps(record))
    best = default_callbacks(run_dir)[1]
    assert best.best == 0.25 and best.best_epoch == 3 and best.has_best
    # A different monitor, or no backup to resume from, starts afresh.
    assert default_callbacks(run_dir, monitor="loss")[1].best is None
    (run_dir / "backup").rmdir()
    fresh = default_callbacks(run_dir)[1]
    assert fresh.best is None and not fresh.has_best


def test_terminate_on_nan_stops_training(tmp_path):
    assert any(isinstance(c, keras.callbacks.TerminateOnNaN) for c in default_callbacks(tmp_path))
    model = linear_model()
    recorder = RecordWeights()
    x = np.ones((24, 1), "float32")
    x[8:12] = np.nan  # the third batch of 4
    history = fit(model, (x, x), epochs=5, run_dir=tmp_path / "run", callbacks=[recorder],
                  batch_size=4, shuffle=False, verbose=0, tensorboard=False)
    assert recorder.batches == 3  # 30 batches without the NaN stop
    assert len(history.history["loss"]) == 1 and np.isnan(history.history["loss"][0])
    # The NaN epoch is never the best one: no weights saved or restored.
    assert not (tmp_path / "run" / "checkpoints" / "best.weights.h5").exists()
    assert np.isnan(model.get_weights()[0][0, 0])


def test_fit_errors(tmp_path):
    model = linear_model()
    x = np.ones((4, 1), "float32")
    with pytest.raises(TypeError):
        fit(model, (x, x), epochs=1)  # run_dir is required
    with pytest.raises(ValueError, match="Received: epochs=0"):
        fit(model, (x, x), epochs=0, run_dir=tmp_path)
    with pytest.raises(ValueError, match="Received: a tuple of length 1"):
        fit(model, (x,), run_dir=tmp_path)
    uncompiled = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        fit(uncompiled, (x, x), run_dir=tmp_path)
