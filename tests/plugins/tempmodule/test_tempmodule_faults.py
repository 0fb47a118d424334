"""Faults on the line and in the module, over a real pty and over TCP: each ends in the
DeviceError it is documented to, and the safe state (M18) still gets the module deactivated."""

from __future__ import annotations

import pytest
from conftest import Bench, OpenBench, make_clock

from labrun import (
    DeviceAlarm,
    DeviceDisconnected,
    DeviceReplyError,
    DeviceTimeout,
    SimulatorServer,
)
from labrun_tempmodule import Identity, TempModuleSimulator


class PullsTheCable(TempModuleSimulator):
    """Pulls the cable once M105 has arrived and before it is answered, when armed."""

    server: SimulatorServer | None = None

    def respond(self, command: bytes) -> bytes:
        if command == b"M105" and self.server is not None:
            server, self.server = self.server, None
            server.disconnect()
            return b""
        return super().respond(command)


@pytest.fixture(params=["pty", "tcp"])
async def bench(request: pytest.FixtureRequest, open_bench: OpenBench) -> Bench:
    bench = await open_bench(PullsTheCable(make_clock()), line=request.param)
    await bench.module.set_target(37)
    return bench


async def assert_safe_state_deactivates(bench: Bench) -> None:
    simulator = bench.simulated
    assert simulator.target == 37
    await bench.module.safe_state()
    assert bench.server.received[-1] == b"M18"
    assert bench.sent[-1] == b"M18\r\n\r\n"
    assert simulator.target is None


async def test_a_cable_pulled_mid_command_is_a_disconnection(bench: Bench) -> None:
    simulator = bench.simulator
    assert isinstance(simulator, PullsTheCable)
    simulator.server = bench.server

    with pytest.raises(DeviceDisconnected) as caught:
        await bench.module.status()

    # A socket ends cleanly; a pty's far end going away is an error on the read.
    lost = {
        "tcp": "disconnected",
        "pty": "connection lost: device reports readiness to read but returned no data "
        "(device disconnected or multiple access on port?)",
    }
    assert str(caught.value) == (
        f"device tm: {lost[bench.line]} (sent 'M105\\r\\n\\r\\n', got nothing)"
    )
    assert bench.faults == [caught.value]
    await bench.reconnect()
    await assert_safe_state_deactivates(bench)


async def test_garbage_in_place_of_a_reply_is_a_garbled_reply(bench: Bench) -> None:
    garbage = b"T:3\xfe\xff7 C:\x9924\r\n\r\nok\r\nok\r\n"
    bench.server.garble(garbage)

    with pytest.raises(DeviceReplyError) as caught:
        await bench.module.status()

    assert str(caught.value) == (
        "device tm: garbled reply: bytes that are not ASCII text "
        f"(sent 'M105\\r\\n\\r\\n', got {garbage.decode('latin-1')!r})"
    )
    assert bench.faults == [caught.value]
    await assert_safe_state_deactivates(bench)


async def test_garbage_without_an_acknowledgement_is_a_timeout_showing_it(bench: Bench) -> None:
    bench.server.garble(b"#\x00\x7f?")

    with pytest.raises(DeviceTimeout) as caught:
        await bench.module.status()

    assert str(caught.value) == (
        "device tm: no reply within 0.3 s (sent 'M105\\r\\n\\r\\n', got '#\\x00\\x7f?')"
    )
    # The garbage left on the line is dropped before the next command.
    await assert_safe_state_deactivates(bench)


async def test_a_silent_module_is_a_timeout(bench: Bench) -> None:
    bench.server.silence()

    with pytest.raises(DeviceTimeout) as caught:
        await bench.module.status()

    assert str(caught.value) == (
        "device tm: no reply within 0.3 s (sent 'M105\\r\\n\\r\\n', got nothing)"
    )
    assert bench.faults == [caught.value]
    await assert_safe_state_deactivates(bench)


async def test_a_thermal_alarm_is_a_device_alarm(bench: Bench) -> None:
    simulator = bench.simulated
    simulator.thermal_fault("thermistor open circuit")

    with pytest.raises(DeviceAlarm) as caught:
        await bench.module.status()

    assert str(caught.value) == (
        "device tm: the module reports an alarm: alarm: thermistor open circuit "
        "(sent 'M105\\r\\n\\r\\n', "
        "got 'alarm: thermistor open circuit\\r\\n\\r\\nok\\r\\nok\\r\\n')"
    )
    assert bench.faults == [caught.value]
    # The element has stopped on its own; M18 is still accepted, and the alarm stays latched.
    await bench.module.safe_state()
    assert bench.server.received[-1] == b"M18"
    assert simulator.target is None
    with pytest.raises(DeviceAlarm):
        await bench.module.set_target(37)


async def test_a_wrong_model_is_refused_by_identify(open_bench: OpenBench) -> None:
    simulator = TempModuleSimulator(
        make_clock(), identity=Identity("TDV01", "temp_deck_v1.1", "edge-11aa22b")
    )
    bench = await open_bench(simulator)
    with pytest.raises(DeviceReplyError) as caught:
        await bench.module.identify()
    assert str(caught.value) == (
        "device tm: the module is a temp_deck_v1.1, not a Temperature Module GEN2 "
        "(temp_deck_v20 or later) (sent 'M115\\r\\n\\r\\n', "
        "got 'serial:TDV01 model:temp_deck_v1.1 version:edge-11aa22b\\r\\n\\r\\nok\\r\\nok\\r\\n')"
    )


async def test_the_simulated_module_identifies_as_gen2(open_bench: OpenBench) -> None:
    bench = await open_bench(TempModuleSimulator(make_clock()), line="tcp")
    assert await bench.module.identify() == (
        "Opentrons temp_deck_v21 serial TDV21P20240315A07 firmware v2.1.1"
    )
