"""`generate` (language model) and `translate` (seq2seq): compiled, cached decoding loops.

They drive any model that provides the decoding step (see the package
docstring); no model class is imported here. Both build one decoding function
per combination of static settings (input shapes, sampler, special token ids,
cached or not; `build_generate_function` / `build_translate_function`) and
keep it on the model (`model._kerasformers_generation`), so that repeated
calls with new inputs of the same shape reuse it:

- TensorFlow backend: the whole loop (cache seeding, every step, sampling and
  post-processing) is one `tf.function(jit_compile=True)`, traced and
  XLA-compiled once per settings. Inputs are padded to a fixed-size buffer
  before the call, so only a new shape or new settings trace again
  (keras-hub#779: recompiling on every call made generation 4x slower).
  `trace_count(model)` counts the traces.
- Other backends (JAX, ...): the same Python code runs uncompiled, nothing
  is cached across calls. On JAX `keras.ops.while_loop` is
  `jax.lax.while_loop`, which traces and compiles the loop body again on
  every call: correct, but slow; use TensorFlow for speed. `trace_count` then
  counts calls.

Samplers: greedy, top-k, top-p and temperature are the
`keras_hub.samplers` ones (a `keras_hub.samplers.Sampler` instance is also
accepted); beam search is `kerasformers.generation.BeamSearch` (GNMT length
penalty, frozen finished hypotheses; see its docstring for why not
`keras_hub.samplers.BeamSampler`).
"""

import math
import numbers

import keras
import keras_hub
import numpy as np
from keras import ops

from kerasformers.checks import check_int, check_positive_number, is_int
from kerasformers.generation.beam_search import BeamSearch
from kerasformers.generation.sampling import SamplingOptions, SeededSampler, sampling_loop

SAMPLERS = ("greedy", "top_k", "top_p", "beam")
DEFAULT_NUM_BEAMS = 4  # Vaswani et al. 2017, section 6.1
DEFAULT_TOP_K = 5  # keras_hub.samplers.TopKSampler's default
DEFAULT_TOP_P = 0.9

# The decoding step a model provides (see the package docstring).
LANGUAGE_MODEL_STEP = ("vocabulary_size", "max_length", "init_cache", "call_with_cache")
SEQ2SEQ_STEP = ("encoder_vocabulary_size", "target_vocabulary_size", "max_length", "encode", "init_cache",
                "call_with_cache")


# ------------------------------------------------------------------ compilation
class _FunctionStore:
    """The compiled decoding functions of one model, keyed by their static settings."""

    def __init__(self):
        self.functions = {}  # key -> (sampler, function)
        self.trace_count = 0
        self.weights = None  # the variables the functions were traced with


def _store(model):
    store = getattr(model, "_kerasformers_generation", None)
    if store is None:
        store = _FunctionStore()
        # Bypass Keras attribute tracking: this is a cache, not model state.
        object.__setattr__(model, "_kerasformers_generation", store)
    return store


def trace_count(model):
    """How many times a decoding function of `model` was traced (TF) or run (other backends)."""
    return _store(model).trace_count


def _compile(store, function):
    def traced(*args):
        store.trace_count += 1  # Python side effect: runs once per trace under tf.function
        return function(*args)

    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(traced, jit_compile=True)
    return traced


def _get_function(model, key, sampler_factory, build):
    """`(sampler, compiled function)` for `key`, built once: `build(sampler)` returns the function."""
    store = _store(model)
    weights = tuple(id(v) for v in getattr(model, "weights", ()))
    if weights != store.weights:  # `quantize` / `enable_lora` replaced or added variables: the traces are stale
        store.functions.clear()
        store.weights = weights
    if key not in store.functions:
        sampler = sampler_factory()
        store.functions[key] = (sampler, _compile(store, build(sampler)))
    return store.functions[key]


# ---------------------------------------------------------------- validation
def _check_step(function, model, names, description):
    """A ValueError naming the type of `model` unless it has every attribute in `names`."""
    missing = [name for name in names if not hasattr(model, name)]
    if missing:
        raise ValueError(
            f"`{function}` needs {description}. Received: model of type {type(model).__name__}, which lacks "
            + ", ".join(f"`{name}`" for name in missing)
        )


