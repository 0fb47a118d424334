"""The simulated power supply's physics: its output drives a 100 ohm load."""

import pytest
from scpi_bench import Bench

from labrun import StepState, registry
from labrun.testing import run_process
from labrun_scpi import ScpiPowerSupply, plugin
from labrun_scpi.load import LOAD

SET = plugin.processes["psu_set"]
Q = registry().Quantity


async def measured(psu: ScpiPowerSupply) -> tuple[float, float]:
    volts = await psu.read("measured_voltage")
    amps = await psu.read("measured_current")
    return volts.m_as("V"), amps.m_as("A")


def test_the_load_is_100_ohms() -> None:
    assert LOAD == 100.0


async def test_an_output_that_is_off_measures_nothing(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    await psu.set_voltage(Q(12, "V"))
    await psu.set_current(Q(1, "A"))
    assert await measured(psu) == (0, 0)
    await psu.set_output(True)
    assert await measured(psu) == (12, 0.12)
    await psu.set_output(False)
    assert await measured(psu) == (0, 0)


async def test_below_the_current_limit_the_voltage_is_held(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    data = {"psu": "psu", "voltage": "3.3 V", "current": "100 mA", "output": True}
    run = await run_process(SET, data, clock=bench.clock, devices={"psu": psu})
    assert run.state is StepState.COMPLETED
    assert await measured(psu) == pytest.approx((3.3, 0.033))


async def test_at_the_current_limit_the_current_is_held(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    data = {"psu": "psu", "voltage": "20 V", "current": "100 mA", "output": True}
    run = await run_process(SET, data, clock=bench.clock, devices={"psu": psu})
    assert run.state is StepState.COMPLETED
    # 20 V would drive 200 mA: the supply holds 100 mA, at 10 V across 100 ohms.
    assert await measured(psu) == pytest.approx((10, 0.1))
    # The settings are what was set, whatever the load makes of them.
    assert await bench.ask("VOLT?", "psu") == "20.0000"


async def test_a_refused_setting_leaves_the_output_as_it_was(bench: Bench) -> None:
    psu = await bench.open(ScpiPowerSupply, "psu")
    await psu.set_voltage(Q(5, "V"))
    await psu.set_output(True)
    await psu.send("VOLT 50")
    assert await psu.errors() == ['-113,"Undefined header"']
    assert await measured(psu) == (5, 0.05)
