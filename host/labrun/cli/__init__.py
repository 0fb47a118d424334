"""The `labrun` command line. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from labrun.cli import plugins, process
from labrun.cli._command import CommandError

_COMMANDS = (plugins, process)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labrun",
        description="Run laboratory protocols on instruments, simulated or real.",
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.add_parser(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except CommandError as error:
        print(f"labrun: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("labrun: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the user gets a message, not a traceback
        if os.environ.get("LABRUN_DEBUG"):
            traceback.print_exc()
        print(
            f"labrun: internal error: {type(error).__name__}: {error}\n"
            "This is a bug in labrun; set LABRUN_DEBUG=1 to see the traceback and report it.",
            file=sys.stderr,
        )
        return 70
    return code
