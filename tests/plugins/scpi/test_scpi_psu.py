"""The SCPI power supply driver and `scpi.psu_set` on pyvisa-sim."""

from typing import Any

import pytest
from pydantic import ValidationError
from scpi_bench import Bench, device

from labrun import DeviceAlarm, DeviceDisconnected, DeviceRefused, StepState, registry
from labrun.testing import run_process
from labrun_scpi import ScpiPowerSupply, plugin

SET = plugin.processes["psu_set"]
Q = registry().Quantity


async def set_psu(bench: Bench, psu: ScpiPowerSupply, **data: Any) -> Any:
    return await run_process(SET, {"psu": "psu"} | data, clock=bench.clock, devices={"psu": psu})


async def test_levels_go_before_the_output_turns_on(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    run = await set_psu(bench, psu, voltage="12 V", current="500 mA", output=True)
    assert run.state is StepState.COMPLETED
    assert bench.sent("psu") == [
        "SYST:ERR?",
        "VOLT 12.0",
        "CURR 0.5",
        "SYST:ERR?",
        "OUTP ON",
        "SYST:ERR?",
    ]
    assert [await bench.ask(q, "psu") for q in ("VOLT?", "CURR?", "OUTP?")] == [
        "12.0000",
        "0.5000",
        "ON",
    ]
    assert run.locations == [
        {
            "voltage": {"magnitude": 12, "units": "volt"},
            "current": {"magnitude": 500, "units": "milliampere"},
            "output": True,
        }
    ]


async def test_the_output_goes_off_before_new_levels(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    await psu.set_output(True)
    bench.forget("psu")
    run = await set_psu(bench, psu, voltage="3.3 V", output=False)
    assert run.state is StepState.COMPLETED
    assert bench.sent("psu") == ["SYST:ERR?", "OUTP OFF", "VOLT 3.3", "SYST:ERR?"]
    assert await bench.ask("OUTP?", "psu") == "OFF"


async def test_a_refused_level_fails_the_step_and_the_output_stays_off(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    run = await set_psu(bench, psu, voltage="50 V", output=True)
    assert run.state is StepState.FAILED
    assert run.error == (
        'device psu: the instrument refused VOLT 50.0: -113,"Undefined header" '
        "(sent 'SYST:ERR?', got '-113,\"Undefined header\"')"
    )
    assert "OUTP ON" not in bench.sent("psu")
    assert await bench.ask("OUTP?", "psu") == "OFF"
    assert await bench.ask("VOLT?", "psu") == "0.0000"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "give a voltage, a current or an output state"),
        ({"voltage": "-1 V"}, "is below the minimum 0 V"),
        ({"current": "1 V"}, "expected a current"),
        ({"voltage": "5"}, "needs a unit"),
    ],
)
def test_arguments_are_checked(data: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SET.validate({"psu": "psu"} | data)


async def test_values(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply)
    await psu.write("voltage", Q(5, "V"))
    await psu.write("current", "2 A")
    await psu.write("output", True)
    assert await psu.read("voltage") == Q(5, "V")
    assert await psu.read("current") == Q(2, "A")
    assert await psu.read("output") is True
    # The simulated output drives 100 ohms (test_scpi_load.py).
    assert await psu.read("measured_voltage") == Q(5, "V")
    assert await psu.read("measured_current") == Q(0.05, "A")
    assert {v.name for v in psu.values if v.writable} == {"voltage", "current", "output"}
    assert {v.name for v in psu.values if v.poll} == {"measured_voltage", "measured_current"}


async def test_a_value_written_out_of_range_is_refused_and_the_device_stays_up(
    bench: Bench,
) -> None:
    psu = await bench.open(ScpiPowerSupply)
    with pytest.raises(DeviceRefused) as caught:
        await psu.write("current", "10 A")
    assert caught.value.message == 'the instrument refused CURR 10.0: -113,"Undefined header"'
    # A refusal is the instrument working: no fault, so the device is not taken down.
    assert bench.faults["device"] == []


async def test_safe_state_turns_the_output_off(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    await psu.set_voltage(Q(24, "V"))
    await psu.set_output(True)
    bench.forget("psu")
    await psu.safe_state()
    assert bench.sent("psu") == ["OUTP OFF", "OUTP?"]
    assert await bench.ask("OUTP?", "psu") == "OFF"


async def test_an_output_that_will_not_turn_off_is_an_alarm(bench: Bench) -> None:
    def stuck_on(document: dict[str, Any]) -> None:
        output = device(document)["properties"]["output"]
        output["default"] = "ON"
        output["specs"]["valid"] = ["ON"]

    psu = await bench.open(ScpiPowerSupply, "psu", edit=stuck_on)
    with pytest.raises(DeviceAlarm) as caught:
        await psu.safe_state()
    assert str(caught.value) == (
        "device psu: the output is still on after OUTP OFF (sent 'OUTP?', got 'ON')"
    )
    assert bench.faults["psu"] == [caught.value]


async def test_a_pulled_cable_fails_the_step(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    bench.links["psu"]._instrument.close()
    run = await set_psu(bench, psu, output=False)
    assert run.state is StepState.FAILED
    assert run.error is not None
    assert run.error.startswith("device psu: VISA error: Invalid session handle")
    (fault,) = bench.faults["psu"]
    assert isinstance(fault, DeviceDisconnected)
