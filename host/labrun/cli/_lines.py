"""Event sinks that write lines: the plain log, and `--events` as JSON lines.

Lines are rendered at once (from the event and the run's state at that moment) and written
by a thread, so that a slow terminal or pipe never blocks the event loop; past a few
thousand lines waiting, the sink says it is congested and the run waits between steps.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TextIO

from labrun.duration import Remaining
from labrun.event import Event, EventType
from labrun.protocol.tree import ProcessStep, Protocol, RepeatStep, SweepStep
from labrun.run.key import RUN, parse_key

_LIMIT = 5_000


class LineSink:
    """Writes the lines `render` makes of events to `stream` (None: sys.stdout at the time
    of writing). An `essential` sink that
    cannot write reports a failure (the run then halts); another just stops writing."""

    def __init__(
        self,
        stream: TextIO | None,
        render: Callable[[Event], str | None],
        *,
        essential: bool = False,
    ) -> None:
        self._stream = stream
        self._render = render
        self._essential = essential
        self._lines: list[str] = []
        self._writing: asyncio.Task[None] | None = None
        self._failure: str | None = None
        self._broken = False

    @property
    def congested(self) -> bool:
        return len(self._lines) > _LIMIT

    @property
    def failure(self) -> str | None:
        return self._failure

    def write(self, event: Event) -> None:
        if self._broken:
            return
        line = self._render(event)
        if line is not None:
            self.line(line)

    def line(self, text: str) -> None:
        """Write a line that is not an event's (a message to the operator)."""
        if self._broken:
            return
        self._lines.append(text)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # Before the run's event loop: written with the first line in it.
            return
        self._start()

    def _start(self) -> None:
        if self._writing is None or self._writing.done():
            self._writing = asyncio.get_running_loop().create_task(self._write())

    async def drain(self) -> None:
        if self._lines:
            self._start()
        while self._writing is not None and not self._writing.done():
            await asyncio.shield(self._writing)

    async def _write(self) -> None:
        while self._lines and not self._broken:
            lines, self._lines = self._lines, []
            try:
                await asyncio.to_thread(self._put, lines)
            except OSError as error:
                self._broken = True
                self._lines = []
                if self._essential:
                    self._failure = f"cannot write the events: {error.strerror or error}"

    def _put(self, lines: list[str]) -> None:
        # None: standard output as it is when written, which a live display redirects.
        stream = self._stream or sys.stdout
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def json_line(event: Event) -> str:
    return event.to_json()


class PlainLog:
    """Renders a run's events as a readable log, one line per thing that happened.

    Times are offsets from the run's start, so a dry run prints the same log with its
    simulated times.
    """

    def __init__(self, protocol: Callable[[], Protocol], started: datetime) -> None:
        self._protocol = protocol
        self.started = started

    def stamp(self, moment: datetime) -> str:
        return clock(moment - self.started)

    def __call__(self, event: Event) -> str | None:
        text = self._describe(event)
        if text is None:
            return None
        who = "run" if event.step == RUN else event.step
        return f"{self.stamp(event.time)}  {who:<12} {text}"

    def _describe(self, event: Event) -> str | None:
        payload = event.payload
        if event.type is EventType.STATE:
            state = str(payload["state"])
            if event.step == RUN:
                return state
            if state == "running" and payload["previous"] == "pending":
                return f"{state:<10} {self.label(event.step)}"
            if state == "failed":
                return f"{state:<10} {payload.get('error')}"
            if state == "completed" and payload.get("result") is not None:
                return f"{state:<10} result: {compact(payload['result'])}"
            return state
        if event.type is EventType.LOCATION:
            return self._location(event)
        if event.type is EventType.DIAGNOSTIC:
            return f"{payload['level']}: {payload['message']}"
        if event.type is EventType.REQUEST:
            details = {k: v for k, v in payload.items() if k not in ("request", "by", "source")}
            if "mapping" in details:
                details["mapping"] = f"{len(details['mapping'])} steps"
            parts = [str(payload["request"])]
            parts += [f"{key}={compact(value)}" for key, value in details.items()]
            if payload.get("by"):
                parts.append(f"(by {payload['by']})")
            return " ".join(parts)
        if event.type is EventType.RESTART:
            point = payload.get("point")
            return f"restarted ({payload['reason']})" + (
                "" if point is None else f" from point {compact(point)}"
            )
        if event.type is EventType.EFFECT:
            return f"effect: {compact(payload['effect'])}"
        return None

    def _location(self, event: Event) -> str | None:
        location = event.payload["location"]
        node = self._protocol().step(parse_key(event.step).path)
        if isinstance(node, RepeatStep | SweepStep) and isinstance(location, dict):
            text = f"iteration {location['iteration'] + 1} of {location['count']}"
            if "variable" in location:
                text += f": {location['variable']} = {location['value']}"
            return text
        if isinstance(location, dict) and isinstance(location.get("message"), str):
            return f"asks: {location['message']}"
        return None

    def label(self, key: str) -> str:
        node = self._protocol().step(parse_key(key).path)
        if node is None:
            return ""
        what = node.process if isinstance(node, ProcessStep) else node.kind
        if isinstance(node, ProcessStep):
            what += f" {node.arguments.show()}"
        named = node.name or node.id
        return f"{what} ({named})" if named else what


def clock(elapsed: timedelta | float) -> str:
    """+HH:MM:SS."""
    seconds = elapsed.total_seconds() if isinstance(elapsed, timedelta) else elapsed
    total = max(0, int(seconds))
    return f"+{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"


def duration_text(seconds: float | None) -> str:
    """A time left for people: 1:02:03, or unknown / forever."""
    if seconds is None:
        return Remaining.UNKNOWN.value
    if seconds == float("inf"):
        return Remaining.FOREVER.value
    return str(timedelta(seconds=round(seconds)))


def compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"magnitude", "units"}:
        return f"{value['magnitude']} {value['units']}"
    return json.dumps(value, ensure_ascii=False)
