"""Driving one run from the command line: its sinks, the operator at the terminal, the
signals, and the exit code.

Without a terminal, no one can answer a prompt or recover a failed step: a prompt with no
`-a` answer fails its step with a message saying so, and a run that waits for recovery is
halted. Ctrl-C (SIGINT) pauses the run and asks what to do on a terminal, and halts it
without one or when pressed again. SIGTERM or SIGHUP (the terminal closed, the machine
shutting down) stop labrun without ending the run: it is left interrupted, to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TextIO

from labrun.cli._live import LiveDisplay
from labrun.event import Event, EventType
from labrun.run.engine import Run
from labrun.run.journal import Sink
from labrun.run.key import RUN, parse_key
from labrun.run.recorder import Recorder, RecordIncomplete
from labrun.run.state import RunRefused, RunState
from labrun.store import RunStore

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 3


@dataclass
class Setup:
    run: Run
    by: str
    log: Callable[[str], None]
    # Answers given with -a, by step path.
    answers: dict[str, str] = field(default_factory=dict)
    interactive: bool = False
    recorder: Recorder | None = None
    store: RunStore | None = None
    run_id: str | None = None
    sinks: list[Sink] = field(default_factory=list)
    display: LiveDisplay | None = None


class Terminal:
    """Lines typed on the terminal, read by a daemon thread so that a question left
    unanswered never keeps labrun from exiting."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdin
        self._lines: asyncio.Queue[str | None] | None = None
        self._ended = False
        self._lock = asyncio.Lock()

    async def ask(self, question: str, write: Callable[[str], None]) -> str | None:
        """Show `question` and return the line typed, or None at the end of input."""
        async with self._lock:
            if self._ended:
                return None
            if self._lines is None:
                self._lines = asyncio.Queue()
                self._start(asyncio.get_running_loop(), self._lines)
            write(question)
            line = await self._lines.get()
            self._ended = line is None
            return line

    def _start(self, loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
        def read() -> None:
            for line in self._stream:
                loop.call_soon_threadsafe(lines.put_nowait, line.rstrip("\n"))
            loop.call_soon_threadsafe(lines.put_nowait, None)

        threading.Thread(target=read, name="labrun-terminal", daemon=True).start()


class Session:
    def __init__(self, setup: Setup, terminal: Terminal | None = None) -> None:
        self.setup = setup
        self.run = setup.run
        self._terminal = terminal or Terminal()
        self._answered: set[str] = set()
        self._interrupts = 0
        self._detached: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def main(self) -> int:
        setup, run = self.setup, self.run
        loop = asyncio.get_running_loop()
        self._detached = loop.create_future()
        run.on_prompt = self._prompted
        run.journal.sinks = (*setup.sinks, _Watcher(self._run_state_changed))
        handled = self._handle_signals(loop)
        if setup.display is not None:
            setup.display.start()
        try:
            task = asyncio.create_task(run.run())
            await asyncio.wait((task, self._detached), return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                return await self._interrupted(task)
            final = task.result()
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)
            for pending in self._tasks:
                pending.cancel()
            if setup.display is not None:
                # The log lines first, so that they do not land in the middle of it.
                for sink in setup.sinks:
                    await sink.drain()
                await setup.display.stop()
        return await self._finish(final)

    async def _finish(self, final: RunState) -> int:
        setup = self.setup
        code = EXIT_COMPLETED if final is RunState.COMPLETED else EXIT_FAILED
        for sink in setup.sinks:
            await sink.drain()
        if setup.recorder is not None:
            try:
                await setup.recorder.finish(self.run.view)
            except RecordIncomplete as error:
                setup.log(f"labrun: error: the run's record is incomplete: {error}")
                code = EXIT_FAILED
        view = self.run.view
        elapsed = duration(view.elapsed(self.run.clock.now()))
        name = f"run {setup.run_id}" if setup.run_id else "dry run"
        setup.log(f"{name} {final} after {elapsed}")
        return code

    async def _interrupted(self, task: asyncio.Task[RunState]) -> int:
        """Stop without ending the run: nothing more is recorded, the run is left
        interrupted, and its processes are cancelled so that they tidy up."""
        setup = self.setup
        sinks = [s for s in setup.sinks if s is not setup.recorder]
        for sink in sinks:
            await sink.drain()
        if setup.recorder is not None:
            await setup.recorder.drain()
        self.run.journal.sinks = ()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if setup.recorder is not None and setup.store is not None and setup.run_id is not None:
            with contextlib.suppress(RecordIncomplete):
                await setup.recorder.close()
            setup.store.update_run(setup.run_id, status=RunState.INTERRUPTED)
            setup.log(
                f"labrun: run {setup.run_id} is interrupted; `labrun resume {setup.run_id}` "
                "continues it"
            )
        else:
            setup.log("labrun: dry run interrupted")
        return EXIT_INTERRUPTED

    # Signals.

    def _handle_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        handled: list[int] = []
        for signum, handler in (
            (signal.SIGINT, self._interrupt),
            (signal.SIGTERM, self._detach),
            (signal.SIGHUP, self._detach),
        ):
            try:
                loop.add_signal_handler(signum, handler)
            except (NotImplementedError, RuntimeError):
                continue
            handled.append(signum)
        return handled

    def _detach(self) -> None:
        if self._detached is not None and not self._detached.done():
            self._detached.set_result(None)

    def _interrupt(self) -> None:
        self._interrupts += 1
        run = self.run
        if self._interrupts == 1 and self.setup.interactive:
            if run.state in (RunState.RUNNING, RunState.FAILED):
                self._act(lambda: run.pause(by=self.setup.by))
            self._spawn(self._interrupt_menu())
            return
        self.setup.log("labrun: interrupted: halting the run")
        self._act(lambda: run.halt(by=self.setup.by))

    async def _interrupt_menu(self) -> None:
        run, by = self.run, self.setup.by
        question = "labrun: paused. [r]esume, [s]kip the current step, or [h]alt? (Ctrl-C halts) "
        while not run.state.is_final and not run.halting:
            choice = await self._ask(question)
            if choice is None or choice.startswith("h"):
                self._act(lambda: run.halt(by=by))
                return
            if choice.startswith("s"):
                for key in list(run.executions):
                    self._act(partial(run.skip, key, by=by))
            if choice.startswith(("r", "s")):
                self._act(lambda: run.resume(by=by))
                self._interrupts = 0
                return

    # Prompts and failures.

    def _prompted(self, key: str) -> None:
        setup, run = self.setup, self.run
        path = parse_key(key).path
        answer = setup.answers.get(path)
        if answer is not None and key not in self._answered:
            self._answered.add(key)
            self._act(lambda: run.answer(key, answer, by=setup.by))
        elif answer is not None:
            self._act(
                lambda: run.fail_step(key, f"the answer given with -a ({answer!r}) was refused")
            )
        elif setup.interactive:
            self._spawn(self._ask_prompt(key))
        else:
            node = run.protocol.step(path)
            name = node.id if node is not None and node.id is not None else path
            self._act(
                lambda: run.fail_step(
                    key,
                    f"step {key} asks a question and there is no terminal to answer it on; "
                    f"give the answer with -a {name}=ANSWER",
                )
            )

    async def _ask_prompt(self, key: str) -> None:
        run = self.run
        seen = run.view.steps.get(parse_key(key).path)
        location = seen.location if seen is not None else None
        message = location.get("message") if isinstance(location, dict) else None
        refused = location.get("refused") if isinstance(location, dict) else None
        question = f"{key} asks: {message or 'an answer'}"
        if refused:
            question += f" ({refused})"
        answer = await self._ask(question + "\nanswer> ")
        if answer is None:
            self._act(lambda: run.fail_step(key, "no answer: the terminal's input ended"))
        else:
            self._act(lambda: run.answer(key, answer, by=self.setup.by))

    def _run_state_changed(self, state: RunState) -> None:
        if state is RunState.FAILED:
            self._spawn(self._recover())

    async def _recover(self) -> None:
        run, by = self.run, self.setup.by
        failed = [e for e in run.executions.values() if e.awaits_operator]
        for execution in failed:
            error = execution.runner.error
            if not self.setup.interactive:
                self.setup.log(
                    f"labrun: there is no terminal to retry or skip step {execution.key} on: "
                    "halting the run"
                )
                self._act(lambda: run.halt(by=by))
                return
            key = execution.key
            choice = await self._ask(
                f"step {key} failed: {error}\n[r]etry, [s]kip it, or [h]alt the run? "
            )
            if choice is None:
                self.setup.log("labrun: the terminal's input ended: halting the run")
            if choice is None or choice.startswith("h"):
                self._act(lambda: run.halt(by=by))
                return
            if choice.startswith("r"):
                self._act(partial(run.retry, key, by=by))
            elif choice.startswith("s"):
                self._act(partial(run.skip, key, by=by))

    # Helpers.

    async def _ask(self, question: str) -> str | None:
        for sink in self.setup.sinks:
            await sink.drain()
        display = self.setup.display
        with contextlib.nullcontext() if display is None else display.aside():
            return await self._terminal.ask(question, self._write_question)

    def _write_question(self, text: str) -> None:
        sys.stderr.write(text)
        sys.stderr.flush()

    def _act(self, request: Callable[[], None]) -> None:
        """Make a request; one refused (the run moved on meanwhile) is reported, not raised."""
        try:
            request()
        except RunRefused as refused:
            self.setup.log(f"labrun: {refused}")

    def _spawn(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class _Watcher:
    """Calls back on each run-level state change, outside the emitting code."""

    congested = False
    failure = None

    def __init__(self, changed: Callable[[RunState], None]) -> None:
        self._changed = changed

    def write(self, event: Event) -> None:
        if event.step == RUN and event.type is EventType.STATE:
            state = RunState(event.payload["state"])
            asyncio.get_running_loop().call_soon(self._changed, state)

    async def drain(self) -> None:
        return None


def duration(seconds: float) -> str:
    total = max(0, round(seconds))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"
