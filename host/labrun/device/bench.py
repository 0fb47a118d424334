"""The bench: every configured device, opened for one host, with claims and safe states.

    bench = Bench.build(config, catalog, clock=clock, simulate=True)   # BenchError if wrong
    await bench.start()        # opens every device (simulators first, with --simulate)
    async with bench.claimed(["pump"], holder="step 1.0"): ...
    await bench.stop()         # safe state everywhere, then closes

A marker file in the data directory says a host has the bench open. Found at start-up with
its host gone, it means that host died: every device gets its safe state once connected.
Found with its host alive, the bench is in use and this start is refused.
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
from labrun.device.device import Device, DeviceListener, Reading
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
    ) -> None:
        self.devices = dict(devices)
        self.clock = clock
        self.simulators = dict(simulators or {})
        self.data_dir = data_dir
        self.recovered = False
        self._fanout = fanout or _Fanout()
        self._resources = resources or ExitStack()
        self._holders: dict[str, str] = {}
        self._released = asyncio.Event()
        self._started = False

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
        builder = _Builder(config, catalog, clock, simulate, fanout, resources)
        for name, device_config in config.devices.items():
            if only is not None and name not in only:
                continue
            try:
                device, simulator = builder.build(name, device_config)
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
        crashed = self._take_marker()
        for simulator in self.simulators.values():
            await simulator.start()
        for name, simulator in self.simulators.items():
            link = self.devices[name].link
            assert isinstance(link, SerialLink)
            link.url = simulator.url
        self._started = True
        if crashed:
            # The last host died with the bench open: whatever it left running is stopped.
            self.recovered = True
            for device in self.devices.values():
                device.safe_pending = True
        await asyncio.gather(*(device.open(poll=poll) for device in self.devices.values()))

    async def stop(self) -> dict[str, str]:
        """Safe state on every device, then close everything; returns the problems met,
        by device."""
        problems = await self.safe(self.devices)
        for device in self.devices.values():
            await device.close()
        for simulator in self.simulators.values():
            await simulator.stop()
        self._resources.close()
        if self._started:
            # A device left unsafe keeps the marker: the next start takes it for a crash
            # and applies the safe states then.
            if not problems:
                self._drop_marker()
            self._started = False
        return problems

    async def safe(self, names: Collection[str]) -> dict[str, str]:
        """Apply the safe state of each device named; a device that cannot take it now
        takes it when it reconnects. Returns why, for each device that could not."""
        problems: dict[str, str] = {}
        for name in names:
            device = self.devices.get(name)
            if device is None:
                continue
            try:
                await device.safe()
            except DeviceError as error:
                problems[name] = str(error)
            except Exception as error:  # noqa: BLE001 - a driver's bug must not stop the others
                problems[name] = f"device {name}: driver error: {type(error).__name__}: {error}"
        return problems

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

    def _take_marker(self) -> bool:
        """Write the marker; True when one was left by a host that died."""
        marker = self._marker()
        if marker is None:
            return False
        crashed = False
        try:
            previous = json.loads(marker.read_text())
        except FileNotFoundError:
            previous = None
        except (OSError, ValueError):
            previous = {}
        if previous is not None:
            pid = previous.get("pid") if isinstance(previous, dict) else None
            if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
                raise BenchError(
                    [f"the bench is in use by another labrun (process {pid}); stop it first"]
                )
            crashed = True
        marker.write_text(json.dumps({"pid": os.getpid(), "devices": sorted(self.devices)}))
        return crashed

    def _drop_marker(self) -> None:
        marker = self._marker()
        if marker is not None:
            marker.unlink(missing_ok=True)


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
    fanout: _Fanout
    resources: ExitStack

    def build(self, name: str, config: DeviceConfig) -> tuple[Device, SimulatorServer | None]:
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
            name, config.driver, driver, self.clock, listener=self.fanout, io_log=config.io_log
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
            return VisaLink(name, simulation.resource, f"{path}@sim", settings, self.clock)
        if config.visa is None:
            raise BenchError([_no_connection(name, "visa")])
        return VisaLink(name, config.visa.resource, config.visa.library, settings, self.clock)


def _no_connection(name: str, kind: str) -> str:
    return f"device {name} has no connection: add `{kind}:` to its configuration, or use --simulate"
