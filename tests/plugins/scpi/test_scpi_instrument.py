"""The generic SCPI driver and `scpi.write` / `scpi.query`, on pyvisa-sim through a real
VisaLink, with a timeout and a pulled cable."""

from typing import Any

import pytest
from pydantic import ValidationError
from scpi_bench import Bench

from labrun import (
    DeviceDisconnected,
    DeviceReplyError,
    DeviceTimeout,
    StepState,
    VisaDriver,
    registry,
)
from labrun.testing import run_process
from labrun_scpi import (
    Keysight34465A,
    LakeShore336,
    ScpiInstrument,
    ScpiPowerSupply,
    plugin,
)

WRITE = plugin.processes["write"]
QUERY = plugin.processes["query"]


def test_the_plugin_declares_its_drivers_and_processes() -> None:
    assert plugin.problems == []
    assert dict(plugin.drivers) == {
        "instrument": ScpiInstrument,
        "dmm": Keysight34465A,
        "psu": ScpiPowerSupply,
        "lakeshore336": LakeShore336,
    }
    assert set(plugin.processes) == {
        "write",
        "query",
        "dmm_configure",
        "dmm_read",
        "psu_set",
        "lakeshore_setpoint",
    }


def test_write_and_query_accept_every_driver_of_the_plugin() -> None:
    for spec in (WRITE, QUERY):
        ((field, ref),) = spec.devices
        assert field == "device"
        assert all(ref.accepts(f"scpi.{name}") for name in plugin.drivers)
        assert not ref.accepts("tempmodule.gen2")


def test_every_driver_ships_a_simulation_file() -> None:
    for driver in plugin.drivers.values():
        assert issubclass(driver, VisaDriver)
        assert driver.simulation is not None
        assert driver.simulation.file.is_file()


async def test_identify_on_the_simulator(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    assert await instrument.identify() == "labrun,Simulated SCPI instrument,SIM0001,1.0"
    assert bench.io["device"] == [
        ("tx", "*IDN?"),
        ("rx", "labrun,Simulated SCPI instrument,SIM0001,1.0"),
    ]


async def test_safe_state_sends_nothing(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    await instrument.safe_state()
    assert bench.sent() == []


async def test_write_sends_the_command_as_given(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    run = await run_process(
        WRITE,
        {"device": "scope", "command": "*RST"},
        clock=bench.clock,
        devices={"scope": instrument},
    )
    assert run.state is StepState.COMPLETED
    assert bench.sent() == ["*RST"]
    assert run.locations == [{"command": "*RST"}]
    assert run.elapsed == 0


async def test_write_of_an_unknown_command_lands_in_the_error_queue(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    run = await run_process(
        WRITE, {"device": "d", "command": "BOGUS 1"}, clock=bench.clock, devices={"d": instrument}
    )
    assert run.state is StepState.COMPLETED
    assert await instrument.errors() == ['-113,"Undefined header"']


async def test_query_returns_the_reply_text(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    run = await run_process(
        QUERY, {"device": "d", "command": "*IDN?"}, clock=bench.clock, devices={"d": instrument}
    )
    assert run.state is StepState.COMPLETED
    assert run.result == "labrun,Simulated SCPI instrument,SIM0001,1.0"
    assert run.locations == [{"command": "*IDN?", "reply": run.result}]


async def test_query_with_a_unit_returns_a_quantity(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "d")
    await psu.set_voltage(registry().Quantity(12, "V"))
    data = {"device": "d", "command": "VOLT?", "unit": "mV"}
    run = await run_process(QUERY, data, clock=bench.clock, devices={"d": psu})
    assert run.state is StepState.COMPLETED
    # The result and the location are kept as JSON: magnitude and units.
    value = {"magnitude": 12.0, "units": "millivolt"}
    assert run.result == value
    assert run.locations == [{"command": "VOLT?", "reply": "12.0000", "value": value}]


async def test_query_with_a_unit_of_a_reply_that_is_not_a_number_fails_clearly(
    bench: Bench,
) -> None:
    instrument = await bench.open(ScpiInstrument, "d")
    data = {"device": "d", "command": "*IDN?", "unit": "V"}
    run = await run_process(QUERY, data, clock=bench.clock, devices={"d": instrument})
    assert run.state is StepState.FAILED
    assert run.error == (
        "device d: the reply is not a number to read in V "
        "(sent '*IDN?', got 'labrun,Simulated SCPI instrument,SIM0001,1.0')"
    )
    # The instrument answered as it should: it is not marked faulty.
    assert bench.faults["d"] == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"command": "*RST\n*IDN?"}, "a command is one line: it cannot contain CR or LF"),
        ({"command": "  "}, "the command is empty"),
        ({"command": "VOLT?", "unit": "bogons"}, "unknown unit"),
    ],
)
def test_query_arguments_are_checked(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        QUERY.validate({"device": "d"} | data)


async def test_a_query_the_instrument_does_not_know_times_out(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument, "d")
    run = await run_process(
        QUERY, {"device": "d", "command": "FETC?"}, clock=bench.clock, devices={"d": instrument}
    )
    assert run.state is StepState.FAILED
    assert run.error == "device d: no reply within 0.3 s (sent 'FETC?', got nothing)"
    (fault,) = bench.faults["d"]
    assert isinstance(fault, DeviceTimeout)
    # The timeout took no virtual time: the clock is held while a reply is awaited.
    assert run.elapsed == 0


async def test_the_link_recovers_after_a_timeout(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument)
    with pytest.raises(DeviceTimeout):
        await instrument.ask("FETC?")
    assert await instrument.ask("*OPC?") == "1"


async def test_a_pulled_cable_fails_the_next_command(bench: Bench) -> None:
    instrument = await bench.open(ScpiInstrument, "d")
    # Close the VISA session under the link, as a cable pull or an instrument reboot does.
    bench.links["d"]._instrument.close()
    run = await run_process(
        WRITE, {"device": "d", "command": "*CLS"}, clock=bench.clock, devices={"d": instrument}
    )
    assert run.state is StepState.FAILED
    assert run.error is not None
    assert run.error.startswith("device d: VISA error: Invalid session handle")
    assert run.error.endswith("(sent '*CLS', got nothing)")
    (fault,) = bench.faults["d"]
    assert isinstance(fault, DeviceDisconnected)


async def test_a_garbled_identity_is_a_fault(bench: Bench) -> None:
    def garble(document: dict[str, Any]) -> None:
        (device,) = document["devices"].values()
        device["dialogues"][0]["r"] = "\x15\x15"

    instrument = await bench.open(ScpiInstrument, edit=garble)
    with pytest.raises(DeviceReplyError) as caught:
        await instrument.identify()
    assert str(caught.value) == (
        "device device: the reply is not an IEEE 488.2 identity "
        "(manufacturer,model,serial,firmware) (sent '*IDN?', got '\\x15\\x15')"
    )
    assert bench.faults["device"] == [caught.value]


async def test_closing_one_link_leaves_another_on_the_same_library_working(
    bench: Bench,
) -> None:
    first = await bench.open(ScpiInstrument, "first")
    file = bench.links["first"].library
    second_link = type(bench.links["first"])(
        "second", ScpiInstrument.simulation.resource, file, ScpiInstrument.visa, bench.clock
    )
    await second_link.open()
    try:
        await second_link.close()
        assert await first.ask("*OPC?") == "1"
    finally:
        await second_link.close()
