"""Recording a run in the store: its row, every event, and its final record.

The recorder is a sink of the run's journal (journal.py). Every 20 ms it hands the events
to the store's `EventWriter`, which commits them off the event loop within milliseconds,
and keeps the run's row current at each run-level state change, in order with the events.
When the writer's backlog is full it keeps the events, in order, and past a bound says it
is congested, so that the engine waits between steps until they are written: nothing is
dropped, and memory stays bounded however fast the steps and however slow the disk.

`finish()` writes the final record once the run is over: its final status and end (from
the last state event) and every step's result, from the run's projection.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from labrun._json import jsonable
from labrun.event import Event, EventType
from labrun.protocol.tree import Protocol
from labrun.run.key import RUN
from labrun.run.projection import RunView, StepView
from labrun.run.snapshot import snapshot
from labrun.run.state import RunState
from labrun.store import BacklogFull, EventWriter, RunRecord, RunStore, StepResult, StoreError

# Events wait at most this long (seconds) before they go to the writer, which commits them
# within milliseconds: a crash loses at most the last 100 ms.
_HAND_OVER = 0.02
# Past this many events waiting, the engine waits for them between steps.
_CONGESTED = 20_000


class RecordIncomplete(Exception):
    """The store failed, so the run's record lacks its last events or its final state."""


class Recorder:
    def __init__(self, writer: EventWriter) -> None:
        self._writer = writer
        self._backlog: deque[Event] = deque()
        self._failure: str | None = None
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def create(
        cls,
        store: RunStore,
        run_id: str,
        protocol: Protocol,
        source: str,
        parameters: dict[str, Any],
        *,
        by: str,
        created: datetime,
    ) -> Recorder:
        """Record a new run (pending) and return its recorder."""
        store.create_run(
            RunRecord(
                id=run_id,
                protocol_name=protocol.name,
                protocol_source=source,
                protocol_snapshot=snapshot(protocol),
                parameters=jsonable(parameters),
                started_by=by,
                created=created,
            )
        )
        return cls(store.writer(run_id))

    @property
    def run_id(self) -> str:
        return self._writer.run_id

    @property
    def congested(self) -> bool:
        return len(self._backlog) > _CONGESTED

    @property
    def failure(self) -> str | None:
        return self._failure

    def write(self, event: Event) -> None:
        if self._failure is not None:
            return
        self._backlog.append(event)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(_HAND_OVER, self._hand_over)

    async def drain(self) -> None:
        self._hand_over()
        while self._backlog and self._failure is None:
            try:
                await self._writer.flush()
            except StoreError as error:
                self._failure = str(error)
                return
            self._hand_over()

    def _hand_over(self) -> None:
        """Give the writer what waits, as far as its backlog takes it.

        In batches rather than event by event: each hand-over wakes the writer's thread,
        which then competes with the event loop for the GIL, and thousands of wake-ups a
        second cost the loop far more than the writing itself.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        backlog = self._backlog
        while backlog and self._failure is None and self._put(backlog[0]):
            backlog.popleft()
        if backlog and self._failure is None:
            self._timer = asyncio.get_running_loop().call_later(_HAND_OVER, self._hand_over)

    async def finish(self, view: RunView) -> None:
        """Write what is left, then the final record; RecordIncomplete if it cannot."""
        await self.drain()
        if self._failure is None:
            try:
                steps = {path: _result(step) for path, step in view.steps.items()}
                self._writer.update(steps=steps)
            except StoreError as error:
                self._failure = str(error)
        try:
            await self._writer.close()
        except StoreError as error:
            self._failure = self._failure or str(error)
        if self._failure is not None:
            raise RecordIncomplete(self._failure)

    async def close(self) -> None:
        """Write what is left, without a final record: the run is not over."""
        await self.drain()
        try:
            await self._writer.close()
        except StoreError as error:
            self._failure = self._failure or str(error)
        if self._failure is not None:
            raise RecordIncomplete(self._failure)

    def _put(self, event: Event) -> bool:
        """Hand `event` to the writer; False when its backlog is full."""
        try:
            self._writer.write(event)
            if event.step == RUN and event.type is EventType.STATE:
                self._update(event)
        except BacklogFull:
            return False
        except StoreError as error:
            self._failure = str(error)
        return True

    def _update(self, event: Event) -> None:
        state = RunState(event.payload["state"])
        started = event.time if event.payload["previous"] == RunState.PENDING else None
        self._writer.update(
            status=state, started=started, ended=event.time if state.is_final else None
        )


def _result(step: StepView) -> StepResult:
    return StepResult(
        state=step.state,
        started=step.started,
        ended=step.ended,
        result=step.result,
        error=step.error,
        point=step.point,
    )


class RunLock:
    """Held by the process driving a run, so that another labrun sharing the data directory
    does not take the run for interrupted. The operating system releases it when that
    process dies, however it dies."""

    def __init__(self, directory: Path, run_id: str) -> None:
        self.path = directory / f"{run_id}.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            # The file stays: removing it could let two processes each lock a file of
            # that name, one of them already unlinked.
            os.close(self._fd)
            self._fd = None


def is_driven(directory: Path, run_id: str) -> bool:
    """Whether a live process holds the run's lock."""
    lock = RunLock(directory, run_id)
    if not lock.acquire():
        return True
    lock.release()
    return False
