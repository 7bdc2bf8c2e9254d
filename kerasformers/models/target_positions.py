"""Training without work on padding: the output head and the loss run on the non-padding target positions only.

The language model and the translator predict one token per target position.
On real text most positions of a padded batch are padding, and the output
projection (`model_dim x vocabulary` per position) and the cross-entropy are
the largest part of a training step. `NonPaddingTargets` is the mixin that
makes `fit` and `evaluate` skip them: inside `train_step` / `test_step` the
model runs its layers up to the last hidden states, gathers the positions whose
label is not padding (and whose input is not masked), and applies the head to
those only. The loss and the metrics then see the gathered `(1, n)` labels and
`(1, n, vocabulary)` logits, which gives the same loss as the masked loss on
every position (the masked mean is a mean over the same `n` tokens) and the
same gradients. Everything outside `fit` / `evaluate` (`model(x)`,
`model(x, training=True)`, `predict`, exports) is unchanged: full logits.
"""

import threading

import keras
from keras import ops

from kerasformers.training.losses import MaskedSparseCategoricalCrossentropy


class _Targets:
    """The labels of the batch being traced and, once the model has run, the flat indices it kept."""

    def __init__(self, labels, pad_id):
        self.labels = labels
        self.pad_id = pad_id
        self.indices = None

    def keep(self, hidden, input_mask):
        """`hidden` `(batch, length, dim)` gathered at the kept positions: `(1, n, dim)`."""
        length_shape = ops.shape(hidden)[:2]
        keep = ops.not_equal(ops.reshape(self.labels, length_shape), self.pad_id)
        if input_mask is not None:  # the full model's output carries this mask, and the loss honours it
            keep = ops.logical_and(keep, ops.cast(input_mask, "bool"))
        self.indices = ops.where(ops.reshape(keep, (-1,)))[0]
        flat = ops.reshape(hidden, (-1, ops.shape(hidden)[-1]))
        return ops.expand_dims(ops.take(flat, self.indices, axis=0), 0)

    def gather(self, values):
        """Per-position values `(batch, length)` (or per-sequence `(batch,)`) at the kept positions: `(1, n)`."""
        values = ops.convert_to_tensor(values)
        length_shape = ops.shape(self.labels)[:2]
        if len(values.shape) == 2 and values.shape[-1] == 1:  # (batch, 1): per sequence
            values = ops.squeeze(values, -1)
        if len(values.shape) == 1:  # a weight per sequence, broadcast over its positions
            values = ops.broadcast_to(ops.expand_dims(values, -1), length_shape)
        return ops.expand_dims(ops.take(ops.reshape(values, (-1,)), self.indices, axis=0), 0)


class NonPaddingTargets:
    """Mixin for functional task models with a token-level output head: `fit` and `evaluate` skip padding.

    The model class provides `_hidden_states(inputs, training) -> (hidden,
    input_mask)` (the functional graph up to the output head, with the
    padding mask its output carries, or None; or None for inputs it does not
    take apart, which then run the full graph) and `logits(hidden)` (the
    head).

    Attributes:
        skip_padding_in_loss: bool, default True. While the model is compiled
            with `kerasformers.training.MaskedSparseCategoricalCrossentropy`
            (with a `pad_id`), runs on the TensorFlow backend without
            `jit_compile` (XLA needs static shapes; the number of real tokens
            changes per batch) and the labels are token ids `(batch, length)`,
            `train_step` and `test_step` apply the output head, the loss and
            the metrics only to positions whose label is not `pad_id`. The
            loss and gradients equal those of the full logits (to float32
            round-off). Metrics see the same positions, so a masked metric
            (`MaskedAccuracy`, `Perplexity`) is unchanged and an unmasked
            one no longer counts padding. Set it to False for the full
            logits in training.
    """

    skip_padding_in_loss = True

    def _targets_of(self, data):
        """The `_Targets` of a training/evaluation batch, or None when the full logits are needed."""
        if not self.skip_padding_in_loss or keras.backend.backend() != "tensorflow" or self.jit_compile:
            return None
        loss = getattr(self, "loss", None)
        if not isinstance(loss, MaskedSparseCategoricalCrossentropy) or loss.pad_id is None:
            return None
        _, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if y is None or isinstance(y, (dict, list, tuple)):
            return None
        y = ops.convert_to_tensor(y)
        if len(y.shape) == 3 and y.shape[-1] == 1:
            y = ops.squeeze(y, -1)
        if len(y.shape) != 2:  # not token labels: the full path reports what is wrong
            return None
        return _Targets(y, loss.pad_id)

    def _scope(self):
        local = self.__dict__.get("_non_padding_local")
        if local is None:  # one per thread: tf.distribute traces each replica on its own thread
            local = threading.local()
            object.__setattr__(self, "_non_padding_local", local)
        return local

    def _run_with_targets(self, step, args, kwargs):
        scope = self._scope()
        scope.targets = self._targets_of(args[-1]) if args else None
        try:
            return step(*args, **kwargs)
        finally:
            scope.targets = None

    def train_step(self, *args, **kwargs):
        return self._run_with_targets(super().train_step, args, kwargs)

    def test_step(self, *args, **kwargs):
        return self._run_with_targets(super().test_step, args, kwargs)

    def _active_targets(self):
        return getattr(self._scope(), "targets", None)

    def call(self, inputs, training=None, mask=None, **kwargs):
        targets = self._active_targets()
        states = None
        if targets is not None and not kwargs and all(m is None for m in keras.tree.flatten(mask)):  # {name: None}
            states = self._hidden_states(inputs, training=training)
        if states is None:
            return super().call(inputs, training=training, mask=mask, **kwargs)
        hidden, input_mask = states
        return self.logits(targets.keep(hidden, input_mask))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y, sample_weight = self._gathered(y, sample_weight)
        return super().compute_loss(x, y, y_pred, sample_weight, training=training)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        y, sample_weight = self._gathered(y, sample_weight)
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _gathered(self, y, sample_weight):
        targets = self._active_targets()
        if targets is None or targets.indices is None:
            return y, sample_weight
        y = targets.gather(targets.labels)
        if sample_weight is not None:
            sample_weight = targets.gather(sample_weight)
        return y, sample_weight
