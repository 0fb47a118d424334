"""`labrun describe`: the step tree with paths and estimates, or a Mermaid flowchart."""

from pathlib import Path

import pytest

from labrun.cli import main

PROTOCOL = """\
name: Washes
description: Two washes and a check.
parameters:
  soak: {unit: s, default: 30 s, description: Soak time.}
steps:
  - repeat: 2
    name: Washes
    steps:
      - prompt.ask: Dispense the buffer.
      - timer.wait: ${soak}
        on_error: {retry: 2, backoff: 5 s}
        timeout: 2 min
  - sweep: plate
    values: [A, B]
    steps:
      - timer.wait: 1 min
        id: dry
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    file = tmp_path / "washes.yml"
    file.write_text(PROTOCOL)
    return file


def test_the_outline_lists_parameters_and_every_step(
    path: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["describe", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"Washes ({path}): estimated unknown (at least 3 min)\n"
        "Two washes and a check.\n"
        "\n"
        "parameters:\n"
        "  soak: a time (s), default 30 s - Soak time.\n"
        "\n"
        "steps (path, step, estimate):\n"
        "  0         Washes: repeat 2 times  (unknown)\n"
        "  0.0         prompt.ask Dispense the buffer.  (unknown)\n"
        "  0.1         timer.wait ${soak} [on error retry 2 times, backoff 5 s; timeout 2 min]"
        "  (30 s)\n"
        "  1         sweep plate over A, B  (2 min)\n"
        "  1.0         timer.wait 1 min #dry  (1 min)\n"
    )


def test_mermaid(path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["describe", "--mermaid", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith('flowchart TD\n    start(["Washes"])\n')
    assert '    subgraph s0 ["Washes: repeat 2 times (unknown)"]\n' in out


def test_a_protocol_with_errors_prints_them_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    bad = tmp_path / "bad.yml"
    bad.write_text("steps:\n  - timer.wait: 5 ml\n")
    assert main(["describe", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"{bad}:2:17: error: bad duration for timer.wait")


def test_a_missing_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["describe", str(tmp_path / "nope.yml")]) == 2
    assert capsys.readouterr().err == f"labrun: error: no such file: {tmp_path / 'nope.yml'}\n"
