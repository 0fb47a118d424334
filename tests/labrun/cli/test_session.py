"""Ctrl-C on a terminal: once pauses the run and asks what to do; twice halts."""

import asyncio
import io
import threading

import pytest

from labrun.cli._session import Session, Setup, Terminal
from labrun.clock import VirtualClock
from labrun.event import EventType
from labrun.protocol import compile
from labrun.run.engine import Run
from labrun.run.state import RunState

PROTOCOL = "steps:\n  - timer.wait: 1 h\n    id: soak\n  - timer.wait: 1 h\n"


class Typing(io.StringIO):
    """What the operator types, once the run has paused: people are not that quick."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.paused = threading.Event()

    def __iter__(self):
        self.paused.wait()
        return super().__iter__()


async def interrupted(typed: str, times: int = 1):
    protocol = compile(text=PROTOCOL).protocol
    run = Run(protocol, {}, clock=VirtualClock())
    lines: list[str] = []
    typing = Typing(typed)
    setup = Setup(run=run, by="ann", log=lines.append, interactive=True)
    chosen = Session(setup, Terminal(typing))
    requests = run.journal.subscribe(maxsize=0)
    progress = run.journal.subscribe(maxsize=0)
    main = asyncio.create_task(chosen.main())
    async for event in progress:
        if event.step == "0":
            break
    for _ in range(times):
        chosen._interrupt()
    async for event in progress:
        if event.step == "" and event.payload.get("state") in ("paused", "halted"):
            break
    typing.paused.set()
    code = await main
    asked = [
        (e.step, e.payload["request"], e.payload.get("by"))
        for e in requests.pending()
        if e.type is EventType.REQUEST and e.step == ""
    ]
    return code, run, asked, lines


@pytest.mark.parametrize(
    ("typed", "code", "asked"),
    [
        ("r\n", 0, ["pause", "resume"]),
        ("s\n", 0, ["pause", "skip", "resume"]),
        ("h\n", 1, ["pause", "halt"]),
        ("", 1, ["pause", "halt"]),
    ],
)
async def test_ctrl_c_pauses_then_resumes_skips_or_halts_as_answered(typed, code, asked):
    exit_code, run, requests, _ = await interrupted(typed)
    assert exit_code == code
    assert [request for _, request, _ in requests if request != "skip"] == [
        a for a in asked if a != "skip"
    ]
    assert all(by == "ann" for _, _, by in requests)
    if "skip" in asked:
        assert run.view.steps["0"].state == "skipped"


async def test_ctrl_c_twice_halts():
    exit_code, run, _, lines = await interrupted("", times=2)
    assert exit_code == 1
    assert run.state is RunState.HALTED
    assert "labrun: interrupted: halting the run" in lines
