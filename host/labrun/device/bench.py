"""The bench: every configured device, opened for one host, with claims and safe states.

    bench = Bench.build(config, catalog, clock=clock, simulate=True)   # BenchError if wrong
    await bench.start()        # opens every device (simulators first, with --simulate)
    async with bench.claimed(["pump"], holder="step 1.0"): ...
    await bench.stop()         # safe state everywhere, then closes

A marker file in the data directory says a host has the bench open, and names its devices.
Found at start-up with its host gone, it means that host died: every device gets its safe
state once connected, and so does every device the marker names that this bench does not
use (opened for that alone, and closed again). Found with its host alive, the bench is in
use and this start is refused. A bench that stops with devices it could not make safe
leaves the marker, naming them, for the next start to make them safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib.resources import as_file
from pathlib import Path
from typing import Any

from labrun.catalog import PluginCatalog
from labrun.clock import Clock
from labrun.device.config import ConfigError, DeviceConfig, HostConfig
from labrun.device.device import Device, DeviceListener, DeviceState, Reading
from labrun.device.driver import Driver, SerialDriver, VisaDriver
from labrun.device.errors import ClaimRefused, DeviceError
from labrun.device.link import Direction, SerialLink, VisaLink
from labrun.device.simulator import SimulatorServer

MARKER = "bench.json"


class BenchError(Exception):
    """The bench cannot be built or started; `problems` says why, a line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class BenchListener:
    """Callbacks for whoever shows or records the bench: state, values, I/O frames."""

    state: Callable[[Device], None] | None = None
    value: Callable[[Device, str, Reading], None] | None = None
    frame: Callable[[Device, Direction, bytes | str], None] | None = None


@dataclass
class SafeReport:
    """What `Bench.safe` (or `Bench.hold`) did: the devices that took their safe state (or
    hold action), and why each other could not; for `safe`, unless that was reported
    before and the device has not been ready since."""

    applied: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fanout(DeviceListener):
    listeners: list[BenchListener] = field(default_factory=list)

    def state_changed(self, device: Device) -> None:
        for listener in self.listeners:
            if listener.state is not None:
                listener.state(device)

    def value_read(self, device: Device, name: str, reading: Reading) -> None:
        for listener in self.listeners:
            if listener.value is not None:
                listener.value(device, name, reading)

    def frame(self, device: Device, direction: Direction, data: bytes | str) -> None:
        for listener in self.listeners:
            if listener.frame is not None:
                listener.frame(device, direction, data)


