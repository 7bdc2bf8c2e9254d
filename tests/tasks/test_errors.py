"""Clear errors before any training: missing, empty or malformed data, unknown presets, existing outputs, extras."""

import sys

import numpy as np
import pytest

from kerasformers import cli
from kerasformers.tasks import base, run, translation, vision
from kerasformers.tasks.errors import MissingExtraError

FAST = dict(plots=False, export=False)


def test_missing_data_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such file"):
        run("translation", data=tmp_path / "missing.txt", output=tmp_path / "run", **FAST)
    assert not (tmp_path / "run").exists()


def test_empty_data_file(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(ValueError, match="is empty"):
        run("classification", data=empty, output=tmp_path / "run", **FAST)
    with pytest.raises(ValueError, match="is empty"):
        run("language-model", data=empty, output=tmp_path / "run2", **FAST)


def test_malformed_lines_are_reported_with_their_numbers(tmp_path, capsys):
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("Go.\tVe.\nbroken line\nHi.\tHola.\n\nRun!\t\n")
    data = base.read_reporting(translation.text.read_pairs, pairs)
    assert len(data) == 2
    out = capsys.readouterr().out
    assert "skipped malformed lines" in out and "line 2: expected 2 fields, found 1" in out
    assert "line 4: blank line" in out and "line 5: empty field 1" in out
    with pytest.raises(ValueError, match="line 2"):
        run("translation", data=pairs, on_malformed="raise", output=tmp_path / "run", **FAST)


def test_cli_malformed_raise_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\ngood film\t1\nno label here\n")
    status = cli.main(["train", "classification", "--data", str(bad), "--on-malformed", "raise",
                       "--output", str(tmp_path / "run"), "--no-plots", "--no-export"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 3: expected 2 fields, found 1" in err[0]


@pytest.mark.parametrize("task", ["translation", "classification", "language-model", "vision", "lstm-transformer"])
def test_unknown_preset_lists_the_known_ones(task, tmp_path):
    with pytest.raises(ValueError, match=r"Unknown preset 'huge'.*Known presets: .*tiny"):
        run(task, preset="huge", output=tmp_path / "run", plots=False)
    assert not (tmp_path / "run").exists()  # nothing written


def test_cli_unknown_preset(capsys):
    assert cli.main(["train", "language-model", "--demo", "--preset", "huge"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Unknown preset 'huge'" in err and "Traceback" not in err


def test_existing_export_version_fails_before_training(tmp_path):
    (tmp_path / "saved" / "3").mkdir(parents=True)
    with pytest.raises(FileExistsError, match="--overwrite"):
        run("classification", demo=True, export_dir=tmp_path / "saved", export_version=3, plots=False,
                              output=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_finished_run_in_output_needs_overwrite(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "task.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds a finished run"):
        run("language-model", demo=True, output=tmp_path / "run", **FAST)


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingExtraError, match=r'pip install "kerasformers\[plot\]"'):
        run("translation", demo=True, output=tmp_path / "run", export=False)
    assert cli.main(["train", "translation", "--demo", "--output", str(tmp_path / "run2")]) == 2


def test_vision_data_errors(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError):
        vision.load_images(data=tmp_path / "none.npz")
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="x_train, y_train, x_test, y_test"):
        vision.load_images(data=tmp_path / "bad.npz")
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(MissingExtraError, match=r"kerasformers\[vision\]"):
        vision.load_images("digits")


def test_vision_offline_without_scikit_learn(monkeypatch):
    monkeypatch.setattr(vision, "_keras_dataset", _raise_download)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(vision.DownloadError, match="Pass --data PATH.npz"):
        vision.load_images("mnist")


def _raise_download(name):
    raise vision.DownloadError(f"Could not download {name} with keras.datasets (offline).")


def test_vision_offline_falls_back_to_digits(monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.setattr(vision, "_keras_dataset", _raise_download)
    (x_train, y_train), (x_test, _), names, name = vision.load_images("mnist")
    assert name == "digits 8x8" and x_train.shape[1:] == (8, 8, 1) and 0 <= x_train.min() <= x_train.max() <= 1
    assert len(x_train) + len(x_test) == 1797 and names == [str(i) for i in range(10)]
    assert "Using scikit-learn's bundled 8x8 digits instead" in capsys.readouterr().out


def test_an_internal_error_keeps_its_traceback(monkeypatch, tmp_path, capsys):
    """A ValueError raised inside NumPy (a bug, not bad input) is not turned into one polite line."""
    from kerasformers.text import demo_data

    def broken(*args, **kwargs):
        return np.reshape(np.arange(3), (2, 2))  # ValueError from NumPy

    monkeypatch.setattr(demo_data, "sentiment_texts", broken)
    with pytest.raises(ValueError, match="cannot reshape"):
        cli.main(["train", "classification", "--demo", "--output", str(tmp_path / "run"), "--no-plots"])
    assert "kerasformers: error" not in capsys.readouterr().err


def test_user_errors_are_the_ones_kerasformers_raises(tmp_path):
    from kerasformers.tasks.errors import DownloadError, is_user_error

    with pytest.raises(FileNotFoundError) as missing:
        run("classification", data=tmp_path / "none.tsv", output=tmp_path / "run")
    assert is_user_error(missing.value)
    with pytest.raises(ValueError) as numpy_error:
        np.reshape(np.arange(3), (2, 2))
    assert not is_user_error(numpy_error.value) and not is_user_error(KeyError("x"))
    assert is_user_error(DownloadError("offline")) and is_user_error(MissingExtraError("pip install"))


@pytest.mark.parametrize("option, value", [("max_length", 0), ("max_length", -1), ("batch_size", 0),
                                           ("learning_rate", -1e-3), ("validation_fraction", 1.5),
                                           ("tokenizer", "nope"), ("epochs", 2.5)])
def test_python_options_are_checked_before_any_work(option, value, tmp_path, monkeypatch):
    """`max_length=0` used to become the default silently, and `-1` failed only after the tokenizer was trained."""
    from kerasformers.text import demo_data

    monkeypatch.setattr(demo_data, "date_pairs", lambda *a, **k: pytest.fail("the data was read"))
    with pytest.raises(ValueError, match=rf"`{option}` must .*Received: {option}={value!r}"):
        run("translation", demo=True, output=tmp_path / "run", **{option: value})
    assert not (tmp_path / "run").exists()
