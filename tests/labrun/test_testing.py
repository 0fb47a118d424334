"""The harness that plugin authors test their processes with: triggers, reports, failures."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from labrun import PauseMode, ProcessContext, RequestKind, StepState
from labrun.event import Event, EventType
from labrun.plugin import Plugin
from labrun.testing import (
    DEFAULT_START,
    HarnessError,
    HarnessStalled,
    HarnessTimeout,
    ProcessRun,
    Script,
    run_process,
)

plugin = Plugin("test")


class Phases(BaseModel):
    phases: int = 3
    seconds: float = 10.0


class NoArgs(BaseModel):
    pass


@plugin.process("phased")
async def phased(data: Phases, context: ProcessContext[Phases]) -> int:
    """Pausable phases; the location and the point are the phase."""
    context.pausable = True
    for phase in range(context.point or 0, data.phases):
        context.send_location({"phase": phase}, point=phase)
        context.send_duration((data.phases - phase) * data.seconds)
        await context.wait(context.sleep(data.seconds))
    return data.phases


@plugin.process("asker")
async def asker(data: NoArgs, context: ProcessContext[NoArgs]) -> Any:
    context.pausable = True
    await context.sleep(7)
    return await context.receive()


PHASED = plugin.processes["phased"]


def request_times(run: ProcessRun) -> list[tuple[str, float]]:
    return [
        (event.payload["request"], (event.time - run.started).total_seconds())
        for event in run.of_type(EventType.REQUEST)
    ]


# Triggers


async def test_at_acts_at_seconds_since_start():
    run = await run_process(PHASED, {}, script=Script().at(12).pause().at(40).resume())
    assert request_times(run) == [("pause", 12), ("resume", 40)]


async def test_at_in_the_past_acts_at_once_after_the_previous_action():
    run = await run_process(PHASED, {}, script=Script().at(12).pause().at(5).resume())
    assert request_times(run) == [("pause", 12), ("resume", 12)]


async def test_after_counts_from_the_previous_action():
    run = await run_process(PHASED, {}, script=Script().after(3).pause().after(4).resume())
    assert request_times(run) == [("pause", 3), ("resume", 7)]


async def test_when_acts_on_a_matching_event():
    def second_duration(event: Event) -> bool:
        return event.type is EventType.DURATION and event.payload["remaining"] == 20

    run = await run_process(PHASED, {}, script=Script().when(second_duration).halt())
    assert request_times(run) == [("halt", 10)]
    assert run.state is StepState.HALTED


async def test_when_only_sees_events_after_the_previous_action():
    run = await run_process(
        PHASED,
        {"phases": 4},
        # Phase 0 was reported before the jump: only its report after the jump counts.
        script=Script()
        .at(15)
        .jump(0)
        .when_location(lambda location: location == {"phase": 0})
        .halt(),
    )
    assert request_times(run) == [("jump", 15), ("halt", 15)]
    assert run.locations == [{"phase": 0}, {"phase": 1}, {"phase": 0}]


async def test_when_location_acts_on_a_matching_location():
    run = await run_process(
        PHASED, {}, script=Script().when_location(lambda location: location["phase"] == 2).halt()
    )
    assert request_times(run) == [("halt", 20)]


async def test_when_state_acts_on_entering_the_state():
    run = await run_process(
        PHASED,
        {},
        script=Script().at(15).pause().when_state(StepState.PAUSED).resume(),
    )
    assert request_times(run) == [("pause", 15), ("resume", 15)]
    assert run.state is StepState.COMPLETED


async def test_on_receive_answers_when_the_process_waits_in_receive():
    run = await run_process(asker, {}, script=Script().on_receive().answer({"ok": True}))
    assert request_times(run) == [("answer", 7)]
    assert run.result == {"ok": True}


async def test_pause_mode_is_passed_on():
    run = await run_process(PHASED, {}, script=Script().at(5).pause(PauseMode.DEFERRED))
    # Deferred: the phased process has no checkpoint, so it is never interrupted.
    assert run.state is StepState.COMPLETED
    assert [e.payload for e in run.of_type(EventType.REQUEST)] == [
        {"request": "pause", "mode": "deferred"}
    ]


# Reports


async def test_refused_requests_are_recorded_and_the_run_goes_on():
    run = await run_process(
        PHASED, {}, script=Script().at(5).resume().at(6).retry().at(7).answer("x")
    )
    assert run.state is StepState.COMPLETED
    assert [(r.request, r.state) for r in run.refused] == [
        (RequestKind.RESUME, StepState.RUNNING),
        (RequestKind.RETRY, StepState.RUNNING),
        (RequestKind.ANSWER, StepState.RUNNING),
    ]
    assert run.of_type(EventType.REQUEST) == []


async def test_report_accessors():
    async def reporter(data: NoArgs, context: ProcessContext[NoArgs]) -> str:
        context.send_location("here", point=1)
        context.send_duration(5)
        context.send_warning("careful", code="w1")
        context.send_effect({"dispensed_ul": 10})
        await context.sleep(5)
        return "ok"

    run = await run_process(reporter, {}, step="dispense")
    assert run.states == [StepState.RUNNING, StepState.COMPLETED]
    assert run.locations == ["here"]
    assert run.points == [1]
    assert run.durations == [5.0]
    assert run.diagnostics == [{"level": "warning", "message": "careful", "code": "w1"}]
    assert run.effects == [{"dispensed_ul": 10}]
    assert run.result == "ok"
    assert run.error is None
    assert {event.step for event in run.events} == {"dispense"}
    seqs = [event.seq for event in run.events]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_elapsed_is_virtual_time_from_start_to_end():
    start = datetime(2030, 6, 1, 8, 0, tzinfo=UTC)
    run = await run_process(PHASED, {"phases": 9, "seconds": 600}, start=start)
    assert run.started == start
    assert run.elapsed == 5400
    assert run.ended == run.events[-1].time


async def test_default_start():
    run = await run_process(PHASED, {"phases": 0})
    assert run.started == DEFAULT_START
    assert run.elapsed == 0


async def test_point_is_handed_to_the_process():
    run = await run_process(PHASED, {"phases": 5}, point=3)
    assert run.points == [3, 4]
    assert run.elapsed == 20


async def test_settled_in_failed_is_reported_as_failed():
    async def failing(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(30)
        raise RuntimeError("lid open")

    run = await run_process(failing, {})
    assert run.state is StepState.FAILED
    assert run.error == "lid open"
    assert run.elapsed == 30
    # The halt the harness uses to clean up is not part of what the process did.
    assert run.states == [StepState.RUNNING, StepState.FAILED]


async def test_settled_in_paused_is_reported_as_paused():
    run = await run_process(PHASED, {}, script=Script().at(5).pause())
    assert run.state is StepState.PAUSED
    assert run.states == [StepState.RUNNING, StepState.PAUSING, StepState.PAUSED]


async def test_run_leaves_no_task_behind():
    before = asyncio.all_tasks()
    await run_process(PHASED, {}, script=Script().at(5).pause())
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


# Failures of the harness


async def test_receive_without_scripted_answer_stalls():
    with pytest.raises(HarnessStalled) as stalled:
        await run_process(asker, {})
    assert stalled.value.state is StepState.RUNNING
    assert "receive()" in stalled.value.reason


async def test_action_that_can_never_trigger_stalls_naming_it():
    with pytest.raises(HarnessStalled) as stalled:
        await run_process(
            PHASED,
            {},
            script=Script().at(5).pause().when_state(StepState.COMPLETED).resume(),
        )
    assert stalled.value.state is StepState.PAUSED
    assert stalled.value.reason == "the script waits to resume when the step is completed"
    assert "resume when the step is completed" in str(stalled.value)


async def test_process_waiting_on_nothing_that_can_happen_stalls():
    async def stuck(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(HarnessStalled) as stalled:
        await run_process(stuck, {})
    assert stalled.value.reason == "the process waits on something that never completes"


async def test_process_sleeping_forever_times_out_at_the_limit():
    async def forever(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        while True:
            await context.sleep(60)

    before = asyncio.all_tasks()
    with pytest.raises(HarnessTimeout) as timeout:
        await run_process(forever, {}, limit=3600)
    assert timeout.value.state is StepState.RUNNING
    assert timeout.value.limit == 3600
    assert str(timeout.value) == "the step is still running after 3600 s of virtual time"
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == before


async def test_error_in_the_script_is_raised():
    def broken(event: Event) -> bool:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        await run_process(PHASED, {}, script=Script().when(broken).halt())


async def test_an_action_the_step_ended_before_is_an_error_not_silently_dropped():
    async def short(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(60)

    with pytest.raises(
        HarnessError, match="ended completed before the script could pause at 120 s"
    ):
        await run_process(short, {}, script=Script().at(120).pause())


async def test_an_action_that_fires_as_the_step_ends_is_played_and_refused():
    async def short(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
        await context.sleep(60)

    run = await run_process(short, {}, script=Script().when_state(StepState.COMPLETED).pause())
    assert run.state is StepState.COMPLETED
    assert [refusal.request for refusal in run.refused] == ["pause"]
