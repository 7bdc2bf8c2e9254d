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

path, input_name, batches = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
signature = tf.saved_model.load(path).signatures["serving_default"]
results = []
for batch in batches:
    outputs = signature(**{input_name: tf.constant(batch, tf.string)})
    results.append({k: v.numpy().tolist() if v.dtype != tf.string else [s.decode("utf-8", "replace") for s in v.numpy()]
                    for k, v in outputs.items()})
print(json.dumps({"blocked": blocked, "results": results}))
