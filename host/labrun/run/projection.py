"""The run's state as a projection of its events: `RunView.apply(event)`, one at a time.

The engine applies every event as it is emitted, and replaying a run's stored events into
a fresh `RunView` rebuilds exactly the same state: nothing here reads a clock or anything
but the events. The view is bounded by the size of the step tree, not by the length of the
run: `steps` holds, per tree path, the latest execution of that node (its key says which).

Times are absolute. A client computes the clocks itself: the run's elapsed time is now
minus `started` minus `paused_seconds` (and minus now - the open pause's start while
paused); a step's is the same from its own fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from labrun.event import Event, EventType
from labrun.run.key import RUN
from labrun.run.state import RunState
from labrun.state import StepState

_RUNNING = StepState.RUNNING
_PAUSED = StepState.PAUSED


@dataclass(slots=True)
class Pause:
    """A time the run was not moving: paused, or down between a crash and its resume."""

    start: datetime
    end: datetime | None = None


@dataclass(slots=True)
class StepView:
    """The latest execution of one node of the tree. `key` names the execution (key.py)."""

    key: str
    state: StepState
    started: datetime | None = None
    ended: datetime | None = None
    location: Any = None
    point: Any = None
    # The last duration report: seconds left (None unknown, inf forever) as of `estimated_at`.
    remaining: float | None = None
    estimated_at: datetime | None = None
    paused_since: datetime | None = None
    paused_seconds: float = 0.0
    error: str | None = None
    result: Any = None
    restarts: int = 0
    # The sequence number of its last state change: which sibling moved last.
    seq: int = 0

    def running_seconds(self, now: datetime) -> float:
        """How long it has been running, not counting its pauses."""
        if self.started is None:
            return 0.0
        end = self.ended or now
        paused = self.paused_seconds
        if self.paused_since is not None:
            paused += (end - self.paused_since).total_seconds()
        return max(0.0, (end - self.started).total_seconds() - paused)


@dataclass(slots=True)
class RunView:
    state: RunState = RunState.PENDING
    started: datetime | None = None
    ended: datetime | None = None
    pauses: list[Pause] = field(default_factory=list)
    # The length of the closed pauses.
    paused_seconds: float = 0.0
    steps: dict[str, StepView] = field(default_factory=dict)
    last_seq: int = 0
    last_time: datetime | None = None

    def elapsed(self, now: datetime) -> float:
        """Seconds the run has been moving: since its start, less its pauses."""
        if self.started is None:
            return 0.0
        end = self.ended or now
        paused = self.paused_seconds
        if self.pauses and self.pauses[-1].end is None:
            paused += (end - self.pauses[-1].start).total_seconds()
        return max(0.0, (end - self.started).total_seconds() - paused)

    def apply(self, event: Event) -> None:
        step = event.step
        if step == RUN:
            self._apply_run(event)
        else:
            type = event.type
            if type is EventType.STATE:
                self._apply_state(event)
            else:
                view = self.steps.get(step.partition("@")[0])
                if view is not None and view.key == step:
                    _apply_step(view, event)
        self.last_seq = event.seq
        self.last_time = event.time

    def _apply_run(self, event: Event) -> None:
        payload = event.payload
        if event.type is EventType.STATE:
            state = RunState(payload["state"])
            previous = RunState(payload["previous"])
            paused = bool(self.pauses) and self.pauses[-1].end is None
            if previous is RunState.INTERRUPTED and not paused:
                # The run stood still from its last event before the crash until now.
                self.pauses.append(Pause(self.last_time or event.time))
            if self.state is RunState.PENDING and state is RunState.RUNNING:
                self.started = event.time
            if state is not RunState.PAUSED and self.pauses and self.pauses[-1].end is None:
                pause = self.pauses[-1]
                pause.end = event.time
                self.paused_seconds += (event.time - pause.start).total_seconds()
            elif state is RunState.PAUSED and self.state is not RunState.PAUSED:
                self.pauses.append(Pause(event.time))
            if state.is_final:
                self.ended = event.time
            self.state = state
        elif event.type is EventType.REQUEST and "mapping" in payload:
            self._remap(payload["mapping"])

    def _remap(self, mapping: dict[str, str]) -> None:
        """A swap: the views follow their nodes to their paths in the new tree."""
        steps: dict[str, StepView] = {}
        for old, view in self.steps.items():
            new = mapping.get(old)
            if new is not None:
                _, at, iterations = view.key.partition("@")
                view.key = f"{new}{at}{iterations}"
                steps[new] = view
        self.steps = steps

    def _apply_state(self, event: Event) -> None:
        step = event.step
        path = step.partition("@")[0]
        payload = event.payload
        state = StepState(payload["state"])
        view = self.steps.get(path)
        if view is None or view.key != step or (state is _RUNNING and view.state.is_final):
            view = self.steps[path] = StepView(step, state)
        elif state is _RUNNING and view.paused_since is not None:
            view.paused_seconds += (event.time - view.paused_since).total_seconds()
            view.paused_since = None
        if state is _RUNNING and view.started is None:
            view.started = event.time
        elif state is _PAUSED:
            view.paused_since = event.time
        elif state is StepState.FAILED:
            view.error = payload.get("error")
        elif state.is_final:
            if view.paused_since is not None:
                view.paused_seconds += (event.time - view.paused_since).total_seconds()
                view.paused_since = None
            view.ended = event.time
            view.result = payload.get("result")
            # A failed step that is skipped or halted keeps its error in the record.
            if "error" in payload:
                view.error = payload["error"]
        if state is _RUNNING:
            view.error = None
        view.state = state
        view.seq = event.seq


def _apply_step(view: StepView, event: Event) -> None:
    type = event.type
    payload = event.payload
    if type is EventType.LOCATION:
        view.location = payload["location"]
        view.point = payload["point"]
    elif type is EventType.DURATION:
        view.remaining = seconds_from_json(payload["remaining"])
        view.estimated_at = event.time
    elif type is EventType.RESTART:
        view.point = payload["point"]
        view.restarts += 1


def seconds_from_json(value: Any) -> float | None:
    """A duration in its JSON form (duration.duration_json) as seconds."""
    if value == "forever":
        return math.inf
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