class Bench:
    def __init__(
        self,
        devices: Mapping[str, Device],
        clock: Clock,
        *,
        simulators: Mapping[str, SimulatorServer] | None = None,
        data_dir: Path | None = None,
        fanout: _Fanout | None = None,
        resources: ExitStack | None = None,
        builder: _Builder | None = None,
    ) -> None:
        self.devices = dict(devices)
        self.clock = clock
        self.simulators = dict(simulators or {})
        self.data_dir = data_dir
        self.recovered = False
        # Devices a labrun that died left, which this bench does not use and could not make
        # safe at start: why, by name. The marker keeps naming them.
        self.unrecovered: dict[str, str] = {}
        self._fanout = fanout or _Fanout()
        self._resources = resources or ExitStack()
        # Builds the configured devices this bench does not use, to recover them.
        self._builder = builder
        self._holders: dict[str, str] = {}
        self._released = asyncio.Event()
        self._started = False
        # Devices whose safe state failed and was reported: not reported again until the
        # device has been ready again, however often a run asks for it meanwhile.
        self._reported: set[str] = set()
        self.listen(BenchListener(state=self._state_changed))

    @classmethod
    def build(
        cls,
        config: HostConfig,
        catalog: PluginCatalog,
        *,
        clock: Clock,
        simulate: bool = False,
        data_dir: Path | None = None,
        only: Collection[str] | None = None,
    ) -> Bench:
        """Every configured device (or those in `only`) with its driver and link; raises
        BenchError naming each device that cannot be built, and builds none then."""
        fanout = _Fanout()
        problems: list[str] = []
        devices: dict[str, Device] = {}
        simulators: dict[str, SimulatorServer] = {}
        resources = ExitStack()
        builder = _Builder(config, catalog, clock, simulate, resources)
        for name, device_config in config.devices.items():
            if only is not None and name not in only:
                continue
            try:
                device, simulator = builder.build(name, device_config, fanout)
            except BenchError as error:
                problems.extend(error.problems)
                continue
            devices[name] = device
            if simulator is not None:
                simulators[name] = simulator
        if problems:
            resources.close()
            raise BenchError(problems)
        return cls(
            devices,
            clock,
            simulators=simulators,
            data_dir=data_dir,
            fanout=fanout,
            resources=resources,
            builder=builder,
        )

    def listen(self, listener: BenchListener) -> Callable[[], None]:
        """Add `listener`; returns the function that removes it."""
        self._fanout.listeners.append(listener)
        return lambda: self._fanout.listeners.remove(listener)

    def device(self, name: str) -> Device:
        device = self.devices.get(name)
        if device is None:
            known = ", ".join(sorted(self.devices)) or "none"
            raise KeyError(f"no device {name!r} on this bench (devices: {known})")
        return device

    # Lifecycle.

    async def start(self, *, poll: bool = False) -> None:
        left = self._read_marker()
        others: list[str] = []
        if left is not None:
            configured = self._builder.host.devices if self._builder is not None else {}
            others = sorted(n for n in left if n not in self.devices and n in configured)
        self._write_marker([*self.devices, *others])
        for simulator in self.simulators.values():
            await simulator.start()
        for name, simulator in self.simulators.items():
            link = self.devices[name].link
            assert isinstance(link, SerialLink)
            link.url = simulator.url
        self._started = True
        if left is not None:
            # The last host died with the bench open: whatever it left running is stopped,
            # here and on the devices it had open that this bench does not use (`others`).
            self.recovered = True
            for device in self.devices.values():
                device.safe_pending = True
        await asyncio.gather(
            *(device.open(poll=poll) for device in self.devices.values()),
            *(self._recover(name) for name in others),
        )
        if others:
            self._write_marker([*self.devices, *self.unrecovered])

    async def _recover(self, name: str) -> None:
        """Make safe a device the marker names and this bench does not use: connecting it
        applies its safe state; then it is closed again."""
        assert self._builder is not None
        try:
            device, simulator = self._builder.build(
                name, self._builder.host.devices[name], DeviceListener()
            )
        except BenchError as error:
            self.unrecovered[name] = "; ".join(error.problems)
            return
        try:
            if simulator is not None:
                await simulator.start()
                device.link.url = simulator.url
            device.safe_pending = True
            await device.open()
            if device.safe_pending:
                self.unrecovered[name] = device.error or f"device {name}: {device.state}"
        finally:
            await device.close()
            if simulator is not None:
                await simulator.stop()

    async def stop(self) -> dict[str, str]:
        """Safe state on every device, then close everything; returns the problems met,
        by device, that were not reported before (see `safe`)."""
        problems = (await self.safe(self.devices)).problems
        # Closing takes no time on the bench's clock: on a virtual one, the backoff of a
        # reconnection a failed safe state set off would otherwise end while closing.
        with self.clock.hold():
            for device in self.devices.values():
                await device.close()
        for simulator in self.simulators.values():
            await simulator.stop()
        self._resources.close()
        if self._started:
            # A device left unsafe keeps the marker, which names it: the next start takes
            # it for a crash and applies its safe state then. A device never reached has
            # none to take.
            owed = [name for name, device in self.devices.items() if device.safe_pending]
            if owed or self.unrecovered:
                self._write_marker([*owed, *self.unrecovered])
            else:
                self._drop_marker()
            self._started = False
        return problems

    async def safe(self, names: Collection[str]) -> SafeReport:
        """Apply the safe state of each device named; a device that cannot take it now
        takes it when it reconnects. Why it could not is reported once: asked again while
        it stays down, the device is in neither list of the report."""
        report = SafeReport()
        for name in names:
            device = self.devices.get(name)
            if device is None:
                continue
            try:
                await device.safe()
            except Exception as error:  # noqa: BLE001 - a driver's bug must not stop the others
                if name not in self._reported:
                    self._reported.add(name)
                    report.problems[name] = _problem(name, error)
            else:
                report.applied.append(name)
                self._reported.discard(name)
        return report

    async def hold(self, names: Collection[str]) -> SafeReport:
        """Apply the hold action of each device named whose driver has one; the report's
        `applied` lists those devices."""
        report = SafeReport()
        for name in names:
            device = self.devices.get(name)
            if device is None or type(device.driver).hold is Driver.hold:
                continue
            try:
                await device.hold()
            except Exception as error:  # noqa: BLE001 - a driver's bug must not stop the others
                report.problems[name] = _problem(name, error)
            else:
                report.applied.append(name)
        return report

    def _state_changed(self, device: Device) -> None:
        if device.state is DeviceState.READY:
            self._reported.discard(device.name)

    # Claims.

    def holder(self, name: str) -> str | None:
        return self._holders.get(name)

    async def claim(self, names: Collection[str], holder: str, *, wait: bool = True) -> None:
        """Take every device in `names` for `holder`, all at once: a claim never holds
        some while it waits for others, so two claims cannot deadlock."""
        for name in names:
            self.device(name)
        while True:
            taken = [(n, self._holders[n]) for n in names if self._holders.get(n, holder) != holder]
            if not taken:
                break
            if not wait:
                raise ClaimRefused(*taken[0])
            self._released.clear()
            await self._released.wait()
        for name in names:
            self._holders[name] = holder

    def release(self, names: Collection[str], holder: str) -> None:
        for name in names:
            if self._holders.get(name) == holder:
                del self._holders[name]
        self._released.set()

    @contextlib.asynccontextmanager
    async def claimed(
        self, names: Collection[str], holder: str, *, wait: bool = True
    ) -> AsyncIterator[None]:
        await self.claim(names, holder, wait=wait)
        try:
            yield
        finally:
            self.release(names, holder)

    # The marker of a bench in use.

    def _marker(self) -> Path | None:
        return None if self.data_dir is None else self.data_dir / MARKER

    def _read_marker(self) -> Collection[str] | None:
        """The devices a marker left by a host that died names (every configured device
        when it cannot be read); None when there is none. BenchError when its host lives."""
        marker = self._marker()
        if marker is None:
            return None
        try:
            previous = json.loads(marker.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict):
            previous = {}
        pid = previous.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            raise BenchError(
                [f"the bench is in use by another labrun (process {pid}); stop it first"]
            )
        named = previous.get("devices")
        if isinstance(named, list) and all(isinstance(name, str) for name in named):
            return named
        return [*self.devices, *(self._builder.host.devices if self._builder else ())]

    def _write_marker(self, devices: Collection[str]) -> None:
        marker = self._marker()
        if marker is not None:
            marker.write_text(json.dumps({"pid": os.getpid(), "devices": sorted(set(devices))}))

    def _drop_marker(self) -> None:
        marker = self._marker()
        if marker is not None:
            marker.unlink(missing_ok=True)


