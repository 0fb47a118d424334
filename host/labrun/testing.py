"""A harness to test processes: run one on the virtual clock with scripted requests.

    run = await run_process(
        timer.wait, {"duration": "2 h"},
        script=Script().at(60).pause().after(5).resume(),
    )
    assert run.state is StepState.COMPLETED

Actions in a script happen in order; each waits for its trigger once the one before it
has happened: `at(seconds)` since the start, `after(seconds)` since the previous action,
`when(predicate)` on an event emitted after the previous action, `when_location(...)` on a
location, `when_state(state)`, or `on_receive()` for when the process waits in `receive()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from labrun.clock import VirtualClock
from labrun.event import Event, EventBus, EventType, Subscription
from labrun.plugin import ProcessSpec, spec_of
from labrun.request import PauseMode, RequestRefused
from labrun.state import StepState
from labrun.step import StepRunner

DEFAULT_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
DEFAULT_LIMIT = 30 * 24 * 3600.0


class HarnessError(AssertionError):
    """The process under test could not be driven to an end."""


class HarnessStalled(HarnessError):
    def __init__(self, state: StepState, reason: str) -> None:
        super().__init__(f"stalled with the step {state}: {reason}")
        self.state = state
        self.reason = reason


class HarnessTimeout(HarnessError):
    def __init__(self, state: StepState, limit: float) -> None:
        super().__init__(f"the step is still {state} after {limit:g} s of virtual time")
        self.state = state
        self.limit = limit


@dataclass(frozen=True)
class _Trigger:
    kind: str
    value: Any = None
    label: str = ""


@dataclass(frozen=True)
class _Action:
    trigger: _Trigger
    request: str
    args: tuple[Any, ...] = ()

    def describe(self) -> str:
        return f"{self.request} {self.trigger.label}".strip()


class Trigger:
    """The 'when' of an action; its methods name the 'what' and return the script."""

    def __init__(self, script: Script, trigger: _Trigger) -> None:
        self._script = script
        self._trigger = trigger

    def _add(self, request: str, *args: Any) -> Script:
        self._script.actions.append(_Action(self._trigger, request, args))
        return self._script

    def pause(self, mode: PauseMode = PauseMode.IMMEDIATE) -> Script:
        return self._add("pause", mode)

    def resume(self) -> Script:
        return self._add("resume")

    def halt(self) -> Script:
        return self._add("halt")

    def skip(self) -> Script:
        return self._add("skip")

    def retry(self) -> Script:
        return self._add("retry")

    def jump(self, point: Any) -> Script:
        return self._add("jump", point)

    def swap(self, data: BaseModel | Mapping[str, Any]) -> Script:
        return self._add("swap", data)

    def answer(self, message: Any) -> Script:
        return self._add("answer", message)


@dataclass
class Script:
    """Requests to make while the process runs, in order."""

    actions: list[_Action] = field(default_factory=list)

    def at(self, seconds: float) -> Trigger:
        return Trigger(self, _Trigger("at", seconds, f"at {seconds:g} s"))

    def after(self, seconds: float) -> Trigger:
        return Trigger(self, _Trigger("after", seconds, f"{seconds:g} s after the previous action"))

    def when(self, predicate: Callable[[Event], bool], label: str = "") -> Trigger:
        label = label or getattr(predicate, "__name__", "an event")
        return Trigger(self, _Trigger("when", predicate, f"when {label}"))

    def when_location(self, predicate: Callable[[Any], bool], label: str = "") -> Trigger:
        def matches(event: Event) -> bool:
            return event.type is EventType.LOCATION and bool(predicate(event.payload["location"]))

        return self.when(matches, label or "the location matches")

    def when_state(self, state: StepState) -> Trigger:
        def matches(event: Event) -> bool:
            return event.type is EventType.STATE and event.payload["state"] == state

        return self.when(matches, f"the step is {state}")

    def on_receive(self) -> Trigger:
        return Trigger(self, _Trigger("receive", None, "when the process waits in receive()"))


@dataclass(frozen=True)
class ProcessRun:
    """What happened: the state the step ended or settled in, and every event."""

    state: StepState
    result: Any
    error: str | None
    events: tuple[Event, ...]
    refused: tuple[RequestRefused, ...]
    started: datetime
    ended: datetime

    @property
    def elapsed(self) -> float:
        """Virtual seconds from the start to the end."""
        return (self.ended - self.started).total_seconds()

    def of_type(self, type: EventType) -> list[Event]:
        return [event for event in self.events if event.type is type]

    @property
    def states(self) -> list[StepState]:
        return [StepState(e.payload["state"]) for e in self.of_type(EventType.STATE)]

    @property
    def locations(self) -> list[Any]:
        return [event.payload["location"] for event in self.of_type(EventType.LOCATION)]

    @property
    def points(self) -> list[Any]:
        return [event.payload["point"] for event in self.of_type(EventType.LOCATION)]

    @property
    def durations(self) -> list[float | str]:
        return [event.payload["remaining"] for event in self.of_type(EventType.DURATION)]

    @property
    def diagnostics(self) -> list[dict[str, Any]]:
        return [event.payload for event in self.of_type(EventType.DIAGNOSTIC)]

    @property
    def effects(self) -> list[Any]:
        return [event.payload["effect"] for event in self.of_type(EventType.EFFECT)]


async def run_process(
    process: ProcessSpec | Callable[..., Any],
    data: BaseModel | Mapping[str, Any],
    *,
    script: Script | None = None,
    point: Any = None,
    start: datetime = DEFAULT_START,
    limit: float = DEFAULT_LIMIT,
    step: str = "step",
    clock: VirtualClock | None = None,
    devices: Mapping[str, Any] | None = None,
) -> ProcessRun:
    """Run `process` with `data` on a virtual clock, playing `script`, until it ends.

    It ends when the step reaches a final state, or settles failed or paused with the
    script played out; the harness then halts the step to clean up, and reports the state
    it had settled in. A script action still waiting when the step has ended raises
    HarnessError: the script did not test what it meant to. A process that waits forever
    raises HarnessStalled; one still running after `limit` virtual seconds raises
    HarnessTimeout.

    `devices` are drivers by the names the process's arguments use, opened on `clock` (a
    virtual clock made with `start` and `limit` when not given), often on simulators.
    """
    spec = process if isinstance(process, ProcessSpec) else spec_of(process)
    if clock is None:
        clock = VirtualClock(start, limit=limit)
    bus = EventBus(clock.now)
    runner = StepRunner(spec, data, step=step, bus=bus, clock=clock, point=point)
    runner.devices = dict(devices or {})
    player = _Player(script or Script(), runner, bus, clock)
    return await player.play()


class _Player:
    def __init__(self, script: Script, runner: StepRunner, bus: EventBus, clock: VirtualClock):
        self._actions = list(script.actions)
        self._runner = runner
        self._bus = bus
        self._clock = clock
        self._subscription: Subscription = bus.subscribe(maxsize=0)
        self._events: list[Event] = []
        self._refused: list[RequestRefused] = []
        self._next = 0
        self._receiving: asyncio.Future[None] | None = None

    async def play(self) -> ProcessRun:
        started = self._clock.now()
        run_task = asyncio.create_task(self._runner.run())
        script_task = asyncio.create_task(self._play_script())
        try:
            await self._until_settled(run_task, script_task)
            settled = self._runner.state
            ended = self._clock.now()
            if run_task.done():
                await self._play_what_fires_now(script_task)
            self._events.extend(self._subscription.pending())
        finally:
            script_task.cancel()
            await self._clean_up(run_task)
            self._subscription.close()
        return ProcessRun(
            state=settled,
            result=self._runner.result,
            error=self._runner.error,
            events=tuple(self._events),
            refused=tuple(self._refused),
            started=started,
            ended=ended,
        )

    async def _until_settled(
        self, run_task: asyncio.Task[Any], script_task: asyncio.Task[None]
    ) -> None:
        while not run_task.done():
            idle = asyncio.ensure_future(self._clock.idle())
            waiting: set[asyncio.Future[Any]] = {run_task, idle}
            if not script_task.done():
                waiting.add(script_task)
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if script_task in done:
                script_task.result()
            if idle not in done:
                idle.cancel()
                continue
            if run_task.done():
                break
            if self._receiving is not None and self._runner.waiting_for_answer:
                self._receiving.set_result(None)
                continue
            self._check_stalled()
            return
        run_task.result()

    async def _play_what_fires_now(self, script_task: asyncio.Task[None]) -> None:
        """After the step ended, play the actions that can fire without time passing (they
        are refused and recorded); an action that never fired means a wrong script."""
        limit, self._clock.limit = self._clock.limit, self._clock.monotonic()
        try:
            await self._clock.idle()
        finally:
            self._clock.limit = limit
        if script_task.done():
            script_task.result()
        if self._next < len(self._actions):
            action = self._actions[self._next]
            raise HarnessError(
                f"the step ended {self._runner.state} before the script could {action.describe()}"
            )

    def _check_stalled(self) -> None:
        state = self._runner.state
        if self._next < len(self._actions):
            action = self._actions[self._next]
            raise HarnessStalled(state, f"the script waits to {action.describe()}")
        if state in (StepState.FAILED, StepState.PAUSED):
            return
        if self._clock.sleeping:
            raise HarnessTimeout(state, self._clock.limit or 0.0)
        if self._runner.waiting_for_answer:
            raise HarnessStalled(state, "the process waits in receive() and no answer is scripted")
        raise HarnessStalled(state, "the process waits on something that never completes")

    async def _play_script(self) -> None:
        armed_seq, armed_time = 0, 0.0
        for index, action in enumerate(self._actions):
            self._next = index
            await self._trigger(action.trigger, armed_seq, armed_time)
            self._perform(action)
            armed_seq, armed_time = self._bus.last_seq, self._clock.monotonic()
        self._next = len(self._actions)

    async def _trigger(self, trigger: _Trigger, armed_seq: int, armed_time: float) -> None:
        if trigger.kind in ("at", "after"):
            target = trigger.value if trigger.kind == "at" else armed_time + trigger.value
            await self._clock.sleep(max(0.0, target - self._clock.monotonic()))
        elif trigger.kind == "receive":
            self._receiving = asyncio.get_running_loop().create_future()
            await self._receiving
            self._receiving = None
        else:
            scanned = 0
            while True:
                self._events.extend(self._subscription.pending())
                for event in self._events[scanned:]:
                    if event.seq > armed_seq and trigger.value(event):
                        return
                scanned = len(self._events)
                self._events.append(await self._subscription.get())

    def _perform(self, action: _Action) -> None:
        method: Callable[..., None] = getattr(self._runner, action.request)
        try:
            method(*action.args)
        except RequestRefused as refused:
            self._refused.append(refused)

    async def _clean_up(self, run_task: asyncio.Task[Any]) -> None:
        if not run_task.done() and not self._runner.state.is_final:
            self._runner.halt()
        if not run_task.done():
            await asyncio.wait((run_task,))
