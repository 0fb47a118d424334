"""The run store: runs and their events in SQLite, for the engine, the server and the CLI.

Reads and the occasional run-level write (creating a run, marking, pruning) go through one
connection shared under a lock; they take milliseconds, and the engine calls them at run
boundaries or from a thread. Events, and run updates made while a run goes, go through an
`EventWriter`, which never blocks the event loop.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from labrun.event import Event, EventType
from labrun.run.state import RunState
from labrun.store.database import Database, json_text, timestamp
from labrun.store.errors import StoreError, UnknownRun
from labrun.store.record import OperatorAction, RunRecord, RunSummary, StepResult
from labrun.store.writer import EventWriter, RunUpdate, WriterThread, apply_update

_RUN_COLUMNS = (
    "id",
    "protocol_name",
    "protocol_source",
    "protocol_snapshot",
    "parameters",
    "started_by",
    "status",
    "created",
    "started",
    "ended",
    "steps",
)
_JSON_COLUMNS = ("protocol_snapshot", "parameters", "steps")
_SUMMARY_FIELDS = tuple(RunSummary.model_fields)
# Sequence numbers run from 1 without gaps (the writer takes nothing else), so the last one
# is the count, found in the primary key without counting.
_SUMMARY = """
    SELECT id, protocol_name, started_by, status, created, started, ended,
        COALESCE((SELECT max(seq) FROM events WHERE run_id = runs.id), 0)
    FROM runs
"""
# A run's age for retention: when it ended, or else when it was last heard of.
_LAST_ACTIVITY = """
    COALESCE(
        ended,
        (SELECT time FROM events WHERE run_id = runs.id ORDER BY seq DESC LIMIT 1),
        started,
        created
    )
