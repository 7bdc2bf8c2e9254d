"""Run as a subprocess: the CPU must be split into logical devices before TF starts."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402


sys.path.insert(0, sys.argv[2])
from task_data import build, data  # noqa: E402

out_dir = sys.argv[3]


def train(kind, x, y, strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build(kind)  # same seed, same initial weights
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    history = model.fit(dataset, epochs=3, verbose=0)
    return history.history["loss"], model


results = {}
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
assert strategy.num_replicas_in_sync == 2
for kind in sys.argv[1].split(","):
    x, y = data(kind)
    single_losses, _ = train(kind, x, y, tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored_losses, model = train(kind, x, y, strategy)
    expected = model.predict(x, verbose=0)
    path = f"{out_dir}/{kind}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    max_diff = float(np.abs(restored.predict(x, verbose=0) - expected).max())
    results[kind] = {"single": single_losses, "mirrored": mirrored_losses, "reload_max_diff": max_diff}
print(json.dumps(results))
