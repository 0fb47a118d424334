"""The driver `syringe.ne1000`: a New Era NE-1000 syringe pump on RS-232, in basic mode.

Every command is `<address><COMMAND><argument>` and CR; every reply is STX, the address,
a status letter, data and ETX (see reply.py). Numbers go out in the unit that keeps all
4 digits the pump reads (see number.py).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from pint import Unit
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labrun import (
    Bounds,
    Clock,
    DeviceValue,
    Length,
    Quantity,
    SerialDriver,
    SerialLink,
    SerialSettings,
    parse_quantity,
    registry,
)
from labrun_syringe import number
from labrun_syringe.plugin import plugin
from labrun_syringe.reply import ETX, STATUSES, GarbledReply, Reply, parse
from labrun_syringe.simulator import Ne1000Simulator

# A stop is STP until the status is S: one pauses, the next stops; a third covers an
# alarm told in place of a reply. More than that and the pump is not listening.
STOP_TRIES = 4

# Infusing, withdrawing, purging.
_MOVING = frozenset("IWX")
_DISPENSED = re.compile(
    r"I(?P<infused>[0-9]*\.?[0-9]+)W(?P<withdrawn>[0-9]*\.?[0-9]+)(?P<units>ML|UL)"
)
_RATE = re.compile(r"(?P<value>[0-9]*\.?[0-9]+)(?P<units>MM|MH|UM|UH)")
_UNITS = {u.code: u.unit for u in (*number.VOLUME_UNITS, *number.RATE_UNITS)}
_ML_PER_UNIT = {"ML": 1.0, "UL": 1e-3}
# The values one DIS answers.
_FROM_DIS = frozenset({"status", "infused", "withdrawn"})


class Direction(StrEnum):
    """Which way the plunger moves, as the pump spells it."""

    INFUSE = "INF"
    WITHDRAW = "WDR"


class Ne1000Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: int = Field(
        0, ge=0, le=99, description="The pump's address, 0-99 (set on the pump; 0 alone)."
    )
    diameter: Annotated[Length, Bounds(ge="0.1 mm", le="80 mm")] = Field(
        "14.5 mm",
        validate_default=True,
        description="The syringe's inner diameter, such as '14.5 mm'; it sets the rate limits.",
    )

    @field_validator("diameter")
    @classmethod
    def _four_digits(cls, value: Quantity) -> Quantity:
        number.encode(value, number.DIAMETER_UNITS)  # NotRepresentable is a ValueError
        return value


@dataclass(frozen=True)
class Dispensed:
    """What `DIS` tells: the status letter and both counters, in ml.

    Plain floats: a process reads this twice a second, and a pint conversion costs more
    than the exchange itself."""

    status: str
    infused_ml: float
    withdrawn_ml: float

    def counter_ml(self, direction: Direction) -> float:
        return self.infused_ml if direction is Direction.INFUSE else self.withdrawn_ml

    @property
    def infused(self) -> Quantity:
        return _ml(self.infused_ml)

    @property
    def withdrawn(self) -> Quantity:
        return _ml(self.withdrawn_ml)

    @property
    def state(self) -> str:
        return STATUSES[self.status]

    def value(self, name: str) -> Any:
        """The driver's value `name`, one of those DIS answers."""
        if name == "status":
            return self.state
        return self.infused if name == "infused" else self.withdrawn


