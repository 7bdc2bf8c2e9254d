"""The models' fused one-token decoding step (`token_step`): weights read once, 2-D activations.

`TransformerLanguageModel.token_step(cache)` and
`TransformerSeq2Seq.token_step(cache)` return a `TokenStep` (or None when a
part cannot be fused: see `kerasformers.layers.decoding_step`). It computes
what `call_with_cache(token_ids[:, None], cache, index)` computes, for one
token per row, with the cache in the step's own layout (`step.cache`, made
once from the model's). `kerasformers.generation` uses it inside its decoding
loops; without XLA (TF Serving's default) it runs about a third of the ops
per generated token of the layers' `call`.
"""

import math

from keras import ops

from kerasformers.layers.decoding_step import (
    DecoderStep,
    LayerNormStep,
    decoder_step_supported,
    layer_norm_supported,
    read,
    step_cache,
    write_positions,
)


def _quantized(layer):
    return layer is not None and getattr(layer, "quantization_mode", None) is not None


def embedding_supported(embedding):
    """A float32 `TokenAndPositionEmbedding` whose tables are not quantized."""
    return embedding.compute_dtype == "float32" and not _quantized(embedding.token_embedding) and not _quantized(
        embedding.segment_embedding
    )


def head_supported(norm, projection):
    return (norm is None or layer_norm_supported(norm)) and not _quantized(projection)


def mask_id(embedding):
    """The id that the embedding masks as padding, or None."""
    return 0 if embedding.mask_zero else embedding.padding_id


class EmbeddingStep:
    """`TokenAndPositionEmbedding` for one token per row at position `index`, tables read once.

    Args:
        embedding: a built `TokenAndPositionEmbedding`.
        length: positions the step may be called at (`0 ... length - 1`).
    """

    def __init__(self, embedding, length):
        self.table = embedding.token_embedding.embeddings  # (vocabulary, dim), read where used: no copy per call
        dim = self.table.shape[-1]
        self.scale = math.sqrt(dim) if embedding.scale_embeddings else None
        positions = embedding.position_embedding(ops.zeros((1, length, dim), embedding.compute_dtype))[0]
        if embedding.segment_embedding is not None:  # one segment: row 0 everywhere, as the layer does
            positions = positions + read(embedding.segment_embedding.embeddings)[0]
        self.positions = positions  # (length, dim)

    def __call__(self, token_ids, index):  # (batch,) ids, scalar index -> (batch, dim)
        tokens = ops.take(self.table, token_ids, axis=0)
        if self.scale is not None:
            tokens = tokens * self.scale
        return tokens + ops.slice(self.positions, [index, 0], [1, self.positions.shape[1]])


class HeadStep:
    """The output head (final norm, tied or untied projection) for `(batch, dim)` hidden states."""

    def __init__(self, norm, embedding, projection):
        self.norm = None if norm is None else LayerNormStep(norm)
        self.table = None
        if projection is None:  # tied: hidden states times the token table, transposed (read in place)
            self.table = embedding.token_embedding.embeddings
        else:
            self.kernel = read(projection.kernel)
            self.bias = None if projection.bias is None else read(projection.bias)

    def __call__(self, hidden):  # (batch, dim) -> float32 (batch, vocabulary)
        if self.norm is not None:
            hidden = self.norm(hidden)
        if self.table is not None:
            return ops.cast(ops.einsum("bd,vd->bv", hidden, self.table), "float32")
        logits = ops.matmul(hidden, self.kernel)
        return ops.cast(logits if self.bias is None else logits + self.bias, "float32")


def supported(embedding, layers, norm, projection):
    return embedding_supported(embedding) and head_supported(norm, projection) and all(
        decoder_step_supported(layer) for layer in layers
    )


class TokenStep:
    """A model's fused step: `step(token_ids, cache, index) -> (logits, cache)`, `step.cache` to start from.

    Built by the models' `token_step(cache)`; not made directly.

    Attributes:
        cache: the model's cache (as passed to `token_step`) in the step's
            layout: the state to pass to the first call.

    Call arguments:
        token_ids: int32 `(batch,)`, one token per row.
        cache: the step's cache (`step.cache`, or what a call returned).
        index: int32 scalar, the tokens' position.

    Returns:
        `(logits, cache)`: float32 `(batch, vocabulary)`, equal to
        `call_with_cache(token_ids[:, None], ...)[0][:, 0]`, and the updated
        cache.
    """

    def __init__(self, embedding, layers, norm, projection, cache, length, padding_id=None, seq2seq=False):
        self.embedding = EmbeddingStep(embedding, length)
        self.layers = [DecoderStep(layer) for layer in layers]
        self.head = HeadStep(norm, embedding, projection)
        self.padding_id = padding_id
        self.seq2seq = seq2seq
        self.positions = ops.arange(length, dtype="int32")
        if seq2seq:
            self_caches, cross_caches, source_mask, target_mask = cache
            source_mask = ops.cast(source_mask, "bool")
            source_visible = ops.cast(ops.any(source_mask, axis=-1, keepdims=True), "float32")  # (batch, 1)
            cross = tuple((*step_cache(c), source_mask[:, None, None, :], source_visible) for c in cross_caches)
            self.cache = (tuple(step_cache(c) for c in self_caches), cross, ops.cast(target_mask, "bool"))
        else:
            self.cache = tuple(step_cache(c) for c in cache)

    def __call__(self, token_ids, cache, index):
        token_ids = ops.cast(token_ids, "int32")
        x = self.embedding(token_ids, index)  # (batch, dim)
        batch = ops.shape(token_ids)[0]
        write_at = {heads: write_positions(batch, index, heads) for heads in {layer.heads for layer in self.layers}}
        query_visible = None
        mask = self.positions <= index  # causal: (length,)
        cross = [None] * len(self.layers)
        if self.padding_id is not None:
            real = ops.not_equal(token_ids, self.padding_id)  # (batch,)
            query_visible = ops.cast(real, x.dtype)[:, None]
        if self.seq2seq:
            self_caches, cross, target_mask = cache
            # Which cached target positions hold a real token (as `call_with_cache` records them).
            target_mask = ops.scatter_update(target_mask, write_positions(batch, index), real)
            mask = ops.logical_and(target_mask, mask)[:, None, None, :]
        else:
            self_caches = cache
        new_caches = []
        for layer, layer_cache, layer_cross in zip(self.layers, self_caches, cross):
            x, layer_cache = layer(x, layer_cache, index, mask, query_visible, layer_cross,
                                   write_at=write_at[layer.heads])
            new_caches.append(layer_cache)
        logits = self.head(x)
        new_caches = tuple(new_caches)
        return logits, ((new_caches, cross, target_mask) if self.seq2seq else new_caches)
