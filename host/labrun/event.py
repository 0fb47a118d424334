"""Events: every change in a run, numbered, timestamped, fanned out to subscribers.

Subscribers read through bounded queues in their own tasks, so a slow or failing subscriber
never blocks the process that emits: when its queue is full it is dropped, and it learns so
on its next read (it can then resynchronise from a state snapshot).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class EventType(StrEnum):
    STATE = "state"
    LOCATION = "location"
    DURATION = "duration"
    DIAGNOSTIC = "diagnostic"
    EFFECT = "effect"
    REQUEST = "request"
    RESTART = "restart"


class Event(BaseModel):
    """One change. `payload` holds JSON values only; its keys depend on `type`."""

    model_config = ConfigDict(frozen=True)

    type: EventType
    step: str
    seq: int
    time: datetime
    payload: dict[str, Any]

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        return cls.model_validate_json(text)


class SubscriberDropped(Exception):  # noqa: N818 - names what happened to the subscriber
    """The subscriber fell behind by more than its queue holds and missed events."""

    def __init__(self, missed_from: int) -> None:
        super().__init__(f"subscriber fell behind and was dropped at event {missed_from}")
        self.missed_from = missed_from


class Subscription:
    """An async iterator over the events emitted after it was created."""

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize)
        self.dropped_at: int | None = None

    def _offer(self, event: Event) -> bool:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped_at = event.seq
            return False
        return True

    def pending(self) -> list[Event]:
        """The events already delivered but not yet read, without waiting."""
        events: list[Event] = []
        while not self._queue.empty():
            events.append(self._queue.get_nowait())
        return events

    async def get(self) -> Event:
        if self.dropped_at is not None and self._queue.empty():
            raise SubscriberDropped(self.dropped_at)
        return await self._queue.get()

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.get()


class EventBus:
    """Numbers events in emission order and fans them out. Keeps no history."""

    def __init__(self, now: Callable[[], datetime], *, first_seq: int = 1) -> None:
        self._now = now
        self._next_seq = first_seq
        self._subscribers: list[Subscription] = []

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def subscribe(self, maxsize: int = 10_000) -> Subscription:
        subscription = Subscription(self, maxsize)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def emit(self, type: EventType, step: str, payload: dict[str, Any]) -> Event:
        event = Event(type=type, step=step, seq=self._next_seq, time=self._now(), payload=payload)
        self._next_seq += 1
        dropped = [s for s in self._subscribers if not s._offer(event)]
        for subscription in dropped:
            self._subscribers.remove(subscription)
        return event
