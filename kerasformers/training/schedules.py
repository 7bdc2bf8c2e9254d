"""The learning-rate schedule and optimizer of "Attention Is All You Need"."""

import math
import numbers

import keras
from keras import ops

from kerasformers.checks import check_int, check_positive_int, check_positive_number, check_rate


@keras.saving.register_keras_serializable(package="kerasformers")
class TransformerSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then inverse-square-root decay (Vaswani et al. 2017, eq. 3).

    `lr(step) = scale * model_dim**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)`

    The rate grows linearly for `warmup_steps` steps, peaks at
    `scale * (model_dim * warmup_steps)**-0.5` when `step == warmup_steps`, and
    then decays as `step**-0.5`.

    Steps are counted from 1, as in the paper. Keras optimizers call the
    schedule with `optimizer.iterations`, which is 0 for the first update, so
    the schedule evaluates the formula at `iterations + 1`: the first update
    uses `step = 1` (a small positive rate instead of 0, or `inf` from
    `0**-0.5`), and update number `warmup_steps` uses the peak rate.

    Args:
        model_dim: int. The model width `d_model` (512 for the paper's base model).
        warmup_steps: int. Number of linear warm-up steps. Defaults to `4000`.
        scale: float. Multiplier applied to the whole formula. Defaults to `1.0`
            (the paper); smaller models or batches often want less than 1.

    Call arguments:
        step: int or scalar tensor. The optimizer's `iterations` (0-based).

    Returns:
        A float32 scalar: the learning rate for update number `step + 1`.

    Example:
    >>> schedule = TransformerSchedule(model_dim=512, warmup_steps=4000)
    >>> round(float(schedule(3999)), 7)  # the peak, at step 4000
    0.0006988
    >>> optimizer = keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, epsilon=1e-9)

    References:
        - [Vaswani et al., 2017](https://arxiv.org/abs/1706.03762), section 5.3.
    """

    def __init__(self, model_dim, warmup_steps=4000, scale=1.0):
        super().__init__()
        self.model_dim = check_positive_int("model_dim", model_dim)
        self.warmup_steps = check_positive_int("warmup_steps", warmup_steps)
        self.scale = check_positive_number("scale", scale)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0  # the paper counts steps from 1
        decay = ops.rsqrt(step)
        warmup = step * (float(self.warmup_steps) ** -1.5)
        factor = self.scale * float(self.model_dim) ** -0.5
        return ops.cast(factor * ops.minimum(decay, warmup), "float32")

    def get_config(self):
        return {
            "model_dim": self.model_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def paper_optimizer(model_dim, warmup_steps=4000, scale=1.0):
    """The paper's optimizer: Adam with `TransformerSchedule` (Vaswani et al. 2017, 5.3).

    `keras.optimizers.Adam(TransformerSchedule(model_dim, warmup_steps, scale),
    beta_1=0.9, beta_2=0.98, epsilon=1e-9)`. This is the default optimizer for
    kerasformers' task models.

    Args:
        model_dim: int. The model width `d_model`.
        warmup_steps: int. Number of linear warm-up steps. Defaults to `4000`.
        scale: float. Multiplier of the learning rate. Defaults to `1.0`.

    Returns:
        A `keras.optimizers.Adam` instance.

    Example:
    >>> model.compile(optimizer=paper_optimizer(model_dim=512), loss=...)  # doctest: +SKIP
    """
    return keras.optimizers.Adam(
        learning_rate=TransformerSchedule(model_dim, warmup_steps=warmup_steps, scale=scale),
        beta_1=0.9,
        beta_2=0.98,
        epsilon=1e-9,
    )


def schedule_parameters(model_dim, total_steps, learning_rate, warmup_steps=None):
    """`(warmup_steps, scale)` of `TransformerSchedule` so that it peaks at `learning_rate`.

    The paper's schedule peaks at `scale * (model_dim * warmup_steps)**-0.5`
    (update number `warmup_steps`); this solves for `scale`. Warm-up defaults
    to a tenth of the run, at least 1 and at most the paper's 4,000 steps.

    Args:
        model_dim: positive int. The model width `d_model`.
        total_steps: positive int. Optimizer updates of the whole run.
        learning_rate: positive float. The peak learning rate.
        warmup_steps: positive int or `None`. Defaults to
            `max(1, min(4000, total_steps // 10))`.

    Returns:
        `(warmup_steps, scale)`: an int and a float, the arguments of
        `TransformerSchedule` (or `paper_optimizer`).

    Raises:
        ValueError: an argument is not positive (its message names the value).

    Example:
    >>> schedule_parameters(model_dim=128, total_steps=1000, learning_rate=2e-3)
    (100, 0.2262741699796952)
    """
    model_dim = check_positive_int("model_dim", model_dim)
    total_steps = check_positive_int("total_steps", total_steps)
    learning_rate = check_positive_number("learning_rate", learning_rate)
    if warmup_steps is None:
        warmup_steps = max(1, min(4000, total_steps // 10))
    warmup_steps = check_positive_int("warmup_steps", warmup_steps)
    return warmup_steps, learning_rate * math.sqrt(model_dim * warmup_steps)


def peak_optimizer(model_dim, total_steps, learning_rate, warmup_steps=None):
    """The paper's Adam and warm-up / inverse-square-root schedule, rescaled to peak at `learning_rate`.

    `paper_optimizer(model_dim, *schedule_parameters(model_dim, total_steps,
    learning_rate, warmup_steps))`: the recipe of kerasformers' tasks, where a
    peak learning rate is easier to choose than the paper's `scale`.

    Args:
        model_dim: positive int. The model width `d_model`.
        total_steps: positive int. Optimizer updates of the whole run.
        learning_rate: positive float. The peak learning rate.
        warmup_steps: positive int or `None`. Defaults to a tenth of the run
            (see `schedule_parameters`).

    Returns:
        A `keras.optimizers.Adam` with a `TransformerSchedule`.

    Raises:
        ValueError: an argument is not positive.

    Example:
    >>> optimizer = peak_optimizer(model_dim=128, total_steps=1000, learning_rate=2e-3)
    >>> optimizer.iterations.assign(99)  # doctest: +ELLIPSIS
    <...>
    >>> round(float(optimizer.learning_rate), 6)  # update number 100, the peak
    0.002
    """
    warmup_steps, scale = schedule_parameters(model_dim, total_steps, learning_rate, warmup_steps)
    return paper_optimizer(model_dim, warmup_steps=warmup_steps, scale=scale)


@keras.saving.register_keras_serializable(package="kerasformers")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to a peak, then linear decay to zero: BERT's fine-tuning schedule.

    With updates counted from 1 (`step = iterations + 1`):
    `lr = peak * step / warmup_steps` up to `warmup_steps`, then
    `lr = peak * (total_steps + 1 - step) / (total_steps + 1 - warmup_steps)`,
    never below 0. The first update has a small positive rate, update number
    `warmup_steps` has the peak, and the last one (`total_steps`) the smallest
    positive rate.

    Args:
        peak_learning_rate: positive float.
        total_steps: positive int. Optimizer updates of the whole run.
        warmup_steps: int in `[0, total_steps]`. Defaults to `0` (decay
            from the first update).

    Call arguments:
        step: int or scalar tensor. The optimizer's `iterations` (0-based).

    Returns:
        A float32 scalar: the learning rate of update number `step + 1`.

    Raises:
        ValueError: a non-positive rate or total, or `warmup_steps` outside
            `[0, total_steps]` (the message names the value).

    Example:
    >>> schedule = WarmupLinearDecay(1e-4, total_steps=100, warmup_steps=10)
    >>> [round(float(schedule(i)), 7) for i in (0, 9, 54, 99)]
    [1e-05, 0.0001, 5.05e-05, 1.1e-06]
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0):
        super().__init__()
        self.peak_learning_rate = check_positive_number("peak_learning_rate", peak_learning_rate)
        self.total_steps = check_positive_int("total_steps", total_steps)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, minimum=0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(
                f"`warmup_steps` must be at most `total_steps` ({self.total_steps}). "
                f"Received: warmup_steps={warmup_steps!r}"
            )

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        warmup = step / float(max(self.warmup_steps, 1))
        remaining = float(self.total_steps + 1 - self.warmup_steps)
        decay = ops.maximum((float(self.total_steps + 1) - step) / remaining, 0.0)
        factor = ops.where(step <= float(self.warmup_steps), warmup, decay)
        return ops.cast(self.peak_learning_rate * factor, "float32")

    def get_config(self):
        return {"peak_learning_rate": self.peak_learning_rate, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


NO_WEIGHT_DECAY = ("bias", "gamma", "beta")  # LayerNorm scales and offsets, biases: as BERT's recipe


def fine_tuning_optimizer(total_steps, learning_rate, warmup_fraction=0.1, weight_decay=0.01):
    """AdamW with linear warm-up and linear decay: the recipe for fine-tuning a pretrained checkpoint.

    `keras.optimizers.AdamW(WarmupLinearDecay(learning_rate, total_steps,
    round(warmup_fraction * total_steps)), weight_decay=weight_decay,
    epsilon=1e-6)`, with biases and LayerNorm weights (`"bias"`, `"gamma"`,
    `"beta"` in the variable name) excluded from weight decay, as in BERT
    (Devlin et al. 2019) and Hugging Face's `Trainer`.

    Args:
        total_steps: positive int. Optimizer updates of the whole run.
        learning_rate: positive float. The peak learning rate (BERT-base:
            2e-5 to 5e-5; small checkpoints such as MiniLM take 1e-4).
        warmup_fraction: float in [0, 1). Share of the run spent warming up.
            Defaults to `0.1`.
        weight_decay: non-negative float. Defaults to `0.01`.

    Returns:
        A `keras.optimizers.AdamW`.

    Raises:
        ValueError: a bad argument (the message names the value).

    Example:
    >>> optimizer = fine_tuning_optimizer(total_steps=1000, learning_rate=1e-4)
    >>> optimizer.iterations.assign(99)  # doctest: +ELLIPSIS
    <...>
    >>> round(float(optimizer.learning_rate), 6)  # update number 100: the peak
    0.0001
    """
    total_steps = check_positive_int("total_steps", total_steps)
    warmup_fraction = check_rate("warmup_fraction", warmup_fraction)
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real) or not 0 <= weight_decay < math.inf:
        raise ValueError(f"`weight_decay` must be a non-negative number. Received: weight_decay={weight_decay!r}")
    schedule = WarmupLinearDecay(learning_rate, total_steps, int(round(warmup_fraction * total_steps)))
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=weight_decay, epsilon=1e-6)
    optimizer.exclude_from_weight_decay(var_names=list(NO_WEIGHT_DECAY))
    return optimizer
