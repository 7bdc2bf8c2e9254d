"""Copy weights between keras / keras_hub layers and kerasformers layers."""

import re

# keras_hub / keras sub-path  ->  kerasformers sub-path (applied in order).
_RENAMES = [
    (r"(self|cross)_attention_layer/", r"\1_attention/"),
    (r"(self|cross)_attention_layer_norm/", r"\1_attention_norm/"),
    (r"feedforward_layer_norm/", "feed_forward_norm/"),
    (r"feedforward_intermediate_dense/", "feed_forward/inner/"),
    (r"feedforward_output_dense/", "feed_forward/outer/"),
]


def _relative_paths(layer):
    prefix = layer.path + "/"
    return {w.path[len(prefix):] if w.path.startswith(prefix) else w.path: w for w in layer.weights}


def _translate(path):
    for pattern, replacement in _RENAMES:
        path = re.sub(pattern, replacement, path)
    return path


def copy_weights_from_keras(source, target):
    """Copies the weights of a built `keras_hub.layers.TransformerEncoder`,
    `keras_hub.layers.TransformerDecoder` or `keras.layers.MultiHeadAttention`
    into the matching built kerasformers layer.

    Args:
        source: the built keras / keras_hub layer.
        target: the built `TransformerEncoderLayer`, `TransformerDecoderLayer`
            or `MultiHeadAttention` with the same sizes.

    Raises:
        ValueError: if a weight has no counterpart or the shapes differ.

    Example:
    >>> reference = keras_hub.layers.TransformerEncoder(intermediate_dim=64, num_heads=2)
    >>> ours = TransformerEncoderLayer(num_heads=2, hidden_dim=64)
    >>> x = keras.ops.ones((1, 4, 32)); _ = reference(x); _ = ours(x)
    >>> copy_weights_from_keras(reference, ours)
    """
    if not (source.built and target.built):
        raise ValueError("Both layers must be built (called once) before copying weights.")
    theirs, ours = _relative_paths(source), _relative_paths(target)
    mapping = {}
    for path, weight in theirs.items():
        name = _translate(path)
        if name not in ours:
            raise ValueError(f"No counterpart for weight `{path}` (looked for `{name}`). Target has: {sorted(ours)}")
        if tuple(ours[name].shape) != tuple(weight.shape):
            raise ValueError(f"Shape mismatch for `{path}`: {tuple(weight.shape)} vs {tuple(ours[name].shape)}")
        mapping[name] = weight
    unmatched = sorted(set(ours) - set(mapping))
    if unmatched:
        raise ValueError(f"Target weights with no source: {unmatched}")
    for name, weight in mapping.items():
        ours[name].assign(weight.value)
