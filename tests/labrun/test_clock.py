"""Clocks. No assertion here reads the wall clock: timed assertions are flaky on a loaded
CI machine. "Took no real time" is checked by making sure nothing ever asked the event
loop for a timer, which is the only way asyncio can wait for time to pass.
"""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from labrun import ProcessContext, RealClock, StepState, VirtualClock
from labrun.event import EventType
from labrun.testing import Script, run_process

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def timers(monkeypatch) -> list[float]:
    """Every real timer delay requested from the running loop (asyncio.sleep > 0 makes one)."""
    loop = asyncio.get_running_loop()
    delays: list[float] = []
    call_at = loop.call_at

    def recording_call_at(when, callback, *args, context=None):
        delays.append(when - loop.time())
        return call_at(when, callback, *args, context=context)

    monkeypatch.setattr(loop, "call_at", recording_call_at)
    return delays


async def test_timer_fixture_sees_a_real_sleep(timers):
    await asyncio.sleep(0.001)
    assert len(timers) == 1


class Hours(BaseModel):
    hours: float


async def incubate(data: Hours, context: ProcessContext[Hours]) -> str:
    context.send_location("incubating")
    await context.sleep(timedelta(hours=data.hours))
    context.send_location("done")
    return "done"


async def test_virtual_sleep_of_hours_takes_no_real_time(timers):
    run = await run_process(incubate, {"hours": 2}, start=START)
    assert run.state is StepState.COMPLETED
    started, completed = run.of_type(EventType.STATE)
    assert started.time == START
    assert completed.time - started.time == timedelta(hours=2)
    assert [e.time for e in run.of_type(EventType.LOCATION)] == [START, START + timedelta(hours=2)]
    assert timers == []


async def test_now_and_monotonic_follow_virtual_time():
    clock = VirtualClock(START)
    assert (clock.now(), clock.monotonic()) == (START, 0)
    await clock.sleep(90)
    assert (clock.now(), clock.monotonic()) == (START + timedelta(seconds=90), 90)
    await clock.sleep(0)
    assert clock.monotonic() == 90


def test_default_start_is_an_aware_utc_time():
    assert VirtualClock().now().tzinfo is UTC


async def test_concurrent_sleepers_wake_in_deadline_order_then_sleep_order():
    clock = VirtualClock(START)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    await asyncio.gather(
        sleeper("c", 30), sleeper("a1", 10), sleeper("b", 20), sleeper("a2", 10), sleeper("d", 25.5)
    )
    assert woke == [("a1", 10), ("a2", 10), ("b", 20), ("d", 25.5), ("c", 30)]


async def test_sleeps_started_later_count_from_their_own_start():
    clock = VirtualClock(START)
    woke: list[tuple[str, float]] = []

    async def chain() -> None:
        await clock.sleep(15)
        await clock.sleep(10)
        woke.append(("chain", clock.monotonic()))

    async def single() -> None:
        await clock.sleep(20)
        woke.append(("single", clock.monotonic()))

    await asyncio.gather(chain(), single())
    assert woke == [("single", 20), ("chain", 25)]


async def test_time_does_not_advance_while_work_is_ready():
    clock = VirtualClock(START)
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(50):
            seen.append(clock.monotonic())
            await asyncio.sleep(0)

    sleeper = asyncio.create_task(clock.sleep(10))
    await busy()
    await sleeper
    # Everything runnable "now" ran before the clock jumped.
    assert seen == [0] * 50
    assert clock.monotonic() == 10


async def test_cancelled_sleeper_does_not_wake_or_advance_time():
    clock = VirtualClock(START)
    cancelled = asyncio.create_task(clock.sleep(100))
    kept = asyncio.create_task(clock.sleep(50))
    await asyncio.sleep(0)
    assert clock.sleeping == 2
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert clock.sleeping == 1
    await kept
    await clock.idle()
    assert clock.monotonic() == 50
    assert clock.sleeping == 0


async def test_cancelled_earliest_sleeper_is_skipped():
    clock = VirtualClock(START)
    cancelled = asyncio.create_task(clock.sleep(10))
    kept = asyncio.create_task(clock.sleep(40))
    await asyncio.sleep(0)
    cancelled.cancel()
    await kept
    assert clock.monotonic() == 40


async def test_idle_returns_once_nothing_can_happen():
    clock = VirtualClock(START)
    await clock.idle()
    assert clock.monotonic() == 0
    woke: list[float] = []

    async def sleeper(seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(clock.monotonic())

    tasks = [asyncio.create_task(sleeper(s)) for s in (10, 20)]
    # A task waiting on something that never comes does not keep the clock from idling.
    never = asyncio.get_running_loop().create_future()
    waiter = asyncio.create_task(asyncio.wait_for(never, timeout=None))
    await clock.idle()
    assert woke == [10, 20]
    assert clock.monotonic() == 20
    assert all(task.done() for task in tasks)
    assert not waiter.done()
    waiter.cancel()


async def test_idle_waits_for_sleepers_woken_in_turn():
    clock = VirtualClock(START)

    async def relay(hops: int) -> None:
        for _ in range(hops):
            await clock.sleep(5)

    relay_task = asyncio.create_task(relay(4))
    await clock.idle()
    assert relay_task.done()
    assert clock.monotonic() == 20


async def test_limit_keeps_later_deadlines_from_ever_coming():
    clock = VirtualClock(START, limit=60)
    at_limit = asyncio.create_task(clock.sleep(60))
    beyond = asyncio.create_task(clock.sleep(61))
    await clock.idle()
    assert at_limit.done()
    assert not beyond.done()
    assert clock.monotonic() == 60
    assert clock.sleeping == 1
    # Raising the limit lets time go on.
    clock.limit = None
    await beyond
    assert clock.monotonic() == 61


async def test_two_virtual_clocks_on_one_loop_both_advance():
    first, second = VirtualClock(START), VirtualClock(START)

    async def sleep(clock: VirtualClock, seconds: float) -> float:
        await clock.sleep(seconds)
        return clock.monotonic()

    # Two dry runs at once in one host, or two harness runs gathered in one test.
    assert await asyncio.gather(sleep(first, 10), sleep(second, 20)) == [10, 20]
    assert await asyncio.gather(first.idle(), second.idle()) == [None, None]


async def test_two_harness_runs_can_be_gathered():
    one, two = await asyncio.gather(
        run_process(incubate, {"hours": 1}), run_process(incubate, {"hours": 3})
    )
    assert (one.elapsed, two.elapsed) == (3600, 3 * 3600)


async def test_harness_pause_on_virtual_clock_counts_paused_time():
    run = await run_process(
        incubate, {"hours": 1}, script=Script().at(600).halt(), start=START, limit=7200
    )
    assert run.state is StepState.HALTED
    assert run.elapsed == 600


# The real clock


def test_real_clock_now_is_aware_utc():
    clock = RealClock()
    now = clock.now()
    assert now.tzinfo is UTC
    assert abs(now - datetime.now(UTC)) < timedelta(days=1)


def test_real_clock_monotonic_never_goes_back():
    clock = RealClock()
    readings = [clock.monotonic() for _ in range(100)]
    assert readings == sorted(readings)


async def test_real_clock_sleep_waits_on_the_loop(timers):
    await RealClock().sleep(0.001)
    assert len(timers) == 1
    assert 0 < timers[0] <= 0.001
