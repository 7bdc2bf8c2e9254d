"""Model parallelism: the `keras.distribution.LayoutMap` of the task models (Megatron-style sharding)."""

import keras

# (pattern of `variable.path`, axes with "model" for the model-parallel axis): each path matches at most one.
# Column-parallel in (query/key/value, feed-forward inner, output projection: the output features are split),
# row-parallel out (attention output, feed-forward outer: the input features are split), so that a block
# needs one all-reduce after attention and one after the feed-forward, as in Megatron-LM (Shoeybi et al. 2019).
_RULES = (
    # token embeddings (vocabulary, model_dim): the vocabulary is split; a tied output head reads it transposed
    (r".*token_embedding/embeddings", ("model", None)),
    # attention projections, laid out as keras.layers.MultiHeadAttention's EinsumDense sublayers
    (r".*/(query|key|value)/kernel", (None, "model", None)),  # (model_dim, heads, head_dim): heads split
    (r".*/(query|key|value)/bias", ("model", None)),  # (heads, head_dim)
    (r".*/attention_output/kernel", ("model", None, None)),  # (heads, head_dim, model_dim)
    # feed-forward
    (r".*/feed_forward/inner/kernel", (None, "model")),  # (model_dim, hidden_dim)
    (r".*/feed_forward/inner/bias", ("model",)),  # (hidden_dim,)
    (r".*/feed_forward/outer/kernel", ("model", None)),  # (hidden_dim, model_dim)
    # untied output head
    (r".*output_projection/kernel", (None, "model")),  # (model_dim, vocabulary)
    (r".*output_projection/bias", ("model",)),  # (vocabulary,)
)


def get_layout_map(device_mesh, model_parallel_dim_name="model", data_parallel_dim_name="batch"):
    """A `keras.distribution.LayoutMap` that shards a kerasformers task model over a device mesh.

    KerasHub's convention (`keras_hub.models.GemmaBackbone.get_layout_map`).
    Megatron-style: the token embeddings are split along the vocabulary; in
    every attention block the query, key and value projections are split by
    heads and the output projection along its input (the heads), and in every
    feed-forward block the inner projection along its output and the outer
    along its input, so each block needs one all-reduce after attention and
    one after the feed-forward. An untied output projection is split along
    the vocabulary. Everything else (LayerNorms, positions, the classifier
    head, output biases, LoRA matrices) is replicated. The batch is split
    over `data_parallel_dim_name` by `keras.distribution.ModelParallel`.

    The split dimensions (number of heads, `hidden_dim`, vocabulary sizes)
    must be divisible by the size of the model axis: JAX refuses uneven
    shards when the variables are created.

    Args:
        device_mesh: `keras.distribution.DeviceMesh` with both axes.
        model_parallel_dim_name: str. Mesh axis the weights are split over.
            Defaults to `"model"`.
        data_parallel_dim_name: str. Mesh axis the batch is split over.
            Defaults to `"batch"`.

    Returns:
        `keras.distribution.LayoutMap`: variable path patterns to layouts.

    Raises:
        ValueError: `device_mesh` is not a `DeviceMesh`, or an axis name is
            not one of its axes.

    Example:
    >>> import keras
    >>> mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"], keras.distribution.list_devices()[:1])
    >>> layout_map = get_layout_map(mesh)
    >>> layout_map["classifier/encoder_layer_0/self_attention/query/kernel"].axes
    (None, 'model', None)
    >>> distribution = keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    >>> with distribution.scope():  # doctest: +SKIP
    ...     model = TransformerClassifier.from_preset("small", vocabulary_size=8000, num_classes=2)
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise ValueError(
            f"`device_mesh` must be a keras.distribution.DeviceMesh. Received: {device_mesh!r} "
            f"of type {type(device_mesh).__name__}"
        )
    axes = tuple(device_mesh.axis_names)
    for arg, name in (("model_parallel_dim_name", model_parallel_dim_name),
                      ("data_parallel_dim_name", data_parallel_dim_name)):
        if name not in axes:
            raise ValueError(f"`{arg}`={name!r} is not an axis of the device mesh, whose axes are {axes}.")
    layout_map = keras.distribution.LayoutMap(device_mesh)
    for pattern, layout in _RULES:
        layout_map[pattern] = tuple(model_parallel_dim_name if axis == "model" else axis for axis in layout)
    return layout_map
