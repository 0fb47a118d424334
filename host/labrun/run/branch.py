"""A branch: one cursor moving through part of the step tree, in its own task.

The run's main branch covers the whole tree. At a parallel step a branch forks one child
branch per parallel child and waits for all of them. Process steps run inline in their
branch's task through a `StepRunner`.

Between two steps a branch stops at its gate: it ends there when the run halts, holds
there while the run is pausing or paused, and waits there for slow sinks to catch up.
A jump cancels the branch's task; the branch takes the cancellation back and starts
again at the jump's `Start`, the step it was running having ended halted.

A branch opens the sequences and loops around the step it moves to (a state event
`running`, and for a loop a location event with its iteration) and closes those it leaves
(`completed`, or `halted` when a jump or a halt takes it out). The projection says which are
open, so a branch resumed after a crash or a jump does not open them twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labrun.event import EventType
from labrun.plugin import FINISH
from labrun.protocol.tree import ParallelStep, ProcessStep, RepeatStep, SweepStep
from labrun.run.cursor import Position, Start, Tree
from labrun.run.key import is_within
from labrun.run.policy import Guard
from labrun.state import StepState
from labrun.step import StepRunner

if TYPE_CHECKING:
    from labrun.run.engine import Run

# Steps run between two forced yields to the event loop, for processes that never await.
_YIELD_EVERY = 64


class PromptingRunner(StepRunner):
    """A step runner that tells the engine when its process starts waiting for an answer."""

    on_receive: Any = None

    async def _receive(self, context: Any, within: float | None = None) -> Any:
        if self.on_receive is not None:
            # Called once the process is parked in receive(), so that an answer is taken.
            asyncio.get_running_loop().call_soon(self.on_receive, self)
        return await super()._receive(context, within)


@dataclass(eq=False)
class Execution:
    """One execution of a process step, while it lasts."""

    node: ProcessStep
    position: Position
    runner: PromptingRunner
    guard: Guard
    branch: Branch
    failures: int = 0
    # The bench's devices the step claimed.
    devices: tuple[str, ...] = ()
    # Between a failure and the on_error policy's decision about it.
    deciding: bool = False
    retry: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.position.key

    def remap(self, mapping: Mapping[str, str], tree: Tree) -> None:
        """Follow a swap: the same execution, of the step at its new path."""
        self.position = Position(mapping[self.position.path], self.position.iterations)
        node = tree.node(self.position.path)
        assert isinstance(node, ProcessStep)
        self.node = node
        self.runner.step = self.position.key

    @property
    def awaits_operator(self) -> bool:
        return self.runner.state is StepState.FAILED and self.retry is None and not self.deciding


class Branch:
    def __init__(self, run: Run, scope: Position, parent: Branch | None = None) -> None:
        self.run = run
        self.scope = scope
        self.parent = parent
        self.position: Position | None = None
        self.task: asyncio.Task[None] | None = None
        self.children: list[Branch] = []
        self.execution: Execution | None = None
        self.held = False
        self._jump: tuple[Start | None] | None = None
        self._ended = False
        self._finishing = False
        self._steps = 0
        self._chains: list[tuple[Position, list[tuple[Position, str]]]] = [(Position("-"), [])]

    def __repr__(self) -> str:
        return f"Branch({self.scope.key or 'root'!r} at {self.position})"

    def contains(self, position: Position) -> bool:
        size = len(self.scope.iterations)
        return (
            is_within(position.path, self.scope.path)
            and position.iterations[:size] == self.scope.iterations
        )

    @property
    def running(self) -> bool:
        return self.task is not None and not self._ended

    @property
    def idle(self) -> bool:
        """Whether it is doing nothing until the operator acts: held, or its step paused or
        failed. A forked branch is as idle as its children."""
        if not self.running:
            return True
        if self.children:
            return all(child.idle for child in self.children)
        execution = self.execution
        return self.held or (
            execution is not None and execution.runner.state in (StepState.PAUSED, StepState.FAILED)
        )

    def remap(self, mapping: Mapping[str, str]) -> None:
        """Follow a swap. Branches of a parallel step that are done and have no place in
        the new tree are forgotten: nothing can jump back into them."""
        if self.scope.path not in mapping:
            return
        self.scope = Position(mapping[self.scope.path], self.scope.iterations)
        if self.position is not None:
            self.position = Position(mapping[self.position.path], self.position.iterations)
        self.children = [
            child for child in self.children if child.running or child.scope.path in mapping
        ]

    def walk(self) -> list[Branch]:
        """This branch and every branch forked below it."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found

    def start(self, start: Start | None) -> None:
        """Run from `start`, or from the beginning of the scope when None."""
        self._ended = False
        self.task = asyncio.create_task(self._drive(start), name=f"labrun branch {self}")

    def jump(self, start: Start | None) -> None:
        """Go on at `start` (None: the branch has nothing left to do), now."""
        if self.running:
            assert self.task is not None
            if self._jump is None:
                self.task.cancel()
            self._jump = (start,)
        elif start is not None:
            self.start(start)

    @property
    def jumping(self) -> bool:
        return self._jump is not None

    async def _drive(self, start: Start | None) -> None:
        try:
            await self._drive_from(start)
        finally:
            # A branch that ends may leave the run paused: every other one was idle.
            self._ended = True
            self.run.refresh()

    async def _drive_from(self, start: Start | None) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            try:
                await self._walk(start)
            except asyncio.CancelledError:
                if self._jump is None or self.run.halting or task.uncancel() > 0:
                    self._leave(None, StepState.HALTED)
                    raise
                (start,), self._jump = self._jump, None
                if start is None:
                    self._leave(None, StepState.HALTED)
                    return
                self._leave(start.position, StepState.HALTED)
            else:
                return

    async def _walk(self, start: Start | None) -> None:
        run = self.run
        position = run.tree.first(*self.scope) if start is None else start.position
        while position is not None:
            tree = run.tree
            await self._gate()
            if run.tree is not tree:
                # A swap while it waited: what comes next is read from the new tree.
                start = None
                position = self._next()
                if position is None:
                    break
            self._leave(position, StepState.COMPLETED)
            self._enter(position)
            node = run.tree.node(position.path)
            here = start if start is not None and start.position == position else None
            if isinstance(node, ParallelStep):
                await self._fork(node, position, None if here is None else here.branches)
            else:
                assert isinstance(node, ProcessStep)
                point = None if here is None else here.point
                await self._process(node, position, point)
            start = None
            position = self._next()
        self._leave(None, StepState.COMPLETED)

    def _next(self) -> Position | None:
        if self.position is None:
            return self.run.tree.first(*self.scope)
        return self.run.tree.after(self.position, self.scope.path)

    async def _gate(self) -> None:
        run = self.run
        if run.halting:
            raise asyncio.CancelledError
        journal = run.journal
        if journal.failure is not None:
            run.storage_failed(journal.failure)
            raise asyncio.CancelledError
        while run.pause_mode is not None:
            self.held = True
            run.refresh()
            try:
                await run.held()
            finally:
                self.held = False
        if journal.congested:
            await journal.drain()
        self._steps += 1
        if self._steps >= _YIELD_EVERY:
            self._steps = 0
            await asyncio.sleep(0)

    def _enter(self, position: Position) -> None:
        """Open the sequences and loops around `position` that are not open yet."""
        run = self.run
        tree = run.tree
        steps = run.journal.view.steps
        chain = self._chain_of(position)
        for outer, key in chain:
            seen = steps.get(outer.path)
            if seen is None or seen.key != key or seen.state.is_final:
                run.journal.emit(EventType.STATE, key, {"state": "running", "previous": "pending"})
                seen = steps[outer.path]
            loop = tree.node(outer.path)
            if isinstance(loop, RepeatStep | SweepStep):
                iterations = position.iterations[: len(outer.iterations) + 1]
                location = seen.location
                if not isinstance(location, dict) or location.get("iteration") != iterations[-1]:
                    run.journal.emit(
                        EventType.LOCATION,
                        key,
                        {
                            "location": tree.iteration_location(loop, iterations),
                            "point": iterations[-1],
                        },
                    )
        self.position = position

    def _leave(self, target: Position | None, state: StepState) -> None:
        """Close what is open around the current position but not around `target`."""
        if self.position is None:
            return
        keep = set() if target is None else {key for _, key in self._chain_of(target)}
        for _, key in reversed(self._chain_of(self.position)):
            if key not in keep:
                self._close(key, state)
        if target is None:
            self.position = None

    def _chain_of(self, position: Position) -> list[tuple[Position, str]]:
        """The steps around `position` in this branch, with their keys; the last two asked
        for are kept, as each step asks for its own and its predecessor's."""
        for known, chain in self._chains:
            if known == position:
                return chain
        chain = [(outer, outer.key) for outer in self.run.tree.chain(position, self.scope.path)]
        self._chains = [self._chains[-1], (position, chain)]
        return chain

    async def _process(self, node: ProcessStep, position: Position, point: Any) -> None:
        run = self.run
        spec, data = run.arguments(node, position)
        used: dict[str, str] = {}
        claims: set[str] = set()
        if spec.devices:
            used, claims, problem = run.devices.of_step(spec, data, run.protocol.devices)
            if problem is not None:
                from labrun.run.engine import failing  # noqa: PLC0415 - engine imports this module

                spec, data = failing(spec, problem)
                used, claims = {}, set()
        view = run.journal.view
        guard = Guard(
            run.clock,
            timeout=node.timeout,
            # Looked up by the runner's key, which a swap may move to another path.
            view=lambda: view.steps.get(runner.step.partition("@")[0]),
        )
        runner = PromptingRunner(
            spec, data, step=position.key, bus=run.journal, clock=run.clock, point=point
        )
        runner.on_receive = (
            _finish if self._finishing else None if spec.background else run.prompted
        )
        execution = Execution(node, position, runner, guard, self)
        claimed = execution.devices = tuple(sorted(claims))
        if claimed:
            # Waits while another branch's step holds one of them.
            await run.devices.claim(claimed, position.key)
        if used:
            runner.devices = run.devices.drivers(used)
        self.execution = execution
        run.executions[execution.key] = execution
        try:
            outcome = await runner.run()
        except asyncio.CancelledError:
            if claimed and runner.state is StepState.HALTED:
                # Halted by a jump or a halt of the run: its devices are made safe before
                # the branch goes on and before another step can claim them.
                await asyncio.shield(run.devices.safe(claimed, f"step {execution.key} halted"))
            raise
        finally:
            run.devices.release(claimed, position.key)
            del run.executions[execution.key]
            self.execution = None
            if execution.retry is not None:
                execution.retry.cancel()
        if claimed and outcome.state in (StepState.SKIPPED, StepState.HALTED):
            await run.devices.safe(claimed, f"step {execution.key} {outcome.state}")

    @property
    def background(self) -> bool:
        node = self.run.tree.node(self.scope.path)
        return isinstance(node, ProcessStep) and node.spec.background

    def finish(self) -> None:
        """Tell the background process of this branch that the branches beside it ended."""
        self._finishing = True
        execution = self.execution
        if execution is not None:
            execution.runner.on_receive = _finish
            _finish(execution.runner)

    async def _fork(
        self, node: ParallelStep, position: Position, starts: Mapping[str, Start | None] | None
    ) -> None:
        run = self.run
        key = position.key
        seen = run.journal.view.steps.get(node.path)
        if seen is None or seen.key != key or seen.state.is_final:
            run.journal.emit(EventType.STATE, key, {"state": "running", "previous": "pending"})
        children = [Branch(run, Position(b.path, position.iterations), self) for b in node.branches]
        self.children = children
        for child in children:
            if starts is None:
                child.start(None)
            elif starts.get(child.scope.path) is not None:
                child.start(starts[child.scope.path])
        try:
            while True:
                pending = [c.task for c in children if c.task is not None and not c.task.done()]
                if not pending:
                    break
                await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if all(c.background or not c.running for c in children):
                    for child in children:
                        if child.running and not child._finishing:
                            child.finish()
        except asyncio.CancelledError:
            tasks = [c.task for c in children if c.task is not None and not c.task.done()]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
            self._close(self._key(), StepState.HALTED)
            raise
        finally:
            self.children = []
        for child in children:
            if child.task is not None and not child.task.cancelled():
                error = child.task.exception()
                if error is not None:
                    raise error
        self._close(self._key(), StepState.COMPLETED)

    def _key(self) -> str:
        assert self.position is not None
        return self.position.key

    def _close(self, key: str, state: StepState) -> None:
        seen = self.run.journal.view.steps.get(key.partition("@")[0])
        if seen is not None and seen.key == key and not seen.state.is_final:
            self.run.journal.emit(
                EventType.STATE, key, {"state": state.value, "previous": seen.state.value}
            )


def _finish(runner: StepRunner) -> None:
    if runner.waiting_for_answer:
        runner.answer(FINISH, by="parallel")
