"""Steps and durations written for people: `1 h 30 min`, `repeat 3 times`."""

from __future__ import annotations

import math

from labrun.protocol.estimate import known_duration
from labrun.protocol.reference import format_value
from labrun.protocol.tree import (
    ErrorAction,
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    Step,
    SweepStep,
)

_UNITS = (("d", 86400), ("h", 3600), ("min", 60))
_SHOWN_VALUES = 4


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if math.isinf(seconds):
        return "forever"
    if seconds < 60:
        return f"{seconds:.3g} s"
    parts = []
    rest = round(seconds)
    for name, size in _UNITS:
        if rest >= size:
            parts.append(f"{rest // size} {name}")
            rest %= size
    if rest:
        parts.append(f"{rest} s")
    return " ".join(parts[:2])


def estimate_text(protocol: Protocol) -> str:
    """The estimate, and when some steps' durations are unknown, the part that is known."""
    text = format_duration(protocol.estimate)
    if protocol.estimate is None:
        text += f" (at least {format_duration(known_duration(protocol))})"
    return text


def step_label(step: Step) -> str:
    """What a step does, with its name and id."""
    if isinstance(step, ProcessStep):
        text = f"{step.process} {_arguments(step)}".rstrip() + _policy(step)
    elif isinstance(step, ParallelStep):
        text = f"parallel, {len(step.branches)} branches"
    elif isinstance(step, RepeatStep):
        count = step.count if isinstance(step.count, int) else step.count.show()
        text = f"repeat {count} times"
    elif isinstance(step, SweepStep):
        values = ", ".join(format_value(value) for value in step.values[:_SHOWN_VALUES])
        more = f", ... ({len(step.values)} values)" if len(step.values) > _SHOWN_VALUES else ""
        text = f"sweep {step.variable} over {values}{more}"
    else:
        text = "steps"
    if step.name:
        text = f"{step.name}: {text}"
    if step.id:
        text += f" #{step.id}"
    return text


def _arguments(step: ProcessStep) -> str:
    items = step.arguments.items
    if len(items) == 1:
        return items[0][1].show()
    return ", ".join(f"{key}: {value.show()}" for key, value in items)


def _policy(step: ProcessStep) -> str:
    parts = []
    policy = step.on_error
    if policy.action is ErrorAction.RETRY:
        backoff = f", backoff {format_duration(policy.backoff)}" if policy.backoff else ""
        parts.append(f"on error retry {policy.times} times{backoff}")
    elif policy.action is not ErrorAction.PAUSE:
        parts.append(f"on error {policy.action}")
    if step.timeout is not None:
        parts.append(f"timeout {format_duration(step.timeout)}")
    return f" [{'; '.join(parts)}]" if parts else ""
