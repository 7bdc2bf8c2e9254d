"""The examples in kerasformers.tasks' shared steps run (the run-level ones are skipped: they train)."""

import doctest

from kerasformers.tasks import base


def test_base_docstring_examples_run():
    result = doctest.testmod(base, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
