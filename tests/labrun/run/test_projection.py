"""The run's state is a projection of its events: replaying them rebuilds it exactly."""

from datetime import timedelta

from labrun.event import Event, EventType
from labrun.run.projection import Pause, RunView
from labrun.run.state import RunState
from labrun.state import StepState

SCENARIO = """
parameters:
  cycles: {type: int, default: 3}
steps:
  - lab.work: {seconds: 10}
    id: warm
  - repeat: ${cycles}
    id: cycle
    steps:
      - parallel:
          - lab.work: {seconds: 5}
            id: heat
          - steps:
              - lab.flaky: {failures: 1}
                id: probe
                on_error: {retry: 1, backoff: 1 s}
              - prompt.ask: {message: "Sample ${cycles}?"}
                id: ask
      - sweep: v
        values: [1, 2]
        steps:
          - lab.echo: {value: "${v}"}
  - lab.work: {seconds: 10}
    id: cool
"""


def replay(events: list[Event]) -> RunView:
    view = RunView()
    for event in events:
        view.apply(event)
    return view


async def drive_scenario(r):
    r.run.on_prompt = lambda key: r.run.answer(key, f"S-{key}", by="bob")
    r.start()
    await r.advance_to(4)
    r.run.pause(by="ann")
    await r.advance_to(30)
    r.run.resume(by="ann")
    await r.advance_to(45)
    r.run.jump("cycle@2", by="ann")
    return await r.finish()


async def test_replaying_the_events_rebuilds_exactly_the_final_state(rig):
    r = rig(SCENARIO)
    assert await drive_scenario(r) is RunState.COMPLETED
    events = r.events
    asked = {e.payload["request"] for e in events if e.type is EventType.REQUEST}
    assert asked == {"pause", "resume", "jump", "retry", "answer"}
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert replay(events) == r.run.view


async def test_replaying_events_read_back_from_json_rebuilds_the_same_state(rig):
    r = rig(SCENARIO)
    await drive_scenario(r)
    events = [Event.from_json(e.to_json()) for e in r.events]
    assert replay(events) == r.run.view


async def test_every_prefix_of_the_events_is_the_state_at_that_moment(rig):
    r = rig("steps:\n  - lab.work: {seconds: 10}\n  - lab.work: {seconds: 10}\n")
    r.start()
    await r.advance_to(5)
    live = replay(r.events)
    assert live == r.run.view
    assert live.state is RunState.RUNNING
    assert live.steps["0"].state is StepState.RUNNING
    await r.finish()


async def test_the_state_carries_absolute_times_for_clocks(rig):
    r = rig("steps:\n  - lab.work: {seconds: 10}\n  - lab.work: {seconds: 10}\n")
    r.start()
    await r.advance_to(4)
    r.run.pause()
    await r.advance_to(10)
    view = r.run.view
    at = r.start_time
    assert view.started == at
    assert view.pauses == [Pause(at + timedelta(seconds=4))]
    assert view.elapsed(r.clock.now()) == 4
    step = view.steps["0"]
    assert step.started == at
    assert step.paused_since == at + timedelta(seconds=4)
    assert step.running_seconds(r.clock.now()) == 4
    r.run.resume()
    await r.advance_to(12)
    assert view.pauses == [Pause(at + timedelta(seconds=4), at + timedelta(seconds=10))]
    assert view.paused_seconds == 6
    assert view.elapsed(r.clock.now()) == 6
    await r.finish()


async def test_the_latest_duration_report_is_in_the_state(rig):
    r = rig("steps:\n  - lab.work: {seconds: 10}\n")
    r.start()
    await r.settle()
    step = r.run.view.steps["0"]
    assert (step.remaining, step.estimated_at) == (10, r.start_time)
    await r.finish()


async def test_the_state_is_bounded_by_the_tree_not_by_the_run(rig):
    r = rig("""
steps:
  - repeat: 500
    steps:
      - lab.echo: {value: 1}
      - lab.echo: {value: 2}
""")
    await r.finish()
    assert sorted(r.run.view.steps) == ["0", "0.0", "0.1"]
    assert r.run.view.steps["0.1"].key == "0.1@499"
