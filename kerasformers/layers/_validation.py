"""Argument checks shared by the layers: one message style everywhere."""

import difflib
import inspect


def check_positive_int(name, value, allow_none=False):
    """Raises a ValueError naming `value` unless it is a positive integer."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


def check_rate(name, value):
    """Raises a ValueError unless `0 <= value < 1`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_rank(layer_name, arg_name, shape, rank):
    """Raises a ValueError if `shape` is known and is not of rank `rank`."""
    if shape is not None and len(shape) != rank:
        raise ValueError(
            f"{layer_name} expects `{arg_name}` of rank {rank}, but received "
            f"shape {tuple(shape)} (rank {len(shape)})."
        )


# Names a user may type that Keras and the blog post made popular.
_ALIASES = {
    "num_head": "num_heads",
    "n_heads": "num_heads",
    "heads": "num_heads",
    "intermediate_dim": "hidden_dim",
    "ff_dim": "hidden_dim",
    "d_ff": "hidden_dim",
    "dropout_rate": "dropout",
    "rate": "dropout",
    "sequence_length": "max_length",
    "return_attention_scores": "return_attention",
}


def reject_unknown_kwargs(cls, kwargs):
    """Turns unknown constructor keywords into a ValueError with a suggestion.

    Keras itself raises a terse `Unrecognized keyword arguments` error; the
    seed blog post's `num_head=8` deserves a pointer to `num_heads`.
    """
    from keras.layers import Layer

    base = set(inspect.signature(Layer.__init__).parameters) | {
        "trainable", "dtype", "autocast", "name", "input_dim", "input_shape",
        "batch_input_shape", "batch_size", "weights", "activity_regularizer",
    }
    known = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
    for key in kwargs:
        if key in base:
            continue
        suggestion = _ALIASES.get(key)
        if suggestion not in known:
            close = difflib.get_close_matches(key, known, n=1)
            suggestion = close[0] if close else None
        hint = f" Did you mean `{suggestion}`?" if suggestion else ""
        raise ValueError(
            f"{cls.__name__} got an unexpected keyword argument `{key}` "
            f"(received: {key}={kwargs[key]!r}).{hint} Known arguments: "
            f"{', '.join(known)}."
        )
