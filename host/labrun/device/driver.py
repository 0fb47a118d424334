"""Drivers: what a plugin writes to speak to one kind of instrument.

A driver never opens a port: the device layer gives it an open link (`self.link`). It
declares its values (with units, polled or read on demand, writable or not), checks the
instrument's identity, and knows its safe state. A fault it detects (a garbled reply, an
alarm) is raised with `self.fault(...)`, which also marks the device unavailable; a refusal
(the instrument answers properly that it will not) with `self.refuse(...)`, which does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from labrun.clock import Clock
from labrun.device.errors import DeviceAlarm, DeviceError, DeviceRefused, DeviceReplyError
from labrun.device.link import Link, SerialLink, SerialSettings, VisaLink, VisaSettings
from labrun.device.simulator import SerialSimulator
from labrun.device.visa_physics import PhysicsLink, VisaPhysics

LinkT = TypeVar("LinkT", bound=Link)


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class DeviceValue:
    """A value a device has: `unit` for a quantity (None for text, flags and counts),
    `poll` seconds between reads (None: read on demand), and whether it can be written."""

    name: str
    unit: str | None = None
    poll: float | None = None
    writable: bool = False
    description: str = ""


@dataclass(frozen=True)
class VisaSimulation:
    """A pyvisa-sim file shipped with the plugin, the resource in it to open, and the
    physics that makes its values follow the clock (built with the run's clock)."""

    file: Traversable | Path
    resource: str
    physics: Callable[[Clock], VisaPhysics] | None = None

    def link(self, device: str, path: Path, settings: VisaSettings, clock: Clock) -> VisaLink:
        """A link to the simulated instrument, with its physics on `clock`. `path` is the
        file on disk: `file` itself, or a copy for an instrument of its own (pyvisa keeps
        one instrument per file path for the life of the process)."""
        library = f"{path}@sim"
        if self.physics is None:
            return VisaLink(device, self.resource, library, settings, clock)
        physics = self.physics(clock)
        return PhysicsLink(device, self.resource, library, settings, clock, physics=physics)


class Driver(Generic[LinkT]):
    """The base of every driver; subclass `SerialDriver` or `VisaDriver`."""

    Options: ClassVar[type[BaseModel]] = NoOptions
    values: ClassVar[tuple[DeviceValue, ...]] = ()
    description: ClassVar[str] = ""

    def __init__(self, name: str, options: BaseModel, link: LinkT, clock: Clock) -> None:
        self.name = name
        self.options = options
        self.link = link
        self.clock = clock

    async def connect(self) -> None:
        """Prepare the device once it has identified itself (after every reconnection
        too), and after a safe state it was owed."""

    async def identify(self) -> str:
        """The instrument's own identity (model, serial number, firmware); raises
        DeviceError when what answers is not this kind of instrument."""
        raise NotImplementedError

    async def read(self, value: str) -> Any:
        """The current value of `value`: a pint quantity for values with a unit."""
        raise self.fault(f"no value named {value!r}")

    async def read_many(self, values: Sequence[str]) -> dict[str, Any]:
        """The current values of `values`, by name. Override it when one exchange with the
        instrument answers several values, so that they are read together."""
        return {value: await self.read(value) for value in values}

    async def write(self, value: str, setting: Any) -> None:
        raise self.fault(f"the value {value!r} cannot be written")

    async def safe_state(self) -> None:
        """Bring the device to its declared safe state (stopped, off, deactivated). It must
        work before `connect()`: after a crash it comes right after `identify()`."""
        raise NotImplementedError

    async def hold(self) -> None:
        """What the device does while a step using it is paused (SEMANTICS.md: its hold
        action). The default leaves it as it is: a temperature held, an output left on.
        Override it for a device that must not go on by itself, such as a pump."""

    async def close(self) -> None:
        """Called before the link closes, while it still works."""

    def value(self, name: str) -> DeviceValue | None:
        for declared in self.values:
            if declared.name == name:
                return declared
        return None

    def fault(
        self,
        message: str,
        *,
        command: bytes | str | None = None,
        reply: bytes | str | None = None,
        alarm: bool = False,
    ) -> DeviceError:
        """The error to raise for a reply that is garbled or unexpected, or an alarm; the
        device is marked unavailable and reconnected."""
        kind = DeviceAlarm if alarm else DeviceReplyError
        error = kind(self.name, message, command=command, reply=reply)
        if self.link.on_fault is not None:
            self.link.on_fault(error)
        return error

    def refuse(
        self,
        message: str,
        *,
        command: bytes | str | None = None,
        reply: bytes | str | None = None,
    ) -> DeviceRefused:
        """The error to raise for a proper reply that says no (a value out of range, a
        command that does not apply now), or that the step cannot use: the instrument
        works, so the device stays available."""
        return DeviceRefused(self.name, message, command=command, reply=reply)


class SerialDriver(Driver[SerialLink]):
    """A driver for an instrument on a serial line (RS-232, USB serial)."""

    serial: ClassVar[SerialSettings] = SerialSettings()
    simulator: ClassVar[type[SerialSimulator] | None] = None


class VisaDriver(Driver[VisaLink]):
    """A driver for an instrument reached through VISA (GPIB, USB-TMC, LAN, serial)."""

    visa: ClassVar[VisaSettings] = VisaSettings()
    simulation: ClassVar[VisaSimulation | None] = None


AnyDriver = Driver[Any]
