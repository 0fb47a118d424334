"""The `tempmodule.gen2` driver: an Opentrons Temperature Module GEN2 on USB serial.

Every command ends with CR LF CR LF and is acknowledged with `ok\\r\\nok\\r\\n`, after the
reply line when there is one; the driver reads up to the acknowledgement and parses what
came before it. A reply line that names an error or an alarm fails the command, as it does
in Opentrons' own driver (which looks for the words `error` and `alarm`).

What goes wrong, and the error it is:
- no acknowledgement within the line's timeout: `DeviceTimeout` (from the link);
- the line drops, mid-command or not: `DeviceDisconnected` (from the link);
- a reply that cannot be read, a reply where none belongs, or another kind of module
  answering M115: `DeviceReplyError`;
- an `alarm` line: `DeviceAlarm`;
- an `error` line: `DeviceRefused`, the module saying no to the command; unlike the others,
  it leaves the device available, as the module answered properly;
- a target outside 4-95 °C: `ValueError`, before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pint

from labrun import (
    DeviceValue,
    Quantity,
    QuantityError,
    SerialDriver,
    SerialSettings,
    parse_quantity,
    registry,
)
from labrun_tempmodule.gcode import (
    ACK,
    FIRST_GEN2_REVISION,
    MODEL_PREFIX,
    ModuleStatus,
    ReplyError,
    celsius_text,
    frame,
    parse_identity,
    parse_status,
    reply_lines,
)
from labrun_tempmodule.plugin import plugin
from labrun_tempmodule.simulator import TempModuleSimulator

T = TypeVar("T")

# The range the GEN2 module controls, in °C.
MINIMUM = 4.0
MAXIMUM = 95.0


@plugin.driver("gen2")
class TempModule(SerialDriver):
    """An Opentrons Temperature Module GEN2."""

    description: ClassVar[str] = "Opentrons Temperature Module GEN2 (USB serial, G-code)."
    serial: ClassVar[SerialSettings] = SerialSettings(baudrate=115200)
    simulator: ClassVar[type[TempModuleSimulator]] = TempModuleSimulator
    values: ClassVar[tuple[DeviceValue, ...]] = (
        DeviceValue("temperature", "degC", poll=1.0, description="The block's temperature."),
        DeviceValue(
            "target",
            "degC",
            writable=True,
            description="The target temperature, none when deactivated; writing none "
            "deactivates the module.",
        ),
    )

    async def identify(self) -> str:
        exchange = await self._exchange("M115")
        identity = self._parse(exchange, parse_identity)
        if not identity.is_gen2:
            raise self.fault(
                f"the module is a {identity.model}, not a Temperature Module GEN2 "
                f"({MODEL_PREFIX}{FIRST_GEN2_REVISION} or later)",
                command=exchange.command,
                reply=exchange.reply,
            )
        return str(identity)

    async def status(self) -> ModuleStatus:
        """The target and the block temperature (M105)."""
        return self._parse(await self._exchange("M105"), parse_status)

    async def set_target(self, temperature: Quantity | float) -> None:
        """Hold the block at `temperature` (a quantity, or a number of °C) from now on (M104).
        A temperature outside 4-95 °C raises ValueError and sends nothing."""
        celsius = _celsius(temperature)
        text = celsius_text(celsius)
        if not MINIMUM <= float(text) <= MAXIMUM:
            raise ValueError(
                f"cannot set {self.name} to {text} °C: the Temperature Module GEN2 holds "
                f"{celsius_text(MINIMUM)} to {celsius_text(MAXIMUM)} °C"
            )
        await self.command(f"M104 S{text}")

    async def deactivate(self) -> None:
        """Stop holding a temperature (M18): the block drifts back to room temperature."""
        await self.command("M18")

    async def read(self, value: str) -> Any:
        if value == "temperature":
            return registry().Quantity((await self.status()).current, "degC")
        if value == "target":
            target = (await self.status()).target
            return None if target is None else registry().Quantity(target, "degC")
        return await super().read(value)

    async def write(self, value: str, setting: Any) -> None:
        if value != "target":
            await super().write(value, setting)
        elif setting is None:
            await self.deactivate()
        else:
            await self.set_target(parse_quantity(setting) if isinstance(setting, str) else setting)

    async def safe_state(self) -> None:
        await self.deactivate()

    async def command(self, gcode: str) -> None:
        """Send `gcode`, a command that is only acknowledged."""
        exchange = await self._exchange(gcode)
        if exchange.lines:
            raise self.fault(
                f"unexpected reply to {gcode}, which is only acknowledged",
                command=exchange.command,
                reply=exchange.reply,
            )

    async def _exchange(self, gcode: str) -> _Exchange:
        command = frame(gcode)
        reply = await self.link.exchange(command, until=ACK)
        try:
            lines = reply_lines(reply)
        except ReplyError as error:
            raise self.fault(f"garbled reply: {error}", command=command, reply=reply) from None
        for line in lines:
            if "alarm" in line.lower():
                raise self.fault(
                    f"the module reports an alarm: {line}", command=command, reply=reply, alarm=True
                )
            if "error" in line.lower():
                raise self.refuse(
                    f"the module refused {gcode}: {line}", command=command, reply=reply
                )
        return _Exchange(gcode, command, reply, lines)

    def _parse(self, exchange: _Exchange, parse: Callable[[str], T]) -> T:
        """The one reply line of `exchange`, parsed; a fault when it cannot be."""
        try:
            if len(exchange.lines) != 1:
                count = f"{len(exchange.lines)} reply lines" if exchange.lines else "no reply line"
                raise ReplyError(f"{count} before the acknowledgement, expected one")
            return parse(exchange.lines[0])
        except ReplyError as error:
            raise self.fault(
                f"garbled reply to {exchange.gcode}: {error}",
                command=exchange.command,
                reply=exchange.reply,
            ) from None


@dataclass(frozen=True)
class _Exchange:
    gcode: str
    command: bytes
    reply: bytes
    lines: list[str]


def _celsius(temperature: Quantity | float) -> float:
    if isinstance(temperature, bool):
        raise TypeError(f"a temperature is a quantity or a number of °C, not {temperature!r}")
    if isinstance(temperature, int | float):
        celsius = float(temperature)
    else:
        try:
            celsius = float(temperature.m_as("degC"))
        except (pint.PintError, QuantityError, AttributeError) as error:
            raise ValueError(f"{temperature} is not a temperature: {error}") from None
    if not math.isfinite(celsius):
        raise ValueError(f"{celsius} °C is not a temperature")
    return celsius