def _check_ids(name, ids, vocabulary_size, pad_token_id):
    """int `(batch, length)` array, nonempty, no row of only padding; returns (ids, row lengths)."""
    array = np.asarray(ops.convert_to_numpy(ids) if not isinstance(ids, (list, tuple, np.ndarray)) else ids)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be a 2D `(batch, length)` array of token ids. Received: shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"`{name}` is empty. Received: {name} of shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"`{name}` must hold integer token ids. Received: dtype {array.dtype}")
    if array.min() < 0 or array.max() >= vocabulary_size:
        raise ValueError(
            f"`{name}` holds ids outside [0, vocabulary_size={vocabulary_size}). "
            f"Received: min={array.min()}, max={array.max()}"
        )
    real = array != pad_token_id
    empty = np.flatnonzero(~real.any(axis=1))
    if empty.size:
        raise ValueError(
            f"`{name}` row {int(empty[0])} contains only padding (pad_token_id={pad_token_id}); "
            "every row needs at least one token."
        )
    # Right-padded rows: a row ends after its last non-padding token.
    lengths = array.shape[1] - np.argmax(real[:, ::-1], axis=1)
    return array.astype("int32"), lengths.astype("int32")


def _check_token_id(name, value, vocabulary_size, allow_none=True):
    if value is None and allow_none:
        return None
    return check_int(name, value, minimum=0, maximum=vocabulary_size - 1)


