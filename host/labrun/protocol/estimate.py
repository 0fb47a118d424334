"""Duration estimates of step trees: seconds, None for unknown, `math.inf` for forever.

A sequence sums, a parallel takes its longest branch, a repeat multiplies and a sweep sums
its iterations. Forever wins over unknown (a sequence with a step that never ends never
ends); otherwise anything unknown makes the whole unknown.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

from labrun.protocol.reference import freeze
from labrun.protocol.tree import (
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    SequenceStep,
    Step,
    SweepStep,
    timed_branches,
)

# Checking or estimating one process step for one set of values; nested sweeps multiply.
MAX_EVALUATIONS = 20_000


def total(estimates: Iterable[float | None]) -> float | None:
    result = 0.0
    unknown = False
    for estimate in estimates:
        if estimate is None:
            unknown = True
        else:
            result += estimate
    if math.isinf(result):
        return result
    return None if unknown else result


def longest(estimates: Iterable[float | None]) -> float | None:
    result = 0.0
    unknown = False
    for estimate in estimates:
        if estimate is None:
            unknown = True
        else:
            result = max(result, estimate)
    if math.isinf(result):
        return result
    return None if unknown else result


def times(count: int, estimate: float | None) -> float | None:
    if count == 0 or estimate == 0:
        return 0.0
    if estimate is None:
        return None
    try:
        return count * estimate
    except OverflowError:  # a count too large for a float: as good as forever
        return math.inf


class Estimator:
    """Estimates nodes for given parameter and sweep-variable values, remembering results.

    A node that depends on nothing has its static estimate. Others are computed for the
    values of the names they depend on, once per distinct set of values; after
    MAX_EVALUATIONS process evaluations the rest are left unknown.
    """

    def __init__(self, *, unknown_as_zero: bool = False) -> None:
        self._memo: dict[tuple[int, Hashable], float | None] = {}
        self.evaluations = 0
        # Counting unknown durations as 0 gives the part of a duration that is known.
        self._zero = unknown_as_zero

    @property
    def exhausted(self) -> bool:
        return self.evaluations >= MAX_EVALUATIONS

    def key(self, step: Step, env: Mapping[str, Any]) -> tuple[int, Hashable]:
        return (id(step), tuple(freeze(env.get(name)) for name in step.depends_on))

    def remember(self, step: Step, env: Mapping[str, Any], estimate: float | None) -> None:
        self._memo[self.key(step, env)] = estimate

    def estimate(self, step: Step, env: Mapping[str, Any]) -> float | None:
        if not step.depends_on and (step.estimate is not None or not self._zero):
            return step.estimate
        if not step.depends_on and isinstance(step, ProcessStep):
            return 0.0
        key = self.key(step, env)
        if key not in self._memo:
            self._memo[key] = self._compute(step, env)
        return self._memo[key]

    def steps(self, steps: Iterable[Step], env: Mapping[str, Any]) -> float | None:
        return total(self.estimate(step, env) for step in steps)

    def branches(self, branches: Iterable[Step], env: Mapping[str, Any]) -> float | None:
        return longest(self.estimate(branch, env) for branch in timed_branches(tuple(branches)))

    def repeat(
        self, count: int | None, steps: Iterable[Step], env: Mapping[str, Any]
    ) -> float | None:
        return None if count is None else times(count, self.steps(steps, env))

    def sweep(
        self, variable: str, values: tuple[Any, ...], steps: Iterable[Step], env: Mapping[str, Any]
    ) -> float | None:
        parts: list[float | None] = []
        for step in steps:
            if variable in step.depends_on:
                parts.extend(self.estimate(step, {**env, variable: value}) for value in values)
            else:
                parts.append(times(len(values), self.estimate(step, env)))
        return total(parts)

    def _compute(self, step: Step, env: Mapping[str, Any]) -> float | None:
        if isinstance(step, ProcessStep):
            return self._process(step, env)
        if isinstance(step, SequenceStep):
            return self.steps(step.steps, env)
        if isinstance(step, ParallelStep):
            return self.branches(step.branches, env)
        if isinstance(step, RepeatStep):
            try:
                count: int | None = step.count_in(env)
            except (LookupError, ValueError):
                count = None
            return self.repeat(count, step.steps, env)
        if isinstance(step, SweepStep):
            return self.sweep(step.variable, step.values, step.steps, env)
        return None

    def _process(self, step: ProcessStep, env: Mapping[str, Any]) -> float | None:
        if self.exhausted:
            return None
        self.evaluations += 1
        try:
            estimate = step.spec.estimate(step.resolve(env))
        except Exception:  # noqa: BLE001 - bad values or a failing estimator: unknown
            estimate = None
        return 0.0 if estimate is None and self._zero else estimate


def known_duration(protocol: Protocol) -> float:
    """The protocol's duration counting only the steps whose duration is known: a lower
    bound when some are unknown (a prompt lasts as long as the operator takes)."""
    defaults = {name: p.default for name, p in protocol.parameters.items() if p.has_default}
    known = Estimator(unknown_as_zero=True).estimate(protocol.root, defaults)
    return 0.0 if known is None else known
