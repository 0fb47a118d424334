"""`tempmodule.set_temperature` and `tempmodule.deactivate` on a simulated module over a
real pty (or TCP), on the virtual clock: every time here is virtual seconds from the start."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Bench, OpenBench, make_clock
from pydantic import ValidationError

from labrun import EventType, StepState
from labrun.testing import ProcessRun, Script, run_process
from labrun_tempmodule import BlockModel, TempModuleSimulator, plugin

SET = plugin.processes["set_temperature"]
DEACTIVATE = plugin.processes["deactivate"]
TO_37 = {"module": "tm", "temperature": "37 degC"}
MODEL = BlockModel()


async def run(bench: Bench, data: dict[str, Any], **options: Any) -> ProcessRun:
    return await run_process(SET, data, clock=bench.clock, devices={"tm": bench.module}, **options)


def commands(bench: Bench) -> list[bytes]:
    return list(bench.server.received)


def times_of(run: ProcessRun, predicate: Any) -> list[float]:
    return [
        (event.time - run.started).total_seconds()
        for event in run.of_type(EventType.LOCATION)
        if predicate(event.payload["location"])
    ]


@pytest.fixture(params=["pty", "tcp"])
async def bench(request: pytest.FixtureRequest, open_bench: OpenBench) -> Bench:
    return await open_bench(TempModuleSimulator(make_clock()), line=request.param)


@pytest.fixture
async def pty(open_bench: OpenBench) -> Bench:
    return await open_bench(TempModuleSimulator(make_clock()))


# Heating


async def test_heating_from_25_to_37_takes_the_ramp_time_and_reports_the_approach(
    bench: Bench,
) -> None:
    result = await run(bench, TO_37)

    assert result.state is StepState.COMPLETED
    # The model comes within 0.5 °C after 47.7 s; readings are 0.1 °C and 1 s apart.
    assert 45 <= result.elapsed <= 48
    temperatures = [location["temperature"] for location in result.locations]
    assert temperatures[0] == 25.0
    assert temperatures == sorted(temperatures)
    assert 36.5 <= temperatures[-1] < 37
    assert all(location["target"] == 37 for location in result.locations)
    assert result.locations[-1]["phase"] == "done"
    assert {location["phase"] for location in result.locations[:-1]} == {"ramp"}
    # Set once, then read every second; the process never deactivates the module.
    sent = commands(bench)
    assert sent[0] == b"M104 S37"
    assert set(sent[1:]) == {b"M105"}
    assert len(sent) == 1 + int(result.elapsed) + 1
    assert bench.simulated.target == 37


async def test_the_remaining_time_counts_down_from_the_estimate(pty: Bench) -> None:
    result = await run(pty, TO_37)

    estimate = SET.estimate(SET.validate(TO_37))
    assert result.durations[0] == pytest.approx(estimate)
    assert result.durations[-1] == 0
    remaining = [float(d) for d in result.durations]
    assert remaining == sorted(remaining, reverse=True)
    # The estimate from room temperature comes true on the simulator, to a poll or two.
    assert estimate is not None
    assert estimate - 2 <= result.elapsed <= estimate + 1


async def test_cooling_below_room_temperature_is_slower(pty: Bench) -> None:
    result = await run(pty, {"module": "tm", "temperature": "4 degC"})

    assert result.state is StepState.COMPLETED
    assert 85 <= result.elapsed <= 89
    temperatures = [location["temperature"] for location in result.locations]
    assert temperatures == sorted(temperatures, reverse=True)
    assert pty.server.received[0] == b"M104 S4"


async def test_the_target_may_be_given_in_other_units(pty: Bench) -> None:
    result = await run(pty, {"module": "tm", "temperature": "98.6 degF", "wait": False})
    assert result.state is StepState.COMPLETED
    assert pty.server.received[0] == b"M104 S37"


# Hold


async def test_hold_waits_that_long_within_tolerance_after_reaching_the_target(
    bench: Bench,
) -> None:
    result = await run(bench, {**TO_37, "hold": "30 s"})

    reached = times_of(result, lambda location: location["phase"] == "hold")[0]
    assert result.elapsed == reached + 30
    held = [location["held"] for location in result.locations if location["phase"] != "ramp"]
    assert held == [float(n) for n in range(31)]
    assert result.points[-1] == {"phase": "done", "held": 30.0}
    assert result.durations[-2] == 1.0


async def test_a_hold_that_is_not_a_whole_number_of_polls_ends_on_time(pty: Bench) -> None:
    result = await run(pty, {**TO_37, "hold": "2.5 s"})
    reached = times_of(result, lambda location: location["phase"] == "hold")[0]
    assert result.elapsed == reached + 2.5


class Disturbed(TempModuleSimulator):
    """A cold plate is put on the block at `at` virtual seconds."""

    def __init__(self, at: float, temperature: float) -> None:
        super().__init__(make_clock())
        self.at = at
        self.plate: float | None = temperature

    def respond(self, command: bytes) -> bytes:
        if self.plate is not None and self.clock.monotonic() >= self.at:
            self.disturb(self.plate)
            self.plate = None
        return super().respond(command)


async def test_leaving_the_tolerance_during_the_hold_starts_the_hold_again(
    open_bench: OpenBench,
) -> None:
    bench = await open_bench(Disturbed(at=70, temperature=30))
    result = await run(bench, {**TO_37, "hold": "60 s"})

    phases = [location["phase"] for location in result.locations]
    first_hold = phases.index("hold")
    left = phases.index("ramp", first_hold)
    assert result.locations[left]["held"] == 0
    assert result.locations[left - 1]["held"] > 20
    again = times_of(result, lambda location: location["phase"] == "hold" and location["held"] == 0)
    assert len(again) == 2
    assert result.elapsed == again[1] + 60


async def test_without_wait_it_only_sets_the_target(pty: Bench) -> None:
    result = await run(pty, {**TO_37, "wait": False, "hold": "10 min"})

    assert result.state is StepState.COMPLETED
    assert result.elapsed == 0
    assert pty.server.received == [b"M104 S37", b"M105"]
    assert result.locations == [{"temperature": 25.0, "target": 37.0, "phase": "done", "held": 0.0}]
    assert SET.estimate(SET.validate({**TO_37, "wait": False, "hold": "10 min"})) == 0


# Pause, halt, jump and restarts


async def test_a_pause_keeps_the_target_and_the_wait_resumes(pty: Bench) -> None:
    script = (
        Script()
        .when_location(lambda location: location["temperature"] >= 30, "30 °C")
        .pause()
        .after(20)
        .resume()
    )
    result = await run(pty, TO_37, script=script)

    assert result.states == [
        StepState.RUNNING,
        StepState.PAUSING,
        StepState.PAUSED,
        StepState.RUNNING,
        StepState.COMPLETED,
    ]
    assert b"M18" not in pty.server.received
    # The module kept heating while paused: the wait ends when the ramp would have.
    assert 45 <= result.elapsed <= 48
    # 20 s of heating between the reading before the pause and the one after it.
    times = times_of(result, lambda location: True)
    temperatures = [location["temperature"] for location in result.locations]
    paused = next(i for i, t in enumerate(temperatures) if t >= 30)
    assert times[paused + 1] - times[paused] == 20
    assert temperatures[paused + 1] - temperatures[paused] > 3
    assert pty.simulated.target == 37


async def test_a_pause_during_the_hold_keeps_the_seconds_held(pty: Bench) -> None:
    script = (
        Script()
        .when_location(lambda location: location["held"] >= 20, "20 s held")
        .pause()
        .after(100)
        .resume()
    )
    result = await run(pty, {**TO_37, "hold": "60 s"}, script=script)

    assert result.state is StepState.COMPLETED
    paused_at = times_of(result, lambda location: location["held"] >= 20)[0]
    restarts = [event.payload["point"] for event in result.of_type(EventType.RESTART)]
    assert restarts == [{"phase": "hold", "held": 20.0}]
    assert result.elapsed == paused_at + 100 + 40
    assert b"M18" not in pty.server.received


async def test_a_halt_leaves_the_module_to_the_engine(pty: Bench) -> None:
    result = await run(pty, TO_37, script=Script().at(10).halt())

    assert result.state is StepState.HALTED
    assert result.elapsed == 10
    assert b"M18" not in pty.server.received
    assert pty.simulated.target == 37


async def test_a_jump_to_done_stops_waiting(pty: Bench) -> None:
    result = await run(pty, TO_37, script=Script().at(10).jump("done"))

    assert result.state is StepState.COMPLETED
    assert result.elapsed == 10
    assert result.locations[-1]["phase"] == "done"
    assert pty.server.received.count(b"M104 S37") == 2


async def test_a_restart_in_the_hold_credits_the_seconds_held_if_still_there(
    open_bench: OpenBench,
) -> None:
    simulator = TempModuleSimulator(make_clock(), start=37.0)
    bench = await open_bench(simulator)
    result = await run(bench, {**TO_37, "hold": "60 s"}, point={"phase": "hold", "held": 45})

    assert result.locations[0]["held"] == 45
    assert result.elapsed == 15


async def test_a_restart_in_the_hold_starts_over_if_the_block_left(pty: Bench) -> None:
    result = await run(pty, {**TO_37, "hold": "10 s"}, point={"phase": "hold", "held": 9})

    assert result.locations[0] == {
        "temperature": 25.0,
        "target": 37.0,
        "phase": "ramp",
        "held": 0.0,
    }
    reached = times_of(result, lambda location: location["phase"] == "hold")[0]
    assert result.elapsed == reached + 10


@pytest.mark.parametrize(
    "point", ["soon", {"phase": "hold", "held": -1}, {"phase": "hold", "held": True}, 7, [1]]
)
async def test_a_bad_point_warns_and_waits_from_the_beginning(pty: Bench, point: Any) -> None:
    result = await run(pty, TO_37, point=point)

    warnings = [d for d in result.diagnostics if d["level"] == "warning"]
    assert [w["code"] for w in warnings] == ["bad-point"]
    assert warnings[0]["message"].startswith(f"cannot start from point {point!r}: ")
    assert result.state is StepState.COMPLETED
    assert 45 <= result.elapsed <= 48


# Faults while waiting


class Failing(TempModuleSimulator):
    """Something happens to the module at `at` virtual seconds."""

    def __init__(self, at: float, what: str) -> None:
        super().__init__(make_clock())
        self.at, self.what = at, what

    def respond(self, command: bytes) -> bytes:
        if self.what and self.clock.monotonic() >= self.at:
            if self.what == "alarm":
                self.thermal_fault("thermistor open circuit")
            else:
                self.power_cycle()
            self.what = ""
        return super().respond(command)


async def test_a_thermal_alarm_fails_the_step_with_the_alarm(open_bench: OpenBench) -> None:
    bench = await open_bench(Failing(at=20, what="alarm"))
    result = await run(bench, TO_37)

    assert result.state is StepState.FAILED
    assert result.elapsed == 20
    assert result.error == (
        "device tm: the module reports an alarm: alarm: thermistor open circuit "
        "(sent 'M105\\r\\n\\r\\n', "
        "got 'alarm: thermistor open circuit\\r\\n\\r\\nok\\r\\nok\\r\\n')"
    )
    failed = [e for e in result.of_type(EventType.STATE) if e.payload["state"] == StepState.FAILED]
    assert failed[0].payload["error_type"] == "DeviceAlarm"


async def test_a_module_that_lost_its_target_fails_the_step(open_bench: OpenBench) -> None:
    bench = await open_bench(Failing(at=20, what="reset"))
    result = await run(bench, TO_37)

    assert result.state is StepState.FAILED
    assert result.error == (
        "device tm: the module's target is none, not 37 °C: it was deactivated or reset "
        "while the step waited (sent 'M105', got 'T:none C:33.8')"
    )


# Arguments


@pytest.mark.parametrize(
    ("tolerance", "kelvin"),
    [
        ("0.5 K", 0.5),
        ("0.5 delta_degC", 0.5),
        ("0.9 delta_degF", 0.5),
        ("0.5 degC", 0.5),
        ("0.5 °C", 0.5),
        ("1.8 degF", 1.0),
        ("10 K", 10.0),
        ({"magnitude": 2, "units": "delta_degree_Celsius"}, 2.0),
    ],
)
def test_the_tolerance_is_a_temperature_difference(tolerance: Any, kelvin: float) -> None:
    data: Any = SET.validate({**TO_37, "tolerance": tolerance})
    assert data.tolerance.m_as("K") == pytest.approx(kelvin)
    # It survives the JSON round trip a restart event makes.
    again: Any = SET.validate(data.model_dump(mode="json"))
    assert again.tolerance.m_as("K") == pytest.approx(kelvin)


@pytest.mark.parametrize(
    ("tolerance", "message"),
    [
        ("0 K", "a tolerance must be above 0 K and at most 10 K, not 0 K"),
        ("-1 K", "a tolerance must be above 0 K and at most 10 K, not -1 K"),
        ("11 delta_degC", "a tolerance must be above 0 K and at most 10 K, not 11 Δ°C"),
        ("5 ml", "expected a temperature difference, got 5 ml (a volume)"),
        ("0.5", "a temperature difference needs a unit, such as '37 degC'"),
    ],
)
def test_a_bad_tolerance_is_refused(tolerance: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SET.validate({**TO_37, "tolerance": tolerance})
    assert message in str(caught.value)


def test_the_tolerance_defaults_to_half_a_kelvin_and_shows_a_difference_as_example() -> None:
    data: Any = SET.validate(TO_37)
    assert data.tolerance.m_as("K") == 0.5
    schema = SET.args_model.model_json_schema()["properties"]["tolerance"]
    assert schema["x-quantity"] == "temperature difference"
    assert schema["anyOf"][0]["examples"] == ["0.5 K"]


@pytest.mark.parametrize("temperature", ["3.9 degC", "95.5 degC", "210 degF", "250 K", "37 K"])
def test_the_target_must_be_within_4_to_95_degc(temperature: str) -> None:
    with pytest.raises(ValidationError):
        SET.validate({**TO_37, "temperature": temperature})


@pytest.mark.parametrize("hold", ["-1 s", "5 K"])
def test_the_hold_must_be_a_time_not_below_zero(hold: str) -> None:
    with pytest.raises(ValidationError):
        SET.validate({**TO_37, "hold": hold})


def test_the_estimate_assumes_the_block_starts_at_room_temperature() -> None:
    data = SET.validate({**TO_37, "tolerance": "1 K", "hold": "5 min"})
    assert SET.estimate(data) == pytest.approx(MODEL.time_to_within(25, 37, 1) + 300)


def test_the_module_argument_names_a_gen2_module() -> None:
    assert [(name, ref.drivers) for name, ref in SET.devices] == [("module", ("tempmodule.gen2",))]
    assert [(name, ref.drivers) for name, ref in DEACTIVATE.devices] == [
        ("module", ("tempmodule.gen2",))
    ]


# Deactivate


async def test_deactivate_sends_m18_and_the_block_drifts_back(pty: Bench) -> None:
    await pty.module.set_target(60)
    result = await run_process(
        DEACTIVATE, {"module": "tm"}, clock=pty.clock, devices={"tm": pty.module}
    )

    assert result.state is StepState.COMPLETED
    assert pty.server.received == [b"M104 S60", b"M18"]
    assert pty.simulated.target is None
    assert result.locations == [{"target": None}]
    assert DEACTIVATE.estimate(DEACTIVATE.validate({"module": "tm"})) == 0