def resolve_sampler(sampler="greedy", temperature=1.0, top_k=None, top_p=None, num_beams=None, length_penalty=0.0,
                    seed=None, vocabulary_size=None):
    """Validates the sampling arguments of `generate` / `translate`.

    Args:
        sampler, temperature, top_k, top_p, num_beams, length_penalty, seed:
            as in `generate`.
        vocabulary_size: int or None. Upper bound of `top_k` (and the `k` of
            `"top_k"` is clipped to it).

    Returns:
        `(key, factory)`: a hashable key of the settings that need their own
        compiled function, and a function that creates the sampler object for
        `build_generate_function` / `build_translate_function`: a
        `SeededSampler` for `"greedy"`, `"top_k"` and `"top_p"` (one compiled
        function for all their settings and seeds, which it passes as
        tensors), a `BeamSearch`, or the given `keras_hub.samplers.Sampler`.

    Raises:
        ValueError: naming the received value, for an unknown sampler or a bad
            setting.

    Example:
    >>> key, factory = resolve_sampler("beam", num_beams=4, length_penalty=0.6)
    >>> key, type(factory()).__name__
    (('beam', 4, 0.6, 1.0), 'BeamSearch')
    """
    temperature = check_positive_number("temperature", temperature)
    if seed is not None and not is_int(seed):
        raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
    if isinstance(sampler, keras_hub.samplers.Sampler):
        if any(v is not None for v in (top_k, top_p, num_beams)):
            raise ValueError(
                "With a `keras_hub.samplers.Sampler` instance, set `top_k`/`top_p`/`num_beams` on the "
                f"instance. Received: top_k={top_k!r}, top_p={top_p!r}, num_beams={num_beams!r}"
            )
        return ("instance", id(sampler)), lambda: sampler
    if not isinstance(sampler, str) or sampler.lower() not in SAMPLERS:
        raise ValueError(
            f"Unknown sampler {sampler!r}. Use one of {list(SAMPLERS)} or a `keras_hub.samplers.Sampler` "
            f"instance. Received: sampler={sampler!r}"
        )
    name = sampler.lower()
    if num_beams is not None:
        num_beams = check_int("num_beams", num_beams, minimum=1)
        if name not in ("greedy", "beam"):
            raise ValueError(f"`num_beams` needs sampler='beam'. Received: sampler={sampler!r}, num_beams={num_beams}")
        name = "beam"
    if top_k is not None:
        top_k = check_int("top_k", top_k, minimum=1, maximum=vocabulary_size)
        if name not in ("top_k", "top_p"):
            raise ValueError(f"`top_k` needs sampler='top_k' or 'top_p'. Received: sampler={sampler!r}, top_k={top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1:
            raise ValueError(f"`top_p` must be in (0, 1]. Received: top_p={top_p!r}")
        top_p = float(top_p)
        if name != "top_p":
            raise ValueError(f"`top_p` needs sampler='top_p'. Received: sampler={sampler!r}, top_p={top_p}")
    if name == "greedy":
        return ("seeded",), lambda: SeededSampler(temperature=0.0)
    if name == "top_k":
        k = DEFAULT_TOP_K if top_k is None else top_k
        k = k if vocabulary_size is None else min(k, vocabulary_size)
        return ("seeded",), lambda: SeededSampler(temperature=temperature, top_k=k, seed=seed)
    if name == "top_p":
        p = DEFAULT_TOP_P if top_p is None else top_p
        return ("seeded",), lambda: SeededSampler(temperature=temperature, top_k=top_k or 0, top_p=p, seed=seed)
    if isinstance(length_penalty, bool) or not isinstance(length_penalty, numbers.Real) or not (
        math.isfinite(length_penalty) and length_penalty >= 0
    ):
        raise ValueError(f"`length_penalty` must be a number >= 0. Received: length_penalty={length_penalty!r}")
    beams = DEFAULT_NUM_BEAMS if num_beams is None else num_beams
    length_penalty = float(length_penalty)
    return ("beam", beams, length_penalty, temperature), lambda: BeamSearch(beams, length_penalty, temperature)


def _reseed(sampler, seed):
    """Same seed, same samples: reset the sampler's random state before each call."""
    generator = getattr(sampler, "seed_generator", None)
    if generator is not None and seed is not None:
        generator.state.assign(ops.convert_to_tensor(np.array([seed, 0]), dtype=generator.state.dtype))


# ------------------------------------------------------------------ decoding
def _options(sampler, batch, options):
    """`SamplingOptions` from the 4 tensors passed to `run`, else the sampler's own settings (seed fixed or 0)."""
    if options:
        return SamplingOptions(*options)
    if sampler.temperature > 0 and sampler.seed is None:
        raise ValueError(f"Sampling inside a traced function needs a seed or per-call options. Received: {sampler!r}")
    fill = lambda value, dtype: ops.full((batch,), value, dtype)  # noqa: E731
    seed = np.array(int(sampler.seed or 0) & 0xFFFFFFFF, "uint32").view("int32")
    return SamplingOptions(fill(sampler.temperature, "float32"), fill(sampler.top_k, "int32"),
                           fill(sampler.top_p, "float32"), fill(int(seed), "int32"))


def _run_compiled(function, stored_sampler, sampler, seed, batch, *inputs):
    """Calls a compiled decoding function: seeded samplers pass their options as tensors, others are reseeded."""
    if isinstance(sampler, SeededSampler):
        options = tuple(ops.convert_to_tensor(x) for x in sampler.options(batch).as_tuple())
        return function(*inputs, *options)
    _reseed(stored_sampler, seed)
    return function(*inputs)


def _decode(sampler, next, buffer, cache, lengths, limits, end_token_id, pad_token_id):
    """Runs `sampler` on `buffer` `(batch, length)`; rows keep positions `< lengths`, generate until `limits`."""
    length = buffer.shape[1]
    positions = ops.arange(length, dtype="int32")[None, :]
    mask = positions < lengths[:, None]
    index = ops.min(lengths)
    if isinstance(sampler, BeamSearch):
        tokens = sampler(
            next, buffer, cache=cache, index=index, mask=mask, end_token_id=end_token_id, starts=lengths,
            limits=limits, pad_token_id=pad_token_id,
        )
    else:
        stop = None if end_token_id is None else (end_token_id,)
        tokens = sampler(next, buffer, cache=cache, index=index, mask=mask, stop_token_ids=stop)
    tokens = ops.cast(tokens, "int32")
    # Padding past each row's limit and after its first generated end token.
    tokens = ops.where(positions >= limits[:, None], pad_token_id, tokens)
    if end_token_id is not None:
        ends = ops.cast(ops.logical_and(tokens == end_token_id, positions >= lengths[:, None]), "int32")
        after_end = (ops.cumsum(ends, axis=1) - ends) > 0
        tokens = ops.where(after_end, pad_token_id, tokens)
    return tokens


def _cached_next(model):
    """The sampler's step: the token at `index - 1` goes through `call_with_cache`; its logits predict `index`."""

    def next(prompt, cache, index):
        token = ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1])
        logits, cache = model.call_with_cache(token, cache, index - 1)
        return logits[:, 0], None, cache

    return next


