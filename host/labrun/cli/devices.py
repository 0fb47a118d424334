"""`labrun devices`: each configured device's status, identity and current values;
`labrun devices read NAME`: every value of one device, read once.

Exit codes: 0 every device answered, 1 one did not, 2 a usage or configuration error.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labrun.catalog import load_plugins
from labrun.cli import _bench
from labrun.cli._command import CommandError
from labrun.clock import RealClock
from labrun.datadir import DataDirError, data_dir
from labrun.device.bench import Bench
from labrun.device.device import Device, DeviceState
from labrun.device.errors import DeviceError
from labrun.quantity import format_quantity, registry

if TYPE_CHECKING:
    from labrun.cli._command import Subparsers


def add_parser(subcommands: Subparsers) -> None:
    parser = subcommands.add_parser(
        "devices",
        help="show the configured devices and their values",
        description="Connect to every configured device and show its status, identity and "
        "current values; `labrun devices read NAME` reads every value of one device. Exit "
        "codes: 0 every device answered, 1 one did not, 2 a usage or configuration error.",
    )
    # Not `choices=`: argparse would refuse `labrun devices pump` before run() could say
    # what was probably meant.
    parser.add_argument("action", nargs="?", metavar="read", help="read: every value of one device")
    parser.add_argument("name", nargs="?", metavar="NAME", help="the device to read")
    _bench.add_options(parser)
    parser.add_argument("--data-dir", type=Path, metavar="DIR", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.action not in (None, "read"):
        raise CommandError(
            f"unexpected {args.action!r}: did you mean labrun devices read {args.action}?"
        )
    if args.action == "read" and args.name is None:
        raise CommandError("labrun devices read NAME: which device? (labrun devices lists them)")
    config = _bench.host_config(args)
    if not config.devices:
        print(
            f"no devices configured ({config.source}); docs/instruments.md says how to declare them"
        )
        return 0
    only = None
    if args.name is not None:
        if args.name not in config.devices:
            known = ", ".join(sorted(config.devices))
            raise CommandError(f"no device {args.name!r} in {config.source} (devices: {known})")
        only = {args.name}
    directory = None
    if not args.simulate:
        try:
            directory = data_dir(args.data_dir)
        except DataDirError as error:
            raise CommandError(str(error)) from None
    bench = _bench.build(
        config,
        load_plugins(),
        clock=RealClock(),
        simulate=args.simulate,
        data_dir=directory,
        only=only,
    )
    return asyncio.run(_show(bench))


async def _show(bench: Bench) -> int:
    code = 0
    async with _bench.opened(bench, print):
        for device in bench.devices.values():
            lines = [_status(device)]
            if device.state is DeviceState.READY:
                try:
                    readings = await device.read_all()
                except DeviceError as error:
                    lines.append(f"  error: {error}")
                    code = 1
                else:
                    for value, reading in readings.items():
                        declared = device.driver.value(value)
                        unit = "" if declared is None or declared.unit is None else declared.unit
                        lines.append(f"  {value}: {_text(reading.value, unit)}")
            else:
                code = 1
            print("\n".join(lines))
    return code


def _status(device: Device) -> str:
    ready = device.state is DeviceState.READY
    detail = (device.identity if ready else device.error) or ""
    return f"{device.name}  {device.driver_name}  {device.state}  {detail}".rstrip()


def _text(value: Any, unit: str) -> str:
    if isinstance(value, registry().Quantity):
        if unit:
            value = value.to(unit)
        return format_quantity(value)
    if value is None:
        return "none"
    return str(value)
