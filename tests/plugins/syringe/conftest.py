"""Fixtures of the NE-1000 tests: benches on a pty and on TCP (see syringe_bench.py)."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from syringe_bench import SETTINGS, Bench, OpenBench

from labrun import SerialLink, SerialSimulator, SimulatorServer, VirtualClock
from labrun_syringe import Ne1000, Ne1000Options, Ne1000Simulator


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def open_bench() -> AsyncIterator[OpenBench]:
    """`await open_bench(simulator=..., line=..., **options)`, connected; closed at the end."""
    opened: list[Bench] = []

    async def start(
        simulator: Callable[[VirtualClock], SerialSimulator] = Ne1000Simulator,
        line: str = "pty",
        connect: bool = True,
        **options: Any,
    ) -> Bench:
        clock = VirtualClock()
        server = SimulatorServer(simulator(clock), line=line, name="pump")  # type: ignore[arg-type]
        await server.start()
        link = SerialLink("pump", server.url, SETTINGS, clock)
        driver = Ne1000("pump", Ne1000Options(**options), link, clock)
        bench = Bench(clock, server.simulator, server, link, driver)

        def record(_device: str, direction: str, data: bytes | str) -> None:
            bench.io.append((direction, data if isinstance(data, bytes) else data.encode()))

        link.on_io = record
        opened.append(bench)
        await link.open()
        if connect:
            await driver.connect()
        return bench

    yield start
    for bench in opened:
        await bench.link.close()
        await bench.server.stop()


@pytest.fixture
async def bench(open_bench: OpenBench, line: str) -> Bench:
    """The NE-1000 simulator, connected over a pty and over TCP."""
    result: Bench = await open_bench(line=line)
    return result
