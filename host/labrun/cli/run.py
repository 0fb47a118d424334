"""`labrun run FILE`: run a protocol, recorded in the data directory (docs/running.md).

Exit codes: 0 the run completed, 1 it failed or was halted, 2 the protocol did not compile
or the command was wrong (bad parameters included), 3 labrun was stopped and the run is
left interrupted, to resume with `labrun resume`.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from labrun.catalog import PluginCatalog, load_plugins
from labrun.cli import _bench
from labrun.cli._command import CommandError
from labrun.cli._lines import LineSink, PlainLog, json_line
from labrun.cli._live import LiveDisplay, LiveView
from labrun.cli._session import EXIT_USAGE, Session, Setup
from labrun.clock import Clock, RealClock, VirtualClock
from labrun.datadir import ENV_VAR, DataDirError, data_dir
from labrun.device.bench import Bench, BenchListener
from labrun.device.config import HostConfig
from labrun.device.device import Device
from labrun.event import EventType
from labrun.protocol import ParameterError, Protocol, compile, parse_assignments
from labrun.run.engine import Run
from labrun.run.journal import Sink
from labrun.run.key import RUN
from labrun.run.recorder import Recorder, RunLock, is_driven
from labrun.store import DATABASE_NAME, RunStore, StoreError

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "run",
        help="run a protocol",
        description="Run a protocol file: its progress is shown live on a terminal and as a "
        "plain log otherwise, and the run is recorded in the data directory. Exit codes: 0 "
        "completed, 1 failed or halted, 2 the protocol did not compile or a usage error, 3 "
        "interrupted (resume it with labrun resume).",
    )
    parser.add_argument("file", metavar="FILE", help="the protocol file")
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter value, such as -p temp=37degC (repeatable)",
    )
    add_common(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run on a simulated clock, so that waits take no time, with every device "
        "simulated (--simulate); nothing is recorded",
    )
    parser.set_defaults(handler=run)


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options `labrun run` and `labrun resume` share."""
    parser.add_argument(
        "-a",
        "--answer",
        action="append",
        default=[],
        metavar="STEP=ANSWER",
        help="the answer to the prompt of a step, by id or path (repeatable)",
    )
    parser.add_argument(
        "--events", metavar="PATH", help="write every event as a JSON line to PATH, or - for stdout"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"where runs are recorded (default: ${ENV_VAR}, else the user data directory)",
    )
    _bench.add_options(parser)


def run(args: argparse.Namespace) -> int:
    catalog = load_plugins()
    config = _bench.host_config(args)
    simulate = args.simulate or args.dry_run
    # Simulated, a device missing from the configuration is simulated (bench_for).
    devices = None if simulate else _bench.configured_drivers(config)
    protocol, source = load(args.file, catalog, devices)
    parameters = bind(protocol, args.parameter)
    answers = parse_answers(protocol, args.answer)
    clock: Clock = VirtualClock() if args.dry_run else RealClock()
    bench = bench_for(protocol, config, catalog, clock, args)
    engine = Run(protocol, parameters, clock=clock, bench=bench)
    with ExitStack() as stack:
        setup = prepare(engine, args, answers, stack)
        if not args.dry_run:
            store, interrupted = open_store(args.data_dir, stack)
            report_interrupted(setup, interrupted)
            run_id = new_run_id()
            lock = RunLock(locks(store), run_id)
            lock.acquire()
            stack.callback(lock.release)
            recorder = Recorder.create(
                store, run_id, protocol, source, parameters, by=setup.by, created=clock.now()
            )
            setup.store, setup.run_id, setup.recorder = store, run_id, recorder
            setup.sinks.insert(0, recorder)
            setup.log(f"run {run_id}: {protocol.name} ({args.file})")
        else:
            setup.log(f"dry run: {protocol.name} ({args.file}), on a simulated clock")
        return asyncio.run(drive(setup, bench))


def bench_for(
    protocol: Protocol,
    config: HostConfig,
    catalog: PluginCatalog,
    clock: Clock,
    args: argparse.Namespace,
) -> Bench | None:
    """The devices the protocol uses, simulated with --simulate or --dry-run."""
    if not protocol.devices:
        return None
    simulate = bool(args.simulate or getattr(args, "dry_run", False))
    needed = _bench.bench_config(config, protocol, simulate)
    if simulate:
        return _bench.build(needed, catalog, clock=clock, simulate=True, data_dir=None)
    try:
        directory = data_dir(args.data_dir)
    except DataDirError as error:
        raise CommandError(str(error)) from None
    # The whole configuration: after a labrun that died, the bench makes safe the devices
    # it had open, those this protocol does not use too.
    return _bench.build(
        config, catalog, clock=clock, simulate=False, data_dir=directory, only=needed.devices
    )


