import asyncio

from pydantic import BaseModel

from labrun import Plugin, ProcessContext, RealClock, StepState
from labrun.event import EventBus, EventType, Subscription
from labrun.step import StepRunner
from labrun.turn import turn

plugin = Plugin("turns")

# Far more checkpoints than fit in a slice, far fewer than would take a test run long.
SPIN_LIMIT = 5_000_000


class NoArgs(BaseModel):
    pass


@plugin.process("spin")
async def spin(data: NoArgs, context: ProcessContext[NoArgs]) -> int:
    """Checkpoints with nothing else awaited, until told to stop through the loop."""
    context.pausable = True
    for spins in range(SPIN_LIMIT):
        await context.checkpoint()
        if flag.is_set():
            return spins
    raise AssertionError("checkpoints never let the loop run another task")


flag = asyncio.Event()


async def test_turn_yields_to_other_tasks_within_a_slice():
    ran = asyncio.Event()

    async def other() -> None:
        ran.set()

    task = asyncio.create_task(other())
    for _ in range(SPIN_LIMIT):
        await turn()
        if ran.is_set():
            break
    assert ran.is_set()
    await task


async def test_a_process_spinning_on_checkpoints_can_still_be_paused_and_halted():
    flag.clear()
    clock = RealClock()
    bus = EventBus(clock.now)
    states = bus.subscribe()
    runner = StepRunner(plugin.processes["spin"], {}, step="spin", bus=bus, clock=clock)
    task = asyncio.create_task(runner.run())
    await until(states, StepState.RUNNING)
    runner.pause()
    await until(states, StepState.PAUSED)
    runner.halt()
    outcome = await task
    assert outcome.state is StepState.HALTED


async def until(states: Subscription, state: StepState) -> None:
    async for event in states:
        if event.type is EventType.STATE and event.payload["state"] == state:
            return


async def test_a_process_spinning_on_checkpoints_sees_what_other_tasks_do():
    flag.clear()
    clock = RealClock()
    runner = StepRunner(
        plugin.processes["spin"], {}, step="spin", bus=EventBus(clock.now), clock=clock
    )
    task = asyncio.create_task(runner.run())
    asyncio.get_running_loop().call_soon(flag.set)
    outcome = await task
    # The process raises, and so fails, if its checkpoints never let `flag.set` run.
    assert outcome.state is StepState.COMPLETED
