"""The tasks' training recipes: from scratch (the paper's optimizer peaking at a learning rate) or fine-tuning
(AdamW, warm-up and linear decay), with a masked loss and metric."""

from kerasformers.checks import check_positive_int, check_positive_number, check_rate
from kerasformers.training.losses import MaskedSparseCategoricalCrossentropy
from kerasformers.training.metrics import MaskedAccuracy, Perplexity
from kerasformers.training.schedules import fine_tuning_optimizer, peak_optimizer


def steps_per_epoch_of(dataset, steps_per_epoch):
    """Batches in one epoch: `steps_per_epoch` if given, else the dataset's cardinality (1 if unknown).

    Args:
        dataset: a `tf.data.Dataset` (anything with `cardinality()`).
        steps_per_epoch: positive int, or `None` (or 0) for "not given". A
            cap on an epoch, as passed to `model.fit`; wins when given.

    Returns:
        int ≥ 1. An infinite or unknown cardinality counts as 1.

    Raises:
        ValueError: `steps_per_epoch` is given but not a positive int.

    Example:
    >>> import tensorflow as tf
    >>> steps_per_epoch_of(tf.data.Dataset.range(10).batch(4), None)
    3
    >>> steps_per_epoch_of(tf.data.Dataset.range(10).batch(4), 50)
    50
    """
    if steps_per_epoch:  # None or 0: not given
        return check_positive_int("steps_per_epoch", steps_per_epoch)
    count = int(dataset.cardinality())
    return count if count > 0 else 1


def compile_recipe(model, train_data, *, epochs, steps_per_epoch, learning_rate, label_smoothing=0.0,
                   perplexity=False, model_dim=None):
    """Compiles a model with the tasks' recipe: the paper's Adam and schedule, masked loss, masked metric.

    - optimizer: `peak_optimizer`, sized for `epochs` epochs of
      `steps_per_epoch_of(train_data, steps_per_epoch)` updates, so the
      warm-up / inverse-square-root schedule peaks at `learning_rate`;
    - loss: `MaskedSparseCategoricalCrossentropy(label_smoothing=...)`
      (padding, id 0, is ignored);
    - metric: `MaskedAccuracy(name="accuracy")`, or `Perplexity()` for
      language models.

    Args:
        model: a `keras.Model` whose outputs are logits over a vocabulary.
        train_data: the training `tf.data.Dataset` (its cardinality sizes the
            schedule when `steps_per_epoch` is None).
        epochs: positive int, keyword-only.
        steps_per_epoch: positive int or `None`, keyword-only.
        learning_rate: positive float, keyword-only. The schedule's peak.
        label_smoothing: float in [0, 1). Defaults to `0.0` (the paper's
            translation models use `0.1`).
        perplexity: bool. Track `Perplexity` instead of accuracy. Defaults to
            `False`.
        model_dim: positive int or `None`. The schedule's `d_model`. Defaults
            to `model.model_dim`.

    Returns:
        `model`, compiled.

    Raises:
        ValueError: a bad argument, or no `model_dim` given for a model
            without a `model_dim` attribute.

    Example:
    >>> model = kerasformers.TransformerLanguageModel.from_preset("tiny", vocabulary_size=100)  # doctest: +SKIP
    >>> compile_recipe(model, train_ds, epochs=3, steps_per_epoch=None, learning_rate=1e-3,
    ...                perplexity=True)  # doctest: +SKIP
    """
    epochs = check_positive_int("epochs", epochs)
    learning_rate = check_positive_number("learning_rate", learning_rate)
    label_smoothing = check_rate("label_smoothing", label_smoothing)
    if model_dim is None:
        model_dim = getattr(model, "model_dim", None)
        if model_dim is None:
            raise ValueError(
                f"compile_recipe needs `model_dim` for a model without a `model_dim` attribute. "
                f"Received: model={getattr(model, 'name', model)!r}, model_dim=None"
            )
    model_dim = check_positive_int("model_dim", model_dim)
    total_steps = epochs * steps_per_epoch_of(train_data, steps_per_epoch)
    model.compile(
        optimizer=peak_optimizer(model_dim, total_steps, learning_rate),
        loss=MaskedSparseCategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=[Perplexity() if perplexity else MaskedAccuracy(name="accuracy")],
    )
    return model


def compile_fine_tuning(model, train_data, *, epochs, steps_per_epoch, learning_rate, warmup_fraction=0.1,
                        weight_decay=0.01, perplexity=False, pad_id=0):
    """Compiles a model built from a pretrained checkpoint with the fine-tuning recipe.

    - optimizer: `fine_tuning_optimizer` (AdamW, linear warm-up over
      `warmup_fraction` of the run, then linear decay to zero, no weight
      decay on biases and LayerNorm weights), sized for `epochs` epochs of
      `steps_per_epoch_of(train_data, steps_per_epoch)` updates;
    - loss and metric: as `compile_recipe` (masked cross-entropy; accuracy,
      or perplexity for language models).

    Args:
        model: a `keras.Model` whose outputs are logits.
        train_data: the training `tf.data.Dataset` (its cardinality sizes the
            schedule when `steps_per_epoch` is None).
        epochs: positive int, keyword-only.
        steps_per_epoch: positive int or `None`, keyword-only.
        learning_rate: positive float, keyword-only. The peak learning rate.
        warmup_fraction: float in [0, 1). Defaults to `0.1`.
        weight_decay: non-negative float. Defaults to `0.01`.
        perplexity: bool. Track `Perplexity` instead of accuracy.
        pad_id: int or `None`. Token-level labels equal to it are padding
            (ignored by the loss and metric). Defaults to `0`; pass `None`
            for a checkpoint whose id 0 is a real token (GPT-2's `!`) when
            the labels hold no padding.

    Returns:
        `model`, compiled.

    Raises:
        ValueError: a bad argument (the message names the value).

    Example:
    >>> model = TransformerClassifier.from_pretrained("all-MiniLM-L6-v2", num_classes=2)  # doctest: +SKIP
    >>> compile_fine_tuning(model, train_ds, epochs=2, steps_per_epoch=None, learning_rate=1e-4)  # doctest: +SKIP
    """
    epochs = check_positive_int("epochs", epochs)
    learning_rate = check_positive_number("learning_rate", learning_rate)
    total_steps = epochs * steps_per_epoch_of(train_data, steps_per_epoch)
    model.compile(
        optimizer=fine_tuning_optimizer(total_steps, learning_rate, warmup_fraction, weight_decay),
        loss=MaskedSparseCategoricalCrossentropy(pad_id=pad_id),
        metrics=[Perplexity(mask_token_id=pad_id) if perplexity else MaskedAccuracy(pad_id=pad_id, name="accuracy")],
    )
    return model
