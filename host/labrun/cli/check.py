"""`labrun check FILE...`: compile protocol files and report every problem found."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labrun.catalog import load_plugins
from labrun.cli import _bench
from labrun.cli._command import CommandError
from labrun.duration import duration_json
from labrun.protocol import CompileResult, compile
from labrun.protocol._format import estimate_text
from labrun.protocol.diagnostic import render_all
from labrun.protocol.estimate import known_duration

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers

SUFFIXES = (".yml", ".yaml")


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "check",
        help="check protocol files and report every problem",
        description="Compile each protocol file (a directory stands for the .yml and .yaml "
        "files in it) and print every problem found, then one line per file with its number "
        "of steps and estimated duration. Exits 0 when there is no error, 1 when there is "
        "one, 2 when a file does not exist.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="protocol files or directories")
    parser.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="json prints the diagnostics and summaries as one JSON document, for tools",
    )
    _bench.add_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    paths = protocol_files(args.files)
    catalog = load_plugins()
    config = _bench.host_config(args)
    # Simulated, a device missing from the configuration is simulated; that is checked below.
    devices = None if args.simulate else _bench.configured_drivers(config)
    results = [compile(path, catalog=catalog, devices=devices) for path in paths]
    problems = []
    if args.simulate:
        for result in results:
            if result.protocol is not None and result.protocol.devices:
                try:
                    _bench.bench_config(config, result.protocol, simulate=True)
                except CommandError as error:
                    problems.append(f"{result.file}: error: {error}")
    if args.format == "json":
        print(json.dumps(report(results), indent=2))
    else:
        for result in results:
            if result.diagnostics:
                print(render_all(result.diagnostics))
        for result in results:
            print(summary(result))
    for problem in problems:
        print(problem)
    return 1 if problems or any(result.errors for result in results) else 0


def protocol_files(arguments: Iterable[str]) -> list[Path]:
    """The files named, directories replaced by the protocol files under them."""
    files: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
            if not found:
                raise CommandError(f"no .yml or .yaml files in {argument}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise CommandError(f"no such file: {argument}")
    return files


def summary(result: CompileResult) -> str:
    """One line: the file, then its errors and warnings, or its steps and duration."""
    counts = []
    for count, word in ((len(result.errors), "error"), (len(result.warnings), "warning")):
        if count:
            counts.append(f"{count} {word}{'s' if count > 1 else ''}")
    if result.protocol is None:
        return f"{result.file}: {', '.join(counts)}"
    steps = result.protocol.process_steps
    parts = [
        f"{steps} step{'s' if steps != 1 else ''}",
        f"estimated {estimate_text(result.protocol)}",
        *counts,
    ]
    return f"{result.file}: {', '.join(parts)}"


def report(results: list[CompileResult]) -> dict[str, Any]:
    return {
        "diagnostics": [d.to_json() for result in results for d in result.diagnostics],
        "files": [
            {
                "file": result.file,
                "ok": result.ok,
                "errors": len(result.errors),
                "warnings": len(result.warnings),
                "steps": result.protocol.process_steps if result.protocol else None,
                "estimate": duration_json(result.protocol.estimate) if result.protocol else None,
                "known_estimate": known_duration(result.protocol) if result.protocol else None,
            }
            for result in results
        ],
    }
