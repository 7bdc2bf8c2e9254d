"""The generation docstrings document their arguments, and the beam search example runs.

(The examples of `generate` / `translate` XLA-compile two more models; to keep this
suite fast they are checked by hand: `doctest.testmod(kerasformers.generation.decoding)`.)
"""

import doctest
import inspect

import pytest

import kerasformers.generation as generation
from kerasformers.generation import beam_search

PUBLIC = [generation.generate, generation.translate, generation.BeamSearch, generation.resolve_sampler,
          generation.build_generate_function, generation.build_translate_function]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_public_names_document_their_arguments(obj):
    doc = inspect.getdoc(obj) or ""
    assert "Args:" in doc and "Returns:" in doc, obj.__name__


def test_beam_search_example_runs():
    result = doctest.testmod(beam_search, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
