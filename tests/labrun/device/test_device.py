"""A device's lifecycle: connecting, ready, unavailable after a fault (every call then fails
fast) but not after a refusal, reconnected with backoff on its clock, values read together
and safe states that resume once it is back, and a device never reached, with none to take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, cast

import pytest
from lamp import SETTINGS, Lamp, LampOptions, LampSimulator

from labrun import (
    DeviceAlarm,
    DeviceDisconnected,
    DeviceTimeout,
    DeviceUnavailable,
    DeviceValue,
    SerialLink,
    SimulatorServer,
    VirtualClock,
    registry,
)
from labrun.device.device import Device, DeviceListener, DeviceState, Reading
from labrun.device.errors import DeviceRefused
from labrun.device.link import Direction

# Short, so that reconnections in these tests take milliseconds.
BACKOFF = (0.01, 2.0, 0.05)
GUARD = 60


@dataclass
class Heard(DeviceListener):
    states: list[DeviceState] = field(default_factory=list)
    values: list[tuple[str, Any]] = field(default_factory=list)
    frames: list[tuple[Direction, bytes | str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def state_changed(self, device: Device) -> None:
        self.states.append(device.state)
        self.changed.set()

    def value_read(self, device: Device, name: str, reading: Reading) -> None:
        self.values.append((name, reading.value))
        self.changed.set()

    def frame(self, device: Device, direction: Direction, data: bytes | str) -> None:
        self.frames.append((direction, data))

    async def until(self, condition: Callable[[], bool]) -> None:
        # Polling runs on real time: the guard turns a broken rule into a failure instead
        # of a hang, and no assertion depends on how long it takes.
        async with asyncio.timeout(GUARD):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


async def ready(device: Device) -> None:
    async with asyncio.timeout(GUARD):
        await device.wait_ready()


@dataclass
class Rig:
    clock: VirtualClock
    server: SimulatorServer
    simulator: LampSimulator
    device: Device
    heard: Heard

    @property
    def driver(self) -> Lamp:
        return cast(Lamp, self.device.driver)


Make = Callable[..., Awaitable[Rig]]


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest) -> Literal["pty", "tcp"]:
    return cast(Literal["pty", "tcp"], request.param)


class TwoPolled(Lamp):
    """A lamp that polls both its values, and records how they are asked for."""

    values = (DeviceValue("on", poll=0.02), DeviceValue("level", unit="W", poll=0.02))
    asked: ClassVar[list[list[str]]]

    async def read_many(self, values: Sequence[str]) -> dict[str, Any]:
        self.asked.append(list(values))
        return await super().read_many(values)


@pytest.fixture
async def make(line: Literal["pty", "tcp"]) -> AsyncIterator[Make]:
    """`await make(url=None, io_log=False, backoff=BACKOFF, driver=Lamp)`: a lamp device on
    a simulator, not opened."""
    made: list[Rig] = []

    async def build(
        url: str | None = None,
        io_log: bool = False,
        backoff: tuple[float, float, float] = BACKOFF,
        driver_class: type[Lamp] = Lamp,
    ) -> Rig:
        clock = VirtualClock()
        simulator = LampSimulator(clock)
        server = SimulatorServer(simulator, line=line, name="lamp")
        await server.start()
        link = SerialLink("lamp", url or server.url, SETTINGS, clock)
        driver = driver_class("lamp", LampOptions(), link, clock)
        heard = Heard()
        device = Device(
            "lamp", "lamp.lamp", driver, clock, listener=heard, io_log=io_log, backoff=backoff
        )
        made.append(Rig(clock, server, simulator, device, heard))
        return made[-1]

    yield build
    for rig in made:
        await rig.device.close()
        await rig.server.stop()


@pytest.fixture
async def rig(make: Make) -> Rig:
    """A lamp device, opened."""
    made = await make()
    await made.device.open()
    assert made.device.state is DeviceState.READY, made.device.error
    return made


async def test_open_connects_and_identifies_the_instrument(make: Make) -> None:
    rig = await make()
    assert rig.device.closed
    await rig.device.open()
    assert rig.device.state is DeviceState.READY
    assert rig.device.identity == "LAMP-1 SN42"
    assert rig.device.error is None
    assert rig.heard.states == [DeviceState.CONNECTING, DeviceState.READY]
    assert rig.simulator.received == [b"ID?"]


async def test_a_read_keeps_the_latest_value_and_tells_the_listener(rig: Rig) -> None:
    reading = await rig.device.read("level")
    assert reading.value == registry().Quantity(10.0, "W")
    assert reading.time == rig.clock.now()
    assert rig.device.values == {"level": reading}
    assert rig.heard.values == [("level", reading.value)]
    readings = await rig.device.read_all()
    assert {name: r.value for name, r in readings.items()} == {
        "on": False,
        "level": registry().Quantity(10.0, "W"),
    }


async def test_a_timeout_makes_the_device_unavailable_and_calls_fail_fast(rig: Rig) -> None:
    rig.server.silence()
    with pytest.raises(DeviceTimeout) as raised:
        await rig.device.read("level")
    assert rig.device.state is DeviceState.UNAVAILABLE
    assert rig.device.error == str(raised.value)
    sent = list(rig.simulator.received)
    with pytest.raises(DeviceUnavailable) as unavailable:
        await rig.device.read("level")
    assert str(unavailable.value) == (
        "device lamp: unavailable: device lamp: no reply within 0.3 s (sent 'LVL?\\r', got nothing)"
    )
    # Failing fast: nothing went down the line.
    assert rig.simulator.received == sent


async def test_after_a_fault_the_device_reconnects_and_values_resume(rig: Rig) -> None:
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.read("level")
    await ready(rig.device)
    assert rig.heard.states == [
        DeviceState.CONNECTING,
        DeviceState.READY,
        DeviceState.UNAVAILABLE,
        DeviceState.CONNECTING,
        DeviceState.READY,
    ]
    assert rig.device.error is None
    assert (await rig.device.read("level")).value == registry().Quantity(10.0, "W")
    assert rig.simulator.received == [b"ID?", b"LVL?", b"ID?", b"LVL?"]


async def test_the_reconnection_backoff_is_waited_on_the_devices_clock(make: Make) -> None:
    # Ten minutes: in real time the guard would end the test long before.
    rig = await make(backoff=(600.0, 2.0, 600.0))
    await rig.device.open()
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.read("level")
    await ready(rig.device)
    # Replies take no virtual time: what passed is the backoff.
    assert rig.clock.monotonic() == 600.0


async def test_a_refusal_fails_the_call_and_leaves_the_device_ready(rig: Rig) -> None:
    async def turn_on_refused() -> None:
        reply = await rig.driver.link.exchange(b"ON\r", until=b"\n")
        raise rig.driver.refuse("the lamp will not", command=b"ON\r", reply=reply)

    with pytest.raises(DeviceRefused):
        await turn_on_refused()
    assert rig.device.state is DeviceState.READY
    assert rig.device.error is None
    assert (await rig.device.read("on")).value is True


async def test_a_pulled_cable_is_reconnected_through_the_same_port(rig: Rig) -> None:
    rig.server.disconnect()
    with pytest.raises(DeviceDisconnected, match=r"^device lamp: "):
        await rig.device.read("on")
    assert rig.device.state is DeviceState.UNAVAILABLE
    await ready(rig.device)
    assert await rig.driver.read("on") is False
    await rig.driver.turn_on()
    assert (await rig.device.read("on")).value is True


async def test_an_alarm_makes_the_device_unavailable_until_the_instrument_recovers(
    rig: Rig,
) -> None:
    rig.simulator.burn_out()
    with pytest.raises(DeviceAlarm) as raised:
        await rig.device.read("level")
    assert str(raised.value) == (
        "device lamp: the bulb is burnt out (sent 'LVL?\\r', got 'ALARM BURNT\\n')"
    )
    assert rig.device.state is DeviceState.UNAVAILABLE
    # Reconnection fails while the bulb is out, and tells why.
    await rig.heard.until(lambda: rig.heard.states.count(DeviceState.CONNECTING) >= 3)
    assert rig.heard.states[-1] is not DeviceState.READY
    assert rig.device.error == (
        "device lamp: this is not a lamp (sent 'ID?\\r', got 'ALARM BURNT\\n')"
    )
    rig.simulator.burnt = False
    await ready(rig.device)
    assert (await rig.device.read("level")).value == registry().Quantity(10.0, "W")


async def test_a_safe_state_asked_while_unavailable_is_applied_on_reconnection(
    rig: Rig,
) -> None:
    await rig.driver.turn_on()
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.read("level")
    with pytest.raises(DeviceUnavailable) as raised:
        await rig.device.safe()
    assert str(raised.value) == (
        "device lamp: unavailable: the safe state is applied when it reconnects"
    )
    assert rig.device.safe_pending
    assert rig.simulator.on
    await ready(rig.device)
    assert rig.simulator.received == [b"ID?", b"ON", b"LVL?", b"ID?", b"OFF"]
    assert not rig.simulator.on
    assert not rig.device.safe_pending


async def test_a_safe_state_that_fails_is_applied_on_reconnection(rig: Rig) -> None:
    await rig.driver.turn_on()
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.safe()
    assert rig.device.safe_pending
    await ready(rig.device)
    assert rig.simulator.received == [b"ID?", b"ON", b"OFF", b"ID?", b"OFF"]
    assert not rig.simulator.on


async def test_a_safe_state_on_a_ready_device_is_applied_now(rig: Rig) -> None:
    await rig.driver.turn_on()
    await rig.device.safe()
    assert rig.simulator.received == [b"ID?", b"ON", b"OFF"]
    assert not rig.simulator.on
    assert not rig.device.safe_pending


@pytest.mark.parametrize("line", ["pty"])
async def test_a_device_not_there_at_start_is_found_once_plugged_in(
    make: Make, tmp_path: Path
) -> None:
    port = tmp_path / "ttyUSB0"
    rig = await make(url=str(port))
    await rig.device.open()
    assert rig.device.state is DeviceState.UNAVAILABLE
    assert rig.device.error is not None
    assert rig.device.error.startswith(f"device lamp: cannot open {port}: ")
    await rig.heard.until(lambda: rig.heard.states.count(DeviceState.CONNECTING) >= 2)
    plug(port, rig.server.url)
    await ready(rig.device)
    assert rig.device.identity == "LAMP-1 SN42"


def plug(port: Path, target: str) -> None:
    port.symlink_to(target)


@pytest.mark.parametrize("line", ["pty"])
async def test_a_device_never_reached_has_no_safe_state_to_take(make: Make, tmp_path: Path) -> None:
    rig = await make(url=str(tmp_path / "ttyUSB0"))
    await rig.device.open()
    assert not rig.device.reached
    with pytest.raises(DeviceUnavailable) as raised:
        await rig.device.safe()
    assert str(raised.value) == "device lamp: never reached, so nothing to make safe"
    assert not rig.device.safe_pending


@pytest.mark.parametrize("line", ["pty"])
async def test_a_device_never_reached_still_owes_a_safe_state_left_from_a_crash(
    make: Make, tmp_path: Path
) -> None:
    rig = await make(url=str(tmp_path / "ttyUSB0"))
    rig.device.safe_pending = True
    await rig.device.open()
    with pytest.raises(DeviceUnavailable) as raised:
        await rig.device.safe()
    assert str(raised.value) == (
        "device lamp: unavailable: the safe state is applied when it reconnects"
    )
    assert rig.device.safe_pending


async def test_a_device_that_is_down_is_not_held(rig: Rig) -> None:
    await rig.driver.turn_on()
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.read("level")
    with pytest.raises(DeviceUnavailable) as raised:
        await rig.device.hold()
    assert str(raised.value) == "device lamp: unavailable: not held"


class Fussy(Lamp):
    """A lamp that cannot be prepared while it shines, as a running pump refuses a new
    syringe diameter."""

    async def connect(self) -> None:
        if await self.ask("ON?") == "1":
            raise self.fault("cannot prepare a lamp that is on")


async def test_a_safe_state_owed_from_a_crash_comes_before_the_driver_prepares_the_device(
    make: Make,
) -> None:
    rig = await make(driver_class=Fussy)
    rig.simulator.on = True
    rig.device.safe_pending = True
    await rig.device.open()
    assert rig.device.state is DeviceState.READY, rig.device.error
    assert rig.simulator.received == [b"ID?", b"OFF", b"ON?"]
    assert not rig.simulator.on
    assert not rig.device.safe_pending


async def test_the_wrong_instrument_leaves_the_device_unavailable(make: Make) -> None:
    rig = await make()
    rig.simulator.identity = b"TOASTER 3000"
    await rig.device.open()
    assert rig.device.state is DeviceState.UNAVAILABLE
    assert rig.device.error == (
        "device lamp: this is not a lamp (sent 'ID?\\r', got 'TOASTER 3000\\n')"
    )
    assert rig.device.identity is None


async def test_a_driver_bug_at_connection_does_not_escape_the_device(make: Make) -> None:
    rig = await make()

    async def broken() -> str:
        raise ZeroDivisionError("division by zero")

    rig.driver.identify = broken  # type: ignore[method-assign]
    await rig.device.open()
    assert rig.device.state is DeviceState.UNAVAILABLE
    assert rig.device.error == "driver error: ZeroDivisionError: division by zero"


async def test_close_stops_reconnecting_and_closes_the_line(rig: Rig) -> None:
    rig.server.silence()
    with pytest.raises(DeviceTimeout):
        await rig.device.read("level")
    await rig.device.close()
    assert rig.device.state is DeviceState.CLOSED
    assert rig.heard.states[-1] is DeviceState.CLOSED
    assert not rig.device.link.is_open
    with pytest.raises(DeviceUnavailable, match=r"^device lamp: closed$"):
        await ready(rig.device)


async def test_polling_reads_values_by_itself_and_resumes_after_a_fault(make: Make) -> None:
    rig = await make()
    await rig.device.open(poll=True)

    def levels() -> int:
        return sum(1 for name, _ in rig.heard.values if name == "level")

    await rig.heard.until(lambda: levels() >= 1)
    # Only `level` is polled; `on` is read on demand.
    assert {name for name, _ in rig.heard.values} == {"level"}
    rig.server.silence()
    await rig.heard.until(lambda: DeviceState.UNAVAILABLE in rig.heard.states)
    before = levels()
    rig.simulator.level = 42.0
    await ready(rig.device)
    await rig.heard.until(lambda: levels() > before)
    assert rig.heard.values[-1] == ("level", registry().Quantity(42.0, "W"))


async def test_values_due_together_are_asked_of_the_driver_together(make: Make) -> None:
    TwoPolled.asked = []
    rig = await make(driver_class=TwoPolled)
    await rig.device.open(poll=True)
    await rig.heard.until(lambda: len(rig.heard.values) >= 2)
    assert TwoPolled.asked[0] == ["on", "level"]
    assert [name for name, _ in rig.heard.values[:2]] == ["on", "level"]


async def test_read_all_asks_for_every_value_at_once(make: Make) -> None:
    TwoPolled.asked = []
    rig = await make(driver_class=TwoPolled)
    await rig.device.open()
    readings = await rig.device.read_all()
    assert TwoPolled.asked == [["on", "level"]]
    assert readings["on"].time == readings["level"].time == rig.clock.now()


async def test_the_io_log_sees_every_frame(make: Make) -> None:
    rig = await make(io_log=True)
    await rig.device.open()
    await rig.device.read("on")
    assert rig.heard.frames == [
        ("tx", b"ID?\r"),
        ("rx", b"LAMP-1 SN42\n"),
        ("tx", b"ON?\r"),
        ("rx", b"0\n"),
    ]


async def test_without_the_io_log_no_frame_is_reported(rig: Rig) -> None:
    await rig.device.read("on")
    assert rig.heard.frames == []
