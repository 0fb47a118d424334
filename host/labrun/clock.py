"""Clocks: the real one, and a virtual one under which sleeping takes no time.

The virtual clock advances only when the event loop has nothing else ready to run, so
everything that would happen "before" a deadline happens before it, in the same order as
on the real clock, just without waiting.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The absolute time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def hold(self) -> AbstractContextManager[None]:
        """Keep time still while real I/O is in flight (a device's reply takes no time)."""
        ...


class RealClock:
    # A partial of the C function, not a method: events take a timestamp each, and a
    # Python frame would add half its cost.
    now: Callable[[], datetime] = staticmethod(partial(datetime.now, UTC))

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def hold(self) -> AbstractContextManager[None]:
        return nullcontext()


class VirtualClock:
    """A clock whose time jumps to the next deadline once the loop is idle."""

    def __init__(self, start: datetime | None = None, *, limit: float | None = None) -> None:
        self._origin = start or datetime.now(UTC)
        # Deadlines past the limit never come: the clock reports idle instead, so a test
        # harness can tell a runaway process from a finished one.
        self._limit = limit
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._advancing_on: asyncio.AbstractEventLoop | None = None
        self._polls = 0
        self._holds = 0

    @property
    def limit(self) -> float | None:
        return self._limit

    @limit.setter
    def limit(self, value: float | None) -> None:
        self._limit = value
        # Raising it lets sleepers that were past it come due, with no sleep() to say so.
        if self._sleepers_due():
            self._ensure_advancer()

    def now(self) -> datetime:
        return self._origin + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), future))
        self._ensure_advancer()
        await future

    @contextmanager
    def hold(self) -> Iterator[None]:
        """While held, time does not advance even when the loop is idle: the loop is idle
        because it waits for a device or a thread, and that wait must take no virtual time,
        or a dry run would see a reply arrive minutes after its command."""
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1

    async def idle(self) -> None:
        """Return once nothing can happen any more: the loop is idle and no one sleeps."""
        future = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(future)
        self._ensure_advancer()
        await future

    def _ensure_advancer(self) -> None:
        loop = asyncio.get_running_loop()
        if self._advancing_on is not loop:
            self._advancing_on = loop
            self._polls = 0
            loop.call_soon(self._advance)

    def _advance(self) -> None:
        """Called back once per loop iteration while anyone sleeps or waits for idle.

        A plain callback rather than a task polling with `sleep(0)`: the wakeups of such a
        task would be work on the run queue, so two virtual clocks on one loop would each
        see the other busy and neither would ever advance.
        """
        loop = asyncio.get_running_loop()
        if self._holds or not _quiet(loop, self._polls):
            self._polls += 1
            loop.call_soon(self._advance)
            return
        self._polls = 0
        self._drop_cancelled()
        if self._sleepers and (self.limit is None or self._sleepers[0][0] <= self.limit):
            deadline = self._sleepers[0][0]
            self._elapsed = max(self._elapsed, deadline)
            while self._sleepers and self._sleepers[0][0] <= deadline:
                _, _, future = heapq.heappop(self._sleepers)
                if not future.done():
                    future.set_result(None)
        elif self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for future in waiters:
                if not future.done():
                    future.set_result(None)
        if self._sleepers_due() or self._idle_waiters:
            loop.call_soon(self._advance)
        else:
            self._advancing_on = None

    def _sleepers_due(self) -> bool:
        self._drop_cancelled()
        return bool(self._sleepers) and (self.limit is None or self._sleepers[0][0] <= self.limit)

    @property
    def sleeping(self) -> int:
        """How many sleeps are pending, including those past the limit."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    def _drop_cancelled(self) -> None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)


def _quiet(loop: asyncio.AbstractEventLoop, polls: int) -> bool:
    """Whether nothing is ready to run on `loop` but the clocks' own callbacks.

    asyncio has no public "is idle" query; `_ready` is the run queue of CPython's
    BaseEventLoop. On a loop without it, waiting a number of iterations is the best we can do.
    """
    ready = getattr(loop, "_ready", None)
    if not isinstance(ready, Iterable):
        return polls >= 100
    return all(_is_clock_callback(handle) for handle in ready)


def _is_clock_callback(handle: object) -> bool:
    callback = getattr(handle, "_callback", None)
    if getattr(callback, "__func__", None) is VirtualClock._advance:
        return True
    cancelled = getattr(handle, "cancelled", None)
    return callable(cancelled) and bool(cancelled())
