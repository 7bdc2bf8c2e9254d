"""Token-level cross-entropy that ignores padding, with label smoothing."""

import keras
from keras import ops

# Keras' own loss reduction honours a mask attached to the per-token losses
# (the mechanism `Embedding(mask_zero=True)` masks use); keras_hub attaches
# masks the same way. It is not exported under `keras.*`.
from keras.src.backend import set_keras_mask

from kerasformers.checks import check_int, check_rate


def _check_pad_id(pad_id):
    return check_int("pad_id", pad_id, allow_none=True)


def align_labels(y_true, y_pred, owner):
    """Returns integer labels of rank `rank(y_pred) - 1` (squeezing a trailing 1).

    Raises a ValueError naming both shapes when they cannot be aligned.
    """
    y_true = ops.convert_to_tensor(y_true)
    true_rank, pred_rank = len(y_true.shape), len(y_pred.shape)
    if true_rank == pred_rank and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    compatible = len(y_true.shape) == pred_rank - 1 and pred_rank >= 2 and all(
        t is None or p is None or t == p for t, p in zip(y_true.shape, y_pred.shape[:-1])
    )
    if not compatible:
        raise ValueError(
            f"{owner} expects integer labels of shape `y_pred.shape[:-1]` "
            "(token ids `(batch, length)` or classes `(batch,)`) and scores "
            f"`(..., num_classes)`. Received: y_true.shape={tuple(y_true.shape)}, "
            f"y_pred.shape={tuple(y_pred.shape)}"
        )
    return ops.cast(y_true, "int32")


@keras.saving.register_keras_serializable(package="kerasformers")
class MaskedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy over integer labels, label smoothing, padding ignored.

    For each position with label `y` and `V` classes, the target distribution
    is `q = (1 - label_smoothing) * one_hot(y) + label_smoothing / V` (Szegedy
    et al. 2016; the Transformer paper uses `label_smoothing=0.1`), and the
    per-token loss is `-sum_k q_k log p_k`, computed in float32 whatever the
    dtype of `y_pred` (bfloat16 logits are upcast first). It is computed without
    materialising the one-hot matrix:
    `(1 - ε) * (-log p_y) + ε * mean_k(-log p_k)`.

    Token-level labels (`y_true` of rank ≥ 2, such as `(batch, length)`) equal
    to `pad_id` are padding: they contribute nothing, and with the default
    `reduction="sum_over_batch_size"` the batch loss is
    `sum(per-token losses) / number of non-padding tokens`, so appending padding
    to a batch never changes the loss. Classification labels of shape `(batch,)`
    (or `(batch, 1)`) have no padding: every example counts, class `pad_id`
    included.

    How the masked mean comes out of Keras: `call` returns the per-token
    losses and attaches the padding mask to them as a Keras mask; Keras'
    `"sum_over_batch_size"` reduction then gives each valid token the weight
    `total / valid` and the padded ones 0, which is exactly the masked mean.
    A Keras mask carried by `y_pred` (from `Embedding(mask_zero=True)`) is
    combined with the label mask, and a `sample_weight` of shape `(batch,)`
    weights whole sequences (it is broadcast over the length). In `model.fit`
    and `model.evaluate` the epoch's reported `loss` is the mean of these
    per-batch values weighted by batch size (Keras' loss tracker), not a global
    per-token mean.

    Args:
        from_logits: bool. Whether `y_pred` holds logits (the default, `True`)
            or probabilities.
        label_smoothing: float in [0, 1). Mass spread uniformly over all
            classes. Defaults to `0.0`.
        pad_id: int or None. Label id of padding for token-level labels.
            Defaults to `0`. `None` disables masking.
        reduction: Keras reduction. The default `"sum_over_batch_size"` gives
            the mean over non-padding tokens; `"sum"` the sum over them;
            `None`/`"none"` the per-token losses with zeros at padding.
        name: str. Name of the loss.

    Call arguments:
        y_true: int labels `(batch, length)` (or `(batch,)` for classification).
        y_pred: scores `(batch, length, num_classes)` (or `(batch, num_classes)`).
        sample_weight: optional `(batch,)` or `(batch, length)` weights.

    Returns:
        A float32 scalar (or per-token losses with `reduction=None`).

    Example:
    >>> loss = MaskedSparseCategoricalCrossentropy(label_smoothing=0.1)
    >>> labels = np.array([[5, 3, 0, 0]])          # two real tokens, then padding
    >>> logits = np.random.normal(size=(1, 4, 8))
    >>> bool(np.isclose(loss(labels, logits), loss(labels[:, :2], logits[:, :2])))
    True
    >>> model.compile(optimizer="adam", loss=loss)
    """

    def __init__(
        self,
        from_logits=True,
        label_smoothing=0.0,
        pad_id=0,
        reduction="sum_over_batch_size",
        name="masked_sparse_categorical_crossentropy",
    ):
        super().__init__(name=name, reduction=reduction, dtype="float32")
        if not isinstance(from_logits, bool):
            raise ValueError(f"`from_logits` must be a bool. Received: from_logits={from_logits!r}")
        self.from_logits = from_logits
        self.label_smoothing = check_rate("label_smoothing", label_smoothing)
        self.pad_id = _check_pad_id(pad_id)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras does not broadcast a per-sequence weight over a length axis.
        if sample_weight is not None and len(ops.shape(y_pred)) >= 3:
            sample_weight = ops.convert_to_tensor(sample_weight)
            if len(sample_weight.shape) == 1:  # (batch,) -> (batch, 1)
                sample_weight = ops.expand_dims(sample_weight, axis=-1)
        return super().__call__(y_true, y_pred, sample_weight=sample_weight)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        labels = align_labels(y_true, y_pred, type(self).__name__)
        mask = None
        if self.pad_id is not None and len(labels.shape) >= 2:
            mask = ops.not_equal(labels, self.pad_id)
            labels = ops.where(mask, labels, 0)  # any pad_id is a safe index
        log_probs = self._log_probs(y_pred)  # (..., num_classes)
        nll = -ops.squeeze(
            ops.take_along_axis(log_probs, ops.expand_dims(labels, -1), axis=-1), axis=-1
        )
        losses = nll
        if self.label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)
            losses = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        if mask is not None:
            losses = ops.where(mask, losses, 0.0)
            set_keras_mask(losses, mask)
        return losses

    def _log_probs(self, y_pred):
        if self.from_logits:
            return ops.log_softmax(y_pred, axis=-1)
        probs = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        epsilon = keras.config.epsilon()
        return ops.log(ops.clip(probs, epsilon, 1.0 - epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "pad_id": self.pad_id,
        }
