"""Every public name of kerasformers.text is documented, and its examples run."""

import doctest
import inspect

import pytest

import kerasformers.text as text
from kerasformers.text import pipelines, readers, tokenizers

PUBLIC = [getattr(text, name) for name in text.__all__ if callable(getattr(text, name))]


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_public_names_have_documented_sections(obj):
    doc = inspect.getdoc(obj) or ""
    sections = ["Example:"]
    if inspect.isfunction(obj):
        sections += ["Args:", "Returns:", "Raises:"]
    elif not issubclass(obj, Warning):
        sections.append("Args:")
    missing = [s for s in sections if s not in doc]
    assert not missing, f"{obj.__name__} docstring lacks {missing}"


@pytest.mark.parametrize("module", [readers, tokenizers, pipelines], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
