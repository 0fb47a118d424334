"""What the run store holds and hands out, as pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

from labrun.run.state import RunState
from labrun.state import StepState


class StepResult(BaseModel):
    """Where one step of a run got to; `point` is the last restart point it reported."""

    model_config = ConfigDict(frozen=True)

    state: StepState
    started: AwareDatetime | None = None
    ended: AwareDatetime | None = None
    result: JsonValue = None
    error: str | None = None
    point: JsonValue = None


class RunRecord(BaseModel):
    """A run as stored: what was run, by whom, with what, and how far it got.

    `steps` is keyed by step path. `protocol_snapshot` is the compiled protocol as JSON,
    so that the run can be read back exactly as it ran after its file changed.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    protocol_name: str
    protocol_source: str
    protocol_snapshot: JsonValue
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    started_by: str
    status: RunState = RunState.PENDING
    created: AwareDatetime
    started: AwareDatetime | None = None
    ended: AwareDatetime | None = None
    steps: dict[str, StepResult] = Field(default_factory=dict)


class RunSummary(BaseModel):
    """A line of a run listing."""

    model_config = ConfigDict(frozen=True)

    id: str
    protocol_name: str
    started_by: str
    status: RunState
    created: AwareDatetime
    started: AwareDatetime | None
    ended: AwareDatetime | None
    event_count: int


class OperatorAction(BaseModel):
    """A request an operator made: who, when, what, to which step (a request event)."""

    model_config = ConfigDict(frozen=True)

    seq: int
    time: AwareDatetime
    by: str | None
    request: str
    step: str
    details: dict[str, Any] = Field(default_factory=dict)
