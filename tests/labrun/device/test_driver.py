"""What plugins write against: DeviceRef fields, the Driver base class, how device errors
read, and a process reaching its drivers through its context."""

from __future__ import annotations

from typing import Annotated

import pytest
from lamp import SETTINGS, Lamp, LampOptions
from lamp import plugin as lamp_plugin
from pydantic import BaseModel

from labrun import (
    ClaimRefused,
    DeviceAlarm,
    DeviceError,
    DeviceRef,
    DeviceReplyError,
    Plugin,
    SerialDriver,
    SerialLink,
    StepState,
    VirtualClock,
)
from labrun.device.errors import DeviceRefused, show
from labrun.device.ref import device_fields
from labrun.testing import run_process

# --- DeviceRef -------------------------------------------------------------------------


class Arguments(BaseModel):
    pump: Annotated[str, DeviceRef("syringe.ne1000", "syringe.ne500")]
    sensors: Annotated[list[str], DeviceRef(shared=True)]
    volume: float = 1.0


def test_the_fields_that_name_devices_are_found_with_what_they_accept() -> None:
    assert device_fields(Arguments) == (
        ("pump", DeviceRef("syringe.ne1000", "syringe.ne500")),
        ("sensors", DeviceRef(shared=True)),
    )


def test_a_process_spec_knows_its_device_fields() -> None:
    shine_all = lamp_plugin.processes["shine_all"]
    assert shine_all.devices == (("lamps", DeviceRef("lamp.lamp")),)
    assert lamp_plugin.processes["watch"].devices == (
        ("lamp", DeviceRef("lamp.lamp", shared=True)),
    )


def test_a_ref_accepts_its_drivers_or_any_when_it_names_none() -> None:
    pump = DeviceRef("syringe.ne1000", "syringe.ne500")
    assert pump.accepts("syringe.ne500")
    assert not pump.accepts("lamp.lamp")
    assert DeviceRef().accepts("lamp.lamp")


def test_refs_compare_and_show_by_drivers_and_sharing() -> None:
    assert DeviceRef("a.b") == DeviceRef("a.b")
    assert DeviceRef("a.b") != DeviceRef("a.b", shared=True)
    assert DeviceRef("a.b") != DeviceRef("a.c")
    assert len({DeviceRef("a.b"), DeviceRef("a.b"), DeviceRef()}) == 2
    assert repr(DeviceRef("a.b", "a.c", shared=True)) == "DeviceRef('a.b', 'a.c', shared=True)"
    assert repr(DeviceRef()) == "DeviceRef()"


# --- errors ----------------------------------------------------------------------------


def test_wire_data_is_shown_with_nothing_hidden() -> None:
    assert show(None) == "nothing"
    assert show(b"OK\r\n") == "'OK\\r\\n'"
    assert show(b"\x02\xff") == "'\\x02ÿ'"
    assert show("*IDN?") == "'*IDN?'"


def test_an_error_names_the_device_and_shows_the_exchange_when_there_was_one() -> None:
    assert str(DeviceError("pump", "stalled")) == "device pump: stalled"
    assert str(DeviceError("pump", "no reply", command=b"DIS\r")) == (
        "device pump: no reply (sent 'DIS\\r', got nothing)"
    )
    assert str(ClaimRefused("pump", "step 2.1")) == "device pump is in use by step 2.1"


# --- the Driver base class -------------------------------------------------------------


@pytest.fixture
def lamp() -> Lamp:
    clock = VirtualClock()
    return Lamp("lamp", LampOptions(), SerialLink("lamp", "", SETTINGS, clock), clock)


def test_a_driver_finds_its_declared_values(lamp: Lamp) -> None:
    level = lamp.value("level")
    assert level is not None
    assert (level.unit, level.poll, level.writable) == ("W", 0.02, True)
    assert lamp.value("colour") is None


def test_a_fault_tells_the_links_listener_and_is_returned_to_raise(lamp: Lamp) -> None:
    heard: list[DeviceError] = []
    lamp.link.on_fault = heard.append
    error = lamp.fault("garbled", command=b"LVL?\r", reply=b"#\n")
    alarm = lamp.fault("burnt out", alarm=True)
    assert type(error) is DeviceReplyError
    assert type(alarm) is DeviceAlarm
    assert heard == [error, alarm]
    assert str(error) == "device lamp: garbled (sent 'LVL?\\r', got '#\\n')"


def test_a_refusal_is_returned_to_raise_without_telling_the_links_listener(lamp: Lamp) -> None:
    heard: list[DeviceError] = []
    lamp.link.on_fault = heard.append
    error = lamp.refuse("out of range", command=b"LVL 900\r", reply=b"ERR\n")
    assert type(error) is DeviceRefused
    assert isinstance(error, DeviceReplyError)
    assert heard == []
    assert str(error) == "device lamp: out of range (sent 'LVL 900\\r', got 'ERR\\n')"


async def test_many_values_are_read_one_by_one_unless_the_driver_says_otherwise(
    lamp: Lamp,
) -> None:
    read: list[str] = []

    async def level_or_on(value: str) -> object:
        read.append(value)
        return len(read)

    lamp.read = level_or_on  # type: ignore[method-assign]
    assert await lamp.read_many(["level", "on"]) == {"level": 1, "on": 2}
    assert read == ["level", "on"]


async def test_an_undeclared_value_cannot_be_read_or_written(lamp: Lamp) -> None:
    with pytest.raises(DeviceReplyError, match=r"^device lamp: no value named 'colour'$"):
        await lamp.read("colour")
    with pytest.raises(DeviceReplyError, match=r"^device lamp: the value 'on' cannot be written$"):
        await lamp.write("on", True)


# --- a process and its devices ---------------------------------------------------------


async def test_a_process_reaches_only_the_devices_of_its_step() -> None:
    run = await run_process(lamp_plugin.processes["shine"], {"lamp": "lamp"}, devices={})
    assert run.state is StepState.FAILED
    assert run.error == (
        "step step has no device 'lamp' (its devices: none); a process reaches the devices "
        "named in its arguments"
    )


async def test_a_process_gets_the_driver_class_it_asks_for(lamp: Lamp) -> None:
    run = await run_process(
        lamp_plugin.processes["shine"], {"lamp": "lamp"}, devices={"lamp": object()}
    )
    assert run.state is StepState.FAILED
    assert run.error == "device 'lamp' has the driver object, not Lamp"
    run = await run_process(lamp_plugin.processes["blink"], {"lamp": "x"}, devices={"x": lamp})
    assert (run.state, run.result) == (StepState.COMPLETED, "Lamp")


def test_a_driver_without_an_identity_check_or_a_safe_state_is_a_load_diagnostic() -> None:
    plugin = Plugin("half")

    @plugin.driver("nothing")
    class Nothing(SerialDriver):
        pass

    @plugin.driver("unsafe")
    class Unsafe(SerialDriver):
        async def identify(self) -> str:
            return "unsafe"

    assert [(p.process, p.reason) for p in plugin.problems] == [
        ("nothing", "driver 'nothing' must define identify() and safe_state()"),
        ("unsafe", "driver 'unsafe' must define safe_state()"),
    ]
    assert dict(plugin.drivers) == {}
