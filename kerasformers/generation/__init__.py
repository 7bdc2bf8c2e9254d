"""Generation: compiled decoding loops, greedy / top-k / top-p sampling (keras_hub samplers) and beam search.

- `generate(model, prompt_ids, max_new_tokens, ...)`: continue prompts with a
  causal language model.
- `translate(model, source_ids, ...)`: decode targets with an encoder-decoder
  model.
- `resolve_sampler`, `build_generate_function`, `build_translate_function`:
  the validated sampler and the uncompiled decoding loops that `generate` /
  `translate` compile, for callers that trace them into their own graph
  (`kerasformers.export`).
- `BeamSearch`: beam search with the GNMT length penalty.
- `SeededSampler`, `SamplingOptions`, `sample_next_tokens`: the per-row
  seeded sampler behind greedy / top-k / top-p (module `sampling`), whose
  options are tensors (per request in a SavedModel).

This package imports no model class: it drives any object that provides the
decoding step, as `TransformerLanguageModel` and `TransformerSeq2Seq` do
(after `keras_hub.models.CausalLM.call_with_cache`). The step protocol:

Causal language model (`generate`):
    `vocabulary_size`: int.
    `max_length`: int. Longest sequence (prompt + new tokens).
    `init_cache(batch_size, max_length)`: an empty cache for `max_length`
        positions; `batch_size` may be a scalar tensor.
    `call_with_cache(token_ids, cache, index)` -> `(logits, cache)`: the
        float32 logits `(batch, length, vocabulary_size)` of the int32
        `token_ids` `(batch, length)` at positions `index ...`, attending to
        the cached positions before them, and the cache with their keys and
        values written in.

Encoder-decoder model (`translate`):
    `encoder_vocabulary_size`, `target_vocabulary_size`, `max_length`: ints.
    `encode(source_ids)` -> `(encoder_outputs, encoder_padding_mask)`.
    `init_cache(encoder_outputs, encoder_padding_mask, max_length)`: the
        decoder cache for these sources (e.g. cross-attention keys/values).
    `call_with_cache(token_ids, cache, index)` -> `(logits, cache)`: as above,
        over the target vocabulary.

A cache is any nested structure of tensors with a leading batch axis (beam
search repeats and reorders every leaf along it). `use_cache=False` fills a
fresh cache from the whole sequence at every step: the same protocol, no other
method needed.
"""

from kerasformers.generation.beam_search import BeamSearch, length_penalty_factor
from kerasformers.generation.sampling import SamplingOptions, SeededSampler, sample_next_tokens
from kerasformers.generation.decoding import (
    SAMPLERS,
    build_generate_function,
    build_translate_function,
    generate,
    resolve_sampler,
    trace_count,
    translate,
)

__all__ = [
    "SAMPLERS",
    "BeamSearch",
    "SamplingOptions",
    "SeededSampler",
    "build_generate_function",
    "build_translate_function",
    "generate",
    "length_penalty_factor",
    "resolve_sampler",
    "sample_next_tokens",
    "trace_count",
    "translate",
]
