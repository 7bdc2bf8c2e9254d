"""Fixtures shared by every test directory."""

import pytest
import task_runs


@pytest.fixture
def run_of(tmp_path_factory):
    """`run_of("translation")`: the session's tiny run of a task (trained on first use, see `task_runs.py`)."""
    return lambda name: task_runs.get(name, tmp_path_factory)
