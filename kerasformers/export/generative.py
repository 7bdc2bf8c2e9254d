"""Signatures of the generative models: a language model's continuation and a translator's translation.

Both run the cached decoding loop of `kerasformers.generation` inside the
graph. Two builds of that loop (chosen by `export_for_serving(...,
jit_compile=...)`, which traces the signatures):

- default: a plain graph `while` loop, which every TF Serving binary runs;
- `jit_compile=True`: the numeric loop (cache seeding, every step, sampling or
  beam search) is one `tf.function(jit_compile=True)`; tokenization,
  detokenization and the checks of the request stay outside it (TensorFlow
  Text ops cannot be compiled). XLA compiles one program per input shape, so
  the batch is padded up to one of `batch_buckets` and a language model's
  prompt to one of `prompt_buckets`: a handful of programs, each compiled
  once (by the warm-up requests written at export). TF Serving runs such a
  model only with `--xla_cpu_compilation_enabled=true` on CPU; without the
  flag its first request returns an error status.
"""

import numpy as np
import tensorflow as tf

from kerasformers.checks import check_int
from kerasformers.export.serving import (
    _JIT,
    Endpoints,
    _detokenize,
    _require,
    _require_tokenizer,
    _token_id,
    _tokenize,
)
from kerasformers.generation import SeededSampler, build_generate_function, build_translate_function, resolve_sampler
from kerasformers.text import END_TOKEN, START_TOKEN, UNK_TOKEN, padding_token_id

DEFAULT_BATCH_BUCKETS = (1, 8, 32)


def _compiled(cache, key, function):
    """`function` as a `tf.function`, XLA-compiled when `export_for_serving(..., jit_compile=True)` traces; one per
    (key, setting)."""
    jit = _JIT.get()
    if (key, jit) not in cache:
        cache[key, jit] = tf.function(function, jit_compile=jit, reduce_retracing=True)
    return cache[key, jit]


def _check_buckets(name, buckets, maximum):
    buckets = tuple(sorted({check_int(name, b, minimum=1) for b in buckets}))
    if maximum is not None and buckets[-1] > maximum:
        raise ValueError(f"`{name}` may not exceed {maximum}. Received: {name}={buckets}")
    return buckets


