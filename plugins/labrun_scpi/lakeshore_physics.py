"""The physics of the simulated Lake Shore 336: its inputs read a cryostat that follows the
control loops (see `cryostat.py`), on the run's clock.

Outputs 1 and 2 are controlled by inputs A and B, as the file's `OUTMODE?` replies say;
outputs 3 and 4 control nothing, and inputs C and D read the room's temperature. Live in
`sim/lakeshore336.yaml`: `KRDG?`, `RAMPST?` and `HTR?` are worked out from the clock, and
`SETP`, `RAMP`, `RANGE` and `INTYPE` are watched, so that each loop's state is brought up
to the moment a setting changes before the change applies. Choices of the simulation, where
the controller's behaviour is not modelled:
- a new setpoint with ramping on ramps from the setpoint the loop works to then; turning
  ramping off jumps to the target;
- a heater switched on (range 0 to 1-3) with ramping on ramps from the reading, so that a
  cold start does not begin at a setpoint the cryostat is far from;
- the setpoint is in the control input's preferred units (`INTYPE`): kelvin, or Celsius;
  sensor units are taken as kelvin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labrun import Clock, SimulatedInstrument, VisaPhysics
from labrun_scpi.cryostat import CryostatModel, Loop, LoopSettings
from labrun_scpi.number import parse_bool, parse_number

# Output -> its control input.
CONTROL = {"1": "A", "2": "B"}
_CONTROLLED = {control: output for output, control in CONTROL.items()}
_CELSIUS = 2  # INTYPE's preferred units: 1 K, 2 °C, 3 sensor units


class LakeShore336Physics(VisaPhysics):
    """A cryostat on outputs 1 and 2 of the simulated controller, starting at room
    temperature."""

    def __init__(self, clock: Clock, model: CryostatModel | None = None) -> None:
        super().__init__(clock)
        self.model = model or CryostatModel()
        now = clock.monotonic()
        # Each loop's state, and the time on the clock it is for.
        self._loops = {output: (Loop(self.model.ambient), now) for output in CONTROL}

    def attach(self, instrument: SimulatedInstrument) -> None:
        def changing(setting: str) -> Callable[[str | None, Any], None]:
            return lambda output, value: self._changing(instrument, output, setting, value)

        instrument.live(
            "temperature",
            channels="inputs",
            read=lambda channel: self._temperature(instrument, channel),
        )
        instrument.live(
            "input_type",
            channels="inputs",
            written=lambda channel, _: self._input_changing(instrument, channel),
        )
        instrument.live(
            "ramping", channels="outputs", read=lambda output: self._ramping(instrument, output)
        )
        instrument.live(
            "heater_output",
            channels="outputs",
            read=lambda output: self._heater_output(instrument, output),
        )
        for setting in ("setpoint", "ramp", "heater_range"):
            instrument.live(setting, channels="outputs", written=changing(setting))

    def _temperature(self, instrument: SimulatedInstrument, channel: str | None) -> float:
        output = _CONTROLLED.get(str(channel))
        if output is None:
            return self.model.ambient
        return self._now(instrument, output).temperature

    def _ramping(self, instrument: SimulatedInstrument, output: str | None) -> int:
        if output not in CONTROL:
            return 0
        return int(self._now(instrument, output).ramped is not None)

    def _heater_output(self, instrument: SimulatedInstrument, output: str | None) -> float:
        if output not in CONTROL:
            return 0.0
        loop = self._now(instrument, output)
        return self.model.heater_output(loop, _settings(instrument, output))

    def _input_changing(self, instrument: SimulatedInstrument, channel: str | None) -> None:
        output = _CONTROLLED.get(str(channel))
        if output is not None:
            self._now(instrument, output)

    def _changing(
        self, instrument: SimulatedInstrument, output: str | None, setting: str, value: Any
    ) -> None:
        """Called before `setting` of `output` takes `value`, while it holds the old one."""
        if output not in CONTROL:
            return
        loop = self._now(instrument, output)
        old = _settings(instrument, output)
        ramped = loop.ramped
        if setting == "setpoint" and old.ramp is not None:
            ramped = old.working_setpoint(loop)
        elif setting == "ramp" and _ramp(value) is None:
            ramped = None
        elif setting == "heater_range" and old.ramp is not None and old.heater_range == 0 < value:
            ramped = loop.temperature
        self._loops[output] = (Loop(loop.temperature, ramped), self._loops[output][1])

    def _now(self, instrument: SimulatedInstrument, output: str) -> Loop:
        """The loop's state now, under the settings it holds; kept as the latest state."""
        loop, since = self._loops[output]
        now = self.clock.monotonic()
        loop = self.model.after(loop, _settings(instrument, output), now - since)
        self._loops[output] = (loop, now)
        return loop


def _settings(instrument: SimulatedInstrument, output: str) -> LoopSettings:
    target = float(instrument.value("setpoint", channels="outputs", channel=output))
    input_type = instrument.value("input_type", channels="inputs", channel=CONTROL[output])
    if _units(str(input_type)) == _CELSIUS:
        target += 273.15
    heater_range = int(instrument.value("heater_range", channels="outputs", channel=output))
    ramp = _ramp(instrument.value("ramp", channels="outputs", channel=output))
    return LoopSettings(target, ramp, heater_range)


def _units(input_type: str) -> int | None:
    """The preferred units of an `INTYPE` setting: <type>,<autorange>,<range>,<comp>,<units>."""
    fields = input_type.split(",")
    units = parse_number(fields[4]) if len(fields) > 4 else None
    return None if units is None else int(units)


def _ramp(setting: Any) -> float | None:
    """The rate of a `RAMP` setting, <on 0|1>,<K/min>, in K/s; None when ramping is off."""
    on, _, rate = str(setting).partition(",")
    per_minute = parse_number(rate)
    if not parse_bool(on) or per_minute is None or per_minute <= 0:
        return None
    return per_minute / 60
