"""`labrun devices` (status, identity and values of each configured device; exit 0 when
every device answered, 1 when one did not, 2 for usage and configuration errors), and
`--config` / `--simulate` in `run`, `check` and `resume`. The test lamp plugin stands in
for the installed plugins."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lamp import LampSimulator
from lamp import plugin as lamp_plugin

from labrun import PluginCatalog, SimulatorServer
from labrun.cli import main
from labrun.clock import VirtualClock
from labrun.device.bench import MARKER
from labrun.protocol import compile
from labrun.run.engine import Run
from labrun.run.recorder import Recorder
from labrun.store import DATABASE_NAME, RunStore
from labrun_timer import plugin as timer_plugin

PLUGINS = PluginCatalog.of(lamp_plugin, timer_plugin)

LAMPS = """\
devices:
  lamp: {driver: lamp.lamp}
  spot: {driver: lamp.lamp, simulator: tcp}
"""

SHINE = """\
devices: {light: lamp}
steps:
  - lamp.shine: {lamp: light, seconds: 10}
"""


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The lamp plugin as the installed plugins; no configuration or data of the user's."""
    for module in ("devices", "run", "check", "resume"):
        monkeypatch.setattr(f"labrun.cli.{module}.load_plugins", lambda: PLUGINS)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LABRUN_CONFIG", raising=False)
    monkeypatch.setenv("LABRUN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def labrun(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out.splitlines(), err


# --- labrun devices on a simulated bench -----------------------------------------------


def test_devices_shows_each_device_with_its_identity_and_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "config.yml", LAMPS)
    code, lines, err = labrun(capsys, "devices", "--config", config, "--simulate")
    assert (code, err) == (0, "")
    assert lines == [
        "lamp  lamp.lamp  ready  LAMP-1 SN42",
        "  on: False",
        "  level: 10 W",
        "spot  lamp.lamp  ready  LAMP-1 SN42",
        "  on: False",
        "  level: 10 W",
    ]


def test_devices_read_reads_one_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path, "config.yml", LAMPS)
    code, lines, _ = labrun(capsys, "devices", "read", "spot", "--config", config, "--simulate")
    assert code == 0
    assert lines == ["spot  lamp.lamp  ready  LAMP-1 SN42", "  on: False", "  level: 10 W"]


def test_devices_with_the_configuration_from_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABRUN_CONFIG", write(tmp_path, "config.yml", LAMPS))
    code, lines, _ = labrun(capsys, "devices", "read", "lamp", "--simulate")
    assert code == 0
    assert lines[0] == "lamp  lamp.lamp  ready  LAMP-1 SN42"


def test_devices_without_a_configuration_says_how_to_declare_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = labrun(capsys, "devices")
    default = tmp_path / "xdg" / "labrun" / "config.yml"
    assert code == 0
    assert lines == [
        f"no devices configured ({default}); docs/instruments.md says how to declare them"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["read"],
            "labrun: error: labrun devices read NAME: which device? (labrun devices lists them)",
        ),
        (["spot"], "labrun: error: unexpected 'spot': did you mean labrun devices read spot?"),
        (["read", "lamb"], "labrun: error: no device 'lamb' in {config} (devices: lamp, spot)"),
    ],
)
def test_devices_usage_errors_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    config = write(tmp_path, "config.yml", LAMPS)
    code, lines, err = labrun(capsys, "devices", *args, "--config", config, "--simulate")
    assert code == 2
    assert lines == []
    assert err == message.format(config=config) + "\n"


def test_devices_with_an_invalid_configuration_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "config.yml", "devices:\n  lamp: {driver: lamp}\n")
    code, _, err = labrun(capsys, "devices", "--config", config, "--simulate")
    assert code == 2
    assert err.startswith(
        f"labrun: error: the configuration is not valid:\n{config}:2:18: error: "
        "devices.lamp.driver: 'lamp' is not a driver name"
    )


