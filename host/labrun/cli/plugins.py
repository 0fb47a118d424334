"""`labrun plugins`: what is installed, and what failed to load."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from labrun.catalog import load_plugins

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "plugins",
        help="list installed plugins and their processes",
        description="List each loaded plugin with its processes, then any load problems. "
        "Exits 1 if any plugin failed to load.",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    catalog = load_plugins()
    for namespace in sorted(catalog.plugins):
        plugin = catalog.plugins[namespace]
        header = f"{namespace}"
        if plugin.description:
            header += f" - {plugin.description}"
        print(header)
        for name in sorted(plugin.processes):
            spec = plugin.processes[name]
            print(f"  {spec.qualified_name}({spec.summary()})")
            if spec.description:
                print(f"      {spec.description}")
    if catalog.diagnostics:
        print("\nplugins that failed to load:")
        for diagnostic in catalog.diagnostics:
            print(f"  {diagnostic}")
        return 1
    return 0
