"""Dataset readers: tab/comma separated pairs, labelled texts and plain text.

Every reader checks each line and reports what it could not use: malformed
lines are counted in a `ReadReport` with their 1-based line numbers and a
reason, a `MalformedLinesWarning` is emitted with the report's summary, and
`on_malformed="raise"` turns the first report into a `ValueError`. Nothing is
dropped silently.
"""

import collections
import csv
import dataclasses
import io
import os
import warnings

from kerasformers.checks import check_int, check_positive_int

__all__ = [
    "LabelledTexts",
    "MalformedLinesWarning",
    "ReadReport",
    "TextPairs",
    "read_labelled",
    "read_pairs",
    "read_parallel",
    "read_text",
]

_ON_MALFORMED = ("skip", "raise")
_SHOWN_LINES = 5


class MalformedLinesWarning(UserWarning):
    """Warned by the readers when a file holds lines they could not use.

    Example:
    >>> import warnings
    >>> warnings.simplefilter("error", MalformedLinesWarning)  # doctest: +SKIP
    """


@dataclasses.dataclass
class ReadReport:
    """What a reader found in a file.

    Args:
        path: str. The file that was read.
        lines_read: int. Physical lines (records and header) looked at.
        records: int. Records returned.
        malformed: list of `(line_number, reason)`, 1-based line numbers.
        notes: list of str. What was changed in records that were kept (e.g.
            tabs inside a sentence of a parallel corpus), shown by `summary`.

    Example:
    >>> report = ReadReport("pairs.tsv", lines_read=3, records=2,
    ...                     malformed=[(2, "expected 2 fields, found 1")])
    >>> print(report.summary())
    pairs.tsv: 2 records from 3 lines; 1 malformed line (line 2: expected 2 fields, found 1)
    """

    path: str
    lines_read: int = 0
    records: int = 0
    malformed: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    def summary(self):
        """Returns a one-line account: counts and the first 5 malformed lines.

        Returns:
            str, e.g. `"spa.txt: 9 records from 10 lines; 1 malformed line
            (line 4: empty field 1)"`.
        """
        text = f"{self.path}: {self.records} records from {self.lines_read} lines"
        text += "".join(f"; {note}" for note in self.notes)
        count = len(self.malformed)
        if not count:
            return text + "; no malformed lines"
        shown = "; ".join(f"line {n}: {why}" for n, why in self.malformed[:_SHOWN_LINES])
        more = f"; ... {count - _SHOWN_LINES} more" if count > _SHOWN_LINES else ""
        plural = "line" if count == 1 else "lines"
        first = f"first {_SHOWN_LINES}: " if count > _SHOWN_LINES else ""
        return f"{text}; {count} malformed {plural} ({first}{shown}{more})"


@dataclasses.dataclass
class TextPairs:
    """Parallel texts, e.g. for translation (`sources[i]` ↔ `targets[i]`).

    Args:
        sources: list of str.
        targets: list of str, as long as `sources`.
        report: `ReadReport` of the file they came from.

    Example:
    >>> pairs = TextPairs(["Ve."], ["Go."], ReadReport("spa.txt", 1, 1))
    >>> len(pairs), pairs.sources[0]
    (1, 'Ve.')
    """

    sources: list
    targets: list
    report: ReadReport

    def __len__(self):
        return len(self.sources)


@dataclasses.dataclass
class LabelledTexts:
    """Texts with integer class ids, e.g. for sentence classification.

    Args:
        texts: list of str.
        labels: list of int in `[0, len(class_names))`.
        class_names: list of str; `class_names[label]` names a class.
        report: `ReadReport` of the file they came from.

    Example:
    >>> data = LabelledTexts(["fun", "dull"], [1, 0], ["0", "1"], ReadReport("x.tsv", 3, 2))
    >>> data.class_names[data.labels[0]]
    '1'
    """

    texts: list
    labels: list
    class_names: list
    report: ReadReport

    def __len__(self):
        return len(self.texts)


def _check_on_malformed(on_malformed):
    if on_malformed not in _ON_MALFORMED:
        raise ValueError(
            f"`on_malformed` must be one of {_ON_MALFORMED}. "
            f"Received: on_malformed={on_malformed!r}"
        )


