"""The simulator server: a simulator served on a pty or a TCP port, every frame kept, and
the faults it injects (silence, garbage, a pulled cable)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal, cast

import pytest
from lamp import SETTINGS, LampSimulator

from labrun import (
    DeviceDisconnected,
    DeviceTimeout,
    SerialLink,
    SerialSimulator,
    SimulatorServer,
    VirtualClock,
)


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest) -> Literal["pty", "tcp"]:
    return cast(Literal["pty", "tcp"], request.param)


@pytest.fixture
async def served(line: Literal["pty", "tcp"]) -> AsyncIterator[tuple[SimulatorServer, SerialLink]]:
    clock = VirtualClock()
    server = SimulatorServer(LampSimulator(clock), line=line, name="lamp")
    await server.start()
    link = SerialLink("lamp", server.url, SETTINGS, clock)
    await link.open()
    yield server, link
    await link.close()
    await server.stop()


async def ask(link: SerialLink, command: bytes) -> bytes:
    return await link.exchange(command + b"\r", until=b"\n")


def exists(path: Path) -> bool:
    return path.exists()


def test_a_simulator_must_say_how_it_responds() -> None:
    with pytest.raises(TypeError, match="respond"):
        SerialSimulator(VirtualClock())  # type: ignore[abstract]


async def test_a_pty_is_reached_through_a_stable_path_removed_at_stop() -> None:
    server = SimulatorServer(LampSimulator(VirtualClock()), line="pty", name="lamp")
    await server.start()
    path = Path(server.url)
    assert path.name == "lamp"
    assert os.readlink(path).startswith("/dev/pts/")
    await server.stop()
    assert not exists(path)
    assert not exists(path.parent)


async def test_tcp_serves_on_a_local_port() -> None:
    server = SimulatorServer(LampSimulator(VirtualClock()), line="tcp")
    await server.start()
    assert server.url.startswith("socket://127.0.0.1:")
    assert int(server.url.rpartition(":")[2]) > 0
    await server.stop()


async def test_every_frame_is_kept_without_its_terminator(
    served: tuple[SimulatorServer, SerialLink],
) -> None:
    server, link = served
    assert await ask(link, b"ON") == b"OK\n"
    assert await ask(link, b"ON?") == b"1\n"
    assert server.received == [b"ON", b"ON?"]
    assert server.received is server.simulator.received


async def test_silence_takes_the_commands_and_answers_none_of_them(
    served: tuple[SimulatorServer, SerialLink],
) -> None:
    server, link = served
    server.silence(2)
    for command in (b"ON", b"LVL?"):
        with pytest.raises(DeviceTimeout):
            await ask(link, command)
    assert await ask(link, b"ON?") == b"1\n"
    # The silent commands reached the instrument, which acted on them.
    assert server.received == [b"ON", b"LVL?", b"ON?"]


async def test_garbage_replaces_one_reply(served: tuple[SimulatorServer, SerialLink]) -> None:
    server, link = served
    server.garble(b"~~\n")
    server.garble(b"##\n")
    assert await ask(link, b"ID?") == b"~~\n"
    assert await ask(link, b"ID?") == b"##\n"
    assert await ask(link, b"ID?") == b"LAMP-1 SN42\n"


async def test_a_pulled_cable_is_found_again_at_the_same_url(
    served: tuple[SimulatorServer, SerialLink],
) -> None:
    server, link = served
    url = server.url
    assert await ask(link, b"ON") == b"OK\n"
    server.disconnect()
    await link.close()
    await link.open()
    assert server.url == url
    # The instrument kept its state: only the line was pulled.
    assert await ask(link, b"ON?") == b"1\n"


async def test_stop_ends_the_connections_still_open(
    served: tuple[SimulatorServer, SerialLink],
) -> None:
    server, link = served
    assert await ask(link, b"ID?") == b"LAMP-1 SN42\n"
    await server.stop()
    with pytest.raises(DeviceDisconnected, match=r"^device lamp: "):
        await ask(link, b"ID?")