def test_devices_that_cannot_be_built_are_named_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, "config.yml", LAMPS + "  bulb: {driver: lamp.bulb}\n")
    code, _, err = labrun(capsys, "devices", "--config", config)
    assert code == 2
    assert err == (
        "labrun: error: the bench cannot be set up:\n"
        "device lamp has no connection: add `serial:` to its configuration, or use --simulate\n"
        "device spot has no connection: add `serial:` to its configuration, or use --simulate\n"
        "device bulb: unknown driver 'lamp.bulb' (installed drivers: lamp.dimmer, lamp.lamp)\n"
    )


# --- labrun devices on a real serial line ----------------------------------------------


class Refusing(LampSimulator):
    """A lamp that refuses to tell its level."""

    def respond(self, command: bytes) -> bytes:
        return b"ERR\n" if command == b"LVL?" else super().respond(command)


class Line:
    """A simulated lamp behind a TCP port, served by an event loop of its own, as an
    instrument on a network serial server would be."""

    def __init__(self, simulator: type[LampSimulator] = LampSimulator) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = SimulatorServer(simulator(VirtualClock()), line="tcp")
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def received(self) -> list[bytes]:
        return self.server.received

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


@pytest.fixture
def line() -> Iterator[Line]:
    served = Line()
    yield served
    served.close()


@pytest.fixture
def refusing() -> Iterator[Line]:
    served = Line(Refusing)
    yield served
    served.close()


def real(line: Line) -> str:
    return f"devices:\n  lamp: {{driver: lamp.lamp, serial: '{line.url}'}}\n"


def test_devices_on_a_real_line_marks_the_bench_while_it_is_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Line
) -> None:
    config = write(tmp_path, "config.yml", real(line))
    data = tmp_path / "data"
    code, lines, _ = labrun(capsys, "devices", "--config", config, "--data-dir", str(data))
    assert code == 0
    assert lines[0] == "lamp  lamp.lamp  ready  LAMP-1 SN42"
    # The bench was left as found: safe, and no marker.
    assert line.received == [b"ID?", b"ON?", b"LVL?", b"OFF"]
    assert not (data / MARKER).exists()


def test_a_device_that_does_not_answer_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = tmp_path / "ttyUSB7"
    config = write(
        tmp_path, "config.yml", f"devices:\n  lamp: {{driver: lamp.lamp, serial: {port}}}\n"
    )
    code, lines, _ = labrun(capsys, "devices", "--config", config)
    assert code == 1
    assert lines[0].startswith(f"lamp  lamp.lamp  unavailable  device lamp: cannot open {port}: ")
    assert lines[1:] == [
        "labrun: warning: safe state not applied: device lamp: never reached, so nothing to "
        "make safe"
    ]
    # Nothing for the next labrun to make safe: it does not report an unclean stop.
    assert not (tmp_path / "data" / MARKER).exists()


def test_a_value_that_cannot_be_read_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refusing: Line
) -> None:
    config = write(tmp_path, "config.yml", real(refusing))
    code, lines, _ = labrun(capsys, "devices", "--config", config)
    assert code == 1
    assert lines[:2] == [
        "lamp  lamp.lamp  ready  LAMP-1 SN42",
        "  error: device lamp: the lamp refused the command (sent 'LVL?\\r', got 'ERR\\n')",
    ]


@pytest.fixture
def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_bench_left_open_by_a_labrun_that_died_is_made_safe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Line, dead_pid: int
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / MARKER).write_text(json.dumps({"pid": dead_pid, "devices": ["lamp"]}))
    config = write(tmp_path, "config.yml", real(line))
    code, lines, _ = labrun(capsys, "devices", "read", "lamp", "--config", config)
    assert code == 0
    assert lines[0] == (
        "labrun: the last labrun on this bench did not stop cleanly: every device gets its "
        "safe state"
    )
    assert line.received[:2] == [b"ID?", b"OFF"]
    assert not (data / MARKER).exists()


def test_a_dead_labrun_s_devices_are_made_safe_by_a_labrun_that_reads_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Line, dead_pid: int
) -> None:
    spot = Line()
    try:
        data = tmp_path / "data"
        data.mkdir()
        (data / MARKER).write_text(json.dumps({"pid": dead_pid, "devices": ["lamp", "spot"]}))
        config = write(
            tmp_path,
            "config.yml",
            real(line) + f"  spot: {{driver: lamp.lamp, serial: '{spot.url}'}}\n",
        )
        code, lines, _ = labrun(capsys, "devices", "read", "lamp", "--config", config)
        assert code == 0
        assert lines[1] == "lamp  lamp.lamp  ready  LAMP-1 SN42"
        # `devices read lamp` opens the lamp alone, and the spot the dead labrun had open.
        assert spot.received == [b"ID?", b"OFF"]
        assert not (data / MARKER).exists()
    finally:
        spot.close()


