"""The run store's SQLite connection: opening it safely, its pragmas and its migrations.

Durability. The journal is a write-ahead log (WAL) with `synchronous=NORMAL`: a commit
appends its pages to the `-wal` file with write(2) and returns without fsync. Once write(2)
returns, the data is in the operating system's page cache, which belongs to the kernel,
not to the process, so a process that dies at any instant, kill -9 included, loses nothing
it has committed: the next open replays the log up to the last complete commit (each frame
is checksummed, so a commit cut short is ignored, never half-applied). What NORMAL gives up
against FULL is only a power cut or a kernel crash, which can lose the last commits before
the next checkpoint (checkpoints do fsync) but still never corrupts the database. That
trade buys commits cheap enough to make every batch of events durable within milliseconds.

Opening never changes a file that is not a labrun run store of a version this labrun
knows: the checks only read, and the journal mode and migrations come after them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic_core import to_json

from labrun.store.errors import StoreError, StoreTooNew, StoreUnreadable
from labrun.store.migrations import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

DATABASE_NAME = "runs.sqlite3"

# Writes wait this long for another connection's transaction (another labrun pruning, say)
# before failing; transactions here last milliseconds.
_BUSY_TIMEOUT_SECONDS = 10.0
_UNREADABLE = frozenset({"SQLITE_NOTADB", "SQLITE_CORRUPT"})


def timestamp(moment: datetime) -> str:
    """The stored form of a time: ISO 8601 in UTC with microseconds, which sorts as text."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: stored times must be absolute")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def json_text(value: Any) -> str:
    """The stored form of a JSON value; NaN and infinities become null, as in Event.to_json."""
    return to_json(value, inf_nan_mode="null").decode()


class Database:
    """One SQLite connection, shared between threads one at a time."""

    def __init__(self, path: Path, connection: sqlite3.Connection, *, readonly: bool) -> None:
        self.path = path
        self.readonly = readonly
        self._connection = connection
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, *, readonly: bool = False) -> Database:
        """Open, creating and migrating the store unless `readonly`; refuse what is not ours."""
        if readonly and not path.is_file():
            raise StoreError(path, f"no run store at {path}: no run has been recorded there")
        mode = "ro" if readonly else "rwc"
        with _translated(path):
            connection = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode={mode}",
                uri=True,
                timeout=_BUSY_TIMEOUT_SECONDS,
                # Transactions are begun and ended explicitly, never implicitly.
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                version = _check(path, connection, readonly=readonly)
                if not readonly:
                    connection.execute("PRAGMA journal_mode = WAL")
                    connection.execute("PRAGMA synchronous = NORMAL")
                    connection.execute("PRAGMA foreign_keys = ON")
                    if version < SCHEMA_VERSION:
                        _migrate(path, connection)
            except BaseException:
                connection.close()
                raise
        return cls(path, connection, readonly=readonly)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _translated(self.path):
            yield self._connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed when the block ends and rolled back if it raises."""
        if self.readonly:
            raise StoreError(self.path, f"the run store {self.path} was opened read-only")
        with self._lock, _translated(self.path), _transaction(self._connection):
            yield self._connection

    def close(self) -> None:
        with self._lock:
            self._connection.close()


def _check(path: Path, connection: sqlite3.Connection, *, readonly: bool) -> int:
    """The schema version of a store this labrun can use; raises for anything else."""
    application_id = _pragma(connection, "application_id")
    version = _pragma(connection, "user_version")
    if application_id != APPLICATION_ID:
        tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if application_id or version or tables:
            raise StoreUnreadable(
                path,
                f"{path} is an SQLite database, but not a labrun run store: "
                "it was left as it is; use another data directory",
            )
    if version > SCHEMA_VERSION:
        raise StoreTooNew(path, version, SCHEMA_VERSION)
    if readonly and version < SCHEMA_VERSION:
        raise StoreError(
            path,
            f"{path} has run store schema version {version}, older than this labrun's "
            f"{SCHEMA_VERSION}: it is upgraded the next time labrun writes to it",
        )
    return version


def _migrate(path: Path, connection: sqlite3.Connection) -> None:
    with _transaction(connection):
        # Read again under the write lock: another process may have migrated meanwhile.
        version = _pragma(connection, "user_version")
        if version > SCHEMA_VERSION:
            raise StoreTooNew(path, version, SCHEMA_VERSION)
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _pragma(connection: sqlite3.Connection, name: str) -> int:
    value: int = connection.execute(f"PRAGMA {name}").fetchone()[0]
    return value


@contextmanager
def _transaction(connection: sqlite3.Connection) -> Iterator[None]:
    # IMMEDIATE takes the write lock at once, so a busy database is waited for here, before
    # any statement ran, rather than failing half-way.
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (a full disk); then there is no
        # transaction left to roll back.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise


@contextmanager
def _translated(path: Path) -> Iterator[None]:
    """SQLite's errors as store errors that say which file and what to do."""
    try:
        yield
    except sqlite3.DatabaseError as error:
        if error.sqlite_errorname in _UNREADABLE:
            raise StoreUnreadable(
                path,
                f"{path} is not a labrun run store, or it is damaged ({error}): it was left "
                "as it is; move it aside, or use another data directory",
            ) from error
        if isinstance(error, sqlite3.OperationalError):
            raise StoreError(path, f"cannot use the run store {path}: {error}") from error
        raise
