"""Links: a frame exchanged over a real pty and over TCP, and every way it can go wrong
raised as the DeviceError that says so, with the device, the command and what came back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from lamp import METER_SIMULATION, SETTINGS, Lamp, LampOptions, LampSimulator

from labrun import (
    DeviceDisconnected,
    DeviceError,
    DeviceReplyError,
    DeviceTimeout,
    DeviceUnavailable,
    SerialLink,
    SimulatorServer,
    VirtualClock,
    VisaLink,
    VisaSettings,
)


@dataclass
class Line:
    clock: VirtualClock
    server: SimulatorServer
    link: SerialLink
    faults: list[DeviceError] = field(default_factory=list)
    io: list[tuple[str, bytes | str]] = field(default_factory=list)

    @property
    def simulator(self) -> LampSimulator:
        simulator = self.server.simulator
        assert isinstance(simulator, LampSimulator)
        return simulator


class Unplugging(LampSimulator):
    """Pulls its own cable when it receives `at`, after answering `partial`."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock)
        self.at = b""
        self.partial = b""
        self.unplug: Callable[[], None] = lambda: None

    def respond(self, command: bytes) -> bytes:
        if command == self.at:
            self.unplug()
            return b""
        return super().respond(command)


@pytest.fixture(params=["pty", "tcp"])
async def line(request: pytest.FixtureRequest) -> AsyncIterator[Line]:
    clock = VirtualClock()
    server = SimulatorServer(Unplugging(clock), line=request.param, name="lamp")
    await server.start()
    link = SerialLink("lamp", server.url, SETTINGS, clock)
    made = Line(clock, server, link)
    link.on_fault = made.faults.append
    link.on_io = lambda _device, direction, data: made.io.append((direction, data))
    await link.open()
    yield made
    await link.close()
    await server.stop()


async def test_a_command_gets_its_reply_up_to_the_terminator(line: Line) -> None:
    assert await line.link.exchange(b"ID?\r", until=b"\n") == b"LAMP-1 SN42\n"
    assert await line.link.exchange(b"LVL 12.5\r", until=b"\n") == b"OK\n"
    assert await line.link.exchange(b"LVL?\r", until=b"\n") == b"12.5\n"
    assert line.server.received == [b"ID?", b"LVL 12.5", b"LVL?"]
    assert line.io == [
        ("tx", b"ID?\r"),
        ("rx", b"LAMP-1 SN42\n"),
        ("tx", b"LVL 12.5\r"),
        ("rx", b"OK\n"),
        ("tx", b"LVL?\r"),
        ("rx", b"12.5\n"),
    ]
    assert line.faults == []


async def test_send_expects_no_reply_and_the_device_acts_on_it(line: Line) -> None:
    # A command with no reply: the lamp would answer OK, which send() would leave unread.
    line.server.silence()
    await line.link.send(b"ON\r")
    assert await line.link.exchange(b"ON?\r", until=b"\n") == b"1\n"
    assert line.simulator.on


async def test_a_reply_that_never_comes_is_a_timeout_naming_the_command(line: Line) -> None:
    line.server.silence()
    with pytest.raises(DeviceTimeout) as raised:
        await line.link.exchange(b"LVL?\r", until=b"\n")
    assert str(raised.value) == "device lamp: no reply within 0.3 s (sent 'LVL?\\r', got nothing)"
    assert (raised.value.device, raised.value.command, raised.value.reply) == (
        "lamp",
        b"LVL?\r",
        None,
    )
    assert line.faults == [raised.value]


async def test_a_timeout_given_for_one_slow_command_replaces_the_lines(line: Line) -> None:
    line.server.silence()
    with pytest.raises(DeviceTimeout, match=r"no reply within 0\.05 s"):
        await line.link.exchange(b"LVL?\r", until=b"\n", within=0.05)


async def test_garbage_without_the_terminator_times_out_showing_what_came(line: Line) -> None:
    line.server.garble(b"\x15\x00noise")
    with pytest.raises(DeviceTimeout) as raised:
        await line.link.exchange(b"LVL?\r", until=b"\n")
    assert str(raised.value) == (
        "device lamp: no reply within 0.3 s (sent 'LVL?\\r', got '\\x15\\x00noise')"
    )
    assert raised.value.reply == b"\x15\x00noise"


async def test_what_a_timed_out_reply_left_on_the_line_is_dropped(line: Line) -> None:
    line.server.garble(b"LAMP-1 SN")
    with pytest.raises(DeviceTimeout, match=r"got 'LAMP-1 SN'\)$"):
        await line.link.exchange(b"ID?\r", until=b"\n")
    # Not b"LAMP-1 SNLAMP-1 SN42\n": the rest of the earlier reply is not this one's.
    assert await line.link.exchange(b"ID?\r", until=b"\n") == b"LAMP-1 SN42\n"
    assert line.io[1:3] == [("rx", b"LAMP-1 SN"), ("tx", b"ID?\r")]


async def test_a_garbled_reply_is_raised_by_the_driver_as_a_reply_error(line: Line) -> None:
    driver = Lamp("lamp", LampOptions(), line.link, line.clock)
    line.server.garble(b"#?!\n")
    with pytest.raises(DeviceReplyError) as raised:
        await driver.read("level")
    assert str(raised.value) == (
        "device lamp: the level is not a number (sent 'LVL?\\r', got '#?!')"
    )
    # The driver's fault reaches the same listener as the link's own.
    assert line.faults == [raised.value]


