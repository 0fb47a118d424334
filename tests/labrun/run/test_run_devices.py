"""Devices in runs: a step claims the devices its arguments name (a step in another branch
waits for them), reaches their drivers through its context, leaves them safe when it fails,
is skipped or halted, and the run leaves every device of the protocol safe however it ends.
Background steps of a parallel step are told to finish when the other branches end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from textwrap import dedent
from typing import Any

import pytest
from lamp import CATALOG, LampSimulator

from labrun import FINISH
from labrun.clock import VirtualClock
from labrun.device.bench import Bench
from labrun.device.config import parse_config
from labrun.event import Event, EventType
from labrun.protocol import Protocol, compile
from labrun.run.engine import Run
from labrun.run.state import RunState

START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)

LAMPS = """\
devices:
  lamp: {driver: lamp.lamp}
  spot: {driver: lamp.lamp, simulator: tcp}
"""


class Stalled(AssertionError):
    pass


def protocol_of(text: str) -> Protocol:
    result = compile(text=dedent(text), catalog=CATALOG)
    assert result.protocol is not None, "\n".join(d.render() for d in result.diagnostics)
    return result.protocol


class Rig:
    """A run on a virtual clock, on a started bench of simulated lamps (or none)."""

    def __init__(
        self, text: str, clock: VirtualClock, bench: Bench | None, parameters: dict[str, Any]
    ) -> None:
        self.protocol = protocol_of(text)
        self.clock = clock
        self.bench = bench
        self.run = Run(self.protocol, self.protocol.bind(parameters), clock=self.clock, bench=bench)
        self._subscription = self.run.journal.subscribe(maxsize=0)
        self._events: list[Event] = []
        self.task: asyncio.Task[RunState] | None = None

    def lamp(self, name: str = "lamp") -> LampSimulator:
        assert self.bench is not None
        simulator = self.bench.simulators[name].simulator
        assert isinstance(simulator, LampSimulator)
        return simulator

    def start(self) -> asyncio.Task[RunState]:
        self.task = asyncio.create_task(self.run.run())
        return self.task

    @property
    def events(self) -> list[Event]:
        self._events.extend(self._subscription.pending())
        return list(self._events)

    def states(self, step: str) -> list[str]:
        return [
            e.payload["state"] for e in self.events if e.step == step and e.type is EventType.STATE
        ]

    def _state_events(self, step: str, state: str) -> list[Event]:
        return [
            e
            for e in self.events
            if e.step == step and e.type is EventType.STATE and e.payload["state"] == state
        ]

    def time_of(self, step: str, state: str) -> float:
        found = self._state_events(step, state)
        assert found, f"{step!r} never was {state}: {self.states(step)}"
        return (found[0].time - START).total_seconds()

    def diagnostics(self, level: str | None = None) -> list[str]:
        return [
            e.payload["message"]
            for e in self.events
            if e.type is EventType.DIAGNOSTIC
            and e.step == ""
            and (level is None or e.payload["level"] == level)
        ]

    def error_of(self, step: str) -> str:
        found = self._state_events(step, "failed")
        assert found, f"{step!r} did not fail: {self.states(step)}"
        return str(found[-1].payload["error"])

    def result_of(self, step: str) -> Any:
        found = self._state_events(step, "completed")
        assert found, f"{step!r} did not complete: {self.states(step)}"
        return found[-1].payload.get("result")

    async def until(self, condition: Callable[[], bool]) -> None:
        """Let the run go on until `condition` holds; Stalled once nothing more can happen
        (the clock idle, no event coming) and it still does not."""
        while not condition():
            if self.task is not None and self.task.done():
                raise Stalled("the run ended first")
            event = asyncio.ensure_future(self._subscription.get())
            idle = asyncio.ensure_future(self.clock.idle())
            await asyncio.wait((event, idle), return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
            if event.done():
                self._events.append(event.result())
            else:
                event.cancel()
                if not condition():
                    raise Stalled(f"the run is {self.run.state} and nothing more can happen")

    async def finish(self) -> RunState:
        """The final state once the run ends by itself; Stalled if it cannot."""
        if self.task is None:
            self.start()
        assert self.task is not None
        idle = asyncio.ensure_future(self.clock.idle())
        done, _ = await asyncio.wait((self.task, idle), return_when=asyncio.FIRST_COMPLETED)
        if self.task not in done:
            raise Stalled(f"the run is {self.run.state} and nothing more can happen")
        idle.cancel()
        return self.task.result()

    async def stop(self) -> None:
        if self.task is None:
            return
        if not self.run.state.is_final and not self.run.halting:
            self.run.halt()
        await asyncio.wait((self.task,))


Make = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig() -> AsyncIterator[Make]:
    """`await rig(protocol_text, bench=True)`: the bench of LAMPS, simulated and started."""
    made: list[Rig] = []
    benches: list[Bench] = []

    async def make(text: str, *, bench: bool = True, config: str = LAMPS, **parameters: Any) -> Rig:
        clock = VirtualClock(START)
        opened = None
        if bench:
            opened = Bench.build(parse_config(config), CATALOG, clock=clock, simulate=True)
            benches.append(opened)
            await opened.start()
        made.append(Rig(text, clock, opened, parameters))
        return made[-1]

    yield make
    for each in made:
        await each.stop()
    for opened in benches:
        await opened.stop()


def off_at_end(lamp: LampSimulator) -> bool:
    return not lamp.on and lamp.received[-1] == b"OFF"


# --- claims and drivers ----------------------------------------------------------------


async def test_a_step_drives_the_device_its_argument_names(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light, seconds: 10}
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0", "completed") == 10
    # ON and OFF from the step, then the run's safe state.
    assert r.lamp().received == [b"ID?", b"ON", b"OFF", b"OFF"]
    # The spot is not the protocol's: the run leaves it alone.
    assert r.lamp("spot").received == [b"ID?"]
    assert r.diagnostics() == ["safe state applied to lamp (the run completed)"]


async def test_a_step_holds_its_devices_while_it_runs(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light, seconds: 10}
        """
    )
    assert r.bench is not None
    r.clock.limit = 5
    r.start()
    await r.clock.idle()
    assert r.states("0") == ["running"]
    assert r.bench.holder("lamp") == "0"
    assert r.bench.holder("spot") is None
    r.clock.limit = None
    await r.finish()
    assert r.bench.holder("lamp") is None


