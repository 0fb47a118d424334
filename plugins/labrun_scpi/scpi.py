"""`ScpiDriver`, what every driver of this plugin shares, and `ScpiInstrument`, the driver
for any SCPI instrument, which knows nothing of it beyond its identity."""

from __future__ import annotations

from typing import Any

import pint

from labrun import (
    ProcessContext,
    Quantity,
    QuantityError,
    VisaDriver,
    VisaSettings,
    parse_quantity,
    registry,
)
from labrun_scpi.number import parse_number
from labrun_scpi.plugin import plugin
from labrun_scpi.simulation import simulated

# The SCPI error queue is 20 to 30 entries deep on most instruments; reading more than
# this means the instrument never answers "no error", and the reply is not a queue entry.
_ERROR_QUEUE_DEPTH = 32


class ScpiDriver(VisaDriver):
    """The base of this plugin's drivers: identity through `*IDN?`, numbers read strictly,
    and the SCPI error queue. Not a driver of its own (see `ScpiInstrument`)."""

    async def identify(self) -> str:
        command = "*IDN?"
        reply = await self.link.query(command)
        fields = [field.strip() for field in reply.split(",")]
        # IEEE 488.2: manufacturer, model, serial number, firmware.
        if len(fields) < 2 or not all(fields[:2]):
            raise self.fault(
                "the reply is not an IEEE 488.2 identity (manufacturer,model,serial,firmware)",
                command=command,
                reply=reply,
            )
        problem = self.identity_problem(fields)
        if problem is not None:
            raise self.fault(problem, command=command, reply=reply)
        return reply.strip()

    async def send(self, command: str) -> None:
        """Send one command as it is; nothing is read back."""
        await self.link.write(command)

    async def ask(self, command: str) -> str:
        """Send one query as it is and return its reply, the termination removed."""
        return await self.link.query(command)

    def identity_problem(self, fields: list[str]) -> str | None:
        """Why the identity `fields` are not of an instrument this driver speaks to."""
        return None

    async def query_number(self, command: str) -> float:
        """The number a query answers; any other reply is a fault."""
        return (await self.query_reply(command))[0]

    async def query_reply(self, command: str) -> tuple[float, str]:
        """The number a query answers and the reply it came in; any other reply is a fault."""
        reply = await self.link.query(command)
        number = parse_number(reply)
        if number is None:
            raise self.fault("the reply is not a number", command=command, reply=reply)
        return number, reply

    async def errors(self) -> list[str]:
        """Empty the SCPI error queue (`SYST:ERR?`) and return the errors it held."""
        command = "SYST:ERR?"
        found: list[str] = []
        for _ in range(_ERROR_QUEUE_DEPTH):
            reply = (await self.link.query(command)).strip()
            code = parse_number(reply.partition(",")[0])
            if code is None or not code.is_integer():
                raise self.fault(
                    'the reply is not an error queue entry such as +0,"No error"',
                    command=command,
                    reply=reply,
                )
            if code == 0:
                return found
            found.append(reply)
        raise self.fault(
            f"the error queue did not empty after {_ERROR_QUEUE_DEPTH} reads",
            command=command,
            reply=found[-1],
        )

    async def check_errors(self, after: str) -> None:
        """Raise a refusal naming the errors the instrument queued for `after`."""
        found = await self.errors()
        if found:
            raise self.refuse(
                f"the instrument refused {after}: {'; '.join(found)}",
                command="SYST:ERR?",
                reply=found[0],
            )

    def quantity(self, magnitude: float, unit: str) -> Quantity:
        q: Quantity = registry().Quantity(magnitude, unit)
        return q


async def warn_of_queued_errors(instrument: ScpiDriver, context: ProcessContext[Any]) -> None:
    """Empty the error queue before a step's commands, so that errors left by earlier
    commands are not blamed on them; they are reported as a warning, not erased."""
    found = await instrument.errors()
    if found:
        context.send_warning(
            f"{instrument.name} had errors queued before this step: {'; '.join(found)}",
            code="queued-errors",
        )


def magnitude_in(setting: Any, unit: str, what: str) -> float:
    """The magnitude of `setting` (a quantity, or text such as "5 V") in `unit`."""
    try:
        q = parse_quantity(setting) if isinstance(setting, str) else setting
    except QuantityError as error:
        raise ValueError(f"{what}: {error}") from error
    if not isinstance(q, pint.Quantity):
        raise ValueError(f"{what} must be a quantity with a unit, not {setting!r}")
    try:
        return float(q.m_as(unit))
    except pint.DimensionalityError as error:
        raise ValueError(f"{what} must be in {unit} or a compatible unit, not {q.units}") from error


@plugin.driver("instrument")
class ScpiInstrument(ScpiDriver):
    """Any SCPI instrument, for raw commands and queries (`scpi.write`, `scpi.query`).

    It checks only that the instrument answers `*IDN?` with an IEEE 488.2 identity. It
    declares no values, and its safe state sends nothing: what is safe for an unknown
    instrument is unknown; `*RST` would throw away its configuration for a default state
    no one chose, and `*CLS` would erase the error queue, which after a failure holds the
    instrument's own account of what went wrong.
    """

    description = "Any SCPI instrument: raw commands and queries; its safe state does nothing."
    visa = VisaSettings(read_termination="\n", write_termination="\n")
    simulation = simulated("instrument.yaml", "TCPIP0::192.168.0.10::inst0::INSTR")

    async def safe_state(self) -> None:
        return
