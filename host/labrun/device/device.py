"""One configured device: its link, its driver, its lifecycle and its latest values.

    closed ──open()──▶ connecting ──▶ ready ──fault──▶ unavailable ──backoff──▶ connecting
                            └──fails──▶ unavailable                  close() from any state

A fault (a timeout, a garbled reply, a disconnect, an alarm) marks the device unavailable
at once, so every later call fails fast with the reason, and starts reconnecting with
backoff; once the link is back and the instrument identifies itself again, a safe state
that could not be applied meanwhile is applied, and polling resumes. The backoff runs on
the bench's clock: in a dry run it is virtual time, as a step's retry backoff is, so that
a retry after a longer backoff finds the device back there too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from labrun.clock import Clock
from labrun.device.driver import Driver
from labrun.device.errors import DeviceError, DeviceUnavailable
from labrun.device.link import Direction

# Reconnection backoff: first delay, factor, longest delay (seconds).
BACKOFF = (0.5, 2.0, 30.0)


class DeviceState(StrEnum):
    CLOSED = "closed"
    CONNECTING = "connecting"
    READY = "ready"
    UNAVAILABLE = "unavailable"


_TRANSITIONS: dict[DeviceState, frozenset[DeviceState]] = {
    DeviceState.CLOSED: frozenset({DeviceState.CONNECTING}),
    DeviceState.CONNECTING: frozenset(
        {DeviceState.READY, DeviceState.UNAVAILABLE, DeviceState.CLOSED}
    ),
    DeviceState.READY: frozenset({DeviceState.UNAVAILABLE, DeviceState.CLOSED}),
    DeviceState.UNAVAILABLE: frozenset({DeviceState.CONNECTING, DeviceState.CLOSED}),
}


@dataclass(frozen=True)
class Reading:
    value: Any
    time: datetime


class DeviceListener:
    """What a device tells the bench; the bench fans it out to its own listeners."""

    def state_changed(self, device: Device) -> None: ...
    def value_read(self, device: Device, name: str, reading: Reading) -> None: ...
    def frame(self, device: Device, direction: Direction, data: bytes | str) -> None: ...


class Device:
    def __init__(
        self,
        name: str,
        driver_name: str,
        driver: Driver[Any],
        clock: Clock,
        *,
        listener: DeviceListener | None = None,
        io_log: bool = False,
        backoff: tuple[float, float, float] = BACKOFF,
    ) -> None:
        self.name = name
        self.driver_name = driver_name
        self.driver = driver
        self.clock = clock
        self.identity: str | None = None
        self.error: str | None = None
        self.values: dict[str, Reading] = {}
        self._state = DeviceState.CLOSED
        # Set while ready: the poller waits on it while the device is down, instead of
        # spinning, which would also keep a virtual clock from ever reaching the backoff.
        self._ready = asyncio.Event()
        self._listener = listener or DeviceListener()
        self._backoff = backoff
        self._reconnecting: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._polling = False
        # A safe state asked for while the device was unavailable, applied on reconnection.
        self.safe_pending = False
        # Whether its link ever opened: a device never reached was never driven either.
        self.reached = False
        link = driver.link
        link.on_fault = self._fault
        if io_log:
            link.on_io = lambda _device, direction, data: self._listener.frame(
                self, direction, data
            )

    def __repr__(self) -> str:
        return f"Device({self.name!r}, {self.driver_name}, {self._state})"

    @property
    def state(self) -> DeviceState:
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is DeviceState.CLOSED

    @property
    def link(self) -> Any:
        return self.driver.link

    def _set_state(self, state: DeviceState) -> None:
        if state is self._state:
            return
        assert state in _TRANSITIONS[self._state], f"{self._state} -> {state}"
        self._state = state
        if state is DeviceState.READY:
            self._ready.set()
        else:
            self._ready.clear()
        self._listener.state_changed(self)

    async def open(self, *, poll: bool = False) -> None:
        """Connect and identify; on failure the device is left reconnecting, not raised."""
        self._polling = poll
        try:
            await self._connect()
        except Exception as error:  # noqa: BLE001 - a driver's bug must not stop the host
            self._unavailable(_reason(error))

    async def _connect(self) -> None:
        self._set_state(DeviceState.CONNECTING)
        link = self.link
        link.unavailable = None
        await link.close()
        await link.open()
        self.reached = True
        self.identity = await self.driver.identify()
        # An owed safe state comes before connect(), which may need a stopped device: a
        # pump left running refuses a new syringe diameter, and would be left running.
        if self.safe_pending:
            await self.driver.safe_state()
            self.safe_pending = False
        await self.driver.connect()
        self.error = None
        self._set_state(DeviceState.READY)
        if self._polling and self._poller is None and any(v.poll for v in self.driver.values):
            self._poller = asyncio.create_task(self._poll(), name=f"labrun poll {self.name}")

    def _fault(self, error: DeviceError) -> None:
        if self._state is DeviceState.READY:
            self._unavailable(str(error))

    def _unavailable(self, reason: str) -> None:
        if self._state is DeviceState.CLOSED:
            return
        self.error = reason
        self.link.unavailable = reason
        self._set_state(DeviceState.UNAVAILABLE)
        if self._reconnecting is None or self._reconnecting.done():
            self._reconnecting = asyncio.create_task(
                self._reconnect(), name=f"labrun reconnect {self.name}"
            )

    async def _reconnect(self) -> None:
        first, factor, longest = self._backoff
        delay = first
        while self._state is DeviceState.UNAVAILABLE:
            await self.clock.sleep(delay)
            if self._state is not DeviceState.UNAVAILABLE:
                return
            try:
                await self._connect()
            except Exception as error:  # noqa: BLE001 - a driver's bug must not stop the host
                if self.closed:
                    return
                self.error = _reason(error)
                self.link.unavailable = self.error
                self._set_state(DeviceState.UNAVAILABLE)
                delay = min(delay * factor, longest)
            else:
                return

    async def wait_ready(self) -> None:
        """Until the device is ready again (tests, and a retry after a fault)."""
        while self._state is not DeviceState.READY:
            if self._state is DeviceState.CLOSED:
                raise DeviceUnavailable(self.name, "closed")
            task = self._reconnecting
            if task is not None and not task.done():
                await asyncio.shield(task)
            else:
                await asyncio.sleep(0.01)

    async def safe(self) -> None:
        """Apply the safe state now, or as soon as the device is back; raises DeviceError
        when it could not be applied now. A device never reached has none to take, unless
        it is owed from a labrun that died (`safe_pending` set before it opened)."""
        if self._state is not DeviceState.READY:
            if not self.reached and not self.safe_pending:
                raise DeviceUnavailable(self.name, "never reached, so nothing to make safe")
            self.safe_pending = True
            raise DeviceUnavailable(
                self.name, f"{self._state}: the safe state is applied when it reconnects"
            )
        try:
            await self.driver.safe_state()
        except DeviceError:
            self.safe_pending = True
            raise
        self.safe_pending = False

    async def hold(self) -> None:
        """Apply the driver's hold action now; raises DeviceError when it cannot. A device
        that is down is not retried: its process, resumed, finds it down anyway."""
        if self._state is not DeviceState.READY:
            raise DeviceUnavailable(self.name, f"{self._state}: not held")
        await self.driver.hold()

    async def read(self, name: str) -> Reading:
        reading = Reading(await self.driver.read(name), self.clock.now())
        self.values[name] = reading
        self._listener.value_read(self, name, reading)
        return reading

    async def read_values(self, names: Sequence[str]) -> dict[str, Reading]:
        """Read `names` together, in one exchange for a driver whose instrument answers
        them in one reply."""
        values = await self.driver.read_many(names)
        time = self.clock.now()
        readings: dict[str, Reading] = {}
        for name, value in values.items():
            reading = readings[name] = Reading(value, time)
            self.values[name] = reading
            self._listener.value_read(self, name, reading)
        return readings

    async def read_all(self) -> dict[str, Reading]:
        await self.read_values([value.name for value in self.driver.values])
        return dict(self.values)

    async def _poll(self) -> None:
        intervals = {v.name: v.poll for v in self.driver.values if v.poll}
        loop = asyncio.get_running_loop()
        due = dict.fromkeys(intervals, loop.time())
        while True:
            await self._ready.wait()
            now = loop.time()
            names = [name for name, when in due.items() if when <= now]
            if names:
                with contextlib.suppress(DeviceError):
                    await self.read_values(names)
                for name in names:
                    due[name] = now + intervals[name]
            # Values poll on real time, also in a dry run: they show a technician the bench.
            await asyncio.sleep(max(0.0, min(due.values()) - loop.time()))

    async def close(self) -> None:
        for task in (self._poller, self._reconnecting):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._poller = self._reconnecting = None
        if self._state is DeviceState.READY:
            with contextlib.suppress(DeviceError):
                await self.driver.close()
        if self._state is not DeviceState.CLOSED:
            self._set_state(DeviceState.CLOSED)
        await self.link.close()


def _reason(error: Exception) -> str:
    if isinstance(error, DeviceError):
        return str(error)
    return f"driver error: {type(error).__name__}: {error}"
