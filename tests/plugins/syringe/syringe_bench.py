"""Helpers for the NE-1000 tests. A bench: a simulator served on a real line (pty or TCP), the
driver on a link to it, all on one virtual clock. `sent` is every byte the driver wrote."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labrun import SerialLink, SerialSimulator, SimulatorServer, VirtualClock
from labrun_syringe import Ne1000, Ne1000Simulator

# Short, so that a timeout test waits little; a pty or socket answers in microseconds.
SETTINGS = Ne1000.serial.model_copy(update={"timeout": 0.3})


@dataclass
class Bench:
    clock: VirtualClock
    simulator: SerialSimulator
    server: SimulatorServer
    link: SerialLink
    driver: Ne1000
    io: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def sent(self) -> list[bytes]:
        """Each frame the driver wrote, exactly as it went on the line."""
        return [data for direction, data in self.io if direction == "tx"]

    @property
    def pump(self) -> Ne1000Simulator:
        assert isinstance(self.simulator, Ne1000Simulator)
        return self.simulator

    async def reconnect(self) -> None:
        await self.link.close()
        await self.link.open()

    def on(self, frame: bytes, action: Callable[[], Any]) -> None:
        """Do `action` when the simulator receives `frame` for the first time, before it
        answers: a fault that hits that very command."""
        respond = self.simulator.respond
        fired = False

        def hooked(command: bytes) -> bytes:
            nonlocal fired
            if command == frame and not fired:
                fired = True
                action()
            return respond(command)

        self.simulator.respond = hooked  # type: ignore[method-assign]


class Scripted(SerialSimulator):
    """Answers each command with the next reply given, whatever it was; then nothing."""

    def __init__(self, clock: VirtualClock, replies: list[bytes]) -> None:
        super().__init__(clock)
        self.replies = list(replies)

    def respond(self, command: bytes) -> bytes:
        return self.replies.pop(0) if self.replies else b""


OpenBench = Callable[..., Any]


def scripted(*replies: bytes) -> Callable[[VirtualClock], Scripted]:
    return lambda clock: Scripted(clock, list(replies))
