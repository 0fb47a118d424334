"""`labrun describe FILE`: a protocol's step tree with estimates, or a Mermaid diagram."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from labrun.catalog import load_plugins
from labrun.cli._command import CommandError
from labrun.protocol import Protocol, compile
from labrun.protocol._format import estimate_text, format_duration, step_label
from labrun.protocol.mermaid import mermaid

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "describe",
        help="show a protocol's steps with their estimated durations",
        description="Compile a protocol and print its parameters and its steps, each with "
        "its path (the name events give it) and estimated duration. When it does not "
        "compile, print the problems and exit 1.",
    )
    parser.add_argument("file", metavar="FILE", help="a protocol file")
    parser.add_argument("--mermaid", action="store_true", help="print a Mermaid flowchart")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CommandError(f"no such file: {args.file}")
    result = compile(path, catalog=load_plugins())
    for diagnostic in result.diagnostics:
        print(diagnostic.render(), file=sys.stderr)
    if result.protocol is None:
        return 1
    print(mermaid(result.protocol) if args.mermaid else outline(result.protocol), end="")
    return 0


def outline(protocol: Protocol) -> str:
    """The protocol as text: what it is, its parameters, then one line per step."""
    lines = [f"{protocol.name} ({protocol.file}): estimated {estimate_text(protocol)}"]
    if protocol.description:
        lines.append(protocol.description.strip())
    if protocol.parameters:
        lines.append("")
        lines.append("parameters:")
        for name, parameter in protocol.parameters.items():
            about = f" - {parameter.description}" if parameter.description else ""
            lines.append(f"  {name}: {parameter.summary()}{about}")
    if protocol.devices:
        lines.append("")
        lines.append("devices:")
        lines.extend(f"  {name}: {device}" for name, device in protocol.devices.items())
    lines.append("")
    lines.append("steps (path, step, estimate):")
    for step in protocol.walk():
        if step is protocol.root:
            continue
        depth = step.path.count(".")
        lines.append(
            f"  {step.path:<10}{'  ' * depth}{step_label(step)}  ({format_duration(step.estimate)})"
        )
    return "\n".join(lines) + "\n"