def _read_file(path):
    """Returns the decoded text of `path`; clear errors for missing / empty / non-UTF-8."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such file: '{path}'")
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ValueError(
            f"'{path}' is not valid UTF-8: line {line}, byte {error.start} ({error.reason})."
        ) from None
    if not text.strip():
        raise ValueError(f"'{path}' is empty.")
    return text


def _finish(report, on_malformed):
    """Raises or warns about malformed lines; raises if nothing usable was read."""
    if report.malformed:
        if on_malformed == "raise":
            raise ValueError(f"Malformed lines in {report.summary()}")
        warnings.warn(report.summary(), MalformedLinesWarning, stacklevel=3)
    if report.records == 0:
        raise ValueError(f"'{report.path}' holds no valid record. {report.summary()}")


def read_pairs(
    path,
    source_column=0,
    target_column=1,
    delimiter="\t",
    max_pairs=None,
    on_malformed="skip",
):
    """Reads parallel texts, one `delimiter`-separated record per line.

    Lines are split on `delimiter` with no quoting (Tatoeba/Anki style). Every
    line must have as many fields as most lines of the file that have enough
    fields for both columns (2 for Tatoeba, 3 for Anki exports); a line with
    another field count, an empty (or whitespace-only) source or target field,
    or a blank line, is malformed. Fields are stripped of surrounding
    whitespace.

    Args:
        path: str or path-like. A UTF-8 text file.
        source_column: int. Field holding the source text. Defaults to `0`.
        target_column: int. Field holding the target text. Defaults to `1`.
        delimiter: str. Field separator. Defaults to a tab.
        max_pairs: int or `None`. Stop after this many records.
        on_malformed: `"skip"` (report, warn and go on; the default) or
            `"raise"`.

    Returns:
        `TextPairs(sources, targets, report)`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is empty, holds no valid record, is not UTF-8, a
            column is out of range, or a line is malformed and
            `on_malformed="raise"`.

    Example:
    >>> # spa.txt holds "English<TAB>Spanish" lines; translate Spanish -> English:
    >>> pairs = read_pairs("spa.txt", source_column=1, target_column=0)  # doctest: +SKIP
    >>> pairs.sources[0], pairs.targets[0]  # doctest: +SKIP
    ('Ve.', 'Go.')
    """
    _check_on_malformed(on_malformed)
    check_int("source_column", source_column, minimum=0)
    check_int("target_column", target_column, minimum=0)
    check_positive_int("max_pairs", max_pairs, allow_none=True)
    if not delimiter:
        raise ValueError(f"`delimiter` must be a non-empty string. Received: delimiter={delimiter!r}")

    lines = _lines(_read_file(path))
    needed = max(source_column, target_column) + 1
    counts = collections.Counter(line.count(delimiter) + 1 for line in lines if line.strip())
    usable = {fields: n for fields, n in counts.items() if fields >= needed}
    # The width most usable lines share; lines of another width are malformed.
    if not usable:
        raise ValueError(
            f"No line of '{os.fspath(path)}' has the {needed} fields (delimiter {delimiter!r}) "
            f"that source_column={source_column}, target_column={target_column} need; "
            f"most lines have {counts.most_common(1)[0][0]}."
        )
    expected = max(usable, key=lambda fields: (usable[fields], -fields))

    report = ReadReport(os.fspath(path))
    sources, targets = [], []
    for number, line in enumerate(lines, start=1):
        if max_pairs is not None and len(sources) >= max_pairs:
            break
        report.lines_read = number
        if not line.strip():
            report.malformed.append((number, "blank line"))
            continue
        fields = line.split(delimiter)
        if len(fields) != expected:
            report.malformed.append((number, f"expected {expected} fields, found {len(fields)}"))
            continue
        source, target = fields[source_column].strip(), fields[target_column].strip()
        empty = [c for c, f in ((source_column, source), (target_column, target)) if not f]
        if empty:
            report.malformed.append((number, f"empty field {empty[0]}"))
            continue
        sources.append(source)
        targets.append(target)
    report.records = len(sources)
    _finish(report, on_malformed)
    return TextPairs(sources, targets, report)


def _lines(text):
    # Split on "\n" only: str.splitlines() would also split on U+2028, \x0c, ...
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_parallel(source_path, target_path, max_pairs=None, on_malformed="skip"):
    """Reads a parallel corpus stored as two aligned files, one sentence per line.

    The format of WMT, OPUS/Moses and most published corpora
    (`train.es` / `train.en`): line `i` of `target_path` is the translation
    of line `i` of `source_path`. Both files must have the same number of
    lines. A line pair with an empty (or whitespace-only) side is malformed
    (corpora use blank lines for sentences that were not aligned) and is
    reported and skipped. Lines are stripped of surrounding whitespace. A tab
    inside a sentence is text, not a separator, in this format: it is kept as
    a space (tokenizers treat both as whitespace, and the CLI's tab-separated
    outputs stay one record per line) and the lines that held one are named in
    the report.

    Args:
        source_path: str or path-like. UTF-8 file of source sentences.
        target_path: str or path-like. UTF-8 file of target sentences.
        max_pairs: int or `None`. Stop after this many records.
        on_malformed: `"skip"` (report, warn and go on; the default) or
            `"raise"`.

    Returns:
        `TextPairs(sources, targets, report)`; `report.path` names both files.

    Raises:
        FileNotFoundError: a file does not exist.
        ValueError: the files' line counts differ (both counts are named), a
            file is empty or not UTF-8, no line pair is usable, or a line is
            malformed and `on_malformed="raise"`.

    Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "train.es").write_text("Hola.\\n¿Qué tal?\\n")
    >>> _ = (folder / "train.en").write_text("Hello.\\nHow are you?\\n")
    >>> pairs = read_parallel(folder / "train.es", folder / "train.en")
    >>> pairs.sources, pairs.targets
    (['Hola.', '¿Qué tal?'], ['Hello.', 'How are you?'])
    """
    _check_on_malformed(on_malformed)
    check_positive_int("max_pairs", max_pairs, allow_none=True)
    source_lines = _lines(_read_file(source_path))
    target_lines = _lines(_read_file(target_path))
    source_path, target_path = os.fspath(source_path), os.fspath(target_path)
    if len(source_lines) != len(target_lines):
        raise ValueError(
            f"A parallel corpus needs one target line per source line: '{source_path}' has "
            f"{len(source_lines):,} lines and '{target_path}' has {len(target_lines):,}."
        )
    report = ReadReport(f"{source_path} + {target_path}")
    sources, targets, tabbed = [], [], []
    for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1):
        if max_pairs is not None and len(sources) >= max_pairs:
            break
        report.lines_read = number
        source, target = source.strip(), target.strip()
        if not source or not target:
            side = "source" if not source else "target"
            report.malformed.append((number, f"empty {side} line" if source or target else "blank line"))
            continue
        if "\t" in source or "\t" in target:
            tabbed.append(number)
            source, target = source.replace("\t", " "), target.replace("\t", " ")
        sources.append(source)
        targets.append(target)
    if tabbed:
        shown = ", ".join(str(n) for n in tabbed[:_SHOWN_LINES]) + (", ..." if len(tabbed) > _SHOWN_LINES else "")
        plural = "line held a tab" if len(tabbed) == 1 else "lines held tabs"
        report.notes.append(f"{len(tabbed)} {plural} inside a sentence, kept as spaces (line {shown})")
    report.records = len(sources)
    _finish(report, on_malformed)
    return TextPairs(sources, targets, report)


def _infer_delimiter(path):
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension in (".tsv", ".tab"):
        return "\t"
    if extension == ".csv":
        return ","
    raise ValueError(
        f"Cannot infer the delimiter of '{os.fspath(path)}' from its extension "
        f"{extension!r}: pass `delimiter=` (expected .tsv or .csv)."
    )


def _column_index(header, column, what, path):
    if isinstance(column, int) and not isinstance(column, bool):
        if not 0 <= column < len(header):
            raise ValueError(
                f"`{what}`={column} is out of range: '{path}' has {len(header)} columns {header}."
            )
        return column
    if column not in header:
        raise ValueError(f"'{path}' has no column {column!r}; its header is {header}.")
    return header.index(column)


def _parse_int(value):
    try:
        return int(value)
    except ValueError:
        return None


def _encode_labels(raw, numbers, report):
    """Maps raw label strings to ids; returns (labels, class_names, keep mask)."""
    as_int = [_parse_int(v) for v in raw]
    integer = sum(v is not None for v in as_int) * 2 > len(raw)
    if not integer:  # string class names, ids in sorted order
        class_names = sorted(set(raw))
        index = {name: i for i, name in enumerate(class_names)}
        return [index[v] for v in raw], class_names, [True] * len(raw)
    keep = [v is not None for v in as_int]
    for value, ok, number in zip(raw, keep, numbers):
        if not ok:
            report.malformed.append((number, f"unparsable label {value!r}"))
    values = [v for v in as_int if v is not None]
    if values and min(values) >= 0:  # ids as written: 0/1 -> ["0", "1"]
        return [v if v is not None else -1 for v in as_int], [str(i) for i in range(max(values) + 1)], keep
    distinct = sorted(set(values))  # e.g. -1/1: map to 0..K-1 in numeric order
    index = {v: i for i, v in enumerate(distinct)}
    return [index.get(v, -1) for v in as_int], [str(v) for v in distinct], keep


def read_labelled(
    path,
    text_column="sentence",
    label_column="label",
    delimiter=None,
    on_malformed="skip",
):
    """Reads a labelled text file with a header line (e.g. GLUE SST-2 `train.tsv`).

    Tab-separated files are read without quoting (GLUE convention: quotes are
    text); other delimiters follow the `csv` module's quoting rules. Labels may
    be integers (kept as written when all are non-negative: `class_names` are
    `"0"`, `"1"`, …; negative ones are mapped to ids in numeric order) or
    strings (mapped to ids in sorted order). The label column is integer when
    most of its values are; then a non-integer value is an unparsable label.

    Args:
        path: str or path-like. A UTF-8 file whose first line is a header.
        text_column: str (header name) or int. Defaults to `"sentence"`.
        label_column: str (header name) or int. Defaults to `"label"`.
        delimiter: str or `None` to infer it from the extension (`.tsv` tab,
            `.csv` comma).
        on_malformed: `"skip"` (report, warn and go on; the default) or
            `"raise"`. Malformed: wrong number of fields, empty text or
            label, unparsable label, blank line.

    Returns:
        `LabelledTexts(texts, labels, class_names, report)`.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: empty file, no valid record, missing column, delimiter
            not inferable, or a malformed line with `on_malformed="raise"`.

    Example:
    >>> data = read_labelled("../shared/data/sst2-glue/train.tsv")  # doctest: +SKIP
    >>> data.texts[0], data.labels[0], data.class_names  # doctest: +SKIP
    ('hide new secretions from the parental units', 0, ['0', '1'])
    """
    _check_on_malformed(on_malformed)
    delimiter = delimiter or _infer_delimiter(path)
    path = os.fspath(path)
    text = _read_file(path)
    if delimiter == "\t":
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    else:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    report = ReadReport(path)
    header, rows = None, []  # rows: (line number, text, raw label)
    previous_end = 0
    try:
        for row in reader:
            number, previous_end = previous_end + 1, reader.line_num
            if not any(field.strip() for field in row):
                report.malformed.append((number, "blank line"))
                continue
            if header is None:
                header = [field.strip() for field in row]
                text_index = _column_index(header, text_column, "text_column", path)
                label_index = _column_index(header, label_column, "label_column", path)
                continue
            if len(row) != len(header):
                report.malformed.append((number, f"expected {len(header)} fields, found {len(row)}"))
                continue
            sentence, label = row[text_index].strip(), row[label_index].strip()
            if not sentence or not label:
                field = text_index if not sentence else label_index
                report.malformed.append((number, f"empty field {header[field]!r}"))
                continue
            rows.append((number, sentence, label))
    except csv.Error as error:
        raise ValueError(f"'{path}' line {reader.line_num}: {error}") from None
    report.lines_read = previous_end
    if header is None:
        raise ValueError(f"'{path}' is empty.")

    labels, class_names, keep = _encode_labels([r[2] for r in rows], [r[0] for r in rows], report)
    report.malformed.sort()
    texts = [r[1] for r, ok in zip(rows, keep) if ok]
    labels = [label for label, ok in zip(labels, keep) if ok]
    report.records = len(texts)
    _finish(report, on_malformed)
    return LabelledTexts(texts, labels, class_names, report)


def read_text(path):
    """Reads a whole UTF-8 text file (e.g. a language-modelling corpus).

    Args:
        path: str or path-like.

    Returns:
        str, the file's text with its newlines (a leading BOM is dropped).

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: the file is empty (or whitespace only) or not UTF-8.

    Example:
    >>> text = read_text("../shared/data/tinyshakespeare/input.txt")  # doctest: +SKIP
    >>> text[:9]  # doctest: +SKIP
    'First Cit'
    """
    return _read_file(path)
