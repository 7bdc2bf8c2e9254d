"""Shared helpers of the benchmarks: environment, alternation, medians, timing, memory, tables.

Nothing here imports TensorFlow or Keras at module level, so a benchmark can set
`KERAS_BACKEND` / `TF_CPP_MIN_LOG_LEVEL` before the first framework import.

Typical use::

    from _common import Clock, alternate, median, median_ratio, print_table

    results = alternate({"ours": run_ours, "ref": run_ref}, rounds=5)  # A B A B ...
    print_table(["candidate", "median s"], [[k, median(v)] for k, v in results.items()])
    print(median_ratio(results, "ref", "ours"))  # median of per-round ratios
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# ---------------------------------------------------------------- environment


def cpu_count():
    """CPUs this process may run on (the affinity mask), else `os.cpu_count()`."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def environment_info(**extra):
    """Versions, CPU and load, as a dict (imports TF/Keras/keras_hub if installed)."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": cpu_count(),
        "load_average_1m_5m_15m": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
    for module in ("tensorflow", "keras", "keras_hub", "jax"):
        if module == "jax" and "jax" not in sys.modules:
            continue
        try:
            info[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - a missing package is just not reported
            pass
    if "keras" in info:
        import keras

        info["keras_backend"] = keras.backend.backend()
    info.update(extra)
    return info


def print_environment(info, title="Environment"):
    print(f"## {title}\n")
    print_table(["", "value"], [[key, _plain(value)] for key, value in info.items()])


def _plain(value):
    if isinstance(value, (list, tuple)):
        return ", ".join(f"{v:.2f}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


# ------------------------------------------------------------------ statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def per_round_ratios(results, numerator, denominator):
    """`results[numerator][i] / results[denominator][i]` for every round i."""
    return [a / b for a, b in zip(results[numerator], results[denominator])]


def median_ratio(results, numerator, denominator):
    """Median over rounds of the per-round ratio numerator/denominator.

    Alternating candidates and taking per-round ratios cancels slow drifts of
    the machine (other processes, thermal state) that hit neighbours alike.
    """
    return median(per_round_ratios(results, numerator, denominator))


def alternate(candidates, rounds, on_result=None):
    """Runs `candidates` (dict name -> zero-argument callable returning a number)
    in the order A B C A B C ... for `rounds` rounds. Returns {name: [value per round]}.

    `on_result(round_index, name, value)` is called after each measurement
    (for progress printing).
    """
    results = {name: [] for name in candidates}
    for round_index in range(rounds):
        for name, run in candidates.items():
            value = run()
            results[name].append(value)
            if on_result is not None:
                on_result(round_index, name, value)
    return results


# --------------------------------------------------------------------- timing


class Clock:
    """Wall-clock time since creation: `clock.elapsed()` in seconds, `str(clock)` as `m:ss`."""

    def __init__(self):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def __str__(self):
        seconds = self.elapsed()
        return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def best_time(fn, repeats, warmup=1):
    """Smallest wall time of `fn()` over `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def step_timer():
    """A Keras callback that records the time of the batches of one `fit` call.

    `timer.seconds` is the time from the start of the first batch to the end of
    the last one, so `fit`'s set-up (iterator creation, callbacks, epoch-end
    bookkeeping) is excluded; `timer.steps` the number of batches.
    """
    import keras

    class StepTimer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.first = self.last = None
            self.steps = 0

        def on_train_batch_begin(self, batch, logs=None):
            if self.first is None:
                self.first = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last = time.perf_counter()
            self.steps += 1

        @property
        def seconds(self):
            return self.last - self.first

    return StepTimer()


def time_fit(model, dataset, steps):
    """Seconds per training step of `model.fit(dataset, steps_per_epoch=steps)`.

    `dataset` must repeat (at least `steps` batches). The model must be
    compiled; compile / trace time is not excluded, so run a warm-up first.
    """
    timer = step_timer()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False, callbacks=[timer])
    if timer.steps != steps:
        raise RuntimeError(f"fit ran {timer.steps} steps, expected {steps} (does the dataset repeat?)")
    return timer.seconds / steps


def matmul_peak(n=4096, repeats=5, dtype="float32"):
    """This machine's matmul throughput with TensorFlow: best of `repeats` n×n @ n×n products.

    Returns {"n", "eager_flops", "xla_flops", "peak_flops"} in FLOP/s, counting
    2·n³ FLOPs per product; `peak_flops` is the larger of plain `tf.matmul` and
    `tf.matmul` under `tf.function(jit_compile=True)`.
    """
    import tensorflow as tf

    a = tf.random.normal((n, n), dtype=dtype, seed=1)
    b = tf.random.normal((n, n), dtype=dtype, seed=2)
    xla_matmul = tf.function(tf.matmul, jit_compile=True)
    flops = 2.0 * n**3
    out = {"n": n, "repeats": repeats}
    for key, fn in (("eager_flops", tf.matmul), ("xla_flops", xla_matmul)):
        out[key] = flops / best_time(lambda fn=fn: fn(a, b)[0, 0].numpy(), repeats)
    out["peak_flops"] = max(out["eager_flops"], out["xla_flops"])
    return out


# --------------------------------------------------------------------- memory


def _proc_status_kib(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def current_rss():
    """Resident set size of this process now, in bytes (None if unknown)."""
    kib = _proc_status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss():
    """Peak RSS in bytes since start or since the last `reset_peak_rss()` (Linux `VmHWM`);
    `getrusage(RUSAGE_SELF).ru_maxrss` where /proc is missing (never reset)."""
    kib = _proc_status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":  # bytes there
            kib //= 1024
    return kib * 1024


def lifetime_peak_rss():
    """`getrusage(RUSAGE_SELF).ru_maxrss` in bytes: the peak over the whole process life.

    Caution: on Linux a child started with fork/exec (e.g. `subprocess`) inherits
    its parent's ru_maxrss, so in a subprocess of a big parent this reports the
    parent's peak. `peak_rss()` (VmHWM of the current address space) does not.
    """
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def reset_peak_rss():
    """Resets the kernel's peak-RSS counter (`VmHWM`) to the current RSS. Returns success.

    Linux ≥ 4.0: writing "5" to /proc/self/clear_refs. Lets a benchmark measure
    the peak of one phase (e.g. training steps) rather than of XLA compilation.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def tf_memory_info(device="CPU:0"):
    """TensorFlow allocator statistics `{"current", "peak"}` in bytes, or None if unsupported.

    Works on CPU too once something has been allocated (it reports zeros before);
    covers the tensors and XLA buffers TensorFlow allocates, not the Python heap,
    compiled code or allocator caches that RSS also sees.
    """
    import tensorflow as tf

    try:
        return dict(tf.config.experimental.get_memory_info(device))
    except (ValueError, RuntimeError):
        return None


def reset_tf_memory_peak(device="CPU:0"):
    """Resets the allocator's peak to its current usage. Returns success."""
    import tensorflow as tf

    try:
        tf.config.experimental.reset_memory_stats(device)
        return True
    except (ValueError, RuntimeError):
        return False


def release_memory():
    """Garbage-collects and hands freed heap memory back to the OS (glibc `malloc_trim`),
    so that RSS measured afterwards reflects live memory. Returns the RSS in bytes."""
    import gc

    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return current_rss()


def load_warning(threshold=0.5):
    """A warning string if the 1-minute load average exceeds `threshold` × CPUs, else None."""
    if not hasattr(os, "getloadavg"):
        return None
    load, cpus = os.getloadavg()[0], cpu_count()
    if load > threshold * cpus:
        return (f"WARNING: load average {load:.1f} on {cpus} CPUs: other processes are running, "
                "timings will be slow and noisy (ratios from alternation are more robust than absolute numbers).")
    return None


# ---------------------------------------------------------------- subprocesses


def run_json_subprocess(args, env=None, echo=True):
    """Runs `python args...` in a fresh process and returns the JSON object it prints
    on its last stdout line. Other stdout lines are echoed as they come (progress)
    when `echo`; stderr is kept aside and its tail raised in a RuntimeError if the
    process fails.

    A fresh process per measurement isolates allocator state and compiled code
    and makes its peak memory its own.
    """
    import tempfile

    full_env = {**os.environ, **(env or {})}
    result = None
    with tempfile.TemporaryFile(mode="w+") as err:
        proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=err, text=True, env=full_env)
        for line in proc.stdout:
            if line.startswith("{"):
                try:
                    result = json.loads(line)
                    continue
                except json.JSONDecodeError:
                    pass
            if echo:
                print(line, end="", flush=True)
        proc.wait()
        if proc.returncode != 0 or result is None:
            err.seek(0)
            tail = "\n".join(err.read().splitlines()[-25:])
            raise RuntimeError(f"subprocess {args} failed (exit {proc.returncode}):\n{tail}")
    return result


# --------------------------------------------------------------------- output


def human(value, unit="", digits=3):
    """1234567 -> '1.23 M' (SI prefixes, `digits` significant digits)."""
    if value is None or value != value:  # None or NaN
        return "n/a"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}".rstrip()


def mib(num_bytes):
    return "n/a" if num_bytes is None else f"{num_bytes / 2**20:.0f}"


def markdown_table(headers, rows, align=None):
    """A GitHub markdown table. Numbers are right-aligned unless `align` (a string
    of 'l'/'r' per column) says otherwise; floats print with 3 significant digits."""
    def cell(value):
        if isinstance(value, float):
            return "n/a" if value != value else f"{value:.3g}"
        return str(value)

    body = [[cell(v) for v in row] for row in rows]
    if align is None:
        first = rows[0] if rows else [""] * len(headers)
        align = "".join("r" if isinstance(v, (int, float)) else "l" for v in first)
    widths = [max([len(str(h))] + [len(r[i]) for r in body]) for i, h in enumerate(headers)]

    def line(cells):
        padded = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else ("-" * (w + 2)) for w, a in zip(widths, align)) + "|"
    return "\n".join([line([str(h) for h in headers]), rule] + [line(r) for r in body])


def print_table(headers, rows, title=None, align=None, note=None):
    if title:
        print(f"### {title}\n")
    print(markdown_table(headers, rows, align))
    if note:
        print(f"\n{note}")
    print(flush=True)


def write_json(path, data):
    """Writes `data` (NaN as null) to `path`, creating parent directories."""
    def clean(x):
        if isinstance(x, float) and x != x:
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w") as f:
        json.dump(clean(data), f, indent=2)
        f.write("\n")
