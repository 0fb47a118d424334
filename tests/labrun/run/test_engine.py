"""Walking a protocol: sequences, parallel branches, repeats, sweeps, and how a run ends."""

import asyncio

import pytest

from labrun.event import EventType
from labrun.run.cursor import Tree
from labrun.run.state import RunState


async def test_a_sequence_runs_its_steps_in_order(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 10}
  - lab.work: {seconds: 5}
  - lab.echo: {value: done}
""")
    assert await r.finish() is RunState.COMPLETED
    assert r.started() == ["0", "1", "2"]
    assert [r.time_of(step, "completed") for step in ("0", "1", "2")] == [10, 15, 15]
    assert r.run.view.steps["2"].result == "done"


async def test_the_run_goes_pending_running_completed(rig):
    r = rig("steps:\n  - lab.work: {seconds: 1}\n")
    assert r.run.state is RunState.PENDING
    await r.finish()
    assert r.run_states == ["running", "completed"]
    assert r.run.view.started == r.start_time
    assert r.at(r.of("", EventType.STATE)[-1]) == 1


async def test_parallel_branches_run_at_the_same_time(rig):
    r = rig("""
steps:
  - parallel:
      - lab.work: {seconds: 10}
      - steps:
          - lab.work: {seconds: 3}
          - lab.work: {seconds: 4}
  - lab.work: {seconds: 1}
""")
    await r.finish()
    assert r.time_of("0.0", "running") == r.time_of("0.1.0", "running") == 0
    assert r.time_of("0.1.1", "completed") == 7
    assert r.time_of("0", "completed") == 10
    assert r.time_of("1", "running") == 10
    assert r.states("0.1") == ["running", "completed"]


async def test_each_repeat_iteration_has_its_own_key_and_location(rig):
    r = rig(
        """
parameters:
  cycles: {type: int, default: 3}
steps:
  - repeat: ${cycles}
    steps:
      - lab.work: {seconds: 2}
      - lab.echo: {value: x}
""",
        {"cycles": 2},
    )
    await r.finish()
    assert r.started() == ["0", "0.0@0", "0.1@0", "0.0@1", "0.1@1"]
    locations = [e.payload["location"] for e in r.of("0", EventType.LOCATION)]
    assert locations == [{"iteration": 0, "count": 2}, {"iteration": 1, "count": 2}]
    assert r.run.view.steps["0.0"].key == "0.0@1"


async def test_a_sweep_binds_its_variable_in_each_iteration(rig):
    r = rig("""
steps:
  - sweep: temp
    values: [20 degC, 30 degC]
    steps:
      - lab.echo: {value: "at ${temp}"}
""")
    await r.finish()
    results = [
        e.payload["result"]
        for e in r.events
        if e.step.startswith("0.0@")
        and e.type is EventType.STATE
        and e.payload["state"] == "completed"
    ]
    assert results == ["at 20 degC", "at 30 degC"]
    locations = [e.payload["location"] for e in r.of("0", EventType.LOCATION)]
    assert locations[1] == {"iteration": 1, "count": 2, "variable": "temp", "value": "30 degC"}


async def test_nested_loops_key_every_enclosing_iteration(rig):
    r = rig("""
steps:
  - repeat: 2
    steps:
      - sweep: v
        values: [1, 2, 3]
        steps:
          - lab.echo: {value: "${v}"}
""")
    await r.finish()
    echoes = [k for k in r.started() if k.startswith("0.0.0")]
    assert echoes == [f"0.0.0@{i}.{j}" for i in range(2) for j in range(3)]


async def test_a_repeat_of_zero_runs_nothing(rig):
    r = rig("""
steps:
  - repeat: 0
    steps:
      - lab.work: {seconds: 1}
  - lab.echo: {value: after}
""")
    assert await r.finish() is RunState.COMPLETED
    assert r.started() == ["1"]


async def test_arguments_the_process_refuses_at_run_time_fail_the_step(rig):
    r = rig(
        """
parameters:
  d: {type: str, default: 1 s}
steps:
  - timer.wait: ${d}
""",
        {"d": "soon"},
    )
    r.start()
    await r.settle()
    assert r.run.state is RunState.FAILED
    assert r.run.view.steps["0"].error.startswith("invalid arguments: duration: ")


async def test_exactly_one_final_state_event_when_the_run_completes(rig):
    r = rig("steps:\n  - lab.echo: {value: 1}\n")
    await r.finish()
    finals = [e for e in r.of("", EventType.STATE) if RunState(e.payload["state"]).is_final]
    assert len(finals) == 1


async def test_a_halt_before_the_start_ends_the_run_halted(rig):
    r = rig("steps:\n  - lab.work: {seconds: 1}\n")
    r.run.halt(by="ann")
    assert r.run.state is RunState.HALTED
    assert await r.finish() is RunState.HALTED
    assert r.run_states == ["halted"]
    assert r.started() == []


async def test_an_engine_bug_still_ends_the_run_halted_with_a_diagnostic(rig, monkeypatch):
    r = rig("steps:\n  - lab.work: {seconds: 1}\n  - lab.work: {seconds: 1}\n")

    def broken(self, position, scope):
        raise RuntimeError("boom")

    monkeypatch.setattr(Tree, "after", broken)
    assert await r.finish() is RunState.HALTED
    assert r.run_states == ["running", "halting", "halted"]
    diagnostics = r.of("", EventType.DIAGNOSTIC)
    assert diagnostics[0].payload["message"] == "internal error in the run engine: boom"
    assert "Traceback" in diagnostics[0].payload["details"]["traceback"]


async def test_cancelling_run_halts_the_run_then_propagates(rig, cleanups):
    r = rig("steps:\n  - lab.hang: {}\n")
    task = r.start()
    await r.settle()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert r.run.state is RunState.HALTED
    assert r.states("0") == ["running", "halted"]
    assert r.run_states[-1] == "halted"
    assert cleanups == ["0"]


async def test_a_process_that_never_awaits_still_lets_the_loop_run(rig):
    r = rig("""
steps:
  - repeat: 1000
    steps:
      - lab.echo: {value: 1}
""")
    task = r.start()
    ticks = 0

    async def count():
        nonlocal ticks
        while not task.done():
            ticks += 1
            await asyncio.sleep(0)

    await asyncio.gather(task, count())
    assert ticks > 10
