"""Process steps per second through the step runner, against bare asyncio.

Each labrun step runs a no-op process that calls `checkpoint()` once, with every event
delivered to one subscriber task. The baseline does one event-loop trip per step, which
is the least any step that yields can cost. Both are measured in this run, in CPU time
of this process, so that other work on a shared machine does not skew the ratio.

    uv run python benchmarks/bench_runtime.py [--steps N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from pydantic import BaseModel

from labrun import Plugin, ProcessContext, RealClock
from labrun.event import EventBus, SubscriberDropped
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
    clock = RealClock()
    bus = EventBus(clock.now)
    subscription = bus.subscribe(maxsize=steps * 4)
    received = 0

    async def consume() -> None:
        nonlocal received
        try:
            async for _ in subscription:
                received += 1
        except SubscriberDropped:
            return

    consumer = asyncio.create_task(consume())
    spec = plugin.processes["noop"]
    data = NoArgs()
    started = time.process_time()
    for index in range(steps):
        await StepRunner(spec, data, step=str(index), bus=bus, clock=clock).run()
    elapsed = time.process_time() - started
    await asyncio.sleep(0)
    consumer.cancel()
    return elapsed, received


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gc.collect()
    best_base = min(asyncio.run(baseline(args.steps)) for _ in range(args.rounds))
    runs = [asyncio.run(labrun_steps(args.steps)) for _ in range(args.rounds)]
    best_labrun = min(elapsed for elapsed, _ in runs)
    events = runs[0][1]
    print(f"steps: {args.steps}, events delivered per run: {events}")
    print(f"bare asyncio, one loop trip per step: {args.steps / best_base:12,.0f} steps/s")
    print(f"labrun step runner:                   {args.steps / best_labrun:12,.0f} steps/s")
    print(f"ratio labrun / bare asyncio: {best_base / best_labrun:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
