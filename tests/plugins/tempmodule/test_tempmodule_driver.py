"""`tempmodule.gen2` against scripted replies: the exact bytes it writes, how it reads the
replies of several firmware versions, and the error each bad reply becomes."""

from __future__ import annotations

import math
from typing import Any

import pytest
from conftest import Bench, OpenBench, make_clock

from labrun import (
    DeviceAlarm,
    DeviceError,
    DeviceReplyError,
    DeviceValue,
    SerialSimulator,
    registry,
)
from labrun.device.errors import DeviceRefused
from labrun_tempmodule import TempModule, TempModuleSimulator, plugin

ACK = b"ok\r\nok\r\n"


class Scripted(SerialSimulator):
    """Answers each command with the next scripted reply, and acknowledges when none is left."""

    terminator = b"\r\n\r\n"

    def __init__(self, *replies: bytes) -> None:
        super().__init__(make_clock())
        self.replies = list(replies)

    def respond(self, command: bytes) -> bytes:
        return self.replies.pop(0) if self.replies else ACK


async def scripted(open_bench: OpenBench, *replies: bytes) -> Bench:
    return await open_bench(Scripted(*replies))


def celsius(quantity: Any) -> float:
    assert quantity.units == registry().degC
    return float(quantity.magnitude)


# Declaration


def test_the_driver_is_declared_as_gen2_with_its_line_values_and_simulator() -> None:
    assert plugin.drivers["gen2"] is TempModule
    assert plugin.problems == []
    assert TempModule.serial.baudrate == 115200
    assert TempModule.simulator is TempModuleSimulator
    assert TempModule.values == (
        DeviceValue(
            "temperature",
            "degC",
            poll=1.0,
            writable=False,
            description=TempModule.values[0].description,
        ),
        DeviceValue(
            "target", "degC", poll=None, writable=True, description=TempModule.values[1].description
        ),
    )


# The bytes written


@pytest.mark.parametrize(
    ("temperature", "command"),
    [
        ("37 degC", b"M104 S37\r\n\r\n"),
        ("4 degC", b"M104 S4\r\n\r\n"),
        ("95 degC", b"M104 S95\r\n\r\n"),
        ("42.125 degC", b"M104 S42.12\r\n\r\n"),
        ("37.5 degC", b"M104 S37.5\r\n\r\n"),
        ("98.6 degF", b"M104 S37\r\n\r\n"),
        ("310.15 K", b"M104 S37\r\n\r\n"),
        (50, b"M104 S50\r\n\r\n"),
        (4.05, b"M104 S4.05\r\n\r\n"),
    ],
)
async def test_set_target_writes_m104_with_the_celsius_value(
    open_bench: OpenBench, temperature: Any, command: bytes
) -> None:
    bench = await scripted(open_bench, ACK)
    value = temperature
    if isinstance(temperature, str):
        magnitude, unit = temperature.split()
        value = registry().Quantity(float(magnitude), unit)
    await bench.module.set_target(value)
    assert bench.sent == [command]


@pytest.mark.parametrize(
    ("temperature", "shown"),
    [
        ("3.9 degC", "3.9"),
        ("95.01 degC", "95.01"),
        ("120 degC", "120"),
        ("0 K", "-273.15"),
        (-5, "-5"),
    ],
)
async def test_a_target_outside_4_to_95_degc_is_refused_before_sending(
    open_bench: OpenBench, temperature: Any, shown: str
) -> None:
    bench = await scripted(open_bench)
    if isinstance(temperature, str):
        magnitude, unit = temperature.split()
        temperature = registry().Quantity(float(magnitude), unit)
    with pytest.raises(ValueError, match="cannot set") as caught:
        await bench.module.set_target(temperature)
    assert str(caught.value) == (
        f"cannot set tm to {shown} °C: the Temperature Module GEN2 holds 4 to 95 °C"
    )
    assert bench.sent == []


@pytest.mark.parametrize("temperature", [math.nan, math.inf, True])
async def test_a_target_that_is_not_a_temperature_is_refused_before_sending(
    open_bench: OpenBench, temperature: Any
) -> None:
    bench = await scripted(open_bench)
    with pytest.raises((ValueError, TypeError)):
        await bench.module.set_target(temperature)
    assert bench.sent == []