@plugin.driver("ne1000")
class Ne1000(SerialDriver):
    """New Era NE-1000 syringe pump (RS-232, basic mode)."""

    Options = Ne1000Options
    description = "New Era NE-1000 syringe pump on RS-232 (basic mode)"
    serial = SerialSettings(baudrate=9600, bytesize=8, parity="N", stopbits=1)
    simulator = Ne1000Simulator
    values = (
        DeviceValue(
            "status",
            poll=1.0,
            description="infusing, withdrawing, stopped, paused, purging...",
        ),
        DeviceValue("infused", "ml", poll=1.0, description="Volume infused since cleared."),
        DeviceValue("withdrawn", "ml", poll=1.0, description="Volume withdrawn since cleared."),
        DeviceValue("rate", "ml/min", writable=True, description="The pumping rate."),
    )

    def __init__(self, name: str, options: BaseModel, link: SerialLink, clock: Clock) -> None:
        if not isinstance(options, Ne1000Options):
            raise TypeError(f"the ne1000 driver takes Ne1000Options, not {type(options).__name__}")
        super().__init__(name, options, link, clock)
        self.address = options.address
        self.diameter = options.diameter

    # The driver contract.

    async def connect(self) -> None:
        diameter = number.encode(self.diameter, number.DIAMETER_UNITS).digits
        command = f"DIA{diameter}"
        reply = await self._exchange(command)
        if reply.error == "NA":
            # A running pump refuses a new diameter; one already right is no problem.
            current = (await self.command("DIA")).data
            if _float(current) != float(diameter):
                raise self.fault(
                    f"cannot set the syringe diameter to {diameter} mm while the pump runs "
                    f"(it is set to {current} mm): stop the pump first",
                    command=self._frame(command),
                    reply=reply.frame,
                )
            return
        self._check(command, reply)

    async def identify(self) -> str:
        reply = await self.command("VER")
        if not reply.data.startswith("NE1000V"):
            raise self.fault(
                f"this is not an NE-1000: it identifies as {reply.data!r}",
                command=self._frame("VER"),
                reply=reply.frame,
            )
        return reply.data

    async def read(self, value: str) -> Any:
        if value in _FROM_DIS:
            return (await self.dispensed()).value(value)
        if value == "rate":
            return await self.rate()
        return await super().read(value)

    async def read_many(self, values: Sequence[str]) -> dict[str, Any]:
        # One DIS for the status and both counters: they are polled together.
        dispensed = await self.dispensed() if _FROM_DIS.intersection(values) else None
        found: dict[str, Any] = {}
        for value in values:
            if dispensed is not None and value in _FROM_DIS:
                found[value] = dispensed.value(value)
            else:
                found[value] = await self.read(value)
        return found

    async def write(self, value: str, setting: Any) -> None:
        if value != "rate":
            await super().write(value, setting)
            return
        quantity = parse_quantity(setting) if isinstance(setting, str) else setting
        await self.set_rate(quantity)

    async def safe_state(self) -> None:
        await self.stop()

    async def hold(self) -> None:
        """The pump of a paused step must not pump on by itself: a pump still moving gets
        the pump's own pause (one STP), from which the step, resumed, takes over."""
        if (await self.dispensed()).status in _MOVING:
            await self.pause()

    # What processes use.

    async def set_direction(self, direction: Direction) -> None:
        await self.command(f"DIR {direction.value}")

    async def set_volume(self, volume: Quantity) -> Quantity:
        """Program the volume to pump; returns it as the pump took it."""
        encoded = self._encode(volume, number.VOLUME_UNITS, "volume")
        await self.command(f"VOL {encoded.unit.code}")
        await self.command(f"VOL{encoded.digits}")
        return encoded.quantity

    async def set_rate(self, rate: Quantity) -> Quantity:
        """Program the rate; returns it as the pump took it."""
        encoded = self._encode(rate, number.RATE_UNITS, "rate")
        await self.command(f"RAT{encoded.digits}{encoded.unit.code}")
        return encoded.quantity

    async def rate(self) -> Quantity:
        reply = await self.command("RAT")
        match = _RATE.fullmatch(reply.data)
        if match is None:
            raise self.fault("garbled reply to RAT", command=self._frame("RAT"), reply=reply.frame)
        rate = registry().Quantity(float(match["value"]), _UNITS[match["units"]])
        return rate.to("ml/min")

    async def clear(self, direction: Direction) -> None:
        """Set the counter of `direction` back to zero."""
        await self.command(f"CLD {direction.value}")

    async def run(self) -> str:
        """Start (or resume) pumping; returns the status letter."""
        return (await self.command("RUN")).status

    async def pause(self) -> str:
        """One STP: a running pump pauses, and RUN would resume it. Returns the status."""
        return (await self.command("STP")).status

    async def stop(self) -> None:
        """STP until the pump says it is stopped. An alarm told on the way is not an
        error here: an alarmed pump has stopped its motor, which is what is wanted."""
        reply: Reply | None = None
        for _ in range(STOP_TRIES):
            reply = await self._exchange("STP")
            if reply.status == "S":
                return
        assert reply is not None
        raise self.fault(
            f"the pump does not stop: still {reply.state} after {STOP_TRIES} STP",
            command=self._frame("STP"),
            reply=reply.frame,
        )

    async def dispensed(self) -> Dispensed:
        reply = await self.command("DIS")
        match = _DISPENSED.fullmatch(reply.data)
        if match is None:
            raise self.fault("garbled reply to DIS", command=self._frame("DIS"), reply=reply.frame)
        scale = _ML_PER_UNIT[match["units"]]
        return Dispensed(
            reply.status, float(match["infused"]) * scale, float(match["withdrawn"]) * scale
        )

    # The wire.

    async def command(self, text: str) -> Reply:
        """Send `text` (without address) and return the reply; an alarm in it is raised
        as a device fault, an error (`?OOR`, `?NA`...) as a refusal, which leaves the pump
        available: it answered as it should."""
        reply = await self._exchange(text)
        self._check(text, reply)
        return reply

    async def _exchange(self, text: str) -> Reply:
        """Send `text` and parse the reply; only a garbled reply raises."""
        command = self._frame(text)
        frame = await self.link.exchange(command, until=ETX)
        try:
            reply = parse(frame)
        except GarbledReply as garbled:
            raise self.fault(f"garbled reply: {garbled}", command=command, reply=frame) from None
        if reply.address != self.address:
            raise self.fault(
                f"garbled reply: it comes from address {reply.address:02d}, not {self.address:02d}",
                command=command,
                reply=frame,
            )
        return reply

    def _check(self, text: str, reply: Reply) -> None:
        if reply.alarm is not None:
            raise self.fault(
                reply.alarm_text(), command=self._frame(text), reply=reply.frame, alarm=True
            )
        if reply.error is not None:
            raise self.refuse(
                f"the pump refused {text}: {reply.error_text()}",
                command=self._frame(text),
                reply=reply.frame,
            )

    def _frame(self, text: str) -> bytes:
        return f"{self.address}{text}\r".encode("ascii")

    def _encode(
        self, value: Quantity, units: tuple[number.WireUnit, ...], what: str
    ) -> number.Encoded:
        try:
            return number.encode(value, units)
        except number.NotRepresentable as error:
            raise ValueError(f"device {self.name}: cannot set the {what}: {error}") from None


@functools.cache
def _milliliter() -> Unit:
    return registry().Unit("milliliter")


def _ml(value: float) -> Quantity:
    return registry().Quantity(value, _milliliter())


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