async def test_a_step_waits_for_a_device_another_branch_holds(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - parallel:
              - lamp.shine: {lamp: light, seconds: 10}
              - lamp.shine: {lamp: light, seconds: 5}
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0.0", "running") == 0
    assert r.time_of("0.0", "completed") == 10
    assert r.time_of("0.1", "running") == 10
    assert r.time_of("0.1", "completed") == 15
    assert r.lamp().received == [b"ID?", b"ON", b"OFF", b"ON", b"OFF", b"OFF"]


async def test_steps_on_different_devices_run_side_by_side(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp, beam: spot}
        steps:
          - parallel:
              - lamp.shine: {lamp: light, seconds: 10}
              - lamp.shine: {lamp: beam, seconds: 5}
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0.1", "running") == 0
    assert r.time_of("0", "completed") == 10
    assert r.diagnostics() == ["safe state applied to lamp, spot (the run completed)"]


async def test_a_list_of_devices_is_claimed_as_a_whole(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp, beam: spot}
        steps:
          - parallel:
              - lamp.shine_all: {lamps: [light, beam], seconds: 10}
              - lamp.shine: {lamp: beam, seconds: 5}
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.result_of("0.0") == 2
    assert r.time_of("0.1", "running") == 10
    assert r.lamp().received == [b"ID?", b"ON", b"OFF"]
    assert r.lamp("spot").received == [b"ID?", b"ON", b"ON", b"OFF", b"OFF"]


# --- steps that cannot have their devices ----------------------------------------------


async def test_a_step_fails_clearly_without_a_bench(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light}
            on_error: skip
        """,
        bench=False,
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.states("0") == ["running", "failed", "skipped"]
    assert r.error_of("0") == (
        "this step uses light, and no devices are open: run with --simulate, or with a "
        "configuration (--config) that declares them"
    )


async def test_a_step_fails_clearly_when_its_device_is_not_on_the_bench(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: beam}
        steps:
          - lamp.shine: {lamp: light}
            on_error: skip
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.error_of("0") == "device 'light' is 'beam', which is not on this bench"
    assert r.lamp().received == [b"ID?"]


async def test_a_device_named_by_a_parameter_must_be_declared(rig: Make) -> None:
    text = """
        parameters:
          which: {type: str, default: light}
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: "${which}", seconds: 1}
            on_error: skip
        """
    r = await rig(text, which="ghost")
    assert await r.finish() is RunState.COMPLETED
    assert r.error_of("0") == "device 'ghost' is not declared under the protocol's devices:"
    assert r.lamp().received == [b"ID?", b"OFF"]
    good = await rig(text)
    assert await good.finish() is RunState.COMPLETED
    assert good.lamp().received == [b"ID?", b"ON", b"OFF", b"OFF"]


# --- safe states -----------------------------------------------------------------------


async def test_a_failed_step_leaves_its_devices_safe_at_once(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp, beam: spot}
        steps:
          - lamp.shine: {lamp: light, seconds: 10, fail: true}
        """
    )
    r.start()
    safe = "safe state applied to lamp (step 0 failed)"
    await r.until(lambda: safe in r.diagnostics())
    # The step waits for the operator, its lamp already off; the spot it does not use is
    # left alone until the run ends.
    assert r.run.state is RunState.FAILED
    assert r.lamp().received == [b"ID?", b"ON", b"OFF"]
    assert not r.lamp().on
    assert r.lamp("spot").received == [b"ID?"]
    r.run.skip("0")
    assert await r.finish() is RunState.COMPLETED
    assert r.diagnostics() == [
        safe,
        "safe state applied to lamp (step 0 skipped)",
        "safe state applied to lamp, spot (the run completed)",
    ]


