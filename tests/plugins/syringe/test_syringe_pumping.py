"""`syringe.infuse`, `syringe.withdraw` and `syringe.stop`, run against the simulator over a
real pty (and TCP) on a virtual clock: the simulated pump takes volume/rate of virtual time,
so a run's elapsed time is the pumping time. The process reads the pump every 0.5 s, so
the volumes and rates here are chosen to end on a reading."""

from typing import Any

import pytest
from pydantic import ValidationError
from syringe_bench import Bench, OpenBench

from labrun import DeviceError, Event, EventType, StepState
from labrun.testing import ProcessRun, Script, run_process
from labrun_syringe import plugin

INFUSE = plugin.processes["infuse"]
WITHDRAW = plugin.processes["withdraw"]
STOP = plugin.processes["stop"]
ONE_ML = {"pump": "pump", "volume": "1 ml", "rate": "1 ml/min"}

PROGRAM_1_ML = [
    b"0STP\r",
    b"0DIR INF\r",
    b"0VOL ML\r",
    b"0VOL1.000\r",
    b"0RAT60.00MH\r",
    b"0CLD INF\r",
    b"0RUN\r",
]


async def pump(
    bench: Bench,
    data: dict[str, Any],
    *,
    process: Any = INFUSE,
    script: Script | None = None,
    point: Any = None,
) -> ProcessRun:
    return await run_process(
        process,
        data,
        script=script,
        point=point,
        clock=bench.clock,
        devices={"pump": bench.driver},
    )


def location(pumped: str, volume: str = "1 ml", rate: str = "1 ml/min") -> dict[str, str]:
    return {"pumped": pumped, "volume": volume, "rate": rate}


def failure(run: ProcessRun) -> dict[str, Any]:
    """The payload of the step's failed state: its error and the error's type."""
    states = [e.payload for e in run.of_type(EventType.STATE)]
    failed = [payload for payload in states if payload["state"] == StepState.FAILED]
    assert failed, f"the step never failed: {run.states}"
    return failed[-1]


# The exact bytes.


async def test_infusing_1_ml_at_5_ul_per_min_writes_these_bytes(open_bench: OpenBench) -> None:
    bench = await open_bench()
    data = {"pump": "pump", "volume": "1 ml", "rate": "5 ul/min"}
    run = await pump(bench, data, script=Script().at(2).halt())

    assert run.state is StepState.HALTED
    assert bench.sent[:10] == [
        b"0DIA14.50\r",  # connect
        b"0STP\r",
        b"0DIR INF\r",
        b"0VOL ML\r",
        b"0VOL1.000\r",
        b"0RAT5.000UM\r",
        b"0CLD INF\r",
        b"0RUN\r",
        b"0DIS\r",
        b"0DIS\r",
    ]
    # Halted: stopped (a pause, then a stop), and the counter read one last time.
    assert bench.sent[-3:] == [b"0STP\r", b"0STP\r", b"0DIS\r"]
    assert set(bench.sent[8:-3]) == {b"0DIS\r"}
    assert bench.pump.status == "S"


async def test_withdrawing_programs_the_other_direction_and_counter(bench: Bench) -> None:
    data = {"pump": "pump", "volume": "0.5 ml", "rate": "0.5 ml/min"}
    run = await pump(bench, data, process=WITHDRAW)

    assert run.state is StepState.COMPLETED
    assert bench.sent[1:8] == [
        b"0STP\r",
        b"0DIR WDR\r",
        b"0VOL UL\r",
        b"0VOL500.0\r",
        b"0RAT500.0UM\r",
        b"0CLD WDR\r",
        b"0RUN\r",
    ]
    assert bench.pump.withdrawn == 0.5
    assert bench.pump.delivered == -0.5
    assert run.effects == [{"pump": "pump", "withdrawn": "0.5 ml", "total": "0.5 ml"}]


# A full run.


async def test_an_infusion_takes_volume_over_rate_of_virtual_time(bench: Bench) -> None:
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 60
    assert bench.pump.status == "S"
    assert bench.pump.delivered == 1.0
    assert bench.sent[1:8] == PROGRAM_1_ML
    # Read every 0.5 s from 0 s to 60 s, when the pump says it has stopped.
    assert bench.sent[8:] == [b"0DIS\r"] * 121
    assert run.effects == [{"pump": "pump", "infused": "1 ml", "total": "1 ml"}]


