"""Opening the run store: migrations, and refusing, untouched, what it cannot use."""

import os
import sqlite3
from pathlib import Path

import pytest

from labrun.store import RunStore, StoreError, StoreTooNew, StoreUnreadable
from labrun.store.migrations import APPLICATION_ID, SCHEMA_VERSION


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    connection.close()
    return rows


def pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    value = connection.execute(f"PRAGMA {name}").fetchone()[0]
    connection.close()
    return value


@pytest.mark.parametrize("existing", [False, True], ids=["no file", "empty file"])
def test_a_new_store_is_built_by_every_migration(path, existing):
    if existing:
        path.write_bytes(b"")
    RunStore.open(path).close()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    assert pragma(path, "application_id") == APPLICATION_ID
    assert pragma(path, "journal_mode") == "wal"
    names = {name for name, _ in schema(path)}
    assert {"runs", "events", "events_requests", "events_diagnostics"} <= names


def test_reopening_a_current_store_changes_nothing(path, make_record):
    with RunStore.open(path) as store:
        store.create_run(make_record())
    before = snapshot(path), schema(path)
    RunStore.open(path).close()
    assert (snapshot(path), schema(path)) == before
    with RunStore.open(path) as store:
        assert store.get_run("run-1") == make_record()


def make_newer(path: Path) -> None:
    RunStore.open(path).close()
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.commit()
    connection.close()


def make_text(path: Path) -> None:
    path.write_text("steps:\n  - timer.wait: {duration: 10 min}\n" * 20)


def make_damaged(path: Path) -> None:
    RunStore.open(path).close()
    data = bytearray(path.read_bytes())
    data[16:18] = b"\x00\x03"  # the page size: not a power of two
    path.write_bytes(bytes(data))


def make_foreign(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
    connection.execute("INSERT INTO orders (item) VALUES ('pipette tips')")
    connection.commit()
    connection.close()


REFUSALS = {
    "newer": (make_newer, StoreTooNew, "upgrade labrun"),
    "text file": (make_text, StoreUnreadable, "not a labrun run store"),
    "damaged header": (make_damaged, StoreUnreadable, "damaged"),
    "another application's database": (make_foreign, StoreUnreadable, "not a labrun run store"),
}


@pytest.mark.parametrize("readonly", [False, True], ids=["writable", "read-only"])
@pytest.mark.parametrize(("make", "error", "words"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_store_it_cannot_use_is_refused_and_left_untouched(path, make, error, words, readonly):
    make(path)
    before = snapshot(path)
    beside = os.listdir(path.parent)
    with pytest.raises(error, match=words) as raised:
        RunStore.open(path, readonly=readonly)
    assert raised.value.path == path
    assert str(path) in str(raised.value)
    assert snapshot(path) == before
    if not readonly:
        # A read-only connection may leave an empty -wal and -shm beside a store in WAL
        # mode, as any SQLite reader does; a writable one cleans up when it closes.
        assert os.listdir(path.parent) == beside


def test_a_newer_store_says_which_versions(path):
    make_newer(path)
    with pytest.raises(StoreTooNew) as raised:
        RunStore.open(path)
    assert (raised.value.version, raised.value.supported) == (SCHEMA_VERSION + 1, SCHEMA_VERSION)


def test_reading_a_store_that_does_not_exist_creates_nothing(path):
    with pytest.raises(StoreError, match="no run store"):
        RunStore.open(path, readonly=True)
    assert os.listdir(path.parent) == []


def test_a_store_opened_read_only_refuses_writes(path, make_record):
    RunStore.open(path).close()
    before = snapshot(path)
    with RunStore.open(path, readonly=True) as store, pytest.raises(StoreError, match="read-only"):
        store.create_run(make_record())
    assert snapshot(path) == before
