"""What an export writes beside the graph for TF Serving: signature defaults and the warm-up file.

- Signature defaults (`SignatureDef.defaults`): TF Serving fills an input
  that a request leaves out with its default (tensorflow/serving,
  `predict_util.cc`: "not found in request and no default value provided"
  otherwise). Keras' `ExportArchive` writes concrete functions, which carry
  no defaults, so `write_signature_defaults` adds them to `saved_model.pb`
  after the fact. `tf.saved_model.load` ignores them (its signatures want
  every input); `load_signature` fills them in as TF Serving does.
- Warm-up (`assets.extra/tf_serving_warmup_requests`): a TFRecord file of
  `PredictionLog` records that TF Serving replays after loading a version
  and before serving it (tensorflow/serving, `saved_model_warmup_util.cc`),
  so that tracing, graph optimisation and XLA compilation happen before the
  first real request.
"""

import pathlib

import numpy as np
import tensorflow as tf

WARMUP_FILE = "tf_serving_warmup_requests"


def _saved_model_proto(path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((pathlib.Path(path) / "saved_model.pb").read_bytes())
    return proto


def write_signature_defaults(path, defaults):
    """Adds `{signature: {input: value}}` to the `SignatureDef.defaults` of the SavedModel at `path`.

    Args:
        path: a version folder (with `saved_model.pb`).
        defaults: dict of signature name to dict of input name to a NumPy
            value of the input's dtype.

    Raises:
        ValueError: for a signature or input the SavedModel does not have.
    """
    if not defaults:
        return
    proto = _saved_model_proto(path)
    graph = proto.meta_graphs[0].graph_def
    nodes = {node.name: node for node in graph.node}
    signatures = proto.meta_graphs[0].signature_def
    for name, values in defaults.items():
        if name not in signatures:
            raise ValueError(f"No signature {name!r} to give defaults to. Received: {sorted(signatures)}")
        for key, value in values.items():
            if key not in signatures[name].inputs:
                raise ValueError(f"Signature {name!r} has no input {key!r}. Received: {sorted(signatures[name].inputs)}")
            value = tf.make_tensor_proto(np.asarray(value))
            signatures[name].defaults[key].CopyFrom(value)
            _placeholder_with_default(graph, nodes[signatures[name].inputs[key].name.split(":")[0]], value)
    (pathlib.Path(path) / "saved_model.pb").write_bytes(proto.SerializeToString())


def _placeholder_with_default(graph, placeholder, value):
    """Turns the signature's input `Placeholder` into a `PlaceholderWithDefault` of `value`.

    What `tf.saved_model.save` writes for a `tf.function` argument with a
    default: clients that run the graph in a session (TF Serving,
    `saved_model_cli run`) may then leave the input out.
    """
    if placeholder.op != "Placeholder":
        return
    constant = graph.node.add(name=f"{placeholder.name}/default", op="Const")
    constant.attr["dtype"].type = value.dtype
    constant.attr["value"].tensor.CopyFrom(value)
    placeholder.op = "PlaceholderWithDefault"
    placeholder.input.append(constant.name)
    for attr in list(placeholder.attr):
        if attr not in ("dtype", "shape"):
            del placeholder.attr[attr]


def signature_defaults(path):
    """`{signature: {input: NumPy value}}` read from the `SignatureDef.defaults` of the SavedModel at `path`."""
    proto = _saved_model_proto(path)
    return {
        name: {key: tf.make_ndarray(value) for key, value in signature.defaults.items()}
        for name, signature in proto.meta_graphs[0].signature_def.items()
    }


def write_warmup_requests(path, requests, model_name="model"):
    """Writes `assets.extra/tf_serving_warmup_requests` under the version folder `path`.

    Args:
        path: a version folder.
        requests: sequence of `(signature_name, {input: NumPy value})`.
        model_name: the `ModelSpec.name` of the records.

    Returns:
        The file's `pathlib.Path`, or None without requests.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    if not requests:
        return None
    target = pathlib.Path(path) / "assets.extra" / WARMUP_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(target)) as writer:
        for signature_name, inputs in requests:
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name)
            )
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return target


def read_warmup_requests(path):
    """The `(signature_name, {input: NumPy value})` requests of a version folder's warm-up file ([] without one)."""
    from tensorflow_serving.apis import prediction_log_pb2

    source = pathlib.Path(path) / "assets.extra" / WARMUP_FILE
    if not source.exists():
        return []
    requests = []
    for record in tf.data.TFRecordDataset(str(source)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        request = log.predict_log.request
        requests.append((request.model_spec.signature_name,
                         {key: tf.make_ndarray(value) for key, value in request.inputs.items()}))
    return requests