async def test_a_step_skipped_while_running_leaves_its_devices_safe(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light, seconds: 100}
          - lamp.shine: {lamp: light, seconds: 1}
        """
    )
    r.clock.limit = 5
    r.start()
    await r.clock.idle()
    assert r.lamp().on
    r.run.skip("0")
    r.clock.limit = None
    assert await r.finish() is RunState.COMPLETED
    assert r.lamp().received == [b"ID?", b"ON", b"OFF", b"ON", b"OFF", b"OFF"]
    assert r.diagnostics()[0] == "safe state applied to lamp (step 0 skipped)"


DIMMERS = """\
devices:
  lamp: {driver: lamp.dimmer}
"""


async def test_a_paused_step_gets_the_hold_action_of_its_devices(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.glow: {lamp: light, seconds: 10}
        """,
        config=DIMMERS,
    )
    r.clock.limit = 4
    r.start()
    await r.clock.idle()
    assert r.lamp().on
    r.run.pause()
    await r.until(lambda: "lamp held (step 0 paused)" in r.diagnostics())
    assert r.run.state is RunState.PAUSED
    assert r.lamp().received == [b"ID?", b"ON", b"OFF"]
    assert not r.lamp().on
    # Resumed, the process is invoked again and lights its lamp again.
    r.clock.limit = None
    r.run.resume()
    assert await r.finish() is RunState.COMPLETED
    assert r.lamp().received == [b"ID?", b"ON", b"OFF", b"ON", b"OFF", b"OFF"]


