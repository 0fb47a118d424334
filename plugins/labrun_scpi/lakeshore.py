"""The Lake Shore Model 336 temperature controller: setpoint, ramp and heater range of one
heater output, and the temperature of its input."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from labrun import Clock, DeviceValue, Quantity, VisaLink, VisaSettings
from labrun_scpi.lakeshore_physics import LakeShore336Physics
from labrun_scpi.number import format_number, parse_bool, parse_number
from labrun_scpi.plugin import plugin
from labrun_scpi.scpi import ScpiDriver, magnitude_in
from labrun_scpi.simulation import simulated

Input = Literal["A", "B", "C", "D"]
# OUTMODE's input numbers: 1-4 are inputs A-D, 5-8 the extra inputs of the 3062 card.
_INPUT_NUMBERS = {1: "A", 2: "B", 3: "C", 4: "D", 5: "D2", 6: "D3", 7: "D4", 8: "D5"}
# INTYPE's preferred units, in which the controller reads and writes setpoints.
_UNITS = {1: "K", 2: "degC"}
_OUTPUTS = (1, 2, 3, 4)
HEATER_RANGES = (0, 1, 2, 3)
# The 336 keeps setpoints to a thousandth of a kelvin.
_SETPOINT_RESOLUTION = 0.001


class LakeShore336Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    output: Literal[1, 2] = Field(
        1, description="The heater output whose setpoint, ramp and range are set."
    )
    input: Input | None = Field(
        None,
        description="The input read as the temperature; by default the output's control input.",
    )


class ControlLoop(BaseModel):
    """What the controller says of the output's control loop (`OUTMODE?`, `INTYPE?`)."""

    input: str | None = Field(description="The control input, None when the output has none.")
    units: str | None = Field(description="The setpoint units: K, degC, or None for sensor units.")


