"""`labrun run` and `labrun resume`: exit codes 0 completed, 1 failed or halted, 2 bad input,
3 interrupted. Whatever happens, the user reads a message, never a traceback."""

import asyncio
import io
import json
import sys
from pathlib import Path

import pytest

from labrun.cli import main
from labrun.clock import VirtualClock
from labrun.event import Event
from labrun.protocol import compile
from labrun.run.engine import Run
from labrun.run.projection import RunView
from labrun.run.recorder import Recorder
from labrun.run.state import RunState
from labrun.store import DATABASE_NAME, RunStore

DEMO = """
name: demo
parameters:
  temp: {unit: degC, default: 37 degC, min: 4 degC, max: 95 degC}
  cycles: {type: int, default: 2}
steps:
  - timer.wait: 1 h
    id: warm
  - repeat: ${cycles}
    id: cycle
    steps:
      - timer.wait: 30 min
        id: soak
      - prompt.ask: {message: "Plate ID at ${temp}?"}
        id: plate
"""

QUICK = """
name: quick
steps:
  - timer.wait: 0 s
    id: a
  - parallel:
      - timer.wait: 0 s
      - timer.wait: 0 s
"""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.delenv("LABRUN_DATA_DIR", raising=False)


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def protocol_file(tmp_path: Path, text: str, name: str = "demo.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def labrun(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err


def stored(data: Path) -> RunStore:
    return RunStore.open(data / DATABASE_NAME, readonly=True)


def test_a_run_is_logged_and_recorded(tmp_path, data, capsys):
    code, lines, err = labrun(capsys, "run", protocol_file(tmp_path, QUICK), "--data-dir", data)
    assert code == 0, err
    assert lines[0].startswith("run ")
    assert lines[0].endswith(f": quick ({tmp_path}/demo.yaml)")
    run_id = lines[0].split()[1].rstrip(":")
    assert lines[1] == "+00:00:00  run          running"
    assert lines[-1] == f"run {run_id} completed after 0:00:00"
    with stored(data) as store:
        record = store.get_run(run_id)
        assert record.status is RunState.COMPLETED
        assert record.protocol_name == "quick"
        assert record.protocol_source == QUICK
        assert set(record.steps) == {"0", "1", "1.0", "1.1"}
        assert record.steps["1"].state == "completed"
        events = list(store.events(run_id))
    view = RunView()
    for event in events:
        view.apply(event)
    assert view.state is RunState.COMPLETED


def test_a_dry_run_of_hours_finishes_at_once_with_simulated_times(tmp_path, data, capsys):
    file = protocol_file(tmp_path, DEMO)
    code, lines, _ = labrun(capsys, "run", file, "--dry-run", "-a", "plate=P-1", "--data-dir", data)
    assert code == 0
    assert lines[0] == f"dry run: demo ({file}), on a simulated clock"
    assert "+01:00:00  0            completed" in lines
    assert "+01:30:00  1.1@0        asks: Plate ID at 37 °C?" in lines
    assert lines[-1] == "dry run completed after 2:00:00"
    assert not data.exists()


def test_parameters_are_given_with_p(tmp_path, capsys):
    file = protocol_file(tmp_path, DEMO)
    code, lines, _ = labrun(
        capsys, "run", file, "--dry-run", "-a", "plate=P", "-p", "cycles=3", "-p", "temp=40degC"
    )
    assert code == 0
    assert "+02:00:00  1            iteration 3 of 3" in lines
    assert "+02:30:00  1.1@2        asks: Plate ID at 40 °C?" in lines


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "temp=abc",
            "4:3: error: parameter temp: 'abc' is not a quantity: expected a number "
            "followed by a unit, such as '10 min'",
        ),
        ("temp=5 min", "4:3: error: parameter temp: expected a temperature, got 5 min (a time)"),
        ("temp=120degC", "4:3: error: parameter temp: 120 °C is above the maximum 95 °C"),
        ("cycles=two", "5:3: error: parameter cycles: expected an integer, got 'two'"),
        (
            "tmp=30degC",
            "error: unknown parameter 'tmp'; did you mean temp? parameters are: temp, cycles",
        ),
        ("temp", "error: expected NAME=VALUE, got 'temp'"),
    ],
)
def test_bad_parameters_exit_2_with_a_clear_message(tmp_path, capsys, given, message):
    file = protocol_file(tmp_path, DEMO)
    code, lines, err = labrun(capsys, "run", file, "--dry-run", "-p", given)
    assert code == 2
    assert lines == []
    assert err.splitlines()[0] == "labrun: error: bad parameter values, nothing was run:"
    where = f"{file}:" if message[0].isdigit() else ""
    assert err.splitlines()[1] == where + message


