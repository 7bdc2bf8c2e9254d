"""Fixtures of the CLI tests: the tiny task runs shared with tests/tasks and tests/examples."""

import importlib.util
import pathlib
import sys

import pytest


def task_runs():
    """`_task_runs.py`, loaded once per session under one module name, whichever test directory asks first."""
    name = "_kerasformers_task_runs"
    if name not in sys.modules:
        path = pathlib.Path(__file__).resolve().parents[1] / "tasks" / "_task_runs.py"
        spec = importlib.util.spec_from_file_location(name, path)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


@pytest.fixture
def run_of(tmp_path_factory):
    """`run_of("translation")`: the session's tiny run of a task (trained on first use)."""
    return lambda name: task_runs().get(name, tmp_path_factory)
