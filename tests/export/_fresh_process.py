"""Loads an export where kerasformers (and keras_hub) cannot be imported, as on a TF Serving box."""

import json
import sys

sys.modules["kerasformers"] = None  # any `import kerasformers` now raises ImportError
sys.modules["keras_hub"] = None
try:
    import kerasformers  # noqa: F401
except ImportError:
    blocked = True
else:  # pragma: no cover
    blocked = False
assert blocked, "kerasformers must not be importable here"

import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402,F401  (TF Serving links these ops in)

from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

path, input_name, batches = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}  # extra inputs, e.g. sampling options
signature = tf.saved_model.load(path).signatures["serving_default"]
# As TF Serving does: inputs a request leaves out take their SignatureDef defaults.
proto = saved_model_pb2.SavedModel()
with open(f"{path}/saved_model.pb", "rb") as f:
    proto.ParseFromString(f.read())
defaults = {k: tf.make_ndarray(v) for k, v in proto.meta_graphs[0].signature_def["serving_default"].defaults.items()}
results = []
for batch in batches:
    extra = {k: tf.constant(v, defaults[k].dtype) for k, v in options.items()}
    outputs = signature(**{**defaults, **extra, input_name: tf.constant(batch, tf.string)})
    results.append({k: v.numpy().tolist() if v.dtype != tf.string else [s.decode("utf-8", "replace") for s in v.numpy()]
                    for k, v in outputs.items()})
print(json.dumps({"blocked": blocked, "results": results}))
