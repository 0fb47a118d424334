"""Live progress on a terminal, with rich: the step tree, the running steps highlighted,
each step's state, where it is and how long it has taken, and the run's time left.

The display is redrawn from the run's projection four times a second by a task on the
event loop, never from another thread, so that it reads the state between two events. The
log lines keep scrolling above it. It steps aside while the operator answers a question.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text
from rich.tree import Tree

from labrun.cli._lines import compact, duration_text
from labrun.protocol.tree import ProcessStep, RepeatStep, Step, SweepStep
from labrun.run.engine import Run
from labrun.run.projection import StepView
from labrun.run.state import RunState
from labrun.state import StepState

_REFRESH_SECONDS = 0.25
_STYLES = {
    StepState.PENDING: "dim",
    StepState.RUNNING: "bold yellow",
    StepState.PAUSING: "bold cyan",
    StepState.PAUSED: "cyan",
    StepState.FAILED: "bold red",
    StepState.COMPLETED: "green",
    StepState.HALTED: "red",
    StepState.SKIPPED: "dim",
}
_RUN_STYLES = {
    RunState.RUNNING: "bold yellow",
    RunState.PAUSING: "bold cyan",
    RunState.PAUSED: "cyan",
    RunState.FAILED: "bold red",
    RunState.HALTING: "red",
    RunState.COMPLETED: "bold green",
    RunState.HALTED: "bold red",
}
_LOCATION_WIDTH = 48


class LiveView:
    """What the display shows of a run at a moment, as a rich renderable."""

    def __init__(self, run: Run, title: str) -> None:
        self.run = run
        self.title = title

    def render(self, now: datetime | None = None) -> RenderableType:
        run = self.run
        now = now or run.clock.now()
        view = run.view
        header = Text.assemble(
            (self.title, "bold"),
            "  ",
            (str(view.state), _RUN_STYLES.get(view.state, "")),
            f"  elapsed {duration_text(view.elapsed(now))}",
            f"  left {duration_text(run.remaining(now))}",
        )
        tree = Tree(header, guide_style="dim")
        for step in run.protocol.root.steps:
            self._add(tree, step, now)
        return Group(tree)

    def _add(self, parent: Tree, node: Step, now: datetime) -> None:
        seen = self.run.view.steps.get(node.path)
        state = seen.state if seen is not None else StepState.PENDING
        style = _STYLES[state]
        row = Text.assemble(
            (f"{seen.key if seen is not None else node.path:<10} ", "dim"),
            (label(node), "bold" if state is StepState.RUNNING else ""),
            "  ",
            (str(state), style),
        )
        where = _location(node, seen)
        if where:
            row.append(f"  {where}")
        if seen is not None and seen.started is not None:
            row.append(f"  {duration_text(seen.running_seconds(now))}", "dim")
        branch = parent.add(row)
        if node.children and state in (StepState.RUNNING, StepState.PAUSING, StepState.PAUSED):
            for child in node.children:
                self._add(branch, child, now)


def label(node: Step) -> str:
    named = node.name or node.id
    what = node.process if isinstance(node, ProcessStep) else node.kind
    return f"{named} ({what})" if named else what


def _location(node: Step, seen: StepView | None) -> str:
    if seen is None or seen.state.is_final:
        return ""
    location: Any = seen.location
    if isinstance(node, RepeatStep | SweepStep) and isinstance(location, dict):
        text = f"iteration {location['iteration'] + 1} of {location['count']}"
        if "variable" in location:
            text += f", {location['variable']} = {location['value']}"
        return text
    if isinstance(location, dict) and isinstance(location.get("message"), str):
        return f"asks: {location['message']}"
    if location is None:
        return ""
    if isinstance(location, dict):
        text = " ".join(f"{key}={compact(value)}" for key, value in location.items())
    else:
        text = compact(location)
    return text if len(text) <= _LOCATION_WIDTH else text[: _LOCATION_WIDTH - 3] + "..."


class LiveDisplay:
    """Redraws a `LiveView` on the console while the run goes."""

    def __init__(self, view: LiveView, console: Console) -> None:
        self.view = view
        self.console = console
        self._live = Live(
            console=console, auto_refresh=False, redirect_stdout=True, redirect_stderr=True
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._live.start()
        self._task = asyncio.get_running_loop().create_task(self._redraw())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._live.update(self.view.render(), refresh=True)
        self._live.stop()

    @contextlib.contextmanager
    def aside(self) -> Iterator[None]:
        """The display out of the way, for a question on the terminal."""
        self._live.stop()
        try:
            yield
        finally:
            self._live.start()

    async def _redraw(self) -> None:
        while True:
            self._live.update(self.view.render(), refresh=True)
            await asyncio.sleep(_REFRESH_SECONDS)
