"""The `scpi` plugin: instruments reached through VISA (pyvisa), simulated with pyvisa-sim.

Drivers (`scpi.<name>`):
- `instrument` (`ScpiInstrument`): any SCPI instrument, for `scpi.write` and `scpi.query`;
  no values; its safe state sends nothing (see the class for why).
- `dmm` (`Keysight34465A`): DC voltage; values `voltage` (V, polled) and `function`;
  safe state `ABOR`.
- `psu` (`ScpiPowerSupply`): values `voltage`, `current`, `output` (writable),
  `measured_voltage`, `measured_current` (polled); safe state `OUTP OFF`, read back.
- `lakeshore336` (`LakeShore336`): values `temperature` (K), `setpoint` (K), `ramp`
  (K/min), `ramping`, `heater_range`, `heater_output` (%); safe state every heater range
  0 (outputs 1-4), read back.

Processes: `scpi.write`, `scpi.query`, `scpi.dmm_configure`, `scpi.dmm_read`,
`scpi.psu_set` and `scpi.lakeshore_setpoint`.

Simulation: each driver's `simulation` is a pyvisa-sim file in `sim/` (the file's header
says what it answers), opened as `<file>@sim` with the driver's resource; the power supply
and the Lake Shore also attach physics that follows the run's clock (so, in a dry run, the
simulated clock):
- 34465A: CONF:VOLT:DC takes the meter's ranges (0.1 to 1000 V) and refuses others;
  SENS:FUNC keeps the function; but `READ?` always reads 1.23456789 V, CONF does not
  change SENS:FUNC?, and *RST and *CLS reset nothing.
- power supply (0-30 V, 0-3 A): VOLT, CURR and OUTP are kept and read back (OUTP? answers
  ON or OFF, as some supplies do); `MEAS:VOLT?` and `MEAS:CURR?` measure a 100 ohm load
  across the output, limited by the current setting, and 0 with the output off (`load.py`).
- Lake Shore 336: setpoints, ramps, heater ranges and input types are kept per output
  and input, and OUTMODE? ties outputs 1 and 2 to inputs A and B. Inputs A and B read a
  cryostat that each loop drives (`cryostat.py`, `lakeshore_physics.py`): with the heater
  on, the temperature goes to the setpoint at the heater range's pace (1, 10, 50 K/min up,
  5 K/min down) and follows a ramp (`RAMPST?` is 1 until it ends); with the heater off it
  drifts back to 295 K (time constant 15 min). `HTR?` is 100 % while climbing, 0 % while
  falling or off, 50 % at the setpoint. So `scpi.lakeshore_setpoint` settles in a dry run.
- Refused settings go to the SCPI error queue (`SYST:ERR?`) as -113 "Undefined header"
  (a real instrument gives a more precise code), or, on the Lake Shore, are ignored as
  the real controller ignores them; a query an instrument does not know gets no reply,
  so it times out, as on a real instrument.
pyvisa keeps one simulated library per file path, and so one instrument state, for the
life of the process (a reconnection finds the state as it was left, as with a real
instrument): open a copy of the file for a fresh instrument. The physics is the device's
link's, built with the bench: a new bench starts its cryostat at 295 K. Two devices of one
driver on a simulated bench share the file's instrument, and the physics of the one opened
last.
"""

from labrun_scpi.command import query, write
from labrun_scpi.dmm import Keysight34465A
from labrun_scpi.lakeshore import LakeShore336, LakeShore336Options
from labrun_scpi.measurement import dmm_configure, dmm_read
from labrun_scpi.plugin import plugin
from labrun_scpi.psu import ScpiPowerSupply
from labrun_scpi.scpi import ScpiDriver, ScpiInstrument
from labrun_scpi.setpoint import lakeshore_setpoint
from labrun_scpi.supply import psu_set

__all__ = [
    "Keysight34465A",
    "LakeShore336",
    "LakeShore336Options",
    "ScpiDriver",
    "ScpiInstrument",
    "ScpiPowerSupply",
    "dmm_configure",
    "dmm_read",
    "lakeshore_setpoint",
    "plugin",
    "psu_set",
    "query",
    "write",
]
