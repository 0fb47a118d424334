"""A power supply speaking the SCPI-99 subset most supplies accept."""

from __future__ import annotations

from typing import Any

from labrun import DeviceValue, Quantity, VisaSettings
from labrun_scpi.load import ResistiveLoad
from labrun_scpi.number import format_number, parse_bool
from labrun_scpi.plugin import plugin
from labrun_scpi.scpi import ScpiDriver, magnitude_in
from labrun_scpi.simulation import simulated

# value name -> (query, unit)
_READINGS = {
    "voltage": ("VOLT?", "V"),
    "current": ("CURR?", "A"),
    "measured_voltage": ("MEAS:VOLT?", "V"),
    "measured_current": ("MEAS:CURR?", "A"),
}


@plugin.driver("psu")
class ScpiPowerSupply(ScpiDriver):
    """A single-output SCPI power supply: voltage and current limits, output on or off,
    and the voltage and current it measures. Its safe state is the output off, checked
    by reading it back."""

    description = "SCPI power supply: VOLT, CURR, OUTP, MEAS; safe state OUTP OFF."
    visa = VisaSettings(read_termination="\n", write_termination="\n")
    simulation = simulated("psu.yaml", "TCPIP0::192.168.0.20::inst0::INSTR", ResistiveLoad)
    values = (
        DeviceValue("voltage", "V", writable=True, description="Voltage setting (VOLT)."),
        DeviceValue("current", "A", writable=True, description="Current limit (CURR)."),
        DeviceValue("output", writable=True, description="Whether the output is on (OUTP)."),
        DeviceValue("measured_voltage", "V", poll=1.0, description="Output voltage (MEAS:VOLT?)."),
        DeviceValue("measured_current", "A", poll=1.0, description="Output current (MEAS:CURR?)."),
    )

    # The setters return the command sent, for `check_errors` to name.

    async def set_voltage(self, voltage: Quantity) -> str:
        command = f"VOLT {format_number(magnitude_in(voltage, 'V', 'the voltage'))}"
        await self.link.write(command)
        return command

    async def set_current(self, current: Quantity) -> str:
        command = f"CURR {format_number(magnitude_in(current, 'A', 'the current'))}"
        await self.link.write(command)
        return command

    async def set_output(self, on: bool) -> str:
        command = "OUTP ON" if on else "OUTP OFF"
        await self.link.write(command)
        return command

    async def output(self) -> bool:
        return (await self._output())[0]

    async def _output(self) -> tuple[bool, str]:
        command = "OUTP?"
        reply = await self.link.query(command)
        on = parse_bool(reply)
        if on is None:
            raise self.fault("the reply is not 1, 0, ON or OFF", command=command, reply=reply)
        return on, reply

    async def read(self, value: str) -> Any:
        if value == "output":
            return await self.output()
        reading = _READINGS.get(value)
        if reading is None:
            return await super().read(value)
        command, unit = reading
        return self.quantity(await self.query_number(command), unit)

    async def write(self, value: str, setting: Any) -> None:
        if value == "voltage":
            command = await self.set_voltage(setting)
        elif value == "current":
            command = await self.set_current(setting)
        elif value == "output":
            if not isinstance(setting, bool):
                raise ValueError(f"the output is on (true) or off (false), not {setting!r}")
            command = await self.set_output(setting)
        else:
            await super().write(value, setting)
            return
        await self.check_errors(command)

    async def safe_state(self) -> None:
        await self.set_output(False)
        on, reply = await self._output()
        if on:
            raise self.fault(
                "the output is still on after OUTP OFF", command="OUTP?", reply=reply, alarm=True
            )
