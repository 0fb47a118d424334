"""jump(step): the branch holding the target halts its step and goes on at the target."""

import pytest

from labrun.event import EventType
from labrun.run.state import RunRefused, RunState

SEQUENCE = """
steps:
  - lab.work: {seconds: 10}
    id: a
  - lab.work: {seconds: 10}
    id: b
  - lab.work: {seconds: 10}
    id: c
"""


async def test_a_forward_jump_halts_the_current_step_and_starts_the_target(rig):
    r = rig(SEQUENCE)
    r.start()
    await r.advance_to(3)
    r.run.jump("c", by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0") == ["running", "halted"]
    assert "1" not in r.run.view.steps
    assert r.time_of("2", "running") == 3
    jump = r.of("", EventType.REQUEST)[0].payload
    assert jump == {"request": "jump", "to": "2", "by": "ann"}


async def test_a_backward_jump_runs_the_steps_again(rig):
    r = rig(SEQUENCE)
    r.start()
    await r.advance_to(15)
    r.run.jump("0")
    await r.finish()
    assert r.started() == ["0", "1", "0", "1", "2"]
    assert r.states("0") == ["running", "completed", "running", "completed"]
    assert r.time_of("2", "completed") == 45


async def test_a_jump_to_the_running_step_restarts_it(rig):
    r = rig(SEQUENCE)
    r.start()
    await r.advance_to(4)
    r.run.jump("a")
    await r.finish()
    assert r.states("0") == ["running", "halted", "running", "completed"]
    assert r.time_of("2", "completed") == 34


LOOP = """
steps:
  - repeat: 3
    id: loop
    steps:
      - lab.work: {seconds: 10}
        id: soak
      - lab.work: {seconds: 1}
        id: rinse
  - lab.echo: {value: end}
"""


async def test_a_jump_into_another_iteration_of_a_repeat(rig):
    r = rig(LOOP)
    r.start()
    await r.advance_to(5)
    r.run.jump("rinse@2")
    await r.finish()
    assert r.started() == ["0", "0.0@0", "0.1@2", "1"]
    locations = [e.payload["location"]["iteration"] for e in r.of("0", EventType.LOCATION)]
    assert locations == [0, 2]
    assert r.states("0") == ["running", "completed"]


async def test_a_jump_to_a_loop_with_an_iteration_starts_that_iteration(rig):
    r = rig(LOOP)
    r.start()
    await r.advance_to(5)
    r.run.jump("loop@1")
    await r.finish()
    assert r.started() == ["0", "0.0@0", "0.0@1", "0.1@1", "0.0@2", "0.1@2", "1"]


async def test_without_iterations_a_jump_stays_in_the_current_iteration(rig):
    r = rig(LOOP)
    r.start()
    await r.advance_to(12)  # iteration 1, soak
    r.run.jump("rinse")
    await r.settle()
    assert r.started()[-1] == "0.1@1"


async def test_a_jump_back_to_the_start_of_a_loop(rig):
    r = rig(LOOP)
    r.start()
    await r.advance_to(25)  # iteration 2
    r.run.jump("loop")
    await r.finish()
    keys = [k for k in r.started() if k.startswith("0.0@")]
    assert keys == ["0.0@0", "0.0@1", "0.0@2", "0.0@0", "0.0@1", "0.0@2"]
    assert r.states("0") == ["running", "completed"]


async def test_a_jump_out_of_a_loop_halts_the_loop(rig):
    r = rig(LOOP)
    r.start()
    await r.advance_to(5)
    r.run.jump("1")
    await r.finish()
    assert r.states("0") == ["running", "halted"]
    assert r.states("0.0@0") == ["running", "halted"]


PARALLEL = """
steps:
  - parallel:
      - steps:
          - lab.work: {seconds: 10}
            id: left1
          - lab.work: {seconds: 10}
            id: left2
      - steps:
          - lab.work: {seconds: 3}
            id: right1
          - lab.work: {seconds: 3}
            id: right2
    id: both
  - lab.echo: {value: end}
    id: end
"""


async def test_a_jump_in_one_branch_leaves_the_other_branches_alone(rig):
    r = rig(PARALLEL)
    r.start()
    await r.advance_to(2)
    r.run.jump("left2")
    await r.finish()
    assert r.states("0.0.0") == ["running", "halted"]
    assert r.time_of("0.0.1", "running") == 2
    assert r.time_of("0.1.0", "completed") == 3
    assert r.time_of("0.1.1", "completed") == 6
    assert r.time_of("1", "running") == 12


async def test_a_jump_into_a_branch_that_is_done_restarts_it(rig):
    r = rig(PARALLEL)
    r.start()
    await r.advance_to(8)  # the right branch is done
    assert r.states("0.1")[-1] == "completed"
    r.run.jump("right1")
    await r.finish()
    assert r.time_of("0.0.1", "completed") == 20
    assert r.states("0.1") == ["running", "completed", "running", "completed"]
    assert [r.at(e) for e in r.of("0.1.1", EventType.STATE)] == [3, 6, 11, 14]


async def test_a_jump_back_into_a_parallel_that_ended_reruns_only_the_target_branch(rig):
    r = rig("""
steps:
  - parallel:
      - lab.work: {seconds: 10}
        id: left
      - lab.work: {seconds: 3}
        id: right
  - lab.work: {seconds: 10}
    id: after
""")
    r.start()
    await r.advance_to(12)
    r.run.jump("right")
    await r.finish()
    assert r.started() == ["0", "0.0", "0.1", "1", "0", "0.1", "1"]
    assert r.time_of("1", "completed") == 25


async def test_a_jump_forward_into_a_parallel_starts_the_other_branches_from_the_beginning(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 10}
  - parallel:
      - steps:
          - lab.work: {seconds: 1}
          - lab.work: {seconds: 1}
            id: target
      - lab.work: {seconds: 5}
""")
    r.start()
    await r.advance_to(1)
    r.run.jump("target")
    await r.finish()
    assert r.started() == ["0", "1", "1.0", "1.0.1", "1.1"]
    assert "1.0.0" not in r.run.view.steps
    assert r.time_of("1.1", "completed") == 6


async def test_a_jump_while_paused_moves_the_branch_and_holds_it_there(rig):
    r = rig(SEQUENCE)
    r.start()
    await r.advance_to(3)
    r.run.pause()
    await r.settle()
    r.run.jump("c")
    await r.advance_to(50)
    assert r.run.state is RunState.PAUSED
    assert r.states("0")[-1] == "halted"
    assert "2" not in r.run.view.steps
    r.run.resume()
    await r.finish()
    assert r.time_of("2", "running") == 50


async def test_a_jump_past_a_failed_step_halts_it(rig):
    r = rig("""
steps:
  - lab.flaky: {failures: 5}
  - lab.echo: {value: ok}
""")
    r.start()
    await r.settle()
    assert r.run.state is RunState.FAILED
    r.run.jump("1")
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0")[-1] == "halted"


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("nope", "no step 'nope': give a step id, or a path such as 2.0"),
        ("soak@5", "iteration 5 of step 0 does not exist: it runs 3 times (counted from 0)"),
        ("soak@1.1", "step 0.0 is inside 1 repeat or sweep step, so it takes 1 iteration, not 2"),
        ("soak@x", "'soak@x': the iterations after @ are whole numbers, such as soak@2"),
    ],
)
async def test_a_jump_to_a_step_that_is_not_there_is_refused(rig, target, reason):
    r = rig(LOOP)
    r.start()
    await r.settle()
    before = len(r.events)
    with pytest.raises(RunRefused) as refused:
        r.run.jump(target)
    assert refused.value.reason == reason
    assert len(r.events) == before
