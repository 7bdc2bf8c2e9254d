"""Every Python snippet in README.md runs, and the set-up commands are what CI runs."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_has_snippets():
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index, capsys):
    namespace = {"__name__": f"readme_snippet_{index}"}
    exec(compile(SNIPPETS[index], f"README.md[python snippet {index}]", "exec"), namespace)
    # Printed results stated in a "# ..." comment right after print(...) must match.
    printed = capsys.readouterr().out.strip().splitlines()
    expected = re.findall(r"^print\(.*\)[ \t]*#[ \t]*(.+)$", SNIPPETS[index], flags=re.M)
    expected += re.findall(r"^print\(.*\)\n#\s*([\[(].+)$", SNIPPETS[index], flags=re.M)
    for line in expected:
        assert line.strip() in printed, f"README says {line!r}, snippet printed {printed!r}"


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "<!-- install -->" in ci and "<!-- test -->" in ci
    for marker in ("install", "test"):
        block = re.search(rf"<!-- {marker} -->\n```bash\n(.+?)\n```\n<!-- /{marker} -->", README, flags=re.S)
        assert block, f"README lacks its {marker} command block"


BASH_BLOCKS = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
COMMANDS = [
    line.split("#")[0].strip()
    for block in BASH_BLOCKS
    for line in block.replace("\\\n", " ").splitlines()  # a command continued with `\` is one line
    if line.strip().startswith("kerasformers ")
]


def test_readme_main_job_is_the_offline_translation_demo():
    block = re.search(r"<!-- main -->\n```bash\n(.+?)\n```\n<!-- /main -->", README, flags=re.S)
    assert block, "README lacks its main-job block"
    args = _parse(block.group(1).strip())
    assert (args.command, args.task, args.demo) == ("train", "translation", True)


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_commands_parse(command):
    """Every `kerasformers ...` line of the README is a valid command line (options and sub-commands exist)."""
    assert len(COMMANDS) >= 6
    _parse(command)


def _parse(command):
    import shlex

    from kerasformers import cli

    words = shlex.split(command)
    assert words[0] == "kerasformers"
    try:
        return cli.build_parser().parse_args(words[1:])
    except SystemExit as exit_:
        raise AssertionError(f"README command does not parse: {command!r}") from exit_
