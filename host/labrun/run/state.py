"""Run states, the transitions between them, and the requests each state takes.

A run is `failed` while a failed step waits for the operator (it is live, not over);
`interrupted` is written by the store when a host finds a run its dead predecessor was
driving. Only `completed` and `halted` end a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING

from labrun.request import RequestKind

if TYPE_CHECKING:
    from labrun.protocol.diagnostic import Diagnostic


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    FAILED = "failed"
    HALTING = "halting"
    COMPLETED = "completed"
    HALTED = "halted"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES

    @property
    def is_active(self) -> bool:
        """A host is driving the run: it is neither over nor interrupted by a host's death."""
        return self not in FINAL_STATES and self is not RunState.INTERRUPTED


FINAL_STATES = frozenset({RunState.COMPLETED, RunState.HALTED})

_R = RunState
# Every active state can become interrupted: the store marks it so after a crash.
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    _R.PENDING: frozenset({_R.RUNNING, _R.HALTED, _R.INTERRUPTED}),
    _R.RUNNING: frozenset(
        {_R.PAUSING, _R.PAUSED, _R.FAILED, _R.HALTING, _R.COMPLETED, _R.INTERRUPTED}
    ),
    # The last step, not pausable, may end before it could pause: the run is then over.
    _R.PAUSING: frozenset({_R.RUNNING, _R.PAUSED, _R.HALTING, _R.COMPLETED, _R.INTERRUPTED}),
    # Resuming a run whose failed step still waits leaves it failed. A step skipped or a
    # jump made while paused sets a branch moving until it holds again: pausing.
    _R.PAUSED: frozenset({_R.RUNNING, _R.PAUSING, _R.FAILED, _R.HALTING, _R.INTERRUPTED}),
    _R.FAILED: frozenset(
        {_R.RUNNING, _R.PAUSING, _R.PAUSED, _R.HALTING, _R.COMPLETED, _R.INTERRUPTED}
    ),
    _R.HALTING: frozenset({_R.HALTED, _R.INTERRUPTED}),
    _R.COMPLETED: frozenset(),
    _R.HALTED: frozenset(),
    _R.INTERRUPTED: frozenset({_R.RUNNING, _R.HALTED}),
}

_LIVE = frozenset({_R.RUNNING, _R.PAUSING, _R.PAUSED, _R.FAILED})
# Requests addressed to the run. Those addressed to one of its steps (skip, retry, answer)
# need a live run, and then the step's own state decides.
ALLOWED_STATES: dict[RequestKind, frozenset[RunState]] = {
    RequestKind.PAUSE: frozenset({_R.RUNNING, _R.FAILED}),
    RequestKind.RESUME: frozenset({_R.PAUSING, _R.PAUSED}),
    RequestKind.HALT: frozenset({_R.PENDING}) | _LIVE,
    RequestKind.JUMP: _LIVE,
    RequestKind.SWAP: _LIVE,
    RequestKind.SKIP: _LIVE,
    # A retry restarts a process: not while the run is held.
    RequestKind.RETRY: frozenset({_R.RUNNING, _R.FAILED}),
    RequestKind.ANSWER: _LIVE,
}


class InvalidRunTransition(RuntimeError):
    """An internal bug: the engine tried a transition the table forbids."""

    def __init__(self, current: RunState, target: RunState) -> None:
        super().__init__(f"invalid run transition {current} -> {target}")
        self.current = current
        self.target = target


def check_transition(current: RunState, target: RunState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidRunTransition(current, target)


class RunRefused(Exception):
    """A request the run cannot take now; it changed nothing.

    `state` is the run's state and `allowed` the states in which the request is taken. A
    request addressed to a step names it in `step`; a refused swap lists in `diagnostics`
    why the edited protocol cannot replace the running one.
    """

    def __init__(
        self,
        request: RequestKind,
        state: RunState,
        reason: str | None = None,
        *,
        step: str | None = None,
        diagnostics: Iterable[Diagnostic] = (),
    ) -> None:
        self.request = request
        self.state = state
        allowed = ALLOWED_STATES[request]
        self.allowed = tuple(s for s in RunState if s in allowed)
        self.step = step
        self.diagnostics = tuple(diagnostics)
        self.reason = reason or (
            f"the run is {state}; {request} is allowed when it is {_or_list(self.allowed)}"
        )
        super().__init__(f"{request} refused: {self.reason}")


def _or_list(states: tuple[RunState, ...]) -> str:
    names = [str(s) for s in states]
    if len(names) <= 1:
        return "".join(names) or "never"
    return ", ".join(names[:-1]) + " or " + names[-1]


def check_allowed(request: RequestKind, state: RunState) -> None:
    if state not in ALLOWED_STATES[request]:
        raise RunRefused(request, state)
