"""Every way `labrun run` can stop leaves the devices safe: Ctrl-C, and a labrun killed
outright, whose successor on the bench applies the safe states at start-up.

The pump here is "real" as far as labrun can tell: an NE-1000 simulator served on a TCP
port by the test, in a thread of its own, and configured as `serial: socket://...`. What
the pump was told is read from the simulator afterwards.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labrun import RealClock, SimulatorServer
from labrun.device.bench import MARKER
from labrun_syringe import Ne1000Simulator

PROTOCOL = """
name: slow fill
devices:
  pump: pump
steps:
  - syringe.withdraw: {pump: pump, volume: 5 ml, rate: 1 ml/min}
"""


class Pump:
    """A simulated pump on a TCP port, answering from its own thread and event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.simulator = Ne1000Simulator(RealClock())
        self.server = SimulatorServer(self.simulator, line="tcp", name="pump")
        self.call(self.server.start())

    def call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)

    @property
    def status(self) -> str:
        return self.call(_value(lambda: self.simulator.status))

    @property
    def received(self) -> list[bytes]:
        return self.call(_value(lambda: list(self.simulator.received)))

    def close(self) -> None:
        self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


async def _value(read):
    return read()


@pytest.fixture
def pump() -> Iterator[Pump]:
    pump = Pump()
    yield pump
    pump.close()


@pytest.fixture
def bench(tmp_path: Path, pump: Pump) -> Path:
    (tmp_path / "protocol.yml").write_text(PROTOCOL)
    (tmp_path / "config.yml").write_text(
        f"devices:\n  pump:\n    driver: syringe.ne1000\n    serial: {pump.server.url}\n"
    )
    return tmp_path


def labrun(directory: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("LABRUN_DATA_DIR", None)
    env.pop("LABRUN_CONFIG", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labrun",
            *args,
            "--config",
            str(directory / "config.yml"),
            "--data-dir",
            str(directory / "data"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_until_pumping(pump: Pump, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while pump.status != "W":
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the pump never started withdrawing"
        time.sleep(0.05)


def test_ctrl_c_halts_the_run_and_stops_the_pump(bench, pump):
    process = labrun(bench, "run", str(bench / "protocol.yml"))
    wait_until_pumping(pump, process)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out + err
    assert "safe state applied to pump (the run halted)" in out
    assert pump.status == "S"
    assert not (bench / "data" / MARKER).exists()


def test_a_killed_labrun_leaves_the_pump_to_the_next_one_to_stop(bench, pump):
    process = labrun(bench, "run", str(bench / "protocol.yml"))
    wait_until_pumping(pump, process)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    # Nothing stopped it: a killed labrun cannot.
    assert pump.status == "W"
    assert (bench / "data" / MARKER).exists()
    sent = len(pump.received)

    check = labrun(bench, "devices")
    out, err = check.communicate(timeout=60)
    assert check.returncode == 0, out + err
    assert "did not stop cleanly: every device gets its safe state" in out
    assert pump.status == "S"
    # Stopped on connecting, before anything was read; not only when it closed.
    assert first(pump.received[sent:], b"STP") < first(pump.received[sent:], b"DIS")
    assert not (bench / "data" / MARKER).exists()


def test_after_a_clean_stop_nothing_is_stopped_on_connecting(bench, pump):
    check = labrun(bench, "devices")
    out, err = check.communicate(timeout=60)
    assert check.returncode == 0, out + err
    assert "did not stop cleanly" not in out
    assert "pump  syringe.ne1000  ready  NE1000V" in out
    # Its safe state comes when labrun closes the bench, after the reading.
    assert first(pump.received, b"DIS") < first(pump.received, b"STP")


def first(frames: list[bytes], command: bytes) -> int:
    return next(i for i, frame in enumerate(frames) if command in frame)
