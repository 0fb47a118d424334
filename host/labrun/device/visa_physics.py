"""Physics for simulated VISA instruments: pyvisa-sim values that follow the run's clock.

A pyvisa-sim file answers from a table of properties that keep what they are told, with no
notion of time. A plugin adds what its instrument does over time with a `VisaPhysics`, named
in its `VisaSimulation`: built with the run's clock, it is attached to the simulated
instrument each time a link opens it, and makes chosen properties live: a getter answered
from the clock (`read`), a setter watched (`written`) so that the physics knows when a
setting changes. The file stays the wire protocol: terminations, commands, the specs that
refuse a bad value, the error queue.

This is the one module that reaches into pyvisa-sim's internals. pyvisa-sim 0.7 has no
public way to compute a value when it is read, nor to see a value when it is set, so a live
property replaces the `Property` in its component's table (`_properties`), and the device
is found through the session pyvisa opened (`visalib.sessions[session].device`).
tests/labrun/device/test_visa_physics.py fails if these change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from labrun.clock import Clock
from labrun.device.link import VisaLink, VisaSettings

Read = Callable[[str | None], Any]
"""Answers a getter: given the channel id (None for a property of the device), the value."""
Written = Callable[[str | None, Any], None]
"""Sees a setter: given the channel id and the value, once the file's specs accepted it."""


class UnknownProperty(LookupError):
    """The pyvisa-sim file has no property `name` where the physics looked for it."""

    def __init__(self, name: str, channels: str | None) -> None:
        self.name = name
        self.channels = channels
        where = "device" if channels is None else f"channels {channels!r}"
        super().__init__(f"the pyvisa-sim file has no property {name!r} in its {where}")


class SimulatedInstrument:
    """An opened pyvisa-sim instrument, as its physics sees it. A property of channels is
    named with its channel group (`channels="inputs"`), and passed its channel id."""

    def __init__(self, device: Any) -> None:
        self._device = device

    def live(
        self,
        name: str,
        *,
        channels: str | None = None,
        read: Read | None = None,
        written: Written | None = None,
    ) -> None:
        """Answer the getter of property `name` with `read(channel)`, and call
        `written(channel, value)` with each value its setter accepts, before the property
        keeps it (so `value()` still gives the old one). Either may be None: the getter
        then answers what the property keeps, and a setter is only kept."""
        table = self._table(name, channels)
        kept = table[name]
        if isinstance(kept, _LiveProperty):
            # Opened again (a reconnection): pyvisa keeps the instrument, and its live
            # properties, for the life of the process.
            kept = kept.kept
        table[name] = _LiveProperty(kept, channels is not None, read, written)

    def value(self, name: str, *, channels: str | None = None, channel: str | None = None) -> Any:
        """The value property `name` keeps (of `channel`, in a group of channels): its
        default, or what its setter was last given; never what `read` answers."""
        kept = self._table(name, channels)[name]
        if isinstance(kept, _LiveProperty):
            kept = kept.kept
        if channels is None:
            return kept.get_value()
        if channel is None:
            raise ValueError(f"property {name!r} of channels {channels!r} needs a channel id")
        # A ChannelProperty keeps a value per channel id, defaulting to the file's default.
        return kept._value[channel]

    def _table(self, name: str, channels: str | None) -> dict[str, Any]:
        component = self._device if channels is None else self._device._channels.get(channels)
        table: dict[str, Any] | None = None if component is None else component._properties
        if table is None or name not in table:
            raise UnknownProperty(name, channels)
        return table


class _LiveProperty:
    """Stands in for a pyvisa-sim `Property` in its table: pyvisa-sim calls `get_value()`
    to answer a getter and `set_value(text)` for a setter."""

    def __init__(self, kept: Any, channels: bool, read: Read | None, written: Written | None):
        self.kept = kept
        self.channels = channels
        self.read = read
        self.written = written

    def _channel(self) -> str | None:
        # A channel property works on the channel its group selected for this command.
        return str(self.kept._channel._selected) if self.channels else None

    def get_value(self) -> Any:
        if self.read is None:
            return self.kept.get_value()
        return self.read(self._channel())

    def set_value(self, text: str) -> None:
        # A ValueError here is pyvisa-sim's cue to answer with the file's error response.
        value = self.kept.validate_value(text)
        if self.written is not None:
            self.written(self._channel(), value)
        self.kept.set_value(text)


class VisaPhysics(ABC):
    """What a simulated VISA instrument does over time, beyond what its pyvisa-sim file
    keeps. Built once per device with the run's clock (`self.clock`), so that in a dry run
    it follows the simulated clock; work the state out from the clock when a value is
    read, never in a task of its own. Its methods run in the link's thread."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    @abstractmethod
    def attach(self, instrument: SimulatedInstrument) -> None:
        """Make the instrument's properties live (`instrument.live(...)`). Called each time
        the link opens the instrument, so again after a reconnection."""


class PhysicsLink(VisaLink):
    """A link to a pyvisa-sim instrument that attaches `physics` each time it opens it."""

    def __init__(
        self,
        device: str,
        resource: str,
        library: str,
        settings: VisaSettings,
        clock: Clock,
        *,
        physics: VisaPhysics,
    ) -> None:
        super().__init__(device, resource, library, settings, clock)
        self.physics = physics

    def _open(self) -> tuple[Any, Any]:
        manager, instrument = super()._open()
        try:
            self.physics.attach(SimulatedInstrument(_device(instrument)))
        except Exception:
            instrument.close()
            raise
        return manager, instrument


def _device(instrument: Any) -> Any:
    """The pyvisa-sim device behind an opened resource: its library's session holds it."""
    return instrument.visalib.sessions[instrument.session].device
