"""Per-row sampling with tensor options, and the decoding loop built on it.

Why not `keras_hub.samplers` here: their settings (`k`, `p`, temperature)
are Python constants fixed when the sampler is made, and their randomness is a
`keras.random.SeedGenerator`, i.e. one variable shared by the whole batch. A
served model needs the opposite: options that arrive with each request as
tensors (one compiled program for every setting), and randomness that
depends only on the request's own seed, so that a request gives the same
tokens alone or batched with others (TF Serving's `--enable_batching`), in
Python and in the SavedModel.

- `sample_next_tokens(logits, options, index)`: one step. Each row is greedy
  (`temperature == 0`) or samples from its softmax at `temperature`,
  restricted to its `top_k` most likely tokens (0 = no limit) and to the
  smallest set whose probability reaches `top_p` (the renormalised top-k
  distribution, as Hugging Face's warpers chain them). Sampling is the
  Gumbel-max trick with noise from a counter-based hash of `(seed, position,
  token id)` (MurmurHash3's 32-bit finaliser), so it is stateless and
  identical on every backend and with or without XLA.
- `sampling_loop(...)`: the cached decoding loop around it, with per-row
  prompt lengths and per-row limits.
"""

import dataclasses

import numpy as np
from keras import ops

from kerasformers.layers.decoding_step import write_positions

NEG = -1e30  # excluded tokens' score; finite, so no NaN in the softmax


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """Per-row sampling settings, as tensors or arrays of shape `(batch,)`.

    Args:
        temperature: float32. `0` = greedy (argmax), `> 0` = sample at this
            temperature.
        top_k: int32. Keep the `top_k` most likely tokens; `0` = all.
        top_p: float32 in (0, 1]. Keep the smallest set of most likely tokens
            whose probability reaches `top_p`; `1` = all.
        seeds: int32. The row's seed (its 32 bits are hashed with the position
            and the token id).

    Example:
    >>> options = SamplingOptions.broadcast(2, temperature=0.8, top_k=40, seed=7)
    >>> options.top_k.tolist(), options.top_p.tolist()
    ([40, 40], [1.0, 1.0])
    """

    temperature: object
    top_k: object
    top_p: object
    seeds: object

    @classmethod
    def broadcast(cls, batch, temperature=0.0, top_k=0, top_p=1.0, seed=0):
        """NumPy options of shape `(batch,)` from scalars (the values are not validated here)."""
        seed = np.array(int(seed) & 0xFFFFFFFF, "uint32").view("int32")  # any int: its low 32 bits
        return cls(
            temperature=np.full((batch,), temperature, "float32"),
            top_k=np.full((batch,), top_k, "int32"),
            top_p=np.full((batch,), top_p, "float32"),
            seeds=np.full((batch,), seed, "int32"),
        )

    def as_tuple(self):
        return (self.temperature, self.top_k, self.top_p, self.seeds)


def _u32(value):
    return ops.convert_to_tensor(np.uint32(value), "uint32")