def _cached_step(model, cache):
    """`(next, cache)` of the cached loop: the model's fused `token_step` when it has one, else `call_with_cache`.

    The fused step reads the weights here, before the loop, and runs about a
    third of the ops per token (what a graph loop without XLA pays for).
    """
    make_step = getattr(model, "token_step", None)
    step = None if make_step is None else make_step(cache)
    if step is None:
        return _cached_next(model), cache

    def next(prompt, cache, index):
        token = ops.take(prompt, index - 1, axis=1)  # (batch,)
        logits, cache = step(token, cache, index - 1)
        return logits, None, cache

    return next, step.cache


def _recomputing_next(model, new_cache):
    """The reference step without cache reuse (`use_cache=False`), O(length^2) work per token.

    At every step `new_cache(prompt, state)` makes an empty cache, the whole
    buffer but its last position fills it (one full pass of the decoder; its
    logits are unused, so a graph prunes them), and the token at `index - 1`
    is run once more to get the logits that predict `index`.
    """

    def next(prompt, state, index):
        prefix = prompt[:, :-1]  # (batch, length - 1): a static shape, as the compiled loop needs
        _, cache = model.call_with_cache(prefix, new_cache(prompt, state, prefix.shape[1]), 0)
        token = ops.slice(prompt, [0, index - 1], [ops.shape(prompt)[0], 1])
        logits, _ = model.call_with_cache(token, cache, index - 1)
        return logits[:, 0], None, state

    return next


def build_generate_function(model, sampler, prompt_length, max_new_tokens, use_cache=True, end_token_id=None,
                            pad_token_id=0):
    """The decoding loop of `generate` for one prompt length and settings, uncompiled.

    `generate` wraps it in a `tf.function(jit_compile=True)` and keeps it on
    the model; `kerasformers.export` traces it into a SavedModel signature.
    The arguments are not validated here (`generate` does it).

    Args:
        model: a causal language model with the decoding step (see the
            package docstring), e.g. a `TransformerLanguageModel`.
        sampler: a `SeededSampler`, a `BeamSearch` or a
            `keras_hub.samplers.Sampler`, e.g. `resolve_sampler(...)[1]()`.
        prompt_length: int. Width of the prompt part of the buffer.
        max_new_tokens: int. Tokens generated after each row's prompt.
        use_cache, end_token_id, pad_token_id: as in `generate`.

    Returns:
        `run(buffer, lengths, *options) -> tokens`: `buffer` int32 `(batch,
        prompt_length + max_new_tokens)` with the right-padded prompts, then
        `pad_token_id`; `lengths` int32 `(batch,)`, each row's prompt length
        (at least 1); with a `SeededSampler`, `options` are optionally the
        four `(batch,)` tensors of `SamplingOptions` (per-row temperature,
        top-k, top-p, seed; default: the sampler's settings); `tokens` int32
        of the buffer's shape, as `generate` returns them. The keyword
        `new_tokens` (int32 `(batch,)`, each `<= max_new_tokens`) gives each
        row its own number of new tokens.

    Example:
    >>> import kerasformers as kf
    >>> model = kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=50, max_length=32, num_layers=1)
    >>> run = build_generate_function(model, resolve_sampler("greedy")[1](), prompt_length=3, max_new_tokens=4)
    >>> tokens = run(np.array([[5, 6, 7, 0, 0, 0, 0]], "int32"), np.array([3], "int32"))
    >>> tuple(tokens.shape)
    (1, 7)
    """

    def run(buffer, lengths, *options, new_tokens=None):  # (batch, prompt_length + max_new_tokens), (batch,), ...
        batch, length = ops.shape(buffer)[0], prompt_length + max_new_tokens
        lengths = ops.cast(lengths, "int32")
        limits = lengths + (max_new_tokens if new_tokens is None else ops.cast(new_tokens, "int32"))
        if use_cache:
            cache = model.init_cache(batch, length)
            _, cache = model.call_with_cache(buffer[:, :prompt_length], cache, 0)  # seed with the prompts
            next, cache = _cached_step(model, cache)
        else:
            cache = None
            next = _recomputing_next(model, lambda prompt, _, size: model.init_cache(ops.shape(prompt)[0], size))
        if isinstance(sampler, SeededSampler):
            options = _options(sampler, batch, options)
            return sampling_loop(next, buffer, cache, lengths, limits, options, end_token_id, pad_token_id)
        return _decode(sampler, next, buffer, cache, lengths, limits, end_token_id, pad_token_id)

    return run


