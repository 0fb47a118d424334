"""The `labrun` command line. Each subcommand lives in its own module of this package."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from labrun.cli import check, describe, devices, plugins, process, resume, run, runs, schema
from labrun.cli._command import CommandError

_COMMANDS = (check, describe, devices, plugins, process, run, resume, runs, schema)


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
    parser = build_parser()
    # NAME=VALUE arguments may follow options (`process timer.wait --dry-run duration=5s`),
    # which a subparser's nargs="*" positional alone does not allow.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not getattr(args, "takes_extra_arguments", False) or any(
            a.startswith("-") for a in extra
        ):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.arguments = [*args.arguments, *extra]
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
