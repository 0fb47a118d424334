"""The `syringe.ne1000` driver: the exact bytes it writes, and how it reads what comes back.

Most tests answer from a script of replies (whatever was asked), served on a real pty, so
that each asserts the bytes the driver wrote and what it made of a given reply.
"""

from typing import Any

import pytest
from pydantic import ValidationError
from syringe_bench import Bench, OpenBench, scripted

from labrun import (
    DeviceAlarm,
    DeviceError,
    DeviceReplyError,
    DeviceValue,
    SerialDriver,
    parse_quantity,
)
from labrun.device.errors import DeviceRefused
from labrun_syringe import Direction, Ne1000, Ne1000Options, Ne1000Simulator, plugin

OK = b"\x0200S\x03"


def frame(body: str) -> bytes:
    return b"\x02" + body.encode() + b"\x03"


# Declaration.


def test_the_plugin_declares_the_driver_and_its_processes() -> None:
    assert plugin.namespace == "syringe"
    assert plugin.problems == []
    assert plugin.drivers == {"ne1000": Ne1000}
    assert sorted(plugin.processes) == ["infuse", "stop", "withdraw"]
    assert issubclass(Ne1000, SerialDriver)
    assert Ne1000.simulator is Ne1000Simulator
    assert Ne1000.Options is Ne1000Options


def test_the_line_is_9600_8n1() -> None:
    s = Ne1000.serial
    assert (s.baudrate, s.bytesize, s.parity, s.stopbits) == (9600, 8, "N", 1)


def test_the_values_it_declares() -> None:
    assert Ne1000.values == (
        DeviceValue("status", None, 1.0, False, Ne1000.values[0].description),
        DeviceValue("infused", "ml", 1.0, False, Ne1000.values[1].description),
        DeviceValue("withdrawn", "ml", 1.0, False, Ne1000.values[2].description),
        DeviceValue("rate", "ml/min", None, True, Ne1000.values[3].description),
    )


def test_the_options_default_to_address_0_and_a_14_5_mm_syringe() -> None:
    options = Ne1000Options()
    assert options.address == 0
    assert options.diameter == parse_quantity("14.5 mm")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"address": 100}, "less than or equal to 99"),
        ({"address": -1}, "greater than or equal to 0"),
        ({"diameter": "0.05 mm"}, "0.05 mm is below the minimum 0.1 mm"),
        ({"diameter": "81 mm"}, "81 mm is above the maximum 80 mm"),
        ({"diameter": "14.567 mm"}, "the nearest it takes is 14.57 mm"),
        ({"diameter": "14.5 ml"}, "expected a length"),
        ({"baud": 9600}, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Ne1000Options.model_validate(options)


# Connecting and identifying.


async def test_connect_sends_the_diameter(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK))
    assert bench.sent == [b"0DIA14.50\r"]


async def test_the_address_and_diameter_come_from_the_options(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(frame("07S")), address=7, diameter="4.699 mm")
    assert bench.sent == [b"7DIA4.699\r"]


async def test_a_running_pump_keeps_its_diameter_when_it_is_the_right_one(
    open_bench: OpenBench,
) -> None:
    bench = await open_bench(scripted(frame("00I?NA"), frame("00I14.50")))
    assert bench.sent == [b"0DIA14.50\r", b"0DIA\r"]


async def test_a_running_pump_with_another_diameter_cannot_connect(
    open_bench: OpenBench,
) -> None:
    bench = await open_bench(scripted(frame("00I?NA"), frame("00I26.59")), connect=False)
    with pytest.raises(DeviceReplyError) as raised:
        await bench.driver.connect()
    assert str(raised.value) == (
        "device pump: cannot set the syringe diameter to 14.50 mm while the pump runs (it is "
        "set to 26.59 mm): stop the pump first (sent '0DIA14.50\\r', got '\\x0200I?NA\\x03')"
    )


