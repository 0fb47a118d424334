"""`timer.wait`, run on the virtual clock: every time here is virtual seconds from the start."""

import math
from typing import Any

import pytest
from pydantic import ValidationError

from labrun import EventType, PauseMode, StepState
from labrun.testing import ProcessRun, Script, run_process
from labrun_timer import plugin

WAIT = plugin.processes["wait"]
TEN_MIN = {"duration": "10 min"}


def at(run: ProcessRun, state: StepState) -> float:
    """When the step first entered `state`."""
    for event in run.of_type(EventType.STATE):
        if event.payload["state"] == state:
            return (event.time - run.started).total_seconds()
    raise AssertionError(f"the step never was {state}: {run.states}")


def location(elapsed: float, total: float) -> dict[str, float]:
    return {"elapsed": elapsed, "remaining": total - elapsed, "total": total}


def warnings(run: ProcessRun) -> list[dict[str, Any]]:
    return [d for d in run.diagnostics if d["level"] == "warning"]


async def test_waits_the_duration_then_completes() -> None:
    run = await run_process(WAIT, {"duration": "2 h"})

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 7200
    assert run.result is None
    assert run.diagnostics == []


async def test_sends_its_location_point_and_duration() -> None:
    run = await run_process(WAIT, TEN_MIN)

    assert run.locations == [location(0, 600), location(600, 600)]
    assert run.points == [0, 600]
    assert run.durations == [600, 0]


def test_the_estimate_is_the_duration() -> None:
    assert WAIT.estimate(WAIT.validate({"duration": "90 min"})) == 5400
    assert WAIT.estimate(WAIT.validate({"duration": "0 s"})) == 0


async def test_a_zero_duration_completes_at_once() -> None:
    run = await run_process(WAIT, {"duration": "0 s"})
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 0


@pytest.mark.parametrize("duration", ["-1 s", "5 ml", "10", 10, "soon"])
def test_the_duration_must_be_a_time_not_below_zero(duration: Any) -> None:
    with pytest.raises(ValidationError):
        WAIT.validate({"duration": duration})


# Pause


async def test_a_pause_stops_the_wait_at_once_and_keeps_the_remaining_time() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).pause().after(300).resume())

    assert run.states == [
        StepState.RUNNING,
        StepState.PAUSING,
        StepState.PAUSED,
        StepState.RUNNING,
        StepState.COMPLETED,
    ]
    assert at(run, StepState.PAUSED) == 60
    # 60 s before the pause, 300 s paused, the remaining 540 s after it.
    assert run.elapsed == 900
    assert location(60, 600) in run.locations
    assert 540 in run.durations
    assert [e.payload["point"] for e in run.of_type(EventType.RESTART)] == [60]


async def test_a_deferred_pause_does_not_interrupt_the_wait() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).pause(PauseMode.DEFERRED))

    assert StepState.PAUSED not in run.states
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 600


async def test_pausing_twice_keeps_the_time_of_both_runs() -> None:
    script = Script().at(100).pause().after(50).resume().after(200).pause().after(50).resume()
    run = await run_process(WAIT, TEN_MIN, script=script)

    assert location(100, 600) in run.locations
    assert location(300, 600) in run.locations
    assert run.elapsed == 700


async def test_a_halt_ends_the_wait_at_once() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).halt())
    assert run.state is StepState.HALTED
    assert run.elapsed == 60


# Jump


@pytest.mark.parametrize(
    ("point", "elapsed"),
    [(500, 500), (500.5, 500.5), ("5 min", 300), ("0.5 h", 600), ("90 s", 90)],
)
async def test_a_jump_moves_to_an_elapsed_time(point: Any, elapsed: float) -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).jump(point))

    assert run.state is StepState.COMPLETED
    assert location(min(elapsed, 600), 600) in run.locations
    assert run.elapsed == 60 + 600 - min(elapsed, 600)
    assert run.diagnostics == []


