"""Links: the one way drivers reach their devices.

Drivers never open ports: the device layer opens a link for them and hands it over. A
serial link goes through pyserial-asyncio-fast (device paths, ptys, `socket://` URLs); a
VISA link runs pyvisa's blocking calls in a thread of its own, one call at a time and under
a timeout, so the event loop never blocks. Every frame can be passed to an I/O log.

While a frame is in flight the run's clock is held, so that in a dry run on the virtual
clock a reply takes no virtual time, as a real reply takes next to no real time.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import serial
import serial_asyncio_fast
from pydantic import BaseModel, ConfigDict, Field, field_validator

from labrun.clock import Clock
from labrun.device.errors import (
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    DeviceUnavailable,
)

Direction = Literal["tx", "rx"]
IOListener = Callable[[str, Direction, bytes | str], None]
FaultListener = Callable[[DeviceError], None]


class SerialSettings(BaseModel):
    """The settings of a serial line; a driver gives its device's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    baudrate: int = Field(9600, gt=0)
    bytesize: Literal[5, 6, 7, 8] = 8
    parity: Literal["N", "E", "O", "M", "S"] = "N"
    stopbits: float = 1

    @field_validator("stopbits")
    @classmethod
    def _stopbits(cls, value: float) -> float:
        if value not in (1, 1.5, 2):
            raise ValueError("stopbits must be 1, 1.5 or 2")
        return value

    timeout: float = Field(2.0, gt=0, description="seconds to wait for a whole reply")


class VisaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    read_termination: str = "\n"
    write_termination: str = "\n"
    timeout: float = Field(2.0, gt=0, description="seconds to wait for a whole reply")


class Link(ABC):
    """A connection to one device. It reports each fault to `on_fault` before raising it."""

    def __init__(self, device: str, clock: Clock) -> None:
        self.device = device
        self.clock = clock
        self.on_io: IOListener | None = None
        self.on_fault: FaultListener | None = None
        # Set while the device is unavailable: every call fails at once with this reason.
        self.unavailable: str | None = None
        self._lock = asyncio.Lock()

    @property
    @abstractmethod
    def is_open(self) -> bool: ...

    @abstractmethod
    async def open(self) -> None:
        """Open the connection; raises DeviceDisconnected when it cannot."""

    @abstractmethod
    async def close(self) -> None: ...

    def _log(self, direction: Direction, data: bytes | str) -> None:
        if self.on_io is not None:
            self.on_io(self.device, direction, data)

    def _fault(self, error: DeviceError) -> DeviceError:
        if self.on_fault is not None:
            self.on_fault(error)
        return error

    def _check(self, command: bytes | str | None) -> None:
        if self.unavailable is not None:
            raise DeviceUnavailable(self.device, f"unavailable: {self.unavailable}")
        if not self.is_open:
            raise self._fault(DeviceDisconnected(self.device, "not connected", command=command))


class SerialLink(Link):
    """A serial line: a device path, a pty, or a `socket://host:port` URL."""

    def __init__(self, device: str, url: str, settings: SerialSettings, clock: Clock) -> None:
        super().__init__(device, clock)
        self.url = url
        self.settings = settings
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @property
    def is_open(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def open(self) -> None:
        s = self.settings
        try:
            with self.clock.hold():
                self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                    url=self.url,
                    baudrate=s.baudrate,
                    bytesize=s.bytesize,
                    parity=s.parity,
                    stopbits=s.stopbits,
                )
        except (OSError, serial.SerialException, ValueError) as error:
            raise DeviceDisconnected(self.device, f"cannot open {self.url}: {error}") from error

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def exchange(self, command: bytes, until: bytes, *, within: float | None = None) -> bytes:
        """Send `command` and return the reply up to and including `until`. Input left
        over from an earlier exchange (a late reply, line noise) is dropped first.
        `within` overrides the line's timeout, for a command the device is slow to answer."""
        async with self._lock:
            self._check(command)
            assert self._reader is not None
            self._discard_pending(self._reader)
            await self._send(command)
            return await self._receive(command, until, within)

    async def send(self, command: bytes) -> None:
        """Send `command` and expect nothing back."""
        async with self._lock:
            self._check(command)
            await self._send(command)

    async def _send(self, command: bytes) -> None:
        assert self._writer is not None
        self._log("tx", command)
        try:
            self._writer.write(command)
            with self.clock.hold():
                await self._writer.drain()
        except (OSError, serial.SerialException, ConnectionError) as error:
            raise self._fault(
                DeviceDisconnected(self.device, f"write failed: {error}", command=command)
            ) from error

    async def _receive(self, command: bytes, until: bytes, within: float | None) -> bytes:
        reader = self._reader
        assert reader is not None
        seconds = self.settings.timeout if within is None else within
        try:
            with self.clock.hold():
                async with asyncio.timeout(seconds):
                    reply = await reader.readuntil(until)
        except TimeoutError as error:
            partial = bytes(getattr(reader, "_buffer", b"")) or None
            raise self._fault(
                DeviceTimeout(
                    self.device, f"no reply within {seconds:g} s", command=command, reply=partial
                )
            ) from error
        except asyncio.IncompleteReadError as error:
            self._drop()
            raise self._fault(
                DeviceDisconnected(
                    self.device, "disconnected", command=command, reply=error.partial or None
                )
            ) from error
        except asyncio.LimitOverrunError as error:
            raise self._fault(
                DeviceDisconnected(self.device, f"reply too long: {error}", command=command)
            ) from error
        except (OSError, serial.SerialException, ConnectionError) as error:
            self._drop()
            raise self._fault(
                DeviceDisconnected(self.device, f"connection lost: {error}", command=command)
            ) from error
        self._log("rx", reply)
        return reply

    def _drop(self) -> None:
        # The far end is gone (a socket at EOF stays "open" on this side): later calls must
        # fail at once as not connected, instead of writing into a dead line.
        if self._writer is not None:
            self._writer.close()

    def _discard_pending(self, reader: asyncio.StreamReader) -> None:
        # StreamReader has no public "drop what is buffered"; its buffer is a bytearray.
        buffer = getattr(reader, "_buffer", None)
        if isinstance(buffer, bytearray) and buffer:
            self._log("rx", bytes(buffer))
            buffer.clear()


