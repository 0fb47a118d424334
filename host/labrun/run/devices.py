"""The devices of one run: which a step uses, claiming them, and their safe states.

A step uses the devices its arguments name (the fields marked `DeviceRef`), by the names of
the protocol's `devices:`; those map to the bench's configured devices. A step claims its
devices for as long as it runs (a failed step keeps them, for a retry); a step in another
branch that needs one of them waits. The safe state goes to the devices of a step that
fails or is skipped, and to every device of the protocol when the run ends, however it ends;
the hold action goes to the devices of a step that pauses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import Any

from pydantic import BaseModel

from labrun.device.bench import Bench
from labrun.plugin import ProcessSpec

Report = Callable[[str, str], None]


class RunDevices:
    def __init__(self, bench: Bench | None, report: Report) -> None:
        self.bench = bench
        self._report = report
        self._safing: set[asyncio.Task[None]] = set()

    def of_step(
        self, spec: ProcessSpec, data: BaseModel, declared: Mapping[str, str]
    ) -> tuple[dict[str, str], set[str], str | None]:
        """The devices a step uses (protocol name -> bench name), the bench names it
        claims (those it does not only share), or why it cannot have them."""
        used: dict[str, str] = {}
        claimed: set[str] = set()
        for field, ref in spec.devices:
            value = getattr(data, field, None)
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, list | tuple):
                continue
            for name in names:
                target = declared.get(name)
                if target is None:
                    return (
                        used,
                        claimed,
                        (f"device {name!r} is not declared under the protocol's devices:"),
                    )
                used[name] = target
                if not ref.shared:
                    claimed.add(target)
        if not used:
            return used, claimed, None
        if self.bench is None:
            names = ", ".join(sorted(used))
            return (
                used,
                claimed,
                (
                    f"this step uses {names}, and no devices are open: run with --simulate, "
                    "or with a configuration (--config) that declares them"
                ),
            )
        for name, target in used.items():
            if target not in self.bench.devices:
                return used, claimed, f"device {name!r} is {target!r}, which is not on this bench"
        return used, claimed, None

    def drivers(self, used: Mapping[str, str]) -> dict[str, Any]:
        if self.bench is None:
            return {}
        return {name: self.bench.devices[target].driver for name, target in used.items()}

    async def claim(self, names: Collection[str], holder: str) -> None:
        if self.bench is not None and names:
            await self.bench.claim(names, holder)

    def release(self, names: Collection[str], holder: str) -> None:
        if self.bench is not None and names:
            self.bench.release(names, holder)

    async def safe(self, names: Collection[str], why: str) -> None:
        """Apply the safe state to `names` and say so in the run's diagnostics; a device
        that stays down is warned of once, not at each step and at the end of the run."""
        bench = self.bench
        names = sorted(n for n in names if bench is not None and n in bench.devices)
        if bench is None or not names:
            return
        report = await bench.safe(names)
        if report.applied:
            self._report("info", f"safe state applied to {', '.join(report.applied)} ({why})")
        for problem in report.problems.values():
            self._report("warning", f"safe state not applied now: {problem}")

    async def hold(self, names: Collection[str], why: str) -> None:
        """Apply the hold action of `names` (SEMANTICS.md: the devices of a paused step)."""
        bench = self.bench
        names = sorted(n for n in names if bench is not None and n in bench.devices)
        if bench is None or not names:
            return
        report = await bench.hold(names)
        if report.applied:
            self._report("info", f"{', '.join(report.applied)} held ({why})")
        for problem in report.problems.values():
            self._report("warning", f"hold not applied: {problem}")

    def hold_later(self, names: Collection[str], why: str) -> None:
        """`hold()` from synchronous code; `settle()` waits for it."""
        self._later(self.hold(names, why))

    def safe_later(self, names: Collection[str], why: str) -> None:
        """`safe()` from synchronous code; `settle()` waits for it."""
        self._later(self.safe(names, why))

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._safing.add(task)
        task.add_done_callback(self._safing.discard)

    async def settle(self) -> None:
        while self._safing:
            await asyncio.wait(list(self._safing))
