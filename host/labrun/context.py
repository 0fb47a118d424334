"""`ProcessContext`: what a running process sees of the host (SEMANTICS.md "A process")."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from labrun.clock import Clock
from labrun.device.driver import Driver
from labrun.duration import DurationLike, seconds_of
from labrun.turn import due, turn

if TYPE_CHECKING:
    from labrun.step import StepRunner

DataT = TypeVar("DataT")
T = TypeVar("T")
D = TypeVar("D", bound=Driver[Any])

_UNSET: Any = object()


class ProcessContext(Generic[DataT]):
    """One invocation of a process. A restart (jump, swap, resume, retry) gets a new one."""

    _pausable = False

    def __init__(self, runner: StepRunner, data: DataT, point: Any) -> None:
        self._runner = runner
        self.data: DataT = data
        self.point: Any = point

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

    @overload
    def device(self, name: str) -> Driver[Any]: ...
    @overload
    def device(self, name: str, kind: type[D]) -> D: ...
    def device(self, name: str, kind: type[Any] | None = None) -> Any:
        """The driver of the device the protocol calls `name`, claimed for this step.

        `kind` checks the driver's class (and tells a type checker what comes back)."""
        driver = self._runner.devices.get(name)
        if driver is None:
            known = ", ".join(sorted(self._runner.devices)) or "none"
            raise LookupError(
                f"step {self.step} has no device {name!r} (its devices: {known}); a process "
                "reaches the devices named in its arguments"
            )
        if kind is not None and not isinstance(driver, kind):
            raise TypeError(
                f"device {name!r} has the driver {type(driver).__name__}, not {kind.__name__}"
            )
        return driver

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

    def send_data(self, values: Mapping[str, Any]) -> None:
        """Record one row of measurements into the run's data, by column name; quantities
        keep their units (`labrun runs export RUN_ID --data` gives them as CSV)."""
        self._runner._send_data(values)

    def send_effect(self, effect: Any) -> None:
        """A side effect worth recording, such as a volume dispensed or a file written."""
        self._runner._send_effect(effect)

    async def checkpoint(self) -> None:
        """A safe point: blocks while paused, raises JumpRequest / SwapRequest if pending."""
        runner = self._runner
        # Nothing pending costs no loop trip; turn() still lets requests in now and then.
        if due():
            await turn()
        if runner._pause is not None or runner._jump is not None or runner._swap is not None:
            await runner._checkpoint(self)

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` unless a control request comes first; then cancel it and raise."""
        return await self._runner._wait(self, awaitable)

    async def receive(self, within: DurationLike | None = None) -> Any:
        """The next message the operator sends to this step; with `within`, TimeoutError
        when none comes within that time on the run's clock."""
        return await self._runner._receive(self, None if within is None else seconds_of(within))

    async def sleep(self, duration: DurationLike) -> None:
        """Sleep on the run's clock (virtual in a dry run). Not interruptible: use wait()."""
        seconds = seconds_of(duration)
        if seconds is None:
            raise ValueError("cannot sleep for an unknown duration")
        await self._runner.clock.sleep(seconds)
