"""How the simulated Lake Shore 336's cryostat follows one control loop: a heater output and
the input that controls it.

With the heater on (a heater range of 1 to 3), the loop drives the temperature to the
setpoint it works to: up no faster than the heater range allows, down no faster than the
cryostat's cooling, and once there the temperature follows that setpoint, ramping with it
(it lags behind a ramp faster than the heater or the cooling). With the heater off, the
temperature drifts back to the room's, exponentially. A setpoint ramp moves the setpoint the
loop works to toward the target at the ramp rate.

The numbers are chosen for a plausible, lively simulation, not measured on a cryostat: the
heater ranges heat at up to 1, 10 and 50 K/min, the cooling works at up to 5 K/min while
the loop is on (the cryostat's cooling runs with it), and with the heater off a difference
from 295 K shrinks with a time constant of 15 min.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AMBIENT = 295.0  # K
# Floating-point sums of many small steps must not leave a ramp a hair short of its end.
_TIME = 1e-6  # s
_TEMPERATURE = 1e-9  # K
# While the temperature holds or follows the setpoint, the heater works at part power.
HOLDING = 50.0  # %


@dataclass(frozen=True)
class Loop:
    """A control loop's state: the temperature (K), and the setpoint it works to while a
    ramp moves it toward the target (K; None when it is at the target)."""

    temperature: float
    ramped: float | None = None


@dataclass(frozen=True)
class LoopSettings:
    """What the controller is told: the target setpoint (K), the ramp rate (K/s, None
    when ramping is off) and the heater range (0 off, 1 to 3)."""

    target: float
    ramp: float | None
    heater_range: int

    def working_setpoint(self, loop: Loop) -> float:
        return self.target if loop.ramped is None else loop.ramped


@dataclass(frozen=True)
class CryostatModel:
    """The cryostat's response; temperatures in K, rates in K/s, times in seconds."""

    ambient: float = AMBIENT
    heating: tuple[float, float, float] = (1 / 60, 10 / 60, 50 / 60)
    cooling: float = 5 / 60
    drift_tau: float = 900.0

    def after(self, loop: Loop, settings: LoopSettings, seconds: float) -> Loop:
        """The loop `seconds` after it was in state `loop`, with `settings` all along."""
        if seconds <= 0:
            return loop
        # The setpoint the loop works to, as pieces: (its value at the start, K/s, seconds).
        pieces: list[tuple[float, float, float]] = []
        ramped = loop.ramped
        if ramped is not None and settings.ramp is not None:
            distance = settings.target - ramped
            needed = abs(distance) / settings.ramp
            velocity = math.copysign(settings.ramp, distance)
            if needed > seconds + _TIME:
                pieces.append((ramped, velocity, seconds))
                ramped += velocity * seconds
            else:
                pieces.append((ramped, velocity, needed))
                pieces.append((settings.target, 0.0, seconds - needed))
                ramped = None
        else:
            pieces.append((settings.target, 0.0, seconds))
            ramped = None
        temperature = loop.temperature
        for start, velocity, length in pieces:
            temperature = self._follow(temperature, start, velocity, length, settings.heater_range)
        return Loop(temperature, ramped)

    def heater_output(self, loop: Loop, settings: LoopSettings) -> float:
        """The heater's output, in percent: full while the temperature climbs to the
        setpoint, none while it falls to it or with the heater off, `HOLDING` at it."""
        if settings.heater_range == 0:
            return 0.0
        gap = settings.working_setpoint(loop) - loop.temperature
        if gap > _TEMPERATURE:
            return 100.0
        if gap < -_TEMPERATURE:
            return 0.0
        return HOLDING

    def _follow(
        self, temperature: float, start: float, velocity: float, seconds: float, heater_range: int
    ) -> float:
        """The temperature after `seconds` of a setpoint that starts at `start` and moves
        at `velocity`."""
        if heater_range == 0:
            return self.ambient + (temperature - self.ambient) * math.exp(-seconds / self.drift_tau)
        up, down = self.heating[heater_range - 1], self.cooling
        elapsed = 0.0
        while True:
            gap = start + velocity * elapsed - temperature
            if abs(gap) <= _TEMPERATURE:
                # At the setpoint: it follows the setpoint as far as it can keep up.
                limit = up if velocity > 0 else down
                if abs(velocity) <= limit:
                    return start + velocity * seconds
                return temperature + math.copysign(limit, velocity) * (seconds - elapsed)
            rate = up if gap > 0 else -down
            # The gap closes at `rate - velocity`; it is met if that has the gap's sign.
            closing = rate - velocity
            if gap * closing <= 0 or elapsed + gap / closing >= seconds:
                return temperature + rate * (seconds - elapsed)
            elapsed += gap / closing
            temperature = start + velocity * elapsed
