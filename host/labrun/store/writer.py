"""Writing events off the event loop.

A store has one writer thread with its own connection. The loop side only encodes an event
and puts it on a queue, a few microseconds. The thread takes everything queued, commits it
as one transaction and comes back for more, so events that arrive during a commit form the
next batch: nothing waits for a timer, an event is committed at most one commit after the
one in progress, and under load the batches grow rather than the delay. A batch holds at
most `_BATCH_LIMIT` rows, so that one commit stays short (milliseconds) however deep the
queue, and events keep being committed within 50 ms of their write while the disk keeps
up with them.

Memory is bounded: at most `max_pending` events wait uncommitted. Past that, `write` raises
`BacklogFull` and does not take the event. Blocking the producer would block the event
loop, and an unbounded queue would only turn a stalled disk into an out-of-memory kill that
loses every queued event; an error tells the engine at once, and loses nothing silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, TypeAlias

from labrun.event import Event
from labrun.run.state import RunState
from labrun.store.database import Database, json_text, timestamp
from labrun.store.errors import BacklogFull, StoreError, WriterFailed
from labrun.store.record import StepResult

_BATCH_LIMIT = 1_000
_INSERT = "INSERT INTO events (run_id, seq, type, step, time, payload) VALUES (?, ?, ?, ?, ?, ?)"

_Row: TypeAlias = tuple[str, int, str, str, str, str]


class RunUpdate(NamedTuple):
    """Changes to a run's row, encoded for storage; None leaves a column as it is."""

    run_id: str
    status: str | None
    started: str | None
    ended: str | None
    # Step path -> its result as JSON, replacing that step's entry.
    steps: dict[str, Any] | None

    @classmethod
    def encode(
        cls,
        run_id: str,
        *,
        status: RunState | None,
        started: datetime | None,
        ended: datetime | None,
        steps: Mapping[str, StepResult] | None,
    ) -> RunUpdate:
        return cls(
            run_id,
            None if status is None else status.value,
            None if started is None else timestamp(started),
            None if ended is None else timestamp(ended),
            None if steps is None else {p: r.model_dump(mode="json") for p, r in steps.items()},
        )


def apply_update(connection: sqlite3.Connection, update: RunUpdate) -> bool:
    """Apply `update` in the current transaction; False if the run does not exist."""
    row = connection.execute("SELECT steps FROM runs WHERE id = ?", (update.run_id,)).fetchone()
    if row is None:
        return False
    values: dict[str, str] = {
        column: value
        for column, value in (
            ("status", update.status),
            ("started", update.started),
            ("ended", update.ended),
        )
        if value is not None
    }
    if update.steps:
        values["steps"] = json_text(json.loads(row[0]) | update.steps)
    if values:
        assignments = ", ".join(f"{column} = ?" for column in values)
        connection.execute(
            f"UPDATE runs SET {assignments} WHERE id = ?", (*values.values(), update.run_id)
        )
    return True


class _Barrier(NamedTuple):
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


# None stops the thread.
_Op: TypeAlias = _Row | RunUpdate | _Barrier | None


