"""Resuming an interrupted run from the projection of the events stored before the crash."""

from datetime import timedelta

from labrun.event import Event, EventType
from labrun.run.projection import RunView
from labrun.run.state import RunState


def view_of(events: list[Event]) -> RunView:
    view = RunView()
    for event in events:
        view.apply(event)
    return view


async def crash_at(rig, text: str, seconds: float) -> list[Event]:
    """The events a run stored before its host died `seconds` into it."""
    first = rig(text)
    first.start()
    await first.advance_to(seconds)
    return first.events


async def resume(rig, text: str, events: list[Event], down: float = 60) -> object:
    restart = events[-1].time + timedelta(seconds=down)
    return rig(text, view=view_of(events), start=restart)


SEQUENCE = """
steps:
  - timer.wait: 10 s
  - timer.wait: 100 s
  - timer.wait: 10 s
"""


async def test_an_interrupted_step_is_reinvoked_from_its_last_point(rig):
    events = await crash_at(rig, SEQUENCE, 40)
    # timer.wait reports its point when it starts and when it pauses: make it report 30 s.
    point = Event(
        EventType.LOCATION,
        "1",
        events[-1].seq + 1,
        events[-1].time,
        {"location": {"elapsed": 30.0, "remaining": 70.0, "total": 100.0}, "point": 30.0},
    )
    r = await resume(rig, SEQUENCE, [*events, point])
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("1", "completed") == 70
    assert r.started() == ["1", "2"]


async def test_the_resumed_run_numbers_its_events_after_the_stored_ones(rig):
    events = await crash_at(rig, SEQUENCE, 40)
    r = await resume(rig, SEQUENCE, events)
    await r.finish()
    assert r.events[0].seq == events[-1].seq + 1
    first = r.events[0]
    assert (first.step, first.payload) == ("", {"state": "running", "previous": "interrupted"})


async def test_the_time_the_host_was_down_counts_as_paused(rig):
    events = await crash_at(rig, SEQUENCE, 40)
    r = await resume(rig, SEQUENCE, events, down=300)
    await r.finish()
    view = r.run.view
    assert view.paused_seconds == 300
    assert view.elapsed(r.clock.now()) == 120


async def test_a_resumed_run_replays_to_its_final_state(rig):
    events = await crash_at(rig, SEQUENCE, 40)
    r = await resume(rig, SEQUENCE, events)
    await r.finish()
    assert view_of([*events, *r.events]) == r.run.view


PARALLEL = """
steps:
  - repeat: 2
    steps:
      - parallel:
          - timer.wait: 10 s
          - steps:
              - timer.wait: 30 s
              - timer.wait: 30 s
      - timer.wait: 5 s
"""


async def test_branches_that_were_done_are_not_run_again(rig):
    events = await crash_at(rig, PARALLEL, 40)
    r = await resume(rig, PARALLEL, events)
    assert await r.finish() is RunState.COMPLETED
    assert r.started() == [
        "0.0.1.1@0",
        "0.1@0",
        "0.0@1",
        "0.0.0@1",
        "0.0.1@1",
        "0.0.1.0@1",
        "0.0.1.1@1",
        "0.1@1",
    ]


async def test_a_run_interrupted_between_steps_goes_on_with_the_next(rig):
    events = await crash_at(rig, SEQUENCE, 10)
    while events[-1].payload.get("state") != "completed":
        events.pop()
    r = await resume(rig, SEQUENCE, events)
    await r.finish()
    assert r.started() == ["1", "2"]


async def test_a_run_interrupted_while_halting_ends_halted(rig):
    first = rig(SEQUENCE)
    first.start()
    await first.advance_to(5)
    first.run.halt()
    events = [e for e in first.events if e.payload.get("state") != "halted"]
    r = await resume(rig, SEQUENCE, events)
    assert await r.finish() is RunState.HALTED
    assert r.run_states == ["halted"]