async def test_a_quantity_of_another_dimension_is_refused_before_sending(
    open_bench: OpenBench,
) -> None:
    bench = await scripted(open_bench)
    with pytest.raises(ValueError, match="is not a temperature"):
        await bench.module.set_target(registry().Quantity(5, "ml"))
    assert bench.sent == []


async def test_deactivate_and_the_safe_state_write_m18(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench, ACK, ACK)
    await bench.module.deactivate()
    await bench.module.safe_state()
    assert bench.sent == [b"M18\r\n\r\n", b"M18\r\n\r\n"]


# M105, as firmware versions write it


@pytest.mark.parametrize(
    ("reply", "target", "current"),
    [
        (b"T:37.0 C:24.5\r\n\r\n", 37.0, 24.5),
        (b"T:none C:23\r\n\r\n", None, 23.0),
        (b"T:85.000 C:42.123\r\n", 85.0, 42.123),
        (b"T:37 C:36.95\r\n", 37.0, 36.95),
        (b"M105 T:none C:82.3 OK\r\n", None, 82.3),
        (b"C:24.5 T:37\r\n\r\n", 37.0, 24.5),
        (b"T: 37 C: 24\r\n\r\n", 37.0, 24.0),
        (b"t:NONE c:+4.0\r\n\r\n", None, 4.0),
        (b"T:3.7e1 C:2.45E1\r\n\r\n", 37.0, 24.5),
        (b"T:.5e1 C:4.\r\n\r\n", 5.0, 4.0),
        (b"\r\nT:37.0 C:24.5 H:0\r\n\r\n", 37.0, 24.5),
    ],
)
async def test_m105_replies_are_parsed_whatever_the_number_format(
    open_bench: OpenBench, reply: bytes, target: float | None, current: float
) -> None:
    bench = await scripted(open_bench, reply + ACK)
    status = await bench.module.status()
    assert (status.target, status.current) == (target, current)
    assert bench.sent == [b"M105\r\n\r\n"]


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"T:37.0\r\n\r\n", "no C: value (expected 'T:<target> C:<current>')"),
        (b"C:24.5\r\n\r\n", "no T: value (expected 'T:<target> C:<current>')"),
        (b"24.5\r\n\r\n", "no T or C: value (expected 'T:<target> C:<current>')"),
        (b"T:37.0 C:abc\r\n\r\n", "C:abc is not a number"),
        (b"T:37.0 C:none\r\n\r\n", "C:none is not a number"),
        (b"T:37.0 C:24,5\r\n\r\n", "C:24,5 is not a number"),
        (b"T:37.0 C:nan\r\n\r\n", "C:nan is not a number"),
        (b"T:1e999 C:24.5\r\n\r\n", "T:1e999 is not a finite number"),
        (b"T:37 C:24 C:25\r\n\r\n", "'c' appears twice"),
        (b"", "no reply line before the acknowledgement, expected one"),
        (b"T:37 C:24\r\nT:37 C:25\r\n", "2 reply lines before the acknowledgement, expected one"),
    ],
)
async def test_a_garbled_m105_reply_is_a_reply_error_saying_what_is_wrong(
    open_bench: OpenBench, reply: bytes, problem: str
) -> None:
    bench = await scripted(open_bench, reply + ACK)
    with pytest.raises(DeviceReplyError) as caught:
        await bench.module.status()
    assert str(caught.value) == (
        f"device tm: garbled reply to M105: {problem} "
        f"(sent 'M105\\r\\n\\r\\n', got {(reply + ACK).decode()!r})"
    )


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        (b"T:37.0 C:\xb024.5\r\n", "bytes that are not ASCII text"),
        (b"T:37.0 C:24.5\x00\r\n", "control characters in the reply"),
    ],
)
async def test_a_reply_that_is_not_text_is_garbled(
    open_bench: OpenBench, reply: bytes, problem: str
) -> None:
    bench = await scripted(open_bench, reply + ACK)
    with pytest.raises(DeviceReplyError, match=f"^device tm: garbled reply: {problem} "):
        await bench.module.status()


# Errors and alarms the module reports


async def test_an_error_line_is_a_refusal_naming_the_command(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench, b"error: M104 target 120 is outside 4-95\r\n\r\n" + ACK)
    with pytest.raises(DeviceRefused) as caught:
        await bench.module.command("M104 S120")
    assert str(caught.value).startswith(
        "device tm: the module refused M104 S120: error: M104 target 120 is outside 4-95 "
        "(sent 'M104 S120\\r\\n\\r\\n', got "
    )
    # The module answered as it should: it stays available, nothing to reconnect.
    assert bench.faults == []