def _problem(device: str, error: Exception) -> str:
    if isinstance(error, DeviceError):
        return str(error)
    return f"device {device}: driver error: {type(error).__name__}: {error}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Builder:
    """Builds each configured device with what they all share."""

    host: HostConfig
    catalog: PluginCatalog
    clock: Clock
    simulate: bool
    resources: ExitStack

    def build(
        self, name: str, config: DeviceConfig, listener: DeviceListener
    ) -> tuple[Device, SimulatorServer | None]:
        driver_class = self.catalog.driver(config.driver)
        if driver_class is None:
            known = ", ".join(n for n, _ in self.catalog.drivers()) or "none"
            raise BenchError(
                [f"device {name}: unknown driver {config.driver!r} (installed drivers: {known})"]
            )
        try:
            options = self.host.validate_options(name, driver_class.Options)
        except ConfigError as error:
            raise BenchError([problem.render() for problem in error.problems]) from None
        driver: Driver[Any]
        simulator: SimulatorServer | None = None
        if issubclass(driver_class, SerialDriver):
            link, simulator = self._serial(name, config, driver_class)
            driver = driver_class(name, options, link, self.clock)
        elif issubclass(driver_class, VisaDriver):
            driver = driver_class(name, options, self._visa(name, config, driver_class), self.clock)
        else:
            raise BenchError([f"device {name}: driver {config.driver} is neither serial nor VISA"])
        device = Device(
            name, config.driver, driver, self.clock, listener=listener, io_log=config.io_log
        )
        return device, simulator

    def _serial(
        self, name: str, config: DeviceConfig, driver_class: type[SerialDriver]
    ) -> tuple[SerialLink, SimulatorServer | None]:
        settings = driver_class.serial
        if config.serial is not None:
            settings = config.serial.settings(settings)
        if self.simulate:
            if driver_class.simulator is None:
                raise BenchError([f"device {name}: driver {config.driver} has no simulator"])
            simulator = SimulatorServer(
                driver_class.simulator(self.clock), line=config.simulator, name=name
            )
            # The URL is known once the simulator has started.
            return SerialLink(name, "", settings, self.clock), simulator
        if config.serial is None:
            raise BenchError([_no_connection(name, "serial")])
        return SerialLink(name, config.serial.port, settings, self.clock), None

    def _visa(self, name: str, config: DeviceConfig, driver_class: type[VisaDriver]) -> VisaLink:
        settings = driver_class.visa
        if config.visa is not None:
            settings = config.visa.settings(settings)
        if self.simulate:
            simulation = driver_class.simulation
            if simulation is None:
                raise BenchError([f"device {name}: driver {config.driver} has no simulation"])
            path = self.resources.enter_context(as_file(simulation.file))
            return simulation.link(name, path, settings, self.clock)
        if config.visa is None:
            raise BenchError([_no_connection(name, "visa")])
        return VisaLink(name, config.visa.resource, config.visa.library, settings, self.clock)


def _no_connection(name: str, kind: str) -> str:
    return f"device {name} has no connection: add `{kind}:` to its configuration, or use --simulate"
