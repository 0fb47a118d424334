"""`labrun schema`: the JSON Schema of protocol files, for editors."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from labrun.catalog import load_plugins
from labrun.protocol.schema import protocol_schema

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "schema",
        help="print the JSON Schema of protocol files, for editors",
        description="Print the JSON Schema of protocol files, including the arguments of "
        "every installed plugin's processes. Save it and point your editor at it "
        "(docs/protocols.md says how) to get completion and checks while typing.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(protocol_schema(load_plugins()), indent=2))
    return 0
