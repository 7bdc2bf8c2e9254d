"""Training recipes: the paper's schedule, masked losses and metrics, callbacks, `fit`."""

from kerasformers.training.callbacks import BestWeightsCheckpoint, default_callbacks
from kerasformers.training.losses import MaskedSparseCategoricalCrossentropy
from kerasformers.training.metrics import MaskedAccuracy, Perplexity
from kerasformers.training.precision import dtype_policy, fast_bfloat16, resolve_precision
from kerasformers.training.schedules import TransformerSchedule, paper_optimizer
from kerasformers.training.trainer import fit

__all__ = [
    "BestWeightsCheckpoint",
    "MaskedAccuracy",
    "MaskedSparseCategoricalCrossentropy",
    "Perplexity",
    "TransformerSchedule",
    "default_callbacks",
    "dtype_policy",
    "fast_bfloat16",
    "fit",
    "paper_optimizer",
    "resolve_precision",
]
