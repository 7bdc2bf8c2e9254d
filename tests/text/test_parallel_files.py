"""Parallel corpora as two aligned files (WMT/OPUS format): the reader, and the translation task's file options."""

import json
import warnings

import pytest

from kerasformers import cli
from kerasformers.tasks import run
from kerasformers.text import MalformedLinesWarning, ReadReport, read_parallel

from task_runs import FEW_STEPS, TINY_MODEL


def write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_aligned_files_give_pairs_line_by_line(tmp_path):
    source = write(tmp_path / "train.es", ["Hola.", "  ¿Qué tal?  ", "Adiós."])
    target = write(tmp_path / "train.en", ["Hello.", "How are you?", "Bye."])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs = read_parallel(source, target)
    assert pairs.sources == ["Hola.", "¿Qué tal?", "Adiós."]
    assert pairs.targets == ["Hello.", "How are you?", "Bye."]
    assert pairs.report == ReadReport(f"{source} + {target}", lines_read=3, records=3)
    assert read_parallel(source, target, max_pairs=2).sources == ["Hola.", "¿Qué tal?"]


def test_crlf_and_a_missing_final_newline_are_fine(tmp_path):
    source = tmp_path / "a.src"
    source.write_bytes(b"uno\r\ndos")
    target = write(tmp_path / "a.tgt", ["one", "two"])
    assert read_parallel(source, target).sources == ["uno", "dos"]


def test_mismatched_line_counts_name_both_files_and_counts(tmp_path):
    source = write(tmp_path / "train.es", ["a", "b", "c"])
    target = write(tmp_path / "train.en", ["a", "b"])
    with pytest.raises(ValueError, match=r"'.*train\.es' has 3 lines and '.*train\.en' has 2"):
        read_parallel(source, target)


def test_empty_sides_are_reported_with_line_numbers_and_skipped(tmp_path):
    source = write(tmp_path / "s", ["uno", "", "tres", "", "cinco"])
    target = write(tmp_path / "t", ["one", "two", "", "", "five"])
    with pytest.warns(MalformedLinesWarning) as caught:
        pairs = read_parallel(source, target)
    assert pairs.sources == ["uno", "cinco"]
    assert pairs.report.malformed == [(2, "empty source line"), (3, "empty target line"), (4, "blank line")]
    assert "line 2: empty source line" in str(caught[0].message)
    with pytest.raises(ValueError, match="Malformed lines in .*line 2: empty source line"):
        read_parallel(source, target, on_malformed="raise")