def _mix(x):
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 that mixes every input bit into every output bit."""
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))
    x = ops.multiply(x, _u32(0x85EBCA6B))
    x = ops.bitwise_xor(x, ops.right_shift(x, _u32(13)))
    x = ops.multiply(x, _u32(0xC2B2AE35))
    return ops.bitwise_xor(x, ops.right_shift(x, _u32(16)))


def gumbel_noise(seeds, index, token_ids):
    """Gumbel(0, 1) noise for `token_ids` `(batch, n)` at position `index`, a function of `(seed, index, id)` only.

    Args:
        seeds: int32 `(batch,)`.
        index: int32 scalar, the position being generated.
        token_ids: int32 `(batch, n)`.

    Returns:
        float32 `(batch, n)`.
    """
    row = _mix(ops.bitwise_xor(ops.cast(seeds, "uint32"), _u32(0x9E3779B9)))  # (batch,)
    step = _mix(ops.bitwise_xor(row, _mix(ops.cast(index, "uint32") + _u32(0x632BE5AB))))  # (batch,)
    bits = _mix(ops.bitwise_xor(step[:, None], ops.multiply(ops.cast(token_ids, "uint32"), _u32(0x27D4EB2F))))
    # 24 random bits -> a uniform in (0, 1), never 0 or 1.
    uniform = (ops.cast(ops.right_shift(bits, _u32(8)), "float32") + 0.5) / float(1 << 24)
    return -ops.log(-ops.log(uniform))


def sample_next_tokens(logits, options, index):
    """The next token of every row: argmax where `temperature == 0`, else a seeded top-k/top-p sample.

    Args:
        logits: `(batch, vocabulary)` logits of the position `index`.
        options: `SamplingOptions` of `(batch,)` tensors.
        index: int32 scalar, the position being generated (part of the
            random stream: each position draws fresh noise).

    Returns:
        int32 `(batch,)` token ids.

    Example:
    >>> logits = np.log(np.array([[0.1, 0.6, 0.3]], "float32"))
    >>> greedy = SamplingOptions.broadcast(1)
    >>> np.asarray(sample_next_tokens(logits, greedy, 0)).tolist()
    [1]
    >>> top_1 = SamplingOptions.broadcast(1, temperature=1.0, top_k=1, seed=3)
    >>> np.asarray(sample_next_tokens(logits, top_1, 0)).tolist()
    [1]
    """
    logits = ops.cast(logits, "float32")
    vocabulary = logits.shape[-1]
    temperature, top_k, top_p, seeds = (ops.convert_to_tensor(x) for x in options.as_tuple())
    greedy = ops.cast(ops.argmax(logits, axis=-1), "int32")
    sampling = temperature > 0

    def sampled():
        scaled = logits / ops.where(sampling, temperature, 1.0)[:, None]
        ordered, order = ops.top_k(scaled, k=vocabulary)  # (batch, vocabulary), most likely first
        order = ops.cast(order, "int32")
        rank = ops.arange(vocabulary, dtype="int32")[None, :]
        k = ops.where(top_k > 0, ops.minimum(top_k, vocabulary), vocabulary)
        keep = rank < k[:, None]
        probabilities = ops.softmax(ops.where(keep, ordered, NEG), axis=-1)
        mass_before = ops.cumsum(probabilities, axis=-1) - probabilities
        keep = ops.logical_and(keep, mass_before < top_p[:, None])  # the most likely token always stays
        score = ops.where(keep, ordered + gumbel_noise(seeds, index, order), NEG)
        choice = ops.cast(ops.argmax(score, axis=-1), "int32")
        return ops.take_along_axis(order, choice[:, None], axis=1)[:, 0]

    return ops.where(sampling, sampled(), greedy)


def sampling_loop(next, buffer, cache, lengths, limits, options, end_token_id=None, pad_token_id=0):
    """Fills `buffer` after each row's prompt with `sample_next_tokens`, one position per step.

    Args:
        next: `next(buffer, cache, index) -> (logits, hidden, cache)`: the
            logits `(batch, vocabulary)` that predict position `index`.
        buffer: int32 `(batch, length)`: each row's prompt in `[0,
            lengths)`, then `pad_token_id`.
        cache: the model's cache, already holding positions before
            `min(lengths) - 1`.
        lengths: int32 `(batch,)`, each row's prompt length (>= 1).
        limits: int32 `(batch,)`, one past each row's last generated
            position (`<= length`).
        options: `SamplingOptions` of `(batch,)` tensors.
        end_token_id: int or None. A row stops after generating it.
        pad_token_id: int.

    Returns:
        int32 `(batch, length)`: the prompts, their generated tokens (the
        end token kept), then `pad_token_id`.
    """
    length = buffer.shape[1]
    buffer = ops.cast(buffer, "int32")
    lengths, limits = ops.cast(lengths, "int32"), ops.cast(limits, "int32")
    start = ops.min(lengths)
    cache = () if cache is None else cache  # a loop variable cannot be None
    batch = ops.shape(buffer)[0]

    def loop(sample):
        def cond(index, buffer, cache, done):
            return ops.logical_not(ops.all(done))

        def body(index, buffer, cache, done):
            logits, _, cache = next(buffer, cache, index)
            generating = ops.logical_and(index >= lengths, ops.logical_not(done))
            token = ops.where(generating, sample(logits, index), ops.take(buffer, index, axis=1))
            # A scatter, not `ops.slice_update`: TensorFlow's dynamic-update-slice is an XLA-only op, slow in a
            # graph without XLA (TF Serving's default).
            buffer = ops.scatter_update(buffer, write_positions(batch, index), token)
            finished = index + 1 >= limits
            if end_token_id is not None:
                finished = ops.logical_or(finished, ops.logical_and(generating, token == end_token_id))
            return index + 1, buffer, cache, ops.logical_or(done, finished)

        state = (start, buffer, cache, limits <= start)
        return ops.while_loop(cond, body, state, maximum_iterations=length - start)[1]

    # One decision per call, not per step: a batch without sampling rows runs a loop with no sampler at all
    # (in a graph `while` loop every op of the body costs its dispatch at every step).
    greedy = lambda logits, index: ops.cast(ops.argmax(logits, axis=-1), "int32")  # noqa: E731
    sampled = lambda logits, index: sample_next_tokens(logits, options, index)  # noqa: E731
    sampling = ops.any(ops.convert_to_tensor(options.temperature) > 0)
    buffer = ops.cond(sampling, lambda: loop(sampled), lambda: loop(greedy))
    positions = ops.arange(length, dtype="int32")[None, :]
    return ops.where(positions >= limits[:, None], pad_token_id, buffer)


class SeededSampler:
    """The settings of greedy, top-k or top-p decoding for `generate` / `translate`, run by `sampling_loop`.

    `resolve_sampler` makes it for `"greedy"`, `"top_k"` and `"top_p"`; the
    compiled decoding function takes its `options(batch)` as tensors, so a new
    temperature, `k`, `p` or seed needs no new compilation.

    Args:
        temperature: float. `0` = greedy.
        top_k: int. `0` = no limit.
        top_p: float in (0, 1].
        seed: int or None. None draws a fresh seed at every call.

    Example:
    >>> SeededSampler(temperature=0.7, top_k=5, seed=1).options(2).top_k.tolist()
    [5, 5]
    """

    def __init__(self, temperature=0.0, top_k=0, top_p=1.0, seed=None):
        self.temperature, self.top_k, self.top_p, self.seed = float(temperature), int(top_k), float(top_p), seed

    def options(self, batch):
        """`SamplingOptions` of NumPy arrays `(batch,)`; a None seed is drawn from the operating system's entropy."""
        seed = np.random.default_rng().integers(0, 2**32) if self.seed is None else self.seed
        return SamplingOptions.broadcast(batch, self.temperature, self.top_k, self.top_p, seed)

    def __repr__(self):
        return (f"SeededSampler(temperature={self.temperature}, top_k={self.top_k}, top_p={self.top_p}, "
                f"seed={self.seed})")
