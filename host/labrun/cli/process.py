"""`labrun process NAME [ARG=VALUE ...]`: run one process on its own and log its events.

For trying a process from the shell: with `--dry-run` it runs on the virtual clock, so a
two-hour wait ends at once with the same events. Prompts are answered from `--answer`
values in order, else on the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from labrun import _yaml
from labrun._json import jsonable
from labrun._validation import error_lines
from labrun.catalog import load_plugins
from labrun.cli._command import CommandError
from labrun.clock import Clock, RealClock, VirtualClock
from labrun.event import Event, EventBus, EventType
from labrun.plugin import ProcessSpec
from labrun.state import StepState
from labrun.step import StepRunner

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers

_POLL_SECONDS = 0.05


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "process",
        help="run one process on its own and log its events",
        description="Run one process with arguments given as NAME=VALUE (values are read as "
        "YAML scalars or lists) and print each event. Exits 0 when the step completes, 1 "
        "otherwise, 2 on bad arguments.",
    )
    parser.add_argument("name", metavar="PROCESS", help="namespace.process, such as timer.wait")
    parser.add_argument("arguments", nargs="*", metavar="NAME=VALUE")
    parser.add_argument(
        "--dry-run", action="store_true", help="run on the virtual clock: waits take no time"
    )
    parser.add_argument(
        "-a", "--answer", action="append", default=[], help="an answer for a prompt (repeatable)"
    )
    parser.set_defaults(handler=run, takes_extra_arguments=True)


def run(args: argparse.Namespace) -> int:
    spec = _find(args.name)
    data = _arguments(spec, args.arguments)
    clock: Clock = VirtualClock() if args.dry_run else RealClock()
    outcome = asyncio.run(_run(spec, data, clock, list(args.answer)))
    return 0 if outcome is StepState.COMPLETED else 1


def _find(name: str) -> ProcessSpec:
    catalog = load_plugins()
    spec = catalog.process(name)
    if spec is None:
        names = [s.qualified_name for s in catalog.processes()]
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]}?" if close else f"installed: {', '.join(names) or 'none'}"
        raise CommandError(f"unknown process {name!r}; {hint}")
    return spec


def _arguments(spec: ProcessSpec, pairs: Sequence[str]) -> Any:
    raw: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"argument {pair!r} is not NAME=VALUE, such as duration='10 min'")
        try:
            raw[key] = _yaml.load(text)
        except yaml.YAMLError:
            raw[key] = text
    try:
        return spec.validate(raw)
    except ValidationError as error:
        problems = "; ".join(error_lines(error))
        raise CommandError(
            f"invalid arguments for {spec.qualified_name}: {problems}\n"
            f"  {spec.qualified_name} takes: {spec.summary()}"
        ) from None


async def _run(spec: ProcessSpec, data: Any, clock: Clock, answers: list[str]) -> StepState:
    bus = EventBus(clock.now)
    subscription = bus.subscribe(maxsize=0)
    runner = StepRunner(spec, data, step=spec.qualified_name, bus=bus, clock=clock)
    started = clock.now()
    task = asyncio.create_task(runner.run())
    while not task.done():
        await asyncio.wait((task,), timeout=_POLL_SECONDS)
        for event in subscription.pending():
            print(_line(event, started), flush=True)
        if runner.waiting_for_answer:
            await _answer(runner, answers)
        if runner.state in (StepState.FAILED, StepState.PAUSED) and not task.done():
            runner.halt()
    for event in subscription.pending():
        print(_line(event, started), flush=True)
    await task
    return runner.state


async def _answer(runner: StepRunner, answers: list[str]) -> None:
    if answers:
        message: str | None = answers.pop(0)
    elif sys.stdin.isatty():
        message = await asyncio.to_thread(_read_answer)
    else:
        message = None
    if message is None:
        print("no answer given (use --answer); halting", file=sys.stderr)
        runner.halt()
        return
    runner.answer(message)


def _read_answer() -> str | None:
    try:
        return input("answer> ")
    except EOFError:
        return None


def _line(event: Event, started: datetime) -> str:
    offset = event.time - started
    total = int(offset.total_seconds())
    stamp = f"+{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"
    payload = dict(event.payload)
    if event.type is EventType.STATE:
        headline = str(payload.pop("state"))
        payload.pop("previous", None)
        payload.pop("traceback", None)
    elif event.type is EventType.DIAGNOSTIC:
        headline = f"{payload.pop('level')}: {payload.pop('message')}"
    else:
        headline = ""
    rest = " ".join(f"{key}={_compact(value)}" for key, value in payload.items())
    return f"{stamp} {event.type:<10} {headline} {rest}".rstrip()


def _compact(value: Any) -> str:
    text = yaml.safe_dump(jsonable(value), default_flow_style=True, width=10_000).strip()
    return text.removesuffix("\n...").strip()
