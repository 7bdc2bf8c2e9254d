"""Fixtures of the task tests: the tiny runs shared with tests/cli and tests/examples (see `_task_runs.py`)."""

import importlib.util
import pathlib
import sys

import pytest


def task_runs():
    """`_task_runs.py`, loaded once per session under one module name, whichever test directory asks first."""
    name = "_kerasformers_task_runs"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).with_name("_task_runs.py"))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.fixture
def run_of(tmp_path_factory):
    """`run_of("translation")`: the session's tiny run of a task (trained on first use)."""
    return lambda name: task_runs().get(name, tmp_path_factory)