"""
_PAGE = 1_000
_ACTIVE = tuple(status.value for status in RunState if status.is_active)
_INACTIVE = tuple(status.value for status in RunState if not status.is_active)


class RunStore:
    """Runs and their events. Open with `RunStore.open(path)`; close when done."""

    def __init__(self, database: Database, *, max_pending: int) -> None:
        self._db = database
        self._max_pending = max_pending
        self._thread: WriterThread | None = None
        self._writers: set[str] = set()

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False, max_pending: int = 100_000) -> RunStore:
        """Open the store at `path` (created and migrated unless `readonly`).

        `max_pending` bounds the events waiting to be committed, over all writers.
        """
        return cls(Database.open(path, readonly=readonly), max_pending=max_pending)

    @property
    def path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        """Commit every event written so far, then close. Blocks: not from the event loop."""
        if self._thread is not None:
            self._thread.stop()
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Runs.

    def create_run(self, record: RunRecord) -> None:
        values = record.model_dump(mode="json")
        for column in ("created", "started", "ended"):
            moment = getattr(record, column)
            values[column] = None if moment is None else timestamp(moment)
        for column in _JSON_COLUMNS:
            values[column] = json_text(values[column])
        placeholders = ", ".join("?" for _ in _RUN_COLUMNS)
        try:
            with self._db.transaction() as connection:
                connection.execute(
                    f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({placeholders})",
                    [values[column] for column in _RUN_COLUMNS],
                )
        except sqlite3.IntegrityError:
            raise StoreError(self.path, f"a run {record.id!r} exists already") from None

    def update_run(
        self,
        run_id: str,
        *,
        status: RunState | None = None,
        started: datetime | None = None,
        ended: datetime | None = None,
        steps: Mapping[str, StepResult] | None = None,
    ) -> None:
        """Change a run's row now; while its events flow, prefer `EventWriter.update`.

        `steps` replaces the entries of the steps it names and keeps the others.
        """
        update = RunUpdate.encode(run_id, status=status, started=started, ended=ended, steps=steps)
        with self._db.transaction() as connection:
            if not apply_update(connection, update):
                raise UnknownRun(self.path, run_id)

    def get_run(self, run_id: str) -> RunRecord:
        with self._db.reading() as connection:
            row = connection.execute(
                f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        if row is None:
            raise UnknownRun(self.path, run_id)
        values = dict(zip(_RUN_COLUMNS, row, strict=True))
        for column in _JSON_COLUMNS:
            values[column] = json.loads(values[column])
        return RunRecord.model_validate(values)

    def list_runs(self, *, status: RunState | None = None, limit: int = 50) -> list[RunSummary]:
        """The latest runs first."""
        where, parameters = ("", ()) if status is None else ("WHERE status = ?", (status.value,))
        with self._db.reading() as connection:
            rows = connection.execute(
                f"{_SUMMARY} {where} ORDER BY created DESC, id LIMIT ?", (*parameters, limit)
            ).fetchall()
        return [_summary(row) for row in rows]

    def mark_interrupted(self, alive: Callable[[str], bool] | None = None) -> list[str]:
        """Mark every run still active as interrupted, and return their ids (oldest first).

        For a host starting after a crash, before it starts any run: a run still active
        in the store then is one whose host died, unless `alive(run_id)` says that another
        host process is driving it (several may share a data directory); those are left.
        """
        marks = ", ".join("?" for _ in _ACTIVE)
        with self._db.transaction() as connection:
            ids = [
                row[0]
                for row in connection.execute(
                    f"SELECT id FROM runs WHERE status IN ({marks}) ORDER BY created, id", _ACTIVE
                )
                if alive is None or not alive(row[0])
            ]
            connection.executemany(
                "UPDATE runs SET status = ? WHERE id = ?",
                [(RunState.INTERRUPTED.value, run_id) for run_id in ids],
            )
        return ids

    def prune(
        self, older_than: timedelta, *, dry_run: bool = False, now: datetime | None = None
    ) -> list[RunSummary]:
        """Delete the runs over (completed, halted, interrupted) longer ago than `older_than`,
        with their events, and return them; with `dry_run` only return them.

        A run is as old as its end, or for an interrupted run its last event. Active runs
        are never deleted, however old.
        """
        if older_than < timedelta(0):
            raise ValueError(f"older_than must not be negative, not {older_than}")
        cutoff = timestamp((now or datetime.now(UTC)) - older_than)
        marks = ", ".join("?" for _ in _INACTIVE)
        query = (
            f"{_SUMMARY} WHERE status IN ({marks}) AND {_LAST_ACTIVITY} < ? ORDER BY created, id"
        )
        access = self._db.reading() if dry_run else self._db.transaction()
        with access as connection:
            rows = connection.execute(query, (*_INACTIVE, cutoff)).fetchall()
            if not dry_run:
                # Events go with their run: ON DELETE CASCADE.
                connection.executemany("DELETE FROM runs WHERE id = ?", [(r[0],) for r in rows])
        return [_summary(row) for row in rows]

    # Events.

    def writer(self, run_id: str) -> EventWriter:
        """The writer that appends the run's events after its last stored one."""
        if run_id in self._writers:
            raise StoreError(self.path, f"run {run_id!r} already has an open event writer")
        with self._db.reading() as connection:
            if connection.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
                raise UnknownRun(self.path, run_id)
        last_seq = self.last_seq(run_id)
        if self._thread is None:
            self._thread = WriterThread(Database.open(self.path), self._max_pending)
        self._writers.add(run_id)
        return EventWriter(self._thread, run_id, last_seq, self._writers.discard)

    def last_seq(self, run_id: str) -> int:
        """The sequence number of the run's last stored event; 0 if it has none."""
        with self._db.reading() as connection:
            value: int = connection.execute(
                "SELECT COALESCE(max(seq), 0) FROM events WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
        return value

    def events(
        self, run_id: str, *, after_seq: int = 0, type: EventType | None = None
    ) -> Iterator[Event]:
        """The run's stored events after `after_seq`, in order, optionally of one type.

        Read a page at a time, so a long run is not loaded at once and writes go on between.
        """
        where = "run_id = ? AND seq > ?" + ("" if type is None else " AND type = ?")
        query = f"SELECT type, step, seq, time, payload FROM events WHERE {where} ORDER BY seq"
        while True:
            parameters: tuple[Any, ...] = (run_id, after_seq)
            if type is not None:
                parameters += (type.value,)
            with self._db.reading() as connection:
                rows = connection.execute(f"{query} LIMIT {_PAGE}", parameters).fetchall()
            for kind, step, seq, time, payload in rows:
                yield Event(
                    EventType(kind), step, seq, datetime.fromisoformat(time), json.loads(payload)
                )
            if len(rows) < _PAGE:
                return
            after_seq = rows[-1][2]

    def operator_actions(self, run_id: str) -> list[OperatorAction]:
        """Who asked what of the run and when: its request events, in order."""
        actions = []
        for event in self.events(run_id, type=EventType.REQUEST):
            details = dict(event.payload)
            actions.append(
                OperatorAction(
                    seq=event.seq,
                    time=event.time,
                    by=details.pop("by", None),
                    request=details.pop("request", ""),
                    step=event.step,
                    details=details,
                )
            )
        return actions


def _summary(row: tuple[Any, ...]) -> RunSummary:
    return RunSummary.model_validate(dict(zip(_SUMMARY_FIELDS, row, strict=True)))