async def test_a_cable_pulled_during_a_command_is_a_disconnection(line: Line) -> None:
    simulator = line.server.simulator
    assert isinstance(simulator, Unplugging)
    simulator.at = b"LVL?"
    simulator.unplug = line.server.disconnect
    with pytest.raises(DeviceDisconnected) as raised:
        await line.link.exchange(b"LVL?\r", until=b"\n")
    assert str(raised.value).startswith("device lamp: ")
    assert str(raised.value).endswith("(sent 'LVL?\\r', got nothing)")
    assert raised.value.command == b"LVL?\r"
    assert line.faults == [raised.value]


async def test_after_a_pulled_cable_the_next_command_fails_at_once(line: Line) -> None:
    simulator = line.server.simulator
    assert isinstance(simulator, Unplugging)
    simulator.at = b"LVL?"
    simulator.unplug = line.server.disconnect
    with pytest.raises(DeviceDisconnected):
        await line.link.exchange(b"LVL?\r", until=b"\n")
    with pytest.raises(DeviceDisconnected) as raised:
        await line.link.exchange(b"ID?\r", until=b"\n")
    assert str(raised.value) == "device lamp: not connected (sent 'ID?\\r', got nothing)"
    assert not line.link.is_open


async def test_the_same_url_reaches_the_device_again_after_a_pulled_cable(line: Line) -> None:
    line.server.disconnect()
    await line.link.close()
    await line.link.open()
    assert await line.link.exchange(b"ID?\r", until=b"\n") == b"LAMP-1 SN42\n"


async def test_an_unavailable_link_fails_fast_and_sends_nothing(line: Line) -> None:
    line.link.unavailable = "it stopped answering"
    with pytest.raises(DeviceUnavailable) as raised:
        await line.link.exchange(b"ID?\r", until=b"\n")
    assert str(raised.value) == "device lamp: unavailable: it stopped answering"
    with pytest.raises(DeviceUnavailable):
        await line.link.send(b"ON\r")
    assert line.server.received == []
    assert line.io == []


async def test_a_port_that_does_not_exist_cannot_be_opened(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB9"
    link = SerialLink("lamp", str(port), SETTINGS, VirtualClock())
    with pytest.raises(DeviceDisconnected) as raised:
        await link.open()
    assert str(raised.value).startswith(f"device lamp: cannot open {port}: ")
    assert not link.is_open


async def test_a_link_never_opened_is_not_connected() -> None:
    link = SerialLink("lamp", "socket://127.0.0.1:9", SETTINGS, VirtualClock())
    with pytest.raises(DeviceDisconnected, match=r"^device lamp: not connected \(sent 'ON\\r'"):
        await link.send(b"ON\r")


async def test_an_exchange_takes_no_virtual_time(line: Line) -> None:
    line.server.silence()
    with pytest.raises(DeviceTimeout):
        await line.link.exchange(b"LVL?\r", until=b"\n")
    # The clock was held while the link waited in real time.
    assert line.clock.monotonic() == 0.0


# --- VISA --------------------------------------------------------------------------------


@pytest.fixture
async def visa(tmp_path: Path) -> AsyncIterator[VisaLink]:
    file = tmp_path / "meter.yaml"
    file.write_text(METER_SIMULATION)
    settings = VisaSettings(timeout=0.5)
    link = VisaLink("meter", "TCPIP::10.0.0.1::INSTR", f"{file}@sim", settings, VirtualClock())
    await link.open()
    yield link
    await link.close()


async def test_a_visa_query_and_write_reach_the_instrument(visa: VisaLink) -> None:
    io: list[tuple[str, bytes | str]] = []
    visa.on_io = lambda _device, direction, data: io.append((direction, data))
    assert await visa.query("*IDN?") == "ACME,METER,1,0.1"
    await visa.write("LVL 2.5")
    assert await visa.query("LVL?") == "2.5"
    assert io == [
        ("tx", "*IDN?"),
        ("rx", "ACME,METER,1,0.1"),
        ("tx", "LVL 2.5"),
        ("tx", "LVL?"),
        ("rx", "2.5"),
    ]


async def test_a_visa_link_closed_is_not_connected(visa: VisaLink) -> None:
    await visa.close()
    with pytest.raises(DeviceDisconnected) as raised:
        await visa.query("*IDN?")
    assert str(raised.value) == "device meter: not connected (sent '*IDN?', got nothing)"


async def test_a_visa_link_that_cannot_be_opened_says_why(tmp_path: Path) -> None:
    file = tmp_path / "missing.yaml"
    link = VisaLink(
        "meter", "TCPIP::10.0.0.1::INSTR", f"{file}@sim", VisaSettings(), VirtualClock()
    )
    with pytest.raises(DeviceDisconnected) as raised:
        await link.open()
    assert str(raised.value).startswith("device meter: cannot open TCPIP::10.0.0.1::INSTR: ")
    assert "missing.yaml" in str(raised.value)
    assert not link.is_open
