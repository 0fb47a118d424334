"""Control requests: what an operator asks of a step, and what a process sees of it.

`PauseRequest`, `JumpRequest` and `SwapRequest` derive from `BaseException`, like
`asyncio.CancelledError`, so that a process's `except Exception:` around device calls
does not swallow a pause by accident.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from labrun.state import StepState


class RequestKind(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    HALT = "halt"
    SKIP = "skip"
    JUMP = "jump"
    SWAP = "swap"
    RETRY = "retry"
    ANSWER = "answer"


class PauseMode(StrEnum):
    IMMEDIATE = "immediate"
    DEFERRED = "deferred"


_S = StepState
ALLOWED_STATES: dict[RequestKind, frozenset[StepState]] = {
    RequestKind.PAUSE: frozenset({_S.RUNNING}),
    RequestKind.RESUME: frozenset({_S.PAUSING, _S.PAUSED}),
    RequestKind.HALT: frozenset({_S.PENDING, _S.RUNNING, _S.PAUSING, _S.PAUSED, _S.FAILED}),
    RequestKind.SKIP: frozenset({_S.PENDING, _S.RUNNING, _S.PAUSING, _S.PAUSED, _S.FAILED}),
    RequestKind.JUMP: frozenset({_S.RUNNING, _S.PAUSING, _S.PAUSED}),
    RequestKind.SWAP: frozenset({_S.RUNNING, _S.PAUSING, _S.PAUSED}),
    RequestKind.RETRY: frozenset({_S.FAILED}),
    RequestKind.ANSWER: frozenset({_S.RUNNING, _S.PAUSING}),
}


class ControlRequest(BaseException):
    """Raised inside a process at `wait()` or `checkpoint()` when a request arrives."""


class PauseRequest(ControlRequest):
    def __init__(self) -> None:
        super().__init__("pause requested")


class JumpRequest(ControlRequest):
    def __init__(self, point: Any) -> None:
        super().__init__(f"jump to point {point!r} requested")
        self.point = point


class SwapRequest(ControlRequest):
    def __init__(self, data: Any) -> None:
        super().__init__("swap of data requested")
        self.data = data


class RequestRefused(Exception):
    """A request that does not fit the step's state; it changed nothing."""

    def __init__(
        self,
        request: RequestKind,
        state: StepState,
        allowed: Iterable[StepState] = (),
        reason: str | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.allowed = tuple(s for s in StepState if s in set(allowed))
        self.reason = reason or _state_reason(request, state, self.allowed)
        super().__init__(f"{request} refused: {self.reason}")


def _state_reason(request: RequestKind, state: StepState, allowed: tuple[StepState, ...]) -> str:
    return f"the step is {state}; {request} is allowed when it is {_or_list(allowed)}"


def _or_list(states: tuple[StepState, ...]) -> str:
    names = [str(s) for s in states]
    if len(names) <= 1:
        return "".join(names) or "never"
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_allowed(request: RequestKind, state: StepState) -> None:
    allowed = ALLOWED_STATES[request]
    if state not in allowed:
        raise RequestRefused(request, state, allowed)
