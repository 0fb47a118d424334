"""`labrun process NAME ARG=VALUE`: exit codes 0 completed, 1 not completed, 2 bad input.

Whatever happens, the user reads a message, never a traceback.
"""

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from labrun import Plugin, PluginCatalog, ProcessContext
from labrun.cli import main

PROMPT = ["process", "prompt.ask"]


class Terminal(io.StringIO):
    """Standard input that says it is a terminal, holding what the operator will type."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Standard input is not a terminal unless a test says so, as in CI."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """`labrun ARGS`: the exit code, the lines printed and the error output."""
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err


def test_timer_wait_runs_on_the_virtual_clock_with_dry_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, err = run(capsys, "process", "timer.wait", "duration=2 h", "--dry-run")

    assert lines[0] == "+00:00:00 state      running"
    assert [line.split()[:2] for line in lines[1:-1]] == [
        ["+00:00:00", "duration"],
        ["+00:00:00", "location"],
        ["+02:00:00", "duration"],
        ["+02:00:00", "location"],
    ]
    assert "location={elapsed: 7200.0, remaining: 0.0, total: 7200.0} point=7200.0" in lines[-2]
    assert lines[-1] == "+02:00:00 state      completed result=null"
    assert err == ""
    assert code == 0


def test_without_dry_run_the_real_clock_is_used(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "process", "timer.wait", "duration=0 s")
    assert lines[-1] == "+00:00:00 state      completed result=null"
    assert code == 0


def test_prompts_are_answered_from_answer_options_in_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, err = run(
        capsys,
        *PROMPT,
        "message=Volume?",
        "unit=ul",
        "maximum=100",
        "-a",
        "5 ml",
        "-a",
        "50 ul",
        "--dry-run",
    )

    assert "+00:00:00 request     request=answer message=5 ml" in lines
    assert (
        "+00:00:00 diagnostic warning: answer refused: 5000 ul is above the maximum 100 ul "
        "code=answer-refused"
    ) in lines
    assert "+00:00:00 request     request=answer message=50 ul" in lines
    assert lines[-1] == "+00:00:00 state      completed result={magnitude: 50, units: microliter}"
    assert err == ""
    assert code == 0


def test_a_prompt_is_answered_on_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal("go\n"))

    code, lines, _ = run(capsys, *PROMPT, "message=Go?", "choices=[go, wait]", "--dry-run")

    assert "answer> " in lines[-2]  # input()'s prompt, on the terminal
    assert lines[-2].endswith("request     request=answer message=go")
    assert lines[-1] == "+00:00:00 state      completed result=go"
    assert code == 0


def test_the_terminal_is_asked_once_the_answer_options_are_used_up(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal("wait\n"))

    code, lines, _ = run(
        capsys, *PROMPT, "message=Go?", "choices=[go, wait]", "-a", "maybe", "--dry-run"
    )

    assert "+00:00:00 request     request=answer message=maybe" in lines
    assert lines[-2].endswith("request     request=answer message=wait")
    assert lines[-1] == "+00:00:00 state      completed result=wait"
    assert code == 0


def test_end_of_input_at_the_terminal_is_no_answer(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    code, _, err = run(capsys, *PROMPT, "message=Ready?", "--dry-run")
    assert "no answer given" in err
    assert code == 1


def test_without_an_answer_and_no_terminal_the_step_halts_and_exits_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, err = run(capsys, *PROMPT, "message=Ready?", "--dry-run")

    assert lines[-1] == "+00:00:00 state      halted"
    assert err == "no answer given (use --answer); halting\n"
    assert code == 1


def test_when_the_answers_run_out_after_a_refusal_the_step_halts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines, err = run(
        capsys, *PROMPT, "message=Go?", "choices=[go, wait]", "-a", "maybe", "--dry-run"
    )

    assert any("answer refused: 'maybe' is not one of: go, wait" in line for line in lines)
    assert lines[-1] == "+00:00:00 state      halted"
    assert err == "no answer given (use --answer); halting\n"
    assert code == 1


class NoArgs(BaseModel):
    pass


async def jams(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    raise RuntimeError("the pump jammed")


def test_a_failing_process_exits_1_with_its_message_and_no_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = Plugin("lab")
    plugin.process("jams")(jams)
    monkeypatch.setattr("labrun.cli.process.load_plugins", lambda: PluginCatalog.of(plugin))

    code, lines, _ = run(capsys, "process", "lab.jams", "--dry-run")

    assert "+00:00:00 state      failed error=the pump jammed error_type=RuntimeError" in lines
    assert lines[-1] == "+00:00:00 state      halted"
    assert code == 1


def test_an_internal_error_is_a_message_and_exit_70(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> PluginCatalog:
        raise RuntimeError("catalog exploded")

    monkeypatch.delenv("LABRUN_DEBUG", raising=False)
    monkeypatch.setattr("labrun.cli.process.load_plugins", broken)

    code, _, err = run(capsys, "process", "timer.wait", "duration=1 s")

    assert err.startswith("labrun: internal error: RuntimeError: catalog exploded\n")
    assert code == 70


# Exit code 2: what the user typed is wrong.


def test_an_unknown_process_suggests_the_closest_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys, "process", "timer.wiat", "duration=1 s")

    assert err == "labrun: error: unknown process 'timer.wiat'; did you mean timer.wait?\n"
    assert lines == []
    assert code == 2


def test_an_unknown_process_with_nothing_close_lists_the_installed_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = Plugin("lab")
    plugin.process("jams")(jams)
    monkeypatch.setattr("labrun.cli.process.load_plugins", lambda: PluginCatalog.of(plugin))

    code, _, err = run(capsys, "process", "centrifuge.spin")

    assert err == "labrun: error: unknown process 'centrifuge.spin'; installed: lab.jams\n"
    assert code == 2


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["duration=5"],
            "labrun: error: invalid arguments for timer.wait: "
            "duration: a time needs a unit, such as '10 min'\n"
            "  timer.wait takes: duration: time (required)\n",
        ),
        (
            [],
            "labrun: error: invalid arguments for timer.wait: duration: Field required\n"
            "  timer.wait takes: duration: time (required)\n",
        ),
        (
            ["duration=-5 min"],
            "labrun: error: invalid arguments for timer.wait: "
            "duration: -5 min is below the minimum 0 s\n"
            "  timer.wait takes: duration: time (required)\n",
        ),
        (
            ["duration"],
            "labrun: error: argument 'duration' is not NAME=VALUE, such as duration='10 min'\n",
        ),
        (
            ["=5 min"],
            "labrun: error: argument '=5 min' is not NAME=VALUE, such as duration='10 min'\n",
        ),
    ],
)
def test_bad_arguments_exit_2_with_what_the_process_takes(
    capsys: pytest.CaptureFixture[str], args: list[str], error: str
) -> None:
    code, lines, err = run(capsys, "process", "timer.wait", *args, "--dry-run")
    assert err == error
    assert lines == []
    assert code == 2


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["choices=[a, b]", "unit=ul"], "give either choices, or a unit and bounds, not both"),
        (["choices=[]"], "choices cannot be empty"),
        (["unit=furlongz"], "unknown unit 'furlongz'"),
        (["minimum=5", "maximum=1"], "minimum is above maximum"),
    ],
)
def test_bad_prompt_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    code, _, err = run(capsys, *PROMPT, "message=How much?", *args, "--dry-run")
    assert err.startswith("labrun: error: invalid arguments for prompt.ask: arguments: ")
    assert reason in err.splitlines()[0]
    assert code == 2


def test_options_may_come_before_the_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, "process", "timer.wait", "--dry-run", "duration=1 min")
    assert lines[-1] == "+00:01:00 state      completed result=null"
    assert code == 0


def test_yes_and_no_choices_stay_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(
        capsys, *PROMPT, "message=Proceed?", "choices=[yes, no]", "-a", "yes", "--dry-run"
    )
    assert lines[-1].startswith("+00:00:00 state      completed result=")
    assert code == 0


def test_a_missing_process_name_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as exit:
        main(["process"])
    assert exit.value.code == 2


# The installed console script, in a subprocess.


def console(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("labrun", path=str(Path(sys.executable).parent))
    assert executable is not None, "the labrun console script is not installed in the venv"
    env = {key: value for key, value in os.environ.items() if key != "LABRUN_DEBUG"}
    return subprocess.run(
        [executable, *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_the_console_script_runs_a_dry_run(tmp_path: Path) -> None:
    result = console("process", "timer.wait", "duration=90 min", "--dry-run", cwd=tmp_path)

    assert result.stdout.splitlines()[-1] == "+01:30:00 state      completed result=null"
    assert result.stderr == ""
    assert result.returncode == 0


def test_the_console_script_halts_an_unanswered_prompt_without_a_traceback(
    tmp_path: Path,
) -> None:
    result = console("process", "prompt.ask", "message=Ready?", "--dry-run", cwd=tmp_path)

    assert result.stdout.splitlines()[-1] == "+00:00:00 state      halted"
    assert result.stderr == "no answer given (use --answer); halting\n"
    assert result.returncode == 1
