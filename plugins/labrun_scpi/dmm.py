"""The Keysight 34465A multimeter (and its Truevolt siblings), measuring DC voltage."""

from __future__ import annotations

from typing import Any

from labrun import DeviceValue, Quantity, VisaSettings
from labrun_scpi.number import format_number, parse_numbers
from labrun_scpi.plugin import plugin
from labrun_scpi.scpi import ScpiDriver, magnitude_in
from labrun_scpi.simulation import simulated

# The Truevolt family shares the 34465A's command set.
_MAKERS = frozenset({"Keysight Technologies", "Agilent Technologies"})
_MODELS = frozenset({"34460A", "34461A", "34465A", "34470A"})
_DC_VOLTAGE = frozenset({"VOLT", "VOLT:DC"})
# The meter reads +9.9E+37 on an overload and 9.91E+37 for "not a number".
_OVERLOAD = 9.9e37


@plugin.driver("dmm")
class Keysight34465A(ScpiDriver):
    """A Keysight 34465A digital multimeter measuring DC voltage.

    Its safe state is `ABOR`: a multimeter has nothing to de-energise, so the one useful
    thing is to stop a measurement in progress, leaving the meter idle and responsive. It
    does not send `*RST`, which would lose the configured range a resumed step relies on,
    nor `*CLS`, which would erase the errors that explain a failure.
    """

    description = "Keysight 34465A multimeter: DC voltage; safe state ABOR (stop measuring)."
    # A reading at 100 power-line cycles with auto-zero takes about 4 s.
    visa = VisaSettings(read_termination="\n", write_termination="\n", timeout=10.0)
    simulation = simulated("dmm.yaml", "USB0::0x2A8D::0x0101::MY57500001::INSTR")
    values = (
        DeviceValue("voltage", "V", poll=1.0, description="One DC voltage reading (READ?)."),
        DeviceValue("function", description='The measurement function, such as "VOLT".'),
    )

    def identity_problem(self, fields: list[str]) -> str | None:
        if fields[0] in _MAKERS and fields[1] in _MODELS:
            return None
        return f"expected a Keysight 34465A multimeter, found {fields[0]} {fields[1]}"

    async def configure(
        self, range: Quantity | None = None, resolution: Quantity | None = None
    ) -> str:
        """Measure DC voltage in `range` (automatic when None) at `resolution` (the
        meter's default when None); returns the command sent. The error queue is read
        afterwards, so a refused setting raises DeviceRefused (empty it before: `errors()`)."""
        if resolution is not None and range is None:
            raise ValueError("a resolution needs a range: give both, or neither")
        command = "CONF:VOLT:DC"
        if range is not None:
            command += f" {format_number(magnitude_in(range, 'V', 'the range'))}"
        if resolution is not None:
            command += f",{format_number(magnitude_in(resolution, 'V', 'the resolution'))}"
        await self.link.write(command)
        await self.check_errors(command)
        return command

    async def function(self) -> str:
        """The measurement function, such as `VOLT` (DC voltage) or `CURR:AC`."""
        command = "SENS:FUNC?"
        reply = await self.link.query(command)
        text = reply.strip()
        if len(text) < 3 or text[0] != '"' or text[-1] != '"':
            raise self.fault(
                'the reply is not a quoted function name such as "VOLT"',
                command=command,
                reply=reply,
            )
        return text[1:-1]

    async def read_voltage(self) -> Quantity:
        """One DC voltage reading. A meter set to another function (whose reading would
        be in other units) or overloaded raises an error rather than return a number."""
        function = await self.function()
        if function.upper() not in _DC_VOLTAGE:
            raise self.refuse(
                f"the multimeter measures {function}, not DC voltage: configure it first",
                command="SENS:FUNC?",
                reply=f'"{function}"',
            )
        command = "READ?"
        reply = await self.link.query(command)
        readings = parse_numbers(reply)
        if readings is None:
            raise self.fault(
                "the reply is not a reading such as +1.23456789E+00", command=command, reply=reply
            )
        if len(readings) != 1:
            raise self.refuse(
                f"expected one reading, got {len(readings)}: the sample or trigger count "
                "was changed after the multimeter was configured",
                command=command,
                reply=reply,
            )
        if abs(readings[0]) >= _OVERLOAD:
            raise self.refuse(
                "overload: the input is beyond the measurement range", command=command, reply=reply
            )
        return self.quantity(readings[0], "V")

    async def read(self, value: str) -> Any:
        if value == "voltage":
            return await self.read_voltage()
        if value == "function":
            return await self.function()
        return await super().read(value)

    async def safe_state(self) -> None:
        await self.link.write("ABOR")
