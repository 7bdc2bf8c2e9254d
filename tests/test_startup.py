"""The quiet start: `import kerasformers` and the CLI show no TensorFlow start-up noise unless asked for."""

import os
import subprocess
import sys

import pytest

from kerasformers import startup

ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
REAL_LINES = [  # as TensorFlow 2.21 prints them on this kind of machine
    ABSL_BANNER,
    "I0000 00:00:1796200375.931738    3360 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
    "will not be used.",
    "I0000 00:00:1796200376.018114    3360 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not find cuda drivers",
    "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN factory: Attempting to "
    "register factory for plugin cuDNN when one has already been registered",
    "E0000 00:00:1796202197.730033    5992 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    "call to cuInit: UNKNOWN ERROR (303)",
]


@pytest.mark.parametrize("line", REAL_LINES)
def test_start_up_notices_are_noise_at_the_default_level(line):
    assert startup.is_startup_noise(line, 1)


@pytest.mark.parametrize("line, level, noise", [
    ("I0000 00:00:1.5    7 local_rendezvous.cc:405] Local rendezvous is aborting", 1, True),  # INFO below 1
    ("I0000 00:00:1.5    7 local_rendezvous.cc:405] Local rendezvous is aborting", 0, False),
    ("W0000 00:00:1.5    7 op_kernel.cc:1857] OP_REQUIRES failed at strided_slice_op.cc", 1, False),
    ("W0000 00:00:1.5    7 op_kernel.cc:1857] OP_REQUIRES failed at strided_slice_op.cc", 2, True),
    ("2026-12-02 08:00:00.1: E tensorflow/core/framework/op.cc:12] real trouble", 2, False),
    ("Traceback (most recent call last):", 3, False),  # not a log line: always shown
    ("UserWarning: something Python warned about", 1, False),
])
def test_other_lines_are_kept_by_level(line, level, noise):
    assert startup.is_startup_noise(line, level) is noise


def _python(code, **environment):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", startup.VERBOSE_VARIABLE)}
    env.update(environment)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_the_filter_keeps_what_is_not_noise_and_shows_everything_when_the_import_fails():
    code = (
        "import os, sys\n"
        "from kerasformers import startup\n"
        "with startup._filtered_stderr():\n"
        f"    os.write(2, {ABSL_BANNER!r}.encode() + b'\\n' + b'E0000 00:00:1.0   5 x.cc:1] kept error\\n')\n"
        "    print('a python warning', file=sys.stderr)\n"
        "try:\n"
        "    with startup._filtered_stderr():\n"
        f"        os.write(2, {ABSL_BANNER!r}.encode() + b'\\n')\n"
        "        raise ImportError('broken')\n"
        "except ImportError:\n"
        "    pass\n"
    )
    result = _python(code, TF_CPP_MIN_LOG_LEVEL="1")
    assert result.returncode == 0, result.stderr
    first, _, second = result.stderr.partition("a python warning\n")
    assert first == "E0000 00:00:1.0   5 x.cc:1] kept error\n"  # the banner dropped, the error kept
    assert second == ABSL_BANNER + "\n"  # the import failed: nothing hidden


def test_import_kerasformers_is_quiet_and_sets_the_default_level():
    raw = _python("import tensorflow")  # what TensorFlow alone prints here
    if not any(startup.is_startup_noise(line, 1) for line in raw.stderr.splitlines()):
        pytest.skip("this TensorFlow prints no start-up notice on this machine: nothing to hide")
    quiet = _python("import os, kerasformers, tensorflow as tf\n"
                    "tf.config.set_logical_device_configuration(  # still allowed: the runtime has not started\n"
                    "    tf.config.list_physical_devices('CPU')[0], [tf.config.LogicalDeviceConfiguration()] * 2)\n"
                    "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], len(tf.config.list_logical_devices('CPU')))\n"
                    "print(int(tf.reduce_sum(tf.range(4))))  # the first op: the runtime starts")
    assert quiet.returncode == 0 and quiet.stdout == "1 2\n6\n", quiet.stderr
    assert quiet.stderr == "", quiet.stderr


@pytest.mark.parametrize("environment", [{"KERASFORMERS_VERBOSE": "1"}, {"TF_CPP_MIN_LOG_LEVEL": "0"}])
def test_asking_for_the_logs_shows_them(environment):
    raw = _python("import tensorflow")
    if ABSL_BANNER not in raw.stderr:
        pytest.skip("this TensorFlow prints no absl banner on this machine")
    assert ABSL_BANNER in _python("import kerasformers", **environment).stderr


def test_the_command_line_starts_quietly():
    result = subprocess.run([sys.executable, "-m", "kerasformers", "train", "translation", "--help"],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 0 and "--source-file" in result.stdout
    assert result.stderr == "", result.stderr