def generate(
    model,
    prompt_ids,
    max_new_tokens,
    sampler="greedy",
    temperature=1.0,
    top_k=None,
    top_p=None,
    num_beams=None,
    length_penalty=0.0,
    seed=None,
    end_token_id=None,
    pad_token_id=0,
    use_cache=True,
):
    """Continues prompts with a causal language model (a `TransformerLanguageModel` or any with its step).

    Each row generates `max_new_tokens` tokens right after its own prompt
    (rows may have prompts of different lengths, right-padded with
    `pad_token_id`), stopping early at `end_token_id`. The decoding loop is
    compiled once per shape and settings on TensorFlow (see module docstring).

    Args:
        model: a `TransformerLanguageModel`, or any object with the causal
            language model step: `vocabulary_size`, `max_length`,
            `init_cache(batch_size, max_length)` and
            `call_with_cache(token_ids, cache, index)` (package docstring).
        prompt_ids: int `(batch, prompt_length)` array (NumPy, list or tensor),
            right-padded with `pad_token_id`; a row's prompt ends at its last
            non-padding token.
        max_new_tokens: int > 0. `prompt_length + max_new_tokens` must not
            exceed `model.max_length`.
        sampler: `"greedy"` (default), `"top_k"`, `"top_p"`, `"beam"`, or a
            `keras_hub.samplers.Sampler` instance.
        temperature: float > 0. Divides the logits before sampling.
        top_k: int. `k` of `"top_k"` (default 5, as keras_hub), or an optional
            pre-filter of `"top_p"`.
        top_p: float in (0, 1]. `p` of `"top_p"` (default 0.9).
        num_beams: int >= 1. Beam search width; setting it selects beam
            search (`sampler="beam"` alone uses 4).
        length_penalty: float >= 0. GNMT alpha of beam search. Defaults to
            `0.0` (rank by summed log-probability).
        seed: int or None. Seed of `"top_k"` / `"top_p"` sampling: the same
            seed gives the same samples.
        end_token_id: int or None. Generation of a row stops after this
            token (kept); positions after it are `pad_token_id`.
        pad_token_id: int. Defaults to `0`.
        use_cache: bool. Cached decoding (default). False re-runs the model
            over the whole buffer at every step (a reference for benchmarks).

    Returns:
        int32 NumPy array `(batch, prompt_length + max_new_tokens)`: each
        prompt unchanged, followed by its generated tokens, then padding.

    Raises:
        ValueError: for a model without the step, an empty prompt or a row of
            only padding, a prompt longer than `model.max_length`,
            `prompt_length + max_new_tokens > model.max_length`,
            `max_new_tokens <= 0`, an unknown sampler,
            `top_p` outside (0, 1], `num_beams < 1`, ...

    Example:
    >>> import kerasformers as kf
    >>> model = kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=50, max_length=32, num_layers=1)
    >>> tokens = generate(model, np.array([[5, 6, 7], [8, 0, 0]]), max_new_tokens=4)
    >>> tokens.shape
    (2, 7)
    >>> tokens[0, :3].tolist(), tokens[1, :1].tolist()  # the prompts are kept
    ([5, 6, 7], [8])
    >>> int((tokens[1, 5:] == 0).sum())  # row 1 generated 4 tokens after its 1-token prompt, then padding
    2
    """
    _check_step(
        "generate", model, LANGUAGE_MODEL_STEP,
        "a TransformerLanguageModel or another causal language model with `vocabulary_size`, `max_length`, "
        "`init_cache(batch_size, max_length)` and `call_with_cache(token_ids, cache, index)`",
    )
    vocabulary_size = model.vocabulary_size
    pad_token_id = _check_token_id("pad_token_id", pad_token_id, vocabulary_size, allow_none=False)
    prompt, lengths = _check_ids("prompt_ids", prompt_ids, vocabulary_size, pad_token_id)
    batch, prompt_length = prompt.shape
    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
    if prompt_length > model.max_length:
        raise ValueError(
            f"The prompt is longer than the model's max_length={model.max_length}. "
            f"Received: prompt_ids of length {prompt_length}"
        )
    if prompt_length + max_new_tokens > model.max_length:
        raise ValueError(
            f"prompt_length + max_new_tokens = {prompt_length} + {max_new_tokens} = {prompt_length + max_new_tokens} "
            f"exceeds the model's max_length={model.max_length}. Use at most "
            f"max_new_tokens={model.max_length - prompt_length} or a shorter prompt."
        )
    end_token_id = _check_token_id("end_token_id", end_token_id, vocabulary_size)
    if end_token_id is not None and end_token_id == pad_token_id:
        raise ValueError(f"`end_token_id` must differ from `pad_token_id`. Received: both {end_token_id}")
    sampler_key, factory = resolve_sampler(
        sampler, temperature, top_k, top_p, num_beams, length_penalty, seed, vocabulary_size
    )
    use_cache = bool(use_cache)
    key = ("language_model", batch, prompt_length, max_new_tokens, use_cache, sampler_key, end_token_id, pad_token_id)
    stored_sampler, function = _get_function(
        model,
        key,
        factory,
        lambda sampler: build_generate_function(
            model, sampler, prompt_length, max_new_tokens, use_cache, end_token_id, pad_token_id
        ),
    )
    buffer = np.full((batch, prompt_length + max_new_tokens), pad_token_id, "int32")
    buffer[:, :prompt_length] = prompt
    tokens = _run_compiled(function, stored_sampler, factory(), seed, batch, ops.convert_to_tensor(buffer, "int32"),
                           ops.convert_to_tensor(lengths, "int32"))
    return np.asarray(ops.convert_to_numpy(tokens)).astype("int32")


