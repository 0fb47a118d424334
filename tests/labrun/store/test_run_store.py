"""RunStore queries: runs, steps, listing, events, operator actions, crash marking, pruning."""

from datetime import UTC, datetime, timedelta

import pytest

from labrun.event import EventType
from labrun.run.state import RunState
from labrun.state import StepState
from labrun.store import (
    OperatorAction,
    RunStore,
    StepResult,
    StoreError,
    UnknownRun,
)

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


async def add_events(store, run_id, events):
    async with store.writer(run_id) as writer:
        for event in events:
            writer.write(event)


def test_a_run_reads_back_as_it_was_created(store, make_record):
    record = make_record(
        status=RunState.COMPLETED,
        started=START + timedelta(seconds=1),
        ended=START + timedelta(hours=1),
        steps={"mix": StepResult(state=StepState.FAILED, error="pump stalled", point={"cycle": 3})},
    )
    store.create_run(record)
    assert store.get_run("run-1") == record


def test_run_ids_are_unique(store, make_record):
    store.create_run(make_record())
    with pytest.raises(StoreError, match="a run 'run-1' exists already"):
        store.create_run(make_record(protocol_name="other"))
    assert store.get_run("run-1").protocol_name == "pcr-setup"


def test_an_unknown_run_is_named(store, path):
    with pytest.raises(UnknownRun, match="no run 'nope'") as raised:
        store.get_run("nope")
    assert (raised.value.run_id, raised.value.path) == ("nope", path)
    with pytest.raises(UnknownRun):
        store.update_run("nope", status=RunState.RUNNING)


def test_updating_a_run_changes_only_what_is_given(store, make_record):
    store.create_run(make_record(steps={"mix": StepResult(state=StepState.RUNNING)}))
    store.update_run("run-1", status=RunState.RUNNING, started=START)
    store.update_run("run-1", steps={"heat": StepResult(state=StepState.PENDING)})
    store.update_run(
        "run-1",
        status=RunState.COMPLETED,
        ended=START + timedelta(minutes=5),
        steps={"mix": StepResult(state=StepState.COMPLETED, result={"ok": True})},
    )
    assert store.get_run("run-1") == make_record(
        status=RunState.COMPLETED,
        started=START,
        ended=START + timedelta(minutes=5),
        steps={
            "mix": StepResult(state=StepState.COMPLETED, result={"ok": True}),
            "heat": StepResult(state=StepState.PENDING),
        },
    )


async def test_runs_are_listed_latest_first_with_their_event_counts(store, make_record, make_event):
    for index, status in enumerate([RunState.COMPLETED, RunState.RUNNING, RunState.HALTED]):
        store.create_run(
            make_record(f"run-{index}", status=status, created=START + timedelta(hours=index))
        )
    await add_events(store, "run-1", [make_event(seq) for seq in range(1, 8)])
    runs = store.list_runs()
    assert [(run.id, run.status, run.event_count) for run in runs] == [
        ("run-2", RunState.HALTED, 0),
        ("run-1", RunState.RUNNING, 7),
        ("run-0", RunState.COMPLETED, 0),
    ]
    assert [run.id for run in store.list_runs(limit=2)] == ["run-2", "run-1"]
    assert [run.id for run in store.list_runs(status=RunState.COMPLETED)] == ["run-0"]


async def test_events_are_read_in_pages_after_a_seq_and_by_type(store, make_record, make_event):
    store.create_run(make_record())
    events = [
        make_event(seq, EventType.DIAGNOSTIC if seq % 7 == 0 else EventType.LOCATION)
        for seq in range(1, 2501)
    ]
    await add_events(store, "run-1", events)
    assert list(store.events("run-1")) == events
    assert list(store.events("run-1", after_seq=1234)) == events[1234:]
    assert list(store.events("run-1", type=EventType.DIAGNOSTIC)) == events[6::7]
    assert list(store.events("run-1", after_seq=2000, type=EventType.DIAGNOSTIC)) == [
        event for event in events[2000:] if event.seq % 7 == 0
    ]
    assert store.last_seq("run-1") == 2500
    assert list(store.events("other")) == []
    assert store.last_seq("other") == 0