async def test_it_reports_the_volume_pumped_as_location_point_and_duration(bench: Bench) -> None:
    run = await pump(bench, ONE_ML)

    assert run.locations[0] == location("0 ml")
    assert location("0.5 ml") in run.locations
    assert run.locations[-1] == location("1 ml")
    assert run.points[0] == 0
    assert run.points[-1] == 1
    assert 0.5 in run.points
    assert run.durations[0] == 60
    assert 30 in run.durations
    assert run.durations[-1] == 0
    # Progress only goes forward.
    assert run.points == sorted(run.points)


def test_the_estimate_is_volume_over_rate() -> None:
    assert INFUSE.estimate(INFUSE.validate(ONE_ML)) == 60
    data = WITHDRAW.validate({"pump": "p", "volume": "1 ml", "rate": "5 ul/min"})
    assert WITHDRAW.estimate(data) == pytest.approx(12_000)
    assert STOP.estimate(STOP.validate({"pump": "p"})) == 0


def test_the_pump_argument_names_an_ne1000() -> None:
    assert [(name, ref.drivers) for name, ref in INFUSE.devices] == [("pump", ("syringe.ne1000",))]
    assert [(name, ref.drivers) for name, ref in STOP.devices] == [("pump", ("syringe.ne1000",))]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"volume": "0 ml"}, "0 ml must be above 0 ml"),
        ({"rate": "-1 ml/min"}, "-1 ml/min must be above 0 ml/min"),
        ({"volume": "5 s"}, "expected a volume"),
        ({"volume": "1.23456 ml"}, "the nearest it takes is 1.235 ml"),
        ({"rate": "1.23456 ml/min"}, "cannot be sent to the pump"),
        ({"volume": "20 l"}, "the most it takes is 9999 ml"),
    ],
)
def test_arguments_the_pump_cannot_take_are_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        INFUSE.validate(ONE_ML | change)


# Pause and resume.


async def test_a_pause_pauses_the_pump_and_a_resume_pumps_the_rest(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(15).pause().after(100).resume())

    assert run.state is StepState.COMPLETED
    assert run.states == [
        StepState.RUNNING,
        StepState.PAUSING,
        StepState.PAUSED,
        StepState.RUNNING,
        StepState.COMPLETED,
    ]
    # 15 s before the pause, 100 s paused, the remaining 45 s after it.
    assert run.elapsed == 160
    assert bench.pump.delivered == 1.0
    assert [e.payload["point"] for e in run.of_type(EventType.RESTART)] == [0.25]
    received = bench.server.received
    # One STP paused the pump; the resumed process stops it and programs what is left.
    pause = received.index(b"0STP", 2)
    assert received[pause - 1 : pause + 10] == [
        b"0DIS",
        b"0STP",
        b"0DIS",
        b"0STP",
        b"0DIR INF",
        b"0VOL UL",
        b"0VOL750.0",
        b"0RAT60.00MH",
        b"0CLD INF",
        b"0RUN",
        b"0DIS",
    ]
    assert run.effects == [
        {"pump": "pump", "infused": "0.25 ml", "total": "0.25 ml"},
        {"pump": "pump", "infused": "0.75 ml", "total": "1 ml"},
    ]


async def test_the_pump_is_paused_not_stopped_while_the_step_is(bench: Bench) -> None:
    seen: list[str] = []

    def paused(event: Event) -> bool:
        if event.type is EventType.STATE and event.payload["state"] == StepState.PAUSED:
            seen.append(bench.pump.status)
            return True
        return False

    run = await pump(bench, ONE_ML, script=Script().at(15).pause().when(paused).resume())

    assert run.state is StepState.COMPLETED
    assert seen == ["P"]
    assert bench.pump.delivered == 1.0


async def test_pausing_twice_keeps_the_volume(bench: Bench) -> None:
    script = Script().at(15).pause().after(5).resume().after(15).pause().after(5).resume()
    run = await pump(bench, ONE_ML, script=script)

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 70
    assert bench.pump.delivered == 1.0
    assert [e.payload["point"] for e in run.of_type(EventType.RESTART)] == [0.25, 0.5]


async def test_a_pause_between_two_digits_of_the_counter_is_off_by_less_than_one(
    bench: Bench,
) -> None:
    # At 10 s the pump has pumped 0.16666 ml, and its counter reads 0.167 ml: the rest is
    # programmed from the reading, which is all the pump tells.
    run = await pump(bench, ONE_ML, script=Script().at(10).pause().after(5).resume())

    assert run.state is StepState.COMPLETED
    assert [e.payload["point"] for e in run.of_type(EventType.RESTART)] == [0.167]
    assert b"0VOL833.0\r" in bench.sent
    assert bench.pump.delivered == pytest.approx(1.0, abs=0.0005)