def build_translate_function(model, sampler, max_length, use_cache=True, start_token_id=2, end_token_id=3,
                             pad_token_id=0):
    """The decoding loop of `translate` for one target length and settings, uncompiled.

    `translate` wraps it in a `tf.function(jit_compile=True)` and keeps it on
    the model; `kerasformers.export` traces it into a SavedModel signature.
    The arguments are not validated here (`translate` does it).

    Args:
        model: an encoder-decoder model with the decoding step (see the
            package docstring), e.g. a `TransformerSeq2Seq`.
        sampler: a `SeededSampler`, a `BeamSearch` or a
            `keras_hub.samplers.Sampler`, e.g. `resolve_sampler(...)[1]()`.
        max_length: int. Target tokens to decode at most.
        use_cache, start_token_id, end_token_id, pad_token_id: as in
            `translate`.

    Returns:
        `run(source_ids, *options) -> tokens`: int32 `(batch,
        source_length)` sources (0 = padding, no row empty) to int32
        `(batch, max_length)` targets, as `translate` returns them;
        `options` as in `build_generate_function`.

    Example:
    >>> import kerasformers as kf
    >>> model = kf.TransformerSeq2Seq.from_preset(
    ...     "tiny", encoder_vocabulary_size=50, max_length=16, num_encoder_layers=1, num_decoder_layers=1
    ... )
    >>> run = build_translate_function(model, resolve_sampler("greedy")[1](), max_length=6)
    >>> tuple(run(np.array([[5, 6, 7, 0]], "int32")).shape)
    (1, 6)
    """

    def run(source, *options):  # (batch, source_length), 4 x (batch,)
        batch = ops.shape(source)[0]
        encoder_outputs, encoder_padding_mask = model.encode(source)
        buffer = ops.concatenate(
            [ops.full((batch, 1), start_token_id, "int32"), ops.full((batch, max_length), pad_token_id, "int32")],
            axis=1,
        )  # (batch, 1 + max_length): [START] then the target
        lengths = ops.ones((batch,), "int32")
        limits = ops.full((batch,), max_length + 1, "int32")
        if use_cache:
            next, cache = _cached_step(model, model.init_cache(encoder_outputs, encoder_padding_mask, max_length))
        else:
            cache = (encoder_outputs, encoder_padding_mask)  # beam search repeats it per beam
            next = _recomputing_next(model, lambda prompt, state, size: model.init_cache(*state, size))
        if isinstance(sampler, SeededSampler):
            options = _options(sampler, batch, options)
            tokens = sampling_loop(next, buffer, cache, lengths, limits, options, end_token_id, pad_token_id)
        else:
            tokens = _decode(sampler, next, buffer, cache, lengths, limits, end_token_id, pad_token_id)
        return tokens[:, 1:]

    return run


