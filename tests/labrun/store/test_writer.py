"""The event writer: batched commits off the loop, flush, order, bounds and failures."""

import sqlite3

import pytest

from labrun.event import EventType
from labrun.run.state import RunState
from labrun.state import StepState
from labrun.store import (
    BacklogFull,
    RunStore,
    StepResult,
    StoreError,
    WriterFailed,
)
from labrun.store.database import Database


@pytest.fixture
def run(store, make_record):
    store.create_run(make_record())
    return "run-1"


def stored(path, run_id="run-1"):
    with RunStore.open(path, readonly=True) as reader:
        return list(reader.events(run_id))


async def test_flush_commits_every_event_written_in_order(store, path, run, make_event):
    kinds = list(EventType)
    events = [
        make_event(seq, kinds[seq % len(kinds)], n=seq, nested={"a": [seq]})
        for seq in range(1, 501)
    ]
    writer = store.writer(run)
    for event in events:
        writer.write(event)
    await writer.flush()
    assert stored(path) == events


async def test_events_queued_during_a_commit_are_committed_together(
    store, path, run, make_event, locked, monkeypatch
):
    writer = store.writer(run)
    transactions = []
    original = Database.transaction

    def counting(self):
        transactions.append(self)
        return original(self)

    monkeypatch.setattr(Database, "transaction", counting)
    # While another process holds the write lock, the writer can take at most one batch
    # and wait; everything written meanwhile must form the next batch, not 999 more.
    with locked(path):
        for seq in range(1, 1001):
            writer.write(make_event(seq))
    await writer.flush()
    assert len(transactions) <= 2
    assert [event.seq for event in stored(path)] == list(range(1, 1001))


async def test_write_returns_at_once_and_the_backlog_is_bounded(
    path, make_record, make_event, locked
):
    with RunStore.open(path, max_pending=10) as store:
        store.create_run(make_record())
        writer = store.writer("run-1")
        with locked(path):
            for seq in range(1, 11):
                writer.write(make_event(seq))  # the database is locked: this must not wait
            with pytest.raises(BacklogFull, match="10 events are waiting") as raised:
                writer.write(make_event(11))
            assert raised.value.path == path
            assert writer.last_seq == 10
        await writer.flush()
        writer.write(make_event(11))
        await writer.close()
    assert [event.seq for event in stored(path)] == list(range(1, 12))


async def test_events_out_of_order_or_repeated_are_refused(store, path, run, make_event):
    writer = store.writer(run)
    writer.write(make_event(1))
    writer.write(make_event(2))
    with pytest.raises(ValueError, match="2 of run 'run-1' came when 3 was due"):
        writer.write(make_event(2))
    with pytest.raises(ValueError, match="4 of run 'run-1' came when 3 was due"):
        writer.write(make_event(4))
    writer.write(make_event(3))
    await writer.close()
    assert [event.seq for event in stored(path)] == [1, 2, 3]


async def test_events_are_neither_lost_nor_duplicated_across_close_and_reopen(
    path, make_record, make_event
):
    with RunStore.open(path) as store:
        store.create_run(make_record())
        async with store.writer("run-1") as writer:
            for seq in range(1, 101):
                writer.write(make_event(seq))
    with RunStore.open(path) as store:
        writer = store.writer("run-1")
        assert writer.last_seq == 100
        for seq in range(101, 151):
            writer.write(make_event(seq))
        # No flush: closing the store commits what was written.
    with RunStore.open(path) as store:
        writer = store.writer("run-1")
        assert writer.last_seq == 150
        with pytest.raises(ValueError, match="100 of run 'run-1' came when 151 was due"):
            writer.write(make_event(100))
        await writer.close()
    assert [event.seq for event in stored(path)] == list(range(1, 151))


async def test_one_run_has_one_writer_at_a_time(store, run, make_event):
    writer = store.writer(run)
    with pytest.raises(StoreError, match="already has an open event writer"):
        store.writer(run)
    writer.write(make_event(1))
    await writer.close()
    with pytest.raises(StoreError, match="is closed"):
        writer.write(make_event(2))
    assert store.writer(run).last_seq == 1


async def test_run_updates_are_committed_with_the_events_before_them(store, run, make_event):
    started = make_event(1).time
    writer = store.writer(run)
    writer.update(
        status=RunState.RUNNING,
        started=started,
        steps={"mix": StepResult(state=StepState.RUNNING, started=started)},
    )
    writer.write(make_event(1))
    writer.update(steps={"heat": StepResult(state=StepState.PENDING)})
    writer.update(
        steps={
            "mix": StepResult(
                state=StepState.COMPLETED, started=started, ended=started, result=[1, 2], point=7
            )
        }
    )
    await writer.flush()
    record = store.get_run(run)
    assert record.status is RunState.RUNNING
    assert record.started == started
    assert record.steps == {
        "mix": StepResult(
            state=StepState.COMPLETED, started=started, ended=started, result=[1, 2], point=7
        ),
        "heat": StepResult(state=StepState.PENDING),
    }
    assert store.last_seq(run) == 1


async def test_a_writer_that_cannot_write_says_so_on_flush_and_on_every_write(
    store, path, run, make_event
):
    writer = store.writer(run)
    connection = sqlite3.connect(path)
    connection.execute("DROP TABLE events")
    connection.commit()
    connection.close()
    writer.write(make_event(1))
    with pytest.raises(WriterFailed, match="no such table: events") as raised:
        await writer.flush()
    assert raised.value.path == path
    with pytest.raises(WriterFailed):
        writer.write(make_event(2))
    with pytest.raises(WriterFailed):
        await writer.flush()
