"""docs/pretrained.md runs as pasted: its snippets in order, on tiny random checkpoints written under the names it uses."""

import pathlib
import re

import tiny_checkpoints

DOC = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "pretrained.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


def test_snippets_run_in_order_and_print_what_they_say(tmp_path, monkeypatch, capsys):
    assert len(SNIPPETS) == 5
    monkeypatch.chdir(tmp_path)
    tiny_checkpoints.write_bert(tmp_path / "all-MiniLM-L6-v2")
    tiny_checkpoints.write_gpt2(tmp_path / "gpt2")
    namespace = {"__name__": "pretrained_docs"}
    for index, snippet in enumerate(SNIPPETS):
        exec(compile(snippet, f"docs/pretrained.md[python snippet {index}]", "exec"), namespace)
        printed = capsys.readouterr().out.strip().splitlines()
        expected = re.findall(r"^print\(.*\)[ \t]*#[ \t]*(.+)$", snippet, flags=re.M)
        assert expected, f"snippet {index} states no printed result"
        for line in expected:
            assert line.strip() in printed, f"docs say {line!r}, snippet {index} printed {printed!r}"
    assert (tmp_path / "fine_tuned.keras").is_file()
