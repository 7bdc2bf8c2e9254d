"""Cached (and uncached) single-step forward passes of the task models.

The training graph of `TransformerLanguageModel` / `TransformerSeq2Seq` runs
the whole sequence at once. Generation instead feeds one position at a time
and keeps the keys and values of every earlier position in a cache, so a step
costs O(length) instead of O(length^2). These functions reuse the model's own
layers (`embedding`, `decoder_layers`, `final_norm`, ...) and therefore its
weights; they live beside the functional graph, not inside it (as in
`keras_hub.models.GPT2CausalLM.call_with_cache`).

Cache layouts (plain tuples, so that `keras.tree`, `tf.while_loop` and
`jax.lax.while_loop` can carry them, and a beam search can repeat or reorder
every leaf along the batch axis):

- language model: one `(key_cache, value_cache)` per decoder layer, each of
  shape `(batch, max_length, num_heads, head_dim)`.
- seq2seq: `(self_caches, cross_caches, encoder_padding_mask,
  decoder_padding_mask)`: `self_caches` as above, `cross_caches` one
  `(keys, values)` per decoder layer of shape `(batch, source_length,
  num_heads, head_dim)` computed once per source, the boolean `(batch,
  source_length)` source padding mask, and a boolean `(batch, max_length)`
  record of which cached target positions hold a real token (id != 0): the
  full model masks padding in the decoder input, so the cached path does too.
"""

from keras import ops


def _layer_output(result):
    """`(outputs, cache)` or `(outputs, scores, cache)` -> `(outputs, cache)`."""
    return result[0], result[-1]


def _lm_logits(model, hidden):
    """Final norm + output projection of the language model, float32 logits."""
    if model.final_norm is not None:
        hidden = model.final_norm(hidden)
    if model.output_projection is None:  # tied to the token embedding
        logits = model.embedding(hidden, reverse=True)
    else:
        logits = model.output_projection(hidden)
    return ops.cast(logits, "float32")


# --------------------------------------------------------------- language model
def init_cache(model, batch_size, max_length):
    """An empty key/value cache of a `TransformerLanguageModel` for `max_length` positions."""
    return tuple(layer.self_attention.init_cache(batch_size, max_length) for layer in model.decoder_layers)


def call_with_cache(model, token_ids, cache, index):
    """One cached forward pass of a `TransformerLanguageModel`.

    Args:
        model: a `TransformerLanguageModel`.
        token_ids: int `(batch, length)`, the tokens at positions
            `index ... index + length - 1` (length 1 while generating, the
            whole prompt when seeding the cache).
        cache: tuple of one `(key_cache, value_cache)` per decoder layer (see
            `init_cache`).
        index: int or scalar int tensor: position of `token_ids[:, 0]`.

    Returns:
        `(logits, cache)`: float32 logits `(batch, length, vocabulary_size)`
        and the cache with the keys/values of `token_ids` written at
        `index ...`.
    """
    x = model.embedding(token_ids, start_index=index)  # (batch, length, model_dim)
    new_cache = []
    for layer, layer_cache in zip(model.decoder_layers, cache):
        x, layer_cache = _layer_output(
            layer(x, self_attention_cache=layer_cache, self_attention_cache_update_index=index, training=False)
        )
        new_cache.append(layer_cache)
    return _lm_logits(model, x), tuple(new_cache)


def call_without_cache(model, token_ids, position):
    """Logits at `position` from a full pass over `token_ids` (no cache).

    Every decoder layer runs over the whole `(batch, length)` buffer (causal
    attention: later positions do not change the result); only the hidden
    state at `position` is projected to the vocabulary. The reference path for
    benchmarks: O(length^2) work per generated token.

    Returns:
        float32 logits `(batch, vocabulary_size)`.
    """
    x = model.embedding(token_ids)
    for layer in model.decoder_layers:
        x = layer(x, training=False)
    hidden = ops.take(x, position, axis=1)  # (batch, model_dim)
    return _lm_logits(model, hidden[:, None])[:, 0]


# ---------------------------------------------------------------------- seq2seq
def init_seq2seq_cache(model, encoder_outputs, encoder_padding_mask, max_length):
    """Decoder cache of a `TransformerSeq2Seq` for one batch of sources.

    The cross-attention keys/values of every decoder layer are computed here,
    once per source; the self-attention caches start empty.

    Args:
        model: a `TransformerSeq2Seq`.
        encoder_outputs: `(batch, source_length, model_dim)` from `model.encode`.
        encoder_padding_mask: boolean `(batch, source_length)` from `model.encode`.
        max_length: int. Number of decoder positions to cache.

    Returns:
        `(self_caches, cross_caches, encoder_padding_mask, decoder_padding_mask)`.
    """
    batch_size = ops.shape(encoder_outputs)[0]
    self_caches = tuple(layer.self_attention.init_cache(batch_size, max_length) for layer in model.decoder_layers)
    cross_caches = tuple(layer.compute_cross_attention_cache(encoder_outputs) for layer in model.decoder_layers)
    decoder_padding_mask = ops.zeros((batch_size, max_length), "bool")
    return self_caches, cross_caches, ops.cast(encoder_padding_mask, "bool"), decoder_padding_mask


def seq2seq_call_with_cache(model, token_ids, cache, index):
    """One cached decoder pass of a `TransformerSeq2Seq`.

    Args:
        model: a `TransformerSeq2Seq`.
        token_ids: int `(batch, length)` target tokens at positions `index ...`.
        cache: `(self_caches, cross_caches, encoder_padding_mask,
            decoder_padding_mask)` from `init_seq2seq_cache`.
        index: int or scalar int tensor.

    Returns:
        `(logits, cache)`: float32 logits `(batch, length,
        decoder_vocabulary_size)` and the updated cache (cross-attention part
        and mask unchanged).
    """
    self_caches, cross_caches, encoder_padding_mask, decoder_padding_mask = cache
    padding_mask = ops.not_equal(token_ids, 0)  # (batch, length), as in `model.decode`
    decoder_padding_mask = ops.slice_update(decoder_padding_mask, [0, index], padding_mask)  # (batch, max_length)
    # Cached target positions holding padding are not attended to (the causal mask hides later ones).
    attention_mask = ops.logical_and(padding_mask[:, :, None], decoder_padding_mask[:, None, :])
    y = model.decoder_embedding(token_ids, start_index=index)  # (batch, length, model_dim)
    new_caches = []
    for layer, self_cache, cross_cache in zip(model.decoder_layers, self_caches, cross_caches):
        y, self_cache = _layer_output(
            layer(
                y,
                decoder_padding_mask=padding_mask,
                decoder_attention_mask=attention_mask,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                training=False,
            )
        )
        new_caches.append(self_cache)
    return model.project(y), (tuple(new_caches), cross_caches, encoder_padding_mask, decoder_padding_mask)


def seq2seq_call_without_cache(model, token_ids, encoder_outputs, encoder_padding_mask, position):
    """Decoder logits at `position` from a full pass over `token_ids` (no cache). float32 `(batch, vocabulary)`."""
    padding_mask = ops.not_equal(token_ids, 0)
    y = model.decoder_embedding(token_ids)
    for layer in model.decoder_layers:
        y = layer(
            y, encoder_outputs, decoder_padding_mask=padding_mask, encoder_padding_mask=encoder_padding_mask,
            training=False,
        )
    hidden = ops.take(y, position, axis=1)  # (batch, model_dim)
    return model.project(hidden[:, None])[:, 0]
