"""Mean and maximum over the real tokens of a sequence."""

import keras
from keras import ops

from kerasformers.layers import masks as masks_lib
from kerasformers.checks import check_rank, reject_unknown_kwargs


class _MaskedPooling(keras.layers.Layer):
    """What both poolings share: no arguments, rank-3 inputs, the padding mask (given, or the Keras mask of the
    inputs) checked, and no mask out. Subclasses reduce with `_plain(inputs)` without a mask and
    `_masked(inputs, padding_mask)` with one."""

    def __init__(self, **kwargs):
        reject_unknown_kwargs(type(self), kwargs)
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, inputs_shape):
        check_rank(type(self).__name__, "inputs", inputs_shape, 3)

    def call(self, inputs, padding_mask=None):  # (batch, length, dim)
        if padding_mask is None:
            padding_mask = masks_lib.get_keras_mask(inputs)
        if padding_mask is None:
            return self._plain(inputs)
        masks_lib.check_mask_shape("padding_mask", padding_mask, (None, inputs.shape[1]), type(self).__name__)
        return self._masked(inputs, padding_mask)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[2])


@keras.saving.register_keras_serializable(package="kerasformers")
class MaskedMeanPooling(_MaskedPooling):
    """Average of a sequence over its real (unmasked) positions.

    Like `keras.layers.GlobalAveragePooling1D` with a mask, except that a
    sequence with no real token (an empty input string, all padding) pools to
    zeros instead of NaN.

    Args:
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, dim)`.
        padding_mask: boolean `(batch, length)`. Defaults to the Keras mask of
            `inputs`; without either, a plain mean.

    Returns:
        `(batch, dim)`.

    Example:
    >>> x = keras.ops.ones((2, 3, 4))
    >>> tuple(MaskedMeanPooling()(x, padding_mask=keras.ops.convert_to_tensor([[1, 1, 0], [0, 0, 0]], "bool")).shape)
    (2, 4)
    """

    def _plain(self, inputs):
        return ops.mean(inputs, axis=1)

    def _masked(self, inputs, padding_mask):
        weights = ops.cast(padding_mask, inputs.dtype)[:, :, None]  # (batch, length, 1)
        total = ops.sum(inputs * weights, axis=1)
        count = ops.maximum(ops.sum(weights, axis=1), ops.cast(1.0, inputs.dtype))
        return total / count


@keras.saving.register_keras_serializable(package="kerasformers")
class MaskedMaxPooling(_MaskedPooling):
    """Maximum of a sequence over its real (unmasked) positions, feature by feature.

    Like `keras.layers.GlobalMaxPooling1D`, except that padding never wins
    the maximum (Keras' layer ignores masks) and a sequence with no real
    token pools to zeros. The "max-over-time" pooling of convolutional text
    classifiers (Kim, 2014); `TransformerClassifier(pooling="mean_max")`
    concatenates it with `MaskedMeanPooling`.

    Args:
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, length, dim)`.
        padding_mask: boolean `(batch, length)`. Defaults to the Keras mask of
            `inputs`; without either, a plain maximum.

    Returns:
        `(batch, dim)`.

    Example:
    >>> x = keras.ops.convert_to_tensor([[[1.0], [5.0], [9.0]]])
    >>> mask = keras.ops.convert_to_tensor([[True, True, False]])
    >>> keras.ops.convert_to_numpy(MaskedMaxPooling()(x, padding_mask=mask)).tolist()
    [[5.0]]
    """

    def _plain(self, inputs):
        return ops.max(inputs, axis=1)

    def _masked(self, inputs, padding_mask):
        real = ops.cast(padding_mask, "bool")[:, :, None]  # (batch, length, 1)
        largest = ops.max(ops.where(real, inputs, ops.cast(float("-inf"), inputs.dtype)), axis=1)
        return ops.where(ops.any(real, axis=1), largest, ops.zeros_like(largest))  # no real token: zeros
