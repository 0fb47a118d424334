"""What the device benchmarks share: a simulator answering from a thread of its own, costs
per operation kept at their best over rounds, and a meter of event-loop lag."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from labrun import SerialSimulator, SimulatorServer

CpuClock = Callable[[], float]


class SimulatorThread:
    """A serial simulator served on a pty by labrun's SimulatorServer, from a thread with
    its own event loop. So a client that blocks its thread (raw pyserial) still gets its
    answers, and an event-loop client is measured against that same far end."""

    def __init__(self, simulator: SerialSimulator, name: str = "device") -> None:
        self.simulator = simulator
        self.server = SimulatorServer(simulator, line="pty", name=name)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"simulator {name}", daemon=True
        )

    @property
    def url(self) -> str:
        return self.server.url

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass(frozen=True)
class Cost:
    """Seconds per operation: on the wall clock, and of CPU on the clock given."""

    wall: float
    cpu: float


def timed(operation: Callable[[], object], count: int, cpu: CpuClock) -> Cost:
    wall_start, cpu_start = time.perf_counter(), cpu()
    for _ in range(count):
        operation()
    return Cost((time.perf_counter() - wall_start) / count, (cpu() - cpu_start) / count)


async def timed_async(
    operation: Callable[[], Awaitable[object]], count: int, cpu: CpuClock
) -> Cost:
    wall_start, cpu_start = time.perf_counter(), cpu()
    for _ in range(count):
        await operation()
    return Cost((time.perf_counter() - wall_start) / count, (cpu() - cpu_start) / count)


@dataclass
class Best:
    """The least wall time and the least CPU time seen for each variant, each over all
    rounds: on a shared machine a round is only ever slowed down by others."""

    costs: dict[str, Cost] = field(default_factory=dict)

    def add(self, name: str, cost: Cost) -> None:
        best = self.costs.get(name, cost)
        self.costs[name] = Cost(min(best.wall, cost.wall), min(best.cpu, cost.cpu))

    def __getitem__(self, name: str) -> Cost:
        return self.costs[name]


def blocking(
    operation: Callable[[], object], count: int, cpu: CpuClock
) -> Callable[[], Awaitable[Cost]]:
    """`timed` for a blocking operation, shaped as the event-loop variants are."""

    async def measure() -> Cost:
        return timed(operation, count, cpu)

    return measure


def awaited(
    operation: Callable[[], Awaitable[object]], count: int, cpu: CpuClock
) -> Callable[[], Awaitable[Cost]]:
    """`timed_async` of `operation`, to be measured when called."""

    async def measure() -> Cost:
        return await timed_async(operation, count, cpu)

    return measure


async def interleaved(variants: Mapping[str, Callable[[], Awaitable[Cost]]], rounds: int) -> Best:
    """Each variant measured once per round, the rounds in turn: a burst of load from other
    processes then slows one round of every variant, rather than all rounds of one."""
    best = Best()
    for _ in range(rounds):
        for name, measure in variants.items():
            best.add(name, await measure())
    return best


class LoopLag:
    """How late a task that sleeps `interval` again and again wakes up: how long the event
    loop was busy with other work when that task was due."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._measure())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _measure(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await asyncio.sleep(self.interval)
            self.lags.append(loop.time() - started - self.interval)

    def summary(self) -> str:
        if not self.lags:
            return "no sample"
        ordered = sorted(self.lags)
        mean = sum(ordered) / len(ordered)
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        return (
            f"mean {mean * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, max {ordered[-1] * 1e3:.2f} ms "
            f"over {len(ordered)} wakeups"
        )
