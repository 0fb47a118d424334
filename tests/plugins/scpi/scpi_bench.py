"""A bench of simulated SCPI instruments, and a fake link for scripted replies.

`bench.open(Driver)` opens the driver's own pyvisa-sim file through a real VisaLink, with
the plugin's physics on the bench's virtual clock, as `--simulate` opens it; `physics=False`
opens the file's table alone, for tests that choose the readings. It opens a copy of the
file: pyvisa keeps one simulated library, and so one instrument state, per file path for
the life of the process, and each test wants a fresh instrument.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from labrun import (
    DeviceError,
    DeviceTimeout,
    VirtualClock,
    VisaDriver,
    VisaLink,
)

Edit = Callable[[dict[str, Any]], None]
LIMIT = 30 * 24 * 3600.0


class Bench:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.clock = VirtualClock(limit=LIMIT)
        self.links: dict[str, VisaLink] = {}
        # Every command and reply on each link, as ("tx" | "rx", text).
        self.io: dict[str, list[tuple[str, str]]] = {}
        self.faults: dict[str, list[DeviceError]] = {}

    async def open(
        self,
        driver: type[VisaDriver],
        name: str = "device",
        *,
        edit: Edit | None = None,
        resource: str | None = None,
        reply_timeout: float = 0.3,
        options: Mapping[str, Any] | None = None,
        physics: bool = True,
    ) -> Any:
        """The driver on its simulated instrument, connected; `edit` changes the
        simulation file (as parsed YAML) first."""
        simulation = driver.simulation
        assert simulation is not None
        file = self.copy(Path(str(simulation.file)), name, edit)
        settings = driver.visa.model_copy(update={"timeout": reply_timeout})
        simulation = replace(
            simulation,
            resource=resource or simulation.resource,
            physics=simulation.physics if physics else None,
        )
        link = simulation.link(name, file, settings, self.clock)
        self.io[name] = []
        self.faults[name] = []
        link.on_io = lambda _, direction, data: self.io[name].append((direction, str(data)))
        link.on_fault = self.faults[name].append
        await link.open()
        self.links[name] = link
        instance = driver(name, driver.Options.model_validate(options or {}), link, self.clock)
        await instance.connect()
        return instance

    def copy(self, source: Path, name: str, edit: Edit | None) -> Path:
        file = self.directory / f"{name}-{source.name}"
        if edit is None:
            shutil.copy(source, file)
        else:
            document = yaml.safe_load(source.read_text())
            edit(document)
            file.write_text(yaml.safe_dump(document))
        return file

    def sent(self, name: str = "device") -> list[str]:
        """The commands sent to `name` so far."""
        return [data for direction, data in self.io[name] if direction == "tx"]

    def forget(self, name: str = "device") -> None:
        self.io[name].clear()

    async def ask(self, command: str, name: str = "device") -> str:
        """Query the simulated instrument's state, outside the I/O log."""
        link = self.links[name]
        listener, link.on_io = link.on_io, None
        try:
            return await link.query(command)
        finally:
            link.on_io = listener

    async def close(self) -> None:
        for link in self.links.values():
            await link.close()


def device(document: dict[str, Any]) -> dict[str, Any]:
    """The one device of a simulation file, to edit."""
    (only,) = document["devices"].values()
    result: dict[str, Any] = only
    return result


class FakeLink:
    """Stands in for a VisaLink: answers queries from a script and records every command.

    `answers` maps a query to its reply, or to a list of replies given in turn (the last
    one repeats). A query with no answer times out, as a real instrument's would.
    """

    def __init__(self, answers: Mapping[str, str | list[str]] | None = None) -> None:
        self.device = "fake"
        self.answers = {
            query: list(reply) if isinstance(reply, list) else [reply]
            for query, reply in (answers or {}).items()
        }
        self.sent: list[str] = []
        self.faults: list[DeviceError] = []
        self.on_fault: Callable[[DeviceError], None] | None = self.faults.append

    async def write(self, command: str) -> None:
        self.sent.append(command)

    async def query(self, command: str) -> str:
        self.sent.append(command)
        replies = self.answers.get(command)
        if not replies:
            raise DeviceTimeout(self.device, "no reply within 0.3 s", command=command)
        return replies.pop(0) if len(replies) > 1 else replies[0]


def fake(
    driver: type[VisaDriver], answers: Mapping[str, str | list[str]] | None = None, **options: Any
) -> Any:
    """The driver on a FakeLink (reach the link as `.link`), not yet connected."""
    link = FakeLink(answers)
    return driver("fake", driver.Options.model_validate(options), link, VirtualClock())  # type: ignore[arg-type]