def translate(
    model,
    source_ids,
    max_length=None,
    sampler="greedy",
    temperature=1.0,
    top_k=None,
    top_p=None,
    num_beams=None,
    length_penalty=0.6,
    seed=None,
    start_token_id=2,
    end_token_id=3,
    pad_token_id=0,
    use_cache=True,
):
    """Decodes target sequences for a batch of sources with an encoder-decoder model (`TransformerSeq2Seq`, ...).

    The source is encoded once; the decoder starts from `start_token_id` and
    runs with a key/value cache (cross-attention keys/values computed once per
    source) until every row produced `end_token_id` or `max_length` tokens.
    The paper's setting is `num_beams=4, length_penalty=0.6`.

    Args:
        model: a `TransformerSeq2Seq`, or any object with the encoder-decoder
            step: `encoder_vocabulary_size`, `target_vocabulary_size`,
            `max_length`, `encode(source_ids)`, `init_cache(encoder_outputs,
            encoder_padding_mask, max_length)` and `call_with_cache(token_ids,
            cache, index)` (package docstring).
        source_ids: int `(batch, source_length)`, 0 = padding (the encoder's
            convention).
        max_length: int. Number of target tokens to generate at most.
            Defaults to (and may not exceed) `model.max_length`.
        sampler, temperature, top_k, top_p, num_beams, seed: as in `generate`.
        length_penalty: float >= 0. GNMT alpha of beam search. Defaults to `0.6`.
        start_token_id: int. First decoder input. Defaults to `2`.
        end_token_id: int or None. Defaults to `3`.
        pad_token_id: int. Written after the end token. Defaults to `0`.
        use_cache: bool. False re-runs the decoder over the whole buffer at
            every step (a reference for benchmarks).

    Returns:
        int32 NumPy array `(batch, max_length)`: target ids without the start
        token, the end token kept, `pad_token_id` after it.

    Raises:
        ValueError: for a model without the step, an empty source or a row of
            only padding, a source or `max_length` longer than `model.max_length`, an unknown sampler,
            `top_p` outside (0, 1], `num_beams < 1`, ...

    Example:
    >>> import kerasformers as kf
    >>> model = kf.TransformerSeq2Seq.from_preset(
    ...     "tiny", encoder_vocabulary_size=50, max_length=16, num_encoder_layers=1, num_decoder_layers=1
    ... )
    >>> translate(model, np.array([[5, 6, 7, 0]]), max_length=6, num_beams=4).shape
    (1, 6)
    """
    _check_step(
        "translate", model, SEQ2SEQ_STEP,
        "a TransformerSeq2Seq or another encoder-decoder model with `encoder_vocabulary_size`, "
        "`target_vocabulary_size`, `max_length`, `encode(source_ids)`, `init_cache(encoder_outputs, "
        "encoder_padding_mask, max_length)` and `call_with_cache(token_ids, cache, index)`",
    )
    vocabulary_size = model.target_vocabulary_size
    source, _ = _check_ids("source_ids", source_ids, model.encoder_vocabulary_size, 0)
    batch, source_length = source.shape
    if source_length > model.max_length:
        raise ValueError(
            f"The source is longer than the model's max_length={model.max_length}. "
            f"Received: source_ids of length {source_length}"
        )
    max_length = model.max_length if max_length is None else max_length
    max_length = check_int("max_length", max_length, minimum=1, maximum=model.max_length)
    start_token_id = _check_token_id("start_token_id", start_token_id, vocabulary_size, allow_none=False)
    end_token_id = _check_token_id("end_token_id", end_token_id, vocabulary_size)
    pad_token_id = _check_token_id("pad_token_id", pad_token_id, vocabulary_size, allow_none=False)
    if end_token_id is not None and end_token_id == pad_token_id:
        raise ValueError(f"`end_token_id` must differ from `pad_token_id`. Received: both {end_token_id}")
    sampler_key, factory = resolve_sampler(
        sampler, temperature, top_k, top_p, num_beams, length_penalty, seed, vocabulary_size
    )
    use_cache = bool(use_cache)
    key = ("seq2seq", batch, source_length, max_length, use_cache, sampler_key, start_token_id, end_token_id,
           pad_token_id)
    stored_sampler, function = _get_function(
        model,
        key,
        factory,
        lambda sampler: build_translate_function(
            model, sampler, max_length, use_cache, start_token_id, end_token_id, pad_token_id
        ),
    )
    tokens = _run_compiled(function, stored_sampler, factory(), seed, batch, ops.convert_to_tensor(source, "int32"))
    return np.asarray(ops.convert_to_numpy(tokens)).astype("int32")
