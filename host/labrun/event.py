"""Events: every change in a run, numbered, timestamped, fanned out to subscribers.

Subscribers read through bounded queues in their own tasks, so a slow or failing subscriber
never blocks the process that emits: when its queue is full it is dropped, and it learns so
on its next read (it can then resynchronise from a state snapshot).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

from pydantic import AwareDatetime, GetCoreSchemaHandler, TypeAdapter
from pydantic_core import core_schema
from typing_extensions import TypedDict


class EventType(StrEnum):
    STATE = "state"
    LOCATION = "location"
    DURATION = "duration"
    DIAGNOSTIC = "diagnostic"
    EFFECT = "effect"
    REQUEST = "request"
    RESTART = "restart"
    # Measurements a step records into the run's data (labrun runs export --data).
    DATA = "data"
    # A frame to or from a device whose I/O log is on (io_log: in the configuration).
    IO = "io"


class _EventFields(TypedDict):
    type: EventType
    step: str
    seq: int
    # Events carry absolute times: a timestamp without an offset is refused, not guessed.
    time: AwareDatetime
    payload: dict[str, Any]


class Event(NamedTuple):
    """One change. `payload` holds JSON values only; its keys depend on `type`.

    A named tuple rather than a BaseModel: a run emits events by the hundred thousand and
    building a tuple costs a seventh of validating a model. Pydantic still validates,
    serialises and describes it at every boundary, as a JSON object, through
    `__get_pydantic_core_schema__`.
    """

    type: EventType
    step: str
    seq: int
    time: datetime
    payload: dict[str, Any]

    def to_json(self) -> str:
        return _ADAPTER.dump_json(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        return _ADAPTER.validate_json(text)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        fields = handler.generate_schema(_EventFields)
        from_fields = core_schema.no_info_after_validator_function(
            lambda values: cls(**values), fields
        )
        return core_schema.json_or_python_schema(
            json_schema=from_fields,
            # An Event is a tuple, which the fields' schema would refuse: events built by the
            # bus go into models (such as a list of them in a message) as they are.
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_fields]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda event: event._asdict(), return_schema=fields
            ),
        )


_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
_new_tuple = tuple.__new__


class SubscriberDropped(Exception):
    """The subscriber fell behind by more than its queue holds and missed events."""

    def __init__(self, missed_from: int) -> None:
        super().__init__(f"subscriber fell behind and was dropped at event {missed_from}")
        self.missed_from = missed_from


class Subscription:
    """An async iterator over the events emitted after it was created.

    Events wait in a deque and the reader is woken at most once per loop iteration,
    however many events arrived, so a subscriber costs one wakeup per batch.
    """

    def __init__(self, bus: EventBus, maxsize: int) -> None:
        self._bus = bus
        self._events: deque[Event] = deque()
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self.dropped_at: int | None = None

    def _offer(self, event: Event) -> bool:
        if self._maxsize and len(self._events) >= self._maxsize:
            self.dropped_at = event.seq
            self._wake()
            return False
        self._events.append(event)
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def pending(self) -> list[Event]:
        """The events already delivered but not yet read, without waiting."""
        events = list(self._events)
        self._events.clear()
        return events

    async def batch(self) -> list[Event]:
        """Every event delivered and not yet read, waiting for one if there is none: the
        cheap way to keep up, one wakeup and one call per batch rather than per event."""
        while not self._events:
            if self.dropped_at is not None:
                raise SubscriberDropped(self.dropped_at)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self.pending()

    async def get(self) -> Event:
        while not self._events:
            if self.dropped_at is not None:
                raise SubscriberDropped(self.dropped_at)
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._events.popleft()

    def close(self) -> None:
        self._bus._unsubscribe(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        return await self.get()


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
        """A new subscription; `maxsize` 0 means unbounded (tests, harnesses)."""
        subscription = Subscription(self, maxsize)
        self._subscribers.append(subscription)
        return subscription

    def _unsubscribe(self, subscription: Subscription) -> None:
        if subscription in self._subscribers:
            self._subscribers.remove(subscription)

    def emit(self, type: EventType, step: str, payload: dict[str, Any]) -> Event:
        # tuple.__new__ skips the named tuple's Python __new__: half the cost of an event.
        event: Event = _new_tuple(Event, (type, step, self._next_seq, self._now(), payload))
        self._next_seq += 1
        dropped = False
        for subscription in self._subscribers:
            if not subscription._offer(event):
                dropped = True
        if dropped:
            self._subscribers = [s for s in self._subscribers if s.dropped_at is None]
        return event
