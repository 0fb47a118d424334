"""Run-level requests (SEMANTICS.md "Requests and what they do"), one rule per test."""

import asyncio

import pytest

from labrun.event import EventType
from labrun.request import PauseMode, RequestKind
from labrun.run.state import RunRefused, RunState

TWO_WORKS = """
steps:
  - lab.work: {seconds: 10}
  - lab.work: {seconds: 10}
"""

PARALLEL = """
steps:
  - parallel:
      - lab.work: {seconds: 10}
      - lab.work: {seconds: 10, pausable: false}
  - lab.work: {seconds: 5}
"""


def requests(r):
    return [
        (e.step, e.payload["request"], e.payload.get("by"))
        for e in r.events
        if e.type is EventType.REQUEST
    ]


# Pause and resume.


async def test_an_immediate_pause_pauses_pausable_steps_at_once(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(4)
    r.run.pause(by="ann")
    await r.settle()
    assert r.run_states == ["running", "pausing", "paused"]
    assert r.states("0") == ["running", "pausing", "paused"]
    assert r.run.view.steps["0"].point == 4


async def test_a_paused_run_keeps_its_time_and_resumes_where_it_was(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(4)
    r.run.pause(by="ann")
    await r.advance_to(100)
    r.run.resume(by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0", "completed") == 106
    assert r.time_of("1", "completed") == 116
    assert r.run.view.paused_seconds == 96
    assert r.run.view.elapsed(r.clock.now()) == 20


async def test_the_run_is_pausing_until_every_branch_has_paused(rig):
    r = rig(PARALLEL)
    r.start()
    await r.advance_to(3)
    r.run.pause()
    await r.settle()
    assert r.run.state is RunState.PAUSING
    assert r.states("0.0")[-1] == "paused"
    assert r.states("0.1")[-1] == "pausing"
    await r.advance_to(10)
    assert r.states("0.1")[-1] == "completed"
    assert r.run.state is RunState.PAUSED


async def test_a_step_that_cannot_pause_ends_then_the_run_pauses_before_the_next(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 10, pausable: false}
  - lab.work: {seconds: 10}
""")
    r.start()
    await r.advance_to(2)
    r.run.pause()
    await r.advance_to(50)
    assert r.states("0") == ["running", "pausing", "completed"]
    assert r.time_of("0", "completed") == 10
    assert r.run_states == ["running", "pausing", "paused"]
    assert r.started() == ["0"]
    r.run.resume()
    await r.finish()
    assert r.time_of("1", "running") == 50


async def test_a_deferred_pause_interrupts_nothing(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(2)
    r.run.pause(PauseMode.DEFERRED)
    await r.advance_to(30)
    # lab.work waits in wait(), not at a checkpoint: it carries on to its end.
    assert r.time_of("0", "completed") == 10
    assert r.run.state is RunState.PAUSED
    assert r.started() == ["0"]
    pause = r.of("", EventType.REQUEST)[0].payload
    assert pause == {"request": "pause", "mode": "deferred"}


async def test_resume_while_running_is_refused_and_changes_nothing(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    before = len(r.events)
    with pytest.raises(RunRefused) as refused:
        r.run.resume(by="ann")
    assert refused.value.request is RequestKind.RESUME
    assert refused.value.state is RunState.RUNNING
    assert refused.value.allowed == (RunState.PAUSING, RunState.PAUSED)
    assert str(refused.value) == (
        "resume refused: the run is running; resume is allowed when it is pausing or paused"
    )
    assert len(r.events) == before


async def test_pause_when_completed_is_refused(rig):
    r = rig("steps:\n  - lab.echo: {value: 1}\n")
    await r.finish()
    with pytest.raises(RunRefused, match="the run is completed"):
        r.run.pause()


async def test_requests_record_who_made_them(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    r.run.pause(by="ann")
    await r.settle()
    r.run.resume(by="bob")
    await r.settle()
    assert requests(r) == [
        ("", "pause", "ann"),
        ("0", "pause", "ann"),
        ("", "resume", "bob"),
        ("0", "resume", "bob"),
    ]


# Halt and skip.


async def test_halting_the_run_halts_every_running_step(rig, cleanups):
    r = rig("""
steps:
  - parallel:
      - lab.hang: {}
      - lab.work: {seconds: 100}
  - lab.work: {seconds: 1}
""")
    r.start()
    await r.advance_to(5)
    r.run.halt(by="ann")
    assert await r.finish() is RunState.HALTED
    assert r.run_states == ["running", "halting", "halted"]
    assert r.states("0.0")[-1] == r.states("0.1")[-1] == r.states("0")[-1] == "halted"
    assert cleanups == ["0.0"]
    assert "1" not in r.run.view.steps


async def test_halting_a_paused_run_halts_it(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    r.run.pause()
    await r.settle()
    r.run.halt()
    assert await r.finish() is RunState.HALTED
    assert r.states("0")[-1] == "halted"


async def test_skipping_a_running_step_goes_on_with_the_next(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(3)
    r.run.skip("0", by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0") == ["running", "skipped"]
    assert r.time_of("1", "running") == 3


async def test_a_step_is_addressed_by_its_id_too(rig):
    r = rig("""
steps:
  - lab.work: {seconds: 10}
    id: soak
  - lab.work: {seconds: 10}
""")
    r.start()
    await r.advance_to(3)
    r.run.skip("soak")
    await r.settle()
    assert r.states("0") == ["running", "skipped"]


async def test_skipping_a_step_that_is_not_running_is_refused(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    with pytest.raises(RunRefused, match="step 1 is not running"):
        r.run.skip("1")
    with pytest.raises(RunRefused, match="no step 'nope'"):
        r.run.skip("nope")


async def test_skipping_a_paused_step_while_the_run_is_paused_holds_before_the_next(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    r.run.pause()
    await r.settle()
    r.run.skip("0")
    await r.advance_to(20)
    assert r.states("0")[-1] == "skipped"
    assert r.run.state is RunState.PAUSED
    assert r.started() == ["0"]


# Failures, retry and answers.

FAILS_ONCE = """
steps:
  - lab.flaky: {failures: 1}
  - lab.echo: {value: after}
"""


async def test_a_failed_step_puts_the_run_in_failed_until_the_operator_acts(rig):
    r = rig(FAILS_ONCE)
    r.start()
    await r.advance_to(60)
    assert r.run.state is RunState.FAILED
    assert r.run.view.steps["0"].error == "attempt 1 failed"
    assert r.started() == ["0"]


async def test_retry_reinvokes_a_failed_step_from_its_last_point(rig):
    r = rig(FAILS_ONCE)
    r.start()
    await r.settle()
    r.run.retry("0", by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.run_states == ["running", "failed", "running", "completed"]
    assert r.run.view.steps["0"].result == 2


async def test_skip_of_a_failed_step_keeps_its_error_and_goes_on(rig):
    r = rig(FAILS_ONCE)
    r.start()
    await r.settle()
    r.run.skip("0", by="ann")
    assert await r.finish() is RunState.COMPLETED
    step = r.run.view.steps["0"]
    assert (step.state, step.error) == ("skipped", "attempt 1 failed")


async def test_retry_of_a_step_that_did_not_fail_is_refused(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.advance_to(1)
    with pytest.raises(RunRefused) as refused:
        r.run.retry("0")
    assert refused.value.step == "0"
    assert refused.value.reason.startswith("step 0: the step is running; retry is allowed when")


async def test_retry_while_the_run_is_paused_is_refused(rig):
    r = rig("""
steps:
  - parallel:
      - lab.flaky: {failures: 1}
      - lab.work: {seconds: 10}
""")
    r.start()
    await r.advance_to(1)
    r.run.pause()
    await r.settle()
    assert r.run.state is RunState.PAUSED
    with pytest.raises(RunRefused, match="the run is paused"):
        r.run.retry("0.0")
    r.run.resume()
    await r.settle()
    assert r.run.state is RunState.FAILED


async def test_an_answer_goes_to_the_step_waiting_for_one(rig):
    r = rig("""
steps:
  - prompt.ask: {message: "Plate ID?"}
    id: plate
""")
    prompted = []
    r.run.on_prompt = prompted.append
    r.start()
    await r.settle()
    assert prompted == ["0"]
    assert r.run.waiting_for_answer() == ["0"]
    r.run.answer(None, "P-17", by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.run.view.steps["0"].result == "P-17"
    assert ("0", "answer", "ann") in requests(r)


async def test_an_answer_when_no_step_waits_is_refused(rig):
    r = rig(TWO_WORKS)
    r.start()
    await r.settle()
    with pytest.raises(RunRefused, match="no step waits for an answer"):
        r.run.answer(None, "yes")
    with pytest.raises(RunRefused, match="the step is not waiting for an answer"):
        r.run.answer("0", "yes")


async def test_failing_a_prompt_no_one_can_answer_fails_its_step(rig):
    r = rig("steps:\n  - prompt.ask: {message: Ready?}\n")
    r.run.on_prompt = lambda key: r.run.fail_step(key, "no one to answer")
    r.start()
    await r.settle()
    assert r.run.state is RunState.FAILED
    assert r.run.view.steps["0"].error == "no one to answer"


async def test_a_step_that_pauses_itself_pauses_the_run_until_it_is_resumed(rig):
    r = rig("""
steps:
  - parallel:
      - lab.pauses: {}
      - lab.work: {seconds: 10}
""")
    r.start()
    await r.advance_to(1)
    assert r.run.state is RunState.PAUSED
    assert r.states("0.1")[-1] == "paused"
    note = r.of("", EventType.DIAGNOSTIC)[0].payload
    assert note == {"level": "info", "message": "step 0.0 paused itself: the run pauses"}
    r.run.resume(by="ann")
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0.1", "completed") == 10.5


@pytest.mark.parametrize("trips", range(6))
async def test_a_resume_right_after_a_pause_never_leaves_a_step_paused_in_a_running_run(rig, trips):
    r = rig("steps:\n  - timer.wait: 10 s\n")
    r.start()
    await r.settle()
    r.run.pause()
    for _ in range(trips):
        await asyncio.sleep(0)
    r.run.resume()
    await r.settle()
    step = r.run.view.steps["0"].state
    assert (r.run.state, step) in {
        (RunState.RUNNING, "running"),
        # The step runner let a pause that was on its way out of the process win over the
        # resume: the run pauses with it, and a resume goes on.
        (RunState.PAUSED, "paused"),
    }
    if r.run.state is RunState.PAUSED:
        r.run.resume()
    assert await r.finish() is RunState.COMPLETED
