"""`scpi.write` and `scpi.query`: raw commands to any instrument of this plugin."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, field_validator

from labrun import (
    DeviceRef,
    DeviceReplyError,
    ProcessContext,
    Quantity,
    QuantityError,
    parse_quantity,
    registry,
)
from labrun_scpi.number import parse_number
from labrun_scpi.plugin import plugin
from labrun_scpi.scpi import ScpiDriver

AnyScpi = DeviceRef("scpi.instrument", "scpi.dmm", "scpi.psu", "scpi.lakeshore336")


def _one_message(command: str) -> str:
    # The link adds the termination; one inside would split the command into two messages
    # and leave a reply behind to be read as the answer to the next query.
    if "\n" in command or "\r" in command:
        raise ValueError("a command is one line: it cannot contain CR or LF")
    if not command.strip():
        raise ValueError("the command is empty")
    return command


class WriteArgs(BaseModel):
    device: Annotated[str, AnyScpi] = Field(description="The instrument.")
    command: str = Field(description="The command, such as 'OUTP ON'; nothing is read back.")

    _command = field_validator("command")(_one_message)


class QueryArgs(BaseModel):
    device: Annotated[str, AnyScpi] = Field(description="The instrument.")
    command: str = Field(description="The query, such as '*IDN?' or 'MEAS:VOLT?'.")
    unit: str | None = Field(
        default=None,
        description="Read the reply as a number in this unit, such as 'V': the result is "
        "then a quantity. Without it, the result is the reply's text.",
    )

    _command = field_validator("command")(_one_message)

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str | None) -> str | None:
        if unit is not None:
            try:
                parse_quantity(f"1 {unit}")
            except QuantityError as error:
                raise ValueError(f"unknown unit {unit!r}") from error
        return unit


@plugin.process("write", estimate=lambda data: 0)
async def write(data: WriteArgs, context: ProcessContext[WriteArgs]) -> None:
    """Send one command to a SCPI instrument."""
    instrument = context.device(data.device, ScpiDriver)
    context.send_location({"command": data.command})
    await instrument.send(data.command)


@plugin.process("query", estimate=lambda data: 0)
async def query(data: QueryArgs, context: ProcessContext[QueryArgs]) -> Quantity | str:
    """Send one query to a SCPI instrument; the result is its reply, or a quantity.

    With `unit`, the reply is read as a number in that unit."""
    instrument = context.device(data.device, ScpiDriver)
    reply = await instrument.ask(data.command)
    location: dict[str, Any] = {"command": data.command, "reply": reply}
    if data.unit is None:
        context.send_location(location)
        return reply
    number = parse_number(reply)
    if number is None:
        # The instrument answered; the protocol asked for a number where it answers text,
        # so the device is not marked faulty.
        raise DeviceReplyError(
            instrument.name,
            f"the reply is not a number to read in {data.unit}",
            command=data.command,
            reply=reply,
        )
    value: Quantity = registry().Quantity(number, parse_quantity(f"1 {data.unit}").units)
    context.send_location(location | {"value": value})
    return value
