"""The run engine: steps per second with every event stored, memory, and dry-run speed.

1. A repeat of N no-op process steps (each calls `checkpoint()` once), every event written
   to a run store: steps per second of CPU time, against bare asyncio doing one event-loop
   trip per step, measured in the same run; and the peak resident memory.
2. A run of a million such steps: resident memory at 10% of the run and at its end.
3. `labrun run --dry-run` of a 24-hour protocol, end to end: wall time.

    uv run python benchmarks/bench_engine.py [--steps N] [--long-steps N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import resource
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from labrun import Plugin, ProcessContext, RealClock
from labrun.catalog import PluginCatalog
from labrun.cli import main as labrun
from labrun.event import EventType
from labrun.protocol import compile
from labrun.run.engine import Run
from labrun.run.recorder import Recorder
from labrun.run.state import RunState
from labrun.store import DATABASE_NAME, RunStore

plugin = Plugin("bench")


class NoArgs(BaseModel):
    pass


@plugin.process("noop")
async def noop(data: NoArgs, context: ProcessContext[NoArgs]) -> None:
    await context.checkpoint()


DAY = """
name: a day
steps:
  - repeat: 144
    steps:
      - timer.wait: 5 min
      - parallel:
          - timer.wait: 4 min
          - steps:
              - timer.wait: 2 min
              - timer.wait: 3 min
"""


def rss_mb() -> float:
    """The resident memory now, from /proc (Linux)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def baseline(steps: int) -> float:
    started = time.process_time()
    for _ in range(steps):
        await asyncio.sleep(0)
    return time.process_time() - started


async def engine(steps: int, directory: Path, on_progress=None) -> tuple[float, int]:
    """CPU seconds (of every thread: the store's writer too) to run `steps` no-op steps,
    every event stored; and the events stored."""
    result = compile(
        text=f"name: bench\nsteps:\n  - repeat: {steps}\n    steps:\n      - bench.noop: {{}}\n",
        catalog=PluginCatalog.of(plugin),
    )
    protocol = result.protocol
    assert protocol is not None
    clock = RealClock()
    with RunStore.open(directory / DATABASE_NAME) as store:
        parameters = protocol.bind({})
        recorder = Recorder.create(
            store, "bench", protocol, "", parameters, by="bench", created=clock.now()
        )
        run = Run(protocol, parameters, clock=clock, sinks=[recorder])
        if on_progress is not None:
            run.journal.sinks = (recorder, _Progress(steps, on_progress))
        started = time.process_time()
        final = await run.run()
        await recorder.finish(run.view)
        elapsed = time.process_time() - started
        assert final is RunState.COMPLETED
        return elapsed, store.last_seq("bench")


class _Progress:
    """Calls back at each tenth of the run's steps."""

    congested = False
    failure = None

    def __init__(self, steps: int, callback) -> None:
        self._every = max(1, steps // 10)
        self._done = 0
        self._callback = callback

    def write(self, event) -> None:
        if (
            event.type is EventType.STATE
            and event.payload["state"] == "completed"
            and "@" in event.step
        ):
            self._done += 1
            if self._done % self._every == 0:
                self._callback(self._done)

    async def drain(self) -> None:
        return None


def throughput(steps: int, rounds: int) -> None:
    gc.collect()
    base = min(asyncio.run(baseline(steps)) for _ in range(rounds))
    best, events = float("inf"), 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as directory:
            elapsed, events = asyncio.run(engine(steps, Path(directory)))
        best = min(best, elapsed)
    ratio = base / best
    print(f"1. {steps:,} no-op steps in a repeat, {events:,} events stored")
    print(f"   bare asyncio, one loop trip per step: {steps / base:12,.0f} steps/s")
    print(f"   labrun engine, every event stored:    {steps / best:12,.0f} steps/s")
    print(f"   ratio {ratio:.2f} (target >= 0.25, goal 0.5); peak RSS {peak_rss_mb():.0f} MB")


def flat_memory(steps: int) -> None:
    samples: dict[int, float] = {}

    def sample(done: int) -> None:
        samples[done] = rss_mb()

    with tempfile.TemporaryDirectory() as directory:
        elapsed, events = asyncio.run(engine(steps, Path(directory), sample))
    at_10 = samples[min(samples)]
    at_end = samples[max(samples)]
    print(f"2. {steps:,} steps, {events:,} events stored, in {elapsed:.0f} s of CPU time")
    print(
        f"   RSS at 10%: {at_10:.0f} MB, at 100%: {at_end:.0f} MB, "
        f"growth {at_end - at_10:+.1f} MB (target < 50 MB)"
    )


def dry_run_day() -> None:
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / "day.yaml"
        file.write_text(DAY)
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            code = labrun(["run", str(file), "--dry-run"])
        elapsed = time.perf_counter() - started
    assert code == 0, out.getvalue()
    print(f"3. labrun run --dry-run of a 24-hour protocol: {out.getvalue().splitlines()[-1]}")
    print(f"   wall time {elapsed:.2f} s (target < 2 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--long-steps", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    dry_run_day()
    throughput(args.steps, args.rounds)
    flat_memory(args.long_steps)


if __name__ == "__main__":
    main()