def _bucket_batch(batch, buckets):
    """The padded batch size: the smallest bucket >= `batch`, else a multiple of the largest bucket."""
    largest = buckets[-1]
    size = tf.constant(largest, tf.int32) * ((batch + largest - 1) // largest)
    for bucket in reversed(buckets):
        size = tf.where(batch <= bucket, tf.constant(bucket, tf.int32), size)
    return size


def _pad_rows(tensor, rows, value):
    """Pads the first axis of `tensor` to `rows` with `value`."""
    extra = rows - tf.shape(tensor)[0]
    paddings = [[0, extra]] + [[0, 0]] * (len(tensor.shape) - 1)
    return tf.pad(tensor, paddings, constant_values=tf.cast(value, tensor.dtype))


# ----------------------------------------------------------------------------------- request options
OPTION_SPECS = {
    "max_new_tokens": tf.TensorSpec([None], tf.int32, name="max_new_tokens"),
    "temperature": tf.TensorSpec([None], tf.float32, name="temperature"),
    "top_k": tf.TensorSpec([None], tf.int32, name="top_k"),
    "top_p": tf.TensorSpec([None], tf.float32, name="top_p"),
    "seed": tf.TensorSpec([None], tf.int64, name="seed"),
}
OPTION_DEFAULTS = {name: np.zeros([0], spec.dtype.as_numpy_dtype) for name, spec in OPTION_SPECS.items()}

OPTIONS_HELP = """\
Per-request options (inputs of `serving_default` and `token_ids`, each
optional): a vector with one value for every prompt, or one value for all, or
left out.

- `max_new_tokens` (int32): tokens generated after each prompt, in
  `[1, export max_new_tokens]`. Default: the export's `max_new_tokens`.
- `temperature` (float32 >= 0): sampling temperature; `0` = greedy.
- `top_k` (int32 >= 0): sample among the k most likely tokens; `0` = all.
- `top_p` (float32 in (0, 1]): sample among the most likely tokens whose
  probability reaches p.
- `seed` (int64): the same seed, prompt and options give the same tokens
  (alone or batched with other requests). Default: a random seed per prompt.

A request that sets none of `temperature`, `top_k`, `top_p` is greedy. One
that sets any of them samples, with `temperature` 1, `top_k` 0 and `top_p` 1
for those it leaves out. Invalid values make the request fail with
INVALID_ARGUMENT and a message naming the value; they never crash the server.
"""


def _per_row(name, values, batch, default):
    """A `(batch,)` tensor from an option of 0 (default), 1 (broadcast) or `batch` values; asserts the count."""
    count = tf.shape(values)[0]
    check = tf.debugging.Assert(
        tf.logical_or(tf.logical_or(count <= 1, count == batch), batch == 0),
        [f"`{name}` needs 0 values, 1 value or one per prompt. Received: {name} with", count,
         "values for a batch of", batch],
    )
    with tf.control_dependencies([check]):
        fill = tf.cond(count == 0, lambda: tf.cast(default, values.dtype), lambda: values[0])
        return tf.cond(count == batch, lambda: tf.identity(values), lambda: tf.fill([batch], fill))


def _assert_all(condition, message, name, values):
    return tf.debugging.Assert(tf.reduce_all(condition), [f"{message} Received: {name}=", values], summarize=16)


def request_options(batch, max_new_tokens_cap, max_new_tokens, temperature, top_k, top_p, seed):
    """Checks a request's options and makes them per row: `(new_tokens, (temperature, top_k, top_p, seeds))`.

    Runs in the serving graph (not under XLA): a bad value fails the request
    with `InvalidArgumentError` naming it.
    """
    checks = [
        _assert_all((max_new_tokens >= 1) & (max_new_tokens <= max_new_tokens_cap),
                    f"`max_new_tokens` must be in [1, {max_new_tokens_cap}] (the export's max_new_tokens).",
                    "max_new_tokens", max_new_tokens),
        _assert_all(tf.math.is_finite(temperature) & (temperature >= 0), "`temperature` must be >= 0 (0 = greedy).",
                    "temperature", temperature),
        _assert_all(top_k >= 0, "`top_k` must be >= 0 (0 = no limit).", "top_k", top_k),
        _assert_all((top_p > 0) & (top_p <= 1), "`top_p` must be in (0, 1].", "top_p", top_p),
    ]
    with tf.control_dependencies(checks):
        sampling = (tf.size(temperature) + tf.size(top_k) + tf.size(top_p)) > 0
        new_tokens = _per_row("max_new_tokens", max_new_tokens, batch, max_new_tokens_cap)
        temperature = _per_row("temperature", temperature, batch, 1.0)
        temperature = tf.where(sampling, temperature, 0.0)  # no sampling option: greedy
        top_k = _per_row("top_k", top_k, batch, 0)
        top_p = _per_row("top_p", top_p, batch, 1.0)
        seeds = tf.cond(tf.size(seed) > 0, lambda: _per_row("seed", seed, batch, 0),
                        lambda: tf.random.uniform([batch], minval=0, maxval=2**31 - 1, dtype=tf.int64))
        seeds = tf.cast(tf.bitwise.bitwise_and(seeds, 0xFFFFFFFF), tf.uint32)  # the seed's low 32 bits
        return new_tokens, (temperature, top_k, top_p, tf.bitcast(seeds, tf.int32))


# ----------------------------------------------------------------------------------- language model
def _first_token_fallback(tokenizer):
    """What an empty prompt starts from: a newline if the vocabulary has one, else `[START]`, else the
    tokenizer's `start_token_id` (GPT-2: `<|endoftext|>`), else id 1."""
    for token in ("\n", START_TOKEN):
        try:
            token_id = _token_id(tokenizer, token)
        except Exception:  # pragma: no cover - tokenizer without such lookups
            token_id = None
        if token_id is not None and token_id > 0:
            return int(token_id)
    start = getattr(tokenizer, "start_token_id", None)  # a checkpoint's, e.g. GPT-2's <|endoftext|>
    return 1 if start is None else int(start)


def _default_prompt_buckets(longest):
    """Powers of two from 16 below `longest`, then `longest`."""
    buckets, size = [], 16
    while size < longest:
        buckets.append(size)
        size *= 2
    return tuple(buckets) + (longest,)


def language_model_endpoints(model, tokenizer, max_new_tokens=64, prompt_buckets=None,
                             batch_buckets=DEFAULT_BATCH_BUCKETS):
    """Signatures of a `TransformerLanguageModel`: a prompt in, its continuation out, with per-request options.

    - `serving_default(prompt: string[None], max_new_tokens, temperature,
      top_k, top_p, seed)` → `text: string[None]` (prompt + continuation),
      `continuation: string[None]`.
    - `token_ids(prompt_ids: int32[None, None], <the same options>)` →
      `token_ids`, `prompt_lengths`.

    The options are optional inputs (`SignatureDef` defaults, which TF
    Serving applies): greedy decoding of `max_new_tokens` tokens when none is
    given; see `OPTIONS_HELP`. Each prompt keeps its last
    `model.max_length - max_new_tokens` tokens (the most recent context), in
    both signatures: a `token_ids` row ends at its last id that is not padding
    (`kerasformers.text.padding_token_id`: 0, or GPT-2's `<|endoftext|>`); an
    empty prompt starts from a newline (or `[START]`, or the tokenizer's start
    token). Generation stops at `[END]` if the vocabulary has it. The tokens
    equal `kerasformers.generation.generate` with the same options and seed.

    Args:
        model: a `TransformerLanguageModel` (or any model with the causal
            language model step of `kerasformers.generation`).
        tokenizer: the tokenizer the model was trained with.
        max_new_tokens: int in `[1, model.max_length - 1]`: the most tokens a
            request may ask for, and the default. Defaults to `64`.
        prompt_buckets: ints: prompt widths that get their own decoding loop
            (a request uses the smallest that holds its longest prompt; the
            key/value cache is `bucket + max_new_tokens` long). Defaults to
            powers of two from 16, then `model.max_length - max_new_tokens`.
        batch_buckets: ints: with `jit_compile=True`, batches are padded up
            to one of these (beyond the largest, to a multiple of it), so XLA
            compiles one program per (batch bucket, prompt bucket). Defaults
            to `(1, 8, 32)`.

    Returns:
        `Endpoints` for `export_for_serving`, with the options' defaults and
        warm-up requests (one per signature, and one per bucket pair when
        compiled with XLA).

    Raises:
        ValueError: without a tokenizer, or for a bad `max_new_tokens` or
            bucket.

    Example:
    >>> export_for_serving(lm, "saved_models/language_model",
    ...                    language_model_endpoints(lm, tokenizer, max_new_tokens=64), jit_compile=True)  # doctest: +SKIP
    """
    _require("language_model_endpoints", model, ("vocabulary_size", "max_length", "init_cache", "call_with_cache"))
    _require_tokenizer("language model", "tokenizer", tokenizer)
    cap = check_int("max_new_tokens", max_new_tokens, minimum=1, maximum=model.max_length - 1)
    longest = model.max_length - cap
    prompt_buckets = _check_buckets("prompt_buckets", prompt_buckets or _default_prompt_buckets(longest), longest)
    if prompt_buckets[-1] < longest:
        prompt_buckets += (longest,)
    batch_buckets = _check_buckets("batch_buckets", batch_buckets, None)
    fallback = _first_token_fallback(tokenizer)
    end_id = _token_id(tokenizer, END_TOKEN)
    pad = padding_token_id(tokenizer)
    functions = {}

    def decode(bucket):
        run = build_generate_function(model, SeededSampler(), bucket, cap, end_token_id=end_id, pad_token_id=pad)

        def step(buffer, lengths, new_tokens, temperature, top_k, top_p, seeds):  # (batch, bucket + cap), (batch,)...
            return run(buffer, lengths, temperature, top_k, top_p, seeds, new_tokens=new_tokens)

        return _compiled(functions, bucket, step)

    def generate(prompt_ids, lengths, new_tokens, options):
        """`prompt_ids` (batch, longest) right-padded, `lengths` (batch,) >= 1 -> tokens (batch, model.max_length)."""
        batch = tf.shape(prompt_ids)[0]
        if _JIT.get():  # pad the batch to a bucket: rows of one token that generate nothing
            rows = _bucket_batch(batch, batch_buckets)
            prompt_ids = _pad_rows(prompt_ids, rows, fallback)
            # Padding rows hold the longest prompt length and generate nothing (no earlier loop start).
            lengths, new_tokens = _pad_rows(lengths, rows, tf.reduce_max(lengths)), _pad_rows(new_tokens, rows, 0)
            options = tuple(_pad_rows(x, rows, 0) for x in options)
        needed = tf.reduce_max(lengths)
        index = tf.reduce_sum(tf.cast(tf.constant(prompt_buckets[:-1], tf.int32) < needed, tf.int32))

        def branch(bucket):
            def call():
                buffer = tf.pad(prompt_ids[:, :bucket], [[0, 0], [0, cap]], constant_values=pad)
                tokens = decode(bucket)(buffer, lengths, new_tokens, *options)
                return tf.pad(tokens, [[0, 0], [0, longest - bucket]], constant_values=pad)

            return call

        tokens = tf.switch_case(index, [branch(bucket) for bucket in prompt_buckets])
        return tf.ensure_shape(tokens[:batch], [None, model.max_length])

    def from_ids(prompt_ids, max_new_tokens=None, temperature=None, top_k=None, top_p=None, seed=None):
        prompt_ids = tf.cast(prompt_ids, tf.int32)
        batch = tf.shape(prompt_ids)[0]
        new_tokens, options = request_options(batch, cap, max_new_tokens, temperature, top_k, top_p, seed)
        # A prompt ends at its last non-padding id (as in `generate`); padding ids inside stay tokens.
        positions = tf.range(1, tf.shape(prompt_ids)[1] + 1)[None, :]
        lengths = tf.maximum(tf.reduce_max(tf.where(prompt_ids != pad, positions, 0), axis=1), 0)  # (batch,)
        # Keep each prompt's LAST `longest` tokens (the most recent context), as the text signature does.
        ragged = tf.RaggedTensor.from_tensor(prompt_ids, lengths=lengths)[:, -longest:]
        prompt_ids = ragged.to_tensor(default_value=pad, shape=[None, longest])
        lengths = tf.minimum(lengths, longest)
        first = tf.where(lengths == 0, fallback, prompt_ids[:, 0])
        prompt_ids = tf.concat([first[:, None], prompt_ids[:, 1:]], axis=1)
        lengths = tf.maximum(lengths, 1)
        empty = tf.fill([batch, model.max_length], pad)
        tokens = tf.cond(batch > 0, lambda: generate(prompt_ids, lengths, new_tokens, options), lambda: empty)
        return {"token_ids": tokens, "prompt_lengths": lengths}

    def from_text(prompt, max_new_tokens=None, temperature=None, top_k=None, top_p=None, seed=None):
        ids = tf.cast(_tokenize(tokenizer, prompt)[:, -longest:], tf.int32)
        out = from_ids(ids.to_tensor(default_value=pad, shape=[None, longest]), max_new_tokens, temperature, top_k,
                       top_p, seed)
        tokens, lengths = out["token_ids"], out["prompt_lengths"]
        positions = tf.range(tf.shape(tokens)[1])[None, :]
        continuation = tf.where(positions >= lengths[:, None], tokens, pad)
        return {"text": _detokenize(tokenizer, tokens), "continuation": _detokenize(tokenizer, continuation)}

    options = list(OPTION_SPECS.values())

    def warmup(jit_compile):
        requests = [("serving_default", {"prompt": np.array(["a"])})]
        batches = batch_buckets if jit_compile else (1,)
        for rows in batches:
            for bucket in prompt_buckets if jit_compile else prompt_buckets[:1]:
                ids = np.full((rows, bucket), fallback, "int32")
                requests.append(("token_ids", {"prompt_ids": ids, "max_new_tokens": np.array([1], "int32")}))
        return requests

    return Endpoints(
        signatures=[
            ("serving_default", from_text, [tf.TensorSpec([None], tf.string, name="prompt"), *options]),
            ("token_ids", from_ids, [tf.TensorSpec([None, None], tf.int32, name="prompt_ids"), *options]),
        ],
        resources=[tokenizer],
        defaults={name: dict(OPTION_DEFAULTS) for name in ("serving_default", "token_ids")},
        warmup=warmup,
    )


# ----------------------------------------------------------------------------------- translator
def translator_endpoints(model, source_tokenizer, target_tokenizer, num_beams=4, length_penalty=0.6,
                         batch_buckets=DEFAULT_BATCH_BUCKETS):
    """Signatures of a `TransformerSeq2Seq`: source text in, its translation out.

    - `serving_default(text: string[None])` → `translation: string[None]`
      (greedy decoding).
    - `beam(text: string[None])` → `translation` (beam search with
      `num_beams` and `length_penalty`, fixed at export).
    - `token_ids(source_ids: int32[None, None])` → `token_ids` (greedy).

    Sources are truncated to `model.max_length` tokens; targets are decoded
    up to `model.max_length` tokens with the cached loop of
    `kerasformers.generation.build_translate_function`, from `[START]` to
    `[END]`. An empty source is read as one `[UNK]`.

    Args:
        model: a `TransformerSeq2Seq` (or any model with the encoder-decoder
            step of `kerasformers.generation`).
        source_tokenizer, target_tokenizer: the tokenizers the model was
            trained with; the target one needs `[START]` and `[END]`.
        num_beams: int >= 1. Beam width of the `beam` signature. Defaults to
            `4` (Vaswani et al. 2017, section 6.1).
        length_penalty: float >= 0. GNMT alpha of the `beam` signature.
            Defaults to `0.6`.
        batch_buckets: ints: with `jit_compile=True`, batches are padded up
            to one of these (beyond the largest, to a multiple of it), one XLA
            program each per decoding mode. Defaults to `(1, 8, 32)`.

    Returns:
        `Endpoints` for `export_for_serving`.

    Raises:
        ValueError: without both tokenizers, without `[START]`/`[END]` in the
            target vocabulary, or for a bad `num_beams` / `length_penalty`.
    """
    _require(
        "translator_endpoints", model,
        ("encoder_vocabulary_size", "target_vocabulary_size", "max_length", "encode", "init_cache", "call_with_cache"),
    )
    _require_tokenizer("translator", "source_tokenizer", source_tokenizer)
    _require_tokenizer("translator", "target_tokenizer", target_tokenizer)
    start_id = _token_id(target_tokenizer, START_TOKEN)
    end_id = _token_id(target_tokenizer, END_TOKEN)
    if start_id is None or end_id is None:
        raise ValueError(
            f"The target tokenizer needs `{START_TOKEN}` and `{END_TOKEN}` tokens to translate. "
            f"Received: start id {start_id}, end id {end_id}"
        )
    unknown = _token_id(source_tokenizer, UNK_TOKEN) or 1
    vocabulary_size = model.target_vocabulary_size
    batch_buckets = _check_buckets("batch_buckets", batch_buckets, None)
    _, greedy = resolve_sampler("greedy", vocabulary_size=vocabulary_size)
    _, beam = resolve_sampler("beam", num_beams=num_beams, length_penalty=length_penalty, vocabulary_size=vocabulary_size)
    functions = {}

    def make(mode, sampler_factory):
        def decode():
            return _compiled(functions, mode, build_translate_function(
                model, sampler_factory(), model.max_length, start_token_id=start_id, end_token_id=end_id
            ))

        def from_ids(source_ids):  # (batch, source_length) 0-padded
            source_ids = tf.cast(source_ids[:, : model.max_length], tf.int32)
            source_ids = tf.pad(source_ids, [[0, 0], [0, model.max_length - tf.shape(source_ids)[1]]])
            source_ids = tf.ensure_shape(source_ids, [None, model.max_length])
            empty = tf.reduce_all(source_ids == 0, axis=1)
            # An empty source still needs one visible encoder position.
            source_ids = tf.concat([tf.where(empty, unknown, source_ids[:, 0])[:, None], source_ids[:, 1:]], axis=1)
            batch = tf.shape(source_ids)[0]

            def run():
                padded = _pad_rows(source_ids, _bucket_batch(batch, batch_buckets), unknown) if _JIT.get() \
                    else source_ids
                return decode()(padded)[:batch]

            empty_result = tf.zeros([batch, model.max_length], tf.int32)
            return {"token_ids": tf.cond(batch > 0, run, lambda: empty_result)}

        def from_text(text):
            ids = tf.cast(_tokenize(source_tokenizer, text)[:, : model.max_length], tf.int32)
            ids = ids.to_tensor(default_value=0, shape=[None, model.max_length])
            return {"translation": _detokenize(target_tokenizer, from_ids(ids)["token_ids"])}

        return from_ids, from_text

    greedy_ids, greedy_text = make("greedy", greedy)
    _, beam_text = make("beam", beam)

    def warmup(jit_compile):
        requests = []
        for rows in batch_buckets if jit_compile else (1,):
            requests += [("serving_default", {"text": np.array(["a"] * rows)}), ("beam", {"text": np.array(["a"] * rows)})]
        return requests + [("token_ids", {"source_ids": np.full((1, 1), unknown, "int32")})]

    return Endpoints(
        signatures=[
            ("serving_default", greedy_text, [tf.TensorSpec([None], tf.string, name="text")]),
            ("beam", beam_text, [tf.TensorSpec([None], tf.string, name="text")]),
            ("token_ids", greedy_ids, [tf.TensorSpec([None, None], tf.int32, name="source_ids")]),
        ],
        resources=[source_tokenizer, target_tokenizer],
        warmup=warmup,
    )