async def test_operator_actions_say_who_asked_what_when(store, make_record, make_event):
    store.create_run(make_record())
    pause = make_event(2, EventType.REQUEST, request="pause", by="bob", mode="immediate")
    answer = make_event(4, EventType.REQUEST, request="answer", message="42")
    await add_events(
        store,
        "run-1",
        [make_event(1), pause, make_event(3, EventType.STATE, state="paused"), answer],
    )
    assert store.operator_actions("run-1") == [
        OperatorAction(
            seq=2,
            time=pause.time,
            by="bob",
            request="pause",
            step="mix",
            details={"mode": "immediate"},
        ),
        OperatorAction(
            seq=4,
            time=answer.time,
            by=None,
            request="answer",
            step="mix",
            details={"message": "42"},
        ),
    ]


def test_runs_left_active_by_a_dead_host_are_marked_interrupted(store, make_record):
    for index, status in enumerate(RunState):
        store.create_run(make_record(status, status=status, created=START + timedelta(index)))
    marked = store.mark_interrupted()
    assert marked == [status.value for status in RunState if status.is_active]
    assert {run.id: run.status for run in store.list_runs()} == {
        status.value: RunState.INTERRUPTED if status.is_active else status for status in RunState
    }
    assert store.mark_interrupted() == []


NOW = START + timedelta(days=100)


async def prunable_store(store, make_record, make_event):
    """Runs around a 30-day cutoff; the ids say which prune must take."""
    old, recent = NOW - timedelta(days=31), NOW - timedelta(days=29)
    ancient = START
    runs = [
        make_record("old-completed", status=RunState.COMPLETED, ended=old),
        make_record("old-halted", status=RunState.HALTED, started=ancient, ended=old),
        make_record("old-interrupted", status=RunState.INTERRUPTED, started=ancient),
        make_record("keep-recent-completed", status=RunState.COMPLETED, ended=recent),
        # Started long ago, but heard of recently: its age is its last event.
        make_record("keep-recently-interrupted", status=RunState.INTERRUPTED, started=ancient),
    ]
    runs += [
        make_record(f"keep-{status}", status=status, started=ancient)
        for status in RunState
        if status.is_active
    ]
    for record in runs:
        store.create_run(record)
    recent_event = make_event(1)._replace(time=recent)
    await add_events(store, "keep-recently-interrupted", [recent_event])
    await add_events(store, "old-completed", [make_event(seq) for seq in range(1, 4)])
    await add_events(store, "keep-running", [make_event(seq) for seq in range(1, 4)])


async def test_a_dry_run_prune_lists_and_removes_nothing(store, make_record, make_event):
    await prunable_store(store, make_record, make_event)
    before = [run.model_dump() for run in store.list_runs(limit=100)]
    listed = store.prune(timedelta(days=30), dry_run=True, now=NOW)
    assert [run.id for run in listed] == ["old-completed", "old-halted", "old-interrupted"]
    assert [run.model_dump() for run in store.list_runs(limit=100)] == before


async def test_prune_removes_old_finished_runs_and_their_events_only(
    store, path, make_record, make_event
):
    await prunable_store(store, make_record, make_event)
    removed = store.prune(timedelta(days=30), now=NOW)
    assert [(run.id, run.event_count) for run in removed] == [
        ("old-completed", 3),
        ("old-halted", 0),
        ("old-interrupted", 0),
    ]
    left = {run.id for run in store.list_runs(limit=100)}
    assert left == {
        "keep-recent-completed",
        "keep-recently-interrupted",
        *(f"keep-{status}" for status in RunState if status.is_active),
    }
    with pytest.raises(UnknownRun):
        store.get_run("old-completed")
    with RunStore.open(path, readonly=True) as reader:
        assert list(reader.events("old-completed")) == []
        assert [event.seq for event in reader.events("keep-running")] == [1, 2, 3]
    assert store.prune(timedelta(days=30), now=NOW) == []


async def test_an_active_run_is_never_pruned_however_old(store, make_record):
    for status in RunState:
        if status.is_active:
            store.create_run(make_record(status, status=status, ended=START))
    assert store.prune(timedelta(0), now=NOW) == []
    assert len(store.list_runs()) == sum(status.is_active for status in RunState)
