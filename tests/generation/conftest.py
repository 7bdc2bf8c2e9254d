"""Session-scoped tiny models: their compiled decoding functions are shared by all generation tests."""

import pytest
from _generation_setup import make_language_model, make_seq2seq


@pytest.fixture(scope="session")
def lm():
    return make_language_model()


@pytest.fixture(scope="session")
def seq2seq():
    return make_seq2seq()
