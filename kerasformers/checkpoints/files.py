"""Reading a published checkpoint's files: the directory, `config.json` and safetensors weights."""

import json
import os
import pathlib
import re

HF_CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
# Files a kerasformers load reads; a hub download fetches only these.
DOWNLOAD_PATTERNS = [
    "config.json", "*.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt",
]
_HUB_ID = re.compile(r"^(hf://)?[\w.-]+/[\w.-]+$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read: a missing file, an unsupported model, a missing or misshapen tensor."""


def resolve_directory(path):
    """The local directory of a checkpoint: `path` itself, or a download of a hub id.

    Nothing is downloaded for an existing directory. A path that does not exist
    and looks like a Hugging Face hub id (`"org/name"` or `"hf://org/name"`)
    is fetched with `huggingface_hub.snapshot_download` (config, weights and
    tokenizer files only), which needs a network.

    Args:
        path: str or `pathlib.Path`.

    Returns:
        A `pathlib.Path` to a directory.

    Raises:
        CheckpointError: the path is not a directory and not a hub id, or the
            download failed (the message says a network is needed).
    """
    text = os.fspath(path)
    directory = pathlib.Path(text).expanduser()
    if directory.is_dir():
        return directory
    if directory.exists():
        raise CheckpointError(f"A checkpoint is a directory (config.json, weights, tokenizer files). Received a file: {text}")
    if not _HUB_ID.match(text):
        raise CheckpointError(f"No checkpoint directory at {text!r}.")
    repo_id = text[len("hf://"):] if text.startswith("hf://") else text
    try:
        import huggingface_hub  # noqa: PLC0415 - optional, only for hub ids
    except ImportError as error:
        raise CheckpointError(
            f"{text!r} is not a local directory. To download it as a Hugging Face hub id, install "
            "`huggingface_hub`; or download the checkpoint yourself and pass its directory."
        ) from error
    try:
        return pathlib.Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=DOWNLOAD_PATTERNS))
    except Exception as error:  # network, unknown repo, auth: one clear message, the cause chained
        raise CheckpointError(
            f"{text!r} is not a local directory, and downloading it from the Hugging Face hub failed "
            f"({type(error).__name__}: {error}). Downloading needs a network; without one, pass the "
            "directory of a checkpoint on disk."
        ) from error


def read_json(directory, name, required=True):
    """`directory/name` parsed, or None when absent and not `required`."""
    path = pathlib.Path(directory) / name
    if not path.is_file():
        if required:
            raise CheckpointError(f"Missing {name} in {directory}.")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from error


def checkpoint_format(directory):
    """`"transformers"` (a Hugging Face directory: `model_type`) or `"keras_hub"` (a KerasHub preset)."""
    config = read_json(directory, HF_CONFIG)
    if "model_type" in config:
        return "transformers"
    if "registered_name" in config:
        return "keras_hub"
    raise CheckpointError(
        f"{pathlib.Path(directory) / HF_CONFIG} has neither `model_type` (Hugging Face) nor "
        "`registered_name` (KerasHub): not a checkpoint kerasformers can read."
    )


class SafetensorsReader:
    """The tensors of a Hugging Face checkpoint as NumPy arrays, from one file or shards.

    Reads `model.safetensors`, or the shards listed by
    `model.safetensors.index.json`, with the `safetensors` NumPy API (no
    torch). Names may carry a model prefix (`bert.`, `transformer.`): `get`
    accepts the bare name.

    Args:
        directory: the checkpoint directory.

    Example:
    >>> reader = SafetensorsReader("all-MiniLM-L6-v2")  # doctest: +SKIP
    >>> reader.get("embeddings.word_embeddings.weight").shape  # doctest: +SKIP
    (30522, 384)
    """

    PREFIXES = ("", "bert.", "transformer.", "model.", "gpt2.")

    def __init__(self, directory):
        from safetensors import safe_open  # noqa: PLC0415 - a dependency; imported where used

        self.directory = pathlib.Path(directory)
        index = read_json(self.directory, SAFETENSORS_INDEX, required=False)
        if index is not None:
            weight_map = index.get("weight_map")
            if not isinstance(weight_map, dict):
                raise CheckpointError(f"{self.directory / SAFETENSORS_INDEX} has no `weight_map`.")
            files = sorted(set(weight_map.values()))
        elif (self.directory / SAFETENSORS).is_file():
            weight_map, files = None, [SAFETENSORS]
        else:
            raise CheckpointError(
                f"No weights in {self.directory}: expected {SAFETENSORS} or {SAFETENSORS_INDEX} "
                "(PyTorch .bin checkpoints are not read; convert them to safetensors)."
            )
        self._handles, self._where = {}, {}
        for name in files:
            path = self.directory / name
            if not path.is_file():
                raise CheckpointError(f"Missing weights shard {name} listed in {self.directory / SAFETENSORS_INDEX}.")
            try:
                handle = safe_open(str(path), framework="numpy")
            except Exception as error:
                raise CheckpointError(f"Cannot read {path} as safetensors: {error}") from error
            self._handles[name] = handle
            for key in handle.keys():
                self._where[key] = name
        if weight_map is not None:
            missing = sorted(k for k in weight_map if k not in self._where)
            if missing:
                raise CheckpointError(
                    f"{SAFETENSORS_INDEX} lists tensors its shards do not hold: {', '.join(missing[:5])}"
                )

    def names(self):
        """Every tensor name in the checkpoint."""
        return sorted(self._where)

    def _key(self, name):
        for prefix in self.PREFIXES:
            if prefix + name in self._where:
                return prefix + name
        return None

    def has(self, name):
        """Whether the checkpoint holds `name` (with or without a model prefix)."""
        return self._key(name) is not None

    def get(self, name):
        """The tensor `name` as a NumPy array (float32 for floating tensors).

        Args:
            name: the tensor's name without model prefix, e.g.
                `"encoder.layer.0.attention.self.query.weight"`.

        Raises:
            CheckpointError: the tensor is missing; the message names the
                files searched and the tensor.
        """
        key = self._key(name)
        if key is None:
            files = ", ".join(str(self.directory / f) for f in self._handles)
            raise CheckpointError(f"Tensor {name!r} is missing from {files}.")
        array = self._handles[self._where[key]].get_tensor(key)
        if array.dtype.kind == "f":
            array = array.astype("float32")
        return array
