import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "blog_corrected.py"


def load_example():
    spec = importlib.util.spec_from_file_location("blog_corrected", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_blog_example_trains_beyond_chance(capsys):
    accuracy = load_example().main(["--epochs", "3", "--examples", "2048", "--seed", "1"])
    assert accuracy > 0.2  # chance is 0.1
    out = capsys.readouterr().out
    assert "snippet 2: encoder attention" in out
