"""`labrun resume RUN_ID`: go on with a run whose labrun stopped, whatever stopped it.

The run's stored events rebuild its state; each step that was running is invoked again
from the last point it reported, and steps already done are not run again. The protocol
is compiled again from the text stored with the run (the last one swapped in, if any).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING

from labrun.catalog import PluginCatalog, load_plugins
from labrun.cli import _bench
from labrun.cli._command import CommandError
from labrun.cli._session import EXIT_COMPLETED, EXIT_FAILED, EXIT_USAGE
from labrun.cli.run import (
    add_common,
    bench_for,
    drive,
    locks,
    open_store,
    parse_answers,
    prepare,
    report_interrupted,
)
from labrun.clock import RealClock
from labrun.event import EventType
from labrun.protocol import ParameterError, Protocol, compile
from labrun.run.engine import Run
from labrun.run.projection import RunView
from labrun.run.recorder import Recorder, RunLock
from labrun.run.state import RunState
from labrun.store import RunRecord, RunStore, StepResult, UnknownRun

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "resume",
        help="continue an interrupted run",
        description="Continue a run whose labrun stopped (killed, crashed, the computer "
        "shut down): each step that was running starts again from the last point it "
        "reported. Exit codes as for labrun run.",
    )
    parser.add_argument("run_id", metavar="RUN_ID")
    add_common(parser)
    parser.set_defaults(handler=resume)


def resume(args: argparse.Namespace) -> int:
    with ExitStack() as stack:
        store, interrupted = open_store(args.data_dir, stack)
        try:
            record = store.get_run(args.run_id)
        except UnknownRun as error:
            raise CommandError(f"{error}; see `labrun runs list`") from None
        if record.status is not RunState.INTERRUPTED:
            doing = "another labrun is running it" if record.status.is_active else "it is over"
            raise CommandError(
                f"run {record.id} is {record.status}: {doing}, there is nothing to resume"
            )
        lock = RunLock(locks(store), record.id)
        if not lock.acquire():
            raise CommandError(f"run {record.id} is being resumed by another labrun")
        stack.callback(lock.release)
        view = RunView()
        for event in store.events(record.id):
            view.apply(event)
        catalog = load_plugins()
        protocol = _protocol(store, record, catalog)
        try:
            parameters = protocol.bind(record.parameters)
        except ParameterError as error:
            raise CommandError(
                f"run {record.id} cannot be resumed: its parameter values no longer fit its "
                f"protocol: {'; '.join(error.problems)}"
            ) from None
        if view.state.is_final:
            return _write_final(store, record, view)
        clock = RealClock()
        bench = bench_for(protocol, _bench.host_config(args), catalog, clock, args)
        engine = Run(protocol, parameters, clock=clock, view=view, bench=bench)
        setup = prepare(engine, args, parse_answers(protocol, args.answer), stack)
        report_interrupted(setup, [i for i in interrupted if i != record.id])
        recorder = Recorder(store.writer(record.id))
        setup.store, setup.run_id, setup.recorder = store, record.id, recorder
        setup.sinks.insert(0, recorder)
        setup.log(f"resuming run {record.id}: {protocol.name}, after event {view.last_seq}")
        return asyncio.run(drive(setup, bench))


def _protocol(store: RunStore, record: RunRecord, catalog: PluginCatalog) -> Protocol:
    snapshot = record.protocol_snapshot
    file = str(snapshot.get("file", "<run>")) if isinstance(snapshot, dict) else "<run>"
    source = record.protocol_source
    for event in store.events(record.id, type=EventType.REQUEST):
        if event.step == "" and event.payload.get("request") == "swap":
            if event.payload.get("source") is None:
                raise CommandError(
                    f"run {record.id} cannot be resumed: a protocol was swapped into it "
                    "without its text"
                )
            file, source = str(event.payload["file"]), str(event.payload["source"])
    result = compile(file, text=source, catalog=catalog)
    for diagnostic in result.errors:
        print(diagnostic.render(), file=sys.stderr)
    if result.protocol is None:
        raise CommandError(
            f"run {record.id} cannot be resumed: its protocol no longer compiles here (are "
            "its plugins installed?)",
            EXIT_USAGE,
        )
    return result.protocol


def _write_final(store: RunStore, record: RunRecord, view: RunView) -> int:
    """The run had ended, but its labrun stopped before writing its final record."""
    steps = {
        path: StepResult(
            state=s.state,
            started=s.started,
            ended=s.ended,
            result=s.result,
            error=s.error,
            point=s.point,
        )
        for path, s in view.steps.items()
    }
    store.update_run(record.id, status=view.state, ended=view.ended, steps=steps)
    print(f"run {record.id} had {view.state}; its record is now complete")
    return EXIT_COMPLETED if view.state is RunState.COMPLETED else EXIT_FAILED
