"""Runs of inline protocols on a virtual clock, with a plugin of processes made for tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from labrun import JumpRequest, PauseRequest, Plugin, ProcessContext, SwapRequest
from labrun.catalog import PluginCatalog
from labrun.clock import VirtualClock
from labrun.event import Event, EventType
from labrun.protocol import Protocol, compile
from labrun.run.engine import Run
from labrun.run.journal import Sink
from labrun.run.projection import RunView
from labrun.run.state import RunState
from labrun_prompt import plugin as prompt_plugin
from labrun_timer import plugin as timer_plugin

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

lab = Plugin("lab", description="Processes for the engine's tests.")


class NoArgs(BaseModel):
    pass


class WorkArgs(BaseModel):
    seconds: float = 10.0
    pausable: bool = True


@lab.process("work", estimate=lambda data: data.seconds)
async def work(data: WorkArgs, context: ProcessContext[WorkArgs]) -> float:
    """Works `seconds`; the point is the time worked, so a pause or a resume keeps it."""
    context.pausable = data.pausable
    total = data.seconds
    done = float(context.point or 0.0)
    while True:
        context.send_location({"done": done}, point=done)
        context.send_duration(total - done)
        started = context.clock.monotonic()
        try:
            if data.pausable:
                await context.wait(context.sleep(total - done))
            else:
                await context.sleep(total - done)
        except PauseRequest:
            context.send_location({"done": done}, point=done + context.clock.monotonic() - started)
            raise
        except JumpRequest as request:
            done = float(request.point)
            continue
        except SwapRequest as request:
            done += context.clock.monotonic() - started
            total = request.data.seconds
            continue
        return total


class PhasesArgs(BaseModel):
    phases: int = 3
    seconds: float = 10.0


@lab.process("phases", estimate=lambda data: data.phases * data.seconds)
async def phases(data: PhasesArgs, context: ProcessContext[PhasesArgs]) -> int:
    """Phases that cannot be interrupted, with a checkpoint after each: pausable only there."""
    context.pausable = True
    first = int(context.point or 0)
    for phase in range(first, data.phases):
        context.send_location({"phase": phase}, point=phase)
        await context.sleep(data.seconds)
        context.send_location({"phase": phase + 1}, point=phase + 1)
        await context.checkpoint()
    return data.phases


@lab.process("pauses")
async def pauses(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
    """Pauses itself once, half a second in; resumed, it completes."""
    context.pausable = True
    if context.point is None:
        await context.sleep(0.5)
        context.send_location({"paused": True}, point=1)
        raise PauseRequest
    return "resumed"


class FlakyArgs(BaseModel):
    failures: int = 1


@lab.process("flaky")
async def flaky(data: FlakyArgs, context: ProcessContext[FlakyArgs]) -> int:
    """Fails its first `failures` invocations; the point counts them."""
    attempt = int(context.point or 0) + 1
    context.send_location({"attempt": attempt}, point=attempt)
    await context.checkpoint()
    if attempt <= data.failures:
        raise RuntimeError(f"attempt {attempt} failed")
    return attempt


class EchoArgs(BaseModel):
    value: Any = None


@lab.process("echo", estimate=lambda data: 0)
async def echo(data: EchoArgs, context: ProcessContext[EchoArgs]) -> Any:
    await context.checkpoint()
    return data.value


_cleanups: list[str] = []


@lab.process("hang")
async def hang(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    """Waits forever, not pausable; records that its finally ran."""
    try:
        await asyncio.Event().wait()
    finally:
        _cleanups.append(context.step)


CATALOG = PluginCatalog.of(timer_plugin, prompt_plugin, lab)


def protocol_of(text: str) -> Protocol:
    result = compile(text=text, catalog=CATALOG)
    assert result.protocol is not None, "\n".join(d.render() for d in result.diagnostics)
    return result.protocol


class Stalled(AssertionError):
    pass


class RunRig:
    """A run on a virtual clock, its events collected, driven by hand."""

    def __init__(
        self,
        protocol: Protocol | str,
        parameters: dict[str, Any] | None = None,
        *,
        view: RunView | None = None,
        sinks: Iterable[Sink] = (),
        start: datetime = START,
    ) -> None:
        self.protocol = protocol if isinstance(protocol, Protocol) else protocol_of(protocol)
        self.clock = VirtualClock(start)
        self.start_time = start
        self.run = Run(
            self.protocol,
            self.protocol.bind(parameters or {}),
            clock=self.clock,
            sinks=tuple(sinks),
            view=view,
        )
        self._subscription = self.run.journal.subscribe(maxsize=0)
        self._events: list[Event] = []
        self.task: asyncio.Task[RunState] | None = None

    def start(self) -> asyncio.Task[RunState]:
        self.task = asyncio.create_task(self.run.run())
        return self.task

    @property
    def now(self) -> float:
        return (self.clock.now() - self.start_time).total_seconds()

    @property
    def events(self) -> list[Event]:
        self._events.extend(self._subscription.pending())
        return list(self._events)

    def of(self, step: str, type: EventType | None = None) -> list[Event]:
        return [e for e in self.events if e.step == step and (type is None or e.type is type)]

    def states(self, step: str) -> list[str]:
        return [e.payload["state"] for e in self.of(step, EventType.STATE)]

    @property
    def run_states(self) -> list[str]:
        return self.states("")

    def started(self) -> list[str]:
        """The keys of the process and structure steps, in the order they started."""
        return [
            e.step
            for e in self.events
            if e.type is EventType.STATE
            and e.step
            and e.payload["state"] == "running"
            and e.payload["previous"] == "pending"
        ]

    def at(self, event: Event) -> float:
        return (event.time - self.start_time).total_seconds()

    def time_of(self, step: str, state: str) -> float:
        for event in self.of(step, EventType.STATE):
            if event.payload["state"] == state:
                return self.at(event)
        raise AssertionError(f"{step!r} never was {state}: {self.states(step)}")

    async def settle(self) -> None:
        """Let everything that can happen at the current virtual time happen."""
        limit, self.clock.limit = self.clock.limit, self.clock.monotonic()
        try:
            await self.clock.idle()
        finally:
            self.clock.limit = limit

    async def advance_to(self, seconds: float) -> None:
        assert seconds >= self.now, "virtual time only goes forward"
        await self.clock.sleep(seconds - self.now)
        await self.settle()

    async def finish(self) -> RunState:
        """The final state once the run ends by itself; Stalled if it cannot."""
        if self.task is None:
            self.start()
        assert self.task is not None
        idle = asyncio.ensure_future(self.clock.idle())
        done, _ = await asyncio.wait((self.task, idle), return_when=asyncio.FIRST_COMPLETED)
        if self.task not in done:
            raise Stalled(f"the run is {self.run.state} and nothing more can happen")
        idle.cancel()
        return self.task.result()

    async def stop(self) -> None:
        """Halt the run unless it is over, and wait for its end."""
        if self.task is None:
            return
        if not self.run.state.is_final and not self.run.halting:
            self.run.halt()
        await asyncio.wait((self.task,))


@pytest.fixture
async def rig() -> AsyncIterator[Callable[..., RunRig]]:
    """Makes rigs, and halts whatever run a test leaves going."""
    made: list[RunRig] = []

    def make(*args: Any, **kwargs: Any) -> RunRig:
        made.append(RunRig(*args, **kwargs))
        return made[-1]

    yield make
    for each in made:
        await each.stop()


@pytest.fixture
def cleanups() -> list[str]:
    """The steps whose lab.hang process ran its finally block, in order."""
    _cleanups.clear()
    return _cleanups


@pytest.fixture
def compiled() -> Callable[[str], Protocol]:
    return protocol_of