async def test_identify_returns_the_model_and_firmware(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00SNE1000V3.928")))
    assert await bench.driver.identify() == "NE1000V3.928"
    assert bench.sent[-1] == b"0VER\r"


async def test_another_instrument_is_refused(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00SNE500V2.0")))
    with pytest.raises(DeviceReplyError) as raised:
        await bench.driver.identify()
    assert str(raised.value) == (
        "device pump: this is not an NE-1000: it identifies as 'NE500V2.0' "
        "(sent '0VER\\r', got '\\x0200SNE500V2.0\\x03')"
    )


# Programming.


async def test_pumping_commands_write_these_bytes(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(*[OK] * 9))
    driver = bench.driver

    await driver.set_direction(Direction.INFUSE)
    assert await driver.set_volume(parse_quantity("1.5 ml")) == parse_quantity("1.5 ml")
    assert await driver.set_rate(parse_quantity("5 ul/min")) == parse_quantity("5 ul/min")
    await driver.clear(Direction.WITHDRAW)
    await driver.run()
    await driver.pause()
    await driver.set_direction(Direction.WITHDRAW)

    assert bench.sent[1:] == [
        b"0DIR INF\r",
        b"0VOL ML\r",
        b"0VOL1.500\r",
        b"0RAT5.000UM\r",
        b"0CLD WDR\r",
        b"0RUN\r",
        b"0STP\r",
        b"0DIR WDR\r",
    ]


async def test_a_small_volume_goes_in_microlitres(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, OK, OK))
    sent = await bench.driver.set_volume(parse_quantity("0.0125 ml"))
    assert bench.sent[1:] == [b"0VOL UL\r", b"0VOL12.50\r"]
    assert sent == parse_quantity("12.5 ul")


@pytest.mark.parametrize(
    ("method", "value", "message"),
    [
        (
            "set_volume",
            "1.23456 ml",
            "device pump: cannot set the volume: 1.23456 ml cannot be sent to the pump, which "
            "takes at most 4 digits (3 after the point) in ml or µl: the nearest it takes is "
            "1.235 ml",
        ),
        (
            "set_rate",
            "12345 ml/min",
            "device pump: cannot set the rate: 12345 ml/min cannot be sent to the pump: the "
            "most it takes is 9999 ml/min",
        ),
    ],
)
async def test_a_value_that_would_lose_digits_is_not_sent(
    open_bench: OpenBench, method: str, value: str, message: str
) -> None:
    bench = await open_bench(scripted(OK))
    with pytest.raises(ValueError, match=r"^device pump: cannot set the") as raised:
        await getattr(bench.driver, method)(parse_quantity(value))
    assert str(raised.value) == message
    assert bench.sent == [b"0DIA14.50\r"]


# Replies.


@pytest.mark.parametrize(
    ("letter", "meaning"),
    [
        ("S", "the pump stalled (alarm S)"),
        ("R", "the pump was reset: its power was interrupted (alarm R)"),
        ("T", "the safe-mode communication timeout expired (alarm T)"),
        ("E", "the pumping program has an error (alarm E)"),
        ("O", "a pumping phase is out of range (alarm O)"),
    ],
)
async def test_an_alarm_is_a_device_alarm(open_bench: OpenBench, letter: str, meaning: str) -> None:
    bench = await open_bench(scripted(OK, frame(f"00A?{letter}")))
    with pytest.raises(DeviceAlarm) as raised:
        await bench.driver.run()
    assert str(raised.value) == (
        f"device pump: {meaning} (sent '0RUN\\r', got '\\x0200A?{letter}\\x03')"
    )


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("NA", "the command is not applicable now (?NA)"),
        ("OOR", "a value is out of range (?OOR)"),
        ("COM", "the command or its argument is invalid (?COM)"),
        ("IGN", "the pump ignored the command (?IGN)"),
    ],
)
async def test_an_error_reply_is_a_refusal_that_leaves_the_pump_available(
    open_bench: OpenBench, code: str, meaning: str
) -> None:
    bench = await open_bench(scripted(OK, frame(f"00S?{code}")))
    faults: list[DeviceError] = []
    bench.link.on_fault = faults.append
    with pytest.raises(DeviceRefused) as raised:
        await bench.driver.set_rate(parse_quantity("5 ul/min"))
    # The pump answered as it should: nothing to reconnect.
    assert faults == []
    assert str(raised.value) == (
        f"device pump: the pump refused RAT5.000UM: {meaning} "
        f"(sent '0RAT5.000UM\\r', got '\\x0200S?{code}\\x03')"
    )


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (b"\x02\x80junk\x03", "the reply holds bytes that are not ASCII"),
        (b"junk\x03", "the reply does not start with STX"),
        (b"\x0200Z\x03", "the reply is not an address and a status"),
        (b"\x0203S\x03", "it comes from address 03, not 00"),
    ],
)
async def test_a_garbled_reply_is_a_reply_error(
    open_bench: OpenBench, reply: bytes, reason: str
) -> None:
    bench = await open_bench(scripted(OK, reply))
    faults: list[DeviceError] = []
    bench.link.on_fault = faults.append
    with pytest.raises(DeviceReplyError) as raised:
        await bench.driver.run()
    assert faults == [raised.value]
    assert str(raised.value) == (
        f"device pump: garbled reply: {reason} (sent '0RUN\\r', got {reply.decode('latin-1')!r})"
    )


