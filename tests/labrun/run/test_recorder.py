"""Recording a run in the store: every event in order, the run's row kept current, one
final record; a store that falls behind slows the run down rather than losing events."""

import asyncio
from datetime import UTC, datetime

from labrun.clock import VirtualClock
from labrun.event import EventType
from labrun.run.engine import Run
from labrun.run.projection import RunView
from labrun.run.recorder import Recorder, RunLock, is_driven
from labrun.run.state import RunState
from labrun.store import RunStore


def record(store, protocol, run_id="r1"):
    return Recorder.create(
        store, run_id, protocol, "text", protocol.bind({}), by="ann", created=datetime.now(UTC)
    )


async def run_recorded(store, protocol, run_id="r1"):
    recorder = record(store, protocol, run_id)
    clock = VirtualClock()
    run = Run(protocol, protocol.bind({}), clock=clock, sinks=[recorder])
    final = await run.run()
    await recorder.finish(run.view)
    return run, final


async def test_every_event_and_the_final_record_are_stored(tmp_path, compiled):
    protocol = compiled("name: p\nsteps:\n  - timer.wait: 1 h\n  - timer.wait: 1 h\n")
    with RunStore.open(tmp_path / "runs.sqlite3") as store:
        run, final = await run_recorded(store, protocol)
        stored = store.get_run("r1")
        events = list(store.events("r1"))
    assert final is RunState.COMPLETED
    assert stored.status is RunState.COMPLETED
    assert (stored.started, stored.ended) == (run.view.started, run.view.ended)
    assert {path: step.state for path, step in stored.steps.items()} == {
        "0": "completed",
        "1": "completed",
    }
    view = RunView()
    for event in events:
        view.apply(event)
    assert view == run.view
    assert stored.protocol_snapshot["steps"][0] == {
        "path": "0",
        "kind": "process",
        "estimate": 3600.0,
        "process": "timer.wait",
        "arguments": "{duration: 1 h}",
        "on_error": {"action": "pause", "times": 0, "backoff": 0.0},
    }


async def test_a_store_that_falls_behind_holds_the_run_back_and_loses_nothing(tmp_path, compiled):
    protocol = compiled("name: p\nsteps:\n  - repeat: 300\n    steps:\n      - lab.echo: {}\n")
    with RunStore.open(tmp_path / "runs.sqlite3", max_pending=10) as store:
        run, final = await run_recorded(store, protocol)
        events = list(store.events("r1"))
    assert final is RunState.COMPLETED
    assert [e.seq for e in events] == list(range(1, run.view.last_seq + 1))


class FailingSink:
    """A sink that fails after a number of events, as a full disk would."""

    congested = False

    def __init__(self, after: int) -> None:
        self.after = after
        self.failure = None

    def write(self, event) -> None:
        self.after -= 1
        if self.after <= 0:
            self.failure = "disk full"

    async def drain(self) -> None:
        return None


async def test_a_run_that_cannot_be_recorded_any_more_halts(rig):
    r = rig(
        "steps:\n  - repeat: 10\n    steps:\n      - lab.work: {seconds: 1}\n",
        sinks=[FailingSink(after=8)],
    )
    assert await r.finish() is RunState.HALTED
    diagnostic = r.of("", EventType.DIAGNOSTIC)[0].payload
    assert diagnostic == {
        "level": "error",
        "message": "the run cannot be recorded any more, so it halts: disk full",
    }
    assert r.run_states[-2:] == ["halting", "halted"]


def test_a_run_driven_by_a_live_process_is_not_marked_interrupted(tmp_path, compiled):
    protocol = compiled("name: p\nsteps:\n  - timer.wait: 1 h\n")
    locks = tmp_path / "locks"
    with RunStore.open(tmp_path / "runs.sqlite3") as store:

        async def start(run_id):
            recorder = record(store, protocol, run_id)
            run = Run(protocol, {}, clock=VirtualClock(), sinks=[recorder])
            task = asyncio.create_task(run.run())
            await asyncio.sleep(0)
            await recorder.drain()
            run.journal.sinks = ()
            await recorder.close()
            task.cancel()

        async def both():
            await start("alive")
            await start("dead")

        asyncio.run(both())
        lock = RunLock(locks, "alive")
        assert lock.acquire()
        try:
            assert is_driven(locks, "alive")
            assert not is_driven(locks, "dead")
            marked = store.mark_interrupted(alive=lambda run_id: is_driven(locks, run_id))
            assert marked == ["dead"]
            assert store.get_run("alive").status is RunState.RUNNING
        finally:
            lock.release()
        assert not is_driven(locks, "alive")