def test_a_protocol_that_does_not_compile_exits_2_with_its_diagnostics(tmp_path, data, capsys):
    file = protocol_file(tmp_path, "steps:\n  - tmer.wait: 1 s\n")
    code, lines, err = labrun(capsys, "run", file, "--data-dir", data)
    assert code == 2
    assert lines == []
    assert err.splitlines()[0].startswith(f"{file}:2:5: error: unknown process 'tmer.wait'")
    assert err.splitlines()[-1] == f"labrun: error: {file} has 1 error; nothing was run"
    assert not data.exists()


def test_a_missing_file_exits_2(tmp_path, capsys):
    code, _, err = labrun(capsys, "run", tmp_path / "nope.yaml", "--dry-run")
    assert code == 2
    assert "nope.yaml: error: cannot read the file" in err


def test_without_a_terminal_an_unanswered_prompt_fails_and_the_run_halts(tmp_path, data, capsys):
    file = protocol_file(tmp_path, DEMO)
    code, lines, _ = labrun(capsys, "run", file, "--dry-run")
    assert code == 1
    failed = next(line for line in lines if "failed " in line)
    assert failed == (
        "+01:30:00  1.1@0        failed     step 1.1@0 asks a question and there is no "
        "terminal to answer it on; give the answer with -a plate=ANSWER"
    )
    assert "labrun: there is no terminal to retry or skip step 1.1@0 on: halting the run" in lines
    assert lines[-1] == "dry run halted after 1:30:00"


def test_answers_are_given_by_step_id_or_path(tmp_path, capsys):
    file = protocol_file(tmp_path, DEMO)
    code, lines, _ = labrun(capsys, "run", file, "--dry-run", "-a", "1.1=P-9")
    assert code == 0
    assert "+01:30:00  1.1@0        completed  result: P-9" in lines


def test_an_answer_for_a_step_that_is_not_there_exits_2(tmp_path, capsys):
    code, _, err = labrun(capsys, "run", protocol_file(tmp_path, DEMO), "--dry-run", "-a", "x=1")
    assert code == 2
    assert err == (
        "labrun: error: -a x=1: the protocol has no step 'x' (step ids: warm, cycle, soak, plate)\n"
    )


def test_a_refused_answer_given_with_a_fails_the_step(tmp_path, capsys):
    text = "steps:\n  - prompt.ask: {message: Go?, choices: [yes, no]}\n    id: go\n"
    code, lines, _ = labrun(
        capsys, "run", protocol_file(tmp_path, text), "--dry-run", "-a", "go=maybe"
    )
    assert code == 1
    assert (
        "+00:00:00  0            failed     the answer given with -a ('maybe') was refused" in lines
    )


def test_on_a_terminal_prompts_are_answered_there(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Terminal("P-1\nP-2\n"))
    code, lines, err = labrun(capsys, "run", protocol_file(tmp_path, DEMO), "--dry-run")
    assert code == 0
    assert "+01:30:00  1.1@0        completed  result: P-1" in lines
    assert "+02:00:00  1.1@1        completed  result: P-2" in lines
    assert "1.1@0 asks: Plate ID at 37 °C?\nanswer> " in err


def test_on_a_terminal_a_refused_answer_is_asked_again(tmp_path, capsys, monkeypatch):
    text = "steps:\n  - prompt.ask: {message: Go?, choices: [yes, no]}\n    id: go\n"
    monkeypatch.setattr(sys, "stdin", Terminal("maybe\nyes\n"))
    code, lines, err = labrun(capsys, "run", protocol_file(tmp_path, text), "--dry-run")
    assert code == 0
    assert "0 asks: Go? ('maybe' is not one of: yes, no)\nanswer> " in err
    assert "+00:00:00  0            completed  result: yes" in lines


FAILS = """
parameters:
  d: {type: str, default: 1 s}
steps:
  - timer.wait: ${d}
  - timer.wait: 1 s
"""


@pytest.mark.parametrize(("typed", "code", "last"), [("s\n", 0, "completed"), ("h\n", 1, "halted")])
def test_on_a_terminal_a_failed_step_can_be_skipped_or_the_run_halted(
    tmp_path, capsys, monkeypatch, typed, code, last
):
    monkeypatch.setattr(sys, "stdin", Terminal(typed))
    file = protocol_file(tmp_path, FAILS)
    exit_code, lines, err = labrun(capsys, "run", file, "--dry-run", "-p", "d=soon")
    assert exit_code == code
    assert "step 0 failed: invalid arguments: duration: " in err
    assert "[r]etry, [s]kip it, or [h]alt the run? " in err
    assert lines[-1].startswith(f"dry run {last}")