# Halt.


async def test_a_halt_stops_the_pump_and_records_what_was_pumped(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(30).halt())

    assert run.state is StepState.HALTED
    assert run.elapsed == 30
    assert bench.pump.status == "S"
    assert bench.server.received[-3:] == [b"0STP", b"0STP", b"0DIS"]
    await bench.clock.sleep(60)
    assert bench.pump.delivered == 0.5
    assert run.effects == [{"pump": "pump", "infused": "0.5 ml", "total": "0.5 ml"}]


async def test_a_halt_while_paused_leaves_the_pump_paused_for_the_safe_state(
    bench: Bench,
) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(15).pause().after(5).halt())

    assert run.state is StepState.HALTED
    # Nothing was running when the halt came: the host's safe state stops the pump.
    assert bench.pump.status == "P"
    await bench.driver.safe_state()
    assert bench.pump.status == "S"
    assert bench.pump.delivered == 0.25


# Restarting from a point.


@pytest.mark.parametrize("point", [0.4, "0.4 ml", "400 ul"])
async def test_a_restart_from_a_point_pumps_what_is_left(bench: Bench, point: Any) -> None:
    run = await pump(bench, ONE_ML, point=point)

    assert run.state is StepState.COMPLETED
    assert b"0VOL600.0\r" in bench.sent
    assert run.elapsed == 36
    assert bench.pump.delivered == pytest.approx(0.6)
    assert run.locations[0] == location("0.4 ml")
    assert run.effects == [{"pump": "pump", "infused": "0.6 ml", "total": "1 ml"}]


async def test_a_point_past_the_volume_completes_without_pumping(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, point=5)

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 0
    assert bench.sent == [b"0DIA14.50\r"]
    assert run.effects == []


async def test_what_is_left_after_a_4_digit_reading_is_sent_to_4_digits(bench: Bench) -> None:
    # 12.5 ml less 0.123 ml is 12.377 ml, which the pump takes as 12.38 ml.
    data = {"pump": "pump", "volume": "12.5 ml", "rate": "6 ml/min"}
    run = await pump(bench, data, point=0.123, script=Script().at(1).halt())

    assert b"0VOL12.38\r" in bench.sent
    assert run.state is StepState.HALTED


@pytest.mark.parametrize("point", ["soon", "5 s", True, [1]])
async def test_a_point_that_is_not_a_volume_fails_rather_than_pump_twice(
    bench: Bench, point: Any
) -> None:
    run = await pump(bench, ONE_ML, point=point)

    assert run.state is StepState.FAILED
    assert run.error == (
        f"cannot start from point {point!r}: a point is the volume already pumped, in ml or "
        "as a volume such as '0.5 ml'"
    )
    assert bench.sent == [b"0DIA14.50\r"]


# Jump and swap: the pump is stopped and reprogrammed in place.


async def test_a_jump_moves_to_a_volume_pumped(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(10).jump("0.5 ml"))

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 10 + 30
    assert location("0.5 ml") in run.locations
    assert b"0VOL500.0\r" in bench.sent
    assert run.diagnostics == []
    # The pump moved what it really moved: 1/6 ml before the jump, 0.5 ml after it.
    assert bench.pump.delivered == pytest.approx(0.5 + 10 / 60, abs=1e-3)


async def test_a_bad_jump_point_warns_and_pumps_on(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(15).jump("later"))

    assert run.state is StepState.COMPLETED
    assert [d["code"] for d in run.diagnostics] == ["bad-point"]
    assert run.elapsed == 60
    assert bench.pump.delivered == pytest.approx(1.0)


async def test_a_swap_of_rate_pumps_the_rest_at_the_new_rate(bench: Bench) -> None:
    run = await pump(bench, ONE_ML, script=Script().at(30).swap({"rate": "0.5 ml/min"}))

    assert run.state is StepState.COMPLETED
    assert run.elapsed == 30 + 60
    assert b"0RAT500.0UM\r" in bench.sent
    assert bench.pump.delivered == 1.0
    assert run.locations[-1] == location("1 ml", rate="0.5 ml/min")


# The stop process.


async def test_stop_stops_a_running_pump(bench: Bench) -> None:
    bench.pump.respond(b"0RUN")
    run = await pump(bench, {"pump": "pump"}, process=STOP)

    assert run.state is StepState.COMPLETED
    assert bench.sent[1:] == [b"0STP\r", b"0STP\r"]
    assert bench.pump.status == "S"


