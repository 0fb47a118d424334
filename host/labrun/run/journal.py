"""The run's event bus: numbers each event, then hands it, before `emit` returns, to the
run's projection, to every sink and to the engine.

Doing this synchronously keeps the projection exactly as current as the last event and the
store in event order without a reader task per consumer. Sinks never raise from `write`
(that would surface inside whichever process emitted): they keep their failure and the
engine reads it between steps. A sink that falls behind says so with `congested`, and
the engine awaits its `drain()` between steps, which bounds the memory a fast run can pile
up in front of a slow disk without ever blocking the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from labrun.event import Event, EventBus, EventType
from labrun.run.projection import RunView


class Sink(Protocol):
    """Where a run's events go besides the projection: the store, an events file, a log."""

    def write(self, event: Event) -> None:
        """Take the event; never raises."""
        ...

    @property
    def congested(self) -> bool:
        """Whether the engine should `drain()` before it starts another step."""
        ...

    @property
    def failure(self) -> str | None:
        """Why the sink cannot take events any more, or None."""
        ...

    async def drain(self) -> None: ...


class RunJournal(EventBus):
    def __init__(
        self,
        now: Callable[[], datetime],
        view: RunView,
        *,
        sinks: tuple[Sink, ...] = (),
    ) -> None:
        super().__init__(now, first_seq=view.last_seq + 1)
        self.view = view
        self.sinks = sinks
        self.listener: Callable[[Event], None] | None = None

    def emit(self, type: EventType, step: str, payload: dict[str, Any]) -> Event:
        event = super().emit(type, step, payload)
        self.view.apply(event)
        for sink in self.sinks:
            sink.write(event)
        if self.listener is not None:
            self.listener(event)
        return event

    @property
    def congested(self) -> bool:
        return any(sink.congested for sink in self.sinks)

    @property
    def failure(self) -> str | None:
        return next((s.failure for s in self.sinks if s.failure is not None), None)

    async def drain(self) -> None:
        for sink in self.sinks:
            if sink.congested:
                await sink.drain()
