"""Physics on pyvisa-sim instruments: live properties answered from the clock, setters seen
before their value is kept, on a real pyvisa-sim instrument through a real VisaLink.

labrun.device.visa_physics reaches into pyvisa-sim's internals (a component's property
table, a channel group's selected channel, the session's device): these tests fail if a
pyvisa-sim release changes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labrun import (
    Clock,
    DeviceDisconnected,
    SimulatedInstrument,
    VirtualClock,
    VisaLink,
    VisaPhysics,
    VisaSettings,
    VisaSimulation,
)

RESOURCE = "TCPIP::10.0.0.2::INSTR"
# A heater with a target, and probes on two channels.
HEATER = """\
spec: "1.1"
devices:
  heater:
    eom:
      TCPIP INSTR: {q: "\\n", r: "\\n"}
    error:
      error_queue:
        - {q: "ERR?", default: "0", command_error: "1"}
    dialogues:
      - {q: "*IDN?", r: "ACME,HEATER,1,0.1"}
    properties:
      target:
        default: 20.0
        getter: {q: "TARG?", r: "{:.2f}"}
        setter: {q: "TARG {:s}"}
        specs: {type: float, min: 0, max: 100}
      level:
        default: 20.0
        getter: {q: "LVL?", r: "{:.2f}"}
        specs: {type: float}
    channels:
      probes:
        ids: [1, 2]
        can_select: True
        properties:
          reading:
            default: 0.0
            getter: {q: "PROB? {ch_id}", r: "{:.2f}"}
            specs: {type: float}
          offset:
            default: 0.0
            getter: {q: "OFFS? {ch_id}", r: "{:.2f}"}
            setter: {q: "OFFS {ch_id},{:s}"}
            specs: {type: float}
resources:
  TCPIP::10.0.0.2::INSTR:
    device: heater
"""


@dataclass
class Seen:
    """What the physics saw: each setter as (property, channel, new value, value kept then)."""

    attached: int = 0
    written: list[tuple[str, str | None, Any, Any]] = field(default_factory=list)


class HeaterPhysics(VisaPhysics):
    """The level climbs 1 unit a second toward the target; probe n reads n times the level
    plus its offset."""

    def __init__(self, clock: Clock, seen: Seen) -> None:
        super().__init__(clock)
        self.seen = seen

    def attach(self, instrument: SimulatedInstrument) -> None:
        self.seen.attached += 1

        def level(_: str | None) -> float:
            target = float(instrument.value("target"))
            return min(target, 20.0 + self.clock.monotonic())

        def reading(channel: str | None) -> float:
            assert channel is not None
            offset = instrument.value("offset", channels="probes", channel=channel)
            return int(channel) * level(None) + float(offset)

        def target_written(channel: str | None, value: Any) -> None:
            self.seen.written.append(("target", channel, value, instrument.value("target")))

        def offset_written(channel: str | None, value: Any) -> None:
            kept = instrument.value("offset", channels="probes", channel=channel)
            self.seen.written.append(("offset", channel, value, kept))

        instrument.live("level", read=level)
        instrument.live("target", written=target_written)
        instrument.live("reading", channels="probes", read=reading)
        instrument.live("offset", channels="probes", written=offset_written)


@dataclass
class Heater:
    clock: VirtualClock
    link: VisaLink
    seen: Seen


@pytest.fixture
async def heater(tmp_path: Path) -> AsyncIterator[Heater]:
    file = tmp_path / "heater.yaml"
    file.write_text(HEATER)
    clock, seen = VirtualClock(), Seen()
    simulation = VisaSimulation(file, RESOURCE, lambda clock: HeaterPhysics(clock, seen))
    link = simulation.link("heater", file, VisaSettings(timeout=0.5), clock)
    await link.open()
    yield Heater(clock, link, seen)
    await link.close()


async def test_a_live_property_answers_from_the_clock(heater: Heater) -> None:
    await heater.link.write("TARG 50")
    assert await heater.link.query("LVL?") == "20.00"
    await heater.clock.sleep(12.5)
    assert await heater.link.query("LVL?") == "32.50"
    await heater.clock.sleep(60)
    assert await heater.link.query("LVL?") == "50.00"


async def test_a_live_channel_property_answers_for_the_channel_asked(heater: Heater) -> None:
    await heater.link.write("OFFS 2,0.5")
    assert await heater.link.query("PROB? 1") == "20.00"
    assert await heater.link.query("PROB? 2") == "40.50"


async def test_a_setter_is_seen_with_its_value_before_the_value_is_kept(heater: Heater) -> None:
    await heater.link.write("TARG 30")
    await heater.link.write("OFFS 2,1.5")
    await heater.link.write("OFFS 2,2.5")
    assert heater.seen.written == [
        ("target", None, 30.0, 20.0),
        ("offset", "2", 1.5, 0.0),
        ("offset", "2", 2.5, 1.5),
    ]
    # The file keeps the values: the getters answer them.
    assert await heater.link.query("TARG?") == "30.00"
    assert await heater.link.query("OFFS? 2") == "2.50"
    assert await heater.link.query("OFFS? 1") == "0.00"


async def test_a_value_the_files_specs_refuse_is_not_seen(heater: Heater) -> None:
    await heater.link.write("TARG 500")
    assert heater.seen.written == []
    assert await heater.link.query("ERR?") == "1"
    assert await heater.link.query("TARG?") == "20.00"


async def test_a_reconnection_attaches_the_same_physics_again(heater: Heater) -> None:
    await heater.link.write("TARG 30")
    await heater.link.close()
    await heater.link.open()
    assert heater.seen.attached == 2
    # pyvisa kept the instrument: the settings are as left, and still seen once each.
    await heater.link.write("TARG 40")
    assert heater.seen.written == [("target", None, 30.0, 20.0), ("target", None, 40.0, 30.0)]
    await heater.clock.sleep(15)
    assert await heater.link.query("LVL?") == "35.00"


async def test_a_simulation_without_physics_is_the_files_table(tmp_path: Path) -> None:
    file = tmp_path / "heater.yaml"
    file.write_text(HEATER)
    clock = VirtualClock()
    link = VisaSimulation(file, RESOURCE).link("heater", file, VisaSettings(), clock)
    assert type(link) is VisaLink
    await link.open()
    try:
        await clock.sleep(10)
        assert await link.query("LVL?") == "20.00"
    finally:
        await link.close()


class Misnamed(VisaPhysics):
    def attach(self, instrument: SimulatedInstrument) -> None:
        instrument.live("reading", read=lambda _: 1.0)


async def test_a_property_the_file_does_not_have_fails_the_open_clearly(tmp_path: Path) -> None:
    file = tmp_path / "heater.yaml"
    file.write_text(HEATER)
    link = VisaSimulation(file, RESOURCE, Misnamed).link(
        "heater", file, VisaSettings(), VirtualClock()
    )
    with pytest.raises(DeviceDisconnected) as raised:
        await link.open()
    assert str(raised.value) == (
        f"device heater: cannot open {RESOURCE}: "
        "the pyvisa-sim file has no property 'reading' in its device"
    )
    assert not link.is_open
