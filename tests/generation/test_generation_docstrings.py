"""The generation docstrings' examples run, and the public functions document their arguments."""

import doctest
import inspect

import pytest

import kerasformers.generation as generation
from kerasformers.generation import beam_search, decoding

PUBLIC = [generation.generate, generation.translate, generation.BeamSearch, generation.call_with_cache,
          generation.seq2seq_call_with_cache, generation.init_seq2seq_cache]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_public_names_document_their_arguments(obj):
    doc = inspect.getdoc(obj) or ""
    assert "Args:" in doc and "Returns:" in doc, obj.__name__


@pytest.mark.parametrize("module", [decoding, beam_search], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