def test_a_dead_labrun_s_device_that_cannot_be_reached_is_warned_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Line, dead_pid: int
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / MARKER).write_text(json.dumps({"pid": dead_pid, "devices": ["lamp", "spot"]}))
    port = tmp_path / "ttyUSB8"
    config = write(
        tmp_path, "config.yml", real(line) + f"  spot: {{driver: lamp.lamp, serial: {port}}}\n"
    )
    code, lines, _ = labrun(capsys, "devices", "read", "lamp", "--config", config)
    assert code == 0
    assert lines[1].startswith(
        f"labrun: warning: safe state not applied: device spot: cannot open {port}: "
    )
    assert lines[1].endswith(
        "; the next labrun to open the bench tries again, see to the instrument meanwhile"
    )
    assert json.loads((data / MARKER).read_text())["devices"] == ["spot"]


class Fading(LampSimulator):
    """A lamp that answers nothing once it is told to turn on: down for good."""

    dark = False

    def respond(self, command: bytes) -> bytes:
        self.dark = self.dark or command == b"ON"
        return b"" if self.dark else super().respond(command)


@pytest.fixture
def fading() -> Iterator[Line]:
    served = Line(Fading)
    yield served
    served.close()


def test_a_safe_state_that_cannot_be_applied_is_warned_of_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fading: Line
) -> None:
    protocol = write(
        tmp_path,
        "shine.yml",
        SHINE.replace("seconds: 10}", "seconds: 0}\n    on_error: halt"),
    )
    config = write(tmp_path, "config.yml", real(fading))
    code, lines, err = labrun(capsys, "run", protocol, "--config", config)
    assert code == 1, err
    warnings = [line for line in lines if "safe state not applied" in line]
    # The step failed, the run ended, labrun stopped: three times it was tried, once told.
    assert len(warnings) == 1, lines
    assert warnings[0].endswith(
        "warning: safe state not applied now: device lamp: unavailable: the safe state is "
        "applied when it reconnects"
    )
    assert json.loads((tmp_path / "data" / MARKER).read_text())["devices"] == ["lamp"]


def test_a_bench_in_use_by_another_labrun_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: Line
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    marker = json.dumps({"pid": os.getppid(), "devices": ["lamp"]})
    (data / MARKER).write_text(marker)
    config = write(tmp_path, "config.yml", real(line))
    code, lines, err = labrun(capsys, "devices", "--config", config)
    assert (code, lines) == (1, [])
    assert err == (
        f"labrun: error: the bench is in use by another labrun (process {os.getppid()}); "
        "stop it first\n"
    )
    assert line.received == []
    assert (data / MARKER).read_text() == marker


# --- run, check and resume -------------------------------------------------------------


def test_a_dry_run_simulates_a_device_no_configuration_declares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(tmp_path, "shine.yml", SHINE)
    code, lines, err = labrun(capsys, "run", protocol, "--dry-run")
    assert code == 0, err
    assert "+00:00:10  run          info: safe state applied to lamp (the run completed)" in lines
    assert lines[-1] == "dry run completed after 0:00:10"


