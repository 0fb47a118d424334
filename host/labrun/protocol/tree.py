"""The step tree: what a compiled protocol is, and what the run engine walks.

Every node is frozen. Its `path` names its place in the tree and is what events carry in
their `step` field: the root sequence is "", its steps are "0", "1", ..., and the children
of step "1" (the steps of a sequence, repeat or sweep, or the branches of a parallel) are
"1.0", "1.1", ... Indices count from 0. A path names a node, not one execution of it: the
third iteration of a repeat runs the same nodes as the first.

`estimate` is the node's static duration in seconds (None unknown, `math.inf` forever),
computed with the parameters' defaults. A node whose duration depends on a sweep variable
has no single static duration: its estimate is None, and its sweep's estimate sums the
iterations. `depends_on` lists the parameters and sweep variables a node's arguments (or
repeat counts) refer to, below it, apart from sweep variables bound below it: a node that
depends on nothing has the same estimate and arguments in every run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any, ClassVar

from pydantic import BaseModel

from labrun.plugin import ProcessSpec
from labrun.protocol.parameter import Parameter, bind
from labrun.protocol.reference import MapOf, Ref, lookup
from labrun.protocol.source import Position


class ErrorAction(StrEnum):
    """What follows when a process step fails (SEMANTICS.md "Failures and recovery")."""

    PAUSE = "pause"
    RETRY = "retry"
    SKIP = "skip"
    HALT = "halt"


@dataclass(frozen=True, slots=True)
class OnError:
    """A step's failure policy. `retry` tries `times` more times, then pauses.

    The first retry waits `backoff` seconds and each later one twice as long as the one
    before it.
    """

    action: ErrorAction = ErrorAction.PAUSE
    times: int = 0
    backoff: float = 0.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (1 for the first retry)."""
        return self.backoff * 2 ** (attempt - 1) if self.backoff else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    path: str
    id: str | None
    name: str | None
    position: Position
    estimate: float | None
    depends_on: tuple[str, ...] = ()

    kind: ClassVar[str] = "step"

    @property
    def children(self) -> tuple[Step, ...]:
        return ()

    def walk(self) -> Iterator[Step]:
        """This node, then every node below it, depth first in document order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, kw_only=True, slots=True)
class ProcessStep(Step):
    """Runs one process. `arguments` may refer to parameters and sweep variables."""

    process: str
    spec: ProcessSpec
    arguments: MapOf
    on_error: OnError = OnError()
    timeout: float | None = None

    kind: ClassVar[str] = "process"

    def resolve(self, env: Mapping[str, Any]) -> BaseModel:
        """The validated arguments for these parameter and sweep-variable values.

        Raises LookupError for a name `env` lacks, pydantic's ValidationError for values
        the argument model refuses.
        """
        return self.spec.validate(self.arguments.resolve(env))


@dataclass(frozen=True, kw_only=True, slots=True)
class SequenceStep(Step):
    steps: tuple[Step, ...]

    kind: ClassVar[str] = "sequence"

    @property
    def children(self) -> tuple[Step, ...]:
        return self.steps


@dataclass(frozen=True, kw_only=True, slots=True)
class ParallelStep(Step):
    """Runs its branches at the same time; done when every branch is."""

    branches: tuple[Step, ...]

    kind: ClassVar[str] = "parallel"

    @property
    def children(self) -> tuple[Step, ...]:
        return self.branches


@dataclass(frozen=True, kw_only=True, slots=True)
class RepeatStep(Step):
    """Runs its steps `count` times in a row."""

    count: int | Ref
    steps: tuple[Step, ...]

    kind: ClassVar[str] = "repeat"

    @property
    def children(self) -> tuple[Step, ...]:
        return self.steps

    def count_in(self, env: Mapping[str, Any]) -> int:
        """The number of iterations for these parameter values."""
        if isinstance(self.count, int):
            return self.count
        value = lookup(env, self.count.name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"${{{self.count.name}}} is {value!r}, not a count")
        return value


@dataclass(frozen=True, kw_only=True, slots=True)
class SweepStep(Step):
    """Runs its steps once per value, with `${variable}` bound to the value."""

    variable: str
    values: tuple[Any, ...]
    steps: tuple[Step, ...]

    kind: ClassVar[str] = "sweep"

    @property
    def children(self) -> tuple[Step, ...]:
        return self.steps


@dataclass(frozen=True)
class Protocol:
    """A compiled protocol: its declarations and its step tree."""

    name: str
    description: str
    file: str
    parameters: Mapping[str, Parameter]
    devices: Mapping[str, str]
    root: SequenceStep
    # For each of the protocol's device names used by a step, the drivers every step using
    # it accepts (empty: any driver); what a simulated bench builds without a configuration.
    device_drivers: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def estimate(self) -> float | None:
        """The static duration of the whole protocol, with the parameters' defaults."""
        return self.root.estimate

    def walk(self) -> Iterator[Step]:
        return self.root.walk()

    @cached_property
    def _index(self) -> dict[str, Step]:
        index: dict[str, Step] = {}
        for step in self.walk():
            index[step.path] = step
            if step.id is not None:
                index.setdefault(f"#{step.id}", step)
        return index

    def step(self, path: str) -> Step | None:
        """The node at `path`, or None."""
        return self._index.get(path)

    def step_by_id(self, step_id: str) -> Step | None:
        """The node whose `id` is `step_id`, or None."""
        return self._index.get(f"#{step_id}")

    @property
    def process_steps(self) -> int:
        """How many process steps the tree has (each counted once, however often it runs)."""
        return sum(isinstance(step, ProcessStep) for step in self.walk())

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every parameter's value for a run: `values` (typed, or text from a command line
        such as "37degC") converted and checked, defaults for the others.

        Raises ParameterError listing every problem.
        """
        return bind(self.parameters, values)


def timed_branches(branches: tuple[Step, ...]) -> tuple[Step, ...]:
    """The branches of a parallel step that set how long it lasts: a background process
    (such as a recorder) lasts as long as the others, so it is left out, unless every
    branch is one."""
    timed = tuple(b for b in branches if not (isinstance(b, ProcessStep) and b.spec.background))
    return timed or branches
