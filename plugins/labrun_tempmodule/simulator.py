"""A simulated Temperature Module GEN2, answering the module's G-code from the far end of a
serial line (a pty or a TCP socket served by labrun's `SimulatorServer`).

The block follows `BlockModel`, computed from the clock when asked (so a dry run on the
virtual clock heats up in virtual time). Framing is the module's: commands end with
CR LF CR LF, a reply line ends with CR LF CR LF, and `ok\\r\\nok\\r\\n` acknowledges every
command.

Choices of the simulator, where the module's behaviour is not documented:
- an unknown command, or an M104 without a readable `S` in 4-95, is answered with the line
  `error: <what is wrong>` before the acknowledgement;
- `thermal_fault()` latches an alarm, as a sensor or heater failure would: the element stops
  (no target), M104 and M105 are answered `alarm: <reason>`, M18 and M115 still work, and
  only `power_cycle()` clears it.
"""

from __future__ import annotations

from typing import ClassVar

from labrun import Clock, SerialSimulator
from labrun_tempmodule.block import BlockModel
from labrun_tempmodule.gcode import ACK, TERMINATOR, Identity, celsius_text

LINE_END = b"\r\n\r\n"


class TempModuleSimulator(SerialSimulator):
    """A GEN2 module whose block starts at room temperature with no target."""

    terminator: ClassVar[bytes] = TERMINATOR

    def __init__(
        self,
        clock: Clock,
        *,
        block: BlockModel | None = None,
        start: float | None = None,
        identity: Identity | None = None,
    ) -> None:
        super().__init__(clock)
        self.block = block or BlockModel()
        self.identity = identity or Identity(
            serial="TDV21P20240315A07", model="temp_deck_v21", version="v2.1.1"
        )
        # The state is the temperature at `_since` and what has been set since then.
        self._since = clock.monotonic()
        self._start = self.block.room if start is None else start
        self._target: float | None = None
        self._alarm: str | None = None

    @property
    def temperature(self) -> float:
        """The block temperature now, in °C."""
        return self.block.after(self._start, self._target, self.clock.monotonic() - self._since)

    @property
    def target(self) -> float | None:
        return self._target

    @property
    def alarm(self) -> str | None:
        return self._alarm

    def disturb(self, temperature: float) -> None:
        """Bring the block to `temperature` at once, as a cold plate or a warm rack put on it
        would; from there it follows its target (or drifts) again."""
        self._start, self._since = temperature, self.clock.monotonic()

    def thermal_fault(self, reason: str = "thermistor open circuit") -> None:
        """Fail as a module with a broken sensor or heater does: the element stops and
        the module answers with an alarm until it is power cycled."""
        self._set_target(None)
        self._alarm = reason

    def power_cycle(self) -> None:
        """Clear a latched alarm; the module comes back with no target."""
        self._set_target(None)
        self._alarm = None

    def respond(self, command: bytes) -> bytes:
        words = command.decode("ascii", errors="replace").split()
        if not words:
            return ACK
        code = words[0].upper()
        if code == "M18":
            self._set_target(None)
            return ACK
        if code == "M115":
            i = self.identity
            return _line(f"serial:{i.serial} model:{i.model} version:{i.version}")
        if code == "M105":
            if self._alarm is not None:
                return _line(f"alarm: {self._alarm}")
            target = "none" if self._target is None else celsius_text(self._target)
            return _line(f"T:{target} C:{self.temperature:.1f}")
        if code == "M104":
            if self._alarm is not None:
                return _line(f"alarm: {self._alarm}")
            return self._m104(words[1:])
        return _line(f"error: unknown command {words[0]}")

    def _m104(self, arguments: list[str]) -> bytes:
        values = [word[1:] for word in arguments if word[:1].upper() == "S"]
        try:
            target = float(values[0])
        except (IndexError, ValueError):
            return _line("error: M104 needs a target such as S37")
        if not 4 <= target <= 95:
            return _line(f"error: M104 target {values[0]} is outside 4-95")
        self._set_target(target)
        return ACK

    def _set_target(self, target: float | None) -> None:
        self._start, self._since = self.temperature, self.clock.monotonic()
        self._target = target


def _line(text: str) -> bytes:
    return text.encode("ascii") + LINE_END + ACK
