"""Published checkpoints: reading Hugging Face directories (config, safetensors weights, tokenizer files).

Floor 1: plain file reading; `kerasformers.models` maps the tensors onto its
models (`TransformerClassifier.from_pretrained`, ...).
"""

from kerasformers.checkpoints.files import (
    CheckpointError,
    SafetensorsReader,
    checkpoint_format,
    read_json,
    resolve_directory,
)
from kerasformers.checkpoints.tokenizers import load_pretrained_tokenizer

__all__ = [
    "CheckpointError",
    "SafetensorsReader",
    "checkpoint_format",
    "load_pretrained_tokenizer",
    "read_json",
    "resolve_directory",
]
