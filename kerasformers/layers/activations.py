"""Activations that published checkpoints need and Keras has no name for."""

import keras


@keras.saving.register_keras_serializable(package="kerasformers")
def gelu_approximate(x):
    """GELU with the tanh approximation, as GPT-2 (and BERT's original TensorFlow code) computes it.

    `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`. Keras' `"gelu"` is the
    exact (erf) form; pass this function (or the string
    `"kerasformers>gelu_approximate"`) as `activation=` to reproduce a
    checkpoint trained with the approximation. It serializes by name.

    Args:
        x: a tensor.

    Returns:
        A tensor of the same shape and dtype.

    Example:
    >>> float(gelu_approximate(keras.ops.convert_to_tensor(1.0)))  # doctest: +ELLIPSIS
    0.841...
    """
    return keras.activations.gelu(x, approximate=True)


_OURS = {"gelu_approximate": gelu_approximate, "kerasformers>gelu_approximate": gelu_approximate}


def get_activation(identifier):
    """`keras.activations.get`, which also knows `"gelu_approximate"` (this module's activation)."""
    if isinstance(identifier, str) and identifier in _OURS:
        return _OURS[identifier]
    return keras.activations.get(identifier)
