"""The bench: built from the host configuration and the plugins' drivers (every problem
named), started and stopped (safe states, each problem reported once), claims, and the
marker that tells a bench left open by a labrun that died from one in use, and names the
devices to make safe."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from lamp import CATALOG, METER_SIMULATION, Lamp, LampSimulator
from lamp import plugin as lamp_plugin

from labrun import (
    ClaimRefused,
    Plugin,
    PluginCatalog,
    SerialDriver,
    SerialLink,
    SimulatorServer,
    VirtualClock,
    VisaDriver,
    VisaLink,
    VisaSettings,
    VisaSimulation,
)
from labrun.device.bench import MARKER, Bench, BenchError, BenchListener, SafeReport
from labrun.device.config import parse_config
from labrun.device.device import DeviceState

TWO_LAMPS = """\
devices:
  lamp:
    driver: lamp.lamp
  spot:
    driver: lamp.lamp
    simulator: tcp
"""


def built(
    text: str,
    catalog: PluginCatalog = CATALOG,
    *,
    simulate: bool = True,
    data_dir: Path | None = None,
    only: set[str] | None = None,
) -> Bench:
    config = parse_config(text, "config.yml")
    return Bench.build(
        config, catalog, clock=VirtualClock(), simulate=simulate, data_dir=data_dir, only=only
    )


def problems(text: str, catalog: PluginCatalog = CATALOG, *, simulate: bool = True) -> list[str]:
    with pytest.raises(BenchError) as raised:
        built(text, catalog, simulate=simulate)
    return raised.value.problems


def simulator(bench: Bench, name: str) -> LampSimulator:
    found = bench.simulators[name].simulator
    assert isinstance(found, LampSimulator)
    return found


@pytest.fixture
async def benches() -> AsyncIterator[Callable[..., Bench]]:
    """Like built(), and stops each bench a test leaves started."""
    made: list[Bench] = []

    def make(*args: Any, **kwargs: Any) -> Bench:
        made.append(built(*args, **kwargs))
        return made[-1]

    yield make
    for bench in made:
        await bench.stop()


# --- building --------------------------------------------------------------------------


def test_each_configured_device_gets_its_driver_and_a_simulator() -> None:
    bench = built(TWO_LAMPS)
    assert sorted(bench.devices) == ["lamp", "spot"]
    lamp = bench.device("lamp")
    assert (lamp.name, lamp.driver_name, lamp.state) == ("lamp", "lamp.lamp", DeviceState.CLOSED)
    assert isinstance(lamp.driver, Lamp)
    assert sorted(bench.simulators) == ["lamp", "spot"]
    assert (bench.simulators["lamp"].line, bench.simulators["spot"].line) == ("pty", "tcp")


def test_a_real_serial_port_keeps_the_drivers_settings_unless_the_file_gives_them() -> None:
    bench = built(
        "devices:\n"
        "  lamp:\n"
        "    driver: lamp.lamp\n"
        "    serial: {port: /dev/ttyUSB3, baudrate: 19200}\n",
        simulate=False,
    )
    link = bench.device("lamp").link
    assert isinstance(link, SerialLink)
    assert link.url == "/dev/ttyUSB3"
    assert link.settings == Lamp.serial.model_copy(update={"baudrate": 19200})
    assert bench.simulators == {}


def test_only_builds_the_devices_asked_for() -> None:
    assert sorted(built(TWO_LAMPS, only={"spot"}).devices) == ["spot"]


def test_a_device_not_on_the_bench_is_named_with_those_that_are() -> None:
    with pytest.raises(KeyError, match=r"no device 'lamb' on this bench \(devices: lamp, spot\)"):
        built(TWO_LAMPS).device("lamb")


def test_an_unknown_driver_lists_the_installed_ones() -> None:
    assert problems("devices:\n  lamp: {driver: lamp.bulb}\n") == [
        "device lamp: unknown driver 'lamp.bulb' (installed drivers: lamp.dimmer, lamp.lamp)"
    ]
    assert problems("devices:\n  lamp: {driver: lamp.bulb}\n", PluginCatalog()) == [
        "device lamp: unknown driver 'lamp.bulb' (installed drivers: none)"
    ]


def test_a_device_with_no_connection_needs_simulate() -> None:
    assert problems("devices:\n  lamp: {driver: lamp.lamp}\n", simulate=False) == [
        "device lamp has no connection: add `serial:` to its configuration, or use --simulate"
    ]


def test_every_device_that_cannot_be_built_is_named() -> None:
    text = (
        "devices:\n"
        "  lamp: {driver: lamp.lamp}\n"
        "  spot: {driver: lamp.spot}\n"
        "  ok: {driver: lamp.lamp, serial: /dev/ttyUSB0}\n"
    )
    assert problems(text, simulate=False) == [
        "device lamp has no connection: add `serial:` to its configuration, or use --simulate",
        "device spot: unknown driver 'lamp.spot' (installed drivers: lamp.dimmer, lamp.lamp)",
    ]


def test_bad_driver_options_are_placed_in_the_configuration_file() -> None:
    text = dedent(
        """\
        devices:
          lamp:
            driver: lamp.lamp
            options: {max_level: -5, colour: red}
        """
    )
    assert problems(text) == [
        "config.yml:4:26: error: devices.lamp.options.max_level: input should be greater than 0\n"
        "        options: {max_level: -5, colour: red}\n"
        "                             ^",
        "config.yml:4:30: error: devices.lamp.options: unknown key 'colour'\n"
        "        options: {max_level: -5, colour: red}\n"
        "                                 ^\n"
        "  hint: allowed keys: max_level",
    ]


def test_good_driver_options_reach_the_driver() -> None:
    bench = built("devices:\n  lamp: {driver: lamp.lamp, options: {max_level: 40}}\n")
    assert bench.device("lamp").driver.options.max_level == 40.0  # type: ignore[attr-defined]


class Bare(SerialDriver):
    """A serial driver with no simulator."""

    async def identify(self) -> str:
        return "bare"

    async def safe_state(self) -> None:
        return None


class Meter(VisaDriver):
    visa = VisaSettings(timeout=0.5)

    async def identify(self) -> str:
        return await self.link.query("*IDN?")

    async def safe_state(self) -> None:
        await self.link.write("LVL 0.0")


def meters(simulation: VisaSimulation | None = None) -> PluginCatalog:
    plugin = Plugin("meter")
    plugin.driver("bare")(Bare)
    plugin.driver("meter")(type("SimulatedMeter", (Meter,), {"simulation": simulation}))
    return PluginCatalog.of(lamp_plugin, plugin)


def test_a_driver_with_no_simulator_cannot_be_simulated() -> None:
    text = "devices:\n  a: {driver: meter.bare}\n  b: {driver: meter.meter}\n"
    assert problems(text, meters()) == [
        "device a: driver meter.bare has no simulator",
        "device b: driver meter.meter has no simulation",
    ]


def test_a_visa_device_needs_a_resource_without_simulate() -> None:
    assert problems("devices:\n  b: {driver: meter.meter}\n", meters(), simulate=False) == [
        "device b has no connection: add `visa:` to its configuration, or use --simulate"
    ]


async def test_a_visa_device_is_simulated_with_its_drivers_pyvisa_sim_file(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    file = tmp_path / "meter.yaml"
    file.write_text(METER_SIMULATION)
    catalog = meters(VisaSimulation(file, "TCPIP::10.0.0.1::INSTR"))
    bench = benches("devices:\n  dmm: {driver: meter.meter}\n", catalog)
    link = bench.device("dmm").link
    assert isinstance(link, VisaLink)
    assert (link.resource, link.library) == ("TCPIP::10.0.0.1::INSTR", f"{file}@sim")
    await bench.start()
    assert bench.device("dmm").identity == "ACME,METER,1,0.1"
    assert await link.query("LVL?") == "1.5"
    await bench.safe(["dmm"])
    assert await link.query("LVL?") == "0.0"


# --- starting and stopping -------------------------------------------------------------


async def test_start_connects_every_device_to_its_simulator(benches: Callable[..., Bench]) -> None:
    bench = benches(TWO_LAMPS)
    await bench.start()
    for name in ("lamp", "spot"):
        device = bench.device(name)
        assert device.state is DeviceState.READY, device.error
        assert device.identity == "LAMP-1 SN42"
        assert device.link.url == bench.simulators[name].url
    assert bench.device("spot").link.url.startswith("socket://")
    assert not bench.recovered


async def test_stop_leaves_every_device_safe_then_closes_it(benches: Callable[..., Bench]) -> None:
    bench = benches(TWO_LAMPS)
    await bench.start()
    for name in ("lamp", "spot"):
        driver = bench.device(name).driver
        assert isinstance(driver, Lamp)
        await driver.turn_on()
    lamps = [simulator(bench, name) for name in ("lamp", "spot")]
    assert await bench.stop() == {}
    for lamp in lamps:
        assert lamp.received == [b"ID?", b"ON", b"OFF"]
        assert not lamp.on
    assert all(device.state is DeviceState.CLOSED for device in bench.devices.values())


async def test_a_device_never_reached_does_not_stop_the_bench_and_has_nothing_to_make_safe(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    port = tmp_path / "ttyUSB0"
    bench = benches(
        f"devices:\n  lamp: {{driver: lamp.lamp, serial: {port}}}\n",
        simulate=False,
        data_dir=tmp_path,
    )
    await bench.start()
    device = bench.device("lamp")
    assert device.state is not DeviceState.READY
    assert device.error is not None
    assert device.error.startswith(f"device lamp: cannot open {port}: ")
    assert await bench.stop() == {"lamp": "device lamp: never reached, so nothing to make safe"}
    # This labrun never drove it: the next has nothing to make safe either.
    assert read_marker(tmp_path) is None


async def test_safe_reports_each_device_that_could_not_take_it(
    benches: Callable[..., Bench],
) -> None:
    bench = benches(TWO_LAMPS)
    await bench.start()
    bench.simulators["spot"].silence()
    assert await bench.safe(["lamp", "spot", "absent"]) == SafeReport(
        applied=["lamp"],
        problems={"spot": "device spot: no reply within 0.3 s (sent 'OFF\\r', got nothing)"},
    )
    assert simulator(bench, "lamp").received == [b"ID?", b"OFF"]


async def test_a_device_that_stays_down_is_reported_once_until_it_is_back(
    benches: Callable[..., Bench],
) -> None:
    bench = benches(TWO_LAMPS)
    await bench.start()
    bench.simulators["spot"].silence()
    first = await bench.safe(["lamp", "spot"])
    assert list(first.problems) == ["spot"]
    # Asked again while it is down (the run ending, the bench stopping): not reported again,
    # and not applied either.
    assert await bench.safe(["lamp", "spot"]) == SafeReport(applied=["lamp"])
    spot = bench.device("spot")
    async with asyncio.timeout(60):
        await spot.wait_ready()
    assert not spot.safe_pending
    # Back, then down again: a new problem, reported.
    bench.simulators["spot"].silence()
    assert list((await bench.safe(["spot"])).problems) == ["spot"]
    assert await bench.stop() == {}


async def test_a_driver_bug_in_a_safe_state_does_not_stop_the_others(
    benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = benches(TWO_LAMPS)
    await bench.start()

    async def broken() -> None:
        raise KeyError("relay")

    monkeypatch.setattr(bench.device("lamp").driver, "safe_state", broken)
    assert await bench.safe(["lamp", "spot"]) == SafeReport(
        applied=["spot"], problems={"lamp": "device lamp: driver error: KeyError: 'relay'"}
    )
    assert simulator(bench, "spot").received == [b"ID?", b"OFF"]


async def test_listeners_hear_states_values_and_frames(benches: Callable[..., Bench]) -> None:
    bench = benches(
        "devices:\n  lamp: {driver: lamp.lamp, io_log: true}\n  spot: {driver: lamp.lamp}\n"
    )
    heard: list[tuple[str, Any]] = []
    remove = bench.listen(
        BenchListener(
            state=lambda device: heard.append((device.name, device.state)),
            value=lambda device, name, reading: heard.append((device.name, name)),
            frame=lambda device, direction, data: heard.append((device.name, data)),
        )
    )
    await bench.start()
    await bench.device("lamp").read("on")
    assert [item for item in heard if item[0] == "lamp"] == [
        ("lamp", DeviceState.CONNECTING),
        ("lamp", b"ID?\r"),
        ("lamp", b"LAMP-1 SN42\n"),
        ("lamp", DeviceState.READY),
        ("lamp", b"ON?\r"),
        ("lamp", b"0\n"),
        ("lamp", "on"),
    ]
    # spot has no I/O log: only its states.
    assert [item for item in heard if item[0] == "spot"] == [
        ("spot", DeviceState.CONNECTING),
        ("spot", DeviceState.READY),
    ]
    remove()
    await bench.device("spot").read("on")
    assert ("spot", "on") not in heard


async def test_start_with_polling_reads_values_by_itself(benches: Callable[..., Bench]) -> None:
    bench = benches("devices:\n  lamp: {driver: lamp.lamp}\n")
    read = asyncio.Event()
    bench.listen(BenchListener(value=lambda device, name, reading: read.set()))
    await bench.start(poll=True)
    # A guard against a hang, not a timed assertion: polling runs on real time.
    async with asyncio.timeout(60):
        await read.wait()
    assert "level" in bench.device("lamp").values


# --- claims ----------------------------------------------------------------------------


@pytest.fixture
def bench() -> Bench:
    return built(TWO_LAMPS)


async def test_a_claim_is_all_or_nothing_and_a_refusal_names_the_holder(bench: Bench) -> None:
    await bench.claim(["lamp"], "step 1")
    with pytest.raises(ClaimRefused) as raised:
        await bench.claim(["spot", "lamp"], "step 2", wait=False)
    assert str(raised.value) == "device lamp is in use by step 1"
    assert (raised.value.device, raised.value.holder) == ("lamp", "step 1")
    assert bench.holder("spot") is None
    assert bench.holder("lamp") == "step 1"


async def test_a_holder_may_claim_what_it_holds_again(bench: Bench) -> None:
    await bench.claim(["lamp"], "step 1")
    await bench.claim(["lamp", "spot"], "step 1", wait=False)
    assert (bench.holder("lamp"), bench.holder("spot")) == ("step 1", "step 1")


async def test_a_claim_waits_for_its_devices_holding_none_meanwhile(bench: Bench) -> None:
    await bench.claim(["lamp"], "step 1")
    waiting = asyncio.create_task(bench.claim(["spot", "lamp"], "step 2"))
    await asyncio.sleep(0)
    assert not waiting.done()
    # While step 2 waits for the lamp, the spot is free for others.
    await bench.claim(["spot"], "step 3", wait=False)
    bench.release(["spot"], "step 3")
    bench.release(["lamp"], "step 1")
    await waiting
    assert (bench.holder("lamp"), bench.holder("spot")) == ("step 2", "step 2")


async def test_every_waiting_claim_is_served_in_turn(bench: Bench) -> None:
    await bench.claim(["lamp"], "step 1")
    second = asyncio.create_task(bench.claim(["lamp"], "step 2"))
    third = asyncio.create_task(bench.claim(["lamp", "spot"], "step 3"))
    await asyncio.sleep(0)
    bench.release(["lamp"], "step 1")
    done, pending = await asyncio.wait([second, third], return_when=asyncio.FIRST_COMPLETED)
    assert pending
    first_served = "step 2" if second in done else "step 3"
    bench.release(["lamp", "spot"], first_served)
    await asyncio.wait(pending)
    assert bench.holder("lamp") == ("step 3" if first_served == "step 2" else "step 2")


async def test_release_by_another_holder_releases_nothing(bench: Bench) -> None:
    await bench.claim(["lamp"], "step 1")
    bench.release(["lamp"], "step 2")
    assert bench.holder("lamp") == "step 1"


async def test_claimed_releases_on_exit_even_after_an_error(bench: Bench) -> None:
    held: list[str | None] = []

    async def failing_step() -> None:
        async with bench.claimed(["lamp", "spot"], "step 1"):
            held.append(bench.holder("lamp"))
            raise RuntimeError("the step failed")

    with pytest.raises(RuntimeError):
        await failing_step()
    assert held == ["step 1"]
    assert (bench.holder("lamp"), bench.holder("spot")) == (None, None)
    async with bench.claimed(["lamp"], "step 2", wait=False):
        assert bench.holder("lamp") == "step 2"
    assert bench.holder("lamp") is None


async def test_a_claim_of_an_unknown_device_takes_nothing(bench: Bench) -> None:
    with pytest.raises(KeyError, match="no device 'lamb'"):
        await bench.claim(["lamp", "lamb"], "step 1")
    assert bench.holder("lamp") is None


# --- the marker of a bench in use ------------------------------------------------------


@pytest.fixture
def dead_pid() -> int:
    """The process id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def write_marker(directory: Path, content: str) -> None:
    (directory / MARKER).write_text(content)


