"""A compiled protocol as JSON, stored with each run so that it reads back as it ran.

Arguments are written as in the protocol file, `${...}` references included; the run's
parameter values are stored beside the snapshot.
"""

from __future__ import annotations

from typing import Any

from labrun.duration import duration_json
from labrun.protocol.reference import format_value
from labrun.protocol.tree import (
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    Step,
    SweepStep,
)


def snapshot(protocol: Protocol) -> dict[str, Any]:
    return {
        "name": protocol.name,
        "description": protocol.description,
        "file": protocol.file,
        "parameters": {
            name: {"summary": parameter.summary(), "description": parameter.description}
            for name, parameter in protocol.parameters.items()
        },
        "devices": dict(protocol.devices),
        "estimate": duration_json(protocol.estimate),
        "steps": [_step(step) for step in protocol.root.steps],
    }


def _step(step: Step) -> dict[str, Any]:
    node: dict[str, Any] = {"path": step.path, "kind": step.kind}
    if step.id is not None:
        node["id"] = step.id
    if step.name is not None:
        node["name"] = step.name
    node["estimate"] = duration_json(step.estimate)
    if isinstance(step, ProcessStep):
        node["process"] = step.process
        node["arguments"] = step.arguments.show()
        node["on_error"] = {
            "action": step.on_error.action.value,
            "times": step.on_error.times,
            "backoff": step.on_error.backoff,
        }
        if step.timeout is not None:
            node["timeout"] = step.timeout
    elif isinstance(step, RepeatStep):
        node["count"] = step.count if isinstance(step.count, int) else step.count.show()
    elif isinstance(step, SweepStep):
        node["variable"] = step.variable
        node["values"] = [format_value(value) for value in step.values]
    if not isinstance(step, ProcessStep):
        key = "branches" if isinstance(step, ParallelStep) else "steps"
        node[key] = [_step(child) for child in step.children]
    return node
