"""Run as one of N processes: trains the tiny classifier with `model.fit` under `initialize_processes`.

argv: process_id num_processes port out_dir. With num_processes 1 it is the single-process reference.
Writes out_dir/process_<id>.npz (the final weights) and .json (the loss history, device counts).
"""

import json
import os
import pathlib
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.pop("XLA_FLAGS", None)  # one CPU device per process

process_id, num_processes, port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], pathlib.Path(sys.argv[4])
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from task_data import build, data  # noqa: E402

import kerasformers as kf  # noqa: E402

distribution = kf.training.initialize_processes(f"localhost:{port}", num_processes, process_id)
x, y = data("classifier", batch=64)
if num_processes > 1:
    # Keras gives process i rows [8i, 8i + 8) of every global batch of 16 (rebatch(8) + shard(2, i)). Every other
    # row is made wrong in this process' copy: only if each process trains on its own shard alone and the
    # gradients are all-reduced do the weights equal one process on the clean data.
    owned = (np.arange(64) % 16) // 8 == process_id
    x = {"token_ids": np.where(owned[:, None], x["token_ids"], x["token_ids"][:, ::-1])}
    y = np.where(owned, y, (y + 1) % 3)
global_batches = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # every process reads all of it
keras.utils.set_random_seed(0)
model = build("classifier")
model.compile(optimizer=keras.optimizers.SGD(0.05), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
history = model.fit(global_batches, epochs=3, verbose=0)
np.savez(out_dir / f"process_{process_id}.npz", *model.get_weights())
saved = kf.training.save_on_chief(model, str(out_dir / "model.keras"))  # model.save in the chief alone would hang
seen = sum(int(b[0]["token_ids"].shape[0]) for b in distribution.distribute_dataset(global_batches))
(out_dir / f"process_{process_id}.json").write_text(json.dumps({
    "loss": history.history["loss"], "devices": len(keras.distribution.list_devices()),
    "chief": kf.training.is_chief(), "saved": saved, "index": kf.training.process_index(), "examples_read": seen}))
