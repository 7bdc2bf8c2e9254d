"""LoRA fine-tuning of kerasformers models, with Keras' own `enable_lora` on the projections."""

import math

from kerasformers.checks import check_positive_int
from kerasformers.layers import FeedForward, MultiHeadAttention

TARGETS = ("attention", "feed_forward")


def lora_projections(model, targets=TARGETS):
    """The `Dense` / `EinsumDense` projections LoRA adapts, in model order.

    Attention: query, key, value and output of every `MultiHeadAttention`
    (self- and cross-attention) of the model's blocks; feed-forward: the inner
    and outer `Dense` of every `FeedForward`.

    Args:
        model: a kerasformers model (or any model whose layers are kerasformers
            blocks, attention or feed-forward layers).
        targets: a subset of `("attention", "feed_forward")`.

    Returns:
        A list of layers.

    Raises:
        ValueError: an unknown target, or a model without such layers.

    Example:
    >>> model = TransformerClassifier.from_preset("tiny", vocabulary_size=100, num_classes=2)  # doctest: +SKIP
    >>> len(lora_projections(model))  # doctest: +SKIP
    12
    """
    unknown = [t for t in targets if t not in TARGETS]
    if unknown or not targets:
        raise ValueError(f"`targets` must be a non-empty subset of {TARGETS}. Received: targets={tuple(targets)}")
    found = []

    def visit(layer):
        if isinstance(layer, MultiHeadAttention):
            if "attention" in targets:
                found.extend([layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense])
            return
        if isinstance(layer, FeedForward):
            if "feed_forward" in targets:
                found.extend([layer.inner, layer.outer])
            return
        for name in ("self_attention", "cross_attention", "feed_forward"):  # kerasformers blocks
            child = getattr(layer, name, None)
            if child is not None:
                visit(child)

    for layer in model.layers:
        visit(layer)
    if not found:
        raise ValueError(f"{model.name} has no kerasformers attention or feed-forward layers to adapt with LoRA.")
    return found


def enable_lora(model, rank, targets=TARGETS, trainable=("head",), alpha=None):
    """Turns full fine-tuning into LoRA: only low-rank updates (and the named layers) train.

    Calls Keras' `enable_lora(rank)` on every projection `lora_projections`
    finds (so the kernels stay frozen and a rank-`rank` update `A @ B`, with
    `B` starting at zero, is learned beside each), then freezes every other
    weight of the model except those of the layers named in `trainable` (the
    new task head). Compile the model afterwards.

    Keras' `EinsumDense` LoRA factors a kernel of shape `(..., n)` as
    `(..., rank) @ (rank, n)`: an attention query kernel `(dim, heads,
    head_dim)` gets `dim * heads * rank + rank * head_dim` parameters.

    Args:
        model: a built kerasformers model.
        rank: int. LoRA rank.
        targets: which projections: `("attention", "feed_forward")` (default).
        trainable: names of layers that stay fully trainable. Defaults to
            `("head",)`, the task head of `TransformerClassifier`; names the
            model lacks are ignored.
        alpha: LoRA scale numerator (`alpha / rank` multiplies the update).
            Defaults to `rank` (scale 1), Keras' default.

    Returns:
        The number of trainable parameters after the change.

    Raises:
        ValueError: a bad `rank` or `targets`, or LoRA already enabled.

    Example:
    >>> model = TransformerClassifier.from_pretrained("all-MiniLM-L6-v2", num_classes=2)  # doctest: +SKIP
    >>> enable_lora(model, rank=8)  # doctest: +SKIP
    """
    rank = check_positive_int("rank", rank)
    projections = lora_projections(model, targets)
    enabled = [p.name for p in projections if p.lora_enabled]
    if enabled:
        raise ValueError(f"LoRA is already enabled on {model.name} (e.g. on {enabled[0]!r}).")
    for projection in projections:
        projection.enable_lora(rank, lora_alpha=alpha)
    keep = {id(v) for p in projections for v in (p.lora_kernel_a, p.lora_kernel_b)}
    names = {layer.name for layer in model.layers}
    for name in trainable:
        if name in names:
            keep.update(id(v) for v in model.get_layer(name).weights)
    for variable in model.weights:
        variable.trainable = id(variable) in keep
    return sum(math.prod(v.shape) for v in model.trainable_weights)


def merge_lora(model):
    """A copy of a LoRA model with every update merged into its kernel: no LoRA weights, same outputs.

    The copy is built from the model's config, so it has the plain
    architecture (for `.keras` files and SavedModels); its kernels are
    `kernel + (alpha / rank) * A @ B`. All weights of the copy are trainable.

    Args:
        model: a model after `enable_lora` (and training).

    Returns:
        A new model of the same class.

    Raises:
        ValueError: if no projection of `model` has LoRA enabled.

    Example:
    >>> merged = merge_lora(model)  # doctest: +SKIP
    >>> merged.save("fine_tuned.keras")  # doctest: +SKIP
    """
    projections = lora_projections(model)
    if not any(p.lora_enabled for p in projections):
        raise ValueError(f"{model.name} has no LoRA weights to merge (call enable_lora first).")
    merged = type(model).from_config(model.get_config())
    lora_ids = {id(v) for p in projections if p.lora_enabled for v in (p.lora_kernel_a, p.lora_kernel_b)}
    source = {v.path: v for v in model.weights if id(v) not in lora_ids}
    for projection in projections:
        kernel_path = next(v.path for v in projection.weights if v.path.endswith("/kernel"))
        source[kernel_path] = projection.kernel  # the property: kernel + scale * A @ B
    for variable in merged.weights:
        if variable.path not in source:
            raise ValueError(f"No weight {variable.path!r} in {model.name} to merge into the copy.")
        variable.assign(source[variable.path])
    return merged
