"""Argument checks every kerasformers package may import (the lowest floor: it imports no kerasformers module).

One message style everywhere: `"`name` must be ... Received: name=value"`.
"""

import difflib
import inspect
import math
import numbers


def is_int(value):
    """True for Python and NumPy integers, False for booleans."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name, value, minimum=None, maximum=None, allow_none=False):
    """Returns `int(value)`; a ValueError naming `value` unless it is an integer in `[minimum, maximum]`.

    Example:
    >>> check_int("num_beams", 4, minimum=1)
    4
    """
    if value is None and allow_none:
        return None
    low_ok = minimum is None or (is_int(value) and value >= minimum)
    high_ok = maximum is None or (is_int(value) and value <= maximum)
    if not is_int(value) or not low_ok or not high_ok:
        if minimum is not None and maximum is not None:
            bound = f" in [{minimum}, {maximum}]"
        elif minimum is not None:
            bound = f" >= {minimum}"
        elif maximum is not None:
            bound = f" <= {maximum}"
        else:
            bound = ""
        raise ValueError(f"`{name}` must be an integer{bound}. Received: {name}={value!r}")
    return int(value)


def check_positive_int(name, value, allow_none=False):
    """Raises a ValueError naming `value` unless it is a positive integer.

    Example:
    >>> check_positive_int("num_heads", 0)
    Traceback (most recent call last):
    ...
    ValueError: `num_heads` must be a positive integer. Received: num_heads=0
    """
    if value is None and allow_none:
        return None
    if not is_int(value) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return int(value)


def check_positive_number(name, value, allow_none=False):
    """Returns `float(value)`; a ValueError naming `value` unless it is a finite number > 0."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def check_fraction(name, value, low_open=True, high_open=True):
    """Returns `float(value)`; a ValueError unless it lies in (0, 1) (closed ends with `low_open`/`high_open=False`)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > 0 if low_open else value >= 0) and (value < 1 if high_open else value <= 1)
    if not ok:
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"`{name}` must be in {interval}. Received: {name}={value!r}")
    return float(value)


def check_choice(name, value, choices):
    """Returns `value`; a ValueError listing `choices` unless it is one of them."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def argparse_type(check, parse=float):
    """An `argparse` `type=` from a check: `--epochs 0` -> "must be a positive integer, got 0".

    Example:
    >>> argparse_type(check_positive_int, int)("3")
    3
    """
    import argparse

    def convert(text):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {parse.__name__} value: {text!r}") from None
        try:
            return check("value", value)
        except ValueError as error:
            message = str(error).split(". Received")[0].replace("`value` ", "")
            raise argparse.ArgumentTypeError(f"{message}, got {text}") from None

    convert.__name__ = getattr(check, "__name__", "value").replace("check_", "")
    convert.check = check  # the same check for values given in Python (`kerasformers.tasks.run(epochs=0)`)
    return convert


def check_rate(name, value):
    """Returns `float(value)`; a ValueError unless `0 <= value < 1` (Python or NumPy numbers).

    Example:
    >>> import numpy as np
    >>> check_rate("dropout", np.float32(0.5))
    0.5
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_real(name, value):
    """Returns `value` as a plain Python `int` or `float`; a ValueError unless it is a finite number > 0.

    Integers stay integers (`np.int64(500)` -> `500`), so that a config holding
    them is plain JSON and reads back unchanged.

    Example:
    >>> import numpy as np
    >>> check_positive_real("max_wavelength", np.int64(500))
    500
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return int(value) if is_int(value) else float(value)


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
