"""What the engine does about failures: on_error policies, timeouts, and failing a step.

A `Guard` wraps the process of one step execution. It can fail the invocation in progress
from outside, the way `asyncio.timeout()` does: it cancels the task, and when the
cancellation comes back out of the process it takes it back with `Task.uncancel()` and
raises `StepAborted` instead, which the step runner records as the step's failure.

A step timeout uses it: each invocation of the process may run `timeout` seconds on the
run's clock, not counting the time the step spends paused inside it (blocked at a
checkpoint). A process invoked again (after a pause it let propagate, a retry, a jump or a
swap) gets the whole timeout again. The CLI uses the guard too, to fail a prompt that no
one can answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from labrun.clock import Clock
from labrun.context import ProcessContext
from labrun.plugin import ProcessFunction, ProcessSpec
from labrun.protocol.tree import ErrorAction, OnError
from labrun.run.projection import StepView
from labrun.state import StepState


class StepAborted(Exception):
    """The engine ended the invocation: a timeout, or a prompt no one can answer."""


def next_action(on_error: OnError, failures: int) -> tuple[ErrorAction, float]:
    """What follows failure number `failures` of a step, and after how many seconds.

    `retry` retries `times` times, then waits for the operator like `pause`.
    """
    if on_error.action is ErrorAction.RETRY:
        if failures <= on_error.times:
            return ErrorAction.RETRY, on_error.delay(failures)
        return ErrorAction.PAUSE, 0.0
    return on_error.action, 0.0


def guarded(spec: ProcessSpec, guard_of: Callable[[str], Guard]) -> ProcessSpec:
    """`spec` with its process run under the guard of the step execution invoking it
    (found by the step's key), made once per step of the tree rather than per execution."""
    function = spec.function

    async def invoke(data: Any, context: ProcessContext[Any]) -> Any:
        return await guard_of(context.step).invoke(function, data, context)

    return replace(spec, function=invoke)


class Guard:
    """Lets the engine fail the invocations of one step execution."""

    def __init__(
        self, clock: Clock, *, timeout: float | None, view: Callable[[], StepView | None]
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._view = view
        self._task: asyncio.Task[Any] | None = None
        self._aborted: str | None = None
        self._changed: asyncio.Event | None = None

    def fail(self, message: str) -> bool:
        """Fail the invocation in progress with `message`; False when there is none."""
        if self._task is None or self._aborted is not None:
            return False
        self._aborted = message
        self._task.cancel()
        return True

    def state_changed(self) -> None:
        """The step changed state: a timer waiting out a pause looks again."""
        if self._changed is not None:
            self._changed.set()

    async def invoke(
        self, function: ProcessFunction, data: Any, context: ProcessContext[Any]
    ) -> Any:
        task = asyncio.current_task()
        assert task is not None
        self._task, self._aborted = task, None
        cancelling = task.cancelling()
        timer = None
        if self._timeout is not None:
            timer = asyncio.create_task(self._expire(self._timeout))
        try:
            result = await function(data, context)
        except asyncio.CancelledError:
            if self._aborted is None or task.uncancel() > cancelling:
                raise
            raise StepAborted(self._aborted) from None
        except BaseException:
            if self._aborted is not None:
                task.uncancel()
            raise
        finally:
            self._task = None
            if timer is not None:
                timer.cancel()
        if self._aborted is not None:
            # The process swallowed the cancellation; the failure stands all the same.
            task.uncancel()
            raise StepAborted(self._aborted)
        return result

    async def _expire(self, seconds: float) -> None:
        changed = self._changed = asyncio.Event()
        view = self._view()
        base = 0.0 if view is None else view.running_seconds(self._clock.now())
        while True:
            view = self._view()
            used = 0.0 if view is None else view.running_seconds(self._clock.now()) - base
            if view is not None and view.state is StepState.PAUSED:
                changed.clear()
                await changed.wait()
            elif used >= seconds:
                self.fail(f"timed out after {seconds:g} s")
                return
            else:
                await self._clock.sleep(seconds - used)