@plugin.driver("lakeshore336")
class LakeShore336(ScpiDriver):
    """A Lake Shore 336 temperature controller, through one heater output (option
    `output`) and one input (option `input`, by default the output's control input).

    Setpoints are written in the control input's preferred units, which `connect()`
    reads (`OUTMODE?`, then `INTYPE?`); the controller silently ignores a setting it
    refuses, so each setpoint and heater range is read back. The safe state is every
    heater range 0 (off), outputs 1 to 4, each read back.
    """

    Options = LakeShore336Options
    description = "Lake Shore 336 temperature controller; safe state: every heater range 0."
    visa = VisaSettings(read_termination="\r\n", write_termination="\r\n")
    simulation = simulated("lakeshore336.yaml", "GPIB0::12::INSTR", LakeShore336Physics)
    values = (
        DeviceValue("temperature", "K", poll=1.0, description="The input's reading (KRDG?)."),
        DeviceValue("setpoint", "K", writable=True, description="The output's setpoint (SETP)."),
        DeviceValue(
            "ramp", "K/min", writable=True, description="Setpoint ramp rate, None when off (RAMP)."
        ),
        DeviceValue("ramping", poll=1.0, description="Whether the setpoint is ramping (RAMPST?)."),
        DeviceValue(
            "heater_range", writable=True, description="0 off, 1 low, 2 medium, 3 high (RANGE)."
        ),
        DeviceValue("heater_output", "percent", poll=1.0, description="Heater output (HTR?)."),
    )

    def __init__(self, name: str, options: BaseModel, link: VisaLink, clock: Clock) -> None:
        super().__init__(name, options, link, clock)
        self.settings = LakeShore336Options.model_validate(options.model_dump())
        self._loop: ControlLoop | None = None

    @property
    def output(self) -> int:
        return self.settings.output

    @property
    def input(self) -> str:
        """The input read as the temperature."""
        if self.settings.input is not None:
            return self.settings.input
        return self._loop.input if self._loop is not None and self._loop.input else "A"

    def identity_problem(self, fields: list[str]) -> str | None:
        if fields[0] == "LSCI" and fields[1] == "MODEL336":
            return None
        return f"expected a Lake Shore 336 (LSCI,MODEL336), found {fields[0]},{fields[1]}"

    async def connect(self) -> None:
        self._loop = await self.control_loop()

    async def control_loop(self) -> ControlLoop:
        command = f"OUTMODE? {self.output}"
        reply = await self.link.query(command)
        fields = _integers(reply)
        if fields is None or len(fields) < 3:
            raise self.fault(
                "the reply is not <mode>,<input>,<powerup enable>", command=command, reply=reply
            )
        control = _INPUT_NUMBERS.get(fields[1])
        if control is None:
            return ControlLoop(input=None, units=None)
        command = f"INTYPE? {control}"
        reply = await self.link.query(command)
        fields = _integers(reply)
        if fields is None or len(fields) < 5:
            raise self.fault(
                "the reply is not <type>,<autorange>,<range>,<compensation>,<units>",
                command=command,
                reply=reply,
            )
        return ControlLoop(input=control, units=_UNITS.get(fields[4]))

    def _setpoint_units(self) -> str:
        loop = self._loop
        if loop is None or loop.input is None:
            raise ValueError(
                f"output {self.output} has no control input: the setpoint means nothing "
                "until one is configured (OUTMODE)"
            )
        if loop.units is None:
            raise ValueError(
                f"input {loop.input} controls in sensor units; set its preferred units "
                "to kelvin or Celsius (INTYPE) to give setpoints as temperatures"
            )
        return loop.units

    async def set_setpoint(self, setpoint: Quantity) -> None:
        units = self._setpoint_units()
        value = magnitude_in(setpoint, units, "the setpoint")
        command = f"SETP {self.output},{format_number(value)}"
        await self.link.write(command)
        query = f"SETP? {self.output}"
        kept, reply = await self.query_reply(query)
        if abs(kept - value) > _SETPOINT_RESOLUTION:
            raise self.fault(
                f"the controller did not take {command}: its setpoint is still {reply.strip()}",
                command=query,
                reply=reply,
            )

    async def setpoint(self) -> Quantity:
        units = self._setpoint_units()
        value = await self.query_number(f"SETP? {self.output}")
        return self.quantity(value, units).to("K")

    async def set_ramp(self, rate: Quantity | None) -> None:
        """Ramp the setpoint at `rate` (a temperature per time), or not at all (None)."""
        if rate is None:
            await self.link.write(f"RAMP {self.output},0,0")
            return
        value = magnitude_in(rate, "K/min", "the ramp rate")
        if value <= 0:
            raise ValueError("the ramp rate must be above 0 K/min; give none to stop ramping")
        await self.link.write(f"RAMP {self.output},1,{format_number(value)}")

    async def ramp(self) -> Quantity | None:
        command = f"RAMP? {self.output}"
        reply = await self.link.query(command)
        on, _, rate = reply.partition(",")
        enabled = parse_bool(on)
        number = parse_number(rate)
        if enabled is None or number is None:
            raise self.fault("the reply is not <on 0|1>,<rate>", command=command, reply=reply)
        return self.quantity(number, "K/min") if enabled else None

    async def set_heater_range(self, heater_range: int) -> None:
        await self._set_range(self.output, heater_range)

    async def heater_range(self) -> int:
        return await self._range(self.output)

    async def temperature(self) -> Quantity:
        return self.quantity(await self.query_number(f"KRDG? {self.input}"), "K")

    async def ramping(self) -> bool:
        command = f"RAMPST? {self.output}"
        reply = await self.link.query(command)
        state = parse_bool(reply)
        if state is None:
            raise self.fault("the reply is not 0 or 1", command=command, reply=reply)
        return state

    async def heater_output(self) -> Quantity:
        return self.quantity(await self.query_number(f"HTR? {self.output}"), "percent")

    async def read(self, value: str) -> Any:
        readers = {
            "temperature": self.temperature,
            "setpoint": self.setpoint,
            "ramp": self.ramp,
            "ramping": self.ramping,
            "heater_range": self.heater_range,
            "heater_output": self.heater_output,
        }
        reader = readers.get(value)
        if reader is None:
            return await super().read(value)
        return await reader()

    async def write(self, value: str, setting: Any) -> None:
        if value == "setpoint":
            await self.set_setpoint(setting)
        elif value == "ramp":
            await self.set_ramp(setting)
        elif value == "heater_range":
            await self.set_heater_range(setting)
        else:
            await super().write(value, setting)

    async def safe_state(self) -> None:
        # Every output, not only ours: a heater left on by anyone is a heater left on.
        for output in _OUTPUTS:
            await self.link.write(f"RANGE {output},0")
        for output in _OUTPUTS:
            await self._check_range(output, 0, f"RANGE {output},0", alarm=True)

    async def _set_range(self, output: int, heater_range: int) -> None:
        if isinstance(heater_range, bool) or heater_range not in HEATER_RANGES:
            raise ValueError(f"the heater range is 0, 1, 2 or 3, not {heater_range!r}")
        command = f"RANGE {output},{heater_range}"
        await self.link.write(command)
        await self._check_range(output, heater_range, command, alarm=False)

    async def _range(self, output: int) -> int:
        return (await self._range_reply(output))[0]

    async def _range_reply(self, output: int) -> tuple[int, str]:
        command = f"RANGE? {output}"
        value, reply = await self.query_reply(command)
        if not value.is_integer():
            raise self.fault("the reply is not a heater range 0 to 3", command=command, reply=reply)
        return int(value), reply

    async def _check_range(self, output: int, expected: int, sent: str, *, alarm: bool) -> None:
        kept, reply = await self._range_reply(output)
        if kept != expected:
            raise self.fault(
                f"the controller did not take {sent}: its heater range is still {kept}",
                command=f"RANGE? {output}",
                reply=reply,
                alarm=alarm,
            )


def _integers(reply: str) -> list[int] | None:
    try:
        return [int(field) for field in reply.split(",")]
    except ValueError:
        return None
