"""The step runner: drives one process through the step state machine.

The process runs inline in the task that awaits `StepRunner.run()`, not in a task of its
own: creating and joining a task per step costs two loop trips, more than the rest of a
no-op step together. Halting cancels that task and takes the cancellation back with
`Task.uncancel()`, the same way `asyncio.timeout()` does, so a cancellation from outside
is still told apart and propagated.
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Awaitable, Mapping
from enum import Enum, auto
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError

from labrun._json import jsonable
from labrun._validation import error_lines
from labrun.clock import Clock
from labrun.context import ProcessContext
from labrun.duration import duration_json
from labrun.event import EventBus, EventType
from labrun.plugin import ProcessSpec
from labrun.request import (
    ALLOWED_STATES,
    ControlRequest,
    JumpRequest,
    PauseMode,
    PauseRequest,
    RequestKind,
    RequestRefused,
    SwapRequest,
    check_allowed,
)
from labrun.state import TRANSITIONS, InvalidTransition, StepState

T = TypeVar("T")


class StepOutcome(NamedTuple):
    state: StepState
    result: Any = None
    error: str | None = None
    # A pause arrived that the process did not take (not pausable, or deferred): the caller
    # pauses before the next step.
    pause_pending: bool = False


_new_tuple = tuple.__new__


class _Exit(Enum):
    RETURNED = auto()
    PAUSED = auto()
    JUMPED = auto()
    SWAPPED = auto()
    FAILED = auto()
    STOPPED = auto()


class StepRunner:
    """Runs `spec` with `data` once `run()` is awaited; requests come in through methods."""

    # Defaults on the class: most steps never change them, and a runner is built per step.
    # The drivers of the devices claimed for this step, by the protocol's names.
    devices: Mapping[str, Any] = {}
    result: Any = None
    error: str | None = None
    _pause: PauseMode | None = None
    _jump: tuple[Any] | None = None
    _swap: BaseModel | None = None
    _stop: StepState | None = None
    _task: asyncio.Task[Any] | None = None
    _cancel_sent = False
    # A PauseRequest raised into the process, and a resume that came before it got out.
    _pause_delivered = False
    _resumed_in_flight = False
    _receiving: asyncio.Future[Any] | None = None
    _location: Any = None
    _location_due = False

    def __init__(
        self,
        spec: ProcessSpec,
        data: BaseModel | Mapping[str, Any],
        *,
        step: str,
        bus: EventBus,
        clock: Clock,
        point: Any = None,
    ) -> None:
        self.spec = spec
        self.step = step
        self.clock = clock
        self._bus = bus
        self._data = spec.validate(data)
        self._point = point
        self._state = StepState.PENDING
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def state(self) -> StepState:
        return self._state

    @property
    def point(self) -> Any:
        """The last point the process reported, where a restart would resume."""
        return self._point

    @property
    def data(self) -> BaseModel:
        return self._data

    @property
    def waiting_for_answer(self) -> bool:
        return self._receiving is not None and not self._receiving.done()

    async def run(self) -> StepOutcome:
        if self._state is StepState.PENDING:
            task = asyncio.current_task()
            assert task is not None, "StepRunner.run() must be awaited inside a task"
            self._set_state(StepState.RUNNING)
            try:
                exit, value = await self._invoke(task)
                # Most steps return at the first try: spare them the loop's coroutine.
                if exit is _Exit.RETURNED:
                    self._complete(value)
                else:
                    await self._drive(task, exit, value)
            except asyncio.CancelledError:
                if not self._state.is_final:
                    self._finish(self._stop or StepState.HALTED)
                raise
        pause_pending = self._pause is not None and self._state is StepState.COMPLETED
        # tuple.__new__ skips the named tuple's Python __new__, a tenth of a no-op step.
        outcome: StepOutcome = _new_tuple(
            StepOutcome, (self._state, self.result, self.error, pause_pending)
        )
        return outcome

    async def _drive(self, task: asyncio.Task[Any], exit: _Exit, value: Any) -> None:
        """Carries on from an invocation that did not return: restarts it until it does,
        or the step ends otherwise."""
        while True:
            if exit is _Exit.RETURNED:
                self._complete(value)
                return
            if exit is _Exit.STOPPED:
                self._finish(self._stop or StepState.HALTED)
                return
            if exit is _Exit.JUMPED:
                self._point = value
                self._restart("jump")
            elif exit is _Exit.SWAPPED:
                self._data = value
                self._restart("swap")
            elif exit is _Exit.PAUSED:
                # A resume may have come while the pause was still leaving the process:
                # then there is nothing left to wait for.
                if not self._resumed_in_flight:
                    self._set_state(StepState.PAUSED)
                    if not await self._idle_while(StepState.PAUSED):
                        return
                # A jump or swap that came while paused stays pending: the restarted process
                # gets it at its first wait() or checkpoint() and may handle it itself.
                self._restart("resume")
            elif exit is _Exit.FAILED:
                if not await self._idle_while(StepState.FAILED):
                    return
                self._restart("retry")
            exit, value = await self._invoke(task)

    async def _invoke(self, task: asyncio.Task[Any]) -> tuple[_Exit, Any]:
        self._task = task
        if self._cancel_sent or self._pause_delivered or self._resumed_in_flight:
            self._cancel_sent = self._pause_delivered = self._resumed_in_flight = False
        cancelling = task.cancelling()
        context: ProcessContext[Any] = ProcessContext(self, self._data, self._point)
        try:
            value = await self.spec.function(self._data, context)
        except asyncio.CancelledError:
            if self._cancel_sent and task.uncancel() <= cancelling:
                return _Exit.STOPPED, None
            raise
        except PauseRequest:
            outcome: tuple[_Exit, Any] = (_Exit.PAUSED, None)
        except JumpRequest as request:
            outcome = (_Exit.JUMPED, request.point)
        except SwapRequest as request:
            outcome = (_Exit.SWAPPED, request.data)
        except (Exception, ControlRequest) as error:  # noqa: BLE001 - a raise fails the step
            self._fail(error)
            outcome = (_Exit.FAILED, None)
        else:
            try:
                outcome = (_Exit.RETURNED, jsonable(value))
            except TypeError as error:
                self._fail(TypeError(f"the process returned a value that is not JSON: {error}"))
                outcome = (_Exit.FAILED, None)
        finally:
            self._task = None
        if self._cancel_sent:
            # The process swallowed the cancellation; the halt stands all the same.
            task.uncancel()
            outcome = (_Exit.STOPPED, None)
        if task.cancelling() > cancelling:
            # It swallowed a cancellation from outside too, which is not ours to take back.
            raise asyncio.CancelledError
        return outcome

    # Requests. Each either takes effect at once or raises RequestRefused, changing nothing.

    def pause(self, mode: PauseMode = PauseMode.IMMEDIATE, *, by: str | None = None) -> None:
        self._accept(RequestKind.PAUSE, {"mode": mode.value}, by)
        self._pause = mode
        self._set_state(StepState.PAUSING)
        self._wake()

    def resume(self, *, by: str | None = None) -> None:
        self._accept(RequestKind.RESUME, by=by)
        self._resumed_in_flight = self._pause_delivered and self._state is StepState.PAUSING
        self._pause = None
        self._set_state(StepState.RUNNING)
        self._wake()

    def halt(self, *, by: str | None = None) -> None:
        self._stop_with(RequestKind.HALT, StepState.HALTED, by)

    def skip(self, *, by: str | None = None) -> None:
        self._stop_with(RequestKind.SKIP, StepState.SKIPPED, by)

    def jump(self, point: Any, *, by: str | None = None) -> None:
        self._check(RequestKind.JUMP)
        point = _json_argument(RequestKind.JUMP, self._state, "point", point)
        self._accept(RequestKind.JUMP, {"point": point}, by)
        self._jump = (point,)
        self._wake()

    def swap(self, data: BaseModel | Mapping[str, Any], *, by: str | None = None) -> None:
        """New arguments: a model replaces them all; a mapping changes only the fields it
        names, so an operator editing one field does not undo an earlier edit."""
        self._check(RequestKind.SWAP)
        if not isinstance(data, BaseModel):
            current = self._swap if self._swap is not None else self._data
            data = {**dict(current), **data}
        try:
            model = self.spec.validate(data)
        except ValidationError as error:
            raise RequestRefused(
                RequestKind.SWAP,
                self._state,
                ALLOWED_STATES[RequestKind.SWAP],
                reason=f"invalid data: {error_lines(error)[0]}",
            ) from error
        self._accept(RequestKind.SWAP, {"data": model.model_dump(mode="json")}, by)
        self._swap = model
        self._wake()

    def retry(self, *, by: str | None = None) -> None:
        self._accept(RequestKind.RETRY, by=by)
        self.error = None
        self._set_state(StepState.RUNNING)
        self._wake()

    def answer(self, message: Any, *, by: str | None = None) -> None:
        self._check(RequestKind.ANSWER)
        receiving = self._receiving
        if receiving is None or receiving.done():
            raise RequestRefused(
                RequestKind.ANSWER,
                self._state,
                ALLOWED_STATES[RequestKind.ANSWER],
                reason="the step is not waiting for an answer",
            )
        self._accept(
            RequestKind.ANSWER,
            {"message": _json_argument(RequestKind.ANSWER, self._state, "message", message)},
            by,
        )
        receiving.set_result(message)

    def _check(self, request: RequestKind) -> None:
        if self._stop is not None and not self._state.is_final:
            raise RequestRefused(
                request,
                self._state,
                ALLOWED_STATES[request],
                reason=f"the step is being {self._stop}",
            )
        check_allowed(request, self._state)

    def _accept(
        self, request: RequestKind, details: dict[str, Any] | None = None, by: str | None = None
    ) -> None:
        """Check `request` and record it; `by`, who asked, goes in the event when known."""
        self._check(request)
        payload = {"request": request.value, **(details or {})}
        if by is not None:
            payload["by"] = by
        self._emit(EventType.REQUEST, payload)

    def _stop_with(self, request: RequestKind, final: StepState, by: str | None) -> None:
        self._accept(request, by=by)
        self._stop = final
        if self._task is not None:
            self._cancel_sent = True
            self._task.cancel()
        else:
            self._finish(final)
            self._wake()

    # The process side, called through ProcessContext.

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _park(self) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _idle_while(self, state: StepState) -> bool:
        """Wait, with no process running, for a request to move the step out of `state`.

        False when it ends there. Otherwise it is running, or pausing when a pause came
        right after the resume or retry: either way the process restarts, and takes the pause.
        """
        while self._state is state:
            await self._park()
        return not self._state.is_final

    def _pending_control(self) -> ControlRequest | None:
        if self._jump is not None:
            (point,), self._jump = self._jump, None
            return JumpRequest(point)
        if self._swap is not None:
            data, self._swap = self._swap, None
            return SwapRequest(data)
        return None

    async def _checkpoint(self, context: ProcessContext[Any]) -> None:
        """The slow path of `ProcessContext.checkpoint()`, when a request is pending."""
        while True:
            if self._state is not StepState.PAUSED:
                request = self._pending_control()
                if request is not None:
                    raise request
            if self._pause is None or not context.pausable:
                return
            self._set_state(StepState.PAUSED)
            while self._state is StepState.PAUSED:
                await self._park()

    def _interrupt_for_wait(self, context: ProcessContext[Any]) -> ControlRequest | None:
        request = self._pending_control()
        if request is not None:
            return request
        if self._pause is PauseMode.IMMEDIATE and context.pausable:
            self._pause_delivered = True
            return PauseRequest()
        return None

    async def _wait(self, context: ProcessContext[Any], awaitable: Awaitable[T]) -> T:
        request = self._interrupt_for_wait(context)
        if request is not None:
            _discard(awaitable)
            raise request
        inner = asyncio.ensure_future(awaitable)
        try:
            while not inner.done():
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
                try:
                    await asyncio.wait((inner, waiter), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if waiter in self._waiters:
                        self._waiters.remove(waiter)
                if inner.done():
                    break
                request = self._interrupt_for_wait(context)
                if request is not None:
                    raise request
            return inner.result()
        finally:
            if not inner.done():
                inner.cancel()
                await asyncio.wait((inner,))
            if not inner.cancelled():
                inner.exception()

    async def _receive(self, context: ProcessContext[Any], within: float | None = None) -> Any:
        receiving: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._receiving = receiving
        try:
            if within is None:
                return await self._wait(context, receiving)
            return await self._wait(context, _first(receiving, self.clock.sleep(within)))
        finally:
            self._receiving = None

    def _set_location(self, location: Any, point: Any, has_point: bool) -> None:
        self._location = jsonable(location)
        if has_point:
            self._point = jsonable(point)
        if not self._location_due:
            self._location_due = True
            asyncio.get_running_loop().call_soon(self._flush_location)

    def _flush_location(self) -> None:
        if self._location_due:
            self._location_due = False
            self._emit(EventType.LOCATION, {"location": self._location, "point": self._point})

    def _send_duration(self, seconds: float | None) -> None:
        self._emit(EventType.DURATION, {"remaining": duration_json(seconds)})

    def _send_diagnostic(
        self, level: str, message: str, code: str | None, details: Mapping[str, Any] | None
    ) -> None:
        payload: dict[str, Any] = {"level": level, "message": str(message)}
        if code is not None:
            payload["code"] = code
        if details:
            payload["details"] = jsonable(dict(details))
        self._emit(EventType.DIAGNOSTIC, payload)

    def _send_effect(self, effect: Any) -> None:
        self._emit(EventType.EFFECT, {"effect": jsonable(effect)})

    def _send_data(self, values: Mapping[str, Any]) -> None:
        self._emit(EventType.DATA, {"values": {str(k): jsonable(v) for k, v in values.items()}})

    # State changes and their events.

    def _emit(self, type: EventType, payload: dict[str, Any]) -> None:
        self._bus.emit(type, self.step, payload)

    def _set_state(self, state: StepState, details: dict[str, Any] | None = None) -> None:
        previous = self._state
        if state is previous:
            return
        if state not in TRANSITIONS[previous]:
            raise InvalidTransition(previous, state)
        if self._location_due:
            self._flush_location()
        self._state = state
        # The members are str already; `.value` would only cost a descriptor lookup.
        payload = {"state": state, "previous": previous}
        if details:
            payload.update(details)
        self._bus.emit(EventType.STATE, self.step, payload)

    def _restart(self, reason: str) -> None:
        self._emit(
            EventType.RESTART,
            {"reason": reason, "point": self._point, "data": self._data.model_dump(mode="json")},
        )

    def _fail(self, error: BaseException) -> None:
        self._pause, self._jump, self._swap = None, None, None
        if isinstance(error, ValidationError):
            # The technician reads this: no pydantic banner or documentation links.
            self.error = "; ".join(error_lines(error))
        else:
            self.error = str(error) or type(error).__name__
        self._set_state(
            StepState.FAILED,
            {
                "error": self.error,
                "error_type": type(error).__name__,
                "traceback": "".join(traceback.format_exception(error)),
            },
        )

    def _complete(self, result: Any) -> None:
        self.result = result
        self._set_state(StepState.COMPLETED, {"result": result})

    def _finish(self, state: StepState) -> None:
        self._stop = state
        self._set_state(state)


async def _first(message: asyncio.Future[Any], timer: Awaitable[None]) -> Any:
    """The message, unless the timer runs out first: then TimeoutError."""
    sleeper = asyncio.ensure_future(timer)
    try:
        await asyncio.wait((message, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        sleeper.cancel()
    if message.done():
        return message.result()
    raise TimeoutError


def _json_argument(request: RequestKind, state: StepState, name: str, value: Any) -> Any:
    try:
        return jsonable(value)
    except TypeError as error:
        raise RequestRefused(
            request, state, ALLOWED_STATES[request], reason=f"the {name} is not JSON: {error}"
        ) from error


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()
    elif isinstance(awaitable, asyncio.Future):
        awaitable.cancel()
