"""The NE-1000 simulator on its own: frames in, frames out, pumping on a virtual clock."""

import pytest

from labrun import VirtualClock
from labrun_syringe import Ne1000Simulator
from labrun_syringe.simulator import rate_limits


def frame(body: str) -> bytes:
    return b"\x02" + body.encode() + b"\x03"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def pump(clock: VirtualClock) -> Ne1000Simulator:
    """A pump programmed for 1 ml at 1 ml/min, infusing, at rest."""
    pump = Ne1000Simulator(clock)
    for command in (b"0DIA14.50", b"0DIR INF", b"0VOL ML", b"0VOL1.000", b"0RAT1.000MM"):
        assert pump.respond(command) == frame("00S")
    return pump


async def test_a_volume_takes_volume_over_rate(pump: Ne1000Simulator, clock: VirtualClock) -> None:
    assert pump.respond(b"0RUN") == frame("00I")
    await clock.sleep(30)
    assert pump.respond(b"0DIS") == frame("00II0.500W0.000ML")
    await clock.sleep(30)
    assert pump.respond(b"0DIS") == frame("00SI1.000W0.000ML")
    # Stopped at the volume: time passing pumps no more.
    await clock.sleep(600)
    assert pump.infused == 1.0
    assert pump.status == "S"


async def test_the_first_stop_pauses_and_the_second_stops(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.respond(b"0RUN")
    await clock.sleep(15)
    assert pump.respond(b"0STP") == frame("00P")
    await clock.sleep(100)
    assert pump.infused == 0.25
    assert pump.respond(b"0STP") == frame("00S")
    assert pump.respond(b"0STP") == frame("00S")


async def test_run_resumes_a_paused_pump_to_the_same_volume(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.respond(b"0RUN")
    await clock.sleep(15)
    pump.respond(b"0STP")
    await clock.sleep(100)
    assert pump.respond(b"0RUN") == frame("00I")
    await clock.sleep(45)
    assert pump.status == "S"
    assert pump.infused == 1.0


async def test_run_on_a_stopped_pump_pumps_the_volume_again(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.respond(b"0RUN")
    await clock.sleep(15)
    pump.respond(b"0STP")
    pump.respond(b"0STP")
    pump.respond(b"0RUN")
    await clock.sleep(600)
    assert pump.infused == 1.25
    assert pump.delivered == 1.25


async def test_withdrawing_counts_apart_and_clearing_a_counter_keeps_the_other(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.respond(b"0RUN")
    await clock.sleep(60)
    assert pump.respond(b"0DIR WDR") == frame("00S")
    assert pump.respond(b"0VOL UL") == frame("00S")
    assert pump.respond(b"0VOL250.0") == frame("00S")
    assert pump.respond(b"0RUN") == frame("00W")
    await clock.sleep(60)
    assert pump.respond(b"0DIS") == frame("00SI1000W250.0UL")
    assert pump.delivered == 0.75
    assert pump.respond(b"0CLD INF") == frame("00S")
    assert pump.respond(b"0DIS") == frame("00SI0.000W250.0UL")
    assert pump.delivered == 0.75


def test_queries_answer_the_settings(pump: Ne1000Simulator) -> None:
    assert pump.respond(b"0DIA") == frame("00S14.50")
    assert pump.respond(b"0DIR") == frame("00SINF")
    assert pump.respond(b"0VOL") == frame("00S1.000ML")
    assert pump.respond(b"0RAT") == frame("00S1.000MM")
    assert pump.respond(b"0VER") == frame("00SNE1000V3.928")
    # An address alone asks for the status.
    assert pump.respond(b"0") == frame("00S")


def test_the_rate_keeps_the_units_it_was_given(pump: Ne1000Simulator) -> None:
    assert pump.respond(b"0RAT5.000UM") == frame("00S")
    assert pump.respond(b"0RAT") == frame("00S5.000UM")
    assert pump.rate == pytest.approx(0.005)


def test_rate_limits_follow_the_syringe_cross_section() -> None:
    _, high = rate_limits(26.59)
    # The NE-1000's specification: 1699 ml/h at most on a 60 ml (26.59 mm) syringe.
    assert high * 60 == pytest.approx(1699)
    low_1ml, _ = rate_limits(4.699)
    assert low_1ml * 60_000 == pytest.approx(0.73)  # µl/h on a 1 ml (4.699 mm) syringe
    assert rate_limits(10)[1] / rate_limits(5)[1] == pytest.approx(4)


@pytest.mark.parametrize("rate", [b"0RAT9.000MM", b"0RAT6.000UH"])
def test_a_rate_outside_the_limits_is_out_of_range(pump: Ne1000Simulator, rate: bytes) -> None:
    # 14.5 mm: about 8.4 ml/min at most and 6.95 µl/h at least.
    assert pump.respond(rate) == frame("00S?OOR")
    assert pump.respond(b"0RAT") == frame("00S1.000MM")


def test_a_diameter_change_that_puts_the_rate_out_of_range_alarms_at_run(
    pump: Ne1000Simulator,
) -> None:
    assert pump.respond(b"0DIA1.000") == frame("00S")
    assert pump.respond(b"0RUN") == frame("00A?O")
    assert pump.status == "S"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (b"0DIA80.01", "00S?OOR"),
        (b"0DIA0.05", "00S?OOR"),
        (b"0DIA14.505", "00S?COM"),  # 5 digits
        (b"0VOL1.2345", "00S?COM"),
        (b"0VOL12345", "00S?COM"),
        (b"0VOL-1", "00S?COM"),
        (b"0DIR UP", "00S?COM"),
        (b"0CLD ALL", "00S?COM"),
        (b"0XYZ", "00S?"),
        (b"0dis", "00S?"),
    ],
)
def test_bad_commands_are_refused(pump: Ne1000Simulator, command: bytes, reply: str) -> None:
    assert pump.respond(command) == frame(reply)


async def test_settings_cannot_change_while_pumping(pump: Ne1000Simulator) -> None:
    pump.respond(b"0RUN")
    for command in (b"0DIA20.00", b"0DIR WDR", b"0VOL2.000"):
        assert pump.respond(command) == frame("00I?NA")
    # The rate can: the pump changes speed on the fly.
    assert pump.respond(b"0RAT2.000MM") == frame("00I")


async def test_a_stall_while_pumping_stops_and_alarms_once(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.respond(b"0RUN")
    await clock.sleep(15)
    pump.stall()
    await clock.sleep(15)
    assert pump.respond(b"0DIS") == frame("00A?S")
    assert pump.respond(b"0DIS") == frame("00SI0.250W0.000ML")


async def test_a_stall_at_rest_alarms_at_the_next_run_which_does_not_pump(
    pump: Ne1000Simulator, clock: VirtualClock
) -> None:
    pump.stall()
    assert pump.respond(b"0DIS") == frame("00SI0.000W0.000ML")
    assert pump.respond(b"0RUN") == frame("00A?S")
    await clock.sleep(60)
    assert pump.infused == 0
    assert pump.respond(b"0RUN") == frame("00I")


def test_a_pump_with_an_address_ignores_other_pumps(clock: VirtualClock) -> None:
    pump = Ne1000Simulator(clock, address=3)
    assert pump.respond(b"0VER") == b""
    assert pump.respond(b"VER") == b""
    assert pump.respond(b"3VER") == frame("03SNE1000V3.928")
    assert pump.respond(b"03VER") == frame("03SNE1000V3.928")


def test_a_pump_without_an_address_answers_as_the_one_asked(clock: VirtualClock) -> None:
    pump = Ne1000Simulator(clock)
    assert pump.respond(b"12VER") == frame("12SNE1000V3.928")
    assert pump.respond(b"VER") == frame("00SNE1000V3.928")


def test_volume_units_follow_the_diameter(clock: VirtualClock) -> None:
    pump = Ne1000Simulator(clock)
    pump.respond(b"0DIA4.699")
    assert pump.volume_units == "UL"
    pump.respond(b"0DIA26.59")
    assert pump.volume_units == "ML"