async def drive(setup: Setup, bench: Bench | None = None) -> int:
    if bench is None:
        return await _drive(setup)
    async with _bench.opened(bench, setup.log):
        for name, reason in _bench.unavailable(bench).items():
            setup.log(f"labrun: warning: device {name} is unavailable: {reason}")
        journal = setup.run.journal

        def frame(device: Device, direction: str, data: bytes | str) -> None:
            text = data.decode("latin-1") if isinstance(data, bytes) else data
            payload = {"device": device.name, "direction": direction, "data": text}
            journal.emit(EventType.IO, RUN, payload)

        bench.listen(BenchListener(frame=frame))
        return await _drive(setup)


async def _drive(setup: Setup) -> int:
    code = await Session(setup).main()
    for sink in setup.sinks:
        await sink.drain()
    return code


def load(
    file: str, catalog: PluginCatalog | None = None, devices: Mapping[str, str] | None = None
) -> tuple[Protocol, str]:
    """The compiled protocol and its text; diagnostics go to stderr, errors exit 2."""
    try:
        data = Path(file).read_bytes()
    except OSError:
        result = compile(file, catalog=catalog, devices=devices)
        data = b""
    else:
        result = compile(file, text=data, catalog=catalog, devices=devices)
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    if result.protocol is None:
        errors = len(result.errors)
        raise CommandError(
            f"{file} has {errors} error{'s' if errors != 1 else ''}; nothing was run", EXIT_USAGE
        )
    return result.protocol, data.decode("utf-8", errors="replace")


def bind(protocol: Protocol, assignments: Sequence[str]) -> dict[str, Any]:
    """The run's parameter values; problems exit 2, each at its parameter's declaration."""
    try:
        values = parse_assignments(assignments)
        return protocol.bind(values)
    except ParameterError as error:
        lines = []
        for problem in error.problems:
            name = problem.partition(":")[0]
            declared = protocol.parameters.get(name)
            if declared is not None and declared.position is not None:
                lines.append(f"{declared.position}: error: parameter {problem}")
            else:
                lines.append(f"error: {problem}")
        summary = "\n".join(lines)
        raise CommandError(
            f"bad parameter values, nothing was run:\n{summary}", EXIT_USAGE
        ) from None


def parse_answers(protocol: Protocol, assignments: Sequence[str]) -> dict[str, str]:
    """-a STEP=ANSWER, by step path."""
    answers: dict[str, str] = {}
    for text in assignments:
        name, equals, answer = text.partition("=")
        name = name.strip()
        if not equals or not name:
            raise CommandError(f"-a takes STEP=ANSWER, such as -a plate=P-17, not {text!r}")
        step = protocol.step_by_id(name) or protocol.step(name)
        if step is None or not step.path:
            ids = ", ".join(s.id for s in protocol.walk() if s.id is not None) or "none"
            raise CommandError(
                f"-a {text}: the protocol has no step {name!r} (step ids: {ids})", EXIT_USAGE
            )
        answers[step.path] = answer
    return answers


def prepare(
    engine: Run, args: argparse.Namespace, answers: dict[str, str], stack: ExitStack
) -> Setup:
    """The sinks and the operator of a run started from the command line."""
    to_stdout = args.events == "-"
    log_stream: TextIO = sys.stderr if to_stdout else sys.stdout
    sinks: list[Sink] = []
    if args.events is not None:
        if to_stdout:
            events: TextIO = sys.stdout
        else:
            try:
                events = stack.enter_context(open(args.events, "w", encoding="utf-8"))  # noqa: SIM115
            except OSError as error:
                raise CommandError(
                    f"cannot write the events to {args.events}: {error.strerror or error}"
                ) from None
        sinks.append(LineSink(events, json_line, essential=True))
    clock = engine.clock
    log = PlainLog(lambda: engine.protocol, engine.view.started or clock.now())
    display = None
    if not to_stdout and sys.stdout.isatty():
        display = LiveDisplay(LiveView(engine, engine.protocol.name), Console())
    log_sink = LineSink(None if display is not None else log_stream, log)
    sinks.append(log_sink)
    return Setup(
        run=engine,
        by=user(),
        log=log_sink.line,
        answers=answers,
        interactive=sys.stdin.isatty(),
        sinks=sinks,
        display=display,
    )


def open_store(explicit: Path | None, stack: ExitStack) -> tuple[RunStore, list[str]]:
    """The run store, and the runs just marked interrupted: those still active in it that
    no live labrun drives any more."""
    try:
        directory = data_dir(explicit)
        store = stack.enter_context(RunStore.open(directory / DATABASE_NAME))
        interrupted = store.mark_interrupted(alive=lambda run_id: is_driven(locks(store), run_id))
    except (StoreError, DataDirError) as error:
        raise CommandError(str(error)) from None
    return store, interrupted


def report_interrupted(setup: Setup, interrupted: Sequence[str]) -> None:
    for run_id in interrupted:
        setup.log(
            f"labrun: run {run_id} was interrupted (its labrun stopped); "
            f"`labrun resume {run_id}` continues it"
        )


def locks(store: RunStore) -> Path:
    return store.path.parent / "locks"


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
