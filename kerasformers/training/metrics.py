"""Metrics for token-level targets that ignore padding."""

import keras
import keras_hub
from keras import ops

# The padding mask a model's output carries (`Embedding(mask_zero=True)`), as the loss reads it
# (see losses.py); not exported under `keras.*`.
from keras.src.backend import get_keras_mask

from kerasformers.training.losses import _check_pad_id, align_labels


@keras.saving.register_keras_serializable(package="kerasformers")
class MaskedAccuracy(keras.metrics.Metric):
    """Accuracy of `argmax(y_pred)` over non-padding tokens, accumulated over batches.

    `result() = correct non-padding tokens / non-padding tokens`, summed over
    every batch since the last `reset_state()` (a global per-token accuracy,
    not a mean of per-batch accuracies). Token-level labels (rank ≥ 2, such as
    `(batch, length)`) equal to `pad_id` are ignored, and so are positions
    that a Keras mask carried by `y_pred` marks as padding (as
    `MaskedSparseCategoricalCrossentropy` ignores them); classification labels
    `(batch,)` or `(batch, 1)` have no padding and all count.

    Args:
        pad_id: int or None. Label id of padding. Defaults to `0`. `None`
            counts every token.
        name: str. Defaults to `"masked_accuracy"`.
        dtype: dtype of the accumulators. Defaults to `"float32"`.

    Call arguments (`update_state`):
        y_true: int labels `(batch, length)` or `(batch,)`.
        y_pred: scores `(batch, length, num_classes)` or `(batch, num_classes)`.
        sample_weight: optional `(batch,)` or `(batch, length)` weights.

    Returns:
        `result()`: a float32 scalar in [0, 1] (0 before any non-padding token).

    Example:
    >>> metric = MaskedAccuracy()
    >>> labels = np.array([[2, 1, 0, 0]])
    >>> logits = np.eye(3)[np.array([[2, 0, 0, 0]])]  # right, wrong, padding, padding
    >>> metric.update_state(labels, logits)
    >>> float(metric.result())
    0.5
    """

    def __init__(self, pad_id=0, name="masked_accuracy", dtype="float32"):
        super().__init__(name=name, dtype=dtype)
        self.pad_id = _check_pad_id(pad_id)
        self.correct = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", dtype=self.dtype, name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        output_mask = get_keras_mask(y_pred)
        y_pred = ops.convert_to_tensor(y_pred)
        labels = align_labels(y_true, y_pred, type(self).__name__)
        predictions = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        matches = ops.cast(ops.equal(labels, predictions), self.dtype)
        weights = ops.ones_like(matches)
        if self.pad_id is not None and len(labels.shape) >= 2:
            weights = ops.cast(ops.not_equal(labels, self.pad_id), self.dtype)
        if output_mask is not None and tuple(output_mask.shape) == tuple(weights.shape):
            weights = weights * ops.cast(output_mask, self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            while len(sample_weight.shape) < len(weights.shape):  # (batch,) -> (batch, 1)
                sample_weight = ops.expand_dims(sample_weight, axis=-1)
            weights = weights * sample_weight
        self.correct.assign_add(ops.sum(matches * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self):
        return {**super().get_config(), "pad_id": self.pad_id}


@keras.saving.register_keras_serializable(package="kerasformers")
class Perplexity(keras_hub.metrics.Perplexity):
    """`keras_hub.metrics.Perplexity` with kerasformers' defaults: logits, padding id 0.

    `result() = exp(sum of token NLLs / number of non-padding tokens)`,
    accumulated over all batches since the last reset (the exponential of the
    global masked mean negative log-likelihood, in float32). It is
    keras_hub's implementation with kerasformers' defaults
    (`from_logits=True`, `mask_token_id=0`), and two additions: positions that
    a Keras mask carried by `y_pred` marks as padding are ignored (as
    `MaskedSparseCategoricalCrossentropy` ignores them), and a per-sequence
    `sample_weight` `(batch,)` weighs every token of its sequence. Unlike the loss it does not apply
    label smoothing, so it measures the model's true likelihood. Before any
    non-padding token, `result()` is `0.0` (keras_hub's convention), not 1.

    Args:
        from_logits: bool. Whether `y_pred` holds logits. Defaults to `True`.
        mask_token_id: int or None. Label id to ignore. Defaults to `0`.
        dtype: float dtype of the computation. Defaults to `"float32"`.
        name: str. Defaults to `"perplexity"`.

    Example:
    >>> perplexity = Perplexity()
    >>> perplexity.update_state(np.array([[1, 2, 0]]), np.zeros((1, 3, 4)))
    >>> round(float(perplexity.result()), 4)  # uniform over 4 classes
    4.0
    """

    def __init__(self, from_logits=True, mask_token_id=0, dtype="float32", name="perplexity", **kwargs):
        super().__init__(
            from_logits=from_logits, mask_token_id=mask_token_id, dtype=dtype, name=name, **kwargs
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        output_mask = get_keras_mask(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        token_shape = ops.shape(y_true)
        if sample_weight is not None:
            sample_weight = ops.cast(ops.convert_to_tensor(sample_weight), self.dtype)
            while len(sample_weight.shape) < len(y_true.shape):  # (batch,) -> (batch, 1)
                sample_weight = ops.expand_dims(sample_weight, axis=-1)
            sample_weight = ops.broadcast_to(sample_weight, token_shape)
        if output_mask is not None and len(output_mask.shape) == len(y_true.shape):
            output_mask = ops.cast(output_mask, self.dtype)
            sample_weight = output_mask if sample_weight is None else sample_weight * output_mask
        super().update_state(y_true, y_pred, sample_weight=sample_weight)
