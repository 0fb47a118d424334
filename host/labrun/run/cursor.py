"""Walking the step tree: positions, where a walk starts, and what comes after a step.

A position is a node and the iteration of each loop (repeat or sweep) around it. A branch
stops at two kinds of node: a process step, which it runs, and a parallel step, which it
forks into one branch per child. Everything else (sequences, loops) it walks through. What
comes next is computed from the position and the tree each time, never kept on a stack,
so that a jump, a swap of the tree or a resume after a crash only has to set a position.

Where a walk starts is a `Start`: a position, the point to resume a process step from, and
at a parallel step how each of its branches starts (None for a branch already done).
`Start`s for a jump and for a resume come from the run's projection: a branch that ran to
its end in the current iteration is done, one that never started starts at its beginning,
and one in the middle goes on from its latest step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from labrun.protocol.reference import format_value
from labrun.protocol.tree import (
    ParallelStep,
    ProcessStep,
    Protocol,
    RepeatStep,
    SequenceStep,
    Step,
    SweepStep,
)
from labrun.run.key import RUN, format_key, is_within, parent_path
from labrun.run.projection import RunView, StepView
from labrun.state import StepState

Loop = RepeatStep | SweepStep


class Position(NamedTuple):
    path: str
    iterations: tuple[int, ...] = ()

    @property
    def key(self) -> str:
        return format_key(self.path, self.iterations)


@dataclass(frozen=True)
class Start:
    position: Position
    # Set when a process step goes on with an execution a crash interrupted.
    point: Any = None
    resumed: bool = False
    # At a parallel step: the start of each branch by its path, None when it is done.
    branches: Mapping[str, Start | None] = field(default_factory=dict)


class Tree:
    """A protocol with its parameter values: what a cursor moves through."""

    def __init__(self, protocol: Protocol, parameters: Mapping[str, Any]) -> None:
        self.protocol = protocol
        self.parameters = dict(parameters)
        self._loops: dict[str, tuple[Loop, ...]] = {}
        self._chains: dict[tuple[str, str], tuple[tuple[str, int], ...]] = {}

    def node(self, path: str) -> Step:
        node = self.protocol.step(path)
        if node is None:
            raise LookupError(f"no step {path!r} in the protocol")
        return node

    def loops_around(self, path: str) -> tuple[Loop, ...]:
        """The repeats and sweeps that enclose the node at `path`, outermost first."""
        loops = self._loops.get(path)
        if loops is None:
            if not path:
                loops = ()
            else:
                parent = parent_path(path)
                node = self.node(parent)
                loops = self.loops_around(parent)
                if isinstance(node, RepeatStep | SweepStep):
                    loops = (*loops, node)
            self._loops[path] = loops
        return loops

    def env(self, path: str, iterations: tuple[int, ...]) -> dict[str, Any]:
        """The parameters, and the value of each enclosing sweep's variable."""
        env = self.parameters
        for loop, index in zip(self.loops_around(path), iterations, strict=True):
            if isinstance(loop, SweepStep):
                if env is self.parameters:
                    env = dict(env)
                env[loop.variable] = loop.values[index]
        return env

    def count(self, loop: Loop, iterations: tuple[int, ...]) -> int:
        if isinstance(loop, SweepStep):
            return len(loop.values)
        if isinstance(loop.count, int):
            return loop.count
        return loop.count_in(self.env(loop.path, iterations))

    def iteration_location(self, loop: Loop, iterations: tuple[int, ...]) -> dict[str, Any]:
        """What a loop shows while it runs its iteration `iterations[-1]`."""
        index = iterations[-1]
        location: dict[str, Any] = {
            "iteration": index,
            "count": self.count(loop, iterations[:-1]),
        }
        if isinstance(loop, SweepStep):
            location["variable"] = loop.variable
            location["value"] = format_value(loop.values[index])
        return location

    def check(self, position: Position) -> str | None:
        """Why `position` is not a place in this tree, or None."""
        node = self.protocol.step(position.path)
        if node is None:
            return f"there is no step {position.path}"
        loops = self.loops_around(position.path)
        if len(loops) != len(position.iterations):
            return (
                f"step {position.path} is inside {len(loops)} repeat or sweep "
                f"step{'s' if len(loops) != 1 else ''}, so it takes {len(loops)} "
                f"iteration{'s' if len(loops) != 1 else ''}, not {len(position.iterations)}"
            )
        for depth, (loop, index) in enumerate(zip(loops, position.iterations, strict=True)):
            count = self.count(loop, position.iterations[:depth])
            if index >= count:
                return (
                    f"iteration {index} of step {loop.path} does not exist: it runs "
                    f"{count} time{'s' if count != 1 else ''} (counted from 0)"
                )
        return None

    # Moving.

    def first(self, path: str, iterations: tuple[int, ...]) -> Position | None:
        """The first place a branch stops at in the node at `path`; None if it is empty."""
        node = self.node(path)
        if isinstance(node, ProcessStep | ParallelStep):
            return Position(path, iterations)
        if isinstance(node, SequenceStep):
            return self._first_child(node, 0, iterations)
        assert isinstance(node, RepeatStep | SweepStep)
        return self._next_iteration(node, iterations, 0)

    def _first_child(
        self, node: SequenceStep | Loop, index: int, iterations: tuple[int, ...]
    ) -> Position | None:
        for child in node.steps[index:]:
            position = self.first(child.path, iterations)
            if position is not None:
                return position
        return None

    def _next_iteration(
        self, loop: Loop, iterations: tuple[int, ...], index: int
    ) -> Position | None:
        count = self.count(loop, iterations)
        while index < count:
            position = self._first_child(loop, 0, (*iterations, index))
            if position is not None:
                return position
            if isinstance(loop, RepeatStep):
                # Every iteration of a repeat is the same as the one found empty.
                return None
            index += 1
        return None

    def after(self, position: Position, scope: str) -> Position | None:
        """Where a branch confined to the node at `scope` stops after finishing `position`."""
        path, iterations = position
        while path != scope:
            parent = self.node(parent_path(path))
            index = int(path.rpartition(".")[2])
            if isinstance(parent, SequenceStep):
                found = self._first_child(parent, index + 1, iterations)
            else:
                assert isinstance(parent, RepeatStep | SweepStep), "a branch left its parallel"
                found = self._first_child(parent, index + 1, iterations)
                if found is None:
                    found = self._next_iteration(parent, iterations[:-1], iterations[-1] + 1)
                iterations = iterations[:-1]
            if found is not None:
                return found
            path = parent.path
        return None

    def chain(self, position: Position, scope: str) -> list[Position]:
        """The sequences and loops from `scope` (included, unless it is the root) down to
        `position` (excluded) that a branch is inside of when it stops there."""
        iterations = position.iterations
        return [
            Position(path, iterations[:depth]) for path, depth in self._chain(position.path, scope)
        ]

    def _chain(self, path: str, scope: str) -> tuple[tuple[str, int], ...]:
        """`chain` as paths and how many iterations each one's key takes; the same for
        every iteration, so computed once per node."""
        cached = self._chains.get((path, scope))
        if cached is None:
            found: list[tuple[str, int]] = []
            here = path
            while here != scope:
                here = parent_path(here)
                if here:
                    found.append((here, len(self.loops_around(here))))
            found.reverse()
            cached = self._chains[(path, scope)] = tuple(found)
        return cached

    # Where to start.

    def start_at(self, target: Position, scope: Position, view: RunView) -> Start | None:
        """How a branch confined to `scope` starts so as to be at `target` (a jump).

        Inside a parallel step on the way, the branch holding the target starts there and
        each other branch resumes as the projection says.
        """
        fork = next(
            (p for p in self._between(scope.path, target.path) if self._is_parallel(p)), None
        )
        if fork is None:
            first = self.first(target.path, target.iterations)
            if first is None:
                return self._start_after(target, scope)
            return Start(first)
        at = Position(fork, target.iterations[: len(self.loops_around(fork))])
        branches: dict[str, Start | None] = {}
        for branch in self.node(fork).children:
            inner = Position(branch.path, at.iterations)
            if is_within(target.path, branch.path):
                branches[branch.path] = self.start_at(target, inner, view)
            else:
                branches[branch.path] = self.resume(inner, view)
        return Start(at, branches=branches)

    def _is_parallel(self, path: str) -> bool:
        return isinstance(self.protocol.step(path), ParallelStep)

    def _between(self, scope: str, path: str) -> list[str]:
        """The nodes from `scope` (included) down to `path` (excluded), outermost first."""
        between = []
        while path != scope:
            path = parent_path(path)
            between.append(path)
        between.reverse()
        return between

    def resume(self, scope: Position, view: RunView) -> Start | None:
        """How a branch confined to `scope` goes on from where the projection says it is."""
        node = self.node(scope.path)
        here = scope
        while True:
            # The root is the run itself, which has no step view: it is under way.
            seen = view.steps.get(here.path) if here.path else StepView(RUN, StepState.RUNNING)
            if seen is None or seen.key != here.key:
                first = self.first(here.path, here.iterations)
                if first is None:
                    return self._start_after(here, scope)
                return Start(first)
            if seen.state.is_final:
                return self._start_after(here, scope)
            if isinstance(node, ProcessStep):
                return Start(here, point=seen.point, resumed=True)
            if isinstance(node, ParallelStep):
                branches = {
                    branch.path: self.resume(Position(branch.path, here.iterations), view)
                    for branch in node.branches
                }
                return Start(here, branches=branches)
            assert isinstance(node, SequenceStep | RepeatStep | SweepStep)
            iterations = here.iterations
            if isinstance(node, RepeatStep | SweepStep):
                location = seen.location if isinstance(seen.location, dict) else {}
                iterations = (*iterations, int(location.get("iteration", 0)))
            latest = self._latest_child(node, iterations, view)
            if latest is None:
                first = self._first_in_iteration(node, iterations)
                if first is None:
                    return self._start_after(here, scope)
                return Start(first)
            node = latest
            here = Position(latest.path, iterations)

    def _first_in_iteration(
        self, node: SequenceStep | Loop, iterations: tuple[int, ...]
    ) -> Position | None:
        if isinstance(node, SequenceStep):
            return self._first_child(node, 0, iterations)
        return self._next_iteration(node, iterations[:-1], iterations[-1])

    def _latest_child(
        self, node: SequenceStep | Loop, iterations: tuple[int, ...], view: RunView
    ) -> Step | None:
        latest: Step | None = None
        latest_seq = -1
        for child in node.steps:
            seen = view.steps.get(child.path)
            if (
                seen is not None
                and seen.seq > latest_seq
                and seen.key == format_key(child.path, iterations)
            ):
                latest, latest_seq = child, seen.seq
        return latest

    def _start_after(self, here: Position, scope: Position) -> Start | None:
        if here.path == scope.path:
            return None
        after = self.after(here, scope.path)
        return None if after is None else Start(after)
