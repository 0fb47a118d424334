"""`scpi.dmm_configure` and `scpi.dmm_read`: DC voltage on a Keysight 34465A."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, Field, model_validator

from labrun import Bounds, DeviceRef, ProcessContext, Quantity, Voltage
from labrun_scpi.dmm import Keysight34465A
from labrun_scpi.plugin import plugin
from labrun_scpi.scpi import warn_of_queued_errors

PositiveVoltage = Annotated[Voltage, Bounds(gt="0 V")]


class ConfigureArgs(BaseModel):
    dmm: Annotated[str, DeviceRef("scpi.dmm")] = Field(description="The multimeter.")
    range: PositiveVoltage | None = Field(
        default=None,
        description="The measurement range, such as '10 V' (0.1 to 1000 V); automatic if "
        "not given.",
    )
    resolution: PositiveVoltage | None = Field(
        default=None,
        description="The resolution, such as '1 uV'; needs a range. The meter's default "
        "if not given.",
    )

    @model_validator(mode="after")
    def _resolution_needs_range(self) -> Self:
        if self.resolution is not None and self.range is None:
            raise ValueError("a resolution needs a range: give both, or neither")
        return self


class ReadArgs(BaseModel):
    dmm: Annotated[str, DeviceRef("scpi.dmm")] = Field(description="The multimeter.")


@plugin.process("dmm_configure", estimate=lambda data: 0)
async def dmm_configure(data: ConfigureArgs, context: ProcessContext[ConfigureArgs]) -> None:
    """Set the multimeter to measure DC voltage; a setting it refuses fails the step."""
    dmm = context.device(data.dmm, Keysight34465A)
    await warn_of_queued_errors(dmm, context)
    command = await dmm.configure(data.range, data.resolution)
    context.send_location(
        {"command": command, "range": data.range or "auto", "resolution": data.resolution}
    )


@plugin.process("dmm_read", estimate=lambda data: 0)
async def dmm_read(data: ReadArgs, context: ProcessContext[ReadArgs]) -> Quantity:
    """Take one DC voltage reading; the result is the reading."""
    dmm = context.device(data.dmm, Keysight34465A)
    reading = await dmm.read_voltage()
    context.send_location({"reading": reading})
    return reading