async def test_a_device_whose_driver_has_no_hold_action_is_left_as_it_is(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.glow: {lamp: light, seconds: 10}
        """
    )
    r.clock.limit = 4
    r.start()
    await r.clock.idle()
    r.run.pause()
    await r.until(lambda: r.run.state is RunState.PAUSED)
    assert r.lamp().on
    assert r.lamp().received == [b"ID?", b"ON"]
    assert not any("held" in message for message in r.diagnostics())
    r.clock.limit = None
    r.run.resume()
    assert await r.finish() is RunState.COMPLETED


async def test_a_halted_run_leaves_every_device_safe(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp, beam: spot}
        steps:
          - parallel:
              - lamp.shine: {lamp: light, seconds: 100}
              - lamp.shine: {lamp: beam, seconds: 100}
        """
    )
    r.clock.limit = 5
    r.start()
    await r.clock.idle()
    assert r.lamp().on
    assert r.lamp("spot").on
    r.run.halt()
    assert await r.finish() is RunState.HALTED
    assert off_at_end(r.lamp())
    assert off_at_end(r.lamp("spot"))
    assert "safe state applied to lamp, spot (the run halted)" in r.diagnostics()


async def test_a_cancelled_run_still_leaves_every_device_safe(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light, seconds: 100}
        """
    )
    r.clock.limit = 5
    task = r.start()
    await r.clock.idle()
    assert r.lamp().on
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert off_at_end(r.lamp())
    assert r.diagnostics()[-1] == "safe state applied to lamp (the run halted)"


async def test_a_step_halted_by_a_jump_leaves_its_devices_safe(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp, beam: spot}
        steps:
          - lamp.shine: {lamp: light, seconds: 100}
          - lamp.shine: {lamp: beam, seconds: 10}
            id: after
        """
    )
    r.clock.limit = 5
    r.start()
    await r.clock.idle()
    r.run.jump("after")
    r.clock.limit = 6
    await r.clock.idle()
    assert r.states("0") == ["running", "halted"]
    assert r.states("1") == ["running"]
    # The lamp the halted step left on is off while the run goes on.
    assert not r.lamp().on
    assert "safe state applied to lamp (step 0 halted)" in r.diagnostics()


async def test_a_device_that_cannot_take_its_safe_state_is_reported(rig: Make) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - lamp.shine: {lamp: light, seconds: 10}
        """
    )
    r.clock.limit = 5
    r.start()
    await r.clock.idle()
    assert r.bench is not None
    r.bench.simulators["lamp"].silence(2)
    r.clock.limit = None
    # The step's own OFF times out: it fails, and the safe state cannot be applied now.
    await r.until(lambda: r.run.state is RunState.FAILED)
    await r.until(lambda: any("safe state not applied now" in d for d in r.diagnostics()))
    assert r.error_of("0") == "device lamp: no reply within 0.3 s (sent 'OFF\\r', got nothing)"
    assert r.diagnostics("warning") == [
        "safe state not applied now: device lamp: unavailable: the safe state is applied "
        "when it reconnects"
    ]


# --- background steps ------------------------------------------------------------------


async def test_a_background_step_is_told_to_finish_when_the_other_branches_end(
    rig: Make,
) -> None:
    r = await rig(
        """
        devices: {light: lamp}
        steps:
          - parallel:
              - lamp.shine: {lamp: light, seconds: 10}
              - steps:
                  - lamp.shine: {lamp: light, seconds: 5}
              - lamp.watch: {lamp: light}
        """
    )
    assert await r.finish() is RunState.COMPLETED
    assert r.time_of("0.2", "running") == 0
    assert r.time_of("0.2", "completed") == 15
    result = r.result_of("0.2")
    assert result["message"] == FINISH
    assert result["finish"] is True
    # It shares the lamp: the steps that claim it did not wait for it.
    assert r.time_of("0.0", "running") == 0
    answers = [e.payload for e in r.events if e.type is EventType.REQUEST and e.step == "0.2"]
    assert answers == [{"request": "answer", "message": FINISH, "by": "parallel"}]
