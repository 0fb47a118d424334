"""`scpi.psu_set`: voltage, current limit and output of a SCPI power supply."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, model_validator

from labrun import Bounds, Current, DeviceRef, ProcessContext, Voltage
from labrun_scpi.plugin import plugin
from labrun_scpi.psu import ScpiPowerSupply
from labrun_scpi.scpi import warn_of_queued_errors


class PsuSetArgs(BaseModel):
    psu: Annotated[str, DeviceRef("scpi.psu")] = Field(description="The power supply.")
    voltage: Annotated[Voltage, Bounds(ge="0 V")] | None = Field(
        default=None, description="The voltage, such as '5 V'; unchanged if not given."
    )
    current: Annotated[Current, Bounds(ge="0 A")] | None = Field(
        default=None, description="The current limit, such as '100 mA'; unchanged if not given."
    )
    output: bool | None = Field(
        default=None,
        description="Turn the output on (true) or off (false); unchanged if not given.",
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.voltage is None and self.current is None and self.output is None:
            raise ValueError("give a voltage, a current or an output state")
        return self


@plugin.process("psu_set", estimate=lambda data: 0)
async def psu_set(data: PsuSetArgs, context: ProcessContext[PsuSetArgs]) -> None:
    """Set a power supply's voltage, current limit and output.

    The output goes off before new levels and on only after them, once the supply has
    accepted them, so that it never puts out a level it was not meant to."""
    psu = context.device(data.psu, ScpiPowerSupply)
    await warn_of_queued_errors(psu, context)
    sent: list[str] = []
    if data.output is False:
        sent.append(await psu.set_output(False))
    if data.voltage is not None:
        sent.append(await psu.set_voltage(data.voltage))
    if data.current is not None:
        sent.append(await psu.set_current(data.current))
    if sent:
        await psu.check_errors(", ".join(sent))
    if data.output:
        command = await psu.set_output(True)
        await psu.check_errors(command)
    location: dict[str, Any] = {
        "voltage": data.voltage,
        "current": data.current,
        "output": data.output,
    }
    context.send_location({key: value for key, value in location.items() if value is not None})
