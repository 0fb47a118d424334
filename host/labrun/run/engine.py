"""The `Run`: one run of a compiled protocol with its parameter values.

    run = Run(protocol, protocol.bind({"temp": "37 degC"}), clock=RealClock())
    final = await run.run()        # RunState.COMPLETED or RunState.HALTED

Requests are sync methods (pause, resume, halt, skip, retry, jump, swap, answer): each takes
effect at once, records a request event with who asked (`by`), or raises `RunRefused`
and changes nothing. Requests addressed to a step name it by id or path, optionally with
its iterations after `@` (key.py); without them, the iterations the run is in now.

The run's state is the projection of its events (`run.view`); the engine emits a run-level
state event whenever the state it derives from its branches changes: `halting` once halted,
`pausing` then `paused` once every branch is held or its step paused or failed, `failed`
while a failed step waits for the operator, else `running`. A step whose process pauses on
its own pauses the run with it, so that resuming the run resumes the step. `run()` ends
with exactly one final state event, `completed` or `halted`, whatever happened, an engine
bug or the cancellation of `run()` included.

Events name one execution of a step by its key (key.py: the tree path, then `@` and the
iterations of the enclosing repeats and sweeps); run-level events have the step "".
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from labrun._validation import error_lines
from labrun.clock import Clock
from labrun.context import ProcessContext
from labrun.device.bench import Bench
from labrun.event import Event, EventType
from labrun.plugin import ProcessSpec
from labrun.protocol.tree import ErrorAction, ProcessStep, Protocol, RepeatStep, SweepStep
from labrun.request import PauseMode, RequestKind, RequestRefused
from labrun.run import eta
from labrun.run.branch import Branch, Execution, PromptingRunner
from labrun.run.cursor import Position, Tree
from labrun.run.devices import RunDevices
from labrun.run.journal import RunJournal, Sink
from labrun.run.key import RUN
from labrun.run.policy import Guard, guarded, next_action
from labrun.run.projection import RunView
from labrun.run.state import RunRefused, RunState, check_allowed, check_transition
from labrun.run.swap import plan_swap
from labrun.state import StepState

# Who made the requests an on_error policy makes.
ON_ERROR = "on_error"


class _NoArguments(BaseModel):
    pass


class Run:
    def __init__(
        self,
        protocol: Protocol,
        parameters: Mapping[str, Any],
        *,
        clock: Clock,
        sinks: Sequence[Sink] = (),
        view: RunView | None = None,
        bench: Bench | None = None,
    ) -> None:
        """`parameters` are the values `protocol.bind()` returned. `view` is the projection
        of an interrupted run's stored events, to resume it. `bench` has the devices the
        protocol's steps use, opened."""
        self.tree = Tree(protocol, parameters)
        self.clock = clock
        resumed = view is not None and view.last_seq > 0
        self.journal = RunJournal(clock.now, view or RunView(), sinks=tuple(sinks))
        self.journal.listener = self._on_event
        self._state = RunState.INTERRUPTED if resumed else RunState.PENDING
        self.executions: dict[str, Execution] = {}
        self.pause_mode: PauseMode | None = None
        self.halting = False
        self.on_prompt: Callable[[str], None] | None = None
        self._root: Branch | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._data: dict[str, BaseModel] = {}
        self._specs: dict[str, ProcessSpec] = {}
        self._retries: set[asyncio.Task[None]] = set()
        self.devices = RunDevices(bench, self._report)

    @property
    def protocol(self) -> Protocol:
        return self.tree.protocol

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def view(self) -> RunView:
        return self.journal.view

    # The run.

    async def run(self) -> RunState:
        """Run to the end; returns the final state, `completed` or `halted`."""
        if self._state.is_final:
            return self._state
        interrupted = self._state is RunState.INTERRUPTED
        if interrupted and self.view.state is RunState.HALTING:
            # It died halting: what was left of the halt is done.
            self._set_state(RunState.HALTED)
            return self._state
        start = self.tree.resume(Position(""), self.view) if interrupted else None
        self._set_state(RunState.RUNNING)
        root = self._root = Branch(self, Position(""))
        if not interrupted or start is not None:
            root.start(start)
        outcome = RunState.COMPLETED
        cancelled = False
        try:
            if root.task is not None:
                await root.task
        except asyncio.CancelledError:
            # Halted, or the caller cancelled run(): then the run halts all the same.
            cancelled = not self.halting
            outcome = RunState.HALTED
            if cancelled:
                self._begin_halt()
                await self._settle(root)
        except Exception as error:  # noqa: BLE001 - an engine bug still ends the run with a record
            self._diagnostic("error", f"internal error in the run engine: {error}", error)
            outcome = RunState.HALTED
            self._begin_halt()
            await self._settle(root)
        for retry in self._retries:
            retry.cancel()
        await self._leave_devices_safe(outcome)
        self._set_state(RunState.HALTED if self.halting else outcome)
        if cancelled:
            raise asyncio.CancelledError
        return self._state

    async def _leave_devices_safe(self, outcome: RunState) -> None:
        """Every exit leaves the devices safe. Shielded: a cancellation of run() must not
        cut it short, as the safe state is what makes stopping safe."""
        end = RunState.HALTED if self.halting else outcome
        work = asyncio.ensure_future(self._safe_all(f"the run {end}"))
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            await work
            raise

    async def _safe_all(self, why: str) -> None:
        await self.devices.settle()
        await self.devices.safe(set(self.protocol.devices.values()), why)

    async def _settle(self, root: Branch) -> None:
        tasks = [b.task for b in root.walk() if b.task is not None and not b.task.done()]
        if root.task is not None and not root.task.done():
            tasks.append(root.task)
        if tasks:
            await asyncio.wait(tasks)

    # Requests.

    def pause(self, mode: PauseMode = PauseMode.IMMEDIATE, *, by: str | None = None) -> None:
        check_allowed(RequestKind.PAUSE, self._state)
        self._request(RequestKind.PAUSE, by, mode=mode.value)
        self.pause_mode = mode
        for execution in list(self.executions.values()):
            if execution.runner.state is StepState.RUNNING:
                execution.runner.pause(mode, by=by)
        self.refresh()

    def resume(self, *, by: str | None = None) -> None:
        check_allowed(RequestKind.RESUME, self._state)
        self._request(RequestKind.RESUME, by)
        self.pause_mode = None
        for execution in list(self.executions.values()):
            if execution.runner.state in (StepState.PAUSING, StepState.PAUSED):
                execution.runner.resume(by=by)
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.refresh()

    def halt(self, *, by: str | None = None) -> None:
        check_allowed(RequestKind.HALT, self._state)
        self._request(RequestKind.HALT, by)
        if self._state is RunState.PENDING:
            self._set_state(RunState.HALTED)
            return
        self._begin_halt()

    def skip(self, step: str, *, by: str | None = None) -> None:
        """End a step that is running, paused or failed as skipped; its branch goes on."""
        check_allowed(RequestKind.SKIP, self._state)
        execution = self._execution(RequestKind.SKIP, step)
        self._step_request(RequestKind.SKIP, execution, lambda: execution.runner.skip(by=by))

    def retry(self, step: str, *, by: str | None = None) -> None:
        """Run a failed step's process again, from its last point."""
        check_allowed(RequestKind.RETRY, self._state)
        execution = self._execution(RequestKind.RETRY, step)
        self._step_request(RequestKind.RETRY, execution, lambda: execution.runner.retry(by=by))

    def answer(self, step: str | None, message: Any, *, by: str | None = None) -> None:
        """Answer the step waiting for one; `step` may be None when only one waits."""
        check_allowed(RequestKind.ANSWER, self._state)
        if step is None:
            waiting = self.waiting_for_answer()
            if len(waiting) != 1:
                reason = (
                    "no step waits for an answer"
                    if not waiting
                    else (
                        f"{len(waiting)} steps wait for an answer ({', '.join(waiting)}): say which"
                    )
                )
                raise RunRefused(RequestKind.ANSWER, self._state, reason)
            step = waiting[0]
        execution = self._execution(RequestKind.ANSWER, step)
        self._step_request(
            RequestKind.ANSWER, execution, lambda: execution.runner.answer(message, by=by)
        )

    def jump(self, target: str, *, by: str | None = None) -> None:
        """Halt the step the branch holding `target` runs, and go on at `target`."""
        check_allowed(RequestKind.JUMP, self._state)
        position = self._locate(RequestKind.JUMP, target)
        branch = self._branch_for(position)
        start = self.tree.start_at(position, branch.scope, self.view)
        self._request(RequestKind.JUMP, by, to=position.key)
        branch.jump(start)

    def swap(self, protocol: Protocol, *, source: str | None = None, by: str | None = None) -> None:
        """Replace the running protocol with an edited one (swap.py); `source` is its text,
        kept with the run so that it can be resumed after a crash."""
        check_allowed(RequestKind.SWAP, self._state)
        branches = [] if self._root is None else self._root.walk()
        if any(branch.jumping for branch in branches):
            raise RunRefused(RequestKind.SWAP, self._state, "a jump is under way; swap again")
        plan = plan_swap(
            self.tree,
            protocol,
            source=source,
            branches=branches,
            executions=self.executions.values(),
        )
        if isinstance(plan, list):
            raise RunRefused(
                RequestKind.SWAP,
                self._state,
                f"the new protocol cannot replace the running one: {plan[0].message}",
                diagnostics=plan,
            )
        mapping = plan.mapping
        self._request(RequestKind.SWAP, by, file=protocol.file, source=source, mapping=mapping)
        self.tree = plan.tree
        self._data.clear()
        self._specs.clear()
        for branch in branches:
            branch.remap(mapping)
        executions, self.executions = self.executions, {}
        for execution in executions.values():
            new_data = plan.data.get(execution.key)
            execution.remap(mapping, plan.tree)
            self.executions[execution.key] = execution
            if new_data is not None:
                execution.runner.swap(new_data, by=by)

    def fail_step(self, step: str, message: str) -> None:
        """Fail the invocation in progress of a running step with `message` (its on_error
        policy then applies), as when a prompt cannot be answered."""
        execution = self._execution(RequestKind.HALT, step)
        if not execution.guard.fail(message):
            raise RunRefused(
                RequestKind.HALT, self._state, f"step {execution.key} is not running", step=step
            )

    def remaining(self, now: datetime | None = None) -> float | None:
        """Seconds the run has left (eta.py): None unknown, `math.inf` never ending."""
        return eta.remaining(self.tree, self.view, now or self.clock.now())

    def waiting_for_answer(self) -> list[str]:
        return [key for key, e in self.executions.items() if e.runner.waiting_for_answer]

    # What branches call.

    def refresh(self) -> None:
        """Emit the run's state if what the branches are doing changed it."""
        state = self._state
        if state not in (RunState.RUNNING, RunState.PAUSING, RunState.PAUSED, RunState.FAILED):
            return
        if self.pause_mode is not None:
            root = self._root
            idle = root is None or root.idle
            target = RunState.PAUSED if idle else RunState.PAUSING
        elif any(e.awaits_operator for e in self.executions.values()):
            target = RunState.FAILED
        else:
            target = RunState.RUNNING
        if target is not state:
            self._set_state(target)

    async def held(self) -> None:
        """Wait until the run is resumed (or the waiting task is cancelled)."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def arguments(self, node: ProcessStep, position: Position) -> tuple[ProcessSpec, BaseModel]:
        """The guarded spec and validated arguments of a step execution. Arguments the
        process refuses (parameter values the compiler could not check) fail the step."""
        spec = self._specs.get(node.path)
        if spec is None:
            spec = self._specs[node.path] = guarded(node.spec, self._guard_of)
        data = self._data.get(node.path)
        if data is not None:
            return spec, data
        try:
            data = node.resolve(self.tree.env(position.path, position.iterations))
        except ValidationError as error:
            return failing(node.spec, "invalid arguments: " + "; ".join(error_lines(error)))
        except (LookupError, ValueError) as error:
            return failing(node.spec, f"invalid arguments: {error}")
        if not node.depends_on:
            self._data[node.path] = data
        return spec, data

    def _guard_of(self, key: str) -> Guard:
        return self.executions[key].guard

    def prompted(self, runner: PromptingRunner) -> None:
        if self.on_prompt is not None and runner.waiting_for_answer:
            self.on_prompt(runner.step)

    def storage_failed(self, reason: str) -> None:
        self._diagnostic("error", f"the run cannot be recorded any more, so it halts: {reason}")
        self._begin_halt()

    # Inside.

    def _set_state(self, state: RunState) -> None:
        check_transition(self._state, state)
        previous, self._state = self._state, state
        self.journal.emit(EventType.STATE, RUN, {"state": state.value, "previous": previous.value})

    def _begin_halt(self) -> None:
        if self.halting:
            return
        self.halting = True
        self._set_state(RunState.HALTING)
        if self._root is not None:
            for branch in self._root.walk():
                if branch.running:
                    assert branch.task is not None
                    branch.task.cancel()

    def _request(self, request: RequestKind, by: str | None, **details: Any) -> None:
        payload: dict[str, Any] = {"request": request.value, **details}
        if by is not None:
            payload["by"] = by
        self.journal.emit(EventType.REQUEST, RUN, payload)

    def _report(self, level: str, message: str) -> None:
        self._diagnostic(level, message)

    def _diagnostic(self, level: str, message: str, error: BaseException | None = None) -> None:
        payload: dict[str, Any] = {"level": level, "message": message}
        if error is not None:
            payload["details"] = {"traceback": "".join(traceback.format_exception(error))}
        self.journal.emit(EventType.DIAGNOSTIC, RUN, payload)

    def _step_request(
        self, request: RequestKind, execution: Execution, act: Callable[[], None]
    ) -> None:
        if request is RequestKind.RETRY and execution.retry is not None:
            execution.retry.cancel()
            execution.retry = None
        try:
            act()
        except RequestRefused as refused:
            raise RunRefused(
                request, self._state, f"step {execution.key}: {refused.reason}", step=execution.key
            ) from None

    def _execution(self, request: RequestKind, step: str) -> Execution:
        execution = self.executions.get(step)
        if execution is not None:
            return execution
        position = self._locate(request, step)
        for execution in self.executions.values():
            if execution.position.path == position.path:
                if "@" in step and execution.position != position:
                    break
                return execution
        raise RunRefused(
            request, self._state, f"step {position.key} is not running", step=position.key
        )

    def _locate(self, request: RequestKind, target: str) -> Position:
        name, at, iterations_text = target.strip().partition("@")
        node = self.protocol.step_by_id(name) or self.protocol.step(name)
        if node is None:
            raise RunRefused(
                request, self._state, f"no step {name!r}: give a step id, or a path such as 2.0"
            )
        loops = self.tree.loops_around(node.path)
        if at:
            try:
                iterations = tuple(int(part) for part in iterations_text.split("."))
            except ValueError:
                raise RunRefused(
                    request,
                    self._state,
                    f"{target!r}: the iterations after @ are whole numbers, such as {name}@2",
                ) from None
        else:
            found: list[int] = []
            for loop in loops:
                here = Position(loop.path, tuple(found))
                seen = self.view.steps.get(loop.path)
                index = 0
                if seen is not None and seen.key == here.key and not seen.state.is_final:
                    location = seen.location if isinstance(seen.location, dict) else {}
                    index = int(location.get("iteration", 0))
                found.append(index)
            iterations = tuple(found)
        if isinstance(node, RepeatStep | SweepStep) and len(iterations) == len(loops) + 1:
            # A loop with its own iteration too: that iteration's first step.
            node = node.steps[0]
        position = Position(node.path, iterations)
        problem = self.tree.check(position)
        if problem is not None:
            raise RunRefused(request, self._state, problem)
        return position

    def _branch_for(self, position: Position) -> Branch:
        """The deepest branch, running or done in a parallel step still running, whose
        part of the tree holds `position`."""
        assert self._root is not None
        branch = self._root
        while True:
            inner = next((c for c in branch.children if c.contains(position)), None)
            if inner is None:
                return branch
            branch = inner

    def _on_event(self, event: Event) -> None:
        if event.type is not EventType.STATE or event.step == RUN:
            return
        payload = event.payload
        execution = self.executions.get(event.step)
        if execution is not None:
            execution.guard.state_changed()
            if payload["state"] == StepState.FAILED:
                # Not from inside the runner's own state change: a skip would cancel the
                # task the runner is recording its failure in.
                execution.deciding = True
                asyncio.get_running_loop().call_soon(self._failed, execution)
            elif payload["state"] == StepState.PAUSED:
                if execution.devices:
                    self.devices.hold_later(execution.devices, f"step {execution.key} paused")
                if self.pause_mode is None:
                    self._paused_by(execution)
        # While running with no pause asked, only failures move the run's state.
        if (
            self.pause_mode is not None
            or self._state is not RunState.RUNNING
            or payload["previous"] == StepState.FAILED
        ):
            self.refresh()

    def _paused_by(self, execution: Execution) -> None:
        """A step paused with no pause asked of the run: its process raised PauseRequest on
        its own. The run pauses with it, so that a resume of the run resumes it."""
        self._diagnostic("info", f"step {execution.key} paused itself: the run pauses")
        self.pause_mode = PauseMode.IMMEDIATE
        for other in list(self.executions.values()):
            if other is not execution and other.runner.state is StepState.RUNNING:
                other.runner.pause(PauseMode.IMMEDIATE)

    def _failed(self, execution: Execution) -> None:
        execution.deciding = False
        if execution.runner.state is not StepState.FAILED or self.halting:
            self.refresh()
            return
        execution.failures += 1
        if execution.devices:
            self.devices.safe_later(execution.devices, f"step {execution.key} failed")
        action, delay = next_action(execution.node.on_error, execution.failures)
        if action is ErrorAction.RETRY:
            execution.retry = asyncio.create_task(self._retry_later(execution, delay))
            self._retries.add(execution.retry)
            execution.retry.add_done_callback(self._retries.discard)
        elif action is ErrorAction.SKIP:
            execution.runner.skip(by=ON_ERROR)
        elif action is ErrorAction.HALT:
            self._request(RequestKind.HALT, ON_ERROR, step=execution.key)
            self._begin_halt()
        self.refresh()

    async def _retry_later(self, execution: Execution, delay: float) -> None:
        try:
            if delay:
                await self.clock.sleep(delay)
            while self.pause_mode is not None:
                await self.held()
        finally:
            if execution.retry is asyncio.current_task():
                execution.retry = None
        if execution.runner.state is StepState.FAILED and not self.halting:
            execution.runner.retry(by=ON_ERROR)
        else:
            self.refresh()


def failing(spec: ProcessSpec, message: str) -> tuple[ProcessSpec, BaseModel]:
    """A stand-in for a process whose arguments are invalid: it fails, every time."""

    async def refuse(data: _NoArguments, context: ProcessContext[_NoArguments]) -> None:
        raise ValueError(message)

    failing = ProcessSpec(spec.namespace, spec.name, refuse, _NoArguments)
    return failing, _NoArguments()