def test_a_tab_inside_a_sentence_is_text_kept_as_a_space_and_reported(tmp_path):
    source = write(tmp_path / "s", ["uno\tdos", "tres"])
    target = write(tmp_path / "t", ["one", "three\tfour"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # kept records: a note, not a malformed-line warning
        pairs = read_parallel(source, target)
    assert pairs.sources == ["uno dos", "tres"] and pairs.targets == ["one", "three four"]
    assert pairs.report.notes == ["2 lines held tabs inside a sentence, kept as spaces (line 1, 2)"]
    assert "2 lines held tabs inside a sentence" in pairs.report.summary()


def test_missing_empty_and_non_utf8_files(tmp_path):
    target = write(tmp_path / "t", ["one"])
    with pytest.raises(FileNotFoundError, match="nope"):
        read_parallel(tmp_path / "nope", target)
    (tmp_path / "empty").write_text("")
    with pytest.raises(ValueError, match="'.*empty' is empty"):
        read_parallel(tmp_path / "empty", target)
    (tmp_path / "latin").write_bytes("canción\n".encode("latin-1"))
    with pytest.raises(ValueError, match="'.*latin' is not valid UTF-8: line 1"):
        read_parallel(tmp_path / "latin", target)
    with pytest.raises(ValueError, match="max_pairs"):
        read_parallel(target, target, max_pairs=0)


# --- the translation task ------------------------------------------------------------

NUMBERS = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"]
ENGLISH = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def corpus(folder, name, count, offset=0):
    """`count` aligned digit-name pairs written as `name.es` / `name.en`."""
    rows = [(i * 7 + offset) % 1000 for i in range(count)]
    spanish = [" ".join(NUMBERS[int(d)] for d in str(n)) for n in rows]
    english = [" ".join(ENGLISH[int(d)] for d in str(n)) for n in rows]
    return write(folder / f"{name}.es", spanish), write(folder / f"{name}.en", english)


def test_training_on_parallel_files_uses_the_given_validation_and_test_sets(tmp_path, capsys):
    train, validation, test = corpus(tmp_path, "train", 300), corpus(tmp_path, "dev", 40, 1), corpus(
        tmp_path, "test", 30, 2)
    result = run("translation", source_file=train[0], target_file=train[1], validation_source_file=validation[0],
                 validation_target_file=validation[1], test_source_file=test[0], test_target_file=test[1],
                 tokenizer="char", max_length=16, batch_size=16, epochs=1, steps_per_epoch=3, num_layers=1,
                 model_dim=32, num_heads=2, hidden_dim=64, plots=False, export=False, output=tmp_path / "run")
    out = capsys.readouterr().out
    assert "300 training, 40 validation (file), 30 test pairs (file)" in out  # no split; every test pair
    assert f"Read {train[0]} + {train[1]}: 300 records from 300 lines" in out
    assert "BLEU on 30 held-out pairs" in out
    assert "TransformerSeq2Seq (mini with --num-layers 1 --model-dim 32 --num-heads 2 --hidden-dim 64): " in out
    assert "max_length 16 cuts" in out and "of 300 training targets ([START] or [END] included)" in out
    first_test_source = test[0].read_text().splitlines()[0]
    assert result.samples[0].startswith(first_test_source + "  →  ")
    info = json.loads((result.run_dir / "task.json").read_text())
    assert info["test_source_file"] == str(test[0]) and info["source_file"] == str(train[0])


def test_without_given_sets_the_training_files_are_split(tmp_path, capsys):
    train = corpus(tmp_path, "train", 300)
    run("translation", source_file=train[0], target_file=train[1], tokenizer="char", max_length=16, batch_size=16,
        epochs=1, steps_per_epoch=2, num_layers=1, model_dim=32, num_heads=2, hidden_dim=64, eval_size=8,
        plots=False, export=False, output=tmp_path / "run")
    assert "243 training, 27 validation (split), 8 test pairs (split)" in capsys.readouterr().out


@pytest.mark.parametrize("given, missing", [("source_file", "target_file"),
                                            ("test_target_file", "test_source_file"),
                                            ("validation_source_file", "validation_target_file")])
def test_half_a_parallel_corpus_is_a_clear_error_before_any_work(given, missing, tmp_path):
    path = write(tmp_path / "only", ["uno"])
    flag = lambda name: "--" + name.replace("_", "-")  # noqa: E731
    with pytest.raises(ValueError, match=rf"{flag(given)} needs {flag(missing)}.*Received: {flag(given)}="):
        run("translation", demo=True, output=tmp_path / "run", **{given: path})
    assert not (tmp_path / "run").exists()


def test_files_and_data_together_are_refused_and_the_cli_says_so_in_one_line(tmp_path, capsys):
    train = corpus(tmp_path, "train", 20)
    with pytest.raises(ValueError, match="--source-file/--target-file give the training pairs: drop --demo"):
        run("translation", demo=True, source_file=train[0], target_file=train[1], output=tmp_path / "run")
    status = cli.main(["train", "translation", "--data", str(train[0]), "--source-file", str(train[0]),
                       "--target-file", str(tmp_path / "other.en"), "--output", str(tmp_path / "run2"),
                       *TINY_MODEL, *FEW_STEPS])
    error = capsys.readouterr().err.strip()
    assert status == 2 and error.startswith("kerasformers: error: --source-file/--target-file give the training")
    assert "\n" not in error


def test_mismatched_files_stop_the_cli_with_both_counts(tmp_path, capsys):
    source = write(tmp_path / "train.es", ["uno", "dos", "tres"])
    target = write(tmp_path / "train.en", ["one", "two"])
    status = cli.main(["train", "translation", "--source-file", str(source), "--target-file", str(target),
                       "--output", str(tmp_path / "run"), *TINY_MODEL, *FEW_STEPS])
    assert status == 2
    assert "has 3 lines and" in capsys.readouterr().err and not (tmp_path / "run" / "task.json").exists()


@pytest.mark.parametrize("overrides, expected", [
    (dict(demo=True), dict(preset="tiny", num_layers=None, model_dim=64, hidden_dim=256, dropout=0.0, epochs=4,
                           batch_size=32, learning_rate=2e-3)),
    ({}, dict(preset="mini", num_layers=None, model_dim=None, dropout=None, epochs=2, batch_size=128,
              learning_rate=2e-3)),  # real corpora
    (dict(preset="tiny", batch_size=64, learning_rate=1e-3, epochs=3),
     dict(preset="tiny", num_layers=None, epochs=3, batch_size=64, learning_rate=1e-3)),  # given values are kept
    (dict(demo=True, preset="small"),  # a chosen preset keeps its layers, widths and dropout
     dict(preset="small", num_layers=None, model_dim=None, hidden_dim=None, dropout=None)),
    (dict(demo=True, num_layers=1, dropout=0.1), dict(preset="tiny", num_layers=1, model_dim=64, dropout=0.1)),
])
def test_translation_defaults_for_the_demo_and_for_real_corpora(overrides, expected):
    from kerasformers.tasks import arguments, get_task

    task = get_task("translation")
    options = arguments.resolve(task, overrides=overrides)
    task.prepare(options)
    assert {name: getattr(options, name) for name in expected} == expected


def test_translation_help_states_both_defaults(capsys):
    assert cli.main(["train", "translation", "--help"]) == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "(default tiny with --demo, else mini)" in usage
    assert "schedule (default 0.002)" in usage  # one peak for both
    assert "default 32 with --demo, else 128" in usage
    assert "override the preset's model width (default 64 with --demo and no --preset, else the preset's)" in usage
    assert "override the preset's dropout rate (default 0.0 with --demo and no --preset, else the preset's)" in usage
