"""A bench for the temperature module tests: a simulator served on a pty or a TCP port, an
open serial link to it on a virtual clock, and the driver, with every byte written logged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from labrun import DeviceError, SerialLink, SerialSimulator, SimulatorServer, VirtualClock
from labrun.testing import DEFAULT_START
from labrun_tempmodule import TempModule, TempModuleSimulator

# Short, so that a test of a silent device does not wait long in real time.
SETTINGS = TempModule.serial.model_copy(update={"timeout": 0.3})
# A runaway process ends the test as a HarnessTimeout instead of hanging it.
LIMIT = 24 * 3600.0
NAME = "tm"


@dataclass
class Bench:
    clock: VirtualClock
    simulator: SerialSimulator
    server: SimulatorServer
    link: SerialLink
    module: TempModule
    line: str
    # Every write on the line, exactly as sent.
    sent: list[bytes] = field(default_factory=list)
    # Every fault reported to the link, as the device layer would receive them.
    faults: list[DeviceError] = field(default_factory=list)

    @property
    def simulated(self) -> TempModuleSimulator:
        """The simulator, for tests of a module simulator (not a scripted one)."""
        assert isinstance(self.simulator, TempModuleSimulator)
        return self.simulator

    async def reconnect(self) -> None:
        """Open the line again, as the device layer does after a fault."""
        await self.link.close()
        await self.link.open()


OpenBench = Callable[..., Awaitable[Bench]]


def make_clock() -> VirtualClock:
    return VirtualClock(DEFAULT_START, limit=LIMIT)


@pytest.fixture
async def open_bench() -> AsyncIterator[OpenBench]:
    """`await open_bench(simulator, line="pty")`: a bench on the simulator's clock."""
    benches: list[Bench] = []

    async def open_(simulator: SerialSimulator, line: str = "pty") -> Bench:
        clock = simulator.clock
        assert isinstance(clock, VirtualClock)
        server = SimulatorServer(simulator, line=line, name=NAME)  # type: ignore[arg-type]
        await server.start()
        link = SerialLink(NAME, server.url, SETTINGS, clock)
        module = TempModule(NAME, TempModule.Options(), link, clock)
        bench = Bench(clock, simulator, server, link, module, line)
        benches.append(bench)

        def log(device: str, direction: str, data: bytes | str) -> None:
            if direction == "tx":
                assert isinstance(data, bytes)
                bench.sent.append(data)

        link.on_io = log
        link.on_fault = bench.faults.append
        await link.open()
        await bench.module.connect()
        return bench

    yield open_
    for bench in benches:
        await bench.link.close()
        await bench.server.stop()