class VisaLink(Link):
    """A VISA resource, through pyvisa and the VISA library given (such as `@py`, or a
    pyvisa-sim file as `file.yaml@sim`)."""

    def __init__(
        self,
        device: str,
        resource: str,
        library: str,
        settings: VisaSettings,
        clock: Clock,
    ) -> None:
        super().__init__(device, clock)
        self.resource = resource
        self.library = library
        self.settings = settings
        self._executor: ThreadPoolExecutor | None = None
        self._manager: Any = None
        self._instrument: Any = None

    @property
    def is_open(self) -> bool:
        return self._instrument is not None

    async def open(self) -> None:
        # A new thread per connection: one stuck in a call that never returned is left behind.
        executor = self._executor = ThreadPoolExecutor(
            1, thread_name_prefix=f"labrun-visa-{self.device}"
        )
        loop = asyncio.get_running_loop()
        try:
            # Not through _call(): failing to open is not a fault of an open device.
            with self.clock.hold():
                self._manager, self._instrument = await asyncio.wait_for(
                    loop.run_in_executor(executor, self._open), self.settings.timeout + 1.0
                )
        except Exception as error:
            await self.close()
            reason = str(error) or type(error).__name__
            raise DeviceDisconnected(
                self.device, f"cannot open {self.resource}: {reason}"
            ) from error

    def _open(self) -> tuple[Any, Any]:
        import pyvisa  # noqa: PLC0415 - pyvisa takes a while to import; only VISA benches need it

        manager = pyvisa.ResourceManager(self.library)
        s = self.settings
        instrument = manager.open_resource(
            self.resource,
            read_termination=s.read_termination,
            write_termination=s.write_termination,
            timeout=int(s.timeout * 1000),
        )
        return manager, instrument

    async def close(self) -> None:
        instrument, self._instrument, self._manager = self._instrument, None, None
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def shut() -> None:
            # Only the instrument: pyvisa hands every caller the same manager per library,
            # and closing it would close every other device opened through it.
            if instrument is not None:
                with contextlib.suppress(Exception):
                    instrument.close()

        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(executor, shut), self.settings.timeout
            )
        executor.shutdown(wait=False)

    async def query(self, command: str) -> str:
        """Write `command` and read one reply, its termination stripped."""
        async with self._lock:
            self._check(command)
            self._log("tx", command)
            reply: str = await self._call(command, lambda: self._instrument.query(command))
            self._log("rx", reply)
            return reply

    async def write(self, command: str) -> None:
        async with self._lock:
            self._check(command)
            self._log("tx", command)
            await self._call(command, lambda: self._instrument.write(command))

    async def _call(self, command: str | None, work: Callable[[], Any]) -> Any:
        executor = self._executor
        assert executor is not None
        loop = asyncio.get_running_loop()
        # pyvisa enforces its own timeout; this one is for a library that hangs regardless.
        seconds = self.settings.timeout + 1.0
        try:
            with self.clock.hold():
                return await asyncio.wait_for(loop.run_in_executor(executor, work), seconds)
        except TimeoutError as error:
            raise self._fault(
                DeviceTimeout(self.device, f"no reply within {seconds:g} s", command=command)
            ) from error
        except Exception as error:
            raise self._fault(
                _visa_error(self.device, command, error, self.settings.timeout)
            ) from error


def _visa_error(device: str, command: str | None, error: Exception, timeout: float) -> DeviceError:
    text = str(error) or type(error).__name__
    if "VI_ERROR_TMO" in text or "Timeout" in type(error).__name__ or "timeout" in text.lower():
        return DeviceTimeout(device, f"no reply within {timeout:g} s", command=command)
    return DeviceDisconnected(device, f"VISA error: {text}", command=command)