@pytest.mark.parametrize(
    ("reply", "garbled"),
    [(frame("00SI1.5W"), "00SI1.5W"), (frame("00S"), "00S")],
)
async def test_a_reply_to_dis_without_counters_is_garbled(
    open_bench: OpenBench, reply: bytes, garbled: str
) -> None:
    bench = await open_bench(scripted(OK, reply))
    with pytest.raises(DeviceReplyError) as raised:
        await bench.driver.dispensed()
    assert str(raised.value) == (
        f"device pump: garbled reply to DIS (sent '0DIS\\r', got '\\x02{garbled}\\x03')"
    )


# Stopping.


async def test_stop_sends_stp_until_the_pump_is_stopped(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00P"), frame("00S")))
    await bench.driver.stop()
    assert bench.sent[1:] == [b"0STP\r", b"0STP\r"]


async def test_an_alarm_while_stopping_is_not_an_error(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00A?S"), frame("00S")))
    await bench.driver.safe_state()
    assert bench.sent[1:] == [b"0STP\r", b"0STP\r"]


@pytest.mark.parametrize("moving", ["I", "W", "X"])
async def test_the_hold_action_pauses_a_pump_still_moving(
    open_bench: OpenBench, moving: str
) -> None:
    bench = await open_bench(scripted(OK, frame(f"00{moving}I0.100W0.000ML"), frame("00P")))
    await bench.driver.hold()
    assert bench.sent[1:] == [b"0DIS\r", b"0STP\r"]


@pytest.mark.parametrize("still", ["P", "S"])
async def test_the_hold_action_leaves_a_pump_already_still(
    open_bench: OpenBench, still: str
) -> None:
    bench = await open_bench(scripted(OK, frame(f"00{still}I0.100W0.000ML")))
    await bench.driver.hold()
    assert bench.sent[1:] == [b"0DIS\r"]


async def test_a_pump_that_never_stops_is_a_fault_after_4_tries(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, *[frame("00I")] * 4))
    with pytest.raises(DeviceReplyError) as raised:
        await bench.driver.safe_state()
    assert bench.sent[1:] == [b"0STP\r"] * 4
    assert str(raised.value) == (
        "device pump: the pump does not stop: still infusing after 4 STP "
        "(sent '0STP\\r', got '\\x0200I\\x03')"
    )


async def test_pause_sends_one_stp(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00P")))
    assert await bench.driver.pause() == "P"
    assert bench.sent[1:] == [b"0STP\r"]


# Values.


async def test_values_are_read_from_dis_and_rat(open_bench: OpenBench) -> None:
    bench = await open_bench(
        scripted(
            OK,
            frame("00IDIS"),  # not yet a DIS reply: the status alone is garbled for `status`
            frame("00II12.50W3.000UL"),
            frame("00WI1.500W0.250ML"),
            frame("00PI0.000W7.000ML"),
            frame("00S5.000UM"),
        )
    )
    driver = bench.driver
    with pytest.raises(DeviceReplyError):
        await driver.read("status")
    assert await driver.read("status") == "infusing"
    assert await driver.read("infused") == parse_quantity("1.5 ml")
    assert await driver.read("withdrawn") == parse_quantity("7 ml")
    rate = await driver.read("rate")
    assert rate.units == parse_quantity("1 ml/min").units
    assert rate.magnitude == pytest.approx(0.005)
    assert bench.sent[1:] == [b"0DIS\r"] * 4 + [b"0RAT\r"]


async def test_status_and_counters_read_together_take_one_dis(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00WI1.500W0.250ML"), frame("00S5.000UM")))
    values = await bench.driver.read_many(["status", "infused", "withdrawn", "rate"])
    assert values["status"] == "withdrawing"
    assert values["infused"] == parse_quantity("1.5 ml")
    assert values["withdrawn"] == parse_quantity("0.25 ml")
    assert values["rate"].magnitude == pytest.approx(0.005)
    assert bench.sent[1:] == [b"0DIS\r", b"0RAT\r"]


async def test_the_rate_alone_takes_no_dis(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00S5.000UM")))
    assert list(await bench.driver.read_many(["rate"])) == ["rate"]
    assert bench.sent[1:] == [b"0RAT\r"]


async def test_counters_in_microlitres_are_read_in_millilitres(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, frame("00II12.50W3.000UL")))
    dispensed = await bench.driver.dispensed()
    assert dispensed.infused_ml == pytest.approx(0.0125)
    assert dispensed.withdrawn_ml == pytest.approx(0.003)
    assert dispensed.counter_ml(Direction.WITHDRAW) == pytest.approx(0.003)
    assert dispensed.state == "infusing"


async def test_writing_the_rate_sends_rat(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK, OK, OK))
    await bench.driver.write("rate", "2 ml/h")
    await bench.driver.write("rate", parse_quantity("0.5 ml/min"))
    assert bench.sent[1:] == [b"0RAT2.000MH\r", b"0RAT500.0UM\r"]


async def test_an_unknown_value_cannot_be_read_or_written(open_bench: OpenBench) -> None:
    bench = await open_bench(scripted(OK))
    with pytest.raises(DeviceReplyError, match="no value named 'pressure'"):
        await bench.driver.read("pressure")
    with pytest.raises(DeviceReplyError, match="the value 'infused' cannot be written"):
        await bench.driver.write("infused", "1 ml")
    assert bench.sent == [b"0DIA14.50\r"]


# Against the simulator, on both lines.


async def test_the_driver_and_the_simulator_agree(bench: Bench) -> None:
    driver = bench.driver
    assert await driver.identify() == "NE1000V3.928"
    await driver.set_direction(Direction.INFUSE)
    await driver.set_volume(parse_quantity("0.5 ml"))
    await driver.set_rate(parse_quantity("1 ml/min"))
    await driver.clear(Direction.INFUSE)
    assert await driver.run() == "I"
    await bench.clock.sleep(15)
    assert await driver.read("infused") == parse_quantity("0.25 ml")
    assert await driver.read("status") == "infusing"
    await driver.safe_state()
    assert bench.pump.status == "S"
    assert bench.server.received[-2:] == [b"0STP", b"0STP"]
    assert await driver.read("rate") == parse_quantity("1 ml/min")