# Faults: each fails the step with a clear DeviceError. As on the host, a fault makes the
# link unavailable at once, so the process cannot stop the pump itself; the host then
# reconnects (connect, identify) and applies the safe state, which must stop the pump.

RECOVERY_WHILE_RUNNING = [
    b"0DIA14.50",  # refused while running (?NA), and not needed: the diameter is right
    b"0DIA",
    b"0VER",
    b"0STP",  # paused
    b"0STP",  # stopped
]


def like_the_host(bench: Bench) -> None:
    def unavailable(error: DeviceError) -> None:
        bench.link.unavailable = str(error)

    bench.link.on_fault = unavailable


async def recover(bench: Bench) -> list[bytes]:
    """Reconnect as the host does after a fault, and apply the safe state; returns what
    the pump received meanwhile."""
    before = len(bench.server.received)
    bench.link.unavailable = None
    await bench.reconnect()
    await bench.driver.connect()
    await bench.driver.identify()
    await bench.driver.safe_state()
    return bench.server.received[before:]


async def test_a_stall_fails_the_step_with_an_alarm(bench: Bench) -> None:
    like_the_host(bench)
    bench.on(b"0DIS", bench.pump.stall)
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert run.error == (
        "device pump: the pump stalled (alarm S) (sent '0DIS\\r', got '\\x0200A?S\\x03')"
    )
    assert failure(run)["error_type"] == "DeviceAlarm"
    # A stalled pump has stopped: one STP confirms it.
    assert await recover(bench) == [b"0DIA14.50", b"0VER", b"0STP"]
    assert bench.pump.status == "S"


async def test_garbage_fails_the_step_with_a_reply_error(bench: Bench) -> None:
    like_the_host(bench)
    bench.on(b"0DIS", lambda: bench.server.garble(b"\x02\x80junk\x03"))
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert run.error == (
        "device pump: garbled reply: the reply holds bytes that are not ASCII "
        "(sent '0DIS\\r', got '\\x02\\x80junk\\x03')"
    )
    assert failure(run)["error_type"] == "DeviceReplyError"
    assert bench.pump.status == "I"
    assert await recover(bench) == RECOVERY_WHILE_RUNNING
    assert bench.pump.status == "S"


async def test_silence_fails_the_step_with_a_timeout(bench: Bench) -> None:
    like_the_host(bench)
    bench.on(b"0RUN", bench.server.silence)
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert run.error == "device pump: no reply within 0.3 s (sent '0RUN\\r', got nothing)"
    assert failure(run)["error_type"] == "DeviceTimeout"
    # The reply was lost, not the command: the pump runs.
    assert bench.pump.status == "I"
    assert await recover(bench) == RECOVERY_WHILE_RUNNING
    assert bench.pump.status == "S"


async def test_a_cable_pulled_mid_command_fails_the_step_as_disconnected(bench: Bench) -> None:
    like_the_host(bench)
    bench.on(b"0RUN", bench.server.disconnect)
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert failure(run)["error_type"] == "DeviceDisconnected"
    # The words after the device name are the line's own (a pty and a socket differ).
    assert run.error is not None
    assert run.error.startswith("device pump: ")
    assert "disconnected" in run.error
    assert run.error.endswith("(sent '0RUN\\r', got nothing)")
    # The pump got RUN before the line dropped, and pumps on until it is reached again.
    assert bench.pump.status == "I"
    assert await recover(bench) == RECOVERY_WHILE_RUNNING
    assert bench.pump.status == "S"


async def test_without_the_host_the_process_stops_the_pump_itself(bench: Bench) -> None:
    # No one marks the link unavailable: the process's own clean-up reaches the pump.
    bench.on(b"0DIS", lambda: bench.server.garble(b"\x02\x80junk\x03"))
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert bench.server.received[-3:] == [b"0STP", b"0STP", b"0DIS"]
    assert bench.pump.status == "S"


async def test_a_pump_stopped_at_its_keypad_fails_the_step(bench: Bench) -> None:
    def stop_at_the_keypad() -> None:
        bench.pump.respond(b"0STP")
        bench.pump.respond(b"0STP")

    bench.on(b"0DIS", stop_at_the_keypad)
    run = await pump(bench, ONE_ML)

    assert run.state is StepState.FAILED
    assert run.error == (
        "device pump: the pump stopped after 0 ml of the 1 ml it was to pump (0 ml of 1 ml "
        "in all): was it stopped at its keypad?"
    )
