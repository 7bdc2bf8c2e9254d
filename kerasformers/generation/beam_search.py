"""Beam search with the GNMT length penalty and frozen finished hypotheses."""

import math
import numbers

from keras import ops
from keras import tree

from kerasformers.checks import check_int, check_positive_number

NEG = -1e9  # "impossible" log-probability; finite so that sums and products never give NaN


def length_penalty_factor(length, alpha):
    """GNMT length normalisation `((5 + length) / 6) ** alpha` (Wu et al. 2016, eq. 14)."""
    length = ops.cast(length, "float32")
    return ops.power((5.0 + length) / 6.0, float(alpha))


class BeamSearch:
    """Beam search over a `next(prompt, cache, index)` step function.

    Why not `keras_hub.samplers.BeamSampler`: it ranks beams by their raw
    summed log-probability, has no length penalty, and keeps extending beams
    that already produced the end token (so a finished hypothesis keeps
    collecting log-probabilities of whatever follows its end token and is
    compared with unfinished ones). Translation needs the GNMT length penalty
    (Vaswani et al. 2017, section 6.1: beam size 4, alpha = 0.6) and
    hypotheses frozen at their end token. This implementation follows the
    alive/finished scheme of tensor2tensor and flax's WMT example:

    - `num_beams` *alive* hypotheses per row are ranked by their summed
      log-probability; each step takes the `2 * num_beams` best
      continuations (beam, token) so that at least `num_beams` of them do not
      end.
    - A continuation among the `num_beams` best that produces `end_token_id`
      leaves the beam and becomes a *finished* hypothesis, frozen, scored
      `log P / ((5 + len) / 6) ** alpha` with `len` the number of generated
      tokens including the end token; the best finished hypothesis per row is
      kept. The alive beams are refilled with the best continuations that do
      not end (as in Hugging Face's `BeamSearchScorer`).
    - A row stops when its best finished score beats the best score any alive
      hypothesis could still reach (its current log-probability normalised at
      the maximum length: log-probabilities only decrease), or when it has
      generated its maximum number of tokens; the loop ends when every row has
      stopped. Alive hypotheses that reach the maximum length compete with the
      finished ones at the end.

    With `num_beams=1` and `alpha=0` this is exactly greedy decoding (the
    single alive beam follows the argmax; once the argmax is the end token,
    that finished hypothesis beats every continuation). With `alpha > 0` one
    beam may still prefer a longer hypothesis than greedy's. With
    `2 * num_beams` at least the number of possible continuations the search
    is exhaustive (tested against brute-force enumeration).

    The call convention is that of keras_hub samplers, plus per-row
    generation bounds: positions where `mask` is True are forced to the
    prompt's token (prompts of different lengths in one batch), positions at
    or after `limits` are forced to `pad_token_id`; forced tokens cost no
    log-probability and never end a hypothesis.

    Args:
        num_beams: int >= 1. Defaults to `4` (the paper's).
        length_penalty: float >= 0. GNMT alpha; `0` ranks by summed
            log-probability. Defaults to `0.6`.
        temperature: float > 0. Logits are divided by it before the log-softmax.

    Call arguments:
        next: `next(prompt, cache, index) -> (logits, hidden_states, cache)`,
            logits `(batch * num_beams, vocabulary)` for position `index`.
        prompt: int `(batch, length)` buffer.
        cache: nested structure of tensors with a leading batch axis (each
            leaf is repeated `num_beams` times and reordered with the beams).
        index: int or scalar tensor, first position to fill.
        mask: boolean `(batch, length)`, True where `prompt` is kept.
        end_token_id: int or None.
        starts: int `(batch,)`, first generated position of each row (used for
            hypothesis lengths).
        limits: int `(batch,)`, one past the last position each row may
            generate. Defaults to `length`.
        pad_token_id: int. Defaults to `0`.

    Returns:
        int `(batch, length)`: the best hypothesis of every row.

    Example:
    >>> import numpy as np
    >>> from keras import ops
    >>> probs = np.array([[0.1, 0.5, 0.4]], "float32")  # the same next-token distribution at every step
    >>> def next(prompt, cache, index):
    ...     return ops.repeat(ops.log(probs), ops.shape(prompt)[0], axis=0), None, cache
    >>> search = BeamSearch(num_beams=2, length_penalty=0.0)
    >>> prompt, mask = np.array([[1, 0, 0, 0]]), np.array([[True, False, False, False]])
    >>> tokens = search(next, prompt, index=1, mask=mask, end_token_id=2)
    >>> ops.convert_to_numpy(tokens).tolist()  # [END] at once (p=0.4) beats [1, 1, 1] (p=0.125)
    [[1, 2, 0, 0]]

    References:
        Wu et al., "Google's Neural Machine Translation System", 2016, section 7.
        Vaswani et al., "Attention Is All You Need", 2017, section 6.1.
    """

    def __init__(self, num_beams=4, length_penalty=0.6, temperature=1.0):
        self.num_beams = check_int("num_beams", num_beams, minimum=1)
        # alpha >= 0: the early stop relies on the penalty growing with the length.
        if not (isinstance(length_penalty, numbers.Real) and math.isfinite(length_penalty) and length_penalty >= 0):
            raise ValueError(f"`length_penalty` must be a number >= 0. Received: length_penalty={length_penalty!r}")
        self.length_penalty = float(length_penalty)
        self.temperature = check_positive_number("temperature", temperature)

    def __call__(self, next, prompt, cache=None, index=0, mask=None, end_token_id=None, starts=None,
                 limits=None, pad_token_id=0):
        beams, alpha = self.num_beams, self.length_penalty
        # Static sizes when known (always in `generate`/`translate`), else dynamic ones.
        batch = prompt.shape[0] if prompt.shape[0] is not None else ops.shape(prompt)[0]
        length = prompt.shape[1] if prompt.shape[1] is not None else ops.shape(prompt)[1]
        prompt = ops.cast(prompt, "int32")
        mask = ops.zeros_like(prompt, "bool") if mask is None else ops.cast(mask, "bool")
        index = ops.cast(index, "int32")
        starts = ops.cast(index if starts is None else starts, "int32") * ops.ones((batch,), "int32")
        limits = ops.full((batch,), length, "int32") if limits is None else ops.cast(limits, "int32")
        max_norm = length_penalty_factor(limits - starts, alpha)  # (batch,)
        positions = ops.arange(length, dtype="int32")
        has_cache = cache is not None
        cache = tree.map_structure(lambda x: ops.repeat(x, beams, axis=0), cache) if has_cache else ()

        def gather_beams(x, beam_indices):  # x (batch * beams, ...), beam_indices (batch, beams)
            flat = ops.reshape(ops.arange(batch, dtype="int32")[:, None] * beams + beam_indices, (-1,))
            return ops.take(x, flat, axis=0)

        def row_done(index, alive_logp, finished_score):
            best_possible = ops.max(alive_logp, axis=1) / max_norm  # (batch,)
            return ops.logical_or(finished_score > best_possible, index >= limits)

        def cond(index, alive_seq, alive_logp, finished_seq, finished_score, cache):
            return ops.logical_not(ops.all(row_done(index, alive_logp, finished_score)))

        def body(index, alive_seq, alive_logp, finished_seq, finished_score, cache):
            logits, _, cache = next(ops.reshape(alive_seq, (batch * beams, length)), cache, index)
            vocabulary = logits.shape[-1]
            logp = ops.log_softmax(ops.cast(logits, "float32") / self.temperature, axis=-1)
            logp = ops.reshape(logp, (batch, beams, vocabulary))
            # Forced positions: the prompt's token, or padding past the row's limit; free of cost.
            in_prompt = ops.take(mask, index, axis=1)  # (batch,)
            forced = ops.logical_or(in_prompt, index >= limits)
            forced_token = ops.where(in_prompt, ops.take(prompt, index, axis=1), pad_token_id)
            forced_logp = ops.where(ops.one_hot(forced_token, vocabulary) > 0.5, 0.0, NEG)  # (batch, vocab)
            logp = ops.where(forced[:, None, None], forced_logp[:, None, :], logp)

            # 2 * beams best continuations over all (beam, token) pairs.
            candidates = ops.reshape(alive_logp[:, :, None] + logp, (batch, beams * vocabulary))
            top_logp, top_index = ops.top_k(candidates, k=2 * beams)
            top_logp = ops.reshape(top_logp, (batch, 2 * beams))
            top_index = ops.reshape(ops.cast(top_index, "int32"), (batch, 2 * beams))
            from_beam = top_index // vocabulary
            token = top_index % vocabulary
            top_seq = ops.take_along_axis(alive_seq, from_beam[:, :, None], axis=1)  # (batch, 2 beams, length)
            top_seq = ops.where(positions == index, token[:, :, None], top_seq)
            ends = ops.zeros_like(token, "bool")
            if end_token_id is not None:
                ends = ops.logical_and(token == end_token_id, ops.logical_not(forced)[:, None])

            # Alive: the best `beams` candidates that did not end.
            alive_logp, keep = ops.top_k(ops.where(ends, NEG, top_logp), k=beams)
            alive_logp = ops.reshape(alive_logp, (batch, beams))
            keep = ops.reshape(ops.cast(keep, "int32"), (batch, beams))
            alive_seq = ops.take_along_axis(top_seq, keep[:, :, None], axis=1)
            cache = tree.map_structure(
                lambda x: gather_beams(x, ops.take_along_axis(from_beam, keep, axis=1)), cache
            )

            # Finished: frozen at the end token, scored with the length penalty.
            generated = index - starts + 1  # (batch,) tokens including the end token
            scores = top_logp / length_penalty_factor(generated, alpha)[:, None]
            # Only the `beams` best candidates may finish (ranks >= beams only refill the alive beams),
            # so that one beam is exactly greedy decoding.
            in_beam = ops.arange(2 * beams, dtype="int32")[None, :] < beams
            valid = ops.logical_and(ops.logical_and(ends, in_beam), top_logp > NEG / 2)
            scores = ops.where(valid, scores, NEG)
            best = ops.cast(ops.argmax(scores, axis=1), "int32")  # (batch,)
            best_score = ops.take_along_axis(scores, best[:, None], axis=1)[:, 0]
            better = best_score > finished_score
            best_seq = ops.take_along_axis(top_seq, best[:, None, None], axis=1)[:, 0]
            finished_seq = ops.where(better[:, None], best_seq, finished_seq)
            finished_score = ops.where(better, best_score, finished_score)
            return index + 1, alive_seq, alive_logp, finished_seq, finished_score, cache

        alive_seq = ops.repeat(prompt[:, None, :], beams, axis=1)  # (batch, beams, length)
        # Only the first beam is live at the start, so the beams do not duplicate each other.
        alive_logp = ops.broadcast_to(ops.convert_to_tensor([[0.0] + [NEG] * (beams - 1)], "float32"), (batch, beams))
        finished_seq = prompt
        finished_score = ops.full((batch,), NEG, "float32")
        index, alive_seq, alive_logp, finished_seq, finished_score, _ = ops.while_loop(
            cond,
            body,
            (index, alive_seq, alive_logp, finished_seq, finished_score, cache),
            maximum_iterations=length - index,
        )

        # Alive hypotheses that reached their maximum length compete with the finished ones
        # (after an early stop they cannot win: their score is below the bound that stopped us).
        alive_generated = ops.minimum(ops.maximum(index, starts), limits) - starts
        alive_scores = alive_logp / length_penalty_factor(alive_generated, alpha)[:, None]
        best = ops.cast(ops.argmax(alive_scores, axis=1), "int32")
        best_alive_score = ops.take_along_axis(alive_scores, best[:, None], axis=1)[:, 0]
        best_alive_seq = ops.take_along_axis(alive_seq, best[:, None, None], axis=1)[:, 0]
        use_alive = ops.logical_and(best_alive_score > finished_score, ops.max(alive_logp, axis=1) > NEG / 2)
        return ops.where(use_alive[:, None], best_alive_seq, finished_seq)
