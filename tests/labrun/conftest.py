"""A hand-driven step runner on a virtual clock, for tests that need finer control than
`labrun.testing.run_process` gives (requests at exact points, outcomes, the runner itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from labrun.clock import VirtualClock
from labrun.event import Event, EventBus, EventType
from labrun.plugin import ProcessSpec, spec_of
from labrun.state import StepState
from labrun.step import StepOutcome, StepRunner

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class Stalled(AssertionError):
    pass


class Rig:
    def __init__(
        self,
        process: ProcessSpec | Callable[..., Any],
        data: BaseModel | Mapping[str, Any],
        *,
        point: Any = None,
    ) -> None:
        self.clock = VirtualClock(START)
        self.bus = EventBus(self.clock.now)
        self._subscription = self.bus.subscribe(maxsize=0)
        self._events: list[Event] = []
        spec = process if isinstance(process, ProcessSpec) else spec_of(process)
        self.runner = StepRunner(
            spec, data, step="step", bus=self.bus, clock=self.clock, point=point
        )
        self.task: asyncio.Task[StepOutcome] | None = None

    def start(self) -> asyncio.Task[StepOutcome]:
        self.task = asyncio.create_task(self.runner.run())
        return self.task

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    @property
    def events(self) -> list[Event]:
        self._events.extend(self._subscription.pending())
        return list(self._events)

    def of_type(self, type: EventType) -> list[Event]:
        return [event for event in self.events if event.type is type]

    @property
    def states(self) -> list[StepState]:
        return [StepState(event.payload["state"]) for event in self.of_type(EventType.STATE)]

    def seconds(self, event: Event) -> float:
        return (event.time - START).total_seconds()

    def state_time(self, state: StepState) -> float:
        """Virtual seconds at which the step first entered `state`."""
        for event in self.of_type(EventType.STATE):
            if event.payload["state"] == state:
                return self.seconds(event)
        raise AssertionError(f"the step never was {state}: {self.states}")

    async def settle(self) -> None:
        """Let everything that can run at the current virtual time run, without advancing it."""
        limit, self.clock.limit = self.clock.limit, self.clock.monotonic()
        try:
            await self.clock.idle()
        finally:
            self.clock.limit = limit

    async def advance_to(self, seconds: float) -> None:
        assert seconds >= self.now, "virtual time only goes forward"
        await self.clock.sleep(seconds - self.now)
        await self.settle()

    async def finish(self) -> StepOutcome:
        """The outcome once the run ends on its own; Stalled if it cannot."""
        assert self.task is not None
        idle = asyncio.ensure_future(self.clock.idle())
        done, _ = await asyncio.wait((self.task, idle), return_when=asyncio.FIRST_COMPLETED)
        if self.task not in done:
            raise Stalled(f"the step is {self.runner.state} and nothing more can happen")
        idle.cancel()
        return self.task.result()

    async def halt_and_finish(self) -> StepOutcome:
        """Halt the step unless it already ended, then its outcome."""
        if not self.runner.state.is_final:
            self.runner.halt()
        assert self.task is not None
        return await self.task


@pytest.fixture
def rig() -> Callable[..., Rig]:
    return Rig