def test_on_a_terminal_the_end_of_its_input_halts_a_failed_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", Terminal(""))
    text = "steps:\n  - prompt.ask: {message: Go?}\n"
    code, lines, _ = labrun(capsys, "run", protocol_file(tmp_path, text), "--dry-run")
    assert code == 1
    assert "+00:00:00  0            failed     no answer: the terminal's input ended" in lines
    assert "labrun: the terminal's input ended: halting the run" in lines


def test_events_are_written_as_json_lines(tmp_path, data, capsys):
    events = tmp_path / "events.jsonl"
    file = protocol_file(tmp_path, QUICK)
    code, _, _ = labrun(capsys, "run", file, "--data-dir", data, "--events", events)
    assert code == 0
    read = [Event.from_json(line) for line in events.read_text().splitlines()]
    assert [e.seq for e in read] == list(range(1, len(read) + 1))
    assert read[-1].payload == {"state": "completed", "previous": "running"}


def test_events_to_stdout_send_the_log_to_stderr(tmp_path, capsys):
    file = protocol_file(tmp_path, QUICK)
    code, lines, err = labrun(capsys, "run", file, "--dry-run", "--events", "-")
    assert code == 0
    assert all(json.loads(line)["seq"] for line in lines)
    assert "+00:00:00  run          completed" in err


def test_an_events_file_that_cannot_be_written_exits_2(tmp_path, capsys):
    file = protocol_file(tmp_path, QUICK)
    code, _, err = labrun(capsys, "run", file, "--dry-run", "--events", tmp_path / "no" / "e")
    assert code == 2
    assert "cannot write the events to" in err


def interrupted_run(tmp_path: Path, data: Path, text: str, seconds: float) -> str:
    """A run recorded up to `seconds` into it, whose labrun then stopped dead."""
    data.mkdir(exist_ok=True)
    file = protocol_file(tmp_path, text)
    protocol = compile(file).protocol
    assert protocol is not None

    async def go() -> str:
        clock = VirtualClock()
        with RunStore.open(data / DATABASE_NAME) as store:
            parameters = protocol.bind({})
            recorder = Recorder.create(
                store, "crashed", protocol, text, parameters, by="ann", created=clock.now()
            )
            run = Run(protocol, parameters, clock=clock, sinks=[recorder])
            task = asyncio.create_task(run.run())
            await clock.sleep(seconds)
            run.journal.sinks = ()
            await recorder.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return "crashed"

    return asyncio.run(go())


def test_resume_goes_on_with_an_interrupted_run(tmp_path, data, capsys):
    text = "name: slow\nsteps:\n  - timer.wait: 10 s\n  - timer.wait: 0 s\n    id: b\n"
    run_id = interrupted_run(tmp_path, data, text, 1)
    code, lines, _ = labrun(capsys, "runs", "list", "--data-dir", data)
    assert lines[1].split()[2] == "running"
    # The text stored with the run is what resumes, not the file as it is now.
    protocol_file(tmp_path, "steps: []\n")
    code, lines, err = labrun(capsys, "resume", run_id, "--data-dir", data)
    assert code == 0, err
    assert f"resuming run {run_id}: slow, after event 4" in lines
    assert lines[-1].startswith(f"run {run_id} completed after 0:00:1")
    with stored(data) as store:
        record = store.get_run(run_id)
        events = list(store.events(run_id))
    assert record.status is RunState.COMPLETED
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[4].payload == {"state": "running", "previous": "interrupted"}


def test_resume_of_a_run_that_is_over_exits_2(tmp_path, data, capsys):
    code, lines, _ = labrun(capsys, "run", protocol_file(tmp_path, QUICK), "--data-dir", data)
    run_id = lines[0].split()[1].rstrip(":")
    code, _, err = labrun(capsys, "resume", run_id, "--data-dir", data)
    assert code == 2
    assert (
        err == f"labrun: error: run {run_id} is completed: it is over, there is nothing to resume\n"
    )


def test_resume_of_an_unknown_run_exits_2(data, capsys):
    code, _, err = labrun(capsys, "resume", "nope", "--data-dir", data)
    assert code == 2
    assert "no run 'nope'" in err
