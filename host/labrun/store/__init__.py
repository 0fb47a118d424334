"""The run store: every run and its events, in an embedded SQLite database."""

from labrun.store.database import DATABASE_NAME
from labrun.store.errors import (
    BacklogFull,
    StoreError,
    StoreTooNew,
    StoreUnreadable,
    UnknownRun,
    WriterFailed,
)
from labrun.store.record import OperatorAction, RunRecord, RunSummary, StepResult
from labrun.store.runs import RunStore
from labrun.store.writer import EventWriter

__all__ = [
    "DATABASE_NAME",
    "BacklogFull",
    "EventWriter",
    "OperatorAction",
    "RunRecord",
    "RunStore",
    "RunSummary",
    "StepResult",
    "StoreError",
    "StoreTooNew",
    "StoreUnreadable",
    "UnknownRun",
    "WriterFailed",
]
