"""Process steps per second through the step runner, against bare asyncio.

Each labrun step runs a no-op process that calls `checkpoint()` once, with every event
delivered to one subscriber task, which reads them in batches as they come. The baseline
does one event-loop trip per step, which is the least any step that yields can cost.
Both are measured in this run, in CPU time of this process, so that other work on a
shared machine does not skew the ratio; rounds alternate, best kept.

    uv run python benchmarks/bench_runtime.py [--steps N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from pydantic import BaseModel

from labrun import Plugin, ProcessContext, RealClock
from labrun.event import EventBus
from labrun.step import StepRunner

plugin = Plugin("bench")


class NoArgs(BaseModel):
    pass


@plugin.process("noop")
async def noop(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    await context.checkpoint()


async def baseline(steps: int) -> float:
    started = time.process_time()
    for _ in range(steps):
        await asyncio.sleep(0)
    return time.process_time() - started


async def labrun_steps(steps: int) -> tuple[float, int]:
    """CPU seconds until the subscriber has read the last event, and the events it read."""
    clock = RealClock()
    bus = EventBus(clock.now)
    subscription = bus.subscribe(maxsize=steps * 4)

    async def consume(expected: int) -> int:
        received = 0
        while received < expected:
            received += len(await subscription.batch())
        return received

    # Every step emits two state events.
    consumer = asyncio.create_task(consume(2 * steps))
    spec = plugin.processes["noop"]
    data = NoArgs()
    started = time.process_time()
    for index in range(steps):
        await StepRunner(spec, data, step=str(index), bus=bus, clock=clock).run()
    received = await consumer
    return time.process_time() - started, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    gc.collect()
    # Rounds alternate, so that a spell of load on a shared machine hits both sides.
    best_base = best_labrun = float("inf")
    events = 0
    for _ in range(args.rounds):
        best_base = min(best_base, asyncio.run(baseline(args.steps)))
        elapsed, events = asyncio.run(labrun_steps(args.steps))
        best_labrun = min(best_labrun, elapsed)
    print(f"steps: {args.steps}, events delivered per run: {events}")
    print(f"bare asyncio, one loop trip per step: {args.steps / best_base:12,.0f} steps/s")
    print(f"labrun step runner:                   {args.steps / best_labrun:12,.0f} steps/s")
    print(f"ratio labrun / bare asyncio: {best_base / best_labrun:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
