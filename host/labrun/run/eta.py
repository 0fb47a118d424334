"""How long a run has left: static estimates, corrected by what the run reports.

A pure function of the tree, the run's projection and the time, so that any host holding
the events computes the same figure. Per node:

- done (its latest execution in this iteration is final): nothing left;
- not started in this iteration: its static estimate for these parameter and sweep
  values (protocol/estimate.py);
- a running process step: its latest duration report less the running time since it, or,
  with no report, its static estimate less its running time, never below zero;
- a running sequence or loop: what is left of its latest child (the one that moved last,
  which after a jump is the one jumped to), plus the estimates of the children after it
  and of the iterations after the current one; a parallel: its longest branch.

Seconds; None when something left is unknown, `math.inf` when something never ends.
"""

from __future__ import annotations

from datetime import datetime

from labrun.protocol.estimate import Estimator, longest, times, total
from labrun.protocol.tree import (
    ParallelStep,
    ProcessStep,
    RepeatStep,
    SequenceStep,
    Step,
    SweepStep,
    timed_branches,
)
from labrun.run.cursor import Position, Tree
from labrun.run.key import format_key
from labrun.run.projection import RunView, StepView
from labrun.run.state import RunState
from labrun.state import StepState


def remaining(tree: Tree, view: RunView, now: datetime) -> float | None:
    """Seconds the run has left at `now`."""
    if view.state.is_final:
        return 0.0
    root = Position("")
    left = _Left(tree, view, now)
    if view.state is RunState.PENDING:
        return left.full(tree.protocol.root, root)
    return left.node(tree.protocol.root, root)


class _Left:
    def __init__(self, tree: Tree, view: RunView, now: datetime) -> None:
        self.tree = tree
        self.view = view
        self.now = now
        self.estimator = Estimator()

    def full(self, node: Step, position: Position) -> float | None:
        return self.estimator.estimate(node, self.tree.env(position.path, position.iterations))

    def node(self, node: Step, position: Position) -> float | None:
        tree, view = self.tree, self.view
        seen = view.steps.get(position.path) if position.path else None
        if position.path and (seen is None or seen.key != position.key):
            return self.full(node, position)
        if seen is not None and seen.state.is_final:
            return 0.0
        if isinstance(node, ProcessStep):
            assert seen is not None
            return self.process(node, position, seen)
        if isinstance(node, ParallelStep):
            return longest(
                self.node(branch, Position(branch.path, position.iterations))
                for branch in timed_branches(node.branches)
            )
        assert isinstance(node, SequenceStep | RepeatStep | SweepStep)
        iterations = position.iterations
        later: list[float | None] = []
        if isinstance(node, RepeatStep | SweepStep):
            location = seen.location if seen is not None and isinstance(seen.location, dict) else {}
            index = int(location.get("iteration", 0))
            env = tree.env(node.path, iterations)
            if isinstance(node, RepeatStep):
                count = tree.count(node, iterations) - index - 1
                later.append(times(max(0, count), self.estimator.steps(node.steps, env)))
            else:
                for value in node.values[index + 1 :]:
                    later.append(self.estimator.steps(node.steps, {**env, node.variable: value}))
            iterations = (*iterations, index)
        latest, latest_seq = -1, -1
        for index, child in enumerate(node.steps):
            child_seen = view.steps.get(child.path)
            if (
                child_seen is not None
                and child_seen.seq > latest_seq
                and child_seen.key == format_key(child.path, iterations)
            ):
                latest, latest_seq = index, child_seen.seq
        parts: list[float | None] = []
        for index, child in enumerate(node.steps):
            if index == latest:
                parts.append(self.node(child, Position(child.path, iterations)))
            elif index > latest:
                parts.append(self.full(child, Position(child.path, iterations)))
        return total([*parts, *later])

    def process(self, node: ProcessStep, position: Position, seen: StepView) -> float | None:
        now = self.now
        if seen.estimated_at is not None:
            reported = seen.remaining
            if reported is None:
                return None
            until = now if seen.state is not StepState.PAUSED else (seen.paused_since or now)
            since = max(0.0, (until - seen.estimated_at).total_seconds())
            return max(0.0, reported - since)
        estimate = self.full(node, position)
        if estimate is None:
            return None
        return max(0.0, estimate - seen.running_seconds(now))
