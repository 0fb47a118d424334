"""`ProcessContext`: what a running process sees of the host (SEMANTICS.md "A process")."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from labrun.clock import Clock
from labrun.duration import DurationLike, seconds_of

if TYPE_CHECKING:
    from labrun.step import StepRunner

DataT = TypeVar("DataT")
T = TypeVar("T")

_UNSET: Any = object()


class ProcessContext(Generic[DataT]):
    """One invocation of a process. A restart (jump, swap, resume, retry) gets a new one."""

    def __init__(self, runner: StepRunner, data: DataT, point: Any) -> None:
        self._runner = runner
        self.data: DataT = data
        self.point: Any = point
        self._pausable = False

    @property
    def step(self) -> str:
        return self._runner.step

    @property
    def clock(self) -> Clock:
        return self._runner.clock

    @property
    def pausable(self) -> bool:
        return self._pausable

    @pausable.setter
    def pausable(self, value: bool) -> None:
        self._pausable = value
        if value:
            # A pause that arrived during a non-pausable phase takes effect now.
            self._runner._wake()

    def send_location(self, location: Any, *, point: Any = _UNSET) -> None:
        """Where the process is; calls within one loop iteration collapse to the last."""
        self._runner._set_location(location, point, point is not _UNSET)

    def send_duration(self, value: DurationLike) -> None:
        """The estimated remaining time: seconds, a timedelta, a time quantity or Remaining."""
        self._runner._send_duration(seconds_of(value))

    def send_error(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self._runner._send_diagnostic("error", message, code, details)

    def send_warning(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self._runner._send_diagnostic("warning", message, code, details)

    def send_info(
        self, message: str, *, code: str | None = None, details: Mapping[str, Any] | None = None
    ) -> None:
        self._runner._send_diagnostic("info", message, code, details)

    def send_effect(self, effect: Any) -> None:
        """A side effect worth recording, such as a volume dispensed or a file written."""
        self._runner._send_effect(effect)

    async def checkpoint(self) -> None:
        """A safe point: blocks while paused, raises JumpRequest / SwapRequest if pending."""
        runner = self._runner
        # Yield once even with nothing pending: a request can only arrive while we yield.
        await asyncio.sleep(0)
        if runner._pause is not None or runner._jump is not None or runner._swap is not None:
            await runner._checkpoint(self)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless a control request comes first; then cancel it and raise."""
        return await self._runner._wait(self, awaitable)

    async def receive(self) -> Any:
        """The next message the operator sends to this step."""
        return await self._runner._receive(self)

    async def sleep(self, duration: DurationLike) -> None:
        """Sleep on the run's clock (virtual in a dry run). Not interruptible: use wait()."""
        seconds = seconds_of(duration)
        if seconds is None:
            raise ValueError("cannot sleep for an unknown duration")
        await self._runner.clock.sleep(seconds)
