"""`tempmodule.set_temperature` and `tempmodule.deactivate`.

`set_temperature` sets the target, then (unless `wait` is false) reads the block every
second until it has stayed within `tolerance` of the target for `hold` without a break.
Its point is the phase and the seconds held so far, `{"phase": "ramp"|"hold"|"done",
"held": s}`. Every start sends the target again (a crash-resume finds the module
deactivated by its safe state); held seconds from a point count only if the block is still
within tolerance at the first reading. A jump to `"done"` sets the target without waiting.

Pausing keeps the target: a module holding a temperature is safe, and the samples on it
usually need it. A halt does nothing here: the engine puts the module in its safe state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field

from labrun import Bounds, DeviceRef, ProcessContext, Quantity, Temperature, Time, to_seconds
from labrun_tempmodule.block import ROOM, BlockModel
from labrun_tempmodule.driver import TempModule
from labrun_tempmodule.plugin import plugin
from labrun_tempmodule.tolerance import EXAMPLE, Tolerance, difference_examples

# Seconds between reads of the block while waiting.
POLL = 1.0
# Firmware may report the target rounded to its 1 °C resolution; a bigger difference means
# the module lost or changed its target behind the step's back.
TARGET_SLACK = 0.5
# The model behind the duration estimates; a real module's ramp differs somewhat.
BLOCK = BlockModel()

Phase = Literal["ramp", "hold", "done"]
PHASES: tuple[str, ...] = get_args(Phase)
Module = Annotated[str, DeviceRef("tempmodule.gen2")]


class SetTemperatureArgs(BaseModel):
    module: Module = Field(description="The temperature module.")
    temperature: Annotated[Temperature, Bounds(ge="4 degC", le="95 degC")] = Field(
        description="The target, such as '37 degC'."
    )
    tolerance: Tolerance = Field(
        default=EXAMPLE,
        validate_default=True,
        description="How close to the target counts as there, a temperature difference "
        "such as '0.5 K' ('0.5 degC' is read as a difference too).",
        json_schema_extra=difference_examples,
    )
    hold: Annotated[Time, Bounds(ge="0 s")] = Field(
        default="0 s",
        validate_default=True,
        description="How long the block must stay within the tolerance without a break.",
    )
    wait: bool = Field(
        default=True, description="Wait for the block to reach the target; false only sets it."
    )


class TemperatureLocation(BaseModel):
    temperature: float = Field(description="The block temperature in °C.")
    target: float = Field(description="The target in °C.")
    phase: Phase = Field(description="ramp: on the way; hold: within tolerance; done.")
    held: float = Field(description="Seconds within tolerance without a break.")


class DeactivateArgs(BaseModel):
    module: Module = Field(description="The temperature module.")


def _celsius(temperature: Quantity) -> float:
    return float(temperature.m_as("degC"))


def _kelvin(difference: Quantity) -> float:
    return float(difference.m_as("K"))


def _estimate(data: SetTemperatureArgs) -> float:
    """From room temperature, as the block's temperature is unknown before the run."""
    if not data.wait:
        return 0.0
    ramp = BLOCK.time_to_within(ROOM, _celsius(data.temperature), _kelvin(data.tolerance))
    return ramp + to_seconds(data.hold)


@plugin.process("set_temperature", estimate=_estimate)
async def set_temperature(
    data: SetTemperatureArgs, context: ProcessContext[SetTemperatureArgs]
) -> None:
    """Set a module's target temperature and wait until the block holds it; pausable."""
    module = context.device(data.module, TempModule)
    target = _celsius(data.temperature)
    tolerance = _kelvin(data.tolerance)
    hold = to_seconds(data.hold)
    phase, held = _start(context)
    await module.set_target(data.temperature)
    if not data.wait or phase == "done":
        status = await module.status()
        _report(context, status.current, target=target, phase="done", held=held, remaining=0.0)
        return
    context.pausable = True
    # When the block was last seen within tolerance, in a run of readings that all were.
    since: float | None = None
    while True:
        status = await module.status()
        now = context.clock.monotonic()
        if status.target is None or abs(status.target - target) > TARGET_SLACK:
            shown = "none" if status.target is None else f"{status.target:g} °C"
            raise module.fault(
                f"the module's target is {shown}, not {target:g} °C: it was deactivated "
                "or reset while the step waited",
                command="M105",
                reply=status.line,
            )
        if abs(status.current - target) > tolerance:
            phase, held, since = "ramp", 0.0, None
        elif since is None:
            # Seconds held before a restart count only if the block never left meanwhile.
            held = held if phase == "hold" else 0.0
            phase, since = "hold", now
        else:
            held, since = held + now - since, now
        if phase == "hold" and held >= hold:
            _report(context, status.current, target=target, phase="done", held=held, remaining=0.0)
            return
        if phase == "hold":
            remaining = hold - held
            pause = min(POLL, remaining)
        else:
            remaining = BLOCK.time_to_within(status.current, target, tolerance) + hold
            pause = POLL
        _report(context, status.current, target=target, phase=phase, held=held, remaining=remaining)
        # A pause, jump or swap propagates from here; the point reported just now is
        # where the restarted process goes on.
        await context.wait(context.sleep(pause))


@plugin.process("deactivate", estimate=lambda data: 0.0)
async def deactivate(data: DeactivateArgs, context: ProcessContext[DeactivateArgs]) -> None:
    """Stop holding a temperature; the block drifts back to room temperature."""
    module = context.device(data.module, TempModule)
    await module.deactivate()
    context.send_location({"target": None})
    context.send_duration(0.0)


def _report(
    context: ProcessContext[Any],
    temperature: float,
    *,
    target: float,
    phase: Phase,
    held: float,
    remaining: float,
) -> None:
    location = TemperatureLocation(temperature=temperature, target=target, phase=phase, held=held)
    context.send_location(location, point={"phase": phase, "held": held})
    context.send_duration(remaining)


def _start(context: ProcessContext[Any]) -> tuple[Phase, float]:
    if context.point is None:
        return "ramp", 0.0
    start = _point(context.point)
    if start is None:
        context.send_warning(
            f"cannot start from point {context.point!r}: give a phase (ramp, hold or done), "
            'or {"phase": ..., "held": seconds}; waiting from the beginning',
            code="bad-point",
        )
        return "ramp", 0.0
    return start


def _point(point: Any) -> tuple[Phase, float] | None:
    if isinstance(point, str):
        phase: Any = point
        held: Any = 0.0
    elif isinstance(point, Mapping):
        phase, held = point.get("phase"), point.get("held", 0.0)
    else:
        return None
    if phase not in PHASES:
        return None
    if isinstance(held, bool) or not isinstance(held, int | float):
        return None
    if not (math.isfinite(held) and held >= 0):
        return None
    return phase, float(held)
