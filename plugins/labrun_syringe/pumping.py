"""`syringe.infuse`, `syringe.withdraw` and `syringe.stop`.

The point is the volume pumped so far, in ml. Whatever restarts the process (a resume
after a pause, a retry, a crash-resume) pumps only what is left: the pump is stopped,
programmed with the remaining volume and run again. A pause uses the pump's own pause
(one STP); a halt stops it (STP until stopped). A jump moves the point and a swap changes
volume or rate, both without a restart: the pump is stopped and reprogrammed in place.
"""

from __future__ import annotations

import contextlib
import math
from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from labrun import (
    Bounds,
    DeviceError,
    DeviceRef,
    FlowRate,
    JumpRequest,
    PauseRequest,
    ProcessContext,
    Quantity,
    QuantityError,
    SwapRequest,
    Volume,
    format_quantity,
    parse_quantity,
    registry,
)
from labrun_syringe import number
from labrun_syringe.ne1000 import Direction, Dispensed, Ne1000
from labrun_syringe.plugin import plugin

POLL = 0.5  # seconds between two readings of the pump's counter while it pumps
# The pump stops at the volume it was given; its counter, read with 4 digits, may show a
# hair less. Less than this share short means it stopped for another reason.
_SHORT = 1e-3
# Volumes are sums of 4-digit readings: rounding hides float noise such as 0.30000000000000004.
_ML_DECIMALS = 9

PumpRef = Annotated[str, DeviceRef("syringe.ne1000")]


class PumpArgs(BaseModel):
    pump: PumpRef = Field(description="The pump, by the name the protocol gives it.")
    volume: Annotated[Volume, Bounds(gt="0 ml")] = Field(
        description="The volume to pump, such as '1 ml'."
    )
    rate: Annotated[FlowRate, Bounds(gt="0 ml/min")] = Field(
        description="The flow rate, such as '5 ul/min'."
    )

    @field_validator("volume")
    @classmethod
    def _volume_fits(cls, value: Quantity) -> Quantity:
        number.encode(value, number.VOLUME_UNITS)  # NotRepresentable is a ValueError
        return value

    @field_validator("rate")
    @classmethod
    def _rate_fits(cls, value: Quantity) -> Quantity:
        number.encode(value, number.RATE_UNITS)
        return value


class StopArgs(BaseModel):
    pump: PumpRef = Field(description="The pump, by the name the protocol gives it.")


class PumpLocation(BaseModel):
    pumped: str = Field(description="The volume pumped so far, such as '0.25 ml'.")
    volume: str = Field(description="The volume to pump in all.")
    rate: str = Field(description="The flow rate.")


def _estimate(data: PumpArgs) -> float:
    return float((data.volume / data.rate).m_as("s"))


@plugin.process("infuse", estimate=_estimate)
async def infuse(data: PumpArgs, context: ProcessContext[PumpArgs]) -> None:
    """Infuse a volume at a rate; pausable, and a restart pumps only what is left."""
    await _Delivery(data, context, Direction.INFUSE).run()


@plugin.process("withdraw", estimate=_estimate)
async def withdraw(data: PumpArgs, context: ProcessContext[PumpArgs]) -> None:
    """Withdraw a volume at a rate; pausable, and a restart pumps only what is left."""
    await _Delivery(data, context, Direction.WITHDRAW).run()


@plugin.process("stop", estimate=lambda data: 0)
async def stop(data: StopArgs, context: ProcessContext[StopArgs]) -> None:
    """Stop the pump, whatever it is doing."""
    await context.device(data.pump, Ne1000).stop()


