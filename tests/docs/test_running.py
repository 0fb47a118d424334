"""docs/running.md: its example protocol compiles, and the outputs it shows for a dry run
and for bad parameters are what labrun prints (a line `...` stands for any lines)."""

import io
import re
import sys
from pathlib import Path

import pytest

from labrun.cli import main
from labrun.protocol import compile

PAGE = Path(__file__).parents[2] / "docs" / "running.md"
BLOCK = re.compile(r"```(?P<language>\w+)\n(?P<text>.*?)```", re.DOTALL)


def blocks() -> list[tuple[str, str]]:
    return [(m["language"], m["text"]) for m in BLOCK.finditer(PAGE.read_text())]


def output_after(command: str) -> list[str]:
    """The text block that follows the sh block holding `command`."""
    found = blocks()
    for index, (language, text) in enumerate(found):
        if language == "sh" and command in text:
            following, output = found[index + 1]
            assert following == "text"
            return output.splitlines()
    raise AssertionError(f"no sh block runs {command!r}")


def matches(expected: list[str], actual: list[str]) -> bool:
    pattern = "\n".join(".*" if line == "..." else re.escape(line) for line in expected)
    return re.fullmatch(pattern, "\n".join(actual), re.DOTALL) is not None


@pytest.fixture
def rinse(tmp_path, monkeypatch) -> Path:
    (language, text), *_ = blocks()
    assert language == "yaml"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    Path("rinse.yml").write_text(text)
    return tmp_path / "rinse.yml"


def test_the_example_protocol_compiles(rinse):
    assert compile(rinse).ok


def test_the_dry_run_prints_what_the_page_shows(rinse, capsys):
    assert main(["run", "rinse.yml", "--dry-run", "-a", "rinsed=yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert matches(output_after("--dry-run -a rinsed=yes"), out)


def test_bad_parameters_print_what_the_page_shows(rinse, capsys):
    assert main(["run", "rinse.yml", "-p", "cycles=12", "-p", "soak=abc"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == output_after("-p cycles=12 -p soak=abc")


def test_the_plain_log_example_is_the_start_of_a_real_log(rinse, capsys):
    shown = next(text for language, text in blocks() if text.startswith("run 2026"))
    assert main(["run", "rinse.yml", "--dry-run", "-a", "rinsed=yes"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:7] == shown.splitlines()[1:]