def test_run_simulate_uses_the_configured_device(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(tmp_path, "shine.yml", SHINE.replace("seconds: 10", "seconds: 0"))
    config = write(tmp_path, "config.yml", LAMPS)
    code, lines, err = labrun(capsys, "run", protocol, "--config", config, "--simulate")
    assert code == 0, err
    assert any(
        line.endswith("info: safe state applied to lamp (the run completed)") for line in lines
    )


def test_run_without_simulate_needs_every_device_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(tmp_path, "shine.yml", SHINE)
    code, lines, err = labrun(capsys, "run", protocol)
    default = tmp_path / "xdg" / "labrun" / "config.yml"
    assert code == 2
    assert lines == []
    assert err == (
        f"labrun: error: device 'light' (lamp) is not in the configuration ({default}): "
        "declare it there, or run with --simulate\n"
    )


def test_run_simulate_cannot_guess_the_driver_of_a_device_any_driver_fits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(
        tmp_path, "blink.yml", "devices: {light: lamp, idle: idle}\nsteps:\n  - lamp.blink: light\n"
    )
    code, _, err = labrun(capsys, "run", protocol, "--dry-run")
    assert code == 2
    assert err == (
        "labrun: error: cannot tell which driver to simulate for device 'light' (its steps "
        "accept any driver); declare it in a configuration (--config)\n"
        "cannot tell which driver to simulate for device 'idle' (no step uses it); declare it "
        "in a configuration (--config)\n"
    )


def test_a_dry_run_simulates_a_device_missing_from_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(tmp_path, "shine.yml", SHINE)
    config = write(tmp_path, "config.yml", "devices:\n  spot: {driver: lamp.lamp}\n")
    code, _, err = labrun(capsys, "run", protocol, "--dry-run", "--config", config)
    assert code == 0, err


def test_check_compares_the_steps_drivers_with_the_configured_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(tmp_path, "shine.yml", SHINE)
    good = write(tmp_path, "good.yml", LAMPS)
    code, lines, _ = labrun(capsys, "check", protocol, "--config", good)
    assert (code, lines) == (0, [f"{protocol}: 1 step, estimated 10 s"])
    bad = write(tmp_path, "bad.yml", "devices:\n  lamp: {driver: other.bulb}\n")
    code, lines, _ = labrun(capsys, "check", protocol, "--config", bad)
    assert code == 1
    assert lines[0] == (
        f"{protocol}:3:24: error: device 'light' (lamp) has the driver other.bulb, and "
        "lamp.shine works with lamp.lamp"
    )


def test_check_simulate_reports_a_device_it_could_not_simulate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    protocol = write(
        tmp_path, "blink.yml", "devices: {light: lamp}\nsteps:\n  - lamp.blink: light\n"
    )
    code, lines, _ = labrun(capsys, "check", protocol, "--simulate")
    assert code == 1
    assert lines == [
        f"{protocol}: 1 step, estimated unknown (at least 0 s)",
        f"{protocol}: error: cannot tell which driver to simulate for device 'light' (its "
        "steps accept any driver); declare it in a configuration (--config)",
    ]
    shine = write(tmp_path, "shine.yml", SHINE)
    code, lines, _ = labrun(capsys, "check", shine, "--simulate")
    assert (code, lines) == (0, [f"{shine}: 1 step, estimated 10 s"])


RESUMABLE = """\
name: resumable
devices: {light: lamp}
steps:
  - timer.wait: 0.2 s
  - lamp.shine: {lamp: light, seconds: 0}
    id: shine
"""


def interrupted_run(data: Path) -> str:
    """A run recorded 0.1 s into its first step, whose labrun then stopped dead."""
    data.mkdir(exist_ok=True)
    protocol = compile(text=RESUMABLE, catalog=PLUGINS).protocol
    assert protocol is not None

    async def go() -> str:
        clock = VirtualClock()
        with RunStore.open(data / DATABASE_NAME) as store:
            parameters = protocol.bind({})
            recorder = Recorder.create(
                store, "crashed", protocol, RESUMABLE, parameters, by="ann", created=clock.now()
            )
            run = Run(protocol, parameters, clock=clock, sinks=[recorder])
            task = asyncio.create_task(run.run())
            await clock.sleep(0.1)
            run.journal.sinks = ()
            await recorder.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return "crashed"

    return asyncio.run(go())


def test_resume_simulate_opens_the_simulated_bench(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    run_id = interrupted_run(data)
    code, _, err = labrun(capsys, "resume", run_id, "--data-dir", str(data))
    assert code == 2
    assert "is not in the configuration" in err
    code, lines, err = labrun(capsys, "resume", run_id, "--data-dir", str(data), "--simulate")
    assert code == 0, err
    assert any(line.endswith("1            completed  result: true") for line in lines)
    assert any(
        line.endswith("info: safe state applied to lamp (the run completed)") for line in lines
    )
