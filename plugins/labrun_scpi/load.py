"""The physics of the simulated power supply: its output drives a resistor.

`MEAS:VOLT?` and `MEAS:CURR?` are worked out from what `VOLT`, `CURR` and `OUTP` hold in
`sim/psu.yaml`. With the output on, the supply holds the voltage set while the load draws
no more than the current limit (constant voltage), and otherwise holds the current limit,
at the voltage that drives it through the load (constant current). With the output off,
both read 0. A supply settles in milliseconds, so this physics needs no time.
"""

from __future__ import annotations

from labrun import Clock, SimulatedInstrument, VisaPhysics

LOAD = 100.0  # ohms


class ResistiveLoad(VisaPhysics):
    """The simulated supply's output across a resistor of `load` ohms."""

    def __init__(self, clock: Clock, load: float = LOAD) -> None:
        super().__init__(clock)
        self.load = load

    def attach(self, instrument: SimulatedInstrument) -> None:
        instrument.live("measured_voltage", read=lambda _: self.output(instrument)[0])
        instrument.live("measured_current", read=lambda _: self.output(instrument)[1])

    def output(self, instrument: SimulatedInstrument) -> tuple[float, float]:
        """The voltage across the load and the current through it."""
        if instrument.value("output") != "ON":
            return 0.0, 0.0
        volts, limit = float(instrument.value("voltage")), float(instrument.value("current"))
        amps = volts / self.load
        if amps <= limit:
            return volts, amps
        return limit * self.load, limit
