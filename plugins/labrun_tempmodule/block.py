"""How the module's aluminium block moves toward its target: one model for the simulator
and for the processes' duration estimates, so that a dry run's estimates come true.

Under control the block approaches its target exponentially (time constant `tau`), and no
faster than the Peltier element can pump heat: `heating` °C/s up, `cooling` °C/s down.
Without a target the element is off and the block drifts back to room temperature, slowly.

The numbers are chosen for a lively but plausible simulation, not measured on a module:
25 → 37 °C comes within 0.5 °C in about 48 s, 25 → 95 °C in about 106 s, and
25 → 4 °C in about 88 s (cooling below room temperature is the slow direction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ROOM = 25.0


@dataclass(frozen=True)
class BlockModel:
    """The block's response; temperatures in °C, rates in °C/s, times in seconds."""

    room: float = ROOM
    tau: float = 15.0
    heating: float = 1.0
    cooling: float = 0.3
    drift_tau: float = 300.0

    def after(self, start: float, target: float | None, seconds: float) -> float:
        """The temperature `seconds` after the block was at `start` with `target` set."""
        if seconds <= 0:
            return start
        if target is None:
            return self.room + (start - self.room) * math.exp(-seconds / self.drift_tau)
        distance = target - start
        rate = self.heating if distance > 0 else self.cooling
        sign = 1.0 if distance > 0 else -1.0
        # Far from the target the element runs flat out; within `knee` the exponential
        # approach asks less than that, and takes over.
        knee = rate * self.tau
        if abs(distance) > knee:
            flat_out = (abs(distance) - knee) / rate
            if seconds <= flat_out:
                return start + sign * rate * seconds
            return target - sign * knee * math.exp(-(seconds - flat_out) / self.tau)
        return target - distance * math.exp(-seconds / self.tau)

    def time_to_within(self, start: float, target: float, tolerance: float) -> float:
        """Seconds until a block at `start` comes within `tolerance` (> 0) of `target`."""
        distance = abs(target - start)
        if distance <= tolerance:
            return 0.0
        rate = self.heating if target > start else self.cooling
        knee = rate * self.tau
        if distance <= knee:
            return self.tau * math.log(distance / tolerance)
        if tolerance >= knee:
            return (distance - tolerance) / rate
        return (distance - knee) / rate + self.tau * math.log(knee / tolerance)