class WriterThread:
    """The thread that commits queued events and run updates of one store, in order."""

    def __init__(self, database: Database, max_pending: int) -> None:
        self._db = database
        self._max_pending = max_pending
        self._queue: queue.SimpleQueue[_Op] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0
        self._failure: BaseException | None = None
        self._stopped = False
        # A daemon, so that a host that forgets to close its store can still exit; what
        # it had not committed is then lost exactly as in a crash, and no more.
        self._thread = threading.Thread(target=self._run, name="labrun-store-writer", daemon=True)
        self._thread.start()

    @property
    def path(self) -> Path:
        return self._db.path

    def put_row(self, row: _Row) -> None:
        with self._lock:
            self._check_usable()
            if self._pending >= self._max_pending:
                raise BacklogFull(
                    self.path,
                    f"{self._pending} events are waiting to be written to {self.path}: the "
                    "disk is too slow or stalled. The event was not taken; flush, then write "
                    "it again",
                )
            self._pending += 1
            self._queue.put(row)

    def put_update(self, update: RunUpdate) -> None:
        with self._lock:
            self._check_usable()
            self._queue.put(update)

    def barrier(self) -> asyncio.Future[None]:
        """A future set once everything queued before it is committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            self._check_usable()
            self._queue.put(_Barrier(loop, future))
        return future

    def stop(self) -> None:
        """Commit everything queued, then end the thread and close its connection."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._queue.put(None)
        self._thread.join()
        self._db.close()

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise self._failed()
        if self._stopped:
            raise StoreError(self.path, f"the run store {self.path} is closed")

    def _failed(self) -> WriterFailed:
        # A new exception each time: one instance raised in many places would pile up
        # their tracebacks.
        failure = self._failure
        # SQLite's own words, without the path a StoreError would repeat.
        reason = failure.__cause__ if isinstance(failure, StoreError) else failure
        error = WriterFailed(self.path, f"events could not be written to {self.path}: {reason}")
        error.__cause__ = failure
        return error

    def _run(self) -> None:
        while True:
            ops = self._take()
            rows: list[_Row] = []
            updates: list[RunUpdate] = []
            for op in ops:
                if isinstance(op, RunUpdate):
                    updates.append(op)
                elif op is not None and not isinstance(op, _Barrier):
                    rows.append(op)
            if self._failure is None and (rows or updates):
                try:
                    with self._db.transaction() as connection:
                        connection.executemany(_INSERT, rows)
                        for update in updates:
                            apply_update(connection, update)
                # Whatever went wrong must reach the writers, or their flushes would wait
                # forever on a dead thread.
                except Exception as error:  # noqa: BLE001
                    with self._lock:
                        self._failure = error
            with self._lock:
                self._pending -= len(rows)
            failed = None if self._failure is None else self._failed
            for op in ops:
                if isinstance(op, _Barrier):
                    _settle(op, failed)
            if ops[-1] is None:
                return

    def _take(self) -> list[_Op]:
        ops = [self._queue.get()]
        while ops[-1] is not None and len(ops) < _BATCH_LIMIT:
            try:
                ops.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return ops


def _settle(barrier: _Barrier, failed: Callable[[], WriterFailed] | None) -> None:
    def resolve() -> None:
        if barrier.future.done():  # the flush was cancelled
            return
        if failed is None:
            barrier.future.set_result(None)
        else:
            barrier.future.set_exception(failed())

    # The loop may have closed meanwhile; then no one waits for this flush any more.
    with contextlib.suppress(RuntimeError):
        barrier.loop.call_soon_threadsafe(resolve)


class EventWriter:
    """Appends one run's events to the store without ever blocking the event loop.

    Events must come in sequence order, each once, starting after the run's last stored
    event (`last_seq`): anything else raises ValueError, so that a gap or a duplicate shows
    up where it is made. `write` and `update` return at once; `flush` waits until all of it
    is committed. Close the writer (or use it as an async context manager) when the run ends.
    """

    def __init__(
        self, thread: WriterThread, run_id: str, last_seq: int, release: Callable[[str], None]
    ) -> None:
        self.run_id = run_id
        self._thread = thread
        self._last_seq = last_seq
        self._release = release
        self._closed = False

    @property
    def last_seq(self) -> int:
        """The sequence number of the last event taken."""
        return self._last_seq

    def write(self, event: Event) -> None:
        """Queue `event`; raises BacklogFull (event not taken) or WriterFailed."""
        self._check_open()
        due = self._last_seq + 1
        if event.seq != due:
            raise ValueError(
                f"event {event.seq} of run {self.run_id!r} came when {due} was due: "
                "events must be written once each, in sequence order"
            )
        row = (
            self.run_id,
            event.seq,
            event.type.value,
            event.step,
            timestamp(event.time),
            json_text(event.payload),
        )
        self._thread.put_row(row)
        self._last_seq = event.seq

    def update(
        self,
        *,
        status: RunState | None = None,
        started: datetime | None = None,
        ended: datetime | None = None,
        steps: Mapping[str, StepResult] | None = None,
    ) -> None:
        """Queue changes to the run's row, committed with the events written before them.

        `steps` replaces the entries of the steps it names and keeps the others.
        """
        self._check_open()
        self._thread.put_update(
            RunUpdate.encode(self.run_id, status=status, started=started, ended=ended, steps=steps)
        )

    async def flush(self) -> None:
        """Wait until everything written so far is committed; raises WriterFailed if not."""
        await self._thread.barrier()

    async def close(self) -> None:
        """Flush, then refuse further writes."""
        if self._closed:
            return
        self._closed = True
        try:
            await self.flush()
        finally:
            # Only now may another writer for this run read where the events end.
            self._release(self.run_id)

    async def __aenter__(self) -> EventWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(
                self._thread.path, f"the event writer of run {self.run_id!r} is closed"
            )
