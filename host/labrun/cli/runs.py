"""`labrun runs`: list, show, export and prune the runs recorded in the data directory."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from labrun.cli._command import CommandError
from labrun.datadir import ENV_VAR, DataDirError, data_dir
from labrun.event import EventType
from labrun.quantity import QuantityError, parse_quantity, registry, to_seconds
from labrun.run.state import RunState
from labrun.store import DATABASE_NAME, RunStore, RunSummary, StoreError, UnknownRun

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers

# pint reads "m" as metres and knows no "w"; in an age they can only mean these.
_SHORT_UNITS = re.compile(r"(?P<number>.*[0-9.])\s*(?P<unit>[mw])\s*")
_UNITS = {"m": "min", "w": "week"}
_CELL_WIDTH = 60
# Older than any record; it also keeps "now - age" within the dates Python can represent.
_MAX_AGE = timedelta(days=1000 * 365)


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "runs",
        help="list, show, export and prune recorded runs",
        description="Read the runs recorded in the data directory, or remove old ones.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"where runs are recorded (default: ${ENV_VAR}, else the user data directory)",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser(
        "list", parents=[common], help="the latest runs", description="List the latest runs."
    )
    listing.add_argument("--status", choices=[status.value for status in RunState])
    listing.add_argument("--limit", type=_positive, default=50, help="at most N runs (50)")
    listing.set_defaults(handler=_list)

    show = actions.add_parser(
        "show",
        parents=[common],
        help="one run: summary, steps, diagnostics, operator actions",
        description="Show a run: its summary, its steps with their states and durations, "
        "its diagnostics and who asked what of it.",
    )
    show.add_argument("run_id", metavar="RUN_ID")
    show.set_defaults(handler=_show)

    export = actions.add_parser(
        "export",
        parents=[common],
        help="a run and its events, as JSON or CSV; or its data, as CSV",
        description="Write a run to standard output: as JSON, the run record and all its "
        "events; as CSV, one row per event (seq, time, type, step, payload as JSON). With "
        "--data, the measurements its steps recorded instead, as CSV: a row per sample, a "
        "column per value with its unit in the header.",
    )
    export.add_argument("run_id", metavar="RUN_ID")
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument(
        "--data", action="store_true", help="the recorded measurements, as CSV with units"
    )
    export.set_defaults(handler=_export)

    prune = actions.add_parser(
        "prune",
        parents=[common],
        help="remove old finished runs",
        description="Remove the runs that completed, halted or were interrupted longer ago "
        "than --older-than, with their events. Without --yes, only list them. Runs still "
        "going are never removed.",
    )
    prune.add_argument(
        "--older-than", type=_age, required=True, metavar="AGE", help="such as 90d, 12h, 30m, 2w"
    )
    choice = prune.add_mutually_exclusive_group()
    choice.add_argument("--dry-run", action="store_true", help="only list what would go")
    choice.add_argument("--yes", action="store_true", help="remove them")
    prune.set_defaults(handler=_prune)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def _age(text: str) -> timedelta:
    short = _SHORT_UNITS.fullmatch(text.strip())
    quantity = f"{short['number']} {_UNITS[short['unit']]}" if short else text
    try:
        seconds = to_seconds(parse_quantity(quantity))
    except QuantityError:
        seconds = -1.0
    if not 0 <= seconds <= _MAX_AGE.total_seconds():
        raise argparse.ArgumentTypeError(f"{text!r} is not an age such as 90d, 12h, 30m or 2w")
    return timedelta(seconds=seconds)


@contextmanager
def _opened(args: argparse.Namespace, *, readonly: bool) -> Iterator[RunStore | None]:
    """The run store, or None when reading and nothing was ever recorded; store problems
    become command errors."""
    try:
        path = data_dir(args.data_dir) / DATABASE_NAME
        if readonly and not path.exists():
            yield None
            return
        with RunStore.open(path, readonly=readonly) as store:
            yield store
    except UnknownRun as error:
        raise CommandError(f"{error}; see `labrun runs list`") from None
    except (StoreError, DataDirError) as error:
        raise CommandError(str(error)) from None


def _list(args: argparse.Namespace) -> int:
    status = None if args.status is None else RunState(args.status)
    with _opened(args, readonly=True) as store:
        runs = [] if store is None else store.list_runs(status=status, limit=args.limit)
    if not runs:
        print("no runs recorded" + ("" if status is None else f" with status {status}"))
        return 0
    _print_table(_summary_table(runs))
    return 0


def _summary_table(runs: Sequence[RunSummary]) -> list[list[str]]:
    rows = [["RUN", "PROTOCOL", "STATUS", "BY", "CREATED", "DURATION", "EVENTS"]]
    rows += [
        [
            run.id,
            run.protocol_name,
            run.status,
            run.started_by,
            _time(run.created),
            _duration(run.started, run.ended),
            str(run.event_count),
        ]
        for run in runs
    ]
    return rows


def _show(args: argparse.Namespace) -> int:
    with _opened(args, readonly=True) as store:
        if store is None:
            raise CommandError(f"no run {args.run_id!r}: no runs recorded yet")
        run = store.get_run(args.run_id)
        event_count = store.last_seq(run.id)
        diagnostics = list(store.events(run.id, type=EventType.DIAGNOSTIC))
        actions = store.operator_actions(run.id)
    print(f"run {run.id}")
    summary = [
        ["protocol", run.protocol_name],
        ["status", run.status],
        ["started by", run.started_by],
        ["created", _time(run.created)],
        ["started", _time(run.started)],
        ["ended", _time(run.ended)],
        ["duration", _duration(run.started, run.ended)],
        ["parameters", _json(run.parameters)],
        ["events", str(event_count)],
    ]
    _print_table(summary, indent=2)
    steps = [
        [
            path,
            step.state,
            _time(step.started),
            _duration(step.started, step.ended),
            f"error: {step.error}" if step.error else _json(step.result),
        ]
        for path, step in run.steps.items()
    ]
    _section("steps", ["STEP", "STATE", "STARTED", "DURATION", "OUTCOME"], steps)
    notes = [
        [
            _time(event.time),
            str(event.payload.get("level", "")),
            event.step,
            str(event.payload.get("message", "")),
        ]
        for event in diagnostics
    ]
    _section("diagnostics", ["TIME", "LEVEL", "STEP", "MESSAGE"], notes)
    requests = [
        [_time(a.time), a.by or "?", a.request, a.step, _json(a.details) if a.details else ""]
        for a in actions
    ]
    _section("operator actions", ["TIME", "BY", "REQUEST", "STEP", "DETAILS"], requests)
    return 0


def _export(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _opened(args, readonly=True) as store:
        if store is None:
            raise CommandError(f"no run {args.run_id!r}: no runs recorded yet")
        run = store.get_run(args.run_id)
        if args.data:
            write_data(store, run.id, out)
            return 0
        events = store.events(run.id)
        if args.format == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["seq", "time", "type", "step", "payload"])
            for event in events:
                writer.writerow(
                    [
                        event.seq,
                        event.time.isoformat(),
                        event.type,
                        event.step,
                        _json(event.payload),
                    ]
                )
            return 0
        # Assembled from pieces that pydantic serialises, so that a run of a million events
        # streams out instead of being built whole in memory first.
        out.write(f'{{"run": {run.model_dump_json()}, "events": [')
        for index, event in enumerate(events):
            out.write(f"{',' if index else ''}\n{event.to_json()}")
        out.write("\n]}\n")
    return 0


def write_data(store: RunStore, run_id: str, out: TextIO) -> None:
    """The run's data events as CSV. Two passes over the stored events, so that a long
    recording streams: the first finds the columns and their units, the second writes."""
    columns: dict[str, str | None] = {}
    for event in store.events(run_id, type=EventType.DATA):
        for name, value in event.payload["values"].items():
            if name not in columns or columns[name] is None:
                columns[name] = _units_of(value)
    writer = csv.writer(out, lineterminator="\n")
    header = ["time", "step"]
    header += [f"{name} [{units}]" if units else name for name, units in columns.items()]
    writer.writerow(header)
    for event in store.events(run_id, type=EventType.DATA):
        values = event.payload["values"]
        row: list[Any] = [event.time.isoformat(), event.step]
        row += [_data_cell(values.get(name), units) for name, units in columns.items()]
        writer.writerow(row)


def _units_of(value: Any) -> str | None:
    if isinstance(value, dict) and "units" in value and "magnitude" in value:
        return str(value["units"])
    return None


def _data_cell(value: Any, units: str | None) -> Any:
    if value is None:
        return ""
    if units is not None and isinstance(value, dict) and "magnitude" in value:
        if value.get("units") == units:
            return value["magnitude"]
        quantity = registry().Quantity(value["magnitude"], value["units"])
        return quantity.to(units).magnitude
    if isinstance(value, dict | list):
        return _json(value)
    return value


def _prune(args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    with _opened(args, readonly=not args.yes) as store:
        runs = [] if store is None else store.prune(args.older_than, dry_run=not args.yes, now=now)
    cutoff = _time(now - args.older_than)
    if not runs:
        print(f"no finished runs older than {cutoff}: nothing to remove")
        return 0
    _print_table(_summary_table(runs))
    count = f"{len(runs)} run{'s' if len(runs) > 1 else ''}"
    events = sum(run.event_count for run in runs)
    if args.yes:
        print(f"removed {count} that ended before {cutoff}, with their {events} events")
    elif args.dry_run:
        print(f"would remove {count} that ended before {cutoff}, with their {events} events")
    else:
        print(
            f"would remove {count} that ended before {cutoff}, with their {events} events; "
            "run again with --yes to remove them"
        )
    return 0


def _section(title: str, headers: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}")
    if rows:
        _print_table([headers, *rows], indent=2)
    else:
        print("  none")


def _print_table(rows: Sequence[Sequence[str]], indent: int = 0) -> None:
    cells = [[_cell(cell) for cell in row] for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(*cells, strict=True)]
    for row in cells:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(" " * indent + line.rstrip())


def _cell(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 3] + "..."


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(started: datetime | None, ended: datetime | None) -> str:
    if started is None or ended is None:
        return "-"
    return str(timedelta(seconds=round((ended - started).total_seconds())))


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False)
