"""Readers: good files, malformed lines reported with 1-based line numbers, clear errors."""

import re
import warnings

import pytest

from kerasformers.text import (
    LabelledTexts,
    MalformedLinesWarning,
    ReadReport,
    TextPairs,
    read_labelled,
    read_pairs,
    read_text,
)


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def read_quietly(reader, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning here would fail the test
        return reader(*args, **kwargs)


# --- read_pairs ------------------------------------------------------------------

def test_read_pairs_good_file_tatoeba_columns(tmp_path):
    path = write(tmp_path, "spa.txt", "Go.\tVe.\nHi.\tHola.\nRun!\t¡Corre!\n")
    pairs = read_quietly(read_pairs, path, source_column=1, target_column=0)
    assert isinstance(pairs, TextPairs)
    assert pairs.sources == ["Ve.", "Hola.", "¡Corre!"]
    assert pairs.targets == ["Go.", "Hi.", "Run!"]
    assert len(pairs) == 3
    assert pairs.report == ReadReport(str(path), lines_read=3, records=3, malformed=[])
    assert "no malformed lines" in pairs.report.summary()


def test_read_pairs_default_columns_crlf_bom_and_strip(tmp_path):
    path = write(tmp_path, "p.tsv", "\ufeffa \tb\r\nc\t d\r\n")
    pairs = read_quietly(read_pairs, path)
    assert pairs.sources == ["a", "c"] and pairs.targets == ["b", "d"]


def test_read_pairs_three_column_anki_file(tmp_path):
    path = write(tmp_path, "p.txt", "Go.\tVe.\tCC-BY #1\nHi.\tHola.\tCC-BY #2\n")
    pairs = read_quietly(read_pairs, path)
    assert pairs.sources == ["Go.", "Hi."] and pairs.targets == ["Ve.", "Hola."]


def test_read_pairs_reports_malformed_lines_with_line_numbers(tmp_path):
    lines = ["a\tb", "only one field", "c\td", "e\t", "", "f\tg\th", "i\tj"]
    path = write(tmp_path, "p.tsv", "\n".join(lines) + "\n")
    with pytest.warns(MalformedLinesWarning) as record:
        pairs = read_pairs(path)
    assert pairs.sources == ["a", "c", "i"] and pairs.targets == ["b", "d", "j"]
    report = pairs.report
    assert report.lines_read == 7 and report.records == 3
    assert report.malformed == [
        (2, "expected 2 fields, found 1"),
        (4, "empty field 1"),
        (5, "blank line"),
        (6, "expected 2 fields, found 3"),
    ]
    message = str(record[0].message)
    assert message == report.summary()
    assert "4 malformed lines" in message
    for number in (2, 4, 5, 6):
        assert f"line {number}:" in message
    assert "line 1:" not in message and "line 3:" not in message


def test_summary_shows_only_first_five(tmp_path):
    lines = ["a\tb"] + ["broken"] * 7 + ["c\td", "e\tf"]
    path = write(tmp_path, "p.tsv", "\n".join(lines))
    with pytest.warns(MalformedLinesWarning) as record:
        pairs = read_pairs(path)
    assert len(pairs.report.malformed) == 7
    message = str(record[0].message)
    assert re.findall(r"line (\d+):", message) == ["2", "3", "4", "5", "6"]
    assert "first 5" in message and "2 more" in message


def test_read_pairs_on_malformed_raise(tmp_path):
    path = write(tmp_path, "p.tsv", "a\tb\nc\td\nbroken\ne\tf\n")
    with pytest.raises(ValueError, match=r"line 3: expected 2 fields, found 1"):
        read_pairs(path, on_malformed="raise")


def test_read_pairs_max_pairs(tmp_path):
    path = write(tmp_path, "p.tsv", "".join(f"s{i}\tt{i}\n" for i in range(10)))
    pairs = read_quietly(read_pairs, path, max_pairs=4)
    assert pairs.sources == ["s0", "s1", "s2", "s3"]
    assert pairs.report.records == 4 and pairs.report.lines_read == 4


def test_read_pairs_other_delimiter(tmp_path):
    path = write(tmp_path, "p.txt", "a|b\nc|d\n")
    assert read_quietly(read_pairs, path, delimiter="|").targets == ["b", "d"]


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nope.tsv"
    for reader in (read_pairs, read_labelled, read_text):
        with pytest.raises(FileNotFoundError, match="nope.tsv"):
            reader(path)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file_names_the_path(tmp_path, content):
    path = write(tmp_path, "empty.tsv", content)
    for reader in (read_pairs, read_labelled, read_text):
        with pytest.raises(ValueError, match=r"empty\.tsv.*empty"):
            reader(path)


def test_file_without_valid_record(tmp_path):
    path = write(tmp_path, "bad.tsv", "a\t\nb\t\n")
    with pytest.warns(MalformedLinesWarning):
        with pytest.raises(ValueError, match=r"bad\.tsv.*no valid record"):
            read_pairs(path)


def test_bad_arguments(tmp_path):
    path = write(tmp_path, "p.tsv", "a\tb\n")
    with pytest.raises(ValueError, match="on_malformed='ignore'"):
        read_pairs(path, on_malformed="ignore")
    with pytest.raises(ValueError, match="max_pairs=0"):
        read_pairs(path, max_pairs=0)
    with pytest.raises(ValueError, match="target_column=5"):
        read_pairs(path, target_column=5)


def test_invalid_utf8_names_path_and_line(tmp_path):
    path = write(tmp_path, "latin.tsv", "a\tb\n".encode() + "ñ\tc\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.tsv.*UTF-8.*line 2"):
        read_pairs(path)


# --- read_labelled ---------------------------------------------------------------

def test_read_labelled_sst2_style_tsv(tmp_path):
    text = 'sentence\tlabel\nhide new secretions \t0\n" quoted , no escape\t1\ngood fun\t1\n'
    path = write(tmp_path, "train.tsv", text)
    data = read_quietly(read_labelled, path)
    assert isinstance(data, LabelledTexts)
    assert data.texts == ["hide new secretions", '" quoted , no escape', "good fun"]
    assert data.labels == [0, 1, 1]
    assert data.class_names == ["0", "1"]
    assert data.report.records == 3 and data.report.lines_read == 4


def test_read_labelled_csv_with_quotes_and_string_labels(tmp_path):
    text = 'label,text\npos,"great, really"\nneg,awful\nneutral,"multi\nline"\npos,ok\n'
    path = write(tmp_path, "reviews.csv", text)
    data = read_quietly(read_labelled, path, text_column="text")
    assert data.texts == ["great, really", "awful", "multi\nline", "ok"]
    assert data.class_names == ["neg", "neutral", "pos"]  # sorted
    assert data.labels == [2, 0, 1, 2]
    assert [data.class_names[i] for i in data.labels] == ["pos", "neg", "neutral", "pos"]


def test_read_labelled_negative_int_labels_map_in_numeric_order(tmp_path):
    path = write(tmp_path, "x.tsv", "sentence\tlabel\na\t1\nb\t-1\nc\t1\n")
    data = read_quietly(read_labelled, path)
    assert data.class_names == ["-1", "1"] and data.labels == [1, 0, 1]


def test_read_labelled_malformed_lines(tmp_path):
    text = "sentence\tlabel\ngood\t1\nbad\tx\n\t0\nthree\t1\textra\nfine\t0\n"
    path = write(tmp_path, "train.tsv", text)
    with pytest.warns(MalformedLinesWarning) as record:
        data = read_labelled(path)
    assert data.texts == ["good", "fine"] and data.labels == [1, 0]
    assert data.report.malformed == [
        (3, "unparsable label 'x'"),
        (4, "empty field 'sentence'"),
        (5, "expected 2 fields, found 3"),
    ]
    message = str(record[0].message)
    assert "3 malformed lines" in message
    assert "line 3: unparsable label 'x'" in message and "line 5:" in message


def test_read_labelled_csv_line_numbers_after_multiline_record(tmp_path):
    text = 'text,label\n"two\nlines",1\nbroken\nok,0\n'
    path = write(tmp_path, "x.csv", text)
    with pytest.warns(MalformedLinesWarning):
        data = read_labelled(path, text_column="text")
    assert data.report.malformed == [(4, "expected 2 fields, found 1")]


def test_read_labelled_raise(tmp_path):
    path = write(tmp_path, "train.tsv", "sentence\tlabel\ngood\t1\nbad\tx\nok\t0\n")
    with pytest.raises(ValueError, match="line 3: unparsable label 'x'"):
        read_labelled(path, on_malformed="raise")


def test_read_labelled_missing_column_and_header_errors(tmp_path):
    path = write(tmp_path, "test.tsv", "index\tsentence\n0\tsome text\n")
    with pytest.raises(ValueError, match=r"no column 'label'.*\['index', 'sentence'\]"):
        read_labelled(path)
    path = write(tmp_path, "header_only.tsv", "sentence\tlabel\n")
    with pytest.raises(ValueError, match="header_only.tsv.*no valid record"):
        read_labelled(path)


def test_read_labelled_cannot_infer_delimiter(tmp_path):
    path = write(tmp_path, "data.txt", "sentence\tlabel\na\t1\n")
    with pytest.raises(ValueError, match=r"data\.txt.*'\.txt'.*delimiter"):
        read_labelled(path)
    assert read_quietly(read_labelled, path, delimiter="\t").labels == [1]


# --- read_text -------------------------------------------------------------------

def test_read_text_keeps_newlines(tmp_path):
    path = write(tmp_path, "input.txt", "First Citizen:\nBefore we proceed\n\nAll:\n")
    assert read_text(path) == "First Citizen:\nBefore we proceed\n\nAll:\n"


def test_read_pairs_splits_lines_on_newline_only(tmp_path):
    # U+2028 and form feed are text, not line breaks: line numbers stay right.
    path = write(tmp_path, "p.tsv", "a\u2028b\tc\nd\x0ce\tf\nbroken\n")
    with pytest.warns(MalformedLinesWarning):
        pairs = read_pairs(path)
    assert pairs.sources == ["a\u2028b", "d\x0ce"]
    assert pairs.report.malformed == [(3, "expected 2 fields, found 1")]
