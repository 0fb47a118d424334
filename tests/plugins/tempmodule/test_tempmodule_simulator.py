"""The simulated module: its framing, its answers, and a block that follows the clock."""

from __future__ import annotations

import pytest
from conftest import make_clock

from labrun import VirtualClock
from labrun_tempmodule import BlockModel, Identity, TempModuleSimulator

ACK = b"ok\r\nok\r\n"
MODEL = BlockModel()


def line(text: str) -> bytes:
    return text.encode() + b"\r\n\r\n" + ACK


def simulator(**options: object) -> tuple[TempModuleSimulator, VirtualClock]:
    clock = make_clock()
    return TempModuleSimulator(clock, **options), clock  # type: ignore[arg-type]


def test_commands_end_with_two_line_ends() -> None:
    assert TempModuleSimulator.terminator == b"\r\n\r\n"


def test_it_starts_deactivated_at_room_temperature() -> None:
    sim, _ = simulator()
    assert sim.respond(b"M105") == line("T:none C:25.0")
    assert sim.target is None


def test_m115_gives_serial_model_and_firmware() -> None:
    sim, _ = simulator()
    assert sim.respond(b"M115") == line(
        "serial:TDV21P20240315A07 model:temp_deck_v21 version:v2.1.1"
    )
    other = TempModuleSimulator(make_clock(), identity=Identity("S1", "temp_deck_v1.1", "v1"))
    assert other.respond(b"M115") == line("serial:S1 model:temp_deck_v1.1 version:v1")


async def test_m104_sets_the_target_and_the_block_heats_with_the_clock() -> None:
    sim, clock = simulator()
    assert sim.respond(b"M104 S37") == ACK
    assert sim.target == 37
    await clock.sleep(10)
    heating = sim.temperature
    assert heating == pytest.approx(MODEL.after(25, 37, 10))
    assert 25 < heating < 37
    assert sim.respond(b"M105") == line(f"T:37 C:{heating:.1f}")
    await clock.sleep(600)
    assert sim.respond(b"M105") == line("T:37 C:37.0")


async def test_heating_near_room_temperature_is_about_one_degree_a_second() -> None:
    sim, clock = simulator()
    sim.respond(b"M104 S95")
    await clock.sleep(10)
    assert sim.temperature == pytest.approx(35.0)


async def test_a_new_target_starts_from_where_the_block_is() -> None:
    sim, clock = simulator()
    sim.respond(b"M104 S60")
    await clock.sleep(20)
    reached = sim.temperature
    sim.respond(b"M104 S10")
    await clock.sleep(5)
    assert sim.temperature == pytest.approx(MODEL.after(reached, 10, 5))
    assert sim.temperature < reached


async def test_m18_drops_the_target_and_the_block_drifts_back_to_room_temperature() -> None:
    sim, clock = simulator()
    sim.respond(b"M104 S80")
    await clock.sleep(600)
    assert sim.respond(b"M18") == ACK
    assert sim.target is None
    await clock.sleep(60)
    assert 25 < sim.temperature < 79
    assert sim.respond(b"M105") == line(f"T:none C:{sim.temperature:.1f}")
    await clock.sleep(6 * 3600)
    assert sim.temperature == pytest.approx(25)


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"G28", "error: unknown command G28"),
        (b"M104", "error: M104 needs a target such as S37"),
        (b"M104 Sabc", "error: M104 needs a target such as S37"),
        (b"M104 S120", "error: M104 target 120 is outside 4-95"),
        (b"M104 S3.5", "error: M104 target 3.5 is outside 4-95"),
        (b"M104 Snan", "error: M104 target nan is outside 4-95"),
    ],
)
def test_a_command_it_cannot_do_gets_an_error_line_and_changes_nothing(
    command: bytes, reply: str
) -> None:
    sim, _ = simulator()
    sim.respond(b"M104 S50")
    assert sim.respond(command) == line(reply)
    assert sim.target == 50


def test_an_empty_frame_is_acknowledged() -> None:
    sim, _ = simulator()
    assert sim.respond(b"") == ACK


def test_m104_takes_decimals_and_pid_arguments() -> None:
    sim, _ = simulator()
    assert sim.respond(b"M104 S42.125 P0.4 I0.2 D0.2") == ACK
    assert sim.target == 42.125


async def test_a_thermal_fault_stops_the_element_and_alarms_until_power_cycled() -> None:
    sim, clock = simulator()
    sim.respond(b"M104 S70")
    await clock.sleep(30)
    sim.thermal_fault("thermistor open circuit")
    assert sim.target is None
    assert sim.respond(b"M105") == line("alarm: thermistor open circuit")
    assert sim.respond(b"M104 S37") == line("alarm: thermistor open circuit")
    assert sim.target is None
    assert sim.respond(b"M18") == ACK
    assert sim.respond(b"M115").startswith(b"serial:")
    sim.power_cycle()
    assert sim.alarm is None
    assert sim.respond(b"M105").startswith(b"T:none C:")


async def test_a_disturbed_block_follows_its_target_again_from_there() -> None:
    sim, clock = simulator()
    sim.respond(b"M104 S4")
    await clock.sleep(600)
    sim.disturb(20.0)
    assert sim.respond(b"M105") == line("T:4 C:20.0")
    await clock.sleep(10)
    assert sim.temperature == pytest.approx(MODEL.after(20, 4, 10))


def test_the_block_can_start_elsewhere_than_room_temperature() -> None:
    sim, _ = simulator(start=4.0)
    assert sim.respond(b"M105") == line("T:none C:4.0")


# The model behind the simulator and the estimates


@pytest.mark.parametrize(
    ("start", "target"), [(25, 37), (25, 95), (25, 4), (95, 4), (4, 95), (37, 36), (60, 25.2)]
)
@pytest.mark.parametrize("tolerance", [0.1, 0.5, 2.0, 10.0])
def test_time_to_within_is_when_the_model_comes_within_tolerance(
    start: float, target: float, tolerance: float
) -> None:
    seconds = MODEL.time_to_within(start, target, tolerance)
    if abs(start - target) <= tolerance:
        assert seconds == 0
        return
    assert abs(MODEL.after(start, target, seconds) - target) == pytest.approx(tolerance)
    if seconds > 0.01:
        assert abs(MODEL.after(start, target, seconds - 0.01) - target) > tolerance


def test_time_to_within_is_zero_when_already_there() -> None:
    assert MODEL.time_to_within(37.2, 37, 0.5) == 0


@pytest.mark.parametrize(("start", "target"), [(25, 95), (25, 4), (95, 4)])
def test_the_model_is_continuous_where_the_exponential_takes_over(
    start: float, target: float
) -> None:
    rate = MODEL.heating if target > start else MODEL.cooling
    knee_time = (abs(target - start) - rate * MODEL.tau) / rate
    before = MODEL.after(start, target, knee_time - 1e-6)
    after = MODEL.after(start, target, knee_time + 1e-6)
    assert before == pytest.approx(after, abs=1e-5)


def test_cooling_is_slower_than_heating_by_as_much() -> None:
    assert MODEL.time_to_within(25, 4, 0.5) > MODEL.time_to_within(25, 46, 0.5)


def test_the_documented_ramp_times() -> None:
    assert round(MODEL.time_to_within(25, 37, 0.5)) == 48
    assert round(MODEL.time_to_within(25, 95, 0.5)) == 106
    assert round(MODEL.time_to_within(25, 4, 0.5)) == 88
