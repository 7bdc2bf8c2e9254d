"""Every Python snippet of docs/distributed.md runs in a fresh process and prints what its comments say."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "distributed.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)
SECTIONS = re.split(r"^## ", DOC, flags=re.M)[1:]
TITLES = [section.splitlines()[0] for section in SECTIONS if "```python" in section]
ON_PAPER = ["Scale on paper: memory per device, and the mesh to choose"]  # arithmetic, no code to run


def test_every_section_has_a_snippet():
    assert len(SNIPPETS) == len(TITLES) == 7
    assert [section.splitlines()[0] for section in SECTIONS if "```python" not in section] == ON_PAPER


@pytest.mark.parametrize("index", range(len(SNIPPETS)), ids=[t.split(":")[0] for t in TITLES])
def test_snippet_runs(index, tmp_path):
    snippet = SNIPPETS[index]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("XLA_FLAGS", None)
    result = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=900,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    printed = [line.strip() for line in result.stdout.splitlines()]
    expected = re.findall(r"^print\(.*\)[ \t]*#[ \t]*(.+)$", snippet, flags=re.M)
    assert expected, "each snippet states what it prints"
    for line in expected:
        assert line.strip() in printed, f"docs say {line!r}, the snippet printed {printed!r}"