class _Delivery:
    """One invocation of infuse or withdraw."""

    volume: float  # ml
    _data: PumpArgs

    def __init__(
        self, data: PumpArgs, context: ProcessContext[PumpArgs], direction: Direction
    ) -> None:
        self.data = data
        self.context = context
        self.direction = direction
        self.pump = context.device(data.pump, Ne1000)
        # The point: how much of `volume` is done. `moved` is what this invocation pumped,
        # which a jump back makes differ from the progress made.
        self.pumped = self._start_point(context.point)
        self.moved = 0.0
        # While the pump runs: the pumped and moved volumes when its counter was cleared.
        self._running = False
        self._before = (0.0, 0.0)

    @property
    def data(self) -> PumpArgs:
        return self._data

    @data.setter
    def data(self, data: PumpArgs) -> None:
        # Worked out once: the location is sent twice a second, and pint is slow.
        self._data = data
        self.volume = float(data.volume.m_as("ml"))
        self._rate = float(data.rate.m_as("ml/s"))
        self._shown = (format_quantity(data.volume), format_quantity(data.rate))

    async def run(self) -> None:
        self.context.pausable = True
        try:
            while True:
                try:
                    await self._deliver()
                except JumpRequest as request:
                    await self._interrupt(stop=True)
                    self._jump(request.point)
                except SwapRequest as request:
                    await self._interrupt(stop=True)
                    self.data = request.data
                    self.pump = self.context.device(self.data.pump, Ne1000)
                    self.pumped = min(self.pumped, self.volume)
                except PauseRequest:
                    await self._interrupt(stop=False)
                    raise
                else:
                    return
        finally:
            # A halt is a CancelledError, passing through here like any failure.
            if self._running:
                # Halted (or failed): the pump must not go on unattended. A device that no
                # longer answers gets its safe state from the host once it is back.
                with contextlib.suppress(DeviceError):
                    await self._interrupt(stop=True)
            self._record()

    async def _deliver(self) -> None:
        """Pump what is left of the volume, and return once the pump has stopped at it."""
        self._report()
        # A jump or swap that came while paused is taken here, before the pump moves.
        await self.context.checkpoint()
        # What is left of a volume, less a 4-digit reading, may need a 5th digit: the pump
        # gets the nearest it takes, off by less than its own reading's last digit.
        remaining = number.nearest(_ml(self.volume - self.pumped), number.VOLUME_UNITS)
        if remaining is None or not float(remaining.digits) > 0:
            return
        pump = self.pump
        await pump.stop()
        await pump.set_direction(self.direction)
        sent = float((await pump.set_volume(remaining.quantity)).m_as("ml"))
        await pump.set_rate(self.data.rate)
        await pump.clear(self.direction)
        self._before = (self.pumped, self.moved)
        self._running = True
        await pump.run()
        while True:
            reading = await pump.dispensed()
            counted = self._count(reading)
            self._report()
            if reading.status == "S":
                self._running = False
                if counted < sent * (1 - _SHORT):
                    raise DeviceError(
                        pump.name,
                        f"the pump stopped after {_text(counted)} of the {_text(sent)} it was "
                        f"to pump ({_text(self.pumped)} of {_text(self.volume)} in all): "
                        "was it stopped at its keypad?",
                    )
                return
            await self.context.wait(self.context.sleep(POLL))

    async def _interrupt(self, *, stop: bool) -> None:
        """Pause or stop a running pump and take in what it pumped."""
        if not self._running:
            return
        if stop:
            await self.pump.stop()
        else:
            await self.pump.pause()
        self._count(await self.pump.dispensed())
        self._running = False
        self._report()

    def _count(self, reading: Dispensed) -> float:
        counted = reading.counter_ml(self.direction)
        pumped, moved = self._before
        self.pumped = round(pumped + counted, _ML_DECIMALS)
        self.moved = round(moved + counted, _ML_DECIMALS)
        return counted

    def _report(self) -> None:
        volume, rate = self._shown
        location = PumpLocation(pumped=_text(self.pumped), volume=volume, rate=rate)
        self.context.send_location(location, point=self.pumped)
        left = max(self.volume - self.pumped, 0.0)
        self.context.send_duration(round(left / self._rate, 6))

    def _record(self) -> None:
        if self.moved > 0:
            key = "infused" if self.direction is Direction.INFUSE else "withdrawn"
            self.context.send_effect(
                {"pump": self.data.pump, key: _text(self.moved), "total": _text(self.pumped)}
            )

    def _start_point(self, point: Any) -> float:
        if point is None:
            return 0.0
        pumped = _ml_or_none(point)
        if pumped is None:
            # Not a point this process reported: guessing could pump the volume twice.
            raise ValueError(
                f"cannot start from point {point!r}: a point is the volume already pumped, "
                "in ml or as a volume such as '0.5 ml'"
            )
        return min(max(pumped, 0.0), self.volume)

    def _jump(self, point: Any) -> None:
        target = _ml_or_none(point)
        if target is None:
            self.context.send_warning(
                f"cannot jump to {point!r}: give the volume already pumped, in ml or as a "
                "volume such as '0.5 ml'",
                code="bad-point",
            )
            return
        self.pumped = min(max(target, 0.0), self.volume)


def _ml(value: float) -> Quantity:
    return registry().Quantity(value, "ml")


def _text(ml: float) -> str:
    """As format_quantity writes millilitres ("0.25 ml", "1 ml"), without pint's cost."""
    return f"{str(round(ml, _ML_DECIMALS)).removesuffix('.0')} ml"


def _ml_or_none(point: Any) -> float | None:
    if isinstance(point, bool):
        return None
    if isinstance(point, int | float):
        value = float(point)
    elif isinstance(point, str):
        try:
            quantity = parse_quantity(point)
        except QuantityError:
            return None
        if not quantity.check("[length] ** 3"):
            return None
        value = float(quantity.m_as("ml"))
    else:
        return None
    return value if math.isfinite(value) else None
