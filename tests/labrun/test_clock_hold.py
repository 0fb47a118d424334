"""VirtualClock.hold(): while a device's reply is awaited in real time, virtual time stands
still, though the event loop is idle. A short real sleep stands for that wait here."""

from __future__ import annotations

import asyncio

import pytest

from labrun import RealClock, VirtualClock

# Long enough for the loop to go idle many times over; no assertion depends on it.
REAL_WAIT = 0.02


async def test_an_idle_loop_advances_virtual_time_when_not_held() -> None:
    clock = VirtualClock()
    sleeper = asyncio.ensure_future(clock.sleep(10))
    await asyncio.sleep(REAL_WAIT)
    assert sleeper.done()
    assert clock.monotonic() == 10


async def test_time_does_not_advance_while_held() -> None:
    clock = VirtualClock()
    sleeper = asyncio.ensure_future(clock.sleep(10))
    with clock.hold():
        await asyncio.sleep(REAL_WAIT)
        assert not sleeper.done()
        assert clock.monotonic() == 0
    await sleeper
    assert clock.monotonic() == 10


async def test_nested_holds_keep_time_still_until_the_last_ends() -> None:
    clock = VirtualClock()
    sleeper = asyncio.ensure_future(clock.sleep(5))
    with clock.hold():
        with clock.hold():
            await asyncio.sleep(REAL_WAIT)
        await asyncio.sleep(REAL_WAIT)
        assert not sleeper.done()
    await sleeper
    assert clock.monotonic() == 5


async def test_a_hold_ends_when_an_error_leaves_it() -> None:
    clock = VirtualClock()
    with pytest.raises(TimeoutError), clock.hold():
        raise TimeoutError
    await clock.sleep(3)
    assert clock.monotonic() == 3


async def test_the_clock_is_not_idle_while_held() -> None:
    clock = VirtualClock()
    idle = asyncio.ensure_future(clock.idle())
    with clock.hold():
        await asyncio.sleep(REAL_WAIT)
        assert not idle.done()
    await idle


async def test_holding_the_real_clock_changes_nothing() -> None:
    clock = RealClock()
    with clock.hold():
        await clock.sleep(0)