async def test_a_jump_back_waits_again() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(400).jump(100))
    assert location(100, 600) in run.locations
    assert run.elapsed == 400 + 500


@pytest.mark.parametrize(("point", "elapsed"), [(-30, 0), ("3 h", 600)])
async def test_a_jump_outside_the_duration_is_clamped(point: Any, elapsed: float) -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).jump(point))
    assert location(elapsed, 600) in run.locations
    assert run.elapsed == 60 + 600 - elapsed


@pytest.mark.parametrize("point", ["soon", "5 ml", "", True, None, [1, 2], {"at": 5}, math.inf])
async def test_a_bad_jump_point_warns_and_keeps_going(point: Any) -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(60).jump(point))

    assert run.state is StepState.COMPLETED
    assert [w["code"] for w in warnings(run)] == ["bad-point"]
    assert warnings(run)[0]["message"].startswith(f"cannot jump to {point!r}: ")
    # The time already waited is kept: the wait ends when it would have.
    assert location(60, 600) in run.locations
    assert run.elapsed == 600


async def test_a_jump_while_paused_applies_on_resume() -> None:
    script = Script().at(60).pause().after(10).jump("500 s").after(10).resume()
    run = await run_process(WAIT, TEN_MIN, script=script)

    assert location(500, 600) in run.locations
    assert run.elapsed == 80 + 100


async def test_a_bad_jump_point_while_paused_keeps_the_time_waited() -> None:
    script = Script().at(60).pause().after(10).jump("soon").after(10).resume()
    run = await run_process(WAIT, TEN_MIN, script=script)

    assert [w["code"] for w in warnings(run)] == ["bad-point"]
    assert run.elapsed == 80 + 540


# Swap


async def test_a_swap_changes_the_duration_and_keeps_the_time_waited() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(100).swap({"duration": "20 min"}))

    assert location(100, 1200) in run.locations
    assert 1100 in run.durations
    assert run.elapsed == 1200
    assert run.refused == ()


async def test_a_swap_to_less_than_the_time_waited_completes_at_once() -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(300).swap({"duration": "2 min"}))
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 300


async def test_a_swap_while_paused_applies_on_resume() -> None:
    script = Script().at(100).pause().after(50).swap({"duration": "5 min"}).after(50).resume()
    run = await run_process(WAIT, TEN_MIN, script=script)

    assert location(100, 300) in run.locations
    assert run.elapsed == 200 + 200


@pytest.mark.parametrize("duration", ["5 ml", "-5 min"])
async def test_a_swap_to_a_bad_duration_is_refused_and_changes_nothing(duration: str) -> None:
    run = await run_process(WAIT, TEN_MIN, script=Script().at(100).swap({"duration": duration}))

    assert len(run.refused) == 1
    assert run.refused[0].reason.startswith("invalid data: duration: ")
    assert run.elapsed == 600


# Resume from a point: a crash-resume, a retry or a restart hands the last point back.


@pytest.mark.parametrize(("point", "elapsed"), [(1800, 1800), (1800.0, 1800), ("30 min", 1800)])
async def test_resuming_from_a_point_continues_from_it(point: Any, elapsed: float) -> None:
    run = await run_process(WAIT, {"duration": "1 h"}, point=point)

    assert run.locations[0] == location(elapsed, 3600)
    assert run.durations[0] == 3600 - elapsed
    assert run.elapsed == 3600 - elapsed
    assert run.diagnostics == []


async def test_resuming_from_past_the_end_completes_at_once() -> None:
    run = await run_process(WAIT, TEN_MIN, point=7200)
    assert run.state is StepState.COMPLETED
    assert run.elapsed == 0


async def test_resuming_from_a_bad_point_warns_and_waits_the_whole_duration() -> None:
    run = await run_process(WAIT, TEN_MIN, point="garbage")

    assert [w["code"] for w in warnings(run)] == ["bad-point"]
    assert warnings(run)[0]["message"] == (
        "cannot start from point 'garbage': waiting from the beginning"
    )
    assert run.elapsed == 600
