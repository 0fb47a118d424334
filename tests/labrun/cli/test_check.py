"""`labrun check`: diagnostics, one summary line per file, JSON, and exit codes."""

import json
from pathlib import Path

import pytest

from labrun.cli import main

ROOT = Path(__file__).parents[3]
GOOD = "name: Good\nsteps:\n  - timer.wait: 10 min\n  - timer.wait: 5 min\n"
BAD = "steps:\n  - tmer.wait: 10 min\n  - timer.wait: 5 ml\n"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.yml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    return tmp_path


def test_a_good_file_prints_its_summary_and_exits_0(
    files: Path, capsys: pytest.CaptureFixture[str]
):
    assert main(["check", str(files / "good.yml")]) == 0
    assert capsys.readouterr().out == f"{files / 'good.yml'}: 2 steps, estimated 15 min\n"


def test_errors_are_printed_with_the_line_and_a_caret_then_the_summary(
    files: Path, capsys: pytest.CaptureFixture[str]
):
    bad = files / "bad.yaml"
    assert main(["check", str(files / "good.yml"), str(bad)]) == 1
    assert capsys.readouterr().out == (
        f"{bad}:2:5: error: unknown process 'tmer.wait': no plugin 'tmer' is installed\n"
        "      - tmer.wait: 10 min\n"
        "        ^\n"
        "  hint: did you mean timer.wait?\n"
        f"{bad}:3:17: error: bad duration for timer.wait: expected a time, got 5 ml (a volume)\n"
        "      - timer.wait: 5 ml\n"
        "                    ^\n"
        f"{files / 'good.yml'}: 2 steps, estimated 15 min\n"
        f"{bad}: 2 errors\n"
    )


def test_a_directory_stands_for_its_protocol_files(files: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["check", str(files)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == [
        f"{files / 'bad.yaml'}: 2 errors",
        f"{files / 'good.yml'}: 2 steps, estimated 15 min",
    ]


def test_warnings_alone_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "zero.yml"
    path.write_text("steps:\n  - repeat: 0\n    steps:\n      - timer.wait: 1 s\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{path}: 1 step, estimated 0 s, 1 warning"


def test_unknown_durations_show_the_known_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "ask.yml"
    path.write_text("steps:\n  - prompt.ask: Ready?\n  - timer.wait: 2 min\n")
    assert main(["check", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 2 steps, estimated unknown (at least 2 min)\n"


def test_json_output(files: Path, capsys: pytest.CaptureFixture[str]):
    assert (
        main(["check", "--format", "json", str(files / "good.yml"), str(files / "bad.yaml")]) == 1
    )
    report = json.loads(capsys.readouterr().out)
    assert [d["message"] for d in report["diagnostics"]] == [
        "unknown process 'tmer.wait': no plugin 'tmer' is installed",
        "bad duration for timer.wait: expected a time, got 5 ml (a volume)",
    ]
    assert report["diagnostics"][0] == {
        "file": str(files / "bad.yaml"),
        "line": 2,
        "column": 5,
        "severity": "error",
        "message": "unknown process 'tmer.wait': no plugin 'tmer' is installed",
        "hint": "did you mean timer.wait?",
        "source_line": "  - tmer.wait: 10 min",
    }
    assert report["files"] == [
        {
            "file": str(files / "good.yml"),
            "ok": True,
            "errors": 0,
            "warnings": 0,
            "steps": 2,
            "estimate": 900.0,
            "known_estimate": 900.0,
        },
        {
            "file": str(files / "bad.yaml"),
            "ok": False,
            "errors": 2,
            "warnings": 0,
            "steps": None,
            "estimate": None,
            "known_estimate": None,
        },
    ]


def test_a_missing_file_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["check", str(files / "good.yml"), str(files / "nope.yml")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"labrun: error: no such file: {files / 'nope.yml'}\n"


def test_an_empty_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"labrun: error: no .yml or .yaml files in {tmp_path}\n"


def test_a_bad_option_is_a_usage_error(files: Path, capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exited:
        main(["check", "--format", "xml", str(files / "good.yml")])
    assert exited.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_binary_junk_is_reported_not_raised(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "junk.yml"
    path.write_bytes(bytes(range(256)))
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert out.splitlines()[-1] == f"{path}: 1 error"


def test_the_example_protocols_check_cleanly(capsys: pytest.CaptureFixture[str]):
    assert main(["check", str(ROOT / "protocols")]) == 0
    out = capsys.readouterr().out
    assert "error" not in out
    assert len(out.splitlines()) >= 4
