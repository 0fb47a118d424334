"""Step states and the transitions between them (SEMANTICS.md "States")."""

from __future__ import annotations

from enum import StrEnum


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    FAILED = "failed"
    COMPLETED = "completed"
    HALTED = "halted"
    SKIPPED = "skipped"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({StepState.COMPLETED, StepState.HALTED, StepState.SKIPPED})

_S = StepState
TRANSITIONS: dict[StepState, frozenset[StepState]] = {
    _S.PENDING: frozenset({_S.RUNNING, _S.HALTED, _S.SKIPPED}),
    # A process may raise PauseRequest on its own, so running goes straight to paused too.
    _S.RUNNING: frozenset({_S.PAUSING, _S.PAUSED, _S.FAILED, _S.COMPLETED, _S.HALTED, _S.SKIPPED}),
    # A non-pausable process keeps running through a pause and may complete while pausing.
    _S.PAUSING: frozenset({_S.RUNNING, _S.PAUSED, _S.FAILED, _S.COMPLETED, _S.HALTED, _S.SKIPPED}),
    _S.PAUSED: frozenset({_S.RUNNING, _S.HALTED, _S.SKIPPED}),
    _S.FAILED: frozenset({_S.RUNNING, _S.HALTED, _S.SKIPPED}),
    _S.COMPLETED: frozenset(),
    _S.HALTED: frozenset(),
    _S.SKIPPED: frozenset(),
}


class InvalidTransition(RuntimeError):
    """An internal bug: the runner tried a transition the table forbids."""

    def __init__(self, current: StepState, target: StepState) -> None:
        super().__init__(f"invalid step transition {current} -> {target}")
        self.current = current
        self.target = target


def check_transition(current: StepState, target: StepState) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(current, target)