@pytest.mark.parametrize("line", [b"alarm: thermistor open circuit", b"ALARM: over temperature"])
async def test_an_alarm_line_is_a_device_alarm(open_bench: OpenBench, line: bytes) -> None:
    bench = await scripted(open_bench, line + b"\r\n\r\n" + ACK)
    with pytest.raises(DeviceAlarm) as caught:
        await bench.module.status()
    assert str(caught.value).startswith(f"device tm: the module reports an alarm: {line.decode()} ")


async def test_a_reply_to_a_command_that_is_only_acknowledged_is_unexpected(
    open_bench: OpenBench,
) -> None:
    bench = await scripted(open_bench, b"T:none C:25\r\n\r\n" + ACK)
    with pytest.raises(
        DeviceReplyError, match=r"^device tm: unexpected reply to M18, which is only acknowledged "
    ):
        await bench.module.deactivate()


async def test_a_fault_is_reported_to_the_link_so_the_device_layer_can_mark_it(
    open_bench: OpenBench,
) -> None:
    bench = await scripted(open_bench, b"T:37 C:what\r\n" + ACK)
    with pytest.raises(DeviceReplyError) as caught:
        await bench.module.status()
    assert bench.faults == [caught.value]


# Identity


async def test_identify_reads_m115(open_bench: OpenBench) -> None:
    bench = await scripted(
        open_bench, b"serial:TDV21P20201224A01 model:temp_deck_v21 version:v2.1.0\r\n\r\n" + ACK
    )
    identity = await bench.module.identify()
    assert identity == "Opentrons temp_deck_v21 serial TDV21P20201224A01 firmware v2.1.0"
    assert bench.sent == [b"M115\r\n\r\n"]


@pytest.mark.parametrize("model", ["temp_deck_v1", "temp_deck_v1.1", "mag_deck_v20", "tc_v4"])
async def test_identify_refuses_another_module(open_bench: OpenBench, model: str) -> None:
    bench = await scripted(open_bench, f"serial:X1 model:{model} version:v1\r\n\r\n".encode() + ACK)
    with pytest.raises(DeviceReplyError) as caught:
        await bench.module.identify()
    assert str(caught.value).startswith(
        f"device tm: the module is a {model}, not a Temperature Module GEN2 "
        "(temp_deck_v20 or later) (sent 'M115\\r\\n\\r\\n', got 'serial:X1"
    )


async def test_identify_refuses_a_garbled_identity(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench, b"serial:X1 version:v1\r\n\r\n" + ACK)
    with pytest.raises(DeviceReplyError, match=r"^device tm: garbled reply to M115: no model "):
        await bench.module.identify()


# Values


async def test_read_gives_the_temperature_and_the_target_as_quantities(
    open_bench: OpenBench,
) -> None:
    bench = await scripted(
        open_bench, b"T:37.0 C:24.5\r\n\r\n" + ACK, b"T:37.0 C:24.5\r\n\r\n" + ACK
    )
    assert celsius(await bench.module.read("temperature")) == 24.5
    assert celsius(await bench.module.read("target")) == 37.0


async def test_read_gives_no_target_when_deactivated(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench, b"T:none C:24.5\r\n\r\n" + ACK)
    assert await bench.module.read("target") is None


async def test_reading_an_unknown_value_is_an_error(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench)
    with pytest.raises(DeviceError, match="no value named 'humidity'"):
        await bench.module.read("humidity")
    assert bench.sent == []


@pytest.mark.parametrize(
    ("setting", "command"),
    [
        (None, b"M18\r\n\r\n"),
        ("37 degC", b"M104 S37\r\n\r\n"),
        ("40 °C", b"M104 S40\r\n\r\n"),
        (12.5, b"M104 S12.5\r\n\r\n"),
    ],
)
async def test_writing_the_target_sets_it_and_none_deactivates(
    open_bench: OpenBench, setting: Any, command: bytes
) -> None:
    bench = await scripted(open_bench, ACK)
    await bench.module.write("target", setting)
    assert bench.sent == [command]


async def test_the_temperature_cannot_be_written(open_bench: OpenBench) -> None:
    bench = await scripted(open_bench)
    with pytest.raises(DeviceError, match="cannot be written"):
        await bench.module.write("temperature", "37 degC")
    assert bench.sent == []
