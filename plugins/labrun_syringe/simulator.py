"""A simulated NE-1000 that answers the basic-mode protocol from the far end of a line.

Pumping is physical: a volume at a rate takes volume/rate on the simulator's clock, and
`DIS` reports what has been pumped by now, computed when asked (no background task, so it
follows a virtual clock in a dry run). The first `STP` pauses, a second stops, `RUN`
resumes a paused pump or starts the volume again on a stopped one.

Where the manual leaves room, the simulator is the stricter: a number with more than 4
digits is refused with `?COM` (the pump truncates it silently), so that a driver which
would lose precision fails its tests instead of pumping the wrong amount. An alarm is told
once, in place of the reply to the next command, and leaves the pump stopped. Purging,
pumping programs and safe mode are not simulated: `PUR` and the rest get a bare `?`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import ClassVar

from labrun import Clock, SerialSimulator
from labrun_syringe import number
from labrun_syringe.reply import ETX, STX

# Rate limits follow the plunger's linear speed times the syringe's cross-section. The
# speeds come from the NE-1000 specifications (New Era Pump Systems, "NE-1000 Syringe
# Pump" product sheet): at most 1699 ml/h on a 60 ml BD syringe (26.59 mm inside), at
# least 0.73 µl/h on a 1 ml BD syringe (4.699 mm). Approximate, as the pump's own table is.
_MAX_SPEED = 1699e3 / (math.pi * (26.59 / 2) ** 2)  # mm/h
_MIN_SPEED = 0.73 / (math.pi * (4.699 / 2) ** 2)  # mm/h

_COMMAND = re.compile(r"(?P<address>[0-9]{0,2})(?P<name>[A-Z]{3})?(?P<argument>.*)", re.DOTALL)
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_VOLUME_UNITS = {u.code: u for u in number.VOLUME_UNITS}
_RATE_UNITS = {u.code: u for u in number.RATE_UNITS}
# ml per unit, and minutes per unit of time, for the simulator's own arithmetic.
_ML = {"ML": 1.0, "UL": 1e-3}
_ML_PER_MIN = {"MM": 1.0, "MH": 1 / 60, "UM": 1e-3, "UH": 1e-3 / 60}
# Up to this diameter the pump's default volume unit is µl, above it ml (NE-1000 manual).
_UL_BELOW_MM = 14.0


def rate_limits(diameter: float) -> tuple[float, float]:
    """The lowest and highest rate, in ml/min, on a syringe of `diameter` mm."""
    area = math.pi * (diameter / 2) ** 2  # mm², and mm² x mm/h is µl/h
    return area * _MIN_SPEED / 60_000, area * _MAX_SPEED / 60_000


@dataclass(frozen=True)
class _Counters:
    pumped: float = 0.0  # ml since the last start from stopped, towards the volume
    infused: float = 0.0
    withdrawn: float = 0.0
    delivered: float = 0.0  # infused less withdrawn, never cleared

    def after(self, amount: float, direction: str) -> _Counters:
        if direction == "INF":
            return _Counters(
                self.pumped + amount, self.infused + amount, self.withdrawn, self.delivered + amount
            )
        return _Counters(
            self.pumped + amount, self.infused, self.withdrawn + amount, self.delivered - amount
        )


class _Refused(Exception):
    def __init__(self, code: str) -> None:
        self.code = code


class Ne1000Simulator(SerialSimulator):
    """One NE-1000. `address` None answers any address, as a single pump on a line would
    be set up to; a number makes it ignore commands for other pumps, as on a daisy chain."""

    terminator: ClassVar[bytes] = b"\r"
    firmware: ClassVar[str] = "NE1000V3.928"

    def __init__(self, clock: Clock, *, address: int | None = None, diameter: float = 14.5):
        super().__init__(clock)
        self.address = address
        self.diameter = diameter
        self.direction = "INF"
        self.volume_units = self._default_units()
        self.target = 0.0  # ml to pump from a start; 0 pumps until stopped
        self.rate = 1.0  # ml/min
        self.rate_units = "MM"
        self._phase = "S"  # S stopped, P paused, R running
        # The counters when the phase or rate last changed, and when that was: the counters
        # now are computed from them in one step, as sums of small steps would drift.
        self._counters = _Counters()
        self._since = 0.0
        self._alarm: str | None = None
        self._stall_on_run = False

    # What tests read, settled to the clock's now.

    @property
    def status(self) -> str:
        """The status letter the pump would report now."""
        self._settle()
        if self._phase == "R":
            return "I" if self.direction == "INF" else "W"
        return self._phase

    @property
    def infused(self) -> float:
        """Millilitres infused since the counter was last cleared."""
        return self._current().infused

    @property
    def withdrawn(self) -> float:
        return self._current().withdrawn

    @property
    def delivered(self) -> float:
        """Millilitres the plunger pushed out since the simulator started, less those it
        drew in: what the pump really did, which no command clears."""
        return self._current().delivered

    # Faults a real pump has.

    def stall(self) -> None:
        """The motor stalls: a running pump stops now and alarms `A?S` at the next
        command; a pump at rest alarms at its next `RUN` instead, and does not start."""
        self._commit()
        if self._phase == "R":
            self._phase = "S"
            self._alarm = "S"
        else:
            self._stall_on_run = True

    # The protocol.

    def respond(self, command: bytes) -> bytes:
        match = _COMMAND.fullmatch(command.decode("latin-1"))
        given = 0
        if match is not None and match["address"]:
            given = int(match["address"])
        if self.address is not None and given != self.address:
            return b""  # addressed to another pump on the chain
        reply_address = given if self.address is None else self.address
        self._settle()
        if self._alarm is not None:
            # An alarm is told once, in place of the reply to whatever came next.
            alarm, self._alarm = self._alarm, None
            return self._frame(reply_address, f"A?{alarm}")
        if match is None or (match["name"] is None and match["argument"]):
            return self._frame(reply_address, self.status + "?")
        try:
            # An address alone asks for the status, as the pump's prompt shows it.
            data = self._execute(match["name"], match["argument"].strip()) if match["name"] else ""
        except _Refused as refused:
            return self._frame(reply_address, f"{self.status}?{refused.code}")
        if self._alarm is not None:
            alarm, self._alarm = self._alarm, None
            return self._frame(reply_address, f"A?{alarm}")
        return self._frame(reply_address, self.status + data)

    def _frame(self, address: int, body: str) -> bytes:
        return STX + f"{address:02d}{body}".encode("ascii") + ETX

    def _execute(self, name: str, argument: str) -> str:
        handlers = {
            "DIA": self._dia,
            "DIR": self._dir,
            "VOL": self._vol,
            "RAT": self._rat,
            "RUN": self._run,
            "STP": self._stp,
            "DIS": self._dis,
            "CLD": self._cld,
            "VER": self._ver,
        }
        handler = handlers.get(name)
        if handler is None:
            raise _Refused("")
        return handler(argument)

    def _dia(self, argument: str) -> str:
        if not argument:
            return number.text(self.diameter)
        self._at_rest()
        value = self._number(argument)
        if not 0.1 <= value <= 80.0:
            raise _Refused("OOR")
        self.diameter = value
        self.volume_units = self._default_units()
        return ""

    def _dir(self, argument: str) -> str:
        if not argument:
            return self.direction
        if argument not in ("INF", "WDR"):
            raise _Refused("COM")
        self._at_rest()
        self.direction = argument
        return ""

    def _vol(self, argument: str) -> str:
        if not argument:
            return number.text(self.target / _ML[self.volume_units]) + self.volume_units
        self._at_rest()
        if argument in _VOLUME_UNITS:
            self.volume_units = argument
            return ""
        self.target = self._number(argument) * _ML[self.volume_units]
        return ""

    def _rat(self, argument: str) -> str:
        if not argument:
            return number.text(self.rate / _ML_PER_MIN[self.rate_units]) + self.rate_units
        units = self.rate_units
        if argument[-2:] in _RATE_UNITS:
            argument, units = argument[:-2], argument[-2:]
        rate = self._number(argument) * _ML_PER_MIN[units]
        low, high = rate_limits(self.diameter)
        if not low <= rate <= high:
            raise _Refused("OOR")
        self._commit()
        self.rate, self.rate_units = rate, units
        return ""

    def _run(self, argument: str) -> str:
        if self._stall_on_run:
            self._stall_on_run = False
            self._alarm = "S"
            return ""
        low, high = rate_limits(self.diameter)
        if not low <= self.rate <= high:
            # A rate set for another syringe: the pump refuses to run the phase.
            self._alarm = "O"
            return ""
        if self._phase == "S":
            self._counters = replace(self._counters, pumped=0.0)
        if self._phase != "R":
            self._phase = "R"
            self._since = self.clock.monotonic()
        return ""

    def _stp(self, argument: str) -> str:
        self._commit()
        self._phase = {"R": "P", "P": "S"}.get(self._phase, "S")
        return ""

    def _dis(self, argument: str) -> str:
        scale = _ML[self.volume_units]
        now = self._current()
        infused = number.text(now.infused / scale)
        withdrawn = number.text(now.withdrawn / scale)
        return f"I{infused}W{withdrawn}{self.volume_units}"

    def _cld(self, argument: str) -> str:
        if argument not in ("INF", "WDR"):
            raise _Refused("COM")
        self._commit()
        counter = "infused" if argument == "INF" else "withdrawn"
        self._counters = replace(self._counters, **{counter: 0.0})
        return ""

    def _ver(self, argument: str) -> str:
        return self.firmware

    # State.

    def _current(self) -> _Counters:
        """The counters at the clock's now."""
        counters = self._counters
        if self._phase != "R":
            return counters
        amount = self.rate * (self.clock.monotonic() - self._since) / 60
        if self.target > 0:
            amount = min(amount, self.target - counters.pumped)
        return counters.after(amount, self.direction)

    def _settle(self) -> None:
        """Stop a pump that has pumped its volume by now, as the real one stops."""
        if self._phase == "R" and self.target > 0:
            now = self._current()
            if now.pumped >= self.target * (1 - 1e-12):
                self._counters = now
                self._phase = "S"

    def _commit(self) -> None:
        """Take the counters of now as the new start, before the rate or phase changes."""
        self._settle()
        self._counters = self._current()
        self._since = self.clock.monotonic()

    def _at_rest(self) -> None:
        if self._phase == "R":
            raise _Refused("NA")

    def _number(self, argument: str) -> float:
        if not _NUMBER.fullmatch(argument) or len(argument.replace(".", "")) > number.DIGITS:
            raise _Refused("COM")
        return float(argument)

    def _default_units(self) -> str:
        return "UL" if self.diameter <= _UL_BELOW_MM else "ML"
