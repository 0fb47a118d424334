"""`scpi.lakeshore_setpoint`: a Lake Shore 336 setpoint, optionally ramped, and a wait
until the temperature is stable at it.

Stable means: every reading within `tolerance` of the setpoint, and the setpoint not
ramping, for `hold` without a break, polling every `poll`. The wait is pausable. Pausing
applies the devices' safe state, which turns the heaters off, so every start (a resume,
a retry, a crash-resume) sends the setpoint, ramp and heater range again, and the hold
starts over. The point is the heater range in use, so that a step that left the range as
it found it restores that range, not the 0 the safe state left.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from labrun import (
    Bounds,
    DeviceRef,
    ProcessContext,
    Quantity,
    QuantityType,
    Remaining,
    Temperature,
    Time,
    format_quantity,
    to_seconds,
)
from labrun_scpi.lakeshore import HEATER_RANGES, LakeShore336
from labrun_scpi.plugin import plugin


def _difference(q: Quantity) -> Quantity:
    # A difference of offset temperatures is a delta unit: for degC, q - q is in
    # delta_degC, so units that change on subtraction are not a difference.
    if (q - q).units != q.units:
        raise ValueError(
            f"{format_quantity(q)} is a temperature, not a difference: write it in K or "
            "delta_degC, such as '0.1 K'"
        )
    return q


TemperatureRate = Annotated[
    Quantity,
    QuantityType("[temperature] / [time]", name="temperature rate", ge="0.1 K/min", le="100 K/min"),
]
TemperatureDifference = Annotated[
    Quantity,
    QuantityType("[temperature]", name="temperature difference", gt="0 K"),
    AfterValidator(_difference),
]


class SetpointArgs(BaseModel):
    controller: Annotated[str, DeviceRef("scpi.lakeshore336")] = Field(
        description="The temperature controller."
    )
    setpoint: Annotated[Temperature, Bounds(ge="0 K")] = Field(
        description="The setpoint, such as '77 K' or '-196 degC'."
    )
    ramp: TemperatureRate | None = Field(
        default=None,
        description="Ramp the setpoint at this rate, such as '2 K/min'; if not given, "
        "ramping is turned off and the setpoint changes at once.",
    )
    heater_range: int | None = Field(
        default=None,
        ge=0,
        le=3,
        description="0 off, 1 low, 2 medium, 3 high; unchanged if not given.",
    )
    wait: bool = Field(default=True, description="Wait until the temperature is stable.")
    tolerance: TemperatureDifference = Field(
        default="0.1 K",
        validate_default=True,
        description="How far from the setpoint a reading may be and count as stable.",
        examples=["0.1 K", "50 mK"],
    )
    hold: Annotated[Time, Bounds(ge="0 s")] = Field(
        default="1 min",
        validate_default=True,
        description="How long every reading must stay within the tolerance.",
    )
    poll: Annotated[Time, Bounds(gt="0 s")] = Field(
        default="1 s", validate_default=True, description="Time between readings."
    )
    timeout: Annotated[Time, Bounds(gt="0 s")] | None = Field(
        default=None,
        description="Fail if not stable within this time; wait for as long as it takes if "
        "not given.",
    )


class SettleLocation(BaseModel):
    setpoint: Temperature
    temperature: Temperature
    ramping: bool
    heater_range: int
    stable_for: float = Field(description="Seconds the temperature has been stable.")
    hold: float = Field(description="Seconds it must be stable.")


class NotSettled(Exception):
    """The temperature was not stable within the step's timeout."""


def _estimate(data: SetpointArgs) -> float | Remaining:
    # How long a cryostat takes to settle is not in the arguments.
    return Remaining.UNKNOWN if data.wait else 0.0


@plugin.process("lakeshore_setpoint", estimate=_estimate)
async def lakeshore_setpoint(data: SetpointArgs, context: ProcessContext[SetpointArgs]) -> None:
    """Set a Lake Shore 336 setpoint (ramp, heater range) and wait until it is stable."""
    controller = context.device(data.controller, LakeShore336)
    heater_range = data.heater_range
    if heater_range is None:
        heater_range = _restored_range(context)
    await controller.set_ramp(data.ramp)
    await controller.set_setpoint(data.setpoint)
    if heater_range is None:
        heater_range = await controller.heater_range()
    else:
        await controller.set_heater_range(heater_range)
    point = {"heater_range": heater_range}
    if heater_range == 0:
        context.send_warning(
            f"the heater range of {controller.name} is 0: output {controller.output} is off",
            code="heater-off",
        )
    if not data.wait:
        context.send_location(
            {"setpoint": data.setpoint, "heater_range": heater_range}, point=point
        )
        return
    await _settle(data, context, controller, heater_range, point)


async def _settle(
    data: SetpointArgs,
    context: ProcessContext[SetpointArgs],
    controller: LakeShore336,
    heater_range: int,
    point: dict[str, int],
) -> None:
    context.pausable = True
    setpoint = data.setpoint.to("K")
    tolerance = data.tolerance.m_as("K")
    hold = to_seconds(data.hold)
    poll = to_seconds(data.poll)
    timeout = math.inf if data.timeout is None else to_seconds(data.timeout)
    started = context.clock.monotonic()
    stable_since: float | None = None
    while True:
        temperature = (await controller.temperature()).to("K")
        ramping = await controller.ramping()
        now = context.clock.monotonic()
        off_by = abs(temperature.magnitude - setpoint.magnitude)
        if off_by > tolerance or ramping:
            stable_since = None
        elif stable_since is None:
            stable_since = now
        stable_for = 0.0 if stable_since is None else now - stable_since
        location = SettleLocation(
            setpoint=setpoint,
            temperature=temperature,
            ramping=ramping,
            heater_range=heater_range,
            stable_for=stable_for,
            hold=hold,
        )
        context.send_location(location, point=point)
        if stable_since is not None and stable_for >= hold:
            context.send_duration(0)
            return
        waited = now - started
        if waited >= timeout:
            raise NotSettled(
                f"{controller.name} was not stable at {format_quantity(setpoint)} within "
                f"{format_quantity(data.tolerance)} after {waited:g} s: it reads "
                f"{format_quantity(temperature)}" + (", still ramping" if ramping else "")
            )
        context.send_duration(_remaining(data, off_by, stable_since is not None, hold - stable_for))
        # Wake when the hold would end or the timeout expire, not a poll later.
        left = hold - stable_for if stable_since is not None else math.inf
        await context.wait(context.sleep(min(poll, left, timeout - waited)))


def _remaining(data: SetpointArgs, off_by: float, stable: bool, hold_left: float) -> Any:
    if stable:
        return hold_left
    if data.ramp is not None:
        return off_by / data.ramp.m_as("K/s") + to_seconds(data.hold)
    return Remaining.UNKNOWN


def _restored_range(context: ProcessContext[SetpointArgs]) -> int | None:
    """The heater range a previous start of this step used, from its point."""
    point = context.point
    if point is None:
        return None
    value = point.get("heater_range") if isinstance(point, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value in HEATER_RANGES:
        return value
    context.send_warning(
        f"cannot start from point {point!r}: the heater range is left as it is",
        code="bad-point",
    )
    return None
