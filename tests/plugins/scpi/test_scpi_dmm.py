"""The Keysight 34465A driver and `scpi.dmm_configure` / `scpi.dmm_read` on pyvisa-sim."""

from typing import Any

import pytest
from pydantic import ValidationError
from scpi_bench import Bench, device

from labrun import DeviceDisconnected, DeviceReplyError, DeviceTimeout, StepState, registry
from labrun.testing import run_process
from labrun_scpi import Keysight34465A, plugin

CONFIGURE = plugin.processes["dmm_configure"]
READ = plugin.processes["dmm_read"]
Q = registry().Quantity


async def test_identify(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A)
    identity = await dmm.identify()
    assert identity.startswith("Keysight Technologies,34465A,MY57500001,")


async def test_configure_sends_conf_and_checks_the_error_queue(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    data = {"dmm": "dmm", "range": "10 V"}
    run = await run_process(CONFIGURE, data, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.COMPLETED
    # Errors left before the step are read first, so they are not blamed on it.
    assert bench.sent("dmm") == ["SYST:ERR?", "CONF:VOLT:DC 10.0", "SYST:ERR?"]
    assert await bench.ask("VOLT:DC:RANG?", "dmm") == "+1.00000000E+01"
    assert run.locations == [
        {
            "command": "CONF:VOLT:DC 10.0",
            "range": {"magnitude": 10, "units": "volt"},
            "resolution": None,
        }
    ]


@pytest.mark.parametrize(
    ("data", "command"),
    [
        ({}, "CONF:VOLT:DC"),
        ({"range": "100 mV"}, "CONF:VOLT:DC 0.1"),
        ({"range": "1 kV", "resolution": "1 mV"}, "CONF:VOLT:DC 1000.0,0.001"),
    ],
)
async def test_configure_commands(bench: Bench, data: dict[str, str], command: str) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    run = await run_process(
        CONFIGURE, {"dmm": "dmm"} | data, clock=bench.clock, devices={"dmm": dmm}
    )
    assert run.state is StepState.COMPLETED
    assert bench.sent("dmm")[1:] == [command, "SYST:ERR?"]


async def test_a_range_the_meter_refuses_fails_the_step_with_its_error(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    data = {"dmm": "dmm", "range": "5 V"}
    run = await run_process(CONFIGURE, data, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.FAILED
    assert run.error == (
        'device dmm: the instrument refused CONF:VOLT:DC 5.0: -113,"Undefined header" '
        "(sent 'SYST:ERR?', got '-113,\"Undefined header\"')"
    )
    # The queue was emptied: the next step starts clean.
    assert await dmm.errors() == []


async def test_errors_queued_before_configuring_are_a_warning_not_a_failure(
    bench: Bench,
) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    await dmm.send("BOGUS")
    run = await run_process(CONFIGURE, {"dmm": "dmm"}, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.COMPLETED
    assert [(d["code"], d["message"]) for d in run.diagnostics] == [
        ("queued-errors", 'dmm had errors queued before this step: -113,"Undefined header"')
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"resolution": "1 uV"}, "a resolution needs a range"),
        ({"range": "0 V"}, "must be above 0 V"),
        ({"range": "10 A"}, "expected a voltage"),
    ],
)
def test_configure_arguments_are_checked(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CONFIGURE.validate({"dmm": "dmm"} | data)


async def test_read_returns_the_reading_in_volts(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    run = await run_process(READ, {"dmm": "dmm"}, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.COMPLETED
    reading = {"magnitude": 1.23456789, "units": "volt"}
    assert run.result == reading
    assert run.locations == [{"reading": reading}]
    assert bench.sent("dmm") == ["SENS:FUNC?", "READ?"]


async def test_the_polled_values(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A)
    assert {(v.name, v.unit, v.poll is not None) for v in dmm.values} == {
        ("voltage", "V", True),
        ("function", None, False),
    }
    assert await dmm.read("voltage") == Q(1.23456789, "V")
    assert await dmm.read("function") == "VOLT"


async def test_read_refuses_a_meter_set_to_another_function(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    await dmm.send('SENS:FUNC "CURR"')
    run = await run_process(READ, {"dmm": "dmm"}, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.FAILED
    assert run.error == (
        "device dmm: the multimeter measures CURR, not DC voltage: configure it first "
        "(sent 'SENS:FUNC?', got '\"CURR\"')"
    )
    assert "READ?" not in bench.sent("dmm")


def _garble_reading(document: dict[str, Any]) -> None:
    reading = device(document)["properties"]["reading"]
    reading["getter"]["r"] = "OVLD"


async def test_a_garbled_reading_is_a_fault(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm", edit=_garble_reading)
    run = await run_process(READ, {"dmm": "dmm"}, clock=bench.clock, devices={"dmm": dmm})
    assert run.state is StepState.FAILED
    assert run.error == (
        "device dmm: the reply is not a reading such as +1.23456789E+00 (sent 'READ?', got 'OVLD')"
    )
    (fault,) = bench.faults["dmm"]
    assert isinstance(fault, DeviceReplyError)


async def test_an_overload_is_an_error_but_not_a_fault(bench: Bench) -> None:
    def overload(document: dict[str, Any]) -> None:
        device(document)["properties"]["reading"]["default"] = 9.9e37

    dmm = await bench.open(Keysight34465A, "dmm", edit=overload)
    with pytest.raises(DeviceReplyError, match="overload"):
        await dmm.read_voltage()
    assert bench.faults["dmm"] == []


async def test_a_reading_that_never_comes_times_out(bench: Bench) -> None:
    def no_reading(document: dict[str, Any]) -> None:
        del device(document)["properties"]["reading"]

    dmm = await bench.open(Keysight34465A, "dmm", edit=no_reading)
    with pytest.raises(DeviceTimeout) as caught:
        await dmm.read_voltage()
    assert str(caught.value) == ("device dmm: no reply within 0.3 s (sent 'READ?', got nothing)")
    assert bench.faults["dmm"] == [caught.value]


async def test_a_pulled_cable_is_a_disconnection(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    bench.links["dmm"]._instrument.close()
    with pytest.raises(DeviceDisconnected, match="device dmm: VISA error: Invalid session"):
        await dmm.read_voltage()


async def test_safe_state_aborts_and_keeps_the_configuration(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, "dmm")
    await dmm.configure(Q(100, "V"))
    bench.forget("dmm")
    await dmm.safe_state()
    assert bench.sent("dmm") == ["ABOR"]
    assert await bench.ask("VOLT:DC:RANG?", "dmm") == "+1.00000000E+02"
    assert await dmm.errors() == []


async def test_the_lan_resource_of_the_simulation_works_too(bench: Bench) -> None:
    dmm = await bench.open(Keysight34465A, resource="TCPIP0::192.168.0.15::inst0::INSTR")
    assert (await dmm.identify()).startswith("Keysight Technologies,34465A")
