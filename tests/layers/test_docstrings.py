"""Every example in the layers' docstrings runs and prints what it says, as a user pasting it would see."""

import doctest
import importlib
import pkgutil

import keras
import keras_hub
import numpy as np
import pytest

import kerasformers.layers

MODULES = [m.name for m in pkgutil.iter_modules(kerasformers.layers.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"kerasformers.layers.{name}")
    names = {n: getattr(kerasformers.layers, n) for n in dir(kerasformers.layers) if not n.startswith("_")}
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS,
                             extraglobs={"keras": keras, "keras_hub": keras_hub, "np": np, **names})
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {module.__name__}"
