"""What `run`, `resume`, `check` and `devices` share about devices: `--config` and
`--simulate`, the bench a protocol needs, and opening and closing it.

With `--simulate`, a device the protocol names that no configuration declares is still
simulated, with the driver its steps need (when they agree on one): a protocol runs on
the simulated bench with no configuration at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

from labrun.catalog import PluginCatalog
from labrun.cli._command import CommandError
from labrun.clock import Clock
from labrun.device.bench import Bench, BenchError
from labrun.device.config import ENV_VAR, ConfigError, DeviceConfig, HostConfig, load_config
from labrun.device.device import DeviceState
from labrun.protocol import Protocol

EXIT_USAGE = 2


def add_options(parser: argparse.ArgumentParser, *, simulate: bool = True) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"the host configuration with the bench's devices (default: ${ENV_VAR}, "
        "else config.yml in the user configuration directory)",
    )
    if simulate:
        parser.add_argument(
            "--simulate",
            action="store_true",
            help="replace every device by a simulator that speaks its wire protocol",
        )


def host_config(args: argparse.Namespace) -> HostConfig:
    try:
        return load_config(args.config)
    except ConfigError as error:
        raise CommandError(f"the configuration is not valid:\n{error.render()}") from None


def configured_drivers(config: HostConfig) -> dict[str, str] | None:
    """What the compiler checks device names against: None when no file was read."""
    if config.path is None and not config.devices:
        return None
    return {name: device.driver for name, device in config.devices.items()}


def bench_config(config: HostConfig, protocol: Protocol, simulate: bool) -> HostConfig:
    """The configuration of the devices `protocol` uses, completed for a simulated bench."""
    devices: dict[str, DeviceConfig] = {}
    problems = []
    for name, target in protocol.devices.items():
        if target in config.devices:
            devices[target] = config.devices[target]
            continue
        used = name in protocol.device_drivers
        drivers = sorted(protocol.device_drivers.get(name, ()))
        if not simulate:
            problems.append(
                f"device {name!r} ({target}) is not in the configuration ({config.source}): "
                "declare it there, or run with --simulate"
            )
        elif len(drivers) == 1:
            devices[target] = DeviceConfig(driver=drivers[0])
        else:
            if drivers:
                accepted = f"its steps accept {', '.join(drivers)}"
            else:
                accepted = "its steps accept any driver" if used else "no step uses it"
            problems.append(
                f"cannot tell which driver to simulate for device {name!r} ({accepted}); "
                "declare it in a configuration (--config)"
            )
    if problems:
        raise CommandError("\n".join(problems), EXIT_USAGE)
    return HostConfig(devices=devices, source=config.source, path=config.path)


def build(
    config: HostConfig,
    catalog: PluginCatalog,
    *,
    clock: Clock,
    simulate: bool,
    data_dir: Path | None,
    only: Collection[str] | None = None,
) -> Bench:
    """The bench of the devices in `only` (all when None); the others of `config` are
    there for the bench to make safe after a labrun that died with them open."""
    try:
        return Bench.build(
            config,
            catalog,
            clock=clock,
            simulate=simulate,
            data_dir=None if simulate else data_dir,
            only=only,
        )
    except BenchError as error:
        raise CommandError("the bench cannot be set up:\n" + "\n".join(error.problems)) from None


@contextlib.asynccontextmanager
async def opened(
    bench: Bench, log: Callable[[str], None], *, poll: bool = False
) -> AsyncIterator[Bench]:
    """The bench started; stopped at the end whatever happens, which leaves every device
    in its safe state."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_quiet_transport_errors)
    try:
        await bench.start(poll=poll)
    except BenchError as error:
        raise CommandError("\n".join(error.problems), 1) from None
    try:
        if bench.recovered:
            log(
                "labrun: the last labrun on this bench did not stop cleanly: "
                "every device gets its safe state"
            )
        for reason in bench.unrecovered.values():
            log(
                f"labrun: warning: safe state not applied: {reason}; the next labrun to "
                "open the bench tries again, see to the instrument meanwhile"
            )
        yield bench
    finally:
        problems = await bench.stop()
        for problem in problems.values():
            log(f"labrun: warning: safe state not applied: {problem}")


def unavailable(bench: Bench) -> Mapping[str, str]:
    return {
        name: device.error or str(device.state)
        for name, device in bench.devices.items()
        if device.state is not DeviceState.READY
    }


def _quiet_transport_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """pyserial-asyncio-fast reports a line that drops under it as a "fatal error" with a
    traceback; the link reports the same fault to the step as a device error, so the
    traceback would only alarm the technician."""
    if str(context.get("message", "")).startswith("Fatal") and "serial" in str(
        context.get("message", "")
    ):
        return
    loop.default_exception_handler(context)
