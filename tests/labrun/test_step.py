"""The process-level rules of SEMANTICS.md, one test per rule, on the virtual clock.

Times in the assertions are virtual seconds since the start of the step: they say when a
request took effect, which is what most rules are about (interrupted at once, or only at
the next checkpoint, or never).
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from labrun import (
    ControlRequest,
    JumpRequest,
    PauseMode,
    ProcessContext,
    Remaining,
    RequestKind,
    RequestRefused,
    StepState,
    SwapRequest,
)
from labrun.event import EventType
from labrun.quantity import parse_quantity
from labrun.request import ALLOWED_STATES
from labrun.testing import ProcessRun, Script, run_process

RUNNING = StepState.RUNNING
PAUSING = StepState.PAUSING
PAUSED = StepState.PAUSED
FAILED = StepState.FAILED
COMPLETED = StepState.COMPLETED
HALTED = StepState.HALTED
SKIPPED = StepState.SKIPPED


class Phases(BaseModel):
    phases: int = 3
    seconds: float = 10.0


class NoArgs(BaseModel):
    pass


def at(run: ProcessRun, state: StepState) -> float:
    """Virtual seconds at which the step first entered `state`."""
    for event in run.of_type(EventType.STATE):
        if event.payload["state"] == state:
            return (event.time - run.started).total_seconds()
    raise AssertionError(f"the step never was {state}: {run.states}")


def restarts(run: ProcessRun) -> list[dict[str, Any]]:
    return [event.payload for event in run.of_type(EventType.RESTART)]


def waiting(log: list[Any]) -> Any:
    """Pausable phases of `seconds` each in `wait()`; the point is the phase; requests propagate."""

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = True
        log.append(("start", context.point, data.seconds))
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            try:
                await context.wait(context.sleep(data.seconds))
            except ControlRequest as request:
                log.append((type(request).__name__, phase))
                raise
        return "done"

    return process


def checkpointed(log: list[Any], *, pausable: bool = True) -> Any:
    """Phases of uninterruptible sleep, each followed by a checkpoint."""

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = pausable
        log.append(("start", context.point))
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            await context.sleep(data.seconds)
            await context.checkpoint()
            log.append(("passed", phase, context.clock.monotonic()))
        return "done"

    return process


# Pause


async def test_immediate_pause_raises_pause_request_in_wait():
    log: list[Any] = []
    run = await run_process(
        waiting(log), {"phases": 4}, script=Script().at(25).pause().at(100).halt()
    )
    assert ("PauseRequest", 2) in log
    # Phase 2 would have ended at 30: the wait was cut short at the request.
    assert at(run, PAUSED) == 25


async def test_propagated_pause_request_pauses_and_resume_restarts_from_last_point():
    log: list[Any] = []
    run = await run_process(
        waiting(log), {"phases": 4}, script=Script().at(25).pause().at(100).resume()
    )
    assert run.state is COMPLETED
    assert run.states == [RUNNING, PAUSING, PAUSED, RUNNING, COMPLETED]
    assert run.error is None
    assert log == [("start", None, 10.0), ("PauseRequest", 2), ("start", 2, 10.0)]
    assert restarts(run) == [
        {"reason": "resume", "point": 2, "data": {"phases": 4, "seconds": 10.0}}
    ]
    # Phase 2 starts over at the resume and phase 3 follows.
    assert run.elapsed == 100 + 2 * 10


async def test_immediate_pause_blocks_at_next_checkpoint():
    log: list[Any] = []
    run = await run_process(
        checkpointed(log), {"phases": 3}, script=Script().at(15).pause().at(50).resume()
    )
    assert run.state is COMPLETED
    assert at(run, PAUSING) == 15
    assert at(run, PAUSED) == 20
    # The checkpoint returned at the resume, in the same invocation.
    assert log == [("start", None), ("passed", 0, 10), ("passed", 1, 50), ("passed", 2, 60)]
    assert restarts(run) == []


async def test_deferred_pause_does_not_interrupt_wait_and_blocks_at_next_checkpoint():
    log: list[Any] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        context.pausable = True
        try:
            await context.wait(context.sleep(30))
        except ControlRequest as request:
            log.append(type(request).__name__)
            raise
        log.append(("checkpoint", context.clock.monotonic()))
        await context.checkpoint()
        log.append(("passed", context.clock.monotonic()))
        return "done"

    run = await run_process(
        process, {}, script=Script().at(10).pause(PauseMode.DEFERRED).at(40).resume()
    )
    assert run.state is COMPLETED
    assert log == [("checkpoint", 30), ("passed", 40)]
    assert at(run, PAUSING) == 10
    assert at(run, PAUSED) == 30


async def test_deferred_pause_without_checkpoint_is_pending_at_step_boundary(rig):
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        context.pausable = True
        await context.wait(context.sleep(30))
        return "done"

    r = rig(process, {})
    r.start()
    await r.advance_to(10)
    r.runner.pause(PauseMode.DEFERRED)
    outcome = await r.finish()
    assert outcome.state is COMPLETED
    assert outcome.pause_pending is True
    assert r.states == [RUNNING, PAUSING, COMPLETED]
    assert r.state_time(COMPLETED) == 30


async def test_pause_of_non_pausable_process_never_interrupts_it(rig):
    log: list[Any] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        try:
            await context.wait(context.sleep(20))
            await context.checkpoint()
            await context.wait(context.sleep(20))
        except ControlRequest as request:
            log.append(type(request).__name__)
            raise
        return "done"

    r = rig(process, {})
    r.start()
    await r.advance_to(10)
    r.runner.pause()
    outcome = await r.finish()
    assert log == []
    assert outcome == (COMPLETED, "done", None, True)
    assert r.states == [RUNNING, PAUSING, COMPLETED]
    assert r.state_time(COMPLETED) == 40


async def test_process_turning_pausable_takes_the_pending_pause_at_its_checkpoint():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        await context.wait(context.sleep(20))
        context.pausable = True
        await context.checkpoint()
        await context.wait(context.sleep(20))
        return "done"

    run = await run_process(process, {}, script=Script().at(10).pause().at(30).resume())
    assert run.states == [RUNNING, PAUSING, PAUSED, RUNNING, COMPLETED]
    assert at(run, PAUSED) == 20
    assert run.elapsed == 50


async def test_process_turning_pausable_during_wait_gets_the_pending_pause():
    log: list[Any] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        async def become_pausable() -> None:
            await context.sleep(20)
            context.pausable = True

        helper = asyncio.create_task(become_pausable())
        try:
            await context.wait(context.sleep(60))
        except ControlRequest as request:
            log.append((type(request).__name__, context.clock.monotonic()))
            raise
        finally:
            await helper
        return "done"

    run = await run_process(process, {}, script=Script().at(10).pause().at(100).halt())
    # Taken as soon as the process could take it, not at the end of its wait.
    assert log == [("PauseRequest", 20)]
    assert at(run, PAUSED) == 20


# Resume


async def test_resume_from_paused_at_checkpoint_returns_from_that_checkpoint():
    log: list[Any] = []
    run = await run_process(
        checkpointed(log), {"phases": 2}, script=Script().at(15).pause().at(27).resume()
    )
    assert run.states == [RUNNING, PAUSING, PAUSED, RUNNING, COMPLETED]
    # Same invocation, no restart: the checkpoint simply returned at the resume.
    assert log == [("start", None), ("passed", 0, 10), ("passed", 1, 27)]
    assert restarts(run) == []


async def test_resume_while_pausing_cancels_the_pause(rig):
    log: list[Any] = []
    r = rig(checkpointed(log), {"phases": 2})
    r.start()
    await r.advance_to(5)
    r.runner.pause()
    await r.advance_to(8)
    r.runner.resume()
    outcome = await r.finish()
    # The checkpoint at 10 no longer blocks, and no pause is left for the step boundary.
    assert log == [("start", None), ("passed", 0, 10), ("passed", 1, 20)]
    assert outcome.state is COMPLETED
    assert outcome.pause_pending is False
    assert r.states == [RUNNING, PAUSING, RUNNING, COMPLETED]


async def test_resume_of_non_pausable_process_while_pausing_leaves_no_pending_pause(rig):
    r = rig(checkpointed([], pausable=False), {"phases": 2})
    r.start()
    await r.advance_to(5)
    r.runner.pause()
    await r.advance_to(15)
    r.runner.resume()
    outcome = await r.finish()
    assert outcome.pause_pending is False
    assert r.states == [RUNNING, PAUSING, RUNNING, COMPLETED]


# Halt and skip


def cleaning(log: list[Any]) -> Any:
    """Checkpointed phases whose `finally` takes a second of virtual time to clean up."""

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = True
        try:
            for _ in range(data.phases):
                await context.sleep(data.seconds)
                await context.checkpoint()
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            await context.sleep(1)
            log.append(("cleaned", context.clock.monotonic()))
        return "done"

    return process


async def test_halt_while_running_cancels_and_runs_finally():
    log: list[Any] = []
    run = await run_process(cleaning(log), {}, script=Script().at(15).halt())
    assert run.state is HALTED
    assert log == ["cancelled", ("cleaned", 16)]
    assert run.states == [RUNNING, HALTED]
    # The step is halted once its cleanup is done, not when the request came.
    assert at(run, HALTED) == 16
    assert run.result is None


async def test_halt_while_paused_at_checkpoint_runs_finally():
    log: list[Any] = []
    run = await run_process(cleaning(log), {}, script=Script().at(15).pause().at(25).halt())
    assert run.state is HALTED
    assert log == ["cancelled", ("cleaned", 26)]
    assert run.states == [RUNNING, PAUSING, PAUSED, HALTED]


async def test_halt_while_paused_after_propagated_pause():
    log: list[Any] = []
    run = await run_process(waiting(log), {}, script=Script().at(15).pause().at(20).halt())
    assert run.state is HALTED
    assert run.states == [RUNNING, PAUSING, PAUSED, HALTED]
    assert at(run, HALTED) == 20
    assert log == [("start", None, 10.0), ("PauseRequest", 1)]


async def test_halt_while_failed():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(5)
        raise RuntimeError("clogged tip")

    run = await run_process(process, {}, script=Script().at(65).halt())
    assert run.state is HALTED
    assert run.states == [RUNNING, FAILED, HALTED]
    assert at(run, HALTED) == 65


async def test_halt_while_pending_never_invokes_the_process(rig):
    log: list[Any] = []
    r = rig(waiting(log), {})
    r.runner.halt()
    assert r.runner.state is HALTED
    outcome = await r.runner.run()
    assert outcome.state is HALTED
    assert log == []
    assert r.states == [HALTED]
    assert r.of_type(EventType.STATE)[0].payload["previous"] == "pending"


async def test_skip_while_running_runs_finally_and_ends_skipped():
    log: list[Any] = []
    run = await run_process(cleaning(log), {}, script=Script().at(15).skip())
    assert run.state is SKIPPED
    assert log == ["cancelled", ("cleaned", 16)]
    assert run.states == [RUNNING, SKIPPED]


async def test_skip_while_pending(rig):
    r = rig(waiting([]), {})
    r.runner.skip()
    assert (await r.runner.run()).state is SKIPPED


@pytest.mark.parametrize("request_kind", [RequestKind.HALT, RequestKind.SKIP])
@pytest.mark.parametrize("state", [StepState.PENDING, RUNNING, PAUSING, PAUSED, FAILED])
async def test_halt_and_skip_are_accepted_in_every_unfinished_state(rig, request_kind, state):
    r = rig(bench, reach_args(state))
    await reach(r, state)
    getattr(r.runner, request_kind.value)()
    if r.task is not None:
        await r.finish()
    final = HALTED if request_kind is RequestKind.HALT else SKIPPED
    assert r.runner.state is final
    assert r.states[-2:] == [state, final] or r.states == [final]


# Jump and swap


async def test_jump_handled_by_the_process_continues_without_restart():
    log: list[Any] = []

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = True
        phase = context.point or 0
        while phase < data.phases:
            context.send_location({"phase": phase}, point=phase)
            try:
                await context.wait(context.sleep(data.seconds))
            except JumpRequest as request:
                log.append(("jump", request.point, context.clock.monotonic()))
                phase = request.point
                continue
            phase += 1
        return "done"

    run = await run_process(process, {"phases": 5}, script=Script().at(5).jump(3))
    assert run.state is COMPLETED
    assert log == [("jump", 3, 5)]
    assert run.points == [0, 3, 4]
    assert restarts(run) == []
    assert run.elapsed == 5 + 2 * 10


async def test_jump_propagated_restarts_the_process_at_the_point():
    log: list[Any] = []
    run = await run_process(waiting(log), {"phases": 4}, script=Script().at(15).jump(3))
    assert run.state is COMPLETED
    assert log == [("start", None, 10.0), ("JumpRequest", 1), ("start", 3, 10.0)]
    assert restarts(run) == [{"reason": "jump", "point": 3, "data": {"phases": 4, "seconds": 10.0}}]
    assert run.points == [0, 1, 3]
    # A restart is not a state change.
    assert run.states == [RUNNING, COMPLETED]
    assert run.elapsed == 25


async def test_swap_handled_by_the_process_continues_with_new_data():
    log: list[Any] = []

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = True
        phase = 0
        while phase < data.phases:
            try:
                await context.wait(context.sleep(data.seconds))
            except SwapRequest as request:
                log.append(("swap", request.data, context.clock.monotonic()))
                data = request.data
                continue
            phase += 1
        return "done"

    run = await run_process(
        process, {"phases": 2}, script=Script().at(5).swap({"phases": 2, "seconds": 20})
    )
    assert run.state is COMPLETED
    assert log == [("swap", Phases(phases=2, seconds=20), 5)]
    assert restarts(run) == []
    assert run.elapsed == 5 + 2 * 20


async def test_swap_propagated_restarts_with_new_data_at_last_point():
    log: list[Any] = []
    run = await run_process(
        waiting(log), {"phases": 4}, script=Script().at(15).swap({"phases": 4, "seconds": 20})
    )
    assert run.state is COMPLETED
    assert log == [("start", None, 10.0), ("SwapRequest", 1), ("start", 1, 20.0)]
    assert restarts(run) == [{"reason": "swap", "point": 1, "data": {"phases": 4, "seconds": 20.0}}]
    requests = [e.payload for e in run.of_type(EventType.REQUEST)]
    assert requests == [{"request": "swap", "data": {"phases": 4, "seconds": 20.0}}]
    assert run.elapsed == 15 + 3 * 20


async def test_swap_with_invalid_data_is_refused_naming_the_field(rig):
    log: list[Any] = []
    r = rig(waiting(log), {"phases": 2})
    r.start()
    await r.advance_to(5)
    before = (r.runner.state, r.bus.last_seq, r.runner.data)
    with pytest.raises(RequestRefused) as refused:
        r.runner.swap({"phases": 2, "seconds": "a while"})
    assert refused.value.request is RequestKind.SWAP
    assert refused.value.state is RUNNING
    assert "seconds" in refused.value.reason
    assert "seconds" in str(refused.value)
    assert (r.runner.state, r.bus.last_seq, r.runner.data) == before
    await r.finish()
    assert log == [("start", None, 10.0)]
    assert r.now == 20


async def test_jump_while_paused_at_checkpoint_is_delivered_on_resume():
    log: list[Any] = []
    run = await run_process(
        checkpointed(log),
        {"phases": 5},
        script=Script().at(15).pause().at(30).jump(3).at(40).resume(),
    )
    assert run.state is COMPLETED
    # Kept while paused: the checkpoint raises it once resumed, and the process restarts.
    assert restarts(run) == [{"reason": "jump", "point": 3, "data": {"phases": 5, "seconds": 10.0}}]
    restart = run.of_type(EventType.RESTART)[0]
    assert (restart.time - run.started).total_seconds() == 40
    assert log == [
        ("start", None),
        ("passed", 0, 10),
        ("start", 3),
        ("passed", 3, 50),
        ("passed", 4, 60),
    ]


async def test_swap_while_paused_after_propagated_pause_is_delivered_on_resume():
    log: list[Any] = []
    run = await run_process(
        waiting(log),
        {"phases": 4},
        script=Script().at(15).pause().at(20).swap({"phases": 4, "seconds": 5}).at(30).resume(),
    )
    assert run.state is COMPLETED
    # Nothing happens while paused; on resume the process restarts where it was and gets
    # the SwapRequest, which it lets propagate.
    assert log == [
        ("start", None, 10.0),
        ("PauseRequest", 1),
        ("start", 1, 10.0),
        ("SwapRequest", 1),
        ("start", 1, 5.0),
    ]
    assert restarts(run) == [
        {"reason": "resume", "point": 1, "data": {"phases": 4, "seconds": 10.0}},
        {"reason": "swap", "point": 1, "data": {"phases": 4, "seconds": 5.0}},
    ]
    assert [
        (event.time - run.started).total_seconds() for event in run.of_type(EventType.RESTART)
    ] == [30, 30]
    assert run.elapsed == 30 + 3 * 5


async def test_jump_while_paused_after_propagated_pause_is_delivered_on_resume():
    log: list[Any] = []
    run = await run_process(
        waiting(log),
        {"phases": 4},
        script=Script().at(15).pause().at(20).jump(3).at(30).resume(),
    )
    assert log == [
        ("start", None, 10.0),
        ("PauseRequest", 1),
        ("start", 1, 10.0),
        ("JumpRequest", 1),
        ("start", 3, 10.0),
    ]
    assert [r["reason"] for r in restarts(run)] == ["resume", "jump"]
    assert run.elapsed == 40


async def test_jump_while_paused_can_be_handled_by_the_process_on_resume():
    seen: list[Any] = []

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        context.pausable = True
        phase = context.point or 0
        while phase < data.phases:
            context.send_location({"phase": phase}, point=phase)
            try:
                await context.wait(context.sleep(data.seconds))
            except JumpRequest as request:
                seen.append(request.point)
                # A point it cannot use: it warns and stays where it was.
                if not isinstance(request.point, int):
                    context.send_warning(f"cannot jump to {request.point!r}")
                    continue
                phase = request.point
                continue
            phase += 1
        return "done"

    run = await run_process(
        process,
        {"phases": 3},
        script=Script().at(15).pause().at(20).jump("later").at(30).resume(),
    )
    assert seen == ["later"]
    assert run.diagnostics == [{"level": "warning", "message": "cannot jump to 'later'"}]
    assert [r["reason"] for r in restarts(run)] == ["resume"]
    # Phase 1 starts over at the resume, then phase 2.
    assert run.elapsed == 30 + 2 * 10


async def test_jump_to_a_point_that_is_not_json_is_refused(rig):
    r = rig(waiting([]), {})
    r.start()
    await r.advance_to(5)
    seq = r.bus.last_seq
    with pytest.raises(RequestRefused) as refused:
        r.runner.jump(object())
    assert refused.value.request is RequestKind.JUMP
    assert "not JSON" in str(refused.value)
    assert r.bus.last_seq == seq
    assert (await r.finish()).state is COMPLETED
    assert r.of_type(EventType.RESTART) == []


async def test_pause_right_after_resume_pauses_the_restarted_process(rig):
    log: list[Any] = []
    r = rig(waiting(log), {"phases": 4})
    r.start()
    await r.advance_to(15)
    r.runner.pause()
    await r.advance_to(20)
    assert r.runner.state is PAUSED
    # Both before the runner had a chance to restart the process.
    r.runner.resume()
    r.runner.pause()
    await r.advance_to(30)
    assert r.states[-4:] == [PAUSED, RUNNING, PAUSING, PAUSED]
    assert log[-2:] == [("start", 1, 10.0), ("PauseRequest", 1)]
    r.runner.resume()
    assert (await r.finish()).state is COMPLETED


async def test_pause_right_after_retry_pauses_the_retried_process(rig):
    attempts: list[Any] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        context.pausable = True
        attempts.append(context.point)
        context.send_location("dosing", point=len(attempts))
        await context.wait(context.sleep(10))
        if len(attempts) == 1:
            raise RuntimeError("first attempt fails")
        return "done"

    r = rig(process, {})
    r.start()
    await r.advance_to(20)
    assert r.runner.state is FAILED
    r.runner.retry()
    r.runner.pause()
    await r.advance_to(25)
    assert r.runner.state is PAUSED
    assert attempts == [None, 1]
    r.runner.resume()
    assert (await r.finish()).state is COMPLETED
    assert r.now == 35


# Failure and recovery


async def test_process_raising_fails_with_error_text_and_traceback():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(5)
        raise ValueError("reagent A1 is empty")

    run = await run_process(process, {})
    # The harness reports the state the step settled in.
    assert run.state is FAILED
    assert run.error == "reagent A1 is empty"
    failed = run.of_type(EventType.STATE)[-1].payload
    assert failed["state"] == "failed"
    assert failed["error"] == "reagent A1 is empty"
    assert failed["error_type"] == "ValueError"
    assert 'raise ValueError("reagent A1 is empty")' in failed["traceback"]
    assert failed["traceback"].rstrip().endswith("ValueError: reagent A1 is empty")


async def test_process_raising_without_message_fails_with_the_error_type():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        raise KeyError

    run = await run_process(process, {})
    assert run.error == "KeyError"


async def test_retry_from_failed_reinvokes_with_last_point():
    log: list[Any] = []

    async def process(data: Phases, context: ProcessContext[Phases]) -> str:
        log.append(("start", context.point))
        for phase in range(context.point or 0, data.phases):
            context.send_location({"phase": phase}, point=phase)
            await context.sleep(data.seconds)
            if phase == 1 and len(log) == 1:
                raise RuntimeError("bubble in line")
        return "done"

    run = await run_process(process, {"phases": 3}, script=Script().at(50).retry())
    assert run.state is COMPLETED
    assert run.result == "done"
    assert run.error is None
    assert log == [("start", None), ("start", 1)]
    assert run.states == [RUNNING, FAILED, RUNNING, COMPLETED]
    assert restarts(run) == [
        {"reason": "retry", "point": 1, "data": {"phases": 3, "seconds": 10.0}}
    ]
    assert run.elapsed == 20 + 30 + 2 * 10


async def test_skip_of_failed_step_ends_it_skipped():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        raise RuntimeError("no plate")

    run = await run_process(process, {}, script=Script().when_state(FAILED).skip())
    assert run.state is SKIPPED
    assert run.states == [RUNNING, FAILED, SKIPPED]


async def test_failed_is_not_final_the_step_waits_for_recovery(rig):
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        raise RuntimeError("no plate")

    r = rig(process, {})
    r.start()
    await r.advance_to(3600)
    assert r.runner.state is FAILED
    assert not r.task.done()
    assert (await r.halt_and_finish()).state is HALTED


# Refused requests


class Bench(BaseModel):
    pausable: bool = True
    fail: bool = False


async def bench(data: Bench, context: ProcessContext[Bench]) -> str:
    """Reaches every state on demand: pausing (not pausable), paused, failed, completed."""
    context.pausable = data.pausable
    context.send_location("working", point=0)
    await context.sleep(10)
    if data.fail:
        raise RuntimeError("bench failure")
    await context.checkpoint()
    await context.sleep(10)
    return "done"


def reach_args(state: StepState) -> dict[str, Any]:
    return {"pausable": state is not PAUSING, "fail": state is FAILED}


async def reach(r, state: StepState) -> None:
    if state is StepState.PENDING:
        return
    r.start()
    await r.advance_to(5)
    if state in (PAUSING, PAUSED):
        r.runner.pause()
    if state is HALTED:
        r.runner.halt()
    if state is SKIPPED:
        r.runner.skip()
    if state in (PAUSED, FAILED):
        await r.advance_to(12)
    if state is COMPLETED:
        await r.finish()
    await r.settle()
    assert r.runner.state is state


REQUEST_ARGS: dict[RequestKind, tuple[Any, ...]] = {
    RequestKind.PAUSE: (),
    RequestKind.RESUME: (),
    RequestKind.HALT: (),
    RequestKind.SKIP: (),
    RequestKind.JUMP: (0,),
    RequestKind.SWAP: ({"pausable": True},),
    RequestKind.RETRY: (),
    RequestKind.ANSWER: ("yes",),
}

REFUSED = [
    (kind, state)
    for kind in RequestKind
    for state in StepState
    # bench never waits in receive(), so an answer is refused in every state.
    if state not in ALLOWED_STATES[kind] or kind is RequestKind.ANSWER
]


def snapshot(r) -> tuple[Any, ...]:
    runner = r.runner
    return (runner.state, r.bus.last_seq, runner.point, runner.data, runner.result, runner.error)


@pytest.mark.parametrize(("kind", "state"), REFUSED, ids=[f"{k}-{s}" for k, s in REFUSED])
async def test_request_not_fitting_the_state_is_refused_and_changes_nothing(rig, kind, state):
    async def play(refuse: bool) -> tuple[list[Any], Any]:
        r = rig(bench, reach_args(state))
        await reach(r, state)
        before = snapshot(r)
        refused = None
        if refuse:
            with pytest.raises(RequestRefused) as caught:
                getattr(r.runner, kind.value)(*REQUEST_ARGS[kind])
            refused = caught.value
            assert snapshot(r) == before
        if r.task is None:
            r.start()
        await r.advance_to(100)
        await r.halt_and_finish()
        return r.events, refused

    control, _ = await play(refuse=False)
    events, refused = await play(refuse=True)
    # Nothing then, nothing later: the whole run is the same as without the request.
    assert events == control
    assert refused.request is kind
    assert refused.state is state
    assert set(refused.allowed) == ALLOWED_STATES[kind]
    assert str(kind) in str(refused)
    if state not in ALLOWED_STATES[kind]:
        assert f"the step is {state}" in str(refused)
        for allowed in ALLOWED_STATES[kind]:
            assert str(allowed) in str(refused)


async def test_resume_while_running_is_refused(rig):
    r = rig(bench, {})
    await reach(r, RUNNING)
    with pytest.raises(RequestRefused) as refused:
        r.runner.resume()
    assert str(refused.value) == (
        "resume refused: the step is running; resume is allowed when it is pausing or paused"
    )


async def test_pause_while_completed_is_refused(rig):
    r = rig(bench, {})
    await reach(r, COMPLETED)
    events = r.events
    with pytest.raises(RequestRefused) as refused:
        r.runner.pause()
    assert (refused.value.request, refused.value.state) == (RequestKind.PAUSE, COMPLETED)
    assert refused.value.allowed == (RUNNING,)
    assert r.events == events


async def test_retry_when_not_failed_is_refused(rig):
    r = rig(bench, {})
    await reach(r, RUNNING)
    with pytest.raises(RequestRefused) as refused:
        r.runner.retry()
    assert refused.value.allowed == (FAILED,)
    assert "the step is running; retry is allowed when it is failed" in str(refused.value)


async def test_answer_when_not_receiving_is_refused(rig):
    r = rig(bench, {})
    await reach(r, RUNNING)
    seq = r.bus.last_seq
    with pytest.raises(RequestRefused) as refused:
        r.runner.answer("42")
    assert refused.value.state is RUNNING
    assert set(refused.value.allowed) == {RUNNING, PAUSING}
    assert "not waiting for an answer" in str(refused.value)
    assert r.bus.last_seq == seq


async def test_second_halt_while_halting_is_refused(rig):
    log: list[Any] = []
    r = rig(cleaning(log), {})
    r.start()
    await r.advance_to(5)
    r.runner.halt()
    before = snapshot(r)
    with pytest.raises(RequestRefused) as refused:
        r.runner.halt()
    assert refused.value.request is RequestKind.HALT
    assert refused.value.state is RUNNING
    assert "being halted" in str(refused.value)
    assert snapshot(r) == before
    with pytest.raises(RequestRefused):
        r.runner.skip()
    outcome = await r.finish()
    assert outcome.state is HALTED
    assert [e.payload["request"] for e in r.of_type(EventType.REQUEST)] == ["halt"]
    assert log == ["cancelled", ("cleaned", 6)]


# Locations, durations, diagnostics, effects


async def test_locations_in_one_loop_iteration_coalesce_to_the_last():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        context.send_location({"n": 1}, point=1)
        context.send_location({"n": 2}, point=2)
        context.send_location({"n": 3})
        await asyncio.sleep(0)
        context.send_location({"n": 4})
        await context.sleep(5)
        context.send_location({"n": 5})
        context.send_location({"n": 6}, point=6)

    run = await run_process(process, {})
    assert run.locations == [{"n": 3}, {"n": 4}, {"n": 6}]
    # The point is the last one reported, whichever call reported it.
    assert run.points == [2, 2, 6]
    types = [event.type for event in run.events]
    # The final location is flushed before the step completes, not after.
    assert types[-2:] == [EventType.LOCATION, EventType.STATE]
    assert (run.events[-2].time - run.started).total_seconds() == 5


async def test_location_accepts_a_model_and_rejects_what_is_not_json():
    class Where(BaseModel):
        well: str
        volume_ul: float

    errors: list[str] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        context.send_location(Where(well="B2", volume_ul=12.5), point={"well": "B2"})
        try:
            context.send_location(object())
        except TypeError as error:
            errors.append(str(error))

    run = await run_process(process, {})
    assert run.locations == [{"well": "B2", "volume_ul": 12.5}]
    assert run.points == [{"well": "B2"}]
    assert errors == ["object is not JSON-serialisable"]


async def test_send_duration_accepts_seconds_timedelta_quantity_unknown_and_forever():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        context.send_duration(90)
        context.send_duration(2.5)
        context.send_duration(timedelta(minutes=2))
        context.send_duration(parse_quantity("5 min"))
        context.send_duration(Remaining.UNKNOWN)
        context.send_duration(Remaining.FOREVER)

    run = await run_process(process, {})
    assert run.state is COMPLETED
    assert run.durations == [90.0, 2.5, 120.0, 300.0, "unknown", "forever"]


@pytest.mark.parametrize(
    "bad",
    [
        -1,
        float("nan"),
        True,
        parse_quantity("5 m"),
        pytest.param(
            "5 min",
        ),
    ],
    ids=repr,
)
async def test_send_duration_refuses_what_is_not_a_duration(bad):
    errors: list[Exception] = []

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        try:
            context.send_duration(bad)
        except (TypeError, ValueError) as error:
            errors.append(error)

    run = await run_process(process, {})
    assert run.state is COMPLETED
    assert len(errors) == 1
    assert run.durations == []


async def test_sleep_for_an_unknown_duration_is_an_error():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(Remaining.UNKNOWN)

    run = await run_process(process, {})
    assert run.state is FAILED
    assert run.error == "cannot sleep for an unknown duration"


async def test_diagnostics_and_effects_are_events():
    class Dispensed(BaseModel):
        well: str
        volume_ul: float

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        context.send_error("pump stalled", code="stall", details={"pressure_kpa": 310})
        context.send_warning("low volume in A1")
        context.send_info("plate scanned", details={})
        context.send_effect(Dispensed(well="A1", volume_ul=50))
        context.send_effect({"file": "plate.csv"})

    run = await run_process(process, {})
    assert run.diagnostics == [
        {
            "level": "error",
            "message": "pump stalled",
            "code": "stall",
            "details": {"pressure_kpa": 310},
        },
        {"level": "warning", "message": "low volume in A1"},
        {"level": "info", "message": "plate scanned"},
    ]
    assert run.effects == [{"well": "A1", "volume_ul": 50.0}, {"file": "plate.csv"}]
    assert all(event.step == "step" for event in run.events)


# Answers


async def test_answers_are_delivered_through_receive_and_make_the_result():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
        context.send_location({"asking": "plate id"})
        plate = await context.receive()
        context.send_location({"asking": "volume"})
        volume = await context.receive()
        return {"plate": plate, "volume": volume}

    run = await run_process(
        process, {}, script=Script().on_receive().answer("P-17").after(30).answer(12.5)
    )
    assert run.state is COMPLETED
    assert run.result == {"plate": "P-17", "volume": 12.5}
    requests = [event.payload for event in run.of_type(EventType.REQUEST)]
    assert requests == [
        {"request": "answer", "message": "P-17"},
        {"request": "answer", "message": 12.5},
    ]
    assert run.elapsed == 30


async def test_answer_is_refused_once_receive_got_one(rig):
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
        answer = await context.receive()
        await context.sleep(10)
        return answer

    r = rig(process, {})
    r.start()
    await r.settle()
    assert r.runner.waiting_for_answer
    r.runner.answer("first")
    with pytest.raises(RequestRefused):
        r.runner.answer("second")
    assert (await r.finish()).result == "first"


async def test_answer_that_is_not_json_is_refused_and_receive_keeps_waiting(rig):
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
        return await context.receive()

    r = rig(process, {})
    r.start()
    await r.settle()
    with pytest.raises(RequestRefused) as refused:
        r.runner.answer(object())
    assert "the message is not JSON" in str(refused.value)
    assert r.runner.waiting_for_answer
    r.runner.answer("fine")
    assert (await r.finish()).result == "fine"


async def test_pause_interrupts_receive_of_a_pausable_process():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
        context.pausable = True
        return await context.receive()

    run = await run_process(
        process,
        {},
        script=Script().at(10).pause().at(20).resume().on_receive().answer("ok"),
    )
    assert run.result == "ok"
    assert run.states == [RUNNING, PAUSING, PAUSED, RUNNING, COMPLETED]


# Cancellation and results


@pytest.mark.parametrize("state", [RUNNING, PAUSING, PAUSED, FAILED])
async def test_external_cancellation_halts_the_step_and_propagates(rig, state):
    r = rig(bench, reach_args(state))
    await reach(r, state)
    r.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await r.task
    assert r.runner.state is HALTED
    assert r.states[-1] is HALTED
    assert r.task.cancelled()


async def test_external_cancellation_runs_finally(rig):
    log: list[Any] = []
    r = rig(cleaning(log), {})
    r.start()
    await r.advance_to(5)
    r.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await r.task
    assert log == ["cancelled", ("cleaned", 6)]
    assert r.runner.state is HALTED


def swallowing(log: list[Any]) -> Any:
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        try:
            await context.sleep(100)
        except asyncio.CancelledError:
            log.append("swallowed")
        return "finished anyway"

    return process


async def test_process_swallowing_cancellation_still_ends_halted():
    log: list[Any] = []
    run = await run_process(swallowing(log), {}, script=Script().at(10).halt())
    assert log == ["swallowed"]
    assert run.state is HALTED
    assert run.states == [RUNNING, HALTED]
    assert run.result is None


async def test_external_cancellation_of_process_swallowing_it_still_halts_and_propagates(rig):
    log: list[Any] = []
    r = rig(swallowing(log), {})
    r.start()
    await r.advance_to(10)
    r.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await r.task
    assert log == ["swallowed"]
    assert r.runner.state is HALTED
    assert r.runner.result is None


async def test_non_json_return_value_fails_with_a_clear_message():
    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> object:
        return object()

    run = await run_process(process, {})
    assert run.state is FAILED
    assert (
        run.error
        == "the process returned a value that is not JSON: object is not JSON-serialisable"
    )
    assert run.of_type(EventType.STATE)[-1].payload["error_type"] == "TypeError"


async def test_return_value_becomes_a_json_result():
    class Reading(BaseModel):
        od600: float

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
        return {"reading": Reading(od600=0.42), "volume": parse_quantity("12 ul")}

    run = await run_process(process, {})
    assert run.result == {
        "reading": {"od600": 0.42},
        "volume": {"magnitude": 12, "units": "microliter"},
    }
    assert run.of_type(EventType.STATE)[-1].payload["result"] == run.result


async def test_swap_with_some_fields_keeps_the_others():
    log: list[Any] = []
    run = await run_process(
        waiting(log),
        {"phases": 4, "seconds": 10},
        script=Script().at(5).swap({"seconds": 20}).at(30).swap({"phases": 3}),
    )
    requests = [e.payload["data"] for e in run.of_type(EventType.REQUEST)]
    assert requests == [{"phases": 4, "seconds": 20.0}, {"phases": 3, "seconds": 20.0}]
    assert run.state is COMPLETED


async def test_two_swaps_before_the_process_takes_them_combine(rig):
    log: list[Any] = []
    r = rig(waiting(log), {"phases": 4, "seconds": 10})
    r.start()
    await r.advance_to(15)
    r.runner.pause()
    await r.settle()
    r.runner.swap({"seconds": 20})
    r.runner.swap({"phases": 2})
    r.runner.resume()
    await r.finish()
    assert r.runner.data.model_dump() == {"phases": 2, "seconds": 20.0}


async def test_validation_error_inside_a_process_reads_as_plain_lines():
    class Reading(BaseModel):
        volts: float

    async def process(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        Reading.model_validate({"volts": "high"})

    run = await run_process(process, {})
    assert run.state is FAILED
    assert run.error == "volts: Input should be a valid number, unable to parse string as a number"


async def test_pause_taken_then_halted_leaves_no_pause_pending(rig):
    log: list[Any] = []
    r = rig(waiting(log), {"phases": 3})
    task = r.start()
    await r.advance_to(15)
    r.runner.pause()
    await r.settle()
    r.runner.halt()
    outcome = await task
    assert outcome.state is HALTED
    assert outcome.pause_pending is False


async def test_resume_while_the_pause_is_leaving_the_process_restarts_it(rig):
    # The pause reaches wait(), whose cleanup yields before PauseRequest leaves the
    # process; a resume in that gap must not leave the step paused with no pause pending.
    log: list[Any] = []
    r = rig(waiting(log), {"phases": 2})
    r.start()
    await r.advance_to(5)
    r.runner.pause()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    r.runner.resume()
    outcome = await r.finish()
    assert outcome.state is COMPLETED
    assert r.states[-1] is COMPLETED
    assert restarts_of(r) == ["resume"]


def restarts_of(r: Any) -> list[str]:
    return [event.payload["reason"] for event in r.of_type(EventType.RESTART)]
