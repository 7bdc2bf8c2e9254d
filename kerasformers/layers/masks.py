"""The one place masks are built and merged.

Convention, everywhere in kerasformers: a mask is boolean and `True` means
"may attend" / "is a real token". Padding masks have shape `(batch, length)`;
attention masks have shape `(batch, target_length, source_length)`.
"""

from keras import ops

try:  # Keras keeps the mask helpers private; keras_hub imports them the same way.
    from keras.src.backend import get_keras_mask, set_keras_mask
except ImportError:  # pragma: no cover - very old or very new Keras
    def get_keras_mask(x):
        return getattr(x, "_keras_mask", None)

    def set_keras_mask(x, mask):
        try:
            x._keras_mask = mask
        except AttributeError:
            pass


def causal_mask(query_length, key_length, start_index=0):
    """Lower-triangular mask of shape `(1, query_length, key_length)`.

    Query position `i` sits at absolute position `start_index + i` and may see
    key positions `j <= start_index + i`. `start_index` is what makes the mask
    right for incremental decoding against a key/value cache.

    Example:
    >>> keras.ops.convert_to_numpy(causal_mask(2, 3)).astype(int).tolist()
    [[[1, 0, 0], [1, 1, 0]]]
    """
    rows = ops.arange(query_length, dtype="int32") + ops.cast(start_index, "int32")
    cols = ops.arange(key_length, dtype="int32")
    return ops.expand_dims(ops.greater_equal(rows[:, None], cols[None, :]), 0)


def check_mask_shape(name, mask, expected, layer_name):
    """Raises a ValueError when a known mask dimension contradicts `expected`."""
    if mask is None:
        return
    shape = tuple(mask.shape)
    if len(shape) != len(expected) or any(
        m is not None and e is not None and m != e and m != 1
        for m, e in zip(shape, expected)
    ):
        raise ValueError(
            f"{layer_name}: `{name}` must have shape {tuple(expected)} "
            f"(None = any). Received: {name}.shape={shape}"
        )


def merge_masks(*masks):
    """Logical AND of the masks that are not None (broadcasting); None if all are."""
    merged = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        merged = mask if merged is None else ops.logical_and(merged, mask)
    return merged


def attention_mask_from_padding(query_mask=None, key_mask=None):
    """Turns padding masks `(batch, T)` / `(batch, S)` into `(batch, T|1, S|1)`."""
    parts = []
    if query_mask is not None:
        parts.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
    if key_mask is not None:
        parts.append(ops.expand_dims(ops.cast(key_mask, "bool"), -2))
    return merge_masks(*parts)
