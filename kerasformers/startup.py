"""A quiet start: TensorFlow's C++ start-up messages are hidden unless asked for.

Importing TensorFlow 2.19 and later prints lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1796200375.931738    3360 cudart_stub.cc:31] Could not find cuda drivers ...
    I0000 00:00:1796200376.018114    3360 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...

even with `TF_CPP_MIN_LOG_LEVEL=3`: they are written by absl before TensorFlow
reads that variable (tensorflow/tensorflow#100442). `import kerasformers`
therefore imports TensorFlow, and lists its devices (which loads the
platforms: "failed call to cuInit" on a machine without a GPU), with the
process's standard error (file descriptor 2) sent to a temporary file, then
writes back every captured line
except log lines below the minimum level and the start-up notices listed in
`STARTUP_NOISE`. Anything else TensorFlow or Python printed (an error, a
Python warning) is shown, and an import that fails shows everything.

The minimum level is `TF_CPP_MIN_LOG_LEVEL` when it is set (`0` shows
everything and turns the filter off), else `1`, which hides TensorFlow's INFO
lines for the rest of the process too (e.g. "Local rendezvous is aborting"
at the end of each `tf.data` epoch); it is set in `os.environ` before
TensorFlow starts, so it also reaches child processes. `KERASFORMERS_VERBOSE=1`
leaves TensorFlow's output alone. Nothing is done when TensorFlow was
imported before kerasformers.

Example:
>>> import os
>>> os.environ["TF_CPP_MIN_LOG_LEVEL"]  # set by `import kerasformers` unless set before  # doctest: +SKIP
'1'
>>> is_startup_noise("W0000 00:00:1.2    12 cpu_feature_guard.cc:227] This TensorFlow binary is optimized", 1)
True
>>> is_startup_noise("E0000 00:00:1.2    12 some_op.cc:42] a real error", 1)
False
"""

import contextlib
import os
import re
import sys
import tempfile

VERBOSE_VARIABLE = "KERASFORMERS_VERBOSE"
DEFAULT_LEVEL = "1"  # TensorFlow's INFO lines hidden, warnings and errors shown
# absl's ("I0000 00:00:1796200375.9 3360 file.cc:31] ...") and TensorFlow's ("2025-09-17 14:44:05.1: I path/file.cc:32] ...")
_LOG_LINE = re.compile(r"^(?:([IWEF])\d{4} \d\d:\d\d:[\d.]+\s+\d+ \S+:\d+\]|\d{4}-\d\d-\d\d \d\d:\d\d:[\d.]+: ([IWEF]) \S+:\d+\])")
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}
STARTUP_NOISE = (  # shown by every TensorFlow start on a machine without a GPU or TensorRT, whatever their level
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",  # the second line of cpu_feature_guard's notice
    "cudart_stub.cc", "cpu_feature_guard.cc", "cuda_driver.cc", "cuda_executor.cc", "dso_loader.cc",
    "cuda_platform.cc", "failed call to cuInit",
    "Unable to register cuFFT factory", "Unable to register cuDNN factory", "Unable to register cuBLAS factory",
    "computation_placer.cc", "TF-TRT Warning", "oneDNN custom operations are on",
)


def is_startup_noise(line, min_level):
    """Whether a line written while TensorFlow starts is one to hide.

    Args:
        line: str, one line of standard error.
        min_level: int, `TF_CPP_MIN_LOG_LEVEL` (0 INFO, 1 WARNING, 2 ERROR, 3 FATAL).

    Returns:
        bool: True for a log line below `min_level`, a start-up notice of
        `STARTUP_NOISE` below ERROR or one of the GPU/TensorRT start-up notices,
        and False for anything else (shown).
    """
    match = _LOG_LINE.match(line)
    severity = _SEVERITY[match.group(1) or match.group(2)] if match else None
    if severity is not None and severity < min_level:
        return True
    return any(notice in line for notice in STARTUP_NOISE) and (severity is None or severity < 3)


def _min_level():
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL))
    except ValueError:
        return int(DEFAULT_LEVEL)


@contextlib.contextmanager
def _filtered_stderr():
    """Sends file descriptor 2 to a temporary file; on exit writes back the lines that are not noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable descriptor 2 (embedded interpreters)
        yield
        return
    failed = True
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", "replace").splitlines(keepends=True)
            level = _min_level()
            kept = lines if failed else [line for line in lines if not is_startup_noise(line, level)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow_quietly():
    """Imports TensorFlow with its start-up messages filtered (see the module docstring); returns the module.

    Does nothing but import when TensorFlow is already imported, when
    `KERASFORMERS_VERBOSE` is set (not `0`), or when `TF_CPP_MIN_LOG_LEVEL=0`.

    Example:
    >>> tf = import_tensorflow_quietly()
    >>> tf.__name__
    'tensorflow'
    """
    if "tensorflow" in sys.modules or os.environ.get(VERBOSE_VARIABLE, "0") not in ("", "0"):
        import tensorflow

        return tensorflow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0":
        import tensorflow

        return tensorflow
    with _filtered_stderr():
        import tensorflow

        # Listing the devices loads the platforms now, inside the filter: CUDA's "failed call to cuInit" on a
        # machine without a GPU comes here rather than at the first op. Devices stay configurable afterwards
        # (`tf.config.set_logical_device_configuration` needs only that the runtime has not started).
        tensorflow.config.list_physical_devices()
    return tensorflow
