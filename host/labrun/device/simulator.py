"""Serial simulators: a device's wire protocol, answered from the far end of a real line.

A plugin writes a `SerialSimulator` (bytes in, bytes out, state computed from the clock);
the host serves it behind a pty pair or a TCP socket, so the driver talking to it runs the
same serial code path as on the bench. A `SimulatorServer` also injects faults for tests
and demonstrations: silence (a timeout), garbage, and a pulled cable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import tty
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal

from labrun.clock import Clock

LineKind = Literal["pty", "tcp"]


class SerialSimulator(ABC):
    """One simulated instrument. `received` keeps every command, for tests to read."""

    # The end of a command frame as the device reads it.
    terminator: ClassVar[bytes] = b"\r"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.received: list[bytes] = []

    @abstractmethod
    def respond(self, command: bytes) -> bytes:
        """The reply to one command (without its terminator); b"" when there is none."""


class SimulatorServer:
    """Serves a simulator on a pty (through a stable symlink) or a local TCP port."""

    def __init__(
        self, simulator: SerialSimulator, *, line: LineKind = "pty", name: str = "device"
    ) -> None:
        self.simulator = simulator
        self.line = line
        self.name = name
        self.url = ""
        self._silent = 0
        self._garbage: list[bytes] = []
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._serving: set[asyncio.Task[None]] = set()
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._pty: _Pty | None = None

    @property
    def received(self) -> list[bytes]:
        return self.simulator.received

    async def start(self) -> None:
        if self.line == "tcp":
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            port = self._server.sockets[0].getsockname()[1]
            self.url = f"socket://127.0.0.1:{port}"
        else:
            self._directory = tempfile.TemporaryDirectory(prefix="labrun-sim-")
            self.url = str(Path(self._directory.name) / self.name)
            self._open_pty()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            # Let each connection's handler see its line close and end on its own: a
            # handler cancelled at loop shutdown makes asyncio report a spurious error.
            if self._serving:
                await asyncio.wait(self._serving)
            await self._server.wait_closed()
            self._server = None
        if self._pty is not None:
            self._pty.close()
            self._pty = None
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None

    # Faults.

    def silence(self, count: int = 1) -> None:
        """Take the next `count` commands and answer nothing: the driver times out."""
        self._silent += count

    def garble(self, data: bytes) -> None:
        """Answer the next command with `data` in place of the reply."""
        self._garbage.append(data)

    def disconnect(self) -> None:
        """Pull the cable: the line drops now; a reconnection finds the device again."""
        for writer in list(self._writers):
            writer.close()
        if self._pty is not None:
            self._pty.close()
            self._open_pty()

    # Serving.

    def _answer(self, frame: bytes) -> bytes:
        self.simulator.received.append(frame)
        reply = self.simulator.respond(frame)
        if self._silent:
            self._silent -= 1
            return b""
        if self._garbage:
            return self._garbage.pop(0)
        return reply

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._serving.add(task)
        terminator = self.simulator.terminator
        try:
            while True:
                frame = await reader.readuntil(terminator)
                reply = self._answer(frame[: -len(terminator)])
                if reply:
                    writer.write(reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            self._serving.discard(task)
            writer.close()

    def _open_pty(self) -> None:
        self._pty = _Pty(self.url, self.simulator.terminator, self._answer)


class _Pty:
    """A pty pair whose far end is reached through a symlink, re-pointed on each cable pull
    so that the driver reconnects by the same path."""

    def __init__(self, link: str, terminator: bytes, answer: Callable[[bytes], bytes]) -> None:
        self._terminator = terminator
        self._answer = answer
        self._buffer = b""
        self.master, self.slave = os.openpty()
        # Raw: no echo, no line editing, CR passed through as it is on a real serial line.
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        path = Path(link)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.symlink_to(os.ttyname(self.slave))
        asyncio.get_running_loop().add_reader(self.master, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self.master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return
        self._buffer += data
        while self._terminator in self._buffer:
            frame, _, self._buffer = self._buffer.partition(self._terminator)
            reply = self._answer(frame)
            if reply:
                with contextlib.suppress(OSError):
                    os.write(self.master, reply)

    def close(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)
