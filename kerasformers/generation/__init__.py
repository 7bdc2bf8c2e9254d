"""Generation: cached decoding, greedy / top-k / top-p sampling (keras_hub samplers) and beam search.

- `generate(model, prompt_ids, max_new_tokens, ...)` for `TransformerLanguageModel`
  (also `model.generate(...)`).
- `translate(model, source_ids, ...)` for `TransformerSeq2Seq` (also `model.translate(...)`).
- `call_with_cache` / `seq2seq_call_with_cache`: one cached forward step, for custom loops.
- `BeamSearch`: beam search with the GNMT length penalty.
"""

from kerasformers.generation.beam_search import BeamSearch, length_penalty_factor
from kerasformers.generation.cache import (
    call_with_cache,
    call_without_cache,
    init_cache,
    init_seq2seq_cache,
    seq2seq_call_with_cache,
    seq2seq_call_without_cache,
)
from kerasformers.generation.decoding import SAMPLERS, generate, trace_count, translate
