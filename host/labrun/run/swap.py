"""Swapping an edited protocol into a running run: mapping the old tree onto the new one.

Steps are matched by their ids. Where the run is must be found again, in the same place:

- each branch's step (the process step it runs, the parallel step it forked at, or the step
  it finished last while it waits before the next one) needs an id, found in the new
  protocol on a step of the same kind, running the same process;
- the steps around it up to its branch's first step (the sequences, loops and parallels it
  is inside of) must nest the same way in the new protocol: each the same kind, with the
  same id when it has one, and each loop with the iterations the run has reached;
- a running step whose arguments changed must be able to take new ones (running, pausing
  or paused, not failed), and the new arguments must be valid;
- the run's parameter values must fit the new protocol's parameters.

Any of these failing refuses the swap with a diagnostic per problem, and nothing changes.
Otherwise the mapping (old path -> new path) covers where the run is and the steps around
it, the branches of running parallel steps (by id, else by their place), and every other
old step whose id the new protocol has: those keep their history in the run's state;
others (steps without ids the run is not in) drop out of it. Steps not yet run use the new
definitions; running steps whose arguments changed get swap(data).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from labrun._validation import error_lines
from labrun.protocol.diagnostic import Diagnostic, Severity
from labrun.protocol.parameter import ParameterError
from labrun.protocol.source import Source
from labrun.protocol.tree import ParallelStep, ProcessStep, Protocol, Step
from labrun.run.cursor import Position, Tree
from labrun.run.key import parent_path
from labrun.state import StepState

if TYPE_CHECKING:
    from labrun.run.branch import Branch, Execution


@dataclass
class SwapPlan:
    tree: Tree
    # Old path -> new path.
    mapping: dict[str, str] = field(default_factory=lambda: {"": ""})
    # Execution key -> the new arguments of a running step whose arguments changed.
    data: dict[str, BaseModel] = field(default_factory=dict)


def plan_swap(
    old: Tree,
    new: Protocol,
    *,
    source: str | None,
    branches: Iterable[Branch],
    executions: Iterable[Execution],
) -> SwapPlan | list[Diagnostic]:
    """The plan to swap `new` in, or the diagnostics saying why it cannot be."""
    planner = _Planner(old, new, source)
    try:
        parameters = new.bind(old.parameters)
    except ParameterError as error:
        for problem in error.problems:
            planner.problem(None, f"the run's parameter values do not fit: {problem}")
        return planner.problems
    plan = SwapPlan(Tree(new, parameters))
    planner.plan = plan
    branches = list(branches)
    for branch in branches:
        if branch.running and branch.position is not None:
            planner.anchor(branch.position, branch.scope.path)
    for branch in branches:
        if branch.parent is not None:
            planner.branch(branch)
    for execution in executions:
        planner.execution(execution)
    planner.rest()
    return planner.problems or plan


class _Planner:
    def __init__(self, old: Tree, new: Protocol, source: str | None) -> None:
        self.old = old
        self.new = new
        self.source = None if source is None else Source(new.file, source)
        self.problems: list[Diagnostic] = []
        self.plan = SwapPlan(old)

    def problem(self, step: Step | None, message: str, hint: str | None = None) -> None:
        if step is None:
            self.problems.append(Diagnostic(self.new.file, 0, 0, Severity.ERROR, message, hint))
            return
        file, line, column = step.position
        if self.source is not None and file == self.source.name:
            self.problems.append(self.source.diagnostic(line, column, message, hint))
        else:
            self.problems.append(Diagnostic(file, line, column, Severity.ERROR, message, hint))

    def anchor(self, position: Position, scope: str) -> None:
        """Map the step a branch is at, and the steps around it up to its first step."""
        old_step = self.old.node(position.path)
        new_step = self._by_id(old_step)
        if new_step is None:
            return
        old_around = self._around(self.old.protocol, old_step.path, scope)
        new_around = self._around(self.new, new_step.path, None)
        for depth, old in enumerate(old_around):
            new = new_around[depth] if depth < len(new_around) else None
            if new is None or new.kind != old.kind or (old.id is not None and old.id != new.id):
                self.problem(
                    new_step,
                    f"step {_name(old_step)} is where the run is, and it moved: it is not "
                    f"inside {_describe(old)} {_name(old)} any more",
                    "keep the steps the run is in nested as they are; edit around them",
                )
                return
        for old, new in zip([old_step, *old_around], [new_step, *new_around], strict=False):
            self._map(old, new)
        problem = self.plan.tree.check(Position(new_step.path, position.iterations))
        if problem is not None:
            self.problem(new_step, f"the run is at step {_name(old_step)}, and {problem}")

    def branch(self, branch: Branch) -> None:
        """Map the first step of a parallel branch: by id, else by its place."""
        old = self.old.node(branch.scope.path)
        if old.path in self.plan.mapping:
            return
        new = self.new.step_by_id(old.id) if old.id is not None else None
        parent = self.plan.mapping.get(parent_path(old.path))
        if new is None and parent is not None:
            fork = self.new.step(parent)
            index = int(old.path.rpartition(".")[2])
            if isinstance(fork, ParallelStep) and index < len(fork.branches):
                new = fork.branches[index]
        if new is not None and new.kind == old.kind and parent_path(new.path) == parent:
            self._map(old, new)
        elif branch.running:
            self.problem(
                None,
                f"the running branch {_name(old)} of parallel step {parent_path(old.path)} "
                "is not in the new protocol",
                "keep the branches of a running parallel step, or give them ids",
            )

    def execution(self, execution: Execution) -> None:
        path = self.plan.mapping.get(execution.node.path)
        if path is None:
            return
        node = self.plan.tree.node(path)
        assert isinstance(node, ProcessStep)
        try:
            data = node.resolve(self.plan.tree.env(path, execution.position.iterations))
        except ValidationError as error:
            self.problem(node, "invalid arguments: " + "; ".join(error_lines(error)))
            return
        except (LookupError, ValueError) as error:
            self.problem(node, f"invalid arguments: {error}")
            return
        if data == execution.runner.data:
            return
        state = execution.runner.state
        if state not in (StepState.RUNNING, StepState.PAUSING, StepState.PAUSED):
            self.problem(
                node,
                f"the arguments of step {_name(node)} changed, but it is {state} and "
                "cannot take new ones",
                "retry or skip it first",
            )
            return
        self.plan.data[execution.key] = data

    def rest(self) -> None:
        """Map every other old step whose id the new protocol has."""
        mapping = self.plan.mapping
        taken = set(mapping.values())
        for old in self.old.protocol.walk():
            if old.path in mapping or old.id is None:
                continue
            new = self.new.step_by_id(old.id)
            if new is not None and new.kind == old.kind and new.path not in taken:
                mapping[old.path] = new.path
                taken.add(new.path)

    def _map(self, old: Step, new: Step) -> None:
        mapping = self.plan.mapping
        known = mapping.get(old.path)
        if known is None and new.path in mapping.values():
            self.problem(new, f"two steps where the run is would both be step {_name(new)}")
        mapping[old.path] = new.path

    def _by_id(self, old: Step) -> Step | None:
        if old.id is None:
            self.problem(
                None,
                f"step {old.path} ({_describe(old)} at line {old.position.line}) is where "
                "the run is, and it has no id, so it cannot be found in the new protocol",
                "give the steps the run may be in an id (id: ...)",
            )
            return None
        new = self.new.step_by_id(old.id)
        if new is None:
            self.problem(
                None,
                f"step '{old.id}' is where the run is, and the new protocol "
                "has no step with that id",
            )
            return None
        if _describe(new) != _describe(old):
            self.problem(
                new,
                f"step '{old.id}' is where the run is, and it was {_describe(old)}, "
                f"not {_describe(new)}",
                "a step the run is in keeps what it does; give the new step another id",
            )
            return None
        return new

    def _around(self, protocol: Protocol, path: str, scope: str | None) -> list[Step]:
        """The nodes `path` is inside of, innermost first, up to `scope` (the root excluded)."""
        found: list[Step] = []
        while path and path != scope:
            path = parent_path(path)
            node = protocol.step(path)
            if path and node is not None:
                found.append(node)
        return found


def _name(step: Step) -> str:
    return f"'{step.id}'" if step.id is not None else step.path


def _describe(step: Step) -> str:
    if isinstance(step, ProcessStep):
        return f"a {step.process} step"
    return f"a {step.kind} step"
