"""Runs and events to store, and a way to hold the database's write lock from outside."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from labrun.event import Event, EventType
from labrun.run.state import RunState
from labrun.store import RunRecord, RunStore

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


def _record(run_id: str = "run-1", **changes: Any) -> RunRecord:
    values: dict[str, Any] = {
        "id": run_id,
        "protocol_name": "pcr-setup",
        "protocol_source": "name: pcr-setup\nsteps: []\n",
        "protocol_snapshot": {"name": "pcr-setup", "steps": [{"id": "mix"}]},
        "parameters": {"cycles": 30, "volume": {"magnitude": 5, "units": "milliliter"}},
        "started_by": "alice",
        "status": RunState.PENDING,
        "created": START,
    }
    return RunRecord(**(values | changes))


def _event(seq: int, type: EventType = EventType.LOCATION, **payload: Any) -> Event:
    return Event(
        type=type,
        step="mix",
        seq=seq,
        time=START + timedelta(milliseconds=seq),
        payload=payload or {"location": {"cycle": seq}, "point": seq},
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite3"


@pytest.fixture
def store(path: Path) -> Iterator[RunStore]:
    with RunStore.open(path) as store:
        yield store


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the database's write lock from another connection, as another process would."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


@pytest.fixture
def make_record() -> Callable[..., RunRecord]:
    return _record


@pytest.fixture
def make_event() -> Callable[..., Event]:
    return _event


@pytest.fixture
def locked() -> Callable[[Path], Any]:
    return _locked