def read_marker(directory: Path) -> Any:
    path = directory / MARKER
    return json.loads(path.read_text()) if path.exists() else None


async def test_a_started_bench_marks_the_data_directory_until_it_stops(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["lamp", "spot"]}
    await bench.stop()
    assert read_marker(tmp_path) is None
    assert not bench.recovered


async def test_a_marker_left_by_a_dead_labrun_makes_every_device_safe_at_start(
    tmp_path: Path, benches: Callable[..., Bench], dead_pid: int
) -> None:
    write_marker(tmp_path, json.dumps({"pid": dead_pid, "devices": ["lamp"]}))
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    assert bench.recovered
    for name in ("lamp", "spot"):
        assert simulator(bench, name).received == [b"ID?", b"OFF"]
        assert not bench.device(name).safe_pending
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["lamp", "spot"]}


async def test_without_a_marker_no_safe_state_is_applied_at_start(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    assert simulator(bench, "lamp").received == [b"ID?"]


async def test_an_unreadable_marker_counts_as_a_crash(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    write_marker(tmp_path, "{truncated")
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    assert bench.recovered
    assert simulator(bench, "spot").received == [b"ID?", b"OFF"]


async def test_a_marker_of_a_live_labrun_refuses_the_start(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    other = os.getppid()
    content = json.dumps({"pid": other, "devices": ["lamp"]})
    write_marker(tmp_path, content)
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    with pytest.raises(BenchError) as raised:
        await bench.start()
    assert raised.value.problems == [
        f"the bench is in use by another labrun (process {other}); stop it first"
    ]
    # The other labrun's marker is left as it was, and no device was touched.
    assert (tmp_path / MARKER).read_text() == content
    assert all(device.state is DeviceState.CLOSED for device in bench.devices.values())
    await bench.stop()
    assert (tmp_path / MARKER).read_text() == content


async def test_a_device_left_unsafe_at_stop_keeps_the_marker_for_the_next_start(
    tmp_path: Path, benches: Callable[..., Bench]
) -> None:
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    bench.simulators["spot"].silence()
    problems = await bench.stop()
    assert list(problems) == ["spot"]
    # The next start finds it, the process that wrote it being over, and makes spot safe.
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["spot"]}


async def test_closing_the_bench_takes_no_time_on_its_clock(
    tmp_path: Path, benches: Callable[..., Bench], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = benches(TWO_LAMPS, data_dir=tmp_path)
    await bench.start()
    link = bench.device("lamp").link
    close = link.close

    async def slow_close() -> None:
        # Long enough, in real time, for the virtual clock to reach spot's backoff.
        await asyncio.sleep(0.2)
        await close()

    monkeypatch.setattr(link, "close", slow_close)
    bench.simulators["spot"].silence()
    assert list(await bench.stop()) == ["spot"]
    # spot's reconnection did not happen while the lamp closed: its safe state is owed.
    assert simulator(bench, "spot").received == [b"ID?", b"OFF"]
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["spot"]}


Serve = Callable[[], Awaitable[SimulatorServer]]


@pytest.fixture
async def lines() -> AsyncIterator[Serve]:
    """`await lines()`: a lamp on a TCP port, which a bench reaches as a real instrument."""
    servers: list[SimulatorServer] = []

    async def serve() -> SimulatorServer:
        server = SimulatorServer(LampSimulator(VirtualClock()), line="tcp")
        await server.start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        await server.stop()


def on_lines(**ports: str) -> str:
    return "devices:\n" + "".join(
        f"  {name}: {{driver: lamp.lamp, serial: '{port}'}}\n" for name, port in ports.items()
    )


async def test_a_dead_labrun_s_devices_this_bench_does_not_use_are_made_safe_too(
    tmp_path: Path, benches: Callable[..., Bench], lines: Serve, dead_pid: int
) -> None:
    lamp, spot, other = await lines(), await lines(), await lines()
    write_marker(tmp_path, json.dumps({"pid": dead_pid, "devices": ["lamp", "spot", "gone"]}))
    config = on_lines(lamp=lamp.url, spot=spot.url, other=other.url)
    bench = benches(config, simulate=False, data_dir=tmp_path, only={"lamp"})
    await bench.start()
    assert bench.recovered
    assert list(bench.devices) == ["lamp"]
    assert lamp.received == [b"ID?", b"OFF"]
    # Not on this bench, but named by the marker: connected, made safe, and closed again.
    assert spot.received == [b"ID?", b"OFF"]
    # Not named (other), or no longer configured (gone): left alone.
    assert other.received == []
    assert bench.unrecovered == {}
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["lamp"]}
    assert await bench.stop() == {}
    assert read_marker(tmp_path) is None


async def test_an_unreadable_marker_makes_every_configured_device_safe(
    tmp_path: Path, benches: Callable[..., Bench], lines: Serve
) -> None:
    lamp, spot = await lines(), await lines()
    write_marker(tmp_path, "{truncated")
    bench = benches(
        on_lines(lamp=lamp.url, spot=spot.url), simulate=False, data_dir=tmp_path, only={"lamp"}
    )
    await bench.start()
    assert (lamp.received, spot.received) == ([b"ID?", b"OFF"], [b"ID?", b"OFF"])


async def test_a_dead_labrun_s_device_that_cannot_be_reached_stays_in_the_marker(
    tmp_path: Path, benches: Callable[..., Bench], lines: Serve, dead_pid: int
) -> None:
    lamp = await lines()
    port = tmp_path / "ttyUSB9"
    write_marker(tmp_path, json.dumps({"pid": dead_pid, "devices": ["lamp", "spot"]}))
    config = on_lines(lamp=lamp.url, spot=str(port))
    bench = benches(config, simulate=False, data_dir=tmp_path, only={"lamp"})
    await bench.start()
    assert list(bench.unrecovered) == ["spot"]
    assert bench.unrecovered["spot"].startswith(f"device spot: cannot open {port}: ")
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["lamp", "spot"]}
    assert await bench.stop() == {}
    # The next start tries again.
    assert read_marker(tmp_path) == {"pid": os.getpid(), "devices": ["spot"]}
