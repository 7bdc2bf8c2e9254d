"""Training recipes: the paper's schedule, masked losses and metrics, callbacks, `fit`.

Floor 1 of kerasformers: imports only `kerasformers.checks` among kerasformers modules.
"""

from kerasformers.training.callbacks import (
    BACKUP_DIR,
    BestWeightsCheckpoint,
    TextSamples,
    default_callbacks,
    write_scalar_summaries,
    write_text_summary,
)
from kerasformers.training.distributed import (
    check_same_backup,
    end_processes,
    initialize_processes,
    is_chief,
    local_copy,
    process_count,
    process_index,
    process_shard,
    resolve_processes,
    save_on_chief,
)
from kerasformers.training.losses import MaskedSparseCategoricalCrossentropy
from kerasformers.training.metrics import MaskedAccuracy, Perplexity
from kerasformers.training.precision import dtype_policy, fast_bfloat16, resolve_precision
from kerasformers.training.recipe import compile_fine_tuning, compile_recipe, steps_per_epoch_of
from kerasformers.training.schedules import (
    TransformerSchedule,
    WarmupLinearDecay,
    fine_tuning_optimizer,
    paper_optimizer,
    peak_optimizer,
    schedule_parameters,
)
from kerasformers.training.trainer import fit

__all__ = [
    "BACKUP_DIR",
    "BestWeightsCheckpoint",
    "MaskedAccuracy",
    "MaskedSparseCategoricalCrossentropy",
    "Perplexity",
    "TextSamples",
    "TransformerSchedule",
    "WarmupLinearDecay",
    "check_same_backup",
    "compile_fine_tuning",
    "compile_recipe",
    "default_callbacks",
    "dtype_policy",
    "end_processes",
    "fast_bfloat16",
    "fine_tuning_optimizer",
    "fit",
    "initialize_processes",
    "is_chief",
    "local_copy",
    "paper_optimizer",
    "peak_optimizer",
    "process_count",
    "process_index",
    "process_shard",
    "resolve_precision",
    "resolve_processes",
    "save_on_chief",
    "schedule_parameters",
    "steps_per_epoch_of",
    "write_scalar_summaries",
    "write_text_summary",
]
